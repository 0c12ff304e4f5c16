import { FRAME_HEADER_BYTES, FRAME_PAYLOAD_BYTES_MAX } from './frame.js';
import { ENTRY_FIELDS_BYTES } from './records.js';

/** Limits and switches of the durable log, each with a safe default. */
export interface WalOptions {
  /**
   * A new segment is started once the active one would grow past this. Default 32 MiB (64 before
   * 2026-12-03: recovery reads a segment whole, so this is a restart's transient; issue 18).
   */
  readonly segmentBytesMax?: number;
  /**
   * Writes are grouped into batches of at most this many record bytes (one write and one fdatasync
   * each); a single larger write gets a batch of its own, up to `batchBytesBound` (a larger one is
   * split at entry boundaries). Default 4 MiB.
   */
  readonly batchBytesMax?: number;
  /** Largest entry data accepted by `write` (a broken invariant above it). Default 16 MiB. */
  readonly entryDataBytesMax?: number;
  /**
   * The active segment is kept zero-filled (written and synced) this many bytes ahead of its end,
   * so that a durable write overwrites bytes that already exist instead of growing the file: on
   * ext4 a write that grows the file also writes the inode before it is durable, two device writes
   * instead of one (a third less time per durable write on the development VM). 0 turns it off.
   * Default 0 here; the node sets it (`nodeHost`). At most `segmentBytesMax`.
   */
  readonly preallocateBytes?: number;
  /** Cut torn bytes are copied aside up to this many bytes. Default 64 MiB. */
  readonly tornCopyBytesMax?: number;
  /** Snapshot files kept. Default 2. */
  readonly snapshotsKept?: number;
  /**
   * Issue 18: segments whose entries a snapshot covers are kept (oldest deleted first) while all
   * segments together exceed at most this many bytes, so a leader can read entries back for a
   * follower behind its in-memory window instead of sending a snapshot. Default 256 MiB.
   */
  readonly retainBytesMax?: number;
  /**
   * Planted bug `skip-fsync` for the simulator: report writes durable once written, without any
   * fdatasync or directory fsync. Never set it outside the simulator's planted-bug runs.
   */
  readonly plantSkipFsync?: boolean;
}

export interface WalLimits {
  readonly segmentBytesMax: number;
  readonly batchBytesMax: number;
  readonly entryDataBytesMax: number;
  readonly preallocateBytes: number;
  readonly tornCopyBytesMax: number;
  readonly snapshotsKept: number;
  readonly retainBytesMax: number;
  readonly plantSkipFsync: boolean;
}

const MiB = 1024 * 1024;

export function walLimits(o: WalOptions = {}): WalLimits {
  const limits: WalLimits = {
    segmentBytesMax: o.segmentBytesMax ?? 32 * MiB,
    batchBytesMax: o.batchBytesMax ?? 4 * MiB,
    entryDataBytesMax: o.entryDataBytesMax ?? 16 * MiB,
    preallocateBytes: o.preallocateBytes ?? 0,
    tornCopyBytesMax: o.tornCopyBytesMax ?? 64 * MiB,
    snapshotsKept: o.snapshotsKept ?? 2,
    retainBytesMax: o.retainBytesMax ?? 256 * MiB,
    plantSkipFsync: o.plantSkipFsync === true,
  };
  for (const [k, v] of Object.entries(limits)) {
    const min = k === 'preallocateBytes' ? 0 : 1;
    if (typeof v === 'number' && (!Number.isSafeInteger(v) || v < min))
      throw new RangeError(`WalOptions.${k} must be ${min === 0 ? 'a non-negative' : 'a positive'} integer, got ${v}`);
  }
  if (limits.entryDataBytesMax > FRAME_PAYLOAD_BYTES_MAX - ENTRY_FIELDS_BYTES) {
    throw new RangeError(`WalOptions.entryDataBytesMax must be at most ${FRAME_PAYLOAD_BYTES_MAX - ENTRY_FIELDS_BYTES}`);
  }
  return limits;
}

/**
 * The most record bytes one batch holds: `batchBytesMax`, or one record of the format's largest
 * size (256 MiB) when that is more. A write larger than this is split into batches at entry
 * boundaries (wal.ts), so that no segment grows past `segmentFileBytesMax` (openLog.ts).
 */
export function batchBytesBound(limits: WalLimits): number {
  return Math.max(limits.batchBytesMax, FRAME_HEADER_BYTES + FRAME_PAYLOAD_BYTES_MAX);
}
