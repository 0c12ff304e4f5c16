/**
 * The safety rules that the simulator's planted bugs replace, as one strategy object resolved once
 * when a core is created (`createRaftCore`): production runs `raftRules`, a run with `--plant`
 * runs `safetyRules(bugs)`. The machines call these rules and never test for a plant.
 */
import type { PlantedBug } from './core.js';
import type { RaftLog } from './raftLog.js';
import type { Entry } from './types.js';

export interface SafetyRules {
  /** Raft §5.4.1: is a candidate's log, ending at (lastIndex, lastTerm), at least as up to date as ours? */
  candidateUpToDate(log: RaftLog, lastIndex: number, lastTerm: number): boolean;
  /** How far this node's own log counts as durable: a leader's own match, a follower's apply limit. */
  durableIndex(log: RaftLog): number;
  /** An acknowledgement of entries leaves only once they are durable. */
  readonly ackAfterDurable: boolean;
  /** Where AppendEntries `entries` (after `prevIndex`, which matched) start to differ from the log; 0: nowhere. */
  appendFrom(log: RaftLog, prevIndex: number, entries: readonly Entry[]): number;
  /** Raft §5.4.2: may a leader of `term` commit an entry of `entryTerm` by counting its replicas? */
  commitByCount(entryTerm: number, term: number): boolean;
  /** Issue 15: a node that lost its hard state learns its term before it votes or acknowledges a leader. */
  readonly learnLostTerm: boolean;
  /** ReadIndex: a read is served only once a quorum confirmed that this node still leads. */
  readonly readNeedsQuorum: boolean;
}

const raftRules: SafetyRules = {
  candidateUpToDate: (log, lastIndex, lastTerm) => log.isUpToDate(lastIndex, lastTerm),
  durableIndex: (log) => log.persistedIndex,
  ackAfterDurable: true,
  appendFrom: (log, _prevIndex, entries) => log.findConflict(entries),
  commitByCount: (entryTerm, term) => entryTerm === term,
  learnLostTerm: true,
  readNeedsQuorum: true,
};

/** Each planted bug breaks exactly the rule it is named after (skip-fsync, stale-read, commit-before-ack, deliver-before-due and ignore-feature-flags live outside the core). */
const plants: Partial<Record<PlantedBug, Partial<SafetyRules>>> = {
  'vote-ignores-log': { candidateUpToDate: () => true },
  // Count the own log and acknowledge entries before they are durable.
  'ack-before-persist': { durableIndex: (log) => log.lastIndex(), ackAfterDurable: false },
  // Cut the log after prevIndex on every AppendEntries, conflict or not.
  'no-truncate-check': { appendFrom: (_log, prevIndex) => prevIndex + 1 },
  'commit-previous-term': { commitByCount: () => true },
  // Trust the recovered term and vote after a lost hard state (votes and acknowledges at once).
  'forget-lost-term': { learnLostTerm: false },
  // Serve ReadIndex reads without the heartbeat round that confirms leadership (a deposed leader answers stale).
  'read-without-quorum': { readNeedsQuorum: false },
};

/** The rules with these bugs planted (`raftRules` itself when there are none). */
export function safetyRules(bugs: ReadonlySet<PlantedBug>): SafetyRules {
  if (bugs.size === 0) return raftRules;
  let rules: SafetyRules = raftRules;
  for (const bug of bugs) rules = { ...rules, ...plants[bug] };
  return rules;
}
