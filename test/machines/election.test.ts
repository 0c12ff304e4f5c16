/**
 * Elections, one describe per rule (Raft §5.2, §5.4.1; dissertation 4.2.3 and 9.6), driven through
 * XState's pure `transition()`: each step's effects are asserted as transcript lines.
 */
import { expect } from 'chai';
import type { VoteRequest, VoteResponse } from '../../machines/types.js';
import { Cluster, ents, PureNode } from './harness.js';

function voteReq(from: string, to: string, term: number, lastIndex: number, lastTerm: number, extra: Partial<VoteRequest> = {}): VoteRequest {
  return { type: 'vote', from, to, term, lastIndex, lastTerm, preVote: false, transfer: false, ...extra };
}

/**
 * `n` is a follower still in the round it drew as a candidate (`elapsedTicks` of `timeoutTicks`):
 * it stays a follower until that round ends, and campaigns (one term up) on its last tick.
 */
function expectKeptRound(n: PureNode, elapsedTicks: number, timeoutTicks: number): void {
  const term = n.term;
  expect(n.role).to.equal('follower');
  expect(n.ctx.electionElapsedTicks).to.equal(elapsedTicks);
  expect(n.ctx.electionTimeoutTicks).to.equal(timeoutTicks);
  n.tick(timeoutTicks - elapsedTicks - 1);
  expect(n.role).to.equal('follower');
  n.tick();
  expect(n.role).to.equal('candidate');
  expect(n.term).to.equal(term + 1);
}

function voteResp(from: string, to: string, term: number, granted: boolean, preVote = false): VoteResponse {
  return { type: 'voteResp', from, to, term, granted, preVote };
}

function heartbeat(from: string, to: string, term: number, commit = 0) {
  return { type: 'rpc.heartbeat' as const, msg: { type: 'heartbeat' as const, from, to, term, commit, readCtx: 0 } };
}

describe('Rule 1 (§5.2): a follower campaigns only after its randomized election timeout', () => {
  it('with pre-vote, becomes pre-candidate on exactly the tick its timeout expires, asking for term+1 without changing its own', () => {
    const n1 = new PureNode('n1', { random: 0.5, term: 1 });
    expect(n1.ctx.electionTimeoutTicks).to.equal(15); // min 10 + floor(0.5 * 10)
    expect(n1.tick(14).empty).to.equal(true);
    expect(n1.role).to.equal('follower');
    const fx = n1.tick();
    expect(n1.role).to.equal('preCandidate');
    expect(fx.writes).to.deep.equal([]);
    expect(fx.msgs).to.deep.equal(['n1->n2 vote t2 pre last 0@0', 'n1->n3 vote t2 pre last 0@0']);
    expect(n1.term).to.equal(1);
    expect(n1.ctx.vote).to.equal(null);
  });

  it('draws its timeout from [min, 2*min): random 0 campaigns at tick min, random just below 1 at tick 2*min-1', () => {
    for (const [random, ticks] of [
      [0, 10],
      [0.5, 15],
      [0.9999, 19],
    ] as const) {
      const n = new PureNode('n1', { random, config: { preVote: false } });
      expect(n.tick(ticks - 1).empty, `random ${random}`).to.equal(true);
      n.tick();
      expect(n.role, `random ${random}: campaigns at tick ${ticks}`).to.equal('candidate');
    }
  });

  it('draws a new timeout every time it (re)enters follower', () => {
    // Context creation draws once (0) and entering follower draws again (0.3): the second counts.
    // Then the pre-candidate's own round (0.7), then the follower entered on a newer term (0.1).
    const n1 = new PureNode('n1', { random: [0, 0.3, 0.7, 0.1], term: 1 });
    expect(n1.ctx.electionTimeoutTicks).to.equal(13);
    n1.tick(13);
    expect(n1.role).to.equal('preCandidate');
    expect(n1.ctx.electionTimeoutTicks).to.equal(17);
    n1.step(heartbeat('n2', 'n1', 2));
    expect(n1.role).to.equal('follower');
    expect(n1.ctx.electionTimeoutTicks).to.equal(11);
  });

  it('without pre-vote, becomes candidate at once: term+1, votes for itself, vote requests held until the vote is durable', () => {
    const n1 = new PureNode('n1', { config: { preVote: false }, term: 1 });
    n1.tick(14);
    const fx = n1.tick();
    expect(n1.role).to.equal('candidate');
    expect(fx.types).to.deep.equal(['persist', 'send', 'send']);
    expect(fx.writes).to.deep.equal(['hardState(term 2, vote n1)']);
    expect(fx.msgs).to.deep.equal(['n1->n2 vote t2 last 0@0 (after durable)', 'n1->n3 vote t2 last 0@0 (after durable)']);
    expect(n1.held.length).to.equal(2);
    expect(n1.outbox.length).to.equal(0);
  });

  it('a heartbeat or an AppendEntries from the leader restarts the count', () => {
    const n1 = new PureNode('n1', { term: 1 });
    n1.tick(14);
    expect(n1.step(heartbeat('n2', 'n1', 1)).msgs).to.deep.equal(['n1->n2 heartbeatResp t1 ctx 0']);
    expect(n1.ctx.electionElapsedTicks).to.equal(0);
    expect(n1.tick(14).empty).to.equal(true);
    n1.step({ type: 'rpc.append', msg: { type: 'append', from: 'n2', to: 'n1', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] } });
    expect(n1.tick(14).empty).to.equal(true);
    expect(n1.role).to.equal('follower');
    n1.tick();
    expect(n1.role).to.equal('preCandidate');
  });

  it('leader.alive (a range-sync chunk) from the current leader restarts the count; from anyone else it does not', () => {
    const n1 = new PureNode('n1', { term: 1 });
    n1.step(heartbeat('n2', 'n1', 1));
    n1.tick(14);
    expect(n1.step({ type: 'leader.alive', msg: { from: 'n3', term: 1 } }).empty).to.equal(true);
    expect(n1.step({ type: 'leader.alive', msg: { from: 'n2', term: 0 } }).empty).to.equal(true);
    expect(n1.ctx.electionElapsedTicks).to.equal(14);
    expect(n1.step({ type: 'leader.alive', msg: { from: 'n2', term: 1 } }).empty).to.equal(true);
    expect(n1.ctx.electionElapsedTicks).to.equal(0);
    expect(n1.tick(14).empty).to.equal(true);
    n1.tick();
    expect(n1.role).to.equal('preCandidate');
  });

  it('a learner never campaigns, by timeout or by admin.campaign', () => {
    const n4 = new PureNode('n4', { voters: ['n1', 'n2', 'n3'], learners: ['n4'], random: 0 });
    expect(n4.tick(100).empty).to.equal(true);
    expect(n4.campaign().empty).to.equal(true);
    expect(n4.role).to.equal('follower');
    expect(n4.term).to.equal(0);
  });

  it('a node with damaged storage never campaigns until repaired through repairThroughIndex', () => {
    const n1 = new PureNode('n1', { corrupt: true, repairThroughIndex: 3, entries: ents(1, [1]), term: 1, config: { preVote: false } });
    expect(n1.tick(100).empty).to.equal(true);
    expect(n1.campaign().empty).to.equal(true);
    expect(n1.role).to.equal('follower');
    // The leader's entries repair it; once durable through index 3 it may campaign again.
    n1.step({ type: 'rpc.append', msg: { type: 'append', from: 'n2', to: 'n1', term: 1, prevIndex: 1, prevTerm: 1, commit: 0, entries: ents(2, [1, 1]) } });
    expect(n1.ctx.corrupt).to.equal(true);
    n1.step({ type: 'storage.durable', index: 2, term: 1 });
    expect(n1.ctx.corrupt).to.equal(true);
    n1.step({ type: 'storage.durable', index: 3, term: 1 });
    expect(n1.ctx.corrupt).to.equal(false);
    expect(n1.campaign().writes).to.deep.equal(['hardState(term 2, vote n1)']);
    expect(n1.role).to.equal('candidate');
  });
});

describe('Rule 2 (dissertation 9.6): pre-vote', () => {
  it('changes the term of neither side and persists nothing', () => {
    const c = new Cluster(['n1', 'n2', 'n3'], { term: 1 });
    c.n('n1').tick(15);
    expect(c.n('n1').role).to.equal('preCandidate');
    expect(c.deliver()).to.deep.equal(['n1->n2 vote t2 pre last 0@0', 'n1->n3 vote t2 pre last 0@0']);
    for (const id of ['n2', 'n3']) {
      const n = c.n(id);
      expect(n.term).to.equal(1);
      expect(n.ctx.vote).to.equal(null);
      expect(n.history.persist).to.deep.equal([]);
      expect(n.history.msgs).to.deep.equal([`${id}->n1 voteResp t2 pre granted`]);
    }
  });

  it('is granted only to a log at least as up to date (last term, then last index)', () => {
    const cases: [lastIndex: number, lastTerm: number, granted: boolean][] = [
      [1, 2, false], // shorter, same last term
      [2, 2, true], // identical
      [9, 2, true], // longer, same last term
      [9, 1, false], // longer, older last term
      [1, 3, true], // shorter, newer last term
    ];
    for (const [lastIndex, lastTerm, granted] of cases) {
      const n2 = new PureNode('n2', { entries: ents(1, [1, 2]), term: 2 });
      const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 3, lastIndex, lastTerm, { preVote: true }) });
      // A granted pre-vote carries the term asked about, a rejection our own term.
      expect(fx.msgs, `last ${lastIndex}@${lastTerm}`).to.deep.equal([`n2->n1 voteResp t${granted ? 3 : 2} pre ${granted ? 'granted' : 'rejected'}`]);
      expect(fx.persist).to.deep.equal([]);
      expect(n2.term).to.equal(2);
    }
  });

  it('is refused within the leader lease and granted once the lease ran out', () => {
    const n2 = new PureNode('n2', { term: 1 });
    n2.step(heartbeat('n3', 'n2', 1));
    n2.tick(9);
    const req = { type: 'rpc.vote' as const, msg: voteReq('n1', 'n2', 2, 0, 0, { preVote: true }) };
    expect(n2.step(req).msgs).to.deep.equal(['n2->n1 voteResp t1 pre rejected']);
    n2.tick(); // 10 ticks = electionTimeoutTicksMin without hearing from n3
    expect(n2.step(req).msgs).to.deep.equal(['n2->n1 voteResp t2 pre granted']);
  });

  it('is not granted for a term at or below ours', () => {
    const n2 = new PureNode('n2', { term: 3 });
    const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 3, 0, 0, { preVote: true }) });
    expect(fx.msgs).to.deep.equal(['n2->n1 voteResp t3 pre rejected']);
  });

  it('a pre-vote quorum starts a real election: term+1, vote for self, hard state persisted, vote requests after durable', () => {
    const n1 = new PureNode('n1', { term: 4, entries: ents(1, [4]) });
    n1.tick(15);
    expect(n1.role).to.equal('preCandidate');
    const fx = n1.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 5, true, true) });
    expect(n1.role).to.equal('candidate');
    expect(n1.term).to.equal(5);
    expect(n1.ctx.vote).to.equal('n1');
    expect(fx.types).to.deep.equal(['persist', 'send', 'send']);
    expect(fx.writes).to.deep.equal(['hardState(term 5, vote n1)']);
    expect(fx.msgs).to.deep.equal(['n1->n2 vote t5 last 1@4 (after durable)', 'n1->n3 vote t5 last 1@4 (after durable)']);
  });

  it('a pre-vote quorum of rejections goes back to follower in the same term', () => {
    const n1 = new PureNode('n1', { term: 4 });
    n1.tick(15);
    expect(n1.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 4, false, true) }).empty).to.equal(true);
    expect(n1.role).to.equal('preCandidate');
    expect(n1.step({ type: 'rpc.voteResp', msg: voteResp('n3', 'n1', 4, false, true) }).empty).to.equal(true);
    expect(n1.role).to.equal('follower');
    expect(n1.term).to.equal(4);
    expect(n1.history.persist).to.deep.equal([]);
  });

  it('a pre-vote rejection from a newer term makes the pre-candidate adopt it', () => {
    const n1 = new PureNode('n1', { term: 4 });
    n1.tick(15);
    const fx = n1.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 7, false, true) });
    expect(n1.role).to.equal('follower');
    expect(n1.term).to.equal(7);
    expect(fx.writes).to.deep.equal(['hardState(term 7, vote -)']);
  });

  it('a pre-candidate whose round times out runs a new pre-vote round, still without changing its term', () => {
    const n1 = new PureNode('n1', { term: 4 });
    n1.tick(15);
    n1.tick(14);
    const fx = n1.tick();
    expect(n1.role).to.equal('preCandidate');
    expect(fx.msgs).to.deep.equal(['n1->n2 vote t5 pre last 0@0', 'n1->n3 vote t5 pre last 0@0']);
    expect(n1.term).to.equal(4);
  });

  it('elects a leader end to end in a 3-node cluster (transcript)', () => {
    const c = new Cluster(['n1', 'n2', 'n3'], { term: 1 });
    c.n('n1').tick(15);
    expect(c.stabilize()).to.deep.equal([
      'n1->n2 vote t2 pre last 0@0',
      'n1->n3 vote t2 pre last 0@0',
      'n2->n1 voteResp t2 pre granted',
      'n3->n1 voteResp t2 pre granted',
      'n1->n2 vote t2 last 0@0',
      'n1->n3 vote t2 last 0@0',
      'n2->n1 voteResp t2 granted',
      'n3->n1 voteResp t2 granted',
      'n1->n2 append t2 prev 0@0 commit 0 [1@2]',
      'n1->n3 append t2 prev 0@0 commit 0 [1@2]',
      'n2->n1 appendResp t2 ok 1',
      'n3->n1 appendResp t2 ok 1',
    ]);
    expect(c.leaders()).to.deep.equal(['n1']);
    expect(c.n('n1').ctx.commitIndex).to.equal(1);
    expect(c.n('n2').ctx.vote).to.equal('n1');
  });
});

describe('Rule 3 (§5.2, §5.4.1): RequestVote', () => {
  it('grants only to a log at least as up to date: last term first, then last index', () => {
    const cases: [lastIndex: number, lastTerm: number, granted: boolean][] = [
      [5, 1, false], // longer but older last term
      [1, 2, false], // same last term, shorter
      [2, 2, true], // same
      [3, 2, true], // same last term, longer
      [1, 3, true], // newer last term, shorter
    ];
    for (const [lastIndex, lastTerm, granted] of cases) {
      const n2 = new PureNode('n2', { entries: ents(1, [1, 2]), term: 2 });
      const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 3, lastIndex, lastTerm) });
      expect(fx.msgs, `last ${lastIndex}@${lastTerm}`).to.deep.equal([`n2->n1 voteResp t3 ${granted ? 'granted' : 'rejected'} (after durable)`]);
      expect(n2.ctx.vote).to.equal(granted ? 'n1' : null);
      expect(n2.term).to.equal(3);
    }
  });

  it('persists the vote before the answer leaves (afterDurable), and gives one vote per term', () => {
    const c = new Cluster(['n1', 'n2', 'n3'], { term: 1 });
    const n2 = c.n('n2');
    const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 2, 0, 0) });
    expect(fx.types).to.deep.equal(['persist', 'persist', 'send']);
    expect(fx.writes).to.deep.equal(['hardState(term 2, vote -)', 'hardState(term 2, vote n1)']);
    expect(fx.msgs).to.deep.equal(['n2->n1 voteResp t2 granted (after durable)']);
    expect(n2.outbox).to.deep.equal([]); // held until the vote is durable
    n2.sync();
    expect(c.pending()).to.deep.equal(['n2->n1 voteResp t2 granted']);

    // Another candidate in the same term: rejected, nothing persisted.
    const other = n2.step({ type: 'rpc.vote', msg: voteReq('n3', 'n2', 2, 9, 2) });
    expect(other.writes).to.deep.equal([]);
    expect(other.msgs).to.deep.equal(['n2->n3 voteResp t2 rejected (after durable)']);
    // The same candidate asking again (a retransmission): granted again, nothing new persisted.
    const again = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 2, 0, 0) });
    expect(again.writes).to.deep.equal([]);
    expect(again.msgs).to.deep.equal(['n2->n1 voteResp t2 granted (after durable)']);
    expect(n2.ctx.vote).to.equal('n1');
  });

  it('a granted vote restarts the election timer (a voter does not campaign against the candidate it just chose)', () => {
    const n2 = new PureNode('n2', { term: 1 });
    n2.tick(14);
    n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 2, 0, 0) });
    expect(n2.tick(14).empty).to.equal(true);
    expect(n2.role).to.equal('follower');
  });

  it('a newer term makes a node a follower of that term and clears its vote, even when the log check fails', () => {
    const n2 = new PureNode('n2', { term: 1, vote: 'n1', entries: ents(1, [1, 1]) });
    const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n3', 'n2', 2, 1, 1) });
    expect(fx.writes).to.deep.equal(['hardState(term 2, vote -)']);
    expect(fx.msgs).to.deep.equal(['n2->n3 voteResp t2 rejected (after durable)']);
    expect(n2.term).to.equal(2);
    expect(n2.ctx.vote).to.equal(null);
    // Its vote in term 2 is still free.
    expect(n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 2, 2, 1) }).msgs).to.deep.equal(['n2->n1 voteResp t2 granted (after durable)']);
  });

  it('a candidate that sees a newer-term RequestVote steps down and may grant it', () => {
    const n1 = new PureNode('n1', { term: 1, config: { preVote: false } });
    n1.campaign();
    expect(n1.role).to.equal('candidate');
    const fx = n1.step({ type: 'rpc.vote', msg: voteReq('n3', 'n1', 3, 0, 0) });
    expect(n1.role).to.equal('follower');
    expect(fx.writes).to.deep.equal(['hardState(term 3, vote -)', 'hardState(term 3, vote n3)']);
    expect(fx.msgs).to.deep.equal(['n1->n3 voteResp t3 granted (after durable)']);
  });

  it('a candidate that steps down for a newer-term RequestVote it rejects keeps its round (issue 15, seed 2459)', () => {
    // Without pre-vote, a candidate with a worse log that times out alongside one that could win
    // must not restart the better one's timer: the better one campaigns when its own round ends.
    // Draws: context 0, follower entry 0 (timeout 10), the candidate's round 0.5 (15), then 0.9 (19).
    const n1 = new PureNode('n1', { term: 1, entries: ents(1, [1, 1]), config: { preVote: false }, random: [0, 0, 0.5, 0.9] });
    n1.tick(10);
    expect(n1.role).to.equal('candidate');
    expect(n1.term).to.equal(2);
    n1.tick(5);
    const fx = n1.step({ type: 'rpc.vote', msg: voteReq('n3', 'n1', 3, 1, 1) });
    expect(fx.msgs).to.deep.equal(['n1->n3 voteResp t3 rejected (after durable)']);
    expect(n1.term).to.equal(3);
    expectKeptRound(n1, 5, 15);
    // A follower entered any other way (here: a newer leader's heartbeat) restarts its timer.
    n1.step(heartbeat('n2', 'n1', 5));
    expect(n1.ctx.electionElapsedTicks).to.equal(0);
    expect(n1.ctx.keepElectionTimer).to.equal(false);
  });

  it('a candidate refusing a same-term candidate whose log is ahead campaigns a whole range later (seed 120018)', () => {
    // Without pre-vote, two candidates of one term that keep timing out together split the vote round
    // after round; only the one with the better log can win. Draws: context 0, follower entry 0
    // (timeout 10), the candidate's round 0.5 (15), the back-off's draw 0.2 (10 + 12 = 22 from now).
    const n2 = new PureNode('n2', { term: 1, entries: ents(1, [1, 1]), config: { preVote: false }, random: [0, 0, 0.5, 0.2] });
    n2.tick(10);
    expect(n2.role).to.equal('candidate');
    expect(n2.term).to.equal(2);
    n2.tick(3);
    // Same term, same log: refused, and the round is unchanged (the tie is broken by the draws).
    n2.step({ type: 'rpc.vote', msg: voteReq('n3', 'n2', 2, 2, 1) });
    expect(n2.ctx.electionTimeoutTicks).to.equal(15);
    const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 2, 3, 1) });
    expect(fx.msgs).to.deep.equal(['n2->n1 voteResp t2 rejected (after durable)']);
    expect(n2.role).to.equal('candidate');
    expect(n2.ctx.electionElapsedTicks).to.equal(3);
    expect(n2.ctx.electionTimeoutTicks).to.equal(3 + 10 + 12);
    // n1's own round is at most 2 x 10 ticks long: n2 stays out of it.
    n2.tick(21);
    expect(n2.role).to.equal('candidate');
    expect(n2.term).to.equal(2);
    n2.tick();
    expect(n2.term).to.equal(3);
    // A newer term from n1 is granted as before (and restarts the timer).
    const granted = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 4, 3, 1) });
    expect(granted.msgs).to.deep.equal(['n2->n1 voteResp t4 granted (after durable)']);
    expect(n2.ctx.electionElapsedTicks).to.equal(0);
  });

  it('a candidate (or pre-candidate) that loses keeps the round it drew (seed 66302)', () => {
    // Two candidates that lost on the same answers redrew their next rounds from the same instant
    // and tied again, round after round. Draws: context 0, follower entry 0 (timeout 10), the
    // candidate's round 0.5 (15); a redraw on the loss would take 0.9 (19 from the loss).
    const n1 = new PureNode('n1', { term: 1, config: { preVote: false }, random: [0, 0, 0.5, 0.9] });
    n1.tick(10);
    expect(n1.role).to.equal('candidate');
    n1.tick(3);
    n1.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 2, false) });
    n1.step({ type: 'rpc.voteResp', msg: voteResp('n3', 'n1', 2, false) });
    expect(n1.term).to.equal(2);
    expectKeptRound(n1, 3, 15);
    // A pre-candidate the same: the pre-vote round it drew goes on.
    const n2 = new PureNode('n2', { term: 1, random: [0, 0, 0.5, 0.9] });
    n2.tick(10);
    expect(n2.role).to.equal('preCandidate');
    n2.tick(4);
    n2.step({ type: 'rpc.voteResp', msg: voteResp('n1', 'n2', 1, false, true) });
    n2.step({ type: 'rpc.voteResp', msg: voteResp('n3', 'n2', 1, false, true) });
    expect(n2.role).to.equal('follower');
    expect(n2.ctx.electionElapsedTicks).to.equal(4);
    expect(n2.ctx.electionTimeoutTicks).to.equal(15);
  });

  it('a follower that hears a candidate whose log is ahead, granted or not, campaigns a whole range later (seed 34461)', () => {
    // Without pre-vote, four voters, two behind: each split round restarted the four timers within
    // 20 ms and the two behind campaigned with the two ahead. Draws: context 0, follower entry 0
    // (timeout 10), the back-off's draw 0.2 (10 + 12 = 22 from the grant, which restarts the count).
    const five = ['n1', 'n2', 'n3', 'n4', 'n5'];
    const n4 = new PureNode('n4', { term: 1, entries: ents(1, [1, 1]), voters: five, config: { preVote: false }, random: [0, 0, 0.2] });
    n4.tick(4);
    const fx = n4.step({ type: 'rpc.vote', msg: voteReq('n1', 'n4', 2, 3, 1) });
    expect(fx.msgs).to.deep.equal(['n4->n1 voteResp t2 granted (after durable)']);
    expect(n4.ctx.electionElapsedTicks).to.equal(0);
    expect(n4.ctx.electionTimeoutTicks).to.equal(10 + 12);
    n4.tick(21);
    expect(n4.role).to.equal('follower');
    n4.tick();
    expect(n4.role).to.equal('candidate');
    // Refused (it voted already in this term), the same: here n5's log is ahead too.
    const n5 = new PureNode('n5', { term: 2, vote: 'n2', entries: ents(1, [1]), voters: five, config: { preVote: false }, random: [0, 0, 0.5] });
    n5.tick(6);
    const refused = n5.step({ type: 'rpc.vote', msg: voteReq('n1', 'n5', 2, 3, 1) });
    expect(refused.msgs).to.deep.equal(['n5->n1 voteResp t2 rejected (after durable)']);
    expect(n5.ctx.electionTimeoutTicks).to.equal(6 + 10 + 15);
    // A candidate whose log is the same as ours is granted and leaves the drawn round as it was.
    const n3 = new PureNode('n3', { term: 1, entries: ents(1, [1, 1]), voters: five, config: { preVote: false }, random: [0, 0.3, 0.9] });
    n3.tick(4);
    n3.step({ type: 'rpc.vote', msg: voteReq('n1', 'n3', 2, 2, 1) });
    expect(n3.ctx.electionElapsedTicks).to.equal(0);
    expect(n3.ctx.electionTimeoutTicks).to.equal(13);
  });

  it('a node refusing a candidate whose log is behind draws a round ending past half a minimum timeout (seeds 26292, 51752)', () => {
    // Without pre-vote, the refused candidate may still win with the others' votes; a round of ours
    // ending before its first AppendEntries reaches us would depose it with our newer term. Draws:
    // context 0, follower entry 0 (timeout 10), the hold's draw 0.3 (3 ticks past the hold of 5).
    const n2 = new PureNode('n2', { term: 1, entries: ents(1, [1, 1]), config: { preVote: false }, random: [0, 0, 0.3, 0] });
    n2.tick(2);
    // Early in the round: a refusal leaves it as drawn (2 + 5 is within it).
    n2.step({ type: 'rpc.vote', msg: voteReq('n3', 'n2', 2, 1, 1) });
    expect(n2.term).to.equal(2);
    expect(n2.ctx.electionTimeoutTicks).to.equal(10);
    n2.tick(6);
    // Two ticks before the round's end: redrawn past the hold, 8 + 5 + 3.
    const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 3, 1, 1) });
    expect(fx.msgs).to.deep.equal(['n2->n1 voteResp t3 rejected (after durable)']);
    expect(n2.ctx.electionElapsedTicks).to.equal(8);
    expect(n2.ctx.electionTimeoutTicks).to.equal(16);
    // A second refusal with the round now long enough changes nothing (no draw).
    n2.step({ type: 'rpc.vote', msg: voteReq('n3', 'n2', 3, 1, 1) });
    expect(n2.ctx.electionTimeoutTicks).to.equal(16);
    n2.tick(7);
    expect(n2.role).to.equal('follower');
    // The refused candidate won: its first AppendEntries (here a heartbeat) restarts the count.
    n2.step(heartbeat('n1', 'n2', 3));
    expect(n2.ctx.electionElapsedTicks).to.equal(0);
    expect(n2.ctx.leader).to.equal('n1');
    // Had no leader come, the node campaigns when the redrawn round ends: two nodes refusing the
    // same candidate on the same tick end their rounds on the ticks their own draws give.
    for (const [draw, endTick] of [
      [0, 14],
      [0.95, 23],
    ] as const) {
      const lone = new PureNode('n2', { term: 1, entries: ents(1, [1, 1]), config: { preVote: false }, random: [0, 0, draw, 0] });
      lone.tick(9);
      lone.step({ type: 'rpc.vote', msg: voteReq('n3', 'n2', 2, 1, 1) });
      expect(lone.ctx.electionTimeoutTicks).to.equal(endTick);
      lone.tick(endTick - 10);
      expect(lone.role).to.equal('follower');
      lone.tick();
      expect(lone.role).to.equal('candidate');
      expect(lone.term).to.equal(3);
    }
  });

  it('rejects a stale-term request with its current term, at once and without persisting', () => {
    const n2 = new PureNode('n2', { term: 5 });
    const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 4, 9, 4) });
    expect(fx.types).to.deep.equal(['send']);
    expect(fx.msgs).to.deep.equal(['n2->n1 voteResp t5 rejected']);
    expect(n2.term).to.equal(5);
  });

  it('a node with damaged storage does not vote (but still follows the term)', () => {
    const n2 = new PureNode('n2', { term: 1, corrupt: true, repairThroughIndex: 5 });
    const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 2, 9, 9) });
    expect(fx.writes).to.deep.equal(['hardState(term 2, vote -)']);
    expect(fx.msgs).to.deep.equal(['n2->n1 voteResp t2 rejected (after durable)']);
    const pre = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 3, 9, 9, { preVote: true }) });
    expect(pre.msgs).to.deep.equal(['n2->n1 voteResp t2 pre rejected']);
  });

  it('a learner grants votes (it may have been promoted without knowing it yet; issue 15) but never campaigns', () => {
    const n4 = new PureNode('n4', { voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    const fx = n4.step({ type: 'rpc.vote', msg: voteReq('n1', 'n4', 1, 0, 0) });
    expect(fx.msgs).to.deep.equal(['n4->n1 voteResp t1 granted (after durable)']);
    expect(n4.ctx.vote).to.equal('n1');
    expect(n4.tick(100).messages.filter((m) => m.type === 'vote')).to.deep.equal([]);
  });
});

describe('Rule 4 (dissertation 4.2.3): the leader lease', () => {
  it('a follower that heard from the leader within the minimum election timeout ignores a newer-term RequestVote', () => {
    const n2 = new PureNode('n2', { term: 1 });
    n2.step(heartbeat('n3', 'n2', 1));
    n2.tick(9);
    const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 2, 0, 0) });
    expect(fx.empty).to.equal(true); // no answer, no term change, no persist
    expect(n2.term).to.equal(1);
    expect(n2.ctx.vote).to.equal(null);
    expect(n2.ctx.leader).to.equal('n3');
  });

  it('grants once the minimum election timeout passed without hearing from the leader', () => {
    const n2 = new PureNode('n2', { term: 1 });
    n2.step(heartbeat('n3', 'n2', 1));
    n2.tick(10);
    expect(n2.role).to.equal('follower'); // its own timeout (15) has not expired
    const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 2, 0, 0) });
    expect(fx.writes).to.deep.equal(['hardState(term 2, vote -)', 'hardState(term 2, vote n1)']);
    expect(fx.msgs).to.deep.equal(['n2->n1 voteResp t2 granted (after durable)']);
  });

  it('a leadership-transfer RequestVote (transfer set) is answered despite the lease', () => {
    const n2 = new PureNode('n2', { term: 1 });
    n2.step(heartbeat('n3', 'n2', 1));
    const fx = n2.step({ type: 'rpc.vote', msg: voteReq('n1', 'n2', 2, 0, 0, { transfer: true }) });
    expect(fx.msgs).to.deep.equal(['n2->n1 voteResp t2 granted (after durable)']);
    expect(n2.term).to.equal(2);
    expect(n2.ctx.leader).to.equal(null);
  });

  it('a leader with check-quorum ignores a newer-term RequestVote; without check-quorum it steps down', () => {
    for (const checkQuorum of [true, false]) {
      const c = new Cluster(['n1', 'n2', 'n3'], { config: { checkQuorum } });
      const n1 = c.elect('n1');
      const fx = n1.step({ type: 'rpc.vote', msg: voteReq('n3', 'n1', 5, 9, 9) });
      if (checkQuorum) {
        expect(fx.empty).to.equal(true);
        expect(n1.role).to.equal('leader');
        expect(n1.term).to.equal(1);
      } else {
        expect(n1.role).to.equal('follower');
        expect(fx.writes).to.deep.equal(['hardState(term 5, vote -)', 'hardState(term 5, vote n3)']);
        expect(fx.msgs).to.deep.equal(['n1->n3 voteResp t5 granted (after durable)']);
        expect(n1.core.leader).to.equal(null); // the leader's role state died with the role
      }
    }
  });

  it('a node that hears nothing cannot depose a healthy leader: its pre-votes are refused (lease)', () => {
    // Links into n3 are down: it times out again and again; its messages still reach the others.
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    const lines = c.run(60, (m) => m.to === 'n3');
    expect(lines.filter((l) => l.startsWith('n3->'))).to.include.members(['n3->n1 vote t2 pre last 1@1', 'n3->n2 vote t2 pre last 1@1']);
    expect(lines.filter((l) => l.includes('pre granted'))).to.deep.equal([]);
    expect(c.n('n3').term).to.equal(1);
    expect(c.n('n1').role).to.equal('leader');
    expect(c.n('n2').term).to.equal(1);
  });

  it('without pre-vote the cut-off node raises its term, yet the lease keeps the others from following it', () => {
    const c = new Cluster(['n1', 'n2', 'n3'], { config: { preVote: false } });
    c.elect('n1');
    const lines = c.run(60, (m) => m.to === 'n3');
    expect(c.n('n3').term).to.be.greaterThan(2);
    expect(lines.filter((l) => l.startsWith('n3->n2 vote'))).to.not.deep.equal([]);
    expect(lines.filter((l) => l.startsWith('n2->n3') || l.startsWith('n1->n3'))).to.deep.equal([]);
    expect(c.n('n1').role).to.equal('leader');
    expect(c.n('n1').term).to.equal(1);
    expect(c.n('n2').term).to.equal(1);
  });
});

describe('Rule 5 (§5.2): a candidate wins, loses or steps down', () => {
  function candidate(voters = ['n1', 'n2', 'n3'], term = 1): PureNode {
    const n1 = new PureNode('n1', { voters, term, config: { preVote: false } });
    n1.campaign();
    expect(n1.role).to.equal('candidate');
    return n1;
  }

  it('wins with a quorum of granted votes (3 nodes: one other; 5 nodes: two others)', () => {
    const three = candidate();
    three.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 2, true) });
    expect(three.role).to.equal('leader');

    const five = candidate(['n1', 'n2', 'n3', 'n4', 'n5']);
    five.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 2, true) });
    expect(five.role).to.equal('candidate');
    five.step({ type: 'rpc.voteResp', msg: voteResp('n4', 'n1', 2, true) });
    expect(five.role).to.equal('leader');
  });

  it("a duplicate vote counts once; a voter's first answer stands", () => {
    const n1 = candidate(['n1', 'n2', 'n3', 'n4', 'n5']);
    n1.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 2, true) });
    n1.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 2, true) });
    expect(n1.role).to.equal('candidate');
    n1.step({ type: 'rpc.voteResp', msg: voteResp('n3', 'n1', 2, false) });
    n1.step({ type: 'rpc.voteResp', msg: voteResp('n3', 'n1', 2, true) }); // n3 already said no
    expect(n1.role).to.equal('candidate');
    expect(n1.ctx.votes).to.deep.equal({ n1: true, n2: true, n3: false });
    n1.step({ type: 'rpc.voteResp', msg: voteResp('n5', 'n1', 2, true) });
    expect(n1.role).to.equal('leader');
  });

  it('loses with a quorum of rejections: back to follower in the same term, vote kept', () => {
    const n1 = candidate(['n1', 'n2', 'n3', 'n4', 'n5']);
    n1.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 2, false) });
    n1.step({ type: 'rpc.voteResp', msg: voteResp('n3', 'n1', 2, false) });
    expect(n1.role).to.equal('candidate'); // 3 of 5 may still grant
    const fx = n1.step({ type: 'rpc.voteResp', msg: voteResp('n4', 'n1', 2, false) });
    expect(fx.empty).to.equal(true);
    expect(n1.role).to.equal('follower');
    expect(n1.term).to.equal(2);
    expect(n1.ctx.vote).to.equal('n1');
  });

  it("ignores answers from another term's campaign and pre-vote answers", () => {
    const n1 = candidate(['n1', 'n2', 'n3'], 3); // campaigning in term 4
    expect(n1.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 3, true) }).empty).to.equal(true);
    expect(n1.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 4, true, true) }).empty).to.equal(true);
    expect(n1.role).to.equal('candidate');
    expect(n1.ctx.votes).to.deep.equal({ n1: true });
  });

  it('steps down on a vote answer of a newer term', () => {
    const n1 = candidate();
    const fx = n1.step({ type: 'rpc.voteResp', msg: voteResp('n2', 'n1', 7, false) });
    expect(n1.role).to.equal('follower');
    expect(n1.term).to.equal(7);
    expect(n1.ctx.vote).to.equal(null);
    expect(fx.writes).to.deep.equal(['hardState(term 7, vote -)']);
  });

  it('steps down on an AppendEntries of its own term, follows its sender and acknowledges it', () => {
    const n1 = candidate();
    const fx = n1.step({
      type: 'rpc.append',
      msg: { type: 'append', from: 'n2', to: 'n1', term: 2, prevIndex: 0, prevTerm: 0, commit: 0, entries: ents(1, [2]) },
    });
    expect(n1.role).to.equal('follower');
    expect(n1.term).to.equal(2);
    expect(n1.ctx.leader).to.equal('n2');
    expect(n1.ctx.vote).to.equal('n1'); // same term: the vote stands
    expect(fx.writes).to.deep.equal(['entries 1@2']);
    expect(fx.msgs).to.deep.equal(['n1->n2 appendResp t2 ok 1 (after durable)']);
  });

  it('rejects an AppendEntries of an older term with its own term and stays candidate', () => {
    const n1 = candidate();
    const fx = n1.step({
      type: 'rpc.append',
      msg: { type: 'append', from: 'n2', to: 'n1', term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] },
    });
    expect(n1.role).to.equal('candidate');
    expect(fx.msgs).to.deep.equal(['n1->n2 appendResp t2 reject 0 hint 0@0']);
  });

  it('starts a new election in the next term when its own election times out', () => {
    const n1 = candidate();
    n1.tick(14);
    const fx = n1.tick();
    expect(n1.role).to.equal('candidate');
    expect(n1.term).to.equal(3);
    expect(fx.writes).to.deep.equal(['hardState(term 3, vote n1)']);
    expect(fx.msgs).to.deep.equal(['n1->n2 vote t3 last 0@0 (after durable)', 'n1->n3 vote t3 last 0@0 (after durable)']);
  });

  it('a single voter wins its own election at once', () => {
    const n1 = new PureNode('n1', { voters: ['n1'], config: { preVote: true } });
    const fx = n1.tick(15);
    expect(n1.role).to.equal('leader');
    expect(n1.term).to.equal(1);
    expect(fx.writes).to.deep.equal(['hardState(term 1, vote n1)', 'entries 1@1']);
    expect(n1.sync().apply).to.deep.equal([{ toIndex: 1 }]);
    expect(n1.ctx.commitIndex).to.equal(1);
  });
});
