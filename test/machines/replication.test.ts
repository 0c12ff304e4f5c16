/**
 * Log replication, one describe per rule (Raft §5.3, §5.4.2, §8; etcd's progress and batching),
 * driven through XState's pure `transition()`.
 */
import { expect } from 'chai';
import type { AppendRequest, AppendResponse } from '../../machines/types.js';
import { Cluster, cmd, ents, PureNode } from './harness.js';

function append(over: Partial<AppendRequest> & Pick<AppendRequest, 'prevIndex' | 'prevTerm'>): { type: 'rpc.append'; msg: AppendRequest } {
  return { type: 'rpc.append', msg: { type: 'append', from: 'n1', to: 'n2', term: 2, commit: 0, entries: [], ...over } };
}

function ack(from: string, term: number, index: number): { type: 'rpc.appendResp'; msg: AppendResponse } {
  return { type: 'rpc.appendResp', msg: { type: 'appendResp', from, to: 'n1', term, success: true, index, hintIndex: 0, hintTerm: 0 } };
}

function nack(from: string, term: number, index: number, hintIndex: number, hintTerm: number): { type: 'rpc.appendResp'; msg: AppendResponse } {
  return { type: 'rpc.appendResp', msg: { type: 'appendResp', from, to: 'n1', term, success: false, index, hintIndex, hintTerm } };
}

/** n1 made leader of term 1 by hand (n2's vote), its no-op durable; peers still in probe. */
function leader(opts: ConstructorParameters<typeof PureNode>[1] = {}): PureNode {
  const n1 = new PureNode('n1', { config: { preVote: false }, ...opts });
  n1.campaign();
  const term = n1.term;
  n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n2', to: 'n1', term, granted: true, preVote: false } });
  expect(n1.role).to.equal('leader');
  n1.sync();
  return n1;
}

/** A leader whose peers acknowledged the no-op: both in replicate, entry 1 committed. */
function replicatingLeader(opts: ConstructorParameters<typeof PureNode>[1] = {}): PureNode {
  const n1 = leader(opts);
  const last = n1.log.lastIndex();
  for (const p of n1.core.membership.voters) if (p !== 'n1') n1.step(ack(p, n1.term, last));
  expect(n1.progress('n2').state).to.equal('replicate');
  return n1;
}

describe('Rule 6 (§8): a new leader appends a no-op of its term and replicates it at once', () => {
  it('appends the no-op, persists it and sends AppendEntries to every peer in the same step, not waiting for its own write', () => {
    const n1 = new PureNode('n1', { config: { preVote: false }, learners: ['n4'] });
    n1.campaign();
    const fx = n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n3', to: 'n1', term: 1, granted: true, preVote: false } });
    expect(n1.role).to.equal('leader');
    expect(fx.types).to.deep.equal(['persist', 'send', 'send', 'send']);
    expect(fx.writes).to.deep.equal(['entries 1@1']);
    expect(fx.persist[0]!.entries[0]!.kind).to.equal(0); // EntryKind.noop
    expect(fx.persist[0]!.entries[0]!.data.byteLength).to.equal(0);
    expect(fx.msgs).to.deep.equal([
      'n1->n2 append t1 prev 0@0 commit 0 [1@1]',
      'n1->n3 append t1 prev 0@0 commit 0 [1@1]',
      'n1->n4 append t1 prev 0@0 commit 0 [1@1]', // learners receive the log too
    ]);
    expect(n1.outbox.length).to.equal(3); // released while the no-op is still being written
    expect(n1.log.persistedIndex).to.equal(0);
    expect(n1.ctx.leader).to.equal('n1');
  });

  it('with an existing log, the first AppendEntries probes at its last entry', () => {
    const n1 = new PureNode('n1', { config: { preVote: false }, entries: ents(1, [1, 1, 2]), term: 2 });
    n1.campaign();
    const fx = n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n2', to: 'n1', term: 3, granted: true, preVote: false } });
    expect(fx.writes).to.deep.equal(['entries 4@3']);
    expect(fx.msgs).to.deep.equal(['n1->n2 append t3 prev 3@2 commit 0 [4@3]', 'n1->n3 append t3 prev 3@2 commit 0 [4@3]']);
    expect(n1.progress('n2')).to.include({ state: 'probe', next: 4, match: 0, probeSent: true });
  });

  it('the leader role state is created on entry and dropped on exit', () => {
    const n1 = leader();
    expect(n1.core.leader).to.not.equal(null);
    n1.step({ type: 'rpc.appendResp', msg: { type: 'appendResp', from: 'n2', to: 'n1', term: 9, success: false, index: 0, hintIndex: 0, hintTerm: 0 } });
    expect(n1.role).to.equal('follower');
    expect(n1.term).to.equal(9);
    expect(n1.core.leader).to.equal(null);
  });
});

describe('Rule 7 (§5.4.2, Figure 8): commitment by counting replicas of current-term entries, durable ones only', () => {
  it('the leader counts itself only once its own write is durable (ack first, then durable)', () => {
    const n1 = new PureNode('n1', { config: { preVote: false } });
    n1.campaign();
    n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n2', to: 'n1', term: 1, granted: true, preVote: false } });
    const fx = n1.step(ack('n2', 1, 1));
    expect(fx.apply).to.deep.equal([]);
    expect(n1.ctx.commitIndex).to.equal(0); // n2 has it, n1's own copy is not durable yet
    const durable = n1.sync();
    expect(n1.ctx.commitIndex).to.equal(1);
    expect(durable.apply).to.deep.equal([{ toIndex: 1 }]);
  });

  it('the leader counts itself only once durable (durable first, then a quorum of acks)', () => {
    const n1 = new PureNode('n1', { config: { preVote: false }, voters: ['n1', 'n2', 'n3', 'n4', 'n5'] });
    n1.campaign();
    n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n2', to: 'n1', term: 1, granted: true, preVote: false } });
    n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n3', to: 'n1', term: 1, granted: true, preVote: false } });
    expect(n1.sync().apply).to.deep.equal([]);
    expect(n1.step(ack('n2', 1, 1)).apply).to.deep.equal([]); // 2 of 5
    const fx = n1.step(ack('n4', 1, 1)); // 3 of 5
    expect(fx.apply).to.deep.equal([{ toIndex: 1 }]);
    expect(n1.ctx.commitIndex).to.equal(1);
  });

  it('the leader applies what a quorum of followers made durable, before its own write completes', () => {
    const n1 = new PureNode('n1', { config: { preVote: false }, voters: ['n1', 'n2', 'n3', 'n4', 'n5'] });
    n1.campaign();
    n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n2', to: 'n1', term: 1, granted: true, preVote: false } });
    n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n3', to: 'n1', term: 1, granted: true, preVote: false } });
    // n1's own copy of the no-op is never reported durable here.
    expect(n1.step(ack('n2', 1, 1)).apply).to.deep.equal([]);
    expect(n1.step(ack('n3', 1, 1)).apply).to.deep.equal([]); // 2 of 5 without n1's own copy
    const fx = n1.step(ack('n4', 1, 1)); // 3 of 5, all of them followers
    expect(n1.log.persistedIndex).to.equal(0);
    expect(n1.ctx.commitIndex).to.equal(1);
    expect(fx.apply).to.deep.equal([{ toIndex: 1 }]);
  });

  it('a durability report for an entry that was since overwritten (different term) counts for nothing', () => {
    const n1 = new PureNode('n1', { config: { preVote: false } });
    n1.campaign();
    n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n2', to: 'n1', term: 1, granted: true, preVote: false } });
    n1.step({ type: 'storage.durable', index: 1, term: 7 });
    expect(n1.log.persistedIndex).to.equal(0);
    n1.step(ack('n2', 1, 1));
    expect(n1.ctx.commitIndex).to.equal(0);
  });

  it('Figure 8: an entry of a previous term stored on a majority is not committed until an entry of the current term is', () => {
    // n1 holds 1@1 2@2 (2@2 was never committed) and becomes leader of term 3; at most one entry per message.
    const n1 = leader({ entries: ents(1, [1, 2]), term: 2, config: { preVote: false, appendEntriesMax: 1 } });
    expect(n1.term).to.equal(3);
    expect(n1.log.persistedIndex).to.equal(3); // 3@3, the no-op, is durable too
    // n2 holds 1@1 only: its rejection leads n1 to send 2@2 alone.
    const back = n1.step(nack('n2', 3, 2, 1, 1));
    expect(back.msgs).to.deep.equal(['n1->n2 append t3 prev 1@1 commit 0 [2@2]']);
    const fx = n1.step(ack('n2', 3, 2));
    // 2@2 is now on n1 and n2, a majority of three, and must stay uncommitted.
    expect(n1.ctx.commitIndex).to.equal(0);
    expect(fx.apply).to.deep.equal([]);
    expect(fx.msgs).to.deep.equal(['n1->n2 append t3 prev 2@2 commit 0 [3@3]']);
    const cur = n1.step(ack('n2', 3, 3));
    expect(n1.ctx.commitIndex).to.equal(3); // commits 2@2 with it, indirectly
    expect(cur.apply).to.deep.equal([{ toIndex: 3 }]);
  });

  it('a follower commits min(leaderCommit, last new entry) but applies only what is also durable', () => {
    const n2 = new PureNode('n2', { term: 2 });
    const fx = n2.step(append({ prevIndex: 0, prevTerm: 0, commit: 2, entries: ents(1, [2, 2, 2]) }));
    expect(n2.ctx.commitIndex).to.equal(2);
    expect(fx.apply).to.deep.equal([]);
    expect(n2.step({ type: 'storage.durable', index: 1, term: 2 }).apply).to.deep.equal([{ toIndex: 1 }]);
    expect(n2.step({ type: 'storage.durable', index: 3, term: 2 }).apply).to.deep.equal([{ toIndex: 2 }]);
  });

  it('nothing commits or applies anywhere while no write is reported durable', () => {
    const c = new Cluster(['n1', 'n2', 'n3'], { config: { preVote: false } });
    c.n('n1').campaign();
    c.n('n1').sync(); // its vote for itself
    c.deliver();
    // The votes stay held on their senders until their hard state is durable.
    expect(c.n('n2').held.map((m) => m.type)).to.deep.equal(['voteResp']);
    expect(c.deliver()).to.deep.equal([]);
    c.n('n2').sync();
    c.n('n3').sync();
    c.deliver();
    expect(c.n('n1').role).to.equal('leader');
    // From here on nobody's write completes: the leader's AppendEntries go out, the acknowledgements do not.
    expect(c.deliver()).to.deep.equal(['n1->n2 append t1 prev 0@0 commit 0 [1@1]', 'n1->n3 append t1 prev 0@0 commit 0 [1@1]']);
    for (let k = 0; k < 3; k++) expect(c.deliver()).to.deep.equal([]);
    c.n('n1').tick(2); // heartbeats and their answers flow, but commit nothing
    expect(c.deliver()).to.have.length(2);
    expect(c.deliver()).to.deep.equal(['n2->n1 heartbeatResp t1 ctx 0', 'n3->n1 heartbeatResp t1 ctx 0']);
    c.deliver();
    for (const id of ['n1', 'n2', 'n3']) {
      expect(c.n(id).ctx.commitIndex, id).to.equal(0);
      expect(c.n(id).history.apply, id).to.deep.equal([]);
    }
    c.stabilize();
    expect(c.n('n1').ctx.commitIndex).to.equal(1);
    c.run(2);
    for (const id of ['n1', 'n2', 'n3']) expect(c.n(id).history.apply, id).to.deep.equal([{ toIndex: 1 }]);
  });

  it('the commit index reaches followers in the next AppendEntries or heartbeat, capped at what each is known to hold', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.n('n1').propose(1, [cmd(), cmd()]);
    c.syncAll();
    expect(c.deliver()).to.deep.equal(['n1->n2 append t1 prev 1@1 commit 1 [2@1 3@1]', 'n1->n3 append t1 prev 1@1 commit 1 [2@1 3@1]']);
    c.syncAll();
    c.deliver((m) => m.from === 'n2'); // only n2's acknowledgement gets through
    expect(c.n('n1').ctx.commitIndex).to.equal(3);
    c.drop(() => true);
    c.n('n1').tick(2);
    expect(c.pending()).to.deep.equal(['n1->n2 heartbeat t1 commit 3 ctx 0', 'n1->n3 heartbeat t1 commit 1 ctx 0']);
  });
});

describe('Rule 8 (§5.3): the AppendEntries consistency check, truncation only on a real conflict', () => {
  it('rejects a mismatch at once (not after durable) with the conflict hint from findConflictByTerm', () => {
    const cases: [terms: number[], prevIndex: number, prevTerm: number, hint: string][] = [
      [[1, 1], 5, 2, '2@1'], // the log is too short: hint at its last entry
      [[1, 1, 1, 2, 2, 2], 6, 3, '6@2'], // the last entry has an older term
      [[1, 1, 1, 3, 3, 3], 6, 2, '3@1'], // the whole run of term 3 cannot match a term-2 entry
      [[3, 3, 3], 3, 2, '0@0'], // nothing can match
    ];
    for (const [terms, prevIndex, prevTerm, hint] of cases) {
      const n2 = new PureNode('n2', { entries: ents(1, terms), term: 4 });
      const fx = n2.step(append({ term: 4, prevIndex, prevTerm, entries: ents(prevIndex + 1, [4]) }));
      expect(fx.msgs, `${terms} prev ${prevIndex}@${prevTerm}`).to.deep.equal([`n2->n1 appendResp t4 reject ${prevIndex} hint ${hint}`]);
      expect(fx.persist).to.deep.equal([]);
      expect(n2.log.lastIndex()).to.equal(terms.length);
    }
  });

  it('accepts when prevIndex/prevTerm match: appends, persists the new entries, acknowledges after durable', () => {
    const n2 = new PureNode('n2', { entries: ents(1, [1, 1]), term: 2 });
    const fx = n2.step(append({ prevIndex: 2, prevTerm: 1, entries: ents(3, [2, 2]) }));
    expect(fx.types).to.deep.equal(['persist', 'send']);
    expect(fx.writes).to.deep.equal(['entries 3@2 4@2']);
    expect(fx.msgs).to.deep.equal(['n2->n1 appendResp t2 ok 4 (after durable)']);
    expect(n2.outbox).to.deep.equal([]);
    expect(n2.sync().empty).to.equal(true);
    expect(n2.drain().map((m) => m.type)).to.deep.equal(['appendResp']);
  });

  it('entries already present with the same term are neither rewritten nor persisted again, and nothing is truncated', () => {
    const n2 = new PureNode('n2', { entries: ents(1, [1, 1, 2, 2]), term: 2 });
    // A duplicate of entries it has; then a late, shorter retransmission of an old prefix.
    const dup = n2.step(append({ prevIndex: 1, prevTerm: 1, entries: ents(2, [1, 2]) }));
    expect(dup.persist).to.deep.equal([]);
    expect(dup.msgs).to.deep.equal(['n2->n1 appendResp t2 ok 3 (after durable)']);
    const old = n2.step(append({ prevIndex: 0, prevTerm: 0, entries: ents(1, [1]) }));
    expect(old.persist).to.deep.equal([]);
    expect(old.msgs).to.deep.equal(['n2->n1 appendResp t2 ok 1 (after durable)']);
    expect(n2.log.lastIndex()).to.equal(4);
    // Overlapping: only the new tail is written.
    const tail = n2.step(append({ prevIndex: 2, prevTerm: 1, entries: ents(3, [2, 2, 2]) }));
    expect(tail.writes).to.deep.equal(['entries 5@2']);
  });

  it('truncates from the first real conflict and writes only from there', () => {
    const n2 = new PureNode('n2', { entries: ents(1, [1, 1, 1, 1]), term: 2 });
    const fx = n2.step(append({ prevIndex: 1, prevTerm: 1, entries: ents(2, [1, 2]) }));
    expect(fx.writes).to.deep.equal(['truncateFrom 3 entries 3@2']);
    expect(n2.log.lastIndex()).to.equal(3);
    expect(n2.log.term(3)).to.equal(2);
    expect(fx.msgs).to.deep.equal(['n2->n1 appendResp t2 ok 3 (after durable)']);
  });

  it('never touches committed entries: an AppendEntries below the commit index is answered with the commit index', () => {
    const n2 = new PureNode('n2', { entries: ents(1, [1, 1, 1]), term: 2 });
    n2.step(append({ prevIndex: 3, prevTerm: 1, commit: 3 }));
    expect(n2.ctx.commitIndex).to.equal(3);
    const fx = n2.step(append({ prevIndex: 1, prevTerm: 1, entries: ents(2, [2, 2]) }));
    expect(fx.persist).to.deep.equal([]);
    expect(fx.msgs).to.deep.equal(['n2->n1 appendResp t2 ok 3 (after durable)']);
    expect(n2.log.term(2)).to.equal(1);
  });

  it('commits min(leaderCommit, index of the last new entry): entries past the message are not known to match', () => {
    const n2 = new PureNode('n2', { entries: ents(1, [1, 1, 1, 1, 1]), term: 2 });
    const fx = n2.step(append({ prevIndex: 1, prevTerm: 1, commit: 5, entries: ents(2, [1]) }));
    expect(n2.ctx.commitIndex).to.equal(2);
    expect(fx.apply).to.deep.equal([{ toIndex: 2 }]); // recovered entries are durable
    n2.step(append({ prevIndex: 4, prevTerm: 1, commit: 5 }));
    expect(n2.ctx.commitIndex).to.equal(4);
  });

  it('a stale-term AppendEntries is rejected with our term; a newer one is adopted with its sender as leader', () => {
    const n2 = new PureNode('n2', { term: 3 });
    expect(n2.step(append({ term: 2, prevIndex: 0, prevTerm: 0 })).msgs).to.deep.equal(['n2->n1 appendResp t3 reject 0 hint 0@0']);
    const fx = n2.step(append({ term: 5, prevIndex: 0, prevTerm: 0, entries: ents(1, [5]) }));
    expect(fx.writes).to.deep.equal(['hardState(term 5, vote -)', 'entries 1@5']);
    expect(n2.ctx.leader).to.equal('n1');
    expect(n2.term).to.equal(5);
  });
});

describe('Rule 9 (§5.3): fast backtracking skips a whole term per round trip', () => {
  function backtrack(leaderTerms: number[], leaderTerm: number, followerTerms: number[], followerTerm: number): string[] {
    const c = new Cluster(['n1', 'n2', 'n3'], (id) =>
      id === 'n2' ? { entries: ents(1, followerTerms), term: followerTerm } : { entries: ents(1, leaderTerms), term: leaderTerm, config: { preVote: false } },
    );
    c.n('n1').campaign();
    const lines = c.stabilize().filter((l) => l.startsWith('n1->n2 append') || l.startsWith('n2->n1 appendResp'));
    // The follower ends with exactly the leader's log.
    const n1 = c.n('n1');
    const n2 = c.n('n2');
    expect(n2.log.lastIndex()).to.equal(n1.log.lastIndex());
    for (let i = 1; i <= n1.log.lastIndex(); i++) expect(n2.log.term(i), `term of ${i}`).to.equal(n1.log.term(i));
    return lines;
  }

  it('a follower with a long run of a stale term needs one rejection (eight with one-by-one decrements)', () => {
    const lines = backtrack([1, 1, 1, 4, 4, 5, 5, 6, 6, 6], 6, [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], 3);
    expect(lines).to.deep.equal([
      'n1->n2 append t7 prev 10@6 commit 0 [11@7]',
      'n2->n1 appendResp t7 reject 10 hint 10@3',
      'n1->n2 append t7 prev 3@1 commit 0 [4@4 5@4 6@5 7@5 8@6 9@6 10@6 11@7]',
      'n2->n1 appendResp t7 ok 11',
    ]);
  });

  it('a follower holding a higher-term tail the leader lacks: the leader skips using its own log', () => {
    const lines = backtrack([1, 1, 1, 4, 4, 5, 5, 5], 5, [1, 1, 1, 4, 4, 4, 4], 4);
    expect(lines).to.deep.equal([
      'n1->n2 append t6 prev 8@5 commit 0 [9@6]',
      'n2->n1 appendResp t6 reject 8 hint 7@4',
      'n1->n2 append t6 prev 5@4 commit 0 [6@5 7@5 8@5 9@6]',
      'n2->n1 appendResp t6 ok 9',
    ]);
  });

  it('interleaved terms on both sides: one rejection per divergent term (two, where one-by-one needs five)', () => {
    const lines = backtrack([1, 1, 2, 2, 4, 4], 4, [1, 1, 3, 3, 3, 3, 3, 3], 3);
    expect(lines).to.deep.equal([
      'n1->n2 append t5 prev 6@4 commit 0 [7@5]',
      'n2->n1 appendResp t5 reject 6 hint 6@3',
      'n1->n2 append t5 prev 4@2 commit 0 [5@4 6@4 7@5]',
      'n2->n1 appendResp t5 reject 4 hint 2@1',
      'n1->n2 append t5 prev 2@1 commit 7 [3@2 4@2 5@4 6@4 7@5]',
      'n2->n1 appendResp t5 ok 7',
    ]);
  });

  it('a follower with an empty log gets everything after one rejection', () => {
    const lines = backtrack([1, 2, 3, 4], 4, [], 4);
    expect(lines).to.deep.equal([
      'n1->n2 append t5 prev 4@4 commit 0 [5@5]',
      'n2->n1 appendResp t5 reject 4 hint 0@0',
      'n1->n2 append t5 prev 0@0 commit 0 [1@1 2@2 3@3 4@4 5@5]',
      'n2->n1 appendResp t5 ok 5',
    ]);
  });

  it('a stale rejection (for a prevIndex no longer probed) is ignored', () => {
    const n1 = leader({ entries: ents(1, [1, 1, 1]), term: 1 });
    expect(n1.progress('n2')).to.include({ next: 4, probeSent: true });
    expect(n1.step(nack('n2', 2, 1, 0, 0)).empty).to.equal(true);
    expect(n1.progress('n2')).to.include({ next: 4, probeSent: true });
  });
});

describe('Rule 10 (etcd progress): probe, replicate and snapshot flow control per follower', () => {
  it('probe: one AppendEntries, then nothing until it is answered', () => {
    const n1 = leader();
    expect(n1.progress('n2')).to.include({ state: 'probe', probeSent: true });
    const fx = n1.propose(1, [cmd(), cmd()]);
    expect(fx.writes).to.deep.equal(['entries 2@1 3@1']);
    expect(fx.msgs).to.deep.equal([]);
    // The answer moves it to replicate and sends everything since.
    const acked = n1.step(ack('n2', 1, 1));
    expect(n1.progress('n2')).to.include({ state: 'replicate', match: 1, next: 4 });
    expect(acked.msgs).to.deep.equal(['n1->n2 append t1 prev 1@1 commit 1 [2@1 3@1]']);
  });

  it('replicate: streams up to inflightAppendsMax messages, and an acknowledgement frees the window', () => {
    const n1 = replicatingLeader({ config: { preVote: false, inflightAppendsMax: 2 } });
    expect(n1.propose(1, [cmd()]).msgs).to.deep.equal(['n1->n2 append t1 prev 1@1 commit 1 [2@1]', 'n1->n3 append t1 prev 1@1 commit 1 [2@1]']);
    expect(n1.propose(2, [cmd()]).msgs).to.deep.equal(['n1->n2 append t1 prev 2@1 commit 1 [3@1]', 'n1->n3 append t1 prev 2@1 commit 1 [3@1]']);
    expect(n1.propose(3, [cmd()]).msgs).to.deep.equal([]); // both windows full
    expect(n1.progress('n2').inflights.count).to.equal(2);
    const fx = n1.step(ack('n2', 1, 2));
    // (Commit stays 1: the leader's own copies of 2 and 3 were never reported durable.)
    expect(fx.msgs).to.deep.equal(['n1->n2 append t1 prev 3@1 commit 1 [4@1]']);
    expect(n1.progress('n2').inflights.count).to.equal(2);
    n1.step(ack('n2', 1, 4));
    expect(n1.progress('n2').inflights.count).to.equal(0);
  });

  it('replicate: the window is bounded in bytes too (exceeded by at most the message that fills it)', () => {
    // 100 data bytes + 24 overhead = 124 bytes per entry; one entry per message.
    const n1 = replicatingLeader({ config: { preVote: false, inflightBytesMax: 300, appendEntriesMax: 1 } });
    const fx = n1.propose(1, [cmd(100), cmd(100), cmd(100), cmd(100), cmd(100)]);
    const toN2 = fx.msgs.filter((l) => l.startsWith('n1->n2'));
    expect(toN2).to.deep.equal([
      'n1->n2 append t1 prev 1@1 commit 1 [2@1]',
      'n1->n2 append t1 prev 2@1 commit 1 [3@1]',
      'n1->n2 append t1 prev 3@1 commit 1 [4@1]',
    ]);
    expect(n1.progress('n2').inflights.bytes).to.equal(372);
    const freed = n1.step(ack('n2', 1, 3));
    expect(freed.msgs).to.deep.equal(['n1->n2 append t1 prev 4@1 commit 1 [5@1]', 'n1->n2 append t1 prev 5@1 commit 1 [6@1]']);
  });

  it('a rejection in replicate falls back to probe at match+1 and sends a single probe', () => {
    const n1 = replicatingLeader();
    n1.propose(1, [cmd(), cmd()]);
    expect(n1.progress('n2')).to.include({ state: 'replicate', match: 1, next: 4 });
    const fx = n1.step(nack('n2', 1, 3, 1, 1));
    expect(n1.progress('n2')).to.include({ state: 'probe', match: 1, next: 2, probeSent: true });
    expect(n1.progress('n2').inflights.count).to.equal(0);
    expect(fx.msgs).to.deep.equal(['n1->n2 append t1 prev 1@1 commit 1 [2@1 3@1]']);
  });

  it('a rejection at or below match in replicate, whose hint does not go below match, is stale and ignored', () => {
    const n1 = replicatingLeader();
    n1.propose(1, [cmd()]);
    expect(n1.step(nack('n2', 1, 1, 1, 1)).empty).to.equal(true);
    expect(n1.progress('n2')).to.include({ state: 'replicate', match: 1, next: 3 });
  });

  it('a rejection at or below match whose hint is below match lowers match and probes (the follower lost entries)', () => {
    const n1 = replicatingLeader();
    n1.propose(1, [cmd()]);
    const fx = n1.step(nack('n2', 1, 1, 0, 0));
    expect(n1.progress('n2')).to.include({ state: 'probe', match: 0, next: 1, probeSent: true });
    expect(fx.msgs).to.deep.equal(['n1->n2 append t1 prev 0@0 commit 1 [1@1 2@1]']);
  });

  it('a heartbeat response unpauses a probe (its AppendEntries or answer may be lost) and re-sends it', () => {
    const n1 = leader();
    n1.propose(1, [cmd()]);
    expect(n1.step({ type: 'rpc.heartbeatResp', msg: { type: 'heartbeatResp', from: 'n2', to: 'n1', term: 1, readCtx: 0 } }).msgs).to.deep.equal([
      'n1->n2 append t1 prev 0@0 commit 0 [1@1 2@1]',
    ]);
    expect(n1.progress('n2')).to.include({ state: 'probe', probeSent: true });
  });

  it('a heartbeat response frees one slot of a full window (its acknowledgements may be lost)', () => {
    const n1 = replicatingLeader({ config: { preVote: false, inflightAppendsMax: 1 } });
    n1.propose(1, [cmd()]);
    expect(n1.propose(2, [cmd()]).msgs).to.deep.equal([]);
    const fx = n1.step({ type: 'rpc.heartbeatResp', msg: { type: 'heartbeatResp', from: 'n2', to: 'n1', term: 1, readCtx: 0 } });
    expect(fx.msgs).to.deep.equal(['n1->n2 append t1 prev 2@1 commit 1 [3@1]']);
  });

  it('a follower whose log went back below match is repaired at once (match follows its hint; no livelock)', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    c.elect('n1');
    c.n('n1').propose(1, [cmd(), cmd()]);
    c.stabilize();
    expect(c.n('n1').progress('n2').match).to.equal(3);
    // n2 restarts having lost 2@1 and 3@1 (which it had acknowledged).
    c.restart('n2', { entries: ents(1, [1]), term: 1, vote: 'n1' });
    c.n('n1').propose(2, [cmd()]);
    expect(c.stabilize().filter((l) => l.includes('n2'))).to.deep.equal([
      'n1->n2 append t1 prev 3@1 commit 3 [4@1]',
      'n2->n1 appendResp t1 reject 3 hint 1@1', // below match 3: the follower went back; believe it
      'n1->n2 append t1 prev 1@1 commit 3 [2@1 3@1 4@1]',
      'n2->n1 appendResp t1 ok 4',
    ]);
    expect(c.n('n1').progress('n2')).to.include({ state: 'replicate', match: 4 });
  });
});

describe('Rule 11: AppendEntries are batched and bounded (bytes, entries); one event per batch', () => {
  it('one proposal event with many proposals: one persist and one message per peer, not one per entry', () => {
    const n1 = replicatingLeader();
    const fx = n1.propose(
      7,
      Array.from({ length: 10 }, () => cmd(10)),
    );
    expect(fx.types).to.deep.equal(['persist', 'proposalAccepted', 'send', 'send']);
    expect(fx.persist[0]!.entries.length).to.equal(10);
    expect(fx.proposalAccepted).to.deep.equal([{ tag: 7, firstIndex: 2, lastIndex: 11, term: 1 }]);
    expect(fx.messages.map((m) => (m.type === 'append' ? m.entries.length : -1))).to.deep.equal([10, 10]);
  });

  it('appendBytesMax bounds each message (entries of 124 bytes, 300 bytes per message: two per message)', () => {
    const n1 = replicatingLeader({ config: { preVote: false, appendBytesMax: 300 } });
    const fx = n1.propose(
      1,
      Array.from({ length: 5 }, () => cmd(100)),
    );
    expect(fx.msgs.filter((l) => l.startsWith('n1->n2'))).to.deep.equal([
      'n1->n2 append t1 prev 1@1 commit 1 [2@1 3@1]',
      'n1->n2 append t1 prev 3@1 commit 1 [4@1 5@1]',
      'n1->n2 append t1 prev 5@1 commit 1 [6@1]',
    ]);
  });

  it('appendEntriesMax bounds each message by count', () => {
    const n1 = replicatingLeader({ config: { preVote: false, appendEntriesMax: 3 } });
    const fx = n1.propose(
      1,
      Array.from({ length: 7 }, () => cmd()),
    );
    expect(fx.msgs.filter((l) => l.startsWith('n1->n3'))).to.deep.equal([
      'n1->n3 append t1 prev 1@1 commit 1 [2@1 3@1 4@1]',
      'n1->n3 append t1 prev 4@1 commit 1 [5@1 6@1 7@1]',
      'n1->n3 append t1 prev 7@1 commit 1 [8@1]',
    ]);
  });

  it('an entry larger than appendBytesMax still goes, alone', () => {
    const n1 = replicatingLeader({ config: { preVote: false, appendBytesMax: 50 } });
    const fx = n1.propose(1, [cmd(100), cmd(1)]);
    expect(fx.msgs.filter((l) => l.startsWith('n1->n2'))).to.deep.equal([
      'n1->n2 append t1 prev 1@1 commit 1 [2@1]',
      'n1->n2 append t1 prev 2@1 commit 1 [3@1]',
    ]);
  });

  it('a probe carries a bounded batch too', () => {
    const n1 = new PureNode('n1', { config: { preVote: false, appendEntriesMax: 2 }, entries: ents(1, [1, 1, 1, 1]), term: 1 });
    n1.campaign();
    n1.step({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n2', to: 'n1', term: 2, granted: true, preVote: false } });
    const fx = n1.step(nack('n2', 2, 4, 0, 0));
    expect(fx.msgs).to.deep.equal(['n1->n2 append t2 prev 0@0 commit 0 [1@1 2@1]']);
  });
});
