/**
 * Exactly-once for clients (Raft dissertation 6.3). ClientRegister allocates a client whose ID is
 * the register entry's ID and whose secret is the 16 bytes the leader drew into that entry. A
 * command in an envelope (client, secret, seq, ackedBelowSeq) is applied at most once: the table keeps the result of every applied seq at or above the client's ackedBelowSeq and
 * answers a retry from it. The client says which results it holds (ackedBelowSeq), so the table
 * forgets those; a client with too many unacknowledged results gets SESSIONS_ERR_CLIENT_WINDOW.
 *
 * Bounded and deterministic: at most clientsMax clients and clientTableBytesMax accounted bytes
 * (issue 18: a fixed cost per client and per result, plus each result's value; a function of the
 * table's contents alone, so a replica restored from a snapshot decides the same), the least
 * recently active (by log index, never by clock) evicted first; optionally, clients idle for more than
 * clientIdleEntriesMax entries are forgotten. A forgotten client's commands get
 * SESSIONS_ERR_CLIENT_UNKNOWN (its outcome is unknown; it must register again).
 *
 * IDs are guessable (term << 64 | index), so an ID alone proves nothing: an envelope whose secret is
 * not the client's own (compared in constant time) is SESSIONS_ERR_CLIENT_AUTH and changes nothing
 * at all (not the seq table, not ackedBelowSeq, not the LRU order), and never sees a remembered
 * result. The check comes first, on every replica, from the table alone (deterministic).
 */
import { assert } from '../../machines/assert.js';
import { ID_BYTES, SECRET_BYTES, commandId, secretEquals } from '../../transport/commands/codec.js';
import { ResultCode, SessionsError, SessionsErrorCode } from './errors.js';
import { CLIENT_ACCOUNTED_BYTES, RESULT_ACCOUNTED_BYTES, type StoreLimits } from './options.js';
import type { ClientSnapshot, CommandResult } from './types.js';

class Client {
  /** Results by seq, for seq >= ackedBelowSeq. */
  readonly results = new Map<number, CommandResult>();
  /**
   * The seqs of `results`, ascending, from `seqsHead` on: dropping the acknowledged ones walks
   * only those (copying every key on each advance was the largest cost of applying an enveloped
   * append at 128 in flight).
   */
  private seqs: number[] = [];
  private seqsHead = 0;
  ackedBelowSeq = 0;
  /** Accounted bytes of the remembered results (RESULT_ACCOUNTED_BYTES + value bytes each). */
  resultBytes = 0;
  /** The LRU list (least recently active first). */
  prev: Client | null = null;
  next: Client | null = null;

  constructor(
    readonly high: number,
    readonly low: number,
    /** SECRET_BYTES, owned by the table (a copy, never a view of an entry). */
    readonly secret: Uint8Array,
    public lastIndex: number,
    /** The user who registered the client (issue 17; '' without authentication): only it may use the ID. */
    readonly owner: string,
  ) {}

  /** Remembers the result of `seq` (not remembered yet). */
  remember(seq: number, result: CommandResult): void {
    this.results.set(seq, result);
    this.resultBytes += resultBytesOf(result);
    const seqs = this.seqs;
    const n = seqs.length;
    if (n === this.seqsHead || seqs[n - 1]! < seq) {
      seqs.push(seq); // the common case: seqs arrive in order
      return;
    }
    let lo = this.seqsHead;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (seqs[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    seqs.splice(lo, 0, seq);
  }

  /** Forgets every result below `seq`. */
  forgetBelow(seq: number): void {
    const seqs = this.seqs;
    let h = this.seqsHead;
    while (h < seqs.length && seqs[h]! < seq) {
      const k = seqs[h++]!;
      this.resultBytes -= resultBytesOf(this.results.get(k)!);
      this.results.delete(k);
    }
    if (h === seqs.length) {
      this.seqs = [];
      h = 0;
    } else if (h > 64 && h * 2 > seqs.length) {
      this.seqs = seqs.slice(h);
      h = 0;
    }
    this.seqsHead = h;
  }
}

function resultBytesOf(r: CommandResult): number {
  return RESULT_ACCOUNTED_BYTES + (r.value?.byteLength ?? 0);
}

const clientUnknown: CommandResult = Object.freeze({ ok: false, code: ResultCode.clientUnknown, value: null });
const seqStale: CommandResult = Object.freeze({ ok: false, code: ResultCode.seqStale, value: null });
const clientWindow: CommandResult = Object.freeze({ ok: false, code: ResultCode.clientWindow, value: null });
const clientAuth: CommandResult = Object.freeze({ ok: false, code: ResultCode.clientAuth, value: null });

/** What to do with an enveloped command: apply it (and record its result), or answer with this. */
type EnvelopeVerdict = { readonly apply: true; readonly client: Client } | { readonly apply: false; readonly result: CommandResult };

export class ClientTable {
  /**
   * Lookup by ID; recency is an intrusive doubly linked list, not Map re-insertion: V8's Map is
   * O(size) per delete-and-set of the same key (measured: 20 us per command with 5,000 clients).
   */
  private readonly byLow = new Map<number, Client>();
  private head: Client | null = null;
  private tail: Client | null = null;
  /** Counters: evictions by reason (`bytes`: at clientTableBytesMax; `user`: at clientsPerUserMax, the registering user's own). */
  readonly evicted = { lru: 0, idle: 0, bytes: 0, user: 0 };
  /** Clients per owner (owner '' not counted): clientsPerUserMax. */
  private readonly owned = new Map<string, number>();
  /** Accounted bytes of every client and remembered result (clientTableBytesMax bounds it). */
  private accounted = 0;

  constructor(private readonly limits: StoreLimits) {}

  get size(): number {
    return this.byLow.size;
  }

  /** Accounted bytes (issue 18: `sessionraft_memory_bytes{part="clients"}`). */
  get bytes(): number {
    return this.accounted;
  }

  private unlink(c: Client): void {
    if (c.prev === null) this.head = c.next;
    else c.prev.next = c.next;
    if (c.next === null) this.tail = c.prev;
    else c.next.prev = c.prev;
    c.prev = c.next = null;
  }

  private linkLast(c: Client): void {
    c.prev = this.tail;
    c.next = null;
    if (this.tail === null) this.head = c;
    else this.tail.next = c;
    this.tail = c;
  }

  private evict(c: Client): void {
    this.unlink(c);
    this.byLow.delete(c.low);
    this.accounted -= CLIENT_ACCOUNTED_BYTES + c.resultBytes;
    this.own(c.owner, -1);
  }

  private own(owner: string, delta: number): void {
    if (owner === '') return;
    const n = (this.owned.get(owner) ?? 0) + delta;
    if (n > 0) this.owned.set(owner, n);
    else this.owned.delete(owner);
  }

  /** Clients `owner` holds in the table. */
  ownedBy(owner: string): number {
    return this.owned.get(owner) ?? 0;
  }

  /**
   * `owner` holds clientsPerUserMax clients: evict its least recently active one. A walk from the
   * least recently active end, at most the table's size, and only for a user at its bound.
   */
  private evictOwn(owner: string): void {
    for (let c = this.head; c !== null; c = c.next) {
      if (c.owner !== owner) continue;
      this.evict(c);
      this.evicted.user++;
      return;
    }
    assert(false, `user ${owner} holds ${this.ownedBy(owner)} clients, none in the table`);
  }

  /** Evicts the least recently active clients, never `keep`, while the table is over its bytes. */
  private evictOverBytes(keep: Client | null): void {
    while (this.accounted > this.limits.clientTableBytesMax && this.head !== null && this.head !== keep) {
      this.evict(this.head);
      this.evicted.bytes++;
    }
  }

  /**
   * A new client with the secret at `data[secretAt, secretAt + SECRET_BYTES)` (the ClientRegister
   * entry's). Its result's value is the credential: ID (16 bytes) then secret (16 bytes).
   */
  register(high: number, low: number, index: number, data: Uint8Array, secretAt: number, owner = '', perUser = false): CommandResult {
    // With the flag (apply decides alike on every replica): a user at its bound replaces its own.
    if (perUser && owner !== '') while (this.ownedBy(owner) >= this.limits.clientsPerUserMax) this.evictOwn(owner);
    while (this.byLow.size >= this.limits.clientsMax) {
      this.evict(this.head!);
      this.evicted.lru++;
    }
    assert(!this.byLow.has(low), `client ${high}.${low} registered twice`);
    const secret = data.slice(secretAt, secretAt + SECRET_BYTES);
    assert(secret.length === SECRET_BYTES, `client ${high}.${low} registered without a secret`);
    const c = new Client(high, low, secret, index, owner);
    this.byLow.set(low, c);
    this.linkLast(c);
    this.own(owner, 1);
    this.accounted += CLIENT_ACCOUNTED_BYTES;
    this.evictOverBytes(c);
    const credential = new Uint8Array(ID_BYTES + SECRET_BYTES);
    credential.set(commandId(high, low), 0);
    credential.set(secret, ID_BYTES);
    return { ok: true, code: ResultCode.ok, value: credential };
  }

  /** Forget clients idle for more than clientIdleEntriesMax entries as of `index`. */
  expire(index: number): void {
    const idle = this.limits.clientIdleEntriesMax;
    if (idle === 0) return;
    while (this.head !== null && this.head.lastIndex + idle < index) {
      this.evict(this.head);
      this.evicted.idle++;
    }
  }

  /**
   * Decide an enveloped command at log index `index`; its secret is `data[secretAt, +SECRET_BYTES)`.
   * An unknown client or a wrong secret is decided before anything about the client changes.
   */
  check(high: number, low: number, data: Uint8Array, secretAt: number, seq: number, ackedBelowSeq: number, index: number): EnvelopeVerdict {
    const c = this.byLow.get(low);
    if (c === undefined || c.high !== high) return { apply: false, result: clientUnknown };
    if (!secretEquals(c.secret, data, secretAt)) return { apply: false, result: clientAuth };
    // Most recently active now.
    if (this.tail !== c) {
      this.unlink(c);
      this.linkLast(c);
    }
    c.lastIndex = index;
    if (ackedBelowSeq > c.ackedBelowSeq) {
      c.ackedBelowSeq = ackedBelowSeq;
      const before = c.resultBytes;
      c.forgetBelow(ackedBelowSeq);
      this.accounted -= before - c.resultBytes;
    }
    if (seq < c.ackedBelowSeq) return { apply: false, result: seqStale };
    const prev = c.results.get(seq);
    if (prev !== undefined) return { apply: false, result: { ...prev, duplicate: true } };
    if (c.results.size >= this.limits.clientResultsMax) return { apply: false, result: clientWindow };
    return { apply: true, client: c };
  }

  record(c: Client, seq: number, result: CommandResult): void {
    const before = c.resultBytes;
    c.remember(seq, result.duplicate === true ? { ok: result.ok, code: result.code, value: result.value } : result);
    this.accounted += c.resultBytes - before;
    this.evictOverBytes(c);
  }

  /**
   * The result remembered for (client, seq), for the leader's gateway: a result, 'stale'
   * (acknowledged and forgotten), 'unknown' client, 'auth' (the secret is not the client's: nothing
   * about the client is told), or undefined (not applied). Changes nothing.
   */
  lookup(high: number, low: number, secret: Uint8Array, seq: number, user?: string): CommandResult | 'stale' | 'unknown' | 'auth' | 'owner' | undefined {
    const c = this.byLow.get(low);
    if (c === undefined || c.high !== high) return 'unknown';
    if (!secretEquals(c.secret, secret, 0)) return 'auth';
    // Issue 17: a client ID belongs to the user who registered it; another user's envelope is refused
    // before anything about the client is told (the secret alone would let a leaked credential be reused).
    if (user !== undefined && user !== c.owner) return 'owner';
    if (seq < c.ackedBelowSeq) return 'stale';
    return c.results.get(seq);
  }

  clear(): void {
    this.byLow.clear();
    this.owned.clear();
    this.head = this.tail = null;
    this.accounted = 0;
  }

  /** Least recently active first. */
  snapshot(): ClientSnapshot[] {
    const out: ClientSnapshot[] = [];
    for (let c = this.head; c !== null; c = c.next) {
      const results: { seq: number; result: CommandResult }[] = [];
      for (const [seq, result] of c.results) results.push({ seq, result });
      out.push({ high: c.high, low: c.low, secret: c.secret, owner: c.owner, lastIndex: c.lastIndex, ackedBelowSeq: c.ackedBelowSeq, results });
    }
    return out;
  }

  /** Why a manifest's client list cannot be loaded (what `load` refuses), or null. Changes nothing. */
  static refusal(clients: readonly ClientSnapshot[]): SessionsError | null {
    const lows = new Set<number>();
    for (const snap of clients) {
      if (snap.secret.length !== SECRET_BYTES)
        return new SessionsError(SessionsErrorCode.snapshotCorrupt, `client ${snap.high}.${snap.low} has a secret of ${snap.secret.length} bytes`);
      const seqs = new Set<number>();
      for (const r of snap.results) {
        if (seqs.has(r.seq)) return new SessionsError(SessionsErrorCode.snapshotCorrupt, `client ${snap.high}.${snap.low} lists seq ${r.seq} twice`);
        seqs.add(r.seq);
      }
      if (lows.has(snap.low)) return new SessionsError(SessionsErrorCode.snapshotCorrupt, `client ${snap.high}.${snap.low} listed twice`);
      lows.add(snap.low);
    }
    return null;
  }

  load(clients: readonly ClientSnapshot[]): void {
    const refused = ClientTable.refusal(clients);
    if (refused !== null) throw refused;
    this.clear();
    for (const snap of clients) {
      if (snap.secret.length !== SECRET_BYTES)
        throw new SessionsError(SessionsErrorCode.snapshotCorrupt, `client ${snap.high}.${snap.low} has a secret of ${snap.secret.length} bytes`);
      const c = new Client(snap.high, snap.low, snap.secret.slice(), snap.lastIndex, snap.owner ?? '');
      c.ackedBelowSeq = snap.ackedBelowSeq;
      for (const r of snap.results) {
        // A seq listed twice would be counted twice and break forgetBelow later: refused here, at the edge.
        if (c.results.has(r.seq)) throw new SessionsError(SessionsErrorCode.snapshotCorrupt, `client ${snap.high}.${snap.low} lists seq ${r.seq} twice`);
        c.remember(r.seq, r.result);
      }
      if (this.byLow.has(c.low)) throw new SessionsError(SessionsErrorCode.snapshotCorrupt, `client ${c.high}.${c.low} listed twice`);
      this.byLow.set(c.low, c);
      this.linkLast(c);
      this.own(c.owner, 1);
      this.accounted += CLIENT_ACCOUNTED_BYTES + c.resultBytes;
    }
    // Not evicted here even when over the bound (a snapshot written before the bound existed, or
    // with another clientTableBytesMax, which the fingerprint refuses): evicting on load would be a
    // decision no entry carried. The next record evicts, as on every replica at that entry.
    // docs/sessions.md, "Known limits": upgrading across the bound.
  }
}
