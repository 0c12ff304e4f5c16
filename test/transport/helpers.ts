/**
 * Shared helpers of the transport tests: fast-check arbitraries for messages and frames, a raw
 * WebSocket peer that speaks the wire format by hand (the challenge, a hello with or without a
 * proof of the cluster secret), test cluster secrets, and bounded waits (never sleeps).
 */
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { encodeMembership } from '../../machines/membership.js';
import WebSocket from 'ws';
import { TERM_MAX, type Entry, type EntryKind, type NodeId, type RaftMessage } from '../../machines/types.js';
import { decodeFrame, encodeHandshake, isNodeId, type HandshakeChannel } from '../../transport/peer/codec.js';
import { helloProof, newNonce } from '../../transport/peer/peerAuth.js';

// ------------------------------------------------------------------------------------------------
// Arbitraries
// ------------------------------------------------------------------------------------------------

/** Valid node IDs (the pattern, minus the names of Object.prototype such as `__proto__`). */
export const nodeIdArb = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/).filter(isNodeId);
/** Mostly small numbers (the common case), sometimes anything up to 2^53 - 1. */
export const indexArb = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());
/** Terms a peer may send: mostly small, sometimes anything up to TERM_MAX (2^53 - 2^20), the bound itself. */
export const termArb = fc.oneof(fc.nat({ max: 1000 }), fc.nat({ max: TERM_MAX }), fc.constant(TERM_MAX));

/** A valid configuration: 1-5 voters, 0-3 learners, distinct IDs. */
export const membershipArb = fc
  .uniqueArray(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 8 })
  .chain((ids) => fc.integer({ min: 1, max: ids.length }).map((v) => ({ voters: ids.slice(0, v), learners: ids.slice(v) })));
const bytesArb = fc.uint8Array({ maxLength: 64 });

export function messageArb(from: fc.Arbitrary<NodeId>, to: fc.Arbitrary<NodeId>): fc.Arbitrary<RaftMessage> {
  const base = { from, to, term: termArb };
  const vote = fc.record({
    ...base,
    type: fc.constant('vote' as const),
    lastIndex: indexArb,
    lastTerm: termArb,
    preVote: fc.boolean(),
    transfer: fc.boolean(),
  });
  const voteResp = fc.record(
    { ...base, type: fc.constant('voteResp' as const), granted: fc.boolean(), preVote: fc.boolean(), nonMember: fc.constant(true as const) },
    { requiredKeys: ['from', 'to', 'term', 'type', 'granted', 'preVote'] },
  );
  const append = fc
    .record({
      ...base,
      type: fc.constant('append' as const),
      prevIndex: fc.nat({ max: 2 ** 40 }),
      prevTerm: termArb,
      commit: indexArb,
      raw: fc.array(
        fc.oneof(
          fc.record({ term: termArb, kind: fc.constantFrom<EntryKind>(0, 1), data: bytesArb }),
          // A configuration entry must hold a valid configuration (the codec checks it).
          fc.record({ term: termArb, kind: fc.constant<EntryKind>(2), data: membershipArb.map((m) => encodeMembership(m)) }),
        ),
        { maxLength: 8 },
      ),
    })
    .map(({ raw, ...m }) => {
      // A leader's log (the codec refuses any other since 2026-12-07): prevTerm <= entry terms, never
      // decreasing, <= the message's term. The drawn terms, sorted, are placed in that order.
      const terms = [m.prevTerm, ...raw.map((e) => e.term), m.term].sort((a, b) => a - b);
      return {
        ...m,
        prevTerm: terms[0]!,
        term: terms[terms.length - 1]!,
        entries: raw.map((e, i): Entry => ({ index: m.prevIndex + 1 + i, term: terms[i + 1]!, kind: e.kind, data: e.data })),
      };
    });
  const appendResp = fc.record({
    ...base,
    type: fc.constant('appendResp' as const),
    success: fc.boolean(),
    index: indexArb,
    hintIndex: indexArb,
    hintTerm: termArb,
  });
  const heartbeat = fc.record({ ...base, type: fc.constant('heartbeat' as const), commit: indexArb, readCtx: indexArb });
  const heartbeatResp = fc.record({ ...base, type: fc.constant('heartbeatResp' as const), readCtx: indexArb });
  const timeoutNow = fc.record({ ...base, type: fc.constant('timeoutNow' as const) });
  const snapshot = fc.record({
    ...base,
    type: fc.constant('snapshot' as const),
    meta: fc.record({
      index: indexArb,
      term: termArb,
      // Valid configurations only: the codec refuses the others (test/transport/snapshotMembership.test.ts).
      membership: membershipArb,
    }),
    offset: indexArb,
    totalBytes: indexArb,
    dataCrc: fc.integer({ min: 0, max: 0xffffffff }),
    data: bytesArb,
    done: fc.boolean(),
  });
  const snapshotResp = fc.record({
    ...base,
    type: fc.constant('snapshotResp' as const),
    index: indexArb,
    offset: indexArb,
    done: fc.boolean(),
    reject: fc.boolean(),
  });
  const fileName = fc.stringMatching(/^[a-z0-9_-]{1,12}(\/[a-z0-9_-]{1,12}){0,3}(\.dat)?$/);
  const rangeRequest = fc.record({
    ...base,
    type: fc.constant('rangeRequest' as const),
    snapshotIndex: indexArb,
    ranges: fc.array(
      fc
        .record({ name: fileName, start: fc.nat({ max: 1 << 30 }), length: fc.integer({ min: 1, max: 1 << 20 }), hash: fc.stringMatching(/^[0-9a-f]{32}$/) })
        .map((r) => ({ name: r.name, start: r.start, end: r.start + r.length, hash: r.hash })),
      { maxLength: 8 },
    ),
  });
  const rangeChunk = fc.record({
    ...base,
    type: fc.constant('rangeChunk' as const),
    snapshotIndex: indexArb,
    name: fileName,
    start: indexArb,
    data: fc.uint8Array({ maxLength: 64 }),
    crc32: fc.nat({ max: 0xffffffff }),
  });
  return fc.oneof(vote, voteResp, append, appendResp, heartbeat, heartbeatResp, timeoutNow, snapshot, snapshotResp, rangeRequest, rangeChunk);
}

/** A decoded value with its byte fields as base64, so Buffer views, copies and Uint8Arrays compare equal. */
export function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return { bytes: Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64') };
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

// ------------------------------------------------------------------------------------------------
// Waiting without sleeping
// ------------------------------------------------------------------------------------------------

/**
 * Resolves once `predicate()` holds, checking on the following turns of the event loop; rejects after
 * `timeoutMs` with `what` in the message. The bound is a failure detector, not a delay.
 */
export function waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    let turns = 0;
    const check = (): void => {
      let ok = false;
      try {
        ok = predicate();
      } catch (err) {
        reject(err as Error);
        return;
      }
      if (ok) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      // Re-check on the next turns of the event loop; after a while, poll every 2 ms so that a long
      // wait does not spin the CPU the code under test is running on.
      else if (++turns < 200) setImmediate(check);
      else setTimeout(check, 2);
    };
    check();
  });
}

export function closeTransport(t: { close(cb: () => void): void }): Promise<void> {
  return new Promise((resolve) => t.close(resolve));
}

// ------------------------------------------------------------------------------------------------
// A raw peer: a ws client that speaks the wire format by hand (to send anything at all)
// ------------------------------------------------------------------------------------------------

/** A fresh cluster secret for one test (32 random bytes, as `sessionraft cluster` generates). */
export function testSecret(): Uint8Array {
  return new Uint8Array(randomBytes(32));
}

export interface RawPeerOptions {
  readonly url: string;
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly channel: HandshakeChannel;
  /** The cluster secret: the hello proves it over the challenge. Without it the hello has no proof. */
  readonly secret?: Uint8Array;
  /** The address the hello carries (a stranger asking to be admitted). */
  readonly address?: string;
  /** The hello's term (default 1). */
  readonly term?: number;
  /** Replaces the hello frame (to send a bad one): bytes, or built from the challenge's nonce. */
  readonly hello?: Uint8Array | ((acceptorNonce: Uint8Array) => Uint8Array);
  /** Send the hello at once, without waiting for the challenge. */
  readonly noWait?: boolean;
  readonly maxPayload?: number;
}

/** The hello a peer sends in answer to `acceptorNonce`, with a proof when `o.secret` is given. */
export function helloFor(o: Omit<RawPeerOptions, 'url' | 'hello' | 'noWait' | 'maxPayload'>, acceptorNonce: Uint8Array): Buffer {
  const nonce = newNonce();
  const term = o.term ?? 1;
  const proof =
    o.secret === undefined
      ? undefined
      : helloProof(o.secret, {
          clusterId: o.clusterId,
          dialer: o.from,
          acceptor: o.to,
          channel: o.channel,
          acceptorNonce,
          dialerNonce: nonce,
          term,
          address: o.address ?? '',
        });
  return encodeHandshake({
    kind: 'hello',
    clusterId: o.clusterId,
    from: o.from,
    to: o.to,
    channel: o.channel,
    term,
    nonce,
    ...(proof !== undefined ? { proof } : {}),
    ...(o.address !== undefined ? { address: o.address } : {}),
  });
}

/** A connection under test control: records the challenge, the close code and whether the welcome arrived. */
export class RawPeer {
  closeCode: number | undefined;
  welcomed = false;
  /** The acceptor's challenge nonce (its first frame). */
  challenge: Uint8Array | undefined;
  /** Every frame after the challenge. */
  readonly received: Buffer[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const b = data as Buffer;
      if (this.challenge === undefined && this.received.length === 0) {
        try {
          const f = decodeFrame(b);
          if (f.kind === 'challenge') {
            this.challenge = Uint8Array.from(f.nonce);
            return;
          }
        } catch {
          // not a challenge: recorded below
        }
      }
      this.received.push(b);
      try {
        if (decodeFrame(b).kind === 'welcome') this.welcomed = true;
      } catch {
        // not a welcome
      }
    });
    ws.on('close', (code) => {
      this.closeCode = code;
    });
    ws.on('error', () => {});
  }

  /**
   * Opens the socket, waits for the challenge (unless `noWait`) and sends the hello (or the given
   * first frame). Resolves once the hello is sent.
   */
  static async connect(o: RawPeerOptions): Promise<RawPeer> {
    const ws = new WebSocket(o.url, { perMessageDeflate: false, maxPayload: o.maxPayload ?? 64 * 1024 * 1024 });
    const peer = new RawPeer(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
    });
    if (o.noWait !== true) await waitFor(() => peer.challenge !== undefined || peer.closeCode !== undefined, 'the challenge');
    const nonce = peer.challenge ?? new Uint8Array(16);
    const hello = typeof o.hello === 'function' ? o.hello(nonce) : (o.hello ?? helloFor(o, nonce));
    if (peer.closeCode === undefined) ws.send(hello);
    return peer;
  }

  /** Connects and waits for the welcome. */
  static async handshake(o: RawPeerOptions): Promise<RawPeer> {
    const peer = await RawPeer.connect(o);
    await waitFor(() => peer.welcomed || peer.closeCode !== undefined, 'welcome');
    if (!peer.welcomed) throw new Error(`handshake refused with close code ${peer.closeCode}`);
    return peer;
  }

  get open(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(bytes: Uint8Array | string): void {
    this.ws.send(bytes);
  }

  /** Resolves with the close code once the server closed the connection. */
  async closed(what = 'the server to close the connection'): Promise<number> {
    await waitFor(() => this.closeCode !== undefined, what);
    return this.closeCode!;
  }

  terminate(): void {
    this.ws.terminate();
  }

  async close(): Promise<void> {
    if (this.closeCode !== undefined) return;
    this.ws.close();
    await waitFor(() => this.closeCode !== undefined, 'client close');
  }
}
