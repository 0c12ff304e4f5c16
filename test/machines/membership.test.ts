/**
 * Rule 19 (dissertation 4.1, 4.2.3; seed 004): cluster membership changes, one server at a time,
 * with learners that never vote and count toward no quorum until promoted.
 */
import { expect } from 'chai';
import { decodeMembership, encodeMembership, applyChange } from '../../machines/membership.js';
import { EntryKind, type Membership } from '../../machines/types.js';
import { Cluster, cmd, ents, PureNode } from './harness.js';

function change(n: PureNode, tag: number, c: Parameters<typeof applyChange>[1]) {
  return n.step({ type: 'admin.membership', tag, change: c });
}

/** A 3-voter cluster with a learner n4 (configuration entry committed), n1 leading. */
function withLearner(): Cluster {
  const c = new Cluster(['n1', 'n2', 'n3', 'n4'], (id) => ({ voters: ['n1', 'n2', 'n3'], learners: id === 'n4' ? ['n4'] : [] }));
  // n4's own bootstrap knows it is a learner; the others learn it from the entry below.
  c.elect('n1');
  c.n('n1').propose(1, [cmd()]);
  c.stabilize();
  const fx = change(c.n('n1'), 7, { type: 'addLearner', node: 'n4' });
  expect(fx.proposalAccepted.map((p) => p.tag)).to.deep.equal([7]);
  c.stabilize();
  return c;
}

describe('Rule 19 (dissertation 4.1): membership changes, one server at a time', () => {
  it('a configuration round-trips its encoding, with member addresses', () => {
    const m: Membership = { voters: ['n1', 'n2'], learners: ['n3'], addresses: { n3: '127.0.0.1:7003:7103:7203' } };
    expect(decodeMembership(encodeMembership(m))).to.deep.equal(m);
    expect(() => decodeMembership(new Uint8Array([1, 0, 0, 0, 0]))).to.throw(/MEMBERSHIP_NO_VOTERS/);
  });

  it('a learner receives the log but never campaigns and counts toward no quorum', () => {
    const c = withLearner();
    const n1 = c.n('n1');
    expect(n1.core.membership).to.deep.equal({ voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    expect(c.n('n4').log.lastIndex()).to.equal(n1.log.lastIndex());
    expect(
      c
        .n('n4')
        .tick(100)
        .messages.filter((m) => m.type === 'vote'),
    ).to.deep.equal([]);
    expect(c.n('n4').role).to.equal('follower');
    // With n2 and n3 unreachable, n1 + the learner are not a quorum: nothing commits.
    const before = n1.ctx.commitIndex;
    n1.propose(2, [cmd()]);
    c.deliver((m) => m.to === 'n4' || m.from === 'n4');
    n1.sync();
    expect(n1.ctx.commitIndex).to.equal(before);
  });

  it('a learner grants a vote (as etcd: it may have been promoted without knowing it yet; issue 15), and a candidate counts only its voters', () => {
    const n4 = new PureNode('n4', { term: 1, voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    const fx = n4.step({ type: 'rpc.vote', msg: { type: 'vote', from: 'n2', to: 'n4', term: 2, lastIndex: 9, lastTerm: 9, preVote: false, transfer: false } });
    expect(fx.msgs).to.deep.equal(['n4->n2 voteResp t2 granted (after durable)']);
    // A candidate of a 3-voter configuration is not elected by itself and a learner.
    const n2 = new PureNode('n2', { term: 1, voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    n2.campaign();
    n2.sync();
    n2.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n4', to: 'n2', term: 2, granted: true, preVote: false } });
    expect(n2.role).to.equal('candidate');
  });

  it("a change waits for an entry of the leader's own term to be committed (the single-server fix)", () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.n('n1').campaign();
    // Only votes move: n1 leads, and its no-op is not committed yet.
    for (let k = 0; k < 10 && c.n('n1').role !== 'leader'; k++) {
      c.syncAll();
      c.deliver((m) => m.type === 'vote' || m.type === 'voteResp');
    }
    expect(c.n('n1').role).to.equal('leader');
    const fx = change(c.n('n1'), 1, { type: 'addLearner', node: 'n4' });
    expect(fx.proposalRefused.map((r) => r.code)).to.deep.equal(['config-change-too-early']);
  });

  it('one change at a time: a second one is refused until the first is committed', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    const n1 = c.n('n1');
    expect(change(n1, 1, { type: 'addLearner', node: 'n4' }).proposalAccepted).to.have.length(1);
    expect(change(n1, 2, { type: 'addLearner', node: 'n5' }).proposalRefused.map((r) => r.code)).to.deep.equal(['config-change-pending']);
    c.stabilize();
    expect(change(n1, 3, { type: 'addLearner', node: 'n5' }).proposalAccepted).to.have.length(1);
  });

  it('a configuration takes effect when appended (on the leader and on followers), before it commits', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    const n1 = c.n('n1');
    change(n1, 1, { type: 'addLearner', node: 'n4' });
    expect(n1.core.membership.learners).to.deep.equal(['n4']);
    expect(n1.progress('n4')).to.include({ state: 'probe' });
    c.deliver((m) => m.to === 'n2' && m.type === 'append');
    expect(c.n('n2').core.membership.learners).to.deep.equal(['n4']);
    expect(c.n('n2').ctx.commitIndex).to.be.lessThan(c.n('n2').log.lastConfigIndex());
  });

  it('an appended configuration is undone when its entry is truncated', () => {
    const cfg = encodeMembership({ voters: ['n1', 'n2', 'n3'], learners: ['n9'] });
    const n2 = new PureNode('n2', { term: 2, entries: [...ents(1, [1]), { index: 2, term: 1, kind: EntryKind.config, data: cfg }] });
    expect(n2.core.membership.learners).to.deep.equal(['n9']);
    n2.step({ type: 'rpc.append', msg: { type: 'append', from: 'n1', to: 'n2', term: 2, prevIndex: 1, prevTerm: 1, commit: 1, entries: ents(2, [2]) } });
    expect(n2.core.membership).to.deep.equal({ voters: ['n1', 'n2', 'n3'], learners: [] });
  });

  it('a learner is promoted only when caught up; then it votes and counts toward quorums', () => {
    const c = withLearner();
    const n1 = c.n('n1');
    // Far behind: refused.
    const lagging = new Cluster(['n1', 'n2', 'n3', 'n4'], (id) => ({
      voters: ['n1', 'n2', 'n3'],
      learners: id === 'n4' ? ['n4'] : [],
      config: { promoteLagEntriesMax: 0 },
    }));
    lagging.elect('n1');
    change(lagging.n('n1'), 1, { type: 'addLearner', node: 'n4' });
    lagging.stabilize();
    lagging.n('n1').propose(2, [cmd()]);
    lagging.deliver((m) => m.to !== 'n4');
    lagging.n('n1').sync();
    lagging.deliver((m) => m.to !== 'n4');
    const refused = change(lagging.n('n1'), 3, { type: 'promote', node: 'n4' });
    expect(refused.proposalRefused.map((r) => r.code)).to.deep.equal(['learner-behind']);
    // Caught up: promoted, and from then on a voter.
    expect(change(n1, 8, { type: 'promote', node: 'n4' }).proposalAccepted).to.have.length(1);
    c.stabilize();
    expect(n1.core.membership).to.deep.equal({ voters: ['n1', 'n2', 'n3', 'n4'], learners: [] });
    expect(c.n('n4').core.membership.voters).to.include('n4');
  });

  it('removing a voter shrinks the quorum; the leader never removes itself (it transfers first)', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    const n1 = c.n('n1');
    expect(change(n1, 1, { type: 'remove', node: 'n1' }).proposalRefused.map((r) => r.code)).to.deep.equal(['remove-leader']);
    expect(change(n1, 2, { type: 'remove', node: 'n3' }).proposalAccepted).to.have.length(1);
    c.stabilize();
    expect(n1.core.membership.voters).to.deep.equal(['n1', 'n2']);
    expect([...n1.core.leader!.progress.keys()]).to.deep.equal(['n2']);
  });

  it('an invalid change is refused with its reason', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    const fx = change(c.n('n1'), 1, { type: 'promote', node: 'n2' });
    // The broken rule travels as a code (no text to parse on the way out).
    expect(fx.proposalRefused.map((r) => [r.code, r.membershipCode, r.detail])).to.deep.equal([
      ['membership-invalid', 'MEMBERSHIP_ALREADY_VOTER', 'n2 is already a voter'],
    ]);
  });

  it('a node that lost its storage is barred from voting under its old identity until re-added as a learner and promoted', () => {
    // n3 restarts on an empty disk (no bootstrap): it may have voted before and lost the record.
    const barred = new PureNode('n3', { term: 0, votingBarred: true });
    expect(
      barred.step({ type: 'rpc.vote', msg: { type: 'vote', from: 'n1', to: 'n3', term: 5, lastIndex: 9, lastTerm: 5, preVote: false, transfer: false } }).msgs,
    ).to.deep.equal(['n3->n1 voteResp t5 rejected (after durable)']);
    expect(barred.tick(100).messages.filter((m) => m.type === 'vote')).to.deep.equal([]);
    // The cluster removed n3 and added it back as a learner: the bar lifts; promotion makes it vote.
    const asLearner = encodeMembership({ voters: ['n1', 'n2'], learners: ['n3'] });
    barred.step({
      type: 'rpc.append',
      msg: {
        type: 'append',
        from: 'n1',
        to: 'n3',
        term: 6,
        prevIndex: 0,
        prevTerm: 0,
        commit: 0,
        entries: [{ index: 1, term: 6, kind: EntryKind.config, data: asLearner }],
      },
    });
    expect(barred.ctx.votingBarred).to.equal(false);
    const promoted = encodeMembership({ voters: ['n1', 'n2', 'n3'], learners: [] });
    barred.step({
      type: 'rpc.append',
      msg: {
        type: 'append',
        from: 'n1',
        to: 'n3',
        term: 6,
        prevIndex: 1,
        prevTerm: 6,
        commit: 1,
        entries: [{ index: 2, term: 6, kind: EntryKind.config, data: promoted }],
      },
    });
    // (A transfer election, so that hearing from n1 a moment ago does not make it ignore the request.)
    expect(
      barred.step({ type: 'rpc.vote', msg: { type: 'vote', from: 'n2', to: 'n3', term: 7, lastIndex: 2, lastTerm: 6, preVote: false, transfer: true } }).msgs,
    ).to.deep.equal(['n3->n2 voteResp t7 granted (after durable)']);
  });

  it('replaying old history in which the node was once a learner does not lift the bar (only catching up does)', () => {
    const barred = new PureNode('n3', { term: 0, votingBarred: true });
    const asLearner = encodeMembership({ voters: ['n1', 'n2'], learners: ['n3'] });
    // The leader's commit index is far ahead: this batch is old history.
    barred.step({
      type: 'rpc.append',
      msg: {
        type: 'append',
        from: 'n1',
        to: 'n3',
        term: 6,
        prevIndex: 0,
        prevTerm: 0,
        commit: 50,
        entries: [{ index: 1, term: 6, kind: EntryKind.config, data: asLearner }],
      },
    });
    expect(barred.core.membership.learners).to.deep.equal(['n3']);
    expect(barred.ctx.votingBarred).to.equal(true);
  });

  it('the leader promotes a learner only once it holds the configuration that added it', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    const n1 = c.n('n1');
    change(n1, 1, { type: 'addLearner', node: 'n4' });
    c.stabilize(); // committed by n1-n3; n4 does not exist, so it holds nothing
    expect(n1.log.lastIndex() - 0).to.be.at.most(n1.core.config.promoteLagEntriesMax);
    expect(change(n1, 2, { type: 'promote', node: 'n4' }).proposalRefused.map((r) => r.code)).to.deep.equal(['learner-behind']);
  });
});
