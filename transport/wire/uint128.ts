/**
 * uint128 command IDs (seed 000): 16-byte big-endian byte strings on the wire and on disk, so that
 * byte order equals numeric order. Helpers convert to and from bigint and compare without allocating.
 */

const UINT128_BYTES = 16;
export const UINT128_MAX = (1n << 128n) - 1n;
const UINT64_MAX = (1n << 64n) - 1n;

/** 16-byte big-endian encoding of `value` (0 <= value < 2^128); throws RangeError otherwise. */
export function uint128ToBytes(value: bigint): Uint8Array {
  if (value < 0n || value > UINT128_MAX) throw new RangeError(`uint128 out of range: ${value}`);
  const bytes = new Uint8Array(UINT128_BYTES);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, value >> 64n);
  view.setBigUint64(8, value & UINT64_MAX);
  return bytes;
}

/** The value of a 16-byte big-endian uint128; throws RangeError for any other length. */
export function uint128FromBytes(bytes: Uint8Array): bigint {
  if (bytes.length !== UINT128_BYTES) throw new RangeError(`uint128 must be 16 bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, UINT128_BYTES);
  return (view.getBigUint64(0) << 64n) | view.getBigUint64(8);
}

/** Builds an ID from its high and low 64-bit halves (e.g. term and log index). */
export function uint128FromParts(high: bigint | number, low: bigint | number): Uint8Array {
  const hi = BigInt(high);
  const lo = BigInt(low);
  if (hi < 0n || hi > UINT64_MAX || lo < 0n || lo > UINT64_MAX) {
    throw new RangeError(`uint128 halves out of range: ${hi}, ${lo}`);
  }
  const bytes = new Uint8Array(UINT128_BYTES);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, hi);
  view.setBigUint64(8, lo);
  return bytes;
}

/** The high and low 64-bit halves of an ID. */
export function uint128Parts(bytes: Uint8Array): { high: bigint; low: bigint } {
  if (bytes.length !== UINT128_BYTES) throw new RangeError(`uint128 must be 16 bytes, got ${bytes.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, UINT128_BYTES);
  return { high: view.getBigUint64(0), low: view.getBigUint64(8) };
}

/** -1, 0 or 1 as a is less than, equal to or greater than b (both 16 bytes). */
export function compareUint128(a: Uint8Array, b: Uint8Array): -1 | 0 | 1 {
  if (a.length !== UINT128_BYTES || b.length !== UINT128_BYTES) {
    throw new RangeError('compareUint128 needs two 16-byte values');
  }
  for (let i = 0; i < UINT128_BYTES; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/** Lower-case hex, 32 digits: for logs and file names. */
export function uint128ToHex(bytes: Uint8Array): string {
  if (bytes.length !== UINT128_BYTES) throw new RangeError(`uint128 must be 16 bytes, got ${bytes.length}`);
  let out = '';
  for (let i = 0; i < UINT128_BYTES; i++) out += bytes[i]!.toString(16).padStart(2, '0');
  return out;
}
