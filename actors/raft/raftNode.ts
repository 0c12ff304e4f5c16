/**
 * A Raft node as an actor: it owns the XState actor running the role machine, the in-memory log,
 * the durable log, the transport and the state machine, and executes each step's effects in the
 * order persist, then send, then apply. The same code runs in real processes and in the
 * deterministic simulator: the clock (ticks), randomness, scheduling (`defer`), disk and network
 * are all injected.
 */
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import { assert } from '../../machines/assert.js';
import { validateRaftConfig, type RaftConfig } from '../../machines/config.js';
import type { PlantedBug, RaftCore, RaftInput } from '../../machines/core.js';
import { createRaftCore, isMember, membershipAt } from '../../machines/core.js';
import { collectInto, Ready, type PersistParams, type RefusedParams, type SendSnapshotParams, type SnapshotChunkParams } from '../../machines/effects.js';
import type { Proposal, RaftEvent } from '../../machines/events.js';
import { isValidMembership, type MembershipChange } from '../../machines/membership.js';
import { entryOverheadBytes, RaftLog } from '../../machines/raftLog.js';
import { readBackServes } from '../../machines/leader.js';
import { createRaftMachine, type RaftMachine } from '../../machines/raftMachine.js';
import {
  TERM_MAX,
  type AppendRequest,
  type Entry,
  type FileByteRange,
  type HardState,
  type Membership,
  type NodeId,
  type RaftMessage,
  type RangeChunk,
  type RangeRequest,
  type SnapshotMeta,
} from '../../machines/types.js';
import { ReadBackError } from '../../storage/readBack.js';
import type { DurableLog, LogWrite, Recovered, SnapshotStore } from '../../storage/types.js';
import type { Transport } from '../../transport/peer/types.js';
import { ProposalError, ProposalTracker, type ProposalCallback } from './proposals.js';
import { RangeSyncReceiver, defaultRangeSyncOptions, serveRangeRequest, type RangeSyncOptions, type RangeSyncStore } from './rangeSync.js';
import { logReaderOf, ReadBackQueue } from './readBack.js';
import { SnapshotReceiver, SnapshotSender, type SnapshotTransferOptions, type StreamOutcome } from './snapshotTransfer.js';
import type { StateMachine } from './stateMachine.js';

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

export interface NodeOptions {
  readonly id: NodeId;
  /** The bootstrap configuration, used when no snapshot carries one. */
  readonly membership: Membership;
  readonly raft: RaftConfig;
  readonly recovered: Recovered;
  /** The snapshot bytes matching `recovered.snapshot`, if any. */
  readonly snapshot: { readonly meta: SnapshotMeta; readonly data: Uint8Array } | null;
  readonly durableLog: DurableLog;
  /**
   * Issue 20: while this node is not the leader, its log writes are made on the event loop
   * (`DurableLog.setInlineWrites`): a follower waits for its disk either way, and the thread pool
   * costs two wake-ups per batch. The leader keeps the pool (its loop has clients to serve).
   */
  readonly inlineFollowerWrites?: boolean;
  readonly snapshotStore: SnapshotStore;
  readonly transport: Transport;
  readonly stateMachine: StateMachine;
  readonly random: () => number;
  /** Run `fn` soon, after the current batch of events (setImmediate, or the simulator's queue). */
  readonly defer: (fn: () => void) => void;
  /** Take a snapshot once this many entries were applied since the last one. */
  readonly snapshotEntries: number;
  /**
   * Issue 20: ...and once the entries applied since the last snapshot weigh at least this fraction
   * of its bytes (entrySizeBytes), so that a large state is not rewritten for a few small entries
   * (an 8 MiB snapshot every 10,000 entries of 128 B cost 10-15 % of the cluster's CPU per command).
   * `logWindowBytesMax` still takes one whatever this says. The entries' bytes count their
   * overhead (entrySizeBytes); the snapshot's are its data. Default 0: entries alone decide.
   */
  readonly snapshotLogRatio?: number;
  /** Entries kept in the log below a snapshot, so slightly lagging followers need no snapshot. */
  readonly compactMarginEntries: number;
  /**
   * Issue 18: also take a snapshot once this many bytes of entries (by entrySizeBytes) were applied
   * since the last one, and keep at most a quarter of it below a snapshot (besides
   * compactMarginEntries). The in-memory log (and the WAL after compaction) then holds about this
   * plus the unapplied tail, whatever the entries' size. Default: no byte bound (entries only).
   */
  readonly logWindowBytesMax?: number;
  /**
   * Issue 18: entry data read back from the durable log per batch for a follower behind the
   * in-memory log (when the durable log can read back: the WAL keeps segments below the snapshot up
   * to its retainBytesMax). Default 1 MiB.
   */
  readonly readBackBatchBytesMax?: number;
  readonly snapshotTransfer: SnapshotTransferOptions;
  readonly bugs?: ReadonlySet<PlantedBug>;
  /** XState inspection (Stately inspector, or a file of inspection events). */
  readonly inspect?: (event: InspectionEvent) => void;
  /**
   * Called with the machine's state value and term after every event that changed either (and
   * once at start, with `xstate.init`): the console's recorder. Cheaper than `inspect`, for which
   * XState builds an object for every event, action and microstep (1-2 % of a busy node's CPU).
   */
  readonly onTransition?: (value: unknown, term: number, event: { readonly type: string }) => void;
  /** Called after every flush (the simulator checks invariants here). */
  readonly onStep?: (node: RaftNode) => void;
  /** Called with every batch of applied entries and their results. */
  readonly onApply?: (entries: readonly Entry[], results: readonly unknown[]) => void;
  /** Called once when the node stops because its disk failed. */
  readonly onFatal?: (err: Error) => void;
  /**
   * Started on empty storage without bootstrapping: refuse to vote or campaign until the
   * configuration holds this node as a learner (see RaftContext.votingBarred).
   */
  readonly votingBarred?: boolean;
  /** Range sync of the state machine's data files during snapshot installation (seed 004). */
  readonly rangeSync?: RangeSyncStore;
  readonly rangeSyncOptions?: RangeSyncOptions;
  /** What the host (the session node) wants to hear about. */
  readonly hooks?: NodeHooks;
  /**
   * Nodes outside the configuration in force whose messages are still judged by their term: the
   * peers the host authenticated (the transport's peers: --nodes, addresses of configurations, and
   * nodes admitted with a proof of the cluster secret or a certificate). A leader this node never
   * heard of (it missed the change that added it) or one that an uncommitted configuration removed
   * must reach it. Messages from anyone else outside the configuration are dropped and counted
   * (`message-from-non-member`) before they can move the term. Default: members only.
   */
  readonly isKnownPeer?: (id: NodeId) => boolean;
}

export interface NodeHooks {
  /** This node became leader of `term` (true) or stopped leading (false). Synchronous, after the step. */
  onLeadershipChanged?(isLeader: boolean, term: number): void;
  /** The leader appended these entries (in order, once each) for proposals it accepted. */
  onLeaderAppended?(entries: readonly Entry[]): void;
  /** A proposal batch was refused (and every proposal queued behind it). */
  onProposalsRefused?(): void;
  /**
   * On the leader, just before a batch of `count` proposals is stepped: it will be appended at
   * `firstIndex` in `term`, or refused whole. The host may still write into the proposals' bytes
   * (the planner binds a schedule's append and store to its create's ID); RaftNode checks after the
   * step that an accepted batch landed there.
   */
  onProposing?(firstIndex: number, term: number, count: number): void;
  /** A snapshot through `index` is durable (taken locally or installed from the leader). */
  onSnapshotSaved?(index: number): void;
  /** The configuration in force changed (an entry appended or truncated, or a snapshot installed). */
  onMembershipChanged?(membership: Membership): void;
  /**
   * A peer message was refused for what it claims rather than for being stale: `code` is one of the
   * rejection counters (`foreign-leader`: a same-term AppendEntries, heartbeat or snapshot from a
   * non-member while this node leads; `timeout-now-refused`; `message-from-non-member`;
   * `term-out-of-range`). The host logs it (the first at error level).
   */
  onPeerRejected?(code: string, message: RaftMessage): void;
}

type ReadCallback = (err: ProposalError | null) => void;

/** The chunk starts of a turn stepped whole (`RaftNode.boundBatch`). */
const oneChunk: readonly number[] = [0];

/** The proposals of one turn; `tiedAt`: positions proposed `withPrevious` (null: none). */
interface ProposalBatch {
  readonly proposals: Proposal[];
  readonly callbacks: ProposalCallback[];
  tiedAt: number[] | null;
}

interface PendingWrite {
  /** The durable-log sequence number, or 0 for a snapshot save. */
  readonly seq: number;
  /** The log through (index, term) is durable once this and every earlier write completed. */
  readonly index: number;
  readonly term: number;
  done: boolean;
  /** Messages held until this write (and every earlier one) is durable. */
  readonly held: RaftMessage[];
  /** A snapshot save: started only once every earlier write is durable. */
  start?: () => void;
}

export interface NodeStatus {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId | null;
  readonly leader: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly persistedIndex: number;
  readonly snapshotIndex: number;
  readonly corrupt: boolean;
  /** Started on empty storage without bootstrapping: may not vote until re-added and promoted. */
  readonly votingBarred: boolean;
  readonly stopped: boolean;
  readonly membership: Membership;
  readonly progress: Record<NodeId, { match: number; next: number; state: string; recentActive: boolean }>;
}

/** Default of NodeOptions.readBackBatchBytesMax. */
const readBackBatchBytesDefault = 1024 * 1024;

/** Entries applied (made into objects, handed to the state machine) in one batch. */
const applyBatchEntriesMax = 8192;

/**
 * The operating system's errors that mean the disk failed or is full, from the state machine's own
 * files: they stop the node (fail-stop) like a failed WAL write. Not ENOENT, EBADF, a short read
 * and the like: those mean a file is not what the state says, a bug to crash on (and to be seen by
 * the simulator), not a disk to give up on.
 */
const diskErrorCodes: ReadonlySet<string> = new Set(['EIO', 'ENOSPC', 'EDQUOT', 'EROFS', 'EFBIG']);

function isDiskError(err: unknown): err is Error {
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === 'string' && diskErrorCodes.has(code);
}
/** Streams of one snapshot refused in a row before the node encodes a new one (its file may be damaged). */
const snapshotStreamsRefusedMax = 3;
/** See RaftNode.answerOrphanedProposals: in minimum election timeouts (2 s with `sessionraft node`'s defaults). */
const orphanedProposalElectionTimeouts = 10;

/** One log write for a step's persists, in order: a truncation drops the entries queued at or after it. */
function logWrite(persists: readonly PersistParams[]): LogWrite {
  const entries: Entry[] = [];
  let truncateFrom: number | undefined;
  let hardState: HardState | undefined;
  for (const p of persists) {
    if (p.truncateFrom !== undefined) {
      truncateFrom = truncateFrom === undefined ? p.truncateFrom : Math.min(truncateFrom, p.truncateFrom);
      let keep = entries.length;
      while (keep > 0 && entries[keep - 1]!.index >= p.truncateFrom) keep--;
      entries.length = keep;
    }
    for (const e of p.entries) entries.push(e);
    if (p.hardState !== undefined) hardState = p.hardState;
  }
  return { entries, ...(truncateFrom !== undefined ? { truncateFrom } : {}), ...(hardState !== undefined ? { hardState } : {}) };
}

/** Whether an append's entry terms are a leader's: from prevTerm on, never decreasing, at most the message's term. */
function entryTermsInOrder(m: AppendRequest): boolean {
  let last = m.prevTerm;
  for (const e of m.entries) {
    if (e.term < last || e.term > m.term) return false;
    last = e.term;
  }
  return true;
}

export class RaftNode {
  readonly id: NodeId;
  readonly log: RaftLog;
  readonly core: RaftCore;
  private readonly machine: RaftMachine;
  private readonly actor: Actor<RaftMachine>;
  private readonly opts: NodeOptions;

  /** Effects of the events since the last flush, by kind, in the order they were produced. */
  private readonly ready = new Ready();
  private applyTo = 0;
  private wasLeader = false;
  /** Ticks since this node stopped leading with accepted proposals unanswered (`answerOrphanedProposals`). */
  private orphanedTicks = 0;
  private lastMembership: Membership | null = null;
  private leaderTerm = 0;
  private rangeSyncReceiver: RangeSyncReceiver | null = null;
  private pendingManifest: { meta: SnapshotMeta; data: Uint8Array; from: NodeId } | null = null;

  private readonly pendingWrites: PendingWrite[] = [];
  /** The highest sequence number the durable log reported. */
  private durableSeq = 0;
  /** An installed snapshot waiting to be queued behind this step's log write. */
  private snapshotSave: PendingWrite | null = null;
  private writing = false;
  private flushScheduled = false;
  /** The state value and term `onTransition` was last called with. */
  private lastValue: unknown = undefined;
  private lastTerm = -1;
  /** Issue 15: this node cannot prove yet which terms it voted in (RaftContext.termUnknown). */
  termUnknown(): boolean {
    return this.actor.getSnapshot().context.termUnknown;
  }

  /** Issue 9: this node may not vote or campaign yet (RaftContext.votingBarred). */
  votingBarred(): boolean {
    return this.actor.getSnapshot().context.votingBarred;
  }

  /** Issue 15: the durable log holds the term-unknown marker; removed once the learned term is durable (this write). */
  private termUnknownMarked = false;
  private termKnownSeq: number | null = null;
  private stepping = false;
  private readonly queue: RaftEvent[] = [];

  private appliedIndex: number;
  private readonly proposals = new ProposalTracker();
  private nextTag = 1;
  private proposalBatch: ProposalBatch | null = null;
  /**
   * Where the last batch shown to `onProposing` was to land (checked when it is accepted): its
   * chunks (one unless it was cut, see `stepProposals`) are tagged firstTag..lastTag, chunk k from
   * `firstIndex + chunkStarts[k]`.
   */
  private readonly boundBatch: { firstTag: number; lastTag: number; firstIndex: number; term: number; chunkStarts: readonly number[] } = {
    firstTag: -1,
    lastTag: -1,
    firstIndex: 0,
    term: 0,
    chunkStarts: oneChunk,
  };
  private nextReadCtx = 1;
  private readBatch: ReadCallback[] | null = null;
  private readonly readsByCtx = new Map<number, ReadCallback[]>();
  /** Reads confirmed by a quorum, waiting for the state machine to apply through their index. */
  private readonly readsWaitingApply: { index: number; callbacks: ReadCallback[] }[] = [];

  private readonly sender: SnapshotSender;
  /** Issue 18: reads of entries below the in-memory log, for lagging followers (null: the durable log cannot). */
  private readonly readBack: ReadBackQueue | null;
  private readonly receiver: SnapshotReceiver;
  /**
   * The snapshot Raft asked to install and the flush has not installed yet: the one its last
   * installSnapshot effect names. A completed snapshot Raft does not install (one at or below its
   * commit index, such as an older one completing in the same flush as a newer one) is dropped at
   * once; one slot, so at most one snapshot's bytes wait here (review of 2026-12-07).
   */
  private receivedSnapshot: { meta: SnapshotMeta; data: Uint8Array } | null = null;
  /**
   * The latest snapshot. Its bytes stay in memory only until its file is saved (`data` null after):
   * a follower that needs it gets it streamed from the file (issue 18).
   */
  private latestSnapshot: { meta: SnapshotMeta; data: Uint8Array | null } | null;
  private snapshotInProgress = false;
  /** Take a snapshot at the next chance even below the thresholds: the latest one's file could not be sent. */
  private snapshotForced = false;
  /** The snapshot index a forced snapshot was last asked for (at most one re-encoding per snapshot). */
  private snapshotForcedAt = -1;
  /** Streams of the latest snapshot that receivers refused in a row. */
  private snapshotStreamsRefused = 0;
  /** Bytes (by entrySizeBytes) of the entries applied since the latest snapshot's index. */
  private appliedBytesSinceSnapshot = 0;
  /**
   * Whose grid the next snapshot is placed against (snapshotPhase), while this node has not taken
   * one of its own on top of its latest snapshot: null for a node that started with none (every
   * node counts from index 0), the sender's ID after an install; undefined once it took its own
   * (each later one a full period after its last, so a restart keeps a node's place: review of
   * 2026-12-08, where the phase was applied again at every start and lined the nodes up again).
   */
  private snapshotPhaseRef: NodeId | null | undefined;
  /** The sender of the snapshot received and not yet installed (the grid it comes from). */
  private receivedSnapshotFrom: NodeId | null = null;
  /** Bytes past the window's trigger at the last snapshot it took, counted towards the next (maybeSnapshot). */
  private snapshotBytesCarry = 0;
  /** The latest snapshot's data bytes (saved, installed or recovered), for snapshotLogRatio. */
  private latestSnapshotBytes = 0;
  /**
   * The most entry bytes (by entrySizeBytes) applied while one local snapshot was being saved:
   * the log cannot be compacted during a save, so these entries stay in it until the save is
   * durable; their data only while the leader's held data is within the window (releaseApplied,
   * docs/performance.md, "Budget per part"). Grows with the save's time.
   */
  private appliedBytesDuringSaveMaxValue = 0;

  private stopped = false;
  private fatal: Error | null = null;
  /** Counters by stable code: rejected inputs and notable events. */
  readonly counters = new Map<string, number>();
  /** Data-file bytes fetched by range sync (what differed), over this node's life. */
  rangeBytesFetched = 0;

  constructor(opts: NodeOptions) {
    validateRaftConfig(opts.raft);
    // Not the recovered entries (issue 18): the log below is built from them, and a node restarting
    // with a million entries would otherwise keep a million Entry objects for its whole life.
    // Nor the snapshot's bytes once restored (issue 18): they are read from the file when sent.
    this.opts = { ...opts, recovered: { ...opts.recovered, entries: [] }, snapshot: null };
    this.id = opts.id;
    const rec = opts.recovered;
    this.log = RaftLog.recover(rec.snapshot, rec.entries);
    const membership = opts.snapshot?.meta.membership ?? opts.membership;
    this.core = createRaftCore({ id: opts.id, config: opts.raft, log: this.log, random: opts.random, membership, bugs: opts.bugs ?? new Set() });
    this.latestSnapshot = opts.snapshot === null ? null : { meta: opts.snapshot.meta, data: null };
    this.snapshotPhaseRef = opts.snapshot === null ? null : undefined;
    this.latestSnapshotBytes = opts.snapshot?.data.byteLength ?? 0;
    const ratio = opts.snapshotLogRatio ?? 0;
    assert(Number.isFinite(ratio) && ratio >= 0, `snapshotLogRatio must be a finite number >= 0, got ${ratio}`);
    if (opts.snapshot) {
      assert(rec.snapshot !== null && rec.snapshot.index === opts.snapshot.meta.index, 'snapshot bytes match the recovered snapshot');
      opts.stateMachine.restore(opts.snapshot.meta, opts.snapshot.data);
    }
    this.appliedIndex = this.log.snapshotIndex;
    const input: RaftInput = {
      term: rec.hardState.term,
      vote: rec.hardState.vote,
      commitIndex: this.log.snapshotIndex,
      // A lost hard state alone (firstBadIndex 0) leaves the log trustworthy: the node's terms are
      // unknown (issue 15), not its log.
      corrupt: rec.corruption !== null && rec.corruption.firstBadIndex !== 0,
      repairThroughIndex: rec.corruption === null || rec.corruption.firstBadIndex === 0 ? 0 : rec.corruption.lastIndexSeen,
      votingBarred: opts.votingBarred ?? false,
      // Issue 15: a node that cannot prove which terms it voted in (a lost hard state, now or at an
      // earlier start, or empty storage without bootstrapping) learns its term first.
      termUnknown: rec.termUnknown === true || rec.corruption?.firstBadIndex === 0 || (opts.votingBarred ?? false),
    };
    this.termUnknownMarked = rec.termUnknown === true;
    this.sender = new SnapshotSender(this.id, opts.snapshotTransfer, (m) => opts.transport.send(m.to, m));
    this.receiver = new SnapshotReceiver(this.id, opts.snapshotTransfer);
    const reader = logReaderOf(opts.durableLog);
    this.readBack =
      reader === null
        ? null
        : new ReadBackQueue(
            reader,
            opts.readBackBatchBytesMax ?? readBackBatchBytesDefault,
            opts.defer,
            (event) => this.step(event),
            (code, n) => this.count(code, n),
          );
    this.refreshReadBackFloor();
    const collect = collectInto(this.ready);
    this.machine = createRaftMachine(this.core).provide({
      actions: {
        ...collect,
        // Tracked at once, not at the flush: whatever answers proposals before then (a snapshot
        // install skipping them, a stop failing them) must find it.
        proposalAccepted: (args, p) => {
          this.proposals.accept(p.tag, p.firstIndex, p.lastIndex, p.term);
          collect.proposalAccepted(args, p);
        },
      },
    }) as RaftMachine;
    this.actor = createActor(this.machine, { input, ...(opts.inspect ? { inspect: opts.inspect } : {}) });
    opts.durableLog.onDurable = (seq) => this.onDurable(seq);
    opts.durableLog.onFatal = (err) => this.onDiskFatal(err);
    opts.durableLog.setInlineWrites?.(opts.inlineFollowerWrites === true);
    this.actor.start();
    if (opts.onTransition !== undefined) {
      const snap = this.actor.getSnapshot();
      this.lastValue = snap.value;
      this.lastTerm = snap.context.term;
      opts.onTransition(snap.value, snap.context.term, { type: 'xstate.init' });
    }
    this.flush();
  }

  // ---- inputs -------------------------------------------------------------------------------

  /** One logical clock tick (the host calls this every tickMs). */
  tick(): void {
    if (this.stopped) return;
    for (const failed of this.sender.tick()) this.queue.push(this.streamEnded(failed));
    if (this.rangeSyncReceiver !== null && this.rangeSyncReceiver.tick() === 'failed') {
      this.count('range-sync-failed');
      this.rangeSyncReceiver = null;
      this.pendingManifest = null;
    }
    this.step({ type: 'tick' });
    this.answerOrphanedProposals();
  }

  /**
   * Proposals this node accepted while it led, still unapplied once it has not led for
   * `orphanedProposalElectionTimeouts` minimum election timeouts, are answered 'leader-changed'
   * (UNKNOWN_OUTCOME to a client: they may yet commit under the new leader). A node that follows a
   * new leader learns their fate within a few round trips; one cut off from the cluster, or removed
   * before it heard of their fate, would otherwise hold those requests unanswered for good
   * (simulator seed 64996: a removed former leader held an auth change, and the workload waited on
   * it past the liveness bound).
   */
  private answerOrphanedProposals(): void {
    if (this.wasLeader || !this.proposals.hasPending()) {
      this.orphanedTicks = 0;
      return;
    }
    if (++this.orphanedTicks < orphanedProposalElectionTimeouts * this.core.config.electionTimeoutTicksMin) return;
    this.orphanedTicks = 0;
    this.count('proposals-orphaned', this.proposals.pendingCount());
    this.proposals.failAll(new ProposalError('leader-changed', this.actor.getSnapshot().context.leader));
  }

  /** A message from a peer (already validated by the transport's schema check). */
  receive(msg: RaftMessage): void {
    if (this.stopped) return;
    if (msg.to !== this.id) return this.count('wrong-receiver');
    // Never adopted: the next election would need term + 1 (the transport rejects these at decode).
    if (msg.term > TERM_MAX) return this.refuse('term-out-of-range', msg);
    // Vote requests of authenticated nodes missing from our configuration are judged by their log
    // like any other (issue 15, finding 4: a voter that missed two additions must not block every
    // election among a live majority); those of unauthenticated non-members are refused below.
    // Only the messages of members, or of peers the host authenticated, are judged by their term:
    // a leader of a newer configuration than ours (whose entries we may not have, or may have to
    // truncate) must reach us, a stranger must not move our term.
    if (!isMember(this.core, msg.from) && this.opts.isKnownPeer?.(msg.from) !== true) return this.refuse('message-from-non-member', msg);
    if (msg.type === 'timeoutNow' && !this.isFromCurrentLeader(msg)) return this.refuse('timeout-now-refused', msg);
    // Two leaders in one term cannot happen; from a non-member it is a forgery, refused (a member
    // doing it is fail-stop in the machine: docs/raft.md).
    if (
      (msg.type === 'append' || msg.type === 'heartbeat' || msg.type === 'snapshot') &&
      msg.term === this.term() &&
      this.role() === 'leader' &&
      !isMember(this.core, msg.from)
    ) {
      return this.refuse('foreign-leader', msg);
    }
    // A member acknowledges only what this leader sent it, and a leader's log never shrinks: an
    // acknowledgement past its end in its own term is a peer's bug or a forgery (the machine drops
    // it too; before, it reached an assertion).
    if (msg.type === 'appendResp' && msg.success && msg.term === this.term() && this.role() === 'leader' && msg.index > this.log.lastIndex()) {
      return this.refuse('append-resp-past-log', msg);
    }
    // A snapshot's configuration becomes the one in force: one a configuration entry could carry
    // (the codec refuses any other; this covers transports that skip it, the machine checks too).
    if (msg.type === 'snapshot' && !isValidMembership(msg.meta.membership)) return this.refuse('snapshot-membership-invalid', msg);
    // A leader's log: entry terms never decrease, start at prevTerm or later, never pass its term.
    // Else the WAL's own check stops the node (a review, 2026-12-07; the codec refuses these too,
    // this covers transports that skip it).
    if (msg.type === 'append' && !entryTermsInOrder(msg)) return this.refuse('append-entry-terms-invalid', msg);
    // Raft answers an older term itself (a rejection carrying ours); count it like other rejections.
    if (msg.term < this.term() && !(msg.type === 'voteResp' && msg.preVote)) this.count('stale-term');
    if (msg.type === 'snapshotResp') {
      const outcome = this.sender.onResponse(msg);
      if (outcome) this.step(this.streamEnded(outcome));
      // A newer term in the response still matters to Raft.
      if (msg.term > this.term()) this.step({ type: 'rpc.snapshotResp', msg });
      return;
    }
    switch (msg.type) {
      case 'vote':
        return this.step({ type: 'rpc.vote', msg });
      case 'voteResp':
        return this.step({ type: 'rpc.voteResp', msg });
      case 'append':
        return this.step({ type: 'rpc.append', msg });
      case 'appendResp':
        return this.step({ type: 'rpc.appendResp', msg });
      case 'heartbeat':
        return this.step({ type: 'rpc.heartbeat', msg });
      case 'heartbeatResp':
        return this.step({ type: 'rpc.heartbeatResp', msg });
      case 'timeoutNow':
        return this.step({ type: 'rpc.timeoutNow', msg });
      case 'snapshot':
        return this.step({ type: 'rpc.snapshot', msg });
      case 'rangeRequest':
        return this.serveRanges(msg);
      case 'rangeChunk':
        return this.receiveRangeChunk(msg);
    }
  }

  private serveRanges(msg: RangeRequest): void {
    const rs = this.opts.rangeSync;
    if (rs === undefined || this.role() !== 'leader' || msg.term !== this.term()) return this.count('range-request-refused');
    const opts = this.opts.rangeSyncOptions ?? defaultRangeSyncOptions;
    // What a receiver asks at once (rangeSync.ts): one range of any size, or ranges within
    // batchBytes. More is refused and counted: the whole request is read, hashed and sent in one
    // turn (a review, 2026-12-07: one 68 KB request made a leader read 1,000 MiB synchronously).
    if (msg.ranges.length > 1) {
      let bytes = 0;
      for (const r of msg.ranges) bytes += r.end - r.start;
      if (bytes > opts.batchBytes) return this.count('range-request-too-large');
    }
    if (!serveRangeRequest(this.id, this.term(), msg, rs, opts.chunkBytes, (m) => this.opts.transport.send(m.to, m))) {
      this.count('range-request-gone');
    }
  }

  private receiveRangeChunk(msg: RangeChunk): void {
    const r = this.rangeSyncReceiver;
    if (r === null || msg.term !== r.term) return this.count('range-chunk-unexpected');
    let outcome: ReturnType<RangeSyncReceiver['onChunk']>;
    try {
      outcome = r.onChunk(msg);
    } catch (err) {
      // Writing the range failed: the disk (fail-stop), or bytes the store refused (not the range's
      // digest: the leader's fault, or the wire's). This sync ends; the next snapshot starts over.
      if (isDiskError(err)) return this.onDiskFatal(err);
      this.count('range-chunk-refused');
      this.rangeSyncReceiver = null;
      this.pendingManifest = null;
      return;
    }
    this.step({ type: 'leader.alive', msg: { from: msg.from, term: msg.term } });
    if (outcome === 'done') this.rangeSyncDone();
  }

  private rangeSyncDone(): void {
    const m = this.pendingManifest;
    this.count('range-sync-done');
    this.rangeBytesFetched += this.rangeSyncReceiver?.bytesFetched ?? 0;
    this.rangeSyncReceiver = null;
    this.pendingManifest = null;
    if (m === null) return;
    this.snapshotCompleted(m.from, m.meta, m.data);
  }

  /**
   * A snapshot arrived whole (and its ranges, with range sync): Raft decides whether to install it.
   * Its bytes are kept only if it does (its installSnapshot effect is then the newest one, the one
   * the flush installs); they replace any kept before, whose install that effect supersedes. An
   * older snapshot completing after a newer one in the same flush (a repeated or reordered chunk,
   * or a new leader's older snapshot) is at or below the commit index the newer one set: only
   * acknowledged, and it must not take the newer one's place (before, it did, and the install's
   * check failed: peer input reached an assertion and stopped the process).
   */
  private snapshotCompleted(from: NodeId, meta: SnapshotMeta, data: Uint8Array): void {
    const installs = this.ready.installSnapshot;
    const before = installs.length;
    this.step({ type: 'snapshot.received', from, meta });
    const asked = installs.length > before ? installs[installs.length - 1]! : null;
    if (asked !== null && asked.meta.index === meta.index && asked.meta.term === meta.term) {
      this.receivedSnapshot = { meta, data };
      this.receivedSnapshotFrom = from;
    }
  }

  /**
   * Propose one command; batched with others proposed before the next flush. `withPrevious`: this
   * proposal must land in the same Raft batch as the one proposed just before it (appended with it
   * or refused with it), as a schedule's append and store with their create (the planner binds them
   * to the create's index). A batch larger than `proposalEntriesMax` is cut only between proposals
   * that are not so tied.
   */
  propose(proposal: Proposal, cb: ProposalCallback, withPrevious = false): void {
    if (this.stopped) return cb(new ProposalError('node-stopped', null));
    if (this.proposalBatch === null) {
      this.proposalBatch = { proposals: [], callbacks: [], tiedAt: null };
      this.scheduleFlush();
    }
    const batch = this.proposalBatch;
    if (withPrevious && batch.proposals.length > 0) (batch.tiedAt ??= []).push(batch.proposals.length);
    batch.proposals.push(proposal);
    batch.callbacks.push(cb);
  }

  /** A linearizable read barrier (ReadIndex): cb(null) once the state machine may be read. */
  read(cb: ReadCallback): void {
    if (this.stopped) return cb(new ProposalError('node-stopped', null));
    if (this.readBatch === null) {
      this.readBatch = [];
      this.scheduleFlush();
    }
    this.readBatch.push(cb);
  }

  transferLeadership(to: NodeId): void {
    this.step({ type: 'admin.transfer', to });
  }

  /**
   * A single-server membership change on the leader; `cb` is called once the configuration entry
   * is applied (or refused, with a stable code such as 'learner-behind' or 'config-change-pending').
   */
  changeMembership(change: MembershipChange, cb: ProposalCallback): void {
    if (this.stopped) return cb(new ProposalError('node-stopped', null));
    const tag = this.nextTag++;
    this.proposals.register(tag, [cb]);
    this.step({ type: 'admin.membership', tag, change });
  }

  campaign(): void {
    this.step({ type: 'admin.campaign' });
  }

  /** Stop processing (crash in the simulator, shutdown in a process). Pending callbacks fail. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.actor.stop();
    this.sender.cancelAll();
    this.readBack?.stop();
    const err = new ProposalError('node-stopped', null);
    this.proposals.failAll(err);
    if (this.proposalBatch) for (const cb of this.proposalBatch.callbacks) cb(err);
    this.proposalBatch = null;
    for (const cbs of this.readsByCtx.values()) for (const cb of cbs) cb(err);
    this.readsByCtx.clear();
    if (this.readBatch) for (const cb of this.readBatch) cb(err);
    this.readBatch = null;
    for (const w of this.readsWaitingApply) for (const cb of w.callbacks) cb(err);
    this.readsWaitingApply.length = 0;
  }

  // ---- state --------------------------------------------------------------------------------

  role(): Role {
    return this.actor.getSnapshot().value as Role;
  }

  term(): number {
    return this.actor.getSnapshot().context.term;
  }

  /** Whether a snapshot is being saved (or installed) now. */
  get savingSnapshot(): boolean {
    return this.snapshotInProgress;
  }

  /**
   * The most entry bytes applied while one local snapshot was being saved: their entries stay in
   * the log until the compaction after the save (their data only within the window: releaseApplied).
   */
  get appliedBytesDuringSaveMax(): number {
    return this.appliedBytesDuringSaveMaxValue;
  }

  status(): NodeStatus {
    const snap = this.actor.getSnapshot();
    const c = snap.context;
    const progress: NodeStatus['progress'] = {};
    if (this.core.leader) {
      for (const [id, pr] of this.core.leader.progress) {
        progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive };
      }
    }
    return {
      id: this.id,
      role: snap.value as Role,
      term: c.term,
      vote: c.vote,
      leader: c.leader,
      commitIndex: c.commitIndex,
      appliedIndex: this.appliedIndex,
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
      persistedIndex: this.log.persistedIndex,
      snapshotIndex: this.log.snapshotIndex,
      corrupt: c.corrupt,
      votingBarred: c.votingBarred,
      stopped: this.stopped,
      membership: this.core.membership,
      progress,
    };
  }

  /**
   * Bytes held by the parts of this node that have a size (issue 18): the in-memory log (its
   * chunks, typed arrays and recent entries; `logEntries` of them entry data), the latest snapshot
   * (kept to send to followers; a stream sends views of it) and a snapshot being received.
   */
  memory(): { log: number; logEntries: number; snapshot: number; snapshotReceiving: number } {
    return {
      log: this.log.memoryBytes(),
      logEntries: this.log.entryBytes(),
      snapshot: this.latestSnapshot?.data?.byteLength ?? 0,
      snapshotReceiving: this.receiver.bufferedBytes() + (this.receivedSnapshot?.data.byteLength ?? 0),
    };
  }

  /**
   * Entry `index` with its data: from memory, or read back from the durable log when this node
   * released them (RaftLog.releaseDataThrough). Throws a ReadBackError when neither holds it.
   */
  entryAt(index: number): Entry {
    if (index > this.log.dataFloor) return this.log.entry(index);
    const reader = logReaderOf(this.opts.durableLog);
    if (reader === null) throw new ReadBackError('read-closed', `entry ${index} was released and this log cannot read back`);
    return reader.readEntries(index, index, 1).entries[0]!;
  }

  isStopped(): boolean {
    return this.stopped;
  }

  /**
   * How many more proposals the batch forming now can take in one Raft step (`proposalEntriesMax`).
   * Beyond it the turn is cut into chunks (`stepProposals`); the client port checks this to hold a
   * turn's client commands to one step, and refuses a request that does not fit (BUSY).
   */
  proposalRoom(): number {
    return this.core.config.proposalEntriesMax - (this.proposalBatch?.proposals.length ?? 0);
  }

  fatalError(): Error | null {
    return this.fatal;
  }

  count(code: string, n = 1): void {
    this.counters.set(code, (this.counters.get(code) ?? 0) + n);
  }

  /** Counts a refused peer message and tells the host (which logs it). */
  private refuse(code: string, msg: RaftMessage): void {
    this.count(code);
    this.opts.hooks?.onPeerRejected?.(code, msg);
  }

  /** TimeoutNow is obeyed only from the leader of this node's current term (the machine's rule too). */
  private isFromCurrentLeader(msg: RaftMessage): boolean {
    const ctx = this.actor.getSnapshot().context;
    return msg.term === ctx.term && ctx.leader === msg.from && msg.from !== this.id;
  }

  // ---- the step loop ------------------------------------------------------------------------

  private step(event: RaftEvent): void {
    if (this.stopped) return;
    this.queue.push(event);
    if (this.stepping) return;
    this.stepping = true;
    try {
      // Bounded: each event is processed once; effects never enqueue events synchronously.
      const onTransition = this.opts.onTransition;
      for (let k = 0; k < this.queue.length; k++) {
        const event = this.queue[k]!;
        this.actor.send(event);
        if (onTransition !== undefined) {
          const snap = this.actor.getSnapshot();
          if (snap.value !== this.lastValue || snap.context.term !== this.lastTerm) {
            this.lastValue = snap.value;
            this.lastTerm = snap.context.term;
            onTransition(snap.value, snap.context.term, event);
          }
        }
      }
      this.queue.length = 0;
    } finally {
      this.stepping = false;
    }
    const snap = this.actor.getSnapshot();
    if (snap.error) throw snap.error;
    if (this.core.membership !== this.lastMembership) {
      this.lastMembership = this.core.membership;
      this.opts.hooks?.onMembershipChanged?.(this.core.membership);
    }
    const isLeader = snap.value === 'leader';
    if (isLeader !== this.wasLeader || (isLeader && snap.context.term !== this.leaderTerm)) {
      this.wasLeader = isLeader;
      this.opts.durableLog.setInlineWrites?.(!isLeader && this.opts.inlineFollowerWrites === true);
      this.leaderTerm = isLeader ? snap.context.term : 0;
      this.opts.hooks?.onLeadershipChanged?.(isLeader, snap.context.term);
    }
    this.scheduleFlush();
  }

  /**
   * Step the proposals batched this turn into Raft. At most `proposalEntriesMax` go in one step (the
   * leader refuses a larger batch whole, 'batch-too-large'): a larger batch, which the node's own
   * proposals (restores, deliveries, deferred stores) can make beside its clients' in one turn, is
   * cut into chunks, never between proposals tied with `withPrevious`. The chunks are stepped back
   * to back, so they land one after another as the one batch shown to `onProposing`; once one is
   * refused, the rest are refused with it unstepped (a later one must not land where an earlier one
   * was bound to).
   */
  private stepProposals(batch: ProposalBatch): void {
    const total = batch.proposals.length;
    const onProposing = this.opts.hooks?.onProposing;
    const b = this.boundBatch;
    const bound = onProposing !== undefined && this.leaderTerm > 0;
    const max = this.core.config.proposalEntriesMax;
    if (total <= max) {
      const tag = this.nextTag++;
      this.proposals.register(tag, batch.callbacks);
      if (bound) {
        b.firstTag = b.lastTag = tag;
        b.firstIndex = this.log.lastIndex() + 1;
        b.term = this.leaderTerm;
        b.chunkStarts = oneChunk;
        onProposing(b.firstIndex, this.leaderTerm, total);
      }
      this.step({ type: 'client.propose', tag, proposals: batch.proposals });
      return;
    }
    this.count('proposal-batch-cut');
    const tied = new Set(batch.tiedAt ?? []);
    const firstTag = this.nextTag;
    // Cut points first, and every chunk registered before anything is bound or stepped: a throw or a
    // stop from here on still answers every callback (stop fails whatever is registered).
    const starts: number[] = [];
    const ends: number[] = [];
    for (let from = 0; from < total;) {
      let end = Math.min(from + max, total);
      if (end < total && tied.has(end)) this.count('proposal-batch-cut-at-tie');
      while (end < total && end > from && tied.has(end)) end--;
      // A tied run longer than the limit (only with a tiny proposalEntriesMax) goes whole, and is refused.
      if (end === from) for (end = from + 1; end < total && tied.has(end);) end++;
      this.proposals.register(firstTag + starts.length, batch.callbacks.slice(from, end));
      starts.push(from);
      ends.push(end);
      from = end;
    }
    this.nextTag += ends.length;
    if (bound) {
      b.firstTag = firstTag;
      b.lastTag = firstTag + ends.length - 1;
      b.firstIndex = this.log.lastIndex() + 1;
      b.term = this.leaderTerm;
      b.chunkStarts = starts;
      onProposing(b.firstIndex, this.leaderTerm, total);
    }
    const refusals = this.ready.proposalRefused;
    let refused: { code: RefusedParams['code']; leader: NodeId | null } | null = null;
    for (let k = 0; k < ends.length && !this.stopped; k++) {
      const tag = firstTag + k;
      if (refused !== null) {
        refusals.push({ tag, code: refused.code, leader: refused.leader });
        continue;
      }
      this.step({ type: 'client.propose', tag, proposals: batch.proposals.slice(starts[k], ends[k]) });
      const last = refusals[refusals.length - 1];
      if (last !== undefined && last.tag === tag) refused = { code: last.code, leader: last.leader };
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.stopped) return;
    this.flushScheduled = true;
    this.opts.defer(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Execute the effects of every step since the last flush: persist, then send, then apply. */
  flush(): void {
    if (this.stopped) return;
    if (this.proposalBatch !== null) {
      const batch = this.proposalBatch;
      this.proposalBatch = null;
      this.stepProposals(batch);
    }
    if (this.readBatch !== null) {
      const ctx = this.nextReadCtx++;
      this.readsByCtx.set(ctx, this.readBatch);
      this.readBatch = null;
      this.step({ type: 'client.read', ctx });
    }
    const ready = this.ready;
    // Snapshot chunks and a completed snapshot come back into Raft as events.
    for (let k = 0; k < ready.snapshotChunk.length; k++) this.receiveChunk(ready.snapshotChunk[k]!);
    ready.snapshotChunk.length = 0;

    // 1. Persist (the follower's snapshot first: everything after it builds on it).
    const install = ready.installSnapshot.length > 0 ? ready.installSnapshot[ready.installSnapshot.length - 1]! : null;
    ready.installSnapshot.length = 0;
    if (install !== null) {
      this.installSnapshot(install.meta);
      if (this.stopped) return; // its files could not be made durable (fail-stop)
    }
    if (ready.persist.length > 0) {
      const lw = logWrite(ready.persist);
      ready.persist.length = 0;
      this.writing = true;
      let seq: number;
      try {
        seq = this.opts.durableLog.write(lw);
      } finally {
        this.writing = false;
      }
      if (this.termUnknownMarked && this.termKnownSeq === null && !this.actor.getSnapshot().context.termUnknown) this.termKnownSeq = seq;
      // A log may report durability from inside write() (it must not, but a planted bug does).
      this.pendingWrites.push({ seq, index: this.log.lastIndex(), term: this.log.lastTerm(), done: seq <= this.durableSeq, held: [] });
    }
    if (this.snapshotSave !== null) {
      // After the log write of this step (a truncation of entries the snapshot replaces): a crash
      // must never leave the new snapshot with the old entries after it.
      this.pendingWrites.push(this.snapshotSave);
      this.snapshotSave = null;
      this.releaseWrites();
    }
    // Proposals: tell the host what the leader appended, and refuse what was refused (with
    // everything queued behind it, so that accepted proposals never skip over a refused one).
    if (ready.proposalAccepted.length > 0) {
      const hook = this.opts.hooks?.onLeaderAppended;
      for (const a of ready.proposalAccepted) {
        const b = this.boundBatch;
        if (a.tag >= b.firstTag && a.tag <= b.lastTag) {
          const at = b.firstIndex + b.chunkStarts[a.tag - b.firstTag]!;
          if (a.firstIndex !== at || a.term !== b.term) assert(false, `batch ${a.tag} was bound at ${b.term}.${at} and appended at ${a.term}.${a.firstIndex}`);
        }
        if (hook && this.wasLeader && this.leaderTerm === a.term && a.lastIndex <= this.log.lastIndex() && this.log.term(a.lastIndex) === a.term) {
          hook(this.log.range(a.firstIndex, a.lastIndex));
        }
      }
      ready.proposalAccepted.length = 0;
    }
    if (ready.proposalRefused.length > 0) {
      const refusals = ready.proposalRefused.splice(0);
      for (const r of refusals) this.proposals.refuse(r.tag, new ProposalError(r.code, r.leader, r.detail, r.membershipCode));
      // (Proposals may have been queued by callbacks during this flush.)
      const queued = this.proposalBatch as { callbacks: ProposalCallback[] } | null;
      if (queued !== null) {
        const last = refusals[refusals.length - 1]!;
        this.proposalBatch = null;
        for (const cb of queued.callbacks) cb(new ProposalError(last.code, last.leader));
      }
      this.opts.hooks?.onProposalsRefused?.();
    }
    if (ready.readRefused.length > 0) {
      for (const r of ready.readRefused.splice(0)) this.refuseReads(r.tag, new ProposalError(r.code, r.leader));
    }
    // 2. Send: at once, or after every write issued so far is durable.
    const transport = this.opts.transport;
    const sends = ready.sends;
    if (sends.length > 0) {
      for (let k = 0; k < sends.length; k++) if (!sends[k]!.afterDurable) transport.send(sends[k]!.message.to, sends[k]!.message);
      const last = this.pendingWrites[this.pendingWrites.length - 1];
      for (const s of sends) {
        if (!s.afterDurable) continue;
        if (last === undefined) transport.send(s.message.to, s.message);
        else last.held.push(s.message);
      }
      sends.length = 0;
    }
    for (const s of ready.sendSnapshot) this.startSnapshotStream(s);
    ready.sendSnapshot.length = 0;
    if (ready.readEntries.length > 0) {
      for (const r of ready.readEntries) {
        if (this.readBack !== null) this.readBack.request(r);
        else this.step({ type: 'log.readBack', to: r.to, term: r.term, from: r.from, prevTerm: -1, entries: null });
      }
      ready.readEntries.length = 0;
    }
    // 3. Apply.
    for (const a of ready.apply) this.applyTo = Math.max(this.applyTo, a.toIndex);
    ready.apply.length = 0;
    if (this.applyTo > this.appliedIndex) {
      this.applyThrough(this.applyTo);
      if (this.stopped) return; // a data file's write failed (fail-stop): no reads, no snapshot
    } else if (this.readBack !== null && this.wasLeader) {
      // The last follower's acknowledgement of what is applied comes with nothing new to apply.
      this.releaseApplied();
    }
    if (ready.readReady.length > 0) {
      for (const r of ready.readReady) {
        const cbs = this.readsByCtx.get(r.ctx);
        if (cbs === undefined) continue;
        this.readsByCtx.delete(r.ctx);
        this.readsWaitingApply.push({ index: r.index, callbacks: cbs });
      }
      ready.readReady.length = 0;
    }
    this.serveReads();
    this.maybeSnapshot();
    this.opts.onStep?.(this);
  }

  private onDurable(seq: number): void {
    if (this.stopped) return;
    if (seq > this.durableSeq) this.durableSeq = seq;
    if (this.termKnownSeq !== null && seq >= this.termKnownSeq) {
      // The hard state of the learned term is durable: the term-unknown marker may go.
      this.termKnownSeq = null;
      this.termUnknownMarked = false;
      this.opts.durableLog.markTermKnown?.();
    }
    for (const w of this.pendingWrites) if (w.seq !== 0 && w.seq <= seq) w.done = true;
    // Not from inside write(): the write is pushed right after and released with the next report.
    if (!this.writing) this.releaseWrites();
  }

  private releaseWrites(): void {
    let k = 0;
    let last: PendingWrite | null = null;
    while (k < this.pendingWrites.length && this.pendingWrites[k]!.done) {
      last = this.pendingWrites[k]!;
      for (const m of last.held) this.opts.transport.send(m.to, m);
      k++;
    }
    const next = this.pendingWrites[k];
    if (next?.start !== undefined) {
      const start = next.start;
      delete next.start;
      start();
    }
    if (k === 0 || last === null) return;
    this.pendingWrites.splice(0, k);
    this.step({ type: 'storage.durable', index: last.index, term: last.term });
  }

  private onDiskFatal(err: Error): void {
    // Fail-stop: a failed write or fsync leaves the disk in an unknown state; never retry.
    this.fatal = err;
    this.count('disk-fatal');
    this.stop();
    this.opts.onFatal?.(err);
  }

  private applyThrough(to: number): void {
    // In batches (issue 18): a node restarting with a million entries to apply makes, and drops,
    // at most applyBatchEntriesMax entry objects at a time.
    while (this.appliedIndex < to && !this.stopped) {
      const from = this.appliedIndex + 1;
      if (from <= this.log.snapshotIndex) assert(false, `applying ${from} which is in the log`);
      const end = Math.min(to, from + applyBatchEntriesMax - 1);
      const entries = this.log.range(from, end);
      let results: readonly unknown[];
      try {
        results = this.opts.stateMachine.apply(entries);
      } catch (err) {
        // A data file's write failed (a full disk): nothing of this batch is answered, and the
        // next start applies it again from the log.
        if (isDiskError(err)) return this.onDiskFatal(err);
        throw err;
      }
      this.appliedIndex = end;
      for (let k = 0; k < entries.length; k++) this.appliedBytesSinceSnapshot += entries[k]!.data.byteLength + entryOverheadBytes;
      this.proposals.applied(entries, results);
      this.opts.onApply?.(entries, results);
    }
    if (this.readBack !== null) this.releaseApplied();
  }

  /**
   * Drop the data of applied entries no follower is known to need (RaftLog.releaseDataThrough): on
   * a follower everything it applied, on the leader what every follower also holds. A follower
   * that needs them later (a leader's lagging or wiped follower) gets them read back from the
   * durable log, or a snapshot (startSnapshotStream). Only what the durable log can read back now
   * (its floor moves as it is written, and with compactions).
   */
  private releaseApplied(): void {
    let through = this.appliedIndex;
    const log = this.log;
    const leader = this.wasLeader ? this.core.leader : null;
    // A follower behind keeps the leader's applied data only while it weighs less than the window:
    // past it, the follower reads them back like entries below a snapshot, and the leader's entry
    // data stays within the window plus the unapplied tail, however long a snapshot save takes.
    const heldBytesMax = this.opts.logWindowBytesMax ?? Infinity;
    let pastBehind = false;
    if (leader !== null) {
      let behind = through;
      for (const pr of leader.progress.values()) if (pr.match < behind) behind = pr.match;
      if (log.entryBytes() <= heldBytesMax) through = behind;
      else pastBehind = behind < through;
    }
    if (through <= log.dataFloor) return;
    // The WAL's floor becomes known once it holds an entry; after that it moves only with
    // compactions, which refresh it (saveSnapshot): no refresh per apply while it stays above.
    if (log.readBackFloor === 0) this.refreshReadBackFloor();
    if (log.readBackFloor === 0 || log.readBackFloor > log.dataFloor + 1) return;
    log.releaseDataThrough(through);
    if (pastBehind) this.count('applied-released-past-window');
  }

  private serveReads(): void {
    let k = 0;
    while (k < this.readsWaitingApply.length && this.readsWaitingApply[k]!.index <= this.appliedIndex) {
      for (const cb of this.readsWaitingApply[k]!.callbacks) cb(null);
      k++;
    }
    if (k > 0) this.readsWaitingApply.splice(0, k);
  }

  private refuseReads(ctx: number, err: ProposalError): void {
    const cbs = this.readsByCtx.get(ctx);
    if (cbs === undefined) return;
    this.readsByCtx.delete(ctx);
    for (const cb of cbs) cb(err);
  }

  // ---- snapshots ----------------------------------------------------------------------------

  /** Take a local snapshot and compact the log when enough was applied since the last one. */
  private maybeSnapshot(): void {
    if (this.snapshotInProgress || this.stopped) return;
    const applied = this.appliedIndex;
    const base = this.latestSnapshot?.meta.index ?? 0;
    const window = this.opts.logWindowBytesMax;
    const phase = this.snapshotPhaseRef === undefined ? 1 : this.snapshotPhase(this.snapshotPhaseRef);
    const byBytes = window !== undefined && this.appliedBytesSinceSnapshot + this.snapshotBytesCarry >= window * phase && applied > base;
    const byEntries =
      applied - base >= this.opts.snapshotEntries * phase &&
      this.appliedBytesSinceSnapshot >= (this.opts.snapshotLogRatio ?? 0) * this.latestSnapshotBytes * phase;
    if (!byEntries && !byBytes && !this.snapshotForced) return;
    const term = this.log.term(applied);
    if (term < 0) return;
    this.snapshotForced = false;
    this.snapshotPhaseRef = undefined;
    const meta: SnapshotMeta = { index: applied, term, membership: membershipAt(this.core, applied) };
    // Parts when the state machine has them (views of its records, not a copy: issue 18).
    const sm = this.opts.stateMachine;
    const deferred = sm.snapshotPartsDeferred?.() ?? null;
    // (A deferred snapshot's parts may be filled only once it is durable: counted at the save.)
    const data = deferred !== null ? deferred.parts : sm.snapshotParts !== undefined ? sm.snapshotParts() : sm.snapshot();
    this.snapshotInProgress = true;
    // What the window's trigger went past (a flush's entries beyond it, a save still running when
    // it was reached) counts towards the next, up to half a window: each node keeps to its own
    // grid of the same applied bytes, and the phases of snapshotPhase stay apart.
    this.snapshotBytesCarry =
      byBytes && window !== undefined ? Math.min(window / 2, Math.max(0, this.appliedBytesSinceSnapshot + this.snapshotBytesCarry - window * phase)) : 0;
    // Counted from this snapshot's index (entries applied while it is saved count towards the next).
    this.appliedBytesSinceSnapshot = 0;
    const save = (): void => {
      let dataBytes = 0;
      if (data instanceof Uint8Array) dataBytes = data.byteLength;
      else for (let k = 0; k < data.length; k++) dataBytes += data[k]!.byteLength;
      this.saveSnapshot(meta, data, dataBytes, deferred?.dataCrc);
    };
    if (deferred === null) return save();
    deferred.durable((err) => {
      if (this.stopped) {
        this.snapshotInProgress = false;
        return;
      }
      if (err) {
        this.snapshotInProgress = false;
        return this.onDiskFatal(err);
      }
      save();
    });
  }

  /**
   * The share of the snapshot thresholds the next snapshot waits for when this node took none of
   * its own on top of its latest: the k-th of n voters by ID keeps to a grid k/n of a period behind
   * the first voter's. From index 0 (no snapshot: `ref` null, the first voter's place) that is
   * 1 - k/n of the thresholds; after an install from the voter `ref` (whose grid the snapshot is
   * on), the distance from its place to this node's. The thresholds count from each node's latest
   * snapshot, so the nodes of a cluster started together snapshotted at the same index, every time,
   * and stalled together: with 90,000 active sessions both followers slowed at once, and the leader
   * stepped down for want of a quorum (2026-12-07 night). Each later snapshot comes a full period
   * after the node's last, so the nodes stay apart, across restarts too (a node that restarts with
   * a snapshot of its own is already on its grid). A learner, or a sender no longer a voter: 1.
   * Deterministic: the voters' IDs only.
   */
  private snapshotPhase(ref: NodeId | null): number {
    const voters = [...this.core.membership.voters].sort();
    const n = voters.length;
    const k = voters.indexOf(this.core.id);
    const kRef = ref === null ? 0 : voters.indexOf(ref);
    if (k < 0 || kRef < 0) return 1;
    const behind = (((kRef - k) % n) + n) % n;
    return behind === 0 ? 1 : behind / n;
  }

  private saveSnapshot(meta: SnapshotMeta, data: Uint8Array | readonly Uint8Array[], dataBytes: number, dataCrc?: number): void {
    this.opts.snapshotStore.save(
      meta,
      data,
      (err) => {
        this.snapshotInProgress = false;
        // Counted from the save's start (maybeSnapshot zeroes it then), so: applied during the save.
        if (this.appliedBytesSinceSnapshot > this.appliedBytesDuringSaveMaxValue) this.appliedBytesDuringSaveMaxValue = this.appliedBytesSinceSnapshot;
        if (this.stopped) return;
        if (err) return this.onDiskFatal(err);
        // Never back to an older snapshot (one installed while this one was saved is newer).
        if (this.latestSnapshot === null || this.latestSnapshot.meta.index <= meta.index) {
          this.latestSnapshot = { meta, data: null };
          this.latestSnapshotBytes = dataBytes;
          this.snapshotStreamsRefused = 0;
        }
        this.opts.hooks?.onSnapshotSaved?.(meta.index);
        const compactTo = Math.min(this.compactPoint(meta.index), this.log.persistedIndex);
        if (compactTo > this.log.snapshotIndex) {
          this.log.compact(compactTo);
          // The WAL keeps what its retention allows below this (issue 18: read back for followers).
          this.opts.durableLog.compact(compactTo);
          this.refreshReadBackFloor();
        }
        this.count('snapshot-taken');
        // One that came due while this one was saved starts now, not at the next flush.
        this.maybeSnapshot();
      },
      dataCrc,
    );
  }

  /** Tells the machines' log how far back the durable log can read (after each of its compactions). */
  private refreshReadBackFloor(): void {
    const reader = this.readBack === null ? null : logReaderOf(this.opts.durableLog);
    this.log.readBackFloor = reader === null ? 0 : reader.readBackFloor();
  }

  /**
   * Where to compact the log after a snapshot through `index`: compactMarginEntries below it, and
   * (with logWindowBytesMax) at most a quarter of the window's bytes below it.
   */
  private compactPoint(index: number): number {
    const byEntries = index - this.opts.compactMarginEntries;
    const window = this.opts.logWindowBytesMax;
    if (window === undefined) return byEntries;
    const marginBytesMax = window / 4;
    let at = index;
    let kept = 0;
    // Bounded by compactMarginEntries steps.
    while (at > byEntries && at > this.log.snapshotIndex) {
      const bytes = this.log.bytesBetween(at, at);
      if (kept + bytes > marginBytesMax) break;
      kept += bytes;
      at--;
    }
    return at;
  }

  private startSnapshotStream(p: SendSnapshotParams): void {
    if (this.sender.isStreaming(p.to)) return;
    const snap = this.latestSnapshot;
    // Entries this node holds without their data (released while it followed, or past the log
    // window while it leads) above its latest snapshot: a follower that installs that snapshot
    // gets them read back, where the durable log can serve them from there. Where it cannot, only
    // a snapshot through them helps: take one; Raft asks again later. (Forced every time, a leader
    // under load never sent one: each save ends below the data floor that moved during it.)
    // A read back that failed from above the latest snapshot fails again after it (a damaged
    // record): the follower holds that snapshot already. Only a newer one helps (`unreadFrom`; a
    // forced one is taken at the applied index, at or above the read's end, so it is sent even
    // under load). From at or below it, the latest one gets the follower past the read's start.
    const log = this.log;
    const floor = log.dataFloor;
    const unserved =
      snap === null ||
      snap.meta.index < (p.unreadFrom ?? 0) ||
      (snap.meta.index < floor &&
        (this.readBack === null || !readBackServes(this.core.config, log.readBackFloor, log.snapshotIndex, floor, snap.meta.index + 1)));
    if (floor > log.snapshotIndex && unserved) {
      this.forceSnapshot(snap?.meta.index ?? 0);
      this.step({ type: 'snapshot.sendDone', to: p.to, index: 0, ok: false });
      return;
    }
    // Not yet saved (a snapshot just installed): Raft asks again later.
    if (snap === null || snap.meta.index < this.log.snapshotIndex || snap.data !== null) {
      this.step({ type: 'snapshot.sendDone', to: p.to, index: 0, ok: false });
      return;
    }
    const source = this.opts.snapshotStore.openData(snap.meta);
    if (source === null) {
      this.count('snapshot-unreadable');
      this.forceSnapshot(snap.meta.index);
      this.step({ type: 'snapshot.sendDone', to: p.to, index: 0, ok: false });
      return;
    }
    this.count('snapshot-sent');
    const ended = this.sender.start(p.to, p.term, snap.meta, source);
    if (ended !== null) this.step(this.streamEnded(ended));
  }

  /**
   * A stream ended. A file that cannot be read, or streams refused three times in a row (a damaged
   * file fails the receiver's check), make the node encode a new snapshot, once per snapshot.
   */
  private streamEnded(o: StreamOutcome): Extract<RaftEvent, { type: 'snapshot.sendDone' }> {
    // Only the latest snapshot's streams count: an older one is never sent again anyway.
    const latest = this.latestSnapshot !== null && o.index === this.latestSnapshot.meta.index;
    if (o.readFailed === true) this.count('snapshot-unreadable');
    if (latest && o.ok) this.snapshotStreamsRefused = 0;
    if (latest && o.refused === true) this.snapshotStreamsRefused++;
    if (latest && (o.readFailed === true || this.snapshotStreamsRefused >= snapshotStreamsRefusedMax)) this.forceSnapshot(o.index);
    return { type: 'snapshot.sendDone', to: o.to, index: o.index, ok: o.ok };
  }

  private forceSnapshot(index: number): void {
    // A snapshot being saved now will be newer than the one that failed: nothing to force. Once
    // per snapshot index, unless more was applied since (then the new one is not a re-encoding of
    // it: a read back that fails above a snapshot once forced at its own index needs it; review of
    // 2026-12-07).
    if ((this.snapshotForcedAt === index && this.appliedIndex <= index) || this.snapshotInProgress) return;
    this.snapshotForcedAt = index;
    this.snapshotForced = true;
    this.count('snapshot-forced');
    this.maybeSnapshot();
  }

  private receiveChunk(p: SnapshotChunkParams): void {
    const out = this.receiver.onChunk(p.term, p.chunk);
    this.opts.transport.send(out.response.to, out.response);
    if (out.kind === 'corrupt') return this.count('snapshot-checksum');
    if (out.kind !== 'complete') return;
    const rs = this.opts.rangeSync;
    if (rs === undefined) {
      this.snapshotCompleted(p.chunk.from, out.meta, out.data);
      return;
    }
    // The manifest arrived: fetch the data-file ranges that differ before installing it.
    let missing: FileByteRange[];
    try {
      missing = rs.missingRanges(out.data);
    } catch (err) {
      // Reading its own files failed (fail-stop), or the manifest is refused (other limits).
      if (isDiskError(err)) return this.onDiskFatal(err);
      return this.count('snapshot-manifest-refused');
    }
    this.pendingManifest = { meta: out.meta, data: out.data, from: p.chunk.from };
    this.rangeSyncReceiver = new RangeSyncReceiver(
      this.id,
      p.chunk.from,
      p.term,
      out.meta.index,
      missing,
      rs,
      this.opts.rangeSyncOptions ?? defaultRangeSyncOptions,
      (m) => this.opts.transport.send(m.to, m),
      (code) => this.count(code),
    );
    if (this.rangeSyncReceiver.start() === 'done') this.rangeSyncDone();
  }

  private installSnapshot(meta: SnapshotMeta): void {
    const snap = this.receivedSnapshot;
    assert(snap !== null && snap.meta.index === meta.index && snap.meta.term === meta.term, 'installing the snapshot received');
    this.receivedSnapshot = null;
    try {
      this.opts.stateMachine.restore(meta, snap.data);
    } catch (err) {
      // Its files' fsync failed: nothing depends on the snapshot yet (it is saved below).
      if (isDiskError(err)) return this.onDiskFatal(err);
      throw err;
    }
    this.appliedIndex = meta.index;
    this.appliedBytesSinceSnapshot = 0;
    this.snapshotBytesCarry = 0;
    // The next one is placed against the sender's grid, not on it (a node that installs would
    // otherwise snapshot with the leader from then on: review of 2026-12-08).
    this.snapshotPhaseRef = this.receivedSnapshotFrom;
    this.receivedSnapshotFrom = null;
    this.latestSnapshotBytes = snap.data.byteLength;
    this.applyTo = Math.max(this.applyTo, meta.index);
    this.proposals.skippedThrough(meta.index);
    this.latestSnapshot = snap;
    this.count('snapshot-installed');
    // The snapshot must be durable before anything that depends on it is acknowledged, and only
    // after the log write that truncates what it replaces (flush queues it behind that write).
    this.snapshotInProgress = true;
    const pending: PendingWrite = {
      seq: 0,
      index: this.log.lastIndex(),
      term: this.log.lastTerm(),
      done: false,
      held: [],
      start: () =>
        this.opts.snapshotStore.save(meta, snap.data, (err) => {
          this.snapshotInProgress = false;
          if (this.stopped) return;
          if (err) return this.onDiskFatal(err);
          // Saved: from now on it is sent from its file (issue 18).
          if (this.latestSnapshot === snap) {
            this.latestSnapshot = { meta, data: null };
            this.snapshotStreamsRefused = 0;
          }
          this.opts.durableLog.compact(meta.index);
          this.refreshReadBackFloor();
          this.opts.hooks?.onSnapshotSaved?.(meta.index);
          pending.done = true;
          this.releaseWrites();
        }),
    };
    this.snapshotSave = pending;
  }
}
