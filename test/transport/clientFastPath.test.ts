/**
 * The client protocol's hand-written hot path (transport/client/fastPath.ts) against the general
 * path: the writers produce cbor-x's bytes, and the readers accept nothing the general decoder
 * would decide differently (the property that makes the fast path safe at the gateway).
 */
import { CBOR_OPTIONS } from '../../transport/wire/cborOptions.js';
import { Encoder } from 'cbor-x';
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { ClientError } from '../../transport/client/errors.js';
import {
  decodeRequest,
  decodeRequestGeneral,
  decodeServerFrame,
  decodeServerFrameGeneral,
  encodeCommandResult,
  encodeGroupDelivery,
  encodeGroupDeliveryGeneral,
  encodeRequest,
  type Request,
} from '../../transport/client/protocol.js';
import { tryDecodeAppendRequest, tryDecodeCommandResult, tryDecodeScheduleRequest } from '../../transport/client/fastPath.js';

const strict = new Encoder(CBOR_OPTIONS);

const num = fc.oneof(fc.nat({ max: 30 }), fc.nat({ max: 70_000 }), fc.nat(), fc.integer({ min: 2 ** 32, max: Number.MAX_SAFE_INTEGER }));
const id = fc.uint8Array({ minLength: 16, maxLength: 16 });
const data = fc.oneof(fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 200, maxLength: 70_000 }));
const envelope = fc.oneof(
  fc.constant(null),
  fc
    .record({ client: id, secret: id, seq: fc.integer({ min: 1, max: 2 ** 40 }) })
    .chain((e) =>
      fc.record({ client: fc.constant(e.client), secret: fc.constant(e.secret), seq: fc.constant(e.seq), ackedBelowSeq: fc.integer({ min: 0, max: e.seq }) }),
    ),
);
const appendReq = fc.record({
  op: fc.constantFrom('append' as const, 'rewrite' as const),
  reqId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  envelope,
  session: id,
  bytes: data,
});

const scheduleReq = fc.record({
  op: fc.constant('schedule' as const),
  reqId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  envelope: envelope.map((e) => (e === null || Number.isSafeInteger(e.seq + 2) ? e : null)),
  topic: fc.oneof(fc.constantFrom('orders', 'a', ''), fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 300 })),
  bytes: data,
  replay: fc.record({ mode: fc.constantFrom('class' as const, 'delayMs' as const), value: num }),
});

/** A damage to a good frame: a byte flipped, the end cut, or bytes added. */
const mutationArb = fc.record({
  at: fc.nat(),
  xor: fc.integer({ min: 1, max: 255 }),
  cut: fc.nat({ max: 4 }),
  extra: fc.uint8Array({ maxLength: 3 }),
  how: fc.constantFrom('flip', 'cut', 'extend'),
});

function mutated(good: Buffer, m: { at: number; xor: number; cut: number; extra: Uint8Array; how: 'flip' | 'cut' | 'extend' }): Buffer {
  if (m.how === 'cut') return good.subarray(0, Math.max(0, good.length - 1 - m.cut));
  if (m.how === 'extend') return Buffer.concat([good, m.extra.length > 0 ? m.extra : Buffer.from([0])]);
  const bad = Buffer.from(good);
  const at = m.at % bad.length;
  bad[at] = bad[at]! ^ m.xor;
  return bad;
}

/** Byte fields as hex, so that Buffers and Uint8Arrays compare equal. */
function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v.buffer, v.byteOffset, v.length).toString('hex') };
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

/** The general decoder's verdict: a value, or the error's code. */
function general<T>(f: () => T): { ok: true; value: unknown } | { ok: false; code: string } {
  try {
    return { ok: true, value: plain(f()) };
  } catch (err) {
    if (!(err instanceof ClientError)) throw err;
    return { ok: false, code: err.code };
  }
}

describe('client protocol fast path', () => {
  it('writes an append or rewrite request as cbor-x does, and both decoders read it back the same (500 cases)', () => {
    fc.assert(
      fc.property(appendReq, (r) => {
        const req = r as Request;
        const frame = encodeRequest(req);
        const e = r.envelope;
        const wire = [
          1,
          r.reqId,
          r.op === 'append' ? 3 : 4,
          e === null ? new Uint8Array(0) : e.client,
          e === null ? new Uint8Array(0) : e.secret,
          e?.seq ?? 0,
          e?.ackedBelowSeq ?? 0,
          r.session,
          r.bytes,
        ];
        assert.deepEqual(Buffer.from(frame), Buffer.from(strict.encode(wire)));
        const fast = tryDecodeAppendRequest(frame);
        assert.notEqual(fast, null, 'the canonical shape is taken by the fast reader');
        assert.deepEqual(plain(fast), plain(decodeRequestGeneral(frame)));
        assert.deepEqual(plain(decodeRequest(frame)), plain(r));
      }),
      { numRuns: 500 },
    );
  });

  it('writes a command result as cbor-x does, and both decoders read it back the same (500 cases)', () => {
    const code = fc.oneof(fc.constantFrom('OK', 'SESSIONS_ERR_SESSION_UNKNOWN', ''), fc.string({ maxLength: 40 }));
    fc.assert(
      fc.property(
        num,
        fc.boolean(),
        code,
        fc.oneof(fc.constant(new Uint8Array(0)), id),
        num,
        num,
        fc.boolean(),
        (reqId, ok, c, value, index, term, duplicate) => {
          const frame = encodeCommandResult(reqId, { ok, code: c, value: value.length === 0 ? null : value, index, term, duplicate });
          assert.deepEqual(Buffer.from(frame), Buffer.from(strict.encode([1, 0, reqId, ok, c, value, index, term, duplicate])));
          assert.deepEqual(plain(decodeServerFrame(frame)), plain(decodeServerFrameGeneral(frame)));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('never accepts a damaged, truncated or extended frame that the general decoder would decide otherwise (3,000 cases)', () => {
    fc.assert(
      fc.property(appendReq, mutationArb, (r, m) => {
        const good = Buffer.from(encodeRequest(r as Request));
        const bad = mutated(good, m);
        const fast = tryDecodeAppendRequest(bad);
        if (fast === null) return; // the general path decides
        const ref = general(() => decodeRequestGeneral(bad));
        assert.ok(ref.ok, `the fast reader accepted a frame the general decoder refuses (${ref.ok ? '' : ref.code})`);
        assert.deepEqual(plain(fast), ref.value);
      }),
      { numRuns: 1500 },
    );
    fc.assert(
      fc.property(num, fc.boolean(), id, num, num, mutationArb, (reqId, ok, value, index, term, m) => {
        const good = Buffer.from(encodeCommandResult(reqId, { ok, code: 'OK', value, index, term, duplicate: !ok }));
        const bad = mutated(good, m);
        const fast = tryDecodeCommandResult(bad);
        if (fast === null) return;
        const ref = general(() => decodeServerFrameGeneral(bad));
        assert.ok(ref.ok, `the fast reader accepted a frame the general decoder refuses (${ref.ok ? '' : ref.code})`);
        assert.deepEqual(plain(fast), ref.value);
      }),
      { numRuns: 1500 },
    );
  });

  it('carries the envelope secret; a secret of the wrong size, or the old layout without one, is left to the general decoder, which refuses it', () => {
    const client = new Uint8Array(16).fill(3);
    const secret = new Uint8Array(16).fill(9);
    const frame = encodeRequest({
      op: 'append',
      reqId: 5,
      envelope: { client, secret, seq: 7, ackedBelowSeq: 6 },
      session: client,
      bytes: new Uint8Array([1]),
    });
    assert.equal(frame[0], 0x89, 'an array of 9 items');
    const fast = tryDecodeAppendRequest(frame)!;
    assert.deepEqual(plain(fast.envelope), plain({ client, secret, seq: 7, ackedBelowSeq: 6 }));
    for (const bad of [
      [1, 5, 3, client, new Uint8Array(15), 7, 6, client, new Uint8Array([1])],
      [1, 5, 3, client, new Uint8Array(0), 7, 6, client, new Uint8Array([1])],
      [1, 5, 3, new Uint8Array(0), secret, 0, 0, client, new Uint8Array([1])],
      [1, 5, 3, client, 7, 6, client, new Uint8Array([1])],
    ]) {
      const b = Buffer.from(strict.encode(bad));
      assert.equal(tryDecodeAppendRequest(b), null);
      assert.deepEqual(
        general(() => decodeRequest(b)),
        { ok: false, code: 'CLIENT_ERR_MALFORMED' },
      );
    }
  });

  it('leaves non-canonical but valid encodings to the general decoder, which accepts them', () => {
    // reqId 5 written with a 1-byte argument (0x18 0x05): valid CBOR, not minimal.
    const frame = Buffer.from(strict.encode([1, 999, 3, new Uint8Array(0), new Uint8Array(0), 0, 0, new Uint8Array(16), new Uint8Array([1, 2])]));
    const at = frame.indexOf(0x19, 2); // 999 is 0x19 0x03 0xe7
    const nonMinimal = Buffer.concat([frame.subarray(0, at), Buffer.from([0x1a, 0, 0, 0x03, 0xe7]), frame.subarray(at + 3)]);
    assert.equal(tryDecodeAppendRequest(nonMinimal), null);
    const r = decodeRequest(nonMinimal);
    assert.equal(r.op, 'append');
    assert.equal(r.reqId, 999);
  });
  it('writes a group delivery as cbor-x does, and the client reads it back the same (500 cases)', () => {
    const topic = fc.oneof(fc.string({ minLength: 1, maxLength: 30 }), fc.string({ unit: 'binary', minLength: 1, maxLength: 300 }));
    const records = fc.array(data, { maxLength: 5 });
    fc.assert(
      fc.property(num, topic, id, records, id, num, (subId, t, session, recs, restoreId, delivery) => {
        const d = { subId, topic: t, session, records: recs, restoreId, delivery };
        const fast = encodeGroupDelivery(d);
        assert.equal(Buffer.from(fast).toString('hex'), Buffer.from(encodeGroupDeliveryGeneral(d)).toString('hex'));
        assert.deepEqual(plain(decodeServerFrame(fast)), plain({ kind: 'groupDelivery', ...d }));
      }),
      { numRuns: 500 },
    );
  });
  it('writes a schedule request as cbor-x does, and both decoders read it back the same (500 cases)', () => {
    fc.assert(
      fc.property(scheduleReq, (r) => {
        const frame = encodeRequest(r as Request);
        const e = r.envelope;
        const wire = [
          1,
          r.reqId,
          24,
          e === null ? new Uint8Array(0) : e.client,
          e === null ? new Uint8Array(0) : e.secret,
          e?.seq ?? 0,
          e?.ackedBelowSeq ?? 0,
          r.topic,
          r.bytes,
          r.replay.mode === 'class' ? 0 : 1,
          r.replay.value,
        ];
        assert.deepEqual(Buffer.from(frame), Buffer.from(strict.encode(wire)));
        const fast = tryDecodeScheduleRequest(frame);
        // An ASCII topic takes the fast reader; any other is left to the general one.
        if ([...r.topic].every((c) => c.charCodeAt(0) < 0x80)) assert.notEqual(fast, null, 'the canonical shape is taken by the fast reader');
        if (fast !== null) assert.deepEqual(plain(fast), plain(decodeRequestGeneral(frame)));
        assert.deepEqual(plain(decodeRequest(frame)), plain(r));
      }),
      { numRuns: 500 },
    );
  });

  it('never accepts a damaged, truncated or extended schedule request that the general decoder would decide otherwise (2,000 cases)', () => {
    let accepted = 0;
    fc.assert(
      fc.property(scheduleReq, mutationArb, (r, m) => {
        const good = Buffer.from(encodeRequest(r as Request));
        const bad = mutated(good, m);
        const fast = tryDecodeScheduleRequest(bad);
        if (fast === null) return; // the general path decides
        accepted++;
        const ref = general(() => decodeRequestGeneral(bad));
        assert.ok(ref.ok, `the fast reader accepted a frame the general decoder refuses (${ref.ok ? '' : ref.code})`);
        assert.deepEqual(plain(fast), ref.value);
      }),
      { numRuns: 2000 },
    );
    // Some mutations (a flipped payload byte) leave a valid frame: the comparison above ran.
    assert.ok(accepted > 0, 'no mutated frame reached the comparison');
  });
});
