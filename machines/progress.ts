/**
 * A leader's view of one follower (etcd's Progress): a small named state machine.
 *  - probe: we don't know where the follower's log matches ours; send one AppendEntries and wait.
 *  - replicate: logs match through `match`; stream entries optimistically, bounded by `Inflights`.
 *  - snapshot: the follower needs a snapshot; send nothing else until it is installed or fails.
 */
import { assert } from './assert.js';

type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** A bounded window of AppendEntries in flight, by count and by bytes (a ring buffer). */
class Inflights {
  private readonly lastIndexes: Float64Array;
  private readonly sizes: Float64Array;
  private start = 0;
  count = 0;
  bytes = 0;

  constructor(
    readonly countMax: number,
    readonly bytesMax: number,
  ) {
    this.lastIndexes = new Float64Array(countMax);
    this.sizes = new Float64Array(countMax);
  }

  full(): boolean {
    return this.count >= this.countMax || this.bytes >= this.bytesMax;
  }

  add(lastIndex: number, bytes: number): void {
    assert(this.count < this.countMax, 'inflights not full when adding');
    const slot = (this.start + this.count) % this.countMax;
    this.lastIndexes[slot] = lastIndex;
    this.sizes[slot] = bytes;
    this.count++;
    this.bytes += bytes;
  }

  /** Forget every message whose last entry is <= index (acknowledged). */
  freeLE(index: number): void {
    while (this.count > 0 && this.lastIndexes[this.start]! <= index) {
      this.bytes -= this.sizes[this.start]!;
      this.start = (this.start + 1) % this.countMax;
      this.count--;
    }
    if (this.count === 0) {
      this.start = 0;
      this.bytes = 0;
    }
  }

  /** Forget the oldest message (its answer was probably lost): lets a stuck window move again. */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.freeLE(this.lastIndexes[this.start]!);
  }

  reset(): void {
    this.start = 0;
    this.count = 0;
    this.bytes = 0;
  }
}

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In probe state: an AppendEntries is out and we wait for its answer (or a heartbeat answer). */
  probeSent = false;
  /** In snapshot state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = true;
  /**
   * Issue 18: a read of entries from this index back from the durable log is out (0: none). The
   * progress sends nothing else meanwhile; cleared only by the read's answer (whatever the state
   * did meanwhile), so that at most one read per follower is ever out.
   */
  readBackFrom = 0;
  /** Highest ReadIndex context this follower confirmed in the current term. */
  readCtxAcked = 0;
  readonly inflights: Inflights;

  constructor(next: number, inflightAppendsMax: number, inflightBytesMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightAppendsMax, inflightBytesMax);
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  /** A successful answer through `index`. Returns whether it told us anything new. */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the AppendEntries whose prevIndex was `rejected`; `matchHint` is the highest index
   * that may still match (from the follower's conflict hint). Returns false for a stale rejection.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) {
        // Stale, unless the follower says it holds less than we believed (its log went back:
        // a restart after disk damage). Believing it is always safe: match only counts toward
        // commitment, and a lower match only delays it.
        if (matchHint >= this.match) return false;
        this.match = matchHint;
      }
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) {
      // A damaged follower's repair request (it asks for everything after its last entry, which is
      // where we probe anyway): probe again, so that an AppendEntries verifies its log and carries
      // the commit index (issue 15, finding 5). Anything else is stale.
      if (rejected !== this.next || matchHint < this.next - 1) return false;
      this.probeSent = false;
      return true;
    }
    // The follower lacks entries we believed it had (its log went back: a restart after disk
    // damage, or a bug): believe it, never keep probing above what it holds.
    if (matchHint < this.match) this.match = matchHint;
    this.next = Math.max(Math.min(rejected, matchHint + 1), 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    if (this.readBackFrom > 0) return true;
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Record that an AppendEntries carrying entries through `lastIndex` (`bytes` of them) was sent. */
  sentEntries(lastIndex: number, count: number, bytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, bytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }
}
