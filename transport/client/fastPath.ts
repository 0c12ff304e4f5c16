/**
 * The client protocol's hot path without cbor-x: an append or rewrite request, and a command
 * result, written and read by hand. Every request of the append benchmark went through the
 * structural pre-scan, cbor-x and the schema checks on the node, and every answer through cbor-x
 * twice (node and client); together about a tenth of the CPU per append.
 *
 * The writers produce exactly the bytes cbor-x writes for the same array (minimal heads, integers
 * of 2^32 and more as float64, strings as UTF-8 text), property-tested against it. The readers
 * accept only that canonical shape and return null for anything else, so that the general path
 * (pre-scan, cbor-x, schema) decides every other frame: a frame the fast reader accepts is one
 * the general path would accept with the same result.
 */
import { cborHeadBytes, putCborHead } from '../wire/cborHead.js';

const V = 1;
const ID_BYTES = 16;
const SECRET_BYTES = 16;
const OP_APPEND = 3;
const OP_REWRITE = 4;
const OP_SCHEDULE = 24;
const KIND_RESULT = 0;
const TWO_32 = 0x1_0000_0000;

// ---- writing ------------------------------------------------------------------------------------

/** Bytes of a head for an unsigned integer as cbor-x writes it (a float64 from 2^32 on). */
function uintSize(v: number): number {
  return v < 24 ? 1 : v < 0x100 ? 2 : v < 0x10000 ? 3 : v < TWO_32 ? 5 : 9;
}

const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function putUint(b: Uint8Array, pos: number, v: number): number {
  if (v < TWO_32) return putCborHead(b, pos, 0, v);
  b[pos++] = 0xfb;
  f64[0] = v;
  for (let i = 0; i < 8; i++) b[pos++] = f64Bytes[littleEndian ? 7 - i : i]!;
  return pos;
}

function putBytes(b: Uint8Array, pos: number, data: Uint8Array): number {
  pos = putCborHead(b, pos, 2, data.length);
  b.set(data, pos);
  return pos + data.length;
}

/** ASCII only (the result codes are); null when the text needs the general encoder. */
function asciiLength(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x80) return -1;
  return s.length;
}

/** Bytes of a request's first seven items: `1, reqId, op, client, secret, seq, acked`. */
function requestHeadSize(reqId: number, op: number, client: Uint8Array, secret: Uint8Array, seq: number, acked: number): number {
  return (
    1 +
    uintSize(reqId) +
    uintSize(op) +
    cborHeadBytes(client.length) +
    client.length +
    cborHeadBytes(secret.length) +
    secret.length +
    uintSize(seq) +
    uintSize(acked)
  );
}

/** A request's array head of `items` and its first seven items; returns the offset after them. */
function putRequestHead(out: Uint8Array, items: number, reqId: number, op: number, client: Uint8Array, secret: Uint8Array, seq: number, acked: number): number {
  let pos = putCborHead(out, 0, 4, items);
  out[pos++] = V;
  pos = putUint(out, pos, reqId);
  pos = putUint(out, pos, op);
  pos = putBytes(out, pos, client);
  pos = putBytes(out, pos, secret);
  pos = putUint(out, pos, seq);
  return putUint(out, pos, acked);
}

/**
 * `[1, reqId, 3|4, client, secret, seq, acked, session, bytes]` (append or rewrite). `client` and
 * `secret` are empty (and seq = acked = 0) without an envelope. One allocation: the frame.
 */
export function encodeAppendRequest(
  reqId: number,
  op: 3 | 4,
  client: Uint8Array,
  secret: Uint8Array,
  seq: number,
  acked: number,
  session: Uint8Array,
  data: Uint8Array,
): Uint8Array {
  const size =
    1 + requestHeadSize(reqId, op, client, secret, seq, acked) + cborHeadBytes(session.length) + session.length + cborHeadBytes(data.length) + data.length;
  const out = Buffer.allocUnsafe(size);
  const pos = putRequestHead(out, 9, reqId, op, client, secret, seq, acked);
  putBytes(out, putBytes(out, pos, session), data);
  return out;
}

/**
 * `[1, reqId, 24, client, secret, seq, acked, topic, bytes, mode, value]` (schedule; issue 20's
 * job, one request per item). `client` and `secret` are empty (seq = acked = 0) without an
 * envelope; `topic` is the topic's UTF-8. One allocation: the frame.
 */
export function encodeScheduleRequest(
  reqId: number,
  client: Uint8Array,
  secret: Uint8Array,
  seq: number,
  acked: number,
  topic: Uint8Array,
  data: Uint8Array,
  mode: number,
  value: number,
): Uint8Array {
  const head = requestHeadSize(reqId, OP_SCHEDULE, client, secret, seq, acked);
  const size = 1 + head + cborHeadBytes(topic.length) + topic.length + cborHeadBytes(data.length) + data.length + uintSize(mode) + uintSize(value);
  const out = Buffer.allocUnsafe(size);
  let pos = putRequestHead(out, 11, reqId, OP_SCHEDULE, client, secret, seq, acked);
  pos = putText(out, pos, topic);
  pos = putBytes(out, pos, data);
  putUint(out, putUint(out, pos, mode), value);
  return out;
}

/** UTF-8 bytes of a text string (major 3) written at `pos`. */
function putText(b: Uint8Array, pos: number, utf8: Uint8Array): number {
  pos = putCborHead(b, pos, 3, utf8.length);
  b.set(utf8, pos);
  return pos + utf8.length;
}

/**
 * `[1, 5, subId, topic, session, [records...], restoreId, delivery]`: a consumer group's delivery,
 * pushed once per item (cbor-x took 1.4 % of the leader's main thread at 128 producers). `topic` is
 * the topic's UTF-8. One allocation: the frame.
 */
export function encodeGroupDeliveryFast(
  kind: number,
  subId: number,
  topic: Uint8Array,
  session: Uint8Array,
  records: readonly Uint8Array[],
  restoreId: Uint8Array,
  delivery: number,
): Uint8Array {
  let size = 1 + 1 + uintSize(kind) + uintSize(subId) + cborHeadBytes(topic.length) + topic.length;
  size += cborHeadBytes(session.length) + session.length + cborHeadBytes(records.length);
  for (const r of records) size += cborHeadBytes(r.length) + r.length;
  size += cborHeadBytes(restoreId.length) + restoreId.length + uintSize(delivery);
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  out[pos++] = 0x88;
  out[pos++] = V;
  pos = putUint(out, pos, kind);
  pos = putUint(out, pos, subId);
  pos = putText(out, pos, topic);
  pos = putBytes(out, pos, session);
  pos = putCborHead(out, pos, 4, records.length);
  for (const r of records) pos = putBytes(out, pos, r);
  pos = putBytes(out, pos, restoreId);
  pos = putUint(out, pos, delivery);
  return out;
}

/**
 * `[1, 0, reqId, ok, code, value, index, term, duplicate]`, or null when `code` is not ASCII (the
 * caller then uses cbor-x).
 */
export function encodeCommandResultFast(
  reqId: number,
  ok: boolean,
  code: string,
  value: Uint8Array,
  index: number,
  term: number,
  duplicate: boolean,
): Uint8Array | null {
  const codeBytes = asciiLength(code);
  if (codeBytes < 0) return null;
  const size =
    1 + 1 + 1 + uintSize(reqId) + 1 + cborHeadBytes(codeBytes) + codeBytes + cborHeadBytes(value.length) + value.length + uintSize(index) + uintSize(term) + 1;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  out[pos++] = 0x89;
  out[pos++] = V;
  out[pos++] = KIND_RESULT;
  pos = putUint(out, pos, reqId);
  out[pos++] = ok ? 0xf5 : 0xf4;
  pos = putCborHead(out, pos, 3, codeBytes);
  for (let i = 0; i < codeBytes; i++) out[pos++] = code.charCodeAt(i);
  pos = putBytes(out, pos, value);
  pos = putUint(out, pos, index);
  pos = putUint(out, pos, term);
  out[pos++] = duplicate ? 0xf5 : 0xf4;
  return out;
}

// ---- reading ------------------------------------------------------------------------------------

/** A cursor over one frame; any read past the end or of an unexpected head makes `ok` false. */
class Reader {
  pos = 0;
  ok = true;
  constructor(private readonly b: Uint8Array) {}

  get done(): boolean {
    return this.pos === this.b.length;
  }

  /** An unsigned integer in its minimal head (below 2^32), or a float64 holding a safe integer >= 2^32. */
  uint(): number {
    const b = this.b;
    if (this.pos >= b.length) return this.fail();
    const h = b[this.pos]!;
    if (h === 0xfb) {
      if (this.pos + 9 > b.length) return this.fail();
      for (let i = 0; i < 8; i++) f64Bytes[littleEndian ? 7 - i : i] = b[this.pos + 1 + i]!;
      const v = f64[0]!;
      if (!Number.isSafeInteger(v) || v < TWO_32) return this.fail();
      this.pos += 9;
      return v;
    }
    return this.arg(0);
  }

  /** The argument of a head of `major`, minimal encoding only. */
  arg(major: number): number {
    const b = this.b;
    if (this.pos >= b.length) return this.fail();
    const h = b[this.pos]!;
    if (h >>> 5 !== major) return this.fail();
    const info = h & 0x1f;
    if (info < 24) {
      this.pos += 1;
      return info;
    }
    if (info === 24) {
      if (this.pos + 2 > b.length || b[this.pos + 1]! < 24) return this.fail();
      this.pos += 2;
      return b[this.pos - 1]!;
    }
    if (info === 25) {
      if (this.pos + 3 > b.length) return this.fail();
      const v = (b[this.pos + 1]! << 8) | b[this.pos + 2]!;
      if (v < 0x100) return this.fail();
      this.pos += 3;
      return v;
    }
    if (info === 26) {
      if (this.pos + 5 > b.length) return this.fail();
      const v = ((b[this.pos + 1]! << 24) | (b[this.pos + 2]! << 16) | (b[this.pos + 3]! << 8) | b[this.pos + 4]!) >>> 0;
      if (v < 0x10000) return this.fail();
      this.pos += 5;
      return v;
    }
    return this.fail();
  }

  bytes(): Uint8Array {
    const n = this.arg(2);
    if (!this.ok || this.pos + n > this.b.length) {
      this.fail();
      return EMPTY;
    }
    const v = this.b.subarray(this.pos, this.pos + n);
    this.pos += n;
    return v;
  }

  bool(): boolean {
    const h = this.b[this.pos];
    if (h === 0xf5 || h === 0xf4) {
      this.pos++;
      return h === 0xf5;
    }
    this.fail();
    return false;
  }

  /** ASCII text only (else the general path decides). */
  ascii(): string {
    const n = this.arg(3);
    if (!this.ok || this.pos + n > this.b.length) {
      this.fail();
      return '';
    }
    let s = '';
    for (let i = 0; i < n; i++) {
      const c = this.b[this.pos + i]!;
      if (c >= 0x80) {
        this.fail();
        return '';
      }
      s += String.fromCharCode(c);
    }
    this.pos += n;
    return s;
  }

  byte(want: number): void {
    if (this.b[this.pos] === want) this.pos++;
    else this.fail();
  }

  fail(): number {
    this.ok = false;
    this.pos = this.b.length + 1;
    return 0;
  }
}

const EMPTY = new Uint8Array(0);

interface AppendRequest {
  readonly op: 'append' | 'rewrite';
  readonly reqId: number;
  readonly envelope: { readonly client: Uint8Array; readonly secret: Uint8Array; readonly seq: number; readonly ackedBelowSeq: number } | null;
  readonly session: Uint8Array;
  readonly bytes: Uint8Array;
}

/**
 * An append or rewrite request in its canonical shape, or null (the general decoder then decides,
 * and may well accept it). Throws the general path's MALFORMED errors for the envelope rules, with
 * the same messages, once the shape is recognized.
 */
export function tryDecodeAppendRequest(frame: Uint8Array): AppendRequest | null {
  if (frame.length < 9 || frame[0] !== 0x89 || frame[1] !== V) return null;
  const r = new Reader(frame);
  r.pos = 2;
  const reqId = r.uint();
  const opCode = r.arg(0);
  if (!r.ok || (opCode !== OP_APPEND && opCode !== OP_REWRITE)) return null;
  const client = r.bytes();
  const secret = r.bytes();
  const seq = r.uint();
  const acked = r.uint();
  const session = r.bytes();
  const data = r.bytes();
  if (!r.ok || !r.done) return null;
  // Defer to the general path for anything it would reject, so that its message is the one sent.
  if (reqId < 1 || session.length !== ID_BYTES) return null;
  if (client.length === 0) {
    if (secret.length !== 0 || seq !== 0 || acked !== 0) return null;
    return { op: opCode === OP_APPEND ? 'append' : 'rewrite', reqId, envelope: null, session, bytes: data };
  }
  if (client.length !== ID_BYTES || secret.length !== SECRET_BYTES || seq < 1 || acked > seq) return null;
  return { op: opCode === OP_APPEND ? 'append' : 'rewrite', reqId, envelope: { client, secret, seq, ackedBelowSeq: acked }, session, bytes: data };
}

interface ScheduleRequest {
  readonly op: 'schedule';
  readonly reqId: number;
  readonly envelope: { readonly client: Uint8Array; readonly secret: Uint8Array; readonly seq: number; readonly ackedBelowSeq: number } | null;
  readonly topic: string;
  readonly bytes: Uint8Array;
  readonly replay: { readonly mode: 'class' | 'delayMs'; readonly value: number };
}

/** A schedule's three commands are numbered seq .. seq + 2 (codec.ts SCHEDULE_SEQS). */
const SCHEDULE_SEQS = 3;

/**
 * A schedule request in its canonical shape with an ASCII topic, or null (the general decoder then
 * decides, and may well accept it: a topic in other scripts goes that way). Anything the general
 * decoder would refuse is left to it, so that its message is the one sent.
 */
export function tryDecodeScheduleRequest(frame: Uint8Array): ScheduleRequest | null {
  if (frame.length < 12 || frame[0] !== 0x8b || frame[1] !== V) return null;
  const r = new Reader(frame);
  r.pos = 2;
  const reqId = r.uint();
  const opCode = r.uint();
  if (!r.ok || opCode !== OP_SCHEDULE) return null;
  const client = r.bytes();
  const secret = r.bytes();
  const seq = r.uint();
  const acked = r.uint();
  const topic = r.ascii();
  const data = r.bytes();
  const mode = r.uint();
  const value = r.uint();
  if (!r.ok || !r.done || reqId < 1 || mode > 1) return null;
  const replay = { mode: mode === 0 ? ('class' as const) : ('delayMs' as const), value };
  if (client.length === 0) {
    if (secret.length !== 0 || seq !== 0 || acked !== 0) return null;
    return { op: 'schedule', reqId, envelope: null, topic, bytes: data, replay };
  }
  if (client.length !== ID_BYTES || secret.length !== SECRET_BYTES || seq < 1 || acked > seq || !Number.isSafeInteger(seq + (SCHEDULE_SEQS - 1))) return null;
  return { op: 'schedule', reqId, envelope: { client, secret, seq, ackedBelowSeq: acked }, topic, bytes: data, replay };
}

/**
 * A command result `[1, 0, reqId, ok, code, value, index, term, duplicate]` as the general decoder
 * returns it (`body` = the six result fields), or null for any other frame.
 */
export function tryDecodeCommandResult(frame: Uint8Array): { kind: 'result'; reqId: number; body: unknown[] } | null {
  if (frame.length < 9 || frame[0] !== 0x89 || frame[1] !== V || frame[2] !== KIND_RESULT) return null;
  const r = new Reader(frame);
  r.pos = 3;
  const reqId = r.uint();
  const ok = r.bool();
  const code = r.ascii();
  const value = r.bytes();
  const index = r.uint();
  const term = r.uint();
  const duplicate = r.bool();
  if (!r.ok || !r.done) return null;
  return { kind: 'result', reqId, body: [ok, code, value, index, term, duplicate] };
}
