/**
 * The client protocol's acks op (2026-12-05), `[1, reqId, 26, subId, remove, restoreId, delivery,
 * [session,] ...]`: 1..ACKS_PER_REQUEST_MAX acks of one consumer in one request, all with their
 * sessions (remove on ack) or none; answered with one code per ack. Round trips, and anything else
 * in that shape is CLIENT_ERR_MALFORMED (the decoder at the edge never throws anything else).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { ClientError } from '../../transport/client/errors.js';
import {
  ACKS_PER_REQUEST_MAX,
  decodeRequest,
  decodeServerFrame,
  encodeRequest,
  encodeResult,
  parseAcksReply,
  type Request,
} from '../../transport/client/protocol.js';

const OP_ACKS = 26;
const enc = new Encoder({ useRecords: false, tagUint8Array: false } as never);

const id = fc.uint8Array({ minLength: 16, maxLength: 16 });
const delivery = fc.integer({ min: 0, max: 0xffffffff });

const acksArb = fc.boolean().chain((remove) =>
  fc.record({
    op: fc.constant('acks' as const),
    reqId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    subId: fc.nat(),
    acks: fc.array(remove ? fc.record({ restoreId: id, delivery, remove: id }) : fc.record({ restoreId: id, delivery }), {
      minLength: 1,
      maxLength: 40,
    }),
  }),
);

describe('client protocol: the acks op (acks of one consumer in one request)', () => {
  it('round-trips, with and without the sessions (500 cases)', () => {
    fc.assert(
      fc.property(acksArb, (r) => {
        const back = decodeRequest(encodeRequest(r as Request));
        expect(back).to.deep.equal(r);
      }),
      { numRuns: 500 },
    );
  });

  it('carries ACKS_PER_REQUEST_MAX acks at most, at least one', () => {
    const ack = { restoreId: new Uint8Array(16).fill(1), delivery: 1 };
    const full = { op: 'acks', reqId: 1, subId: 1, acks: new Array(ACKS_PER_REQUEST_MAX).fill(ack) } as Request;
    expect((decodeRequest(encodeRequest(full)) as Extract<Request, { op: 'acks' }>).acks).to.have.length(ACKS_PER_REQUEST_MAX);
    for (const n of [0, ACKS_PER_REQUEST_MAX + 1]) {
      const bytes = encodeRequest({ op: 'acks', reqId: 1, subId: 1, acks: new Array(n).fill(ack) } as Request);
      expect(() => decodeRequest(bytes), `${n} acks`).to.throw(ClientError, /1\.\.256 acks/);
    }
  });

  it('a full request with sessions and the largest numbers fits the bound the client cuts batches by (client.ts: 32 + 45 bytes an ack)', () => {
    const ack = { restoreId: new Uint8Array(16).fill(0xff), delivery: 0xffffffff, remove: new Uint8Array(16).fill(0xee) };
    const r = { op: 'acks', reqId: Number.MAX_SAFE_INTEGER, subId: Number.MAX_SAFE_INTEGER, acks: new Array(ACKS_PER_REQUEST_MAX).fill(ack) } as Request;
    expect(encodeRequest(r).length).to.be.at.most(32 + ACKS_PER_REQUEST_MAX * 45);
  });

  it('the encoder refuses a request that mixes acks with and without sessions', () => {
    const a = { restoreId: new Uint8Array(16), delivery: 1 };
    expect(() => encodeRequest({ op: 'acks', reqId: 1, subId: 1, acks: [a, { ...a, remove: new Uint8Array(16) }] } as Request)).to.throw(RangeError);
  });

  it('any other fields after op 26 are CLIENT_ERR_MALFORMED, never another exception (3,000 cases)', () => {
    const field = fc.oneof(
      fc.nat(3),
      fc.integer({ min: -3, max: 3 }),
      fc.string({ maxLength: 4 }),
      fc.uint8Array({ minLength: 15, maxLength: 17 }),
      fc.boolean(),
      fc.double(),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.array(field, { maxLength: 9 }), (reqId, rest) => {
        let bytes: Uint8Array;
        try {
          bytes = enc.encode([1, reqId, OP_ACKS, ...rest]) as Uint8Array;
        } catch {
          return;
        }
        try {
          const r = decodeRequest(bytes);
          // Accepted only in the exact shape: subId, remove, then whole (restoreId, delivery[, session]) groups.
          expect(r.op).to.equal('acks');
          expect(rest[0]).to.be.a('number');
          expect(rest[1]).to.be.a('boolean');
          const stride = rest[1] === true ? 3 : 2;
          expect((rest.length - 2) % stride).to.equal(0);
          expect(rest.length - 2).to.be.at.least(stride);
          for (let i = 2; i < rest.length; i += stride) {
            expect(rest[i]).to.be.instanceOf(Uint8Array).with.length(16);
            expect(Number.isSafeInteger(rest[i + 1]) && (rest[i + 1] as number) >= 0).to.equal(true);
            if (stride === 3)
              expect(rest[i + 2])
                .to.be.instanceOf(Uint8Array)
                .with.length(16);
          }
        } catch (err) {
          if (!(err instanceof ClientError)) throw err;
          expect(err.code).to.equal('CLIENT_ERR_MALFORMED');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('the answer is a status and a code per ack, in order; a count that does not match is CLIENT_ERR_MALFORMED', () => {
    const frame = decodeServerFrame(encodeResult(7, [1, 'OK', 2, 'CLIENT_ERR_UNKNOWN_OUTCOME', 0, 'GROUP_ERR_DELIVERY_STALE']));
    expect(frame.kind).to.equal('result');
    const body = (frame as { body: readonly unknown[] }).body;
    expect(parseAcksReply(body, 3)).to.deep.equal([
      { applied: true, ok: true, code: 'OK' },
      { applied: false, code: 'CLIENT_ERR_UNKNOWN_OUTCOME' },
      { applied: true, ok: false, code: 'GROUP_ERR_DELIVERY_STALE' },
    ]);
    expect(() => parseAcksReply(body, 2)).to.throw(ClientError, /acks result/);
    expect(() => parseAcksReply([1, 'OK', 3, 'OK'], 2)).to.throw(ClientError, /status/);
    expect(() => parseAcksReply([1, 'OK', true, 'OK'], 2)).to.throw(ClientError, /status/);
    expect(() => parseAcksReply([1, 'OK', 0, 3], 2)).to.throw(ClientError, /code/);
  });
});
