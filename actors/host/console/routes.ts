/**
 * The console's routes on the admin port (GET and HEAD; adminHttp.ts checks the method, parses the
 * target and catches whatever is thrown):
 *
 *   /  (and /console/)      the console page
 *   /console/console.js     its script; /console/console.css its styles
 *   /console/chart.json     the Raft statechart, read from the machine's definition
 *   /console/node.json      this node: /status, recent transitions, per-second samples
 *   /console/cluster.json   every member's node.json, fetched over the raft port's authenticated link
 *                           (the status channel), else from its admin port (bounded, cached)
 *   /console/topics.json    replay classes and topics of this node's applied store
 *   /console/session?id=ID  one active session (this node's applied copy)
 *
 * Read-only: nothing here changes the node or the cluster.
 */
import { request, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { StatusFetchCode } from '../../../transport/peer/statusDial.js';
import type { SessionsStore } from '../../sessions/index.js';
import type { HostStatus } from '../statusViews.js';
import { consoleAsset } from './assets.js';
import { raftChartJson } from './chart.js';
import { consoleCsp, consolePage } from './page.js';
import type { ConsoleRecorder } from './recorder.js';
import { nodeView, sessionView, topicsView, type ConsoleNodeView, type TopicsView } from './views.js';

export interface ConsoleReply {
  readonly status: number;
  readonly contentType: string;
  readonly body: string | Buffer;
  readonly headers?: Record<string, string>;
}

export interface ConsoleSources {
  readonly id: string;
  readonly clusterId: string;
  readonly replayDelaysMs: readonly number[];
  readonly recorder: ConsoleRecorder;
  status(): HostStatus;
  store(): Pick<SessionsStore, 'dataFiles' | 'recordHeaderAt' | 'listSessions' | 'stats' | 'getSession' | 'consumerGroups' | 'groupCounts'>;
  /**
   * How to reach the other nodes' admin ports: null, plain HTTP (no TLS here); else HTTPS checked
   * against `ca` (null: TLS without the CA, --client-tls-ca, so peers are not fetched).
   */
  peerTls?(): { readonly ca: Buffer | null } | null;
  /**
   * A peer's node.json over the raft port's authenticated link (the status channel), the way tried
   * first; absent where peers are not authenticated (--insecure without a secret or TLS). A peer
   * that does not serve it (StatusFetchCode.unsupported: an older version) is asked on its admin port.
   */
  peerView?(id: string, timeoutMs: number, bytesMax: number): Promise<Uint8Array>;
}

/** Whether an admin address (host:port) is on loopback: 127.0.0.0/8, ::1 or localhost. */
function isLoopbackAddress(admin: string): boolean {
  const host = admin.slice(0, admin.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** How one peer's node.json is fetched: over TLS with this CA (null: plain HTTP), with the viewer's login. */
interface PeerFetch {
  readonly tls: { readonly ca: Buffer } | null;
  /** The viewer's Authorization header, forwarded (the same users and token hold on every node); null: none. */
  readonly authorization: string | null;
}

/** A peer's node.json must come within this time and size. */
const peerTimeoutMs = 800;
const peerBytesMax = 1024 * 1024;
/** Members fetched for cluster.json at most (the rest are listed as not fetched). */
const peersFetchedMax = 16;
/** cluster.json and topics.json are reused for this long (many open consoles cost one fetch). */
const clusterCacheMs = 400;
const topicsCacheMs = 2000;

type NodeEntry = { readonly ok: true; readonly view: ConsoleNodeView } | { readonly ok: false; readonly admin: string | null; readonly error: string };

interface ClusterView {
  readonly servedBy: string;
  readonly clusterId: string;
  readonly at: number;
  readonly nodes: Record<string, NodeEntry>;
}

function json(status: number, v: unknown): ConsoleReply {
  return { status, contentType: 'application/json', body: JSON.stringify(v) + '\n' };
}

/** GET http://<admin>/console/node.json, bounded in time and size. */
function fetchNodeView(admin: string, how: PeerFetch): Promise<ConsoleNodeView> {
  return new Promise((resolve, reject) => {
    const colon = admin.lastIndexOf(':');
    const host = admin.slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number(admin.slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) return reject(new Error(`bad admin address ${admin}`));
    const options = {
      host,
      port,
      path: '/console/node.json',
      method: 'GET',
      timeout: peerTimeoutMs,
      headers: how.authorization !== null ? { authorization: how.authorization } : {},
    };
    // Over TLS the peer's certificate is checked against the CA, its name against the address.
    const send = how.tls !== null ? (o: typeof options, cb: (res: IncomingMessage) => void) => httpsRequest({ ...o, ca: how.tls!.ca }, cb) : request;
    const req = send(options, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > peerBytesMax) req.destroy(new Error(`node.json from ${admin} is larger than ${peerBytesMax} bytes`));
        else chunks.push(c);
      });
      res.on('end', () => {
        try {
          if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}`);
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as ConsoleNodeView);
        } catch (err) {
          reject(err as Error);
        }
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${peerTimeoutMs} ms`)), peerTimeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('timeout', () => req.destroy(new Error(`no answer within ${peerTimeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export class ConsoleRoutes {
  private cluster: { at: number; value: Promise<ClusterView> } | null = null;
  private topics: { at: number; value: TopicsView } | null = null;

  constructor(
    private readonly s: ConsoleSources,
    private readonly clock: () => number = Date.now,
  ) {}

  /** The reply for a console path, or null when the path is not the console's. */
  /**
   * `mayRead(topic)`: whether the viewer may see session records on that topic (sessionView);
   * `authorization`: the viewer's Authorization header, forwarded to the peers (cluster.json).
   */
  handle(
    path: string,
    query: URLSearchParams,
    mayRead: (topic: string) => boolean,
    authorization: string | null = null,
  ): ConsoleReply | Promise<ConsoleReply> | null {
    switch (path) {
      case '/':
      case '/console':
      case '/console/':
        return {
          status: 200,
          contentType: 'text/html; charset=utf-8',
          body: consolePage(this.s.id, this.s.clusterId),
          headers: { 'content-security-policy': consoleCsp, 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' },
        };
      case '/console/console.js':
      case '/console/console.css': {
        const a = consoleAsset(path.slice('/console/'.length));
        if (a instanceof Error) return json(500, { error: 'ADMIN_ERR_INTERNAL', message: a.message });
        return { status: 200, contentType: a.contentType, body: a.body, headers: { 'x-content-type-options': 'nosniff' } };
      }
      case '/console/chart.json':
        return json(200, raftChartJson());
      case '/console/node.json':
        return json(200, this.nodeView());
      case '/console/cluster.json':
        return this.clusterView(authorization).then((v) => json(200, v));
      case '/console/topics.json':
        return json(200, this.topicsView());
      case '/console/session': {
        const r = sessionView(this.s.id, this.s.store(), query.get('id'), mayRead);
        return json(r.status, r.body);
      }
      default:
        return null;
    }
  }

  private nodeView(): ConsoleNodeView {
    return nodeView(this.s.status(), this.s.recorder, this.clock());
  }

  /** This node's node.json as bytes: what it answers a peer on the status channel. */
  nodeDocument(): Uint8Array {
    return Buffer.from(JSON.stringify(this.nodeView()), 'utf8');
  }

  /**
   * A peer's view over the raft port's link; null when the peer does not serve it (an older
   * version: then its admin port); an error entry when it fails otherwise.
   */
  private async viaPeerLink(id: string, admin: string | null): Promise<NodeEntry | null> {
    try {
      const body = await this.s.peerView!(id, peerTimeoutMs, peerBytesMax);
      return { ok: true, view: JSON.parse(Buffer.from(body).toString('utf8')) as ConsoleNodeView };
    } catch (err) {
      if ((err as { code?: unknown }).code === StatusFetchCode.unsupported) return null;
      return { ok: false, admin, error: `over the peer link: ${(err as Error).message}` };
    }
  }

  private topicsView(): TopicsView {
    const now = this.clock();
    if (this.topics === null || now - this.topics.at > topicsCacheMs) {
      this.topics = { at: now, value: topicsView(this.s.id, this.s.store(), this.s.replayDelaysMs, now) };
    }
    return this.topics.value;
  }

  /** Every member's node.json (this node's without a request); a member that does not answer says why. */
  private clusterView(authorization: string | null): Promise<ClusterView> {
    const now = this.clock();
    if (this.cluster !== null && now - this.cluster.at <= clusterCacheMs) return this.cluster.value;
    const value = this.fetchCluster(now, authorization);
    this.cluster = { at: now, value };
    return value;
  }

  private async fetchCluster(now: number, authorization: string | null): Promise<ClusterView> {
    const self = this.nodeView();
    // Until 2026-12-07 peers were fetched over plain HTTP with no login: on a cluster with TLS and
    // logins (npm start's) every peer answered HTTP 426 and the console showed one node.
    const tls = this.s.peerTls?.() ?? null;
    const how: PeerFetch | string =
      tls === null
        ? { tls: null, authorization }
        : tls.ca === null
          ? 'not fetched: TLS without the CA (--client-tls-ca)'
          : { tls: { ca: tls.ca }, authorization };
    const nodes: Record<string, NodeEntry> = {};
    const ids = Object.keys(self.status.nodes).sort();
    await Promise.all(
      ids.map(async (id, k) => {
        if (id === this.s.id) {
          nodes[id] = { ok: true, view: self };
          return;
        }
        const admin = self.status.nodes[id]?.admin ?? null;
        // Over the peers' authenticated link first (2026-12-07): with --client-ca-file the peers'
        // admin ports ask for a client certificate this node does not hold, and only this node
        // was shown. This node checked the viewer's login and monitor permission already.
        if (this.s.peerView !== undefined && k < peersFetchedMax) {
          const entry = await this.viaPeerLink(id, admin);
          if (entry !== null) {
            nodes[id] = entry;
            return;
          }
        }
        if (admin === null || k >= peersFetchedMax || typeof how === 'string') {
          const error = admin === null ? 'no admin address known' : typeof how === 'string' ? how : `not fetched: more than ${peersFetchedMax} members`;
          nodes[id] = { ok: false, admin, error };
          return;
        }
        // The viewer's login goes in clear only to a loopback address (no TLS: loopback, or --insecure).
        if (how.tls === null && how.authorization !== null && !isLoopbackAddress(admin)) {
          nodes[id] = { ok: false, admin, error: 'not fetched: the login is not sent over plain HTTP beyond loopback' };
          return;
        }
        try {
          nodes[id] = { ok: true, view: await fetchNodeView(admin, how) };
        } catch (err) {
          nodes[id] = { ok: false, admin, error: (err as Error).message };
        }
      }),
    );
    const ordered: Record<string, NodeEntry> = {};
    for (const id of ids) ordered[id] = nodes[id]!;
    return { servedBy: this.s.id, clusterId: this.s.clusterId, at: now, nodes: ordered };
  }
}
