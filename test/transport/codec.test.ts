/**
 * Codec unit tests: round trips of every message type (property-based), and a table of inputs that
 * must be rejected, each with its stable code.
 */
import { CBOR_OPTIONS } from '../../transport/wire/cborOptions.js';
import { Encoder } from 'cbor-x';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { TERM_MAX, type RaftMessage } from '../../machines/types.js';
import {
  DEFAULT_DECODE_LIMITS,
  decodeFrame,
  decodeMessage,
  encodeChallenge,
  encodeHandshake,
  encodeMessage,
  encodeMessageParts,
  encodeMessages,
  encodeMessagesFrame,
  encodeMessagesPrefix,
  isNodeId,
  PROTOCOL_VERSION,
  SPLICE_BYTES_MIN,
  type DecodeLimits,
} from '../../transport/peer/codec.js';
import { TransportError, TransportErrorCode } from '../../transport/wire/errors.js';
import { compareUint128, uint128FromBytes, uint128FromParts, uint128Parts, uint128ToBytes, uint128ToHex, UINT128_MAX } from '../../transport/wire/uint128.js';
import { decodeMembership, encodeMembership } from '../../machines/membership.js';
import { indexArb, messageArb, nodeIdArb, plain, termArb } from './helpers.js';

/** Plain CBOR, for building frames the codec would never write. */
const raw = new Encoder({ useRecords: false, structuredClone: false, tagUint8Array: false, mapsAsObjects: true });
const cbor = (value: unknown): Uint8Array => raw.encode(value);
const hex = (h: string): Uint8Array => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const concat = (...parts: Uint8Array[]): Uint8Array => Buffer.concat(parts);

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof TransportError) return err.code;
    throw err;
  }
  return 'accepted';
}

const hb = (term: unknown = 1, commit: unknown = 0, readCtx: unknown = 0): unknown[] => [5, term, commit, readCtx];
const frame = (...messages: unknown[]): Uint8Array => cbor([PROTOCOL_VERSION, 2, 'a', 'b', ...messages]);
const validHeartbeat = encodeMessage({ type: 'heartbeat', from: 'a', to: 'b', term: 3, commit: 2, readCtx: 1 });

/** A leader's log, as the decoders require since 2026-12-07: the drawn terms sorted into prevTerm <= entry terms <= term. */
function inLeaderOrder<T extends { term: number; prevTerm: number; raw: { term: number }[] }>(a: T): T {
  const terms = [a.prevTerm, ...a.raw.map((e) => e.term), a.term].sort((x, y) => x - y);
  return { ...a, prevTerm: terms[0]!, term: terms[terms.length - 1]!, raw: a.raw.map((e, i) => ({ ...e, term: terms[i + 1]! })) };
}

describe('transport codec', function () {
  describe('membership on the wire', function () {
    it('configuration entries must decode as a configuration; a snapshot carries member addresses', function () {
      const cfg = { voters: ['a', 'b'], learners: ['c'], addresses: { c: '127.0.0.1:7004:7104:7204' } };
      const good: RaftMessage = {
        type: 'append',
        from: 'a',
        to: 'b',
        term: 2,
        prevIndex: 4,
        prevTerm: 2,
        commit: 4,
        entries: [{ index: 5, term: 2, kind: 2, data: encodeMembership(cfg) }],
      };
      const back = decodeMessage(encodeMessage(good));
      assert.deepEqual(back.type === 'append' && decodeMembership(back.entries[0]!.data), cfg);
      const bad: RaftMessage = { ...good, entries: [{ index: 5, term: 2, kind: 2, data: new Uint8Array([1, 0, 9]) }] } as RaftMessage;
      assert.throws(
        () => decodeMessage(encodeMessage(bad)),
        (e: unknown) => e instanceof TransportError && e.code === TransportErrorCode.schema,
      );
      const snap: RaftMessage = {
        type: 'snapshot',
        from: 'a',
        to: 'b',
        term: 2,
        meta: { index: 9, term: 2, membership: cfg },
        offset: 0,
        totalBytes: 1,
        dataCrc: 0xffffffff,
        data: new Uint8Array([1]),
        done: true,
      };
      const s2 = decodeMessage(encodeMessage(snap));
      assert.deepEqual(s2.type === 'snapshot' && s2.meta.membership, cfg);
      // Also when a large chunk is spliced in by reference.
      const big: RaftMessage = { ...snap, data: new Uint8Array(64 * 1024).fill(7), totalBytes: 64 * 1024 } as RaftMessage;
      const s3 = decodeMessage(encodeMessage(big));
      assert.deepEqual(s3.type === 'snapshot' && [s3.meta.membership, s3.data.length], [cfg, 64 * 1024]);
    });
  });

  describe('round trips', function () {
    it('decode(encode(m)) equals m for every message type (2,000 cases)', function () {
      fc.assert(
        fc.property(messageArb(nodeIdArb, nodeIdArb), (m) => {
          assert.deepEqual(plain(decodeMessage(encodeMessage(m))), plain(m));
        }),
        { numRuns: 2000 },
      );
    });

    it('a batch frame carries many messages in order (500 cases)', function () {
      fc.assert(
        fc.property(fc.array(messageArb(fc.constant('n1'), fc.constant('n2')), { minLength: 1, maxLength: 20 }), (ms) => {
          const decoded = decodeFrame(encodeMessages(ms));
          assert.equal(decoded.kind, 'messages');
          if (decoded.kind !== 'messages') return;
          assert.deepEqual(plain(decoded.messages), plain(ms));
        }),
        { numRuns: 500 },
      );
    });

    it('handshakes round trip', function () {
      fc.assert(
        fc.property(
          nodeIdArb,
          nodeIdArb,
          nodeIdArb,
          fc.constantFrom('control' as const, 'data' as const),
          termArb,
          fc.boolean(),
          fc.uint8Array({ minLength: 16, maxLength: 16 }),
          fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined }),
          (clusterId, from, to, channel, term, hello, nonce, proof) => {
            const kind = hello ? ('hello' as const) : ('welcome' as const);
            const frame = decodeFrame(encodeHandshake({ kind, clusterId, from, to, channel, term, nonce, ...(proof !== undefined ? { proof } : {}) }));
            assert.deepEqual(
              plain(frame),
              plain({
                kind,
                version: PROTOCOL_VERSION,
                clusterId,
                from,
                to,
                channel,
                term,
                nonce: hello ? nonce : new Uint8Array(0),
                proof: proof ?? new Uint8Array(0),
              }),
            );
          },
        ),
        { numRuns: 300 },
      );
    });

    it('entry indices are implied by prevIndex, and integers >= 2^32 survive (float64 on the wire)', function () {
      const m: RaftMessage = {
        type: 'append',
        from: 'a',
        to: 'b',
        term: 2 ** 52,
        prevIndex: Number.MAX_SAFE_INTEGER - 2,
        prevTerm: 2 ** 33,
        commit: 7,
        entries: [
          { index: Number.MAX_SAFE_INTEGER - 1, term: 2 ** 33, kind: 1, data: new Uint8Array([1]) },
          { index: Number.MAX_SAFE_INTEGER, term: 2 ** 52, kind: 0, data: new Uint8Array() },
        ],
      };
      assert.deepEqual(plain(decodeMessage(encodeMessage(m))), plain(m));
    });

    it('the hand-written append encoder writes the bytes cbor-x writes, also when its entries section is reused (300 cases)', function () {
      const strict = new Encoder(CBOR_OPTIONS);
      const num = fc.oneof(fc.nat({ max: 30 }), fc.nat({ max: 70_000 }), fc.nat(), fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER - 100 }));
      const term = fc.oneof(fc.nat({ max: 30 }), fc.nat({ max: 70_000 }), fc.nat(), fc.integer({ min: 2 ** 32, max: TERM_MAX }));
      const entryArb = fc.record({ term, kind: fc.constantFrom(0 as const, 1 as const, 2 as const), data: fc.uint8Array({ maxLength: 300 }) });
      const appendArb = fc.record({ term, prevIndex: num, prevTerm: term, commit: num, raw: fc.array(entryArb, { maxLength: 30 }) }).map(inLeaderOrder);
      fc.assert(
        fc.property(appendArb, (a) => {
          const entries = a.raw.map((e, i) => ({ index: a.prevIndex + 1 + i, term: e.term, kind: e.kind, data: e.data }));
          const wire = [3, a.term, a.prevIndex, a.prevTerm, a.commit, entries.flatMap((e) => [e.term, e.kind, e.data])];
          const want = Buffer.from(strict.encode(wire));
          for (const to of ['b', 'c']) {
            // The second message reuses the first one's entries section (same Entry objects).
            const m: RaftMessage = {
              type: 'append',
              from: 'a',
              to,
              term: a.term,
              prevIndex: a.prevIndex,
              prevTerm: a.prevTerm,
              commit: a.commit,
              entries: [...entries],
            };
            assert.deepEqual(Buffer.concat(encodeMessageParts(m)), want);
          }
          // Other Entry objects at the same indexes are encoded anew, not taken from the slot.
          if (entries.length > 0) {
            const other = entries.map((e) => ({ ...e, kind: e.kind === 2 ? (1 as const) : e.kind, data: Uint8Array.from(e.data, (x) => x ^ 1) }));
            const m: RaftMessage = {
              type: 'append',
              from: 'a',
              to: 'b',
              term: a.term,
              prevIndex: a.prevIndex,
              prevTerm: a.prevTerm,
              commit: a.commit,
              entries: other,
            };
            assert.deepEqual(plain(decodeMessage(encodeMessage(m))), plain(m));
          }
        }),
        { numRuns: 300 },
      );
    });

    it('large byte fields are spliced in by reference, and the result decodes the same (200 cases)', function () {
      const big = fc.integer({ min: SPLICE_BYTES_MIN - 2, max: SPLICE_BYTES_MIN * 4 }).map((n) => new Uint8Array(n).fill(n & 0xff));
      const small = fc.uint8Array({ maxLength: 40 });
      const entryArb = fc.record({ term: termArb, kind: fc.constantFrom(0 as const, 1 as const), data: fc.oneof(big, small) });
      const appendArb = fc
        .record({
          term: termArb,
          prevIndex: fc.nat({ max: 2 ** 40 }),
          prevTerm: termArb,
          commit: indexArb,
          raw: fc.array(entryArb, { maxLength: 6 }),
        })
        .map(inLeaderOrder);
      fc.assert(
        fc.property(appendArb, big, fc.boolean(), (a, data, done) => {
          const append: RaftMessage = {
            type: 'append',
            from: 'a',
            to: 'b',
            term: a.term,
            prevIndex: a.prevIndex,
            prevTerm: a.prevTerm,
            commit: a.commit,
            entries: a.raw.map((e, i) => ({ index: a.prevIndex + 1 + i, term: e.term, kind: e.kind, data: e.data })),
          };
          const snapshot: RaftMessage = {
            type: 'snapshot',
            from: 'a',
            to: 'b',
            term: a.term,
            meta: { index: 9, term: 2 ** 45, membership: { voters: ['a', 'b'], learners: ['c'] } },
            offset: 2 ** 40,
            totalBytes: 2 ** 41,
            dataCrc: 0,
            data,
            done,
          };
          for (const m of [append, snapshot]) {
            const parts = encodeMessageParts(m);
            const fields = m.type === 'snapshot' ? [m.data] : m.entries.map((e) => e.data);
            for (const field of fields) {
              if (field.length >= SPLICE_BYTES_MIN) assert.ok(parts.includes(field), 'a large byte field is spliced in, not copied');
            }
            assert.deepEqual(plain(decodeMessage(encodeMessage(m))), plain(m));
            assert.deepEqual(plain(decodeMessage(encodeMessagesFrame(encodeMessagesPrefix('a', 'b'), [parts]))), plain(m));
          }
        }),
        { numRuns: 200 },
      );
    });

    it('copyBuffers returns byte fields that do not alias the frame', function () {
      const bytes = encodeMessage({
        type: 'snapshot',
        from: 'a',
        to: 'b',
        term: 1,
        meta: { index: 1, term: 1, membership: { voters: ['a'], learners: [] } },
        offset: 0,
        totalBytes: 3,
        dataCrc: 123456789,
        data: new Uint8Array([7, 8, 9]),
        done: true,
      });
      const m = decodeMessage(bytes, { copyBuffers: true });
      bytes.fill(0);
      assert.deepEqual(m.type === 'snapshot' && Array.from(m.data), [7, 8, 9]);
    });
  });

  describe('rejections (table)', function () {
    const limits: DecodeLimits = { ...DEFAULT_DECODE_LIMITS, entriesPerMessageMax: 2, membersMax: 2, messagesPerFrameMax: 3 };
    const cases: Array<[string, Uint8Array, TransportErrorCode, DecodeLimits?]> = [
      ['empty input', hex(''), TransportErrorCode.cbor],
      ['a lone break', hex('ff'), TransportErrorCode.cbor],
      ['reserved additional info', hex('1c'), TransportErrorCode.cbor],
      ['trailing bytes after the frame', concat(validHeartbeat, hex('00')), TransportErrorCode.cbor],
      ['truncated frame (its last array claims more items than bytes left)', validHeartbeat.subarray(0, validHeartbeat.length - 1), TransportErrorCode.length],
      ['truncated integer argument', hex('8119'), TransportErrorCode.cbor],
      ['a map', hex('a1 61 61 01'), TransportErrorCode.forbiddenItem],
      ['a map with a __proto__ key inside a message', frame(new Map([['__proto__', { polluted: true }]])), TransportErrorCode.forbiddenItem],
      ['an object with a constructor key as the frame', cbor({ constructor: { prototype: 1 } }), TransportErrorCode.forbiddenItem],
      ['a tag', hex('c1 00'), TransportErrorCode.forbiddenItem],
      ['a record extension tag (105)', hex('d8 69 80'), TransportErrorCode.forbiddenItem],
      ['a negative integer', frame(hb(-1)), TransportErrorCode.forbiddenItem],
      ['null', frame(hb(null)), TransportErrorCode.forbiddenItem],
      ['undefined', hex('f7'), TransportErrorCode.forbiddenItem],
      ['an indefinite-length array', hex('9f ff'), TransportErrorCode.forbiddenItem],
      ['an indefinite-length byte string', hex('5f ff'), TransportErrorCode.forbiddenItem],
      ['byte string declaring 4 GiB', hex('85 01 02 61 61 61 62 5a ffffffff 00'), TransportErrorCode.length],
      ['byte string declaring 2^64-1 bytes', hex('5b ffffffffffffffff 00'), TransportErrorCode.length],
      ['array declaring 2^31 items', hex('9a 80000000 00 00'), TransportErrorCode.length],
      ['text longer than any ID (65 bytes)', cbor([1, 2, 'x'.repeat(65), 'b', hb()]), TransportErrorCode.length],
      ['arrays nested 4 deep', hex('81 81 81 81 00'), TransportErrorCode.depth],
      ['arrays nested 100,000 deep', concat(new Uint8Array(100_000).fill(0x81), hex('00')), TransportErrorCode.depth],
      ['a uint instead of a frame', hex('01'), TransportErrorCode.schema],
      ['protocol version 2', cbor([2, 2, 'a', 'b', hb()]), TransportErrorCode.version],
      ['protocol version 0 in a hello', cbor([0, 0, 'c', 'a', 'b', 0, 1]), TransportErrorCode.version],
      ['unknown frame kind', cbor([1, 9, 'a', 'b']), TransportErrorCode.frameKind],
      ['a messages frame with no message', cbor([1, 2, 'a', 'b']), TransportErrorCode.schema],
      ['more messages than the cap', frame(hb(), hb(), hb(), hb()), TransportErrorCode.length, limits],
      ['unknown message type 42', frame([42, 1]), TransportErrorCode.unknownType],
      ['message type 0', frame([0, 1]), TransportErrorCode.unknownType],
      ['message type 2^40', frame([2 ** 40, 1]), TransportErrorCode.unknownType],
      ['a message type that is not a number', frame(['vote', 1]), TransportErrorCode.schema],
      ['an empty message', frame([]), TransportErrorCode.schema],
      ['a message that is not an array', frame(5), TransportErrorCode.schema],
      ['heartbeat with a missing field', frame([5, 1, 0]), TransportErrorCode.schema],
      ['heartbeat with an extra field', frame([5, 1, 0, 0, 0]), TransportErrorCode.schema],
      ['a fractional term', frame(hb(1.5)), TransportErrorCode.schema],
      ['term 2^53 (not a safe integer)', frame(hb(2 ** 53)), TransportErrorCode.schema],
      ['term 2^64-1 as uint64', concat(hex('85 01 02 61 61 61 62 84 05 1b ffffffffffffffff 00 00')), TransportErrorCode.schema],
      ['NaN term', frame(hb(NaN)), TransportErrorCode.schema],
      ['a string term', frame(hb('1')), TransportErrorCode.schema],
      ['a boolean as 0/1', frame([2, 1, 1, 0]), TransportErrorCode.schema],
      ['entry kind 3', frame([3, 1, 0, 0, 0, [1, 3, new Uint8Array()]]), TransportErrorCode.schema],
      ['entries not in triples', frame([3, 1, 0, 0, 0, [1, 1]]), TransportErrorCode.schema],
      ['entry data as text', frame([3, 1, 0, 0, 0, [1, 1, 'data']]), TransportErrorCode.schema],
      [
        'more entries than the cap',
        frame([3, 1, 0, 0, 0, [1, 1, new Uint8Array(), 1, 1, new Uint8Array(), 1, 1, new Uint8Array()]]),
        TransportErrorCode.length,
        limits,
      ],
      ['entry indices past 2^53', frame([3, 1, Number.MAX_SAFE_INTEGER, 0, 0, [1, 1, new Uint8Array()]]), TransportErrorCode.schema],
      ['a sender ID with a space', cbor([1, 2, 'a b', 'b', hb()]), TransportErrorCode.schema],
      ['an empty receiver ID', cbor([1, 2, 'a', '', hb()]), TransportErrorCode.schema],
      ['a sender ID that is a byte string', cbor([1, 2, new Uint8Array([0x61]), 'b', hb()]), TransportErrorCode.schema],
      ['snapshot data as an array', frame([8, 1, 1, 1, [], [], 0, 1, [1], true, 0]), TransportErrorCode.schema],
      ['snapshot with more members than the cap', frame([8, 1, 1, 1, ['a', 'b'], ['c'], 0, 1, new Uint8Array(), true, 0]), TransportErrorCode.length, limits],
      ['snapshot member that is not an ID', frame([8, 1, 1, 1, ['a/b'], [], 0, 1, new Uint8Array(), true, 0]), TransportErrorCode.schema],
      ['handshake on channel 2', cbor([1, 0, 'c', 'a', 'b', 2, 1]), TransportErrorCode.schema],
      ['handshake with a missing term', cbor([1, 0, 'c', 'a', 'b', 0]), TransportErrorCode.schema],
      // Issue 14: terms above TERM_MAX (2^53 - 2^20) never reach Raft, wherever they are.
      ['heartbeat term 2^53 - 2 (the brick)', frame(hb(2 ** 53 - 2)), TransportErrorCode.term],
      ['heartbeat term TERM_MAX + 1', frame(hb(TERM_MAX + 1)), TransportErrorCode.term],
      ['timeoutNow term 2^53 - 2', frame([7, 2 ** 53 - 2]), TransportErrorCode.term],
      ['vote lastTerm above TERM_MAX', frame([1, 1, 0, TERM_MAX + 1, false, false]), TransportErrorCode.term],
      ['append prevTerm above TERM_MAX', frame([3, 1, 0, TERM_MAX + 1, 0, []]), TransportErrorCode.term],
      ['append entry term above TERM_MAX', frame([3, 1, 0, 0, 0, [TERM_MAX + 1, 1, new Uint8Array()]]), TransportErrorCode.term],
      ['appendResp hintTerm above TERM_MAX', frame([4, 1, false, 0, 0, TERM_MAX + 1]), TransportErrorCode.term],
      ['snapshot meta.term above TERM_MAX', frame([8, 1, 1, TERM_MAX + 1, ['a'], [], 0, 1, new Uint8Array(), true, 0]), TransportErrorCode.term],
      ['hello term above TERM_MAX', cbor([1, 0, 'c', 'a', 'b', 0, TERM_MAX + 1, new Uint8Array(16), new Uint8Array()]), TransportErrorCode.term],
      ['welcome term above TERM_MAX', cbor([1, 1, 'c', 'a', 'b', 0, 2 ** 53 - 2, new Uint8Array()]), TransportErrorCode.term],
      // Handshake authentication fields, and IDs that would reach Object.prototype.
      ['a hello without nonce and proof (the old shape)', cbor([1, 0, 'c', 'a', 'b', 0, 1]), TransportErrorCode.schema],
      ['a hello with a 15-byte nonce', cbor([1, 0, 'c', 'a', 'b', 0, 1, new Uint8Array(15), new Uint8Array()]), TransportErrorCode.schema],
      ['a hello with a 31-byte proof', cbor([1, 0, 'c', 'a', 'b', 0, 1, new Uint8Array(16), new Uint8Array(31)]), TransportErrorCode.schema],
      ['a hello with a proof as text', cbor([1, 0, 'c', 'a', 'b', 0, 1, new Uint8Array(16), 'proof']), TransportErrorCode.schema],
      ['a welcome with a nonce and a proof', cbor([1, 1, 'c', 'a', 'b', 0, 1, new Uint8Array(16), new Uint8Array(32)]), TransportErrorCode.schema],
      ['a welcome with a 33-byte proof', cbor([1, 1, 'c', 'a', 'b', 0, 1, new Uint8Array(33)]), TransportErrorCode.schema],
      ['a challenge with a 15-byte nonce', cbor([1, 3, new Uint8Array(15)]), TransportErrorCode.schema],
      ['a challenge with an extra field', cbor([1, 3, new Uint8Array(16), 0]), TransportErrorCode.schema],
      ['a hello from __proto__', cbor([1, 0, 'c', '__proto__', 'b', 0, 1, new Uint8Array(16), new Uint8Array()]), TransportErrorCode.schema],
      ['a hello to constructor', cbor([1, 0, 'c', 'a', 'constructor', 0, 1, new Uint8Array(16), new Uint8Array()]), TransportErrorCode.schema],
      ['a messages frame from __proto__', cbor([1, 2, '__proto__', 'b', hb()]), TransportErrorCode.schema],
      ['a snapshot member named toString', frame([8, 1, 1, 1, ['toString'], [], 0, 1, new Uint8Array(), true, 0]), TransportErrorCode.schema],
      [
        'a configuration entry naming __proto__',
        frame([3, 1, 0, 0, 0, [1, 2, encodeMembership({ voters: ['__proto__', 'n1'], learners: [] })]]),
        TransportErrorCode.schema,
      ],
    ];
    for (const [name, bytes, code, caseLimits] of cases) {
      it(`${name} -> ${code}`, function () {
        assert.equal(
          codeOf(() => decodeFrame(bytes, caseLimits ? { limits: caseLimits } : {})),
          code,
        );
      });
    }

    it('TERM_MAX itself decodes; a challenge round trips; IDs never name Object.prototype properties', function () {
      assert.equal(decodeMessage(encodeMessage({ type: 'heartbeat', from: 'a', to: 'b', term: TERM_MAX, commit: 0, readCtx: 0 })).term, TERM_MAX);
      const nonce = new Uint8Array(16).fill(7);
      assert.deepEqual(plain(decodeFrame(encodeChallenge(nonce))), plain({ kind: 'challenge', nonce }));
      for (const id of ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__'])
        assert.equal(isNodeId(id), false, id);
      for (const id of ['n1', '__proto', 'proto__', 'Constructor', 'a.b-c_d']) assert.equal(isNodeId(id), true, id);
    });

    it('decodeMessage wants exactly one message', function () {
      assert.equal(
        codeOf(() => decodeMessage(frame(hb(), hb()))),
        TransportErrorCode.schema,
      );
      assert.equal(
        codeOf(() => decodeMessage(encodeHandshake({ kind: 'hello', clusterId: 'c', from: 'a', to: 'b', channel: 'data', term: 0 }))),
        TransportErrorCode.frameKind,
      );
    });

    it('arbitrary bytes never throw anything but a TransportError (10,000 cases)', function () {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
          codeOf(() => decodeFrame(bytes));
        }),
        { numRuns: 10_000 },
      );
    });

    it('a mutated valid frame is either rejected with a code or decodes to a valid frame (3,000 cases)', function () {
      fc.assert(
        fc.property(messageArb(fc.constant('a'), fc.constant('b')), fc.nat(), fc.nat({ max: 255 }), (m, at, value) => {
          const bytes = Buffer.from(encodeMessage(m));
          bytes[at % bytes.length] = value;
          let decoded: ReturnType<typeof decodeFrame> | undefined;
          try {
            decoded = decodeFrame(bytes);
          } catch (err) {
            assert.ok(err instanceof TransportError);
            return;
          }
          // Whatever decoded is well-formed: it encodes and decodes back to itself.
          if (decoded.kind === 'messages') assert.deepEqual(plain(decodeFrame(encodeMessages(decoded.messages))), plain(decoded));
        }),
        { numRuns: 3000 },
      );
    });
  });

  describe('encoding refuses what the peer would reject (TRANSPORT_ERR_ENCODE)', function () {
    const base = { from: 'a', to: 'b', term: 1 };
    const bad: Array<[string, RaftMessage]> = [
      ['a negative term', { ...base, term: -1, type: 'timeoutNow' }],
      ['a term above TERM_MAX', { ...base, term: TERM_MAX + 1, type: 'timeoutNow' }],
      [
        'an entry term above TERM_MAX',
        { ...base, type: 'append', prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 2 ** 53 - 2, kind: 1, data: new Uint8Array() }] },
      ],
      ['a sender named __proto__', { ...base, from: '__proto__', type: 'timeoutNow' }],
      ['a fractional index', { ...base, type: 'appendResp', success: true, index: 1.5, hintIndex: 0, hintTerm: 0 }],
      [
        'entries that are not contiguous from prevIndex + 1',
        { ...base, type: 'append', prevIndex: 4, prevTerm: 1, commit: 0, entries: [{ index: 6, term: 1, kind: 1, data: new Uint8Array() }] },
      ],
      [
        'an unknown entry kind',
        { ...base, type: 'append', prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 1, kind: 7 as never, data: new Uint8Array() }] },
      ],
      [
        'entry data that is not bytes',
        { ...base, type: 'append', prevIndex: 0, prevTerm: 0, commit: 0, entries: [{ index: 1, term: 1, kind: 1, data: 'x' as never }] },
      ],
      ['an invalid sender ID', { ...base, from: 'not ok', type: 'timeoutNow' }],
      ['an unknown type', { ...base, type: 'gossip' } as never],
    ];
    for (const [name, m] of bad) {
      it(name, function () {
        assert.equal(
          codeOf(() => encodeMessage(m)),
          TransportErrorCode.encode,
        );
      });
    }
  });

  describe('uint128 IDs', function () {
    const u128 = fc.bigInt({ min: 0n, max: UINT128_MAX });
    it('bytes <-> bigint round trip, 16 bytes big-endian', function () {
      fc.assert(
        fc.property(u128, (v) => {
          const b = uint128ToBytes(v);
          assert.equal(b.length, 16);
          assert.equal(uint128FromBytes(b), v);
          assert.equal(BigInt('0x' + uint128ToHex(b)), v);
        }),
      );
    });
    it('byte order is numeric order', function () {
      fc.assert(
        fc.property(u128, u128, (a, b) => {
          assert.equal(compareUint128(uint128ToBytes(a), uint128ToBytes(b)), a < b ? -1 : a > b ? 1 : 0);
        }),
      );
    });
    it('high and low halves (e.g. term and index)', function () {
      const id = uint128FromParts(3, 2 ** 40);
      assert.deepEqual(uint128Parts(id), { high: 3n, low: 2n ** 40n });
      assert.equal(compareUint128(uint128FromParts(3, 10), uint128FromParts(4, 1)), -1);
      assert.throws(() => uint128ToBytes(-1n), RangeError);
      assert.throws(() => uint128ToBytes(UINT128_MAX + 1n), RangeError);
      assert.throws(() => uint128FromBytes(new Uint8Array(15)), RangeError);
    });
    it('travels as a 16-byte string inside entry data and snapshot bytes', function () {
      const id = uint128FromParts(7, 9);
      const m = decodeMessage(
        encodeMessage({
          type: 'append',
          from: 'a',
          to: 'b',
          term: 7,
          prevIndex: 8,
          prevTerm: 7,
          commit: 0,
          entries: [{ index: 9, term: 7, kind: 1, data: id }],
        }),
      );
      assert.equal(m.type === 'append' && compareUint128(m.entries[0]!.data, id), 0);
    });
  });
});
