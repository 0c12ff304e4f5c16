/**
 * The in-memory Raft log since the last snapshot (etcd's raftLog + MemoryStorage in one). It lives
 * outside machine context: machines read and change it in place, and the node actor persists what
 * the machines tell it to. `persistedIndex` says how far the log is known to be durable.
 */
import { assert } from './assert.js';
import { EntryKind, type Entry, type SnapshotMeta } from './types.js';

/** Bytes an entry counts for in size limits: its data plus a fixed header allowance. */
export const entryOverheadBytes = 24;

export function entrySizeBytes(e: Entry): number {
  return e.data.byteLength + entryOverheadBytes;
}

/** Lets the simulator watch every change of a log (to check Log Matching incrementally). */
export interface LogObserver {
  appended(log: RaftLog, firstIndex: number, entries: readonly Entry[]): void;
  truncated(log: RaftLog, fromIndex: number): void;
  /** The log was reset to a snapshot (its entries through meta.index replaced by the snapshot). */
  restored(log: RaftLog, meta: SnapshotMeta, keptSuffix: boolean): void;
}

export class RaftLog {
  private snapIndex = 0;
  private snapTerm = 0;
  /** entries[k] has index snapIndex + 1 + k. */
  private entries: Entry[] = [];
  /** The log is durable through this index (<= lastIndex). */
  persistedIndex = 0;
  /** Indexes of the configuration entries in the log, ascending. */
  private readonly configIndexes: number[] = [];
  /** The last configuration entry compacted away (it stays in force until a newer one). */
  private compactedConfigEntry: Entry | null = null;
  observer: LogObserver | null = null;

  /** Rebuild a log from what storage recovered. */
  static recover(snapshot: SnapshotMeta | null, entries: readonly Entry[]): RaftLog {
    const log = new RaftLog();
    if (snapshot) {
      log.snapIndex = snapshot.index;
      log.snapTerm = snapshot.term;
    }
    for (let k = 0; k < entries.length; k++) {
      assert(entries[k]!.index === log.snapIndex + 1 + k, 'recovered entries are contiguous after the snapshot');
    }
    log.entries = entries.slice();
    for (const e of entries) if (e.kind === EntryKind.config) log.configIndexes.push(e.index);
    log.persistedIndex = log.lastIndex();
    return log;
  }

  get snapshotIndex(): number {
    return this.snapIndex;
  }

  get snapshotTerm(): number {
    return this.snapTerm;
  }

  firstIndex(): number {
    return this.snapIndex + 1;
  }

  lastIndex(): number {
    return this.snapIndex + this.entries.length;
  }

  lastTerm(): number {
    const n = this.entries.length;
    return n === 0 ? this.snapTerm : this.entries[n - 1]!.term;
  }

  /** The term of entry `index`, or -1 when it is compacted away or beyond the end. */
  term(index: number): number {
    if (index === this.snapIndex) return this.snapTerm;
    if (index < this.snapIndex || index > this.lastIndex()) return -1;
    return this.entries[index - this.snapIndex - 1]!.term;
  }

  entry(index: number): Entry {
    if (index <= this.snapIndex || index > this.lastIndex()) assert(false, `entry ${index} is in the log`);
    return this.entries[index - this.snapIndex - 1]!;
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** Raft §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  append(batch: readonly Entry[]): void {
    if (batch.length === 0) return;
    const first = this.lastIndex() + 1;
    for (let k = 0; k < batch.length; k++) {
      const e = batch[k]!;
      // The message is built only on failure: this runs for every entry.
      if (e.index !== first + k) assert(false, `appended entries are contiguous (want ${first + k}, got ${e.index})`);
      this.entries.push(e);
      if (e.kind === EntryKind.config) this.configIndexes.push(e.index);
    }
    this.observer?.appended(this, first, batch);
  }

  /** Remove every entry with index >= fromIndex. */
  truncateFrom(fromIndex: number): void {
    assert(fromIndex > this.snapIndex, 'never truncate into the snapshot');
    if (fromIndex > this.lastIndex()) return;
    this.entries.length = fromIndex - this.snapIndex - 1;
    while (this.configIndexes.length > 0 && this.configIndexes[this.configIndexes.length - 1]! >= fromIndex) this.configIndexes.pop();
    if (this.persistedIndex >= fromIndex) this.persistedIndex = fromIndex - 1;
    this.observer?.truncated(this, fromIndex);
  }

  /** Bytes (by `entrySizeBytes`) of the entries returned by the last `slice`. */
  lastSliceBytes = 0;

  /**
   * Entries in [lo, hi] bounded by bytes and count; always at least one entry when lo <= hi.
   */
  slice(lo: number, hi: number, bytesMax: number, countMax: number): Entry[] {
    assert(lo > this.snapIndex, 'slice starts after the snapshot');
    hi = Math.min(hi, this.lastIndex());
    this.lastSliceBytes = 0;
    if (lo > hi) return [];
    const base = this.snapIndex + 1;
    let end = lo;
    let bytes = entrySizeBytes(this.entries[lo - base]!);
    while (end < hi && end - lo + 1 < countMax) {
      const next = entrySizeBytes(this.entries[end + 1 - base]!);
      if (bytes + next > bytesMax) break;
      bytes += next;
      end++;
    }
    this.lastSliceBytes = bytes;
    return this.entries.slice(lo - base, end - base + 1);
  }

  /** Entries in [lo, hi] without limits (for applying). */
  range(lo: number, hi: number): Entry[] {
    if (lo <= this.snapIndex || hi > this.lastIndex()) assert(false, `range [${lo}, ${hi}] is in the log`);
    const base = this.snapIndex + 1;
    return this.entries.slice(lo - base, hi - base + 1);
  }

  /** Sum of entry sizes in [lo, hi]. */
  bytesBetween(lo: number, hi: number): number {
    let bytes = 0;
    const base = this.snapIndex + 1;
    for (let i = Math.max(lo, base); i <= hi && i <= this.lastIndex(); i++) bytes += entrySizeBytes(this.entries[i - base]!);
    return bytes;
  }

  /**
   * The first index among `batch` whose term differs from ours or that we lack; 0 when we already
   * hold all of them. Entries at or below the snapshot are known to match (they are committed).
   */
  findConflict(batch: readonly Entry[]): number {
    for (const e of batch) {
      if (e.index <= this.snapIndex) continue;
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * The largest index <= `index` whose term is <= `term` (etcd's findConflictByTerm), used for the
   * conflict hint: every entry after it is known not to match a log whose entry at `index` has a
   * term of at most `term`. Returns [index, termAtIndex].
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    index = Math.min(index, this.lastIndex());
    for (; index > this.snapIndex; index--) {
      const t = this.term(index);
      if (t <= term) return [index, t];
    }
    return [this.snapIndex, this.snapTerm];
  }

  /** Drop entries through `index` (they are in a durable snapshot). */
  compact(index: number): void {
    if (index <= this.snapIndex) return;
    assert(index <= this.persistedIndex, 'compact only what is durable');
    const term = this.term(index);
    assert(term >= 0, 'compact index is in the log');
    this.dropConfigsThrough(index);
    this.entries.splice(0, index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = term;
  }

  /**
   * Install a snapshot received from the leader. When our log already holds the snapshot's last
   * entry, the suffix after it is kept (it matches); otherwise the whole log is replaced.
   * Returns whether the suffix was kept.
   */
  restore(meta: SnapshotMeta): boolean {
    if (this.matchTerm(meta.index, meta.term) && meta.index <= this.lastIndex()) {
      this.compactUnchecked(meta.index, meta.term);
      this.observer?.restored(this, meta, true);
      return true;
    }
    this.entries = [];
    this.configIndexes.length = 0;
    this.compactedConfigEntry = null;
    this.snapIndex = meta.index;
    this.snapTerm = meta.term;
    this.persistedIndex = meta.index;
    this.observer?.restored(this, meta, false);
    return false;
  }

  /** The newest configuration entry at or below `index` still known (in the log or compacted), or null. */
  configEntryAt(index: number): Entry | null {
    for (let k = this.configIndexes.length - 1; k >= 0; k--) {
      const i = this.configIndexes[k]!;
      if (i <= index) return this.entry(i);
    }
    return this.compactedConfigEntry;
  }

  /** The newest configuration entry of the log (the configuration in force), or null. */
  lastConfigEntry(): Entry | null {
    return this.configEntryAt(this.lastIndex());
  }

  lastConfigIndex(): number {
    const e = this.lastConfigEntry();
    return e === null ? 0 : e.index;
  }

  private dropConfigsThrough(index: number): void {
    while (this.configIndexes.length > 0 && this.configIndexes[0]! <= index) {
      this.compactedConfigEntry = this.entry(this.configIndexes.shift()!);
    }
  }

  private compactUnchecked(index: number, term: number): void {
    if (index <= this.snapIndex) return;
    this.dropConfigsThrough(index);
    this.entries.splice(0, index - this.snapIndex);
    this.snapIndex = index;
    this.snapTerm = term;
    if (this.persistedIndex < index) this.persistedIndex = index;
  }
}
