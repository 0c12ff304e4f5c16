/**
 * The replication hot path's decoder: a messages frame whose messages are all appends, read
 * straight from the WebSocket fragments it arrived in, without joining them and without cbor-x.
 *
 * ws joins the fragments of a message into one new buffer (a copy of every byte), and before that
 * copies every frame that spans two socket reads. At 4 KiB x 128 a follower copied each byte it
 * received twice, and the copies (ArrayBuffers outside V8's heap) were what drove its full
 * collections (docs/performance.md, "Appends read from their fragments"). Here an entry's data is
 * a view into the fragment that holds it; only an entry cut by a fragment boundary is copied.
 *
 * It accepts a strict subset of what `decodeFrame` accepts (canonical heads as our encoders write
 * them, ASCII node IDs, no configuration entries) and returns undefined for anything else, before
 * or after reading part of it: the caller then decodes the joined bytes with `decodeFrame`, which
 * gives the answer or the error with its stable code. So every frame it returns is exactly the
 * frame `decodeFrame` returns for the joined bytes (test/transport/appendDecode.test.ts checks
 * that on random frames cut at random places, and on mutated ones), and it never throws.
 */
import { TERM_MAX, type Entry, type EntryKind, type NodeId, type RaftMessage } from '../../machines/types.js';
import {
  decodeFrame,
  DEFAULT_DECODE_LIMITS,
  FrameKind,
  isNodeId,
  MessageTag,
  PROTOCOL_VERSION,
  type DecodeLimits,
  type DecodeOptions,
  type Frame,
  type MessagesFrame,
} from './codec.js';

/** Fields of an append: [3, term, prevIndex, prevTerm, commit, entries] (codec.ts lists the wire format). */
const APPEND_FIELDS = 6;
/** Longest node ID (codec.ts NODE_ID_PATTERN). */
const NODE_ID_BYTES_MAX = 64;

/** A read position over the fragments; `undefined` results mean "not on the fast path". */
class FragmentCursor {
  private frag: Buffer;
  private fi = 0;
  private pos = 0;
  /** Bytes of all fragments not read yet: every declared length and count is checked against it first. */
  private left: number;

  constructor(private readonly parts: readonly Buffer[]) {
    this.frag = parts[0]!;
    let total = 0;
    for (let i = 0; i < parts.length; i++) total += parts[i]!.length;
    this.left = total;
    this.skipEmpty();
  }

  /** Bytes not read yet. */
  bytesLeft(): number {
    return this.left;
  }

  /** Moves past exhausted fragments (ws may deliver empty ones). */
  private skipEmpty(): void {
    while (this.pos >= this.frag.length && this.fi + 1 < this.parts.length) {
      this.fi++;
      this.frag = this.parts[this.fi]!;
      this.pos = 0;
    }
  }

  atEnd(): boolean {
    this.skipEmpty();
    return this.pos >= this.frag.length;
  }

  /** The next byte, or -1 past the end. */
  byte(): number {
    if (this.pos >= this.frag.length) {
      this.skipEmpty();
      if (this.pos >= this.frag.length) return -1;
    }
    this.left--;
    return this.frag[this.pos++]!;
  }

  /**
   * A head's argument for additional info `info` (0-27), or -1 when truncated, not one of those, or
   * not a safe integer. Heads need not be minimal: cbor-x reads them (a uint64 as a number, with
   * int64AsNumber), and so do we.
   */
  argument(info: number): number {
    if (info < 24) return info;
    if (info > 27) return -1;
    const size = 1 << (info - 24);
    let value = 0;
    for (let i = 0; i < size; i++) {
      const b = this.byte();
      if (b < 0) return -1;
      value = value * 256 + b;
    }
    return Number.isSafeInteger(value) ? value : -1;
  }

  /**
   * An unsigned integer as our encoders write it: a head of major type 0 (any width), or a float64
   * at or above 2^32 that is a safe integer (cbor-x's encoding of those). -1 for anything else.
   */
  uint(): number {
    const initial = this.byte();
    if (initial < 0) return -1;
    if (initial >> 5 === 0) return this.argument(initial & 0x1f);
    if (initial !== 0xfb) return -1;
    let hi = 0;
    let lo = 0;
    for (let i = 0; i < 4; i++) {
      const b = this.byte();
      if (b < 0) return -1;
      hi = hi * 256 + b;
    }
    for (let i = 0; i < 4; i++) {
      const b = this.byte();
      if (b < 0) return -1;
      lo = lo * 256 + b;
    }
    FLOAT_BYTES.setUint32(0, hi);
    FLOAT_BYTES.setUint32(4, lo);
    const v = FLOAT_BYTES.getFloat64(0);
    return Number.isSafeInteger(v) && v >= 0x100000000 ? v : -1;
  }

  /**
   * The argument of a head of major type `major` (a length or a count: 2, 3 or 4), or -1. An
   * 8-byte head is not taken: cbor-x's native string reader (cbor-extract) refuses it for strings,
   * so decodeFrame's verdict on one depends on the addon; our encoders never write one.
   */
  head(major: number): number {
    const initial = this.byte();
    if (initial < 0 || initial >> 5 !== major || (initial & 0x1f) > 26) return -1;
    return this.argument(initial & 0x1f);
  }

  /**
   * `n` bytes: a view when one fragment holds them, else a copy; undefined when fewer remain
   * (checked before anything is allocated: a declared length is only a claim).
   */
  bytes(n: number): Uint8Array | undefined {
    if (n > this.left) return undefined;
    if (n === 0) return this.frag.subarray(this.pos, this.pos);
    this.skipEmpty();
    this.left -= n;
    if (this.pos + n <= this.frag.length) {
      const view = this.frag.subarray(this.pos, this.pos + n);
      this.pos += n;
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      this.skipEmpty();
      const take = Math.min(n - filled, this.frag.length - this.pos);
      if (take <= 0) return undefined; // unreachable: n <= left
      out.set(this.frag.subarray(this.pos, this.pos + take), filled);
      filled += take;
      this.pos += take;
    }
    return out;
  }

  /** An ASCII text of at most NODE_ID_BYTES_MAX bytes that is a node ID, or undefined. */
  nodeId(): NodeId | undefined {
    const n = this.head(3);
    if (n < 1 || n > NODE_ID_BYTES_MAX) return undefined;
    let s = '';
    for (let i = 0; i < n; i++) {
      const b = this.byte();
      if (b < 0 || b >= 0x80) return undefined;
      s += String.fromCharCode(b);
    }
    return isNodeId(s) ? s : undefined;
  }
}

const FLOAT_BYTES = new DataView(new ArrayBuffer(8));

/** A term read by `uint`, or -1 when it is not one (above TERM_MAX: decodeFrame gives the code). */
function term(c: FragmentCursor): number {
  const v = c.uint();
  return v > TERM_MAX ? -1 : v;
}

function appendOf(c: FragmentCursor, from: NodeId, to: NodeId, limits: DecodeLimits): RaftMessage | undefined {
  if (c.head(4) !== APPEND_FIELDS || c.uint() !== MessageTag.append) return undefined;
  const t = term(c);
  const prevIndex = c.uint();
  const prevTerm = term(c);
  const commit = c.uint();
  if (t < 0 || prevIndex < 0 || prevTerm < 0 || commit < 0) return undefined;
  const flat = c.head(4);
  // Each item takes a byte at least: a count beyond the bytes left is refused before any allocation.
  if (flat < 0 || flat % 3 !== 0 || flat > c.bytesLeft()) return undefined;
  const count = flat / 3;
  if (count > limits.entriesPerMessageMax || prevIndex + count > Number.MAX_SAFE_INTEGER) return undefined;
  const entries: Entry[] = new Array<Entry>(count);
  // Entry terms never decrease, start at prevTerm or later and never pass the message's term (the
  // full decoder says why: codec.ts). A log with a term going down reached the WAL's own check
  // and stopped the node (a review, 2026-12-07).
  let lastTerm = prevTerm;
  for (let i = 0; i < count; i++) {
    const entryTerm = term(c);
    const kind = c.uint();
    // Configuration entries (kind 2) are checked by decodeFrame's membership decoder.
    if (entryTerm < lastTerm || entryTerm > t || (kind !== 0 && kind !== 1)) return undefined;
    lastTerm = entryTerm;
    const n = c.head(2);
    if (n < 0) return undefined;
    const data = c.bytes(n);
    if (data === undefined) return undefined;
    entries[i] = { index: prevIndex + 1 + i, term: entryTerm, kind: kind as EntryKind, data };
  }
  return { type: 'append', from, to, term: t, prevIndex, prevTerm, commit, entries };
}

/**
 * The frame held by `parts` (joined in order) when it is a messages frame of appends only, as
 * `decodeFrame` would return it with views (no `copyBuffers`); undefined otherwise. Never throws.
 */
export function decodeAppendsFrame(parts: readonly Buffer[], limits: DecodeLimits): MessagesFrame | undefined {
  if (parts.length === 0) return undefined;
  // decodeFrame's pre-scan caps every array at the largest of its limits: an append has 6 fields.
  if (Math.max(4 + limits.messagesPerFrameMax, 3 * limits.entriesPerMessageMax, limits.membersMax) < APPEND_FIELDS) return undefined;
  const c = new FragmentCursor(parts);
  const items = c.head(4);
  const count = items - 4;
  if (count < 1 || count > limits.messagesPerFrameMax || items > c.bytesLeft()) return undefined;
  if (c.uint() !== PROTOCOL_VERSION || c.uint() !== FrameKind.messages) return undefined;
  const from = c.nodeId();
  const to = c.nodeId();
  if (from === undefined || to === undefined) return undefined;
  const messages: RaftMessage[] = new Array<RaftMessage>(count);
  for (let i = 0; i < count; i++) {
    const m = appendOf(c, from, to, limits);
    if (m === undefined) return undefined;
    messages[i] = m;
  }
  return c.atEnd() ? { kind: 'messages', from, to, messages } : undefined;
}

/**
 * Decodes the frame held by a WebSocket message's fragments (ws binaryType 'fragments'): appends on
 * the fast path above, anything else (and anything it does not take) by `decodeFrame` over the
 * joined bytes, with its errors. The same result as `decodeFrame(Buffer.concat(parts), options)`.
 */
export function decodeFrameParts(parts: readonly Buffer[], options: DecodeOptions = {}): Frame {
  if (options.copyBuffers !== true) {
    const frame = decodeAppendsFrame(parts, options.limits ?? DEFAULT_DECODE_LIMITS);
    if (frame !== undefined) return frame;
  }
  return decodeFrame(parts.length === 1 ? parts[0]! : Buffer.concat(parts), options);
}
