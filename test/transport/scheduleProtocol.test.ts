/**
 * The client protocol's schedule op (issue 20: create a session with one record and store it, in
 * one request), `[1, reqId, 24, client, secret, seq, acked, topic, bytes, mode, value]`: round
 * trips, and anything else after op 24 is CLIENT_ERR_MALFORMED (the decoder at the edge never
 * throws anything else).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { ClientError } from '../../transport/client/errors.js';
import { decodeRequest, encodeRequest, type Request } from '../../transport/client/protocol.js';

const OP_SCHEDULE = 24;
const enc = new Encoder({ useRecords: false, tagUint8Array: false } as never);
const id = (b: number): Uint8Array => new Uint8Array(16).fill(b);

function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

describe('client protocol: the schedule op (issue 20)', () => {
  it('any fields after op 24 decode to a schedule only in its exact shape, else CLIENT_ERR_MALFORMED, never another exception (3,000 cases)', () => {
    const field = fc.oneof(
      fc.nat(5),
      fc.constant(2 ** 53 - 2),
      fc.integer({ min: -3, max: 3 }),
      fc.string({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 20 }),
      fc.constant(id(1)),
      fc.boolean(),
      fc.double(),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.array(field, { maxLength: 10 }), (reqId, rest) => {
        let bytes: Uint8Array;
        try {
          bytes = enc.encode([1, reqId, OP_SCHEDULE, ...rest]) as Uint8Array;
        } catch {
          return;
        }
        try {
          const r = decodeRequest(bytes);
          expect(r.op).to.equal('schedule');
          expect(rest).to.have.length(8);
          if (r.op !== 'schedule') return;
          expect([0, 1]).to.include(rest[6]);
          expect(r.bytes).to.be.instanceOf(Uint8Array);
          if (r.envelope !== null) expect(Number.isSafeInteger(r.envelope.seq + 2)).to.equal(true);
        } catch (err) {
          if (!(err instanceof ClientError)) throw err;
          expect(err.code).to.equal('CLIENT_ERR_MALFORMED');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips with and without an envelope, by class and by delay', () => {
    const env = { client: id(1), secret: id(2), seq: 7, ackedBelowSeq: 4 };
    for (const r of [
      { op: 'schedule', reqId: 3, envelope: env, topic: 'orders', bytes: new Uint8Array([1, 2, 3]), replay: { mode: 'class', value: 1 } },
      { op: 'schedule', reqId: 4, envelope: null, topic: 'o', bytes: new Uint8Array(0), replay: { mode: 'delayMs', value: 10_000 } },
    ] as Request[]) {
      expect(plain(decodeRequest(encodeRequest(r)))).to.deep.equal(plain(r));
    }
  });

  it('refuses a replay mode above 1, a missing field, an empty or short secret with a client, and a seq whose seq + 2 is not safe', () => {
    const bytes = new Uint8Array([9]);
    for (const bad of [
      [1, 5, OP_SCHEDULE, id(1), id(2), 1, 0, 't', bytes, 2, 0],
      [1, 5, OP_SCHEDULE, id(1), id(2), 1, 0, 't', bytes, 0],
      [1, 5, OP_SCHEDULE, id(1), new Uint8Array(0), 1, 0, 't', bytes, 0, 0],
      [1, 5, OP_SCHEDULE, id(1), id(2), 2 ** 53 - 2, 0, 't', bytes, 0, 0],
    ]) {
      expect(() => decodeRequest(enc.encode(bad) as Uint8Array), JSON.stringify(bad.slice(3, 7).map((x) => (x instanceof Uint8Array ? x.length : x)))).to.throw(
        ClientError,
        'CLIENT_ERR_MALFORMED',
      );
    }
    expect(decodeRequest(enc.encode([1, 5, OP_SCHEDULE, id(1), id(2), 2 ** 53 - 3, 0, 't', bytes, 1, 250]) as Uint8Array)).to.deep.include({
      op: 'schedule',
      topic: 't',
      replay: { mode: 'delayMs', value: 250 },
    });
  });
});
