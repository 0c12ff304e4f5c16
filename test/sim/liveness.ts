/**
 * Issue 15: liveness checked whenever a majority of voters has been up and connected for long
 * enough, not only after the heal.
 *
 * The window opens when a set S of nodes is "good" and stays good: every node of S is up (since the
 * window opened), with trustworthy storage, not barred, its terms known, a voter of its own
 * configuration; every link between two nodes of S is up (since the window opened, both ways); S is
 * a majority of the voters of the configuration in force at every node of S; the network drops
 * nothing and delivers in order (duplicates are allowed); and every other running node that could
 * campaign or lead is cut off from all of S both ways, or linked to all of S both ways (a node cut
 * one way, or from part of S, can hold off elections legitimately: an old leader without
 * check-quorum that still reaches a follower keeps it in its lease). Barred nodes, nodes whose
 * terms are unknown and damaged ones never campaign or lead, so their links do not matter.
 *
 * While the window stays open, a proposal made in it must be acknowledged within `windowMs`; each
 * acknowledgement starts the measure over.
 */
import type { NodeId } from '../../machines/types.js';
import type { SimCluster } from './cluster.js';

export class LivenessWindow {
  /** When the current good window opened (or the last progress in it), null while not good. */
  private sinceMs: number | null = null;
  /** The latest proposal time among acknowledged proposals. */
  private ackedProposedAtMs = -1;
  /** Windows that reached progress (for the statistics). */
  progressCount = 0;
  /** The longest a good window waited for progress. */
  longestWaitMs = 0;

  constructor(
    private readonly cluster: SimCluster,
    readonly windowMs: number,
  ) {}

  /** A proposal made at `proposedAtMs` was acknowledged. */
  onAck(proposedAtMs: number): void {
    if (proposedAtMs > this.ackedProposedAtMs) this.ackedProposedAtMs = proposedAtMs;
  }

  /** Sample now; returns a violation's detail when a good window went without progress for too long. */
  sample(nowMs: number): string | null {
    const since = this.sinceMs ?? nowMs;
    const s = this.goodSet(since);
    if (s === null) {
      this.sinceMs = null;
      return null;
    }
    if (this.sinceMs === null) {
      this.sinceMs = nowMs;
      return null;
    }
    if (this.ackedProposedAtMs >= this.sinceMs) {
      this.progressCount++;
      this.sinceMs = nowMs;
      return null;
    }
    const waited = nowMs - this.sinceMs;
    if (waited > this.longestWaitMs) this.longestWaitMs = waited;
    if (waited < this.windowMs) return null;
    const leader = this.cluster.leader();
    const detail =
      `nodes ${s.join(',')} (a majority of the voters) were up, healthy and connected from ${this.sinceMs}ms, ` +
      `and no proposal made since was acknowledged within ${this.windowMs}ms (leader: ${leader === null ? 'none' : `${leader.id} term ${leader.term()}`})`;
    this.sinceMs = nowMs;
    return detail;
  }

  /** Can this node campaign or lead (else it only follows)? */
  private active(id: NodeId): boolean {
    const n = this.cluster.node(id);
    if (n === null || n.isStopped()) return false;
    const st = n.status();
    return !st.corrupt && !st.votingBarred && !n.termUnknown() && st.membership.voters.includes(id);
  }

  /** The largest good set S of nodes since `sinceMs`, or null when the cluster is not in a good window. */
  private goodSet(sinceMs: number): NodeId[] | null {
    const c = this.cluster;
    const f = c.network.faults;
    if (f.dropRate > 0 || f.slowRate > 0 || f.reorder || c.network.faultsChangedMs > sinceMs) return null;
    const running = c.everStarted().filter((id) => c.isUp(id) && !c.isBooting(id));
    const good = running.filter((id) => c.bootedAtMs(id) <= sinceMs && this.active(id));
    const net = c.network;
    const linked = (a: NodeId, b: NodeId): boolean => net.linkUpSince(a, b, sinceMs) && net.linkUpSince(b, a, sinceMs);
    // The largest set of good nodes linked both ways, pairwise (at most 8 nodes: every subset).
    let best: NodeId[] = [];
    const all = good.every((a, i) => good.every((b, j) => j <= i || linked(a, b)));
    if (all) best = good;
    else {
      for (let mask = 1; mask < 1 << good.length; mask++) {
        const set = good.filter((_, k) => (mask & (1 << k)) !== 0);
        if (set.length <= best.length) continue;
        if (set.every((a, i) => set.every((b, j) => j <= i || linked(a, b)))) best = set;
      }
    }
    if (best.length === 0) return null;
    for (const id of best) {
      const voters = c.node(id)!.status().membership.voters;
      const inS = voters.filter((v) => best.includes(v)).length;
      if (inS < Math.floor(voters.length / 2) + 1) return null;
    }
    for (const x of running) {
      if (best.includes(x) || !this.active(x)) continue;
      const allUp = best.every((s) => linked(x, s));
      const allCut = best.every((s) => net.cutBothSince(x, s, sinceMs));
      if (!allUp && !allCut) return null;
    }
    return best;
  }
}
