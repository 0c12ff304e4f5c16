/**
 * The checkers' public API, for the fault harness (test/chaos) and anyone checking a history.
 * See docs/checkers.md for the formats and the verdicts.
 */
export {
  checkHistory,
  checkOperations,
  formatCounterexample,
  type CheckOptions,
  type CheckResult,
  type Counterexample,
  type UnknownReason,
  type Verdict,
} from './checker.js';
export {
  describeOperation,
  HistoryError,
  pairOperations,
  parseEvents,
  parseHistory,
  partitionByKey,
  type EventType,
  type HistoryErrorCode,
  type HistoryEvent,
  type Json,
  type Operation,
  type Outcome,
} from './history.js';
export { canonical, type Model } from './model.js';
export {
  checkQueue,
  formatQueueReport,
  parseFinalState,
  QueueInputError,
  type FinalSession,
  type FinalState,
  type NodeState,
  type QueueCheckOptions,
  type QueueCounts,
  type QueueReport,
} from './queueCheck.js';
export { HistoryRecorder } from './recorder.js';
export { registerModel, type RegisterState } from './registerModel.js';
export { notFound, sessionsModel, type SessionState } from './sessionsModel.js';
export { generate, plantRead, randomSchedule, registerReference, sessionsReference, type Reference, type Step } from './generate.js';
