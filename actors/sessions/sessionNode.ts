/**
 * A sessionraft node: Raft (RaftNode) with the session store as its state machine, the leader's
 * planner (every command a leader proposes is planned once, with the parameters replicas must not
 * compute themselves) and the replay scheduler (restores stored sessions when due). The same code
 * runs in the simulator and in node processes; the clock is injected.
 */
import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';
import {
  CommandErrorCode,
  CommandKind,
  CommandView,
  encodeCommand,
  FEATURES,
  FEATURES_KNOWN,
  SCHEDULE_SEQS,
  SECRET_BYTES,
  commandId,
  parseCommand,
  readU64BE,
  nameError,
  type Command,
  type Envelope,
} from '../../transport/commands/codec.js';
import type { MembershipChange } from '../../machines/membership.js';
import { EntryKind, type Entry, type FileByteRange, type NodeId, type RaftMessage } from '../../machines/types.js';
import { ProposalError } from '../raft/proposals.js';
import type { RangeSyncStore } from '../raft/rangeSync.js';
import { RaftNode, type NodeHooks, type NodeOptions, type NodeStatus } from '../raft/raftNode.js';
import { ResultCode, SessionsError, SessionsErrorCode } from './errors.js';
import { codecLimitsOf } from './options.js';
import { Dispatcher, type GroupDelivery, type RemoveOnAck } from './dispatcher.js';
import { Planner, type PlanOutcome, type Proposed } from './planner.js';
import { ReplayScheduler } from './scheduler.js';
import { scheduleSession } from './scheduleSession.js';
import type { GroupView, SessionsStore } from './store.js';
import type { CommandResult, FileRange } from './types.js';

/** Why a request did not get a result: a stable code, and the leader to try when known. */
class RequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly leader: NodeId | null = null,
  ) {
    super(`${code}: ${message}`);
    this.name = 'RequestError';
  }
}

/** The result of a command, and the log entry it became (index and term: its command ID). */
export type CommandCallback = (err: RequestError | null, result?: CommandResult, entry?: Entry) => void;

interface SessionNodeOptions extends Omit<NodeOptions, 'stateMachine' | 'rangeSync' | 'hooks'> {
  readonly store: SessionsStore;
  /** Replay classes: the delay of each (the class is its position). */
  readonly replayDelaysMs: readonly number[];
  readonly dataFileBytesMax?: number;
  /** Milliseconds since the epoch; used only by the leader (due times, replay). */
  readonly clock: () => number;
  /** The host's Raft hooks (only those SessionNode does not use itself). */
  readonly hooks?: Pick<NodeHooks, 'onMembershipChanged' | 'onPeerRejected'>;
  /**
   * A new client's secret (SECRET_BYTES), drawn on the leader only, at ClientRegister; the entry
   * carries it to every replica. Default: crypto.randomBytes (a simulator passes a seeded source).
   */
  readonly drawSecret?: () => Uint8Array;
  /** Runs the consumer-group dispatcher's tick after an apply or an attach (default queueMicrotask; the simulator passes its scheduler). */
  readonly groupsDefer?: (fn: () => void) => void;
  /**
   * When a schedule's append and store go into its create's batch (scheduleSession.ts): 'always'
   * (default since 2026-12-06) for every schedule, 'idle' only when nothing is in the leader's
   * flight (the default before; docs/performance.md, "Every schedule in one round"). Both are
   * correct; the simulator runs half its seeds with each.
   */
  readonly scheduleBinding?: 'idle' | 'always';
  /**
   * On the leader, after each replay-scheduler tick: the due time (by `clock`) of the earliest
   * stored session not due yet, or null. A host that calls `wake()` then restores it on time
   * instead of at its next clock tick (up to `tickMs` later). Without it, ticks alone drive replay
   * (the simulator: its clock moves in ticks).
   */
  readonly onNextDue?: (dueMs: number | null) => void;
  /**
   * Restore ahead (scheduler.ts; default 0): stored sessions due within this many ms are restored,
   * and their first deliveries proposed, before their due time, so that the round is done by then;
   * consumers get them at the due time. Needs `after` (or ticks) to release what is held, and a
   * store whose subscriptions have a clock (SessionsStore's `clock`) so that subscribers wait too.
   */
  readonly restoreLeadMs?: number;
  /**
   * Feature flags (default true): the first leader of a new cluster (no command ever in its log)
   * turns on every flag this version knows. false: they wait for `enableFeatures`, as in a cluster
   * upgraded from an older version (tests and the simulator).
   */
  readonly featuresOnNewCluster?: boolean;
  /** Runs `fn` after `delayMs` (the host: an unref'd setTimeout): releases deliveries held until due. */
  readonly after?: (delayMs: number, fn: () => void) => void;
  /**
   * On the leader, how late after its due time (by `clock`, ms) a stored session was planned for
   * restore (`restore`, by replay class; void records are not sessions and are not reported), and
   * its first delivery handed to a consumer of a group attached here (`firstDelivery`): the host's
   * lateness metrics.
   */
  readonly onLateness?: {
    readonly restore: (replayClass: number, lateMs: number) => void;
    readonly firstDelivery: (groupLow: number, lateMs: number) => void;
  };
}

/** The code of a request that needs a feature flag the cluster has not turned on (the client port's CLIENT_ERR_FEATURE_DISABLED). */
const FEATURE_DISABLED = 'CLIENT_ERR_FEATURE_DISABLED';

/** A leader whose log is longer than this never counts its cluster as new (isNewCluster). */
const NEW_CLUSTER_ENTRIES_MAX = 64;

/** Bytes of data-file headers the scheduled-sessions count reads per tick, once started (a few ms at most). */
const SCHEDULED_COUNT_BYTES_PER_TICK = 64 * 1024;

/** Consumer group defaults (issue 16): redelivery after 30 s unacknowledged, 5 deliveries, 100 unacknowledged per consumer. */
const GROUP_DEFAULTS = { ackWaitMs: 30_000, maxDeliveries: 5, maxAckPending: 100 } as const;

type GroupCallback = (err: { readonly code: string; readonly message: string } | null, result?: CommandResult) => void;

interface Pending {
  readonly cb: CommandCallback;
}

/**
 * The one table from the Raft core's refusals to request codes (what the client port answers):
 * a command and a membership change read the same refusal differently only where the client acts
 * differently (a busy leader is retried; a membership rule is the operator's to fix).
 */
const refusalCodes: Readonly<Record<ProposalError['code'], { readonly command: string; readonly membership: string }>> = {
  'not-leader': { command: 'NOT_LEADER', membership: 'NOT_LEADER' },
  'proposal-lost': { command: 'UNKNOWN_OUTCOME', membership: 'UNKNOWN_OUTCOME' },
  'node-stopped': { command: 'UNKNOWN_OUTCOME', membership: 'UNKNOWN_OUTCOME' },
  'leader-changed': { command: 'UNKNOWN_OUTCOME', membership: 'UNKNOWN_OUTCOME' },
  'transfer-in-progress': { command: 'BUSY', membership: 'MEMBERSHIP_TRANSFER_IN_PROGRESS' },
  'too-many-uncommitted': { command: 'BUSY', membership: 'BUSY' },
  'batch-too-large': { command: 'BUSY', membership: 'BUSY' },
  'too-many-reads': { command: 'BUSY', membership: 'BUSY' },
  'config-change-pending': { command: 'BUSY', membership: 'MEMBERSHIP_CONFIG_CHANGE_PENDING' },
  'config-change-too-early': { command: 'BUSY', membership: 'MEMBERSHIP_CONFIG_CHANGE_TOO_EARLY' },
  'learner-behind': { command: 'BUSY', membership: 'MEMBERSHIP_LEARNER_BEHIND' },
  'remove-leader': { command: 'BUSY', membership: 'MEMBERSHIP_REMOVE_LEADER' },
  'membership-invalid': { command: 'BAD_REQUEST', membership: 'MEMBERSHIP_INVALID' },
};

/** A refusal of the Raft core as a request error; a broken membership rule keeps its own code. */
function refusalError(err: ProposalError, kind: 'command' | 'membership'): RequestError {
  const code = err.membershipCode ?? refusalCodes[err.code][kind];
  return new RequestError(code, err.detail ?? err.message, err.leader);
}

function toRequestError(err: ProposalError | SessionsError | Error): RequestError {
  if (err instanceof ProposalError) return refusalError(err, 'command');
  if (err instanceof SessionsError) {
    if (err.code === SessionsErrorCode.notLeader) return new RequestError('NOT_LEADER', err.message);
    if (err.code === SessionsErrorCode.plannerReset) return new RequestError('UNKNOWN_OUTCOME', err.message);
    if (err.code === SessionsErrorCode.plannerBusy) return new RequestError('BUSY', err.message);
    return new RequestError(err.code, err.message);
  }
  return new RequestError('INTERNAL', err.message);
}

/** `data/<class>/<32 hex>.dat` -> the store's range (count is not needed to read or write). */
function fileRangeOf(r: FileByteRange): FileRange | null {
  const m = /^data\/(\d{1,2})\/([0-9a-f]{16})([0-9a-f]{16})\.dat$/.exec(r.name);
  if (m === null) return null;
  return {
    name: r.name,
    replayClass: Number(m[1]),
    fileHigh: parseInt(m[2]!, 16),
    fileLow: parseInt(m[3]!, 16),
    start: r.start,
    end: r.end,
    count: 0,
    hash: r.hash,
  };
}

export class SessionNode {
  readonly raft: RaftNode;
  readonly store: SessionsStore;
  readonly planner: Planner;
  readonly scheduler: ReplayScheduler;
  /** Consumer groups' deliveries, redeliveries and dead letters (issue 16); active on the leader. */
  readonly dispatcher: Dispatcher;
  /** Planted bug 'stale-read' (fault harness only): reads skip ReadIndex. */
  private readonly staleReads: boolean;
  private readonly drawSecret: () => Uint8Array;
  private readonly clock: () => number;
  private readonly scheduleBinding: 'idle' | 'always';
  /** Planted bug 'ignore-feature-flags' (simulator only): restores ahead and removing acks whatever the cluster's flags. */
  private readonly ignoreFeatureFlags: boolean;

  constructor(opts: SessionNodeOptions) {
    // A schedule's create, append and store are tied in one Raft batch (RaftNode.propose's
    // withPrevious): a smaller limit would refuse every schedule with batch-too-large.
    if (opts.raft.proposalEntriesMax < SCHEDULE_SEQS) {
      throw new RangeError(
        `raft config: proposalEntriesMax must be at least ${SCHEDULE_SEQS} (a schedule's tied commands), got ${opts.raft.proposalEntriesMax}`,
      );
    }
    const store = opts.store;
    this.store = store;
    this.clock = opts.clock;
    this.scheduleBinding = opts.scheduleBinding ?? 'always';
    this.drawSecret = opts.drawSecret ?? (() => new Uint8Array(randomBytes(SECRET_BYTES)));
    this.staleReads = opts.bugs?.has('stale-read') === true;
    this.ignoreFeatureFlags = (opts.bugs as ReadonlySet<string> | undefined)?.has('ignore-feature-flags') === true;
    this.planner = new Planner({
      store,
      replayDelaysMs: opts.replayDelaysMs,
      ...(opts.dataFileBytesMax !== undefined ? { dataFileBytesMax: opts.dataFileBytesMax } : {}),
      clock: opts.clock,
      propose: (batch) => this.proposeBatch(batch),
      onOutcome: (context, outcome) => this.onDeferredOutcome(context, outcome),
    });
    this.scheduler = new ReplayScheduler({
      store,
      planner: this.planner,
      clock: opts.clock,
      ...(opts.onNextDue !== undefined ? { onNextDue: opts.onNextDue } : {}),
      ...(opts.restoreLeadMs !== undefined ? { restoreLeadMs: opts.restoreLeadMs } : {}),
      ...(this.ignoreFeatureFlags ? { ignoreFeatureFlags: true } : {}),
      // Issue 16 (lateness): a restore's first delivery goes right behind it in the log.
      onRestorePlanned: (restore, f, offset, h) => {
        opts.onLateness?.restore(f.replayClass, Math.max(0, this.clock() - h.dueMs));
        if (!this.dispatcher.hasConsumers) return;
        const topic = store.recordTopicAt(f, offset, h);
        if (topic !== null) this.dispatcher.restorePlanned(restore, topic, h.dueMs);
      },
      // Planted bug 'commit-before-ack' (fault harness only, --plant): commits ignore the groups' holds.
      ...((opts.bugs as ReadonlySet<string> | undefined)?.has('commit-before-ack') === true ? { holdRestores: false } : {}),
    });
    this.dispatcher = new Dispatcher({
      store,
      clock: opts.clock,
      isLeader: () => this.planner.isLeader && !this.raft.isStopped(),
      submit: (cmd, cb) => this.submitInternal(cmd, cb),
      ...(opts.groupsDefer !== undefined ? { defer: opts.groupsDefer } : {}),
      ...(opts.after !== undefined ? { after: opts.after } : {}),
      // Planted bug 'deliver-before-due' (simulator only): a delivery applied ahead is pushed at once.
      ...((opts.bugs as ReadonlySet<string> | undefined)?.has('deliver-before-due') === true ? { holdUntilDue: false } : {}),
      // Never below 0: the due time may come from another leader's clock (a store planned before a leader change).
      ...(opts.onLateness !== undefined
        ? { onFirstPush: (groupLow: number, dueMs: number) => opts.onLateness!.firstDelivery(groupLow, Math.max(0, this.clock() - dueMs)) }
        : {}),
    });
    const rangeSync: RangeSyncStore = {
      missingRanges: (manifest) => store.missingRanges(manifest).map((r) => ({ name: r.name, start: r.start, end: r.end, hash: r.hash })),
      readRange: (r) => {
        const fr = fileRangeOf(r);
        if (fr === null) throw new SessionsError(SessionsErrorCode.rangeUnknown, `not a data file: ${r.name}`);
        return store.readRange(fr).bytes;
      },
      writeRange: (r, data) => {
        const fr = fileRangeOf(r);
        if (fr === null) throw new SessionsError(SessionsErrorCode.rangeUnknown, `not a data file: ${r.name}`);
        store.writeRange({ range: fr, bytes: data, crc32: crc32(data) >>> 0 });
      },
    };
    this.raft = new RaftNode({
      ...opts,
      stateMachine: store,
      rangeSync,
      hooks: {
        ...(opts.hooks?.onMembershipChanged !== undefined ? { onMembershipChanged: opts.hooks.onMembershipChanged } : {}),
        ...(opts.hooks?.onPeerRejected !== undefined ? { onPeerRejected: opts.hooks.onPeerRejected } : {}),
        onLeadershipChanged: (isLeader) => {
          this.scheduler.reset();
          this.dispatcher.reset(isLeader);
          if (isLeader) {
            const log = this.raft.log;
            const from = Math.max(store.appliedIndex + 1, log.firstIndex());
            this.planner.reset(store, from <= log.lastIndex() ? log.range(from, log.lastIndex()) : []);
            if (opts.featuresOnNewCluster !== false && this.isNewCluster()) {
              // The cluster's first command: every node of a new cluster runs this version.
              this.submitInternal({ kind: CommandKind.featureEnable, features: FEATURES_KNOWN });
            }
          } else {
            this.planner.stepDown();
          }
        },
        onLeaderAppended: (entries) => {
          this.planner.appended(entries);
          this.dispatcher.appended();
        },
        onProposalsRefused: () => this.planner.refused(),
        onProposing: (firstIndex, term, count) => {
          if (this.planner.isLeader) this.planner.bind(firstIndex, term, count);
        },
        onSnapshotSaved: (index) => {
          store.snapshotSaved(index);
        },
      },
    });
  }

  get id(): NodeId {
    return this.raft.id;
  }

  /**
   * Whether this leader leads a cluster that never had a command: no snapshot, and nothing in its
   * log but no-ops and configurations (a leader holds every committed entry, so no command was
   * ever applied anywhere). Bounded: a log longer than NEW_CLUSTER_ENTRIES_MAX is not new.
   */
  private isNewCluster(): boolean {
    const log = this.raft.log;
    if (log.snapshotIndex !== 0 || this.store.appliedIndex > log.lastIndex()) return false;
    const last = log.lastIndex();
    if (last > NEW_CLUSTER_ENTRIES_MAX) return false;
    if (last < 1) return true;
    // By kind: a node that followed before may hold these entries without their data.
    for (let i = 1; i <= last; i++) if (log.kind(i) === EntryKind.command) return false;
    return true;
  }

  /** One clock tick: Raft's, then (on the leader) the replay scheduler's. */
  tick(): void {
    this.raft.tick();
    // Visibility: the count of scheduled sessions, once asked for, goes on in small steps (store.ts).
    this.store.advanceScheduledCount(SCHEDULED_COUNT_BYTES_PER_TICK);
    if (this.planner.isLeader && !this.raft.isStopped()) {
      this.planner.retry();
      this.scheduler.tick();
      this.dispatcher.tick();
    }
  }

  /**
   * The host's timer for `onNextDue`: restore what is due now (on the leader; elsewhere nothing).
   * With entries of the log not applied yet, a round is in flight and its apply comes within
   * milliseconds: the scheduler ticks then, and its restores join that round's successor instead
   * of starting one of their own (under load the timer would otherwise add a Raft round per due
   * millisecond: about 10 % more CPU per item at 16 producers).
   */
  wake(): void {
    if (!this.planner.isLeader || this.raft.isStopped()) return;
    if (this.raft.log.lastIndex() > this.store.appliedIndex) this.scheduler.tickOnNextApply();
    else this.scheduler.tick();
  }

  receive(msg: RaftMessage): void {
    this.raft.receive(msg);
  }

  status(): NodeStatus {
    return this.raft.status();
  }

  /**
   * A client command (SessionCreate, SessionAppend, SessionRewrite, SessionDestroy). Only the
   * leader accepts it (else NOT_LEADER with the leader to try).
   */
  submit(cmd: Command, cb: CommandCallback, user?: string): void {
    if (cmd.kind === CommandKind.sessionStore) return cb(new RequestError('BAD_REQUEST', 'use storeSession'));
    if (cmd.kind === CommandKind.clientRegister) return cb(new RequestError('BAD_REQUEST', 'use registerClient (the leader draws the secret)'));
    if (!this.planner.isLeader) return cb(new RequestError('NOT_LEADER', 'this node is not the leader', this.raft.status().leader));
    const env: Envelope | null = 'envelope' in cmd ? cmd.envelope : null;
    if (env !== null) {
      // The proof first: an envelope without its client's secret is refused here, before the table
      // is asked anything (no remembered result leaks) and before it could reach the log. A client
      // this node has not applied yet is left to apply, which checks again on every replica.
      const seen = this.store.clientResult(readU64BE(env.client, 0), readU64BE(env.client, 8), env.secret, env.seq, user);
      if (seen === 'auth') return cb(new RequestError(SessionsErrorCode.clientAuth, 'the envelope does not carry the secret of its client ID'));
      if (seen === 'owner')
        return cb(new RequestError(SessionsErrorCode.clientOwner, `the client ID was registered by another user than ${JSON.stringify(user)}`));
      // A retry of a command already applied: answer from the client table, apply nothing.
      if (seen === 'stale') return cb(null, { ok: false, code: ResultCode.seqStale, value: null });
      if (typeof seen === 'object') return cb(null, { ...seen, duplicate: true });
    }
    try {
      this.planner.submit(cmd, { cb } satisfies Pending);
    } catch (err) {
      cb(toRequestError(err as Error));
    }
  }

  /**
   * ClientRegister: the leader draws the new client's secret (replicas never draw anything: the
   * entry carries it) and the result's value is the client's credential, ID then secret.
   */
  registerClient(cb: CommandCallback, owner = ''): void {
    if (!this.planner.isLeader) return cb(new RequestError('NOT_LEADER', 'this node is not the leader', this.raft.status().leader));
    const secret = this.drawSecret();
    if (!(secret instanceof Uint8Array) || secret.length !== SECRET_BYTES)
      return cb(new RequestError('INTERNAL', `drawSecret gave ${String((secret as Uint8Array | undefined)?.length)} bytes, not ${SECRET_BYTES}`));
    try {
      this.planner.submit({ kind: CommandKind.clientRegister, secret, owner }, { cb } satisfies Pending);
    } catch (err) {
      cb(toRequestError(err as Error));
    }
  }

  /** Store a session for replay in `replayClass` (the leader computes due time, file and offset). */
  storeSession(session: Uint8Array, replayClass: number, envelope: Envelope | null, cb: CommandCallback, user?: string): void {
    if (!this.planner.isLeader) return cb(new RequestError('NOT_LEADER', 'this node is not the leader', this.raft.status().leader));
    if (envelope !== null && user !== undefined) {
      const seen = this.store.clientResult(readU64BE(envelope.client, 0), readU64BE(envelope.client, 8), envelope.secret, envelope.seq, user);
      if (seen === 'owner')
        return cb(new RequestError(SessionsErrorCode.clientOwner, `the client ID was registered by another user than ${JSON.stringify(user)}`));
    }
    const out = this.planner.storeSession(session, replayClass, { envelope, context: { cb } satisfies Pending });
    if (out.status === 'duplicate') cb(null, out.result);
    else if (out.status === 'rejected') cb(toRequestError(out.error));
  }

  /**
   * Schedule (issue 20): create a session on `topic` with one record and store it for replay in
   * `replayClass`, in one request; the envelope's seq, seq + 1 and seq + 2 number its three
   * commands (scheduleSession.ts). The answer is the store's, its value the session's ID.
   */
  scheduleSession(topic: string, bytes: Uint8Array, replayClass: number, envelope: Envelope | null, cb: CommandCallback, user?: string): void {
    if (!this.planner.isLeader) return cb(new RequestError('NOT_LEADER', 'this node is not the leader', this.raft.status().leader));
    // Refused before the create is proposed: the append's record is the one part of the schedule
    // whose encoding could fail after the create is in flight (the client port checks it too).
    const recordBytesMax = this.store.limits.recordBytesMax;
    if (bytes.length > recordBytesMax)
      return cb(new RequestError(CommandErrorCode.recordTooLarge, `the schedule's record of ${bytes.length} bytes is over ${recordBytesMax}`));
    // The projection and the answer of a store planned behind its append (bound or not).
    const storeAhead = (envelope: Envelope | null, topic: string, appendBytes: number, done: CommandCallback) =>
      [
        { topicByteLength: Buffer.byteLength(topic, 'utf8'), appendBytes },
        { envelope, context: { cb: done } satisfies Pending },
      ] as const;
    scheduleSession(
      {
        clientResult: (env, seq) => this.store.clientResult(readU64BE(env.client, 0), readU64BE(env.client, 8), env.secret, seq, user),
        seqsInFlight: (env, first, count) => this.planner.seqsInFlight(readU64BE(env.client, 8), first, count),
        propose: (cmd, done, onAppended) => {
          try {
            return this.planner.submit(cmd, { cb: done } satisfies Pending, (it) => onAppended(commandId(it.term, it.index)));
          } catch (err) {
            done(toRequestError(err as Error));
            return null;
          }
        },
        bindToCreate: () => this.scheduleBinding === 'always' || this.planner.inFlight === 0,
        proposeAfter: (create, bytes, env, done) => {
          try {
            this.planner.submitAfterCreate(create, bytes, env, { cb: done } satisfies Pending);
          } catch (err) {
            done(toRequestError(err as Error));
          }
        },
        storeAfterCreate: (create, cls, env, t, appendBytes, done) => this.planner.storeAfterCreate(create, cls, ...storeAhead(env, t, appendBytes, done)),
        submit: (cmd, done) => this.submit(cmd, done, user),
        storeAfterAppend: (session, cls, env, t, appendBytes, done) => this.planner.storeAfterAppend(session, cls, ...storeAhead(env, t, appendBytes, done)),
        storeSession: (session, cls, env, done) => this.storeSession(session, cls, env, done, user),
        error: (code, message) => new RequestError(code, message),
      },
      { topic, bytes, replayClass, envelope },
      cb,
    );
  }

  /**
   * A single-server membership change (add a learner, promote a learner, remove a member). Only the
   * leader accepts it; removing the leader itself starts a leadership transfer to the most
   * up-to-date voter and answers NOT_LEADER with that voter, where the change can be retried.
   */
  changeMembership(change: MembershipChange, cb: (err: RequestError | null, entry?: Entry) => void): void {
    if (!this.planner.isLeader) return cb(new RequestError('NOT_LEADER', 'this node is not the leader', this.raft.status().leader));
    if (change.type === 'remove' && change.node === this.id) {
      const st = this.raft.status();
      let best: NodeId | null = null;
      let bestMatch = -1;
      for (const v of st.membership.voters) {
        const pr = st.progress[v];
        if (v !== this.id && pr !== undefined && pr.match > bestMatch) {
          best = v;
          bestMatch = pr.match;
        }
      }
      if (best === null) return cb(new RequestError('MEMBERSHIP_LAST_VOTER', 'no other voter to hand leadership to'));
      this.raft.transferLeadership(best);
      return cb(new RequestError('NOT_LEADER', `removing the leader: leadership is moving to ${best}; retry there`, best));
    }
    this.raft.changeMembership(change, (err, _result, entry) => {
      if (err === null) return cb(null, entry);
      cb(refusalError(err, 'membership'));
    });
  }

  /** A linearizable read barrier (ReadIndex): cb(null) once reading the store is linearizable. */
  read(cb: (err: RequestError | null) => void): void {
    if (this.staleReads) return cb(null); // planted bug: answer from this node's state, leader or not
    this.raft.read((err) => cb(err ? toRequestError(err) : null));
  }

  stop(): void {
    this.raft.stop();
    this.planner.stepDown();
    this.dispatcher.reset(false);
  }

  // ---- consumer groups (issue 16) -----------------------------------------------------------

  /** GroupCreate on the leader: the result's value is the group's ID. */
  createGroup(topic: string, name: string, opts: { ackWaitMs?: number; maxDeliveries?: number; maxAckPending?: number }, cb: CommandCallback): void {
    if (!this.planner.isLeader) return cb(new RequestError('NOT_LEADER', 'this node is not the leader', this.raft.status().leader));
    const cmd: Command = {
      kind: CommandKind.groupCreate,
      topic,
      name,
      ackWaitMs: opts.ackWaitMs ?? GROUP_DEFAULTS.ackWaitMs,
      maxDeliveries: opts.maxDeliveries ?? GROUP_DEFAULTS.maxDeliveries,
      maxAckPending: opts.maxAckPending ?? GROUP_DEFAULTS.maxAckPending,
    };
    const bad = nameError(name) ?? this.clientCommandError(cmd);
    if (bad !== null) {
      return cb(
        new RequestError(
          bad,
          `group ${JSON.stringify(name)} on ${JSON.stringify(topic)}: a name of 1 to 64 bytes of printable UTF-8, a topic of 1 to ${this.store.limits.topicBytesMax} bytes, ackWaitMs 1 to 2^32-1, maxDeliveries and maxAckPending 1 to 65535`,
        ),
      );
    }
    this.submitInternal(cmd, cb);
  }

  /**
   * Why a command built from a client's fields cannot be proposed (null: it can), by the codec's
   * own rules: the planner asserts that what it proposes decodes, so client input must be refused
   * here, with a stable code, before it gets there (review of 2026-12-07: a group name of 65 bytes,
   * an empty topic, maxDeliveries 70,000 or a zero restore ID came back as CLIENT_ERR_INTERNAL).
   */
  private clientCommandError(cmd: Command): CommandErrorCode | null {
    let data: Uint8Array;
    try {
      data = encodeCommand(cmd);
    } catch (err) {
      if (err instanceof RangeError) return CommandErrorCode.number; // a field past its width
      throw err;
    }
    return parseCommand(new CommandView(), data, codecLimitsOf(this.store.limits));
  }

  /** GroupDelete by topic and name (the leader resolves the name to the group's ID). */
  deleteGroup(topic: string, name: string, cb: CommandCallback): void {
    if (!this.planner.isLeader) return cb(new RequestError('NOT_LEADER', 'this node is not the leader', this.raft.status().leader));
    const g = this.store.groupByName(topic, name);
    if (g === undefined) return cb(null, { ok: false, code: ResultCode.groupUnknown, value: null });
    this.submitInternal({ kind: CommandKind.groupDelete, group: this.store.groupCounts(g).id }, cb);
  }

  /**
   * DeadLetterReplay (the dead letter is ready again, delivered from 1) or DeadLetterDelete (the
   * group settled it: SessionCommit may follow) of one of a group's dead letters, by topic, group
   * name and restore ID (leader). A restore that is not a dead letter of the group is
   * SESSIONS_ERR_DEAD_LETTER_NOT_FOUND.
   */
  deadLetter(action: 'replay' | 'delete', topic: string, name: string, restoreId: Uint8Array, cb: CommandCallback): void {
    if (!this.planner.isLeader) return cb(new RequestError('NOT_LEADER', 'this node is not the leader', this.raft.status().leader));
    const g = this.store.groupByName(topic, name);
    if (g === undefined) return cb(null, { ok: false, code: ResultCode.groupUnknown, value: null });
    const kind = action === 'replay' ? CommandKind.deadLetterReplay : CommandKind.deadLetterDelete;
    const cmd: Command = { kind, group: this.store.groupCounts(g).id, restore: restoreId };
    const bad = this.clientCommandError(cmd);
    if (bad !== null) return cb(new RequestError(bad, 'the restore ID must name a log entry (16 bytes, an index of at least 1)'));
    this.submitInternal(cmd, cb);
  }

  /**
   * Every group with its counts (ready, in flight, redelivered, dead-lettered) and details (ready
   * now, waiting for a nack's delay, expired, the oldest pending due time and age, the topic's
   * scheduled sessions per replay class with the class's next due time, recent dead letters): this
   * node's applied state, ages by this node's clock.
   */
  groups(): GroupView[] {
    const now = this.clock();
    return [...this.store.consumerGroups()].map((g) => this.store.groupView(g, now));
  }

  /**
   * Attach a consumer of `group` on `topic` (leader only). Deliveries arrive through `onDelivery`;
   * answer each with `ack` or `nack`. `name` identifies the consumer across reconnections: what was
   * in flight to a name is redelivered at once when a consumer of that name attaches again.
   */
  consume(
    topic: string,
    group: string,
    name: string,
    onDelivery: (d: GroupDelivery) => void,
    opts: { maxAckPending?: number; onEnd?: (code: string, message: string) => void } = {},
  ): {
    close(): void;
    /** `remove`: a session the ack also removes (remove on ack), as a SessionDestroy would, when it settles the item. */
    ack(d: GroupDelivery, cb?: GroupCallback, remove?: RemoveOnAck): void;
    nack(d: GroupDelivery, delayMs?: number, cb?: GroupCallback): void;
  } {
    if (!this.planner.isLeader) throw new RequestError('NOT_LEADER', 'this node is not the leader', this.raft.status().leader);
    const g = this.store.groupByName(topic, group);
    if (g === undefined) throw new RequestError(ResultCode.groupUnknown, `no group ${group} on topic ${topic}`);
    // Checked here, at attach: a name no GroupDeliver can carry would make every delivery to it fail.
    const bad = nameError(name);
    if (bad !== null) throw new RequestError(bad, `consumer name ${JSON.stringify(name)}: 1 to 64 bytes of printable UTF-8`);
    const h = this.dispatcher.attach(g, name, onDelivery, opts);
    return {
      close: () => h.close(),
      ack: (d, cb, remove) => {
        // An older node refuses an ack that removes its session: only once the cluster turned it on.
        if (remove !== undefined && !this.ignoreFeatureFlags && !this.store.featureOn(FEATURES.removeOnAck)) {
          return cb?.({ code: FEATURE_DISABLED, message: 'remove-on-ack is not on in this cluster (sessionraft client feature enable remove-on-ack)' });
        }
        this.dispatcher.ack(d.group, d.restoreId, d.delivery, cb, remove);
      },
      nack: (d, delayMs = 0, cb) => this.dispatcher.nack(d.group, d.restoreId, d.delivery, delayMs, cb),
    };
  }

  /**
   * FeatureEnable (feature flags): turns `bits` on for the whole cluster, leader only. The
   * operator's promise is that every node runs a version that knows them (docs/sessions.md,
   * "Feature flags"); a cluster started by this version turns on all it knows by itself.
   */
  enableFeatures(bits: number, cb: CommandCallback): void {
    if (bits <= 0 || (bits & ~FEATURES_KNOWN) !== 0) return cb(new RequestError('BAD_REQUEST', `feature bits ${bits} unknown to this version`));
    this.submitInternal({ kind: CommandKind.featureEnable, features: bits }, cb);
  }

  /**
   * An auth command (issue 17: users, roles, permissions) on the leader. A UserPut carries the
   * password already hashed by the caller on this node (transport/client/password.ts): replicas
   * never see the plaintext.
   */
  submitAuth(cmd: Command, cb: CommandCallback): void {
    if (cmd.kind < CommandKind.userPut || cmd.kind > CommandKind.roleRevoke) return cb(new RequestError('BAD_REQUEST', 'not an auth command'));
    this.submitInternal(cmd, cb);
  }

  /** A command the node itself proposes (groups, acks): through the planner, on the leader. */
  private submitInternal(cmd: Command, cb?: (err: RequestError | null, result?: CommandResult) => void): void {
    if (!this.planner.isLeader) {
      cb?.(new RequestError('NOT_LEADER', 'this node is not the leader', this.raft.status().leader));
      return;
    }
    try {
      this.planner.submit(cmd, { cb: cb ?? (() => {}) } satisfies Pending);
    } catch (err) {
      cb?.(toRequestError(err as Error));
    }
  }

  private proposeBatch(batch: readonly Proposed[]): void {
    for (const p of batch) {
      const pending = p.context as Pending | null;
      this.raft.propose(
        { kind: EntryKind.command, data: p.data },
        (err, result, entry) => {
          if (pending === null) return;
          if (err) pending.cb(toRequestError(err));
          else pending.cb(null, result as CommandResult, entry);
        },
        p.tied,
      );
    }
  }

  private onDeferredOutcome(context: unknown, outcome: PlanOutcome): void {
    const pending = context as Pending | null;
    if (pending === null) return;
    if (outcome.status === 'duplicate') pending.cb(null, outcome.result);
    else if (outcome.status === 'rejected') pending.cb(toRequestError(outcome.error));
  }
}
