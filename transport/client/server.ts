/**
 * A node's client port: a WebSocket server speaking the client protocol (clientProtocol.ts). It
 * validates every request at the gateway (schema, sizes, the command codec's own checks) and turns
 * bad input into a typed, counted error frame; it executes requests through the SessionNode
 * (commands on the leader, linearizable reads through ReadIndex), answers NOT_LEADER with the
 * leader's client endpoint, and pushes restored sessions to subscribers on every node.
 *
 * Authentication and permissions (issue 17): a connection logs in with its first request (`auth`:
 * a user and password checked against the replicated scrypt hash, or its client certificate's user);
 * every request is then checked against the user's permissions on its topic, on this node, before
 * anything is proposed. They are required once any user exists in the replicated table, or always
 * with `authRequired` (the node's --auth); a cluster with no users on a loopback port is open, which
 * is how tests and a bare local cluster run. A user removed, or whose password changed, fails its
 * next request; a permission change applies to the next request (and delivery) without a restart.
 */
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo, Server as NetServer, Socket } from 'node:net';
import type { Logger } from 'pino';
import { WebSocketServer, type WebSocket } from 'ws';
import type { MembershipChange } from '../../machines/membership.js';
import {
  CommandErrorCode,
  CommandKind,
  CommandView,
  FEATURES,
  featureNames,
  commandKindNames,
  encodeCommand,
  encodedAppendBytes,
  isCommandId,
  NACK_DELAY_MS_MAX,
  parseCommand,
  SCHEDULE_SEQS,
  type CodecLimits,
  type Command,
  type Envelope,
} from '../commands/codec.js';
import type { Entry, NodeId } from '../../machines/types.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { featureBits, featureOn, featureView } from './features.js';
import type { ClientNode, NodeCommandCallback, NodeCommandResult, NodeConsumer, NodeDelivery, NodeRequestError, NodeSubscription } from './node.js';
import { PushQueue } from './pushQueue.js';
import { HeldBytes } from './heldBytes.js';
import {
  ClientCloseCode,
  decodeRequest,
  defaultClientProtocolLimits,
  encodeCommandResult,
  encodeDelivery,
  encodeError,
  encodeGroupDelivery,
  encodeListResult,
  encodeResult,
  encodeSessionResult,
  encodeSubscriptionEnded,
  encodeWelcome,
  formatDurationMs,
  peekReqId,
  type ClientProtocolLimits,
  type ListedSession,
  type Request,
  type WireEnvelope,
  validateClientProtocolLimits,
} from './protocol.js';
import { CodeCounters } from '../wire/counters.js';
import { CorkedSends } from '../wire/corkedSends.js';
import { batchBytesAsked, batchFraming, isBatch, readBatch } from './batch.js';
import { certificateUser, checkListenSecure, tlsFront, type TlsFiles } from '../wire/tlsFiles.js';
import { ADMIN_ROLE, formatGrant, type Action } from '../commands/access.js';
import { AuthThrottle, defaultAuthThrottleLimits, throttledAddress, type AuthThrottleLimits } from './authThrottle.js';
import { decoyHash, hashPassword, verifyPassword } from './password.js';

interface ClientServerOptions {
  readonly node: ClientNode;
  readonly nodeId: NodeId;
  readonly clusterId: string;
  readonly host: string;
  /** 0 picks a free port (see `listen()`). */
  readonly port: number;
  /** Every node's client endpoint (`host:port`), for redirects; updated with `setEndpoint`. */
  readonly endpoints: Readonly<Record<NodeId, string>>;
  /** The replay classes' delays (a store by delay name resolves against them). */
  readonly replayDelaysMs: readonly number[];
  readonly limits?: Partial<ClientProtocolLimits>;
  readonly logger?: Logger;
  /** This node's status as JSON (the same as the admin port's /status). */
  readonly status: (withDigest: boolean) => unknown;
  /** The configuration in force with each member's address and progress (`member list`, on the leader). */
  readonly members?: () => unknown;
  /** A rejection was answered (metrics and rate-limited logs). */
  readonly onRejected?: (code: string, op: string) => void;
  /** A command finished on this node (leader): seconds from request to result. */
  readonly onCommandDone?: (op: string, seconds: number) => void;
  /** Serve wss:// with these certificate files (reloaded when they change). */
  readonly tls?: TlsFiles;
  /** Allow a non-loopback `host` without `tls` (an explicit operator decision). */
  readonly insecure?: boolean;
  /** Require a login even while no user exists (the node's --auth); else required once a user exists. */
  readonly authRequired?: boolean;
  /** Failed-login throttling per remote address (authThrottle.ts). */
  readonly authThrottle?: Partial<AuthThrottleLimits>;
}

/** Password hashes computed or verified at once on one node (scrypt: ~32 MiB and tens of ms each); beyond, CLIENT_ERR_BUSY. */
const PASSWORD_WORK_MAX = 8;

/** A connection's login (issue 17). */
interface Login {
  readonly user: string;
  /** The user's version when it logged in: a password change (UserPut) ends password logins. */
  readonly version: number;
  readonly cert: boolean;
}

export interface ClientServerStats {
  readonly connections: number;
  readonly subscriptions: number;
  readonly requests: Readonly<Record<string, number>>;
  readonly rejected: Readonly<Record<string, number>>;
  readonly rejectedTotal: number;
  readonly deliveries: number;
  /** Bytes of deliveries waiting in connections' push queues for their sockets to drain. */
  readonly pushQueuedBytes: number;
  /** Connections with deliveries waiting (each watched by one timer). */
  readonly laggingConnections: number;
  /** Bytes held for all connections (answers not read, push queues, requests in flight), against connectionsHeldBytesMax. */
  readonly heldBytes: number;
  /** The users named by the client certificates of open connections (TLS with a client CA), sorted. */
  readonly users: readonly string[];
  /** Successful logins (issue 17); failures are counted in `rejected` by code. */
  readonly logins: number;
  /** Batches (client/batch.ts) received and the requests they carried; sent and the frames they carried. */
  readonly batchesReceived: number;
  readonly batchedRequests: number;
  readonly batchesSent: number;
  readonly batchedReplies: number;
}

/** How often the client port looks for a changed auth table to end subscriptions that lost their permission (sweepRevoked). */
/** How long a client may take to send its WebSocket upgrade's headers (both listeners; on the TLS one, from the end of its handshake). */
const UPGRADE_HEADERS_TIMEOUT_MS = 5_000;
/** Both listeners' HTTP servers: the upgrade's headers within UPGRADE_HEADERS_TIMEOUT_MS, checked every second. */
const UPGRADE_HTTP_OPTIONS = {
  headersTimeout: UPGRADE_HEADERS_TIMEOUT_MS,
  requestTimeout: 2 * UPGRADE_HEADERS_TIMEOUT_MS,
  connectionsCheckingInterval: 1_000,
  maxHeaderSize: 16_384,
} as const;
/** Sockets a listener holds beyond connectionsMax: upgrades in progress, 426 answers. */
const UPGRADES_PENDING_MAX = 64;
const REVOCATION_SWEEP_MS = 250;

interface Conn {
  readonly ws: WebSocket;
  /** Replies produced in one turn (one apply) leave in one write. */
  readonly out: CorkedSends;
  /** The client asked for batches and the welcome said yes: it may send them, and gets them. */
  batches: boolean;
  inflight: number;
  readonly reqIds: Set<number>;
  readonly subs: Map<number, NodeSubscription>;
  /** Consumers' entitlements by subscription ID: their acks and nacks are checked against them (entitlementLost). */
  readonly scopes: Map<number, Entitlement>;
  /** Every subscription's and consumer's delivery entitlement by ID: swept when the auth table changes (sweepRevoked). */
  readonly watched: Map<number, Entitlement>;
  /** Deliveries waiting for the socket to drain (made at the first subscribe). */
  push: PushQueue<NodeDelivery> | null;
  /** Bytes of its requests in flight (counted in `held` until answered). */
  requestBytes: number;
  nextSubId: number;
  badFrames: number;
  closed: boolean;
  /** The user a verified client certificate names (tlsFiles.ts certificateUser); null: anonymous. */
  readonly user: string | null;
  /** Issue 17: the user this connection logged in as (auth request, or its certificate), or null. */
  login: Login | null;
  /** The remote address (failed logins are throttled per address). */
  readonly remote: string;
  /** The user it counts for in `userConns` (connectionsPerUserMax) while logged in; null: none. */
  slotUser: string | null;
  /** Counted in `pendingLogins` under this key (its throttledAddress) until it logs in or closes; null: not counted. */
  pendingKey: string | null;
  /** Closes it at loginTimeoutMs unless it logged in (or the node requires no login then). */
  loginTimer: ReturnType<typeof setTimeout> | null;
}

/**
 * What a subscription or consumer was opened for (`user`: undefined while there were no users),
 * and the auth table version and login it was last checked against: checked again when either
 * changed (entitlementLost), for its deliveries and, for a consumer, its acks and nacks.
 */
interface Entitlement {
  readonly user: string | undefined;
  /** The permissions it needs: read, or consume (and write for a consumer whose acks remove sessions). */
  readonly needs: readonly { readonly action: Action; readonly topic: string; readonly group: string }[];
  version: number;
  login: Login | null;
}

const textEncoder = new TextEncoder();

/** Room kept in the forming Raft batch beyond a request's own commands: what the node proposes beside them in the same turn (a data file, deliveries). */
const PROPOSAL_ROOM_MARGIN = 16;

/** `message` without the `code: ` prefixes the layers below put in front of it. */
function withoutCode(code: string, message: string): string {
  const prefix = `${code}: `;
  let m = message;
  // Bounded: each pass takes a prefix off (a message is at most a few layers deep).
  for (let k = 0; k < 4 && m.startsWith(prefix); k++) m = m.slice(prefix.length);
  return m;
}

/** How many commands a request proposes at once (0: it proposes none). */
function proposalsOf(req: Request): number {
  switch (req.op) {
    case 'get':
    case 'peek':
    case 'list':
    case 'status':
    case 'groups':
    case 'subscribe':
    case 'unsubscribe':
    case 'consume':
    case 'member':
    case 'auth':
      return 0;
    case 'schedule':
      return SCHEDULE_SEQS;
    case 'acks':
      return req.acks.length;
    default:
      return 1;
  }
}

export class ClientServer {
  private readonly opts: ClientServerOptions;
  private readonly limits: ClientProtocolLimits;
  private readonly endpoints = new Map<NodeId, string>();
  private wss: WebSocketServer | null = null;
  /** With TLS: the plain listener in front (tlsFiles.ts tlsFront) and the https server behind it. */
  private front: NetServer | null = null;
  /**
   * With TLS: the front's open connections. The https server never listens itself (the front hands
   * it each connection), so its closeAllConnections() knows none of them; close() ends them here.
   */
  private readonly frontSockets = new Set<Socket>();
  private tlsServer: ReturnType<typeof createHttpsServer> | null = null;
  /** The plain listener's HTTP server (ws:// only): ours, so that its upgrade requests have a deadline. */
  private plainServer: HttpServer | null = null;
  private readonly conns = new Set<Conn>();
  /** What the connections hold, node-wide, against connectionsHeldBytesMax (heldBytes.ts). */
  private readonly held: HeldBytes<Conn>;
  /** sweepRevoked: the auth table version it last looked at, and its timer (from listen to close). */
  private sweptVersion = -1;
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  /** Logged-in connections by user (connectionsPerUserMax). */
  private readonly userConns = new Map<string, number>();
  /** Connections not logged in yet, by throttledAddress of their remote (loginsPendingPerAddressMax). */
  private readonly pendingLogins = new Map<string, number>();
  private offCrlChange: (() => void) | undefined;
  private stopping = false;
  private readonly requests = new CodeCounters();
  private readonly rejected = new CodeCounters();
  private deliveries = 0;
  /** Gateway validation of commands: one reusable view, the store's codec limits. */
  private readonly view = new CommandView();
  private codecLimits: CodecLimits | null = null;
  private readonly throttle: AuthThrottle;
  /** Password hashes being computed or verified now (bounded by PASSWORD_WORK_MAX). */
  private passwordWork = 0;
  private logins = 0;
  /** Batches received and their requests; sent and their frames, of connections already closed. */
  private batchesReceived = 0;
  private batchedRequests = 0;
  private batchesSentClosed = 0;
  private batchedRepliesClosed = 0;
  /** Users whose admin role a request in flight on this node removes (delete, or revoke of admin): the last-admin guard counts them as gone. */
  private readonly adminRemovals = new Map<string, number>();
  /** The decoy an unknown user's password is verified against (computed once, at the first such login). */
  private decoy: Promise<Uint8Array> | null = null;

  constructor(opts: ClientServerOptions) {
    this.opts = opts;
    this.throttle = new AuthThrottle({ ...defaultAuthThrottleLimits, ...(opts.authThrottle ?? {}) }, Date.now);
    this.limits = { ...defaultClientProtocolLimits, ...(opts.limits ?? {}) };
    validateClientProtocolLimits(this.limits);
    this.held = new HeldBytes<Conn>(this.limits.connectionsHeldBytesMax, (c) => this.unreadBytes(c) + c.requestBytes);
    for (const [id, ep] of Object.entries(opts.endpoints)) this.endpoints.set(id, ep);
  }

  /** Binds the port; resolves with the bound address. */
  listen(): Promise<{ host: string; port: number }> {
    checkListenSecure(this.opts.host, 'client port', this.opts.tls !== undefined, this.opts.insecure === true);
    if (this.sweepTimer === null) {
      this.sweptVersion = this.opts.node.access().version;
      this.sweepTimer = setInterval(() => this.sweepRevoked(), REVOCATION_SWEEP_MS);
      this.sweepTimer.unref();
    }
    if (this.opts.tls !== undefined) return this.listenTls(this.opts.tls);
    return new Promise((resolve, reject) => {
      // Not ws's own server, which has Node's defaults (60 s for a request's headers, checked every
      // 30 s, no bound on sockets): a client sending its upgrade a byte at a time held a socket that
      // long, and any number of them. As the admin port's: headers within UPGRADE_HEADERS_TIMEOUT_MS,
      // and sockets bounded by connectionsMax plus UPGRADES_PENDING_MAX not yet upgraded.
      const server = createHttpServer(UPGRADE_HTTP_OPTIONS, (_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' }).end('a sessionraft client port: WebSocket only\n');
      });
      server.maxConnections = this.limits.connectionsMax + UPGRADES_PENDING_MAX;
      this.plainServer = server;
      const wss = new WebSocketServer({
        server,
        maxPayload: this.limits.requestBytesMax,
        perMessageDeflate: false,
        clientTracking: true,
        verifyClient: (info, cb) => this.verifyUpgrade(info.req, cb),
      });
      this.wss = wss;
      const onError = (err: Error): void => reject(err);
      wss.once('error', onError);
      wss.once('listening', () => {
        wss.off('error', onError);
        wss.on('error', (err) => this.opts.logger?.error({ err }, 'client port error'));
        const a = wss.address() as AddressInfo;
        resolve({ host: this.opts.host, port: a.port });
      });
      wss.on('connection', (ws, req) => this.accept(ws, req));
      server.listen(this.opts.port, this.opts.host);
    });
  }

  /** Whether an upgrade may become a connection (both listeners): shutting down, the port's bound, the address's connections not logged in. */
  private verifyUpgrade(req: IncomingMessage, cb: (ok: boolean, status?: number, message?: string) => void): void {
    if (this.stopping) return cb(false, 503, 'node shutting down');
    if (this.conns.size >= this.limits.connectionsMax) {
      this.reject(ClientErrorCode.tooManyConnections, 'connect');
      return cb(false, 503, 'too many client connections');
    }
    if (this.tooManyPending(req)) return cb(false, 503, 'too many connections not logged in from this address');
    cb(true);
  }

  /** wss://: an https server behind a plain front that answers non-TLS clients 426 (tlsFiles.ts). */
  private async listenTls(tls: TlsFiles): Promise<{ host: string; port: number }> {
    // The same deadlines as the plain listener's (UPGRADE_HEADERS_TIMEOUT_MS): Node's defaults gave a
    // client that completed its TLS handshake 60 s to send its upgrade's headers.
    const server = createHttpsServer({ ...tls.serverOptions(), ...UPGRADE_HTTP_OPTIONS }, (_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain', connection: 'close' }).end('a sessionraft client port: WebSocket only\n');
    });
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: this.limits.requestBytesMax,
      perMessageDeflate: false,
      clientTracking: true,
      verifyClient: (info, cb) => this.verifyUpgrade(info.req, cb),
    });
    // The https server is not listening itself (the front hands it sockets), so Node never starts
    // the check that enforces its headersTimeout: a deadline of our own, from the end of the TLS
    // handshake to the upgrade, for a client that sends its headers a byte at a time.
    const upgradeDeadlines = new WeakMap<object, NodeJS.Timeout>();
    server.on('secureConnection', (socket: Socket) => {
      const timer = setTimeout(() => socket.destroy(), UPGRADE_HEADERS_TIMEOUT_MS);
      timer.unref();
      upgradeDeadlines.set(socket, timer);
      socket.once('close', () => clearTimeout(timer));
    });
    server.on('upgrade', (req, socket, head) => {
      clearTimeout(upgradeDeadlines.get(socket));
      wss.handleUpgrade(req, socket, head, (ws) => this.accept(ws, req));
    });
    server.on('tlsClientError', (err: Error & { code?: string }) => {
      this.reject(ClientErrorCode.tls, 'connect');
      this.opts.logger?.debug({ err, code: ClientErrorCode.tls }, 'client TLS handshake failed');
    });
    tls.attach(server);
    // A changed revocation list: every open connection is closed (1001) and the client library
    // connects again, so each certificate is checked against the new list at its next handshake.
    this.offCrlChange = tls.onCrlChange(() => {
      for (const c of this.conns) this.closeConn(c, ClientCloseCode.goingAway, 'certificate revocation list changed: connect again');
    });
    this.wss = wss;
    this.tlsServer = server;
    const { front, port } = await tlsFront(server, this.opts.host, this.opts.port, () => this.reject(ClientErrorCode.tls, 'connect'));
    front.on('error', (err) => this.opts.logger?.error({ err }, 'client port error'));
    front.on('connection', (socket: Socket) => {
      this.frontSockets.add(socket);
      socket.once('close', () => this.frontSockets.delete(socket));
    });
    front.maxConnections = this.limits.connectionsMax + UPGRADES_PENDING_MAX;
    this.front = front;
    return { host: this.opts.host, port };
  }

  /** A node's client endpoint changed (or became known). */
  setEndpoint(id: NodeId, endpoint: string): void {
    this.endpoints.set(id, endpoint);
  }

  endpointOf(id: NodeId): string | null {
    return this.endpoints.get(id) ?? null;
  }

  stats(): ClientServerStats {
    let subs = 0;
    let pushQueuedBytes = 0;
    let laggingConnections = 0;
    const users = new Set<string>();
    let batchesSent = this.batchesSentClosed;
    let batchedReplies = this.batchedRepliesClosed;
    for (const c of this.conns) {
      batchesSent += c.out.batchesSent;
      batchedReplies += c.out.batchedFrames;
      subs += c.subs.size;
      if (c.user !== null) users.add(c.user);
      if (c.push === null) continue;
      pushQueuedBytes += c.push.queuedBytes;
      if (c.push.lagging) laggingConnections++;
    }
    return {
      connections: this.conns.size,
      subscriptions: subs,
      requests: this.requests.snapshot(),
      rejected: this.rejected.snapshot(),
      rejectedTotal: this.rejected.total,
      deliveries: this.deliveries,
      pushQueuedBytes,
      laggingConnections,
      heldBytes: this.held.recount(),
      users: [...users].sort(),
      logins: this.logins,
      batchesReceived: this.batchesReceived,
      batchedRequests: this.batchedRequests,
      batchesSent,
      batchedReplies,
    };
  }

  /** Stop taking requests: new ones are answered CLIENT_ERR_UNAVAILABLE (the host is shutting down). */
  drain(): void {
    this.stopping = true;
  }

  /**
   * Once the auth table changed (a revoke, a removed user, a changed password, logins turned on),
   * every subscription and consumer is checked again at once and ended if it lost its permission,
   * rather than at its next delivery: an idle one on a quiet topic went on until something was
   * delivered to it (a review, 2026-12-07). Bounded: one pass over the connections' subscriptions,
   * only after a change, at most every REVOCATION_SWEEP_MS.
   */
  private sweepRevoked(): void {
    const version = this.opts.node.access().version;
    if (version === this.sweptVersion) return;
    this.sweptVersion = version;
    for (const c of this.conns) {
      if (c.closed) continue;
      for (const [subId, e] of c.watched) {
        const why = this.entitlementLost(c, e);
        if (why !== null) this.endSubscription(c, subId, why.code, why.detail);
      }
    }
  }

  /** Closes every connection (1001) and the server. */
  close(cb: () => void): void {
    this.stopping = true;
    if (this.sweepTimer !== null) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    this.offCrlChange?.();
    for (const c of this.conns) this.closeConn(c, ClientCloseCode.goingAway, 'node shutting down');
    const wss = this.wss;
    if (wss === null) return cb();
    const front = this.front;
    const server = this.tlsServer;
    if (front !== null && server !== null) {
      // Stop accepting now; the https server goes once every client connection has closed.
      this.opts.tls?.detach(server);
      front.close();
      const done = cb;
      cb = () => {
        server.close();
        server.closeAllConnections();
        // A keep-alive HTTPS request's connection (not a WebSocket, which closed above).
        for (const socket of this.frontSockets) socket.destroy();
        done();
      };
    }
    const plain = this.plainServer;
    if (plain !== null) {
      // ws closes only a server it made: this one is ours to close.
      const done = cb;
      cb = () => {
        plain.close();
        plain.closeAllConnections();
        done();
      };
    }
    const timer = setTimeout(() => {
      for (const ws of wss.clients) ws.terminate();
    }, 500);
    wss.close(() => {
      clearTimeout(timer);
      cb();
    });
  }

  // ---- connections ------------------------------------------------------------------------------

  private accept(ws: WebSocket, req: IncomingMessage): void {
    const user = certificateUser(req.socket);
    const c: Conn = {
      ws,
      out: new CorkedSends(ws, queueMicrotask),
      inflight: 0,
      reqIds: new Set(),
      subs: new Map(),
      scopes: new Map(),
      watched: new Map(),
      push: null,
      requestBytes: 0,
      nextSubId: 1,
      badFrames: 0,
      batches: false,
      closed: false,
      user,
      login: null,
      remote: req.socket.remoteAddress ?? '',
      slotUser: null,
      pendingKey: null,
      loginTimer: null,
    };
    if (user !== null) this.opts.logger?.debug({ user }, 'client connected with a certificate');
    this.conns.add(c);
    if (user === null) this.awaitLogin(c);
    ws.on('message', (data, isBinary) => this.onFrame(c, data as Buffer, isBinary));
    ws.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') this.reject(ClientErrorCode.frameTooLarge, 'frame');
      else this.reject(ClientErrorCode.malformed, 'frame');
    });
    ws.on('close', () => this.dropConn(c));
    // Batches (client/batch.ts) for a client that asked, of at most what it reads; the welcome says so.
    const asked = batchBytesAsked(req.url);
    c.batches = asked > 0 && this.limits.replyBatchBytesMax > 0;
    ws.send(encodeWelcome(this.opts.clusterId, this.opts.nodeId, this.limits.requestBytesMax, this.limits.inflightRequestsMax, c.batches));
    if (c.batches) c.out.batchFrames(batchFraming('reply', Math.min(asked, this.limits.replyBatchBytesMax)));
  }

  /**
   * A connection with no certificate counts as waiting for a login (per address) until it logs in
   * or closes; at loginTimeoutMs it is closed if the node requires logins and it has none.
   */
  private awaitLogin(c: Conn): void {
    const key = throttledAddress(c.remote);
    c.pendingKey = key;
    this.pendingLogins.set(key, (this.pendingLogins.get(key) ?? 0) + 1);
    c.loginTimer = setTimeout(() => {
      c.loginTimer = null;
      if (c.closed || c.login !== null || !this.authOn()) return;
      this.reject(ClientErrorCode.authRequired, 'login-timeout');
      this.closeConn(c, ClientCloseCode.loginTimeout, `no login within ${this.limits.loginTimeoutMs} ms`);
    }, this.limits.loginTimeoutMs);
    c.loginTimer.unref();
  }

  /** The connection logged in, or closed: it no longer waits for a login. */
  private loginSettled(c: Conn): void {
    if (c.loginTimer !== null) {
      clearTimeout(c.loginTimer);
      c.loginTimer = null;
    }
    const key = c.pendingKey;
    if (key === null) return;
    c.pendingKey = null;
    const n = (this.pendingLogins.get(key) ?? 0) - 1;
    if (n > 0) this.pendingLogins.set(key, n);
    else this.pendingLogins.delete(key);
  }

  /** While logins are required: this upgrade's address already has loginsPendingPerAddressMax connections not logged in (counted). */
  private tooManyPending(req: IncomingMessage): boolean {
    if (!this.authOn() || certificateUser(req.socket) !== null) return false;
    const n = this.pendingLogins.get(throttledAddress(req.socket.remoteAddress ?? '')) ?? 0;
    if (n < this.limits.loginsPendingPerAddressMax) return false;
    this.reject(ClientErrorCode.tooManyConnections, 'connect-not-logged-in');
    return true;
  }

  private dropConn(c: Conn): void {
    if (c.closed) return;
    c.closed = true;
    this.loginSettled(c);
    this.conns.delete(c);
    this.batchesSentClosed += c.out.batchesSent;
    this.batchedRepliesClosed += c.out.batchedFrames;
    for (const s of c.subs.values()) s.close();
    c.subs.clear();
    c.scopes.clear();
    c.watched.clear();
    c.push?.close();
    this.held.forget(c);
    this.releaseUserSlot(c);
  }

  /**
   * `c` logs in as `user`: counted for the user (null answered) unless the user already has
   * connectionsPerUserMax connections logged in here; then the refusal's detail (the caller refuses
   * the login with CLIENT_ERR_TOO_MANY_CONNECTIONS, counted) and `c` keeps any earlier login's slot.
   */
  private takeUserSlot(c: Conn, user: string): string | null {
    if (c.slotUser === user) return null;
    const n = this.userConns.get(user) ?? 0;
    if (n >= this.limits.connectionsPerUserMax) {
      return `user ${JSON.stringify(user)} has ${n} connections logged in on this node (limit connectionsPerUserMax ${this.limits.connectionsPerUserMax})`;
    }
    this.releaseUserSlot(c);
    this.userConns.set(user, n + 1);
    c.slotUser = user;
    return null;
  }

  private releaseUserSlot(c: Conn): void {
    const user = c.slotUser;
    if (user === null) return;
    c.slotUser = null;
    const n = (this.userConns.get(user) ?? 0) - 1;
    if (n > 0) this.userConns.set(user, n);
    else this.userConns.delete(user);
  }

  private closeConn(c: Conn, code: number, reason: string): void {
    // What was answered before the close leaves before it.
    if (!c.closed) c.out.flush();
    this.dropConn(c);
    try {
      c.ws.close(code, reason);
    } catch {
      c.ws.terminate();
    }
  }

  private send(c: Conn, frame: Uint8Array): void {
    if (c.closed) return;
    c.out.send(frame);
    // Answers are not paced (a request stops counting in flight once answered): a client that asks
    // and never reads is cut, not buffered without bound. No close frame: it would wait behind the rest.
    if (c.ws.bufferedAmount + c.out.heldBytes > this.limits.sendBufferedBytesMax) {
      this.reject(ClientErrorCode.slowReader, 'send');
      this.opts.logger?.warn(
        { code: ClientErrorCode.slowReader, remote: c.remote },
        `client connection cut: more than ${this.limits.sendBufferedBytesMax} bytes waited for it to read`,
      );
      this.dropConn(c);
      c.ws.terminate();
      return;
    }
    this.holdOutput(c);
  }

  /**
   * `c` holds more of what waits for its reader (an answer, a delivery written or queued): while
   * the connections together hold more than connectionsHeldBytesMax, the one with the most unread
   * output is cut, as NATS cuts a slow consumer; the others go on. (RabbitMQ's memory alarm blocks publishers
   * instead, but what fills this budget is answers nobody reads: refusing requests would not drain it.)
   */
  private holdOutput(c: Conn): void {
    if (c.closed) return;
    this.held.note(c);
    while (!this.held.fits(0)) {
      const most = this.mostUnread();
      if (most === null) return;
      this.cutHolding(most);
    }
  }

  /**
   * Output waiting for `c`'s reader: its socket's buffer, frames held for the end of the turn, its
   * push queue. Not its requests in flight, which are the node's own work and drain as it answers.
   */
  private unreadBytes(c: Conn): number {
    return c.ws.bufferedAmount + c.out.heldBytes + (c.push?.queuedBytes ?? 0);
  }

  /**
   * The connection with the most output waiting for its reader (null: none has any): the one the
   * budget cuts. Only called over the budget (after a recount). Until 2026-12-07 (a review the day
   * it came in) the one holding the most in all was cut, which could be one that read everything
   * and only had requests in flight: its commands then ended as unknown outcome.
   */
  private mostUnread(): Conn | null {
    let most: Conn | null = null;
    let mostBytes = 0;
    for (const c of this.conns) {
      if (c.closed) continue;
      const n = this.unreadBytes(c);
      if (n > mostBytes) {
        most = c;
        mostBytes = n;
      }
    }
    return most;
  }

  /**
   * A request of `bytes` on `c` held until answered: connections whose unread output is more than
   * all `c` holds are cut while it does not fit; otherwise the request is refused instead
   * (CLIENT_ERR_NODE_BUSY, as RabbitMQ blocks the publisher) and `c` keeps what it has. False: refused.
   */
  private holdRequest(c: Conn, bytes: number): boolean {
    // Counted with the request first: one note per request on the usual path.
    c.requestBytes += bytes;
    this.held.note(c);
    while (!this.held.fits(0)) {
      const most = this.mostUnread();
      if (most === null || most === c || this.unreadBytes(most) <= this.held.heldBy(c) - bytes) {
        c.requestBytes -= bytes;
        this.held.note(c);
        return false;
      }
      this.cutHolding(most);
    }
    return true;
  }

  /** Cuts a connection for the node-wide budget (counted): no close frame, which would wait behind what it does not read. */
  private cutHolding(c: Conn): void {
    const bytes = this.held.heldBy(c);
    this.reject(ClientErrorCode.nodeBusy, 'held');
    this.opts.logger?.warn(
      { code: ClientErrorCode.nodeBusy, remote: c.remote, heldBytes: bytes },
      `client connection cut: the client connections together held more than connectionsHeldBytesMax (${this.limits.connectionsHeldBytesMax} bytes), this one the most unread output (${bytes} bytes held)`,
    );
    this.dropConn(c);
    c.ws.terminate();
  }

  /**
   * The connection's push queue (pushQueue.ts): deliveries wait in it for the socket to drain, so a
   * burst larger than the socket's share is paced, not dropped. The socket's 'drain' pumps it.
   */
  private pushQueueOf(c: Conn): PushQueue<NodeDelivery> {
    if (c.push !== null) return c.push;
    const l = this.limits;
    const q = new PushQueue<NodeDelivery>(
      {
        // Frames held for the end of the turn (batches) are on their way to the socket too.
        bufferedAmount: () => c.ws.bufferedAmount + c.out.heldBytes,
        send: (frame) => {
          this.deliveries++;
          this.send(c, frame);
        },
      },
      (subId, d) => {
        return encodeDelivery({ subId, topic: d.topic, session: d.session, records: d.records as Uint8Array[], restoreId: d.restoreId, index: d.index });
      },
      {
        bufferedBytesHigh: l.pushBufferedBytesMax,
        queueBytesMax: l.pushQueueBytesMax,
        queueDeliveriesMax: l.pushQueueDeliveriesMax,
        behindBytesMax: l.subscriberBehindBytesMax,
        behindMsMax: l.subscriberBehindMsMax,
      },
      (detail) => {
        this.opts.logger?.warn({ code: ClientErrorCode.subscriberStalled, subscriptions: c.subs.size }, `subscriber connection stalled: ${detail}`);
        for (const subId of [...c.subs.keys()]) this.endSubscription(c, subId, ClientErrorCode.subscriberStalled, `the connection stalled: ${detail}`);
      },
    );
    // ws's net.Socket (present once open): it emits 'drain' when its buffer empties after it was
    // above its own mark, which a socket above pushBufferedBytesMax (>= 64 KiB) always was.
    (c.ws as unknown as { _socket?: Socket })._socket?.on('drain', () => q.pump());
    c.push = q;
    return q;
  }

  /** Ends one subscription with a stable code (counted), forgetting its queued deliveries. */
  private endSubscription(c: Conn, subId: number, code: string, message: string): void {
    const s = c.subs.get(subId);
    if (s === undefined) return;
    c.subs.delete(subId);
    c.scopes.delete(subId);
    c.watched.delete(subId);
    s.close();
    c.push?.drop(subId);
    this.reject(code, 'subscribe');
    this.send(c, encodeSubscriptionEnded(subId, code, message));
  }

  private reject(code: string, op: string): void {
    this.rejected.add(code);
    this.opts.onRejected?.(code, op);
  }

  private sendError(c: Conn, reqId: number, op: string, code: string, detail: string, leader: string | null = null, endpoint: string | null = null): void {
    this.reject(code, op);
    this.send(c, encodeError(reqId, code, detail, leader, endpoint));
  }

  private onFrame(c: Conn, data: Buffer, isBinary: boolean): void {
    if (c.closed) return;
    this.takeMessage(c, data, isBinary);
    // What this message answered at once leaves now: ws may close the connection later in the
    // same socket read (the client's close frame, an oversized message), and a frame held past
    // that would be dropped (found in review).
    if (!c.closed) c.out.flush();
  }

  private takeMessage(c: Conn, data: Buffer, isBinary: boolean): void {
    if (!isBinary) return this.badFrame(c, 0, ClientErrorCode.malformed, 'text frame: the protocol is binary CBOR');
    if (!c.batches || !isBatch('request', data)) return this.onRequest(c, data);
    // A batch (client/batch.ts): its requests one by one, as if each had come alone.
    const frames = readBatch('request', data, this.limits.inflightRequestsMax);
    if (frames === null) {
      return this.badFrame(c, 0, ClientErrorCode.malformed, `a batch is [1, 0, 27, frame, ...] with 1 to ${this.limits.inflightRequestsMax} byte strings`);
    }
    this.batchesReceived++;
    this.batchedRequests += frames.length;
    for (const f of frames) {
      if (c.closed) return;
      this.onRequest(c, f);
    }
  }

  private badFrame(c: Conn, reqId: number, code: string, detail: string): void {
    this.sendError(c, reqId, 'frame', code, detail);
    if (++c.badFrames >= this.limits.badFramesMax) this.closeConn(c, ClientCloseCode.tooManyBadFrames, 'too many bad frames');
  }

  private onRequest(c: Conn, data: Uint8Array): void {
    let req: Request;
    try {
      req = decodeRequest(data);
    } catch (err) {
      const code = err instanceof ClientError ? err.code : ClientErrorCode.malformed;
      const detail = err instanceof ClientError ? err.detail : String(err);
      return this.badFrame(c, peekReqId(data), code, detail);
    }
    this.requests.add(req.op);
    if (this.stopping || this.opts.node.isStopped()) {
      return this.sendError(c, req.reqId, req.op, ClientErrorCode.unavailable, `node ${this.opts.nodeId} is shutting down`);
    }
    if (c.reqIds.has(req.reqId)) return this.sendError(c, req.reqId, req.op, ClientErrorCode.malformed, `reqId ${req.reqId} is already in flight`);
    if (c.inflight >= this.limits.inflightRequestsMax) {
      return this.sendError(
        c,
        req.reqId,
        req.op,
        ClientErrorCode.tooManyInFlight,
        `${c.inflight} requests in flight (limit ${this.limits.inflightRequestsMax})`,
      );
    }
    const requestBytes = data.byteLength;
    if (!this.holdRequest(c, requestBytes)) {
      return this.sendError(
        c,
        req.reqId,
        req.op,
        ClientErrorCode.nodeBusy,
        `the client connections hold ${this.held.total} bytes (limit connectionsHeldBytesMax ${this.limits.connectionsHeldBytesMax}), none more unread output than this one holds (${this.held.heldBy(c)})`,
      );
    }
    c.inflight++;
    c.reqIds.add(req.reqId);
    let answered = false;
    const done = (frame: Uint8Array | null): void => {
      if (answered) return;
      answered = true;
      c.inflight--;
      c.reqIds.delete(req.reqId);
      c.requestBytes -= requestBytes;
      if (frame !== null) this.send(c, frame);
      else if (!c.closed) this.held.note(c);
    };
    try {
      this.execute(c, req, done);
    } catch (err) {
      this.opts.logger?.error({ err, code: ClientErrorCode.internal, op: req.op }, 'client request failed');
      this.reject(ClientErrorCode.internal, req.op);
      done(encodeError(req.reqId, ClientErrorCode.internal, String(err)));
    }
  }

  // ---- requests ---------------------------------------------------------------------------------

  // ---- authentication and permissions (issue 17) ------------------------------------------------

  /** Whether this node requires a login now: by its configuration, or because a user exists. */
  private authOn(): boolean {
    return this.opts.authRequired === true || this.opts.node.access().hasUsers();
  }

  /**
   * The user a request runs as: undefined while authentication is off (anyone may do anything, as
   * before issue 17), else the connection's login, checked against the applied table (a removed
   * user, or a password changed since the login, fails). A certificate naming a user logs in by itself.
   */
  private principal(c: Conn): { user: string | undefined } | { code: string; detail: string } {
    if (!this.authOn()) return { user: undefined };
    const access = this.opts.node.access();
    let login = c.login;
    if (login === null && c.user !== null) {
      const v = access.userVersion(c.user);
      if (v < 0) return { code: ClientErrorCode.authFailed, detail: `the client certificate names ${JSON.stringify(c.user)}, who is not a user` };
      const full = this.takeUserSlot(c, c.user);
      if (full !== null) return { code: ClientErrorCode.tooManyConnections, detail: full };
      login = c.login = { user: c.user, version: v, cert: true };
    }
    if (login === null)
      return { code: ClientErrorCode.authRequired, detail: 'this cluster requires a login first (user and password, or a client certificate)' };
    const v = access.userVersion(login.user);
    if (v < 0) return { code: ClientErrorCode.authFailed, detail: `user ${JSON.stringify(login.user)} was removed` };
    if (!login.cert && v !== login.version)
      return { code: ClientErrorCode.authFailed, detail: `the password of ${JSON.stringify(login.user)} changed since this login` };
    return { user: login.user };
  }

  /** Why `user` may not make this request (null: it may). Topics of sessions come from this node's applied state. */
  private denied(user: string, req: Request): string | null {
    const access = this.opts.node.access();
    const need = (action: Action, topic: string, group = ''): string | null =>
      access.allows(user, action, topic, group)
        ? null
        : `user ${JSON.stringify(user)} has no ${action} permission${topic !== '' ? ` on topic ${JSON.stringify(topic)}` : ''}${group !== '' ? ` for group ${JSON.stringify(group)}` : ''}`;
    const onSession = (action: Action, session: Uint8Array, unknownOk: boolean): string | null => {
      const topic = this.opts.node.sessionTopic(session);
      // Unknown here: a read answers "not found"; a command needs the permission on every topic.
      if (topic === null) return unknownOk ? null : need(action, '');
      return need(action, topic);
    };
    switch (req.op) {
      case 'auth':
      case 'register':
      case 'unsubscribe':
      case 'nack':
        return null;
      case 'ack':
        // Remove on ack removes the session as a destroy would: the same permission. A session this
        // node does not have (removed by an earlier ack of the same item) is not refused here: the
        // ack removes nothing then, and apply checks the permission whenever the session is active.
        return req.remove === undefined ? null : onSession('write', req.remove, true);
      case 'acks':
        // As 'ack', for each: the first ack refused refuses the request (nothing of it is taken).
        for (const a of req.acks) {
          const why = a.remove === undefined ? null : onSession('write', a.remove, true);
          if (why !== null) return why;
        }
        return null;
      case 'list':
        // Every topic: answered with the sessions the user may read (filtered below).
        return req.topic === '' ? null : need('read', req.topic);
      case 'create':
        return need('write', req.topic);
      case 'append':
      case 'rewrite':
      case 'destroy':
        return onSession('write', req.session, false);
      case 'store':
        return onSession('store', req.session, false);
      case 'schedule':
        return need('write', req.topic) ?? need('store', req.topic);
      case 'get':
      case 'peek':
        return onSession('read', req.session, true);
      case 'subscribe':
        return need('read', req.topic);
      case 'status':
      case 'groups':
        return need('monitor', '');
      case 'member':
        return need(req.action === 'list' ? 'monitor' : 'admin', '');
      case 'groupCreate':
      case 'groupDelete':
        return need('consume', req.topic, req.name);
      case 'consume':
        // A consumer whose acks remove their sessions needs what a destroy needs too: refused at
        // attach rather than at every ack.
        return need('consume', req.topic, req.group) ?? (req.removeOnAck === true ? need('write', req.topic) : null);
      case 'deadLetter':
        // Replaying or deleting a dead letter: the permission of acking in that group.
        return need('consume', req.topic, req.group);
      case 'user':
        // Users change their own password; everything else about users is administration.
        return req.action === 'passwd' && req.user === user ? null : need('admin', '');
      case 'role':
        return need('admin', '');
      case 'feature':
        return need(req.action === 'list' ? 'monitor' : 'admin', '');
    }
  }

  /** The entitlement of a subscription or consumer opened now by `user`, with what it needs. */
  private entitlement(c: Conn, user: string | undefined, needs: Entitlement['needs']): Entitlement {
    return { user, needs, version: this.opts.node.access().version, login: c.login };
  }

  /**
   * Why a subscription or consumer may no longer go on (its permission was revoked, its login
   * changed or went, logins were turned on), or null; looked at only when the auth table or the
   * connection's login changed since the last look. Until 2026-12-07 one opened before the first
   * user was never checked again, a login on the same connection was not noticed, and a consumer's
   * acks were not checked at all (reviews).
   */
  private entitlementLost(c: Conn, e: Entitlement): { code: string; detail: string } | null {
    const version = this.opts.node.access().version;
    if (e.version === version && e.login === c.login) return null;
    e.version = version;
    e.login = c.login;
    const p = this.principal(c);
    if ('code' in p) return p;
    if (p.user === undefined) return null; // no users, no --auth: everyone may
    if (e.user !== undefined && p.user !== e.user) return { code: ClientErrorCode.permissionDenied, detail: `this connection is no longer ${e.user}` };
    for (const n of e.needs) {
      if (!this.opts.node.access().allows(p.user, n.action, n.topic, n.group)) {
        return {
          code: ClientErrorCode.permissionDenied,
          detail: `user ${p.user} may no longer ${n.action} ${n.topic}${n.group !== '' ? ` as ${n.group}` : ''}`,
        };
      }
    }
    return null;
  }

  /** Why consumer `subId`'s acks and nacks may no longer be taken, or null (entitlementLost). */
  private consumerRevoked(c: Conn, subId: number): { code: string; detail: string } | null {
    const e = c.scopes.get(subId);
    return e === undefined ? null : this.entitlementLost(c, e);
  }

  /** For a session command with an envelope: the result the client table remembers for it (rememberedResult), or null. */
  private rememberedSessionCommand(req: Request, user: string): NodeCommandResult | null {
    switch (req.op) {
      case 'append':
      case 'rewrite':
      case 'store':
      case 'destroy':
        return req.envelope === null ? null : this.opts.node.rememberedResult(envelopeOf(req.envelope)!, user);
      default:
        return null;
    }
  }

  /** Runs `req` again once this node applied up to a ReadIndex barrier (see `execute`). */
  private confirmThen(c: Conn, req: Request, done: (frame: Uint8Array | null) => void, fail: (code: string, detail: string) => void): void {
    this.opts.node.read((err) => {
      if (c.closed) return done(null);
      if (err) return this.requestFailed(err, fail);
      this.execute(c, req, done, true);
    });
  }

  /** The auth request: a password checked against the replicated hash (throttled per address), or the certificate's user. */
  private login(
    c: Conn,
    req: Extract<Request, { op: 'auth' }>,
    done: (frame: Uint8Array | null) => void,
    fail: (code: string, detail: string) => void,
    confirmed: boolean,
  ): void {
    const access = this.opts.node.access();
    // Counted per address and name (authThrottle.ts): a certificate login by the name it carries.
    const name = req.user === '' ? (c.user ?? '') : req.user;
    if (this.throttle.blocked(c.remote, name)) return fail(ClientErrorCode.authRateLimited, `too many failed logins from ${c.remote}; try again later`);
    const refuse = (detail: string): void => {
      if (!confirmed) return this.confirmThen(c, req, done, fail);
      c.login = null;
      this.releaseUserSlot(c);
      const delayMs = this.throttle.failed(c.remote, name);
      this.opts.logger?.info({ user: req.user, remote: c.remote, code: ClientErrorCode.authFailed }, 'login refused');
      setTimeout(() => fail(ClientErrorCode.authFailed, detail), delayMs).unref();
    };
    const succeed = (login: Login): void => {
      // The password was right: not a failed login for the throttle, but one connection too many for the user.
      const full = this.takeUserSlot(c, login.user);
      if (full !== null) return fail(ClientErrorCode.tooManyConnections, full);
      c.login = login;
      this.loginSettled(c);
      this.throttle.succeeded(c.remote, name);
      this.logins++;
      done(encodeResult(req.reqId, [login.user]));
    };
    if (req.user === '') {
      if (c.user === null) return refuse('no client certificate on this connection: log in with a user and password');
      const v = access.userVersion(c.user);
      if (v < 0) return refuse(`the client certificate names ${JSON.stringify(c.user)}, who is not a user`);
      return succeed({ user: c.user, version: v, cert: true });
    }
    if (this.passwordWork >= PASSWORD_WORK_MAX) return fail(ClientErrorCode.busy, `${this.passwordWork} logins are being verified on this node; retry`);
    const before = access.user(req.user);
    this.passwordWork++;
    const stored = before?.passwordHash ?? null;
    // An unknown user (or one without a password) costs the same time as a wrong password.
    const check = stored !== null ? verifyPassword(req.password, stored) : (this.decoy ??= decoyHash()).then((h) => verifyPassword(req.password, h));
    check.then(
      (ok) => {
        this.passwordWork--;
        if (c.closed) return done(null);
        const now = access.userVersion(req.user);
        if (!ok || before === null || stored === null || now !== before.version) return refuse('unknown user or wrong password');
        succeed({ user: req.user, version: now, cert: false });
      },
      (err: unknown) => {
        this.passwordWork--;
        this.opts.logger?.error({ err, code: ClientErrorCode.internal }, 'password verification failed');
        fail(ClientErrorCode.internal, String(err));
      },
    );
  }

  /** `user` and `role` requests (leader): users, roles and permissions become auth commands in the log. */
  private administer(
    req: Extract<Request, { op: 'user' | 'role' }>,
    done: (frame: Uint8Array | null) => void,
    fail: (code: string, detail: string, leader?: string | null, endpoint?: string | null) => void,
  ): void {
    const node = this.opts.node;
    const access = node.access();
    const then = (err: NodeRequestError | null, result?: NodeCommandResult, entry?: Entry): void => {
      if (err) return this.requestFailed(err, fail);
      done(commandResultFrame(req.reqId, result!, entry));
    };
    if (req.action === 'list') {
      // Behind a ReadIndex barrier on the leader: the table of a leader that still leads.
      return node.read((err) => {
        if (err) return this.requestFailed(err, fail);
        const body =
          req.op === 'user'
            ? access.users().map((u) => ({ user: u.name, password: u.passwordHash !== null, roles: u.roles }))
            : access.roles().map((r) => ({ role: r.name, builtin: r.builtin, permissions: r.grants.map((g) => formatGrant(g)) }));
        done(encodeResult(req.reqId, [textEncoder.encode(JSON.stringify(body))]));
      });
    }
    if (node.leadership().leader !== this.opts.nodeId) return this.requestFailed({ code: 'NOT_LEADER', message: 'users and roles change on the leader' }, fail);
    const admins = (): number => access.users().filter((u) => u.roles.includes(ADMIN_ROLE)).length;
    // The last-admin guard counts the admins another request in flight here is removing as gone:
    // two removals sent together both saw two admins and left none (2026-12-07, a review).
    const lastAdmin = (user: string): boolean => {
      if (access.user(user)?.roles.includes(ADMIN_ROLE) !== true) return false;
      let leaving = 0;
      for (const u of this.adminRemovals.keys()) if (u !== user && access.user(u)?.roles.includes(ADMIN_ROLE) === true) leaving++;
      return admins() - leaving <= 1;
    };
    const removingAdmin = (user: string): typeof then => {
      this.adminRemovals.set(user, (this.adminRemovals.get(user) ?? 0) + 1);
      return (err, result, entry) => {
        const n = this.adminRemovals.get(user)! - 1;
        if (n > 0) this.adminRemovals.set(user, n);
        else this.adminRemovals.delete(user);
        then(err, result, entry);
      };
    };
    if (req.op === 'role') {
      switch (req.action) {
        case 'add':
          return node.submitAuth({ kind: CommandKind.rolePut, role: req.role }, then);
        case 'delete':
          return node.submitAuth({ kind: CommandKind.roleDelete, role: req.role }, then);
        case 'grant':
          return node.submitAuth({ kind: CommandKind.roleGrant, role: req.role, grant: req.grant! }, then);
        case 'revoke':
          return node.submitAuth({ kind: CommandKind.roleRevoke, role: req.role, grant: req.grant! }, then);
      }
    }
    switch (req.action) {
      case 'add':
      case 'passwd': {
        const exists = access.userVersion(req.user) >= 0;
        if (req.action === 'add' && exists) return fail(ClientErrorCode.userExists, `user ${JSON.stringify(req.user)} exists`);
        if (req.action === 'passwd' && !exists) return fail('SESSIONS_ERR_USER_UNKNOWN', `no user ${JSON.stringify(req.user)}`);
        // The first user of an open cluster becomes an administrator: authentication is on from
        // then on, and someone must be able to manage users (else only the bootstrap step could).
        // With `first-user-admin` the UserPut does it at apply, in one entry; before, a UserGrant
        // followed, and a leader change between the two left a user and no admin.
        const first = req.action === 'add' && !access.hasUsers() && !featureOn(node, FEATURES.firstUserAdmin);
        const put = (passwordHash: Uint8Array | null): void =>
          node.submitAuth({ kind: CommandKind.userPut, user: req.user, passwordHash }, (err, result, entry) => {
            if (err !== null || !first || result?.ok !== true) return then(err, result, entry);
            node.submitAuth({ kind: CommandKind.userGrant, user: req.user, role: ADMIN_ROLE }, then);
          });
        if (req.password === '') return put(null);
        if (this.passwordWork >= PASSWORD_WORK_MAX) return fail(ClientErrorCode.busy, `${this.passwordWork} passwords are being hashed on this node; retry`);
        // Hashed here, on the leader, once: the log and the replicas never hold the plaintext.
        this.passwordWork++;
        hashPassword(req.password).then(
          (passwordHash) => {
            this.passwordWork--;
            put(passwordHash);
          },
          (err: unknown) => {
            this.passwordWork--;
            fail(ClientErrorCode.internal, String(err));
          },
        );
        return;
      }
      case 'delete':
        if (lastAdmin(req.user)) return fail(ClientErrorCode.lastAdmin, `${req.user} is the last admin`);
        return node.submitAuth({ kind: CommandKind.userDelete, user: req.user }, removingAdmin(req.user));
      case 'grant':
        return node.submitAuth({ kind: CommandKind.userGrant, user: req.user, role: req.role }, then);
      case 'revoke':
        if (req.role !== ADMIN_ROLE) return node.submitAuth({ kind: CommandKind.userRevoke, user: req.user, role: req.role }, then);
        if (lastAdmin(req.user)) return fail(ClientErrorCode.lastAdmin, `${req.user} is the last admin`);
        return node.submitAuth({ kind: CommandKind.userRevoke, user: req.user, role: req.role }, removingAdmin(req.user));
    }
  }

  /**
   * `confirmed`: a refusal of the login was already checked behind a read barrier. A node that has
   * not applied a user yet (restarted, or behind) must not refuse that user's login: before an
   * authentication failure is answered, a ReadIndex barrier brings this node up to the leader's
   * commit and the check runs once more (if the barrier fails, the caller gets that retryable error).
   */
  private execute(c: Conn, req: Request, done: (frame: Uint8Array | null) => void, confirmed = false): void {
    const node = this.opts.node;
    const fail = (code: string, detail: string, leader: string | null = null, endpoint: string | null = null): void => {
      this.reject(code, req.op);
      done(encodeError(req.reqId, code, detail, leader, endpoint));
    };
    if (req.op === 'auth') return this.login(c, req, done, fail, confirmed);
    const who = this.principal(c);
    if ('code' in who) {
      if (who.code === ClientErrorCode.authFailed && !confirmed) return this.confirmThen(c, req, done, fail);
      return fail(who.code, who.detail);
    }
    const user = who.user;
    if (user !== undefined) {
      // Checked here, before anything is proposed: a denied request never reaches the log.
      const why = this.denied(user, req);
      if (why !== null) {
        // A retry of a command this client applied already is answered from the client table as
        // a duplicate, as it would be without logins: its session may be gone since (stored,
        // destroyed), and the check above then asks for the permission on every topic (2026-12-07,
        // a review: the retry of an applied store came back PERMISSION_DENIED). Only the client's
        // owner, with its secret, learns anything.
        const seen = this.rememberedSessionCommand(req, user);
        if (seen !== null) return done(commandResultFrame(req.reqId, seen, undefined));
        return fail(ClientErrorCode.permissionDenied, why);
      }
    }
    // Every command proposed in this turn joins one Raft batch. The leader takes at most
    // proposalEntriesMax entries in one step; RaftNode cuts a larger turn into chunks (the node's
    // own proposals beside its clients' can make one), but the clients' commands of one turn are held
    // to one step's worth here (33 full `acks` requests read in one turn would be 8,448 acks): a
    // request whose commands do not fit, with a margin for what the node proposes beside them, is
    // refused, nothing proposed: BUSY, to retry; an `acks` refused so fails each of its acks, and the
    // items come back after their ack wait.
    const proposals = proposalsOf(req);
    if (proposals > 0) {
      const room = node.proposalRoom();
      if (room < proposals + PROPOSAL_ROOM_MARGIN) {
        return fail(
          ClientErrorCode.busy,
          `the log's next batch has room for ${Math.max(0, room)} more commands, not ${proposals} (+${PROPOSAL_ROOM_MARGIN}); retry`,
        );
      }
    }
    switch (req.op) {
      case 'register': {
        // Nothing to validate: the leader draws the secret and builds the entry; the owner is the login's user.
        const started = performance.now();
        return node.registerClient(
          (err, result, entry) => {
            if (err) return this.requestFailed(err, fail);
            this.opts.onCommandDone?.(req.op, (performance.now() - started) / 1000);
            done(commandResultFrame(req.reqId, result!, entry));
          },
          user ?? c.login?.user ?? '',
        );
      }
      case 'user':
      case 'role':
        return this.administer(req, done, fail);
      case 'create':
        return this.command(req.op, req.reqId, { kind: CommandKind.sessionCreate, topic: req.topic, envelope: envelopeOf(req.envelope) }, done, fail, user);
      case 'append':
        return this.command(
          req.op,
          req.reqId,
          { kind: CommandKind.sessionAppend, session: req.session, bytes: req.bytes, envelope: envelopeOf(req.envelope) },
          done,
          fail,
          user,
        );
      case 'rewrite':
        return this.command(
          req.op,
          req.reqId,
          { kind: CommandKind.sessionRewrite, session: req.session, bytes: req.bytes, envelope: envelopeOf(req.envelope) },
          done,
          fail,
          user,
        );
      case 'destroy':
        return this.command(
          req.op,
          req.reqId,
          { kind: CommandKind.sessionDestroy, session: req.session, envelope: envelopeOf(req.envelope) },
          done,
          fail,
          user,
        );
      case 'schedule':
        return this.schedule(req, done, fail, user);
      case 'store': {
        const cls = this.replayClassOf(req.replay, fail);
        if (cls < 0) return;
        node.storeSession(req.session, cls, envelopeOf(req.envelope), this.commandAnswer(req.op, req.reqId, done, fail), user);
        return;
      }
      case 'get':
        return node.read((err) => {
          if (err) return this.requestFailed(err, fail);
          // Checked again once applied through the barrier, with the connection's login then: a
          // session this node did not have when the request came (it was checked as "not found")
          // may exist now, on a topic the user may not read (2026-12-07, found by a review:
          // predicted session IDs read other topics), and logins may have been turned on meanwhile.
          const now = this.principal(c);
          if ('code' in now) return fail(now.code, now.detail);
          const topic = now.user === undefined ? null : node.sessionTopic(req.session);
          if (topic !== null && !node.access().allows(now.user!, 'read', topic, '')) {
            return fail(ClientErrorCode.permissionDenied, `user ${JSON.stringify(now.user)} has no read permission on topic ${JSON.stringify(topic)}`);
          }
          done(this.sessionFrame(req.reqId, req.session));
        });
      case 'peek':
        return done(this.sessionFrame(req.reqId, req.session));
      case 'list':
        return node.read((err) => {
          if (err) return this.requestFailed(err, fail);
          const max = Math.min(req.limit === 0 ? this.limits.listSessionsMax : req.limit, this.limits.listSessionsMax);
          const out: ListedSession[] = [];
          let truncated = false;
          const access = node.access();
          for (const s of node.listSessions()) {
            if (req.topic !== '' && s.topic !== req.topic) continue;
            if (user !== undefined && !access.allows(user, 'read', s.topic, '')) continue;
            if (out.length >= max) {
              truncated = true;
              break;
            }
            out.push({ id: s.id, topic: s.topic, bytes: s.bytes, records: s.records.length });
          }
          done(encodeListResult(req.reqId, { sessions: out, truncated }));
        });
      case 'subscribe': {
        const topicBytes = textEncoder.encode(req.topic).length;
        if (topicBytes === 0 || topicBytes > node.topicBytesMax) {
          return fail(topicBytes === 0 ? 'SESSIONS_ERR_TOPIC_EMPTY' : 'SESSIONS_ERR_TOPIC_TOO_LONG', `topic of ${topicBytes} bytes`);
        }
        if (c.subs.size >= this.limits.subscriptionsMax) {
          return fail(ClientErrorCode.tooManySubscriptions, `${c.subs.size} subscriptions on this connection (limit ${this.limits.subscriptionsMax})`);
        }
        const subId = c.nextSubId++;
        const end = (code: string, message: string): void => this.endSubscription(c, subId, code, message);
        const push = this.pushQueueOf(c);
        // A permission change applies to deliveries too.
        const entitled = this.entitlement(c, user, [{ action: 'read', topic: req.topic, group: '' }]);
        const sub = node.subscribe(
          req.topic,
          (d) => {
            if (c.closed || !c.subs.has(subId)) return;
            const why = this.entitlementLost(c, entitled);
            if (why !== null) return end(why.code, why.detail);
            // Flow control, not overflow: a delivery waits for the socket to drain; only a full queue ends the subscription.
            const outcome = push.push(subId, deliveryBytes(d), d);
            if (outcome === 'queued') this.holdOutput(c);
            else if (outcome === 'full') {
              const l = this.limits;
              end(
                ClientErrorCode.subscriberOverflow,
                `${push.queued} deliveries of ${push.queuedBytes} bytes wait for this connection's socket (limits pushQueueDeliveriesMax ${l.pushQueueDeliveriesMax}, pushQueueBytesMax ${l.pushQueueBytesMax})`,
              );
            }
          },
          {
            queueMax: this.limits.subscriptionQueueMax,
            onError: (e) => {
              if (e.code === 'SESSIONS_ERR_SUBSCRIBER_OVERFLOW') end(ClientErrorCode.subscriberOverflow, e.message);
              else this.opts.logger?.warn({ code: e.code, err: e }, 'subscriber failed');
            },
          },
        );
        c.subs.set(subId, sub);
        c.watched.set(subId, entitled);
        return done(encodeResult(req.reqId, [subId]));
      }
      case 'unsubscribe': {
        const s = c.subs.get(req.subId);
        if (s !== undefined) {
          s.close();
          c.subs.delete(req.subId);
          c.scopes.delete(req.subId);
          c.watched.delete(req.subId);
          c.push?.drop(req.subId);
        }
        return done(encodeResult(req.reqId, []));
      }
      // ---- consumer groups (issue 16): commands on the leader; a follower's answer redirects ----
      case 'groupCreate':
      case 'groupDelete': {
        const then = (err: NodeRequestError | null, result?: NodeCommandResult, entry?: Entry): void => {
          if (err) return this.requestFailed(err, fail);
          done(commandResultFrame(req.reqId, result!, entry));
        };
        if (req.op === 'groupCreate')
          return node.createGroup(req.topic, req.name, { ackWaitMs: req.ackWaitMs, maxDeliveries: req.maxDeliveries, maxAckPending: req.maxAckPending }, then);
        return node.deleteGroup(req.topic, req.name, then);
      }
      case 'feature': {
        if (req.action === 'list') {
          // Behind a ReadIndex barrier on the leader: the flags of a leader that still leads, with everything committed applied.
          return node.read((err) => {
            if (err) return this.requestFailed(err, fail);
            done(encodeResult(req.reqId, [textEncoder.encode(JSON.stringify(featureView(node.features())))]));
          });
        }
        const bits = featureBits(req.name);
        if (bits === null)
          return fail(ClientErrorCode.featureUnknown, `no feature ${JSON.stringify(req.name)}: ${Object.values(featureNames).join(', ')} or all`);
        return node.enableFeatures(bits, (err, result, entry) => {
          if (err) return this.requestFailed(err, fail);
          done(commandResultFrame(req.reqId, result!, entry));
        });
      }
      case 'deadLetter':
        return node.deadLetter(req.action, req.topic, req.group, req.restoreId, (err, result, entry) => {
          if (err) return this.requestFailed(err, fail);
          done(commandResultFrame(req.reqId, result!, entry));
        });
      case 'groups':
        return done(encodeResult(req.reqId, [textEncoder.encode(JSON.stringify(node.groups()))]));
      case 'consume': {
        // Acks that remove their sessions need the cluster's flag (an older node refuses them).
        // Judged behind a read barrier: a leader that has not applied a committed FeatureEnable
        // yet (just elected, or restarted) must not refuse for good.
        if (req.removeOnAck === true && !featureOn(node, FEATURES.removeOnAck)) {
          return node.read((err) => {
            if (err) return this.requestFailed(err, fail);
            if (!featureOn(node, FEATURES.removeOnAck)) return fail(ClientErrorCode.featureDisabled, 'remove-on-ack is not on in this cluster');
            this.execute(c, req, done, confirmed);
          });
        }
        if (c.subs.size >= this.limits.subscriptionsMax) {
          return fail(ClientErrorCode.tooManySubscriptions, `${c.subs.size} subscriptions on this connection (limit ${this.limits.subscriptionsMax})`);
        }
        const subId = c.nextSubId++;
        // Its deliveries need consume; its acks and nacks too, and write when they remove their
        // sessions (write revoked, the deliveries go on and the acks are refused: issue 20). Taken
        // now, so that a revoke during the attach is caught at the first delivery or ack.
        const needs: Entitlement['needs'] = [{ action: 'consume', topic: req.topic, group: req.group }];
        const entitled = this.entitlement(c, user, needs);
        const acking = this.entitlement(c, user, req.removeOnAck === true ? [...needs, { action: 'write', topic: req.topic, group: '' }] : needs);
        // Deliveries are bounded by maxAckPending per consumer (flow control by acks), so they are
        // sent as they come, not through the push queue.
        return node.consume(
          req.topic,
          req.group,
          req.consumer,
          req.maxAckPending,
          (d) => {
            if (c.closed || !c.subs.has(subId)) return;
            const why = this.entitlementLost(c, entitled);
            if (why !== null) return this.endSubscription(c, subId, why.code, why.detail);
            this.send(
              c,
              encodeGroupDelivery({
                subId,
                topic: d.topic,
                session: d.session,
                records: d.records as Uint8Array[],
                restoreId: d.restoreId,
                delivery: d.delivery,
              }),
            );
          },
          (code, message) => {
            if (!c.closed && c.subs.has(subId)) this.endSubscription(c, subId, code, message);
          },
          (err, consumer) => {
            if (err) return this.requestFailed(err, fail);
            if (c.closed) return consumer!.close();
            c.subs.set(subId, consumer!);
            c.scopes.set(subId, acking);
            c.watched.set(subId, entitled);
            done(encodeResult(req.reqId, [subId]));
          },
        );
      }
      case 'ack':
      case 'nack': {
        const consumer = c.subs.get(req.subId) as Partial<NodeConsumer> | undefined;
        if (consumer?.ack === undefined || consumer.nack === undefined) return this.noConsumer(c, req.subId, fail);
        const revoked = this.consumerRevoked(c, req.subId);
        if (revoked !== null) {
          this.endSubscription(c, req.subId, revoked.code, revoked.detail);
          return fail(revoked.code, revoked.detail);
        }
        const then = (err: NodeRequestError | null, result?: NodeCommandResult, entry?: Entry): void => {
          if (err) return this.requestFailed(err, fail);
          done(commandResultFrame(req.reqId, result!, entry));
        };
        // Checked here, before they reach the planner (which asserts that what it proposes decodes).
        if (!isCommandId(req.restoreId)) return fail(ClientErrorCode.malformed, 'restoreId does not name a log entry');
        if (req.delivery < 1 || req.delivery > 0xffffffff) return fail(ClientErrorCode.malformed, `delivery ${req.delivery} is not 1..2^32-1`);
        if (req.op === 'ack') {
          if (req.remove === undefined) return consumer.ack(req.restoreId, req.delivery, then);
          if (!isCommandId(req.remove)) return fail(ClientErrorCode.malformed, 'session does not name a log entry');
          // The login's user goes in the entry: apply checks its write permission at that position of the log.
          return consumer.ack(req.restoreId, req.delivery, then, { session: req.remove, user: user ?? '' });
        }
        if (req.delayMs > NACK_DELAY_MS_MAX) return fail(ClientErrorCode.malformed, `delayMs ${req.delayMs} is more than ${NACK_DELAY_MS_MAX}`);
        return consumer.nack(req.restoreId, req.delivery, req.delayMs, then);
      }
      case 'acks': {
        const consumer = c.subs.get(req.subId) as Partial<NodeConsumer> | undefined;
        if (consumer?.ack === undefined) return this.noConsumer(c, req.subId, fail);
        const revoked = this.consumerRevoked(c, req.subId);
        if (revoked !== null) {
          this.endSubscription(c, req.subId, revoked.code, revoked.detail);
          return fail(revoked.code, revoked.detail);
        }
        // Every ack checked before any is taken: a malformed one refuses the whole request, nothing changed.
        for (const a of req.acks) {
          if (!isCommandId(a.restoreId)) return fail(ClientErrorCode.malformed, 'restoreId does not name a log entry');
          if (a.delivery < 1 || a.delivery > 0xffffffff) return fail(ClientErrorCode.malformed, `delivery ${a.delivery} is not 1..2^32-1`);
          if (a.remove !== undefined && !isCommandId(a.remove)) return fail(ClientErrorCode.malformed, 'session does not name a log entry');
        }
        // Each ack as 'ack' takes it, answered together: per ack, in order, a status and a code. 1 and
        // 0: applied, taken or refused, with the code its own answer would carry; 2: it failed as a
        // request would (an unknown outcome stays unknown for that ack alone), with the error's code.
        const answers: (number | string)[] = new Array<number | string>(2 * req.acks.length);
        let left = req.acks.length;
        const answered = (): void => {
          if (--left === 0) done(encodeResult(req.reqId, answers));
        };
        req.acks.forEach((a, i) => {
          const then = (err: NodeRequestError | null, result?: NodeCommandResult): void => {
            if (err) {
              answers[2 * i] = ACK_FAILED;
              answers[2 * i + 1] = ClientErrorCode.internal;
              this.requestFailed(err, (code) => {
                answers[2 * i + 1] = code;
                this.reject(code, req.op);
              });
            } else {
              answers[2 * i] = result!.ok ? ACK_TAKEN : ACK_REFUSED;
              answers[2 * i + 1] = result!.code;
            }
            answered();
          };
          if (a.remove === undefined) consumer.ack!(a.restoreId, a.delivery, then);
          else consumer.ack!(a.restoreId, a.delivery, then, { session: a.remove, user: user ?? '' });
        });
        return;
      }
      case 'status': {
        const json = JSON.stringify(this.opts.status(req.withDigest));
        return done(encodeResult(req.reqId, [textEncoder.encode(json)]));
      }
      case 'member': {
        // Leader only, like commands: a follower's answer redirects. A list is read behind a
        // ReadIndex barrier, so it is the configuration of a leader that still leads.
        if (req.action === 'list') {
          return node.read((err) => {
            if (err) return this.requestFailed(err, fail);
            done(encodeResult(req.reqId, [textEncoder.encode(JSON.stringify(this.opts.members?.() ?? null))]));
          });
        }
        const change: MembershipChange =
          req.action === 'add' ? { type: 'addLearner', node: req.node, address: req.address } : { type: req.action, node: req.node };
        return node.changeMembership(change, (err, entry) => {
          if (err === null) return done(encodeResult(req.reqId, [entry?.index ?? 0, entry?.term ?? 0]));
          // A membership refusal carries its own code (MEMBERSHIP_ALREADY_MEMBER, _NOT_LEARNER, …): passed on as it is.
          this.requestFailed(err, fail);
        });
      }
    }
  }

  /**
   * An ack, nack or acks whose subId is no consumer attached on this connection. One this connection
   * was given and that has ended (the node ended it, or it was unsubscribed) is an answer that crossed
   * the end on the wire, and says so with a code of its own: nothing taken, to be sent again through
   * the consumer's current attachment. Until 2026-12-07 it was CLIENT_ERR_MALFORMED, as garbage is:
   * a subId never given, or a live subscription's, still is.
   */
  private noConsumer(c: Conn, subId: number, fail: (code: string, detail: string) => void): void {
    if (subId >= 1 && subId < c.nextSubId && !c.subs.has(subId)) {
      return fail(ClientErrorCode.consumerEnded, `consumer ${subId} of this connection has ended; nothing taken`);
    }
    fail(ClientErrorCode.malformed, `no consumer ${subId} on this connection`);
  }

  /** The replay class a request names (by class or by delay), or -1 once `fail` answered REPLAY_UNKNOWN. */
  private replayClassOf(replay: Extract<Request, { op: 'store' }>['replay'], fail: (code: string, detail: string) => void): number {
    const delays = this.opts.replayDelaysMs;
    const cls = replay.mode === 'class' ? replay.value : delays.indexOf(replay.value);
    if (cls >= 0 && cls < delays.length) return cls;
    const asked = replay.mode === 'class' ? `class ${replay.value}` : `delay ${formatDurationMs(replay.value)}`;
    const known = delays.map((d, k) => `${k}=${formatDurationMs(d)}`).join(', ');
    fail(ClientErrorCode.replayUnknown, `no replay ${asked}; this cluster has ${known}`);
    return -1;
  }

  /**
   * Schedule (issue 20): its create and its append are each validated with the store's codec and
   * limits (the append against a placeholder session ID: the real one is the create's entry ID),
   * then the node runs the three commands (actors/sessions/scheduleSession.ts).
   */
  private schedule(
    req: Extract<Request, { op: 'schedule' }>,
    done: (frame: Uint8Array | null) => void,
    fail: (code: string, detail: string, leader?: string | null, endpoint?: string | null) => void,
    user: string | undefined,
  ): void {
    const cls = this.replayClassOf(req.replay, fail);
    if (cls < 0) return;
    const env = envelopeOf(req.envelope);
    // Checked before anything is proposed, with the store's codec and limits: the create (topic,
    // envelope) by encoding it; the append by its record's size, the one rule its encoding would add
    // (encoding it would copy the record once more per schedule, only to be dropped).
    if (this.encodeValid({ kind: CommandKind.sessionCreate, topic: req.topic, envelope: env }, "the schedule's", fail) === null) return;
    const limits = (this.codecLimits ??= this.opts.node.codecLimits());
    if (req.bytes.length > limits.recordBytesMax) {
      const appendBytes = encodedAppendBytes(env !== null, req.bytes.length);
      return fail(CommandErrorCode.recordTooLarge, `cannot decode the schedule's SessionAppend of ${appendBytes} bytes`);
    }
    this.opts.node.scheduleSession(req.topic, req.bytes, cls, env, this.commandAnswer(req.op, req.reqId, done, fail), user);
  }

  /** Validates a command with the store's own codec and limits, then submits it on the leader. */
  private command(
    op: string,
    reqId: number,
    cmd: Command,
    done: (frame: Uint8Array | null) => void,
    fail: (code: string, detail: string, leader?: string | null, endpoint?: string | null) => void,
    user: string | undefined,
  ): void {
    const data = this.encodeValid(cmd, 'a', fail);
    if (data !== null) this.opts.node.submit(cmd, data, this.commandAnswer(op, reqId, done, fail), user);
  }

  /** `cmd` encoded and checked with the store's own codec and limits, or null once `fail` answered. */
  private encodeValid(cmd: Command, article: string, fail: (code: string, detail: string) => void): Uint8Array | null {
    let data: Uint8Array;
    try {
      data = encodeCommand(cmd);
    } catch (err) {
      if (err instanceof RangeError) {
        fail(ClientErrorCode.malformed, err.message);
        return null;
      }
      throw err;
    }
    // Into a reusable view (no objects per command).
    const bad = parseCommand(this.view, data, (this.codecLimits ??= this.opts.node.codecLimits()));
    if (bad === null) return data;
    fail(bad, `cannot decode ${article} ${commandKindNames[this.view.kind] ?? 'command'} of ${data.length} bytes`);
    return null;
  }

  /** The callback that answers a command request with its result (timed from now). */
  private commandAnswer(
    op: string,
    reqId: number,
    done: (frame: Uint8Array | null) => void,
    fail: (code: string, detail: string, leader?: string | null, endpoint?: string | null) => void,
  ): NodeCommandCallback {
    const started = performance.now();
    return (err, result, entry) => {
      if (err) return this.requestFailed(err, fail);
      if (result!.code === CLIENT_AUTH) return this.authFailed(fail);
      this.opts.onCommandDone?.(op, (performance.now() - started) / 1000);
      done(commandResultFrame(reqId, result!, entry));
    };
  }

  private requestFailed(err: NodeRequestError, fail: (code: string, detail: string, leader?: string | null, endpoint?: string | null) => void): void {
    const node = this.opts.node;
    switch (err.code) {
      case 'NOT_LEADER': {
        const leader = err.leader ?? node.leadership().leader;
        if (leader === null || leader === this.opts.nodeId)
          return fail(ClientErrorCode.noLeader, `node ${this.opts.nodeId} knows no leader (term ${node.leadership().term})`);
        const endpoint = this.endpoints.get(leader) ?? null;
        return fail(
          ClientErrorCode.notLeader,
          `node ${this.opts.nodeId} is not the leader; ${leader} is${endpoint ? ` at ${endpoint}` : ''}`,
          leader,
          endpoint,
        );
      }
      case 'UNKNOWN_OUTCOME':
        if (this.stopping || node.isStopped()) return fail(ClientErrorCode.unknownOutcome, `node ${this.opts.nodeId} stopped with the request in flight`);
        return fail(ClientErrorCode.unknownOutcome, err.message);
      case 'BUSY':
        return fail(ClientErrorCode.busy, err.message);
      case 'BAD_REQUEST':
        return fail(ClientErrorCode.malformed, err.message);
      case CLIENT_AUTH:
        return this.authFailed(fail);
      case 'SESSIONS_ERR_CLIENT_OWNER':
        return fail(ClientErrorCode.clientOwner, `${err.message}: refused, nothing changed`);
      case 'INTERNAL':
        this.opts.logger?.error({ err, code: ClientErrorCode.internal }, 'request failed inside the node');
        return fail(ClientErrorCode.internal, err.message);
      default:
        // The node's errors carry their code in their message too (`CODE: detail`, once per layer): the
        // client shows `code: message`, so until 2026-12-07 it read `MEMBERSHIP_NOT_LEARNER:
        // MEMBERSHIP_NOT_LEARNER: MEMBERSHIP_NOT_LEARNER: …`.
        return fail(err.code, withoutCode(err.code, err.message));
    }
  }

  /**
   * An envelope without its client's secret, refused by the leader's gateway or by apply on every
   * replica (SESSIONS_ERR_CLIENT_AUTH): one client code, as an error (nothing was done), counted.
   */
  private authFailed(fail: (code: string, detail: string) => void): void {
    fail(ClientErrorCode.clientAuth, 'the envelope does not carry the secret of its client ID: refused, nothing changed');
  }

  private sessionFrame(reqId: number, session: Uint8Array): Uint8Array {
    const node = this.opts.node;
    const s = node.getSession(session);
    const applied = node.appliedIndex();
    if (s === null) return encodeSessionResult(reqId, { found: false, topic: '', records: [], appliedIndex: applied });
    return encodeSessionResult(reqId, { found: true, topic: s.topic, records: s.records as Uint8Array[], appliedIndex: applied });
  }
}

/** A delivery's size as counted against the push queue's byte bound: its records, topic and framing. */
function deliveryBytes(d: NodeDelivery): number {
  let n = 64 + d.topic.length;
  for (const r of d.records) n += r.length + 5;
  return n;
}

/** The store's code for an envelope whose secret is not its client's (gateway or apply). */
const CLIENT_AUTH = 'SESSIONS_ERR_CLIENT_AUTH';

function envelopeOf(e: WireEnvelope | null): Envelope | null {
  return e === null ? null : { client: e.client, secret: e.secret, seq: e.seq, ackedBelowSeq: e.ackedBelowSeq };
}

/** An ack's status in an `acks` answer (protocol.ts). */
const ACK_REFUSED = 0;
const ACK_TAKEN = 1;
const ACK_FAILED = 2;

function commandResultFrame(reqId: number, r: NodeCommandResult, entry: Entry | undefined): Uint8Array {
  return encodeCommandResult(reqId, {
    ok: r.ok,
    code: r.code,
    value: r.value,
    index: entry?.index ?? 0,
    term: entry?.term ?? 0,
    duplicate: r.duplicate === true,
  });
}
