/**
 * A node's admin HTTP port:
 *
 *   GET /metrics          Prometheus text (prom-client)
 *   GET /status           JSON: this node's view of every node's role and progress (?digest=1 adds the store digest)
 *   GET /healthz          200 {"ok":true,...} while the node runs; 503 when it stopped (disk failure, shutdown) or its log is corrupt
 *
 * GET and HEAD only; small, bounded requests (no bodies are read). Bind it to loopback unless the
 * network is trusted: it has no authentication.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';

export interface AdminHttpOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
  readonly status: (withDigest: boolean) => unknown;
  readonly health: () => { ok: boolean; [k: string]: unknown };
  readonly logger?: Logger;
}

export class AdminHttp {
  private server: Server | null = null;

  constructor(private readonly opts: AdminHttpOptions) {}

  listen(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 8192 }, (req, res) => this.handle(req, res));
      server.keepAliveTimeout = 5_000;
      server.maxRequestsPerSocket = 1000;
      this.server = server;
      server.once('error', reject);
      server.listen(this.opts.port, this.opts.host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.opts.logger?.error({ err }, 'admin port error'));
        resolve({ host: this.opts.host, port: (server.address() as AddressInfo).port });
      });
    });
  }

  close(cb: () => void): void {
    const s = this.server;
    if (s === null) return cb();
    s.close(() => cb());
    s.closeAllConnections();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'application/json', JSON.stringify({ error: 'ADMIN_ERR_METHOD', message: 'only GET and HEAD' }), { allow: 'GET, HEAD' });
    }
    try {
      switch (url.pathname) {
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
          const digest = url.searchParams.get('digest');
          const body = JSON.stringify(this.opts.status(digest === '1' || digest === 'true'), null, url.searchParams.has('pretty') ? 2 : undefined);
          return send(res, 200, 'application/json', body + '\n');
        }
        case '/healthz': {
          const h = this.opts.health();
          return send(res, h.ok ? 200 : 503, 'application/json', JSON.stringify(h) + '\n');
        }
        default:
          return send(res, 404, 'application/json', JSON.stringify({ error: 'ADMIN_ERR_NOT_FOUND', message: 'routes: /metrics, /status, /healthz' }) + '\n');
      }
    } catch (err) {
      this.opts.logger?.error({ err, path: url.pathname }, 'admin request failed');
      send(res, 500, 'application/json', JSON.stringify({ error: 'ADMIN_ERR_INTERNAL', message: String(err) }) + '\n');
    }
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store', ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
