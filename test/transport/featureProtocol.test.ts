/**
 * The client protocol's feature op (feature flags), `[1, reqId, 25, action, name]`: action 0 lists
 * (name ''), 1 enables a flag by name (a short token; the node checks it against the flags it
 * knows). Round trips, and anything else in that shape is CLIENT_ERR_MALFORMED (the decoder at the
 * edge never throws anything else).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Encoder } from 'cbor-x';
import { ClientError } from '../../transport/client/errors.js';
import { featureBits, featureList, featureView } from '../../transport/client/features.js';
import { decodeRequest, encodeRequest, type Request } from '../../transport/client/protocol.js';
import { FEATURES, FEATURES_KNOWN } from '../../transport/commands/codec.js';
import { ALL_FEATURE_NAMES } from '../support/featureNames.js';

const OP_FEATURE = 25;
const enc = new Encoder({ useRecords: false, tagUint8Array: false } as never);

const featureArb = fc.oneof(
  fc.record({
    op: fc.constant('feature' as const),
    reqId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    action: fc.constant('list' as const),
    name: fc.constant(''),
  }),
  fc.record({
    op: fc.constant('feature' as const),
    reqId: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    action: fc.constant('enable' as const),
    name: fc.stringMatching(/^[a-z][a-z0-9-]{0,63}$/),
  }),
);

describe('client protocol: the feature op (feature flags)', () => {
  it('round-trips (1,000 cases)', () => {
    fc.assert(
      fc.property(featureArb, (r) => {
        expect(decodeRequest(encodeRequest(r as Request))).to.deep.equal(r);
      }),
      { numRuns: 1000 },
    );
  });

  it('any other fields after op 25 are CLIENT_ERR_MALFORMED, never another exception (3,000 cases)', () => {
    const field = fc.oneof(
      fc.nat(3),
      fc.integer({ min: -3, max: 3 }),
      fc.string({ maxLength: 8 }),
      fc.constantFrom('', 'all', 'restore-ahead', 'Remove', '-x', 'a b'),
      fc.uint8Array({ maxLength: 20 }),
      fc.boolean(),
      fc.double(),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.array(field, { maxLength: 4 }), (reqId, rest) => {
        let bytes: Uint8Array;
        try {
          bytes = enc.encode([1, reqId, OP_FEATURE, ...rest]) as Uint8Array;
        } catch {
          return;
        }
        try {
          const r = decodeRequest(bytes);
          // Accepted only in the exact shape: list with '', or enable with a token.
          expect(r.op).to.equal('feature');
          expect(rest).to.have.length(2);
          if (rest[0] === 0) expect(rest[1]).to.equal('');
          else {
            expect(rest[0]).to.equal(1);
            expect(rest[1]).to.match(/^[a-z][a-z0-9-]{0,63}$/);
          }
        } catch (err) {
          if (!(err instanceof ClientError)) throw err;
          expect(err.code).to.equal('CLIENT_ERR_MALFORMED');
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('names map to the codec bits both ways; all is every flag; an unknown name is none', () => {
    expect(featureBits('restore-ahead')).to.equal(FEATURES.restoreAhead);
    expect(featureBits('remove-on-ack')).to.equal(FEATURES.removeOnAck);
    expect(featureBits('all')).to.equal(FEATURES_KNOWN);
    expect(featureBits('warp-drive')).to.equal(null);
    expect(featureBits('due-floor-per-file')).to.equal(FEATURES.dueFloorPerFile);
    expect(featureList(FEATURES_KNOWN)).to.deep.equal(ALL_FEATURE_NAMES);
    expect(featureView(FEATURES.removeOnAck)).to.deep.equal({
      supported: ALL_FEATURE_NAMES,
      enabled: ['remove-on-ack'],
    });
  });
});
