/**
 * A stored session as one record of a data file (big-endian):
 *
 *   0  u32  length of the whole record (this header included)
 *   4  u32  CRC-32 of bytes [8, length)
 *   8  u8   record format version (1)
 *   9  u8   flags: bit 0 = void (a SessionStore that was not applied; see docs/sessions.md)
 *  10  u16  topic length
 *  12  u64  due time, ms since the epoch (the leader's clock + the class delay)
 *  20  16   session ID
 *  36  u32  record count
 *  40       topic (UTF-8), then per record: u32 length | bytes; a void record is zero-filled
 *
 * The checksum is computed before writing and verified after reading.
 */
import { STORED_RECORD_HEADER_BYTES, readU32BE, readU64BE, writeU32BE, writeU64BE } from '../../transport/commands/codec.js';
import { crc32Bytes } from '../../storage/crc.js';
import { utf8Text } from '../../transport/commands/utf8Decode.js';
import { SessionsError, SessionsErrorCode } from './errors.js';

const RECORD_FORMAT_VERSION = 1;
const FLAG_VOID = 1;

export interface RecordHeader {
  readonly length: number;
  readonly isVoid: boolean;
  readonly dueMs: number;
  readonly sessionHigh: number;
  readonly sessionLow: number;
  readonly topicBytes: number;
  readonly recordCount: number;
}

interface StoredSession {
  readonly isVoid: boolean;
  readonly dueMs: number;
  readonly sessionHigh: number;
  readonly sessionLow: number;
  readonly topic: string;
  readonly topicBytes: Uint8Array;
  readonly records: Uint8Array[];
  readonly recordBytes: number;
}

/** The stored record's length for a session with this topic and records. */
export function storedRecordLength(topicBytes: number, recordCount: number, recordBytes: number): number {
  return STORED_RECORD_HEADER_BYTES + topicBytes + 4 * recordCount + recordBytes;
}

function writeHeader(out: Uint8Array, flags: number, topicLen: number, dueMs: number, sessionHigh: number, sessionLow: number, count: number): void {
  writeU32BE(out, 0, out.length);
  out[8] = RECORD_FORMAT_VERSION;
  out[9] = flags;
  out[10] = topicLen >>> 8;
  out[11] = topicLen & 0xff;
  writeU64BE(out, 12, dueMs);
  writeU64BE(out, 20, sessionHigh);
  writeU64BE(out, 28, sessionLow);
  writeU32BE(out, 36, count);
}

function seal(out: Uint8Array): Uint8Array {
  writeU32BE(out, 4, crc32Bytes(out.subarray(8), 0));
  return out;
}

/**
 * A stored session record, from records already framed as `(u32 length | bytes)*` (a session's
 * arena), in parts whose concatenation is `framedBytes` long.
 */
export function encodeStoredSessionFramed(
  dueMs: number,
  sessionHigh: number,
  sessionLow: number,
  topicBytes: Uint8Array,
  recordCount: number,
  framedParts: readonly Uint8Array[],
  framedBytes: number,
): Uint8Array {
  const out = new Uint8Array(STORED_RECORD_HEADER_BYTES + topicBytes.length + framedBytes);
  writeHeader(out, 0, topicBytes.length, dueMs, sessionHigh, sessionLow, recordCount);
  out.set(topicBytes, STORED_RECORD_HEADER_BYTES);
  let at = STORED_RECORD_HEADER_BYTES + topicBytes.length;
  for (const part of framedParts) {
    out.set(part, at);
    at += part.length;
  }
  return seal(out);
}

/** A record that occupies `length` bytes and holds no session (length >= the header). */
export function encodeVoidRecord(length: number, dueMs: number, sessionHigh: number, sessionLow: number): Uint8Array {
  const out = new Uint8Array(length);
  writeHeader(out, FLAG_VOID, 0, dueMs, sessionHigh, sessionLow, 0);
  return seal(out);
}

function corrupt(where: string, why: string): SessionsError {
  return new SessionsError(SessionsErrorCode.dataCorrupt, `${where}: ${why}`);
}

/** Parses the fixed header (at least STORED_RECORD_HEADER_BYTES bytes); throws on nonsense. */
export function parseRecordHeader(buf: Uint8Array, where: string): RecordHeader {
  if (buf.length < STORED_RECORD_HEADER_BYTES) throw corrupt(where, 'short header');
  const length = readU32BE(buf, 0);
  if (length < STORED_RECORD_HEADER_BYTES) throw corrupt(where, `record length ${length}`);
  if (buf[8] !== RECORD_FORMAT_VERSION) throw corrupt(where, `record version ${buf[8]}`);
  const flags = buf[9]!;
  if ((flags & ~FLAG_VOID) !== 0) throw corrupt(where, `record flags ${flags}`);
  const dueMs = readU64BE(buf, 12);
  const sessionHigh = readU64BE(buf, 20);
  const sessionLow = readU64BE(buf, 28);
  if (dueMs < 0 || sessionHigh < 0 || sessionLow < 0) throw corrupt(where, 'number out of range');
  return {
    length,
    isVoid: (flags & FLAG_VOID) !== 0,
    dueMs,
    sessionHigh,
    sessionLow,
    topicBytes: (buf[10]! << 8) | buf[11]!,
    recordCount: readU32BE(buf, 36),
  };
}

/** Verifies the checksum and parses a whole record. Records are views into `buf`. */
export function parseStoredSession(buf: Uint8Array, where: string): StoredSession {
  const h = parseRecordHeader(buf, where);
  if (h.length !== buf.length) throw corrupt(where, `record length ${h.length}, read ${buf.length}`);
  if (readU32BE(buf, 4) !== crc32Bytes(buf.subarray(8), 0)) throw corrupt(where, 'checksum mismatch');
  let at = STORED_RECORD_HEADER_BYTES;
  if (at + h.topicBytes > buf.length) throw corrupt(where, 'topic past the end');
  const topicBytes = buf.subarray(at, at + h.topicBytes);
  let topic: string;
  try {
    topic = utf8Text(buf, at, h.topicBytes);
  } catch {
    throw corrupt(where, 'topic is not UTF-8');
  }
  at += h.topicBytes;
  const records: Uint8Array[] = [];
  let recordBytes = 0;
  if (!h.isVoid) {
    for (let k = 0; k < h.recordCount; k++) {
      if (at + 4 > buf.length) throw corrupt(where, 'record header past the end');
      const len = readU32BE(buf, at);
      at += 4;
      if (at + len > buf.length) throw corrupt(where, 'record past the end');
      records.push(buf.subarray(at, at + len));
      recordBytes += len;
      at += len;
    }
    if (at !== buf.length) throw corrupt(where, 'trailing bytes');
  }
  return { isVoid: h.isVoid, dueMs: h.dueMs, sessionHigh: h.sessionHigh, sessionLow: h.sessionLow, topic, topicBytes, records, recordBytes };
}
