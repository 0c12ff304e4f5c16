/**
 * What a leader does besides replication, one describe per rule: check-quorum (dissertation 6.2),
 * leadership transfer (3.10), ReadIndex (6.4), proposals and their flow control; driven through
 * XState's pure `transition()`.
 */
import { expect } from 'chai';
import type { RaftMessage } from '../../machines/types.js';
import { Cluster, cmd, PureNode } from './harness.js';

const isolated = (id: string) => (m: RaftMessage) => m.from === id || m.to === id;

/** A 3-node cluster with n1 leader, its no-op committed everywhere. */
function steady(config = {}): Cluster {
  const c = new Cluster(['n1', 'n2', 'n3'], { config });
  c.elect('n1');
  c.run(2);
  return c;
}

function hbResp(from: string, term: number, readCtx: number) {
  return { type: 'rpc.heartbeatResp' as const, msg: { type: 'heartbeatResp' as const, from, to: 'n1', term, readCtx } };
}

describe('Rule 12 (dissertation 6.2): check-quorum, a leader that does not hear from a quorum steps down', () => {
  it('keeps leading while a quorum answers, even with one follower cut off', () => {
    const c = steady();
    c.run(100, isolated('n3'));
    expect(c.n('n1').role).to.equal('leader');
    expect(c.n('n1').term).to.equal(1);
  });

  it('steps down at the end of the first whole check window (electionTimeoutTicksMin) without an answer', () => {
    const c = steady();
    c.run(8); // ticks 3..10: the window ending at tick 10 resets, then the heartbeat of tick 10 is answered
    let ticks = 0;
    while (c.n('n1').role === 'leader' && ticks < 100) {
      c.run(1, isolated('n1'));
      ticks++;
    }
    // Answers stop after tick 10; the window (10, 20] still saw them, the window (20, 30] did not.
    expect(ticks).to.equal(20);
    const n1 = c.n('n1');
    expect(n1.role).to.equal('follower');
    expect(n1.term).to.equal(1); // stepping down does not change the term
    expect(n1.core.leader).to.equal(null);
  });

  it('never steps down sooner than one election timeout after its last answer, nor later than two', () => {
    for (const connected of [0, 3, 7, 9, 10, 11, 15]) {
      const c = steady();
      c.run(connected);
      let ticks = 0;
      while (c.n('n1').role === 'leader' && ticks < 100) {
        c.run(1, isolated('n1'));
        ticks++;
      }
      expect(ticks, `after ${connected} connected ticks`).to.be.within(10, 20);
    }
  });

  it('without check-quorum, an isolated leader keeps its role', () => {
    const c = steady({ checkQuorum: false });
    c.run(100, isolated('n1'));
    expect(c.n('n1').role).to.equal('leader');
  });

  it('stepping down answers every pending read with leader-changed', () => {
    const c = steady();
    c.n('n1').read(7);
    c.drop(() => true);
    let refused: unknown[] = [];
    for (let t = 0; t < 30 && c.n('n1').role === 'leader'; t++) {
      refused = c.n('n1').tick().readRefused;
      c.drop(() => true);
    }
    expect(refused).to.deep.equal([{ tag: 7, code: 'leader-changed', leader: null }]);
  });
});

describe('Rule 13 (dissertation 3.10): leadership transfer', () => {
  it('to an up-to-date voter: TimeoutNow at once; the target campaigns at once (no pre-vote) with transfer set and wins', () => {
    const c = steady();
    const fx = c.n('n1').step({ type: 'admin.transfer', to: 'n2' });
    expect(fx.msgs).to.deep.equal(['n1->n2 timeoutNow t1']);
    c.deliver();
    const n2 = c.n('n2');
    expect(n2.role).to.equal('candidate');
    expect(n2.term).to.equal(2);
    expect(n2.history.msgs.slice(-2)).to.deep.equal(['n2->n1 vote t2 transfer last 1@1 (after durable)', 'n2->n3 vote t2 transfer last 1@1 (after durable)']);
    // n3 heard from n1 a tick ago (lease) and n1 is a check-quorum leader: both answer because of `transfer`.
    expect(c.stabilize().filter((l) => l.includes('voteResp'))).to.deep.equal(['n1->n2 voteResp t2 granted', 'n3->n2 voteResp t2 granted']);
    expect(c.leaders()).to.deep.equal(['n2']);
    expect(c.n('n1').term).to.equal(2);
  });

  it('to a lagging voter: brings it up to date first, then sends TimeoutNow', () => {
    const c = steady();
    c.n('n1').propose(1, [cmd(), cmd()]);
    c.syncAll();
    c.drop((m) => m.to === 'n2'); // n2 misses 2 and 3
    c.stabilize();
    expect(c.n('n1').progress('n2').match).to.equal(1);
    const fx = c.n('n1').step({ type: 'admin.transfer', to: 'n2' });
    expect(fx.msgs).to.deep.equal([]); // its in-flight window still holds the lost message
    const lines = c.run(2).filter((l) => l.includes('n2'));
    expect(lines).to.deep.equal([
      'n1->n2 heartbeat t1 commit 1 ctx 0',
      'n2->n1 heartbeatResp t1 ctx 0',
      'n1->n2 append t1 prev 3@1 commit 3 []',
      'n2->n1 appendResp t1 reject 3 hint 1@1',
      'n1->n2 append t1 prev 1@1 commit 3 [2@1 3@1]',
      'n2->n1 appendResp t1 ok 3',
      'n1->n2 timeoutNow t1',
      'n2->n1 vote t2 transfer last 3@1',
      'n2->n3 vote t2 transfer last 3@1',
      'n1->n2 voteResp t2 granted',
      'n3->n2 voteResp t2 granted',
      'n2->n1 append t2 prev 3@1 commit 3 [4@2]',
      'n2->n3 append t2 prev 3@1 commit 3 [4@2]',
      'n1->n2 appendResp t2 ok 4',
      'n3->n2 appendResp t2 ok 4',
    ]);
    expect(c.leaders()).to.deep.equal(['n2']);
  });

  it('refuses proposals while the transfer runs, and aborts it after an election timeout', () => {
    const c = steady();
    c.drop(() => true);
    const n1 = c.n('n1');
    n1.step({ type: 'admin.transfer', to: 'n2' });
    c.drop(() => true); // the TimeoutNow is lost
    expect(n1.propose(5, [cmd()]).proposalRefused).to.deep.equal([{ tag: 5, code: 'transfer-in-progress', leader: 'n1' }]);
    c.run(9, (m) => m.type === 'timeoutNow');
    expect(n1.propose(6, [cmd()]).proposalRefused).to.deep.equal([{ tag: 6, code: 'transfer-in-progress', leader: 'n1' }]);
    c.run(1);
    const fx = n1.propose(7, [cmd()]);
    expect(fx.proposalRefused).to.deep.equal([]);
    expect(fx.proposalAccepted).to.deep.equal([{ tag: 7, firstIndex: 2, lastIndex: 2, term: 1 }]);
    expect(n1.role).to.equal('leader');
  });

  it('ignores a transfer to itself, to a learner, and a repeat of the running one', () => {
    const c = new Cluster(['n1', 'n2', 'n3', 'n4'], { voters: ['n1', 'n2', 'n3'], learners: ['n4'] });
    c.elect('n1');
    const n1 = c.n('n1');
    expect(n1.step({ type: 'admin.transfer', to: 'n1' }).empty).to.equal(true);
    expect(n1.step({ type: 'admin.transfer', to: 'n4' }).empty).to.equal(true);
    expect(n1.core.leader!.transferee).to.equal(null);
    expect(n1.step({ type: 'admin.transfer', to: 'n3' }).msgs).to.deep.equal(['n1->n3 timeoutNow t1']);
    expect(n1.step({ type: 'admin.transfer', to: 'n3' }).empty).to.equal(true);
  });

  it('a TimeoutNow from an older term, or on a node that may not campaign, is ignored', () => {
    const c = steady();
    const n2 = c.n('n2');
    expect(n2.step({ type: 'rpc.timeoutNow', msg: { type: 'timeoutNow', from: 'n1', to: 'n2', term: 0 } }).empty).to.equal(true);
    expect(n2.role).to.equal('follower');
    const n4 = new PureNode('n4', { voters: ['n1', 'n2', 'n3'], learners: ['n4'], term: 1 });
    expect(n4.step({ type: 'rpc.timeoutNow', msg: { type: 'timeoutNow', from: 'n1', to: 'n4', term: 1 } }).empty).to.equal(true);
    expect(n4.role).to.equal('follower');
  });
});

describe('Rule 14 (dissertation 6.4): ReadIndex', () => {
  it('is refused on a follower with code not-leader and the leader hint', () => {
    const c = steady();
    expect(c.n('n2').read(3).readRefused).to.deep.equal([{ tag: 3, code: 'not-leader', leader: 'n1' }]);
    const lone = new Cluster(['n1', 'n2', 'n3']).n('n2');
    expect(lone.read(4).readRefused).to.deep.equal([{ tag: 4, code: 'not-leader', leader: null }]);
  });

  it('waits until the leader has committed an entry of its term, then confirms with a heartbeat round carrying its ctx', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    const n1 = c.n('n1');
    n1.campaign();
    c.n('n1').sync();
    c.deliver(); // votes requested
    c.syncAll();
    c.deliver(); // n1 is leader; its no-op goes out
    expect(n1.role).to.equal('leader');
    const fx = n1.read(1);
    expect(fx.empty).to.equal(true); // nothing committed in term 1 yet: no heartbeat, no answer
    // Heartbeat answers before the no-op commits confirm nothing (it re-probes n2, though).
    n1.tick(2);
    expect(c.pending().filter((l) => l.includes('heartbeat'))).to.deep.equal(['n1->n2 heartbeat t1 commit 0 ctx 0', 'n1->n3 heartbeat t1 commit 0 ctx 0']);
    expect(n1.step(hbResp('n2', 1, 0)).readReady).to.deep.equal([]);
    c.deliver(); // the no-op reaches n2 and n3 (and n2 once more), the heartbeats too
    c.syncAll();
    const lines = c.deliver().filter((l) => l.includes('appendResp')); // n1 commits 1 and starts the read round
    expect(lines).to.deep.equal(['n2->n1 appendResp t1 ok 1', 'n2->n1 appendResp t1 ok 1', 'n3->n1 appendResp t1 ok 1']);
    expect(n1.ctx.commitIndex).to.equal(1);
    // Sent the moment n2's acknowledgement commits 1, before n3's arrives (each capped at its match).
    expect(c.pending().filter((l) => l.includes('heartbeat'))).to.deep.equal(['n1->n2 heartbeat t1 commit 1 ctx 1', 'n1->n3 heartbeat t1 commit 0 ctx 1']);
    expect(n1.history.readReady).to.deep.equal([]);
    c.deliver();
    const answer = c.n('n2').outbox.find((m) => m.type === 'heartbeatResp' && m.readCtx === 1)!;
    const ready = n1.receive(answer);
    expect(ready.readReady).to.deep.equal([{ ctx: 1, index: 1 }]);
  });

  it('needs a quorum of answers carrying at least its ctx, and carries the commit index of its arrival', () => {
    const c = new Cluster(['n1', 'n2', 'n3', 'n4', 'n5']);
    c.elect('n1');
    c.run(2);
    const n1 = c.n('n1');
    c.drop(() => true);
    const fx = n1.read(10);
    expect(fx.msgs).to.deep.equal([
      'n1->n2 heartbeat t1 commit 1 ctx 10',
      'n1->n3 heartbeat t1 commit 1 ctx 10',
      'n1->n4 heartbeat t1 commit 1 ctx 10',
      'n1->n5 heartbeat t1 commit 1 ctx 10',
    ]);
    c.drop(() => true);
    // More entries commit while the read waits: its index stays the commit index of its arrival.
    n1.propose(1, [cmd()]);
    c.stabilize();
    expect(n1.ctx.commitIndex).to.equal(2);
    expect(n1.step(hbResp('n2', 1, 9)).readReady).to.deep.equal([]); // an older round
    expect(n1.step(hbResp('n2', 1, 10)).readReady).to.deep.equal([]); // 2 of 5
    expect(n1.step(hbResp('n2', 1, 10)).readReady).to.deep.equal([]); // the same voter twice
    expect(n1.step(hbResp('n4', 1, 11)).readReady).to.deep.equal([{ ctx: 10, index: 1 }]); // 3 of 5
  });

  it('confirms reads in order; one round confirms every read before it', () => {
    const c = steady();
    c.drop(() => true);
    const n1 = c.n('n1');
    n1.read(1);
    n1.read(2);
    expect(n1.step(hbResp('n3', 1, 2)).readReady).to.deep.equal([
      { ctx: 1, index: 1 },
      { ctx: 2, index: 1 },
    ]);
  });

  it('refuses reads beyond pendingReadsMax with too-many-reads', () => {
    const c = steady({ pendingReadsMax: 2 });
    const n1 = c.n('n1');
    n1.read(1);
    n1.read(2);
    expect(n1.read(3).readRefused).to.deep.equal([{ tag: 3, code: 'too-many-reads', leader: 'n1' }]);
  });

  it('a single voter confirms at once', () => {
    const c = new Cluster(['n1']);
    c.n('n1').campaign();
    c.syncAll();
    expect(c.n('n1').read(1).readReady).to.deep.equal([{ ctx: 1, index: 1 }]);
  });
});

describe('Rule 15: proposals are refused on followers and limited by flow control, with stable codes', () => {
  it('a follower refuses with not-leader and the leader hint; a candidate has no hint', () => {
    const c = steady();
    expect(c.n('n3').propose(1, [cmd()]).proposalRefused).to.deep.equal([{ tag: 1, code: 'not-leader', leader: 'n1' }]);
    const cand = new Cluster(['n1', 'n2', 'n3'], { config: { preVote: false } }).n('n2');
    cand.campaign();
    expect(cand.propose(2, [cmd()]).proposalRefused).to.deep.equal([{ tag: 2, code: 'not-leader', leader: null }]);
    expect(cand.history.persist.length).to.equal(1); // the hard state only
  });

  it('the leader accepts a batch with its indexes and term, in one persist', () => {
    const c = steady();
    const fx = c.n('n1').propose(9, [cmd(1), cmd(2), cmd(3)]);
    expect(fx.proposalAccepted).to.deep.equal([{ tag: 9, firstIndex: 2, lastIndex: 4, term: 1 }]);
    expect(fx.writes).to.deep.equal(['entries 2@1 3@1 4@1']);
  });

  it('refuses a batch of more than proposalEntriesMax with batch-too-large (exactly the limit is fine)', () => {
    const c = steady({ proposalEntriesMax: 3 });
    const n1 = c.n('n1');
    const big = n1.propose(1, [cmd(), cmd(), cmd(), cmd()]);
    expect(big.proposalRefused).to.deep.equal([{ tag: 1, code: 'batch-too-large', leader: 'n1' }]);
    expect(big.persist).to.deep.equal([]);
    expect(n1.propose(2, [cmd(), cmd(), cmd()]).proposalAccepted).to.have.length(1);
  });

  it('refuses with too-many-uncommitted past uncommittedBytesMax; commitment makes room again', () => {
    const c = steady({ uncommittedBytesMax: 1000 });
    c.drop(() => true);
    const n1 = c.n('n1');
    expect(n1.core.leader!.uncommittedBytes).to.equal(0);
    // The first proposal is always admitted when nothing is uncommitted, whatever its size.
    expect(n1.propose(1, [cmd(5000)]).proposalAccepted).to.have.length(1);
    const refused = n1.propose(2, [cmd(10)]);
    expect(refused.proposalRefused).to.deep.equal([{ tag: 2, code: 'too-many-uncommitted', leader: 'n1' }]);
    expect(refused.persist).to.deep.equal([]);
    c.stabilize(); // 2 commits
    expect(n1.ctx.commitIndex).to.equal(2);
    expect(n1.core.leader!.uncommittedBytes).to.equal(0);
    expect(n1.propose(3, [cmd(10)]).proposalAccepted).to.deep.equal([{ tag: 3, firstIndex: 3, lastIndex: 3, term: 1 }]);
  });

  it('an empty batch changes nothing', () => {
    const c = steady();
    expect(c.n('n1').propose(1, []).empty).to.equal(true);
  });

  it("drops an acknowledgement past the end of its log (a peer's bug or a forgery): no assertion, no progress, no commit (review of 2026-12-07)", () => {
    const c = steady();
    const n1 = c.n('n1');
    const last = n1.log.lastIndex();
    const before = { match: n1.progress('n2').match, next: n1.progress('n2').next, commit: n1.ctx.commitIndex };
    const fx = n1.step({
      type: 'rpc.appendResp',
      msg: { type: 'appendResp', from: 'n2', to: 'n1', term: n1.ctx.term, success: true, index: last + 10, hintIndex: 0, hintTerm: 0 },
    });
    expect(fx.empty).to.equal(true);
    expect({ match: n1.progress('n2').match, next: n1.progress('n2').next, commit: n1.ctx.commitIndex }).to.deep.equal(before);
    // Replication goes on as before.
    expect(n1.propose(9, [cmd()]).proposalAccepted).to.have.length(1);
    c.stabilize();
    expect(n1.ctx.commitIndex).to.equal(last + 1);
  });
});
