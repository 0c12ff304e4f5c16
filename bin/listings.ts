/**
 * Listings the client protocol does not carry, read from a node's admin port (issue 19): the
 * topics and replay classes that the console shows (`GET /console/topics.json`), from the leader
 * (the client asks any node for its status, which names the leader and its admin address).
 *
 * The admin port speaks TLS whenever the client port does (both take --client-tls-cert), and needs
 * the login the client port needs (HTTP Basic, a user with the monitor permission). So the request
 * goes as the CLI's client connection goes: over HTTPS with the same CA (and client certificate)
 * when the client uses TLS, with the same user and password. Until 2026-12-07 it went over plain
 * HTTP without a login, and on a cluster with TLS (npm start's) got HTTP 426, with --auth 401, both
 * reported as CLIENT_ERR_INTERNAL.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { ClientTlsOptions, SessionraftClient } from '../transport/client/client.js';
import type { Credentials } from '../transport/client/credentials.js';
import { plainLoginRefusal } from '../transport/client/connection.js';
import { ClientError, ClientErrorCode } from '../transport/client/errors.js';

/** A reply larger than this is refused. */
const replyBytesMax = 4 * 1024 * 1024;

/** How the admin port is reached: as the client port is (TLS settings or plain, the login or none). */
export interface AdminReach {
  /** TLS as the client connects (the CA, a client certificate, the servername); null: plain HTTP. */
  readonly tls: ClientTlsOptions | null;
  readonly credentials: Credentials | null;
  /** The login may go over plain HTTP beyond loopback (--insecure). */
  readonly insecure?: boolean;
}

/** The admin port's refusal (its JSON body `{error, message}`) as the client code of the same meaning. */
function refusal(where: string, status: number, body: string): ClientError {
  let code = '';
  let message = '';
  try {
    const j = JSON.parse(body) as { error?: unknown; message?: unknown };
    code = typeof j.error === 'string' ? j.error : '';
    message = typeof j.message === 'string' ? j.message : '';
  } catch {
    // not JSON (426 is plain text)
  }
  const said = `${where}: HTTP ${status}${code !== '' ? ` ${code}` : ''}${message !== '' ? ` (${message})` : ''}`;
  if (status === 426) {
    return new ClientError(
      ClientErrorCode.tls,
      `${said}: the admin port requires TLS; give the CA of the nodes' certificates with --ca-file (SESSIONRAFT_CA_FILE), as for the client port`,
    );
  }
  if (status === 401 && code === 'ADMIN_ERR_AUTH_FAILED') return new ClientError(ClientErrorCode.authFailed, said);
  if (status === 401) {
    return new ClientError(ClientErrorCode.authRequired, `${said}: log in with --user and SESSIONRAFT_PASSWORD, or --credentials-file`);
  }
  if (status === 403) return new ClientError(ClientErrorCode.permissionDenied, `${said}: the listing needs the monitor permission`);
  if (status === 429) return new ClientError(ClientErrorCode.authRateLimited, said);
  if (status === 503) return new ClientError(ClientErrorCode.busy, said);
  if (status === 404) return new ClientError(ClientErrorCode.wrongEndpoint, `${said}: not a sessionraft admin port of this version`);
  return new ClientError(ClientErrorCode.internal, said);
}

/** A failure to reach the admin port (no HTTP answer) as a client code. */
function unreached(where: string, err: Error): ClientError {
  if (err instanceof ClientError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const said = `${where}: ${err.message}`;
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new ClientError(ClientErrorCode.unreachable, said);
  }
  // A certificate not trusted by the CA, or not naming the host; a plain port answering TLS (EPROTO).
  if (/CERT|SELF_SIGNED|UNABLE_TO|ERR_TLS|ERR_SSL|EPROTO|HOSTNAME|ALTNAME/.test(code) || /certificate|SSL|TLS/i.test(err.message)) {
    return new ClientError(ClientErrorCode.tls, `${said}: check --ca-file (and --servername when the certificate names another host)`);
  }
  if (code === 'ECONNRESET' || code === 'EPIPE') return new ClientError(ClientErrorCode.connectionLost, said);
  return new ClientError(ClientErrorCode.internal, said);
}

function getJson(admin: string, path: string, timeoutMs: number, how: AdminReach): Promise<unknown> {
  const where = `GET ${how.tls !== null ? 'https' : 'http'}://${admin}${path}`;
  return new Promise((resolve, reject) => {
    const colon = admin.lastIndexOf(':');
    const port = Number(admin.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
      return reject(new ClientError(ClientErrorCode.internal, `the node gave a bad admin address ${JSON.stringify(admin)}`));
    }
    // The admin address comes from the cluster: the login goes in clear only to loopback (as the console's).
    const inClear = plainLoginRefusal(admin, how.tls, how.credentials, how.insecure === true);
    if (inClear !== null) return reject(new ClientError(ClientErrorCode.tls, inClear));
    const options: RequestOptions = {
      host: admin.slice(0, colon).replace(/^\[|\]$/g, ''),
      port,
      path,
      method: 'GET',
      timeout: timeoutMs,
      headers:
        how.credentials !== null
          ? { authorization: `Basic ${Buffer.from(`${how.credentials.user}:${how.credentials.password}`, 'utf8').toString('base64')}` }
          : {},
    };
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > replyBytesMax) req.destroy(new ClientError(ClientErrorCode.internal, `${where}: the reply is larger than ${replyBytesMax} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) return reject(refusal(where, res.statusCode ?? 0, body));
        try {
          resolve(JSON.parse(body));
        } catch (err) {
          reject(new ClientError(ClientErrorCode.internal, `${where}: the reply is not JSON: ${(err as Error).message}`));
        }
      });
      res.on('error', (err) => reject(unreached(where, err)));
    };
    // Over TLS the node's certificate is checked against the CA, its name against the address (or --servername).
    const t = how.tls;
    const req =
      t === null
        ? httpRequest(options, onResponse)
        : httpsRequest(
            {
              ...options,
              ...(t.ca !== undefined ? { ca: t.ca as string | Buffer | (string | Buffer)[] } : {}),
              ...(t.cert !== undefined ? { cert: t.cert } : {}),
              ...(t.key !== undefined ? { key: t.key } : {}),
              ...(t.servername !== undefined ? { servername: t.servername } : {}),
            },
            onResponse,
          );
    req.on('timeout', () => req.destroy(new ClientError(ClientErrorCode.timeout, `${where}: no answer within ${timeoutMs} ms`)));
    req.on('error', (err) => reject(unreached(where, err)));
    req.end();
  });
}

/** The leader's topics listing (or the answering node's, while there is no leader). */
export async function topicsListing(c: SessionraftClient, timeoutMs: number, how: AdminReach): Promise<unknown> {
  const st = (await c.status()) as { node: string; leader: string | null; nodes: Record<string, { admin?: string }> };
  const from = st.leader ?? st.node;
  const admin = st.nodes[from]?.admin;
  if (admin === undefined) throw new ClientError(ClientErrorCode.unavailable, `no admin address known for ${from}`);
  return getJson(admin, '/console/topics.json', timeoutMs, how);
}
