/**
 * CBOR heads for the hand-written encoders (the peer codec, the client fast path, client batches):
 * the minimal head of a major type with an argument below 2^32 (RFC 8949 3.1), as cbor-x writes it.
 */

/** Bytes of the head of an argument `n` below 2^32. */
export function cborHeadBytes(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** Writes the head of `major` with argument `v` (below 2^32) at `pos`; returns the position after it. */
export function putCborHead(b: Uint8Array, pos: number, major: number, v: number): number {
  const m = major << 5;
  if (v < 24) b[pos++] = m | v;
  else if (v < 0x100) {
    b[pos++] = m | 24;
    b[pos++] = v;
  } else if (v < 0x10000) {
    b[pos++] = m | 25;
    b[pos++] = v >>> 8;
    b[pos++] = v & 0xff;
  } else {
    b[pos++] = m | 26;
    b[pos++] = v >>> 24;
    b[pos++] = (v >>> 16) & 0xff;
    b[pos++] = (v >>> 8) & 0xff;
    b[pos++] = v & 0xff;
  }
  return pos;
}
