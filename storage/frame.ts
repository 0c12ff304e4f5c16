/**
 * Record framing shared by the write-ahead log: a 16-byte header, then the payload.
 *
 *   0  u32 headerCrc    CRC-32 of bytes 4..16 (so a flipped length or type is caught before use)
 *   4  u32 payloadBytes
 *   8  u8  type         RecordType
 *   9  u8  zero, u16 zero (reserved; must be 0)
 *  12  u32 payloadCrc   CRC-32 of the payload
 *  16  payload
 *
 * All integers little-endian. The parser is a single step function over (buffer, offset) with no
 * allocation and no recursion: callers loop over it with a bound (the buffer length).
 */
import { crc32Range } from './crc.js';

export const FRAME_HEADER_BYTES = 16;
/** Format limit on one record's payload; a header declaring more is damage, whatever the options. */
export const FRAME_PAYLOAD_BYTES_MAX = 256 * 1024 * 1024;

export const RecordType = {
  segmentHeader: 1,
  entry: 2,
  truncate: 3,
  base: 4,
  damage: 5,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];
const RECORD_TYPE_MAX = 5;

/** What one parse step found at an offset. */
export const FrameStatus = {
  /** A header with a valid checksum whose payload lies inside the buffer (payload not yet checked). */
  ok: 0,
  /** The offset is exactly the end of the buffer. */
  end: 1,
  /** Fewer than FRAME_HEADER_BYTES remain. */
  shortHeader: 2,
  /** A complete header whose checksum does not match. */
  headerChecksum: 3,
  /** A header with a valid checksum but an impossible type, reserved bits or length. */
  headerInvalid: 4,
  /** A valid header whose payload runs past the end of the buffer. */
  pastEnd: 5,
} as const;
export type FrameStatus = (typeof FrameStatus)[keyof typeof FrameStatus];

/** Reused by the caller across steps so parsing allocates nothing. */
export interface FrameCursor {
  type: number;
  payloadStart: number;
  payloadBytes: number;
  payloadCrc: number;
  /** Offset of the next record. */
  next: number;
}

export function newFrameCursor(): FrameCursor {
  return { type: 0, payloadStart: 0, payloadBytes: 0, payloadCrc: 0, next: 0 };
}

export function readU32(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

export function writeU32(buf: Uint8Array, at: number, v: number): void {
  buf[at] = v & 0xff;
  buf[at + 1] = (v >>> 8) & 0xff;
  buf[at + 2] = (v >>> 16) & 0xff;
  buf[at + 3] = (v >>> 24) & 0xff;
}

const TWO_POW_32 = 0x1_0000_0000;
/** High word limit so that hi * 2^32 + lo stays a safe integer. */
const U64_SAFE_HI_MAX = 0x1f_ffff;

/** Reads a u64 that must be a safe integer; returns -1 when it is not (damage, never a valid value). */
export function readU64(buf: Uint8Array, at: number): number {
  const hi = readU32(buf, at + 4);
  if (hi > U64_SAFE_HI_MAX) return -1;
  return hi * TWO_POW_32 + readU32(buf, at);
}

export function writeU64(buf: Uint8Array, at: number, v: number): void {
  writeU32(buf, at, v % TWO_POW_32);
  writeU32(buf, at + 4, Math.floor(v / TWO_POW_32));
}

/**
 * Fills in the header at `at` for a payload already written at at+16 with the given checksum.
 */
export function writeFrameHeader(buf: Uint8Array, at: number, type: RecordType, payloadBytes: number, payloadCrc: number): void {
  writeU32(buf, at + 4, payloadBytes);
  buf[at + 8] = type;
  buf[at + 9] = 0;
  buf[at + 10] = 0;
  buf[at + 11] = 0;
  writeU32(buf, at + 12, payloadCrc);
  writeU32(buf, at, crc32Range(buf, at + 4, at + FRAME_HEADER_BYTES, 0));
}

/**
 * One parse step: validates the header at `at` and, on `ok`, fills the cursor. The payload checksum
 * is left to the caller, which knows how to checksum its payload without extra views.
 */
export function readFrame(buf: Uint8Array, at: number, end: number, cur: FrameCursor): FrameStatus {
  if (at === end) return FrameStatus.end;
  if (end - at < FRAME_HEADER_BYTES) return FrameStatus.shortHeader;
  if (readU32(buf, at) !== crc32Range(buf, at + 4, at + FRAME_HEADER_BYTES, 0)) return FrameStatus.headerChecksum;
  const payloadBytes = readU32(buf, at + 4);
  const type = buf[at + 8]!;
  if (type < 1 || type > RECORD_TYPE_MAX || buf[at + 9] !== 0 || buf[at + 10] !== 0 || buf[at + 11] !== 0 || payloadBytes > FRAME_PAYLOAD_BYTES_MAX) {
    return FrameStatus.headerInvalid;
  }
  const payloadStart = at + FRAME_HEADER_BYTES;
  if (payloadBytes > end - payloadStart) return FrameStatus.pastEnd;
  cur.type = type;
  cur.payloadStart = payloadStart;
  cur.payloadBytes = payloadBytes;
  cur.payloadCrc = readU32(buf, at + 12);
  cur.next = payloadStart + payloadBytes;
  return FrameStatus.ok;
}

/**
 * Cheap structural test used when resynchronizing after damage: could a header start at `at`?
 * Filters most offsets before paying for a checksum.
 */
export function plausibleHeader(buf: Uint8Array, at: number, end: number): boolean {
  if (end - at < FRAME_HEADER_BYTES) return false;
  const type = buf[at + 8]!;
  if (type < 1 || type > RECORD_TYPE_MAX || buf[at + 9] !== 0 || buf[at + 10] !== 0 || buf[at + 11] !== 0) {
    return false;
  }
  const payloadBytes = readU32(buf, at + 4);
  return payloadBytes <= end - at - FRAME_HEADER_BYTES;
}
