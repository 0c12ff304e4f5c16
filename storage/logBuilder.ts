/**
 * Replays the log's records, in order, into the list of live entries.
 *
 * The log is an append-only stream of entry, truncate and base records; this is the one place that
 * defines what that stream means, used by recovery (and mirrored by the writer's own checks).
 */
import type { Entry } from '../machines/types.js';
import type { DamageMark } from './records.js';

type ApplyResult = 'ok' | 'gap';

export class LogBuilder {
  readonly entries: Entry[] = [];
  /** The index the next entry must have; 0 while unknown (no record seen yet: the log may have been compacted). */
  nextIndex = 0;
  /** Highest index a base record moved the log to (a snapshot covers everything through it). */
  baseIndex = 0;
  /** A damage mark whose repair has not been recorded yet. */
  pending: DamageMark | null = null;

  /** Index of entries[0] (meaningless when empty). */
  private firstIndex = 0;

  applyEntry(e: Entry): ApplyResult {
    if (this.nextIndex !== 0 && e.index !== this.nextIndex) return 'gap';
    if (this.entries.length === 0) this.firstIndex = e.index;
    this.entries.push(e);
    this.nextIndex = e.index + 1;
    this.noteReached(e.index);
    return 'ok';
  }

  applyTruncate(fromIndex: number): ApplyResult {
    // Truncating past the end would leave a hole before the next entry.
    if (this.nextIndex !== 0 && fromIndex > this.nextIndex) return 'gap';
    if (this.entries.length > 0) {
      if (fromIndex <= this.firstIndex) this.entries.length = 0;
      else if (fromIndex - this.firstIndex < this.entries.length) this.entries.length = fromIndex - this.firstIndex;
    }
    this.nextIndex = fromIndex;
    return 'ok';
  }

  applyBase(index: number): ApplyResult {
    if (index > this.baseIndex) this.baseIndex = index;
    if (this.nextIndex === 0 || index >= this.nextIndex) {
      // Everything before index + 1 is covered by the snapshot the base record refers to.
      this.entries.length = 0;
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
    this.entries.length = 0;
    this.nextIndex = 0;
  }

  /** Index of the last live entry, or nextIndex - 1 when there is none (0 when nothing is known). */
  lastIndex(): number {
    return this.nextIndex === 0 ? 0 : this.nextIndex - 1;
  }

  private noteReached(index: number): void {
    if (this.pending !== null && index >= this.pending.lastIndexSeen) this.pending = null;
  }
}
