/**
 * The client protocol's batches (transport/client/batch.ts, issue 20): several frames in one
 * WebSocket message, `[1, 0, 27, frame, ...]` from a client and `[1, 6, frame, ...]` from a node.
 * The reader sits at the edge (a node reads what any client sends), so: round trips, no normal
 * frame is taken for a batch, and on any bytes it never throws and returns only views that lie
 * inside the message, in order, at most `countMax` of them.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  BATCH_BYTES_MIN,
  BATCH_HEAD_BYTES_MAX,
  batchBytesAsked,
  batchFraming,
  batchItemBytes,
  encodeBatch,
  isBatch,
  readBatch,
  type BatchSide,
} from '../../transport/client/batch.js';
import { decodeServerFrame, encodeCommandResult, encodeRequest, encodeWelcome, type RequestBody } from '../../transport/client/protocol.js';

const side = fc.constantFrom<BatchSide>('request', 'reply');
/** Frames of every size class a head has: < 24, < 256, < 65,536 and above. */
const frame = fc.oneof(
  { arbitrary: fc.uint8Array({ minLength: 0, maxLength: 30 }), weight: 8 },
  { arbitrary: fc.uint8Array({ minLength: 200, maxLength: 300 }), weight: 3 },
  { arbitrary: fc.integer({ min: 65_530, max: 65_600 }).map((n) => new Uint8Array(n).fill(n & 0xff)), weight: 1 },
);
const frames = fc.array(frame, { minLength: 1, maxLength: 40 });

function plain(b: Uint8Array): number[] {
  return Array.from(b);
}

describe('client protocol: batches (several frames in one message)', () => {
  it('round-trips any frames, as views into the message (300 cases)', () => {
    fc.assert(
      fc.property(side, frames, (s, fs) => {
        const msg = encodeBatch(s, fs, 0, fs.length);
        expect(isBatch(s, msg)).to.equal(true);
        const back = readBatch(s, msg, fs.length);
        expect(back).to.not.equal(null);
        expect(back!.length).to.equal(fs.length);
        back!.forEach((f, k) => expect(Buffer.from(f.buffer, f.byteOffset, f.length).equals(fs[k]!), `frame ${k}`).to.equal(true));
        for (const f of back!) expect(f.buffer).to.equal(msg.buffer);
        // One frame fewer allowed: refused whole.
        expect(readBatch(s, msg, fs.length - 1)).to.equal(null);
        // Its size is what the framing counts, at most.
        const counted = BATCH_HEAD_BYTES_MAX + fs.reduce((a, f) => a + batchItemBytes(f.length), 0);
        expect(msg.length).to.be.at.most(counted);
      }),
      { numRuns: 300 },
    );
  });

  it('its head is within BATCH_HEAD_BYTES_MAX also past 65,535 frames (5-byte array heads)', () => {
    const n = 70_000;
    const fs = Array.from({ length: n }, () => new Uint8Array(0));
    for (const s of ['request', 'reply'] as const) {
      const msg = encodeBatch(s, fs, 0, n);
      expect(msg.length).to.be.at.most(BATCH_HEAD_BYTES_MAX + n * batchItemBytes(0));
      expect(readBatch(s, msg, n)).to.have.length(n);
    }
  });

  it('encodes a range of the frames only', () => {
    const fs = [1, 2, 3, 4, 5].map((k) => new Uint8Array([k, k]));
    const msg = encodeBatch('reply', fs, 1, 4);
    expect(readBatch('reply', msg, 10)!.map(plain)).to.deep.equal([
      [2, 2],
      [3, 3],
      [4, 4],
    ]);
    expect(batchFraming('reply', 1000).encode(fs, 0, 2)).to.deep.equal(encodeBatch('reply', fs, 0, 2));
  });

  it('a batch of one side is not one of the other', () => {
    const fs = [new Uint8Array([1])];
    expect(isBatch('reply', encodeBatch('request', fs, 0, 1))).to.equal(false);
    expect(isBatch('request', encodeBatch('reply', fs, 0, 1))).to.equal(false);
    expect(readBatch('reply', encodeBatch('request', fs, 0, 1), 10)).to.equal(null);
  });

  it('no request and no node frame of the protocol reads as a batch', () => {
    const reqId = fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER });
    const body = fc.oneof(
      fc.record({ op: fc.constant('get' as const), session: fc.uint8Array({ minLength: 16, maxLength: 16 }) }),
      fc.record({ op: fc.constant('list' as const), topic: fc.string({ maxLength: 20 }), limit: fc.nat(1000) }),
      fc.record({ op: fc.constant('status' as const), withDigest: fc.boolean() }),
    );
    fc.assert(
      fc.property(reqId, body, (r, b) => {
        const f = encodeRequest(b as RequestBody, r);
        expect(isBatch('request', f)).to.equal(false);
      }),
      { numRuns: 300 },
    );
    fc.assert(
      fc.property(reqId, fc.boolean(), fc.nat(), (r, ok, index) => {
        const f = encodeCommandResult(r, { ok, code: ok ? 'OK' : 'X', value: null, index, term: 1, duplicate: false });
        expect(isBatch('reply', f)).to.equal(false);
      }),
      { numRuns: 300 },
    );
    for (const batches of [false, true]) expect(isBatch('reply', encodeWelcome('c', 'n1', 1024, 8, batches))).to.equal(false);
  });

  it('never throws on mutated or truncated batches, and what it returns lies inside the message (2,000 cases)', () => {
    const mutation = fc.record({
      cut: fc.nat(),
      flips: fc.array(fc.record({ at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }), { maxLength: 4 }),
      countMax: fc.integer({ min: 1, max: 50 }),
    });
    fc.assert(
      fc.property(side, fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 8 }), mutation, (s, fs, m) => {
        const msg = Buffer.from(encodeBatch(s, fs, 0, fs.length));
        for (const f of m.flips) msg[f.at % msg.length] = f.value;
        const cut = msg.subarray(0, msg.length - (m.cut % (msg.length + 1)));
        const back = readBatch(s, cut, m.countMax);
        if (back === null) return;
        expect(back.length).to.be.within(1, m.countMax);
        let end = 0;
        for (const f of back) {
          expect(f.byteOffset - cut.byteOffset).to.be.at.least(end);
          end = f.byteOffset - cut.byteOffset + f.length;
        }
        expect(end).to.equal(cut.length);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on random bytes', () => {
    fc.assert(
      fc.property(side, fc.uint8Array({ maxLength: 64 }), fc.integer({ min: 1, max: 10 }), (s, b, countMax) => {
        const back = readBatch(s, b, countMax);
        if (back !== null) expect(back.length).to.be.within(1, countMax);
      }),
      { numRuns: 2000 },
    );
    // Heads a batch never has: indefinite, 8-byte, a text string where a frame should be.
    expect(readBatch('reply', new Uint8Array([0x9f, 0x01, 0x06, 0x40, 0xff]), 10)).to.equal(null);
    expect(readBatch('reply', new Uint8Array([0x9b, 0, 0, 0, 0, 0, 0, 0, 3, 0x01, 0x06, 0x40]), 10)).to.equal(null);
    expect(readBatch('reply', new Uint8Array([0x83, 0x01, 0x06, 0x60]), 10)).to.equal(null);
    expect(readBatch('reply', new Uint8Array([0x83, 0x01, 0x06, 0x40, 0x00]), 10)).to.equal(null);
    expect(readBatch('reply', new Uint8Array([0x82, 0x01, 0x06]), 10)).to.equal(null); // no frame
    expect(readBatch('request', new Uint8Array([0x84, 0x01, 0x00, 0x18, 0x1b, 0x41]), 10)).to.equal(null); // length past the end
  });

  it('reads what a client asks for in its URL, and nothing else', () => {
    expect(batchBytesAsked('/?batch=8388608')).to.equal(8_388_608);
    expect(batchBytesAsked(`/?x=1&batch=${BATCH_BYTES_MIN}`)).to.equal(BATCH_BYTES_MIN);
    for (const url of [
      undefined,
      '/',
      '/?batch',
      '/?batch=',
      '/?batch=0',
      '/?batch=012',
      '/?batch=1e6',
      '/?batch=-5',
      `/?batch=${BATCH_BYTES_MIN - 1}`,
      '/?batches=4096',
      `/?batch=4096&${'x'.repeat(300)}`,
    ]) {
      expect(batchBytesAsked(url), String(url)).to.equal(0);
    }
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (url) => {
        const n = batchBytesAsked(url);
        expect(n === 0 || (Number.isSafeInteger(n) && n >= BATCH_BYTES_MIN)).to.equal(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('the welcome says batches with a seventh item only when asked; six items read as none', () => {
    const six = decodeServerFrame(encodeWelcome('c', 'n1', 1024, 8));
    const seven = decodeServerFrame(encodeWelcome('c', 'n1', 1024, 8, true));
    expect(six).to.include({ kind: 'welcome', batches: false });
    expect(seven).to.include({ kind: 'welcome', batches: true, requestBytesMax: 1024, inflightMax: 8 });
  });
});
