/**
 * The session store: the replicated state machine behind Raft (implements `StateMachine`). It routes
 * each committed entry to the session actors (sessionTable.ts), the data-file actors
 * (dataFiles.ts) and the client table (clientTable.ts); snapshots are manifests (manifest.ts) whose
 * data files move between nodes by range sync; restored sessions go to subscribers.
 *
 * Apply is synchronous and deterministic: results depend only on the entries (never on a clock or
 * on this node's history of crashes and snapshots), and every byte written to a data file is
 * written at an offset the entry fixes. Invalid commands give an error result (the same on every
 * replica); only a broken internal invariant throws (InvariantError), and a damaged data file or
 * snapshot throws SessionsError (this node's disk, not the log, is at fault).
 */
import { createHash } from 'node:crypto';
import type { StateMachine } from '../raft/stateMachine.js';
import { assert } from '../../machines/assert.js';
import {
  CommandKind,
  CommandView,
  FEATURES,
  ID_BYTES,
  STORED_RECORD_HEADER_BYTES,
  commandId,
  dataFileName,
  idHexOfParts,
  parseCommand,
  readU64BE,
  type CodecLimits,
} from '../../transport/commands/codec.js';
import type { AccessView } from '../../transport/commands/access.js';
import { EntryKind, type Entry, type SnapshotMeta } from '../../machines/types.js';
import { crc32Bytes } from '../../storage/crc.js';
import { utf8Text } from '../../transport/commands/utf8Decode.js';
import { AuthTable } from './authTable.js';
import { ClientTable } from './clientTable.js';
import { GroupTable, type ConsumerGroup, type DeadLetterView, type GroupCounts, type PendingRestore } from './consumerGroups.js';
import { DataFiles, rangeHashOf, trashNameOf, type DataFile } from './dataFiles.js';
import { ResultCode, SessionsError, SessionsErrorCode } from './errors.js';
import { decodeManifest, encodeManifestParts, manifestEncoder } from './manifest.js';
import { codecLimitsOf, limitsFingerprint, resolveLimits, type StoreLimits, type StoreOptions } from './options.js';
import { encodeStoredSessionFramed, encodeVoidRecord, parseRecordHeader, parseStoredSession, storedRecordLength, type RecordHeader } from './record.js';
import { ScheduledCounts } from './scheduledCounts.js';
import { SessionTable, type Session } from './sessionTable.js';
import { Subscriptions, type DeliveryCallback, type SubscribeOptions, type Subscription } from './subscriptions.js';
import type { CommandResult, FileRange, Manifest, RangeChunk, SessionView, StoreDigest } from './types.js';

/** How an invariant message names a SessionStore entry. */
function storeLabel(e: Entry): string {
  return `SessionStore ${e.term}.${e.index}`;
}

type ApplyListener = (entries: readonly Entry[], results: readonly (CommandResult | null)[]) => void;

const OK: CommandResult = Object.freeze({ ok: true, code: ResultCode.ok, value: null });
const rejections = new Map<string, CommandResult>();

function rejection(code: ResultCode): CommandResult {
  let r = rejections.get(code);
  if (r === undefined) {
    r = Object.freeze({ ok: false, code, value: null });
    rejections.set(code, r);
  }
  return r;
}

export interface StoreStats {
  readonly appliedIndex: number;
  readonly activeSessions: number;
  readonly activeBytes: number;
  readonly dataFiles: number;
  readonly clients: number;
  /** The client table's accounted bytes (clientTableBytesMax) and its evictions by reason (issue 18). */
  readonly clientBytes: number;
  readonly clientsEvicted: { readonly lru: number; readonly idle: number; readonly bytes: number; readonly user: number };
  readonly rejectedByCode: Record<string, number>;
  readonly files: DataFiles['counters'];
  readonly subscriptions: Subscriptions['counters'];
  readonly rangeBytesReceived: number;
  readonly rangeBytesSent: number;
  /**
   * SessionCommits applied while a consumer group still held the restored record (issue 16): the
   * data-file bytes consumed before every group acknowledged or dead-lettered it. Always 0 unless
   * the leader's scheduler is broken; the fault harness and the simulator check it on every node.
   */
  readonly commitsOfHeldRestores: number;
  /** Restored records whose SessionCommit has not applied yet (held by a group or a dead letter, or about to be committed). */
  readonly restoredUncommitted: number;
}

/** Scheduled (stored, not yet restored) sessions of one replay class, for visibility. */
interface ScheduledClassView {
  readonly replayClass: number;
  /** Sessions of the topic asked about (of every topic when none was). */
  readonly sessions: number;
  /** Due time of the class's next unread record (any topic: due times are ordered per class, not per topic); null when none. */
  readonly nextDueMs: number | null;
}

/** A consumer group as `groups` / `pending` show it (issue 16, visibility): the counts and more. */
export interface GroupView extends Omit<GroupCounts, 'id'> {
  readonly id: string;
  /** Ready items that may be delivered now (`ready` minus those waiting for a nack's delay). */
  readonly readyNow: number;
  /** Ready items waiting for a nack's delay. */
  readonly waiting: number;
  /** In flight with the ack deadline passed: redelivered (or dead-lettered) at the next tick. */
  readonly expired: number;
  /** The oldest pending item's due time (its stored session's), and its age by the caller's clock. */
  readonly oldestPendingDueMs: number | null;
  readonly oldestPendingAgeMs: number | null;
  /** Sessions of the group's topic still scheduled in each replay class that has any, with the class's next due time. */
  readonly scheduled: ScheduledClassView[];
  /** False while the scheduled sessions are still being counted (the first view starts it; a large store takes a while). */
  readonly scheduledComplete: boolean;
  /** The most recent dead letters (at most 100; the group keeps up to DEAD_LETTERS_MAX, consumerGroups.ts). */
  readonly dead: DeadLetterView[];
}

/** Dead letters shown per group in a view. */
const VIEW_DEAD_MAX = 100;
/** Bytes read at a time when counting scheduled sessions per topic from the data files. */
const SCAN_CHUNK_BYTES = 1 << 20;

export class SessionsStore implements StateMachine {
  readonly limits: StoreLimits;
  readonly fingerprint: string;
  private readonly codec: CodecLimits;
  private readonly sessions: SessionTable;
  private readonly files: DataFiles;
  private readonly clients: ClientTable;
  private readonly subs: Subscriptions;
  /** Consumer groups (issue 16): replaced whole by a snapshot's restore. */
  private groups = new GroupTable();
  /** Users, roles and permissions (issue 17): replaced whole by a snapshot's restore. */
  private readonly auth = new AuthTable();
  /** Scheduled sessions per class and topic, for visibility (scheduledCounts.ts); counted once asked for. */
  private readonly scheduled: ScheduledCounts;
  private commitsOfHeldRestores = 0;
  /** Feature flags on in this cluster (FeatureEnable entries; codec.ts FEATURES): replaced by a snapshot's restore. */
  private featureBits = 0;
  private readonly view = new CommandView();
  /** How far restores may fill the active table: its limits less the clients' reserve (hasRoomFor). */
  private readonly restoreSessionsMax: number;
  private readonly restoreBytesMax: number;
  /** StoreOptions.encodeTurn: a snapshot's manifest in slices (undefined: at once). */
  private readonly encodeTurn: ((fn: () => void) => void) | undefined;
  private lastTerm = 0;
  private lastIndex = 0;
  /** Whether data/ was made to match the state since this store was constructed. */
  private reconciled = false;
  private readonly listeners = new Set<ApplyListener>();
  /** The data files each recent snapshot lists (taken or installed), for purging trash. */
  private readonly snapshotFiles = new Map<number, Set<string>>();
  private readonly rejected = new Map<string, number>();
  private rangeBytesReceived = 0;
  private rangeBytesSent = 0;
  /** Planted bug 'skip-permission-at-apply' (simulator only): apply trusts the client port's check. */
  private readonly skipPermissionAtApply: boolean;

  constructor(opts: StoreOptions) {
    this.skipPermissionAtApply = opts.plantSkipPermissionAtApply === true;
    this.encodeTurn = opts.encodeTurn;
    this.limits = resolveLimits(opts.limits);
    const { activeSessionsMax, activeBytesMax, restoreReservePercent } = this.limits;
    this.restoreSessionsMax = activeSessionsMax - Math.floor((activeSessionsMax * restoreReservePercent) / 100);
    this.restoreBytesMax = activeBytesMax - Math.floor((activeBytesMax * restoreReservePercent) / 100);
    this.fingerprint = limitsFingerprint(this.limits);
    this.codec = codecLimitsOf(this.limits);
    this.sessions = new SessionTable(this.limits);
    this.files = new DataFiles(opts.fs, this.limits, opts.openFilesMax ?? 64, opts.readWindowBytes);
    this.scheduled = new ScheduledCounts(this.files);
    this.clients = new ClientTable(this.limits);
    this.subs = new Subscriptions(
      opts.defer ?? queueMicrotask,
      opts.subscriberQueueMax ?? 1024,
      opts.clock !== undefined && opts.after !== undefined ? { clock: opts.clock, after: opts.after } : undefined,
    );
  }

  get appliedIndex(): number {
    return this.lastIndex;
  }

  get appliedTerm(): number {
    return this.lastTerm;
  }

  // ---- StateMachine -------------------------------------------------------------------------

  apply(entries: readonly Entry[]): readonly (CommandResult | null)[] {
    this.ensureReconciled();
    const results = new Array<CommandResult | null>(entries.length);
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      // (The messages are built only on failure: this loop runs for every entry.)
      if (e.index !== this.lastIndex + 1) assert(false, `applying entry ${e.index} after ${this.lastIndex}`);
      // IDs are (term << 64 | index): with the index rising by one, the ID rises iff the term does not fall.
      if (e.term < this.lastTerm || e.term > Number.MAX_SAFE_INTEGER) assert(false, `command ID ${e.term}.${e.index} after ${this.lastTerm}.${this.lastIndex}`);
      this.lastIndex = e.index;
      this.lastTerm = e.term;
      if (e.kind !== EntryKind.command) {
        results[k] = null;
        continue;
      }
      const r = this.applyEntry(e);
      if (!r.ok) this.rejected.set(r.code, (this.rejected.get(r.code) ?? 0) + 1);
      results[k] = r;
    }
    this.files.flushAll();
    this.subs.schedule();
    for (const l of this.listeners) l(entries, results);
    return results;
  }

  /** The manifest as of the last applied entry, after making every file it refers to durable. */
  snapshot(): Uint8Array {
    const parts = this.snapshotParts();
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  /** `snapshot()` as parts, the session records by reference (what Raft saves: issue 18). */
  snapshotParts(): readonly Uint8Array[] {
    // At once, whatever encodeTurn says: the caller takes the parts now.
    const d = this.partsDeferred(undefined);
    this.files.syncAll();
    return d.parts;
  }

  /**
   * `snapshotParts()` with the data files' fsyncs left to `durable` (off the event loop on a real
   * disk; at once in the simulator): what Raft uses, so that a snapshot does not stall the node.
   */
  snapshotPartsDeferred(): { readonly parts: readonly Uint8Array[]; readonly dataCrc?: number; durable(cb: (err: Error | null) => void): void } {
    return this.partsDeferred(this.encodeTurn);
  }

  /** snapshotPartsDeferred, encoded in `turn`s after the first (undefined: at once). */
  private partsDeferred(turn: ((fn: () => void) => void) | undefined): {
    readonly parts: readonly Uint8Array[];
    readonly dataCrc?: number;
    durable(cb: (err: Error | null) => void): void;
  } {
    this.ensureReconciled();
    this.files.flushAll();
    // The session and group tables captured, not listed and encoded, here: the later steps do that.
    const m = this.manifestOf(null);
    this.rememberFiles(m);
    const enc = manifestEncoder(m, { sessions: this.sessions.capture(), groups: this.groups.capture() });
    // With StoreOptions.encodeTurn, what is read from live state now, the sessions and the checksum
    // in later turns beside the data files' fsyncs (`parts` is filled before `durable` calls back);
    // without, all of it now.
    const out: { parts: Uint8Array[]; dataCrc: number | undefined; durable(cb: (err: Error | null) => void): void } = {
      parts: [],
      dataCrc: undefined,
      durable: (cb) => {
        assert(!started, 'a snapshot made durable twice');
        started = true;
        if (turn === undefined) return this.files.syncAllLater(cb);
        let pending = 2;
        let failed: Error | null = null;
        const one = (err: Error | null): void => {
          if (err !== null && failed === null) failed = err;
          if (--pending === 0) cb(failed);
        };
        this.files.syncAllLater(one);
        const step = (): void => {
          const r = enc.next();
          if (r.done !== true) return turn(step);
          done(r.value);
          one(null);
        };
        turn(step);
      },
    };
    let started = false;
    const done = (v: { readonly parts: Uint8Array[]; readonly crc: number }): void => {
      for (const p of v.parts) out.parts.push(p);
      out.dataCrc = v.crc;
    };
    let r = enc.next();
    if (turn === undefined) while (r.done !== true) r = enc.next();
    if (r.done === true) done(r.value);
    return out;
  }

  /**
   * Replace the state with a snapshot's. Every data file the manifest lists must be on disk (from
   * this node's own past, from trash, or written by range sync) at least as long as listed;
   * files it does not list move to trash.
   */
  restore(meta: SnapshotMeta, data: Uint8Array): void {
    const m = decodeManifest(data);
    if (m.fingerprint !== this.fingerprint) {
      throw new SessionsError(SessionsErrorCode.configMismatch, `snapshot limits ${m.fingerprint} differ from this node's ${this.fingerprint}`);
    }
    if (m.appliedIndex !== meta.index || m.appliedTerm !== meta.term) {
      throw new SessionsError(SessionsErrorCode.snapshotIndex, `manifest at ${m.appliedTerm}.${m.appliedIndex}, snapshot meta ${meta.term}.${meta.index}`);
    }
    // Checked before anything changes: a refused restore leaves the store as it was.
    const missing = this.files.firstMissing(m.files);
    if (missing !== null) throw new SessionsError(SessionsErrorCode.dataMissing, missing);
    const groups = new GroupTable();
    try {
      groups.load(m.groups ?? null);
    } catch (err) {
      throw new SessionsError(SessionsErrorCode.snapshotCorrupt, `group table: ${(err as Error).message}`);
    }
    const auth = new AuthTable();
    try {
      auth.load(m.auth ?? new Uint8Array(0));
    } catch (err) {
      throw new SessionsError(SessionsErrorCode.snapshotCorrupt, `auth table: ${(err as Error).message}`);
    }
    // The file, session and client lists too (a manifest can be consistent with its CRC and not
    // with itself): nothing below may refuse it halfway, with part of the state replaced.
    const refused = DataFiles.refusal(m.files) ?? SessionTable.refusal(m.sessions) ?? ClientTable.refusal(m.clients);
    if (refused !== null) throw refused;
    this.auth.load(m.auth ?? new Uint8Array(0));
    this.groups = groups;
    this.featureBits = m.features ?? 0;
    this.scheduled.reset();
    this.files.load(m.classes, m.files);
    this.sessions.load(m.sessions);
    this.clients.load(m.clients);
    this.lastIndex = m.appliedIndex;
    this.lastTerm = m.appliedTerm;
    this.reconciled = true;
    // The files must be durable before the installed snapshot is saved and relied on: what range
    // sync wrote, and bytes an earlier replay wrote without a sync.
    this.files.syncAll(true);
    this.rememberFiles(m);
  }

  // ---- snapshots, trash, digest -------------------------------------------------------------

  private ensureReconciled(): void {
    if (this.reconciled) return;
    this.files.reconcile();
    this.reconciled = true;
  }

  private rememberFiles(m: Manifest): void {
    this.snapshotFiles.set(m.appliedIndex, new Set(m.files.map((f) => f.name)));
    // Bounded: only the newest few can still be saved.
    while (this.snapshotFiles.size > 8) this.snapshotFiles.delete(this.snapshotFiles.keys().next().value as number);
  }

  /**
   * The snapshot at `index` (taken by `snapshot()` or installed by `restore()`) is durable: a restart
   * never goes back before it, so trashed files that no snapshot at or after `index` lists are
   * unlinked. Returns how many. Not only the files of the snapshot at `index`: a local snapshot's
   * save may finish after a newer one was installed (RaftNode does not wait for it), and a restart
   * may then start from the newer one, or from one whose save is still under way.
   */
  snapshotSaved(index: number): number {
    if (!this.snapshotFiles.has(index)) return 0;
    const keep = new Set<string>();
    for (const [k, names] of [...this.snapshotFiles]) {
      if (k < index) this.snapshotFiles.delete(k);
      else for (const name of names) keep.add(name);
    }
    return this.files.purgeTrash(keep);
  }

  /** The current state as a manifest (what `snapshot()` encodes, without syncing). */
  manifest(): Manifest {
    return this.manifestOf(this.groups.encode());
  }

  /** The manifest, with `groups` encoded; null: neither sessions nor groups (captured by the caller). */
  private manifestOf(groups: Uint8Array | null): Manifest {
    return {
      fingerprint: this.fingerprint,
      appliedTerm: this.lastTerm,
      appliedIndex: this.lastIndex,
      classes: this.files.classesMeta(),
      files: this.files.filesMeta(),
      sessions: groups === null ? [] : this.sessions.snapshot(),
      clients: this.clients.snapshot(),
      groups: groups ?? undefined,
      auth: this.auth.encode(),
      features: this.featureBits,
    };
  }

  /** Per data file and overall; equal on nodes that applied the same entries, whatever their crash history. */
  digest(): StoreDigest {
    this.ensureReconciled();
    const files: Record<string, string> = {};
    for (const f of this.files.all()) files[f.name] = this.files.fileDigest(f);
    const hash = createHash('sha256');
    for (const part of encodeManifestParts(this.manifest())) hash.update(part);
    const overall = hash.digest('hex');
    return { overall, files };
  }

  /** Re-read every data file and compare with the range digests; returns the ranges that differ. */
  verifyFiles(): { name: string; start: number; end: number }[] {
    return this.files.verify();
  }

  // ---- range sync (seed 004) ----------------------------------------------------------------

  /**
   * On the receiver: the manifest's ranges that this node's files do not hold. Each range is hashed
   * from the bytes on disk (in data/ or trash/), not taken from this node's own digests, so a file
   * that is stale, short or damaged here is found too (a snapshot install is rare; reading the local
   * data once is its price). Files an earlier process left that no restore confirmed count as not
   * held: their bytes may be in the page cache only (DataFiles `inherited`).
   */
  missingRanges(manifest: Manifest | Uint8Array): FileRange[] {
    const m = manifest instanceof Uint8Array ? decodeManifest(manifest) : manifest;
    if (m.fingerprint !== this.fingerprint) {
      throw new SessionsError(SessionsErrorCode.configMismatch, `manifest limits ${m.fingerprint} differ from this node's ${this.fingerprint}`);
    }
    const out: FileRange[] = [];
    for (const fm of m.files) {
      const trash = trashNameOf(fm.replayClass, fm.fileHigh, fm.fileLow);
      for (let k = 0; k < fm.ranges.length; k++) {
        const r = fm.ranges[k]!;
        const bytes = this.files.readHeld(fm.name, trash, r.start, r.end);
        if (bytes !== null && rangeHashOf(bytes) === r.hash) continue;
        out.push({
          name: fm.name,
          replayClass: fm.replayClass,
          fileHigh: fm.fileHigh,
          fileLow: fm.fileLow,
          start: r.start,
          end: r.end,
          count: r.count,
          hash: r.hash,
        });
      }
    }
    return out;
  }

  /** On the sender: a range's bytes, checked against its digest, with a CRC-32 for the transfer. */
  readRange(range: FileRange): RangeChunk {
    const bytes = this.files.readAny(range.name, trashNameOf(range.replayClass, range.fileHigh, range.fileLow), range.start, range.end);
    if (bytes === null) throw new SessionsError(SessionsErrorCode.rangeGone, `${range.name} ${range.start}..${range.end} is no longer here`);
    if (rangeHashOf(bytes) !== range.hash)
      throw new SessionsError(SessionsErrorCode.rangeGone, `${range.name} ${range.start}..${range.end} differs from its digest`);
    this.rangeBytesSent += bytes.length;
    return { range, bytes, crc32: crc32Bytes(bytes, 0) };
  }

  /** On the receiver: verify a chunk (CRC-32 and range hash) and write it in place. */
  writeRange(chunk: RangeChunk): void {
    const r = chunk.range;
    if (r.name !== dataFileName(r.replayClass, r.fileHigh, r.fileLow) || r.end - r.start !== chunk.bytes.length || r.start < 0) {
      throw new SessionsError(SessionsErrorCode.rangeUnknown, `range ${r.name} ${r.start}..${r.end} does not describe ${chunk.bytes.length} bytes`);
    }
    if (crc32Bytes(chunk.bytes, 0) !== chunk.crc32) throw new SessionsError(SessionsErrorCode.rangeChecksum, `${r.name} ${r.start}..${r.end}: CRC-32 mismatch`);
    if (rangeHashOf(chunk.bytes) !== r.hash) throw new SessionsError(SessionsErrorCode.rangeChecksum, `${r.name} ${r.start}..${r.end}: hash mismatch`);
    this.files.writeAny(r.name, trashNameOf(r.replayClass, r.fileHigh, r.fileLow), r.start, chunk.bytes);
    this.rangeBytesReceived += chunk.bytes.length;
  }

  // ---- reads and subscriptions --------------------------------------------------------------

  subscribe(topic: string, callback: DeliveryCallback, opts?: SubscribeOptions): Subscription {
    return this.subs.subscribe(topic, callback, opts);
  }

  /** Called after every apply with the entries and their results (the planner and scheduler use it). */
  onApplied(listener: ApplyListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** An active session, or null. */
  getSession(id: Uint8Array): SessionView | null {
    if (id.length !== ID_BYTES) return null;
    const high = readU64BE(id, 0);
    const low = readU64BE(id, 8);
    const s = this.sessions.get(high, low);
    return s === undefined ? null : { id: s.id, topic: s.topic, records: s.records(), bytes: s.bytes };
  }

  /** Every active session, in table order. */
  listSessions(): SessionView[] {
    const out: SessionView[] = [];
    for (const s of this.sessions.values()) out.push({ id: s.id, topic: s.topic, records: s.records(), bytes: s.bytes });
    return out;
  }

  stats(): StoreStats {
    return {
      appliedIndex: this.lastIndex,
      activeSessions: this.sessions.size,
      activeBytes: this.sessions.activeBytes,
      dataFiles: this.files.count,
      clients: this.clients.size,
      clientBytes: this.clients.bytes,
      clientsEvicted: { ...this.clients.evicted },
      rejectedByCode: Object.fromEntries(this.rejected),
      files: { ...this.files.counters },
      subscriptions: { ...this.subs.counters },
      rangeBytesReceived: this.rangeBytesReceived,
      rangeBytesSent: this.rangeBytesSent,
      commitsOfHeldRestores: this.commitsOfHeldRestores,
      restoredUncommitted: this.files.all().reduce((n, f) => n + f.restoredLengths.length, 0),
    };
  }

  close(): void {
    this.files.closeAll();
  }

  // ---- what the planner and scheduler read (the applied state) ------------------------------

  session(high: number, low: number): Session | undefined {
    return this.sessions.get(high, low);
  }

  newestFile(replayClass: number): DataFile | undefined {
    return this.files.newest(replayClass);
  }

  /** The class's due floor: its last due time stored, or with the `due-floor-per-file` flag its newest file's (0 when empty). */
  lastDueMs(replayClass: number): number {
    return this.files.classOf(replayClass)?.lastDueMs ?? 0;
  }

  dataFile(high: number, low: number): DataFile | undefined {
    return this.files.get(high, low);
  }

  /** Every data file, by class, oldest first. */
  dataFiles(): readonly DataFile[] {
    return this.files.all();
  }

  /** The header of the record at `offset` of `f` (which must be within its applied size). */
  recordHeaderAt(f: DataFile, offset: number): RecordHeader {
    if (offset + STORED_RECORD_HEADER_BYTES > f.size) assert(false, `record header past the end of ${f.name}`);
    return parseRecordHeader(this.files.read(f, offset, STORED_RECORD_HEADER_BYTES), `${f.name}@${offset}`);
  }

  /** The topic of the (non-void) record at `offset` of `f`, whose header is `h`; null when it does not decode. */
  recordTopicAt(f: DataFile, offset: number, h: RecordHeader): string | null {
    if (h.isVoid || h.topicBytes === 0 || offset + STORED_RECORD_HEADER_BYTES + h.topicBytes > f.size) return null;
    try {
      // As the codec and parseStoredSession decode it (a leading U+FEFF is part of the topic; a
      // decoder that dropped it named another topic), and once per distinct bytes (utf8Decode.ts).
      return utf8Text(this.files.read(f, offset + STORED_RECORD_HEADER_BYTES, h.topicBytes), 0, h.topicBytes);
    } catch {
      return null;
    }
  }

  /**
   * Whether a restore of this record would find room in the active table, once `pendingSessions`
   * sessions of `pendingBytes` record bytes (restores in flight) are active too, leaving the
   * table's reserve for clients (StoreLimits.restoreReservePercent). Void records always do. The
   * leader's scheduler asks before it plans a restore; apply checks the whole table, as for any
   * session.
   */
  hasRoomFor(h: RecordHeader, pendingSessions = 0, pendingBytes = 0): boolean {
    if (h.isVoid) return true;
    const recordBytes = h.length - STORED_RECORD_HEADER_BYTES - h.topicBytes - 4 * h.recordCount;
    return this.sessions.size + pendingSessions < this.restoreSessionsMax && this.sessions.activeBytes + pendingBytes + recordBytes <= this.restoreBytesMax;
  }

  /**
   * The leader's gateway: what the client table says about (client, secret, seq) as applied so far;
   * 'auth' when the secret is not that client's (nothing else is told). See ClientTable.lookup.
   */
  clientResult(high: number, low: number, secret: Uint8Array, seq: number, user?: string): CommandResult | 'stale' | 'unknown' | 'auth' | 'owner' | undefined {
    return this.clients.lookup(high, low, secret, seq, user);
  }

  /** The feature flags on in this cluster as applied here (codec.ts FEATURES bits). */
  get features(): number {
    return this.featureBits;
  }

  /** Whether every flag of `bits` is on. */
  featureOn(bits: number): boolean {
    return (this.featureBits & bits) === bits;
  }

  /** Users, roles and permissions as applied here (issue 17): the client port checks every request against it. */
  get access(): AccessView {
    return this.auth;
  }

  // ---- consumer groups (issue 16) -----------------------------------------------------------

  /** Whether the restored, uncommitted record at `offset` of `f` waits for a group's ack: not committable yet. */
  restoreHeld(f: DataFile, offset: number): boolean {
    return this.groups.holds(f.high, f.low, offset);
  }

  /** Every group, in creation order. */
  consumerGroups(): IterableIterator<ConsumerGroup> {
    return this.groups.all();
  }

  group(high: number, low: number): ConsumerGroup | undefined {
    return this.groups.get(high, low);
  }

  /** The group whose ID's low half is `low`, if any (a map lookup: per delivery). */
  groupByLow(low: number): ConsumerGroup | undefined {
    return this.groups.byLow(low);
  }

  groupByName(topic: string, name: string): ConsumerGroup | undefined {
    return this.groups.byTopicName(topic, name);
  }

  groupCounts(g: ConsumerGroup): GroupCounts {
    return this.groups.counts(g, commandId(g.high, g.low));
  }

  /** A group's counts and details at `nowMs` (the caller's clock: ages, nack delays, deadlines). */
  groupView(g: ConsumerGroup, nowMs: number): GroupView {
    const c = this.groups.counts(g, commandId(g.high, g.low));
    const d = this.groups.detail(g, nowMs, VIEW_DEAD_MAX);
    let oldestDueMs: number | null = null;
    if (d.oldest !== null) {
      const f = this.files.get(d.oldest.fileHigh, d.oldest.fileLow);
      if (f !== undefined) oldestDueMs = this.recordHeaderAt(f, d.oldest.offset).dueMs;
    }
    return {
      ...c,
      id: idHexOfParts(g.high, g.low),
      readyNow: c.ready - d.waiting,
      waiting: d.waiting,
      expired: d.expired,
      oldestPendingDueMs: oldestDueMs,
      oldestPendingAgeMs: oldestDueMs === null ? null : Math.max(0, nowMs - oldestDueMs),
      ...((sc) => ({ scheduled: sc.classes, scheduledComplete: sc.complete }))(this.scheduledOf(g.topic)),
      dead: d.dead,
    };
  }

  /**
   * Scheduled sessions per replay class (of `topic`, or of every topic), with each class's next due
   * time. The first call starts counting them (headers of the data files, at most `scanBytes` per
   * call here and per `advanceScheduledCount`); `complete` is false until the count covers every file.
   */
  scheduledOf(topic?: string, scanBytes = SCAN_CHUNK_BYTES): { complete: boolean; classes: ScheduledClassView[] } {
    this.scheduled.start();
    this.scheduled.advance(scanBytes);
    const classes = this.scheduled.of(topic).map((c) => ({ ...c, nextDueMs: this.nextDueMs(c.replayClass) }));
    return { complete: this.scheduled.isComplete, classes };
  }

  /** Moves the count of scheduled sessions on by at most `bytesMax` bytes of headers, once someone asked for it (the node calls it every tick). */
  advanceScheduledCount(bytesMax: number): void {
    if (this.scheduled.isStarted) this.scheduled.advance(bytesMax);
  }

  /** The due time of the class's next unread record (void ones included), or null. */
  private nextDueMs(replayClass: number): number | null {
    for (const f of this.files.classOf(replayClass)?.files ?? []) {
      if (f.readCursor < f.size) return this.recordHeaderAt(f, f.readCursor).dueMs;
    }
    return null;
  }

  /** The due time a pending restore's record carries (its header, read back from its data file). */
  restoreDueMs(r: PendingRestore): number {
    const f = this.files.get(r.fileHigh, r.fileLow);
    if (f === undefined) assert(false, `pending restore ${r.high}.${r.low} names a missing file ${r.fileHigh}.${r.fileLow}`);
    return this.recordHeaderAt(f, r.offset).dueMs;
  }

  /** The session of a pending restore, read back from its data file (uncommitted records stay there). */
  readRestored(r: PendingRestore): { topic: string; session: Uint8Array; records: Uint8Array[]; dueMs: number } {
    const f = this.files.get(r.fileHigh, r.fileLow);
    if (f === undefined) assert(false, `pending restore ${r.high}.${r.low} names a missing file ${r.fileHigh}.${r.fileLow}`);
    const where = `${f.name}@${r.offset}`;
    const rec = parseStoredSession(this.files.read(f, r.offset, r.length), where);
    return { topic: rec.topic, session: commandId(rec.sessionHigh, rec.sessionLow), records: rec.records.slice(), dueMs: rec.dueMs };
  }

  // ---- apply --------------------------------------------------------------------------------

  private applyEntry(e: Entry): CommandResult {
    this.clients.expire(e.index);
    const v = this.view;
    const err = parseCommand(v, e.data, this.codec);
    if (err !== null) return rejection(err);
    if (!v.hasEnvelope) return this.applyCommand(v, e);
    // The secret is compared in place (no copy): the envelope's proof that the client owns its ID.
    const verdict = this.clients.check(v.clientHigh, v.clientLow, e.data, v.secretAt, v.seq, v.ackedBelowSeq, e.index);
    if (!verdict.apply) {
      // Not applied, but a SessionStore still fills its planned bytes (see storeSession).
      if (v.kind === CommandKind.sessionStore) this.storeSession(v, e, false);
      return verdict.result;
    }
    // Issue 17: the permission is checked again here, against the auth table as of this entry's
    // position in the log (the client port checked the node's applied state, which a revoke ordered
    // before this entry may have changed since). The principal is the user who registered the client
    // (its ClientRegister entry); a client without one is refused once any user exists.
    const refusal = this.refusalAtApply(v, verdict.client.owner);
    const r = refusal !== null ? this.deny(v, e, refusal) : this.applyCommand(v, e);
    this.clients.record(verdict.client, v.seq, r);
    return r;
  }

  /**
   * Why `v` is refused at apply, or null: its client has no owner while a user exists
   * (authRequired), or `owner` lacks the permission `v` needs on its topic (SessionCreate's, or the
   * session's as applied here): write for create, append, rewrite, destroy; store for SessionStore.
   * A command on a session that is not active is not judged here (it changes nothing:
   * SESSIONS_ERR_SESSION_UNKNOWN).
   */
  private refusalAtApply(v: CommandView, owner: string): ResultCode | null {
    if (this.skipPermissionAtApply) return null;
    if (owner === '') return this.auth.hasUsers() ? ResultCode.authRequired : null;
    const denied = ResultCode.permissionDenied;
    if (v.kind === CommandKind.sessionCreate) return this.auth.allows(owner, 'write', v.topic, '') ? null : denied;
    const s = this.sessions.get(v.sessionHigh, v.sessionLow);
    if (s === undefined) return null;
    return this.auth.allows(owner, v.kind === CommandKind.sessionStore ? 'store' : 'write', s.topic, '') ? null : denied;
  }

  /** A command refused at apply: nothing changes, except that a SessionStore still fills its planned bytes (a void record). */
  private deny(v: CommandView, e: Entry, code: ResultCode): CommandResult {
    if (v.kind === CommandKind.sessionStore) this.storeSession(v, e, false);
    return rejection(code);
  }

  private applyCommand(v: CommandView, e: Entry): CommandResult {
    switch (v.kind) {
      case CommandKind.sessionCreate: {
        const s = this.sessions.create(e.term, e.index, v.topic);
        return typeof s === 'string' ? rejection(s) : { ok: true, code: ResultCode.ok, value: s.id };
      }
      case CommandKind.sessionAppend: {
        const s = this.sessions.get(v.sessionHigh, v.sessionLow);
        if (s === undefined) return rejection(ResultCode.sessionUnknown);
        const code = this.sessions.append(s, e.data, v.bytesStart, v.bytesEnd);
        return code === ResultCode.ok ? OK : rejection(code);
      }
      case CommandKind.sessionRewrite: {
        const s = this.sessions.get(v.sessionHigh, v.sessionLow);
        if (s === undefined) return rejection(ResultCode.sessionUnknown);
        const code = this.sessions.rewrite(s, e.data, v.bytesStart, v.bytesEnd);
        return code === ResultCode.ok ? OK : rejection(code);
      }
      case CommandKind.sessionStore:
        return this.storeSession(v, e, true);
      case CommandKind.sessionDestroy: {
        const s = this.sessions.get(v.sessionHigh, v.sessionLow);
        if (s === undefined) return rejection(ResultCode.sessionUnknown);
        this.sessions.remove(s);
        return OK;
      }
      case CommandKind.sessionRestore:
        return this.restoreSession(v, e);
      case CommandKind.sessionCommit:
        return this.commitSession(v);
      case CommandKind.dataCreate: {
        const f = this.files.create(v.replayClass, e.term, e.index);
        // With the flag, the due floor is the newest file's: each file is read on its own, so the
        // order only needs to hold within one (a far-forward clock reading no longer stalls the class).
        if (this.featureOn(FEATURES.dueFloorPerFile)) this.files.classOf(v.replayClass)!.lastDueMs = 0;
        return { ok: true, code: ResultCode.ok, value: commandId(f.high, f.low) };
      }
      case CommandKind.dataDelete: {
        const f = this.files.get(v.fileHigh, v.fileLow);
        if (f === undefined || f.replayClass !== v.replayClass) return rejection(ResultCode.fileUnknown);
        if (!f.sealed || f.consumed !== f.size) return rejection(ResultCode.fileNotConsumed);
        this.files.remove(f);
        return OK;
      }
      case CommandKind.clientRegister:
        // Issue 17: once a user exists, every client belongs to one. A port that had not applied
        // the first user yet (a leader just elected) may have let an anonymous registration through.
        if (v.user === '' && this.auth.hasUsers()) return rejection(ResultCode.authRequired);
        // The secret the leader drew is in the entry: every replica stores the same one (none draws).
        return this.clients.register(e.term, e.index, e.index, e.data, v.secretAt, v.user, this.featureOn(FEATURES.clientsPerUser));
      case CommandKind.userPut:
        return this.auth.putUser(
          v.user,
          v.hashLen === 0 ? null : e.data.slice(v.hashAt, v.hashAt + v.hashLen),
          e.index,
          this.featureOn(FEATURES.firstUserAdmin),
        );
      case CommandKind.userDelete:
        return this.auth.deleteUser(v.user, this.featureOn(FEATURES.lastAdmin));
      case CommandKind.userGrant:
        return this.auth.grantRole(v.user, v.role);
      case CommandKind.userRevoke:
        return this.auth.revokeRole(v.user, v.role, this.featureOn(FEATURES.lastAdmin));
      case CommandKind.rolePut:
        return this.auth.putRole(v.role);
      case CommandKind.roleDelete:
        return this.auth.deleteRole(v.role);
      case CommandKind.roleGrant:
        return this.auth.grantPermission(v.role, { action: v.action, prefix: v.prefix, group: v.groupName });
      case CommandKind.roleRevoke:
        return this.auth.revokePermission(v.role, { action: v.action, prefix: v.prefix, group: v.groupName });
      case CommandKind.groupCreate:
        return this.groups.create(e.term, e.index, v.topic, v.name, v.ackWaitMs, v.maxDeliveries, v.maxAckPending, commandId(e.term, e.index));
      case CommandKind.groupDelete:
        return this.groups.delete(v.groupHigh, v.groupLow);
      case CommandKind.groupDeliver:
        return this.groups.deliver(v.groupHigh, v.groupLow, v.restoreHigh, v.restoreLow, v.delivery, v.dueMs, v.name, e.index);
      case CommandKind.groupAck:
        if (v.sessionLow > 0) return this.ackRemoving(v);
        return this.groups.ack(v.groupHigh, v.groupLow, v.restoreHigh, v.restoreLow, v.delivery);
      case CommandKind.groupNack:
        return this.groups.nack(v.groupHigh, v.groupLow, v.restoreHigh, v.restoreLow, v.delivery, v.dueMs);
      case CommandKind.groupDeadLetter:
        return this.groups.deadLetter(v.groupHigh, v.groupLow, v.restoreHigh, v.restoreLow, v.delivery, e.index);
      case CommandKind.deadLetterReplay:
        return this.groups.replayDead(v.groupHigh, v.groupLow, v.restoreHigh, v.restoreLow, this.featureOn(FEATURES.replayContinues));
      case CommandKind.deadLetterDelete:
        return this.groups.deleteDead(v.groupHigh, v.groupLow, v.restoreHigh, v.restoreLow);
      case CommandKind.featureEnable:
        // Idempotent: flags already on stay on (the codec refused unknown ones).
        this.featureBits |= v.features;
        return OK;
    }
    assert(false, `command kind ${v.kind} passed validation`);
  }

  /**
   * Remove on ack (BullMQ's removeOnComplete): a GroupAck that also removes the delivered session,
   * as a SessionDestroy of it would, in the same entry. Its user's write permission on the session's
   * topic is checked here, at this position of the log (as for a destroy: the port's check may be
   * older than a revoke before it in the log); refused, nothing changes, the ack included. The
   * session is removed only when this ack settles the item now and the item's restore is of that
   * session: an ack that settles nothing (a second one, a late one) removes nothing, and a session
   * not active (destroyed, or stored again) is left alone. With remove-own-restore, a session made
   * active by a later restore is left alone too: until 2026-12-07 an ack of restore R1 removed the
   * session that, stored and restored again (R2), was active from R2 with R2's delivery in flight.
   * A session restored before the flag was on records no restore and is removed as before.
   */
  private ackRemoving(v: CommandView): CommandResult {
    const s = this.sessions.get(v.sessionHigh, v.sessionLow);
    if (s !== undefined && !this.skipPermissionAtApply) {
      if (v.user === '') {
        if (this.auth.hasUsers()) return rejection(ResultCode.authRequired);
      } else if (!this.auth.allows(v.user, 'write', s.topic, '')) return rejection(ResultCode.permissionDenied);
    }
    const held =
      s !== undefined &&
      (s.restoreLow === 0 || (s.restoreHigh === v.restoreHigh && s.restoreLow === v.restoreLow)) &&
      this.groups.holdsSession(v.groupHigh, v.groupLow, v.restoreHigh, v.restoreLow, v.sessionHigh, v.sessionLow);
    const r = this.groups.ack(v.groupHigh, v.groupLow, v.restoreHigh, v.restoreLow, v.delivery);
    if (held && r.code === ResultCode.ok) this.sessions.remove(s);
    return r;
  }

  /**
   * SessionStore carries what the leader computed once: class, due time, file, offset, length.
   * Every replica checks that they match its own state (they must: the planner projects exactly
   * this state), then writes the session's record there. A SessionStore that is not applied (the
   * session is not active, or the envelope makes it a retry or an unknown client) still writes
   * `length` bytes there, as a void record, so that the file's layout depends on the entries
   * alone and the following stores planned after it stay valid.
   */
  private storeSession(v: CommandView, e: Entry, apply: boolean): CommandResult {
    const c = this.files.classOf(v.replayClass);
    const f = c?.newest();
    // Per store: the messages are built only when a check fails (no closure either: one per entry).
    if (c === undefined || f === undefined || f.high !== v.fileHigh || f.low !== v.fileLow)
      assert(
        false,
        `${storeLabel(e)} names ${dataFileName(v.replayClass, v.fileHigh, v.fileLow)}, the newest file of class ${v.replayClass} is ${f?.name ?? 'none'}`,
      );
    if (f.size !== v.offset) assert(false, `${storeLabel(e)} writes at ${v.offset} of ${f.name}, whose size is ${f.size}`);
    if (v.dueMs < c.lastDueMs) assert(false, `${storeLabel(e)} due at ${v.dueMs}, before the due floor ${c.lastDueMs} of class ${v.replayClass}`);
    const s = apply ? this.sessions.get(v.sessionHigh, v.sessionLow) : undefined;
    let result: CommandResult;
    let bytes: Uint8Array;
    if (s !== undefined) {
      const topicBytes = s.topicBytes();
      const len = storedRecordLength(topicBytes.length, s.recordCount, s.bytes);
      if (len === v.length) {
        bytes = encodeStoredSessionFramed(v.dueMs, s.high, s.low, topicBytes, s.recordCount, s.framedParts(), s.framedBytes);
        this.scheduled.stored(f, s.topic);
        this.sessions.remove(s);
        result = OK;
      } else {
        // A schedule's store is planned behind its own append, before it applied (planner
        // storeAfterAppend): when the create or the append was refused, the record is not the
        // planned one. Refused here, on every replica alike; the session stays active.
        bytes = encodeVoidRecord(v.length, v.dueMs, v.sessionHigh, v.sessionLow);
        result = rejection(ResultCode.recordLength);
      }
    } else {
      bytes = encodeVoidRecord(v.length, v.dueMs, v.sessionHigh, v.sessionLow);
      result = rejection(ResultCode.sessionUnknown);
    }
    this.files.append(f, bytes);
    c.lastDueMs = v.dueMs;
    return result;
  }

  private restoreSession(v: CommandView, e: Entry): CommandResult {
    const f = this.files.get(v.fileHigh, v.fileLow);
    if (f === undefined || f.replayClass !== v.replayClass) return rejection(ResultCode.fileUnknown);
    if (f.readCursor + v.length > f.size) return rejection(ResultCode.nothingToRestore);
    const where = `${f.name}@${f.readCursor}`;
    const buf = this.files.read(f, f.readCursor, v.length);
    // The cursor is always at a record boundary, so the header is readable whatever the length asked.
    if (parseRecordHeader(buf, where).length !== v.length) return rejection(ResultCode.recordLength);
    const rec = parseStoredSession(buf, where);
    if (!rec.isVoid) {
      // With remove-own-restore, the session remembers this restore (what a removing ack must settle).
      const own = this.featureOn(FEATURES.removeOwnRestore);
      const code = this.sessions.insert(rec.sessionHigh, rec.sessionLow, rec.topic, rec.records, rec.recordBytes, own ? e.term : 0, own ? e.index : 0);
      if (code !== ResultCode.ok) return rejection(code);
    }
    const offset = f.readCursor;
    f.readCursor += v.length;
    f.restoredLengths.push(v.length);
    if (!rec.isVoid) {
      this.scheduled.restored(f, offset, rec.topic);
      this.groups.restored({
        high: e.term,
        low: e.index,
        topic: rec.topic,
        sessionHigh: rec.sessionHigh,
        sessionLow: rec.sessionLow,
        fileHigh: f.high,
        fileLow: f.low,
        offset,
        length: v.length,
      });
    }
    const session = commandId(rec.sessionHigh, rec.sessionLow);
    if (!rec.isVoid && this.subs.hasSubscribers(rec.topic)) {
      // A copy of the array: later appends in the same batch must not change what subscribers get.
      // Restored ahead (the entry's hold): subscribers get it that long after this apply.
      this.subs.publish({ topic: rec.topic, session, records: rec.records.slice(), restoreId: commandId(e.term, e.index), index: e.index }, v.holdMs);
    }
    return { ok: true, code: rec.isVoid ? ResultCode.okVoidRecordRestored : ResultCode.ok, value: session };
  }

  /**
   * SessionCommit consumes the oldest restored records of the file: `length` is the length of the
   * first one, or the sum of the lengths of the first k (the leader's scheduler commits the records
   * settled by a tick in one entry); any other length is refused, and nothing is consumed.
   */
  private commitSession(v: CommandView): CommandResult {
    const f = this.files.get(v.fileHigh, v.fileLow);
    if (f === undefined || f.replayClass !== v.replayClass) return rejection(ResultCode.fileUnknown);
    const lens = f.restoredLengths;
    if (lens.length === 0) return rejection(ResultCode.nothingToCommit);
    let records = 0;
    let sum = 0;
    while (records < lens.length && sum < v.length) sum += lens[records++]!;
    if (sum !== v.length) return rejection(ResultCode.recordLength);
    for (let k = 0; k < records; k++) {
      // Introspection, not a decision: every replica counts it the same way.
      if (this.groups.holds(f.high, f.low, f.consumed)) {
        this.commitsOfHeldRestores++;
        // Its dead letters can no longer be replayed (the record is consumed): every replica the same.
        this.groups.consumedWhileHeld(f.high, f.low, f.consumed);
      }
      f.consumed += lens[k]!;
    }
    if (records === 1) lens.shift();
    else lens.splice(0, records);
    return OK;
  }
}
