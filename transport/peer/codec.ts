/**
 * The peer wire format: RaftMessage <-> CBOR bytes, with cbor-x under explicit options.
 *
 * Every WebSocket binary frame holds exactly one CBOR array (no maps anywhere):
 *
 *   challenge [version, 3, nonce]                                  first frame of a connection (acceptor)
 *   hello     [version, 0, clusterId, from, to, channel, term, nonce, proof, address?]  the dialer's answer;
 *             address: optional bytes, host:raftPort:clientPort:adminPort in ASCII
 *   welcome   [version, 1, clusterId, from, to, channel, term, proof]  the acceptor's answer
 *   messages  [version, 2, from, to, m1, ..., mN]                  N >= 1, all from `from` to `to`
 *   statusRequest [version, 4]                                     status channel only (2026-12-07), dialer -> acceptor
 *   statusReply   [version, 5, body]                               the acceptor's answer: its status document (bytes)
 *
 * nonce: 16 bytes; proof: 32 bytes (HMAC-SHA256 under the cluster secret, see peerAuth.ts) or empty
 * when the sender has no secret. Every term on the wire (messages, entries, log positions,
 * handshakes) is at most TERM_MAX (2^53 - 2^20): a larger one is TRANSPORT_ERR_TERM.
 *
 * `channel` is 0 (control), 1 (data) or 2 (status: one request and its reply at a time, no Raft
 * messages; a node of an older version refuses it in the hello). Each message is an array starting
 * with its type tag:
 *
 *   1 vote           [1, term, lastIndex, lastTerm, preVote, transfer]
 *   2 voteResp       [2, term, granted, preVote] or [2, term, granted, preVote, true] (nonMember)
 *   3 append         [3, term, prevIndex, prevTerm, commit, [t1, k1, d1, t2, k2, d2, ...]]
 *   4 appendResp     [4, term, success, index, hintIndex, hintTerm]
 *   5 heartbeat      [5, term, commit, readCtx]
 *   6 heartbeatResp  [6, term, readCtx]
 *   7 timeoutNow     [7, term]
 *   8 snapshot       [8, term, metaIndex, metaTerm, [voters], [learners], offset, totalBytes, data, done, dataCrc]
 *   9 snapshotResp   [9, term, index, offset, done, reject]
 *  10 rangeRequest   [10, term, snapshotIndex, [name1, start1, end1, hash1, name2, ...]]
 *  11 rangeChunk     [11, term, snapshotIndex, name, start, data, crc32]
 *
 * Entries of an append are flat (term, kind, data) triples; entry i has index prevIndex + 1 + i.
 * Decoding runs the structural pre-scan (cborScan.ts), then cbor-x, then a strict schema check.
 * Numbers are safe non-negative integers, node IDs match [A-Za-z0-9_.-]{1,64}, byte fields are
 * Uint8Array (views into the frame unless `copyBuffers`).
 */
import { Decoder, Encoder } from 'cbor-x';
import {
  TERM_MAX,
  type AppendRequest,
  type Entry,
  type EntryKind,
  type FileByteRange,
  type Membership,
  type NodeId,
  type RaftMessage,
  type SnapshotMeta,
  type VoteResponse,
} from '../../machines/types.js';
import { decodeMembership, MembershipError, validateMembership } from '../../machines/membership.js';
import { parseMemberAddress } from '../wire/address.js';
import { isNodeId } from '../wire/nodeId.js';
import { CBOR_OPTIONS } from '../wire/cborOptions.js';
import { putCborHead } from '../wire/cborHead.js';
import { scanCbor, type ScanLimits } from '../wire/cborScan.js';
import { TransportError, TransportErrorCode } from '../wire/errors.js';
import { NONCE_BYTES, PROOF_BYTES } from './peerAuth.js';

export { isNodeId };

export const PROTOCOL_VERSION = 1;

export const FrameKind = { hello: 0, welcome: 1, messages: 2, challenge: 3, statusRequest: 4, statusReply: 5 } as const;
type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** The channels Raft messages travel on. */
export type Channel = 'control' | 'data';
/**
 * A handshake's channel: a Raft channel, or `status` (2026-12-07): a node asks a peer for its
 * status document (the console's view of it), over the link the cluster secret or the peer
 * certificates already authenticate, where the peer's admin port may want a client certificate
 * the node does not hold.
 */
export type HandshakeChannel = Channel | 'status';
const CHANNEL_CODES: readonly HandshakeChannel[] = ['control', 'data', 'status'];

export const MessageTag = {
  vote: 1,
  voteResp: 2,
  append: 3,
  appendResp: 4,
  heartbeat: 5,
  heartbeatResp: 6,
  timeoutNow: 7,
  snapshot: 8,
  snapshotResp: 9,
  rangeRequest: 10,
  rangeChunk: 11,
} as const satisfies Record<RaftMessage['type'], number>;

/** Handshake frames (hello from the dialer, welcome from the acceptor). */
interface Handshake {
  readonly kind: 'hello' | 'welcome';
  readonly version: number;
  readonly clusterId: string;
  readonly from: NodeId;
  readonly to: NodeId;
  readonly channel: HandshakeChannel;
  readonly term: number;
  /** hello only: the dialer's nonce (NONCE_BYTES); a welcome has none (empty). */
  readonly nonce: Uint8Array;
  /** The sender's proof of the cluster secret (PROOF_BYTES), or empty without a secret. */
  readonly proof: Uint8Array;
  /**
   * hello only, optional: where the sender listens (`host:raftPort:clientPort:adminPort`), so a
   * node that does not know it yet (it missed the change that added it) can admit it and answer.
   */
  readonly address?: string;
}

/** Longest member address a hello may carry (a 253-byte host name, brackets, three ports). */
export const HELLO_ADDRESS_BYTES_MAX = 300;

/** The acceptor's first frame: the nonce the dialer's proof must cover. */
interface ChallengeFrame {
  readonly kind: 'challenge';
  readonly nonce: Uint8Array;
}

export interface MessagesFrame {
  readonly kind: 'messages';
  readonly from: NodeId;
  readonly to: NodeId;
  readonly messages: RaftMessage[];
}

/** The status channel's frames: a request, and its reply with the acceptor's status document. */
interface StatusRequestFrame {
  readonly kind: 'statusRequest';
}
interface StatusReplyFrame {
  readonly kind: 'statusReply';
  readonly body: Uint8Array;
}

export type Frame = Handshake | ChallengeFrame | MessagesFrame | StatusRequestFrame | StatusReplyFrame;

export interface DecodeLimits {
  /** Messages in one frame. */
  readonly messagesPerFrameMax: number;
  /** Entries in one append. */
  readonly entriesPerMessageMax: number;
  /** Voters plus learners in one snapshot's membership. */
  readonly membersMax: number;
  /** Ranges in one rangeRequest. */
  readonly rangesPerRequestMax: number;
}

export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  messagesPerFrameMax: 65_536,
  entriesPerMessageMax: 65_536,
  membersMax: 1_024,
  rangesPerRequestMax: 65_536,
};

/** Data-file names in range sync: a relative path of safe characters, no `..` segment. */
const FILE_NAME_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*(\/[A-Za-z0-9_-][A-Za-z0-9_.-]*){0,7}$/;
function isRangeHash(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{8,128}$/.test(value);
}
function isDataFileName(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 256 && FILE_NAME_PATTERN.test(value) && !value.includes('..');
}

// cbor-x, with every option that matters spelled out: plain CBOR only, no extensions.

const encoder = new Encoder(CBOR_OPTIONS);
const zeroCopyDecoder = new Decoder(CBOR_OPTIONS);
const copyingDecoder = new Decoder({ ...CBOR_OPTIONS, copyBuffers: true });

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

function encodeFail(message: string): never {
  throw new TransportError(TransportErrorCode.encode, message);
}

function checkIndex(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 0) encodeFail(`${name} must be a safe non-negative integer, got ${value}`);
  return value;
}

/** A term: a safe non-negative integer no larger than TERM_MAX (the peer would reject it). */
function checkTerm(value: number, name: string): number {
  checkIndex(value, name);
  if (value > TERM_MAX) encodeFail(`${name} ${value} is above TERM_MAX (${TERM_MAX})`);
  return value;
}

function checkNodeId(value: string, name: string): string {
  if (!isNodeId(value)) encodeFail(`${name} is not a valid node ID: ${JSON.stringify(value)}`);
  return value;
}

function checkBytes(value: Uint8Array, name: string): Uint8Array {
  if (!(value instanceof Uint8Array)) encodeFail(`${name} must be a Uint8Array`);
  return value;
}

function checkU32(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) encodeFail(`${name} must be a u32`);
  return value;
}

function checkBool(value: boolean, name: string): boolean {
  if (typeof value !== 'boolean') encodeFail(`${name} must be a boolean`);
  return value;
}

function checkMembers(ids: readonly NodeId[], name: string): NodeId[] {
  const out: NodeId[] = new Array<NodeId>(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = checkNodeId(ids[i]!, `${name}[${i}]`);
  return out;
}

/** The wire array of one message (without from/to, which the frame carries). */
function messageToWire(m: RaftMessage): unknown[] {
  const term = checkTerm(m.term, 'term');
  switch (m.type) {
    case 'vote':
      return [
        MessageTag.vote,
        term,
        checkIndex(m.lastIndex, 'lastIndex'),
        checkTerm(m.lastTerm, 'lastTerm'),
        checkBool(m.preVote, 'preVote'),
        checkBool(m.transfer, 'transfer'),
      ];
    case 'voteResp':
      // The fifth field only when set: a node of an older version refuses it, and sees it only as a
      // removed node, whose campaigns it answers no differently anyway.
      if (m.nonMember === true) return [MessageTag.voteResp, term, checkBool(m.granted, 'granted'), checkBool(m.preVote, 'preVote'), true];
      return [MessageTag.voteResp, term, checkBool(m.granted, 'granted'), checkBool(m.preVote, 'preVote')];
    case 'append': {
      const prevIndex = checkIndex(m.prevIndex, 'prevIndex');
      const entries = m.entries;
      if (prevIndex + entries.length > Number.MAX_SAFE_INTEGER) encodeFail('entry index overflow');
      const flat: unknown[] = new Array<unknown>(entries.length * 3);
      for (let i = 0, j = 0; i < entries.length; i++, j += 3) {
        const e = entries[i]!;
        if (e.index !== prevIndex + 1 + i) {
          encodeFail(`entries must be contiguous from prevIndex + 1: entry ${i} has index ${e.index}`);
        }
        flat[j] = checkTerm(e.term, 'entry.term');
        if (e.kind !== 0 && e.kind !== 1 && e.kind !== 2) encodeFail(`entry ${i} has unknown kind ${String(e.kind)}`);
        flat[j + 1] = e.kind;
        flat[j + 2] = checkBytes(e.data, 'entry.data');
      }
      return [MessageTag.append, term, prevIndex, checkTerm(m.prevTerm, 'prevTerm'), checkIndex(m.commit, 'commit'), flat];
    }
    case 'appendResp':
      return [
        MessageTag.appendResp,
        term,
        checkBool(m.success, 'success'),
        checkIndex(m.index, 'index'),
        checkIndex(m.hintIndex, 'hintIndex'),
        checkTerm(m.hintTerm, 'hintTerm'),
      ];
    case 'heartbeat':
      return [MessageTag.heartbeat, term, checkIndex(m.commit, 'commit'), checkIndex(m.readCtx, 'readCtx')];
    case 'heartbeatResp':
      return [MessageTag.heartbeatResp, term, checkIndex(m.readCtx, 'readCtx')];
    case 'timeoutNow':
      return [MessageTag.timeoutNow, term];
    case 'snapshot':
      return [
        MessageTag.snapshot,
        term,
        checkIndex(m.meta.index, 'meta.index'),
        checkTerm(m.meta.term, 'meta.term'),
        checkMembers(m.meta.membership.voters, 'voters'),
        checkMembers(m.meta.membership.learners, 'learners'),
        checkIndex(m.offset, 'offset'),
        checkIndex(m.totalBytes, 'totalBytes'),
        checkBytes(m.data, 'data'),
        checkBool(m.done, 'done'),
        checkU32(m.dataCrc, 'dataCrc'),
        ...(m.meta.membership.addresses !== undefined ? [addressesToWire(m.meta.membership)] : []),
      ];
    case 'snapshotResp':
      return [
        MessageTag.snapshotResp,
        term,
        checkIndex(m.index, 'index'),
        checkIndex(m.offset, 'offset'),
        checkBool(m.done, 'done'),
        checkBool(m.reject, 'reject'),
      ];
    case 'rangeRequest': {
      const flat: unknown[] = new Array<unknown>(m.ranges.length * 4);
      for (let i = 0, j = 0; i < m.ranges.length; i++, j += 4) {
        const r = m.ranges[i]!;
        if (!isDataFileName(r.name)) encodeFail(`range ${i} has an invalid file name`);
        if (!isRangeHash(r.hash)) encodeFail(`range ${i} has an invalid hash`);
        flat[j] = r.name;
        flat[j + 1] = checkIndex(r.start, 'range.start');
        flat[j + 2] = checkIndex(r.end, 'range.end');
        flat[j + 3] = r.hash;
        if (r.end <= r.start) encodeFail(`range ${i} is empty`);
      }
      return [MessageTag.rangeRequest, term, checkIndex(m.snapshotIndex, 'snapshotIndex'), flat];
    }
    case 'rangeChunk':
      if (!isDataFileName(m.name)) encodeFail('rangeChunk has an invalid file name');
      checkU32(m.crc32, 'crc32');
      return [
        MessageTag.rangeChunk,
        term,
        checkIndex(m.snapshotIndex, 'snapshotIndex'),
        m.name,
        checkIndex(m.start, 'start'),
        checkBytes(m.data, 'data'),
        m.crc32,
      ];
    default: {
      const unknown: { type?: unknown } = m;
      return encodeFail(`unknown message type ${String(unknown.type)}`);
    }
  }
}

/**
 * Byte strings at least this long are not copied into the encoding: they become parts of their own
 * (see `encodeMessageParts`), and the transport sends them as separate WebSocket fragments of the
 * same message, so a 1 MiB snapshot chunk is never copied on the sending side.
 */
export const SPLICE_BYTES_MIN = 16 * 1024;

/**
 * Parts at least this long travel as WebSocket fragments of their own, and an append's entries
 * array of SPLICE_BYTES_MIN or more is cut, at entry boundaries, into pieces at least this long. The
 * receiver decodes appends from the fragments without joining them (appendDecode.ts), and ws copies
 * only a fragment that spans two socket reads (up to 64 KiB each): the shorter the fragments, the
 * fewer of them, for a fragment's header (2-14 bytes) and a send call each.
 */
export const FRAGMENT_BYTES_MIN = 8 * 1024;

/** Encoded bytes of entries[from..] (at least; heads are counted at their shortest). */
function restBytes(entries: readonly Entry[], from: number): number {
  let bytes = 0;
  for (let i = from; i < entries.length && bytes < FRAGMENT_BYTES_MIN; i++) bytes += 3 + entries[i]!.data.length;
  return bytes;
}

/**
 * The CBOR body of one message as parts whose concatenation is the encoding. Small messages are
 * one part (cbor-x). A snapshot chunk or an append with a byte field of SPLICE_BYTES_MIN or more is
 * encoded around that field, which becomes a part by reference: do not mutate it until sent.
 */
export function encodeMessageParts(message: RaftMessage): Uint8Array[] {
  if (message.type === 'append' && !hasLargeEntry(message.entries)) return encodeAppendParts(message);
  const wire = messageToWire(message); // validates
  if (message.type === 'snapshot' && message.data.length >= SPLICE_BYTES_MIN) {
    // cbor-x writes the 8 fields before data; we patch the array count to 11 (12 with member
    // addresses) and splice data, done, dataCrc (and the addresses).
    const head = encoder.encode(wire.slice(0, 8));
    if (head[0] !== 0x88) encodeFail('unexpected snapshot head');
    const w = new PartsWriter();
    w.raw(head);
    w.patchFirst(wire.length === 12 ? 0x8c : 0x8b);
    w.bytes(message.data);
    w.raw(message.done ? TRUE_BYTE : FALSE_BYTE);
    w.raw(encoder.encode(wire[10]));
    if (wire.length === 12) w.raw(encoder.encode(wire[11]));
    return w.finish();
  }
  if (message.type === 'append') {
    const head = encoder.encode(wire.slice(0, 5));
    if (head[0] !== 0x85) encodeFail('unexpected append head');
    const w = new PartsWriter();
    w.raw(head);
    w.patchFirst(0x86);
    const flat = wire[5] as unknown[];
    w.head(4, flat.length);
    for (let j = 0; j < flat.length; j += 3) {
      w.head(0, flat[j] as number);
      w.head(0, flat[j + 1] as number);
      w.bytes(flat[j + 2] as Uint8Array);
    }
    return w.finish();
  }
  return [encoder.encode(wire)];
}

/**
 * The append path without cbor-x (the hot path of replication): the same bytes cbor-x writes for
 * `messageToWire` (minimal heads for integers below 2^32, float64 above, byte strings as major 2),
 * as two parts: the message head and the entries section. The entries section of the last append
 * encoded is kept (one slot, by the identity of its Entry objects, which are immutable): the leader sends the same new entries to each follower in one flush, and encodes
 * them once.
 */
function encodeAppendParts(m: AppendRequest): Uint8Array[] {
  const prevIndex = checkIndex(m.prevIndex, 'prevIndex');
  const entries = m.entries;
  if (prevIndex + entries.length > Number.MAX_SAFE_INTEGER) encodeFail('entry index overflow');
  const head = Buffer.allocUnsafe(1 + 1 + 9 * 4);
  let pos = 0;
  head[pos++] = 0x86;
  head[pos++] = MessageTag.append;
  pos = putUint(head, pos, checkTerm(m.term, 'term'));
  pos = putUint(head, pos, prevIndex);
  pos = putUint(head, pos, checkTerm(m.prevTerm, 'prevTerm'));
  pos = putUint(head, pos, checkIndex(m.commit, 'commit'));
  return [head.subarray(0, pos), ...entriesSection(entries, prevIndex)];
}

let lastEntries: { entries: readonly Entry[]; prevIndex: number; pieces: readonly Uint8Array[] } | null = null;

/** The same Entry objects, in the same order (a pointer comparison each: far cheaper than encoding). */
function sameEntries(a: readonly Entry[], b: readonly Entry[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The entries array of an append, encoded once into one buffer and returned as pieces cut at entry
 * boundaries: one piece below SPLICE_BYTES_MIN, else pieces of at least FRAGMENT_BYTES_MIN (the
 * last may be longer), each sent as a fragment of its own (see FRAGMENT_BYTES_MIN).
 */
function entriesSection(entries: readonly Entry[], prevIndex: number): readonly Uint8Array[] {
  const n = entries.length;
  const c = lastEntries;
  if (n > 0 && c !== null && c.prevIndex === prevIndex && sameEntries(c.entries, entries)) return c.pieces;
  let size = 9;
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    if (e.index !== prevIndex + 1 + i) encodeFail(`entries must be contiguous from prevIndex + 1: entry ${i} has index ${e.index}`);
    checkTerm(e.term, 'entry.term');
    if (e.kind !== 0 && e.kind !== 1 && e.kind !== 2) encodeFail(`entry ${i} has unknown kind ${String(e.kind)}`);
    checkBytes(e.data, 'entry.data');
    size += 9 + 1 + 5 + e.data.length;
  }
  const out = Buffer.allocUnsafe(size);
  let cut = size >= SPLICE_BYTES_MIN;
  const pieces: Uint8Array[] = [];
  let pieceStart = 0;
  let pos = putCborHead(out, 0, 4, n * 3);
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    pos = putUint(out, pos, e.term);
    out[pos++] = e.kind;
    pos = putCborHead(out, pos, 2, e.data.length);
    out.set(e.data, pos);
    pos += e.data.length;
    // A piece ends after an entry once it is long enough and what is left is too (else the rest joins it).
    if (cut && pos - pieceStart >= FRAGMENT_BYTES_MIN && i + 1 < n) {
      if (restBytes(entries, i + 1) < FRAGMENT_BYTES_MIN) {
        cut = false; // what is left only shrinks: it all joins this piece
        continue;
      }
      pieces.push(out.subarray(pieceStart, pos));
      pieceStart = pos;
    }
  }
  pieces.push(out.subarray(pieceStart, pos));
  // Only the entries of some size are worth keeping (a heartbeat-like empty append is not).
  lastEntries = n > 0 ? { entries, prevIndex, pieces } : null;
  return pieces;
}

/** An unsigned integer as cbor-x writes it: a minimal head below 2^32, a float64 above. */
function putUint(b: Buffer, pos: number, value: number): number {
  if (value < 0x100000000) return putCborHead(b, pos, 0, value);
  b[pos] = 0xfb;
  b.writeDoubleBE(value, pos + 1);
  return pos + 9;
}

const TRUE_BYTE = Uint8Array.of(0xf5);
const FALSE_BYTE = Uint8Array.of(0xf4);

function hasLargeEntry(entries: readonly Entry[]): boolean {
  for (let i = 0; i < entries.length; i++) {
    if (entries[i]!.data.length >= SPLICE_BYTES_MIN) return true;
  }
  return false;
}

/** Writes CBOR heads and small byte strings into pooled chunks; large byte strings become own parts. */
class PartsWriter {
  private readonly parts: Uint8Array[] = [];
  private buf: Buffer = Buffer.allocUnsafe(256);
  private pos = 0;
  private first = true;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Rewrites the very first byte written (an array head). */
  patchFirst(byte: number): void {
    if (!this.first || this.parts.length > 0) encodeFail('patchFirst after a flush');
    this.buf[0] = byte;
    this.first = false;
  }

  /** A head of major type `major` with argument `value` (a safe non-negative integer). */
  head(major: number, value: number): void {
    this.ensure(9);
    const m = major << 5;
    const b = this.buf;
    if (value < 24) b[this.pos++] = m | value;
    else if (value < 0x100) {
      b[this.pos++] = m | 24;
      b[this.pos++] = value;
    } else if (value < 0x10000) {
      b[this.pos++] = m | 25;
      b.writeUInt16BE(value, this.pos);
      this.pos += 2;
    } else if (value < 0x100000000) {
      b[this.pos++] = m | 26;
      b.writeUInt32BE(value, this.pos);
      this.pos += 4;
    } else {
      b[this.pos++] = m | 27;
      b.writeUInt32BE(Math.floor(value / 0x100000000), this.pos);
      b.writeUInt32BE(value >>> 0, this.pos + 4);
      this.pos += 8;
    }
  }

  bytes(data: Uint8Array): void {
    this.head(2, data.length);
    if (data.length < SPLICE_BYTES_MIN) {
      this.raw(data);
      return;
    }
    this.flush();
    this.parts.push(data);
  }

  private flush(): void {
    if (this.pos === 0) return;
    this.parts.push(this.buf.subarray(0, this.pos));
    this.buf = Buffer.allocUnsafe(256);
    this.pos = 0;
  }

  finish(): Uint8Array[] {
    this.flush();
    return this.parts;
  }
}

/** CBOR header bytes for major type `major` with argument `value` (< 2^32). */
function writeHead(out: number[], major: number, value: number): void {
  const m = major << 5;
  if (value < 24) out.push(m | value);
  else if (value < 0x100) out.push(m | 24, value);
  else if (value < 0x10000) out.push(m | 25, value >> 8, value & 0xff);
  else out.push(m | 26, (value >>> 24) & 0xff, (value >> 16) & 0xff, (value >> 8) & 0xff, value & 0xff);
}

function writeText(out: number[], text: string): void {
  // Node IDs are ASCII by their pattern, so one char is one byte.
  writeHead(out, 3, text.length);
  for (let i = 0; i < text.length; i++) out.push(text.charCodeAt(i));
}

/**
 * The fixed part of a messages frame from `from` to `to` (version, kind, from, to), without the
 * array header. Links compute it once.
 */
export function encodeMessagesPrefix(from: NodeId, to: NodeId): Uint8Array {
  checkNodeId(from, 'from');
  checkNodeId(to, 'to');
  const out: number[] = [];
  writeHead(out, 0, PROTOCOL_VERSION);
  writeHead(out, 0, FrameKind.messages);
  writeText(out, from);
  writeText(out, to);
  return Uint8Array.from(out);
}

/**
 * A messages frame as WebSocket fragments: the array head for 4 + n items, the prefix and the n
 * bodies (each a list of parts). Small parts are packed together into one buffer; parts of
 * FRAGMENT_BYTES_MIN or more are fragments of their own, by reference. The concatenation of the
 * fragments is the frame.
 */
export function encodeMessagesFrameParts(prefix: Uint8Array, bodies: readonly (readonly Uint8Array[])[]): Uint8Array[] {
  if (bodies.length === 0) encodeFail('a messages frame needs at least one message');
  const head: number[] = [];
  writeHead(head, 4, 4 + bodies.length);
  let total = head.length + prefix.length;
  let spliced = false;
  for (const body of bodies) {
    for (const part of body) {
      total += part.length;
      if (part.length >= FRAGMENT_BYTES_MIN) spliced = true;
    }
  }
  if (!spliced) {
    // The common case: one buffer, one copy of each body.
    const frame = Buffer.allocUnsafe(total);
    let pos = 0;
    for (const b of head) frame[pos++] = b;
    frame.set(prefix, pos);
    pos += prefix.length;
    for (const body of bodies) {
      for (const part of body) {
        frame.set(part, pos);
        pos += part.length;
      }
    }
    return [frame];
  }
  const fragments: Uint8Array[] = [];
  let small: Uint8Array[] = [Uint8Array.from(head), prefix];
  let smallBytes = head.length + prefix.length;
  for (const body of bodies) {
    for (const part of body) {
      if (part.length < FRAGMENT_BYTES_MIN) {
        small.push(part);
        smallBytes += part.length;
        continue;
      }
      if (small.length > 0) fragments.push(Buffer.concat(small, smallBytes));
      small = [];
      smallBytes = 0;
      fragments.push(part);
    }
  }
  if (small.length > 0) fragments.push(Buffer.concat(small, smallBytes));
  return fragments;
}

/** A messages frame as one buffer. */
export function encodeMessagesFrame(prefix: Uint8Array, bodies: readonly (readonly Uint8Array[])[]): Buffer {
  const fragments = encodeMessagesFrameParts(prefix, bodies);
  return fragments.length === 1 && Buffer.isBuffer(fragments[0]) ? fragments[0] : Buffer.concat(fragments);
}

/** One message as a complete frame (from and to taken from the message). */
export function encodeMessage(message: RaftMessage): Buffer {
  return encodeMessagesFrame(encodeMessagesPrefix(message.from, message.to), [encodeMessageParts(message)]);
}

/** A whole frame of messages that all share `from` and `to`. */
export function encodeMessages(messages: readonly RaftMessage[]): Buffer {
  if (messages.length === 0) encodeFail('a messages frame needs at least one message');
  const { from, to } = messages[0]!;
  for (const m of messages) {
    if (m.from !== from || m.to !== to) encodeFail('all messages of one frame must share from and to');
  }
  return encodeMessagesFrame(encodeMessagesPrefix(from, to), messages.map(encodeMessageParts));
}

const NO_BYTES = new Uint8Array(0);
const ZERO_NONCE = new Uint8Array(NONCE_BYTES);

/**
 * A hello or a welcome. `nonce` (hello only) defaults to zeros and `proof` to none: a dialer with a
 * cluster secret passes both (see peerAuth.ts).
 */
export function encodeHandshake(h: Omit<Handshake, 'version' | 'nonce' | 'proof'> & { version?: number; nonce?: Uint8Array; proof?: Uint8Array }): Buffer {
  const version = h.version ?? PROTOCOL_VERSION;
  const proof = checkBytes(h.proof ?? NO_BYTES, 'proof');
  if (proof.length !== 0 && proof.length !== PROOF_BYTES) encodeFail(`proof must be ${PROOF_BYTES} bytes or none`);
  const head = [
    checkIndex(version, 'version'),
    h.kind === 'hello' ? FrameKind.hello : FrameKind.welcome,
    checkNodeId(h.clusterId, 'clusterId'),
    checkNodeId(h.from, 'from'),
    checkNodeId(h.to, 'to'),
    checkChannel(h.channel),
    checkTerm(h.term, 'term'),
  ];
  if (h.kind === 'welcome') return encoder.encode([...head, proof]);
  const nonce = checkBytes(h.nonce ?? ZERO_NONCE, 'nonce');
  if (nonce.length !== NONCE_BYTES) encodeFail(`nonce must be ${NONCE_BYTES} bytes`);
  return encoder.encode([
    ...head,
    nonce,
    proof,
    // As bytes: text in frames is capped at an ID's 64 bytes (cborScan).
    ...(h.address !== undefined ? [Buffer.from(checkHelloAddress(h.address), 'latin1')] : []),
  ]);
}

function checkChannel(c: HandshakeChannel): number {
  const code = CHANNEL_CODES.indexOf(c);
  if (code < 0) encodeFail(`unknown channel ${String(c)}`);
  return code;
}

/** The status channel's request: `[version, 4]`. */
export function encodeStatusRequest(version = PROTOCOL_VERSION): Buffer {
  return encoder.encode([checkIndex(version, 'version'), FrameKind.statusRequest]);
}

/** The status channel's reply: `[version, 5, body]`. */
export function encodeStatusReply(body: Uint8Array, version = PROTOCOL_VERSION): Buffer {
  return encoder.encode([checkIndex(version, 'version'), FrameKind.statusReply, checkBytes(body, 'body')]);
}

/** The acceptor's first frame: `[version, 3, nonce]`. */
export function encodeChallenge(nonce: Uint8Array, version = PROTOCOL_VERSION): Buffer {
  if (!(nonce instanceof Uint8Array) || nonce.length !== NONCE_BYTES) encodeFail(`nonce must be ${NONCE_BYTES} bytes`);
  return encoder.encode([checkIndex(version, 'version'), FrameKind.challenge, nonce]);
}

function checkHelloAddress(a: unknown): string {
  if (typeof a !== 'string' || a.length > HELLO_ADDRESS_BYTES_MAX || parseMemberAddress(a) === null) {
    encodeFail(`address must be host:raftPort:clientPort:adminPort, got ${JSON.stringify(a)}`);
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

function schemaFail(message: string): never {
  throw new TransportError(TransportErrorCode.schema, message);
}

/** Counts over a cap share the code of lengths over a cap, whichever check sees them first. */
function lengthFail(message: string): never {
  throw new TransportError(TransportErrorCode.length, message);
}

function idx(a: readonly unknown[], i: number, name: string): number {
  const v = a[i];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    schemaFail(`${name} must be a safe non-negative integer`);
  }
  return v + 0; // normalizes a float -0 to 0
}

/** A term: a safe non-negative integer, and at most TERM_MAX (else TRANSPORT_ERR_TERM). */
function termAt(a: readonly unknown[], i: number, name: string): number {
  const v = idx(a, i, name);
  if (v > TERM_MAX) throw new TransportError(TransportErrorCode.term, `${name} ${v} is above TERM_MAX (${TERM_MAX})`);
  return v;
}

/** A byte string of exactly `n` bytes, or (when `orEmpty`) none. */
function fixedBytes(a: readonly unknown[], i: number, n: number, name: string, orEmpty = false): Uint8Array {
  const v = bytes(a, i, name);
  if (v.length !== n && !(orEmpty && v.length === 0)) schemaFail(`${name} must be ${n} bytes${orEmpty ? ' or empty' : ''}`);
  return v;
}

function bool(a: readonly unknown[], i: number, name: string): boolean {
  const v = a[i];
  if (typeof v !== 'boolean') schemaFail(`${name} must be a boolean`);
  return v;
}

function nodeId(a: readonly unknown[], i: number, name: string): NodeId {
  const v = a[i];
  if (!isNodeId(v)) schemaFail(`${name} must match [A-Za-z0-9_.-]{1,64}`);
  return v;
}

function bytes(a: readonly unknown[], i: number, name: string): Uint8Array {
  const v = a[i];
  if (!(v instanceof Uint8Array)) schemaFail(`${name} must be a byte string`);
  return v;
}

function array(a: readonly unknown[], i: number, name: string): unknown[] {
  const v = a[i];
  if (!Array.isArray(v)) schemaFail(`${name} must be an array`);
  return v;
}

function arity(a: readonly unknown[], n: number, name: string): void {
  if (a.length !== n) schemaFail(`${name} must have ${n} fields, got ${a.length}`);
}

function members(list: unknown[], name: string): NodeId[] {
  const out: NodeId[] = new Array<NodeId>(list.length);
  for (let i = 0; i < list.length; i++) out[i] = nodeId(list, i, `${name}[${i}]`);
  return out;
}

function wireToMessage(w: unknown, from: NodeId, to: NodeId, limits: DecodeLimits): RaftMessage {
  if (!Array.isArray(w) || w.length === 0) schemaFail('a message must be a non-empty array');
  const tag = w[0];
  if (typeof tag !== 'number' || !Number.isInteger(tag)) schemaFail('a message must start with its type tag');
  switch (tag) {
    case MessageTag.vote:
      arity(w, 6, 'vote');
      return {
        type: 'vote',
        from,
        to,
        term: termAt(w, 1, 'term'),
        lastIndex: idx(w, 2, 'lastIndex'),
        lastTerm: termAt(w, 3, 'lastTerm'),
        preVote: bool(w, 4, 'preVote'),
        transfer: bool(w, 5, 'transfer'),
      };
    case MessageTag.voteResp: {
      if (w.length !== 5) arity(w, 4, 'voteResp');
      const m: VoteResponse = { type: 'voteResp', from, to, term: termAt(w, 1, 'term'), granted: bool(w, 2, 'granted'), preVote: bool(w, 3, 'preVote') };
      if (w.length === 4) return m;
      if (w[4] !== true) schemaFail('voteResp nonMember must be true when present');
      return { ...m, nonMember: true };
    }
    case MessageTag.append: {
      arity(w, 6, 'append');
      const term = termAt(w, 1, 'term');
      const prevIndex = idx(w, 2, 'prevIndex');
      const prevTerm = termAt(w, 3, 'prevTerm');
      const commit = idx(w, 4, 'commit');
      const flat = array(w, 5, 'entries');
      if (flat.length % 3 !== 0) schemaFail('entries must be (term, kind, data) triples');
      const count = flat.length / 3;
      if (count > limits.entriesPerMessageMax) lengthFail(`more than ${limits.entriesPerMessageMax} entries`);
      if (prevIndex + count > Number.MAX_SAFE_INTEGER) schemaFail('entry index overflow');
      const entries: Entry[] = new Array<Entry>(count);
      // A leader's log: entry terms never decrease, start at prevTerm or later and never pass the
      // leader's term. Until 2026-12-07 a term going down passed here and reached the WAL's own
      // check, which stopped the node: one message from any authenticated peer (a review).
      let lastTerm = prevTerm;
      for (let i = 0, j = 0; i < count; i++, j += 3) {
        const entryTerm = termAt(flat, j, 'entry.term');
        if (entryTerm < lastTerm) schemaFail(`entry ${i} has term ${entryTerm}, below the term before it (${lastTerm})`);
        if (entryTerm > term) schemaFail(`entry ${i} has term ${entryTerm}, past the message's term ${term}`);
        lastTerm = entryTerm;
        const kind = flat[j + 1];
        if (kind !== 0 && kind !== 1 && kind !== 2) schemaFail(`entry ${i} has an unknown kind`);
        if (kind === 2) {
          // A configuration entry changes who votes: it must decode, with valid node IDs, before it reaches Raft.
          let m: Membership;
          try {
            m = decodeMembership(bytes(flat, j + 2, 'entry.data'));
          } catch {
            schemaFail(`entry ${i} is a malformed configuration`);
          }
          if (!m.voters.every(isNodeId) || !m.learners.every(isNodeId)) schemaFail(`entry ${i} names a member that is not a node ID`);
        }
        entries[i] = {
          index: prevIndex + 1 + i,
          term: entryTerm,
          kind: kind as EntryKind,
          data: bytes(flat, j + 2, 'entry.data'),
        };
      }
      return { type: 'append', from, to, term, prevIndex, prevTerm, commit, entries };
    }
    case MessageTag.appendResp:
      arity(w, 6, 'appendResp');
      return {
        type: 'appendResp',
        from,
        to,
        term: termAt(w, 1, 'term'),
        success: bool(w, 2, 'success'),
        index: idx(w, 3, 'index'),
        hintIndex: idx(w, 4, 'hintIndex'),
        hintTerm: termAt(w, 5, 'hintTerm'),
      };
    case MessageTag.heartbeat:
      arity(w, 4, 'heartbeat');
      return { type: 'heartbeat', from, to, term: termAt(w, 1, 'term'), commit: idx(w, 2, 'commit'), readCtx: idx(w, 3, 'readCtx') };
    case MessageTag.heartbeatResp:
      arity(w, 3, 'heartbeatResp');
      return { type: 'heartbeatResp', from, to, term: termAt(w, 1, 'term'), readCtx: idx(w, 2, 'readCtx') };
    case MessageTag.timeoutNow:
      arity(w, 2, 'timeoutNow');
      return { type: 'timeoutNow', from, to, term: termAt(w, 1, 'term') };
    case MessageTag.snapshot: {
      if (w.length !== 11 && w.length !== 12) schemaFail(`snapshot must have 11 or 12 fields, got ${w.length}`);
      const term = termAt(w, 1, 'term');
      const voterList = array(w, 4, 'voters');
      const learnerList = array(w, 5, 'learners');
      if (voterList.length + learnerList.length > limits.membersMax) lengthFail(`more than ${limits.membersMax} members`);
      let membership: Membership = { voters: members(voterList, 'voters'), learners: members(learnerList, 'learners') };
      if (w.length === 12) membership = { ...membership, addresses: addressesFromWire(array(w, 11, 'addresses'), membership) };
      // The configuration a follower installs with the snapshot: the checks a configuration entry
      // gets (at least one voter, no node twice, at most 256 members). A duplicated voter would
      // shrink every quorum the follower counts; an oversized one would throw out of Raft later.
      try {
        validateMembership(membership);
      } catch (err) {
        if (err instanceof MembershipError) schemaFail(`snapshot membership: ${err.message}`);
        throw err;
      }
      const dataCrc = idx(w, 10, 'dataCrc');
      if (dataCrc > 0xffffffff) schemaFail('dataCrc must be a u32');
      const meta: SnapshotMeta = { index: idx(w, 2, 'meta.index'), term: termAt(w, 3, 'meta.term'), membership };
      return {
        type: 'snapshot',
        from,
        to,
        term,
        meta,
        offset: idx(w, 6, 'offset'),
        totalBytes: idx(w, 7, 'totalBytes'),
        dataCrc,
        data: bytes(w, 8, 'data'),
        done: bool(w, 9, 'done'),
      };
    }
    case MessageTag.snapshotResp:
      arity(w, 6, 'snapshotResp');
      return {
        type: 'snapshotResp',
        from,
        to,
        term: termAt(w, 1, 'term'),
        index: idx(w, 2, 'index'),
        offset: idx(w, 3, 'offset'),
        done: bool(w, 4, 'done'),
        reject: bool(w, 5, 'reject'),
      };
    case MessageTag.rangeRequest: {
      arity(w, 4, 'rangeRequest');
      const flat = array(w, 3, 'ranges');
      if (flat.length % 4 !== 0) schemaFail('ranges must be (name, start, end, hash) quads');
      const count = flat.length / 4;
      if (count > limits.rangesPerRequestMax) lengthFail(`more than ${limits.rangesPerRequestMax} ranges`);
      const ranges: FileByteRange[] = new Array<FileByteRange>(count);
      for (let i = 0, j = 0; i < count; i++, j += 4) {
        const name = flat[j];
        if (!isDataFileName(name)) schemaFail(`range ${i} has an invalid file name`);
        const start = idx(flat, j + 1, 'range.start');
        const end = idx(flat, j + 2, 'range.end');
        if (end <= start) schemaFail(`range ${i} is empty`);
        const hash = flat[j + 3];
        if (!isRangeHash(hash)) schemaFail(`range ${i} has an invalid hash`);
        ranges[i] = { name, start, end, hash };
      }
      return { type: 'rangeRequest', from, to, term: termAt(w, 1, 'term'), snapshotIndex: idx(w, 2, 'snapshotIndex'), ranges };
    }
    case MessageTag.rangeChunk: {
      arity(w, 7, 'rangeChunk');
      const name = w[3];
      if (!isDataFileName(name)) schemaFail('rangeChunk has an invalid file name');
      const crc32 = idx(w, 6, 'crc32');
      if (crc32 > 0xffffffff) schemaFail('crc32 must be a u32');
      return {
        type: 'rangeChunk',
        from,
        to,
        term: termAt(w, 1, 'term'),
        snapshotIndex: idx(w, 2, 'snapshotIndex'),
        name,
        start: idx(w, 4, 'start'),
        data: bytes(w, 5, 'data'),
        crc32,
      };
    }
    default:
      throw new TransportError(TransportErrorCode.unknownType, `unknown message type tag ${tag}`);
  }
}

const ADDRESS_PATTERN = /^[A-Za-z0-9_.:[\]-]{1,200}$/;

function addressesToWire(m: Membership): string[] {
  const flat: string[] = [];
  for (const [id, address] of Object.entries(m.addresses ?? {})) {
    checkNodeId(id, 'address.id');
    if (!ADDRESS_PATTERN.test(address)) encodeFail(`invalid address for ${id}`);
    flat.push(id, address);
  }
  return flat;
}

function addressesFromWire(flat: unknown[], m: Membership): Record<NodeId, string> {
  if (flat.length % 2 !== 0) schemaFail('addresses must be (id, address) pairs');
  const out: Record<NodeId, string> = Object.create(null) as Record<NodeId, string>;
  for (let i = 0; i < flat.length; i += 2) {
    const id = nodeId(flat, i, 'address.id');
    const address = flat[i + 1];
    if (typeof address !== 'string' || !ADDRESS_PATTERN.test(address)) schemaFail('invalid address');
    if (!m.voters.includes(id) && !m.learners.includes(id)) schemaFail('address of a non-member');
    out[id] = address;
  }
  return { ...out };
}

function channel(a: readonly unknown[], i: number): HandshakeChannel {
  const v = a[i];
  if (v !== 0 && v !== 1 && v !== 2) schemaFail('channel must be 0 (control), 1 (data) or 2 (status)');
  return CHANNEL_CODES[v]!;
}

/**
 * If `bytes` starts like a frame (an array whose first item is an unsigned integer) but with another
 * protocol version, say so before anything else: a future version may use a different shape.
 */
function peekVersion(bytes: Uint8Array): number | undefined {
  if (bytes.length < 2) return undefined;
  const first = bytes[0]!;
  let pos: number;
  if (first >= 0x81 && first <= 0x97) pos = 1;
  else if (first === 0x98) pos = 2;
  else if (first === 0x99) pos = 3;
  else return undefined;
  if (pos >= bytes.length) return undefined;
  const head = bytes[pos]!;
  if (head < 24) return head;
  if (head === 24 && pos + 1 < bytes.length) return bytes[pos + 1]!;
  if (head === 25 && pos + 2 < bytes.length) return (bytes[pos + 1]! << 8) | bytes[pos + 2]!;
  return undefined;
}

export interface DecodeOptions {
  readonly limits?: DecodeLimits;
  /** Copy byte strings out of the frame instead of returning views into it. */
  readonly copyBuffers?: boolean;
}

/**
 * Decodes and validates one frame. Throws a TransportError with a stable code for anything that is
 * not exactly a valid frame of this protocol version; never throws anything else.
 */
export function decodeFrame(bytes: Uint8Array, options: DecodeOptions = {}): Frame {
  const limits = options.limits ?? DEFAULT_DECODE_LIMITS;
  const version = peekVersion(bytes);
  if (version !== undefined && version !== PROTOCOL_VERSION) {
    throw new TransportError(TransportErrorCode.version, `protocol version ${version}, expected ${PROTOCOL_VERSION}`);
  }
  const scanLimits: ScanLimits = {
    depthMax: 3, // frame > message > entries or members
    arrayLengthMax: Math.max(4 + limits.messagesPerFrameMax, 3 * limits.entriesPerMessageMax, limits.membersMax),
    textBytesMax: 64,
  };
  scanCbor(bytes, scanLimits);
  let w: unknown;
  try {
    w = (options.copyBuffers ? copyingDecoder : zeroCopyDecoder).decode(bytes);
  } catch (err) {
    throw new TransportError(TransportErrorCode.cbor, `cbor-x: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(w) || w.length < 2) schemaFail('a frame must be an array [version, kind, ...]');
  if (w[0] !== PROTOCOL_VERSION) {
    throw new TransportError(TransportErrorCode.version, `protocol version ${String(w[0])}, expected ${PROTOCOL_VERSION}`);
  }
  const kind = w[1];
  if (kind === FrameKind.hello || kind === FrameKind.welcome) {
    // hello: [v, 0, cluster, from, to, channel, term, nonce, proof, address?]; welcome: [v, 1, ..., term, proof].
    const hello = kind === FrameKind.hello;
    const withAddress = hello && w.length === 10;
    arity(w, hello ? (withAddress ? 10 : 9) : 8, 'handshake');
    const h: Handshake = {
      kind: hello ? 'hello' : 'welcome',
      version: PROTOCOL_VERSION,
      clusterId: nodeId(w, 2, 'clusterId'),
      from: nodeId(w, 3, 'from'),
      to: nodeId(w, 4, 'to'),
      channel: channel(w, 5),
      term: termAt(w, 6, 'term'),
      nonce: hello ? fixedBytes(w, 7, NONCE_BYTES, 'nonce') : NO_BYTES,
      proof: fixedBytes(w, hello ? 8 : 7, PROOF_BYTES, 'proof', true),
    };
    if (!withAddress) return h;
    const raw = w[9];
    if (!(raw instanceof Uint8Array) || raw.length > HELLO_ADDRESS_BYTES_MAX) schemaFail(`hello address must be at most ${HELLO_ADDRESS_BYTES_MAX} bytes`);
    const a = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('latin1');
    // ASCII only: the pattern admits letters, digits, `_.-:[]` (a latin1 read of UTF-8 fails it).
    if (parseMemberAddress(a) === null) schemaFail('hello address must be host:raftPort:clientPort:adminPort');
    return { ...h, address: a };
  }
  if (kind === FrameKind.challenge) {
    arity(w, 3, 'challenge');
    return { kind: 'challenge', nonce: fixedBytes(w, 2, NONCE_BYTES, 'nonce') };
  }
  if (kind === FrameKind.statusRequest) {
    arity(w, 2, 'statusRequest');
    return { kind: 'statusRequest' };
  }
  if (kind === FrameKind.statusReply) {
    arity(w, 3, 'statusReply');
    const body = w[2];
    if (!(body instanceof Uint8Array)) schemaFail('body must be bytes');
    return { kind: 'statusReply', body };
  }
  if (kind !== FrameKind.messages) {
    throw new TransportError(TransportErrorCode.frameKind, `unknown frame kind ${String(kind)}`);
  }
  const count = w.length - 4;
  if (count < 1) schemaFail('a messages frame needs at least one message');
  if (count > limits.messagesPerFrameMax) lengthFail(`more than ${limits.messagesPerFrameMax} messages in a frame`);
  const from = nodeId(w, 2, 'from');
  const to = nodeId(w, 3, 'to');
  const messages: RaftMessage[] = new Array<RaftMessage>(count);
  for (let i = 0; i < count; i++) messages[i] = wireToMessage(w[4 + i], from, to, limits);
  return { kind: 'messages', from, to, messages };
}

/** Decodes a frame that must hold exactly one message. */
export function decodeMessage(bytes: Uint8Array, options: DecodeOptions = {}): RaftMessage {
  const frame = decodeFrame(bytes, options);
  if (frame.kind !== 'messages') throw new TransportError(TransportErrorCode.frameKind, `expected messages, got ${frame.kind}`);
  if (frame.messages.length !== 1) schemaFail(`expected one message, got ${frame.messages.length}`);
  return frame.messages[0]!;
}
