/**
 * What a Raft step asks the world to do, as data. The machines enqueue these as parameterized
 * XState actions; `transition()` returns them unexecuted, and the node actor executes one step's
 * effects in the order persist, then send, then apply.
 */
import type { Entry, HardState, NodeId, RaftMessage, SnapshotMeta } from './types.js';

export interface PersistParams {
  readonly hardState?: HardState;
  readonly truncateFrom?: number;
  readonly entries: readonly Entry[];
}

export interface SendParams {
  readonly message: RaftMessage;
  /**
   * When true the message may leave only once every write issued so far is durable (votes,
   * acknowledgements). A leader's AppendEntries and heartbeats go at once: the leader writes its
   * own log in parallel with replication.
   */
  readonly afterDurable: boolean;
}

export interface ApplyParams {
  /** Apply every committed, durable entry through this index. */
  readonly toIndex: number;
}

export interface ProposalAcceptedParams {
  readonly tag: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly term: number;
}

/** Stable codes for refused client requests. */
export type RefusalCode =
  | 'not-leader'
  | 'transfer-in-progress'
  | 'too-many-uncommitted'
  | 'batch-too-large'
  | 'too-many-reads'
  | 'leader-changed'
  | 'config-change-pending'
  | 'config-change-too-early'
  | 'learner-behind'
  | 'remove-leader'
  | 'membership-invalid';

export interface RefusedParams {
  readonly tag: number;
  readonly code: RefusalCode;
  readonly leader: NodeId | null;
  /** What exactly was wrong, for the operator (membership changes). */
  readonly detail?: string;
  /** With `membership-invalid`: the rule the change breaks (MEMBERSHIP_ALREADY_MEMBER, …), carried as a code, not in text. */
  readonly membershipCode?: string;
}

export interface ReadReadyParams {
  readonly ctx: number;
  /** Serve the read once the state machine has applied through this index. */
  readonly index: number;
}

export interface SendSnapshotParams {
  readonly to: NodeId;
  readonly term: number;
  /**
   * Set when entries read back for `to` failed (unreadable or disagreeing): the first index of the
   * read. A snapshot below it cannot help (`to` holds everything before it already, and would be
   * read back from there again); one at or above it gets `to` past the read's start.
   */
  readonly unreadFrom?: number;
}

/**
 * Issue 18: read entries [from, toIndex] back from the durable log for follower `to` (they are
 * below the in-memory log), at most bytesMax of data; answered by a `log.readBack` event.
 */
export interface ReadEntriesParams {
  readonly to: NodeId;
  readonly term: number;
  readonly from: number;
  readonly toIndex: number;
  readonly bytesMax: number;
}

export interface SnapshotChunkParams {
  readonly term: number;
  readonly chunk: import('./types.js').SnapshotChunk;
}

export interface InstallSnapshotParams {
  readonly meta: SnapshotMeta;
}

/** Effect names, as XState action types. */
export type RaftEffect =
  | { readonly type: 'persist'; readonly params: PersistParams }
  | { readonly type: 'send'; readonly params: SendParams }
  | { readonly type: 'apply'; readonly params: ApplyParams }
  | { readonly type: 'proposalAccepted'; readonly params: ProposalAcceptedParams }
  | { readonly type: 'proposalRefused'; readonly params: RefusedParams }
  | { readonly type: 'readReady'; readonly params: ReadReadyParams }
  | { readonly type: 'readRefused'; readonly params: RefusedParams }
  | { readonly type: 'sendSnapshot'; readonly params: SendSnapshotParams }
  | { readonly type: 'readEntries'; readonly params: ReadEntriesParams }
  | { readonly type: 'snapshotChunk'; readonly params: SnapshotChunkParams }
  | { readonly type: 'installSnapshot'; readonly params: InstallSnapshotParams };

/** Collects the effects of one handler; the machine turns them into enqueued actions. */
export interface EffectSink {
  push(effect: RaftEffect): void;
}

/**
 * The effects of one step, or of every step since they were last executed, by kind, each kind in
 * the order the machine produced it. The node actor executes a Ready in the order persist
 * (`installSnapshot`, then the `persist` writes) → proposal answers → send (`sends` released at
 * once or held until durable, then `sendSnapshot`) → apply (`apply`, then `readReady`); the
 * machine harness asserts on one per step. `collect` is the one place effects are sorted.
 */
export class Ready {
  readonly persist: PersistParams[] = [];
  readonly sends: SendParams[] = [];
  readonly apply: ApplyParams[] = [];
  readonly proposalAccepted: ProposalAcceptedParams[] = [];
  readonly proposalRefused: RefusedParams[] = [];
  readonly readReady: ReadReadyParams[] = [];
  readonly readRefused: RefusedParams[] = [];
  readonly sendSnapshot: SendSnapshotParams[] = [];
  readonly readEntries: ReadEntriesParams[] = [];
  readonly snapshotChunk: SnapshotChunkParams[] = [];
  readonly installSnapshot: InstallSnapshotParams[] = [];

  /** Add one action of a step (as enqueued, or as `transition()` returns it); false when it is not an effect. */
  collect(action: { readonly type: string; readonly params?: unknown }): boolean {
    const effect = action as RaftEffect;
    switch (effect.type) {
      case 'persist':
        this.persist.push(effect.params);
        return true;
      case 'send':
        this.sends.push(effect.params);
        return true;
      case 'apply':
        this.apply.push(effect.params);
        return true;
      case 'proposalAccepted':
        this.proposalAccepted.push(effect.params);
        return true;
      case 'proposalRefused':
        this.proposalRefused.push(effect.params);
        return true;
      case 'readReady':
        this.readReady.push(effect.params);
        return true;
      case 'readRefused':
        this.readRefused.push(effect.params);
        return true;
      case 'sendSnapshot':
        this.sendSnapshot.push(effect.params);
        return true;
      case 'readEntries':
        this.readEntries.push(effect.params);
        return true;
      case 'snapshotChunk':
        this.snapshotChunk.push(effect.params);
        return true;
      case 'installSnapshot':
        this.installSnapshot.push(effect.params);
        return true;
      default:
        return false;
    }
  }
}

type EffectActions = { readonly [T in RaftEffect['type']]: (args: unknown, params: Extract<RaftEffect, { type: T }>['params']) => void };

/** Implementations of the effect actions that collect each effect into `ready` (for `machine.provide`). */
export function collectInto(ready: Ready): EffectActions {
  const to =
    <T extends RaftEffect['type']>(type: T) =>
    (_: unknown, params: Extract<RaftEffect, { type: T }>['params']): void => {
      ready.collect({ type, params });
    };
  return {
    persist: to('persist'),
    send: to('send'),
    apply: to('apply'),
    proposalAccepted: to('proposalAccepted'),
    proposalRefused: to('proposalRefused'),
    readReady: to('readReady'),
    readRefused: to('readRefused'),
    sendSnapshot: to('sendSnapshot'),
    readEntries: to('readEntries'),
    snapshotChunk: to('snapshotChunk'),
    installSnapshot: to('installSnapshot'),
  };
}
