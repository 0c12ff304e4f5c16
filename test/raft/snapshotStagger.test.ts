/**
 * The nodes of a cluster do not snapshot at the same index (2026-12-08): a node that starts without
 * a snapshot takes its first at 1 - k/n of the thresholds, k its place among the n voters by ID,
 * and each later one a full period after its last (a restart with a snapshot of its own keeps that
 * place). Before, every node counted from the same
 * index and snapshotted at the same one, every time; under a backlog of 90,000 active sessions both
 * followers stalled together and the leader stepped down for want of a quorum. Three RaftNodes on
 * real WALs (test/raft/readBackCluster.ts: a 64 KiB log window, so the window's bytes decide).
 */
import { expect } from 'chai';
import type { RaftNode } from '../../actors/raft/raftNode.js';
import { clusterPerTest, waitFor, windowBytes, type Cluster } from './readBackCluster.js';

const ids = ['n1', 'n2', 'n3'];

/** Writes 8 entries of 1 KiB through n1 and waits until every node applied them and saves nothing. */
async function batch(c: Cluster): Promise<void> {
  await Promise.all(Array.from({ length: 8 }, () => c.propose(1024)));
  const commit = c.n('n1').status().commitIndex;
  await waitFor(
    'every node to apply the batch and finish its save',
    () => ids.every((id) => c.n(id).status().appliedIndex >= commit && !c.n(id).savingSnapshot),
    10_000,
  );
}

describe('raft: snapshots spread over the nodes (2026-12-07 night)', function () {
  const cluster = clusterPerTest(this);

  /** Started a snapshot (saving, or saved). */
  const snapshotted = (n: RaftNode): boolean => n.savingSnapshot || (n.counters.get('snapshot-taken') ?? 0) > 0;

  it('the third voter by ID snapshots first (a third of the window), then the second (two thirds), then the first (the whole)', async () => {
    const c = cluster();
    /** The batch after which each node had started its first snapshot. */
    const firstAt = new Map<string, number>();
    // Bounded: 2 windows of 1 KiB entries, 8 at a time, each batch applied everywhere before the next.
    for (let k = 0; k < Math.ceil((2 * windowBytes) / 1024 / 8) && firstAt.size < 3; k++) {
      await batch(c);
      for (const id of ids) if (!firstAt.has(id) && snapshotted(c.n(id))) firstAt.set(id, k);
    }
    expect(firstAt.size, 'all three snapshotted within two windows').to.equal(3);
    // A window is 64 batches of 1 KiB: a third of it is 2-3 batches of 8 (entries weigh a little more).
    expect(firstAt.get('n3')!, JSON.stringify([...firstAt])).to.be.below(firstAt.get('n2')!);
    expect(firstAt.get('n2')!, JSON.stringify([...firstAt])).to.be.below(firstAt.get('n1')!);
  });
});

describe('raft: snapshots spread over the nodes stay apart', function () {
  const cluster = clusterPerTest(this);

  it('each node takes its later snapshots a window after its last: the second round keeps the order of the first', async () => {
    const c = cluster();
    const taken = (id: string): number => c.n(id).counters.get('snapshot-taken') ?? 0;
    /** The batch after which each node had saved its second snapshot. */
    const secondAt = new Map<string, number>();
    // Bounded: 3 windows of 1 KiB entries, 8 at a time, each batch applied and saved everywhere before the next.
    for (let k = 0; k < Math.ceil((3 * windowBytes) / 1024 / 8) && secondAt.size < 3; k++) {
      await batch(c);
      for (const id of ids) if (!secondAt.has(id) && taken(id) >= 2) secondAt.set(id, k);
    }
    expect(secondAt.size, 'all three took two within three windows').to.equal(3);
    expect(secondAt.get('n3')!, JSON.stringify([...secondAt])).to.be.below(secondAt.get('n2')!);
    expect(secondAt.get('n2')!, JSON.stringify([...secondAt])).to.be.below(secondAt.get('n1')!);
  });
});

describe('raft: a restarted node keeps its place among the snapshots (review of 2026-12-08)', function () {
  const cluster = clusterPerTest(this);

  it('n2, restarted after its first snapshot, takes its next a window after its last: not with n3, whose next comes a third of a window sooner', async () => {
    const c = cluster();
    const taken = (id: string): number => c.n(id).counters.get('snapshot-taken') ?? 0;
    // Bounded: 2 windows of 1 KiB entries, 8 at a time, until every node took its first (n3 at a
    // third of a window, n2 at two thirds, n1 at the whole).
    for (let k = 0; k < Math.ceil((2 * windowBytes) / 1024 / 8) && !ids.every((id) => taken(id) >= 1); k++) await batch(c);
    expect(ids.map(taken), 'each took its first within two windows').to.deep.equal([1, 1, 1]);
    // n2 starts again from its snapshot and WAL (its counters start at 0). Applied again from its
    // snapshot's index, its next comes a window after that snapshot (five thirds of a window);
    // with the phase applied again at every start it came at 2/3 + 2/3 = 4/3, n3's (1/3 + 1).
    await c.restart('n2');
    const nextAt = new Map<string, number>();
    for (let k = 0; k < Math.ceil((2 * windowBytes) / 1024 / 8) && nextAt.size < 3; k++) {
      await batch(c);
      if (!nextAt.has('n1') && taken('n1') >= 2) nextAt.set('n1', k);
      if (!nextAt.has('n2') && taken('n2') >= 1) nextAt.set('n2', k);
      if (!nextAt.has('n3') && taken('n3') >= 2) nextAt.set('n3', k);
    }
    expect(nextAt.size, 'all three took their next within two windows').to.equal(3);
    const at = (id: string): number => nextAt.get(id)!;
    // A third of a window is 2-3 batches of 8 KiB: n2 at least two batches after n3, and before n1.
    expect(at('n2') - at('n3'), JSON.stringify([...nextAt])).to.be.at.least(2);
    expect(at('n2'), JSON.stringify([...nextAt])).to.be.below(at('n1'));
  });
});
