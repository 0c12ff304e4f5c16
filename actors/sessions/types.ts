/** Public types of the session store: results, manifest, ranges, deliveries. */
import type { ResultCode } from './errors.js';

/** What applying one entry gave: the same on every replica. */
export interface CommandResult {
  readonly ok: boolean;
  readonly code: ResultCode;
  /**
   * SessionCreate, SessionRestore: the session ID; ClientRegister: the client's credential, its ID
   * (16 bytes) followed by its secret (16 bytes); else null.
   */
  readonly value: Uint8Array | null;
  /** Set on a retry answered from the client table (the command was not applied again). */
  readonly duplicate?: true;
}

/** A range of whole records of one data file, with its digest (seed 004: count + hash). */
export interface RangeDigest {
  readonly start: number;
  readonly end: number;
  readonly count: number;
  /** The first 16 bytes of SHA-256 over the range's bytes, hex. */
  readonly hash: string;
}

export interface FileMeta {
  readonly replayClass: number;
  /** The ID of the DataCreate that made the file, as (term, index). */
  readonly fileHigh: number;
  readonly fileLow: number;
  /** `data/<class>/<id-hex>.dat` */
  readonly name: string;
  readonly size: number;
  /** Where the next SessionRestore reads. */
  readonly readCursor: number;
  /** Bytes [0, consumed) were committed (SessionCommit). */
  readonly consumed: number;
  /** No longer the newest file of its class: no more writes. */
  readonly sealed: boolean;
  /** The lengths of the records between `consumed` and `readCursor` (restored, not committed). */
  readonly restoredLengths: readonly number[];
  readonly ranges: readonly RangeDigest[];
}

export interface ClassMeta {
  readonly replayClass: number;
  /** The largest due time stored in the class so far (due times never go back within a class). */
  readonly lastDueMs: number;
}

export interface SessionSnapshot {
  readonly high: number;
  readonly low: number;
  readonly topic: string;
  readonly records: readonly Uint8Array[];
  /** The SessionRestore that made it active (flag remove-own-restore); absent or 0, 0 for none. */
  readonly restoreHigh?: number;
  readonly restoreLow?: number;
}

export interface ClientSnapshot {
  readonly high: number;
  readonly low: number;
  /** The secret the leader drew at ClientRegister (16 bytes): envelopes must carry it. */
  readonly secret: Uint8Array;
  /** The user who registered it ('' without authentication; manifest version 4). */
  readonly owner?: string;
  /** Log index of the client's last command (for LRU and idle expiry). */
  readonly lastIndex: number;
  readonly ackedBelowSeq: number;
  readonly results: readonly { readonly seq: number; readonly result: CommandResult }[];
}

/** What `snapshot()` returns (encoded): everything needed to rebuild the store, with data files by reference. */
export interface Manifest {
  readonly fingerprint: string;
  readonly appliedTerm: number;
  readonly appliedIndex: number;
  readonly classes: readonly ClassMeta[];
  readonly files: readonly FileMeta[];
  readonly sessions: readonly SessionSnapshot[];
  readonly clients: readonly ClientSnapshot[];
  /** The consumer groups (consumerGroups.ts's encoding; manifest version 3). Absent: none. */
  readonly groups?: Uint8Array;
  /** Users, roles and permissions (authTable.ts's encoding; manifest version 4). Absent: none. */
  readonly auth?: Uint8Array;
  /** The feature flags turned on (codec.ts FEATURES bits; manifest version 6). Absent: none. */
  readonly features?: number;
}

/** One range to transfer during range sync. */
export interface FileRange {
  readonly name: string;
  readonly replayClass: number;
  readonly fileHigh: number;
  readonly fileLow: number;
  readonly start: number;
  readonly end: number;
  readonly count: number;
  readonly hash: string;
}

/** A range's bytes as sent, checksummed (CRC-32 of `bytes`). */
export interface RangeChunk {
  readonly range: FileRange;
  readonly bytes: Uint8Array;
  readonly crc32: number;
}

/** A restored session handed to a subscriber. */
export interface Delivery {
  readonly topic: string;
  readonly session: Uint8Array;
  readonly records: readonly Uint8Array[];
  /** The SessionRestore's command ID: the idempotency key (a replay after a crash delivers again). */
  readonly restoreId: Uint8Array;
  readonly index: number;
}

/** An active session as read by clients. */
export interface SessionView {
  readonly id: Uint8Array;
  readonly topic: string;
  readonly records: readonly Uint8Array[];
  readonly bytes: number;
}

/** `digest()`: per data file and overall; nodes that applied the same entries have equal digests. */
export interface StoreDigest {
  readonly overall: string;
  readonly files: Record<string, string>;
}
