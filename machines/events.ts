/**
 * Everything that can happen to a Raft node, as XState events with dotted names. One event per
 * message or per batch (a proposal batch, a durability report), never one per entry.
 */
import type { MembershipChange } from './membership.js';
import type {
  AppendRequest,
  AppendResponse,
  Entry,
  EntryKind,
  Heartbeat,
  HeartbeatResponse,
  NodeId,
  SnapshotChunk,
  SnapshotMeta,
  SnapshotResponse,
  TimeoutNow,
  VoteRequest,
  VoteResponse,
} from './types.js';

/** A command a client wants in the log; the leader gives it an index and a term. */
export interface Proposal {
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

export type RaftEvent =
  /** One logical clock tick (the actor turns time into ticks). */
  | { readonly type: 'tick' }
  | { readonly type: 'rpc.vote'; readonly msg: VoteRequest }
  | { readonly type: 'rpc.voteResp'; readonly msg: VoteResponse }
  | { readonly type: 'rpc.append'; readonly msg: AppendRequest }
  | { readonly type: 'rpc.appendResp'; readonly msg: AppendResponse }
  | { readonly type: 'rpc.heartbeat'; readonly msg: Heartbeat }
  | { readonly type: 'rpc.heartbeatResp'; readonly msg: HeartbeatResponse }
  | { readonly type: 'rpc.timeoutNow'; readonly msg: TimeoutNow }
  | { readonly type: 'rpc.snapshot'; readonly msg: SnapshotChunk }
  | { readonly type: 'rpc.snapshotResp'; readonly msg: SnapshotResponse }
  /** A batch of proposals; `tag` lets the actor match the answer to its callers. */
  | { readonly type: 'client.propose'; readonly tag: number; readonly proposals: readonly Proposal[] }
  /** A batch of linearizable reads sharing one ReadIndex round. */
  | { readonly type: 'client.read'; readonly ctx: number }
  /** The log is durable through (index, term): every write issued before this report completed. */
  | { readonly type: 'storage.durable'; readonly index: number; readonly term: number }
  /** The leader of `term` is alive (a range-sync chunk from it): resets the election timer. */
  | { readonly type: 'leader.alive'; readonly msg: { readonly from: NodeId; readonly term: number } }
  /** A follower received a whole snapshot from `from` (checksum verified by the actor). */
  | { readonly type: 'snapshot.received'; readonly from: NodeId; readonly meta: SnapshotMeta }
  /** The leader's snapshot stream to a follower ended. */
  | { readonly type: 'snapshot.sendDone'; readonly to: NodeId; readonly index: number; readonly ok: boolean }
  /**
   * Issue 18: the answer to a `readEntries` effect for follower `to` in leader term `term`: the
   * entries from `from` on read back from the durable log and the term of entry from - 1 (-1 when
   * read from the log's floor), or `entries` null when the read failed (the follower then gets a
   * snapshot).
   */
  | {
      readonly type: 'log.readBack';
      readonly to: NodeId;
      readonly term: number;
      readonly from: number;
      readonly prevTerm: number;
      readonly entries: readonly Entry[] | null;
    }
  /** A single-server membership change (dissertation 4.1), answered like a proposal by `tag`. */
  | { readonly type: 'admin.membership'; readonly tag: number; readonly change: MembershipChange }
  /** Hand leadership to `to` (leadership transfer, dissertation 3.10). */
  | { readonly type: 'admin.transfer'; readonly to: NodeId }
  /** Start an election now (tests and operators; ignored by nodes that may not campaign). */
  | { readonly type: 'admin.campaign' };
