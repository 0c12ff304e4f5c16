import { expect } from 'chai';
import { Cluster, cmd, ents, PureNode } from './harness.js';

describe('regressions: bugs found by review of the machines (each failed before its fix)', () => {
  it('B1: a node that may not campaign (damaged storage, or a learner) ignores a TimeoutNow of a newer term', () => {
    for (const opts of [
      { term: 1, corrupt: true, repairThroughIndex: 5 },
      { term: 1, voters: ['n1', 'n2', 'n3'], learners: ['n4'] },
    ]) {
      const id = opts.learners ? 'n4' : 'n2';
      const n = new PureNode(id, opts);
      const fx = n.step({ type: 'rpc.timeoutNow', msg: { type: 'timeoutNow', from: 'n1', to: id, term: 2 } });
      expect(n.role, id).to.equal('follower');
      // Issue 14: a TimeoutNow never changes the term (was: adopted term 2). Only the leader of the
      // current term may send one, and a leader sends it in the target's term.
      expect(n.term).to.equal(1);
      expect(fx.msgs).to.deep.equal([]);
      expect(fx.persist).to.deep.equal([]);
    }
  });

  it('B2: a leader deposed by check-quorum forgets it led: answers a newer-term RequestVote and hints no leader', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.run(2);
    for (let t = 0; t < 30 && c.n('n1').role === 'leader'; t++) c.run(1, (m) => m.from === 'n1' || m.to === 'n1');
    const n1 = c.n('n1');
    expect(n1.role).to.equal('follower');
    expect(n1.ctx.leader).to.equal(null);
    const vote = n1.step({
      type: 'rpc.vote',
      msg: { type: 'vote', from: 'n2', to: 'n1', term: 2, lastIndex: 1, lastTerm: 1, preVote: false, transfer: false },
    });
    expect(vote.msgs).to.deep.equal(['n1->n2 voteResp t2 granted (after durable)']);
    expect(n1.propose(1, [cmd()]).proposalRefused).to.deep.equal([{ tag: 1, code: 'not-leader', leader: null }]);
  });

  it('B3: a candidate whose election times out runs pre-vote again (a cut-off node does not raise its term)', () => {
    const n3 = new PureNode('n3', { term: 1 });
    n3.tick(15);
    n3.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n2', to: 'n3', term: 2, granted: true, preVote: true } });
    expect(n3.role).to.equal('candidate');
    expect(n3.term).to.equal(2);
    n3.tick(100); // its vote requests are lost: it is cut off
    expect(n3.term).to.equal(2);
    expect(n3.history.writes.filter((w) => w.startsWith('hardState'))).to.deep.equal(['hardState(term 2, vote n3)']);
  });

  it('B4: only the campaign that answers TimeoutNow is a transfer campaign; its retry respects leases', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.run(2);
    c.n('n1').step({ type: 'admin.transfer', to: 'n2' });
    c.deliver();
    expect(c.n('n2').history.msgs.slice(-1)).to.deep.equal(['n2->n3 vote t2 transfer last 1@1 (after durable)']);
    c.drop(() => true); // the transfer election is lost
    const retry = c.n('n2').tick(20);
    expect(retry.messages.filter((m) => m.type === 'vote' && m.transfer)).to.deep.equal([]);
  });

  it('B5: the leader never holds more than uncommittedBytesMax uncommitted entry bytes (past the first batch)', () => {
    const c = new Cluster(['n1', 'n2', 'n3'], { config: { uncommittedBytesMax: 200 } });
    c.elect('n1');
    c.run(2);
    c.drop(() => true);
    const n1 = c.n('n1');
    for (const bytes of [150, 1, 1, 1]) {
      const fx = n1.propose(bytes, [cmd(bytes)]);
      expect(n1.core.leader!.uncommittedBytes, `after proposing ${bytes} bytes (${fx.proposalAccepted.length ? 'accepted' : 'refused'})`).to.be.at.most(200);
    }
  });

  it('B6 (found by the simulator, seed 232 --sessions): a follower that adopts a newer term from a RequestVote it rejects keeps its election timer', () => {
    // Without pre-vote, a candidate with a stale log campaigned every election timeout and every
    // up-to-date follower re-entered follower on its newer term, resetting its timer: the only
    // nodes that could win never timed out. Figure 2: only the leader or a granted vote resets it.
    const n1 = new PureNode('n1', { term: 1, entries: ents(1, [1]), config: { preVote: false } });
    n1.tick(5);
    const elapsedBefore = n1.ctx.electionElapsedTicks;
    expect(elapsedBefore).to.equal(5);
    // (From a member: since issue 15 a non-member's vote request that would not be granted moves no term.)
    const fx = n1.step({ type: 'rpc.vote', msg: { type: 'vote', from: 'n3', to: 'n1', term: 7, lastIndex: 0, lastTerm: 0, preVote: false, transfer: false } });
    expect(n1.term).to.equal(7);
    expect(fx.msgs).to.deep.equal(['n1->n3 voteResp t7 rejected (after durable)']);
    expect(n1.ctx.electionElapsedTicks).to.equal(elapsedBefore);
    // A granted vote does reset it.
    n1.step({ type: 'rpc.vote', msg: { type: 'vote', from: 'n2', to: 'n1', term: 8, lastIndex: 1, lastTerm: 1, preVote: false, transfer: false } });
    expect(n1.ctx.vote).to.equal('n2');
    expect(n1.ctx.electionElapsedTicks).to.equal(0);
  });

  it('B7 (found building membership): an idle leader repairs a follower whose log went back (its heartbeat answer asks for it)', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.n('n1').propose(1, [cmd(), cmd()]);
    c.stabilize();
    // n2 comes back on a wiped disk; nothing new is proposed.
    c.restart('n2', { term: 1 });
    const lines = c.run(4);
    expect(lines).to.include('n2->n1 appendResp t1 reject 1 hint 0@0');
    expect(c.n('n2').log.lastIndex()).to.equal(c.n('n1').log.lastIndex());
  });
});
