/**
 * A former leader answers the proposals it accepted while it led once it has not led for ten
 * minimum election timeouts without learning their fate: 'leader-changed' (UNKNOWN_OUTCOME to a
 * client, since they may still commit under the new leader). Found by the simulator (seed 64996,
 * `--sessions --membership --process-kills --disk-faults --nodes 5`): a leader cut off and then
 * removed held an auth change unanswered for good. A former leader that hears from the new leader
 * still learns the real fate ('proposal-lost' when its entry was replaced), well inside the bound.
 */
import { expect } from 'chai';
import type { RaftNode } from '../../actors/raft/raftNode.js';
import { defaultRaftConfig } from '../../machines/config.js';
import { EntryKind, type NodeId } from '../../machines/types.js';
import { SimCluster } from '../sim/cluster.js';

const tickMs = 10;
const electionTimeoutMs = defaultRaftConfig.electionTimeoutTicksMin * tickMs;

function cluster(): SimCluster {
  const c = new SimCluster({
    seed: 7,
    nodeCount: 3,
    bugs: new Set(),
    raft: defaultRaftConfig,
    tickMs,
    diskLatency: { syncMsMin: 0, syncMsMax: 1 },
    snapshotEntries: 1000,
    compactMarginEntries: 2,
  });
  c.start();
  return c;
}

/** Runs until a leader has applied its whole log (its no-op committed); bounded by 20 election timeouts. */
function settledLeader(c: SimCluster): RaftNode {
  const until = c.scheduler.nowMs + 20 * electionTimeoutMs;
  c.runUntil(until, () => {
    const l = c.leader();
    return l !== null && l.status().appliedIndex === l.status().lastIndex;
  });
  const leader = c.leader();
  if (leader === null) throw new Error('no leader within 20 election timeouts');
  return leader;
}

/** Cuts every link from `id` to the others (it still hears them), or back. */
function cutOutbound(c: SimCluster, id: NodeId, cut: boolean): void {
  for (const other of c.ids) {
    if (other === id) continue;
    if (cut) c.network.cutLink(id, other);
    else c.network.uncutLink(id, other);
  }
}

/** A leader that cannot reach anyone accepts a proposal; the others elect a leader that deposes it. */
function deposedWithAProposal(c: SimCluster): { old: RaftNode; outcome: string[] } {
  const old = settledLeader(c);
  cutOutbound(c, old.id, true);
  const outcome: string[] = [];
  old.propose({ kind: EntryKind.command, data: new Uint8Array(8) }, (err) => outcome.push(err === null ? 'ok' : err.code));
  // The others elect among themselves, and the new leader's heartbeats reach the old one.
  const until = c.scheduler.nowMs + 20 * electionTimeoutMs;
  c.runUntil(until, () => old.role() !== 'leader' && c.leader() !== null && c.leader() !== old);
  expect(old.role(), 'the old leader stepped down').to.not.equal('leader');
  expect(outcome, 'nothing answered yet: its entry is in its log, its fate unknown to it').to.deep.equal([]);
  return { old, outcome };
}

describe('raft: a former leader answers its orphaned proposals', () => {
  it('cut off from the cluster, it answers leader-changed ten minimum election timeouts after it stopped leading, and not before', () => {
    const c = cluster();
    const { old, outcome } = deposedWithAProposal(c);
    // Now it hears no one either: it can never learn whether its entry committed.
    for (const other of c.ids) if (other !== old.id) c.network.cutLink(other, old.id);
    const stoppedLeadingMs = c.scheduler.nowMs;
    c.runUntil(stoppedLeadingMs + 8 * electionTimeoutMs);
    expect(outcome, 'still waiting within the bound').to.deep.equal([]);
    c.runUntil(stoppedLeadingMs + 30 * electionTimeoutMs, () => outcome.length > 0);
    expect(outcome).to.deep.equal(['leader-changed']);
    expect(old.counters.get('proposals-orphaned')).to.equal(1);
    // Answered once: nothing more comes, however long it waits.
    c.runUntil(c.scheduler.nowMs + 20 * electionTimeoutMs);
    expect(outcome).to.deep.equal(['leader-changed']);
  });

  it('back in touch with the new leader, it learns the real fate first: its entry was replaced (proposal-lost)', () => {
    const c = cluster();
    const { old, outcome } = deposedWithAProposal(c);
    cutOutbound(c, old.id, false);
    c.runUntil(c.scheduler.nowMs + 5 * electionTimeoutMs, () => outcome.length > 0);
    expect(outcome).to.deep.equal(['proposal-lost']);
    expect(old.counters.get('proposals-orphaned') ?? 0).to.equal(0);
  });
});
