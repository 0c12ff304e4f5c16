/**
 * Zero-filled bytes for a frame or a command that lives for milliseconds. `new Uint8Array(n)` above
 * V8's on-heap limit (64 bytes) makes a backing store of its own: about a microsecond each, the
 * largest single item of encodeCommand on a leader at 128 appends in flight. A slice of Node's
 * shared pool (what Buffer.allocUnsafe hands out below 4 KiB) costs a fraction of that.
 *
 * The view shares the pool's 8 KiB ArrayBuffer with other short-lived buffers: never transfer its
 * `.buffer`, and keep what is retained for long (the raft log copies entries under 4 KiB into its
 * arena; longer ones come from `new Uint8Array`, their own buffer) out of the pool.
 */
const ON_HEAP_BYTES_MAX = 64;

export function zeroedBytes(n: number): Uint8Array {
  // Buffer.allocUnsafe slices its pool below half of Buffer.poolSize (4 KiB by default).
  if (n <= ON_HEAP_BYTES_MAX || n >= Buffer.poolSize >>> 1) return new Uint8Array(n);
  const b = Buffer.allocUnsafe(n);
  return new Uint8Array(b.buffer, b.byteOffset, n).fill(0);
}
