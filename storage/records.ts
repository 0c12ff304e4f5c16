/**
 * Payload layouts of the write-ahead log's records, and the batch buffer they are encoded into.
 *
 *   segmentHeader  magic "SRAFTWAL" (8), u32 version, u32 zero, u64 segmentNo, u64 prevSegmentNo (0: none)
 *   entry          u64 index, u64 term, u8 kind, data
 *   truncate       u64 fromIndex     every entry >= fromIndex recorded earlier is void
 *   base           u64 index         a durable snapshot covers <= index; the next entry may be index + 1
 *   damage         u8 code, 7 zero, u64 firstBadIndex, u64 lastIndexSeen
 *                                    the log was damaged; entries through lastIndexSeen must be
 *                                    re-replicated before the node may vote again
 *
 * Encoding writes each record straight into one growing buffer per batch: no per-entry objects.
 */
import type { Entry } from '../machines/types.js';
import { crc32Range, crc32Span } from './crc.js';
import { invariant } from './errors.js';
import { FRAME_HEADER_BYTES, RecordType, writeFrameHeader, writeU32, writeU64 } from './frame.js';

export const WAL_MAGIC = new Uint8Array([0x53, 0x52, 0x41, 0x46, 0x54, 0x57, 0x41, 0x4c]); // "SRAFTWAL"
export const WAL_VERSION = 1;

export const SEGMENT_HEADER_PAYLOAD_BYTES = 32;
export const ENTRY_FIELDS_BYTES = 17;
export const INDEX_PAYLOAD_BYTES = 8;
export const DAMAGE_PAYLOAD_BYTES = 24;

export const SEGMENT_HEADER_RECORD_BYTES = FRAME_HEADER_BYTES + SEGMENT_HEADER_PAYLOAD_BYTES;
const DAMAGE_RECORD_BYTES = FRAME_HEADER_BYTES + DAMAGE_PAYLOAD_BYTES;
/**
 * A damage mark is written twice, one record after the other (2026-12-07): a bit flip in the only
 * copy was damage again whose salvage no longer saw the mark's lastIndexSeen, and the repair range
 * fell to the entries re-replicated so far. With two, the other copy is read (a flip in the first is
 * damage whose salvage finds the second; in the second, the first was applied). Readers take any
 * number of copies: logs written before hold one.
 */
const DAMAGE_MARK_COPIES = 2;
/** Room kept at the front of every batch buffer for the records that open a new segment. */
export const SEGMENT_PREFIX_BYTES_MAX = SEGMENT_HEADER_RECORD_BYTES + DAMAGE_MARK_COPIES * DAMAGE_RECORD_BYTES;

/** Stable damage codes and their on-disk ids. */
export const DamageCode = {
  'log-checksum': 1,
  'log-framing': 2,
  'log-gap': 3,
  'snapshot-checksum': 4,
} as const;
export type DamageCode = keyof typeof DamageCode;

export function damageCodeFromId(id: number): DamageCode | null {
  for (const name of Object.keys(DamageCode) as DamageCode[]) if (DamageCode[name] === id) return name;
  return null;
}

export interface DamageMark {
  readonly code: DamageCode;
  readonly firstBadIndex: number;
  readonly lastIndexSeen: number;
}

const KIND_MAX = 2;
export function isEntryKind(k: number): boolean {
  return k >= 0 && k <= KIND_MAX;
}

/** A growing byte buffer with `SEGMENT_PREFIX_BYTES_MAX` reserved at the front. */
export class BatchBuffer {
  buf: Buffer;
  /** End of the encoded records (records start at SEGMENT_PREFIX_BYTES_MAX). */
  length = SEGMENT_PREFIX_BYTES_MAX;

  constructor(initialBytes: number) {
    this.buf = Buffer.allocUnsafe(Math.max(initialBytes, SEGMENT_PREFIX_BYTES_MAX + 4096));
  }

  /** Bytes of records encoded so far (the prefix excluded). */
  recordBytes(): number {
    return this.length - SEGMENT_PREFIX_BYTES_MAX;
  }

  reset(): void {
    this.length = SEGMENT_PREFIX_BYTES_MAX;
  }

  private ensure(extra: number): void {
    const need = this.length + extra;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }

  appendEntry(e: Entry): void {
    const dataBytes = e.data.length;
    const payloadBytes = ENTRY_FIELDS_BYTES + dataBytes;
    this.ensure(FRAME_HEADER_BYTES + payloadBytes);
    const buf = this.buf;
    const at = this.length;
    const p = at + FRAME_HEADER_BYTES;
    writeU64(buf, p, e.index);
    writeU64(buf, p + 8, e.term);
    buf[p + 16] = e.kind;
    buf.set(e.data, p + ENTRY_FIELDS_BYTES);
    // Fields and data are contiguous in the batch: one pass (a table loop when short).
    const crc = crc32Span(buf, p, p + payloadBytes, 0);
    writeFrameHeader(buf, at, RecordType.entry, payloadBytes, crc);
    this.length = p + payloadBytes;
  }

  appendTruncate(fromIndex: number): void {
    this.appendIndexRecord(RecordType.truncate, fromIndex);
  }

  appendBase(index: number): void {
    this.appendIndexRecord(RecordType.base, index);
  }

  private appendIndexRecord(type: RecordType, index: number): void {
    this.ensure(FRAME_HEADER_BYTES + INDEX_PAYLOAD_BYTES);
    const at = this.length;
    const p = at + FRAME_HEADER_BYTES;
    writeU64(this.buf, p, index);
    writeFrameHeader(this.buf, at, type, INDEX_PAYLOAD_BYTES, crc32Range(this.buf, p, p + INDEX_PAYLOAD_BYTES, 0));
    this.length = p + INDEX_PAYLOAD_BYTES;
  }
}

/** Encodes a segment header record at buf[at]; returns the offset after it. */
function encodeSegmentHeader(buf: Uint8Array, at: number, segmentNo: number, prevSegmentNo: number): number {
  invariant(Number.isSafeInteger(segmentNo) && segmentNo >= 1, `bad segment number ${segmentNo}`);
  const p = at + FRAME_HEADER_BYTES;
  buf.set(WAL_MAGIC, p);
  writeU32(buf, p + 8, WAL_VERSION);
  writeU32(buf, p + 12, 0);
  writeU64(buf, p + 16, segmentNo);
  writeU64(buf, p + 24, prevSegmentNo);
  const crc = crc32Range(buf, p, p + SEGMENT_HEADER_PAYLOAD_BYTES, 0);
  writeFrameHeader(buf, at, RecordType.segmentHeader, SEGMENT_HEADER_PAYLOAD_BYTES, crc);
  return p + SEGMENT_HEADER_PAYLOAD_BYTES;
}

/** Encodes a damage record at buf[at]; returns the offset after it. */
function encodeDamage(buf: Uint8Array, at: number, mark: DamageMark): number {
  const p = at + FRAME_HEADER_BYTES;
  buf.fill(0, p, p + 8);
  buf[p] = DamageCode[mark.code];
  writeU64(buf, p + 8, mark.firstBadIndex);
  writeU64(buf, p + 16, mark.lastIndexSeen);
  const crc = crc32Range(buf, p, p + DAMAGE_PAYLOAD_BYTES, 0);
  writeFrameHeader(buf, at, RecordType.damage, DAMAGE_PAYLOAD_BYTES, crc);
  return p + DAMAGE_PAYLOAD_BYTES;
}

/** Bytes of the records that open a segment: its header, and the damage mark (two copies) while repair is pending. */
export function segmentPrefixBytes(mark: DamageMark | null): number {
  return SEGMENT_HEADER_RECORD_BYTES + (mark === null ? 0 : DAMAGE_MARK_COPIES * DAMAGE_RECORD_BYTES);
}

/** Writes the segment-opening records so that they end exactly at `end`; returns where they start. */
export function encodeSegmentPrefix(buf: Uint8Array, end: number, segmentNo: number, prevSegmentNo: number, mark: DamageMark | null): number {
  const start = end - segmentPrefixBytes(mark);
  invariant(start >= 0, 'segment prefix does not fit in the reserved space');
  let at = encodeSegmentHeader(buf, start, segmentNo, prevSegmentNo);
  if (mark !== null) for (let k = 0; k < DAMAGE_MARK_COPIES; k++) at = encodeDamage(buf, at, mark);
  invariant(at === end, 'segment prefix size mismatch');
  return start;
}
