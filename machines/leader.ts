/**
 * What a leader does: a no-op entry at the start of its term, proposals, replication with
 * per-follower flow control, commitment by counting replicas of current-term entries only,
 * check-quorum, ReadIndex and leadership transfer (Raft §5.3-5.4, §8; dissertation 3.10, 6.2, 6.4).
 */
import { assert } from './assert.js';
import type { RaftConfig } from './config.js';
import type { Draft, LeaderState, RaftContext, RaftCore } from './core.js';
import { isVoter, peersOf, refreshMembership } from './core.js';
import { applyChange, encodeMembership, MembershipError, type MembershipChange } from './membership.js';
import type { EffectSink, RefusalCode } from './effects.js';
import type { Proposal, RaftEvent } from './events.js';
import { maybeApply } from './follower.js';
import { Progress } from './progress.js';
import { committedIndex, quorumSize } from './quorum.js';
import { entryOverheadBytes, entrySizeBytes } from './raftLog.js';
import type { AppendResponse, Entry, HeartbeatResponse, NodeId } from './types.js';
import { EntryKind } from './types.js';

const noData = new Uint8Array(0);

function leaderState(core: RaftCore): LeaderState {
  assert(core.leader !== null, 'leader state exists while leader');
  return core.leader;
}

/** How far this node's own log counts toward a quorum: only what is durable. */
function selfMatch(core: RaftCore): number {
  return core.rules.durableIndex(core.log);
}

export function becomeLeader(core: RaftCore, d: Draft, fx: EffectSink): void {
  const cfg = core.config;
  d.leader = core.id;
  d.votes = {};
  d.transferCampaign = false;
  d.electionElapsedTicks = 0;
  d.heartbeatElapsedTicks = 0;
  const next = core.log.lastIndex() + 1;
  const progress = new Map<NodeId, Progress>();
  for (const peer of peersOf(core)) progress.set(peer, new Progress(next, cfg.inflightAppendsMax, cfg.inflightBytesMax));
  core.leader = {
    progress,
    uncommittedBytes: 0,
    committedInTerm: false,
    pendingReads: [],
    readCtxSent: 0,
    transferee: null,
    transferElapsedTicks: 0,
  };
  // Raft §8: commit an entry of our own term at once, which also commits everything before it.
  appendLocal(core, d, [{ kind: EntryKind.noop, data: noData }], fx);
  broadcastAppend(core, d, fx);
}

/** Make per-peer progress follow the configuration in force (new members start in probe). */
function syncProgress(core: RaftCore): void {
  const st = leaderState(core);
  const peers = peersOf(core);
  for (const id of [...st.progress.keys()]) if (!peers.includes(id)) st.progress.delete(id);
  for (const id of peers) {
    // From the newest entry (the configuration that adds it): the first AppendEntries probes at once.
    if (!st.progress.has(id)) st.progress.set(id, new Progress(core.log.lastIndex(), core.config.inflightAppendsMax, core.config.inflightBytesMax));
  }
  if (st.transferee !== null && !st.progress.has(st.transferee)) st.transferee = null;
}

/**
 * A single-server membership change (dissertation 4.1): one at a time, only after an entry of
 * this leader's term is committed (the fix to the single-server algorithm), a learner promoted
 * only once caught up, and never the leader's own removal (the host transfers leadership first).
 */
export function handleMembershipChange(core: RaftCore, d: Draft, tag: number, change: MembershipChange, fx: EffectSink): void {
  const st = leaderState(core);
  const refuse = (code: RefusalCode, detail?: string, membershipCode?: string): void =>
    fx.push({
      type: 'proposalRefused',
      params: { tag, code, leader: core.id, ...(detail !== undefined ? { detail } : {}), ...(membershipCode !== undefined ? { membershipCode } : {}) },
    });
  if (st.transferee !== null) return refuse('transfer-in-progress');
  if (!st.committedInTerm) return refuse('config-change-too-early', 'no entry of this term is committed yet; retry shortly');
  if (core.log.lastConfigIndex() > d.commitIndex) return refuse('config-change-pending', 'the previous membership change is not committed yet');
  if (change.type === 'remove' && change.node === core.id) return refuse('remove-leader', 'transfer leadership first');
  // The change and the encoding of its result: encodeMembership checks what no single change can
  // see (at most 256 members), and its MembershipError is a refusal too, never a throw out of the
  // step (which would leave the leader's actor in its error state).
  let data: Uint8Array;
  try {
    data = encodeMembership(applyChange(core.membership, change));
  } catch (err) {
    if (err instanceof MembershipError) return refuse('membership-invalid', err.detail, err.code);
    throw err;
  }
  if (change.type === 'promote') {
    // Caught up once (seed 004): it holds the configuration that made it a member, and its lag
    // is within the limit.
    // Issue 15 (--disk-faults --membership seed 1336): and it acknowledged through our commit index.
    // A learner that started on empty storage is barred until, as a learner, its log reached a
    // leader's commit index; promoted before that, it stays a barred voter for good, and with a wiped
    // voter beside it the cluster had no majority left that could vote.
    const pr = st.progress.get(change.node);
    const lag = core.log.lastIndex() - (pr?.match ?? 0);
    if (pr === undefined || pr.match < core.log.lastConfigIndex() || pr.match < d.commitIndex || lag > core.config.promoteLagEntriesMax) {
      return refuse(
        'learner-behind',
        `${change.node} is ${lag} entries behind (at most ${core.config.promoteLagEntriesMax}, and it must hold the configuration that added it and the committed entries)`,
      );
    }
  }
  const entries = appendLocal(core, d, [{ kind: EntryKind.config, data }], fx);
  fx.push({ type: 'proposalAccepted', params: { tag, firstIndex: entries[0]!.index, lastIndex: entries[0]!.index, term: d.term } });
  broadcastAppend(core, d, fx);
  maybeCommit(core, d, fx);
}

/** Leaving leadership: answer every waiting read, drop the role-local state. */
export function leaveLeader(core: RaftCore, fx: EffectSink): void {
  const st = core.leader;
  if (st === null) return;
  for (const r of st.pendingReads) fx.push({ type: 'readRefused', params: { tag: r.ctx, code: 'leader-changed', leader: null } });
  core.leader = null;
}

function appendLocal(core: RaftCore, d: Draft, proposals: readonly Proposal[], fx: EffectSink): Entry[] {
  const st = leaderState(core);
  const first = core.log.lastIndex() + 1;
  const entries: Entry[] = new Array(proposals.length);
  let bytes = 0;
  for (let k = 0; k < proposals.length; k++) {
    const p = proposals[k]!;
    const e: Entry = { index: first + k, term: d.term, kind: p.kind, data: p.data };
    entries[k] = e;
    bytes += entrySizeBytes(e);
  }
  core.log.append(entries);
  st.uncommittedBytes += bytes;
  // A configuration entry takes effect on the leader when appended: replicate to the new set.
  if (refreshMembership(core)) syncProgress(core);
  // The leader writes its own log in parallel with replication; it counts itself once durable.
  fx.push({ type: 'persist', params: { entries } });
  return entries;
}

export function handleProposal(core: RaftCore, d: Draft, tag: number, proposals: readonly Proposal[], fx: EffectSink): void {
  const st = leaderState(core);
  const refuse = (code: 'transfer-in-progress' | 'batch-too-large' | 'too-many-uncommitted'): void =>
    fx.push({ type: 'proposalRefused', params: { tag, code, leader: core.id } });
  if (st.transferee !== null) return refuse('transfer-in-progress');
  if (proposals.length === 0) return;
  if (proposals.length > core.config.proposalEntriesMax) return refuse('batch-too-large');
  // Counted as the uncommitted total counts them (data plus the per-entry allowance).
  let bytes = 0;
  for (const p of proposals) bytes += p.data.byteLength + entryOverheadBytes;
  if (st.uncommittedBytes > 0 && st.uncommittedBytes + bytes > core.config.uncommittedBytesMax) {
    return refuse('too-many-uncommitted');
  }
  const entries = appendLocal(core, d, proposals, fx);
  fx.push({
    type: 'proposalAccepted',
    params: { tag, firstIndex: entries[0]!.index, lastIndex: entries[entries.length - 1]!.index, term: d.term },
  });
  broadcastAppend(core, d, fx);
  maybeCommit(core, d, fx);
}

/** A follower more than this many full windows behind the snapshot gets a snapshot, not entries read back. */
const readBackWindowsMax = 4;

/**
 * Whether a follower whose next index is `next` is served entries read back from the durable log
 * (up to `dataFloor`) rather than a snapshot: the durable log can read from there, and either the
 * follower is not too far behind or it holds everything below the in-memory log (`snapshotIndex`,
 * once there was a snapshot: without one, the in-memory log is the whole log).
 */
export function readBackServes(config: RaftConfig, readBackFloor: number, snapshotIndex: number, dataFloor: number, next: number): boolean {
  if (readBackFloor === 0 || next < readBackFloor) return false;
  // Read back only what a few windows carry: further behind, one snapshot is fewer round trips
  // (issue 15, seed 4190 of 3-node --disk-faults: a wiped follower fed one entry a message from
  // index 1, eight in flight, missed the liveness bound that a snapshot met before read-back).
  const readBackEntriesMax = config.appendEntriesMax * config.inflightAppendsMax * readBackWindowsMax;
  // Within the in-memory log a snapshot cannot help more: the leader's saved snapshots are below
  // its data floor when it releases past its window while it leads (RaftNode.releaseApplied), so
  // a follower that installed one reads the rest back (bounded by the in-memory log's entries).
  return dataFloor - next < readBackEntriesMax || (snapshotIndex > 0 && next > snapshotIndex);
}

/**
 * Send one AppendEntries to `to` if its progress allows. Returns whether something was sent.
 * Falls back to a snapshot when the entries the follower needs were compacted away.
 */
function maybeSendAppend(core: RaftCore, d: Draft, to: NodeId, sendIfEmpty: boolean, fx: EffectSink): boolean {
  const st = leaderState(core);
  const pr = st.progress.get(to);
  if (pr === undefined || pr.isPaused()) return false;
  const log = core.log;
  const prevIndex = pr.next - 1;
  const prevTerm = log.term(prevIndex);
  // Entries this node holds without their data (applied while it followed: RaftLog.releaseDataThrough)
  // are read back like those below the snapshot.
  const dataFloor = log.dataFloor;
  if (prevTerm < 0 || pr.next <= dataFloor) {
    assert(prevIndex < dataFloor, `progress next ${pr.next} is within the log (last ${log.lastIndex()})`);
    // Read from the durable log's floor (past entry 1), the entries come without the previous
    // term: only where this log still knows it (handleReadBack).
    const prevTermKnown = pr.next === 1 || pr.next > log.readBackFloor || prevTerm >= 0;
    if (prevTermKnown && readBackServes(core.config, log.readBackFloor, log.snapshotIndex, dataFloor, pr.next)) {
      // Issue 18: still on disk. Read them back (the actor answers with `log.readBack`) instead
      // of a snapshot; the progress waits for the answer.
      pr.readBackFrom = pr.next;
      const toIndex = Math.min(dataFloor, pr.next + core.config.appendEntriesMax - 1);
      fx.push({ type: 'readEntries', params: { to, term: d.term, from: pr.next, toIndex, bytesMax: core.config.appendBytesMax } });
      return true;
    }
    pr.becomeSnapshot(log.snapshotIndex);
    fx.push({ type: 'sendSnapshot', params: { to, term: d.term } });
    return true;
  }
  const entries = pr.next <= log.lastIndex() ? log.slice(pr.next, log.lastIndex(), core.config.appendBytesMax, core.config.appendEntriesMax) : [];
  if (entries.length === 0 && !sendIfEmpty) return false;
  const bytes = entries.length > 0 ? log.lastSliceBytes : 0;
  fx.push({
    type: 'send',
    params: {
      message: { type: 'append', from: core.id, to, term: d.term, prevIndex, prevTerm, commit: d.commitIndex, entries },
      afterDurable: false,
    },
  });
  pr.sentEntries(prevIndex + entries.length, entries.length, bytes);
  return true;
}

/** Stream to one follower as far as its window allows. */
function sendAppends(core: RaftCore, d: Draft, to: NodeId, fx: EffectSink): void {
  // Bounded: each send either pauses the progress (probe, snapshot, full window) or advances next.
  while (maybeSendAppend(core, d, to, false, fx)) {
    const pr = leaderState(core).progress.get(to)!;
    if (pr.state !== 'replicate') break;
  }
}

export function broadcastAppend(core: RaftCore, d: Draft, fx: EffectSink): void {
  for (const peer of leaderState(core).progress.keys()) sendAppends(core, d, peer, fx);
}

function broadcastHeartbeat(core: RaftCore, d: Draft, fx: EffectSink): void {
  const st = leaderState(core);
  const readCtx = st.pendingReads.length > 0 ? st.readCtxSent : 0;
  for (const [peer, pr] of st.progress) {
    fx.push({
      type: 'send',
      params: {
        message: {
          type: 'heartbeat',
          from: core.id,
          to: peer,
          term: d.term,
          // Never tell a follower to commit past what it is known to share with us.
          commit: Math.min(pr.match, d.commitIndex),
          readCtx,
        },
        afterDurable: false,
      },
    });
  }
}

/** Raft §5.4.2: commit by counting replicas only for an entry of the current term. */
function maybeCommit(core: RaftCore, d: Draft, fx: EffectSink): void {
  const st = leaderState(core);
  const own = selfMatch(core);
  const n = committedIndex(core.membership.voters, (id) => (id === core.id ? own : (st.progress.get(id)?.match ?? 0)), core.scratch);
  if (n <= d.commitIndex) return;
  if (!core.rules.commitByCount(core.log.term(n), d.term)) return;
  st.uncommittedBytes = Math.max(0, st.uncommittedBytes - core.log.bytesBetween(d.commitIndex + 1, n));
  d.commitIndex = n;
  if (!st.committedInTerm && core.log.term(n) === d.term) {
    st.committedInTerm = true;
    startPendingReads(core, d, fx);
  }
  maybeApply(core, d, fx);
}

export function handleDurable(core: RaftCore, d: Draft, index: number, term: number, fx: EffectSink): void {
  const log = core.log;
  if (index > log.persistedIndex && index <= log.lastIndex() && log.term(index) === term) log.persistedIndex = index;
  if (d.corrupt && log.persistedIndex >= d.repairThroughIndex) d.corrupt = false;
  if (core.leader !== null) maybeCommit(core, d, fx);
  maybeApply(core, d, fx);
}

export function handleAppendResponse(core: RaftCore, d: Draft, msg: AppendResponse, fx: EffectSink): void {
  const st = leaderState(core);
  const pr = st.progress.get(msg.from);
  if (pr === undefined) return;
  // A leader never truncates its log, and a member acknowledges only what this leader sent it: an
  // acknowledgement past our last index is not one (the actor refuses and counts it first:
  // RaftNode.receive). Never trusted: it would move `next` past the log.
  if (msg.success && msg.index > core.log.lastIndex()) return;
  pr.recentActive = true;
  if (!msg.success) {
    // Skip a whole term of mismatches per round trip: from the follower's hint, the highest index
    // that may still match is the last of ours whose term is at most the hinted term.
    // Below the in-memory log our terms are unknown: assume a possible match at the hint itself (as
    // etcd does; the probe's consistency check verifies it), not at the snapshot index. Issue 18:
    // with entries read back from disk, probing down from the snapshot index one entry per round
    // trip left a follower with a short old log behind for good (--disk-faults --membership seed 70).
    const log = core.log;
    const matchHint =
      msg.hintTerm <= 0 ? msg.hintIndex : msg.hintIndex < log.snapshotIndex ? msg.hintIndex : log.findConflictByTerm(msg.hintIndex, msg.hintTerm)[0];
    if (pr.maybeDecrTo(msg.index, matchHint)) {
      if (pr.state === 'replicate') pr.becomeProbe();
      maybeSendAppend(core, d, msg.from, true, fx);
    }
    return;
  }
  if (pr.maybeUpdate(msg.index)) {
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(msg.index);
    maybeCommit(core, d, fx);
    if (st.transferee === msg.from && pr.match === core.log.lastIndex()) sendTimeoutNow(core, d, msg.from, fx);
  } else if (pr.state === 'replicate') {
    pr.inflights.freeLE(msg.index);
  }
  sendAppends(core, d, msg.from, fx);
}

export function handleHeartbeatResponse(core: RaftCore, d: Draft, msg: HeartbeatResponse, fx: EffectSink): void {
  const st = leaderState(core);
  const pr = st.progress.get(msg.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  pr.probeSent = false;
  if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
  if (pr.match < core.log.lastIndex()) maybeSendAppend(core, d, msg.from, true, fx);
  // A peer can only confirm a ReadIndex context we actually sent (never trust a larger one).
  const ctx = Math.min(msg.readCtx, st.readCtxSent);
  if (ctx > pr.readCtxAcked) {
    pr.readCtxAcked = ctx;
    releaseReads(core, d, fx);
  }
}

/** Falls back to a snapshot for `to` (its entries are neither in memory nor readable from disk). */
function sendSnapshotTo(core: RaftCore, d: Draft, to: NodeId, pr: Progress, fx: EffectSink, unreadFrom: number): void {
  pr.becomeSnapshot(core.log.snapshotIndex);
  fx.push({ type: 'sendSnapshot', params: { to, term: d.term, unreadFrom } });
}

/**
 * Issue 18: entries read back from the durable log for a follower behind the in-memory log. They
 * become one AppendEntries if this is still the leader of the term that asked, the follower still
 * needs exactly them, and they agree with what the log knows; a failed read (or entries that do
 * not agree) sends a snapshot instead. Anything stale is dropped, and replication resumes.
 */
export function handleReadBack(core: RaftCore, d: Draft, e: Extract<RaftEvent, { type: 'log.readBack' }>, fx: EffectSink): void {
  const st = leaderState(core);
  if (e.term !== d.term) return;
  const pr = st.progress.get(e.to);
  if (pr === undefined || pr.readBackFrom !== e.from) return;
  pr.readBackFrom = 0;
  const log = core.log;
  const stillNeeded = pr.state !== 'snapshot' && pr.next === e.from && !pr.isPaused() && (log.term(e.from - 1) < 0 || e.from <= log.dataFloor);
  if (!stillNeeded) {
    sendAppends(core, d, e.to, fx);
    return;
  }
  const entries = e.entries;
  // Read from the durable log's floor, the previous term is ours to give (the term of our snapshot,
  // or of an entry still in memory); not knowing it, we cannot vouch for the entries.
  const prevTerm = e.prevTerm >= 0 ? e.prevTerm : log.term(e.from - 1);
  if (entries === null || prevTerm < 0 || !readBackAgrees(core, d, e.from, prevTerm, entries)) {
    // A snapshot below the read's start would bring the follower back to the same read (review of
    // 2026-12-07).
    sendSnapshotTo(core, d, e.to, pr, fx, e.from);
    return;
  }
  let bytes = 0;
  for (const x of entries) bytes += entrySizeBytes(x);
  const prevIndex = e.from - 1;
  fx.push({
    type: 'send',
    params: {
      message: { type: 'append', from: core.id, to: e.to, term: d.term, prevIndex, prevTerm, commit: d.commitIndex, entries },
      afterDurable: false,
    },
  });
  pr.sentEntries(prevIndex + entries.length, entries.length, bytes);
  if (pr.state === 'replicate') sendAppends(core, d, e.to, fx);
}

/** Entries read back are contiguous from `from`, within our log, and agree with every term it still knows. */
function readBackAgrees(core: RaftCore, d: Draft, from: number, prevTerm: number, entries: readonly Entry[]): boolean {
  const log = core.log;
  if (entries.length === 0 || entries.length > core.config.appendEntriesMax) return false;
  const known = log.term(from - 1);
  if (known >= 0 ? known !== prevTerm : prevTerm < 0 || prevTerm > d.term) return false;
  let term = prevTerm;
  for (let k = 0; k < entries.length; k++) {
    const x = entries[k]!;
    if (x.index !== from + k || x.term < term || x.term > d.term || x.index > log.lastIndex()) return false;
    const t = log.term(x.index);
    if (t >= 0 && t !== x.term) return false;
    term = x.term;
  }
  return true;
}

export function handleSnapshotSendDone(core: RaftCore, d: Draft, to: NodeId, ok: boolean, _fx: EffectSink): void {
  const pr = leaderState(core).progress.get(to);
  if (pr === undefined || pr.state !== 'snapshot') return;
  if (!ok) pr.pendingSnapshot = 0;
  pr.becomeProbe();
  // Wait for the follower's acknowledgement (or the next heartbeat answer) before probing.
  pr.probeSent = true;
}

/** A new ReadIndex batch: confirm leadership with a quorum round before serving (dissertation 6.4). */
export function handleRead(core: RaftCore, d: Draft, ctx: number, fx: EffectSink): void {
  const st = leaderState(core);
  if (st.pendingReads.length >= core.config.pendingReadsMax) {
    fx.push({ type: 'readRefused', params: { tag: ctx, code: 'too-many-reads', leader: core.id } });
    return;
  }
  st.pendingReads.push({ ctx, index: st.committedInTerm ? d.commitIndex : 0 });
  if (st.committedInTerm) {
    st.readCtxSent = ctx;
    broadcastHeartbeat(core, d, fx);
    releaseReads(core, d, fx);
  }
}

function startPendingReads(core: RaftCore, d: Draft, fx: EffectSink): void {
  const st = leaderState(core);
  if (st.pendingReads.length === 0) return;
  for (const r of st.pendingReads) if (r.index === 0) r.index = d.commitIndex;
  st.readCtxSent = st.pendingReads[st.pendingReads.length - 1]!.ctx;
  broadcastHeartbeat(core, d, fx);
  releaseReads(core, d, fx);
}

function readConfirmed(core: RaftCore, st: LeaderState, ctx: number): boolean {
  if (!core.rules.readNeedsQuorum) return true;
  let acks = 0;
  for (const v of core.membership.voters) {
    if (v === core.id) acks++;
    else if ((st.progress.get(v)?.readCtxAcked ?? 0) >= ctx) acks++;
  }
  return acks >= quorumSize(core.membership.voters.length);
}

function releaseReads(core: RaftCore, d: Draft, fx: EffectSink): void {
  const st = leaderState(core);
  let k = 0;
  while (k < st.pendingReads.length) {
    const r = st.pendingReads[k]!;
    if (r.index === 0 || r.ctx > st.readCtxSent || !readConfirmed(core, st, r.ctx)) break;
    fx.push({ type: 'readReady', params: { ctx: r.ctx, index: r.index } });
    k++;
  }
  if (k > 0) st.pendingReads.splice(0, k);
}

function sendTimeoutNow(core: RaftCore, d: Draft, to: NodeId, fx: EffectSink): void {
  fx.push({ type: 'send', params: { message: { type: 'timeoutNow', from: core.id, to, term: d.term }, afterDurable: false } });
}

export function handleTransfer(core: RaftCore, d: Draft, to: NodeId, fx: EffectSink): void {
  const st = leaderState(core);
  if (to === core.id || !isVoter(core, to) || st.transferee === to) return;
  st.transferee = to;
  st.transferElapsedTicks = 0;
  const pr = st.progress.get(to)!;
  if (pr.match === core.log.lastIndex()) sendTimeoutNow(core, d, to, fx);
  else sendAppends(core, d, to, fx);
}

/** Would the check-quorum round due at this tick fail? (A guard: changes nothing.) */
export function quorumLostAtTick(core: RaftCore, ctx: RaftContext): boolean {
  if (!core.config.checkQuorum || ctx.electionElapsedTicks + 1 < core.config.electionTimeoutTicksMin) return false;
  const st = core.leader;
  if (st === null) return false;
  let active = 0;
  for (const v of core.membership.voters) {
    if (v === core.id || st.progress.get(v)?.recentActive) active++;
  }
  return active < quorumSize(core.membership.voters.length);
}

export function leaderTick(core: RaftCore, d: Draft, fx: EffectSink): void {
  const st = leaderState(core);
  d.heartbeatElapsedTicks++;
  d.electionElapsedTicks++;
  if (st.transferee !== null && ++st.transferElapsedTicks >= core.config.electionTimeoutTicksMin) {
    st.transferee = null; // the transfer did not happen in time: keep leading
  }
  if (d.electionElapsedTicks >= core.config.electionTimeoutTicksMin) {
    d.electionElapsedTicks = 0;
    for (const pr of st.progress.values()) pr.recentActive = false;
  }
  if (d.heartbeatElapsedTicks >= core.config.heartbeatIntervalTicks) {
    d.heartbeatElapsedTicks = 0;
    broadcastHeartbeat(core, d, fx);
  }
}
