/**
 * Review of 2026-12-07 (peer input): the configuration a snapshot chunk carries reached Raft without
 * the checks a configuration entry gets (machines/membership.ts validateMembership: at least one
 * voter, no node twice, at most 256 members). The codec refused such a configuration as an entry
 * (TRANSPORT_ERR_SCHEMA) but accepted it in a snapshot's meta; now it refuses it there too.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import type { Membership, RaftMessage } from '../../machines/types.js';
import { decodeMessage, encodeMessage } from '../../transport/peer/codec.js';
import { TransportError } from '../../transport/wire/errors.js';

function snapshotWith(membership: Membership): RaftMessage {
  return {
    type: 'snapshot',
    from: 'n1',
    to: 'n2',
    term: 2,
    meta: { index: 9, term: 2, membership },
    offset: 0,
    totalBytes: 1,
    dataCrc: 0,
    data: new Uint8Array([1]),
    done: true,
  };
}

/** The decoded message, or the code of the TransportError (anything else is a failure). */
function decoded(m: RaftMessage): RaftMessage | string {
  try {
    return decodeMessage(encodeMessage(m));
  } catch (e) {
    if (e instanceof TransportError) return e.code;
    throw e;
  }
}

/** What a configuration entry may carry, written out independently of validateMembership. */
function acceptable(m: Membership): boolean {
  const all = [...m.voters, ...m.learners];
  return m.voters.length > 0 && all.length <= 256 && new Set(all).size === all.length;
}

describe('review 2026-12-07: a snapshot meta membership from a peer is validated like a configuration entry', () => {
  it('the codec refuses a snapshot membership that no configuration entry may carry', () => {
    const dup = { voters: ['n1', 'n2', 'n2'], learners: [] };
    const none = { voters: [], learners: ['n2'] };
    const both = { voters: ['n1', 'n2'], learners: ['n2'] };
    const learnerTwice = { voters: ['n1'], learners: ['n2', 'n2'] };
    const many = { voters: ['n1', 'n2'], learners: Array.from({ length: 300 }, (_, k) => `l${k}`) };
    const justOver = { voters: ['n1'], learners: Array.from({ length: 256 }, (_, k) => `l${k}`) };
    expect([dup, none, both, learnerTwice, many, justOver].map((m) => decoded(snapshotWith(m)))).to.deep.equal(Array(6).fill('TRANSPORT_ERR_SCHEMA'));
  });

  it('at the limit (256 members), with addresses, a snapshot membership decodes as sent', () => {
    const m: Membership = {
      voters: ['n1', 'n2', 'n3'],
      learners: Array.from({ length: 253 }, (_, k) => `l${k}`),
      addresses: { n1: '10.0.0.1:7001:7101:7201', l0: '[::1]:7002:7102:7202' },
    };
    const got = decoded(snapshotWith(m));
    expect(typeof got).to.not.equal('string', String(got));
    expect((got as Extract<RaftMessage, { type: 'snapshot' }>).meta.membership).to.deep.equal(m);
  });

  it('property: any snapshot membership decodes to the same, valid one, or fails with TRANSPORT_ERR_SCHEMA', () => {
    // Few IDs (so that duplicates and a node on both sides are common), padded near the member limit.
    const small = fc.constantFrom('n1', 'n2', 'n3', 'n4', 'n5');
    const arb = fc.record({
      voters: fc.array(small, { maxLength: 5 }),
      learners: fc.array(small, { maxLength: 4 }),
      padding: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 8 }), fc.integer({ min: 244, max: 260 })),
      padVoters: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, ({ voters, learners, padding, padVoters }) => {
        const pad = Array.from({ length: padding }, (_, k) => `p${k}`);
        const m: Membership = padVoters ? { voters: [...voters, ...pad], learners } : { voters, learners: [...learners, ...pad] };
        const got = decoded(snapshotWith(m));
        if (acceptable(m)) {
          expect(typeof got, `${JSON.stringify(m).slice(0, 200)}: ${String(got)}`).to.equal('object');
          expect((got as Extract<RaftMessage, { type: 'snapshot' }>).meta.membership).to.deep.equal(m);
        } else {
          expect(got, JSON.stringify(m).slice(0, 200)).to.equal('TRANSPORT_ERR_SCHEMA');
        }
      }),
      { numRuns: 500 },
    );
  });
});
