/**
 * TLS for the client and admin ports (issue 17): the server certificate and key come from files
 * and are reloaded without a restart when the files change (polled every `reloadPollMs`, default
 * TLS_RELOAD_POLL_MS): new connections get the new certificate, connections already open keep
 * theirs. A pair that does not load (half written, key and certificate not matching) is logged and
 * the previous one stays in force until the next change. Client certificates are optional: with a
 * client CA, every client must present a certificate that chains to it (mutual TLS); the
 * certificate's CN (else its first DNS/email/URI subjectAltName) names the user (`certificateUser`).
 *
 * `tlsFront` puts a plain TCP listener in front of a TLS server: a connection whose first byte is
 * not a TLS handshake record (a plain ws:// or http:// client) gets an HTTP 426 answer naming the
 * problem instead of a reset, so clients can say "this port needs TLS".
 */
import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createSecureContext, type PeerCertificate, type SecureContextOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { isLoopbackHost } from './address.js';

/** How often the certificate files are checked for changes (ms). */
const TLS_RELOAD_POLL_MS = 2_000;

/** A TLS handshake (and the first byte of a connection) must arrive within this time (ms). */
const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

interface ServerTlsFiles {
  /** The server certificate (PEM, may carry its chain). */
  readonly certFile: string;
  /** Its private key (PEM). */
  readonly keyFile: string;
  /** When set, every client must present a certificate that chains to this CA (PEM). */
  readonly clientCaFile?: string;
  /**
   * Certificate revocation lists (PEM, one or more) for the client CA: a client certificate they
   * list fails its handshake. Reloaded like the certificates; when it changes, `onCrlChange`
   * listeners close the connections already open so that each one is verified again.
   */
  readonly clientCrlFile?: string;
  /** Default TLSv1.3. */
  readonly minVersion?: TlsMinVersion;
  /** Default TLS_RELOAD_POLL_MS. */
  readonly reloadPollMs?: number;
}

interface TlsLogger {
  info(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The stable code of a listener refused because it would serve a non-loopback address in the clear. */
const INSECURE_LISTEN = 'NODE_ERR_INSECURE_LISTEN';

/**
 * Throws (code NODE_ERR_INSECURE_LISTEN) when `what` would listen on a non-loopback `host` without
 * TLS and without an explicit `insecure`.
 */
export function checkListenSecure(host: string, what: string, tls: boolean, insecure: boolean): void {
  if (tls || insecure || isLoopbackHost(host)) return;
  throw Object.assign(
    new Error(
      `${INSECURE_LISTEN}: the ${what} would listen on ${host}, which is not loopback, without TLS: give a certificate (--client-tls-cert/--client-tls-key), bind loopback, or pass --insecure on a trusted network`,
    ),
    { code: INSECURE_LISTEN },
  );
}

/** The certificate files of one node's client and admin ports, watched and reloaded. */
export class TlsFiles {
  private readonly files: ServerTlsFiles;
  private readonly logger: TlsLogger | undefined;
  private readonly servers = new Set<TlsServer>();
  private current: SecureContextOptions;
  private watching = false;
  private readonly onChange = (): void => void this.reload();
  private readonly crlListeners = new Set<() => void>();
  /** Successful reloads since start (the first load not counted). */
  reloads = 0;

  /** Loads the files now: throws when they cannot be read or do not form a key pair. */
  constructor(files: ServerTlsFiles, logger?: TlsLogger) {
    this.files = files;
    this.logger = logger;
    this.current = this.load();
  }

  /** Options for https.createServer (certificate, key, version floor, client certificates if configured). */
  serverOptions(): SecureContextOptions & { requestCert: boolean; rejectUnauthorized: boolean; handshakeTimeout: number } {
    return {
      ...this.current,
      requestCert: this.files.clientCaFile !== undefined,
      rejectUnauthorized: this.files.clientCaFile !== undefined,
      handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
    };
  }

  /** `server` gets every reloaded certificate; watching starts with the first server. */
  attach(server: TlsServer): void {
    this.servers.add(server);
    if (this.watching) return;
    this.watching = true;
    const interval = this.files.reloadPollMs ?? TLS_RELOAD_POLL_MS;
    for (const f of this.paths()) watchFile(f, { interval, persistent: false }, this.onChange);
  }

  detach(server: TlsServer): void {
    this.servers.delete(server);
    if (this.servers.size > 0 || !this.watching) return;
    this.watching = false;
    for (const f of this.paths()) unwatchFile(f, this.onChange);
  }

  /** Reads the files again; true when the new pair is in force (new connections get it). */
  reload(): boolean {
    let next: SecureContextOptions;
    try {
      next = this.load();
    } catch (err) {
      this.logger?.error({ code: 'NODE_ERR_TLS_RELOAD', err }, 'the TLS certificate files changed but do not load: the previous certificate stays in force');
      return false;
    }
    const crlChanged = !sameBytes(this.current.crl as Buffer | undefined, next.crl as Buffer | undefined);
    this.current = next;
    for (const s of this.servers) s.setSecureContext(next);
    this.reloads++;
    this.logger?.info({ fingerprint256: fingerprintOf(next.cert as Buffer), crlChanged }, 'TLS certificate reloaded');
    if (crlChanged) for (const cb of this.crlListeners) cb();
    return true;
  }

  /** `cb` runs after a changed revocation list is in force (new handshakes check it); returns the unsubscribe. */
  onCrlChange(cb: () => void): () => void {
    this.crlListeners.add(cb);
    return () => this.crlListeners.delete(cb);
  }

  private paths(): string[] {
    const f = this.files;
    return [f.certFile, f.keyFile, ...(f.clientCaFile !== undefined ? [f.clientCaFile] : []), ...(f.clientCrlFile !== undefined ? [f.clientCrlFile] : [])];
  }

  private load(): SecureContextOptions {
    const f = this.files;
    const opts: SecureContextOptions = {
      cert: readFileSync(f.certFile),
      key: readFileSync(f.keyFile),
      minVersion: f.minVersion ?? 'TLSv1.3',
      ...(f.clientCaFile !== undefined ? { ca: readFileSync(f.clientCaFile) } : {}),
      ...(f.clientCrlFile !== undefined ? { crl: readFileSync(f.clientCrlFile) } : {}),
    };
    createSecureContext(opts); // throws on a mismatched or unreadable pair, or a CRL that does not parse
    return opts;
  }
}

function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.equals(b);
}

function fingerprintOf(pem: Buffer): string | null {
  try {
    return new X509Certificate(pem).fingerprint256;
  } catch {
    return null;
  }
}

/**
 * The user a verified client certificate names: its subject CN, else its first DNS, email or URI
 * subjectAltName; null for no certificate or one not verified against the client CA.
 */
export function certificateUser(socket: Socket): string | null {
  const t = socket as Partial<TLSSocket>;
  if (typeof t.getPeerCertificate !== 'function' || t.authorized !== true) return null;
  const cert: PeerCertificate = t.getPeerCertificate();
  if (!cert || typeof cert !== 'object') return null;
  const cn = cert.subject?.CN;
  const first = Array.isArray(cn) ? cn[0] : cn;
  if (typeof first === 'string' && first.length > 0) return first;
  for (const part of (cert.subjectaltname ?? '').split(',')) {
    const m = /^\s*(DNS|email|URI):(.+)$/.exec(part);
    if (m !== null) return m[2]!.trim();
  }
  return null;
}

/** A TLS record's first byte: a handshake. */
const TLS_HANDSHAKE = 0x16;

const tlsRequired =
  'HTTP/1.1 426 Upgrade Required\r\nconnection: close\r\ncontent-type: text/plain\r\nx-sessionraft-tls: required\r\ncontent-length: 52\r\n\r\nthis port requires TLS: use wss:// or https:// here\n';

/**
 * Listens on host:port and hands TLS connections to `server` (an https.Server, not listening
 * itself); anything else is answered HTTP 426 with `x-sessionraft-tls: required` and closed.
 */
export function tlsFront(
  server: TlsServer,
  host: string,
  port: number,
  onPlain?: () => void,
  /** How long a plain client is given to close after the 426 before its socket is destroyed. */
  plainLingerMs = TLS_HANDSHAKE_TIMEOUT_MS,
): Promise<{ front: NetServer; port: number }> {
  const front = createNetServer({ pauseOnConnect: true }, (socket) => {
    socket.setTimeout(TLS_HANDSHAKE_TIMEOUT_MS, () => socket.destroy());
    socket.on('error', () => socket.destroy());
    socket.once('readable', () => {
      const chunk = socket.read(1) as Buffer | null;
      if (chunk === null) return void socket.destroy();
      socket.unshift(chunk);
      socket.setTimeout(0);
      if (chunk[0] === TLS_HANDSHAKE) {
        server.emit('connection', socket);
        return;
      }
      onPlain?.();
      // Half-closed, so that the client reads the answer before the connection goes (closing with its
      // request unread would reset it); and bounded, so that a client that never closes its side
      // does not hold the socket for good (one did in a test run: four such sockets kept the
      // test process alive after every test had passed).
      socket.setTimeout(plainLingerMs, () => socket.destroy());
      socket.end(tlsRequired);
      // Read (and drop) the request, so that the client's FIN is seen: 'end' then destroys the
      // socket (allowHalfOpen is off) as soon as the client closes, not plainLingerMs later. Left
      // paused, the socket stayed open after its client had gone (a leak report after the tests).
      socket.resume();
    });
  });
  return new Promise((resolve, reject) => {
    front.once('error', reject);
    front.listen(port, host, () => {
      front.off('error', reject);
      resolve({ front, port: (front.address() as AddressInfo).port });
    });
  });
}
