/**
 * A node's admin HTTP port:
 *
 *   GET /metrics          Prometheus text (prom-client)
 *   GET /status           JSON: this node's view of every node's role and progress (?digest=1 adds the store digest)
 *   GET /healthz          200 {"ok":true,...} while the node runs; 503 when it stopped (disk failure, shutdown) or its log is corrupt
 *   GET /, /console/...   the console (console/routes.ts): a read-only page and its JSON documents
 *
 * GET and HEAD only; small, bounded requests (no bodies are read). Serve it over TLS (`tls`, HTTPS
 * with the client port's certificate; optional client certificates); a non-loopback address
 * without TLS needs `insecure`.
 *
 * Authentication (issue 17, `auth`): /metrics and /healthz are open by default (scrapers and probes
 * need no account; they carry counters and health, no session data), or need
 * `Authorization: Bearer <token>` when a metrics token is configured. /status and every console page
 * need a login whenever the client port does (--auth, or once a user exists): HTTP Basic with a user
 * holding the monitor (or admin) permission, or the metrics token. Refusals are 401/403 with a
 * stable code (ADMIN_ERR_AUTH_REQUIRED, ADMIN_ERR_AUTH_FAILED, ADMIN_ERR_PERMISSION_DENIED,
 * ADMIN_ERR_AUTH_RATE_LIMITED), counted in /metrics; failed logins are throttled per address.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import { checkListenSecure, tlsFront, type TlsFiles } from '../../transport/wire/tlsFiles.js';
import type { Logger } from 'pino';
import { CodeCounters } from '../../transport/wire/counters.js';
import type { ConsoleReply } from './console/routes.js';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AccessView } from '../../transport/commands/access.js';
import { AuthThrottle, defaultAuthThrottleLimits } from '../../transport/client/authThrottle.js';
import { decoyHash, verifyPassword } from '../../transport/client/password.js';

/** Who may read the admin port (issue 17). */
interface AdminAuth {
  /** Whether a login is required now (the node's --auth, or a user exists). */
  on(): boolean;
  /** The replicated users and permissions as applied on this node. */
  access(): AccessView;
  /** The metrics token (--metrics-token-file): then /metrics and /healthz need it; it also opens /status and the console. Null: none. */
  readonly token: string | null;
}

/** The throttle's name for wrong metrics tokens (no user can be named so: a NUL). */
const tokenName = '\u0000token';

/** Basic logins verified at once on one node (scrypt on the thread pool); more are refused with ADMIN_ERR_BUSY, as on the client port. */
const PASSWORD_WORK_MAX = 8;

/** Successful Basic logins are remembered this long (scrypt per console request would be slow), keyed by a hash of the header. */
const BASIC_CACHE_MS = 60_000;
const BASIC_CACHE_MAX = 256;

interface AdminHttpOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
  readonly status: (withDigest: boolean) => unknown;
  readonly health: () => { ok: boolean; [k: string]: unknown };
  readonly logger?: Logger;
  /** A request was refused as malformed (counted in metrics). */
  readonly onRejected?: (code: string) => void;
  /** The console's routes: a reply for its paths, null for the others. */
  readonly console?: (
    path: string,
    query: URLSearchParams,
    mayRead: (topic: string) => boolean,
    authorization: string | null,
  ) => ConsoleReply | Promise<ConsoleReply> | null;
  /** Serve HTTPS with these certificate files (reloaded when they change). */
  readonly tls?: TlsFiles;
  /** Allow a non-loopback `host` without `tls` (an explicit operator decision). */
  readonly insecure?: boolean;
  /** Authentication (issue 17); absent: everything open (tests of the port alone). */
  readonly auth?: AdminAuth;
}

/** Connections to the admin port at once; more are refused by the server (a scraper needs one). */
const adminConnectionsMax = 64;

export class AdminHttp {
  private server: Server | null = null;
  /** With TLS: the plain listener in front of the https server (tlsFiles.ts tlsFront). */
  private front: NetServer | null = null;
  /**
   * With TLS: the front's open connections. The https server never listens itself (the front hands
   * it each connection), so its closeAllConnections() knows none of them and close() ends them here.
   */
  private readonly frontSockets = new Set<Socket>();
  private offCrlChange: (() => void) | undefined;
  private readonly rejected = new CodeCounters();
  private readonly throttle = new AuthThrottle(defaultAuthThrottleLimits, Date.now);
  /** Basic logins being verified now (scrypt on the thread pool), at most PASSWORD_WORK_MAX. */
  private passwordWork = 0;
  /** What an unknown user's password is verified against: the same work as a known one's (computed once). */
  private decoy: Promise<Uint8Array> | null = null;

  /** The decoy hash, computed at the first unknown user (again after a failure, never kept failed). */
  private decoyHash(): Promise<Uint8Array> {
    this.decoy ??= decoyHash().catch((err: unknown) => {
      this.decoy = null;
      throw err;
    });
    return this.decoy;
  }
  /** sha256(Authorization header) -> the user it logged in as, its version, and until when. */
  private readonly basicCache = new Map<string, { user: string; version: number; untilMs: number }>();

  constructor(private readonly opts: AdminHttpOptions) {}

  listen(): Promise<{ host: string; port: number }> {
    checkListenSecure(this.opts.host, 'admin port', this.opts.tls !== undefined, this.opts.insecure === true);
    if (this.opts.tls !== undefined) return this.listenTls(this.opts.tls);
    return new Promise((resolve, reject) => {
      const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 8192 }, (req, res) => this.handle(req, res));
      server.keepAliveTimeout = 5_000;
      server.maxRequestsPerSocket = 1000;
      server.maxConnections = adminConnectionsMax;
      this.server = server;
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.opts.logger?.error({ err }, 'admin port error'));
        resolve({ host: this.opts.host, port: (server.address() as AddressInfo).port });
      });
    });
  }

  private async listenTls(tls: TlsFiles): Promise<{ host: string; port: number }> {
    const server = createHttpsServer({ ...tls.serverOptions(), requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 8192 }, (req, res) =>
      this.handle(req, res),
    );
    server.keepAliveTimeout = 5_000;
    server.maxRequestsPerSocket = 1000;
    server.on('tlsClientError', () => this.rejected.add('ADMIN_ERR_TLS'));
    tls.attach(server);
    // A changed revocation list: every open connection goes (an HTTPS keep-alive connection made
    // with a certificate revoked since went on for up to 1,000 requests: a review, 2026-12-07), so
    // each certificate is checked against the new list at its next handshake, as on the client port.
    this.offCrlChange = tls.onCrlChange(() => {
      for (const socket of this.frontSockets) socket.destroy();
    });
    this.server = server;
    const { front, port } = await tlsFront(server, this.opts.host, this.opts.port, () => this.rejected.add('ADMIN_ERR_TLS'));
    front.maxConnections = adminConnectionsMax;
    front.on('error', (err) => this.opts.logger?.error({ err }, 'admin port error'));
    front.on('connection', (socket: Socket) => {
      this.frontSockets.add(socket);
      socket.once('close', () => this.frontSockets.delete(socket));
    });
    this.front = front;
    return { host: this.opts.host, port };
  }

  /** Requests refused as malformed, by stable code (sessionraft_rejected_total{source="admin"}). */
  rejectedByCode(): Record<string, number> {
    return this.rejected.snapshot();
  }

  close(cb: () => void): void {
    this.offCrlChange?.();
    this.offCrlChange = undefined;
    const s = this.server;
    if (s === null) return cb();
    if (this.front !== null) {
      this.opts.tls?.detach(s as ReturnType<typeof createHttpsServer>);
      this.front.close();
      for (const socket of this.frontSockets) socket.destroy();
    }
    s.close(() => cb());
    s.closeAllConnections();
  }

  /** Never throws: every request, however malformed, gets a response with a stable code. */
  private handle(req: IncomingMessage, res: ServerResponse): void {
    let path = '';
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        this.rejected.add('ADMIN_ERR_METHOD');
        return send(res, 405, 'application/json', JSON.stringify({ error: 'ADMIN_ERR_METHOD', message: 'only GET and HEAD' }) + '\n', { allow: 'GET, HEAD' });
      }
      const target = parseTarget(req.url);
      if (target === null) {
        this.rejected.add('ADMIN_ERR_BAD_REQUEST');
        this.opts.onRejected?.('ADMIN_ERR_BAD_REQUEST');
        return send(
          res,
          400,
          'application/json',
          JSON.stringify({ error: 'ADMIN_ERR_BAD_REQUEST', message: 'the request target is not an origin-form path' }) + '\n',
        );
      }
      path = target.path;
      const auth = this.opts.auth;
      const open = path === '/metrics' || path === '/healthz' ? auth?.token == null : auth === undefined || !auth.on();
      if (!open) {
        this.authorize(req, auth!, path === '/metrics' || path === '/healthz').then(
          (refusal) => {
            if ('viewer' in refusal) return this.route(req, res, target, refusal.viewer);
            this.rejected.add(refusal.code);
            this.opts.onRejected?.(refusal.code);
            send(res, refusal.status, 'application/json', JSON.stringify({ error: refusal.code, message: refusal.message }) + '\n', {
              ...(refusal.status === 401 ? { 'www-authenticate': 'Basic realm="sessionraft", charset="UTF-8"' } : {}),
            });
          },
          (err: unknown) => {
            this.opts.logger?.error({ err, path }, 'admin authentication failed');
            send(res, 500, 'application/json', JSON.stringify({ error: 'ADMIN_ERR_INTERNAL', message: String(err) }) + '\n');
          },
        );
        return;
      }
      this.route(req, res, target, null);
    } catch (err) {
      this.opts.logger?.error({ err, path }, 'admin request failed');
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'ADMIN_ERR_INTERNAL', message: String(err) }) + '\n');
      else res.destroy();
    }
  }

  /**
   * Who may go on (`viewer`: the Basic login's user, '' for the token), else why not. The token
   * (when configured) opens every path; /metrics and /healthz take only the token; the rest take
   * HTTP Basic with a user holding monitor.
   */
  private async authorize(
    req: IncomingMessage,
    auth: AdminAuth,
    tokenOnly: boolean,
  ): Promise<{ status: number; code: string; message: string } | { viewer: string }> {
    const header = req.headers.authorization ?? '';
    const remote = req.socket.remoteAddress ?? '';
    const bearer = /^Bearer\s+(\S{1,512})$/i.exec(header);
    if (bearer !== null && auth.token !== null) {
      // The right token is never refused (it is long and random: no one guesses it, and wrong
      // passwords from the same address must not blank the metrics); wrong ones are delayed and
      // refused once too many come from the address (2026-12-07: they were not counted).
      if (sameText(bearer[1]!, auth.token)) return { viewer: '' };
      if (this.throttle.blocked(remote, tokenName))
        return { status: 429, code: 'ADMIN_ERR_AUTH_RATE_LIMITED', message: 'too many failed logins from this address' };
      await new Promise((r) => setTimeout(r, this.throttle.failed(remote, tokenName)).unref());
      return { status: 401, code: 'ADMIN_ERR_AUTH_FAILED', message: 'wrong token' };
    }
    if (tokenOnly) return { status: 401, code: 'ADMIN_ERR_AUTH_REQUIRED', message: 'this path needs Authorization: Bearer <metrics token>' };
    const basic = /^Basic\s+([A-Za-z0-9+/=]{1,2048})$/i.exec(header);
    if (basic === null) return { status: 401, code: 'ADMIN_ERR_AUTH_REQUIRED', message: 'log in (HTTP Basic) as a user with the monitor permission' };
    const access = auth.access();
    const key = createHash('sha256').update(header).digest('hex');
    const now = Date.now();
    let login = this.basicCache.get(key);
    if (login !== undefined && (login.untilMs < now || access.userVersion(login.user) !== login.version)) {
      this.basicCache.delete(key);
      login = undefined;
    }
    if (login === undefined) {
      const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = text.indexOf(':');
      const user = colon < 0 ? '' : text.slice(0, colon);
      const password = colon < 0 ? '' : text.slice(colon + 1);
      if (this.throttle.blocked(remote, user)) return { status: 429, code: 'ADMIN_ERR_AUTH_RATE_LIMITED', message: 'too many failed logins from this address' };
      const u = access.user(user);
      if (this.passwordWork >= PASSWORD_WORK_MAX)
        return { status: 503, code: 'ADMIN_ERR_BUSY', message: `${this.passwordWork} logins are being verified on this node; retry` };
      // An unknown user's password is verified against a decoy, so that a refusal takes as long
      // whether the user exists or not (2026-12-07: an unknown user was refused without the work,
      // and the admin port told which users exist by its timing; a review found it). Counted from
      // here, before any wait, so that logins waiting for the decoy count too.
      const usable = password.length > 0 && password.length <= 1024;
      this.passwordWork++;
      let verified: boolean;
      try {
        const hash = u !== null && u.passwordHash !== null ? u.passwordHash : await this.decoyHash();
        verified = usable && (await verifyPassword(password, hash));
      } finally {
        this.passwordWork--;
      }
      const ok = verified && u !== null && u.passwordHash !== null;
      if (!ok || access.userVersion(user) !== u.version) {
        const delayMs = this.throttle.failed(remote, user);
        await new Promise((r) => setTimeout(r, delayMs).unref());
        return { status: 401, code: 'ADMIN_ERR_AUTH_FAILED', message: 'unknown user or wrong password' };
      }
      this.throttle.succeeded(remote, user);
      while (this.basicCache.size >= BASIC_CACHE_MAX) this.basicCache.delete(this.basicCache.keys().next().value!);
      login = { user, version: u.version, untilMs: now + BASIC_CACHE_MS };
      this.basicCache.set(key, login);
    }
    if (!access.allows(login.user, 'monitor', '', '')) {
      return { status: 403, code: 'ADMIN_ERR_PERMISSION_DENIED', message: `user ${login.user} has no monitor permission` };
    }
    return { viewer: login.user };
  }

  /** `viewer`: null when no login is needed (everyone may read), '' for the metrics token (reads no sessions), else the user. */
  private route(req: IncomingMessage, res: ServerResponse, target: { path: string; query: URLSearchParams }, viewer: string | null): void {
    const path = target.path;
    try {
      switch (target.path) {
        case '/metrics':
          this.opts.metrics().then(
            (m) => send(res, 200, m.contentType, m.body),
            (err: unknown) => {
              this.opts.logger?.error({ err }, 'metrics failed');
              send(res, 500, 'text/plain', 'metrics failed\n');
            },
          );
          return;
        case '/status': {
          const digest = target.query.get('digest');
          const body = JSON.stringify(this.opts.status(digest === '1' || digest === 'true'), null, target.query.has('pretty') ? 2 : undefined);
          return send(res, 200, 'application/json', body + '\n');
        }
        case '/healthz': {
          const h = this.opts.health();
          return send(res, h.ok ? 200 : 503, 'application/json', JSON.stringify(h) + '\n');
        }
        default: {
          const access = this.opts.auth?.access();
          const mayRead = (topic: string): boolean => viewer === null || (viewer !== '' && access !== undefined && access.allows(viewer, 'read', topic, ''));
          const reply = this.opts.console?.(target.path, target.query, mayRead, req.headers.authorization ?? null) ?? null;
          if (reply === null) {
            return send(
              res,
              404,
              'application/json',
              JSON.stringify({ error: 'ADMIN_ERR_NOT_FOUND', message: 'routes: /metrics, /status, /healthz, / (console)' }) + '\n',
            );
          }
          if (!(reply instanceof Promise)) return send(res, reply.status, reply.contentType, reply.body, reply.headers);
          reply.then(
            (r) => send(res, r.status, r.contentType, r.body, r.headers),
            (err: unknown) => {
              this.opts.logger?.error({ err, path }, 'console request failed');
              send(res, 500, 'application/json', JSON.stringify({ error: 'ADMIN_ERR_INTERNAL', message: String(err) }) + '\n');
            },
          );
          return;
        }
      }
    } catch (err) {
      this.opts.logger?.error({ err, path }, 'admin request failed');
      if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'ADMIN_ERR_INTERNAL', message: String(err) }) + '\n');
      else res.destroy();
    }
  }
}

/** Request targets longer than this are refused (the header limit bounds them anyway). */
const targetBytesMax = 2048;

/**
 * The path and query of an origin-form request target (`/status?digest=1`), or null for anything
 * else (absolute-form, authority-form, `*`, control characters, over-long). No URL parser that can
 * throw sees outside input: `new URL('//[', base)` throws, which took a node down (issue 14).
 */
export function parseTarget(raw: string | undefined): { path: string; query: URLSearchParams } | null {
  if (raw === undefined || raw.length === 0 || raw.length > targetBytesMax || raw.charCodeAt(0) !== 0x2f /* / */) return null;
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return null;
  }
  const hash = raw.indexOf('#');
  const noHash = hash < 0 ? raw : raw.slice(0, hash);
  const q = noHash.indexOf('?');
  const path = q < 0 ? noHash : noHash.slice(0, q);
  // URLSearchParams never throws: bad percent-escapes are kept as they are.
  return { path, query: new URLSearchParams(q < 0 ? '' : noHash.slice(q + 1)) };
}

function send(res: ServerResponse, status: number, contentType: string, body: string | Buffer, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/** Whether two secrets are equal, in time that does not depend on where they differ. */
function sameText(a: string, b: string): boolean {
  const x = createHash('sha256').update(a).digest();
  const y = createHash('sha256').update(b).digest();
  return timingSafeEqual(x, y);
}
