/**
 * A structural pre-scan of CBOR bytes, run BEFORE cbor-x sees them.
 *
 * cbor-x is fast but recursive (nesting is bounded only by the JS stack) and trusts declared
 * lengths up to its global size limits. This scanner walks the item headers iteratively (no
 * recursion, an explicit stack of remaining-item counts), never allocates for a declared length, and
 * accepts only the subset of CBOR the wire format uses:
 *
 *   major 0 (unsigned int), 2 (byte string), 3 (text string), 4 (array), and from major 7 only
 *   false, true and floats (cbor-x writes integers >= 2^32 as float64; the schema check then
 *   requires a safe integer).
 *
 * Everything else is rejected: maps (so no `__proto__` or `constructor` keys can ever reach an
 * object), tags (no extensions, no structured clone, no records), negative integers, null and
 * undefined, other simple values, and indefinite lengths. Declared lengths are checked against the
 * bytes that remain (an array of n items needs at least n more bytes) and against caps.
 */
import { TransportError, TransportErrorCode } from './errors.js';

export interface ScanLimits {
  /** Deepest array nesting allowed; the top-level array is depth 1. */
  readonly depthMax: number;
  /** Longest array allowed (items). */
  readonly arrayLengthMax: number;
  /** Longest text string allowed (bytes). */
  readonly textBytesMax: number;
}

const MAJOR_UINT = 0;
const MAJOR_NEGINT = 1;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const MAJOR_MAP = 5;
const MAJOR_TAG = 6;

const SIMPLE_FALSE = 20;
const SIMPLE_TRUE = 21;
const FLOAT16 = 25;
const FLOAT32 = 26;
const FLOAT64 = 27;
const INDEFINITE = 31;

function fail(code: TransportErrorCode, message: string, offset: number): never {
  throw new TransportError(code, `${message} at byte ${offset}`);
}

/**
 * Throws a TransportError (TRANSPORT_ERR_CBOR, _DEPTH, _LENGTH or _FORBIDDEN_ITEM) unless `bytes`
 * holds exactly one well-formed item of the allowed subset, within `limits`, with no trailing bytes.
 */
export function scanCbor(bytes: Uint8Array, limits: ScanLimits): void {
  const end = bytes.length;
  // remaining[d]: items still to read at nesting depth d (0 = top level, which holds one item).
  const remaining: number[] = new Array<number>(limits.depthMax + 1).fill(0);
  remaining[0] = 1;
  let depth = 0;
  let pos = 0;

  for (;;) {
    while (remaining[depth] === 0) {
      if (depth === 0) {
        if (pos !== end) fail(TransportErrorCode.cbor, `${end - pos} trailing bytes`, pos);
        return;
      }
      depth--;
    }
    remaining[depth]!--;

    if (pos >= end) fail(TransportErrorCode.cbor, 'truncated: item header expected', pos);
    const start = pos;
    const initial = bytes[pos++]!;
    const major = initial >> 5;
    const info = initial & 0x1f;

    if (major === 7) {
      if (info === SIMPLE_FALSE || info === SIMPLE_TRUE) continue;
      let size = 0;
      if (info === FLOAT16) size = 2;
      else if (info === FLOAT32) size = 4;
      else if (info === FLOAT64) size = 8;
      else if (info === INDEFINITE) fail(TransportErrorCode.cbor, 'unexpected break', start);
      else fail(TransportErrorCode.forbiddenItem, `simple value ${info} is not used by the protocol`, start);
      if (end - pos < size) fail(TransportErrorCode.cbor, 'truncated float', start);
      pos += size;
      continue;
    }
    if (major === MAJOR_NEGINT) fail(TransportErrorCode.forbiddenItem, 'negative integer', start);
    if (major === MAJOR_MAP) fail(TransportErrorCode.forbiddenItem, 'map', start);
    if (major === MAJOR_TAG) fail(TransportErrorCode.forbiddenItem, 'tag', start);
    if (info === INDEFINITE) {
      if (major === MAJOR_UINT) fail(TransportErrorCode.cbor, 'indefinite unsigned integer', start);
      fail(TransportErrorCode.forbiddenItem, 'indefinite length', start);
    }
    if (info >= 28) fail(TransportErrorCode.cbor, `reserved additional info ${info}`, start);

    // The argument: a count, a length or the integer's value.
    let arg: number;
    if (info < 24) {
      arg = info;
    } else {
      const size = 1 << (info - 24); // 1, 2, 4 or 8 bytes
      if (end - pos < size) fail(TransportErrorCode.cbor, 'truncated item argument', start);
      if (size === 1) arg = bytes[pos]!;
      else if (size === 2) arg = (bytes[pos]! << 8) | bytes[pos + 1]!;
      else if (size === 4) arg = readUint32(bytes, pos);
      else {
        const high = readUint32(bytes, pos);
        // Any value >= 2^32 is far beyond every length cap; for an integer, keep it approximately.
        arg = high === 0 ? readUint32(bytes, pos + 4) : Number.MAX_SAFE_INTEGER;
      }
      pos += size;
    }

    if (major === MAJOR_UINT) continue;
    const left = end - pos;
    if (major === MAJOR_BYTES || major === MAJOR_TEXT) {
      if (arg > left) fail(TransportErrorCode.length, `declared length ${arg} exceeds the ${left} bytes left`, start);
      if (major === MAJOR_TEXT && arg > limits.textBytesMax) {
        fail(TransportErrorCode.length, `text of ${arg} bytes exceeds ${limits.textBytesMax}`, start);
      }
      pos += arg;
      continue;
    }
    if (major !== MAJOR_ARRAY) fail(TransportErrorCode.cbor, `unexpected major type ${major}`, start);
    if (arg > left) fail(TransportErrorCode.length, `array of ${arg} items exceeds the ${left} bytes left`, start);
    if (arg > limits.arrayLengthMax) {
      fail(TransportErrorCode.length, `array of ${arg} items exceeds ${limits.arrayLengthMax}`, start);
    }
    if (depth + 1 > limits.depthMax) fail(TransportErrorCode.depth, `nesting deeper than ${limits.depthMax}`, start);
    if (arg === 0) continue;
    depth++;
    remaining[depth] = arg;
  }
}

function readUint32(bytes: Uint8Array, pos: number): number {
  return ((bytes[pos]! << 24) >>> 0) + ((bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!);
}
