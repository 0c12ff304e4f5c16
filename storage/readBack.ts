/**
 * Issue 18: reading entries back from the WAL's segment files, for a leader whose in-memory log no
 * longer holds what a lagging follower needs.
 *
 * A read returns the entries [from, toIndex] as they stand in the log (the last record of an index
 * wins: a truncation voids the earlier ones), at most `bytesMax` of entry data (always at least one
 * entry), and the term of entry from - 1 (the AppendEntries' prevLogTerm). It reads only the
 * segments that can hold the range, found through each segment's read-back index (`ScannedSegment`:
 * first and last entry index, truncation and base records, a sparse offset index), and within a
 * segment without truncations it starts at the nearest checkpoint at or below the range: a read
 * costs about `bytesMax` plus one checkpoint spacing of file bytes, not a scan of the log.
 *
 * Every record read is checked (header and payload checksums, framing, contiguous indexes). Any
 * problem is a `ReadBackError` with a stable code, never an assertion: the caller sends the follower
 * a snapshot instead. Reads are synchronous (`FileHandle.readSync`) and bounded per call; the node
 * actor issues them off its step loop, one batch per turn.
 */
import { join } from 'node:path';
import type { Entry, EntryKind } from '../machines/types.js';
import { crc32Range, crc32Span } from './crc.js';
import { FRAME_HEADER_BYTES, FrameStatus, newFrameCursor, readFrame, readU64, RecordType } from './frame.js';
import { ENTRY_FIELDS_BYTES, INDEX_PAYLOAD_BYTES, isEntryKind } from './records.js';
import type { ScannedSegment } from './scan.js';
import type { FileHandle, FileSystem } from './types.js';

/** Stable codes of a failed read-back. */
export type ReadBackCode =
  /** The range starts below what the segments still hold (compacted, or before a base record). */
  | 'read-below-floor'
  /** A record with a bad header or payload checksum. */
  | 'read-checksum'
  /** A record that cannot be parsed, a short file, an entry with invalid fields. */
  | 'read-framing'
  /** The entries found do not follow each other. */
  | 'read-gap'
  /** Opening or reading a segment failed (it was unlinked by a compaction meanwhile, an I/O error). */
  | 'read-io'
  /** The log is closed or failed. */
  | 'read-closed'
  /** The arguments are out of range. */
  | 'read-invalid';

export class ReadBackError extends Error {
  constructor(
    readonly code: ReadBackCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'ReadBackError';
  }
}

export interface ReadBackResult {
  /** Entries from `from` on, contiguous, at least one. */
  readonly entries: Entry[];
  /**
   * Term of entry from - 1: 0 when from is 1; -1 when the segments do not hold that entry (from is
   * the floor: the entry before is compacted away or a base record). The caller then takes it from
   * its own log, which holds the term of its snapshot.
   */
  readonly prevTerm: number;
  /** Entry data bytes returned. */
  readonly dataBytes: number;
  /** File bytes read to find them. */
  readonly fileBytesRead: number;
}

/** What a durable log offers for reading back (the node actor finds it on its `DurableLog`). */
export interface LogReader {
  /** The lowest `from` a read may ask for now (from it, without the previous term: readFloor); 0: none. */
  readBackFloor(): number;
  /** Entries [from, toIndex], at most bytesMax of data (at least one entry). Throws ReadBackError. */
  readEntries(from: number, toIndex: number, bytesMax: number): ReadBackResult;
}

/** Bytes read from a file at a time (a record larger than this is read whole). */
const readWindowBytesMin = 64 * 1024;

/**
 * The lowest `from` that `readRange` can serve with these segments: the oldest entry held, and
 * never at or below a base record (what precedes one is not the log any more). A read from the
 * floor itself returns no previous term (-1) unless it is entry 1. 0 when no entry is held.
 *
 * (Until 2026-12-07 the floor was one higher, so that every read carried the previous entry's
 * term: after a snapshot installed past the end of a node's log, the entry right after it could
 * not be read back, and a leader whose data floor sat at that snapshot released nothing.)
 */
export function readFloor(segments: readonly ScannedSegment[]): number {
  let first = 0;
  let baseMax = 0;
  for (const s of segments) {
    if (first === 0 && s.minEntryIndex > 0) first = s.minEntryIndex;
    if (s.baseMax > baseMax) baseMax = s.baseMax;
  }
  if (first === 0) return 0;
  return Math.max(first, baseMax + 1);
}

/** Reads [from, toIndex] from the segments (oldest first). See the module comment. */
export function readRange(
  fs: FileSystem,
  walDir: string,
  segments: readonly ScannedSegment[],
  from: number,
  toIndex: number,
  bytesMax: number,
): ReadBackResult {
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(toIndex) || from < 1 || toIndex < from || !(bytesMax >= 1)) {
    throw new ReadBackError('read-invalid', `range [${from}, ${toIndex}] with ${bytesMax} bytes`);
  }
  const floor = readFloor(segments);
  if (floor === 0 || from < floor) throw new ReadBackError('read-below-floor', `entry ${from} is below the log's floor ${floor}`);
  // `lo` is the first index collected: from - 1 for its term, unless from is the log's first entry
  // ever or the floor (the entry before is not held).
  const withPrev = from > floor;
  const lo = withPrev ? from - 1 : from;
  let k = -1;
  for (let s = segments.length - 1; s >= 0; s--) {
    const seg = segments[s]!;
    if (seg.minEntryIndex > 0 && seg.minEntryIndex <= lo && lo <= seg.maxEntryIndex) {
      k = s;
      break;
    }
  }
  if (k < 0) throw new ReadBackError('read-below-floor', `no segment holds entry ${lo}`);
  const st: Collect = {
    lo,
    toIndex,
    bytesMax,
    minEntries: withPrev ? 2 : 1,
    segmentHasVoids: false,
    entriesSeen: 0,
    entries: [],
    dataBytes: 0,
    full: false,
    fileBytesRead: 0,
  };
  for (let s = k; s < segments.length; s++) {
    const seg = segments[s]!;
    if (s > k && isDone(st) && !voidsFrom(segments, s, st)) break;
    scanSegment(fs, join(walDir, seg.name), seg, s === k, st);
  }
  const entries = st.entries;
  if (entries.length === 0 || (withPrev && entries.length < 2)) {
    throw new ReadBackError('read-gap', `entries [${lo}, ${toIndex}] not found in the segments`);
  }
  if (!withPrev) return { entries, prevTerm: from === 1 ? 0 : -1, dataBytes: st.dataBytes, fileBytesRead: st.fileBytesRead };
  const prev = entries.shift()!;
  return { entries, prevTerm: prev.term, dataBytes: st.dataBytes - prev.data.byteLength, fileBytesRead: st.fileBytesRead };
}

interface Collect {
  readonly lo: number;
  readonly toIndex: number;
  readonly bytesMax: number;
  /** Entries always returned whatever their size: the previous entry (when from > 1) and one of the range. */
  readonly minEntries: number;
  /** Contiguous from lo. */
  readonly entries: Entry[];
  dataBytes: number;
  /** The segment being scanned holds a truncation or base record. */
  segmentHasVoids: boolean;
  /** Entry records seen in the segment being scanned. */
  entriesSeen: number;
  /** The byte bound stopped the batch (the next entry did not fit). */
  full: boolean;
  fileBytesRead: number;
}

function isDone(st: Collect): boolean {
  return st.entries.length > 0 && (st.full || st.lo + st.entries.length - 1 >= st.toIndex);
}

/** Does segment `s` or a later one hold a truncation or base record that can void what was collected? */
function voidsFrom(segments: readonly ScannedSegment[], s: number, st: Collect): boolean {
  const last = st.lo + st.entries.length - 1;
  for (let j = s; j < segments.length; j++) {
    const seg = segments[j]!;
    if (seg.voidMin <= last || seg.baseMax >= st.lo) return true;
  }
  return false;
}

/** Keeps the first `n` entries collected (a truncation voided the rest). */
function cut(st: Collect, n: number): void {
  while (st.entries.length > n) st.dataBytes -= st.entries.pop()!.data.byteLength;
  st.full = false;
}

function scanSegment(fs: FileSystem, path: string, seg: ScannedSegment, first: boolean, st: Collect): void {
  const clean = seg.voidMin === Infinity && seg.baseMax === 0;
  st.segmentHasVoids = !clean;
  st.entriesSeen = 0;
  let pos = 0;
  if (first && clean) {
    // The nearest checkpoint at or below lo (pairs of index, offset).
    const cps = seg.checkpoints;
    for (let c = 0; c + 1 < cps.length && cps[c]! <= st.lo; c += 2) pos = cps[c + 1]!;
  }
  let h: FileHandle;
  try {
    h = fs.open(path, 'existing');
  } catch (e) {
    throw new ReadBackError('read-io', `open ${path}: ${(e as Error).message}`);
  }
  try {
    // Not past the records the log knows of: a preallocated segment goes on in zeros (storage/options.ts).
    const size = Math.min(h.size(), seg.sizeBytes);
    const window = Math.max(readWindowBytesMin, Math.min(st.bytesMax + FRAME_HEADER_BYTES * 64, 4 * readWindowBytesMin));
    const cur = newFrameCursor();
    // Each turn consumes at least one record or ends: bounded by the file's size.
    while (pos < size) {
      if (isDone(st) && clean) return; // later entries of a clean segment are all past the batch
      let buf = read(h, pos, Math.min(window, size - pos), st);
      let at = 0;
      for (;;) {
        const status = readFrame(buf, at, buf.length, cur);
        if (status === FrameStatus.end) break;
        if (status === FrameStatus.shortHeader || status === FrameStatus.pastEnd) {
          if (at > 0) break; // the record continues past the window: read from its start
          const whole = status === FrameStatus.pastEnd ? FRAME_HEADER_BYTES + payloadBytesAt(buf) : FRAME_HEADER_BYTES;
          if (pos + whole > size) throw new ReadBackError('read-framing', `a record at ${path}+${pos} runs past the end of the file`);
          buf = read(h, pos, whole, st);
          continue;
        }
        if (status === FrameStatus.headerChecksum) throw new ReadBackError('read-checksum', `a record header with a bad checksum at ${path}+${pos + at}`);
        if (status !== FrameStatus.ok) throw new ReadBackError('read-framing', `an invalid record header at ${path}+${pos + at}`);
        record(buf, cur.type, cur.payloadStart, cur.payloadBytes, cur.payloadCrc, st, `${path}+${pos + at}`);
        at = cur.next;
        if (isDone(st) && clean) return;
      }
      if (at === 0) throw new ReadBackError('read-framing', `no record could be read at ${path}+${pos}`);
      pos += at;
    }
    // The index says it holds entries: a file cut behind the log's back must not read as empty.
    if (seg.minEntryIndex > 0 && st.entriesSeen === 0) throw new ReadBackError('read-framing', `no entry in ${path}, ${size} bytes`);
  } finally {
    h.close();
  }
}

function payloadBytesAt(buf: Uint8Array): number {
  return (buf[4]! | (buf[5]! << 8) | (buf[6]! << 16) | (buf[7]! << 24)) >>> 0;
}

function read(h: FileHandle, pos: number, length: number, st: Collect): Uint8Array {
  let b: Uint8Array;
  try {
    b = h.readSync(pos, length);
  } catch (e) {
    throw new ReadBackError('read-io', `read at ${pos}: ${(e as Error).message}`);
  }
  st.fileBytesRead += b.length;
  // A plain view: entries returned are views into it.
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** Applies one record whose header is valid to the collection. */
function record(buf: Uint8Array, type: number, p: number, n: number, crc: number, st: Collect, where: string): void {
  if (type !== RecordType.entry) {
    if (crc32Range(buf, p, p + n, 0) !== crc) throw new ReadBackError('read-checksum', `a record with a bad checksum at ${where}`);
    if (type !== RecordType.truncate && type !== RecordType.base) return; // segment header, damage mark
    const index = n === INDEX_PAYLOAD_BYTES ? readU64(buf, p) : -1;
    if (index < 1) throw new ReadBackError('read-framing', `an invalid truncate or base record at ${where}`);
    if (type === RecordType.base) {
      if (index >= st.lo) throw new ReadBackError('read-below-floor', `a base record at ${index} covers entry ${st.lo}`);
      return;
    }
    if (index - st.lo < st.entries.length) cut(st, Math.max(0, index - st.lo));
    return;
  }
  if (n < ENTRY_FIELDS_BYTES) throw new ReadBackError('read-framing', `a short entry record at ${where}`);
  st.entriesSeen++;
  const index = readU64(buf, p);
  if (index < st.lo) {
    // Below the range: skipped without its checksum (never returned).
    return;
  }
  const expected = st.lo + st.entries.length;
  if (index > expected) {
    if (isDone(st)) return; // past the batch
    // In a segment with a truncation, entries past the range may precede the truncation that voids
    // them and the rewritten ones (--disk-faults seeds 13, 51): skipped. Anywhere else a gap.
    if (st.segmentHasVoids) return;
    throw new ReadBackError('read-gap', `entry ${index} where ${expected} was expected at ${where}`);
  }
  if (index < expected) cut(st, index - st.lo); // a later record of the same index wins
  if (isDone(st)) return;
  const dataBytes = n - ENTRY_FIELDS_BYTES;
  // Always the previous entry and one entry of the range; then as many as fit in bytesMax.
  if (st.entries.length >= st.minEntries && st.dataBytes + dataBytes > st.bytesMax) {
    st.full = true;
    return;
  }
  if (crc32Span(buf, p, p + n, 0) !== crc) throw new ReadBackError('read-checksum', `entry ${index} with a bad checksum at ${where}`);
  const term = readU64(buf, p + 8);
  const kind = buf[p + 16]!;
  if (term < 0 || !isEntryKind(kind)) throw new ReadBackError('read-framing', `entry ${index} with invalid fields at ${where}`);
  st.entries.push({ index, term, kind: kind as EntryKind, data: buf.subarray(p + ENTRY_FIELDS_BYTES, p + n) });
  st.dataBytes += dataBytes;
}
