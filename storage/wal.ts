/**
 * The segmented write-ahead log: `DurableLog` with group commit.
 *
 * Writes are encoded straight into the batch that is filling; one batch at a time is in flight
 * (hard state replace if any, then one write and one fdatasync of the active segment), and every
 * write that arrives meanwhile joins the next batch. `onDurable(seq)` reports the highest sequence
 * number of a batch once all of it is durable; batches complete in order, so reports are in order.
 *
 * Fail-stop: the first failed write, fdatasync, truncate or directory fsync calls `onFatal` once;
 * from then on nothing is reported durable and no I/O is retried (after a failed fsync the kernel
 * may have dropped the dirty pages, so a retry that succeeds would prove nothing).
 *
 * Open a log with `openLog` (storage/openLog.ts), re-exported here.
 */
import { join } from 'node:path';
import type { Entry, HardState } from '../machines/types.js';
import { invariant, ioError, StorageError } from './errors.js';
import { FRAME_HEADER_BYTES } from './frame.js';
import { TERM_UNKNOWN_FILE, writeHardState } from './hardState.js';
import { batchBytesBound, type WalLimits } from './options.js';
import {
  BatchBuffer,
  encodeSegmentPrefix,
  ENTRY_FIELDS_BYTES,
  INDEX_PAYLOAD_BYTES,
  SEGMENT_PREFIX_BYTES_MAX,
  segmentPrefixBytes,
  type DamageMark,
} from './records.js';
import { readFloor, ReadBackError, readRange, type LogReader, type ReadBackResult } from './readBack.js';
import { emptySegment, noteEntryAt, type ScannedSegment } from './scan.js';
import { joinAll, runSteps } from './steps.js';
import type { DurableLog, FileHandle, FileSystem, LogWrite } from './types.js';

export const SEGMENT_NAME = /^(\d{20})\.wal$/;

export function segmentFileName(no: number): string {
  return `${String(no).padStart(20, '0')}.wal`;
}

interface Batch {
  readonly buf: BatchBuffer;
  /** Highest sequence number in the batch; 0 when it holds only records without one (base). */
  lastSeq: number;
  /** The newest hard state among the batch's writes. */
  hardState: HardState | null;
  maxEntryIndex: number;
  /** Issue 18, for the segment's read-back index: first entry, lowest truncation, highest base (0, Infinity, 0: none). */
  firstEntryIndex: number;
  voidMin: number;
  baseMax: number;
  /** The damage mark pending before the batch's first record: repeated if the batch opens a segment. */
  readonly markAtStart: DamageMark | null;
}

/** A batch with no records yet (its index fields at their "none" values). */
function emptyBatch(buf: BatchBuffer, markAtStart: DamageMark | null): Batch {
  return { buf, lastSeq: 0, hardState: null, maxEntryIndex: 0, firstEntryIndex: 0, voidMin: Infinity, baseMax: 0, markAtStart };
}

/** What `openLog` hands over once recovery and its repairs are durable. */
interface WalStart {
  readonly fs: FileSystem;
  readonly dir: string;
  readonly walDir: string;
  readonly limits: WalLimits;
  /** The active segment, already holding its durable prefix records. */
  readonly active: { readonly no: number; readonly handle: FileHandle; readonly sizeBytes: number };
  /** Every segment in the directory, oldest first, the active one last. */
  readonly segments: ScannedSegment[];
  /** Index the next appended entry must have. */
  readonly nextIndex: number;
  /** Entries through this index are covered by a snapshot. */
  readonly floorIndex: number;
  readonly pendingMark: DamageMark | null;
  readonly hardState: HardState;
}

const POOL_BUFFERS_MAX = 4;

/** Zeros written ahead of the active segment's end (`preallocateBytes`): only ever read from. */
const ZEROS = new Uint8Array(1024 * 1024);
/** The smallest range zeroed ahead at once. */
const PREALLOCATE_BYTES_MIN = 64 * 1024;

export class Wal implements DurableLog, LogReader {
  onDurable: (seq: number) => void = () => {};
  onFatal: (err: Error) => void = () => {};

  private readonly fs: FileSystem;
  private readonly walDir: string;
  private readonly dir: string;
  private readonly limits: WalLimits;
  /** `batchBytesBound(limits)`: a write larger than this is split into batches. */
  private readonly batchBytesBound: number;
  private readonly segments: ScannedSegment[];
  private activeNo: number;
  private activeHandle: FileHandle;
  private activeBytes: number;

  private nextSeq = 1;
  private nextIndex: number;
  private floorIndex: number;
  /** Highest base record issued (written or still queued): nothing at or below it is read back. */
  private baseIssued = 0;
  private pendingMark: DamageMark | null;
  private hardState: HardState;

  private filling: Batch | null = null;
  private readonly queued: Batch[] = [];
  private inflight: Batch | null = null;
  /** DurableLog.setInlineWrites: batches written on this thread when the handle can. */
  private inlineWrites = false;
  private readonly pool: BatchBuffer[] = [];
  private failed: Error | null = null;
  private closing: ((err: Error | null) => void) | null = null;
  private closed = false;
  private compacting = false;
  /**
   * Preallocation (`preallocateBytes`): the active segment's bytes below `preallocEnd` exist (its
   * records, then zeros written and synced ahead of them). `extending` is the range being zeroed
   * now; no batch is written into it (nor is the segment rotated or closed) until it is done, and
   * `afterExtend` runs then. After a failed write of zeros the segment just grows as it is written;
   * a failed sync of them stops the WAL (fail-stop).
   */
  private preallocEnd: number;
  private extending: { readonly from: number; readonly to: number } | null = null;
  private afterExtend: (() => void) | null = null;
  private extendFailed = false;
  /** How far the active file may reach: the end of every range of zeros issued (even one that failed). */
  private fileEndMax: number;
  /**
   * Operations issued on the active segment's handle and not yet called back. Its descriptors are
   * closed only when none is (`closeDeferred`): a closed number may name another file by then.
   */
  private pendingIo = 0;
  private closeDeferred = false;

  /** Counters for metrics and tests. */
  readonly stats = { batches: 0, fdatasyncs: 0, writes: 0, bytes: 0, rotations: 0, segmentsDeleted: 0, readBacks: 0, readBackBytes: 0, preallocations: 0 };

  constructor(start: WalStart) {
    this.fs = start.fs;
    this.dir = start.dir;
    this.walDir = start.walDir;
    this.limits = start.limits;
    this.batchBytesBound = batchBytesBound(start.limits);
    this.segments = start.segments;
    this.activeNo = start.active.no;
    this.activeHandle = start.active.handle;
    this.activeBytes = start.active.sizeBytes;
    this.preallocEnd = start.active.sizeBytes;
    this.fileEndMax = start.active.sizeBytes;
    this.nextIndex = start.nextIndex;
    this.floorIndex = start.floorIndex;
    this.pendingMark = start.pendingMark;
    this.hardState = start.hardState;
    invariant(this.segments.length > 0 && this.segments[this.segments.length - 1]!.no === this.activeNo, 'active segment is not the last one');
  }

  /** Index the next appended entry must have (after every write issued so far). */
  expectedNextIndex(): number {
    return this.nextIndex;
  }

  /** True once a write or sync failed (fail-stop). */
  hasFailed(): boolean {
    return this.failed !== null;
  }

  write(w: LogWrite): number {
    invariant(!this.closed && this.closing === null, 'write after close');
    const check = this.checkWrite(w);
    const seq = this.nextSeq++;
    if (this.failed !== null) return seq;
    const batch = this.batchFor(check.recordBytes);
    const buf = batch.buf;
    const base = (index: number): void => {
      // The node installed a snapshot through `index` and continues after it (see checkWrite).
      buf.appendBase(index);
      if (index > batch.baseMax) batch.baseMax = index;
      if (index > this.baseIssued) this.baseIssued = index;
      this.nextIndex = index + 1;
      if (index > this.floorIndex) this.floorIndex = index;
      this.noteReached(index);
    };
    if (check.baseIndex > 0) base(check.baseIndex);
    if (w.truncateFrom !== undefined) {
      buf.appendTruncate(w.truncateFrom);
      if (w.truncateFrom < batch.voidMin) batch.voidMin = w.truncateFrom;
      this.nextIndex = w.truncateFrom;
    }
    if (check.baseAfterTruncate > 0) base(check.baseAfterTruncate);
    const entries = w.entries;
    let last = batch;
    if (check.recordBytes > this.batchBytesBound) {
      // Larger than any batch may be: split at entry boundaries (one entry always fits), so that no
      // segment grows past segmentFileBytesMax, which the next open would call damage. A crash
      // between the batches keeps the truncation or base and a prefix of the entries: a log Raft
      // allows (a prefix of what the leader sent); the write is reported with its last batch.
      last = this.appendSplit(entries, batch);
    } else {
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        buf.appendEntry(e);
        if (e.index > batch.maxEntryIndex) batch.maxEntryIndex = e.index;
      }
      if (entries.length > 0 && batch.firstEntryIndex === 0) batch.firstEntryIndex = entries[0]!.index;
    }
    if (entries.length > 0) {
      this.nextIndex = entries[entries.length - 1]!.index + 1;
      this.noteReached(this.nextIndex - 1);
    }
    if (w.hardState !== undefined) {
      // On the write's first batch: the hard state is replaced before that batch's records.
      batch.hardState = w.hardState;
      this.hardState = w.hardState;
    }
    last.lastSeq = seq;
    this.pump();
    return seq;
  }

  /**
   * Validates a write against the log's invariants; returns the record bytes it will take and,
   * when it starts past the end of the log, the index the log must first jump to.
   *
   * A write may start past the end only after the node installed a snapshot from the leader: its
   * log then continues at snapshot index + 1 while this log still ends earlier. A base record makes
   * that jump part of the record stream. The node must not acknowledge such entries before the
   * snapshot is durable; if it crashes first, recovery finds the older snapshot and reports a gap
   * (corruption), which is safe.
   */
  private checkWrite(w: LogWrite): { recordBytes: number; baseIndex: number; baseAfterTruncate: number } {
    let next = this.nextIndex;
    let bytes = 0;
    let baseIndex = 0;
    let baseAfterTruncate = 0;
    const start = w.truncateFrom ?? (w.entries.length > 0 ? w.entries[0]!.index : next);
    invariant(Number.isSafeInteger(start) && start >= 1, `write starting at ${start}`);
    if (start > next) {
      baseIndex = start - 1;
      next = start;
      bytes += FRAME_HEADER_BYTES + INDEX_PAYLOAD_BYTES;
    }
    if (w.truncateFrom !== undefined) {
      const f = w.truncateFrom;
      invariant(f > Math.max(this.floorIndex, baseIndex) && f <= next, `truncateFrom ${f} outside (${this.floorIndex}, ${next}]`);
      next = f;
      bytes += FRAME_HEADER_BYTES + INDEX_PAYLOAD_BYTES;
      // An installed snapshot voids the log it replaces (the truncation) and the entries after it
      // continue past its index, in one write: the jump comes after the truncation.
      if (w.entries.length > 0 && w.entries[0]!.index > next) {
        baseAfterTruncate = w.entries[0]!.index - 1;
        next = w.entries[0]!.index;
        bytes += FRAME_HEADER_BYTES + INDEX_PAYLOAD_BYTES;
      }
    }
    let prevTerm = 0;
    for (let i = 0; i < w.entries.length; i++) {
      const e = w.entries[i]!;
      // Per entry: the messages are built only when a check fails.
      if (e.index !== next) invariant(false, `entry index ${e.index} where ${next} was expected`);
      if (!Number.isSafeInteger(e.term) || e.term < prevTerm) invariant(false, `entry ${e.index} term ${e.term} invalid or decreasing`);
      if (e.kind !== 0 && e.kind !== 1 && e.kind !== 2) invariant(false, `entry ${e.index} kind ${e.kind} unknown`);
      if (!(e.data instanceof Uint8Array) || e.data.length > this.limits.entryDataBytesMax) invariant(false, `entry ${e.index} data missing or too large`);
      prevTerm = e.term;
      next++;
      bytes += FRAME_HEADER_BYTES + ENTRY_FIELDS_BYTES + e.data.length;
    }
    const hs = w.hardState;
    if (hs !== undefined) {
      const cur = this.hardState;
      invariant(Number.isSafeInteger(hs.term) && hs.term >= cur.term, `hard state term ${hs.term} below ${cur.term}`);
      // One vote per term: changing a cast vote within a term is exactly the bug a WAL must not hide.
      invariant(hs.term > cur.term || cur.vote === null || hs.vote === cur.vote, `vote changed within term ${hs.term}`);
      invariant(hs.vote === null || typeof hs.vote === 'string', 'vote must be a node id or null');
    }
    return { recordBytes: bytes, baseIndex, baseAfterTruncate };
  }

  /** `entries` into `batch` and, once it holds `batchBytesBound`, into fresh batches after it; returns the last. */
  private appendSplit(entries: readonly Entry[], batch: Batch): Batch {
    const bound = this.batchBytesBound;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (batch.buf.recordBytes() > 0 && batch.buf.recordBytes() + FRAME_HEADER_BYTES + ENTRY_FIELDS_BYTES + e.data.length > bound) {
        // The batches before are durable first: a segment the next one opens repeats a damage
        // mark only if those entries did not complete the repair.
        if (i > 0) this.noteReached(entries[i - 1]!.index);
        batch = this.newBatch();
      }
      batch.buf.appendEntry(e);
      if (batch.firstEntryIndex === 0) batch.firstEntryIndex = e.index;
      if (e.index > batch.maxEntryIndex) batch.maxEntryIndex = e.index;
    }
    return batch;
  }

  /** The filling batch if the record bytes fit (or it is empty), else a fresh one. */
  private batchFor(recordBytes: number): Batch {
    const f = this.filling;
    if (f !== null && (f.buf.recordBytes() === 0 || f.buf.recordBytes() + recordBytes <= this.limits.batchBytesMax)) return f;
    return this.newBatch();
  }

  /** A fresh batch to fill, the one filling (if any) queued before it. */
  private newBatch(): Batch {
    const f = this.filling;
    if (f !== null) this.queued.push(f);
    const buf = this.pool.pop() ?? new BatchBuffer(Math.min(this.limits.batchBytesMax, 1024 * 1024) + SEGMENT_PREFIX_BYTES_MAX);
    buf.reset();
    const batch = emptyBatch(buf, this.pendingMark);
    this.filling = batch;
    return batch;
  }

  private noteReached(index: number): void {
    if (this.pendingMark !== null && index >= this.pendingMark.lastIndexSeen) this.pendingMark = null;
  }

  /** Starts the next batch when none is in flight. */
  private pump(): void {
    if (this.inflight !== null || this.failed !== null || this.closed) return;
    let batch = this.queued.shift();
    if (batch === undefined && this.filling !== null) {
      batch = this.filling;
      this.filling = null;
    }
    if (batch === undefined) {
      if (this.closing !== null) {
        if (this.extending !== null) this.afterExtend = () => this.pump();
        else this.finishClose();
      }
      return;
    }
    this.inflight = batch;
    this.stats.batches++;
    this.flush(batch);
  }

  private flush(batch: Batch): void {
    const hs = batch.hardState;
    runSteps(
      [
        // The hard state first: a crash in between leaves the new term with the old log, a state
        // the node really passed through; the reverse could leave entries of a term not yet recorded.
        (next) => (hs === null ? next(null) : writeHardState(this.fs, this.dir, hs, this.limits.plantSkipFsync, next)),
        (next) => this.writeRecords(batch, next),
      ],
      (err) => {
        if (err !== null) {
          this.fatal(err);
          return;
        }
        // Stopped meanwhile (a failed sync of the zero-fill may have forgotten this batch's write).
        if (this.failed !== null) return;
        invariant(this.inflight === batch, 'batch completed out of order');
        this.inflight = null;
        this.release(batch.buf);
        if (this.inlineWrites) {
          // The next batch would be written right here, on this thread: report this one first,
          // and write the next on a later turn, once what the report sends (a follower's answer)
          // has left.
          if (batch.lastSeq > 0) this.onDurable(batch.lastSeq);
          setImmediate(() => this.pump());
          return;
        }
        this.pump();
        if (batch.lastSeq > 0) this.onDurable(batch.lastSeq);
      },
    );
  }

  /** Writes and syncs the batch's records, in the active segment or in a new one. */
  private writeRecords(batch: Batch, done: (err: Error | null) => void): void {
    const recordBytes = batch.buf.recordBytes();
    const skipFsync = this.limits.plantSkipFsync;
    if (recordBytes === 0) {
      // Only a hard state (or nothing at all): still complete through the disk, never synchronously.
      if (batch.hardState !== null || skipFsync) done(null);
      else this.syncActive(done);
      return;
    }
    const activeHasRecords = this.activeBytes > segmentPrefixBytes(null);
    const rotating = activeHasRecords && this.activeBytes + recordBytes > this.limits.segmentBytesMax;
    const x = this.extending;
    if (x !== null && (rotating || this.activeBytes + recordBytes > x.from)) {
      // Never into the range being zeroed, and the segment is not cut while it is.
      this.afterExtend = () => this.writeRecords(batch, done);
      return;
    }
    if (rotating) {
      this.rotate(batch, done);
      return;
    }
    const position = this.activeBytes;
    this.activeBytes += recordBytes;
    this.noteSegmentEntries(batch, position);
    this.stats.writes++;
    this.stats.bytes += recordBytes;
    const bytes = batch.buf.buf.subarray(SEGMENT_PREFIX_BYTES_MAX, batch.buf.length);
    const h = this.activeHandle;
    this.extendAhead();
    if (!skipFsync && this.inlineWrites && h.writeDurableSync !== undefined) {
      // On this thread: no thread-pool hand-off and no wake-up to report it. Reported on the next
      // turn, as the pool's completion would be (never from inside write()).
      this.stats.fdatasyncs++;
      let failure: Error | null = null;
      try {
        h.writeDurableSync(bytes, position);
      } catch (err) {
        failure = ioError('segment write', err instanceof Error ? err : new Error(String(err)));
      }
      const report = this.tracked(done);
      setImmediate(() => report(failure));
      return;
    }
    if (!skipFsync && h.writeDurable !== undefined) {
      // One durable write (O_DSYNC): no turn of the event loop between the write and its sync.
      this.stats.fdatasyncs++;
      h.writeDurable(
        bytes,
        position,
        this.tracked((err) => done(err && ioError('segment write', err))),
      );
      return;
    }
    h.write(
      bytes,
      position,
      this.tracked((err) => {
        if (err !== null) done(ioError('segment write', err));
        else if (skipFsync) done(null);
        else this.syncActive(done);
      }),
    );
  }

  private syncActive(done: (err: Error | null) => void): void {
    this.stats.fdatasyncs++;
    this.activeHandle.sync(this.tracked((err) => done(err && ioError('segment fdatasync', err))));
  }

  /** Counts an operation on the active handle until its callback, then closes the handle if that waited for it. */
  private tracked(cb: (err: Error | null) => void): (err: Error | null) => void {
    this.pendingIo++;
    return (err) => {
      this.pendingIo--;
      if (this.closeDeferred && this.pendingIo === 0) {
        this.closeDeferred = false;
        this.closeNow();
      }
      cb(err);
    };
  }

  /**
   * Opens the next segment with this batch as its content. The batch is reported durable only when
   * the file's bytes and its directory entry are both durable, so recovery never depends on a
   * segment that might vanish; the previous segment was synced by its last batch.
   */
  private rotate(batch: Batch, done: (err: Error | null) => void): void {
    if (this.fileEndMax > this.activeBytes) {
      // The segment ends at its last record before the next one exists: zeros are a tail only in
      // the last segment (scan.ts), never in one that another follows.
      const old = this.activeHandle;
      const length = this.activeBytes;
      old.truncate(
        length,
        this.tracked((err) => {
          if (err !== null) {
            done(ioError('segment truncate', err));
            return;
          }
          this.stats.fdatasyncs++;
          old.sync(
            this.tracked((e) => {
              if (e !== null) {
                done(ioError('segment fdatasync', e));
                return;
              }
              this.preallocEnd = length;
              this.fileEndMax = length;
              this.rotate(batch, done);
            }),
          );
        }),
      );
      return;
    }
    const no = this.activeNo + 1;
    const start = encodeSegmentPrefix(batch.buf.buf, SEGMENT_PREFIX_BYTES_MAX, no, this.activeNo, batch.markAtStart);
    const bytes = batch.buf.buf.subarray(start, batch.buf.length);
    const path = join(this.walDir, segmentFileName(no));
    let handle: FileHandle;
    try {
      handle = this.fs.open(path, 'create');
    } catch (e) {
      done(ioError('segment create', e as Error));
      return;
    }
    this.stats.rotations++;
    this.stats.writes++;
    this.stats.bytes += bytes.length;
    const skipFsync = this.limits.plantSkipFsync;
    handle.write(bytes, 0, (err) => {
      if (err !== null) {
        handle.close();
        done(ioError('segment write', err));
        return;
      }
      const switchOver = (syncErr: Error | null): void => {
        if (syncErr !== null) {
          handle.close();
          done(syncErr);
          return;
        }
        this.activeHandle.close();
        this.activeHandle = handle;
        this.activeNo = no;
        this.activeBytes = bytes.length;
        this.preallocEnd = bytes.length;
        this.fileEndMax = bytes.length;
        this.extendFailed = false;
        this.segments.push(emptySegment(no, segmentFileName(no), 0));
        // The batch's records follow the segment's prefix (its header, a damage mark).
        this.noteSegmentEntries(batch, SEGMENT_PREFIX_BYTES_MAX - start);
        this.extendAhead();
        done(null);
      };
      if (skipFsync) {
        switchOver(null);
        return;
      }
      const both = joinAll(2, switchOver);
      this.stats.fdatasyncs++;
      handle.sync((e) => both(e && ioError('segment fdatasync', e)));
      this.fs.syncDir(this.walDir, (e) => both(e && ioError('wal directory fsync', e)));
    });
  }

  /**
   * Zeroes the next range of the active segment (written, then synced) once less than half of one
   * is left ahead of its end, in the background: batches keep going to the bytes
   * before the range (writeRecords waits only for a batch that would reach into it).
   */
  private extendAhead(): void {
    const chunk = this.limits.preallocateBytes;
    if (chunk === 0 || this.extending !== null || this.extendFailed || this.failed !== null || this.closed || this.limits.plantSkipFsync) return;
    // As much as the segment holds already, from 64 KiB up to the option: a node that writes little
    // (tests, an idle cluster) zeroes little.
    const size = Math.min(chunk, Math.max(PREALLOCATE_BYTES_MIN, this.activeBytes));
    if (this.preallocEnd - this.activeBytes >= size / 2) return;
    const from = Math.max(this.preallocEnd, this.activeBytes);
    const to = Math.min(from + size, this.limits.segmentBytesMax);
    if (to <= from) return;
    const h = this.activeHandle;
    this.extending = { from, to };
    // Even a range that fails may have grown the file: rotation cuts back to the records.
    if (to > this.fileEndMax) this.fileEndMax = to;
    const finish = (err: Error | null): void => {
      this.extending = null;
      if (err === null) {
        this.preallocEnd = to;
        this.stats.preallocations++;
      } else this.extendFailed = true; // a failed write of zeros: the real writes will say whether the disk is failing
      const next = this.afterExtend;
      this.afterExtend = null;
      if (next !== null && this.failed === null) next();
    };
    const step = (at: number): void => {
      if (at >= to) {
        h.sync(
          this.tracked((err) => {
            if (err === null) {
              finish(null);
              return;
            }
            // A failed fdatasync may have dropped every dirty page of the file, a batch's records
            // written meanwhile included, and a later sync of the same file may then succeed with
            // nothing to cover: nothing written since can be reported durable. Fail-stop, as for
            // any failed sync (a failed write of zeros, above, loses nothing and is not fatal).
            this.extending = null;
            this.afterExtend = null;
            this.fatal(ioError('segment fdatasync (zero-fill)', err));
          }),
        );
        return;
      }
      const n = Math.min(ZEROS.length, to - at);
      h.write(
        ZEROS.subarray(0, n),
        at,
        this.tracked((err) => (err !== null ? finish(err) : step(at + n))),
      );
    };
    step(from);
  }

  /** Updates the active segment's read-back index with a batch written at `position`. */
  private noteSegmentEntries(batch: Batch, position: number): void {
    const seg = this.segments[this.segments.length - 1]!;
    seg.sizeBytes = this.activeBytes;
    if (batch.voidMin < seg.voidMin) seg.voidMin = batch.voidMin;
    if (batch.baseMax > seg.baseMax) seg.baseMax = batch.baseMax;
    // The batch's first record is at `position`; without a truncation or base record in the batch
    // its first entry is the first record read from there (a checkpoint of the sparse index).
    if (batch.firstEntryIndex > 0) noteEntryAt(seg, batch.firstEntryIndex, position);
    if (batch.maxEntryIndex > seg.maxEntryIndex) seg.maxEntryIndex = batch.maxEntryIndex;
  }

  /** Issue 18: the lowest `from` that `readEntries` can serve now (0: none). */
  readBackFloor(): number {
    if (this.failed !== null || this.closed) return 0;
    const floor = readFloor(this.segments);
    // A base record still queued is not in the segments' index yet, but already voids what precedes it.
    return floor === 0 || this.baseIssued === 0 ? floor : Math.max(floor, this.baseIssued + 1);
  }

  /**
   * Issue 18: entries [from, toIndex] read back from the segments, at most bytesMax of data (at
   * least one entry), with the term of entry from - 1 (-1 from the floor: the caller's log knows
   * it, storage/readBack.ts). Only for entries already durable (the node
   * reads below its snapshot). Synchronous and bounded; throws `ReadBackError` (a stable code).
   */
  readEntries(from: number, toIndex: number, bytesMax: number): ReadBackResult {
    if (this.failed !== null || this.closed) throw new ReadBackError('read-closed', 'the log is closed or failed');
    if (toIndex >= this.nextIndex) throw new ReadBackError('read-invalid', `entry ${toIndex} is past the end of the log`);
    if (this.baseIssued > 0 && from < this.baseIssued + 1)
      throw new ReadBackError('read-below-floor', `entry ${from} is not above the base record at ${this.baseIssued}`);
    this.stats.readBacks++;
    const r = readRange(this.fs, this.walDir, this.segments, from, toIndex, bytesMax);
    this.stats.readBackBytes += r.fileBytesRead;
    return r;
  }

  /** Bytes of every segment (the active one included). */
  segmentBytes(): number {
    let bytes = 0;
    for (const s of this.segments) bytes += s.sizeBytes;
    return bytes;
  }

  private release(buf: BatchBuffer): void {
    // Keep a few buffers for reuse; a rare huge batch's buffer is left to the garbage collector.
    if (this.pool.length < POOL_BUFFERS_MAX && buf.buf.length <= 2 * this.limits.batchBytesMax + SEGMENT_PREFIX_BYTES_MAX) {
      this.pool.push(buf);
    }
  }

  setInlineWrites(on: boolean): void {
    this.inlineWrites = on;
  }

  compact(throughIndex: number): void {
    invariant(Number.isSafeInteger(throughIndex) && throughIndex >= 0, `compact(${throughIndex}) invalid`);
    if (this.failed !== null || this.closed || this.closing !== null) return;
    if (throughIndex > this.floorIndex) this.floorIndex = throughIndex;
    if (throughIndex >= this.nextIndex) {
      // A snapshot past the end of the log (installed from the leader): record where the log
      // continues, in order with the writes, so the next entry does not look like a gap.
      const batch = this.batchFor(FRAME_HEADER_BYTES + INDEX_PAYLOAD_BYTES);
      batch.buf.appendBase(throughIndex);
      if (throughIndex > batch.baseMax) batch.baseMax = throughIndex;
      if (throughIndex > this.baseIssued) this.baseIssued = throughIndex;
      this.nextIndex = throughIndex + 1;
      this.noteReached(throughIndex);
      this.pump();
    }
    this.deleteCovered(throughIndex);
  }

  /**
   * Deletes the oldest segments whose entries are all covered, never the active one, while the
   * segments together exceed `retainBytesMax` (issue 18: the rest stay for reading back).
   */
  private deleteCovered(throughIndex: number): void {
    let deleted = 0;
    let bytes = this.segmentBytes();
    while (this.segments.length > 1 && this.segments[0]!.maxEntryIndex <= throughIndex && bytes > this.limits.retainBytesMax) {
      const seg = this.segments.shift()!;
      bytes -= seg.sizeBytes;
      try {
        this.fs.unlink(join(this.walDir, seg.name));
      } catch (e) {
        this.fatal(ioError('segment unlink', e as Error));
        return;
      }
      deleted++;
    }
    this.stats.segmentsDeleted += deleted;
    if (deleted === 0 || this.compacting) return;
    // Deleting is safe before the directory sync: a crash that undoes it only brings back covered entries.
    this.compacting = true;
    this.fs.syncDir(this.walDir, (err) => {
      this.compacting = false;
      if (err !== null) this.fatal(ioError('wal directory fsync after compaction', err));
    });
  }

  /** Issue 15: removes the `term-unknown` marker (unlink, directory fsync), in the background. */
  markTermKnown(): void {
    const path = join(this.dir, TERM_UNKNOWN_FILE);
    if (this.failed !== null || !this.fs.exists(path)) return;
    try {
      this.fs.unlink(path);
    } catch {
      return; // stays marked: the node learns its term again after a restart
    }
    this.fs.syncDir(this.dir, () => undefined);
  }

  close(cb: (err: Error | null) => void): void {
    if (this.closed || this.closing !== null) {
      cb(new StorageError('STORAGE_CLOSED', 'log already closed'));
      return;
    }
    if (this.failed !== null) {
      this.closed = true;
      this.closeHandle();
      cb(this.failed);
      return;
    }
    this.closing = cb;
    if (this.inflight === null && this.queued.length === 0 && this.filling === null) {
      // Nothing to wait for, but complete through the disk, never synchronously.
      this.inflight = emptyBatch(new BatchBuffer(0), null);
      this.syncActive((err) => {
        this.inflight = null;
        if (err !== null) this.fatal(err);
        else this.pump();
      });
    }
  }

  private finishClose(): void {
    const cb = this.closing!;
    this.closing = null;
    this.closed = true;
    this.closeHandle();
    cb(null);
  }

  private closeHandle(): void {
    if (this.pendingIo > 0) {
      // Its descriptors stay open until every write or sync issued on them called back.
      this.closeDeferred = true;
      return;
    }
    this.closeNow();
  }

  private closeNow(): void {
    try {
      this.activeHandle.close();
    } catch {
      // Closing after a failure: the handle's state does not matter any more.
    }
  }

  private fatal(err: Error): void {
    if (this.failed !== null) return;
    this.failed = err;
    this.filling = null;
    this.queued.length = 0;
    const closing = this.closing;
    if (closing !== null) {
      this.closing = null;
      this.closed = true;
      this.closeHandle();
    }
    this.onFatal(err);
    if (closing !== null) closing(err);
  }
}
