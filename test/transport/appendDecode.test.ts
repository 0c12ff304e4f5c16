/**
 * The fragment decoder of appends (transport/peer/appendDecode.ts) against `decodeFrame` over the
 * joined bytes: the same frame or the same error code for any frame, cut anywhere, mutated or not;
 * entry data as views into the fragments that hold them; and the encoder's pieces cut at entries.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Entry, EntryKind, RaftMessage } from '../../machines/types.js';
import { decodeAppendsFrame, decodeFrameParts } from '../../transport/peer/appendDecode.js';
import {
  DEFAULT_DECODE_LIMITS,
  decodeFrame,
  encodeMessageParts,
  encodeMessagesFrameParts,
  encodeMessagesPrefix,
  FRAGMENT_BYTES_MIN,
  SPLICE_BYTES_MIN,
  type DecodeLimits,
} from '../../transport/peer/codec.js';
import { TransportError } from '../../transport/wire/errors.js';
import { messageArb, plain, termArb } from './helpers.js';

/** What a decode gives: the frame (plain), or the TransportError's code; anything else fails the test. */
function outcome(fn: () => unknown): unknown {
  try {
    return { frame: plain(fn()) };
  } catch (err) {
    if (err instanceof TransportError) return { code: err.code };
    throw err;
  }
}

/** `bytes` cut at the given offsets (sorted, clamped; repeats give empty fragments, as ws may). */
function cutAt(bytes: Buffer, cuts: readonly number[]): Buffer[] {
  const points = cuts.map((c) => Math.min(c, bytes.length)).sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of points) {
    out.push(bytes.subarray(start, p));
    start = p;
  }
  out.push(bytes.subarray(start));
  return out;
}

/** Appends with entries of up to 20 KiB, so the encoder cuts their arrays into pieces. */
const bigAppendArb: fc.Arbitrary<RaftMessage> = fc
  .record({
    term: termArb,
    prevIndex: fc.nat({ max: 2 ** 40 }),
    prevTerm: termArb,
    commit: fc.nat({ max: 2 ** 40 }),
    raw: fc.array(
      fc.record({ term: termArb, kind: fc.constantFrom<EntryKind>(0, 1), size: fc.oneof(fc.nat({ max: 200 }), fc.integer({ min: 3000, max: 20_000 })) }),
      { minLength: 1, maxLength: 24 },
    ),
  })
  .map(({ raw, ...m }) => {
    // A leader's log, as the decoders require: terms from prevTerm on, never decreasing, at most the message's.
    const terms = [m.prevTerm, ...raw.map((e) => e.term), m.term].sort((a, b) => a - b);
    return {
      type: 'append' as const,
      from: 'n1',
      to: 'n2',
      ...m,
      prevTerm: terms[0]!,
      term: terms[terms.length - 1]!,
      entries: raw.map((e, i): Entry => ({ index: m.prevIndex + 1 + i, term: terms[i + 1]!, kind: e.kind, data: Buffer.alloc(e.size, (i * 7 + 1) & 0xff) })),
    };
  });

const smallLimits: DecodeLimits = { messagesPerFrameMax: 2, entriesPerMessageMax: 3, membersMax: 4, rangesPerRequestMax: 4 };

/** The fragments the encoder makes for `messages` from n1 to n2, as Buffers (ws delivers Buffers). */
function encoderFragments(messages: readonly RaftMessage[]): Buffer[] {
  const parts = encodeMessagesFrameParts(
    encodeMessagesPrefix('n1', 'n2'),
    messages.map((m) => encodeMessageParts(m)),
  );
  return parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.length)));
}

describe('appends decoded from their fragments', function () {
  const frameArb = fc.oneof(
    { weight: 2, arbitrary: fc.array(bigAppendArb, { minLength: 1, maxLength: 3 }) },
    { weight: 1, arbitrary: fc.array(messageArb(fc.constant('n1'), fc.constant('n2')), { minLength: 1, maxLength: 3 }) },
  );

  it('gives what decodeFrame gives for the joined bytes, cut anywhere (property)', function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(frameArb, fc.array(fc.nat({ max: 200_000 }), { maxLength: 12 }), fc.boolean(), (messages, cuts, small) => {
        const joined = Buffer.concat(encoderFragments(messages));
        const limits = small ? smallLimits : DEFAULT_DECODE_LIMITS;
        const want = outcome(() => decodeFrame(joined, { limits }));
        assert.deepEqual(
          outcome(() => decodeFrameParts(cutAt(joined, cuts), { limits })),
          want,
        );
        if (small) return;
        assert.deepEqual(want, { frame: plain({ kind: 'messages', from: 'n1', to: 'n2', messages }) });
        // Appends without configuration entries are never left to the slow path.
        const fast = messages.every((m) => m.type === 'append' && m.entries.every((e) => e.kind !== 2));
        assert.equal(decodeAppendsFrame(cutAt(joined, cuts), limits) !== undefined, fast);
      }),
      { numRuns: 400 },
    );
  });

  it('gives the same frame or the same error code for mutated and truncated frames (property)', function () {
    this.timeout(60_000);
    const mutation = fc.record({ at: fc.nat(), byte: fc.nat({ max: 255 }) });
    fc.assert(
      fc.property(
        frameArb,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        fc.nat(),
        fc.array(fc.nat({ max: 100_000 }), { maxLength: 8 }),
        (messages, muts, keep, cuts) => {
          const joined = Buffer.from(Buffer.concat(encoderFragments(messages)));
          // Mutations land mostly in the first 96 bytes, where the heads are; one in three anywhere.
          for (const m of muts) joined[m.at % (m.at % 3 === 0 ? joined.length : Math.min(joined.length, 96))] = m.byte;
          const bytes = keep % 4 === 0 ? joined.subarray(0, keep % (joined.length + 1)) : joined;
          const want = outcome(() => decodeFrame(bytes, {}));
          assert.deepEqual(
            outcome(() => decodeFrameParts(cutAt(bytes, cuts), {})),
            want,
          );
          assert.deepEqual(
            outcome(() => decodeFrameParts(cutAt(bytes, cuts), { limits: smallLimits })),
            outcome(() => decodeFrame(bytes, { limits: smallLimits })),
          );
        },
      ),
      { numRuns: 600 },
    );
  });

  it('never throws on arbitrary bytes, cut anywhere, and agrees with decodeFrame (property)', function () {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat({ max: 200 }), { maxLength: 6 }), (raw, cuts) => {
        const bytes = Buffer.from(raw);
        assert.deepEqual(
          outcome(() => decodeFrameParts(cutAt(bytes, cuts), {})),
          outcome(() => decodeFrame(bytes, {})),
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses declared lengths and counts beyond the bytes left before allocating, as decodeFrame does (found in review)', function () {
    // [1, 2, "n1", "n2", [3, 1, 0, 0, 0, [1, 0, h'...']]] with the entry's length head replaced.
    const head = Buffer.from('850102626e31626e32860301000000830100', 'hex');
    const frameWith = (lengthHead: string, tail: Buffer = Buffer.from([1, 2, 3])): Buffer => Buffer.concat([head, Buffer.from(lengthHead, 'hex'), tail]);
    const before = process.memoryUsage().arrayBuffers;
    for (const h of ['5b0000001000000000', '5affffffff', '5a40000000', '5b001fffffffffffff']) {
      const bytes = frameWith(h);
      for (let k = 0; k < 10; k++) assert.equal(decodeAppendsFrame([bytes.subarray(0, 12), bytes.subarray(12)], DEFAULT_DECODE_LIMITS), undefined);
      assert.deepEqual(
        outcome(() => decodeFrameParts([bytes])),
        outcome(() => decodeFrame(bytes)),
      );
    }
    assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 * 1024, 'no buffer of a declared length was allocated');
    // Counts: 65,535 entries or 65,532 messages declared in a few bytes.
    for (const bytes of [Buffer.from('850102626e31626e32860301000000' + '9a0002fffd', 'hex'), Buffer.from('9a0000fffc0102626e31626e32', 'hex')]) {
      assert.equal(decodeAppendsFrame([bytes], DEFAULT_DECODE_LIMITS), undefined);
      assert.deepEqual(
        outcome(() => decodeFrameParts([bytes])),
        outcome(() => decodeFrame(bytes)),
      );
      const huge: DecodeLimits = {
        messagesPerFrameMax: Number.MAX_SAFE_INTEGER,
        entriesPerMessageMax: Number.MAX_SAFE_INTEGER,
        membersMax: 4,
        rangesPerRequestMax: 4,
      };
      assert.deepEqual(
        outcome(() => decodeFrameParts([bytes], { limits: huge })),
        outcome(() => decodeFrame(bytes, { limits: huge })),
      );
    }
  });

  it('leaves 8-byte length heads and limits below the arity of an append to decodeFrame (found in review)', function () {
    // cbor-x's native string reader refuses a string with an 8-byte length head after the first
    // string of a frame of 140 bytes or more; the fast path must not accept what it refuses.
    const data = Buffer.concat([Buffer.from('850102626e31626e32860301000000830100', 'hex'), Buffer.from('5b000000000000008c', 'hex'), Buffer.alloc(140)]);
    const to = Buffer.concat([Buffer.from('850102626e317b00000000000000026e32860301000000830100588c', 'hex'), Buffer.alloc(140)]);
    for (const bytes of [data, to]) {
      assert.equal(decodeAppendsFrame([bytes], DEFAULT_DECODE_LIMITS), undefined);
      assert.deepEqual(
        outcome(() => decodeFrameParts([bytes])),
        outcome(() => decodeFrame(bytes)),
      );
    }
    const tiny: DecodeLimits = { messagesPerFrameMax: 1, entriesPerMessageMax: 1, membersMax: 4, rangesPerRequestMax: 4 };
    const append: RaftMessage = { type: 'append', from: 'n1', to: 'n2', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] };
    const frags = encoderFragments([append]);
    assert.deepEqual(
      outcome(() => decodeFrameParts(frags, { limits: tiny })),
      outcome(() => decodeFrame(Buffer.concat(frags), { limits: tiny })),
    );
  });

  it('agrees with decodeFrame when any head is replaced by a wide one (property)', function () {
    const wideHead = fc.record({
      major: fc.constantFrom(0, 2, 3, 4),
      info: fc.integer({ min: 24, max: 27 }),
      arg: fc.uint8Array({ minLength: 8, maxLength: 8 }),
    });
    fc.assert(
      fc.property(bigAppendArb, fc.nat({ max: 40 }), wideHead, fc.array(fc.nat({ max: 60_000 }), { maxLength: 4 }), (append, at, h, cuts) => {
        const joined = Buffer.concat(encoderFragments([append]));
        const size = 1 << (h.info - 24);
        const bytes = Buffer.concat([joined.subarray(0, at), Buffer.from([(h.major << 5) | h.info]), h.arg.subarray(0, size), joined.subarray(at + 1)]);
        assert.deepEqual(
          outcome(() => decodeFrameParts(cutAt(bytes, cuts), {})),
          outcome(() => decodeFrame(bytes, {})),
        );
      }),
      { numRuns: 1500 },
    );
  });

  it('takes appends on the fast path with their data as views into the fragments', function () {
    const entries: Entry[] = [];
    for (let i = 0; i < 40; i++) entries.push({ index: 101 + i, term: 7, kind: 1, data: Buffer.alloc(4096, i) });
    const append: RaftMessage = { type: 'append', from: 'n1', to: 'n2', term: 7, prevIndex: 100, prevTerm: 6, commit: 99, entries };
    const frags = encoderFragments([append, append]);
    // The entries array (164 KiB) leaves as pieces cut at entries, each a fragment of its own.
    const big = frags.filter((f) => f.length >= FRAGMENT_BYTES_MIN);
    assert.ok(big.length >= 2 * Math.floor((40 * 4096) / (2 * FRAGMENT_BYTES_MIN)), `pieces: ${frags.map((f) => f.length).join(',')}`);
    const frame = decodeAppendsFrame(frags, DEFAULT_DECODE_LIMITS);
    assert.ok(frame !== undefined, 'an append frame takes the fast path');
    const buffers = new Set(frags.map((f) => f.buffer));
    for (const m of frame.messages) {
      assert.equal(m.type, 'append');
      if (m.type !== 'append') continue;
      assert.equal(m.entries.length, 40);
      for (const e of m.entries) {
        assert.ok(buffers.has(e.data.buffer as ArrayBuffer), `entry ${e.index} is a view into a fragment, not a copy`);
        assert.equal(e.data[0], e.index - 101);
      }
    }
    // Cut one entry across two fragments: that entry alone is copied.
    const joined = Buffer.concat(frags);
    const mid = joined.indexOf(Buffer.alloc(4096, 20)) + 2048;
    const halves = [joined.subarray(0, mid), joined.subarray(mid)];
    const cut = decodeAppendsFrame(halves, DEFAULT_DECODE_LIMITS);
    assert.ok(cut !== undefined && cut.messages[0]!.type === 'append');
    const copied = cut.messages.flatMap((m) => (m.type === 'append' ? m.entries : [])).filter((e) => e.data.buffer !== joined.buffer);
    assert.deepEqual(
      copied.map((e) => e.index),
      [121],
    );
    assert.deepEqual(plain(cut), plain(decodeFrame(joined)));
  });

  it('cuts an entries array of SPLICE_BYTES_MIN or more into pieces at entry boundaries, and no shorter one', function () {
    fc.assert(
      fc.property(bigAppendArb, (append) => {
        const parts = encodeMessageParts(append);
        const section = parts.slice(1);
        const total = section.reduce((n, p) => n + p.length, 0);
        // An entry of SPLICE_BYTES_MIN or more goes by reference instead (cbor-x's path, parts of its own).
        const spliced = append.type === 'append' && append.entries.some((e) => e.data.length >= SPLICE_BYTES_MIN);
        if (!spliced && total < SPLICE_BYTES_MIN) assert.equal(section.length, 1);
        else if (!spliced) for (const p of section) assert.ok(p.length >= FRAGMENT_BYTES_MIN, `piece of ${p.length} bytes`);
        // Each piece after the first starts at an entry: the fast path reads the frame with no copy.
        const frags = encoderFragments([append]);
        const frame = decodeAppendsFrame(frags, DEFAULT_DECODE_LIMITS);
        assert.ok(frame !== undefined);
        const buffers = new Set(frags.map((f) => f.buffer));
        const m = frame.messages[0]!;
        assert.ok(m.type === 'append');
        for (const e of m.entries) if (e.data.length > 0) assert.ok(buffers.has(e.data.buffer as ArrayBuffer), `entry ${e.index} copied`);
      }),
      { numRuns: 200 },
    );
  });

  it('falls back to decodeFrame for what it does not take: other messages, copies', function () {
    const hb: RaftMessage = { type: 'heartbeat', from: 'n1', to: 'n2', term: 1, commit: 0, readCtx: 0 };
    const hbFrags = encoderFragments([hb]);
    assert.equal(decodeAppendsFrame(hbFrags, DEFAULT_DECODE_LIMITS), undefined);
    assert.deepEqual(plain(decodeFrameParts(hbFrags)), plain(decodeFrame(Buffer.concat(hbFrags))));
    const frags = encoderFragments([{ ...hb, type: 'append', prevIndex: 0, prevTerm: 0, entries: [{ index: 1, term: 1, kind: 1, data: Buffer.from('x') }] }]);
    const copied = decodeFrameParts(frags, { copyBuffers: true });
    assert.ok(copied.kind === 'messages' && copied.messages[0]!.type === 'append');
    assert.notEqual(copied.messages[0]!.entries[0]!.data.buffer, frags[0]!.buffer, 'copyBuffers copies');
  });
});
