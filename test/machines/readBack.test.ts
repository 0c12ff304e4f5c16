/**
 * Issue 18: a leader whose in-memory log no longer holds what a follower needs asks the node actor
 * to read the entries back from the durable log (`readEntries`) when they are still there
 * (`log.readBackFloor`), and turns the answer (`log.readBack`) into one AppendEntries; below the
 * floor, after a failed read or with entries that disagree with its log, it sends a snapshot.
 */
import { expect } from 'chai';
import type { RaftEvent } from '../../machines/events.js';
import type { RaftConfig } from '../../machines/config.js';
import type { Entry, SnapshotMeta } from '../../machines/types.js';
import { defaultRaftConfig } from '../../machines/config.js';
import { readBackServes } from '../../machines/leader.js';
import { Cluster, ents } from './harness.js';

const voters3 = { voters: ['n1', 'n2', 'n3'], learners: [] };

/** n1 and n3 hold a snapshot through 5@1 plus 6@1 7@1; n2 has nothing; n1's WAL still holds from `floor`. */
function behind(floor: number, config: Partial<RaftConfig> = {}): Cluster {
  const meta: SnapshotMeta = { index: 5, term: 1, membership: voters3 };
  const c = new Cluster(['n1', 'n2', 'n3'], (id) => (id === 'n2' ? { term: 1, config } : { snapshot: meta, entries: ents(6, [1, 1]), term: 1, config }));
  c.n('n1').log.readBackFloor = floor;
  c.n('n1').campaign();
  c.stabilize();
  expect(c.n('n1').role).to.equal('leader');
  return c;
}

function readBack(over: Partial<Extract<RaftEvent, { type: 'log.readBack' }>>): RaftEvent {
  return { type: 'log.readBack', to: 'n2', term: 2, from: 1, prevTerm: 0, entries: ents(1, [1, 1, 1, 1, 1]), ...over };
}

describe('issue 18: entries read back from the durable log for a follower behind the in-memory log', () => {
  it('asks for the entries below the in-memory log instead of a snapshot, and waits for them (one read per follower)', () => {
    const c = behind(1);
    const n1 = c.n('n1');
    expect(n1.history.readEntries).to.deep.equal([{ to: 'n2', term: 2, from: 1, toIndex: 5, bytesMax: n1.core.config.appendBytesMax }]);
    expect(n1.history.sendSnapshot).to.deep.equal([]);
    expect(n1.progress('n2').readBackFrom).to.equal(1);
    // Paused meanwhile: a heartbeat answer sends nothing more to n2.
    const fx = n1.step({ type: 'rpc.heartbeatResp', msg: { type: 'heartbeatResp', from: 'n2', to: 'n1', term: 2, readCtx: 0 } });
    expect(fx.msgs).to.deep.equal([]);
    expect(fx.readEntries).to.deep.equal([]);
  });

  it('turns the answer into one AppendEntries with the prevLogTerm read back, then continues from memory', () => {
    const c = behind(1);
    const n1 = c.n('n1');
    const fx = n1.step(readBack({}));
    expect(fx.msgs).to.deep.equal(['n1->n2 append t2 prev 0@0 commit 8 [1@1 2@1 3@1 4@1 5@1]']);
    expect(n1.progress('n2').readBackFrom).to.equal(0);
    // n2 accepts: the rest comes from the in-memory log, and n2 catches up without a snapshot.
    c.stabilize();
    expect(n1.history.sendSnapshot).to.deep.equal([]);
    expect(c.n('n2').log.lastIndex()).to.equal(n1.log.lastIndex());
    expect(c.n('n2').log.term(3)).to.equal(1);
  });

  it('drops an answer for another term, another start or a follower that moved on', () => {
    const c = behind(1);
    const n1 = c.n('n1');
    expect(n1.step(readBack({ term: 1 })).empty).to.equal(true);
    expect(n1.step(readBack({ from: 2 })).empty).to.equal(true);
    expect(n1.progress('n2').readBackFrom, 'still waiting for its own answer').to.equal(1);
  });

  it('sends a snapshot when the read failed or its entries disagree with the log', () => {
    const failed = behind(1);
    // The request names the read's start: a snapshot below it would bring n2 back to the same
    // read (review of 2026-12-07).
    const fx = failed.n('n1').step(readBack({ entries: null, prevTerm: -1 }));
    expect(fx.sendSnapshot).to.deep.equal([{ to: 'n2', term: 2, unreadFrom: 1 }]);
    expect(failed.n('n1').progress('n2').state).to.equal('snapshot');

    // Entry 5 with term 2, but the snapshot says 5@1.
    const wrong = behind(1);
    const bad: Entry[] = [...ents(1, [1, 1, 1, 1]), ...ents(5, [2])];
    expect(wrong.n('n1').step(readBack({ entries: bad })).sendSnapshot).to.deep.equal([{ to: 'n2', term: 2, unreadFrom: 1 }]);

    // Not contiguous.
    const gap = behind(1);
    expect(gap.n('n1').step(readBack({ entries: ents(2, [1, 1]) })).sendSnapshot).to.deep.equal([{ to: 'n2', term: 2, unreadFrom: 1 }]);
  });

  it("probes from a follower's hint below the in-memory log, not down from the snapshot index one entry at a time", () => {
    // n2 holds 1@1 2@1 (it missed the rest); its rejection hints (2, 1). Our terms below the
    // snapshot are unknown: the first read starts right after the hint.
    const meta: SnapshotMeta = { index: 5, term: 1, membership: voters3 };
    const c = new Cluster(['n1', 'n2', 'n3'], (id) =>
      id === 'n2' ? { entries: ents(1, [1, 1]), term: 1 } : { snapshot: meta, entries: ents(6, [1, 1]), term: 1 },
    );
    c.n('n1').log.readBackFloor = 1;
    c.n('n1').campaign();
    c.stabilize();
    expect(c.n('n1').history.readEntries.map((r) => r.from)).to.deep.equal([3]);
  });

  it('below the floor (or with no floor) a snapshot, as before read-back', () => {
    expect(behind(0).n('n1').history.sendSnapshot).to.deep.equal([{ to: 'n2', term: 2 }]);
    const c = behind(3);
    expect(c.n('n1').history.readEntries).to.deep.equal([]);
    expect(c.n('n1').history.sendSnapshot).to.deep.equal([{ to: 'n2', term: 2 }]);
  });

  it('a follower four full windows or more behind the snapshot gets a snapshot, not entries read back (issue 15, seed 4190)', () => {
    // n2 needs 1..5: 4 entries below the snapshot index. With one entry a message and one in
    // flight, four windows carry 4: not fewer than the gap, so a snapshot; with two in flight, a read.
    const far = behind(1, { appendEntriesMax: 1, inflightAppendsMax: 1 });
    expect(far.n('n1').history.readEntries).to.deep.equal([]);
    expect(far.n('n1').history.sendSnapshot).to.deep.equal([{ to: 'n2', term: 2 }]);
    const near = behind(1, { appendEntriesMax: 1, inflightAppendsMax: 2 });
    expect(near.n('n1').history.sendSnapshot).to.deep.equal([]);
    expect(near.n('n1').history.readEntries.map((r) => [r.from, r.toIndex])).to.deep.equal([[1, 1]]);
  });

  it('inside the in-memory log a follower is read back however far below the data floor; below it or before any compaction, the four windows decide (2026-12-07)', () => {
    // Four windows of one entry a message, one in flight: 4 entries.
    const cfg = { ...defaultRaftConfig, appendEntriesMax: 1, inflightAppendsMax: 1 };
    // A leader that released its applied data past its window: floor 500, log compacted to 100.
    expect(readBackServes(cfg, 50, 100, 500, 101), 'just above the compaction point, 400 below the floor').to.equal(true);
    expect(readBackServes(cfg, 50, 100, 500, 497), 'near the floor').to.equal(true);
    expect(readBackServes(cfg, 50, 100, 500, 100), 'at the compaction point, far: a snapshot').to.equal(false);
    expect(readBackServes(cfg, 50, 100, 102, 99), 'below it but near').to.equal(true);
    expect(readBackServes(cfg, 120, 100, 500, 110), 'below what the durable log can read').to.equal(false);
    expect(readBackServes(cfg, 0, 100, 500, 110), 'no durable log to read').to.equal(false);
    // Never compacted (a young cluster's wiped follower from index 1): the four windows decide.
    expect(readBackServes(cfg, 1, 0, 500, 1)).to.equal(false);
    expect(readBackServes(cfg, 1, 0, 4, 1)).to.equal(true);
  });

  it("reads from the durable log's floor and gives the previous term from its own log; where it does not know it, a snapshot (2026-12-07)", () => {
    // n1: a snapshot through 5@1, then 6@1 7@1 whose data it released; its WAL reads from 6 (a
    // base record at 5: the entry before the floor is not on disk). n2 holds 1..5.
    const meta: SnapshotMeta = { index: 5, term: 1, membership: voters3 };
    const c = new Cluster(['n1', 'n2', 'n3'], (id) =>
      id === 'n2' ? { entries: ents(1, [1, 1, 1, 1, 1]), term: 1 } : { snapshot: meta, entries: ents(6, [1, 1]), term: 1 },
    );
    const n1 = c.n('n1');
    n1.log.readBackFloor = 6;
    n1.log.releaseDataThrough(7);
    expect(n1.log.dataFloor).to.equal(7);
    n1.campaign();
    c.stabilize();
    expect(n1.history.readEntries.map((r) => [r.to, r.from])).to.deep.equal([['n2', 6]]);
    const fx = n1.step(readBack({ from: 6, prevTerm: -1, entries: ents(6, [1, 1]) }));
    expect(fx.msgs).to.deep.equal(['n1->n2 append t2 prev 5@1 commit 8 [6@1 7@1]']);
    c.stabilize();
    expect(n1.history.sendSnapshot).to.deep.equal([]);
    expect(c.n('n2').log.lastIndex()).to.equal(n1.log.lastIndex());

    // n2 holds 1..3: entry 3 is below n1's snapshot, its term unknown there. A read from the
    // floor (4) could not be vouched for: a snapshot at once, no read.
    const d = new Cluster(['n1', 'n2', 'n3'], (id) =>
      id === 'n2' ? { entries: ents(1, [1, 1, 1]), term: 1 } : { snapshot: meta, entries: ents(6, [1, 1]), term: 1 },
    );
    d.n('n1').log.readBackFloor = 4;
    d.n('n1').campaign();
    d.stabilize();
    expect(d.n('n1').history.readEntries).to.deep.equal([]);
    expect(d.n('n1').history.sendSnapshot.map((s) => s.to)).to.deep.equal(['n2']);
  });

  it('a read answered without the previous term, which the log does not know either, sends a snapshot', () => {
    const c = behind(1);
    const n1 = c.n('n1');
    // The read of [1, 5] comes back without the term before 1, which n1 (a snapshot at 5) does not
    // hold either.
    const fx = n1.step(readBack({ prevTerm: -1 }));
    expect(fx.msgs).to.deep.equal([]);
    expect(fx.sendSnapshot).to.deep.equal([{ to: 'n2', term: 2, unreadFrom: 1 }]);
  });
});
