/**
 * Three faults a review of the leader's log window change (a62e9ac..82c4add) found, each first
 * reproduced by a test that failed on 82c4add (2026-12-07):
 *  - a read back that keeps failing above the leader's latest snapshot made the leader send that
 *    snapshot again and again, and the follower never caught up once the writes stopped;
 *  - a node that had installed a snapshot past the end of its log released no entry data until
 *    its own first compaction (its WAL could not read the entry right after the snapshot), so as
 *    leader it held far more than its window;
 *  - an acknowledgement past the end of the leader's log reached an assertion.
 */
import { expect } from 'chai';
import { ReadBackError } from '../../storage/readBack.js';
import { clusterPerTest, cutN3AndWrite, waitFor, windowBytes, type Cluster } from './readBackCluster.js';

/** Makes every read of n1's WAL that `fails` says fail with read-checksum (a damaged record). */
function failReads(c: Cluster, fails: (from: number, toIndex: number) => boolean): void {
  const wal = c.logs.get('n1')!.log as unknown as { readEntries: (f: number, t: number, b: number) => unknown };
  const read = wal.readEntries.bind(wal);
  wal.readEntries = (f, t, b) => {
    if (fails(f, t)) throw new ReadBackError('read-checksum', `injected: a damaged record in [${f}, ${t}]`);
    return read(f, t, b);
  };
}

/** The index of n1's latest saved snapshot (0: none). */
function latestSnapshotIndex(c: Cluster): number {
  return (c.n('n1') as unknown as { latestSnapshot: { meta: { index: number } } | null }).latestSnapshot?.meta.index ?? 0;
}

describe('raft: a read back failing above the latest snapshot (review of 2026-12-07)', function () {
  const cluster = clusterPerTest(this, { leaderSaveDelayMs: 40 });

  it('the follower gets a snapshot through the unreadable entry and catches up after the writes stopped', async () => {
    const c = cluster();
    await cutN3AndWrite(c, 30);
    const n1 = c.n('n1');
    // Small rounds until, with no save in progress or due, n1's data floor is above its latest
    // snapshot (it released past its window while the last one was saved, and less than a window
    // was applied during that save); then the writes stop. Bounded: 500 rounds of 5 KiB, each
    // within the 10 s waits.
    let rounds = 0;
    for (; rounds < 500; rounds++) {
      await waitFor('no save in progress', () => !n1.savingSnapshot, 10_000);
      // A save that came due during the last one starts on the next step: give it that step.
      n1.tick();
      await new Promise((r) => setImmediate(r));
      if (!n1.savingSnapshot && latestSnapshotIndex(c) > 0 && n1.log.dataFloor > latestSnapshotIndex(c)) break;
      await Promise.all(Array.from({ length: 5 }, () => c.propose(1024)));
    }
    const S = latestSnapshotIndex(c);
    const F = n1.log.dataFloor;
    expect(F, `n1's data floor above its latest snapshot after ${rounds} rounds`).to.be.above(S);
    // Entry F is damaged on n1's disk: every read that covers it fails, for good.
    failReads(c, (from, toIndex) => from <= F && F <= toIndex);
    c.cut.delete('n3');
    const target = n1.status().commitIndex;
    // Without the fix n1 sent snapshot S hundreds of times in 5 s and n3 stayed at S.
    await waitFor(`n3 to apply ${target} (stuck at the snapshot ${S} before the fix)`, () => c.n('n3').status().appliedIndex >= target, 10_000);
    const count = (k: string): number => n1.counters.get(k) ?? 0;
    console.log(
      `      snapshot ${S}, damaged entry ${F}, n3 at ${c.n('n3').status().appliedIndex}; n1 read-back failures ${count('read-back-read-checksum')}, ` +
        `snapshots forced ${count('snapshot-forced')}, sent ${count('snapshot-sent')}`,
    );
    expect(n1.counters.get('snapshot-forced') ?? 0, 'a snapshot through the damaged entry').to.be.at.least(1);
    expect(n1.counters.get('read-back-read-checksum') ?? 0, 'the damaged entry was read').to.be.at.least(1);
    expect(n1.counters.get('snapshot-sent') ?? 0, 'a handful of streams, not one per round trip').to.be.below(10);
  });
});

describe('raft: a leader that installed a snapshot past the end of its log (review of 2026-12-07)', function () {
  const cluster = clusterPerTest(this, { leaderSaveDelayMs: 100, allSlow: true });

  it('keeps its entry data within the window plus 32 KiB while it leads', async () => {
    const c = cluster();
    await cutN3AndWrite(c, 30);
    const n1 = c.n('n1');
    await waitFor('n1 to compact', () => n1.log.snapshotIndex > 100 && !n1.savingSnapshot, 10_000);
    // n3 must install a snapshot (nothing it lacks can be read back meanwhile).
    let reads = true;
    failReads(c, () => reads);
    c.cut.delete('n3');
    const n3 = c.n('n3');
    await waitFor('n3 to install a snapshot', () => (n3.counters.get('snapshot-installed') ?? 0) > 0 && !n3.savingSnapshot, 10_000);
    reads = false;
    await waitFor("n3 to apply n1's commit index", () => n3.status().appliedIndex >= n1.status().commitIndex, 10_000);
    n1.transferLeadership('n3');
    await waitFor('n3 to lead', () => n3.role() === 'leader', 10_000);
    // 200 KiB through n3, whose saves take 100 ms: before the fix it released nothing until its
    // own first compaction and held 209,624 B against the 64 KiB window.
    let heldMax = 0;
    for (let k = 0; k < 10; k++) {
      await Promise.all(Array.from({ length: 20 }, () => c.propose(1024, 'n3')));
      heldMax = Math.max(heldMax, n3.memory().logEntries);
    }
    console.log(
      `      n3 held at most ${heldMax} B of entry data (window ${windowBytes}); released past it ${n3.counters.get('applied-released-past-window') ?? 0} times`,
    );
    expect(heldMax, "n3's entry data").to.be.at.most(windowBytes + 32 * 1024);
    expect(n3.log.readBackFloor, "n3's WAL reads from the entry after the installed snapshot").to.be.above(0);
  });
});

describe('raft: an acknowledgement past the end of the leader log (review of 2026-12-07)', function () {
  const cluster = clusterPerTest(this);

  it('is refused and counted; the leader keeps leading and committing', async () => {
    const c = cluster();
    const n1 = c.n('n1');
    await c.propose(100);
    const last = n1.log.lastIndex();
    expect(() =>
      n1.receive({ type: 'appendResp', from: 'n2', to: 'n1', term: n1.term(), success: true, index: last + 10, hintIndex: 0, hintTerm: 0 }),
    ).not.to.throw();
    expect(n1.counters.get('append-resp-past-log')).to.equal(1);
    expect(n1.role()).to.equal('leader');
    expect(n1.status().progress['n2']!.match).to.be.at.most(last);
    await c.propose(100);
    expect(n1.status().commitIndex).to.be.above(last);
  });
});
