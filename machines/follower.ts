/**
 * What a node does with messages from the leader of its term: AppendEntries with the consistency
 * check, truncation only on a real conflict, commit propagation, heartbeats, snapshots (Raft §5.3,
 * §7).
 */
import { assert } from './assert.js';
import { liftVotingBar, refreshMembership, type Draft, type RaftCore, type RaftContext } from './core.js';
import type { EffectSink } from './effects.js';
import { isValidMembership } from './membership.js';
import type { AppendRequest, AppendResponse, Heartbeat, NodeId, SnapshotChunk, SnapshotMeta } from './types.js';

function appendResponse(core: RaftCore, to: NodeId, term: number, success: boolean, index: number, hintIndex = 0, hintTerm = 0): AppendResponse {
  return { type: 'appendResp', from: core.id, to, term, success, index, hintIndex, hintTerm };
}

/** The answer to a leader of an older term: our term, so that it steps down. */
export function rejectStaleLeader(core: RaftCore, ctx: RaftContext, from: NodeId, fx: EffectSink): void {
  fx.push({ type: 'send', params: { message: appendResponse(core, from, ctx.term, false, 0), afterDurable: false } });
}

/**
 * Committed entries go to the state machine: on a follower once they are also durable here; on the
 * leader at once. The leader counts its own log toward a quorum only once durable (selfMatch), so
 * whatever it committed is durable on a quorum with or without its own copy, and it may apply it
 * while its own write is still in flight (dissertation 10.2.1: the leader writes in parallel with
 * replication and may commit before its own write completes). A crash loses nothing committed.
 */
export function maybeApply(core: RaftCore, d: Draft, fx: EffectSink): void {
  const durable = core.leader !== null ? core.log.lastIndex() : core.rules.durableIndex(core.log);
  const to = Math.min(d.commitIndex, durable);
  if (to > d.applyRequestedIndex) {
    d.applyRequestedIndex = to;
    fx.push({ type: 'apply', params: { toIndex: to } });
  }
}

function commitTo(core: RaftCore, d: Draft, index: number): void {
  if (index > d.commitIndex) {
    if (index > core.log.lastIndex()) assert(false, `commit ${index} within the log (last ${core.log.lastIndex()})`);
    d.commitIndex = index;
  }
}

export function handleAppend(core: RaftCore, d: Draft, msg: AppendRequest, fx: EffectSink): void {
  const log = core.log;
  d.electionElapsedTicks = 0;
  d.leader = msg.from;
  // The acknowledgement (the seed's Confirm) leaves only once what it confirms is durable.
  const ackAfterDurable = core.rules.ackAfterDurable;
  if (msg.prevIndex < d.commitIndex) {
    // Everything through our commit index matches the leader: tell it where to continue.
    fx.push({
      type: 'send',
      params: { message: appendResponse(core, msg.from, d.term, true, d.commitIndex), afterDurable: ackAfterDurable },
    });
    return;
  }
  if (!log.matchTerm(msg.prevIndex, msg.prevTerm)) {
    // Consistency check failed. Hint: the last index at or below prevIndex whose term is at most
    // prevTerm; the leader skips a whole term of mismatches per round trip.
    const [hintIndex, hintTerm] = log.findConflictByTerm(Math.min(msg.prevIndex, log.lastIndex()), msg.prevTerm);
    fx.push({
      type: 'send',
      params: {
        message: appendResponse(core, msg.from, d.term, false, msg.prevIndex, hintIndex, hintTerm),
        afterDurable: false,
      },
    });
    return;
  }
  const lastNew = msg.prevIndex + msg.entries.length;
  if (msg.entries.length > 0) {
    const from = core.rules.appendFrom(log, msg.prevIndex, msg.entries);
    if (from !== 0) {
      if (from <= d.commitIndex) assert(false, `conflict at ${from} is above the commit index ${d.commitIndex}`);
      const fresh = msg.entries.slice(from - (msg.prevIndex + 1));
      const truncating = from <= log.lastIndex();
      if (truncating) log.truncateFrom(from);
      log.append(fresh);
      // A configuration takes effect as soon as its entry is in the log (and is undone with it).
      refreshMembership(core);
      fx.push({ type: 'persist', params: truncating ? { truncateFrom: from, entries: fresh } : { entries: fresh } });
    }
  }
  liftVotingBar(core, d, msg.commit, lastNew);
  // The consistency check at prevIndex verified our log through lastNew against this term's leader.
  if (lastNew > d.verifiedIndex) d.verifiedIndex = lastNew;
  commitTo(core, d, Math.min(msg.commit, lastNew));
  fx.push({
    type: 'send',
    params: { message: appendResponse(core, msg.from, d.term, true, lastNew), afterDurable: ackAfterDurable },
  });
  maybeApply(core, d, fx);
}

export function handleHeartbeat(core: RaftCore, d: Draft, msg: Heartbeat, fx: EffectSink): void {
  d.electionElapsedTicks = 0;
  d.leader = msg.from;
  // The leader sends min(our match, its commit): entries we are known to share with it. Not after
  // disk damage: recovery may have dropped a truncation record and brought back entries that were
  // since replaced, so the leader's idea of our match proves nothing until we are repaired; only
  // AppendEntries, whose consistency check verifies our log, may advance the commit index then.
  // With damaged storage: through what this term's leader verified (issue 15, finding 5).
  commitTo(core, d, Math.min(msg.commit, d.corrupt ? d.verifiedIndex : core.log.lastIndex()));
  fx.push({
    type: 'send',
    params: {
      message: { type: 'heartbeatResp', from: core.id, to: msg.from, term: d.term, readCtx: msg.readCtx },
      afterDurable: false,
    },
  });
  const unverified = d.corrupt && d.verifiedIndex < Math.min(msg.commit, core.log.lastIndex());
  if ((d.corrupt && core.log.lastIndex() < d.repairThroughIndex) || unverified || core.log.lastIndex() < msg.commit) {
    // Also while damaged and not yet verified through the leader's commit index: the leader
    // answers with an AppendEntries whose consistency check verifies our log (finding 5).
    // Also when we hold less than the leader believes we share (it sends min(our match, its
    // commit)): our log went back (a lost or wiped disk). Without this an idle leader never
    // repairs us.
    // Damaged storage lost entries the leader may think we have: ask for everything after our last
    // trusted entry (a rejection the leader treats as a regression), even while no entry flows.
    const last = core.log.lastIndex();
    fx.push({
      type: 'send',
      params: { message: appendResponse(core, msg.from, d.term, false, last + 1, last, core.log.lastTerm()), afterDurable: false },
    });
  }
  maybeApply(core, d, fx);
}

/** A snapshot chunk from our leader: it proves the leader alive (resets the election timer). */
export function handleSnapshotChunk(core: RaftCore, d: Draft, msg: SnapshotChunk, fx: EffectSink): void {
  d.electionElapsedTicks = 0;
  d.leader = msg.from;
  fx.push({ type: 'snapshotChunk', params: { term: d.term, chunk: msg } });
}

/**
 * A whole snapshot arrived and verified. Install it unless we already have its entries committed;
 * answer like an AppendEntries acknowledgement through the snapshot's index, once durable.
 */
export function handleSnapshotReceived(core: RaftCore, d: Draft, from: NodeId, meta: SnapshotMeta, fx: EffectSink): void {
  // Its configuration becomes the one in force: it must be one a configuration entry could carry.
  // The transport's codec and the node actor refuse any other before it gets here; should one
  // still arrive, it is dropped unanswered (a duplicated voter would shrink every quorum this node
  // counts, an oversized configuration would make a later change throw).
  if (!isValidMembership(meta.membership)) return;
  if (meta.index <= d.commitIndex) {
    fx.push({ type: 'send', params: { message: appendResponse(core, from, d.term, true, d.commitIndex), afterDurable: true } });
    return;
  }
  const firstBefore = core.log.firstIndex();
  const lastBefore = core.log.lastIndex();
  const kept = core.log.restore(meta);
  d.commitIndex = meta.index;
  if (meta.index > d.verifiedIndex) d.verifiedIndex = meta.index;
  d.applyRequestedIndex = meta.index;
  core.baseMembership = meta.membership;
  refreshMembership(core);
  fx.push({ type: 'installSnapshot', params: { meta } });
  // Replaced, not kept: void every entry the log held. Truncating only after meta.index would leave
  // an entry at meta.index that disagrees with the snapshot, and recovery would then have to throw
  // away the whole log, entries acknowledged after the install included.
  if (!kept && lastBefore >= firstBefore) fx.push({ type: 'persist', params: { truncateFrom: firstBefore, entries: [] } });
  fx.push({ type: 'send', params: { message: appendResponse(core, from, d.term, true, meta.index), afterDurable: true } });
}
