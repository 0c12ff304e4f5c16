/**
 * The store's limits and options. Every limit that decides the outcome of an entry (which commands
 * are rejected, where range boundaries fall) must be the same on every node: they form the
 * `fingerprint` that snapshots carry and `restore` checks.
 */
import { REPLAY_CLASSES_MAX, STORED_RECORD_HEADER_BYTES, type CodecLimits } from '../../transport/commands/codec.js';
import { SessionsError, SessionsErrorCode } from './errors.js';
import type { SessionFs } from './fs.js';

export interface StoreLimits {
  /** Topic length in UTF-8 bytes. */
  readonly topicBytesMax: number;
  /** One record (SessionAppend / SessionRewrite bytes). */
  readonly recordBytesMax: number;
  /** The sum of one active session's record bytes. */
  readonly sessionBytesMax: number;
  /** Records in one active session. */
  readonly sessionRecordsMax: number;
  /** Active sessions held in memory. */
  readonly activeSessionsMax: number;
  /**
   * The sum of all active sessions' record bytes. Snapshots carry the active sessions, so the
   * transport's snapshotBytesMax must exceed this (plus about 30 bytes per session and 4 per record).
   */
  readonly activeBytesMax: number;
  /** Registered clients kept for exactly-once (least recently used by log index evicted first). */
  readonly clientsMax: number;
  /** Unacknowledged results remembered per client (its pipelining window). */
  readonly clientResultsMax: number;
  /** A client idle for more than this many log entries is forgotten; 0: never by age. */
  readonly clientIdleEntriesMax: number;
  /** A range digest covers at most this many records ... */
  readonly rangeRecordsMax: number;
  /** ... and at most this many bytes (a single larger record gets a range of its own). */
  readonly rangeBytesMax: number;
}

const defaultStoreLimits: StoreLimits = {
  topicBytesMax: 256,
  recordBytesMax: 64 * 1024,
  sessionBytesMax: 1024 * 1024,
  sessionRecordsMax: 16 * 1024,
  activeSessionsMax: 100_000,
  activeBytesMax: 256 * 1024 * 1024,
  clientsMax: 10_000,
  clientResultsMax: 256,
  clientIdleEntriesMax: 0,
  rangeRecordsMax: 256,
  rangeBytesMax: 1024 * 1024,
};

export interface StoreOptions {
  /** Where the data files live: `data/<class>/<id>.dat` and `trash/` under the fs root. */
  readonly fs: SessionFs;
  readonly limits?: Partial<StoreLimits>;
  /** Schedules subscriber deliveries after apply (default: queueMicrotask). The simulator injects its own. */
  readonly defer?: (fn: () => void) => void;
  /** Default bound of each subscriber's queue. */
  readonly subscriberQueueMax?: number;
  /** Read handles kept open (write handles of each class's newest file are always open). */
  readonly openFilesMax?: number;
  /** Planted bug (simulator only, `--plant skip-permission-at-apply`): apply does not check permissions again. */
  readonly plantSkipPermissionAtApply?: boolean;
}

/** The largest stored record a session within the limits can produce. */
export function storedRecordBytesMax(l: StoreLimits): number {
  return STORED_RECORD_HEADER_BYTES + l.topicBytesMax + 4 * l.sessionRecordsMax + l.sessionBytesMax;
}

export function codecLimitsOf(l: StoreLimits): CodecLimits {
  return { topicBytesMax: l.topicBytesMax, recordBytesMax: l.recordBytesMax, storedRecordBytesMax: storedRecordBytesMax(l) };
}

export function resolveLimits(partial: Partial<StoreLimits> | undefined): StoreLimits {
  const l: StoreLimits = { ...defaultStoreLimits, ...(partial ?? {}) };
  const positive: (keyof StoreLimits)[] = [
    'topicBytesMax',
    'recordBytesMax',
    'sessionBytesMax',
    'sessionRecordsMax',
    'activeSessionsMax',
    'activeBytesMax',
    'clientsMax',
    'clientResultsMax',
    'rangeRecordsMax',
    'rangeBytesMax',
  ];
  for (const k of positive) {
    if (!Number.isSafeInteger(l[k]) || l[k] < 1) throw new SessionsError(SessionsErrorCode.options, `${k} must be a positive integer, got ${l[k]}`);
  }
  if (!Number.isSafeInteger(l.clientIdleEntriesMax) || l.clientIdleEntriesMax < 0) {
    throw new SessionsError(SessionsErrorCode.options, `clientIdleEntriesMax must be >= 0`);
  }
  if (l.topicBytesMax > 0xffff) throw new SessionsError(SessionsErrorCode.options, 'topicBytesMax must be <= 65535');
  if (storedRecordBytesMax(l) > 0xffff_ffff) throw new SessionsError(SessionsErrorCode.options, 'a stored session must fit in 4 GiB');
  if (l.recordBytesMax > l.sessionBytesMax) throw new SessionsError(SessionsErrorCode.options, 'recordBytesMax must be <= sessionBytesMax');
  return l;
}

/** The limits that decide results and layout; nodes must agree on them. */
export function limitsFingerprint(l: StoreLimits): string {
  return [
    `v1`,
    `classes=${REPLAY_CLASSES_MAX}`,
    `topic=${l.topicBytesMax}`,
    `record=${l.recordBytesMax}`,
    `session=${l.sessionBytesMax}`,
    `records=${l.sessionRecordsMax}`,
    `active=${l.activeSessionsMax}`,
    `activeBytes=${l.activeBytesMax}`,
    `clients=${l.clientsMax}`,
    `results=${l.clientResultsMax}`,
    `idle=${l.clientIdleEntriesMax}`,
    `rangeRecords=${l.rangeRecordsMax}`,
    `rangeBytes=${l.rangeBytesMax}`,
  ].join(',');
}
