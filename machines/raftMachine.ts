/**
 * A Raft node's roles as one XState v5 statechart: follower, preCandidate, candidate, leader.
 *
 * Pure: the machine never touches the clock, randomness, network or disk. Time arrives as `tick`
 * events, randomness through the injected `core.random`, and every effect (persist, send, apply,
 * ...) is a parameterized action that `transition()` returns unexecuted and that the node actor
 * executes in the order persist, then send, then apply. The log and per-peer progress live in
 * `core` (outside context); guards and steps are one-liners calling named functions.
 */
import { and, assign, enqueueActions, or, raise, setup, stateIn } from 'xstate';
import { InvariantError } from './assert.js';
import type { Draft, RaftContext, RaftCore, RaftInput } from './core.js';
import { canCampaign, inLease, isMember, mayGrantVote, randomizedElectionTicks, usesPreVote } from './core.js';
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
  ReadEntriesParams,
  SendSnapshotParams,
  SnapshotChunkParams,
} from './effects.js';
import {
  adoptTerm,
  answerNonMemberVote,
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
  handleReadBack,
  handleMembershipChange,
  handleTransfer,
  leaderTick,
  leaveLeader,
  quorumLostAtTick,
} from './leader.js';
import { noteTermAnswer, probeTerm } from './termFloor.js';
import type { NodeId } from './types.js';

type RpcEvent = Extract<RaftEvent, { type: `rpc.${string}` }>;

/**
 * A peer message of the node's current term, as the roles see it: the term rule (the root's
 * `rpc.*` handler) hands every message on under this name once it has adopted a newer term or
 * answered a stale one, so no role compares terms again.
 */
type CurrentEvent = RpcEvent extends infer E
  ? E extends { type: `rpc.${infer K}`; msg: infer M }
    ? { readonly type: `current.${K}`; readonly msg: M }
    : never
  : never;
type MachineEvent = RaftEvent | CurrentEvent;
/** The message of a current-term event (what the role steps read). */
type Msg<K extends CurrentEvent['type']> = { readonly msg: Extract<CurrentEvent, { type: K }>['msg'] };

function msgTerm(event: MachineEvent): number {
  return 'msg' in event ? event.msg.term : -1;
}

/** The term and leader a message makes us adopt when it is newer than ours. */
function leaderOf(event: MachineEvent): NodeId | null {
  switch (event.type) {
    case 'rpc.append':
    case 'rpc.heartbeat':
    case 'rpc.snapshot':
    case 'rpc.timeoutNow':
    case 'current.append':
    case 'current.heartbeat':
    case 'current.snapshot':
    case 'current.timeoutNow':
    case 'leader.alive':
      return event.msg.from;
    default:
      return null;
  }
}

/**
 * May this message make the node adopt its term? Never a pre-vote request (a pre-vote changes
 * nothing), a granted pre-vote (it carries the asked-for term) or a TimeoutNow.
 */
function movesTerm(ctx: RaftContext, event: MachineEvent): boolean {
  switch (event.type) {
    case 'rpc.vote':
      return !event.msg.preVote && event.msg.term > ctx.term;
    case 'rpc.voteResp':
      return isNewerTermVoteResponse(ctx, event.msg);
    case 'rpc.timeoutNow':
      return false;
    default:
      return event.type.startsWith('rpc.') && msgTerm(event) > ctx.term;
  }
}

/** Whether a step changed any field of the context (its draft starts as a shallow copy). */
function changedAny(context: RaftContext, d: Draft): boolean {
  for (const k in d) if (d[k as keyof Draft] !== context[k as keyof RaftContext]) return true;
  return false;
}

/** Placeholder implementations: the node actor provides the real ones with `machine.provide`. */
function effect<P>(): (_: unknown, params: P) => void {
  return () => undefined;
}

export function createRaftMachine(core: RaftCore) {
  /** Run one step on a mutable copy of context, then assign it back and enqueue its effects. */
  const step = <E = MachineEvent>(fn: (d: Draft, event: E, fx: EffectSink) => void) =>
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- XState's action, actor, guard, delay and emitted type parameters: the step enqueues only its own effects
    enqueueActions<RaftContext, MachineEvent, undefined, any, any, any, any, any, any>(({ context, event, enqueue }) => {
      const d: Draft = { ...context };
      const fx: EffectSink = { push: (e: RaftEffect) => enqueue(e as never) };
      fn(d, event as E, fx);
      // Most per-command steps change no field (a second answer, a durable write behind the
      // commit index): then there is nothing to assign, and XState copies no context.
      if (changedAny(context, d)) enqueue.assign(d);
    });

  /** A (pre-)candidate that hears from the leader of its term follows it. */
  const followLeaderOfTerm = {
    'current.append': { target: 'follower', actions: 'handleAppend' },
    'current.heartbeat': { target: 'follower', actions: 'handleHeartbeat' },
    'current.snapshot': { target: 'follower', actions: 'handleSnapshotChunk' },
  } as const;

  return setup({
    types: {
      context: {} as RaftContext,
      events: {} as MachineEvent,
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
      readEntries: effect<ReadEntriesParams>(),
      snapshotChunk: effect<SnapshotChunkParams>(),
      installSnapshot: effect<InstallSnapshotParams>(),

      // Steps.
      /** Entering follower: forget the campaign, and restart the election timer unless told to keep it. */
      enterFollower: assign(({ context }) =>
        context.keepElectionTimer
          ? { votes: {}, transferCampaign: false, keepElectionTimer: false }
          : { electionElapsedTicks: 0, electionTimeoutTicks: randomizedElectionTicks(core), votes: {}, transferCampaign: false },
      ),
      keepElectionTimer: assign({ keepElectionTimer: true }),
      learnPreVote: assign({ preVoteLearned: true }),
      resetElectionElapsed: assign({ electionElapsedTicks: 0 }),
      tickElection: assign({ electionElapsedTicks: ({ context }) => context.electionElapsedTicks + 1 }),
      adoptTerm: step((d, e: MachineEvent, fx) => adoptTerm(core, d, msgTerm(e), leaderOf(e), fx)),
      markTransferCampaign: assign({ transferCampaign: true }),
      startPreVote: step((d, _e, fx) => startPreVote(core, d, fx)),
      startElection: step((d, _e, fx) => startElection(core, d, fx)),
      answerPreVote: step((d, e: Extract<RaftEvent, { type: 'rpc.vote' }>, fx) => answerPreVote(core, d, e.msg, fx)),
      answerVote: step((d, e: Msg<'current.vote'>, fx) => answerVote(core, d, e.msg, fx)),
      /** A stale request gets our term, so that its sender catches up (a stale answer is dropped). */
      answerStale: step((d, e: RpcEvent, fx) => {
        if (e.type === 'rpc.vote') rejectVote(core, d, e.msg, fx);
        else if (e.type === 'rpc.append' || e.type === 'rpc.heartbeat' || e.type === 'rpc.snapshot') rejectStaleLeader(core, d, e.msg.from, fx);
      }),
      answerNonMemberVote: step((d, e: RpcEvent, fx) => {
        if (e.type === 'rpc.vote') answerNonMemberVote(core, d, e.msg, fx);
      }),
      /** Hand a message the term rule passed to the roles, as a message of the current term. */
      deliver: raise(({ event }) => ({ type: `current.${(event as RpcEvent).type.slice('rpc.'.length)}`, msg: (event as RpcEvent).msg }) as CurrentEvent),
      recordVote: step((d, e: Msg<'current.voteResp'>) => recordVote(d, e.msg)),
      handleAppend: step((d, e: Msg<'current.append'>, fx) => handleAppend(core, d, e.msg, fx)),
      handleHeartbeat: step((d, e: Msg<'current.heartbeat'>, fx) => handleHeartbeat(core, d, e.msg, fx)),
      handleSnapshotChunk: step((d, e: Msg<'current.snapshot'>, fx) => handleSnapshotChunk(core, d, e.msg, fx)),
      handleSnapshotReceived: step((d, e: Extract<RaftEvent, { type: 'snapshot.received' }>, fx) => handleSnapshotReceived(core, d, e.from, e.meta, fx)),
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
      handleProposal: step((d, e: Extract<RaftEvent, { type: 'client.propose' }>, fx) => handleProposal(core, d, e.tag, e.proposals, fx)),
      handleRead: step((d, e: Extract<RaftEvent, { type: 'client.read' }>, fx) => handleRead(core, d, e.ctx, fx)),
      handleAppendResponse: step((d, e: Msg<'current.appendResp'>, fx) => handleAppendResponse(core, d, e.msg, fx)),
      handleHeartbeatResponse: step((d, e: Msg<'current.heartbeatResp'>, fx) => handleHeartbeatResponse(core, d, e.msg, fx)),
      handleSnapshotSendDone: step((d, e: Extract<RaftEvent, { type: 'snapshot.sendDone' }>, fx) => handleSnapshotSendDone(core, d, e.to, e.ok, fx)),
      handleReadBack: step((d, e: Extract<RaftEvent, { type: 'log.readBack' }>, fx) => handleReadBack(core, d, e, fx)),
      handleTransfer: step((d, e: Extract<RaftEvent, { type: 'admin.transfer' }>, fx) => handleTransfer(core, d, e.to, fx)),
      handleMembershipChange: step((d, e: Extract<RaftEvent, { type: 'admin.membership' }>, fx) => handleMembershipChange(core, d, e.tag, e.change, fx)),
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
      electionDueWithPreVote: ({ context }) => context.electionElapsedTicks + 1 >= context.electionTimeoutTicks && usesPreVote(core, context),
      canCampaignAtTimeout: ({ context }) =>
        context.electionElapsedTicks + 1 >= context.electionTimeoutTicks && canCampaign(core, context) && usesPreVote(core, context),
      canElectAtTimeout: ({ context }) =>
        context.electionElapsedTicks + 1 >= context.electionTimeoutTicks && canCampaign(core, context) && !usesPreVote(core, context),
      /**
       * A voter that holds our removal refused our RequestVote (in its older term): see
       * RaftContext.preVoteLearned (otherwise dropped as a stale answer).
       */
      isNonMemberVoteRefusal: ({ context, event }) =>
        event.type === 'rpc.voteResp' && event.msg.nonMember === true && event.msg.term < context.term && !context.preVoteLearned,
      canCampaign: ({ context }) => canCampaign(core, context),
      /** A request of an older term (answered with ours). */
      isStaleRequest: ({ context, event }) =>
        (event.type === 'rpc.vote' || event.type === 'rpc.append' || event.type === 'rpc.heartbeat' || event.type === 'rpc.snapshot') &&
        event.msg.term < context.term,
      /** An answer of an older term: dropped, except a pre-vote refusal (it refers to the next term, and counts). */
      isStaleAnswer: ({ context, event }) => msgTerm(event) < context.term && !(event.type === 'rpc.voteResp' && event.msg.preVote),
      movesTerm: ({ context, event }) => movesTerm(context, event),
      isVoteRequest: ({ event }) => event.type === 'rpc.vote',
      /** What tells a node of unknown term the cluster's term: a leader's message, an answer to its probe. */
      isTermAnswer: ({ event }) =>
        event.type === 'rpc.append' || event.type === 'rpc.heartbeat' || event.type === 'rpc.snapshot' || event.type === 'rpc.voteResp',
      /** Of the current term, or a pre-vote answer (its term is that of the pre-campaign, checked by the candidate). */
      isCurrentTerm: ({ context, event }) => msgTerm(event) === context.term || (event.type === 'rpc.voteResp' && event.msg.preVote),
      /**
       * A message of the current term while the term is known: the term rule would hand it on as
       * `current.*` unchanged (no earlier rule of `rpc.*` applies to it), so a role may take it
       * directly (see the roles' `rpc.*` entries).
       */
      isPlainCurrentTerm: ({ context, event }) => !context.termUnknown && msgTerm(event) === context.term,
      isPreVote: ({ event }) => event.type === 'rpc.vote' && event.msg.preVote,
      /**
       * Issue 15: a newer-term RequestVote from a node outside our configuration that we would not
       * grant. It is judged by its log (finding 4) but moves no term: a node whose removal we hold
       * must never move a member's term (it cannot win: its log lacks the removal), while a voter we
       * do not know yet, with a log at least as up to date as ours, still gets our vote.
       */
      isUngrantedNonMemberVote: ({ context, event }) =>
        event.type === 'rpc.vote' &&
        !event.msg.preVote &&
        event.msg.term > context.term &&
        !isMember(core, event.msg.from) &&
        !(mayGrantVote(core, context) && core.rules.candidateUpToDate(core.log, event.msg.lastIndex, event.msg.lastTerm)),
      /**
       * Issue 15: a newer-term answer from a node outside our configuration (it answers a request
       * we sent while it was a member, or it was removed since): dropped like a lost message. A
       * removed node must never move a member's term (`--disk-faults --membership` seed 313: a
       * removed node's late AppendEntries rejection in its newer term deposed the leader).
       */
      isNonMemberNewerAnswer: ({ context, event }) =>
        (event.type === 'rpc.appendResp' || event.type === 'rpc.heartbeatResp' || event.type === 'rpc.voteResp' || event.type === 'rpc.snapshotResp') &&
        event.msg.term > context.term &&
        !isMember(core, event.msg.from),
      /** A newer-term RequestVote that our lease tells us to ignore (unless it is a transfer). */
      isLeaseProtected: ({ context, event }) => event.type === 'rpc.vote' && event.msg.term > context.term && !event.msg.transfer && inLease(core, context),
      preVoteWins: ({ context, event }) =>
        event.type === 'current.voteResp' && isResponseForCampaign(context, event.msg, true) && tallyWith(core, context, event.msg) === 'won',
      preVoteLoses: ({ context, event }) =>
        event.type === 'current.voteResp' && isResponseForCampaign(context, event.msg, true) && tallyWith(core, context, event.msg) === 'lost',
      isPreVoteResponse: ({ context, event }) => event.type === 'current.voteResp' && isResponseForCampaign(context, event.msg, true),
      voteWins: ({ context, event }) =>
        event.type === 'current.voteResp' && isResponseForCampaign(context, event.msg, false) && tallyWith(core, context, event.msg) === 'won',
      voteLoses: ({ context, event }) =>
        event.type === 'current.voteResp' && isResponseForCampaign(context, event.msg, false) && tallyWith(core, context, event.msg) === 'lost',
      isVoteResponse: ({ context, event }) => event.type === 'current.voteResp' && isResponseForCampaign(context, event.msg, false),
      campaignWon: ({ context }) => tally(core, context) === 'won',
      quorumLost: ({ context }) => quorumLostAtTick(core, context),
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
      keepElectionTimer: false,
      preVoteLearned: false,
      corrupt: input.corrupt,
      votingBarred: input.votingBarred ?? false,
      termUnknown: (input.termUnknown ?? false) && core.rules.learnLostTerm,
      termAnswers: {},
      verifiedIndex: 0,
      repairThroughIndex: input.repairThroughIndex,
    }),
    initial: 'follower',
    on: {
      // Handled the same way in every role.
      'storage.durable': { actions: 'handleDurable' },
      // The term rule, once for every role (etcd's Step): every peer message passes here before any
      // role sees it. A pre-vote changes nothing and is answered at once; a vote request our lease
      // tells us to ignore (dissertation 4.2.3) is dropped; a stale request is answered with our
      // term and a stale answer dropped; a newer term is adopted and the node becomes a follower.
      // What passes goes to the roles as `current.*`: they see only messages of their term.
      // TimeoutNow never changes the term: only the leader of our current term may send one (a
      // leader sends it once the target acknowledged its entries, so in the target's term), and
      // only a follower obeys it (below). Anything else is ignored.
      'rpc.*': [
        // Issue 15: while a follower cannot prove which terms it voted in, it only learns terms from
        // leaders and from the answers to its probes; it grants no vote, acknowledges no leader,
        // and stays silent (its own term proves nothing to another node learning its term).
        { guard: and(['isTermUnknown', stateIn('#raft.follower'), 'isVoteRequest']) },
        { guard: and(['isTermUnknown', stateIn('#raft.follower'), 'isTermAnswer']), actions: 'noteTermAnswer' },
        { guard: 'isPreVote', actions: 'answerPreVote' },
        { guard: 'isLeaseProtected' },
        { guard: 'isUngrantedNonMemberVote', actions: 'answerNonMemberVote' },
        { guard: 'isNonMemberNewerAnswer' },
        { guard: 'isStaleRequest', actions: 'answerStale' },
        { guard: 'isNonMemberVoteRefusal', actions: 'learnPreVote' },
        { guard: 'isStaleAnswer' },
        // A follower adopting a newer term from a RequestVote keeps its election timer running
        // (Raft, Figure 2: only a leader's messages or a granted vote reset it), so a candidate
        // with a stale log cannot hold off the elections of nodes that could win.
        { guard: and(['movesTerm', 'isVoteRequest', stateIn('#raft.follower')]), actions: ['adoptTerm', 'deliver'] },
        // So does a (pre-)candidate that steps down for one: it keeps the round it was in (issue 15,
        // seed 2459: without pre-vote, a stale candidate timing out with a better one would
        // otherwise restart the better one's timer round after round).
        {
          guard: and(['movesTerm', 'isVoteRequest', or([stateIn('#raft.candidate'), stateIn('#raft.preCandidate')])]),
          target: '.follower',
          reenter: true,
          actions: ['adoptTerm', 'keepElectionTimer', 'deliver'],
        },
        { guard: 'movesTerm', target: '.follower', reenter: true, actions: ['adoptTerm', 'deliver'] },
        { guard: 'isCurrentTerm', actions: 'deliver' },
      ],
      // Answered the same way in every role.
      'current.vote': { actions: 'answerVote' },
      'client.propose': { actions: 'refuseProposal' },
      'client.read': { actions: 'refuseRead' },
      'admin.membership': { actions: 'refuseMembershipChange' },
    },
    states: {
      follower: {
        entry: 'enterFollower',
        on: {
          tick: [
            { guard: 'termProbeDue', actions: 'probeTerm' },
            { guard: 'canCampaignAtTimeout', target: 'preCandidate' },
            { guard: 'canElectAtTimeout', target: 'candidate' },
            { actions: 'tickElection' },
          ],
          'admin.campaign': [{ guard: 'canCampaign', target: 'candidate' }],
          'current.append': { actions: 'handleAppend' },
          'current.heartbeat': { actions: 'handleHeartbeat' },
          'current.snapshot': { actions: 'handleSnapshotChunk' },
          // The per-command messages, taken without the term rule's round trip when it would pass
          // them on unchanged (same action as `current.*`; anything else falls through to `rpc.*`).
          'rpc.append': { guard: 'isPlainCurrentTerm', actions: 'handleAppend' },
          'rpc.heartbeat': { guard: 'isPlainCurrentTerm', actions: 'handleHeartbeat' },
          'snapshot.received': { actions: 'handleSnapshotReceived' },
          'leader.alive': { guard: 'isFromCurrentLeader', actions: 'resetElectionElapsed' },
          'current.timeoutNow': [{ guard: 'isTimeoutNowFromOurLeader', target: 'candidate', actions: 'markTransferCampaign' }],
        },
      },
      preCandidate: {
        entry: 'startPreVote',
        always: { guard: 'campaignWon', target: 'candidate' },
        on: {
          tick: [{ guard: 'electionDue', target: 'preCandidate', reenter: true }, { actions: 'tickElection' }],
          'current.voteResp': [
            { guard: 'preVoteWins', target: 'candidate', actions: 'recordVote' },
            { guard: 'preVoteLoses', target: 'follower', actions: ['recordVote', 'keepElectionTimer'] },
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
          'current.voteResp': [
            { guard: 'voteWins', target: 'leader', actions: 'recordVote' },
            // A lost campaign keeps the round it drew (seed 66302): every candidate that loses on the
            // same answers would otherwise draw its next round from the same instant, and two
            // candidates that tied once tied again, round after round.
            { guard: 'voteLoses', target: 'follower', actions: ['recordVote', 'keepElectionTimer'] },
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
          'current.appendResp': { actions: 'handleAppendResponse' },
          'current.heartbeatResp': { actions: 'handleHeartbeatResponse' },
          // As in the follower: the per-command answers without the term rule's round trip.
          'rpc.appendResp': { guard: 'isPlainCurrentTerm', actions: 'handleAppendResponse' },
          'rpc.heartbeatResp': { guard: 'isPlainCurrentTerm', actions: 'handleHeartbeatResponse' },
          'snapshot.sendDone': { actions: 'handleSnapshotSendDone' },
          'log.readBack': { actions: 'handleReadBack' },
          // A second leader of our term: from a member it means Election Safety broke (or a member's
          // credentials leaked), and the node stops rather than serve on (fail-stop, docs/raft.md);
          // from a node outside the configuration it can only be a forgery, ignored (the node
          // actor counts and reports it as `foreign-leader`).
          'current.append': [{ guard: 'isFromNonMember' }, { actions: 'twoLeadersInOneTerm' }],
          'current.heartbeat': [{ guard: 'isFromNonMember' }, { actions: 'twoLeadersInOneTerm' }],
          'current.snapshot': [{ guard: 'isFromNonMember' }, { actions: 'twoLeadersInOneTerm' }],
        },
      },
    },
  });
}

export type RaftMachine = ReturnType<typeof createRaftMachine>;
