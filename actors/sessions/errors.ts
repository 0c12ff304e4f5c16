/**
 * Stable codes of the session store. Results of entries (the same on every replica) use the
 * codec's codes (transport/commands/codec.ts) and the `result` codes below; `SessionsError` is thrown for
 * problems outside the log (a damaged snapshot or data file, a bad range transfer, a misconfigured
 * node) and for subscriber and planner failures reported to callbacks.
 */
import type { CommandErrorCode } from '../../transport/commands/codec.js';

export const ResultCode = {
  ok: 'OK',
  /** A SessionStore that was not applied (unknown session, duplicate...): a void record was written. */
  okVoidRecordRestored: 'OK_VOID_RECORD',
  sessionUnknown: 'SESSIONS_ERR_SESSION_UNKNOWN',
  sessionTooLarge: 'SESSIONS_ERR_SESSION_TOO_LARGE',
  sessionTooManyRecords: 'SESSIONS_ERR_SESSION_TOO_MANY_RECORDS',
  tooManySessions: 'SESSIONS_ERR_TOO_MANY_SESSIONS',
  storeFull: 'SESSIONS_ERR_STORE_FULL',
  fileUnknown: 'SESSIONS_ERR_FILE_UNKNOWN',
  fileNotConsumed: 'SESSIONS_ERR_FILE_NOT_CONSUMED',
  nothingToRestore: 'SESSIONS_ERR_NOTHING_TO_RESTORE',
  recordLength: 'SESSIONS_ERR_RECORD_LENGTH',
  nothingToCommit: 'SESSIONS_ERR_NOTHING_TO_COMMIT',
  clientUnknown: 'SESSIONS_ERR_CLIENT_UNKNOWN',
  seqStale: 'SESSIONS_ERR_SEQ_STALE',
  clientWindow: 'SESSIONS_ERR_CLIENT_WINDOW',
  /** The envelope's secret is not the one the client table holds for its client ID: not applied, nothing changed. */
  clientAuth: 'SESSIONS_ERR_CLIENT_AUTH',
  /** GroupCreate: the topic already has a group of that name. */
  groupExists: 'SESSIONS_ERR_GROUP_EXISTS',
  /** A group command naming no group (never created, or deleted). */
  groupUnknown: 'SESSIONS_ERR_GROUP_UNKNOWN',
  /** A delivery number that is not the item's (a late nack, a second deliver of one number): nothing changed. */
  deliveryStale: 'SESSIONS_ERR_DELIVERY_STALE',
  /** GroupAck/Nack/DeadLetter of a restore the group already settled: harmless, nothing changed. */
  okAlreadySettled: 'OK_ALREADY_SETTLED',
  /**
   * GroupAck of a delivery of an item that became one of the group's dead letters meanwhile (its
   * last delivery's deadline passed first): nothing changed, the dead letter stays; replay or
   * delete it. Before 2026-12-07 this was OK_ALREADY_SETTLED, as if the ack had settled it.
   */
  deadLettered: 'SESSIONS_ERR_DEAD_LETTERED',
  /** DeadLetterReplay/Delete of a restore that is not among the group's dead letters (never was, replayed, deleted, or dropped by the bound). */
  deadLetterNotFound: 'SESSIONS_ERR_DEAD_LETTER_NOT_FOUND',
  /** DeadLetterReplay of a dead letter whose record was already consumed (dead-lettered before dead letters kept their records): delete it. */
  deadLetterConsumed: 'SESSIONS_ERR_DEAD_LETTER_CONSUMED',
  /** Auth commands (issue 17): no user of that name. */
  userUnknown: 'SESSIONS_ERR_USER_UNKNOWN',
  /** No role of that name (or the user does not hold it). */
  roleUnknown: 'SESSIONS_ERR_ROLE_UNKNOWN',
  /** The built-in role `admin` cannot be created, changed or deleted. */
  roleBuiltin: 'SESSIONS_ERR_ROLE_BUILTIN',
  /** RoleRevoke of a permission the role does not hold. */
  permissionUnknown: 'SESSIONS_ERR_PERMISSION_UNKNOWN',
  /** A bound of the auth table (users, roles, permissions per role, roles per user) is reached. */
  authFull: 'SESSIONS_ERR_AUTH_FULL',
  /**
   * A session command whose client's user lacks the permission as of the entry's position in the
   * log (a revoke ordered before it): not applied, nothing changed. The client port's code.
   */
  permissionDenied: 'CLIENT_ERR_PERMISSION_DENIED',
  /**
   * Once a user exists at this position of the log: a ClientRegister naming no user, or a command
   * of a client registered without one (while the cluster was open, or by a port that had not
   * applied the first user yet). Not applied, nothing changed. The client port's code.
   */
  authRequired: 'CLIENT_ERR_AUTH_REQUIRED',
  /**
   * With the `last-admin` flag: a UserDelete, or a UserRevoke of the role `admin`, of the last user
   * holding that role at this position of the log. Not applied, nothing changed. The client port's code.
   */
  lastAdmin: 'CLIENT_ERR_LAST_ADMIN',
} as const;
export type ResultCode = (typeof ResultCode)[keyof typeof ResultCode] | CommandErrorCode;

export const SessionsErrorCode = {
  snapshotCorrupt: 'SESSIONS_ERR_SNAPSHOT_CORRUPT',
  snapshotIndex: 'SESSIONS_ERR_SNAPSHOT_INDEX',
  /** A manifest of an older format (version 1: clients without secrets) that this node cannot load. */
  snapshotVersion: 'SESSIONS_ERR_SNAPSHOT_VERSION',
  configMismatch: 'SESSIONS_ERR_CONFIG_MISMATCH',
  dataCorrupt: 'SESSIONS_ERR_DATA_CORRUPT',
  dataMissing: 'SESSIONS_ERR_DATA_MISSING',
  rangeChecksum: 'SESSIONS_ERR_RANGE_CHECKSUM',
  rangeUnknown: 'SESSIONS_ERR_RANGE_UNKNOWN',
  rangeGone: 'SESSIONS_ERR_RANGE_GONE',
  subscriberOverflow: 'SESSIONS_ERR_SUBSCRIBER_OVERFLOW',
  subscriberFailed: 'SESSIONS_ERR_SUBSCRIBER_FAILED',
  topicInvalid: 'SESSIONS_ERR_TOPIC_INVALID',
  options: 'SESSIONS_ERR_OPTIONS',
  replayClass: 'SESSIONS_ERR_REPLAY_CLASS',
  plannerBusy: 'SESSIONS_ERR_PLANNER_BUSY',
  plannerReset: 'SESSIONS_ERR_PLANNER_RESET',
  notLeader: 'SESSIONS_ERR_NOT_LEADER',
  sessionUnknown: 'SESSIONS_ERR_SESSION_UNKNOWN',
  /** The leader's gateway: an envelope whose secret is not its client's (ResultCode.clientAuth when applied). */
  clientAuth: 'SESSIONS_ERR_CLIENT_AUTH',
  /** The leader's gateway (issue 17): an envelope whose client ID another user registered. */
  clientOwner: 'SESSIONS_ERR_CLIENT_OWNER',
  storedSessionTooLarge: 'SESSIONS_ERR_STORED_SESSION_TOO_LARGE',
} as const;
export type SessionsErrorCode = (typeof SessionsErrorCode)[keyof typeof SessionsErrorCode];

export class SessionsError extends Error {
  constructor(
    readonly code: SessionsErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'SessionsError';
  }
}
