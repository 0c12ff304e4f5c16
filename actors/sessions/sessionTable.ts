/**
 * Active sessions: each one a small actor holding its topic and records, handling Create, Append,
 * Rewrite and Destroy, and leaving the table when stored (its content then lives in a data file).
 *
 * Sessions are keyed by the low half of their ID (the log index of their SessionCreate, unique in
 * the log) with the high half (the term) checked on lookup: no string keys on the hot path.
 */
import { assert } from '../../machines/assert.js';
import { commandId, readU32BE, writeU32BE } from '../../transport/commands/codec.js';
import { utf8Of } from '../../transport/commands/utf8Cache.js';
import { joinedBytes } from './binary.js';
import { ResultCode, SessionsError, SessionsErrorCode } from './errors.js';
import type { StoreLimits } from './options.js';
import type { SessionSnapshot } from './types.js';

const EMPTY = new Uint8Array(0);

/** Views of the first `count` records of `(u32 length | bytes)*`. */
function framedRecords(framed: Uint8Array, count: number): Uint8Array[] {
  const out = new Array<Uint8Array>(count);
  let at = 0;
  for (let k = 0; k < count; k++) {
    const len = readU32BE(framed, at);
    out[k] = framed.subarray(at + 4, at + 4 + len);
    at += 4 + len;
  }
  return out;
}

/** Views of the first `count` records framed as `(u32 length | bytes)*` across `parts` (no record spans two). */
function framedRecordsOfParts(parts: readonly Uint8Array[], count: number): Uint8Array[] {
  if (parts.length === 1) return framedRecords(parts[0]!, count);
  const out: Uint8Array[] = [];
  for (const p of parts) {
    for (let at = 0; at < p.length && out.length < count;) {
      const len = readU32BE(p, at);
      out.push(p.subarray(at + 4, at + 4 + len));
      at += 4 + len;
    }
  }
  return out;
}

const NO_PARTS: readonly Uint8Array[] = [];

/** A session's chunks at one moment (Session's fields of the same names). */
interface SessionChunks {
  readonly arena: Uint8Array;
  readonly used: number;
  readonly full: readonly Uint8Array[];
}

export class Session {
  /**
   * The records back to back, each framed as `u32 length (big-endian) | bytes`, the layout of the
   * snapshot manifest and of a stored session in a data file: both copy a session's records with
   * one copy per part instead of one per record. The records live in a few chunks: the ones filled
   * (`full`, each cut to its used bytes) and the one being filled (`arena`, used below `used`). When
   * a record does not fit, a new chunk as large as everything before it is started, and nothing is
   * copied. Capacity: about twice the bytes for records of one size, as a doubling arena; at most
   * three times plus 64 with mixed sizes (a chunk is cut where a record does not fit, and its unused
   * tail, shorter than that record, stays allocated; test/sessions/sessionChunks.test.ts checks the
   * bound and that the chunk count stays logarithmic). A doubling arena copied every
   * byte again at each growth and left the old arena to the old generation (at 4 KiB x 128 the
   * followers' full collections came from such external bytes: docs/performance.md). An append is
   * a copy and a push, not an allocation per record (a buffer per record made GC the main cost of
   * apply). Bytes of a chunk below `used` are never written again (a rewrite moves to a new chunk),
   * so views handed out stay valid.
   */
  private arena: Uint8Array = EMPTY;
  /** The current chunk's used part: records and their 4-byte length frames. */
  private used = 0;
  /** Chunks filled before the current one, oldest first (views of exactly their used bytes). */
  private full: readonly Uint8Array[] = NO_PARTS;
  /** Bytes of `full` (frames included). */
  private fullBytes = 0;
  /** How many records (the frames say where each one is). */
  private count = 0;
  /** Sum of the records' lengths (what the limits count). */
  bytes = 0;
  /**
   * The SessionRestore (term, index) that made it active, with the flag remove-own-restore; 0, 0
   * when created, or restored without the flag. A removing ack removes it only when it settles that
   * restore's item (store.ts ackRemoving).
   */
  restoreHigh = 0;
  restoreLow = 0;

  // Issue 18: nothing else per session (no cached ID, topic bytes or record offsets: with 100,000
  // active sessions those were ~600 bytes of heap each); they are made when asked for.
  constructor(
    readonly high: number,
    readonly low: number,
    /** Valid UTF-8 (decoded with `fatal` at the edge), so encoding it gives back the bytes it came from. */
    readonly topic: string,
  ) {}

  /** A new array each time. */
  get id(): Uint8Array {
    return commandId(this.high, this.low);
  }

  /** The topic's UTF-8 bytes: shared (utf8Cache.ts), to be read, not changed. */
  topicBytes(): Uint8Array {
    return utf8Of(this.topic);
  }

  get topicByteLength(): number {
    return Buffer.byteLength(this.topic, 'utf8');
  }

  get recordCount(): number {
    return this.count;
  }

  /** Bytes of the framed records: the records and a 4-byte frame each. */
  get framedBytes(): number {
    return this.fullBytes + this.used;
  }

  /**
   * The records as `(u32 length | bytes)*`, in parts whose concatenation is the whole (views:
   * valid forever, their bytes never change). One part unless the session grew past its first chunk.
   */
  framedParts(): readonly Uint8Array[] {
    // The arena itself when full (no view object: a snapshot asks every session for this).
    const last = this.used === this.arena.length ? this.arena : this.arena.subarray(0, this.used);
    if (this.full.length === 0) return [last];
    return this.used === 0 ? this.full : [...this.full, last];
  }

  /** The records as the snapshot manifest holds them, without a view per record. */
  snapshot(): SessionSnapshot {
    return new ArenaSessionSnapshot(this.high, this.low, this.topic, this.framedParts(), this.framedBytes, this.count, this.restoreHigh, this.restoreLow);
  }

  /** Its chunks now (SessionCapture keeps them when a rewrite is about to drop them). */
  chunks(): SessionChunks {
    return { arena: this.arena, used: this.used, full: this.full };
  }

  /**
   * The snapshot it had when its framed records were `framedBytes` long, `count` of them, read from
   * `chunks` (its own now, or kept from before a rewrite): appends since only add bytes after those
   * (in the current chunk, past `used`, or in a new chunk, the old one moving to `full` whole), so
   * the parts are those `snapshot()` gave then, cut at the same places.
   */
  snapshotPrefix(framedBytes: number, count: number, kept?: SessionChunks): ArenaSessionSnapshot {
    const full = kept?.full ?? this.full;
    const arena = kept?.arena ?? this.arena;
    const used = kept?.used ?? this.used;
    const parts: Uint8Array[] = [];
    let left = framedBytes;
    for (let k = 0; k < full.length && left > 0; k++) {
      const c = full[k]!;
      parts.push(c.length <= left ? c : c.subarray(0, left));
      left -= Math.min(c.length, left);
    }
    if (left > 0) {
      assert(left <= used, `session ${this.high}.${this.low}: ${left} framed bytes past its chunks`);
      parts.push(left === arena.length ? arena : arena.subarray(0, left));
    }
    return new ArenaSessionSnapshot(this.high, this.low, this.topic, parts, framedBytes, count, this.restoreHigh, this.restoreLow);
  }

  /** Views of the records (valid forever: their bytes never change). */
  records(): Uint8Array[] {
    return this.full.length === 0 ? framedRecords(this.arena, this.count) : framedRecordsOfParts(this.framedParts(), this.count);
  }

  /** Copy data[start, end) in as the last record. */
  push(data: Uint8Array, start: number, end: number): void {
    const len = end - start;
    if (this.used + 4 + len > this.arena.length) {
      if (this.used > 0) {
        this.full = [...this.full, this.used === this.arena.length ? this.arena : this.arena.subarray(0, this.used)];
        this.fullBytes += this.used;
      }
      this.arena = new Uint8Array(Math.max(4 + len, this.fullBytes, 64));
      this.used = 0;
    }
    writeU32BE(this.arena, this.used, len);
    this.arena.set(data.subarray(start, end), this.used + 4);
    this.used += 4 + len;
    this.bytes += len;
    this.count++;
  }

  /** Take `framed` (`count` records framed as the arena is, `bytes` of them in all) as the arena: not copied. */
  adoptFramed(framed: Uint8Array, count: number, bytes: number): void {
    this.arena = framed.length === 0 ? EMPTY : framed;
    this.used = framed.length;
    this.full = NO_PARTS;
    this.fullBytes = 0;
    this.count = count;
    this.bytes = bytes;
  }

  /** Replace every record with these (copied into a fresh arena of the exact size). */
  replace(records: readonly Uint8Array[], recordBytes: number): void {
    const size = recordBytes + 4 * records.length;
    this.arena = size === 0 ? EMPTY : new Uint8Array(size);
    let at = 0;
    for (const r of records) {
      writeU32BE(this.arena, at, r.length);
      this.arena.set(r, at + 4);
      at += 4 + r.length;
    }
    this.used = at;
    this.full = NO_PARTS;
    this.fullBytes = 0;
    this.count = records.length;
    this.bytes = recordBytes;
  }
}

/**
 * A session in a snapshot as its framed records: the manifest encoder copies a session's records
 * with one copy per part (a snapshot of 8 MB of 128-byte records made 65,000 views and copies
 * before). `records` makes the views only when someone asks for them.
 */
export class ArenaSessionSnapshot implements SessionSnapshot {
  constructor(
    readonly high: number,
    readonly low: number,
    readonly topic: string,
    /** The records as `(u32 length | bytes)*`, exactly as the manifest holds them, in parts (no record spans two). */
    readonly parts: readonly Uint8Array[],
    /** Bytes of the parts together. */
    readonly framedBytes: number,
    readonly count: number,
    /** The restore that made it active (Session.restoreHigh, restoreLow); 0, 0 for none. */
    readonly restoreHigh = 0,
    readonly restoreLow = 0,
  ) {}

  get records(): Uint8Array[] {
    return framedRecordsOfParts(this.parts, this.count);
  }
}

type SessionOutcome =
  | typeof ResultCode.ok
  | typeof ResultCode.sessionTooLarge
  | typeof ResultCode.sessionTooManyRecords
  | typeof ResultCode.tooManySessions
  | typeof ResultCode.storeFull;

export class SessionTable {
  /** Insertion order is creation / restore order, the same on every replica (snapshots keep it). */
  private readonly byLow = new Map<number, Session>();
  /** Sum of every active session's record bytes. */
  activeBytes = 0;
  /** Captures not encoded yet (capture()): a rewrite keeps the chunks it drops for them. */
  private readonly captures = new Set<SessionCapture>();

  constructor(private readonly limits: StoreLimits) {}

  /**
   * The table as `snapshot()` would give it now, to be read later, while entries apply (a
   * snapshot's manifest encoded in slices): each session with the length and count of its framed
   * records. Creates, appends, destroys and restores change nothing a capture reads (a session's
   * bytes never change, its topic, ID and restore are fixed); a rewrite drops the session's
   * chunks, and keeps them for the captures first. `release()` the capture once read. At 90,000
   * active sessions `snapshot()` made 180,000 objects in one piece, 50-80 ms of a node's event loop
   * under load at every snapshot (the delayed benchmark's backlog row, 2026-12-07 night); a capture
   * makes three arrays.
   */
  capture(): SessionCapture {
    const sessions = Array.from(this.byLow.values());
    const framed = new Float64Array(sessions.length);
    const counts = new Float64Array(sessions.length);
    for (let k = 0; k < sessions.length; k++) {
      const x = sessions[k]!;
      framed[k] = x.framedBytes;
      counts[k] = x.recordCount;
    }
    const c = new SessionCapture(sessions, framed, counts, () => this.captures.delete(c));
    this.captures.add(c);
    return c;
  }

  get size(): number {
    return this.byLow.size;
  }

  get(high: number, low: number): Session | undefined {
    const s = this.byLow.get(low);
    return s !== undefined && s.high === high ? s : undefined;
  }

  has(high: number, low: number): boolean {
    return this.get(high, low) !== undefined;
  }

  values(): IterableIterator<Session> {
    return this.byLow.values();
  }

  create(high: number, low: number, topic: string): Session | typeof ResultCode.tooManySessions {
    if (this.byLow.size >= this.limits.activeSessionsMax) return ResultCode.tooManySessions;
    if (this.byLow.has(low)) assert(false, `session ${high}.${low} created twice`);
    const s = new Session(high, low, topic);
    this.byLow.set(low, s);
    return s;
  }

  /** Appends a copy of data[start, end). */
  append(s: Session, data: Uint8Array, start: number, end: number): SessionOutcome {
    const len = end - start;
    if (s.recordCount >= this.limits.sessionRecordsMax) return ResultCode.sessionTooManyRecords;
    if (s.bytes + len > this.limits.sessionBytesMax) return ResultCode.sessionTooLarge;
    if (this.activeBytes + len > this.limits.activeBytesMax) return ResultCode.storeFull;
    s.push(data, start, end);
    this.activeBytes += len;
    return ResultCode.ok;
  }

  rewrite(s: Session, data: Uint8Array, start: number, end: number): SessionOutcome {
    const len = end - start;
    if (len > this.limits.sessionBytesMax) return ResultCode.sessionTooLarge;
    if (this.activeBytes - s.bytes + len > this.limits.activeBytesMax) return ResultCode.storeFull;
    this.activeBytes += len - s.bytes;
    for (const c of this.captures) c.keep(s);
    s.replace([data.subarray(start, end)], len);
    return ResultCode.ok;
  }

  remove(s: Session): void {
    const had = this.byLow.delete(s.low);
    if (!had) assert(false, `removing session ${s.high}.${s.low} that is not active`);
    this.activeBytes -= s.bytes;
  }

  /** A session coming back from a data file (SessionRestore (restoreHigh, restoreLow); 0, 0 to record none). */
  insert(high: number, low: number, topic: string, records: readonly Uint8Array[], recordBytes: number, restoreHigh = 0, restoreLow = 0): SessionOutcome {
    if (this.byLow.size >= this.limits.activeSessionsMax) return ResultCode.tooManySessions;
    if (this.activeBytes + recordBytes > this.limits.activeBytesMax) return ResultCode.storeFull;
    if (this.byLow.has(low)) assert(false, `session ${high}.${low} restored while active`);
    const s = new Session(high, low, topic);
    s.replace(records, recordBytes);
    s.restoreHigh = restoreHigh;
    s.restoreLow = restoreLow;
    this.byLow.set(low, s);
    this.activeBytes += recordBytes;
    return ResultCode.ok;
  }

  clear(): void {
    this.byLow.clear();
    this.activeBytes = 0;
  }

  snapshot(): SessionSnapshot[] {
    const out: SessionSnapshot[] = [];
    for (const s of this.byLow.values()) out.push(s.snapshot());
    return out;
  }

  /** Replace the table with a snapshot's; limits are not re-checked (the snapshot was within them). */
  /** Why a manifest's session list cannot be loaded (an ID listed twice), or null. Changes nothing. */
  static refusal(sessions: readonly SessionSnapshot[]): SessionsError | null {
    const lows = new Set<number>();
    for (const snap of sessions) {
      if (lows.has(snap.low)) return new SessionsError(SessionsErrorCode.snapshotCorrupt, `session ${snap.high}.${snap.low} listed twice`);
      lows.add(snap.low);
    }
    return null;
  }

  load(sessions: readonly SessionSnapshot[]): void {
    const refused = SessionTable.refusal(sessions);
    if (refused !== null) throw refused;
    this.clear();
    for (const snap of sessions) {
      const s = new Session(snap.high, snap.low, snap.topic);
      s.restoreHigh = snap.restoreHigh ?? 0;
      s.restoreLow = snap.restoreLow ?? 0;
      let bytes: number;
      if (snap instanceof ArenaSessionSnapshot) {
        // One copy of the framed records into the session's own arena (the snapshot's buffer is
        // not kept alive by the sessions restored from it).
        bytes = snap.framedBytes - 4 * snap.count;
        // A copy, not `slice()`: on a Buffer (a snapshot read from its file) that is a view.
        s.adoptFramed(joinedBytes(snap.parts, snap.framedBytes), snap.count, bytes);
      } else {
        bytes = 0;
        for (const r of snap.records) bytes += r.length;
        s.replace(snap.records, bytes);
      }
      this.byLow.set(s.low, s);
      this.activeBytes += bytes;
    }
  }
}

/** A session table as SessionTable.capture() saw it. */
export class SessionCapture {
  /** Sessions rewritten since the capture: their chunks before the first rewrite. */
  private kept: Map<Session, SessionChunks> | null = null;

  constructor(
    /** The sessions in table order (their restore order, as snapshot() lists them). */
    readonly sessions: readonly Session[],
    private readonly framed: Float64Array,
    private readonly counts: Float64Array,
    private readonly onRelease: () => void,
  ) {}

  get length(): number {
    return this.sessions.length;
  }

  /** The k-th session's snapshot as it was at the capture. */
  at(k: number): ArenaSessionSnapshot {
    const s = this.sessions[k]!;
    return s.snapshotPrefix(this.framed[k]!, this.counts[k]!, this.kept?.get(s));
  }

  /** `s` is about to drop its chunks (a rewrite): the first time, keep them. */
  keep(s: Session): void {
    const kept = (this.kept ??= new Map());
    if (!kept.has(s)) kept.set(s, s.chunks());
  }

  /** Read: rewrites keep nothing more for it. */
  release(): void {
    this.onRelease();
    this.kept = null;
  }
}
