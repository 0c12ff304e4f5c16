/**
 * CRC-32 (IEEE, the polynomial of zlib and gzip) over byte ranges.
 *
 * Node's `zlib.crc32` is fast per byte but needs a view object per call; the framing code checksums
 * short fixed fields (a 12-byte header, 17 bytes of entry fields) millions of times during recovery,
 * so those go through this table loop over (buffer, start, end) with no allocation. Both produce the
 * same finalized value, so a range started here can be continued with `zlib.crc32(data, value)`.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

const table = makeTable();

function makeTable(): Int32Array {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
}

/** CRC-32 of buf[start, end), continuing from `prev` (0 to start fresh). */
export function crc32Range(buf: Uint8Array, start: number, end: number, prev: number): number {
  let c = ~prev;
  for (let i = start; i < end; i++) c = table[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** CRC-32 of a whole array (native), continuing from `prev`. */
export function crc32Bytes(data: Uint8Array, prev: number): number {
  return data.length === 0 ? prev >>> 0 : zlibCrc32(data, prev);
}
