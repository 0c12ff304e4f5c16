/**
 * Issue 15: a node that cannot prove which terms it voted in (`termUnknown`: its hard state was
 * lost, or it started on empty storage without bootstrapping) learns a term at least as large as
 * any it may have voted in before it votes or acknowledges a leader again.
 *
 * While unknown it collects the terms the other voters tell it about: a leader's messages, and the
 * answers to its probes (`probeTerm`: a pre-vote request in its own term, which every voter answers
 * with a rejection carrying its own term, or a grant when its term is lower). Each carries a term no
 * larger than the sender's current term. A node whose own terms are unknown answers nothing, so its
 * term (a lower bound only) is never taken for one that proves something. Once a majority of the voters of the
 * configuration in force, itself not counted, answered, the floor is the highest term heard (and
 * its own). It takes that term with its own vote, durably (so it never votes in that term, which it
 * may have voted in before), and only then votes and acknowledges leaders again. The argument is in
 * docs/raft.md ("A node that lost its hard state").
 */
import type { Draft, RaftCore } from './core.js';
import { randomizedElectionTicks } from './core.js';
import type { EffectSink } from './effects.js';
import type { NodeId, VoteRequest } from './types.js';

/**
 * How many other voters must have answered: a majority of all voters, never counting this node;
 * for a voter of a two-voter configuration, the other one (a majority of two is not found among
 * one other voter, and that one is in every quorum that counted this node's vote: issue 15, seed
 * 30 of 3-node --membership, a rejoining node stuck silent). Never fewer than one: a sole voter has
 * no one to learn its terms from.
 */
export function answersNeeded(core: RaftCore): number {
  const voters = core.membership.voters;
  const majority = Math.floor(voters.length / 2) + 1;
  if (!voters.includes(core.id)) return majority;
  return Math.max(1, Math.min(majority, voters.length - 1));
}

/** A term heard from `from` while this node's terms are unknown; learns the floor at a majority. */
export function noteTermAnswer(core: RaftCore, d: Draft, from: NodeId, term: number, fx: EffectSink): void {
  if (!d.termUnknown || from === core.id || !core.membership.voters.includes(from)) return;
  if ((d.termAnswers[from] ?? -1) < term) d.termAnswers = { ...d.termAnswers, [from]: term };
  let answered = 0;
  let floor = d.term;
  for (const v of core.membership.voters) {
    const t = v === core.id ? undefined : d.termAnswers[v];
    if (t === undefined) continue;
    answered++;
    if (t > floor) floor = t;
  }
  if (answered < answersNeeded(core)) return;
  // The floor: at least every term in which this node's vote can have counted (docs/raft.md). Its
  // own vote in that term means: never vote for another node in it.
  d.term = floor;
  d.vote = core.id;
  d.leader = null;
  d.verifiedIndex = 0;
  d.termUnknown = false;
  d.termAnswers = {};
  d.electionElapsedTicks = 0;
  fx.push({ type: 'persist', params: { hardState: { term: floor, vote: core.id }, entries: [] } });
}

/** Ask every other voter for its term (a pre-vote request in our own term: never granted above it). */
export function probeTerm(core: RaftCore, d: Draft, fx: EffectSink): void {
  d.electionElapsedTicks = 0;
  d.electionTimeoutTicks = randomizedElectionTicks(core);
  const lastIndex = core.log.lastIndex();
  const lastTerm = core.log.lastTerm();
  for (const v of core.membership.voters) {
    if (v === core.id || d.termAnswers[v] !== undefined) continue;
    const message: VoteRequest = { type: 'vote', from: core.id, to: v, term: d.term, lastIndex, lastTerm, preVote: true, transfer: false };
    fx.push({ type: 'send', params: { message, afterDurable: false } });
  }
}
