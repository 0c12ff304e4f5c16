/**
 * Tunables of the Raft core. Time is counted in logical ticks: the node actor turns its clock into
 * `tick` events (every `tickMs` of real or simulated time); the machines never read a clock.
 */
export interface RaftConfig {
  /** Minimum election timeout; each follower draws its timeout from [min, 2*min). */
  readonly electionTimeoutTicksMin: number;
  /** A leader sends heartbeats every this many ticks. Must be < electionTimeoutTicksMin. */
  readonly heartbeatIntervalTicks: number;
  /** Run a pre-vote round before disrupting the cluster with a higher term (dissertation 9.6). */
  readonly preVote: boolean;
  /** A leader that has not heard from a quorum for an election timeout steps down (dissertation 6.2). */
  readonly checkQuorum: boolean;
  /** Per follower in replicate state: AppendEntries messages in flight (count). */
  readonly inflightAppendsMax: number;
  /** Per follower in replicate state: entry bytes in flight. */
  readonly inflightBytesMax: number;
  /** Upper bound on entry bytes in one AppendEntries (at least one entry is always sent). */
  readonly appendBytesMax: number;
  /** Upper bound on entries in one AppendEntries. */
  readonly appendEntriesMax: number;
  /** A leader refuses proposals while this many entry bytes are appended but not committed. */
  readonly uncommittedBytesMax: number;
  /** A leader refuses a proposal batch larger than this many entries. */
  readonly proposalEntriesMax: number;
  /** Pending ReadIndex requests a leader holds before refusing more. */
  readonly pendingReadsMax: number;
  /** A learner is promoted to voter only when it is at most this many entries behind the leader. */
  readonly promoteLagEntriesMax: number;
}

export const defaultRaftConfig: RaftConfig = {
  electionTimeoutTicksMin: 10,
  heartbeatIntervalTicks: 2,
  preVote: true,
  checkQuorum: true,
  inflightAppendsMax: 64,
  inflightBytesMax: 32 * 1024 * 1024,
  appendBytesMax: 1024 * 1024,
  appendEntriesMax: 4096,
  uncommittedBytesMax: 256 * 1024 * 1024,
  proposalEntriesMax: 8192,
  pendingReadsMax: 65536,
  promoteLagEntriesMax: 1000,
};

/** Throws on a configuration that cannot work; called by the node before it starts. */
export function validateRaftConfig(c: RaftConfig): void {
  const positive = (name: string, v: number): void => {
    if (!Number.isSafeInteger(v) || v <= 0) throw new RangeError(`raft config: ${name} must be a positive integer, got ${v}`);
  };
  positive('electionTimeoutTicksMin', c.electionTimeoutTicksMin);
  positive('heartbeatIntervalTicks', c.heartbeatIntervalTicks);
  positive('inflightAppendsMax', c.inflightAppendsMax);
  positive('inflightBytesMax', c.inflightBytesMax);
  positive('appendBytesMax', c.appendBytesMax);
  positive('appendEntriesMax', c.appendEntriesMax);
  positive('uncommittedBytesMax', c.uncommittedBytesMax);
  positive('proposalEntriesMax', c.proposalEntriesMax);
  positive('pendingReadsMax', c.pendingReadsMax);
  if (!Number.isSafeInteger(c.promoteLagEntriesMax) || c.promoteLagEntriesMax < 0) {
    throw new RangeError('raft config: promoteLagEntriesMax must be a non-negative integer');
  }
  if (c.heartbeatIntervalTicks >= c.electionTimeoutTicksMin) {
    throw new RangeError('raft config: heartbeatIntervalTicks must be smaller than electionTimeoutTicksMin');
  }
}
