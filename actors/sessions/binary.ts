/**
 * A growable big-endian writer and a bounds-checked reader for the snapshot manifest. The reader
 * never throws anything but `ManifestFormatError` on any input.
 */
import { readU32BE, readU64BE } from '../../transport/commands/codec.js';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
/** Distinct strings a writer keeps the UTF-8 of (a manifest repeats a few topics, consumer names and result codes thousands of times). */
const STR_CACHE_MAX = 1024;

const TWO_32 = 0x1_0000_0000;

/** The parts (of `bytes` bytes together) as one new array of their own: one copy. */
export function joinedBytes(parts: readonly Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export class ByteWriter {
  protected buf: Uint8Array;
  /**
   * The same bytes for u16/u32/u64: DataView's big-endian setters are 2-4 times faster than byte
   * stores here (a snapshot writes a few hundred thousand integers; 2026-12-07 night).
   */
  protected dv: DataView;
  length = 0;
  /** UTF-8 of strings written before (made on the first str). */
  private strs: Map<string, Uint8Array> | null = null;

  constructor(capacity = 4096) {
    this.buf = new Uint8Array(capacity);
    this.dv = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  protected room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.byteLength);
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.length++] = v;
  }

  u16(v: number): void {
    this.room(2);
    this.dv.setUint16(this.length, v);
    this.length += 2;
  }

  u32(v: number): void {
    this.room(4);
    this.dv.setUint32(this.length, v);
    this.length += 4;
  }

  /** As writeU64BE: the high word floor(v / 2^32), the low word v mod 2^32 (setUint32 takes both modulo 2^32). */
  u64(v: number): void {
    this.room(8);
    this.dv.setUint32(this.length, Math.floor(v / TWO_32));
    this.dv.setUint32(this.length + 4, v);
    this.length += 8;
  }

  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** u32 length, then the bytes. */
  bytes(bytes: Uint8Array): void {
    this.u32(bytes.length);
    this.raw(bytes);
  }

  /** u16 length, then UTF-8 (encoded once per distinct string, up to STR_CACHE_MAX of them). */
  str(s: string): void {
    const strs = (this.strs ??= new Map());
    let b = strs.get(s);
    if (b === undefined) {
      b = utf8Encoder.encode(s);
      if (b.length > 0xffff) throw new RangeError('string longer than 65535 bytes');
      if (strs.size < STR_CACHE_MAX) strs.set(s, b);
    }
    this.u16(b.length);
    this.raw(b);
  }

  /**
   * The bytes written: a view when the buffer is at most 1/8 larger than them (a writer sized by an
   * upper bound, such as the manifest's: copying 8 MB to trim a few bytes cost more than keeping
   * them), else a trimmed copy.
   */
  finish(): Uint8Array {
    if (this.length === this.buf.length || this.buf.length - this.length <= this.length >>> 3) return this.buf.subarray(0, this.length);
    return this.buf.slice(0, this.length);
  }

  /** The bytes so far, without copying (valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

/** The largest buffer a SplicingWriter adds when the one it writes in is full. */
const SPLICING_CHUNK_BYTES_MAX = 1024 * 1024;

/**
 * A ByteWriter that can splice a view in by reference (issue 18: a snapshot's session records are
 * views of their arenas, which never change, instead of a second copy of every record). `parts()`
 * returns the encoding as parts whose concatenation it is. When its buffer is full it starts
 * another (twice as large, up to SPLICING_CHUNK_BYTES_MAX, or as large as the write) instead of
 * copying into a larger one: a snapshot's writer sized for what it can count ahead grows without
 * copying what it holds in one event-loop turn (2026-12-07 night).
 */
export class SplicingWriter extends ByteWriter {
  /** The encoding before the current buffer's bytes from `from`: own bytes and spliced views, in order. */
  private readonly out: Uint8Array[] = [];
  /** Where the current buffer's bytes not yet in `out` start. */
  private from = 0;

  splice(view: Uint8Array): void {
    if (view.length === 0) return;
    this.flushOwn();
    this.out.push(view);
  }

  protected override room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    this.flushOwn();
    const next = new Uint8Array(Math.max(n, Math.min(Math.max(2 * this.buf.length, 4096), SPLICING_CHUNK_BYTES_MAX)));
    this.buf = next;
    this.dv = new DataView(next.buffer, next.byteOffset, next.byteLength);
    this.length = 0;
    this.from = 0;
  }

  private flushOwn(): void {
    if (this.length === this.from) return;
    this.out.push(this.buf.subarray(this.from, this.length));
    this.from = this.length;
  }

  /** The encoding so far, spliced views included, in order (a new array; the parts are views). */
  parts(): Uint8Array[] {
    this.flushOwn();
    return this.out.slice();
  }

  /** Not one buffer: use parts(). */
  override finish(): Uint8Array {
    throw new Error('SplicingWriter: use parts()');
  }

  override view(): Uint8Array {
    throw new Error('SplicingWriter: use parts()');
  }
}

export class ManifestFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestFormatError';
  }
}

export class ByteReader {
  at = 0;
  constructor(private readonly buf: Uint8Array) {}

  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new ManifestFormatError(`truncated at ${this.at} (need ${n} bytes of ${this.buf.length})`);
  }

  u8(): number {
    this.need(1);
    return this.buf[this.at++]!;
  }

  u16(): number {
    this.need(2);
    const v = (this.buf[this.at]! << 8) | this.buf[this.at + 1]!;
    this.at += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = readU32BE(this.buf, this.at);
    this.at += 4;
    return v;
  }

  u64(): number {
    this.need(8);
    const v = readU64BE(this.buf, this.at);
    if (v < 0) throw new ManifestFormatError(`u64 beyond 2^53 at ${this.at}`);
    this.at += 8;
    return v;
  }

  raw(n: number): Uint8Array {
    this.need(n);
    const v = this.buf.slice(this.at, this.at + n);
    this.at += n;
    return v;
  }

  bytes(): Uint8Array {
    return this.raw(this.u32());
  }

  /**
   * `count` records of `(u32 length | bytes)`, checked to be within the buffer, as one view of them
   * (not a copy per record: issue 18, restoring 100,000 sessions).
   */
  framed(count: number): Uint8Array {
    const start = this.at;
    for (let k = 0; k < count; k++) {
      const len = this.u32();
      this.need(len);
      this.at += len;
    }
    return this.buf.subarray(start, this.at);
  }

  str(): string {
    const n = this.u16();
    this.need(n);
    try {
      const s = utf8Decoder.decode(this.buf.subarray(this.at, this.at + n));
      this.at += n;
      return s;
    } catch {
      throw new ManifestFormatError(`invalid UTF-8 at ${this.at}`);
    }
  }

  /** A count that bounds a loop: it must not promise more items than bytes left (>= minItemBytes each). */
  count(minItemBytes: number): number {
    const n = this.u32();
    if (n * minItemBytes > this.buf.length - this.at) throw new ManifestFormatError(`count ${n} too large for the bytes left`);
    return n;
  }

  done(): boolean {
    return this.at === this.buf.length;
  }
}
