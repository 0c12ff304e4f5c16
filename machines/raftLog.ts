/**
 * The in-memory Raft log since the last snapshot (etcd's raftLog + MemoryStorage in one). It lives
 * outside machine context: machines read and change it in place, and the node actor persists what
 * the machines tell it to. `persistedIndex` says how far the log is known to be durable.
 *
 * Compact form (issue 18): the entries are not kept as objects. Their data are packed into shared
 * chunks (arena chunks of `arenaChunkBytes` that appends copy short data into; long data, 4 KiB or
 * more, stay in the buffer they arrived in; a restarted node's entries stay in the segment buffers
 * recovery read), and their term, kind and place in one set of typed arrays (21 bytes an entry). An `Entry` is made when asked for; the entries appended last are kept
 * made in a small ring (`recentEntriesMax`), so the hot path (sending just-appended entries to the
 * followers, applying them) makes each one once. `memoryBytes()` is what the log holds.
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

/** Appended data are copied into chunks of this size (a larger entry gets a chunk of its own). */
const arenaChunkBytes = 256 * 1024;
/**
 * Appended data at least this long are referenced where they are, not copied (a copy costs more than
 * the view it saves; consecutive entries in one buffer, such as a received frame, share a chunk).
 * 4 KiB: never a slice of Node's 8 KiB Buffer pool, whose other bytes are not the log's.
 */
const referenceBytesMin = 4096;
/** Recovered data copied out of a segment buffer at least this long get a chunk of their own. */
const ownChunkBytesMin = arenaChunkBytes / 4;
/** Entries kept made (Entry objects) in the ring of recent entries; a power of two. */
const recentEntriesMax = 4096;
/** Typed-array bytes per entry: term (8), chunk, offset, length (4 each), kind (1). */
const metaBytesPerEntry = 21;
/** What one made Entry and its data view cost on the V8 heap (an estimate, for memoryBytes). */
const madeEntryBytes = 120;
/** A recovered buffer at least this large is referenced in place, not copied (a segment file). */
const sharedBufferBytesMin = 1024 * 1024;

interface Chunk {
  readonly seq: number;
  /** An arena chunk that stopped being filled is cut to its used part (setArenaAside). */
  bytes: Uint8Array;
  /** Appends may copy into it (the arena chunk being filled). */
  readonly arena: boolean;
}

export class RaftLog {
  private snapIndex = 0;
  private snapTerm = 0;
  /** Entries in memory: their indexes are snapIndex + 1 .. snapIndex + count. */
  private count = 0;
  /** Entry k (0-based after the snapshot) is at slot head + k of the arrays below. */
  private head = 0;
  private terms = new Float64Array(64);
  private kinds = new Uint8Array(64);
  /** Per slot: chunk seq, byte offset in the chunk, byte length. */
  private places = new Uint32Array(64 * 3);
  /** Chunks in seq order; chunks[k].seq === chunkBase + k. */
  private chunks: Chunk[] = [];
  private chunkBase = 0;
  /** Bytes used in the last chunk when it is an arena chunk. */
  private arenaUsed = 0;
  /**
   * The unused tail of the arena being filled when a chunk of another kind came after it (a long
   * entry referenced in place): the next short entry resumes there, in a chunk of its own (chunk
   * seqs follow the entries' order), instead of starting a new arena. Before, a long entry between
   * short ones cost a new 256 KiB arena each time.
   */
  private arenaRest: Uint8Array | null = null;
  /**
   * Bytes of the buffers the chunks hold: an arena chunk's byteLength, and each other chunk's whole
   * ArrayBuffer counted once however many chunks view it (entries of one received frame or of one
   * encoding slab, zeroedBytes.ts, make a chunk each time short entries come between them).
   */
  private chunkBytes = 0;
  /** Chunks (not arena ones) per ArrayBuffer they view, for `chunkBytes`. */
  private readonly chunksOfBuffer = new Map<ArrayBufferLike, number>();
  /** Sum of entrySizeBytes over the entries in memory. */
  private sizeBytes = 0;
  private readonly recent: (Entry | undefined)[] = new Array<Entry | undefined>(recentEntriesMax);
  private recentCount = 0;
  /** The log is durable through this index (<= lastIndex). */
  persistedIndex = 0;
  /** Indexes of the configuration entries in the log, ascending. */
  private readonly configIndexes: number[] = [];
  /** The last configuration entry compacted away (it stays in force until a newer one). */
  private compactedConfigEntry: Entry | null = null;
  /**
   * Entries through this index (above the snapshot) keep their term and kind but no longer their
   * data (`releaseDataThrough`): a follower's applied entries, which only a lagging follower of a
   * later term could want again, and that one reads them back from the durable log. 0: none.
   */
  private dataFloorIndex = 0;
  /** Copies of the configuration entries at or below `dataFloorIndex` (their chunks are gone). */
  private readonly releasedConfigs = new Map<number, Entry>();
  /** Sum of entrySizeBytes over the entries whose data were released (in `sizeBytes` too). */
  private releasedSizeBytes = 0;
  observer: LogObserver | null = null;
  /**
   * Issue 18: the lowest index the node's durable log can still read back (entries below the
   * in-memory log, for a lagging follower); 0 when it cannot. Read from above it, the term of the
   * entry before comes with the entries; from it (past entry 1), only this log can give it.
   * Set by the node actor after each compaction of the durable log; the machines only read it.
   */
  readBackFloor = 0;

  /**
   * Rebuild a log from what storage recovered. Data that fill at least half of a large buffer (a
   * segment file) stay there; the rest are copied, so that a segment mostly below the snapshot is
   * not kept for the few entries after it.
   */
  static recover(snapshot: SnapshotMeta | null, entries: readonly Entry[]): RaftLog {
    const log = new RaftLog();
    if (snapshot) {
      log.snapIndex = snapshot.index;
      log.snapTerm = snapshot.term;
    }
    const used = new Map<ArrayBufferLike, number>();
    for (const e of entries) {
      if (e.data.buffer.byteLength >= sharedBufferBytesMin) used.set(e.data.buffer, (used.get(e.data.buffer) ?? 0) + e.data.byteLength);
    }
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index !== log.snapIndex + 1 + k) assert(false, 'recovered entries are contiguous after the snapshot');
      const b = e.data.buffer;
      log.push(e, b.byteLength >= sharedBufferBytesMin && used.get(b)! * 2 >= b.byteLength ? 'adopt' : 'copy');
      if (e.kind === EntryKind.config) log.configIndexes.push(e.index);
    }
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
    return this.snapIndex + this.count;
  }

  /** Entries through this index have no data in memory (read them back from the durable log). */
  get dataFloor(): number {
    return Math.max(this.dataFloorIndex, this.snapIndex);
  }

  /** The kind of entry `index` (in the log, with or without its data). */
  kind(index: number): EntryKind {
    if (index <= this.snapIndex || index > this.lastIndex()) assert(false, `entry ${index} is in the log`);
    return this.kinds[this.head + index - this.snapIndex - 1] as EntryKind;
  }

  lastTerm(): number {
    return this.count === 0 ? this.snapTerm : this.terms[this.head + this.count - 1]!;
  }

  /** The term of entry `index`, or -1 when it is compacted away or beyond the end. */
  term(index: number): number {
    if (index === this.snapIndex) return this.snapTerm;
    if (index < this.snapIndex || index > this.snapIndex + this.count) return -1;
    return this.terms[this.head + index - this.snapIndex - 1]!;
  }

  entry(index: number): Entry {
    if (index <= this.dataFloor || index > this.lastIndex()) assert(false, `entry ${index} is in the log with its data`);
    return this.made(index);
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
      this.push(e, 'append');
      if (e.kind === EntryKind.config) this.configIndexes.push(e.index);
    }
    this.observer?.appended(this, first, batch);
  }

  /** Remove every entry with index >= fromIndex. */
  truncateFrom(fromIndex: number): void {
    assert(fromIndex > this.snapIndex, 'never truncate into the snapshot');
    if (fromIndex <= this.dataFloorIndex) assert(false, `truncating from ${fromIndex}, at or below released entries (${this.dataFloorIndex}: applied)`);
    if (fromIndex > this.lastIndex()) return;
    this.sizeBytes -= this.bytesBetween(fromIndex, this.lastIndex());
    this.count = fromIndex - this.snapIndex - 1;
    this.releaseChunksAfterTail();
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
    if (lo <= this.dataFloor) assert(false, `slice from ${lo} starts after the entries without data (${this.dataFloor})`);
    hi = Math.min(hi, this.lastIndex());
    this.lastSliceBytes = 0;
    if (lo > hi) return [];
    const base = this.head - this.snapIndex - 1;
    const places = this.places;
    let end = lo;
    let bytes = places[(lo + base) * 3 + 2]! + entryOverheadBytes;
    while (end < hi && end - lo + 1 < countMax) {
      const next = places[(end + 1 + base) * 3 + 2]! + entryOverheadBytes;
      if (bytes + next > bytesMax) break;
      bytes += next;
      end++;
    }
    this.lastSliceBytes = bytes;
    return this.madeRange(lo, end);
  }

  /** Entries in [lo, hi] without limits (for applying). */
  range(lo: number, hi: number): Entry[] {
    if (lo <= this.dataFloor || hi > this.lastIndex()) assert(false, `range [${lo}, ${hi}] is in the log with its data`);
    return this.madeRange(lo, hi);
  }

  /** Sum of entry sizes in [lo, hi]. */
  bytesBetween(lo: number, hi: number): number {
    let bytes = 0;
    const from = Math.max(lo, this.snapIndex + 1);
    const to = Math.min(hi, this.lastIndex());
    const base = this.head - this.snapIndex - 1;
    for (let i = from; i <= to; i++) bytes += this.places[(i + base) * 3 + 2]! + entryOverheadBytes;
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
    this.dropThrough(index, term);
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
    this.count = 0;
    this.head = 0;
    this.sizeBytes = 0;
    this.releaseChunksAfterTail();
    this.configIndexes.length = 0;
    this.compactedConfigEntry = null;
    this.dataFloorIndex = 0;
    this.releasedSizeBytes = 0;
    this.releasedConfigs.clear();
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
      if (i <= index) return i <= this.dataFloorIndex ? this.releasedConfigs.get(i)! : this.entry(i);
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

  /**
   * Bytes this log holds: its chunks (arena chunks, and recovered segment buffers while entries
   * still point into them), its typed arrays and the ring of made entries.
   */
  memoryBytes(): number {
    return this.chunkBytes + this.terms.length * metaBytesPerEntry + this.recentCount * madeEntryBytes;
  }

  /** Bytes of the entries in memory (by `entrySizeBytes`, as the size limits count them). */
  entryBytes(): number {
    return this.sizeBytes - this.releasedSizeBytes;
  }

  /**
   * Drop the data of the entries through `index` (at most the last durable one): their terms and
   * kinds stay, so the log still matches, votes and finds conflicts as before, and every chunk
   * only they used goes. For a follower's applied entries (the node actor calls it after apply):
   * they are never applied or truncated again, and a leader of a later term that needs them for a
   * lagging follower reads them back from its durable log (as below the snapshot). Without this a
   * follower kept every received frame until the next snapshot, tens of MB that V8 counts towards
   * its next full collection (docs/performance.md).
   */
  releaseDataThrough(index: number): void {
    index = Math.min(index, this.persistedIndex, this.lastIndex());
    const from = this.dataFloor + 1;
    if (index < from) return;
    for (const ci of this.configIndexes) {
      if (ci >= from && ci <= index) {
        const e = this.made(ci);
        this.releasedConfigs.set(ci, { index: e.index, term: e.term, kind: e.kind, data: e.data.slice() });
      }
    }
    this.releasedSizeBytes += this.bytesBetween(from, index);
    // The ring of made entries holds views into the chunks: forget the released ones.
    const ringFrom = Math.max(from, index - recentEntriesMax + 1);
    for (let i = ringFrom; i <= index; i++) {
      const r = i & (recentEntriesMax - 1);
      const e = this.recent[r];
      if (e !== undefined && e.index === i) {
        this.recent[r] = undefined;
        this.recentCount--;
      }
    }
    this.dataFloorIndex = index;
    // Chunks before the first entry that keeps its data hold only released entries; the last chunk
    // stays (the arena being filled, or the buffer the next entries may share).
    const firstSeq = index < this.lastIndex() ? this.places[(this.head + index - this.snapIndex) * 3]! : this.chunkBase + this.chunks.length - 1;
    let k = 0;
    while (k < this.chunks.length - 1 && this.chunks[k]!.seq < firstSeq) {
      this.releaseChunk(this.chunks[k]!);
      k++;
    }
    if (k > 0) {
      this.chunks.splice(0, k);
      this.chunkBase += k;
    }
  }

  // ---- the packed form --------------------------------------------------------------------

  /**
   * Appends one entry's metadata and data: `adopt` references recovered data in their segment
   * buffer; `copy` copies them out of it; `append` references long data and copies short ones
   * into the arena.
   */
  private push(e: Entry, how: 'adopt' | 'copy' | 'append'): void {
    if (this.head + this.count === this.terms.length) this.grow();
    const slot = this.head + this.count;
    const data = e.data;
    const len = data.byteLength;
    let chunk: Chunk;
    let offset: number;
    const last = this.chunks.length > 0 ? this.chunks[this.chunks.length - 1]! : null;
    const inPlace = how === 'adopt' || (how === 'append' && len >= referenceBytesMin);
    if (inPlace && last !== null && !last.arena && last.bytes.buffer === data.buffer) {
      // In the same buffer (a segment, a received frame) as the entry before: one chunk.
      chunk = last;
      offset = data.byteOffset - last.bytes.byteOffset;
    } else if (inPlace) {
      if (last !== null && last.arena) this.setArenaAside(last);
      chunk = this.addChunk(new Uint8Array(data.buffer), false);
      offset = data.byteOffset;
    } else if (len >= ownChunkBytesMin) {
      if (last !== null && last.arena) this.setArenaAside(last);
      chunk = this.addChunk(data.slice(), false);
      offset = 0;
    } else {
      if (last !== null && last.arena && this.arenaUsed + len <= last.bytes.byteLength) chunk = last;
      else {
        const rest = last !== null && !last.arena ? this.arenaRest : null;
        this.arenaRest = null;
        chunk = this.addChunk(rest !== null && len <= rest.byteLength ? rest : new Uint8Array(arenaChunkBytes), true);
        this.arenaUsed = 0;
      }
      offset = this.arenaUsed;
      chunk.bytes.set(data, offset);
      this.arenaUsed += len;
    }
    this.terms[slot] = e.term;
    this.kinds[slot] = e.kind;
    this.places[slot * 3] = chunk.seq;
    this.places[slot * 3 + 1] = offset;
    this.places[slot * 3 + 2] = len;
    this.count++;
    this.sizeBytes += len + entryOverheadBytes;
    if (how !== 'adopt') {
      // Made once here, with data in our chunk: the sends and the apply of this entry reuse it.
      const made: Entry = { index: e.index, term: e.term, kind: e.kind, data: chunk.bytes.subarray(offset, offset + len) };
      const r = e.index & (recentEntriesMax - 1);
      if (this.recent[r] === undefined) this.recentCount++;
      this.recent[r] = made;
    }
  }

  private addChunk(bytes: Uint8Array, arena: boolean): Chunk {
    const chunk: Chunk = { seq: this.chunkBase + this.chunks.length, bytes, arena };
    this.chunks.push(chunk);
    if (arena) this.chunkBytes += bytes.byteLength;
    else {
      const n = this.chunksOfBuffer.get(bytes.buffer) ?? 0;
      if (n === 0) this.chunkBytes += bytes.buffer.byteLength;
      this.chunksOfBuffer.set(bytes.buffer, n + 1);
    }
    return chunk;
  }

  /** The arena chunk `last` stops being filled: it keeps its used part, and its tail waits in `arenaRest`. */
  private setArenaAside(last: Chunk): void {
    const rest = last.bytes.byteLength - this.arenaUsed;
    if (rest <= 0) {
      this.arenaRest = null;
      return;
    }
    this.arenaRest = last.bytes.subarray(this.arenaUsed);
    last.bytes = last.bytes.subarray(0, this.arenaUsed);
    this.chunkBytes -= rest;
  }

  private releaseChunk(c: Chunk): void {
    if (c.arena) {
      this.chunkBytes -= c.bytes.byteLength;
      return;
    }
    const n = this.chunksOfBuffer.get(c.bytes.buffer)!;
    if (n > 1) this.chunksOfBuffer.set(c.bytes.buffer, n - 1);
    else {
      this.chunksOfBuffer.delete(c.bytes.buffer);
      this.chunkBytes -= c.bytes.buffer.byteLength;
    }
  }

  /** Doubles the typed arrays, or moves the live slots to the front when half of them are dropped. */
  private grow(): void {
    if (this.head >= this.terms.length / 2) {
      this.terms.copyWithin(0, this.head, this.head + this.count);
      this.kinds.copyWithin(0, this.head, this.head + this.count);
      this.places.copyWithin(0, this.head * 3, (this.head + this.count) * 3);
      this.head = 0;
      return;
    }
    const n = this.terms.length * 2;
    const terms = new Float64Array(n);
    terms.set(this.terms.subarray(this.head, this.head + this.count));
    const kinds = new Uint8Array(n);
    kinds.set(this.kinds.subarray(this.head, this.head + this.count));
    const places = new Uint32Array(n * 3);
    places.set(this.places.subarray(this.head * 3, (this.head + this.count) * 3));
    this.terms = terms;
    this.kinds = kinds;
    this.places = places;
    this.head = 0;
  }

  /** The entry `index` (in the log) as an object: from the ring of recent ones, or made now. */
  private made(index: number): Entry {
    // The message is built only on failure: this runs for every entry sent or applied.
    if (index <= this.dataFloorIndex) assert(false, `entry ${index} has no data in memory (released through ${this.dataFloorIndex})`);
    const slot = this.head + index - this.snapIndex - 1;
    const r = this.recent[index & (recentEntriesMax - 1)];
    if (r !== undefined && r.index === index && r.term === this.terms[slot]) return r;
    const chunk = this.chunks[this.places[slot * 3]! - this.chunkBase]!;
    const offset = this.places[slot * 3 + 1]!;
    const len = this.places[slot * 3 + 2]!;
    const data = new Uint8Array(chunk.bytes.buffer, chunk.bytes.byteOffset + offset, len);
    return { index, term: this.terms[slot]!, kind: this.kinds[slot] as EntryKind, data };
  }

  private madeRange(lo: number, hi: number): Entry[] {
    const out: Entry[] = new Array<Entry>(hi - lo + 1);
    for (let i = lo; i <= hi; i++) out[i - lo] = this.made(i);
    return out;
  }

  /** Drops the entries through `index` (in the log) and every chunk only they used. */
  private dropThrough(index: number, term: number): void {
    const n = index - this.snapIndex;
    const dropped = Math.min(n, this.count);
    this.sizeBytes -= this.bytesBetween(this.snapIndex + 1, this.snapIndex + dropped);
    if (this.dataFloorIndex > this.snapIndex) {
      const releasedTo = Math.min(this.dataFloorIndex, this.snapIndex + dropped);
      this.releasedSizeBytes -= this.bytesBetween(this.snapIndex + 1, releasedTo);
      for (const ci of this.releasedConfigs.keys()) if (ci <= index) this.releasedConfigs.delete(ci);
    }
    this.head += dropped;
    this.count -= dropped;
    this.snapIndex = index;
    this.snapTerm = term;
    if (this.count === 0) {
      this.head = 0;
      this.releaseChunksAfterTail();
      return;
    }
    // Chunks before the first remaining entry's chunk hold only dropped entries.
    const firstSeq = this.places[this.head * 3]!;
    let k = 0;
    while (k < this.chunks.length && this.chunks[k]!.seq < firstSeq) {
      this.releaseChunk(this.chunks[k]!);
      k++;
    }
    if (k > 0) {
      this.chunks.splice(0, k);
      this.chunkBase += k;
    }
  }

  /**
   * After the end of the log moved back (truncation, a replaced log): drops the chunks after the
   * last entry's. The arena chunk is never rewound: entries made from it may still be held (by an
   * effect, a message, a checker), and their bytes must not change.
   */
  private releaseChunksAfterTail(): void {
    const keepSeq = this.count > 0 ? this.places[(this.head + this.count - 1) * 3]! : -1;
    const nextSeq = this.chunkBase + this.chunks.length;
    let popped = false;
    while (this.chunks.length > 0 && this.chunks[this.chunks.length - 1]!.seq > keepSeq) {
      this.releaseChunk(this.chunks.pop()!);
      popped = true;
    }
    // The chunk now last is not filled again (where its data end is not kept): appends start a new one.
    if (popped) this.arenaUsed = arenaChunkBytes;
    this.arenaRest = null;
    // Seqs keep counting up (chunks[k].seq === chunkBase + k holds for the next chunk).
    if (this.chunks.length === 0) this.chunkBase = nextSeq;
  }

  private dropConfigsThrough(index: number): void {
    while (this.configIndexes.length > 0 && this.configIndexes[0]! <= index) {
      const ci = this.configIndexes.shift()!;
      const kept = ci <= this.dataFloorIndex ? this.releasedConfigs.get(ci) : undefined;
      // A copy: the chunk it points into is about to go (a released one is a copy already).
      if (kept !== undefined) this.compactedConfigEntry = kept;
      else {
        const e = this.entry(ci);
        this.compactedConfigEntry = { index: e.index, term: e.term, kind: e.kind, data: e.data.slice() };
      }
    }
  }

  private compactUnchecked(index: number, term: number): void {
    if (index <= this.snapIndex) return;
    this.dropConfigsThrough(index);
    this.dropThrough(index, term);
    if (this.persistedIndex < index) this.persistedIndex = index;
  }
}
