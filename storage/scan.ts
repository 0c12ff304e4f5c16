/**
 * Recovery's parsing pass: reads every segment in place and classifies the first problem.
 *
 * Rules (docs/storage.md has the reasoning):
 * - torn tail: only in the LAST segment, only when the last record is incomplete (fewer bytes than a
 *   header remain, or a header with a valid checksum declares a payload running past the end of the
 *   file) or everything from the record's start to the end is zero. It is cut off.
 * - anything else is damage: a complete record with a bad checksum (even the very last one), a header
 *   that is invalid and followed by data, a record running past the end of a segment that is not the
 *   last, a broken segment chain, or an entry index that does not follow (a gap). Entries from the
 *   first bad record on are not returned.
 */
import type { Entry, EntryKind } from '../machines/types.js';
import { crc32Range, crc32Span } from './crc.js';
import {
  FRAME_HEADER_BYTES,
  FRAME_PAYLOAD_BYTES_MAX,
  FrameStatus,
  newFrameCursor,
  plausibleHeader,
  readFrame,
  readU32,
  readU64,
  RecordType,
  type FrameCursor,
} from './frame.js';
import { LogBuilder } from './logBuilder.js';
import {
  damageCodeFromId,
  DAMAGE_PAYLOAD_BYTES,
  ENTRY_FIELDS_BYTES,
  INDEX_PAYLOAD_BYTES,
  isEntryKind,
  SEGMENT_HEADER_PAYLOAD_BYTES,
  WAL_MAGIC,
  WAL_VERSION,
  type DamageCode,
  type DamageMark,
} from './records.js';

export interface SegmentFile {
  readonly no: number;
  readonly name: string;
  /** The file's size when known before it is read (openLog: from `stat`); the scan does not read a segment past its bound. */
  readonly sizeBytes?: number;
  /** The segment's bytes, read when first asked for (issue 18: recovery reads one segment at a time). */
  bytes(): Uint8Array;
  /** Lets go of the bytes; a later `bytes()` reads them again. */
  release(): void;
}

/** A segment read by `read` when its bytes are first needed, and again after a release. */
export function segmentFile(no: number, name: string, read: () => Uint8Array, sizeBytes?: number): SegmentFile {
  let held: Uint8Array | null = null;
  return {
    no,
    name,
    ...(sizeBytes === undefined ? {} : { sizeBytes }),
    bytes: () => (held ??= read()),
    release: () => {
      held = null;
    },
  };
}

export interface ScannedSegment {
  readonly no: number;
  readonly name: string;
  /** Bytes of the segment (the active one's grows as batches are written). */
  sizeBytes: number;
  /** Highest entry index recorded in the segment (0 if none), voided ones included: compaction's test. */
  maxEntryIndex: number;
  /**
   * Issue 18, the read-back index (storage/readBack.ts): the lowest entry index recorded (0 if none),
   * the lowest truncation index and the highest base index recorded (Infinity and 0 if none), and a
   * sparse offset index: pairs (entry index, offset of a record from which that entry is the next
   * one read), at least `CHECKPOINT_SPACING_BYTES` apart, used only while the segment has no
   * truncation or base record (its entries then strictly increase).
   */
  minEntryIndex: number;
  voidMin: number;
  baseMax: number;
  readonly checkpoints: number[];
}

/** Bytes between two checkpoints of a segment's sparse offset index (at most 64 per 64 MiB segment). */
const CHECKPOINT_SPACING_BYTES = 1024 * 1024;

/** A segment's read-back index before anything is recorded in it. */
export function emptySegment(no: number, name: string, sizeBytes: number): ScannedSegment {
  return { no, name, sizeBytes, maxEntryIndex: 0, minEntryIndex: 0, voidMin: Infinity, baseMax: 0, checkpoints: [] };
}

/** Notes an entry recorded at `offset` in the segment's read-back index. */
export function noteEntryAt(seg: ScannedSegment, index: number, offset: number): void {
  if (index > seg.maxEntryIndex) seg.maxEntryIndex = index;
  if (seg.minEntryIndex === 0 || index < seg.minEntryIndex) seg.minEntryIndex = index;
  const cps = seg.checkpoints;
  if (cps.length === 0 || offset - cps[cps.length - 1]! >= CHECKPOINT_SPACING_BYTES) cps.push(index, offset);
}

export interface TornTail {
  readonly segmentPos: number;
  readonly offset: number;
  readonly bytes: number;
}

export interface DamageFound {
  readonly segmentPos: number;
  /** The damaged segment was larger than any segment the log writes and was not read (moved aside whole). */
  readonly unread?: true;
  /** Offset of the first bad record in that segment. */
  readonly offset: number;
  readonly code: DamageCode;
  readonly message: string;
  readonly firstBadIndex: number;
  readonly lastIndexSeen: number;
}

export interface ScanResult {
  readonly builder: LogBuilder;
  readonly segments: ScannedSegment[];
  readonly torn: TornTail | null;
  readonly damage: DamageFound | null;
}

/** Outcome of decoding one record whose header is valid. */
type RecordVerdict = { readonly ok: true } | { readonly ok: false; readonly code: DamageCode; readonly why: string; readonly chainBreak?: true };
const OK: RecordVerdict = { ok: true };

/** What the scan may assume about the files (openLog derives them from the options). */
interface ScanBounds {
  /** A segment larger than this (its `sizeBytes`) is damage and is not read. */
  readonly segmentFileBytesMax: number;
  /** Entry payloads (fields and data) up to this size are checksummed by the salvage pass. */
  readonly entryPayloadBytesMax: number;
}

const NO_BOUNDS: ScanBounds = { segmentFileBytesMax: Infinity, entryPayloadBytesMax: FRAME_PAYLOAD_BYTES_MAX };

/**
 * `lastIndexSeen` when the indices a damaged file held cannot be known (a segment too large to
 * read): the node may have acknowledged any of them, so it must not vote until an operator
 * replaces its data (docs/storage.md, "Files that are not the log's").
 */
export const INDEX_UNKNOWN = Number.MAX_SAFE_INTEGER;

/**
 * Scans the segments in order, one at a time (issue 18): entries below the snapshot's index are
 * followed but not kept (LogBuilder), and a segment none of whose entries is kept is released
 * once scanned, so a restart holds the segments above the snapshot and one more, not every
 * segment the WAL retains for reading back.
 */
export function scanSegments(files: readonly SegmentFile[], snapshotIndex: number, given: Partial<ScanBounds> = {}): ScanResult {
  const bounds: ScanBounds = { ...NO_BOUNDS, ...given };
  const builder = new LogBuilder(snapshotIndex);
  // Sizes are filled in as each segment is read; a segment the scan never reaches (after damage) is not kept.
  const segments: ScannedSegment[] = files.map((f) => emptySegment(f.no, f.name, 0));
  const cur = newFrameCursor();
  for (let pos = 0; pos < files.length; pos++) {
    const file = files[pos]!;
    const seg = segments[pos]!;
    const isLast = pos === files.length - 1;
    if (file.sizeBytes !== undefined && file.sizeBytes > bounds.segmentFileBytesMax) {
      // Files on disk are outside input: never read whole one the log cannot have written.
      const why = `segment ${file.name} is ${file.sizeBytes} bytes, more than any segment this log writes (${bounds.segmentFileBytesMax}): not read`;
      return damaged(files, segments, builder, pos, 0, 'log-framing', why, snapshotIndex, bounds);
    }
    const buf = file.bytes();
    const end = buf.length;
    seg.sizeBytes = end;
    const prevNo = pos > 0 ? files[pos - 1]!.no : -1;
    let at = 0;
    // Each step consumes a whole record (cur.next > at) or ends the scan: bounded by the file length.
    for (;;) {
      const status = readFrame(buf, at, end, cur);
      if (status === FrameStatus.end) {
        if (at > 0) break;
        if (isLast) return { builder, segments, torn: { segmentPos: pos, offset: 0, bytes: 0 }, damage: null };
        return damaged(files, segments, builder, pos, 0, 'log-framing', `segment ${file.name} is empty`, snapshotIndex, bounds);
      }
      if (status !== FrameStatus.ok) {
        const incomplete = status === FrameStatus.shortHeader || status === FrameStatus.pastEnd;
        if (isLast) {
          const zeros = zerosFrom(buf, at, end);
          if (incomplete || zeros === at || cutShortInZeros(zeros, at, at + FRAME_HEADER_BYTES, end)) {
            return { builder, segments, torn: tornAt(pos, at, zeros, end), damage: null };
          }
        }
        const code: DamageCode = status === FrameStatus.headerChecksum ? 'log-checksum' : 'log-framing';
        return damaged(files, segments, builder, pos, at, code, `${describe(status)} at ${file.name}+${at}`, snapshotIndex, bounds);
      }
      const verdict = applyRecord(buf, cur, at, file.no, prevNo, builder, seg);
      if (!verdict.ok && verdict.chainBreak === true && builder.lastIndex() <= snapshotIndex) {
        // Everything before this segment is covered by the snapshot: the break is a compaction
        // whose unlinks were only partly kept by a crash. The log starts over at this segment.
        builder.restartCovered();
        // Issue 18: what precedes the break may be entries that a lost segment's truncation voided:
        // never read back from those segments (compaction still deletes them by maxEntryIndex).
        for (let k = 0; k < pos; k++) segments[k]!.minEntryIndex = 0;
        at = cur.next;
        continue;
      }
      if (!verdict.ok && isLast && verdict.code === 'log-checksum') {
        const zeros = zerosFrom(buf, at, end);
        if (cutShortInZeros(zeros, at, cur.next, end)) return { builder, segments, torn: tornAt(pos, at, zeros, end), damage: null };
      }
      if (!verdict.ok) {
        return damaged(files, segments, builder, pos, at, verdict.code, `${verdict.why} at ${file.name}+${at}`, snapshotIndex, bounds);
      }
      at = cur.next;
    }
    // No kept entry is a view of this segment: its bytes may go (openLog reads them again if it must).
    if (!isLast && seg.maxEntryIndex < builder.keepFromIndex) file.release();
  }
  return { builder, segments, torn: null, damage: null };
}

/** Torn writes keep whole sectors of this size: a write cut short ends at a multiple of it. */
const SECTOR_BYTES = 512;

/** Where the run of zeros that ends the segment starts, not below `at` (`end`: no such run). Bounded by end - at. */
function zerosFrom(buf: Uint8Array, at: number, end: number): number {
  let z = end;
  while (z > at && buf[z - 1] === 0) z--;
  return z;
}

/**
 * The torn tail from `at`, whose closing zeros start at `zeros`: its bytes counted through the
 * sector of the last one that is not zero. Whole sectors of zeros after it were never written
 * (preallocation, storage/options.ts), and a tail of zeros alone is nothing torn (0 bytes: nothing
 * is copied aside).
 */
function tornAt(segmentPos: number, at: number, zeros: number, end: number): TornTail {
  const bytes = zeros === at ? 0 : Math.min(end, Math.ceil(zeros / SECTOR_BYTES) * SECTOR_BYTES) - at;
  return { segmentPos, offset: at, bytes };
}

/**
 * A write into preallocated zeros cut short (a crash while it was issued, docs/storage.md): the
 * closing zeros of the segment (from `zeros`) start at or before a sector boundary that lies
 * strictly inside the record at `at`, before `limit` (the record's end, or its header's end when
 * the header itself is bad). The record may end the file (a batch that filled the zeroed range
 * exactly). A bad record followed by anything but zeros is still damage.
 */
function cutShortInZeros(zeros: number, at: number, limit: number, end: number): boolean {
  if (limit > end) return false;
  const s = Math.ceil(zeros / SECTOR_BYTES) * SECTOR_BYTES;
  return s > at && s < limit;
}

function describe(status: FrameStatus): string {
  switch (status) {
    case FrameStatus.shortHeader:
      return 'a partial record header in a segment that is not the last';
    case FrameStatus.headerChecksum:
      return 'a record header with a bad checksum';
    case FrameStatus.headerInvalid:
      return 'an invalid record header';
    case FrameStatus.pastEnd:
      return 'a record running past the end of a segment that is not the last';
    default:
      return `frame status ${status}`;
  }
}

/** Checks one record's payload and applies it to the builder. */
function applyRecord(
  buf: Uint8Array,
  cur: FrameCursor,
  at: number,
  segmentNo: number,
  prevSegmentNo: number,
  builder: LogBuilder,
  seg: ScannedSegment,
): RecordVerdict {
  const p = cur.payloadStart;
  const n = cur.payloadBytes;
  if (cur.type === RecordType.entry) {
    if (at === 0) return { ok: false, code: 'log-framing', why: 'a segment not starting with its header' };
    if (n < ENTRY_FIELDS_BYTES) return { ok: false, code: 'log-framing', why: 'a short entry record' };
    // Zero-copy: the entry's data is a view into the segment buffer, and the checksum runs over it.
    const data = buf.subarray(p + ENTRY_FIELDS_BYTES, p + n);
    if (crc32Span(buf, p, p + n, 0) !== cur.payloadCrc) {
      return { ok: false, code: 'log-checksum', why: 'an entry with a bad checksum' };
    }
    const index = readU64(buf, p);
    const term = readU64(buf, p + 8);
    const kind = buf[p + 16]!;
    if (index < 1 || term < 0 || !isEntryKind(kind)) return { ok: false, code: 'log-framing', why: 'an entry with invalid fields' };
    noteEntryAt(seg, index, at);
    const e: Entry = { index, term, kind: kind as EntryKind, data };
    if (builder.applyEntry(e) === 'gap') {
      return { ok: false, code: 'log-gap', why: `entry ${index} where ${builder.nextIndex} was expected` };
    }
    return OK;
  }
  if (crc32Range(buf, p, p + n, 0) !== cur.payloadCrc) {
    return { ok: false, code: 'log-checksum', why: 'a record with a bad checksum' };
  }
  if (cur.type === RecordType.segmentHeader) {
    if (at !== 0) return { ok: false, code: 'log-framing', why: 'a segment header inside a segment' };
    if (n !== SEGMENT_HEADER_PAYLOAD_BYTES) return { ok: false, code: 'log-framing', why: 'a segment header of the wrong size' };
    for (let i = 0; i < WAL_MAGIC.length; i++) {
      if (buf[p + i] !== WAL_MAGIC[i]) return { ok: false, code: 'log-framing', why: 'a segment header without the magic' };
    }
    if (readU32(buf, p + 8) !== WAL_VERSION || readU32(buf, p + 12) !== 0) {
      return { ok: false, code: 'log-framing', why: 'a segment of an unknown version' };
    }
    if (readU64(buf, p + 16) !== segmentNo) return { ok: false, code: 'log-framing', why: 'a segment header naming another segment' };
    const prev = readU64(buf, p + 24);
    // The first segment present may follow compacted ones; every other must follow the one before it.
    if (prev < 0 || prev >= segmentNo || (prevSegmentNo >= 0 && prev !== prevSegmentNo)) {
      return { ok: false, code: 'log-gap', why: `segment ${segmentNo} follows ${prev}, not ${prevSegmentNo}`, chainBreak: true };
    }
    return OK;
  }
  if (at === 0) return { ok: false, code: 'log-framing', why: 'a segment not starting with its header' };
  if (cur.type === RecordType.truncate || cur.type === RecordType.base) {
    const index = n === INDEX_PAYLOAD_BYTES ? readU64(buf, p) : -1;
    if (index < 1) return { ok: false, code: 'log-framing', why: 'an invalid truncate or base record' };
    if (cur.type === RecordType.truncate) seg.voidMin = Math.min(seg.voidMin, index);
    else seg.baseMax = Math.max(seg.baseMax, index);
    const r = cur.type === RecordType.truncate ? builder.applyTruncate(index) : builder.applyBase(index);
    if (r === 'gap') return { ok: false, code: 'log-gap', why: `a truncation at ${index} past the end ${builder.nextIndex}` };
    return OK;
  }
  // RecordType.damage (readFrame admits no other type)
  const mark = n === DAMAGE_PAYLOAD_BYTES ? decodeDamage(buf, p) : null;
  if (mark === null) return { ok: false, code: 'log-framing', why: 'an invalid damage record' };
  builder.applyDamage(mark);
  return OK;
}

function decodeDamage(buf: Uint8Array, p: number): DamageMark | null {
  const code = damageCodeFromId(buf[p]!);
  for (let i = 1; i < 8; i++) if (buf[p + i] !== 0) return null;
  const firstBadIndex = readU64(buf, p + 8);
  const lastIndexSeen = readU64(buf, p + 16);
  if (code === null || firstBadIndex < 1 || lastIndexSeen < 0) return null;
  return { code, firstBadIndex, lastIndexSeen };
}

function damaged(
  files: readonly SegmentFile[],
  segments: ScannedSegment[],
  builder: LogBuilder,
  pos: number,
  offset: number,
  code: DamageCode,
  message: string,
  snapshotIndex: number,
  bounds: ScanBounds,
): ScanResult {
  const firstBadIndex = builder.nextIndex !== 0 ? builder.nextIndex : Math.max(builder.baseIndex, snapshotIndex) + 1;
  // The node must be repaired through every index the damaged files still show, and at least the
  // first one lost; damage marks left by an earlier recovery that crashed half-way count too.
  let lastIndexSeen = firstBadIndex;
  if (builder.pending !== null) lastIndexSeen = Math.max(lastIndexSeen, builder.pending.lastIndexSeen);
  const unread = (f: SegmentFile): boolean => f.sizeBytes !== undefined && f.sizeBytes > bounds.segmentFileBytesMax;
  for (let i = pos; i < files.length; i++) {
    const f = files[i]!;
    const seen = unread(f) ? INDEX_UNKNOWN : salvageMaxIndex(f.bytes(), i === pos ? offset + 1 : 0, bounds.entryPayloadBytesMax);
    lastIndexSeen = Math.max(lastIndexSeen, seen);
    if (i > pos) f.release();
  }
  return {
    builder,
    segments,
    torn: null,
    damage: { segmentPos: pos, offset, code, message, firstBadIndex, lastIndexSeen, ...(unread(files[pos]!) ? { unread: true as const } : {}) },
  };
}

/**
 * The salvage pass's work since the process started: offsets tried and payload bytes checksummed.
 * A count of work, not a time: a test shows the pass linear in a file's size (its budget) whatever
 * the machine's speed (until 2026-12-07 the tests timed it, and a loaded box could exceed that).
 */
export const salvageWork = { offsetsTried: 0, crcBytes: 0 };

/** The salvage pass checksums at most this many times the bytes of a file, plus SALVAGE_CRC_BUDGET_MIN. */
const SALVAGE_CRC_BUDGET_FACTOR = 4;
const SALVAGE_CRC_BUDGET_MIN = 1024 * 1024;

/**
 * Highest entry index (or damage mark) in any record with valid checksums in buf[from..]. After
 * damage the record boundaries are unknown, so it tries every offset; the cheap structural test
 * rejects almost all of them before a checksum is computed.
 *
 * Bounded (a review, 2026-12-07: a header with a valid header checksum every 16 bytes, each
 * declaring a payload to the end of the file, made this quadratic: 9.7 s for 1 MiB): a payload
 * is checksummed only when its size is one the log writes (an entry's fields and data up to
 * `entryPayloadBytesMax`, a damage record's exact size) and while the budget (a few times the file's size) lasts. A record with a
 * valid header that cannot be checked so counts as if it were valid: the result is used to keep
 * the node from voting until it is repaired through every index it may have acknowledged, so an
 * unchecked record may only raise it, never lower it. Linear in the buffer's length (the budget is
 * a few times it).
 */
function salvageMaxIndex(buf: Uint8Array, from: number, entryPayloadBytesMax: number): number {
  const cur = newFrameCursor();
  const end = buf.length;
  let budget = SALVAGE_CRC_BUDGET_FACTOR * end + SALVAGE_CRC_BUDGET_MIN;
  let best = 0;
  let at = from;
  while (at + FRAME_HEADER_BYTES <= end) {
    salvageWork.offsetsTried++;
    if (!plausibleHeader(buf, at, end) || readFrame(buf, at, end, cur) !== FrameStatus.ok) {
      at++;
      continue;
    }
    const p = cur.payloadStart;
    const n = cur.payloadBytes;
    const type = cur.type;
    // Where the index it would report is: an entry's own, a damage mark's lastIndexSeen.
    const indexAt = type === RecordType.entry && n >= ENTRY_FIELDS_BYTES ? p : type === RecordType.damage && n === DAMAGE_PAYLOAD_BYTES ? p + 16 : -1;
    const sizeOk = type === RecordType.entry ? n <= entryPayloadBytesMax : n === fixedPayloadBytes(type);
    if (!sizeOk || n > budget) {
      // Not checked: counted (conservative), and the search goes on inside it.
      if (indexAt >= 0) best = Math.max(best, readU64(buf, indexAt));
      at++;
      continue;
    }
    budget -= n;
    salvageWork.crcBytes += n;
    if (crc32Span(buf, p, p + n, 0) !== cur.payloadCrc) {
      at++;
      continue;
    }
    if (indexAt >= 0) best = Math.max(best, readU64(buf, indexAt));
    at = cur.next;
  }
  return best;
}

/** The payload size of a record type whose payload has one size (-1: entries, any size). */
function fixedPayloadBytes(type: number): number {
  switch (type) {
    case RecordType.segmentHeader:
      return SEGMENT_HEADER_PAYLOAD_BYTES;
    case RecordType.truncate:
    case RecordType.base:
      return INDEX_PAYLOAD_BYTES;
    case RecordType.damage:
      return DAMAGE_PAYLOAD_BYTES;
    default:
      return -1;
  }
}
