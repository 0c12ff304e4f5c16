/**
 * Review of 2026-12-07 (membership): a barred joiner that catches up by a snapshot and is promoted
 * at once; a change past the member limit; a snapshot whose configuration no entry could carry.
 */
import { expect } from 'chai';
import { mayGrantVote } from '../../machines/core.js';
import { encodeMembership } from '../../machines/membership.js';
import { EntryKind, type Entry, type Membership, type RaftMessage, type SnapshotMeta } from '../../machines/types.js';
import { Cluster, involving, PureNode } from './harness.js';

const withLearner: Membership = { voters: ['n1', 'n2', 'n3'], learners: ['n4'] };
const promoted: Membership = { voters: ['n1', 'n2', 'n3', 'n4'], learners: [] };
const meta6: SnapshotMeta = { index: 6, term: 1, membership: withLearner };

function config(index: number, term: number, m: Membership): Entry {
  return { index, term, kind: EntryKind.config, data: encodeMembership(m) };
}

function command(index: number, term: number): Entry {
  return { index, term, kind: EntryKind.command, data: new Uint8Array(0) };
}

function append(prevIndex: number, prevTerm: number, entries: Entry[], commit: number): RaftMessage {
  return { type: 'append', from: 'n1', to: 'n4', term: 2, prevIndex, prevTerm, commit, entries };
}

/**
 * n4 asked for a vote by n2 in a newer term (a transfer campaign: no lease in the way); granted?
 * It raises n4's term: the last question of a test (before it, ask `mayGrantVote`).
 */
function grantsVote(n4: PureNode): boolean {
  const last = n4.log.lastIndex();
  const fx = n4.step({
    type: 'rpc.vote',
    msg: { type: 'vote', from: 'n2', to: 'n4', term: 3, lastIndex: last + 10, lastTerm: 2, preVote: false, transfer: true },
  });
  const answers = fx.sends.map((s) => s.message).filter((m) => m.type === 'voteResp');
  expect(answers, 'one answer').to.have.length(1);
  return answers[0]!.type === 'voteResp' && answers[0]!.granted;
}

/** A joining node on empty storage (barred), that installed the leader n1's snapshot through 6 (n4 a learner in it). */
function barredAfterSnapshot(): PureNode {
  const n4 = new PureNode('n4', { voters: ['n1', 'n2', 'n3'], learners: [], votingBarred: true });
  n4.receive({ type: 'heartbeat', from: 'n1', to: 'n4', term: 2, commit: 0, readCtx: 0 });
  n4.step({ type: 'snapshot.received', from: 'n1', meta: meta6 });
  expect(n4.core.membership).to.deep.equal(withLearner);
  return n4;
}

describe('review 2026-12-07: a barred learner caught up by a snapshot, then promoted', () => {
  it('a promoted learner that caught up by a snapshot may vote (the whole cluster)', () => {
    // n1..n3 recovered a snapshot (through 5@1) whose configuration already holds n4 as a learner;
    // n4 is a joining node on empty storage (barred), started with the voters it was told to join.
    const meta5: SnapshotMeta = { index: 5, term: 1, membership: withLearner };
    const c = new Cluster(['n1', 'n2', 'n3', 'n4'], (id) =>
      id === 'n4' ? { voters: ['n1', 'n2', 'n3'], learners: [], votingBarred: true } : { snapshot: meta5, term: 1 },
    );
    const n1 = c.n('n1');
    const n4 = c.n('n4');
    n1.campaign();
    for (let k = 0; k < 20; k++) {
      c.syncAll();
      c.drop(involving('n4'));
      if (c.deliver().length === 0) break;
    }
    expect(n1.role).to.equal('leader');
    expect(n1.ctx.commitIndex).to.equal(6); // its no-op
    // The leader snapshots at its applied (= commit) index and compacts (what RaftNode does).
    n1.log.compact(6);
    const meta6t2: SnapshotMeta = { index: 6, term: 2, membership: withLearner };
    // A heartbeat round: n1 finds n4's entries compacted and streams its snapshot.
    n1.tick(2);
    c.stabilize();
    expect(n1.history.sendSnapshot.map((s) => s.to)).to.include('n4');
    // (The actor's part: chunks assembled, CRC checked.) n4 installs; n1's stream ends ok.
    n4.step({ type: 'snapshot.received', from: 'n1', meta: meta6t2 });
    expect(n4.core.membership.learners).to.deep.equal(['n4']);
    n1.step({ type: 'snapshot.sendDone', to: 'n4', index: 6, ok: true });
    c.stabilize();
    expect(n1.progress('n4').match).to.equal(6);
    // The leader's promotion check passes (match >= commit, holds the configuration, no lag).
    const fx = n1.step({ type: 'admin.membership', tag: 9, change: { type: 'promote', node: 'n4' } });
    expect(fx.proposalRefused).to.deep.equal([]);
    c.stabilize();
    expect(n1.ctx.commitIndex).to.equal(7);
    expect(n4.core.membership.voters).to.include('n4');
    // Before the fix n4 stayed barred for good: a voter of a 4-voter cluster (quorum 3) that
    // refused every vote and never campaigned, until the process restarted.
    const vote = n4.step({
      type: 'rpc.vote',
      msg: { type: 'vote', from: 'n2', to: 'n4', term: 3, lastIndex: 7, lastTerm: 2, preVote: false, transfer: true },
    });
    expect(n4.ctx.votingBarred, 'n4 still barred after its promotion').to.equal(false);
    expect(vote.msgs).to.deep.equal(['n4->n2 voteResp t3 granted (after durable)']);
  });

  it('the promotion in the first AppendEntries after the snapshot lifts the bar (the leader committed nothing past the snapshot)', () => {
    const n4 = barredAfterSnapshot();
    n4.receive(append(6, 1, [config(7, 2, promoted)], 6));
    expect(n4.core.membership).to.deep.equal(promoted);
    expect(n4.ctx.votingBarred).to.equal(false);
    expect(grantsVote(n4)).to.equal(true);
  });

  it('a snapshot alone does not lift the bar, nor entries short of the leader\u2019s commit index; reaching it does', () => {
    const n4 = barredAfterSnapshot();
    expect(n4.ctx.votingBarred, 'after the snapshot').to.equal(true);
    expect(mayGrantVote(n4.core, n4.ctx), 'after the snapshot').to.equal(false);
    n4.receive(append(6, 1, [command(7, 2)], 8));
    expect(n4.ctx.votingBarred, 'through 7 of a commit index 8').to.equal(true);
    expect(mayGrantVote(n4.core, n4.ctx), 'through 7 of a commit index 8').to.equal(false);
    n4.receive(append(7, 2, [command(8, 2)], 8));
    expect(n4.ctx.votingBarred, 'through the commit index').to.equal(false);
    expect(grantsVote(n4), 'through the commit index').to.equal(true);
  });

  it('old history: a snapshot that holds it as a learner does not lift the bar when the leader committed its promotion since', () => {
    // The node was a learner at 6 and promoted at 7 in an earlier life; it lost its storage since.
    const n4 = barredAfterSnapshot();
    n4.receive(append(6, 1, [config(7, 2, promoted), command(8, 2)], 8));
    expect(n4.core.membership).to.deep.equal(promoted);
    expect(n4.ctx.votingBarred).to.equal(true);
    expect(grantsVote(n4)).to.equal(false);
    expect(n4.step({ type: 'admin.campaign' }).msgs).to.deep.equal([]);
    expect(n4.role).to.equal('follower');
  });
});

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

describe('review 2026-12-07: a snapshot whose configuration no entry could carry is not installed', () => {
  const received = (n: PureNode, membership: Membership): void => {
    n.receive({ type: 'heartbeat', from: 'n1', to: n.id, term: 2, commit: 0, readCtx: 0 });
    const fx = n.step({ type: 'snapshot.received', from: 'n1', meta: { index: 9, term: 2, membership } });
    expect(fx.installSnapshot).to.deep.equal([]);
    expect(n.ctx.commitIndex).to.equal(0);
    expect(n.log.lastIndex()).to.equal(0);
  };

  it('a duplicated voter: not installed, so the node cannot elect itself alone (quorum 2 of "3")', () => {
    const n2 = new PureNode('n2', { term: 2 });
    received(n2, { voters: ['n1', 'n2', 'n2'], learners: [] });
    expect(n2.core.membership.voters).to.deep.equal(['n1', 'n2', 'n3']);
    n2.campaign();
    n2.sync();
    // With the real 3 voters n1, n2, n3 a candidate needs one more vote; it must still be campaigning.
    expect(n2.role).to.equal('candidate');
  });

  it('more than 256 members, none, or a node both voter and learner: not installed', () => {
    const n2 = new PureNode('n2', { term: 2, voters: ['n2'] });
    received(n2, { voters: ['n2'], learners: Array.from({ length: 300 }, (_, k) => `l${k}`) });
    received(n2, { voters: [], learners: ['n2'] });
    received(n2, { voters: ['n1', 'n2'], learners: ['n2'] });
    expect(n2.core.membership).to.deep.equal({ voters: ['n2'], learners: [] });
    expect(n2.status).to.equal('active');
  });
});
