/**
 * Elections: pre-vote, RequestVote with the up-to-date check, vote tallies (Raft §5.2, §5.4.1;
 * dissertation 4.2.3, 9.6).
 */
import type { Draft, RaftCore, RaftContext } from './core.js';
import { inLease, mayGrantVote, randomizedElectionTicks } from './core.js';
import type { EffectSink } from './effects.js';
import { voteResult, type VoteResult } from './quorum.js';
import type { NodeId, VoteRequest, VoteResponse } from './types.js';

/** Adopt a newer term: forget the vote; `leader` is known when the message came from one. */
export function adoptTerm(core: RaftCore, d: Draft, term: number, leader: NodeId | null, fx: EffectSink): void {
  if (term > d.term) {
    d.term = term;
    d.vote = null;
    // Verified against the leader of the old term only.
    d.verifiedIndex = 0;
    fx.push({ type: 'persist', params: { hardState: { term, vote: null }, entries: [] } });
  }
  d.leader = leader;
}

function logUpToDate(core: RaftCore, msg: VoteRequest): boolean {
  return core.rules.candidateUpToDate(core.log, msg.lastIndex, msg.lastTerm);
}

/** Is the candidate's log strictly ahead of ours (a later last term, or the same and longer)? */
function logAhead(core: RaftCore, msg: VoteRequest): boolean {
  const lastTerm = core.log.lastTerm();
  return msg.lastTerm > lastTerm || (msg.lastTerm === lastTerm && msg.lastIndex > core.log.lastIndex());
}

function voteResponse(core: RaftCore, to: NodeId, term: number, granted: boolean, preVote: boolean): VoteResponse {
  return { type: 'voteResp', from: core.id, to, term, granted, preVote };
}

/** A pre-vote never changes our state: grant when a real election would succeed with us. */
export function answerPreVote(core: RaftCore, ctx: RaftContext, msg: VoteRequest, fx: EffectSink): void {
  const granted = msg.term > ctx.term && !inLease(core, ctx) && mayGrantVote(core, ctx) && logUpToDate(core, msg);
  fx.push({
    type: 'send',
    params: { message: voteResponse(core, msg.from, granted ? msg.term : ctx.term, granted, true), afterDurable: false },
  });
}

/** RequestVote in our current term (after adopting a newer term, if any). */
export function answerVote(core: RaftCore, d: Draft, msg: VoteRequest, fx: EffectSink): void {
  const canVote = d.vote === null || d.vote === msg.from;
  const granted = canVote && mayGrantVote(core, d) && logUpToDate(core, msg);
  if (granted) {
    if (d.vote !== msg.from) {
      d.vote = msg.from;
      fx.push({ type: 'persist', params: { hardState: { term: d.term, vote: msg.from }, entries: [] } });
    }
    d.electionElapsedTicks = 0;
  }
  if (logAhead(core, msg)) {
    // A candidate whose log is ahead of ours, granted or not: every voter that would elect us
    // would elect it (its log passes their check whenever ours does), and it never grants us. Our
    // own campaign can only split the vote with it and with the nodes as far ahead as it is. When
    // our next round is drawn from the same range as theirs, it does, round after round: seed
    // 120018 (four voters, one damaged, two campaigns; here we were a candidate of this term) and
    // seed 34461 (four voters, two of them behind: after every split the four timers restarted
    // within 20 ms, the two behind campaigned with the two ahead, and five rounds split before
    // one of the two ahead won). So our next round starts a whole range later than any round it
    // can draw: the nodes ahead campaign first. Timing only; what may be granted is unchanged,
    // and it holds only while such requests come (a node that stops hearing them campaigns at
    // most one range later than it would have).
    const min = core.config.electionTimeoutTicksMin;
    d.electionTimeoutTicks = Math.max(d.electionTimeoutTicks, d.electionElapsedTicks + min + randomizedElectionTicks(core));
  } else if (!logUpToDate(core, msg)) {
    // Refused because our log is ahead of the candidate's. Its campaign may still win with the
    // others' votes (our extra entries are then uncommitted); if our round ended while its votes
    // were on their way (each waits for a voter's fsync), our newer term would depose the leader
    // it becomes before its first AppendEntries reached us (seed 26292: pre-vote off, a slow disk,
    // four leaders deposed in 900 ms). So a round that would end within half a minimum timeout of
    // the refusal, the time the refused campaign takes to conclude, is drawn again past that hold.
    // Drawn, not pinned to it: every node refusing the same candidate would otherwise end its
    // round on the same tick and split the vote (seed 51752). Timing only; what may be granted is
    // unchanged, and a campaign that cannot win puts ours off to at most one and a half minimum
    // timeouts after the refusal.
    const min = core.config.electionTimeoutTicksMin;
    const holdTicks = Math.ceil(min / 2);
    if (d.electionTimeoutTicks < d.electionElapsedTicks + holdTicks) {
      d.electionTimeoutTicks = d.electionElapsedTicks + holdTicks + Math.floor(core.random() * min);
    }
  }
  // A vote counts only once durable: the answer leaves after every write issued so far.
  fx.push({ type: 'send', params: { message: voteResponse(core, msg.from, d.term, granted, false), afterDurable: true } });
}

/**
 * A newer-term RequestVote from a node outside our configuration that we would not grant
 * (`isUngrantedNonMemberVote`): refused in our own term, which it does not move, and marked so that
 * the candidate campaigns with a pre-vote from then on (RaftContext.preVoteLearned).
 */
export function answerNonMemberVote(core: RaftCore, ctx: RaftContext, msg: VoteRequest, fx: EffectSink): void {
  fx.push({ type: 'send', params: { message: { ...voteResponse(core, msg.from, ctx.term, false, false), nonMember: true }, afterDurable: false } });
}

export function rejectVote(core: RaftCore, ctx: RaftContext, msg: VoteRequest, fx: EffectSink): void {
  fx.push({
    type: 'send',
    params: { message: voteResponse(core, msg.from, ctx.term, false, msg.preVote), afterDurable: false },
  });
}

function voteRequests(core: RaftCore, term: number, preVote: boolean, transfer: boolean, fx: EffectSink): void {
  const lastIndex = core.log.lastIndex();
  const lastTerm = core.log.lastTerm();
  for (const v of core.membership.voters) {
    if (v === core.id) continue;
    const message: VoteRequest = { type: 'vote', from: core.id, to: v, term, lastIndex, lastTerm, preVote, transfer };
    // A real vote request waits for our own term and vote to be durable (no double vote after a crash).
    fx.push({ type: 'send', params: { message, afterDurable: !preVote } });
  }
}

export function startPreVote(core: RaftCore, d: Draft, fx: EffectSink): void {
  d.votes = { [core.id]: true };
  d.leader = null;
  d.electionElapsedTicks = 0;
  d.electionTimeoutTicks = randomizedElectionTicks(core);
  d.transferCampaign = false;
  voteRequests(core, d.term + 1, true, false, fx);
}

export function startElection(core: RaftCore, d: Draft, fx: EffectSink): void {
  d.term += 1;
  d.vote = core.id;
  d.verifiedIndex = 0;
  d.leader = null;
  d.votes = { [core.id]: true };
  d.electionElapsedTicks = 0;
  d.electionTimeoutTicks = randomizedElectionTicks(core);
  fx.push({ type: 'persist', params: { hardState: { term: d.term, vote: core.id }, entries: [] } });
  voteRequests(core, d.term, false, d.transferCampaign, fx);
  // Only the campaign that answers a TimeoutNow overrides the voters' leases; a retry does not.
  d.transferCampaign = false;
}

/** Is this vote response for the campaign we are running? */
export function isResponseForCampaign(ctx: RaftContext, msg: VoteResponse, preCampaign: boolean): boolean {
  if (preCampaign) return msg.preVote && (msg.granted ? msg.term === ctx.term + 1 : msg.term <= ctx.term + 1);
  return !msg.preVote && msg.term === ctx.term;
}

/** A response that tells us about a newer term (a granted pre-vote carries the asked-for term: not newer). */
export function isNewerTermVoteResponse(ctx: RaftContext, msg: VoteResponse): boolean {
  if (msg.preVote && msg.granted) return false;
  return msg.term > ctx.term;
}

export function tallyWith(core: RaftCore, ctx: RaftContext, msg: VoteResponse): VoteResult {
  // The first answer from a voter stands (duplicates are ignored).
  return voteResult(core.membership.voters, { [msg.from]: msg.granted, ...ctx.votes });
}

export function tally(core: RaftCore, ctx: RaftContext): VoteResult {
  return voteResult(core.membership.voters, ctx.votes);
}

export function recordVote(d: Draft, msg: VoteResponse): void {
  if (d.votes[msg.from] === undefined) d.votes = { ...d.votes, [msg.from]: msg.granted };
}
