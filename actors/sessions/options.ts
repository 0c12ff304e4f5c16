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
  /**
   * With the `clients-per-user` flag: clients one user may hold in the table (default half of
   * clientsMax); a registration past it evicts that user's own least recently active client, so one
   * user (a buggy loop, a hostile tenant) cannot evict everyone else's exactly-once state. Clients
   * registered with no login (a cluster without users) are not counted.
   */
  readonly clientsPerUserMax: number;
  /** Unacknowledged results remembered per client (its pipelining window). */
  readonly clientResultsMax: number;
  /**
   * Issue 18: the client table's accounted bytes (clientTable.ts: a fixed cost per client and per
   * remembered result, plus the result's value); past it the least recently active clients are
   * evicted, as at clientsMax. Must hold one client with a full window.
   */
  readonly clientTableBytesMax: number;
  /** A client idle for more than this many log entries is forgotten; 0: never by age. */
  readonly clientIdleEntriesMax: number;
  /**
   * The share of activeSessionsMax and of activeBytesMax (percent, 0-50) that restores leave to
   * clients' own sessions: restored sessions stay active until a consumer is done with them, and
   * without a reserve 100,000 of them due while no consumer ran refused every new session
   * (SESSIONS_ERR_TOO_MANY_SESSIONS), producers' schedules among them (2026-12-07). Past it, due
   * records wait in their data files and are restored as consumers make room. Read by the
   * leader's scheduler only (SessionsStore.hasRoomFor); apply checks the whole table.
   */
  readonly restoreReservePercent: number;
  /** A range digest covers at most this many records ... */
  readonly rangeRecordsMax: number;
  /** ... and at most this many bytes (a single larger record gets a range of its own). */
  readonly rangeBytesMax: number;
}

export const defaultStoreLimits: StoreLimits = {
  topicBytesMax: 256,
  recordBytesMax: 64 * 1024,
  sessionBytesMax: 1024 * 1024,
  sessionRecordsMax: 16 * 1024,
  activeSessionsMax: 100_000,
  activeBytesMax: 256 * 1024 * 1024,
  clientsMax: 10_000,
  clientsPerUserMax: 5_000,
  clientResultsMax: 256,
  clientTableBytesMax: 32 * 1024 * 1024,
  clientIdleEntriesMax: 0,
  restoreReservePercent: 10,
  rangeRecordsMax: 256,
  rangeBytesMax: 1024 * 1024,
};

export interface StoreOptions {
  /** Where the data files live: `data/<class>/<id>.dat` and `trash/` under the fs root. */
  readonly fs: SessionFs;
  readonly limits?: Partial<StoreLimits>;
  /**
   * Runs the next slice of a snapshot's encoding in a later turn of the event loop (the host:
   * setImmediate), so that a snapshot of a large active table does not hold the loop for longer
   * than a heartbeat (SessionsStore.snapshotPartsDeferred). Without it (the simulator, tests) the
   * encoding is done at once.
   */
  readonly encodeTurn?: (fn: () => void) => void;
  /** Schedules subscriber deliveries after apply (default: queueMicrotask). The simulator injects its own. */
  readonly defer?: (fn: () => void) => void;
  /** Default bound of each subscriber's queue. */
  readonly subscriberQueueMax?: number;
  /**
   * With `after`: a session restored ahead of its due time (the leader's `restoreLeadMs`) reaches
   * subscribers the restore's hold after this node applied it, by this clock (ms; a monotonic one
   * does best: the host passes performance.now). Only subscriptions read it, when they hand
   * deliveries over after apply: apply never does. Without, subscribers get it at apply.
   */
  readonly clock?: () => number;
  /** Runs `fn` after `delayMs` (the host: an unref'd setTimeout; the simulator its scheduler). */
  readonly after?: (delayMs: number, fn: () => void) => void;
  /** Read handles kept open (write handles of each class's newest file are always open). */
  readonly openFilesMax?: number;
  /**
   * Bytes of one read-ahead window over a data file (default 64 KiB; 0 turns them off). At most
   * four windows are held: 256 KiB by default (dataFiles.ts, readWindows.ts).
   */
  readonly readWindowBytes?: number;
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
  const base: StoreLimits = { ...defaultStoreLimits, ...(partial ?? {}) };
  // Half of clientsMax unless set: an operator who lowers clientsMax lowers this with it.
  const l: StoreLimits = partial?.clientsPerUserMax === undefined ? { ...base, clientsPerUserMax: clientsPerUserDefault(base.clientsMax) } : base;
  const positive: (keyof StoreLimits)[] = [
    'topicBytesMax',
    'recordBytesMax',
    'sessionBytesMax',
    'sessionRecordsMax',
    'activeSessionsMax',
    'activeBytesMax',
    'clientsMax',
    'clientsPerUserMax',
    'clientResultsMax',
    'clientTableBytesMax',
    'rangeRecordsMax',
    'rangeBytesMax',
  ];
  for (const k of positive) {
    if (!Number.isSafeInteger(l[k]) || l[k] < 1) throw new SessionsError(SessionsErrorCode.options, `${k} must be a positive integer, got ${l[k]}`);
  }
  if (!Number.isSafeInteger(l.clientIdleEntriesMax) || l.clientIdleEntriesMax < 0) {
    throw new SessionsError(SessionsErrorCode.options, `clientIdleEntriesMax must be >= 0`);
  }
  if (!Number.isSafeInteger(l.restoreReservePercent) || l.restoreReservePercent < 0 || l.restoreReservePercent > 50) {
    throw new SessionsError(SessionsErrorCode.options, `restoreReservePercent must be an integer from 0 to 50, got ${l.restoreReservePercent}`);
  }
  if (l.clientsPerUserMax > l.clientsMax) throw new SessionsError(SessionsErrorCode.options, 'clientsPerUserMax must be <= clientsMax');
  if (l.topicBytesMax > 0xffff) throw new SessionsError(SessionsErrorCode.options, 'topicBytesMax must be <= 65535');
  if (storedRecordBytesMax(l) > 0xffff_ffff) throw new SessionsError(SessionsErrorCode.options, 'a stored session must fit in 4 GiB');
  if (l.recordBytesMax > l.sessionBytesMax) throw new SessionsError(SessionsErrorCode.options, 'recordBytesMax must be <= sessionBytesMax');
  if (l.clientTableBytesMax < clientWindowBytesMax(l.clientResultsMax)) {
    throw new SessionsError(
      SessionsErrorCode.options,
      `clientTableBytesMax must hold one client with a full window (${clientWindowBytesMax(l.clientResultsMax)} bytes at clientResultsMax ${l.clientResultsMax})`,
    );
  }
  return l;
}

/** clientsPerUserMax when not set: half the table. */
function clientsPerUserDefault(clientsMax: number): number {
  return Math.ceil(clientsMax / 2);
}

/** Accounted bytes of a registered client, besides its results (clientTable.ts). */
export const CLIENT_ACCOUNTED_BYTES = 256;
/** Accounted bytes of one remembered result, besides its value (at most 32 bytes: a credential). */
export const RESULT_ACCOUNTED_BYTES = 96;

/** The most one client can account for: itself and a full window of the largest results. */
function clientWindowBytesMax(resultsMax: number): number {
  return CLIENT_ACCOUNTED_BYTES + resultsMax * (RESULT_ACCOUNTED_BYTES + 32);
}

/**
 * The limits that decide results and layout; nodes must agree on them. Limits added after v1
 * appear only when set away from their default, so snapshots written before them stay loadable.
 */
/** The limits apply depends on (restoreReservePercent is not among them: only the leader's scheduler reads it). */
export function limitsFingerprint(l: StoreLimits): string {
  const added = l.clientTableBytesMax !== defaultStoreLimits.clientTableBytesMax ? [`clientBytes=${l.clientTableBytesMax}`] : [];
  if (l.clientsPerUserMax !== clientsPerUserDefault(l.clientsMax)) added.push(`clientsPerUser=${l.clientsPerUserMax}`);
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
    ...added,
  ].join(',');
}
