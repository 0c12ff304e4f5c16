import { expect } from 'chai';
import fc from 'fast-check';
import { committedIndex, quorumSize } from '../../machines/quorum.js';

describe('machines: quorum arithmetic', () => {
  it('committedIndex is the quorum-th largest match index, whatever the order, and reuses its scratch array', () => {
    fc.assert(
      fc.property(fc.array(fc.nat({ max: 1_000 }), { minLength: 1, maxLength: 9 }), (matches) => {
        const voters = matches.map((_, k) => `n${k}`);
        const scratch = [7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7];
        const got = committedIndex(voters, (id) => matches[Number(id.slice(1))]!, scratch);
        const sorted = [...matches].sort((a, b) => b - a);
        expect(got).to.equal(sorted[quorumSize(matches.length) - 1]);
        expect(scratch).to.deep.equal(sorted);
      }),
      { numRuns: 500 },
    );
    expect(committedIndex([], () => 5, [])).to.equal(0);
  });
});
