/**
 * The state a Raft node's machine works on. Small, frequently read values live in XState context
 * (`RaftContext`); the log and the leader's per-peer progress live in `RaftCore`, outside context,
 * changed in place (copying them on every event would cost more than the whole step).
 */
import type { RaftConfig } from './config.js';
import { decodeMembership, holdsMember } from './membership.js';
import type { Progress } from './progress.js';
import type { RaftLog } from './raftLog.js';
import { safetyRules, type SafetyRules } from './rules.js';
import type { Entry, Membership, NodeId } from './types.js';

/**
 * Bugs that the simulator plants on purpose to prove that it catches them. Those in the core are
 * alternative safety rules swapped in when the core is created (machines/rules.ts); production
 * code passes an empty set.
 */
export type PlantedBug =
  | 'commit-previous-term'
  | 'vote-ignores-log'
  | 'ack-before-persist'
  | 'no-truncate-check'
  | 'skip-fsync'
  | 'stale-read'
  | 'forget-lost-term'
  | 'read-without-quorum'
  | 'commit-before-ack'
  | 'skip-permission-at-apply'
  | 'deliver-before-due'
  | 'ignore-feature-flags';

export const plantedBugs: readonly PlantedBug[] = [
  'commit-previous-term',
  'vote-ignores-log',
  'ack-before-persist',
  'no-truncate-check',
  'skip-fsync',
  'forget-lost-term',
  'read-without-quorum',
  'commit-before-ack',
  'skip-permission-at-apply',
  'deliver-before-due',
  'ignore-feature-flags',
];

/** A ReadIndex request waiting for its quorum confirmation. */
interface PendingRead {
  readonly ctx: number;
  /** The commit index when the read arrived (0 while the leader has not committed in its term). */
  index: number;
}

/** Role-local state of a leader: created when a node becomes leader, dropped when it steps down. */
export interface LeaderState {
  readonly progress: Map<NodeId, Progress>;
  /** Bytes of entries appended in this term and not yet committed (flow control for proposals). */
  uncommittedBytes: number;
  /** An entry of this term is committed (ReadIndex and membership changes wait for it). */
  committedInTerm: boolean;
  /** Reads not yet confirmed by a quorum, oldest first; `ctx` increases. */
  readonly pendingReads: PendingRead[];
  /** The newest ReadIndex context sent in heartbeats. */
  readCtxSent: number;
  /** Leadership transfer target, if one is in progress. */
  transferee: NodeId | null;
  transferElapsedTicks: number;
}

export interface RaftCore {
  readonly id: NodeId;
  readonly config: RaftConfig;
  readonly log: RaftLog;
  /** Injected random source in [0, 1): seeded in the simulator. */
  readonly random: () => number;
  /**
   * The configuration in force: that of the newest configuration entry in the log (committed or
   * not: single-server changes take effect when appended), else `baseMembership`. Kept current
   * by `refreshMembership` after every change of the log.
   */
  membership: Membership;
  /** The configuration of the snapshot the log starts from, or the bootstrap configuration. */
  baseMembership: Membership;
  /** The entry `membership` was decoded from (null: base). */
  membershipEntry: Entry | null;
  /** The safety rules, with planted bugs if any (resolved once, here: the steps never test for a plant). */
  readonly rules: SafetyRules;
  leader: LeaderState | null;
  /** Reused scratch space for quorum arithmetic. */
  readonly scratch: number[];
}

export interface RaftContext {
  readonly term: number;
  readonly vote: NodeId | null;
  /** The leader of `term` as far as this node knows. */
  readonly leader: NodeId | null;
  readonly commitIndex: number;
  /** Entries through this index were handed to the state machine. */
  readonly applyRequestedIndex: number;
  readonly electionElapsedTicks: number;
  /** This round's randomized election timeout, in [min, 2*min). */
  readonly electionTimeoutTicks: number;
  readonly heartbeatElapsedTicks: number;
  /** Votes received in the current (pre-)campaign. */
  readonly votes: Readonly<Record<NodeId, boolean>>;
  /** The current campaign answers a TimeoutNow (voters ignore their lease for it). */
  readonly transferCampaign: boolean;
  /**
   * Set by a (pre-)candidate that steps down because a vote request carried a newer term: the
   * follower it becomes keeps this round's election timer (Raft, Figure 2: only a leader's messages
   * or a granted vote restart it), so a stale candidate's campaigns cannot cost a node that could
   * win its rounds (issue 15, seed 2459). Cleared on entering follower.
   */
  readonly keepElectionTimer: boolean;
  /**
   * Campaign with a pre-vote from now on, whatever `RaftConfig.preVote` says: set when a voter
   * refused our RequestVote as a node outside its configuration that it would not vote for
   * (`isUngrantedNonMemberVote`: it holds our removal; its answer carries `nonMember`). A removed
   * node that missed its removal would otherwise keep raising the term of every member that missed
   * it too, and their newer terms would knock down the campaigns of nodes that can win (seed 60264,
   * pre-vote off). A pre-vote raises no term unless a majority would elect us, so a node added
   * again later can still win. Kept until the node restarts.
   */
  readonly preVoteLearned: boolean;
  /** Storage found damage: this node must not vote or lead until repaired through `repairThroughIndex`. */
  readonly corrupt: boolean;
  readonly repairThroughIndex: number;
  /**
   * Started on empty storage without bootstrapping: this node may have voted before under its ID
   * and lost the record, so it must not vote or campaign until it is a learner of the cluster
   * (added again after its old membership was removed), and then promoted.
   */
  readonly votingBarred: boolean;
  /**
   * Issue 15: this node cannot prove which terms it voted in (its hard state was lost, or it
   * started on empty storage without bootstrapping). Until it learned a term at least as large as
   * any it may have voted in, from a majority of the other voters (`termAnswers`), it neither votes
   * nor acknowledges a leader; then it takes that term with its own vote, so that it never votes in
   * it (docs/raft.md, "A node that lost its hard state").
   */
  readonly termUnknown: boolean;
  /** While `termUnknown`: the highest term each other voter told this node about. */
  readonly termAnswers: Readonly<Record<NodeId, number>>;
  /**
   * The highest index this node's log was verified through by the AppendEntries consistency check
   * of the leader of the current term (or a snapshot it installed). A follower with damaged storage
   * learns the commit index from heartbeats only this far (issue 15, finding 5).
   */
  readonly verifiedIndex: number;
}

export interface RaftInput {
  readonly term: number;
  readonly vote: NodeId | null;
  /** Commit index known at start (the snapshot index: everything in it is committed). */
  readonly commitIndex: number;
  readonly corrupt: boolean;
  readonly repairThroughIndex: number;
  /** See RaftContext.votingBarred (default false). */
  readonly votingBarred?: boolean;
  /** See RaftContext.termUnknown (default false). */
  readonly termUnknown?: boolean;
}

/** A core over a (recovered) log; `membership` is the snapshot's or the bootstrap configuration. */
export function createRaftCore(o: {
  readonly id: NodeId;
  readonly config: RaftConfig;
  readonly log: RaftLog;
  readonly random: () => number;
  readonly membership: Membership;
  readonly bugs?: ReadonlySet<PlantedBug>;
}): RaftCore {
  const core: RaftCore = {
    id: o.id,
    config: o.config,
    log: o.log,
    random: o.random,
    membership: o.membership,
    baseMembership: o.membership,
    membershipEntry: null,
    rules: safetyRules(o.bugs ?? new Set()),
    leader: null,
    scratch: [],
  };
  refreshMembership(core);
  return core;
}

/** Recompute the configuration in force after the log changed; returns whether it changed. */
export function refreshMembership(core: RaftCore): boolean {
  const e = core.log.lastConfigEntry();
  if (e === core.membershipEntry && (e !== null || core.membership === core.baseMembership)) return false;
  core.membershipEntry = e;
  core.membership = e === null ? core.baseMembership : decodeMembership(e.data);
  return true;
}

/** The configuration in force at `index` (for a snapshot taken there). */
export function membershipAt(core: RaftCore, index: number): Membership {
  const e = core.log.configEntryAt(index);
  return e === null ? core.baseMembership : decodeMembership(e.data);
}

export function isVoter(core: RaftCore, id: NodeId): boolean {
  return core.membership.voters.includes(id);
}

export function isMember(core: RaftCore, id: NodeId): boolean {
  return holdsMember(core.membership, id);
}

/** Peers that receive the log: every member but this node. */
export function peersOf(core: RaftCore): NodeId[] {
  const out: NodeId[] = [];
  for (const v of core.membership.voters) if (v !== core.id) out.push(v);
  for (const l of core.membership.learners) if (l !== core.id) out.push(l);
  return out;
}

/** May this node vote (and so campaign)? A voter of the configuration in force, with trustworthy storage. */
function mayVote(core: RaftCore, ctx: RaftContext): boolean {
  return isVoter(core, core.id) && mayGrantVote(core, ctx);
}

/**
 * May this node grant a vote? Any member, learners included (issue 15, finding 3; as etcd): a
 * learner may have been promoted without knowing it yet, and the candidate counts only the voters
 * of its own configuration. Never with damaged storage, barred, or while its terms are unknown.
 */
export function mayGrantVote(core: RaftCore, ctx: RaftContext): boolean {
  return isMember(core, core.id) && !ctx.corrupt && !ctx.votingBarred && !ctx.termUnknown;
}

/**
 * A barred node becomes eligible once, as a learner, it holds the leader's log through the leader's
 * commit index: the configuration in force holds it as a learner and its log reaches that index, or
 * the configuration in force at that index (a committed one) held it as a learner and the leader
 * verified its log through it (`verifiedThrough`: AppendEntries' consistency check). The second
 * form is the learner that caught up by a snapshot and is promoted at once: the first AppendEntries
 * after the snapshot carries its promotion, and the configuration in force after it no longer holds
 * it as a learner (review of 2026-12-07). A snapshot alone does not lift the bar: the leader may
 * have committed past it. Replaying old history, in which the node may once have been a learner
 * before being promoted, must not lift the bar: with the leader's commit index past the promotion,
 * neither configuration holds it as a learner.
 */
export function liftVotingBar(core: RaftCore, d: Draft, leaderCommit: number, verifiedThrough: number): void {
  if (!d.votingBarred) return;
  if (core.log.lastIndex() >= leaderCommit && core.membership.learners.includes(core.id)) {
    d.votingBarred = false;
    return;
  }
  // At or above our own commit index (at or above the snapshot the log starts from): the
  // configuration found there is the one in force at that index.
  const at = Math.max(leaderCommit, d.commitIndex);
  if (verifiedThrough >= at && membershipAt(core, at).learners.includes(core.id)) d.votingBarred = false;
}

export function randomizedElectionTicks(core: RaftCore): number {
  const min = core.config.electionTimeoutTicksMin;
  return min + Math.floor(core.random() * min);
}

/** Does this node campaign with a pre-vote first (the configuration's choice, or learned: RaftContext.preVoteLearned)? */
export function usesPreVote(core: RaftCore, ctx: RaftContext): boolean {
  return core.config.preVote || ctx.preVoteLearned;
}

/** May this node start an election? Voters only, never with damaged storage. */
export function canCampaign(core: RaftCore, ctx: RaftContext): boolean {
  return mayVote(core, ctx);
}

/**
 * Dissertation 4.2.3: a node that heard from a current leader within the minimum election timeout
 * ignores RequestVote (it neither raises its term nor grants), unless the request is part of a
 * leadership transfer. A leader with check-quorum is always within its lease (it steps down when
 * it is not).
 */
export function inLease(core: RaftCore, ctx: RaftContext): boolean {
  if (ctx.leader === null) return false;
  if (ctx.leader === core.id) return core.config.checkQuorum;
  return ctx.electionElapsedTicks < core.config.electionTimeoutTicksMin;
}

/** A mutable copy of context that a step changes and then assigns back in one go. */
export type Draft = { -readonly [K in keyof RaftContext]: RaftContext[K] };
