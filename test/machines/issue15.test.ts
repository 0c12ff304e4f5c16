/**
 * Issue 15: the five findings of the review of the Raft core, each as a regression test that
 * failed on the code before the fix (finding 4, in the node actor, is in test/sim/issue15.test.ts;
 * the durable side of finding 2 is in test/storage/termUnknown.test.ts).
 */
import { expect } from 'chai';
import type { RaftMessage, VoteRequest } from '../../machines/types.js';
import { Cluster, cmd, ents, PureNode } from './harness.js';
import { answersNeeded } from '../../machines/termFloor.js';

/** Sync and deliver until quiet, dropping what `lost` selects. */
function settle(c: Cluster, lost: (m: RaftMessage) => boolean): void {
  for (let round = 0; round < 100; round++) {
    c.syncAll();
    c.drop(lost);
    if (c.deliver().length === 0) return;
  }
  throw new Error('not quiet');
}

const vote = (from: string, to: string, term: number, lastIndex: number, lastTerm: number): VoteRequest => ({
  type: 'vote',
  from,
  to,
  term,
  lastIndex,
  lastTerm,
  preVote: false,
  transfer: false,
});

describe('issue 15: the review of the Raft core (each failed before its fix)', () => {
  it('finding 1: a node that lost its hard state does not acknowledge a stale leader (A commits X with {A, C} after C voted for B)', () => {
    const c = new Cluster(['n1', 'n2', 'n3'], { config: { checkQuorum: false } });
    c.elect('n1');
    c.run(2);
    // n1 (A) is cut off; n2 (B) wins term 2 with n3's (C's) vote; B's entries never reach C.
    const cutA = (m: RaftMessage): boolean => m.from === 'n1' || m.to === 'n1';
    c.run(11, cutA); // out of n1's lease
    c.n('n2').campaign();
    settle(c, (m) => cutA(m) || (m.from === 'n2' && (m.type === 'append' || m.type === 'heartbeat')));
    expect(c.n('n2').role).to.equal('leader');
    expect(c.n('n2').term).to.equal(2);
    expect(c.n('n3').ctx.vote).to.equal('n2');
    // C crashes; its hard state is damaged: recovery gives the last log term and no vote.
    const n3 = c.restart('n3', { entries: c.n('n3').log.range(1, c.n('n3').log.lastIndex()), term: 1, vote: null, termUnknown: true });
    expect(n3.term).to.equal(1);
    // A (term 1) proposes X; only A and C talk.
    c.n('n1').propose(1, [cmd(1)]);
    const onlyAC = (m: RaftMessage): boolean => !((m.from === 'n1' && m.to === 'n3') || (m.from === 'n3' && m.to === 'n1'));
    for (let t = 0; t < 30; t++) {
      for (const n of c.nodes.values()) if (n.id !== 'n2') n.tick();
      settle(c, onlyAC);
    }
    expect(c.n('n3').history.msgs.filter((l) => /^n3->n1 appendResp t1 ok [2-9]/.test(l))).to.deep.equal([]);
    expect(c.n('n1').ctx.commitIndex, 'A committed X with a node that voted in term 2').to.be.lessThan(2);
  });

  it('finding 2: with a damaged log as well, the node does not vote again in a term it may have voted in once the log is re-replicated', () => {
    // n3 voted for n2 in term 3, then lost its hard state and the tail of its log.
    const n3 = new PureNode('n3', { entries: ents(1, [1]), term: 1, corrupt: true, repairThroughIndex: 2, termUnknown: true });
    // Leader n2 of term 3 repairs the log.
    for (let k = 0; k < 3; k++) {
      n3.receive({ type: 'append', from: 'n2', to: 'n3', term: 3, prevIndex: 1, prevTerm: 1, commit: 2, entries: ents(2, [3]) });
      n3.sync();
    }
    // n1 asks for its vote in term 3: n3 cannot tell whether it voted in term 3.
    const fx = n3.receive(vote('n1', 'n3', 3, 5, 3));
    n3.sync();
    expect(n3.history.msgs.filter((l) => l.includes('voteResp') && l.includes('granted'))).to.deep.equal([]);
    expect(fx.msgs.filter((l) => l.includes('granted'))).to.deep.equal([]);
  });

  it('a node of unknown terms in a two-voter configuration learns its floor from the other voter (simulator, --membership seed 30)', () => {
    // n1 rejoined and lost its terms again; its log's configuration is {n1, n2}. Before the fix it
    // waited for two answers from its one other voter, and stayed silent for ever.
    const n1 = new PureNode('n1', { voters: ['n1', 'n2'], entries: ents(1, [1, 1]), term: 1, termUnknown: true });
    const fx = n1.receive({ type: 'heartbeat', from: 'n2', to: 'n1', term: 9, commit: 2, readCtx: 0 });
    expect(n1.ctx.termUnknown).to.equal(false);
    expect(n1.term).to.equal(9);
    expect(n1.ctx.vote).to.equal('n1');
    expect(fx.writes).to.deep.equal(['hardState(term 9, vote n1)']);
    // Three voters still need both others; five need three of the four.
    const three = new PureNode('n1', { entries: ents(1, [1]), term: 1, termUnknown: true });
    three.receive({ type: 'heartbeat', from: 'n2', to: 'n1', term: 9, commit: 1, readCtx: 0 });
    expect(three.ctx.termUnknown).to.equal(true);
    expect(answersNeeded(new PureNode('n1', { voters: ['n1', 'n2', 'n3', 'n4', 'n5'] }).core)).to.equal(3);
    expect(answersNeeded(new PureNode('n1', { voters: ['n1'] }).core), 'a sole voter cannot learn').to.equal(1);
    expect(answersNeeded(new PureNode('n9', { voters: ['n1', 'n2'] }).core), 'a non-member: a majority').to.equal(2);
  });

  it('finding 3: a learner (promoted, without knowing it yet) grants votes; it never campaigns', () => {
    const n4 = new PureNode('n4', { voters: ['n1', 'n2', 'n3'], learners: ['n4'], entries: ents(1, [1]), term: 1 });
    n4.receive(vote('n2', 'n4', 2, 1, 1));
    n4.sync();
    expect(n4.history.msgs).to.include('n4->n2 voteResp t2 granted (after durable)');
    n4.tick(100);
    expect(n4.role).to.equal('follower');
    expect(n4.history.msgs.filter((l) => l.includes(' vote '))).to.deep.equal([]);
  });

  it('a removed node never moves the term of a member that holds its removal; a voter it does not know yet still gets its vote (simulator, --membership)', () => {
    // n1's configuration no longer holds n4 (its removal is in n1's log); n4 missed it and campaigns.
    const n1 = new PureNode('n1', { voters: ['n1', 'n2', 'n3'], entries: ents(1, [1, 1, 2]), term: 2 });
    n1.tick(20); // out of any lease
    n1.receive(vote('n4', 'n1', 7, 2, 1));
    n1.sync();
    expect(n1.term, 'the removed node moved the term').to.equal(2);
    expect(n1.history.msgs).to.include('n1->n4 voteResp t2 rejected non-member');
    // A voter of a newer configuration than n1's (finding 4), with a log at least as up to date.
    n1.receive(vote('n5', 'n1', 7, 3, 2));
    n1.sync();
    expect(n1.term).to.equal(7);
    expect(n1.history.msgs).to.include('n1->n5 voteResp t7 granted (after durable)');
  });

  it('a removed node refused as a non-member campaigns with a pre-vote from then on, raising no term it cannot win (simulator seed 60264, pre-vote off)', () => {
    // n1 holds n4's removal; n4 missed it (its configuration still has four voters) and runs without pre-vote.
    const n1 = new PureNode('n1', { voters: ['n1', 'n2', 'n3'], entries: ents(1, [1, 1, 2]), term: 2 });
    n1.tick(20); // out of any lease
    const lone = (): PureNode =>
      new PureNode('n4', { voters: ['n1', 'n2', 'n3', 'n4'], entries: ents(1, [1, 1]), term: 6, config: { preVote: false }, random: 0 });
    const n4 = lone();
    n4.tick(10); // random 0: the round ends at the minimum timeout
    expect(n4.role).to.equal('candidate');
    expect(n4.term).to.equal(7);
    n4.sync();
    const request = n4.drain().find((m) => m.to === 'n1')!;
    n1.receive(request);
    n1.sync();
    const answer = n1.drain().find((m) => m.type === 'voteResp')!;
    expect(answer).to.deep.include({ to: 'n4', term: 2, granted: false, preVote: false, nonMember: true });
    expect(n4.ctx.preVoteLearned).to.equal(false);
    const fx = n4.receive(answer);
    expect(fx.empty, 'an older-term answer changes no term and sends nothing').to.equal(true);
    expect(n4.term).to.equal(7);
    expect(n4.ctx.preVoteLearned).to.equal(true);
    // Its next round asks for term 8 with a pre-vote, which n1 (holding the removal) refuses
    // without adopting it, and n4's term stays 7.
    const next = n4.tick(10);
    expect(n4.role).to.equal('preCandidate');
    expect(n4.term).to.equal(7);
    expect(next.writes).to.deep.equal([]);
    expect(next.msgs).to.include('n4->n1 vote t8 pre last 2@1');
    n1.receive(n4.drain().find((m) => m.to === 'n1')!);
    expect(n1.term).to.equal(2);
    // Without the older-term refusal (here: none came), its next round is a real campaign in term 8.
    const control = lone();
    control.tick(20);
    expect(control.role).to.equal('candidate');
    expect(control.term).to.equal(8);
    // A refusal in its own term (a member's ordinary no) teaches nothing, nor does a refusal of an
    // earlier campaign arriving late in an older term (a slow voter's disk): only the mark does.
    const member = lone();
    member.tick(10);
    member.receive({ type: 'voteResp', from: 'n1', to: 'n4', term: 7, granted: false, preVote: false });
    expect(member.ctx.preVoteLearned).to.equal(false);
    member.tick(10);
    expect(member.term).to.equal(8);
    const late = member.receive({ type: 'voteResp', from: 'n2', to: 'n4', term: 7, granted: false, preVote: false });
    expect(late.empty).to.equal(true);
    expect(member.ctx.preVoteLearned).to.equal(false);
    member.tick(10);
    expect(member.role).to.equal('candidate');
    expect(member.term).to.equal(9);
  });

  it('a removed node answering in a newer term does not depose the leader that removed it (simulator, --disk-faults --membership seed 313)', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.run(2);
    const n1 = c.n('n1');
    const term = n1.term;
    // n4 was removed; an answer of it to an AppendEntries sent while it was a member arrives late, in its newer term.
    n1.receive({ type: 'appendResp', from: 'n4', to: 'n1', term: term + 1, success: false, index: 0, hintIndex: 0, hintTerm: 0 });
    expect(n1.term, 'the removed node moved the term').to.equal(term);
    expect(n1.role).to.equal('leader');
  });

  it('finding 5: a follower with damaged storage keeps learning the commit index in an idle cluster', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.n('n1').propose(1, [cmd(1), cmd(2)]);
    c.run(4);
    const log = c.n('n3').log;
    expect(c.n('n1').ctx.commitIndex).to.equal(3);
    // n3 restarts with a damage mark whose entries it already holds again (repaired through 3,
    // but the mark is still there): nothing new is written.
    c.restart('n3', { entries: log.range(1, 3), term: 1, vote: 'n1', corrupt: true, repairThroughIndex: 3 });
    c.run(20);
    expect(c.n('n3').ctx.commitIndex).to.equal(3);
  });
});
