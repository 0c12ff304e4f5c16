/**
 * The client protocol's deadLetter op (issue 16: replay or delete a consumer group's dead letter),
 * `[1, reqId, 23, action, topic, group, restoreId]`: round trips, and anything else in that shape
 * is CLIENT_ERR_MALFORMED (the decoder at the edge never throws anything else).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { ClientError } from '../../transport/client/errors.js';
import { decodeRequest, encodeRequest, type Request } from '../../transport/client/protocol.js';

const OP_DEAD_LETTER = 23;
const enc = new Encoder({ useRecords: false, tagUint8Array: false } as never);

const deadLetterArb = fc.record({
  op: fc.constant('deadLetter' as const),
  reqId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  action: fc.constantFrom('replay' as const, 'delete' as const),
  topic: fc.string({ maxLength: 40 }),
  group: fc.string({ maxLength: 40 }),
  restoreId: fc.uint8Array({ minLength: 16, maxLength: 16 }),
});

function plain(v: unknown): unknown {
  if (v instanceof Uint8Array) return Array.from(v);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

describe('client protocol: the deadLetter op (issue 16)', () => {
  it('round-trips (1,000 cases)', () => {
    fc.assert(
      fc.property(deadLetterArb, (r) => {
        expect(plain(decodeRequest(encodeRequest(r as Request)))).to.deep.equal(plain(r));
      }),
      { numRuns: 1000 },
    );
  });

  it('any other fields after op 23 are CLIENT_ERR_MALFORMED, never another exception (3,000 cases)', () => {
    const field = fc.oneof(
      fc.nat(5),
      fc.integer({ min: -3, max: 3 }),
      fc.string({ maxLength: 8 }),
      fc.uint8Array({ maxLength: 20 }),
      fc.boolean(),
      fc.double(),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.array(field, { maxLength: 7 }), (reqId, rest) => {
        let bytes: Uint8Array;
        try {
          bytes = enc.encode([1, reqId, OP_DEAD_LETTER, ...rest]) as Uint8Array;
        } catch {
          return;
        }
        try {
          const r = decodeRequest(bytes);
          // Accepted only in the exact shape: action 0|1, two texts, a 16-byte ID.
          expect(r.op).to.equal('deadLetter');
          expect(rest).to.have.length(4);
          expect([0, 1]).to.include(rest[0]);
          expect(rest[3]).to.be.instanceOf(Uint8Array).with.length(16);
        } catch (err) {
          if (!(err instanceof ClientError)) throw err;
          expect(err.code).to.equal('CLIENT_ERR_MALFORMED');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses an unknown action, a short restore ID and a missing field with CLIENT_ERR_MALFORMED', () => {
    const id = new Uint8Array(16).fill(7);
    for (const bad of [
      [1, 5, OP_DEAD_LETTER, 2, 't', 'g', id],
      [1, 5, OP_DEAD_LETTER, 0, 't', 'g', id.subarray(0, 15)],
      [1, 5, OP_DEAD_LETTER, 1, 't', 'g'],
    ]) {
      expect(() => decodeRequest(enc.encode(bad) as Uint8Array)).to.throw(ClientError, 'CLIENT_ERR_MALFORMED');
    }
    expect(decodeRequest(enc.encode([1, 5, OP_DEAD_LETTER, 1, 't', 'g', id]) as Uint8Array)).to.deep.include({
      op: 'deadLetter',
      action: 'delete',
      topic: 't',
      group: 'g',
    });
  });
});
