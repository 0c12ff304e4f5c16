/**
 * Bad input over a real socket (127.0.0.1, port 0), property-based: random bytes, mutated valid
 * frames, truncated frames, huge declared lengths, deep nesting, maps with `__proto__` keys,
 * unknown message types, terms above TERM_MAX in every term field, handshake frames (with their
 * nonce and proof fields) after the handshake, and hostile hellos on fresh connections (missing,
 * wrong, replayed or malformed proofs, terms above TERM_MAX, `__proto__` senders); 12,500 cases.
 *
 * Every transport holds the cluster secret. A raw WebSocket client authenticates as peer p1 (a
 * real hello proving the secret over the server's challenge) and then sends each case as one
 * binary frame. The pure codec is the oracle for what the frame is; the test checks that the
 * receiving transport acts on that verdict over the wire:
 *   - a frame the codec rejects is not delivered, and its code is counted exactly once;
 *   - a well-formed frame is delivered exactly (mutations can produce valid frames);
 *   - a forged sender or receiver closes the connection with 4006, and the 16th bad frame on one
 *     connection closes it with 4007; the harness then reconnects;
 *   - the transport stays up, and a valid peer (a real WsTransport, p2) still delivers afterwards.
 * After each case the harness sends a valid marker message on the same connection and waits for it,
 * so every verdict is observed in order without any sleep.
 */
import assert from 'node:assert/strict';
import { Encoder } from 'cbor-x';
import fc from 'fast-check';
import { channelOf, TERM_MAX, type NodeId, type RaftMessage } from '../../machines/types.js';
import { decodeFrame, encodeMessages, type Channel } from '../../transport/peer/codec.js';
import { helloProof, newNonce } from '../../transport/peer/peerAuth.js';
import { CloseCode, TransportError, TransportErrorCode } from '../../transport/wire/errors.js';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import { closeTransport, messageArb, RawPeer, testSecret, waitFor } from './helpers.js';

const SELF = 'n0';
const MALLORY = 'p1';
const GOOD = 'p2';
/** A known peer that only the hostile-hello cases use (so they never replace MALLORY's connections). */
const KNOWN = 'p3';
const CLUSTER = 'c1';
const SECRET = testSecret();
const MARKER_BASE = 2 ** 52;
const MARKER_TIMEOUT_MS = 5000; // a marker normally arrives in well under 1 ms; 5 s only detects a hang

type Verdict =
  { kind: 'deliver'; messages: RaftMessage[]; channel: Channel | undefined } | { kind: 'reject'; code: TransportErrorCode; closeCode: number | undefined };

/** What the receiving transport must do with `bytes` arriving on an authenticated `channel` connection. */
function oracle(bytes: Uint8Array): Verdict {
  let frame;
  try {
    frame = decodeFrame(bytes);
  } catch (err) {
    assert.ok(err instanceof TransportError, `decodeFrame threw a non-TransportError: ${String(err)}`);
    return { kind: 'reject', code: err.code, closeCode: undefined };
  }
  if (frame.kind !== 'messages') return { kind: 'reject', code: TransportErrorCode.frameKind, closeCode: undefined };
  if (frame.from !== MALLORY) return { kind: 'reject', code: TransportErrorCode.sender, closeCode: CloseCode.sender };
  if (frame.to !== SELF) return { kind: 'reject', code: TransportErrorCode.receiver, closeCode: CloseCode.sender };
  const channels = new Set(frame.messages.map((m) => channelOf(m.type)));
  if (channels.size > 1) return { kind: 'reject', code: TransportErrorCode.channel, closeCode: undefined };
  return { kind: 'deliver', messages: frame.messages, channel: [...channels][0] };
}

function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

const hex = (h: string): Buffer => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const raw = new Encoder({ useRecords: false, structuredClone: false, tagUint8Array: false });
/** The start of a messages frame from p1 to n0 declaring `items` items: [1, 2, "p1", "n0", ... */
const framePrefix = (items = 5): Buffer => Buffer.concat([Buffer.from([0x80 | items]), hex('01 02 62 7031 62 6e30')]);

// ------------------------------------------------------------------------------------------------
// Arbitraries of bad (and sometimes accidentally good) frames
// ------------------------------------------------------------------------------------------------

const fromP1 = fc.constant(MALLORY as NodeId);
const toN0 = fc.constant(SELF as NodeId);
/** A valid frame of 1..3 messages of one channel. */
const validFrameArb = fc.tuple(fc.boolean(), fc.array(messageArb(fromP1, toN0), { minLength: 1, maxLength: 3 })).map(([data, ms]) => {
  const same = ms.filter((m) => (channelOf(m.type) === 'data') === data);
  const chosen = same.length > 0 ? same : [ms[0]!];
  return encodeMessages(chosen);
});

const randomBytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  // Random tails after a valid frame start get past the first checks more often.
  fc.uint8Array({ maxLength: 200 }).map((tail) => Buffer.concat([framePrefix(5), tail])),
);

type Mutation = { op: 'set' | 'insert' | 'delete' | 'flip'; at: number; value: number };
const mutationArb: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('set' as const, 'insert' as const, 'delete' as const, 'flip' as const),
  at: fc.nat(),
  value: fc.nat({ max: 255 }),
});
const mutatedArb = fc.tuple(validFrameArb, fc.array(mutationArb, { minLength: 1, maxLength: 4 })).map(([frame, muts]) => {
  const bytes = Array.from(frame);
  for (const m of muts) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length;
    if (m.op === 'set') bytes[at] = m.value;
    else if (m.op === 'flip') bytes[at] = bytes[at]! ^ (1 << (m.value % 8));
    else if (m.op === 'insert') bytes.splice(at, 0, m.value);
    else bytes.splice(at, 1);
  }
  return Uint8Array.from(bytes);
});

const truncatedArb = fc.tuple(validFrameArb, fc.nat()).map(([frame, cut]) => frame.subarray(0, cut % frame.length));

/** A header of major type 2, 3, 4 or 5 declaring far more than the frame holds. */
const hugeHeadArb = fc
  .tuple(fc.constantFrom(2, 3, 4, 5), fc.constantFrom(26, 27), fc.bigInt({ min: 1n << 20n, max: (1n << 64n) - 1n }))
  .map(([major, info, value]) => {
    const size = info === 26 ? 4 : 8;
    const v = size === 4 ? value & 0xffffffffn : value;
    const head = Buffer.alloc(1 + size);
    head[0] = (major << 5) | info;
    if (size === 4) head.writeUInt32BE(Number(v | (1n << 20n)), 1);
    else head.writeBigUInt64BE(v, 1);
    return head;
  });
const hugeLengthArb = fc
  .tuple(fc.constantFrom('frame', 'message', 'field', 'entries'), hugeHeadArb, fc.uint8Array({ maxLength: 16 }))
  .map(([where, head, tail]) => {
    if (where === 'frame') return Buffer.concat([head, tail]);
    if (where === 'message') return Buffer.concat([framePrefix(5), head, tail]);
    if (where === 'field') return Buffer.concat([framePrefix(5), hex('84 05'), head, tail]);
    return Buffer.concat([framePrefix(5), hex('86 03 01 00 00 00'), head, tail]);
  });

const deepNestingArb = fc.tuple(fc.integer({ min: 4, max: 20_000 }), fc.constantFrom(0x81, 0x82, 0x9f, 0xa1), fc.boolean()).map(([depth, opener, inFrame]) => {
  const body = Buffer.alloc(depth + 1, opener);
  body[depth] = 0x00;
  return inFrame ? Buffer.concat([framePrefix(5), body]) : body;
});

const dangerousKeys = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__'];
const textItem = (s: string): Buffer => Buffer.concat([Buffer.from([0x60 | s.length]), Buffer.from(s)]);
const protoArb = fc
  .tuple(fc.constantFrom(...dangerousKeys), fc.constantFrom('frame', 'message', 'field', 'entry', 'cbor-x'), fc.nat({ max: 23 }))
  .map(([key, where, value]) => {
    const map = Buffer.concat([hex('a1'), textItem(key), hex('a1'), textItem('polluted'), Buffer.from([value])]);
    if (where === 'frame') return map;
    if (where === 'message') return Buffer.concat([framePrefix(5), map]);
    if (where === 'field') return Buffer.concat([framePrefix(5), hex('84 05'), map, hex('00 00')]);
    if (where === 'entry') return Buffer.concat([framePrefix(5), hex('86 03 01 00 00 00 83 01 01'), map]);
    // cbor-x's own encoding of an object whose own key is the dangerous one.
    const obj = JSON.parse(`{"${key}": {"polluted": ${value}}}`) as unknown;
    return raw.encode([1, 2, MALLORY, SELF, obj]);
  });

/** A term no peer may send: above TERM_MAX (2^53 - 2^20), up to 2^53 - 1; 2^53 - 2 is the brick of issue 14. */
const highTermArb = fc.oneof(fc.integer({ min: TERM_MAX + 1, max: Number.MAX_SAFE_INTEGER }), fc.constant(2 ** 53 - 2), fc.constant(TERM_MAX + 1));
const b = (n: number): Buffer => Buffer.alloc(n);
/** A message with one term field above TERM_MAX (the message's own term, or a log position's, an entry's, a snapshot's). */
const highTermFrameArb = fc.tuple(highTermArb, fc.nat({ max: 8 }), fc.nat({ max: 1000 })).map(([t, which, n]) => {
  const msg: unknown = (
    [
      [5, t, n, n], // heartbeat term
      [7, t], // timeoutNow term
      [1, t, n, n, false, true], // vote term
      [1, n, n, t, true, false], // vote lastTerm
      [3, t, n, n, n, []], // append term
      [3, 1, n, t, n, []], // append prevTerm
      [3, 1, n, 1, n, [1, 1, b(3), t, 1, b(0)]], // an entry's term
      [4, 1, false, n, n, t], // appendResp hintTerm
      [8, 1, n, t, ['a'], [], 0, 1, b(1), true, 0], // snapshot meta.term
    ] as unknown[]
  )[which];
  return raw.encode([1, 2, MALLORY, SELF, msg]);
});

/** Handshake frames (challenge, hello, welcome) after the handshake, with valid and invalid auth fields. */
const handshakeFrameArb = fc
  .tuple(fc.constantFrom(0, 1, 3), fc.constantFrom(0, 15, 16, 17), fc.constantFrom(0, 31, 32), fc.oneof(fc.nat({ max: 5 }), highTermArb))
  .map(([kind, nonceBytes, proofBytes, term]) =>
    kind === 3
      ? raw.encode([1, 3, b(nonceBytes)])
      : kind === 0
        ? raw.encode([1, 0, CLUSTER, MALLORY, SELF, 0, term, b(nonceBytes), b(proofBytes)])
        : raw.encode([1, 1, CLUSTER, MALLORY, SELF, 0, term, b(proofBytes)]),
  );

const unknownTypeArb = fc.oneof(
  fc
    .tuple(fc.oneof(fc.constant(0), fc.integer({ min: 10, max: 2 ** 32 })), fc.array(fc.nat(), { maxLength: 8 }))
    .map(([tag, fields]) => raw.encode([1, 2, MALLORY, SELF, [tag, ...fields]])),
  fc.tuple(fc.integer({ min: 3, max: 10_000 }), fc.array(fc.nat(), { maxLength: 6 })).map(([kind, rest]) => raw.encode([1, kind, ...rest])),
);

// ------------------------------------------------------------------------------------------------
// The harness
// ------------------------------------------------------------------------------------------------

describe('transport: bad input over a real socket (property-based, 12,500 cases)', function () {
  this.timeout(60_000);

  let server: WsTransport;
  let good: WsTransport;
  let url: string;
  const delivered: RaftMessage[] = [];
  let markerWaiter: { seq: number; resolve: () => void } | undefined;
  let goodSeq = 0;
  let goodSeen = -1;
  const conns: Partial<Record<Channel, { peer: RawPeer; bad: number }>> = {};
  let seq = 0;
  let cases = 0;
  let reconnects = 0;
  let wellFormed = 0;

  before(async function () {
    server = new WsTransport({ nodeId: SELF, clusterId: CLUSTER, peers: { [MALLORY]: null, [GOOD]: null, [KNOWN]: null }, clusterSecret: SECRET });
    const addr = await server.listen();
    url = `ws://127.0.0.1:${addr.port}/`;
    server.onMessage = (m) => {
      if (m.from === GOOD && m.type === 'heartbeat') {
        goodSeen = m.readCtx;
        return;
      }
      const markerSeq =
        m.type === 'heartbeatResp' && m.readCtx >= MARKER_BASE
          ? m.readCtx - MARKER_BASE
          : m.type === 'append' && m.prevIndex >= MARKER_BASE
            ? m.prevIndex - MARKER_BASE
            : -1;
      if (markerSeq >= 0 && markerWaiter && markerWaiter.seq === markerSeq) {
        const w = markerWaiter;
        markerWaiter = undefined;
        w.resolve();
        return;
      }
      delivered.push(m);
    };
    good = new WsTransport({ nodeId: GOOD, clusterId: CLUSTER, peers: { [SELF]: addr }, clusterSecret: SECRET });
    await good.listen();
  });

  after(async function () {
    for (const c of Object.values(conns)) c?.peer.terminate();
    await Promise.all([closeTransport(server), closeTransport(good)]);
  });

  async function connection(channel: Channel): Promise<{ peer: RawPeer; bad: number }> {
    const existing = conns[channel];
    if (existing && existing.peer.open && existing.peer.closeCode === undefined) return existing;
    if (existing) reconnects++;
    const peer = await RawPeer.handshake({ url, clusterId: CLUSTER, from: MALLORY, to: SELF, channel, secret: SECRET });
    const c = { peer, bad: 0 };
    conns[channel] = c;
    return c;
  }

  function marker(channel: Channel, n: number): Uint8Array {
    const m: RaftMessage =
      channel === 'control'
        ? { type: 'heartbeatResp', from: MALLORY, to: SELF, term: 1, readCtx: MARKER_BASE + n }
        : { type: 'append', from: MALLORY, to: SELF, term: 1, prevIndex: MARKER_BASE + n, prevTerm: 1, commit: 0, entries: [] };
    return encodeMessages([m]);
  }

  function waitMarker(n: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`marker ${n} not delivered within ${MARKER_TIMEOUT_MS} ms`)), MARKER_TIMEOUT_MS);
      markerWaiter = {
        seq: n,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
  }

  /** Sends one case and checks the server's reaction against the oracle. */
  async function runCase(bytes: Uint8Array, preferData: boolean): Promise<void> {
    cases++;
    const verdict = oracle(bytes);
    const channel: Channel = verdict.kind === 'deliver' && verdict.channel ? verdict.channel : preferData ? 'data' : 'control';
    const conn = await connection(channel);
    const before = server.stats();
    delivered.length = 0;
    conn.peer.send(bytes);

    let expectedClose: number | undefined;
    let expectTooMany = false;
    if (verdict.kind === 'reject') {
      expectedClose = verdict.closeCode;
      if (expectedClose === undefined) {
        conn.bad++;
        if (conn.bad >= 16) {
          expectedClose = CloseCode.tooManyBadFrames;
          expectTooMany = true;
        }
      }
    }
    if (expectedClose !== undefined) {
      const code = await conn.peer.closed(`close ${expectedClose} after a bad frame`);
      assert.equal(code, expectedClose);
    } else {
      const n = seq++;
      const arrived = waitMarker(n);
      conn.peer.send(marker(channel, n));
      await arrived;
    }

    const after = server.stats();
    const delta = (code: string): number => (after.rejected[code] ?? 0) - (before.rejected[code] ?? 0);
    if (verdict.kind === 'reject') {
      assert.equal(delivered.length, 0, `a rejected frame (${verdict.code}) must not reach onMessage`);
      assert.equal(delta(verdict.code), 1, `rejection ${verdict.code} counted once`);
      const expectedTotal = expectTooMany ? 2 : 1;
      assert.equal(after.rejectedTotal - before.rejectedTotal, expectedTotal, 'no other rejection counted');
      if (expectTooMany) assert.equal(delta(TransportErrorCode.tooManyBadFrames), 1);
    } else {
      wellFormed++;
      assert.equal(after.rejectedTotal, before.rejectedTotal, 'a valid frame is not counted as rejected');
      assert.deepEqual(plain(delivered), plain(verdict.messages));
    }
  }

  /** A valid peer, through a real WsTransport, still gets a message through. */
  async function validPeerDelivers(): Promise<void> {
    const n = ++goodSeq;
    good.send(SELF, { type: 'heartbeat', from: GOOD, to: SELF, term: 1, commit: 0, readCtx: n });
    const deadline = Date.now() + MARKER_TIMEOUT_MS;
    while (goodSeen !== n) {
      assert.ok(Date.now() < deadline, 'the valid peer could not deliver');
      await new Promise((r) => setImmediate(r));
    }
  }

  const properties: Array<[string, fc.Arbitrary<Uint8Array>, number]> = [
    ['random bytes', randomBytesArb, 3000],
    ['mutated valid frames', mutatedArb, 3000],
    ['truncated frames', truncatedArb, 1500],
    ['huge declared lengths', hugeLengthArb, 1000],
    ['deep nesting (up to 20,000 levels, arrays, indefinite arrays and maps)', deepNestingArb, 500],
    ['maps with __proto__, constructor and other dangerous keys', protoArb, 500],
    ['unknown message types and frame kinds', unknownTypeArb, 1000],
    ['terms above TERM_MAX in every term field (2^53 - 2 included)', highTermFrameArb, 1000],
    ['handshake frames with auth fields after the handshake', handshakeFrameArb, 500],
  ];

  for (const [name, arb, numRuns] of properties) {
    it(`${name}: ${numRuns} cases, none delivered unless well-formed, each counted by code`, async function () {
      await fc.assert(
        fc.asyncProperty(arb, fc.boolean(), async (bytes, preferData) => {
          await runCase(bytes, preferData);
        }),
        { numRuns },
      );
      await validPeerDelivers();
    });
  }

  /** One hostile hello on a fresh connection: what it is, and what the server must answer. */
  interface HelloCase {
    readonly from: string;
    readonly secret: 'ours' | 'other' | 'none';
    readonly nonceBytes: number;
    readonly proof: 'valid' | 'zeros' | 'short' | 'none' | 'replayed';
    readonly term: number;
    readonly address: boolean;
  }
  const helloCaseArb: fc.Arbitrary<HelloCase> = fc.record({
    from: fc.constantFrom(KNOWN, KNOWN, 'stranger', '__proto__', 'constructor'),
    secret: fc.constantFrom('ours' as const, 'ours' as const, 'other' as const, 'none' as const),
    nonceBytes: fc.constantFrom(16, 16, 16, 15, 0),
    proof: fc.constantFrom('valid' as const, 'valid' as const, 'zeros' as const, 'short' as const, 'none' as const, 'replayed' as const),
    term: fc.oneof(fc.nat({ max: 100 }), fc.constant(TERM_MAX), highTermArb),
    address: fc.boolean(),
  });
  const OTHER_SECRET = testSecret();
  let helloCases = 0;

  function helloBytes(c: HelloCase, acceptorNonce: Uint8Array): Buffer {
    const dialerNonce = c.nonceBytes === 16 ? newNonce() : Buffer.alloc(c.nonceBytes);
    const address = c.address ? '127.0.0.1:9:9:9' : '';
    const key = c.secret === 'ours' ? SECRET : OTHER_SECRET;
    const fields = { clusterId: CLUSTER, dialer: c.from, acceptor: SELF, channel: 'data' as const, dialerNonce, term: c.term, address };
    let proof: Uint8Array;
    if (c.secret === 'none' || c.proof === 'none') proof = Buffer.alloc(0);
    else if (c.proof === 'zeros') proof = Buffer.alloc(32);
    else if (c.proof === 'short') proof = helloProof(key, { ...fields, acceptorNonce }).subarray(0, 31);
    else if (c.proof === 'replayed')
      proof = helloProof(key, { ...fields, acceptorNonce: newNonce() }); // for another challenge
    else proof = helloProof(key, { ...fields, acceptorNonce });
    return raw.encode([1, 0, CLUSTER, c.from, SELF, 1, c.term, dialerNonce, Buffer.from(proof), ...(c.address ? [Buffer.from(address, 'latin1')] : [])]);
  }

  /** The server's verdict: the decoder first, then the proof, then who the sender is. */
  function helloVerdict(c: HelloCase, bytes: Buffer): { code: TransportErrorCode | null; close: number | null } {
    try {
      decodeFrame(bytes);
    } catch (err) {
      assert.ok(err instanceof TransportError);
      return { code: err.code, close: CloseCode.handshake };
    }
    if (!(c.secret === 'ours' && c.proof === 'valid')) return { code: TransportErrorCode.auth, close: CloseCode.auth };
    if (c.from !== KNOWN) return { code: TransportErrorCode.unknownPeer, close: CloseCode.unknownPeer }; // the server admits nobody
    return { code: null, close: null };
  }

  it('hostile hellos on fresh connections: 500 cases, each refused at the hello with its code (or welcomed if it proves the secret)', async function () {
    await fc.assert(
      fc.asyncProperty(helloCaseArb, async (c) => {
        helloCases++;
        let bytes: Buffer | undefined;
        const before = server.stats();
        const peer = await RawPeer.connect({
          url,
          clusterId: CLUSTER,
          from: KNOWN,
          to: SELF,
          channel: 'data',
          hello: (nonce) => (bytes = helloBytes(c, nonce)),
        });
        const verdict = helloVerdict(c, bytes!);
        if (verdict.close === null) {
          await waitFor(() => peer.welcomed || peer.closeCode !== undefined, 'the welcome');
          assert.equal(peer.welcomed, true, JSON.stringify(c));
          await peer.close();
        } else {
          assert.equal(await peer.closed(), verdict.close, JSON.stringify(c));
          assert.equal(peer.welcomed, false);
        }
        const after = server.stats();
        if (verdict.code !== null) {
          assert.equal((after.rejected[verdict.code] ?? 0) - (before.rejected[verdict.code] ?? 0), 1, `${verdict.code} counted once: ${JSON.stringify(c)}`);
          assert.equal(after.rejectedTotal - before.rejectedTotal, 1, 'no other rejection counted');
        } else {
          assert.equal(after.rejectedTotal, before.rejectedTotal);
        }
        assert.equal(after.admittedPeers, 0);
        cases++;
      }),
      { numRuns: 500 },
    );
    await validPeerDelivers();
  });

  it('summary: the transport survived every case and still serves valid peers', async function () {
    await validPeerDelivers();
    const s = server.stats();
    assert.ok(cases >= 10_000, `ran ${cases} cases`);
    // Each rejection code seen, for the log (a reviewer can see which paths were exercised).
    console.log(
      `      ${cases} cases (${wellFormed} well-formed after mutation, delivered), ${reconnects} reconnects, rejected by code: ${JSON.stringify(s.rejected)}`,
    );
    assert.ok((s.rejected[TransportErrorCode.forbiddenItem] ?? 0) > 0);
    assert.ok((s.rejected[TransportErrorCode.depth] ?? 0) > 0);
    assert.ok((s.rejected[TransportErrorCode.length] ?? 0) > 0);
    assert.ok((s.rejected[TransportErrorCode.unknownType] ?? 0) > 0);
    assert.ok((s.rejected[TransportErrorCode.schema] ?? 0) > 0);
    assert.ok((s.rejected[TransportErrorCode.term] ?? 0) > 0);
    assert.ok((s.rejected[TransportErrorCode.auth] ?? 0) > 0);
    assert.ok((s.rejected[TransportErrorCode.frameKind] ?? 0) > 0);
    assert.equal(helloCases, 500);
  });
});
