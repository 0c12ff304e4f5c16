/**
 * Replays the log's records, in order, into the list of live entries.
 *
 * The log is an append-only stream of entry, truncate and base records; this is the one place that
 * defines what that stream means, used by recovery (and mirrored by the writer's own checks).
 *
 * Issue 18: live entries below `keepFromIndex` (recovery passes the snapshot's index: what it
 * covers is never applied again) are followed but not kept, so a restart does not hold an object
 * and a view of a segment buffer for every entry the WAL retains below the snapshot. Only the
 * first live index and the last live term are remembered of them.
 */
import type { Entry } from '../machines/types.js';
import type { DamageMark } from './records.js';

type ApplyResult = 'ok' | 'gap';

export class LogBuilder {
  /** Live entries with index ≥ keepFromIndex, contiguous, the last one the last live entry. */
  readonly entries: Entry[] = [];
  /** The index the next entry must have; 0 while unknown (no record seen yet: the log may have been compacted). */
  nextIndex = 0;
  /** Highest index a base record moved the log to (a snapshot covers everything through it). */
  baseIndex = 0;
  /** A damage mark whose repair has not been recorded yet. */
  pending: DamageMark | null = null;

  /** Whether any entry is live (kept or not), the index of the first one and the term of the last. */
  private live = false;
  private liveFirst = 0;
  private liveLastTerm = 0;

  constructor(readonly keepFromIndex = 0) {}

  applyEntry(e: Entry): ApplyResult {
    if (this.nextIndex !== 0 && e.index !== this.nextIndex) return 'gap';
    if (!this.live) {
      this.live = true;
      this.liveFirst = e.index;
    }
    if (e.index >= this.keepFromIndex) this.entries.push(e);
    this.liveLastTerm = e.term;
    this.nextIndex = e.index + 1;
    this.noteReached(e.index);
    return 'ok';
  }

  applyTruncate(fromIndex: number): ApplyResult {
    // Truncating past the end would leave a hole before the next entry.
    if (this.nextIndex !== 0 && fromIndex > this.nextIndex) return 'gap';
    if (this.live) {
      if (fromIndex <= this.liveFirst) this.clear();
      else if (fromIndex < this.nextIndex) {
        const kept = this.entries;
        if (kept.length > 0 && fromIndex - kept[0]!.index < kept.length) kept.length = Math.max(0, fromIndex - kept[0]!.index);
        // The new last live entry: kept when it is at or above the floor, else below it.
        this.liveLastTerm = kept.length > 0 && kept[kept.length - 1]!.index === fromIndex - 1 ? kept[kept.length - 1]!.term : -1;
      }
    }
    this.nextIndex = fromIndex;
    return 'ok';
  }

  applyBase(index: number): ApplyResult {
    if (index > this.baseIndex) this.baseIndex = index;
    if (this.nextIndex === 0 || index >= this.nextIndex) {
      // Everything before index + 1 is covered by the snapshot the base record refers to.
      this.clear();
      this.nextIndex = index + 1;
    }
    this.noteReached(index);
    return 'ok';
  }

  applyDamage(mark: DamageMark): void {
    const prev = this.pending;
    this.pending =
      prev === null || mark.lastIndexSeen >= prev.lastIndexSeen
        ? mark
        : { code: mark.code, firstBadIndex: mark.firstBadIndex, lastIndexSeen: prev.lastIndexSeen };
  }

  /** Forgets the entries read so far (all covered by a snapshot): the log starts over. */
  restartCovered(): void {
    this.clear();
    this.nextIndex = 0;
  }

  /** Index of the last live entry, or nextIndex - 1 when there is none (0 when nothing is known). */
  lastIndex(): number {
    return this.nextIndex === 0 ? 0 : this.nextIndex - 1;
  }

  /** Index of the first live entry, kept or not; 0 when none is live. */
  firstLiveIndex(): number {
    return this.live ? this.liveFirst : 0;
  }

  /**
   * Term of the last live entry; 0 when none is live. -1 when a truncation left the last live
   * entry below `keepFromIndex`, where its term was not kept (only a lower bound is then known).
   */
  lastLiveTerm(): number {
    return this.live ? this.liveLastTerm : 0;
  }

  private clear(): void {
    this.entries.length = 0;
    this.live = false;
    this.liveLastTerm = 0;
  }

  private noteReached(index: number): void {
    if (this.pending !== null && index >= this.pending.lastIndexSeen) this.pending = null;
  }
}
