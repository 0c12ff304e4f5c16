/**
 * A node's admin HTTP port:
 *
 *   GET /metrics          Prometheus text (prom-client)
 *   GET /status           JSON: this node's view of every node's role and progress (?digest=1 adds the store digest)
 *   GET /healthz          200 {"ok":true,...} while the node runs; 503 when it stopped (disk failure, shutdown) or its log is corrupt
 *   GET /, /console/...   the console (console/routes.ts): a read-only page and its JSON documents
 *
 * GET and HEAD only; small, bounded requests (no bodies are read). It has no authentication: bind
 * it to loopback, or serve it over TLS (`tls`, HTTPS with the client port's certificate; optional
 * client certificates); a non-loopback address without TLS needs `insecure`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { checkListenSecure, tlsFront, type TlsFiles } from '../../transport/wire/tlsFiles.js';
import type { Logger } from 'pino';
import { CodeCounters } from '../../transport/wire/counters.js';
import type { ConsoleReply } from './console/routes.js';

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
  readonly console?: (path: string, query: URLSearchParams) => ConsoleReply | Promise<ConsoleReply> | null;
  /** Serve HTTPS with these certificate files (reloaded when they change). */
  readonly tls?: TlsFiles;
  /** Allow a non-loopback `host` without `tls` (an explicit operator decision). */
  readonly insecure?: boolean;
}

/** Connections to the admin port at once; more are refused by the server (a scraper needs one). */
const adminConnectionsMax = 64;

export class AdminHttp {
  private server: Server | null = null;
  /** With TLS: the plain listener in front of the https server (tlsFiles.ts tlsFront). */
  private front: NetServer | null = null;
  private readonly rejected = new CodeCounters();

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
    this.server = server;
    const { front, port } = await tlsFront(server, this.opts.host, this.opts.port, () => this.rejected.add('ADMIN_ERR_TLS'));
    front.maxConnections = adminConnectionsMax;
    front.on('error', (err) => this.opts.logger?.error({ err }, 'admin port error'));
    this.front = front;
    return { host: this.opts.host, port };
  }

  /** Requests refused as malformed, by stable code (sessionraft_rejected_total{source="admin"}). */
  rejectedByCode(): Record<string, number> {
    return this.rejected.snapshot();
  }

  close(cb: () => void): void {
    const s = this.server;
    if (s === null) return cb();
    if (this.front !== null) {
      this.opts.tls?.detach(s as ReturnType<typeof createHttpsServer>);
      this.front.close();
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
          const reply = this.opts.console?.(target.path, target.query) ?? null;
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
