/**
 * Snapshots (Raft §7), Election Safety as a crash (two leaders in one term), and the planted bugs
 * that exist only as the alternative `core.rules` a core is created with; driven through XState's pure `transition()`.
 */
import { expect } from 'chai';
import { createActor } from 'xstate';
import { InvariantError } from '../../machines/assert.js';
import type { PlantedBug } from '../../machines/core.js';
import type { AppendRequest, SnapshotMeta } from '../../machines/types.js';
import { Cluster, cmd, ents, PureNode } from './harness.js';

const voters3 = { voters: ['n1', 'n2', 'n3'], learners: [] };

/** n1 and n3 hold a snapshot through 5@1 plus 6@1 7@1; n2 has nothing. n1 is elected in term 2. */
function behindSnapshot(): { c: Cluster; meta: SnapshotMeta } {
  const meta: SnapshotMeta = { index: 5, term: 1, membership: voters3 };
  const c = new Cluster(['n1', 'n2', 'n3'], (id) => (id === 'n2' ? { term: 1 } : { snapshot: meta, entries: ents(6, [1, 1]), term: 1 }));
  c.n('n1').campaign();
  c.stabilize();
  expect(c.n('n1').role).to.equal('leader');
  return { c, meta };
}

function append(over: Partial<AppendRequest> & Pick<AppendRequest, 'prevIndex' | 'prevTerm'>): { type: 'rpc.append'; msg: AppendRequest } {
  return { type: 'rpc.append', msg: { type: 'append', from: 'n1', to: 'n2', term: 2, commit: 0, entries: [], ...over } };
}

describe('Rule 16 (§7): snapshots for followers whose entries were compacted away', () => {
  it('the leader finds the needed entries compacted: sendSnapshot, progress in snapshot state, nothing else sent to it', () => {
    const { c } = behindSnapshot();
    const n1 = c.n('n1');
    expect(c.transcript.filter((l) => l.includes('n2') && l.includes('append'))).to.deep.equal([
      'n1->n2 append t2 prev 7@1 commit 5 [8@2]',
      'n2->n1 appendResp t2 reject 7 hint 0@0',
    ]);
    expect(n1.history.sendSnapshot).to.deep.equal([{ to: 'n2', term: 2 }]);
    expect(n1.progress('n2')).to.include({ state: 'snapshot', pendingSnapshot: 5, match: 0 });
    expect(n1.propose(1, [cmd()]).msgs).to.deep.equal(['n1->n3 append t2 prev 8@2 commit 8 [9@2]']);
    c.drop(() => true);
    // Heartbeats still go (they keep n2 following), but answers do not restart replication.
    n1.tick(2);
    expect(c.pending()).to.deep.equal(['n1->n2 heartbeat t2 commit 0 ctx 0', 'n1->n3 heartbeat t2 commit 8 ctx 0']);
    expect(n1.step({ type: 'rpc.heartbeatResp', msg: { type: 'heartbeatResp', from: 'n2', to: 'n1', term: 2, readCtx: 0 } }).msgs).to.deep.equal([]);
    expect(n1.progress('n2').state).to.equal('snapshot');
  });

  it('a follower installs a received snapshot: installSnapshot, log restored, commit = snapshot index, acknowledged after durable', () => {
    const { c, meta } = behindSnapshot();
    const n2 = c.n('n2');
    const fx = n2.step({ type: 'snapshot.received', from: 'n1', meta });
    expect(fx.types).to.deep.equal(['installSnapshot', 'send']);
    expect(fx.installSnapshot).to.deep.equal([{ meta }]);
    expect(fx.msgs).to.deep.equal(['n2->n1 appendResp t2 ok 5 (after durable)']);
    expect(n2.outbox.filter((m) => m.type === 'appendResp' && m.index === 5)).to.deep.equal([]); // held
    expect(n2.ctx.commitIndex).to.equal(5);
    expect(n2.ctx.applyRequestedIndex).to.equal(5); // the snapshot is the state machine through 5
    expect(n2.log.snapshotIndex).to.equal(5);
    expect(n2.log.lastIndex()).to.equal(5);
    expect(n2.log.term(5)).to.equal(1);
  });

  it('snapshot.sendDone ok: probe after the snapshot, waiting for the acknowledgement, then replicate the rest', () => {
    const { c, meta } = behindSnapshot();
    const n1 = c.n('n1');
    c.n('n2').step({ type: 'snapshot.received', from: 'n1', meta });
    expect(n1.step({ type: 'snapshot.sendDone', to: 'n2', index: 5, ok: true }).empty).to.equal(true);
    expect(n1.progress('n2')).to.include({ state: 'probe', next: 6, probeSent: true });
    expect(c.stabilize().filter((l) => l.includes('n2'))).to.deep.equal([
      'n2->n1 appendResp t2 ok 5',
      'n1->n2 append t2 prev 5@1 commit 8 [6@1 7@1 8@2]',
      'n2->n1 appendResp t2 ok 8',
    ]);
    expect(n1.progress('n2')).to.include({ state: 'replicate', match: 8, next: 9 });
  });

  it('the acknowledgement may come first: straight from snapshot to replicate', () => {
    const { c, meta } = behindSnapshot();
    const n1 = c.n('n1');
    c.n('n2').step({ type: 'snapshot.received', from: 'n1', meta });
    c.n('n2').sync();
    const ackMsg = c
      .n('n2')
      .drain()
      .find((m) => m.type === 'appendResp')!;
    const fx = n1.receive(ackMsg);
    expect(n1.progress('n2')).to.include({ state: 'replicate', match: 5 });
    expect(fx.msgs).to.deep.equal(['n1->n2 append t2 prev 5@1 commit 8 [6@1 7@1 8@2]']);
    // A late sendDone for a progress no longer in snapshot state changes nothing.
    expect(n1.step({ type: 'snapshot.sendDone', to: 'n2', index: 5, ok: true }).empty).to.equal(true);
    expect(n1.progress('n2').state).to.equal('replicate');
  });

  it('snapshot.sendDone failed: back to probe, and the next heartbeat answer asks for a snapshot again', () => {
    const { c } = behindSnapshot();
    const n1 = c.n('n1');
    n1.step({ type: 'snapshot.sendDone', to: 'n2', index: 0, ok: false });
    expect(n1.progress('n2')).to.include({ state: 'probe', next: 1, probeSent: true, pendingSnapshot: 0 });
    const fx = n1.step({ type: 'rpc.heartbeatResp', msg: { type: 'heartbeatResp', from: 'n2', to: 'n1', term: 2, readCtx: 0 } });
    expect(fx.sendSnapshot).to.deep.equal([{ to: 'n2', term: 2 }]);
    expect(n1.progress('n2')).to.include({ state: 'snapshot', pendingSnapshot: 5 });
  });

  it('a snapshot answer of a newer term (forwarded by the actor) makes the leader a follower of that term', () => {
    const { c } = behindSnapshot();
    const n1 = c.n('n1');
    const fx = n1.step({
      type: 'rpc.snapshotResp',
      msg: { type: 'snapshotResp', from: 'n2', to: 'n1', term: 4, index: 5, offset: 0, done: false, reject: true },
    });
    expect(n1.role).to.equal('follower');
    expect(n1.term).to.equal(4);
    expect(fx.writes).to.deep.equal(['hardState(term 4, vote -)']);
    expect(n1.core.leader).to.equal(null);
  });

  it("a snapshot at or below the follower's commit index is not installed; the answer carries the commit index", () => {
    const n2 = new PureNode('n2', { entries: ents(1, [1, 1, 1, 1, 1, 1]), term: 2 });
    n2.step(append({ prevIndex: 6, prevTerm: 1, commit: 6 }));
    expect(n2.ctx.commitIndex).to.equal(6);
    const fx = n2.step({ type: 'snapshot.received', from: 'n1', meta: { index: 5, term: 1, membership: voters3 } });
    expect(fx.types).to.deep.equal(['send']);
    expect(fx.msgs).to.deep.equal(['n2->n1 appendResp t2 ok 6 (after durable)']);
    expect(n2.log.snapshotIndex).to.equal(0);
    expect(n2.log.lastIndex()).to.equal(6);
  });

  it("a follower holding the snapshot's last entry keeps its matching suffix; a conflicting one is cut", () => {
    const keep = new PureNode('n2', { entries: ents(1, [1, 1, 1, 1, 1, 2, 2]), term: 2 });
    const kept = keep.step({ type: 'snapshot.received', from: 'n1', meta: { index: 5, term: 1, membership: voters3 } });
    expect(kept.types).to.deep.equal(['installSnapshot', 'send']);
    expect(keep.log.snapshotIndex).to.equal(5);
    expect(keep.log.lastIndex()).to.equal(7);
    expect(keep.ctx.commitIndex).to.equal(5);

    const cut = new PureNode('n2', { entries: ents(1, [1, 1, 1, 3, 3, 3, 3]), term: 3 });
    const fx = cut.step({ type: 'snapshot.received', from: 'n1', meta: { index: 5, term: 2, membership: voters3 } });
    expect(fx.types).to.deep.equal(['installSnapshot', 'persist', 'send']);
    // Every entry is voided, not only those after the snapshot: the durable log must not keep an
    // entry at the snapshot's index that disagrees with it (recovery would discard the whole log).
    expect(fx.writes).to.deep.equal(['truncateFrom 1']);
    expect(cut.log.snapshotIndex).to.equal(5);
    expect(cut.log.lastIndex()).to.equal(5);
    expect(cut.log.term(5)).to.equal(2);
  });

  it('a snapshot installs the membership it carries', () => {
    const n2 = new PureNode('n2', { term: 2 });
    const membership = { voters: ['n1', 'n2', 'n3', 'n4', 'n5'], learners: ['n6'] };
    n2.step({ type: 'snapshot.received', from: 'n1', meta: { index: 5, term: 1, membership } });
    expect(n2.core.membership).to.deep.equal(membership);
  });

  it('a snapshot chunk from the leader goes to the actor (snapshotChunk) and counts as hearing from the leader', () => {
    const n2 = new PureNode('n2', { term: 2 });
    n2.tick(14);
    const chunk = {
      type: 'snapshot' as const,
      from: 'n1',
      to: 'n2',
      term: 2,
      meta: { index: 5, term: 1, membership: voters3 },
      offset: 0,
      totalBytes: 10,
      dataCrc: 0,
      data: new Uint8Array(10),
      done: true,
    };
    const fx = n2.step({ type: 'rpc.snapshot', msg: chunk });
    expect(fx.snapshotChunk).to.deep.equal([{ term: 2, chunk }]);
    expect(n2.ctx.leader).to.equal('n1');
    expect(n2.ctx.electionElapsedTicks).to.equal(0);
  });
});

describe('Rule 17 (§5.2 Election Safety): two leaders in one term is impossible, so seeing one is a crash', () => {
  const appendOf = (term: number) =>
    ({ type: 'rpc.append', msg: { type: 'append', from: 'n3', to: 'n1', term, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] } }) as const;
  const heartbeatOf = (term: number) => ({ type: 'rpc.heartbeat', msg: { type: 'heartbeat', from: 'n3', to: 'n1', term, commit: 0, readCtx: 0 } }) as const;
  const intruders = [appendOf(1), heartbeatOf(1)];

  it('transition() returns the twoLeadersInOneTerm action unexecuted and no effect; executing it throws InvariantError', () => {
    for (const event of intruders) {
      const c = new Cluster(['n1', 'n2', 'n3']);
      const n1 = c.elect('n1');
      const fx = n1.step(event);
      expect(fx.types, event.type).to.deep.equal(['twoLeadersInOneTerm']);
      // Pure transition() does not run custom actions: the snapshot is still an active leader...
      expect(n1.role).to.equal('leader');
      expect(n1.status).to.equal('active');
      // ...and running the returned action is what crashes.
      const action = fx.other[0]!;
      expect(() => action.exec!(action.info, action.params)).to.throw(InvariantError, 'two leaders in term 1: n1 and n3');
      try {
        action.exec!(action.info, action.params);
      } catch (err) {
        expect((err as InvariantError).code).to.equal('RAFT_INVARIANT');
      }
    }
  });

  it('in an actor (what the node runs), the snapshot goes to status error with the InvariantError', () => {
    const n1 = new PureNode('n1', { config: { preVote: false } });
    const actor = createActor(n1.machine, { input: { term: 0, vote: null, commitIndex: 0, corrupt: false, repairThroughIndex: 0 } });
    const errors: unknown[] = [];
    actor.subscribe({ error: (err) => errors.push(err) });
    actor.start();
    actor.send({ type: 'admin.campaign' });
    actor.send({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n2', to: 'n1', term: 1, granted: true, preVote: false } });
    expect(actor.getSnapshot().value).to.equal('leader');
    actor.send(appendOf(1));
    const snap = actor.getSnapshot();
    expect(snap.status).to.equal('error');
    expect(snap.error).to.be.instanceOf(InvariantError);
    expect(errors).to.have.length(1);
    actor.stop();
  });

  it('the same messages from an older term are answered with a rejection, from a newer one make it a follower', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    const n1 = c.elect('n1');
    n1.campaign(); // a leader ignores admin.campaign
    expect(n1.term).to.equal(1);
    const stale = n1.step(appendOf(0));
    expect(stale.msgs).to.deep.equal(['n1->n3 appendResp t1 reject 0 hint 0@0']);
    expect(n1.role).to.equal('leader');
    const newer = n1.step(heartbeatOf(2));
    expect(n1.role).to.equal('follower');
    expect(n1.ctx.leader).to.equal('n3');
    expect(newer.writes).to.deep.equal(['hardState(term 2, vote -)']);
  });

  it('a split vote (all three time out on the same tick) is resolved by randomized retries, one leader per term', () => {
    // Same first draws everywhere: all become candidates of term 1 and vote for themselves.
    const c = new Cluster(['n1', 'n2', 'n3'], (id) => ({ random: id === 'n1' ? [0.5, 0.5, 0.1] : [0.5, 0.5, 0.9], config: { preVote: false } }));
    const leadersByTerm = new Map<number, Set<string>>();
    for (let t = 0; t < 60; t++) {
      c.run(1);
      for (const n of c.nodes.values()) if (n.role === 'leader') (leadersByTerm.get(n.term) ?? leadersByTerm.set(n.term, new Set()).get(n.term)!).add(n.id);
    }
    expect(c.leaders()).to.deep.equal(['n1']);
    expect(c.n('n1').term).to.equal(2); // term 1 was split
    expect(leadersByTerm.has(1)).to.equal(false);
    for (const [term, ids] of leadersByTerm) expect(ids.size, `term ${term}`).to.equal(1);
  });
});

describe('Rule 18: each planted bug changes exactly the rule it is named after, and only in core.rules', () => {
  /** Figure 8 on n1 (leader of term 3 holding 2@2 uncommitted); n2 acknowledges 2 only. */
  function figure8(bugs: PlantedBug[]) {
    const n1 = new PureNode('n1', { entries: ents(1, [1, 2]), term: 2, bugs, config: { preVote: false, appendEntriesMax: 1 } });
    n1.campaign();
    n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n3', to: 'n1', term: 3, granted: true, preVote: false } });
    n1.sync();
    n1.step({ type: 'rpc.appendResp', msg: { type: 'appendResp', from: 'n2', to: 'n1', term: 3, success: false, index: 2, hintIndex: 1, hintTerm: 1 } });
    const fx = n1.step({
      type: 'rpc.appendResp',
      msg: { type: 'appendResp', from: 'n2', to: 'n1', term: 3, success: true, index: 2, hintIndex: 0, hintTerm: 0 },
    });
    return { n1, fx };
  }

  it('commit-previous-term: commits 2@2 by counting replicas in term 3 (Figure 8); without it, nothing commits', () => {
    const good = figure8([]);
    const bad = figure8(['commit-previous-term']);
    expect(good.n1.ctx.commitIndex).to.equal(0);
    expect(good.fx.apply).to.deep.equal([]);
    expect(bad.n1.ctx.commitIndex).to.equal(2);
    expect(bad.fx.apply).to.deep.equal([{ toIndex: 2 }]);
    // The same step otherwise, except that the next AppendEntries spreads the wrong commit index.
    expect(good.fx.msgs).to.deep.equal(['n1->n2 append t3 prev 2@2 commit 0 [3@3]']);
    expect(bad.fx.msgs).to.deep.equal(['n1->n2 append t3 prev 2@2 commit 2 [3@3]']);
    expect(bad.fx.writes).to.deep.equal(good.fx.writes);
  });

  it('vote-ignores-log: grants a (pre-)vote to a stale log; the one-vote-per-term rule still holds', () => {
    const run = (bugs: PlantedBug[]) => {
      const n2 = new PureNode('n2', { entries: ents(1, [1, 2]), term: 2, bugs });
      const pre = n2.step({
        type: 'rpc.vote',
        msg: { type: 'vote', from: 'n1', to: 'n2', term: 3, lastIndex: 1, lastTerm: 1, preVote: true, transfer: false },
      });
      const vote = n2.step({
        type: 'rpc.vote',
        msg: { type: 'vote', from: 'n1', to: 'n2', term: 3, lastIndex: 1, lastTerm: 1, preVote: false, transfer: false },
      });
      const second = n2.step({
        type: 'rpc.vote',
        msg: { type: 'vote', from: 'n3', to: 'n2', term: 3, lastIndex: 9, lastTerm: 2, preVote: false, transfer: false },
      });
      return [...pre.msgs, ...vote.msgs, ...second.msgs];
    };
    expect(run([])).to.deep.equal([
      'n2->n1 voteResp t2 pre rejected',
      'n2->n1 voteResp t3 rejected (after durable)',
      'n2->n3 voteResp t3 granted (after durable)',
    ]);
    expect(run(['vote-ignores-log'])).to.deep.equal([
      'n2->n1 voteResp t3 pre granted',
      'n2->n1 voteResp t3 granted (after durable)',
      'n2->n3 voteResp t3 rejected (after durable)',
    ]);
  });

  it('ack-before-persist: acknowledges and applies before the entries are durable, and the leader counts itself early', () => {
    const follower = (bugs: PlantedBug[]) => {
      const n2 = new PureNode('n2', { term: 2, bugs });
      return n2.step(append({ prevIndex: 0, prevTerm: 0, commit: 1, entries: ents(1, [2, 2]) }));
    };
    const good = follower([]);
    const bad = follower(['ack-before-persist']);
    expect(good.types).to.deep.equal(['persist', 'send']);
    expect(good.msgs).to.deep.equal(['n2->n1 appendResp t2 ok 2 (after durable)']);
    expect(bad.types).to.deep.equal(['persist', 'send', 'apply']);
    expect(bad.msgs).to.deep.equal(['n2->n1 appendResp t2 ok 2']);
    expect(bad.apply).to.deep.equal([{ toIndex: 1 }]);
    expect(bad.writes).to.deep.equal(good.writes);

    const leaderCommit = (bugs: PlantedBug[]) => {
      const n1 = new PureNode('n1', { bugs, config: { preVote: false } });
      n1.campaign();
      n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n2', to: 'n1', term: 1, granted: true, preVote: false } });
      n1.step({ type: 'rpc.appendResp', msg: { type: 'appendResp', from: 'n2', to: 'n1', term: 1, success: true, index: 1, hintIndex: 0, hintTerm: 0 } });
      return n1.ctx.commitIndex; // no storage.durable was ever reported
    };
    expect(leaderCommit([])).to.equal(0);
    expect(leaderCommit(['ack-before-persist'])).to.equal(1);
  });

  it('no-truncate-check: cuts and rewrites entries it already holds (losing the tail); without it nothing is touched', () => {
    const run = (bugs: PlantedBug[]) => {
      const n2 = new PureNode('n2', { entries: ents(1, [1, 1, 1]), term: 2, bugs });
      const fx = n2.step(append({ prevIndex: 1, prevTerm: 1, entries: ents(2, [1]) }));
      return { fx, last: n2.log.lastIndex() };
    };
    const good = run([]);
    const bad = run(['no-truncate-check']);
    expect(good.fx.writes).to.deep.equal([]);
    expect(good.last).to.equal(3);
    expect(bad.fx.writes).to.deep.equal(['truncateFrom 2 entries 2@1']);
    expect(bad.last).to.equal(2);
    expect(bad.fx.msgs).to.deep.equal(good.fx.msgs); // both acknowledge 2
    // A real conflict is handled the same way with and without the bug.
    const conflict = (bugs: PlantedBug[]) =>
      new PureNode('n2', { entries: ents(1, [1, 1, 1]), term: 2, bugs }).step(append({ prevIndex: 1, prevTerm: 1, entries: ents(2, [2]) })).writes;
    expect(conflict(['no-truncate-check'])).to.deep.equal(conflict([]));
  });

  it('skip-fsync (a storage bug) changes nothing in the machines: the same transcript with and without it', () => {
    const run = (bugs: PlantedBug[]) => {
      const c = new Cluster(['n1', 'n2', 'n3'], (id) => ({ bugs, random: id === 'n1' ? 0 : 0.5 }));
      c.run(16);
      c.n(c.leaders()[0]!).propose(1, [cmd(3), cmd(4)]);
      c.run(4);
      return c.transcript;
    };
    const plain = run([]);
    expect(plain.length).to.be.greaterThan(10);
    expect(run(['skip-fsync'])).to.deep.equal(plain);
  });
});
