/**
 * Shared helpers of the transport tests: fast-check arbitraries for messages and frames, a raw
 * WebSocket peer that speaks the wire format by hand, and bounded waits (never sleeps).
 */
import fc from 'fast-check';
import { encodeMembership } from '../../machines/membership.js';
import WebSocket from 'ws';
import type { Entry, EntryKind, NodeId, RaftMessage } from '../../machines/types.js';
import { encodeHandshake, type Channel } from '../../transport/peer/codec.js';

// ------------------------------------------------------------------------------------------------
// Arbitraries
// ------------------------------------------------------------------------------------------------

export const nodeIdArb = fc.stringMatching(/^[A-Za-z0-9_.-]{1,64}$/);
/** Mostly small numbers (the common case), sometimes anything up to 2^53 - 1. */
export const indexArb = fc.oneof(fc.nat({ max: 1000 }), fc.maxSafeNat());

/** A valid configuration: 1-5 voters, 0-3 learners, distinct IDs. */
export const membershipArb = fc
  .uniqueArray(fc.stringMatching(/^[a-z0-9]{1,8}$/), { minLength: 1, maxLength: 8 })
  .chain((ids) => fc.integer({ min: 1, max: ids.length }).map((v) => ({ voters: ids.slice(0, v), learners: ids.slice(v) })));
const bytesArb = fc.uint8Array({ maxLength: 64 });

export function messageArb(from: fc.Arbitrary<NodeId>, to: fc.Arbitrary<NodeId>): fc.Arbitrary<RaftMessage> {
  const base = { from, to, term: indexArb };
  const vote = fc.record({ ...base, type: fc.constant('vote' as const), lastIndex: indexArb, lastTerm: indexArb, preVote: fc.boolean(), transfer: fc.boolean() });
  const voteResp = fc.record({ ...base, type: fc.constant('voteResp' as const), granted: fc.boolean(), preVote: fc.boolean() });
  const append = fc
    .record({
      ...base,
      type: fc.constant('append' as const),
      prevIndex: fc.nat({ max: 2 ** 40 }),
      prevTerm: indexArb,
      commit: indexArb,
      raw: fc.array(
        fc.oneof(
          fc.record({ term: indexArb, kind: fc.constantFrom<EntryKind>(0, 1), data: bytesArb }),
          // A configuration entry must hold a valid configuration (the codec checks it).
          fc.record({ term: indexArb, kind: fc.constant<EntryKind>(2), data: membershipArb.map((m) => encodeMembership(m)) }),
        ),
        { maxLength: 8 },
      ),
    })
    .map(({ raw, ...m }) => ({
      ...m,
      entries: raw.map((e, i): Entry => ({ index: m.prevIndex + 1 + i, term: e.term, kind: e.kind, data: e.data })),
    }));
  const appendResp = fc.record({ ...base, type: fc.constant('appendResp' as const), success: fc.boolean(), index: indexArb, hintIndex: indexArb, hintTerm: indexArb });
  const heartbeat = fc.record({ ...base, type: fc.constant('heartbeat' as const), commit: indexArb, readCtx: indexArb });
  const heartbeatResp = fc.record({ ...base, type: fc.constant('heartbeatResp' as const), readCtx: indexArb });
  const timeoutNow = fc.record({ ...base, type: fc.constant('timeoutNow' as const) });
  const snapshot = fc.record({
    ...base,
    type: fc.constant('snapshot' as const),
    meta: fc.record({
      index: indexArb,
      term: indexArb,
      membership: fc.record({ voters: fc.array(nodeIdArb, { maxLength: 5 }), learners: fc.array(nodeIdArb, { maxLength: 3 }) }),
    }),
    offset: indexArb,
    totalBytes: indexArb,
    data: bytesArb,
    done: fc.boolean(),
  });
  const snapshotResp = fc.record({ ...base, type: fc.constant('snapshotResp' as const), index: indexArb, offset: indexArb, done: fc.boolean(), reject: fc.boolean() });
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

export interface RawPeerOptions {
  readonly url: string;
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly channel: Channel;
  /** Replaces the hello frame (to send a bad one). */
  readonly hello?: Uint8Array;
  readonly maxPayload?: number;
}

/** A connection under test control: records the close code and whether the welcome arrived. */
export class RawPeer {
  closeCode: number | undefined;
  welcomed = false;
  readonly received: Buffer[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.received.push(data as Buffer);
      this.welcomed = true;
    });
    ws.on('close', (code) => {
      this.closeCode = code;
    });
    ws.on('error', () => {});
  }

  /** Opens the socket and sends the hello (or the given first frame). Resolves when the socket is open. */
  static async connect(o: RawPeerOptions): Promise<RawPeer> {
    const ws = new WebSocket(o.url, { perMessageDeflate: false, maxPayload: o.maxPayload ?? 64 * 1024 * 1024 });
    const peer = new RawPeer(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
    });
    ws.send(o.hello ?? encodeHandshake({ kind: 'hello', clusterId: o.clusterId, from: o.from, to: o.to, channel: o.channel, term: 1 }));
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
