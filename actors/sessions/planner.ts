/**
 * The leader's planner: every command the leader proposes goes through it, so that what it computes
 * once for a SessionStore (due time, file, offset, length) is exactly what every replica will find
 * when it applies the entry. Pure logic: the clock and `propose` are injected.
 *
 * Its projection is the store's applied state plus the commands in flight: entries in the leader's
 * log that are not applied yet (given to `reset` on becoming leader, then reported by `appended`)
 * and commands it proposed that are not appended yet. It never needs to simulate the state machine:
 *
 * - a SessionStore is planned only when no command in flight touches its session (else the request
 *   waits, and is retried as entries are appended and applied), so the session's size is the
 *   applied one;
 * - the class's tail (newest file, next offset) and due floor are the applied ones advanced by the
 *   SessionStores and DataCreates in flight, which carry their own file, offset and length: a
 *   SessionStore always fills its planned bytes, with a void record when it is not applied;
 * - rotation: when a record would not fit in the newest file (dataFileBytesMax), it proposes
 *   DataCreate and plans the store once the DataCreate is appended (its ID names the file).
 *
 * The host must: call `reset(store, unappliedEntries)` when this node becomes leader, `appended`
 * with every entry the leader appends, `refused()` when a proposal batch was refused (its commands
 * will never be appended), and `stepDown()` when it stops being leader. Proposal order must be
 * kept (the node batches proposals in order).
 */
import { assert } from '../../machines/assert.js';
import {
  CommandKind,
  CommandView,
  FEATURES,
  ID_BYTES,
  REPLAY_CLASSES_MAX,
  STORED_RECORD_HEADER_BYTES,
  commandId,
  encodeCommand,
  parseCommand,
  UNBOUND_SESSION_HIGH,
  UNBOUND_SESSION_LOW,
  writeSessionOf,
  readU64BE,
  type Command,
  type Envelope,
} from '../../transport/commands/codec.js';
import { EntryKind, type Entry } from '../../machines/types.js';
import type { DataFile } from './dataFiles.js';
import { ResultCode, SessionsError, SessionsErrorCode } from './errors.js';
import { codecLimitsOf, storedRecordBytesMax } from './options.js';
import type { CodecLimits } from '../../transport/commands/codec.js';
import { storedRecordLength, type RecordHeader } from './record.js';
import type { SessionsStore } from './store.js';
import type { CommandResult } from './types.js';

export interface Proposed {
  readonly data: Uint8Array;
  /** What the host passed with the request (to answer its client), or null for the planner's own. */
  readonly context: unknown;
  /**
   * Bound to a create proposed before it (a schedule's append and store): the host must keep it in
   * the same Raft batch as the proposal before it (RaftNode.propose's `withPrevious`).
   */
  readonly tied: boolean;
}

export type PlanOutcome =
  | { readonly status: 'proposed' }
  | { readonly status: 'deferred' }
  | { readonly status: 'duplicate'; readonly result: CommandResult }
  | { readonly status: 'rejected'; readonly error: SessionsError };

interface PlannerOptions {
  readonly store: SessionsStore;
  /** The delay of each replay class in ms; the class is the index (at most 16 classes). */
  readonly replayDelaysMs: readonly number[];
  /** A new data file is started when a record would make the newest one larger than this. */
  readonly dataFileBytesMax?: number;
  /** Milliseconds since the epoch (the leader's clock; replicas never read one). */
  readonly clock: () => number;
  /** Hand commands to Raft, in this order. */
  readonly propose: (batch: readonly Proposed[]) => void;
  /** How a deferred storeSession request ended, when it did not end in a proposal. */
  readonly onOutcome?: (context: unknown, outcome: PlanOutcome) => void;
  /** storeSession requests waiting at most. */
  readonly deferredMax?: number;
  /**
   * With the `due-floor-per-file` flag: a store starts a new data file when the leader's clock plus
   * the class delay is more than this behind the newest file's due floor (default
   * DUE_FLOOR_NEW_FILE_MS), rather than take that floor as its due time.
   */
  readonly dueFloorNewFileMs?: number;
}

/**
 * How far behind a data file's due floor a store's due time (leader clock + delay) may fall before
 * it goes to a new file of its own (with the `due-floor-per-file` flag): a store within this takes
 * the floor as its due time (late by at most this much); one further behind would otherwise wait
 * for the clock to reach the floor, however far ahead one reading put it. Leaders' clocks differ by
 * milliseconds under NTP; a step back of more than this is rare, and costs one DataCreate.
 */
const DUE_FLOOR_NEW_FILE_MS = 100;

/** One command in flight: proposed (state 'planned') or appended to the leader's log, not applied yet. */
class PlanItem {
  state: 'planned' | 'appended' | 'applied' | 'dropped' = 'planned';
  index = 0;
  term = 0;
  sessionHigh = -1;
  sessionLow = -1;
  replayClass = -1;
  fileHigh = 0;
  fileLow = 0;
  offset = 0;
  length = 0;
  dueMs = 0;
  /** SessionRestore of a known, non-void record: the record bytes it makes active. */
  activatesBytes = 0;
  /** The envelope's client (low half of its ID; -1 without an envelope) and seq. */
  envClientLow = -1;
  envSeq = 0;
  /** Called once the leader appended it (its index and term are set), after the batch is matched. */
  onAppended: ((it: PlanItem) => void) | null = null;
  /**
   * A schedule's append or store proposed in the same batch as its session's create, before the
   * create's ID is known: its session field holds the unbound ID until `bind` writes the create's.
   */
  bindTo: PlanItem | null = null;
  /** Where `bind` saw it land (the batch's first index plus its place in the batch); 0 before. */
  proposedIndex = 0;
  constructor(
    readonly kind: number,
    readonly data: Uint8Array,
  ) {}

  get live(): boolean {
    return this.state === 'planned' || this.state === 'appended';
  }
}

/** Commands in flight on one data file (the scheduler's projection). */
interface FileInFlight {
  restores: number;
  restoreBytes: number;
  /**
   * Where the file's cursor will be once the restores in flight applied, as planned (0: not known,
   * none planned here). Each one that applies moves the cursor and leaves the flight by its length,
   * so `readCursor + restoreBytes` stays here; one refused at apply (a full active table) leaves the
   * flight without moving the cursor, and the restores behind it were planned for positions the
   * cursor will not reach: the scheduler plans no restore on the file until they drain.
   */
  restoreEnd: number;
  /** SessionCommits in flight, and the bytes they consume (one commit may consume several records). */
  commits: number;
  commitBytes: number;
  deletes: number;
}

interface StoreRequest {
  readonly high: number;
  readonly low: number;
  readonly session: Uint8Array;
  readonly replayClass: number;
  readonly envelope: Envelope | null;
  readonly context: unknown;
}

const noneInFlight: Readonly<FileInFlight> = Object.freeze({ restores: 0, restoreBytes: 0, restoreEnd: 0, commits: 0, commitBytes: 0, deletes: 0 });

/** Below this length a loop beats the native call's fixed cost. */
const SAME_BYTES_LOOP_MAX = 64;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  // A 4 KiB entry compared byte by byte in JS took 12 µs on the leader (8% of its CPU at 128 in flight).
  if (a.length > SAME_BYTES_LOOP_MAX) return Buffer.compare(a, b) === 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Envelopes of the commands in flight: per client (by the low half of its ID, the index of its
 * ClientRegister entry, unique in the log; an envelope without the client's secret is refused
 * before it gets here, and one of a client not applied yet only makes its own command wait), the
 * seqs and how many commands carry each. Numeric keys: a string key per command was
 * built, hashed and dropped on every enveloped command.
 */
class EnvelopesInFlight {
  private readonly byClient = new Map<number, Map<number, number>>();

  has(clientLow: number, seq: number): boolean {
    return (this.byClient.get(clientLow)?.get(seq) ?? 0) > 0;
  }

  inc(clientLow: number, seq: number): void {
    let seqs = this.byClient.get(clientLow);
    if (seqs === undefined) this.byClient.set(clientLow, (seqs = new Map()));
    seqs.set(seq, (seqs.get(seq) ?? 0) + 1);
  }

  dec(clientLow: number, seq: number): void {
    const seqs = this.byClient.get(clientLow);
    if (seqs === undefined) return;
    const n = (seqs.get(seq) ?? 0) - 1;
    if (n > 0) seqs.set(seq, n);
    else {
      seqs.delete(seq);
      if (seqs.size === 0) this.byClient.delete(clientLow);
    }
  }

  clear(): void {
    this.byClient.clear();
  }
}

export class Planner {
  private store: SessionsStore;
  private readonly delays: readonly number[];
  private readonly fileBytesMax: number;
  private readonly deferredMax: number;
  private leader = false;
  private readonly planned: PlanItem[] = [];
  /** Appended, not yet applied, from `appendedHead` on; slots before it are cleared (null). */
  private appendedItems: (PlanItem | null)[] = [];
  private appendedHead = 0;
  private lastKnownIndex = 0;
  private readonly touch = new Counts();
  private readonly envelopes = new EnvelopesInFlight();
  private readonly files = new Map<number, FileInFlight>();
  /** Restores in flight whose session is not known (from a previous leader's entries). */
  private anonymousRestores = 0;
  /** Planned commands waiting for `bind` (bindTo set): none on most batches, which `bind` then skips. */
  private unbound = 0;
  /** Restores in flight of known, non-void records: sessions and record bytes they will activate. */
  private readonly activating = { sessions: 0, bytes: 0 };
  private readonly classTail: (PlanItem | null)[] = new Array<PlanItem | null>(REPLAY_CLASSES_MAX).fill(null);
  /** Per class, while its tail is in flight (classTail): the due floor its replicas will have once it applied. */
  private readonly tailDueFloor: number[] = new Array<number>(REPLAY_CLASSES_MAX).fill(0);
  private readonly dueFloorNewFileMs: number;
  private deferred: StoreRequest[] = [];
  private pumping = false;
  private readonly view = new CommandView();
  /** `useEncoding`: the encoding of the next command submitted, if it is this object. */
  private encodedCmd: Command | null = null;
  private encodedData: Uint8Array | null = null;
  private codec: CodecLimits;
  private unlisten: () => void;
  /**
   * `storesAhead`: stores planned behind their session's own append, before it applied (storeAfterAppend
   * and storeAfterCreate); `bound`: appends and stores given their create's ID by `bind`.
   */
  /** `dueFloorFiles`: the DataCreates among `dataCreates` proposed because the clock read far behind the newest file's due floor. */
  readonly counters = { proposed: 0, deferred: 0, dataCreates: 0, dueFloorFiles: 0, stores: 0, storesAhead: 0, refusals: 0, bound: 0 };

  constructor(private readonly opts: PlannerOptions) {
    this.store = opts.store;
    this.codec = codecLimitsOf(this.store.limits);
    this.delays = opts.replayDelaysMs;
    if (this.delays.length < 1 || this.delays.length > REPLAY_CLASSES_MAX) {
      throw new SessionsError(SessionsErrorCode.options, `between 1 and ${REPLAY_CLASSES_MAX} replay classes, got ${this.delays.length}`);
    }
    for (const d of this.delays) if (!Number.isSafeInteger(d) || d < 0) throw new SessionsError(SessionsErrorCode.options, `replay delay ${d} ms`);
    this.fileBytesMax = opts.dataFileBytesMax ?? 64 * 1024 * 1024;
    if (this.fileBytesMax < storedRecordBytesMax(this.store.limits)) {
      throw new SessionsError(
        SessionsErrorCode.options,
        `dataFileBytesMax ${this.fileBytesMax} is smaller than the largest stored session (${storedRecordBytesMax(this.store.limits)})`,
      );
    }
    this.deferredMax = opts.deferredMax ?? 10_000;
    this.dueFloorNewFileMs = opts.dueFloorNewFileMs ?? DUE_FLOOR_NEW_FILE_MS;
    this.unlisten = this.store.onApplied(() => this.onApplied());
  }

  get isLeader(): boolean {
    return this.leader;
  }

  /** Commands in flight (planned or appended, not applied). */
  get inFlight(): number {
    return this.planned.length + this.appendedItems.length - this.appendedHead;
  }

  get deferredCount(): number {
    return this.deferred.length;
  }

  // ---- leadership ---------------------------------------------------------------------------

  /** This node became leader: the projection is `store` plus the leader's unapplied entries. */
  reset(store: SessionsStore, unappliedEntries: readonly Entry[]): void {
    if (store !== this.store) {
      this.unlisten();
      this.store = store;
      this.codec = codecLimitsOf(store.limits);
      this.unlisten = store.onApplied(() => this.onApplied());
    }
    this.clear('leadership changed');
    this.leader = true;
    this.lastKnownIndex = store.appliedIndex;
    this.appended(unappliedEntries);
  }

  /** This node is no longer leader: forget everything in flight and drop waiting requests. */
  stepDown(): void {
    this.clear('not leader');
    this.leader = false;
  }

  dispose(): void {
    this.stepDown();
    this.unlisten();
  }

  private clear(why: string): void {
    for (const it of this.planned) it.state = 'dropped';
    for (let k = this.appendedHead; k < this.appendedItems.length; k++) this.appendedItems[k]!.state = 'dropped';
    this.planned.length = 0;
    this.unbound = 0;
    this.appendedItems = [];
    this.appendedHead = 0;
    this.touch.clear();
    this.envelopes.clear();
    this.files.clear();
    this.anonymousRestores = 0;
    this.activating.sessions = 0;
    this.activating.bytes = 0;
    this.classTail.fill(null);
    const waiting = this.deferred;
    this.deferred = [];
    for (const r of waiting) this.opts.onOutcome?.(r.context, { status: 'rejected', error: new SessionsError(SessionsErrorCode.plannerReset, why) });
  }

  /** Entries the leader appended to its log, in order (duplicates of known indexes are ignored). */
  appended(entries: readonly Entry[]): void {
    // Hooks run after the whole batch is matched: one that proposes must not put a command at the
    // head of `planned` while later entries of this batch are still to be matched against it.
    let hooks: PlanItem[] | null = null;
    for (const e of entries) {
      if (e.index <= this.lastKnownIndex) continue;
      this.lastKnownIndex = e.index;
      if (e.kind !== EntryKind.command) continue;
      const head = this.planned[0];
      if (head !== undefined && sameBytes(head.data, e.data)) {
        // The message only on failure (machines/assert.ts): this runs for every command the leader appends.
        if (head.bindTo !== null) assert(false, `entry ${e.term}.${e.index} was appended before its session was bound to its create`);
        this.planned.shift();
        head.state = 'appended';
        head.index = e.index;
        head.term = e.term;
        if (head.kind === CommandKind.dataCreate) {
          head.fileHigh = e.term;
          head.fileLow = e.index;
        }
        this.appendedItems.push(head);
        if (head.onAppended !== null) (hooks ??= []).push(head);
        continue;
      }
      assert(
        this.planned.length === 0,
        `entry ${e.term}.${e.index} was appended while ${this.planned.length} planned commands wait: every command on the leader must go through its planner, in order`,
      );
      const it = this.itemOfEntry(e);
      if (it === null) continue;
      it.state = 'appended';
      it.index = e.index;
      it.term = e.term;
      this.track(it);
      this.appendedItems.push(it);
    }
    if (hooks !== null) {
      for (const it of hooks) {
        const hook = it.onAppended!;
        it.onAppended = null;
        hook(it);
      }
    }
    this.pump();
  }

  /** A proposal batch was refused: nothing planned and not yet appended will be. */
  refused(): void {
    if (this.planned.length === 0) return;
    this.counters.refusals++;
    const dropped = this.planned.splice(0);
    for (const it of dropped) {
      it.state = 'dropped';
      if (it.bindTo !== null) {
        it.bindTo = null;
        this.unbound--;
      }
      this.untrack(it);
    }
    this.recomputeTails();
    // No retry here: a refusal is back-pressure (or a lost leadership), and retrying at once would
    // spin. Waiting requests are retried when entries are appended or applied, or by `retry()`.
  }

  /** Retry waiting store requests (the host calls it once per tick). */
  retry(): void {
    this.pump();
  }

  private onApplied(): void {
    if (!this.leader) return;
    this.sync();
    this.pump();
  }

  /** Forget the commands the store has applied (the store's apply listener does this too). */
  sync(): void {
    const applied = this.store.appliedIndex;
    const items = this.appendedItems;
    while (this.appendedHead < items.length && items[this.appendedHead]!.index <= applied) {
      const it = items[this.appendedHead]!;
      // Cleared now, not at the next compaction (up to 1,024 later): an item holds its command's
      // bytes, which may be a slice of Node's shared buffer pool (zeroedBytes.ts), and its context.
      items[this.appendedHead++] = null;
      it.state = 'applied';
      this.untrack(it);
    }
    if (this.appendedHead > 1024 && this.appendedHead * 2 > items.length) {
      this.appendedItems = items.slice(this.appendedHead);
      this.appendedHead = 0;
    }
  }

  // ---- requests -----------------------------------------------------------------------------

  /**
   * The caller already encoded `cmd` (the client port validates every command with the store's own
   * codec): if `cmd` is the next command submitted, its encoding is reused instead of made again.
   * A one-command hint, matched by identity; anything else is encoded as usual.
   */
  useEncoding(cmd: Command, data: Uint8Array): void {
    this.encodedCmd = cmd;
    this.encodedData = data;
  }

  /**
   * Propose a client command (create, append, rewrite, destroy, register) or any command but
   * SessionStore (use storeSession). Returns the item, which tells when it left the flight.
   * Throws SESSIONS_ERR_NOT_LEADER when this node is not leader.
   */
  submit(cmd: Command, context: unknown = null, onAppended: ((it: PlanItem) => void) | null = null): PlanItem {
    assert(cmd.kind !== CommandKind.sessionStore, 'SessionStore is planned by storeSession');
    let data: Uint8Array;
    if (cmd === this.encodedCmd) data = this.encodedData!;
    else data = encodeCommand(cmd);
    this.encodedCmd = null;
    this.encodedData = null;
    const it = this.itemOfData(data);
    if (it === null) assert(false, `submitted command ${cmd.kind} does not decode`);
    it.onAppended = onAppended;
    return this.emit(it, context);
  }

  /**
   * Propose a SessionAppend of `bytes` on the session that `create` (planned, not yet stepped into
   * Raft) will create, in the same batch behind it: a schedule's three commands then commit in one
   * round instead of two. Its session field is written by `bind`.
   */
  submitAfterCreate(create: PlanItem, bytes: Uint8Array, envelope: Envelope | null, context: unknown = null): PlanItem {
    this.assertBindable(create);
    const it = this.itemOfData(encodeCommand({ kind: CommandKind.sessionAppend, session: unboundSession, bytes, envelope }));
    if (it === null) assert(false, `a bound append does not decode`);
    this.unbind(it, create);
    return this.emit(it, context);
  }

  /**
   * The host is about to step the last `count` planned commands into Raft as one batch, which the
   * leader appends at `firstIndex` in `term`, or refuses whole (Raft never splits a batch). Each
   * command bound to a create of the batch gets the create's ID now, before any copy of its bytes
   * is made. The host checks after the step that the batch landed there.
   */
  bind(firstIndex: number, term: number, count: number): void {
    // Nothing to bind (every batch under load): no pass over the batch's commands.
    if (this.unbound === 0) return;
    const planned = this.planned;
    // The batch ends with the newest planned commands. Aligned from the end, not asserted: a batch may
    // also hold proposals the planner no longer tracks, older than its own (queued before a refusal or
    // a leadership change reset it), and stale planned items may precede the batch's.
    const n = Math.min(count, planned.length);
    const from = planned.length - n;
    const at = firstIndex + (count - n);
    for (let k = from; k < planned.length; k++) {
      const it = planned[k]!;
      it.proposedIndex = at + (k - from);
      const c = it.bindTo;
      if (c === null) continue;
      assert(
        c.state === 'planned' && c.proposedIndex >= firstIndex && c.proposedIndex < it.proposedIndex,
        `a command bound to a create outside its batch (create at ${c.proposedIndex}, batch from ${firstIndex})`,
      );
      it.bindTo = null;
      this.unbound--;
      writeSessionOf(it.data, term, c.proposedIndex);
      it.sessionHigh = term;
      it.sessionLow = c.proposedIndex;
      this.touch.inc(it.sessionLow);
      this.counters.bound++;
    }
  }

  private assertBindable(create: PlanItem): void {
    assert(
      create.kind === CommandKind.sessionCreate && create.state === 'planned' && create.proposedIndex === 0,
      'a command is bound only to a create planned in the batch not yet proposed',
    );
  }

  /** Until `bind`, the item names no session: nothing waits on it, and it counts for none. */
  private unbind(it: PlanItem, create: PlanItem): void {
    it.sessionHigh = -1;
    it.sessionLow = -1;
    it.bindTo = create;
    this.unbound++;
  }

  /** A command of client `clientLow` (the low half of its ID) with a seq in [first, first + count) is in flight, or a store of one waits. */
  seqsInFlight(clientLow: number, first: number, count: number): boolean {
    for (let seq = first; seq < first + count; seq++) if (this.envelopes.has(clientLow, seq)) return true;
    // One pass over the waiting stores (usually none) for all the seqs.
    for (const r of this.deferred) {
      const e = r.envelope;
      if (e !== null && e.seq >= first && e.seq < first + count && readU64BE(e.client, 8) === clientLow) return true;
    }
    return false;
  }

  /** The scheduler's restore of the record `header` at the head of `f`. */
  planRestore(f: DataFile, header: RecordHeader, holdMs = 0): PlanItem {
    const at = f.readCursor + this.fileInFlight(f).restoreBytes;
    const it = this.submit(
      holdMs > 0
        ? { kind: CommandKind.sessionRestore, replayClass: f.replayClass, file: fileId(f), length: header.length, holdMs }
        : { kind: CommandKind.sessionRestore, replayClass: f.replayClass, file: fileId(f), length: header.length },
    );
    this.anonymousRestores--;
    this.fileEntry(f.low).restoreEnd = at + header.length;
    if (header.isVoid) {
      it.sessionLow = 0;
    } else {
      // Known now: a store of this session must wait for the restore.
      it.sessionHigh = header.sessionHigh;
      it.sessionLow = header.sessionLow;
      it.activatesBytes = header.length - STORED_RECORD_HEADER_BYTES - header.topicBytes - 4 * header.recordCount;
      this.touch.inc(it.sessionLow);
      this.activating.sessions++;
      this.activating.bytes += it.activatesBytes;
    }
    return it;
  }

  /**
   * Sessions (and their record bytes) that restores in flight will make active. Restores from a
   * previous leader's entries count as sessions of unknown size.
   */
  restoresActivating(): { readonly sessions: number; readonly bytes: number } {
    return { sessions: this.activating.sessions + this.anonymousRestores, bytes: this.activating.bytes };
  }

  /**
   * The class's due floor as its replicas will have it once what is in flight applied: the last due
   * time stored in the class, or with the `due-floor-per-file` flag in its newest file (a DataCreate
   * starts it at 0; SessionsStore.storeSession asserts it).
   */
  private dueFloor(replayClass: number): number {
    return this.classTail[replayClass] !== null ? this.tailDueFloor[replayClass]! : this.store.lastDueMs(replayClass);
  }

  /**
   * A store's due time: the leader's clock + the class delay, never before the class's due floor;
   * or -1 with the `due-floor-per-file` flag when clock + delay is more than `dueFloorNewFileMs`
   * behind that floor (a reading far ahead raised it: a skewed clock, a leader with a wrong one, a
   * step back): the store starts a new file then rather than wait for the clock to catch up. Each
   * file is read on its own (scheduler.ts), so the floor's order needs to hold only within a file.
   */
  private dueOrNewFile(replayClass: number): number {
    const due = Math.floor(this.opts.clock()) + this.delays[replayClass]!;
    const floor = this.dueFloor(replayClass);
    if (due >= floor) return due;
    return due + this.dueFloorNewFileMs < floor && this.store.featureOn(FEATURES.dueFloorPerFile) ? -1 : floor;
  }

  /** A client asks to store a session for replay in `replayClass`. */
  storeSession(session: Uint8Array, replayClass: number, opts: { envelope?: Envelope | null; context?: unknown } = {}): PlanOutcome {
    if (!this.leader) return { status: 'rejected', error: new SessionsError(SessionsErrorCode.notLeader, 'not leader') };
    if (!Number.isInteger(replayClass) || replayClass < 0 || replayClass >= this.delays.length) {
      return { status: 'rejected', error: new SessionsError(SessionsErrorCode.replayClass, `replay class ${replayClass} (0..${this.delays.length - 1})`) };
    }
    const high = session.length === ID_BYTES ? readU64BE(session, 0) : -1;
    const low = session.length === ID_BYTES ? readU64BE(session, 8) : -1;
    if (high < 0 || low <= 0) return { status: 'rejected', error: new SessionsError(SessionsErrorCode.sessionUnknown, 'not a session ID') };
    const req: StoreRequest = { high, low, session, replayClass, envelope: opts.envelope ?? null, context: opts.context ?? null };
    if (this.deferred.length > 0) return this.enqueue(req);
    const out = this.tryStore(req);
    return out === null ? this.enqueue(req) : out;
  }

  private enqueue(req: StoreRequest): PlanOutcome {
    if (this.deferred.length >= this.deferredMax) {
      return { status: 'rejected', error: new SessionsError(SessionsErrorCode.plannerBusy, `${this.deferred.length} store requests wait`) };
    }
    this.deferred.push(req);
    this.counters.deferred++;
    return { status: 'deferred' };
  }

  /**
   * A schedule's store, planned right behind its session's append while that append (and maybe
   * the create) is still in flight, so that all three commit in one round instead of two. The
   * projected record is the applied session (none yet: an empty one on `topicByteLength` bytes of
   * topic) plus that one append of `appendBytes`; it holds when the append is the only command in
   * flight on the session. If create or append is refused at apply, the session's record is not
   * the planned length and the store is refused on every replica (a void record, recordLength:
   * SessionsStore.storeSession), so a wrong projection costs a refusal, never the file's layout.
   *
   * Returns false, planning nothing, whenever anything is less simple (other commands on the session,
   * stores waiting, a file to create first, an envelope already seen): the caller then stores the
   * session once its create and append are applied, through storeSession.
   */
  storeAfterAppend(
    session: Uint8Array,
    replayClass: number,
    projected: { readonly topicByteLength: number; readonly appendBytes: number },
    opts: { envelope?: Envelope | null; context?: unknown } = {},
  ): boolean {
    if (session.length !== ID_BYTES) return false;
    const high = readU64BE(session, 0);
    const low = readU64BE(session, 8);
    if (high < 0 || low <= 0 || this.touch.count(low) !== 1) return false;
    return this.storeAhead(session, null, replayClass, projected, opts);
  }

  /**
   * storeAfterAppend for a session that `create` will create, with its append bound behind it
   * (submitAfterCreate): the store goes in the same batch, bound to the create's ID too. The
   * projection is exact: nothing else can be in the log between the three.
   */
  storeAfterCreate(
    create: PlanItem,
    replayClass: number,
    projected: { readonly topicByteLength: number; readonly appendBytes: number },
    opts: { envelope?: Envelope | null; context?: unknown } = {},
  ): boolean {
    this.assertBindable(create);
    return this.storeAhead(unboundSession, create, replayClass, projected, opts);
  }

  private storeAhead(
    session: Uint8Array,
    bindTo: PlanItem | null,
    replayClass: number,
    projected: { readonly topicByteLength: number; readonly appendBytes: number },
    opts: { envelope?: Envelope | null; context?: unknown },
  ): boolean {
    if (!this.leader || this.deferred.length > 0) return false;
    if (!Number.isInteger(replayClass) || replayClass < 0 || replayClass >= this.delays.length) return false;
    const env = opts.envelope ?? null;
    if (env !== null) {
      const cl = readU64BE(env.client, 8);
      if (this.envelopes.has(cl, env.seq)) return false;
      const seen = this.store.clientResult(readU64BE(env.client, 0), cl, env.secret, env.seq);
      if (seen === 'auth' || seen === 'stale' || typeof seen === 'object') return false;
    }
    const tail = this.tail(replayClass);
    if (tail === 'pending' || tail === null) return false;
    const dueMs = this.dueOrNewFile(replayClass);
    if (dueMs < 0) return false;
    const s = bindTo === null ? this.store.session(readU64BE(session, 0), readU64BE(session, 8)) : undefined;
    const records = (s?.recordCount ?? 0) + 1;
    const recordBytes = (s?.bytes ?? 0) + projected.appendBytes;
    // An append that cannot fit is refused at apply: nothing to project (found in review: the store
    // of a record past the limits does not even encode).
    const limits = this.store.limits;
    if (records > limits.sessionRecordsMax || recordBytes > limits.sessionBytesMax) return false;
    const length = storedRecordLength(s?.topicByteLength ?? projected.topicByteLength, records, recordBytes);
    if (length > storedRecordBytesMax(limits)) return false;
    if (tail.end > 0 && tail.end + length > this.fileBytesMax) return false;
    if (!this.emitStore(session, replayClass, dueMs, tail, length, env, opts.context ?? null, bindTo)) return false;
    this.counters.storesAhead++;
    return true;
  }

  /** Propose a SessionStore of `length` bytes at the class's tail; false when it does not decode (planned nothing). */
  private emitStore(
    session: Uint8Array,
    replayClass: number,
    dueMs: number,
    tail: { fileHigh: number; fileLow: number; end: number },
    length: number,
    envelope: Envelope | null,
    context: unknown,
    bindTo: PlanItem | null = null,
  ): boolean {
    const file = commandId(tail.fileHigh, tail.fileLow);
    const cmd: Command = { kind: CommandKind.sessionStore, session, replayClass, dueMs, file, offset: tail.end, length, envelope };
    const it = this.itemOfData(encodeCommand(cmd));
    if (it === null) return false;
    if (bindTo !== null) this.unbind(it, bindTo);
    this.emit(it, context);
    this.counters.stores++;
    return true;
  }

  /** Plan it now (proposed / duplicate / rejected), or null: it must wait. */
  private tryStore(req: StoreRequest): PlanOutcome | null {
    const env = req.envelope;
    if (env !== null) {
      const ch = readU64BE(env.client, 0);
      const cl = readU64BE(env.client, 8);
      const seen = this.store.clientResult(ch, cl, env.secret, env.seq);
      // A forged envelope (not the client's secret) learns nothing and waits for nothing.
      if (seen === 'auth')
        return { status: 'rejected', error: new SessionsError(SessionsErrorCode.clientAuth, "the envelope does not carry this client ID's secret") };
      if (seen === 'stale') return { status: 'duplicate', result: { ok: false, code: ResultCode.seqStale, value: null } };
      if (typeof seen === 'object') return { status: 'duplicate', result: { ...seen, duplicate: true } };
      if (this.envelopes.has(cl, env.seq)) return null;
    }
    if (this.touch.has(req.low)) return null;
    const s = this.store.session(req.high, req.low);
    if (s === undefined) {
      if (this.anonymousRestores > 0) return null;
      return { status: 'rejected', error: new SessionsError(SessionsErrorCode.sessionUnknown, 'no such active session') };
    }
    const length = storedRecordLength(s.topicByteLength, s.recordCount, s.bytes);
    const c = req.replayClass;
    const tail = this.tail(c);
    if (tail === 'pending') return null;
    const dueMs = tail === null ? -1 : this.dueOrNewFile(c);
    const farBehind = tail !== null && dueMs < 0;
    if (tail === null || (tail.end > 0 && tail.end + length > this.fileBytesMax) || farBehind) {
      const create = this.itemOfData(encodeCommand({ kind: CommandKind.dataCreate, replayClass: c }))!;
      this.emit(create, null);
      this.counters.dataCreates++;
      if (farBehind) this.counters.dueFloorFiles++;
      return null;
    }
    // Planned from applied state: the session's own record always encodes.
    if (!this.emitStore(req.session, c, dueMs, tail, length, env, req.context)) assert(false, `a store of session ${req.high}.${req.low} does not decode`);
    return { status: 'proposed' };
  }

  private pump(): void {
    if (this.pumping || this.deferred.length === 0 || !this.leader) return;
    this.pumping = true;
    try {
      const waiting = this.deferred;
      this.deferred = [];
      for (const req of waiting) {
        const out = this.tryStore(req);
        if (out === null) this.deferred.push(req);
        else if (out.status !== 'proposed') this.opts.onOutcome?.(req.context, out);
      }
    } finally {
      this.pumping = false;
    }
  }

  // ---- projection ---------------------------------------------------------------------------

  /** The newest file of the class and its projected end; 'pending' while its DataCreate is not appended. */
  private tail(c: number): { fileHigh: number; fileLow: number; end: number } | 'pending' | null {
    const it = this.classTail[c];
    if (it !== null && it !== undefined) {
      if (it.kind === CommandKind.dataCreate) return it.state === 'planned' ? 'pending' : { fileHigh: it.term, fileLow: it.index, end: 0 };
      return { fileHigh: it.fileHigh, fileLow: it.fileLow, end: it.offset + it.length };
    }
    const f = this.store.newestFile(c);
    return f === undefined ? null : { fileHigh: f.high, fileLow: f.low, end: f.size };
  }

  /** What is in flight on `f` (restores, commits, deletes). */
  fileInFlight(f: DataFile): Readonly<FileInFlight> {
    return this.files.get(f.low) ?? noneInFlight;
  }

  private fileEntry(low: number): FileInFlight {
    let e = this.files.get(low);
    if (e === undefined) {
      e = { restores: 0, restoreBytes: 0, restoreEnd: 0, commits: 0, commitBytes: 0, deletes: 0 };
      this.files.set(low, e);
    }
    return e;
  }

  private itemOfData(data: Uint8Array): PlanItem | null {
    const v = this.view;
    if (parseCommand(v, data, this.codec) !== null) return null;
    const it = new PlanItem(v.kind, data);
    switch (v.kind) {
      case CommandKind.sessionAppend:
      case CommandKind.sessionRewrite:
      case CommandKind.sessionDestroy:
        it.sessionHigh = v.sessionHigh;
        it.sessionLow = v.sessionLow;
        break;
      case CommandKind.groupAck:
        // Remove on ack destroys its session: a store of it waits, as for a SessionDestroy.
        if (v.sessionLow > 0) {
          it.sessionHigh = v.sessionHigh;
          it.sessionLow = v.sessionLow;
        }
        break;
      case CommandKind.sessionStore:
        it.sessionHigh = v.sessionHigh;
        it.sessionLow = v.sessionLow;
        it.replayClass = v.replayClass;
        it.fileHigh = v.fileHigh;
        it.fileLow = v.fileLow;
        it.offset = v.offset;
        it.length = v.length;
        it.dueMs = v.dueMs;
        break;
      case CommandKind.sessionRestore:
      case CommandKind.sessionCommit:
      case CommandKind.dataDelete:
        it.replayClass = v.replayClass;
        it.fileHigh = v.fileHigh;
        it.fileLow = v.fileLow;
        it.length = v.length;
        break;
      case CommandKind.dataCreate:
        it.replayClass = v.replayClass;
        break;
    }
    if (v.hasEnvelope) {
      it.envClientLow = v.clientLow;
      it.envSeq = v.seq;
    }
    return it;
  }

  private itemOfEntry(e: Entry): PlanItem | null {
    const it = this.itemOfData(e.data);
    if (it !== null && it.kind === CommandKind.dataCreate) {
      it.fileHigh = e.term;
      it.fileLow = e.index;
    }
    return it;
  }

  private emit(it: PlanItem, context: unknown): PlanItem {
    if (!this.leader) throw new SessionsError(SessionsErrorCode.notLeader, 'the planner proposes only while this node is leader');
    this.track(it);
    this.planned.push(it);
    this.counters.proposed++;
    this.opts.propose([{ data: it.data, context, tied: it.bindTo !== null }]);
    return it;
  }

  private track(it: PlanItem): void {
    if (it.sessionLow > 0) this.touch.inc(it.sessionLow);
    if (it.envClientLow >= 0) this.envelopes.inc(it.envClientLow, it.envSeq);
    switch (it.kind) {
      case CommandKind.sessionStore:
      case CommandKind.dataCreate:
        this.followTail(it);
        break;
      case CommandKind.sessionRestore: {
        const f = this.fileEntry(it.fileLow);
        f.restores++;
        f.restoreBytes += it.length;
        if (it.sessionLow < 0) this.anonymousRestores++;
        break;
      }
      case CommandKind.sessionCommit: {
        const f = this.fileEntry(it.fileLow);
        f.commits++;
        f.commitBytes += it.length;
        break;
      }
      case CommandKind.dataDelete:
        this.fileEntry(it.fileLow).deletes++;
        break;
    }
  }

  private untrack(it: PlanItem): void {
    if (it.sessionLow > 0) this.touch.dec(it.sessionLow);
    if (it.envClientLow >= 0) this.envelopes.dec(it.envClientLow, it.envSeq);
    if (this.classTail[it.replayClass] === it) this.classTail[it.replayClass] = null;
    switch (it.kind) {
      case CommandKind.sessionRestore: {
        const f = this.fileEntry(it.fileLow);
        f.restores--;
        f.restoreBytes -= it.length;
        if (it.sessionLow < 0) this.anonymousRestores--;
        else if (it.sessionLow > 0) {
          this.activating.sessions--;
          this.activating.bytes -= it.activatesBytes;
        }
        this.dropFileEntry(it.fileLow, f);
        break;
      }
      case CommandKind.sessionCommit: {
        const f = this.fileEntry(it.fileLow);
        f.commits--;
        f.commitBytes -= it.length;
        this.dropFileEntry(it.fileLow, f);
        break;
      }
      case CommandKind.dataDelete: {
        const f = this.fileEntry(it.fileLow);
        f.deletes--;
        this.dropFileEntry(it.fileLow, f);
        break;
      }
    }
  }

  private dropFileEntry(low: number, f: FileInFlight): void {
    if (f.restores === 0 && f.commits === 0 && f.deletes === 0) this.files.delete(low);
  }

  /**
   * A store or DataCreate in flight becomes its class's tail; the class's due floor follows what
   * its apply will do (SessionsStore: a store raises it to its due time; with the flag, a DataCreate
   * starts the new file's at 0). Without the flag the planner may keep a floor above the replicas'
   * (a flag turned on between a DataCreate's plan and its apply): later due times only wait longer.
   */
  private followTail(it: PlanItem): void {
    const c = it.replayClass;
    const floor = this.dueFloor(c);
    this.tailDueFloor[c] = it.kind === CommandKind.sessionStore ? Math.max(floor, it.dueMs) : this.store.featureOn(FEATURES.dueFloorPerFile) ? 0 : floor;
    this.classTail[c] = it;
  }

  /** After dropping planned items: each class's tail is its latest store or create still in flight, and its floor follows it. */
  private recomputeTails(): void {
    this.classTail.fill(null);
    for (let k = this.appendedHead; k < this.appendedItems.length; k++) {
      const it = this.appendedItems[k]!;
      if (it.kind === CommandKind.sessionStore || it.kind === CommandKind.dataCreate) this.followTail(it);
    }
  }
}

/**
 * Per-session counts of commands in flight. Zero counts stay in the map (swept when they are most
 * of it): deleting and re-adding the same key, which a busy session would do on every append, is
 * O(map size) in V8.
 */
class Counts {
  private readonly m = new Map<number, number>();
  private nonZero = 0;

  has(k: number): boolean {
    return (this.m.get(k) ?? 0) > 0;
  }

  count(k: number): number {
    return this.m.get(k) ?? 0;
  }

  inc(k: number): void {
    const n = this.m.get(k) ?? 0;
    if (n === 0) this.nonZero++;
    this.m.set(k, n + 1);
  }

  dec(k: number): void {
    const n = this.m.get(k) ?? 0;
    if (n <= 0) return;
    if (n === 1) this.nonZero--;
    this.m.set(k, n - 1);
    if (this.m.size > 4096 && this.nonZero * 4 < this.m.size) this.sweep();
  }

  private sweep(): void {
    // In place (a Map may delete what its own forEach visits): no array of pairs per sweep.
    this.m.forEach((n, k, m) => {
      if (n === 0) m.delete(k);
    });
  }

  clear(): void {
    this.m.clear();
    this.nonZero = 0;
  }
}

/** The session field of a command proposed before its create's ID is known (submitAfterCreate). */
const unboundSession: Uint8Array = commandId(UNBOUND_SESSION_HIGH, UNBOUND_SESSION_LOW);

function fileId(f: DataFile): Uint8Array {
  return commandId(f.high, f.low);
}
