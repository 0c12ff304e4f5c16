/**
 * Review of 2026-12-07 (membership): a change past the member limit.
 */
import { expect } from 'chai';
import { PureNode } from './harness.js';

describe('review 2026-12-07: a membership change past the member limit is refused, not thrown', () => {
  it('adding a 257th member answers membership-invalid / MEMBERSHIP_TOO_LARGE and the leader keeps leading', () => {
    const learners = Array.from({ length: 255 }, (_, k) => `l${k}`);
    const n1 = new PureNode('n1', { voters: ['n1'], learners, term: 1 });
    n1.campaign();
    n1.sync();
    expect(n1.role).to.equal('leader');
    expect(n1.ctx.commitIndex).to.equal(1);
    let refused: (string | undefined)[][] = [];
    expect(() => {
      refused = n1
        .step({ type: 'admin.membership', tag: 1, change: { type: 'addLearner', node: 'one-too-many' } })
        .proposalRefused.map((r) => [r.code, r.membershipCode]);
    }).not.to.throw();
    expect(refused).to.deep.equal([['membership-invalid', 'MEMBERSHIP_TOO_LARGE']]);
    expect(n1.status).to.equal('active');
    expect(n1.log.lastIndex()).to.equal(1);
    // A change within the limit still goes through.
    const fx = n1.step({ type: 'admin.membership', tag: 2, change: { type: 'remove', node: 'l0' } });
    expect(fx.proposalAccepted.map((a) => a.tag)).to.deep.equal([2]);
  });
});
