/**
 * One client connection to one node's client port: connects, checks the welcome (a node of the
 * expected cluster), sends requests with a bounded number in flight, matches answers to requests,
 * and hands deliveries to the client. Any failure to reach a sessionraft client port becomes a
 * ClientError with a stable code (UNREACHABLE, WRONG_ENDPOINT, TOO_MANY_CONNECTIONS).
 */
import WebSocket from 'ws';
import { ClientError, ClientErrorCode } from './errors.js';
import { CorkedSends } from '../wire/corkedSends.js';
import { BATCH_BYTES_MIN, BATCH_FRAMES_MAX, BATCH_QUERY_NAME, batchFraming, isBatch, readBatch } from './batch.js';
import type { Credentials } from './credentials.js';
import { isLoopbackHost } from '../wire/address.js';
import { decodeServerFrame, encodeRequest, type DeliveryFrame as PlainDeliveryFrame, type GroupDeliveryFrame, type RequestBody } from './protocol.js';

/** A subscription's delivery, or a consumer group's (issue 16). */
type DeliveryFrame = PlainDeliveryFrame | GroupDeliveryFrame;

export type { RequestBody };

/**
 * TLS to the client port (wss://): the CA that signed the nodes' certificates, a client
 * certificate and key when the nodes ask for one (they name the user), and the name the node
 * certificates carry when it is not the endpoint's host. PEM strings or buffers.
 */
export interface ClientTlsOptions {
  readonly ca?: string | Buffer | readonly (string | Buffer)[];
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  readonly servername?: string;
}

/** Node's TLS failures (untrusted or misnamed certificate, handshake alerts, a plain port). */
const tlsErrorCode = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_|SELF_SIGNED_|EPROTO$|HOSTNAME_MISMATCH)/;

interface ConnectionOptions {
  readonly connectTimeoutMs: number;
  /** Connect with wss:// and these settings; null: plain ws://. */
  readonly tls?: ClientTlsOptions | null;
  readonly replyBytesMax: number;
  /** When set, a node of another cluster is a wrong endpoint. */
  readonly clusterId: string | null;
  /**
   * Random RFC 6455 masks on request frames (ws's default). Off by default, as on the peer
   * transport: with an all-zero mask ws skips the XOR pass on both ends (a 4 KiB append was two
   * byte loops of 4 KiB, one here and one in the node). Masks defend caching intermediaries
   * against browser-originated frames; this client is not a browser and talks to the node directly.
   */
  readonly maskFrames?: boolean;
  /**
   * Log in with these credentials right after the welcome, before any other request (issue 17);
   * `ready` settles with the login's outcome. Absent: no login (an open cluster, or the client
   * certificate's user).
   */
  readonly login?: Credentials | null;
  /** Send the login over plain ws:// to a host beyond loopback (a trusted network; plainLoginRefusal). */
  readonly insecure?: boolean;
  /**
   * Ask the node for batches (client/batch.ts): the requests of one turn in one message, and its
   * replies likewise. Default true; a node of an older version ignores the ask.
   */
  readonly batches?: boolean;
}

const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

/**
 * Why a login must not go to `endpoint` (null: it may): over plain ws:// to a host beyond loopback
 * the password crosses the network in clear (2026-12-07, a review: the library sent it to whatever
 * host it was given or redirected to; a node serves plain ws there only with --insecure, and the
 * console does not forward a login so). `insecure`: the caller's explicit decision.
 */
export function plainLoginRefusal(endpoint: string, tls: ClientTlsOptions | null, login: Credentials | null, insecure: boolean): string | null {
  if (login === null || tls !== null || insecure) return null;
  if (isLoopbackHost(endpoint.slice(0, endpoint.lastIndexOf(':')))) return null;
  return `${endpoint}: the password would cross the network in clear (ws://, a host beyond loopback): connect with TLS, or pass insecure: true (the CLI's --insecure) on a trusted network`;
}

interface Pending {
  readonly resolve: (body: readonly unknown[]) => void;
  readonly reject: (err: ClientError) => void;
  /** When the caller stops waiting (performance.now() ms); one sweep timer per connection checks it. */
  readonly deadlineMs: number;
  readonly timeoutMs: number;
  /** The caller gave up (timeout); the slot stays taken until the node answers or the connection ends. */
  abandoned: boolean;
}

const UNCLAIMED_MAX = 1024;
/**
 * Bytes of records the unclaimed deliveries may hold (they wait only between a subscribe answer
 * and its claim, a turn or two); past it the oldest go. Before 2026-12-07 only their count was
 * bounded: 1024 deliveries of up to a session each.
 */
const UNCLAIMED_BYTES_MAX = 8 * 1024 * 1024;
/** Released subIds remembered, so that deliveries still in flight for them are dropped, not held. */
const RELEASED_REMEMBERED_MAX = 1024;

/** What an unclaimed delivery holds, for UNCLAIMED_BYTES_MAX. */
function deliveryBytes(d: DeliveryFrame): number {
  let n = 64 + d.topic.length;
  for (const r of d.records) n += r.byteLength;
  return n;
}

/**
 * Errors of requests that never left this side (the connection was closed, no slot freed up in
 * time, the write failed): the node cannot have seen them, so a command's outcome stays known.
 */
const unsentErrors = new WeakSet<ClientError>();

function unsent(err: ClientError): ClientError {
  unsentErrors.add(err);
  return err;
}

/** Whether `err` rejected a request that was never written to the node (see `request`). */
export function wasUnsent(err: unknown): boolean {
  return err instanceof ClientError && unsentErrors.has(err);
}

const unreachableCodes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

export class Connection {
  readonly endpoint: string;
  readonly ready: Promise<void>;
  nodeId: string | null = null;
  clusterId: string | null = null;
  closed = false;
  onSubscriptionEnded: (subId: number, err: ClientError) => void = () => {};
  onClose: () => void = () => {};

  private readonly ws: WebSocket;
  /** Requests issued in one turn of the event loop leave in one write. */
  private readonly out: CorkedSends;
  /** Delivery handlers by subId (see `claim`). */
  private readonly handlers = new Map<number, (d: DeliveryFrame) => void>();
  /**
   * Deliveries for a subId nobody claimed yet: a delivery may arrive in the same read as the
   * subscribe result, before the caller's continuation runs. Bounded; the oldest go first.
   */
  private readonly unclaimed: DeliveryFrame[] = [];
  private unclaimedBytes = 0;
  /** subIds released (a subscription closed or ended): their late deliveries are dropped (bounded, oldest first out). */
  private readonly released = new Set<number>();
  /**
   * Ends of subIds nobody claimed yet: the node may end a subscription in the same read as its
   * subscribe answer, before the caller's continuation claims it (a review, 2026-12-07: the end was
   * lost, and the subscription looked live for good). `claim` hands it over. Bounded; oldest first out.
   */
  private readonly endedUnclaimed = new Map<number, ClientError>();
  private readonly pending = new Map<number, Pending>();
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweepAtMs = Infinity;
  private readonly waiting: (() => void)[] = [];
  private inflightMax = 1;
  /** The largest request the node takes (its welcome): a batch of acks is cut to fit. */
  requestBytesMax = Number.POSITIVE_INFINITY;
  private nextReqId = 1;
  private welcomed = false;
  /** The node's welcome said yes to batches (client/batch.ts). */
  private batches = false;
  /** Logged in (or no login asked for): requests may follow. */
  private authed = false;

  /** Welcomed, logged in and not closed: requests may be sent without waiting for `ready`. */
  get isOpen(): boolean {
    return this.welcomed && this.authed && !this.closed;
  }

  constructor(endpoint: string, opts: ConnectionOptions) {
    this.endpoint = endpoint;
    const tls = opts.tls ?? null;
    const ask = opts.batches !== false && opts.replyBytesMax >= BATCH_BYTES_MIN ? `?${BATCH_QUERY_NAME}=${opts.replyBytesMax}` : '';
    this.ws = new WebSocket(`${tls !== null ? 'wss' : 'ws'}://${endpoint}/${ask}`, {
      ...(tls !== null
        ? {
            ...(tls.ca !== undefined ? { ca: tls.ca as string | Buffer | (string | Buffer)[] } : {}),
            ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
            ...(tls.key !== undefined ? { key: tls.key } : {}),
            ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
          }
        : {}),
      perMessageDeflate: false,
      maxPayload: opts.replyBytesMax,
      handshakeTimeout: opts.connectTimeoutMs,
      ...(opts.maskFrames === true ? {} : { generateMask: zeroMask }),
    });
    this.out = new CorkedSends(this.ws, setImmediate);
    this.ready = new Promise<void>((resolve, reject) => {
      let settled = false;
      const settle = (err: ClientError | null): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err === null) resolve();
        else {
          reject(err);
          this.shutdown(err);
        }
      };
      // The WebSocket handshake has its own timeout; this one covers waiting for the welcome.
      const timer = setTimeout(
        () =>
          settle(
            new ClientError(
              ClientErrorCode.wrongEndpoint,
              `${endpoint} accepted a connection but sent no sessionraft welcome within ${opts.connectTimeoutMs} ms`,
            ),
          ),
        opts.connectTimeoutMs * 2,
      );
      this.ws.on('unexpected-response', (_req, res) => {
        const status = res.statusCode ?? 0;
        res.resume();
        if (status === 426 && res.headers['x-sessionraft-tls'] === 'required') {
          settle(new ClientError(ClientErrorCode.tls, `${endpoint} requires TLS: connect with wss:// (the tls option) and its CA`));
        } else if (status === 503)
          settle(new ClientError(ClientErrorCode.tooManyConnections, `${endpoint} refused the connection (HTTP 503: too many connections or shutting down)`));
        else
          settle(
            new ClientError(
              ClientErrorCode.wrongEndpoint,
              `${endpoint} answered HTTP ${status} instead of a WebSocket upgrade (an admin port or another service?)`,
            ),
          );
        this.ws.terminate();
      });
      this.ws.on('error', (err: Error & { code?: string }) => {
        if (!this.welcomed) {
          if (err.code !== undefined && tlsErrorCode.test(err.code)) settle(new ClientError(ClientErrorCode.tls, `${endpoint}: ${err.code}: ${err.message}`));
          else if (tls !== null && err.code === 'ECONNRESET')
            settle(
              new ClientError(
                ClientErrorCode.tls,
                `${endpoint} reset the connection during the TLS handshake (a plain ws port, or it refused our certificate?)`,
              ),
            );
          else if (err.code !== undefined && unreachableCodes.has(err.code)) settle(new ClientError(ClientErrorCode.unreachable, `${endpoint}: ${err.code}`));
          else if (/timed out/i.test(err.message)) settle(new ClientError(ClientErrorCode.unreachable, `${endpoint}: connection timed out`));
          else settle(new ClientError(ClientErrorCode.wrongEndpoint, `${endpoint}: ${err.message}`));
        }
      });
      this.ws.on('close', (code) => {
        if (!this.welcomed) {
          settle(
            code >= 4000
              ? new ClientError(ClientErrorCode.wrongEndpoint, `${endpoint} closed the connection with ${code} before a welcome (a raft peer port?)`)
              : new ClientError(ClientErrorCode.unreachable, `${endpoint} closed the connection (${code}) before a welcome`),
          );
        }
        this.shutdown(new ClientError(ClientErrorCode.connectionLost, `connection to ${endpoint} closed (${code})`));
      });
      const onFrame = (data: Uint8Array): void => {
        let frame;
        try {
          frame = decodeServerFrame(data);
        } catch (err) {
          if (!this.welcomed) {
            const detail = err instanceof ClientError ? err.detail : String(err);
            settle(
              new ClientError(
                err instanceof ClientError && err.code === ClientErrorCode.version ? ClientErrorCode.version : ClientErrorCode.wrongEndpoint,
                `${endpoint}: ${detail}`,
              ),
            );
          }
          return; // a bad frame from a node: ignore it (the request times out and is retried)
        }
        if (!this.welcomed) {
          if (frame.kind !== 'welcome') return settle(new ClientError(ClientErrorCode.wrongEndpoint, `${endpoint} did not start with a welcome`));
          if (opts.clusterId !== null && frame.clusterId !== opts.clusterId) {
            return settle(
              new ClientError(ClientErrorCode.wrongEndpoint, `${endpoint} is node ${frame.nodeId} of cluster ${frame.clusterId}, not of ${opts.clusterId}`),
            );
          }
          this.welcomed = true;
          this.nodeId = frame.nodeId;
          this.clusterId = frame.clusterId;
          this.inflightMax = Math.max(1, frame.inflightMax);
          this.requestBytesMax = frame.requestBytesMax;
          // Only a welcome of seven items says yes (an older node ignored the ask).
          if (frame.batches && ask !== '') {
            this.batches = true;
            this.out.batchFrames(batchFraming('request', frame.requestBytesMax));
          }
          const login = opts.login ?? null;
          if (login === null) {
            this.authed = true;
            return settle(null);
          }
          // An endpoint the client was not configured with (a redirect) gets the same check as those it was.
          const inClear = plainLoginRefusal(endpoint, tls, login, opts.insecure === true);
          if (inClear !== null) return settle(new ClientError(ClientErrorCode.tls, inClear));
          // The login is the first request on the connection: nothing else is sent before its answer.
          // It has its own deadline (a refused login is answered late on purpose: authThrottle.ts).
          clearTimeout(timer);
          this.request({ op: 'auth', user: login.user, password: login.password }, opts.connectTimeoutMs * 2).then(
            () => {
              this.authed = true;
              settle(null);
            },
            (err: unknown) => settle(err instanceof ClientError ? err : new ClientError(ClientErrorCode.internal, String(err))),
          );
          return;
        }
        this.onServerFrame(frame);
      };
      this.ws.on('message', (data: Buffer, isBinary) => {
        if (!isBinary) {
          if (!this.welcomed) settle(new ClientError(ClientErrorCode.wrongEndpoint, `${endpoint} sent a text frame: not a sessionraft client port`));
          return;
        }
        if (this.batches && isBatch('reply', data)) {
          // Each frame of the batch as if it had come alone; a malformed batch is ignored like a bad frame.
          const frames = readBatch('reply', data, BATCH_FRAMES_MAX);
          if (frames !== null) for (const f of frames) onFrame(f);
          return;
        }
        onFrame(data);
      });
    });
    // Callers may never await `ready` (a connection made and dropped at once).
    this.ready.catch(() => undefined);
  }

  private onServerFrame(frame: ReturnType<typeof decodeServerFrame>): void {
    switch (frame.kind) {
      case 'result':
      case 'error': {
        let reqId = frame.reqId;
        // An error not tied to a request (the node could not read its reqId) belongs to the one
        // request in flight, if there is exactly one: answer it now instead of resending it until
        // the deadline (issue 14: a 70 KiB topic timed out). With several in flight it is ambiguous.
        if (reqId === 0 && frame.kind === 'error' && this.pending.size === 1) reqId = this.pending.keys().next().value!;
        const p = this.pending.get(reqId);
        if (p === undefined) return;
        this.pending.delete(reqId);
        this.freeSlot();
        if (p.abandoned) return;
        if (frame.kind === 'result') p.resolve(frame.body);
        else p.reject(new ClientError(frame.code, frame.message, frame.leader, frame.leaderEndpoint));
        return;
      }
      case 'delivery':
      case 'groupDelivery': {
        const h = this.handlers.get(frame.subId);
        if (h !== undefined) return h(frame);
        if (this.released.has(frame.subId)) return;
        this.unclaimed.push(frame);
        this.unclaimedBytes += deliveryBytes(frame);
        while (this.unclaimed.length > UNCLAIMED_MAX || this.unclaimedBytes > UNCLAIMED_BYTES_MAX) {
          this.unclaimedBytes -= deliveryBytes(this.unclaimed.shift()!);
        }
        return;
      }
      case 'subscriptionEnded': {
        const err = new ClientError(frame.code, frame.message);
        if (this.handlers.has(frame.subId)) return this.onSubscriptionEnded(frame.subId, err);
        this.endedUnclaimed.set(frame.subId, err);
        if (this.endedUnclaimed.size > UNCLAIMED_MAX) this.endedUnclaimed.delete(this.endedUnclaimed.keys().next().value!);
        return;
      }
      case 'welcome':
        return;
    }
  }

  /**
   * Sends a request and resolves with the result's body. Rejects with the node's error, with
   * CLIENT_ERR_CONNECTION_LOST when the connection ends first, or CLIENT_ERR_TIMEOUT after
   * `timeoutMs` (the request may still be executed: for commands that is an unknown outcome).
   */
  async request(body: RequestBody, timeoutMs: number): Promise<readonly unknown[]> {
    if (this.closed) throw unsent(new ClientError(ClientErrorCode.connectionLost, `connection to ${this.endpoint} is closed`));
    // Deadlines on the monotonic clock: a wall clock stepped back must not stretch a timeout.
    const deadline = performance.now() + timeoutMs;
    while (this.pending.size >= this.inflightMax) {
      // Bounded by the deadline: requests that timed out keep their slots until answered, so a
      // node that answers none of them would otherwise keep this one waiting until the close.
      const waitMs = deadline - performance.now();
      if (waitMs <= 0) break;
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          const k = this.waiting.indexOf(wake);
          if (k >= 0) this.waiting.splice(k, 1);
          resolve();
        }, waitMs);
        this.waiting.push(wake);
      });
      if (this.closed) throw unsent(new ClientError(ClientErrorCode.connectionLost, `connection to ${this.endpoint} is closed`));
    }
    const left = deadline - performance.now();
    if (left <= 0) {
      // A slot freed for this request goes to the next one waiting.
      if (this.pending.size < this.inflightMax) this.freeSlot();
      throw unsent(new ClientError(ClientErrorCode.timeout, `no free request slot on ${this.endpoint} within ${timeoutMs} ms`));
    }
    const reqId = this.nextReqId++;
    const frame = encodeRequest(body, reqId);
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, deadlineMs: deadline, timeoutMs, abandoned: false };
      this.pending.set(reqId, p);
      this.armSweep(p.deadlineMs);
      this.out.send(frame, (err) => {
        if (err && !p.abandoned && this.pending.get(reqId) === p) {
          // Never written: the node did not see it (safe to retry as a new attempt).
          this.pending.delete(reqId);
          this.freeSlot();
          reject(unsent(new ClientError(ClientErrorCode.connectionLost, `send to ${this.endpoint} failed: ${err.message}`)));
        }
      });
    });
  }

  /**
   * Routes the deliveries of `subId` to `handler`, first any that arrived before. Returns the
   * node's end of it when that came before the claim too (the handler is released then), else null.
   */
  claim(subId: number, handler: (d: DeliveryFrame) => void): ClientError | null {
    this.handlers.set(subId, handler);
    const early = this.unclaimed.filter((d) => d.subId === subId);
    if (early.length > 0) {
      for (let k = this.unclaimed.length - 1; k >= 0; k--) {
        if (this.unclaimed[k]!.subId !== subId) continue;
        this.unclaimedBytes -= deliveryBytes(this.unclaimed[k]!);
        this.unclaimed.splice(k, 1);
      }
      for (const d of early) handler(d);
    }
    const ended = this.endedUnclaimed.get(subId);
    if (ended === undefined) return null;
    this.endedUnclaimed.delete(subId);
    this.handlers.delete(subId);
    return ended;
  }

  /** Handlers held (tests: released subscriptions leave none behind). */
  get handlerCount(): number {
    return this.handlers.size;
  }

  release(subId: number): void {
    this.handlers.delete(subId);
    this.released.add(subId);
    if (this.released.size > RELEASED_REMEMBERED_MAX) this.released.delete(this.released.values().next().value!);
  }

  /** Deliveries held for subIds nobody claimed: how many, their bytes, their subIds and the newest one's index (tests). */
  get unclaimedHeld(): { readonly deliveries: number; readonly bytes: number; readonly subIds: number[]; readonly newestIndex: number } {
    const newest = this.unclaimed[this.unclaimed.length - 1];
    return {
      deliveries: this.unclaimed.length,
      bytes: this.unclaimedBytes,
      subIds: [...new Set(this.unclaimed.map((d) => d.subId))].sort((a, b) => a - b),
      newestIndex: newest === undefined ? 0 : newest.kind === 'delivery' ? newest.index : newest.delivery,
    };
  }

  close(): void {
    this.shutdown(new ClientError(ClientErrorCode.closed, 'the client was closed'));
    try {
      this.ws.close(1000);
    } catch {
      this.ws.terminate();
    }
    // A node that does not answer the close handshake must not keep the process alive.
    setTimeout(() => this.ws.terminate(), 500).unref();
  }

  /**
   * One timer per connection for the requests' deadlines, armed for the earliest: a timer per
   * request (created and cleared for every answer, in a timer list per distinct duration) cost the
   * client more than encoding the request. Unref'd: the open socket keeps the process alive while
   * requests wait, and `shutdown` answers them all when it closes.
   */
  private armSweep(deadlineMs: number): void {
    if (this.sweepTimer !== null) {
      if (this.sweepAtMs <= deadlineMs) return;
      clearTimeout(this.sweepTimer);
    }
    this.sweepAtMs = deadlineMs;
    this.sweepTimer = setTimeout(this.sweep, Math.max(1, deadlineMs - performance.now()));
    this.sweepTimer.unref();
  }

  private readonly sweep = (): void => {
    this.sweepTimer = null;
    this.sweepAtMs = Infinity;
    if (this.closed) return;
    const now = performance.now();
    let next = Infinity;
    for (const p of this.pending.values()) {
      if (p.abandoned) continue;
      if (p.deadlineMs <= now) {
        p.abandoned = true;
        p.reject(new ClientError(ClientErrorCode.timeout, `no answer from ${this.nodeId ?? this.endpoint} within ${p.timeoutMs} ms`));
      } else if (p.deadlineMs < next) next = p.deadlineMs;
    }
    if (next !== Infinity) this.armSweep(next);
  };

  private freeSlot(): void {
    const next = this.waiting.shift();
    if (next !== undefined) next();
  }

  private shutdown(err: ClientError): void {
    if (this.closed) return;
    this.closed = true;
    if (this.sweepTimer !== null) clearTimeout(this.sweepTimer);
    this.sweepTimer = null;
    for (const p of this.pending.values()) if (!p.abandoned) p.reject(err);
    this.pending.clear();
    for (const w of this.waiting.splice(0)) w();
    if (this.ws.readyState === WebSocket.CONNECTING || this.ws.readyState === WebSocket.OPEN) {
      if (this.ws.readyState === WebSocket.OPEN) this.ws.close(1000);
      else this.ws.terminate();
    }
    this.onClose();
  }
}
