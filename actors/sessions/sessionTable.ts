/**
 * Active sessions: each one a small actor holding its topic and records, handling Create, Append,
 * Rewrite and Destroy, and leaving the table when stored (its content then lives in a data file).
 *
 * Sessions are keyed by the low half of their ID (the log index of their SessionCreate, unique in
 * the log) with the high half (the term) checked on lookup: no string keys on the hot path.
 */
import { assert } from '../../machines/assert.js';
import { commandId } from '../../machines/commands.js';
import { ResultCode, SessionsError, SessionsErrorCode } from './errors.js';
import type { StoreLimits } from './options.js';
import type { SessionSnapshot } from './types.js';

const utf8 = new TextEncoder();

const EMPTY = new Uint8Array(0);

export class Session {
  /**
   * The records' bytes back to back in one arena that doubles when full: an append is a copy and
   * a push, not an allocation per record (a buffer per record made GC the main cost of apply).
   * Bytes below `bytes` are never written again (a rewrite or a growth moves to a new arena), so
   * views handed out stay valid.
   */
  private arena: Uint8Array = EMPTY;
  /** End offset of each record in the arena. */
  private ends: number[] = [];
  /** Sum of the records' lengths (the arena's used part). */
  bytes = 0;
  private idBytes: Uint8Array | null = null;

  constructor(
    readonly high: number,
    readonly low: number,
    readonly topic: string,
    readonly topicBytes: Uint8Array,
  ) {}

  get id(): Uint8Array {
    return (this.idBytes ??= commandId(this.high, this.low));
  }

  get recordCount(): number {
    return this.ends.length;
  }

  /** Views of the records (valid forever: their bytes never change). */
  records(): Uint8Array[] {
    const out = new Array<Uint8Array>(this.ends.length);
    let start = 0;
    for (let k = 0; k < this.ends.length; k++) {
      const end = this.ends[k]!;
      out[k] = this.arena.subarray(start, end);
      start = end;
    }
    return out;
  }

  /** Copy data[start, end) in as the last record. */
  push(data: Uint8Array, start: number, end: number): void {
    const len = end - start;
    const need = this.bytes + len;
    if (need > this.arena.length) {
      const grown = new Uint8Array(Math.max(need, this.arena.length * 2, 64));
      grown.set(this.arena.subarray(0, this.bytes));
      this.arena = grown;
    }
    this.arena.set(data.subarray(start, end), this.bytes);
    this.bytes = need;
    this.ends.push(need);
  }

  /** Replace every record with these (copied into a fresh arena of the exact size). */
  replace(records: readonly Uint8Array[], recordBytes: number): void {
    this.arena = recordBytes === 0 ? EMPTY : new Uint8Array(recordBytes);
    this.ends = [];
    let at = 0;
    for (const r of records) {
      this.arena.set(r, at);
      at += r.length;
      this.ends.push(at);
    }
    this.bytes = at;
  }
}

export type SessionOutcome = typeof ResultCode.ok | typeof ResultCode.sessionTooLarge | typeof ResultCode.sessionTooManyRecords | typeof ResultCode.tooManySessions | typeof ResultCode.storeFull;

export class SessionTable {
  /** Insertion order is creation / restore order, the same on every replica (snapshots keep it). */
  private readonly byLow = new Map<number, Session>();
  /** Sum of every active session's record bytes. */
  activeBytes = 0;

  constructor(private readonly limits: StoreLimits) {}

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

  create(high: number, low: number, topic: string, topicBytes: Uint8Array): Session | typeof ResultCode.tooManySessions {
    if (this.byLow.size >= this.limits.activeSessionsMax) return ResultCode.tooManySessions;
    assert(!this.byLow.has(low), `session ${high}.${low} created twice`);
    const s = new Session(high, low, topic, topicBytes);
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
    s.replace([data.subarray(start, end)], len);
    return ResultCode.ok;
  }

  remove(s: Session): void {
    const had = this.byLow.delete(s.low);
    assert(had, `removing session ${s.high}.${s.low} that is not active`);
    this.activeBytes -= s.bytes;
  }

  /** A session coming back from a data file (SessionRestore) or a snapshot. */
  insert(high: number, low: number, topic: string, records: readonly Uint8Array[], recordBytes: number): SessionOutcome {
    if (this.byLow.size >= this.limits.activeSessionsMax) return ResultCode.tooManySessions;
    if (this.activeBytes + recordBytes > this.limits.activeBytesMax) return ResultCode.storeFull;
    assert(!this.byLow.has(low), `session ${high}.${low} restored while active`);
    const s = new Session(high, low, topic, utf8.encode(topic));
    s.replace(records, recordBytes);
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
    for (const s of this.byLow.values()) out.push({ high: s.high, low: s.low, topic: s.topic, records: s.records() });
    return out;
  }

  /** Replace the table with a snapshot's; limits are not re-checked (the snapshot was within them). */
  load(sessions: readonly SessionSnapshot[]): void {
    this.clear();
    for (const snap of sessions) {
      let bytes = 0;
      for (const r of snap.records) bytes += r.length;
      if (this.byLow.has(snap.low)) throw new SessionsError(SessionsErrorCode.snapshotCorrupt, `session ${snap.high}.${snap.low} listed twice`);
      const s = new Session(snap.high, snap.low, snap.topic, utf8.encode(snap.topic));
      s.replace(snap.records, bytes);
      this.byLow.set(s.low, s);
      this.activeBytes += bytes;
    }
  }
}
