/**
 * Raft's Figure 8 as a deterministic transcript on the simulated cluster: a leader may not commit an
 * entry of an earlier term by counting replicas. With the planted bug it does, and the next leader
 * overwrites the "committed" entry (a Leader Completeness violation); without it, nothing is lost.
 * Also: a seed replays exactly.
 */
import { expect } from 'chai';
import { defaultRaftConfig } from '../../machines/config.js';
import type { PlantedBug } from '../../machines/core.js';
import { EntryKind } from '../../machines/types.js';
import { SimCluster } from './cluster.js';
import { runScenario, faultKinds } from './scenario.js';

function figure8(bugs: PlantedBug[]) {
  const c = new SimCluster({
    seed: 7,
    nodeCount: 3,
    bugs: new Set(bugs),
    // One entry per AppendEntries, so that an old-term entry can reach a follower alone.
    raft: { ...defaultRaftConfig, electionTimeoutTicksMin: 10, heartbeatIntervalTicks: 2, appendEntriesMax: 1 },
    tickMs: 10,
    diskLatency: { syncMsMin: 0, syncMsMax: 1 },
    snapshotEntries: 100_000,
    compactMarginEntries: 0,
  });
  const net = c.network;
  const s = c.scheduler;
  // Every wait is bounded in simulated time.
  const run = (ms: number, stop?: () => boolean): void => c.runUntil(s.nowMs + ms, stop);
  const propose = (id: string, v: number): void => c.node(id)!.propose({ kind: EntryKind.command, data: new Uint8Array([v]) }, () => undefined);
  c.start();
  run(1000, () => c.leader() !== null);
  const s1 = c.leader()!.id;
  for (let k = 0; k < 3; k++) propose(s1, k);
  run(200);
  const others = c.ids.filter((x) => x !== s1);
  // (a) S1 appends X but cannot send it: nobody else has it.
  for (const x of others) net.cutLink(s1, x);
  propose(s1, 99);
  run(5);
  const xIndex = c.node(s1)!.log.lastIndex();
  // (b) S2 wins the next term and is cut off at once: its own entry at X's index reaches nobody.
  let s2: string | null = null;
  let s2Term = 0;
  c.onNewLeader = (n) => {
    if (n.id !== s1 && s2 === null) {
      s2 = n.id;
      s2Term = n.term();
      for (const x of c.ids) if (x !== n.id) net.breakAfter(n.id, x, 0, 5000);
    }
  };
  run(2000, () => s2 !== null);
  expect(s2, 'a second leader').to.not.equal(null);
  const s3 = c.ids.find((x) => x !== s1 && x !== s2)!;
  // (c) S1 wins again and reaches S3 with exactly two messages: the probe, then X alone.
  let s1Again = false;
  c.onNewLeader = (n) => {
    if (n.id === s1 && n.term() > s2Term) {
      s1Again = true;
      net.breakAfter(s1, s3, 2, 5000);
      net.breakAfter(s1, s2!, 0, 5000);
    }
  };
  for (const x of others) net.uncutLink(s1, x);
  run(3000, () => s1Again);
  expect(s1Again, 'S1 leads again').to.equal(true);
  run(30);
  const s1CommitAfter = c.node(s1)!.status().commitIndex;
  // (d) S2 comes back and wins with S3's vote (its last term is higher than X's).
  c.onNewLeader = null;
  net.uncutLink(s2!, s1);
  net.uncutLink(s2!, s3);
  run(3000);
  return { c, xIndex, s1CommitAfter, violations: c.checker.violations };
}

describe('Figure 8: commitment only by counting replicas of current-term entries', () => {
  it('with the planted bug commit-previous-term, the old entry is committed and then overwritten', () => {
    const { xIndex, s1CommitAfter, violations } = figure8(['commit-previous-term']);
    expect(s1CommitAfter, 'S1 counted replicas of an old-term entry').to.equal(xIndex);
    expect(violations.map((v) => v.property)).to.include('leader-completeness');
  });

  it('without it, the old entry is not committed and the cluster stays safe', () => {
    const { c, xIndex, s1CommitAfter, violations } = figure8([]);
    expect(s1CommitAfter).to.be.lessThan(xIndex);
    expect(violations).to.deep.equal([]);
    expect(c.error).to.equal(null);
    // Everyone ends with the same committed log.
    const commits = c.liveNodes().map((n) => n.status().commitIndex);
    expect(Math.max(...commits)).to.be.greaterThan(xIndex);
  });
});

describe('simulator determinism', () => {
  it('a seed replays exactly: same events, same outcome', () => {
    const opts = { seed: 4242, bugs: new Set<PlantedBug>(), faults: [...faultKinds], chaosMs: 2000 };
    const a = runScenario(opts);
    const b = runScenario(opts);
    expect(b.stats).to.deep.equal(a.stats);
    expect(a.stats.faults).to.be.greaterThan(0);
  });
});
