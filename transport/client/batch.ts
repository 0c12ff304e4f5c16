/**
 * Batches of the client protocol (issue 20): several frames in one WebSocket message.
 *
 * At 128 requests in flight each request was one WebSocket message each way: on the leader, ws's
 * reader and writer and the stream layer under them allocated about 2 KB a request, and the client
 * paid the same again. A batch carries the frames of one turn of the event loop in one message:
 *
 *   [1, 0, 27, frame, frame, ...]   requests (client -> node): reqId 0 (no request has it), op 27
 *   [1, 6, frame, frame, ...]       replies and deliveries (node -> client): kind 6
 *
 * Each `frame` is a byte string holding one complete frame of protocol.ts, unchanged; the inner
 * frames are handled one by one, in order, exactly as if each had come in its own message (each
 * request counts toward the in-flight limit; a bad one is answered with its own error).
 *
 * Negotiated per connection, so either side may be older: the client asks with `?batch=N` on its
 * WebSocket URL, N the largest message it reads (its replyBytesMax); a node that batches answers
 * with a welcome of seven items whose last is 1 (an older node ignores the query and welcomes with
 * six, and the client sends single frames). A node sends batches only to a client that asked, of
 * at most N bytes and its own replyBatchBytesMax; a client only to a node that said 1, of at most
 * the node's requestBytesMax.
 *
 * The reader is hand-written and strict: definite lengths only, a byte string per frame, at most
 * `countMax` frames, nothing after the last. It never throws; anything else is `null`.
 */
import type { BatchFraming } from '../wire/corkedSends.js';
import { cborHeadBytes, putCborHead } from '../wire/cborHead.js';

/** The request batch's op, beside protocol.ts's ops (1..26). */
const BATCH_OP = 27;
/** The reply batch's kind, beside protocol.ts's reply kinds (0..5). */
const BATCH_KIND = 6;
/** The URL query parameter by which a client asks for batches (its value: the largest message the client reads). */
export const BATCH_QUERY_NAME = 'batch';
/** The smallest N a node takes in `?batch=N`: a smaller one asks for no batches. */
export const BATCH_BYTES_MIN = 1024;
/** The welcome's seventh item when the node batches. */
export const BATCH_WELCOME_ON = 1;

/** A node's default bound on one reply batch. */
export const REPLY_BATCH_BYTES_DEFAULT = 256 * 1024;
/**
 * Frames larger than this leave in their own message, on both sides: a batch copies its frames
 * into one buffer, and the receiver's WebSocket layer joins a message that spans socket reads, so
 * for a large frame the copies cost more than the message saved (4 KiB appends at 128 in flight
 * were slower batched; docs/performance.md, "Batches on the client port").
 */
const BATCH_FRAME_BYTES_MAX = 2048;

/** Bytes a frame of `frameBytes` adds to a batch (its byte-string head and itself). */
export function batchItemBytes(frameBytes: number): number {
  return cborHeadBytes(frameBytes) + frameBytes;
}

/** Bytes of a batch's own head, at most: the array's head (5) and the fixed items (4: `01 00 18 1b`). */
export const BATCH_HEAD_BYTES_MAX = 5 + 4;
/**
 * Frames in one batch at most, both ways: a node cuts its batches there, and a client reads no
 * more from one message (a broken node's batch of millions of empty frames would block it).
 */
export const BATCH_FRAMES_MAX = 4096;

/** Which side's batch: requests carry [1, 0, 27], replies [1, 6]. */
export type BatchSide = 'request' | 'reply';

/** Encodes `frames[from, to)` as one batch message of `side`. */
export function encodeBatch(side: BatchSide, frames: readonly Uint8Array[], from: number, to: number): Uint8Array {
  const count = to - from;
  const fixed = side === 'request' ? 3 : 2;
  let bytes = cborHeadBytes(count + fixed) + (side === 'request' ? 4 : 2);
  for (let k = from; k < to; k++) bytes += batchItemBytes(frames[k]!.length);
  const out = Buffer.allocUnsafe(bytes);
  let at = putCborHead(out, 0, 4, count + fixed);
  out[at++] = 0x01; // version 1
  if (side === 'request') {
    out[at++] = 0x00; // reqId 0
    out[at++] = 0x18; // op, one byte follows
    out[at++] = BATCH_OP;
  } else {
    out[at++] = BATCH_KIND;
  }
  for (let k = from; k < to; k++) {
    const f = frames[k]!;
    at = putCborHead(out, at, 2, f.length);
    out.set(f, at);
    at += f.length;
  }
  return out;
}

/** The head `readHead` read last: its major type, its value and where the item's content starts (no object per head). */
const head = { major: 0, value: 0, next: 0 };

/** Reads a definite head at `at` into `head`; false if there is none (8-byte, reserved, indefinite: never in a batch). */
function readHead(b: Uint8Array, at: number): boolean {
  if (at >= b.length) return false;
  const ib = b[at]!;
  const info = ib & 0x1f;
  head.major = ib >> 5;
  if (info < 24) {
    head.value = info;
    head.next = at + 1;
    return true;
  }
  const extra = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : 0;
  if (extra === 0 || at + 1 + extra > b.length) return false;
  let v = 0;
  for (let i = 1; i <= extra; i++) v = v * 256 + b[at + i]!;
  head.value = v;
  head.next = at + 1 + extra;
  return true;
}

/** Whether `msg` starts as a batch of `side` (its array head, version 1, then 0, 27 or 6). Cheap: three or four bytes. */
export function isBatch(side: BatchSide, msg: Uint8Array): boolean {
  if (!readHead(msg, 0) || head.major !== 4) return false;
  const at = head.next;
  if (side === 'request') return msg[at] === 0x01 && msg[at + 1] === 0x00 && msg[at + 2] === 0x18 && msg[at + 3] === BATCH_OP;
  return msg[at] === 0x01 && msg[at + 1] === BATCH_KIND;
}

/**
 * The frames of a batch message of `side`, as views into it, in order; null when `msg` is not a
 * well-formed batch of at least 1 and at most `countMax` frames (nothing after the last).
 */
export function readBatch(side: BatchSide, msg: Uint8Array, countMax: number): Uint8Array[] | null {
  if (!isBatch(side, msg)) return null;
  readHead(msg, 0);
  const count = head.value - (side === 'request' ? 3 : 2);
  if (count < 1 || count > countMax) return null;
  let at = head.next + (side === 'request' ? 4 : 2);
  const frames: Uint8Array[] = [];
  for (let k = 0; k < count; k++) {
    if (!readHead(msg, at) || head.major !== 2 || head.value > msg.length - head.next) return null;
    frames.push(msg.subarray(head.next, head.next + head.value));
    at = head.next + head.value;
  }
  return at === msg.length ? frames : null;
}

/** How a connection of `side` frames its batches (wire/corkedSends.ts): messages of at most `bytesMax`. */
export function batchFraming(side: BatchSide, bytesMax: number): BatchFraming {
  return {
    bytesMax,
    framesMax: BATCH_FRAMES_MAX,
    frameBytesMax: BATCH_FRAME_BYTES_MAX,
    itemBytes: batchItemBytes,
    headBytesMax: BATCH_HEAD_BYTES_MAX,
    encode: (frames, from, to) => encodeBatch(side, frames, from, to),
  };
}

/** The batch size a client asked for in its upgrade URL (`?batch=N`), or 0 for none (absent, malformed or below BATCH_BYTES_MIN). */
export function batchBytesAsked(url: string | undefined): number {
  if (url === undefined) return 0;
  const q = url.indexOf('?');
  if (q < 0 || url.length - q > 256) return 0;
  for (const part of url.slice(q + 1).split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq) !== BATCH_QUERY_NAME) continue;
    const v = part.slice(eq + 1);
    if (!/^[1-9][0-9]{0,9}$/.test(v)) return 0;
    const n = Number(v);
    return n >= BATCH_BYTES_MIN ? n : 0;
  }
  return 0;
}
