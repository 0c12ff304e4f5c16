/**
 * Core data types shared by the Raft machines, the node actor, storage and transport.
 *
 * Conventions: `index` is a position in the replicated log (1-based; 0 means "before the first
 * entry"), `term` is a Raft term (0 before any election), sizes are in bytes and carry `Bytes` in
 * their names, durations carry their unit (`Ms`, `Ticks`).
 */

/** A node's stable identity inside one cluster: 1..64 chars of [A-Za-z0-9_.-]. */
export type NodeId = string;

/**
 * The largest term a node accepts from a peer or adopts (2^53 - 2^20): numbers travel as safe
 * integers, and a term near 2^53 would leave no room for the next election (term + 1 must still be
 * exact). Below this bound there is room for 2^20 elections more, which no cluster runs out of;
 * the transport rejects a larger term at decode (TRANSPORT_ERR_TERM), the node actor drops one
 * from any other source.
 */
export const TERM_MAX = 2 ** 53 - 2 ** 20;

/** What a log entry carries. Numbers, because they travel on the wire and on disk. */
export const EntryKind = {
  /** Appended by every new leader at the start of its term (Raft §8); carries no data. */
  noop: 0,
  /** A replication command for the state machine (its bytes are the command's encoding). */
  command: 1,
  /** A membership configuration (voters and learners). */
  config: 2,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

export interface Entry {
  readonly index: number;
  readonly term: number;
  readonly kind: EntryKind;
  readonly data: Uint8Array;
}

/** Cluster membership: who votes and who only receives the log. */
export interface Membership {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /**
   * How to reach members (opaque to Raft: the host's `host:raftPort:clientPort:adminPort`), so that
   * every node, and every future leader, can reach a member added later.
   */
  readonly addresses?: Readonly<Record<NodeId, string>>;
}

/** What must survive a crash besides the log: the current term and the vote cast in it. */
export interface HardState {
  readonly term: number;
  readonly vote: NodeId | null;
}

/** Describes a state-machine snapshot: the log prefix it replaces. */
export interface SnapshotMeta {
  readonly index: number;
  readonly term: number;
  readonly membership: Membership;
}

interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's current term (for a granted pre-vote response: the term it was asked about). */
  readonly term: number;
}

/** RequestVote, or a pre-vote when `preVote` (then `term` is the term the sender would campaign in). */
export interface VoteRequest extends MessageBase {
  readonly type: 'vote';
  readonly lastIndex: number;
  readonly lastTerm: number;
  readonly preVote: boolean;
  /** Set by a leadership-transfer election: voters ignore their leader lease for it. */
  readonly transfer: boolean;
}

export interface VoteResponse extends MessageBase {
  readonly type: 'voteResp';
  readonly granted: boolean;
  readonly preVote: boolean;
  /**
   * Set on a refusal of a RequestVote from a node outside the responder's configuration that it
   * would not grant (`isUngrantedNonMemberVote`: it holds the candidate's removal), answered in the
   * responder's older term. The candidate campaigns with a pre-vote from then on
   * (RaftContext.preVoteLearned). Absent otherwise.
   */
  readonly nonMember?: true;
}

/** AppendEntries; entries are contiguous, starting at prevIndex + 1. */
export interface AppendRequest extends MessageBase {
  readonly type: 'append';
  readonly prevIndex: number;
  readonly prevTerm: number;
  readonly commit: number;
  readonly entries: readonly Entry[];
}

/**
 * The follower's answer to AppendEntries. A successful one is the seed's **Confirm**: it is sent only
 * once the entries through `index` are durable on the follower, and it confirms the command whose
 * ID is (term of entry `index`, `index`).
 * On a rejection, `index` is the rejected prevIndex and (hintIndex, hintTerm) is the follower's
 * conflict hint for fast backtracking (Raft §5.3, etcd's findConflictByTerm).
 */
export interface AppendResponse extends MessageBase {
  readonly type: 'appendResp';
  readonly success: boolean;
  readonly index: number;
  readonly hintIndex: number;
  readonly hintTerm: number;
}

/** Leader heartbeat; `readCtx` > 0 asks for a ReadIndex quorum confirmation. */
export interface Heartbeat extends MessageBase {
  readonly type: 'heartbeat';
  readonly commit: number;
  readonly readCtx: number;
}

export interface HeartbeatResponse extends MessageBase {
  readonly type: 'heartbeatResp';
  readonly readCtx: number;
}

/** Leadership transfer: the receiver starts an election at once, ignoring pre-vote and leases. */
export interface TimeoutNow extends MessageBase {
  readonly type: 'timeoutNow';
}

/** One chunk of a snapshot stream (InstallSnapshot). `offset` is the chunk's byte offset. */
export interface SnapshotChunk extends MessageBase {
  readonly type: 'snapshot';
  readonly meta: SnapshotMeta;
  readonly offset: number;
  readonly totalBytes: number;
  /** CRC-32 of the whole snapshot (all `totalBytes`): the receiver checks what it assembled (issue 18). */
  readonly dataCrc: number;
  readonly data: Uint8Array;
  readonly done: boolean;
}

/** Acknowledges snapshot chunks: `offset` is the next byte expected; `done` once installed. */
export interface SnapshotResponse extends MessageBase {
  readonly type: 'snapshotResp';
  readonly index: number;
  readonly offset: number;
  readonly done: boolean;
  readonly reject: boolean;
}

/** A data-file byte range named in a snapshot manifest. */
export interface FileByteRange {
  /** Relative path inside the state machine's data directory, e.g. `data/1/<id>.dat`. */
  readonly name: string;
  readonly start: number;
  readonly end: number;
  /** The range's digest in the manifest (hex): the sender checks its bytes against it. */
  readonly hash: string;
}

/**
 * Range sync (seed 004): a follower installing a snapshot compared the manifest's per-range
 * (count, hash) digests with its own files and asks the leader only for the ranges that differ.
 */
export interface RangeRequest extends MessageBase {
  readonly type: 'rangeRequest';
  readonly snapshotIndex: number;
  readonly ranges: readonly FileByteRange[];
}

/** One checksummed piece of a requested range; `start` is its byte offset in the file. */
export interface RangeChunk extends MessageBase {
  readonly type: 'rangeChunk';
  readonly snapshotIndex: number;
  readonly name: string;
  readonly start: number;
  readonly data: Uint8Array;
  /** CRC-32 of `data`. */
  readonly crc32: number;
}

export type RaftMessage =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | TimeoutNow
  | SnapshotChunk
  | SnapshotResponse
  | RangeRequest
  | RangeChunk;

type RaftMessageType = RaftMessage['type'];

/**
 * Which peer channel a message travels on (seed 002): control messages are small and latency
 * critical; data messages carry entries and snapshot bytes.
 */
export function channelOf(type: RaftMessageType): 'control' | 'data' {
  return type === 'append' || type === 'snapshot' || type === 'rangeChunk' ? 'data' : 'control';
}
