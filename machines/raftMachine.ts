/**
 * A Raft node's roles as one XState v5 statechart: follower, preCandidate, candidate, leader.
 *
 * Pure: the machine never touches the clock, randomness, network or disk. Time arrives as `tick`
 * events, randomness through the injected `core.random`, and every effect (persist, send, apply,
 * ...) is a parameterized action that `transition()` returns unexecuted and that the node actor
 * executes in the order persist, then send, then apply. The log and per-peer progress live in
 * `core` (outside context); guards and steps are one-liners calling named functions.
 */
import { assign, enqueueActions, setup } from 'xstate';
import { InvariantError } from './assert.js';
import type { Draft, RaftContext, RaftCore, RaftInput } from './core.js';
import { canCampaign, inLease, isMember, randomizedElectionTicks } from './core.js';
import type {
  ApplyParams,
  EffectSink,
  InstallSnapshotParams,
  PersistParams,
  ProposalAcceptedParams,
  RaftEffect,
  ReadReadyParams,
  RefusedParams,
  SendParams,
  SendSnapshotParams,
  SnapshotChunkParams,
} from './effects.js';
import {
  adoptTerm,
  answerPreVote,
  answerVote,
  isNewerTermVoteResponse,
  isResponseForCampaign,
  recordVote,
  rejectVote,
  startElection,
  startPreVote,
  tally,
  tallyWith,
} from './election.js';
import type { RaftEvent } from './events.js';
import { handleAppend, handleHeartbeat, handleSnapshotChunk, handleSnapshotReceived, maybeApply, rejectStaleLeader } from './follower.js';
import {
  becomeLeader,
  broadcastAppend,
  handleAppendResponse,
  handleDurable,
  handleHeartbeatResponse,
  handleProposal,
  handleRead,
  handleSnapshotSendDone,
  handleMembershipChange,
  handleTransfer,
  leaderTick,
  leaveLeader,
  quorumLostAtTick,
} from './leader.js';
import { noteTermAnswer, probeTerm } from './termFloor.js';
import type { NodeId } from './types.js';

type LeaderMessageEvent = Extract<RaftEvent, { type: 'rpc.append' | 'rpc.heartbeat' | 'rpc.snapshot' | 'rpc.timeoutNow' }>;

function msgTerm(event: RaftEvent): number {
  return 'msg' in event ? event.msg.term : -1;
}

/** The term and leader a message makes us adopt when it is newer than ours. */
function leaderOf(event: RaftEvent): NodeId | null {
  switch (event.type) {
    case 'rpc.append':
    case 'rpc.heartbeat':
    case 'rpc.snapshot':
    case 'rpc.timeoutNow':
    case 'leader.alive':
      return event.msg.from;
    default:
      return null;
  }
}

/** Placeholder implementations: the node actor provides the real ones with `machine.provide`. */
function effect<P>(): (_: unknown, params: P) => void {
  return () => undefined;
}

export function createRaftMachine(core: RaftCore) {
  /** Run one step on a mutable copy of context, then assign it back and enqueue its effects. */
  const step = <E extends RaftEvent>(fn: (d: Draft, event: E, fx: EffectSink) => void) =>
    enqueueActions<RaftContext, RaftEvent, undefined, any, any, any, any, any, any>(({ context, event, enqueue }) => {
      const d: Draft = { ...context };
      const fx: EffectSink = { push: (e: RaftEffect) => enqueue(e as never) };
      fn(d, event as E, fx);
      enqueue.assign(d);
    });

  /** A (pre-)candidate that hears from a leader of its term, or a newer one, follows it. */
  const followLeaderOfTerm = {
    'rpc.append': [
      { guard: 'isStaleTerm', actions: 'rejectStaleLeader' },
      { target: 'follower', actions: ['adoptTerm', 'handleAppend'] },
    ],
    'rpc.heartbeat': [
      { guard: 'isStaleTerm', actions: 'rejectStaleLeader' },
      { target: 'follower', actions: ['adoptTerm', 'handleHeartbeat'] },
    ],
    'rpc.snapshot': [
      { guard: 'isStaleTerm', actions: 'rejectStaleLeader' },
      { target: 'follower', actions: ['adoptTerm', 'handleSnapshotChunk'] },
    ],
  } as const;

  return setup({
    types: {
      context: {} as RaftContext,
      events: {} as RaftEvent,
      input: {} as RaftInput,
    },
    actions: {
      // Effects (data; executed by the node actor).
      persist: effect<PersistParams>(),
      send: effect<SendParams>(),
      apply: effect<ApplyParams>(),
      proposalAccepted: effect<ProposalAcceptedParams>(),
      proposalRefused: effect<RefusedParams>(),
      readReady: effect<ReadReadyParams>(),
      readRefused: effect<RefusedParams>(),
      sendSnapshot: effect<SendSnapshotParams>(),
      snapshotChunk: effect<SnapshotChunkParams>(),
      installSnapshot: effect<InstallSnapshotParams>(),

      // Steps.
      resetElectionTimer: assign({
        electionElapsedTicks: 0,
        electionTimeoutTicks: () => randomizedElectionTicks(core),
        votes: () => ({}),
        transferCampaign: false,
      }),
      resetElectionElapsed: assign({ electionElapsedTicks: 0 }),
      tickElection: assign({ electionElapsedTicks: ({ context }) => context.electionElapsedTicks + 1 }),
      adoptTerm: step((d, e, fx) => adoptTerm(core, d, msgTerm(e), leaderOf(e), fx)),
      markTransferCampaign: assign({ transferCampaign: true }),
      startPreVote: step((d, _e, fx) => startPreVote(core, d, fx)),
      startElection: step((d, _e, fx) => startElection(core, d, fx)),
      answerPreVote: step((d, e: Extract<RaftEvent, { type: 'rpc.vote' }>, fx) => answerPreVote(core, d, e.msg, fx)),
      answerVote: step((d, e: Extract<RaftEvent, { type: 'rpc.vote' }>, fx) => answerVote(core, d, e.msg, fx)),
      rejectVote: step((d, e: Extract<RaftEvent, { type: 'rpc.vote' }>, fx) => rejectVote(core, d, e.msg, fx)),
      recordVote: step((d, e: Extract<RaftEvent, { type: 'rpc.voteResp' }>) => recordVote(d, e.msg)),
      rejectStaleLeader: step((d, e: LeaderMessageEvent, fx) => rejectStaleLeader(core, d, e.msg.from, fx)),
      followLeader: assign({ leader: ({ event }) => leaderOf(event) }),
      handleAppend: step((d, e: Extract<RaftEvent, { type: 'rpc.append' }>, fx) => handleAppend(core, d, e.msg, fx)),
      handleHeartbeat: step((d, e: Extract<RaftEvent, { type: 'rpc.heartbeat' }>, fx) => handleHeartbeat(core, d, e.msg, fx)),
      handleSnapshotChunk: step((d, e: Extract<RaftEvent, { type: 'rpc.snapshot' }>, fx) =>
        handleSnapshotChunk(core, d, e.msg, fx),
      ),
      handleSnapshotReceived: step((d, e: Extract<RaftEvent, { type: 'snapshot.received' }>, fx) =>
        handleSnapshotReceived(core, d, e.from, e.meta, fx),
      ),
      handleDurable: step((d, e: Extract<RaftEvent, { type: 'storage.durable' }>, fx) => handleDurable(core, d, e.index, e.term, fx)),
      maybeApply: step((d, _e, fx) => maybeApply(core, d, fx)),
      refuseProposal: step((d, e: Extract<RaftEvent, { type: 'client.propose' }>, fx) =>
        fx.push({ type: 'proposalRefused', params: { tag: e.tag, code: 'not-leader', leader: d.leader } }),
      ),
      refuseRead: step((d, e: Extract<RaftEvent, { type: 'client.read' }>, fx) =>
        fx.push({ type: 'readRefused', params: { tag: e.ctx, code: 'not-leader', leader: d.leader } }),
      ),
      becomeLeader: step((d, _e, fx) => becomeLeader(core, d, fx)),
      leaveLeader: step((d, _e, fx) => {
        leaveLeader(core, fx);
        // A deposed leader no longer knows a leader (no lease, no self-referring hints).
        d.leader = null;
      }),
      leaderTick: step((d, _e, fx) => leaderTick(core, d, fx)),
      handleProposal: step((d, e: Extract<RaftEvent, { type: 'client.propose' }>, fx) =>
        handleProposal(core, d, e.tag, e.proposals, fx),
      ),
      handleRead: step((d, e: Extract<RaftEvent, { type: 'client.read' }>, fx) => handleRead(core, d, e.ctx, fx)),
      handleAppendResponse: step((d, e: Extract<RaftEvent, { type: 'rpc.appendResp' }>, fx) =>
        handleAppendResponse(core, d, e.msg, fx),
      ),
      handleHeartbeatResponse: step((d, e: Extract<RaftEvent, { type: 'rpc.heartbeatResp' }>, fx) =>
        handleHeartbeatResponse(core, d, e.msg, fx),
      ),
      handleSnapshotSendDone: step((d, e: Extract<RaftEvent, { type: 'snapshot.sendDone' }>, fx) =>
        handleSnapshotSendDone(core, d, e.to, e.ok, fx),
      ),
      handleTransfer: step((d, e: Extract<RaftEvent, { type: 'admin.transfer' }>, fx) => handleTransfer(core, d, e.to, fx)),
      handleMembershipChange: step((d, e: Extract<RaftEvent, { type: 'admin.membership' }>, fx) =>
        handleMembershipChange(core, d, e.tag, e.change, fx),
      ),
      refuseMembershipChange: step((d, e: Extract<RaftEvent, { type: 'admin.membership' }>, fx) =>
        fx.push({ type: 'proposalRefused', params: { tag: e.tag, code: 'not-leader', leader: d.leader } }),
      ),
      broadcastAppend: step((d, _e, fx) => broadcastAppend(core, d, fx)),
      noteTermAnswer: step((d, e, fx) => {
        if ('msg' in e) noteTermAnswer(core, d, e.msg.from, e.msg.term, fx);
      }),
      probeTerm: step((d, _e, fx) => probeTerm(core, d, fx)),
      twoLeadersInOneTerm: ({ context, event }) => {
        throw new InvariantError(`two leaders in term ${context.term}: ${core.id} and ${leaderOf(event)}`);
      },
    },
    guards: {
      electionDue: ({ context }) => context.electionElapsedTicks + 1 >= context.electionTimeoutTicks,
      electionDueWithPreVote: ({ context }) => context.electionElapsedTicks + 1 >= context.electionTimeoutTicks && core.config.preVote,
      canCampaignAtTimeout: ({ context }) =>
        context.electionElapsedTicks + 1 >= context.electionTimeoutTicks && canCampaign(core, context) && core.config.preVote,
      canElectAtTimeout: ({ context }) =>
        context.electionElapsedTicks + 1 >= context.electionTimeoutTicks && canCampaign(core, context) && !core.config.preVote,
      canCampaign: ({ context }) => canCampaign(core, context),
      isStaleTerm: ({ context, event }) => msgTerm(event) < context.term,
      isNewerTerm: ({ context, event }) => msgTerm(event) > context.term,
      isCurrentOrNewerTerm: ({ context, event }) => msgTerm(event) >= context.term,
      isPreVote: ({ event }) => event.type === 'rpc.vote' && event.msg.preVote,
      /** A newer-term RequestVote that our lease tells us to ignore (unless it is a transfer). */
      isLeaseProtected: ({ context, event }) =>
        event.type === 'rpc.vote' && event.msg.term > context.term && !event.msg.transfer && inLease(core, context),
      isNewerTermVoteResponse: ({ context, event }) =>
        event.type === 'rpc.voteResp' && isNewerTermVoteResponse(context, event.msg),
      preVoteWins: ({ context, event }) =>
        event.type === 'rpc.voteResp' && isResponseForCampaign(context, event.msg, true) && tallyWith(core, context, event.msg) === 'won',
      preVoteLoses: ({ context, event }) =>
        event.type === 'rpc.voteResp' && isResponseForCampaign(context, event.msg, true) && tallyWith(core, context, event.msg) === 'lost',
      isPreVoteResponse: ({ context, event }) => event.type === 'rpc.voteResp' && isResponseForCampaign(context, event.msg, true),
      voteWins: ({ context, event }) =>
        event.type === 'rpc.voteResp' && isResponseForCampaign(context, event.msg, false) && tallyWith(core, context, event.msg) === 'won',
      voteLoses: ({ context, event }) =>
        event.type === 'rpc.voteResp' && isResponseForCampaign(context, event.msg, false) && tallyWith(core, context, event.msg) === 'lost',
      isVoteResponse: ({ context, event }) => event.type === 'rpc.voteResp' && isResponseForCampaign(context, event.msg, false),
      campaignWon: ({ context }) => tally(core, context) === 'won',
      quorumLost: ({ context }) => quorumLostAtTick(core, context),
      isFromOurLeaderTerm: ({ context, event }) => msgTerm(event) === context.term,
      isFromCurrentLeader: ({ context, event }) => msgTerm(event) === context.term && leaderOf(event) === context.leader,
      /** TimeoutNow is obeyed only from the leader of this node's current term. */
      isTimeoutNowFromOurLeader: ({ context, event }) =>
        msgTerm(event) === context.term && context.leader !== null && leaderOf(event) === context.leader && canCampaign(core, context),
      /** A message from a node outside the configuration in force. */
      isFromNonMember: ({ event }) => 'msg' in event && !isMember(core, event.msg.from),
      /** Issue 15: this node cannot prove which terms it voted in (see RaftContext.termUnknown). */
      isTermUnknown: ({ context }) => context.termUnknown,
      termProbeDue: ({ context }) => context.termUnknown && context.electionElapsedTicks + 1 >= context.electionTimeoutTicks,
    },
  }).createMachine({
    id: 'raft',
    context: ({ input }) => ({
      term: input.term,
      vote: input.vote,
      leader: null,
      commitIndex: input.commitIndex,
      applyRequestedIndex: input.commitIndex,
      electionElapsedTicks: 0,
      electionTimeoutTicks: randomizedElectionTicks(core),
      heartbeatElapsedTicks: 0,
      votes: {},
      transferCampaign: false,
      corrupt: input.corrupt,
      votingBarred: input.votingBarred ?? false,
      termUnknown: input.termUnknown ?? false,
      termAnswers: {},
      verifiedIndex: 0,
      repairThroughIndex: input.repairThroughIndex,
    }),
    initial: 'follower',
    on: {
      // Handled the same way in every role.
      'storage.durable': { actions: 'handleDurable' },
      'rpc.vote': [
        { guard: 'isPreVote', actions: 'answerPreVote' },
        { guard: 'isStaleTerm', actions: 'rejectVote' },
        { guard: 'isLeaseProtected' },
        { guard: 'isNewerTerm', target: '.follower', reenter: true, actions: ['adoptTerm', 'answerVote'] },
        { actions: 'answerVote' },
      ],
      'rpc.voteResp': [{ guard: 'isNewerTermVoteResponse', target: '.follower', reenter: true, actions: 'adoptTerm' }],
      'rpc.appendResp': [{ guard: 'isNewerTerm', target: '.follower', reenter: true, actions: 'adoptTerm' }],
      'rpc.heartbeatResp': [{ guard: 'isNewerTerm', target: '.follower', reenter: true, actions: 'adoptTerm' }],
      'rpc.snapshotResp': [{ guard: 'isNewerTerm', target: '.follower', reenter: true, actions: 'adoptTerm' }],
      // TimeoutNow never changes the term: only the leader of our current term may send one (a
      // leader sends it once the target acknowledged its entries, so in the target's term), and
      // only a follower obeys it (below). Anything else is ignored.
      'client.propose': { actions: 'refuseProposal' },
      'client.read': { actions: 'refuseRead' },
      'admin.membership': { actions: 'refuseMembershipChange' },
    },
    states: {
      follower: {
        entry: 'resetElectionTimer',
        on: {
          // As at the root, except that a follower adopting a newer term from a RequestVote it does
          // not grant keeps its election timer running (Raft, Figure 2: only a leader's messages or
          // a granted vote reset it), so a candidate with a stale log cannot hold off the elections
          // of nodes that could win.
          // Issue 15: while this node cannot prove which terms it voted in, it only learns terms from
          // leaders and from the answers to its probes; it grants no vote, acknowledges no leader,
          // and stays silent (its own term proves nothing to another node learning its term).
          'rpc.vote': [
            { guard: 'isTermUnknown' },
            { guard: 'isPreVote', actions: 'answerPreVote' },
            { guard: 'isStaleTerm', actions: 'rejectVote' },
            { guard: 'isLeaseProtected' },
            { guard: 'isNewerTerm', actions: ['adoptTerm', 'answerVote'] },
            { actions: 'answerVote' },
          ],
          tick: [
            { guard: 'termProbeDue', actions: 'probeTerm' },
            { guard: 'canCampaignAtTimeout', target: 'preCandidate' },
            { guard: 'canElectAtTimeout', target: 'candidate' },
            { actions: 'tickElection' },
          ],
          'admin.campaign': [
            { guard: 'canCampaign', target: 'candidate' },
          ],
          'rpc.append': [
            { guard: 'isTermUnknown', actions: 'noteTermAnswer' },
            { guard: 'isStaleTerm', actions: 'rejectStaleLeader' },
            { guard: 'isNewerTerm', target: 'follower', reenter: true, actions: ['adoptTerm', 'handleAppend'] },
            { actions: 'handleAppend' },
          ],
          'rpc.heartbeat': [
            { guard: 'isTermUnknown', actions: 'noteTermAnswer' },
            { guard: 'isStaleTerm', actions: 'rejectStaleLeader' },
            { guard: 'isNewerTerm', target: 'follower', reenter: true, actions: ['adoptTerm', 'handleHeartbeat'] },
            { actions: 'handleHeartbeat' },
          ],
          'rpc.snapshot': [
            { guard: 'isTermUnknown', actions: 'noteTermAnswer' },
            { guard: 'isStaleTerm', actions: 'rejectStaleLeader' },
            { guard: 'isNewerTerm', target: 'follower', reenter: true, actions: ['adoptTerm', 'handleSnapshotChunk'] },
            { actions: 'handleSnapshotChunk' },
          ],
          'snapshot.received': { actions: 'handleSnapshotReceived' },
          'rpc.voteResp': { guard: 'isTermUnknown', actions: 'noteTermAnswer' },
          'leader.alive': { guard: 'isFromCurrentLeader', actions: 'resetElectionElapsed' },
          'rpc.timeoutNow': [{ guard: 'isTimeoutNowFromOurLeader', target: 'candidate', actions: 'markTransferCampaign' }],
        },
      },
      preCandidate: {
        entry: 'startPreVote',
        always: { guard: 'campaignWon', target: 'candidate' },
        on: {
          tick: [{ guard: 'electionDue', target: 'preCandidate', reenter: true }, { actions: 'tickElection' }],
          'rpc.voteResp': [
            { guard: 'isNewerTermVoteResponse', target: 'follower', actions: 'adoptTerm' },
            { guard: 'preVoteWins', target: 'candidate', actions: 'recordVote' },
            { guard: 'preVoteLoses', target: 'follower', actions: 'recordVote' },
            { guard: 'isPreVoteResponse', actions: 'recordVote' },
          ],
          ...followLeaderOfTerm,
        },
      },
      candidate: {
        entry: 'startElection',
        always: { guard: 'campaignWon', target: 'leader' },
        on: {
          // A failed election starts over with a pre-vote (etcd's hup): a node cut off from the
          // cluster must not keep raising its term.
          tick: [
            { guard: 'electionDueWithPreVote', target: 'preCandidate' },
            { guard: 'electionDue', target: 'candidate', reenter: true },
            { actions: 'tickElection' },
          ],
          'rpc.voteResp': [
            { guard: 'isNewerTermVoteResponse', target: 'follower', actions: 'adoptTerm' },
            { guard: 'voteWins', target: 'leader', actions: 'recordVote' },
            { guard: 'voteLoses', target: 'follower', actions: 'recordVote' },
            { guard: 'isVoteResponse', actions: 'recordVote' },
          ],
          ...followLeaderOfTerm,
        },
      },
      leader: {
        entry: 'becomeLeader',
        exit: 'leaveLeader',
        on: {
          tick: [{ guard: 'quorumLost', target: 'follower' }, { actions: 'leaderTick' }],
          'client.propose': { actions: 'handleProposal' },
          'client.read': { actions: 'handleRead' },
          'admin.transfer': { actions: 'handleTransfer' },
          'admin.membership': { actions: 'handleMembershipChange' },
          'rpc.appendResp': [
            { guard: 'isNewerTerm', target: 'follower', actions: 'adoptTerm' },
            { guard: 'isFromOurLeaderTerm', actions: 'handleAppendResponse' },
          ],
          'rpc.heartbeatResp': [
            { guard: 'isNewerTerm', target: 'follower', actions: 'adoptTerm' },
            { guard: 'isFromOurLeaderTerm', actions: 'handleHeartbeatResponse' },
          ],
          'snapshot.sendDone': { actions: 'handleSnapshotSendDone' },
          // A second leader of our term: from a member it means Election Safety broke (or a member's
          // credentials leaked), and the node stops rather than serve on (fail-stop, docs/raft.md);
          // from a node outside the configuration it can only be a forgery, ignored (the node
          // actor counts and reports it as `foreign-leader`).
          'rpc.append': [
            { guard: 'isStaleTerm', actions: 'rejectStaleLeader' },
            { guard: 'isNewerTerm', target: 'follower', actions: ['adoptTerm', 'handleAppend'] },
            { guard: 'isFromNonMember' },
            { actions: 'twoLeadersInOneTerm' },
          ],
          'rpc.heartbeat': [
            { guard: 'isStaleTerm', actions: 'rejectStaleLeader' },
            { guard: 'isNewerTerm', target: 'follower', actions: ['adoptTerm', 'handleHeartbeat'] },
            { guard: 'isFromNonMember' },
            { actions: 'twoLeadersInOneTerm' },
          ],
          'rpc.snapshot': [
            { guard: 'isStaleTerm', actions: 'rejectStaleLeader' },
            { guard: 'isNewerTerm', target: 'follower', actions: ['adoptTerm', 'handleSnapshotChunk'] },
            { guard: 'isFromNonMember' },
            { actions: 'twoLeadersInOneTerm' },
          ],
        },
      },
    },
  });
}

export type RaftMachine = ReturnType<typeof createRaftMachine>;
