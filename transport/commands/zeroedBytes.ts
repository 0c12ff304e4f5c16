/**
 * Zero-filled bytes for a frame or a command that lives for milliseconds. `new Uint8Array(n)` above
 * V8's on-heap limit (64 bytes) makes a backing store of its own: about a microsecond each, the
 * largest single item of encodeCommand on a leader at 128 appends in flight. A slice of Node's
 * shared pool (what Buffer.allocUnsafe hands out below 4 KiB) costs a fraction of that.
 *
 * The view shares the pool's 8 KiB ArrayBuffer with other short-lived buffers: never transfer its
 * `.buffer`, and keep what is retained for long (the raft log copies entries under 4 KiB into its
 * arena) out of the pool.
 *
 * From 4 KiB to a quarter of `slabBytes`, the bytes are carved in turn from a slab of our own, never
 * reused, so they stay zero and every holder of a view keeps its slab alive (the raft log references
 * data of 4 KiB or more in place, and consecutive entries from one slab share one chunk there, as
 * the entries of one received frame do on a follower). Before, each of these was a backing store of
 * its own: 2-3 µs of the leader's CPU a command at 4 KiB x 128 appends in flight (its profile,
 * 2026-12-06), and one more ArrayBuffer for the collector to sweep.
 */
const ON_HEAP_BYTES_MAX = 64;
/** The slab large commands are carved from; one larger than a quarter of it gets its own buffer. */
const slabBytes = 256 * 1024;
const slabCarveBytesMax = slabBytes / 4;

let slab = new Uint8Array(0);
let slabUsed = 0;

export function zeroedBytes(n: number): Uint8Array {
  if (n <= ON_HEAP_BYTES_MAX) return new Uint8Array(n);
  // Buffer.allocUnsafe slices its pool below half of Buffer.poolSize (4 KiB by default).
  if (n < Buffer.poolSize >>> 1) {
    const b = Buffer.allocUnsafe(n);
    return new Uint8Array(b.buffer, b.byteOffset, n).fill(0);
  }
  if (n > slabCarveBytesMax) return new Uint8Array(n);
  if (slabUsed + n > slab.length) {
    slab = new Uint8Array(slabBytes);
    slabUsed = 0;
  }
  const out = slab.subarray(slabUsed, slabUsed + n);
  slabUsed += n;
  return out;
}
