/**
 * Active sessions: each one a small actor holding its topic and records, handling Create, Append,
 * Rewrite and Destroy, and leaving the table when stored (its content then lives in a data file).
 *
 * Sessions are keyed by the low half of their ID (the log index of their SessionCreate, unique in
 * the log) with the high half (the term) checked on lookup: no string keys on the hot path. Record
 * buffers are immutable once in a session, but Append grows the array: hand out copies of it.
 */
import { assert } from '../../machines/assert.js';
import { commandId } from '../../machines/commands.js';
import { ResultCode, SessionsError, SessionsErrorCode } from './errors.js';
import type { StoreLimits } from './options.js';
import type { SessionSnapshot } from './types.js';

const utf8 = new TextEncoder();

export class Session {
  records: Uint8Array[] = [];
  /** Sum of the records' lengths. */
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
    if (s.records.length >= this.limits.sessionRecordsMax) return ResultCode.sessionTooManyRecords;
    if (s.bytes + len > this.limits.sessionBytesMax) return ResultCode.sessionTooLarge;
    if (this.activeBytes + len > this.limits.activeBytesMax) return ResultCode.storeFull;
    s.records.push(data.slice(start, end));
    s.bytes += len;
    this.activeBytes += len;
    return ResultCode.ok;
  }

  rewrite(s: Session, data: Uint8Array, start: number, end: number): SessionOutcome {
    const len = end - start;
    if (len > this.limits.sessionBytesMax) return ResultCode.sessionTooLarge;
    if (this.activeBytes - s.bytes + len > this.limits.activeBytesMax) return ResultCode.storeFull;
    this.activeBytes += len - s.bytes;
    s.records = [data.slice(start, end)];
    s.bytes = len;
    return ResultCode.ok;
  }

  remove(s: Session): void {
    const had = this.byLow.delete(s.low);
    assert(had, `removing session ${s.high}.${s.low} that is not active`);
    this.activeBytes -= s.bytes;
  }

  /** A session coming back from a data file (SessionRestore) or a snapshot. */
  insert(high: number, low: number, topic: string, records: Uint8Array[], recordBytes: number): SessionOutcome {
    if (this.byLow.size >= this.limits.activeSessionsMax) return ResultCode.tooManySessions;
    if (this.activeBytes + recordBytes > this.limits.activeBytesMax) return ResultCode.storeFull;
    assert(!this.byLow.has(low), `session ${high}.${low} restored while active`);
    const s = new Session(high, low, topic, utf8.encode(topic));
    s.records = records;
    s.bytes = recordBytes;
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
    for (const s of this.byLow.values()) out.push({ high: s.high, low: s.low, topic: s.topic, records: s.records });
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
      s.records = snap.records.slice();
      s.bytes = bytes;
      this.byLow.set(s.low, s);
      this.activeBytes += bytes;
    }
  }
}
