/**
 * The storage contract between a node actor and its disk.
 *
 * The node keeps its whole log since the last snapshot in memory (like etcd's MemoryStorage); the
 * durable log exists so that a restarted node gets back exactly what it had made durable. Every write
 * is acknowledged only once it is on stable storage (fdatasync), in the order it was issued.
 */
import type { Entry, HardState, SnapshotMeta } from '../machines/types.js';

/** One batch issued after a Raft step. Applied in this order: truncation, entries, hard state. */
export interface LogWrite {
  /** Remove every entry with index >= truncateFrom (a real conflict only). */
  readonly truncateFrom?: number;
  /** Entries to append; contiguous, the first one at (last index after truncation) + 1. */
  readonly entries: readonly Entry[];
  /** A new term or vote. Durable together with the batch. */
  readonly hardState?: HardState;
}

/** Why recovery found the log unusable past some point. Never a torn tail (that is normal). */
export interface Corruption {
  /** Stable code: 'log-checksum', 'log-framing', 'log-gap', 'hardstate-checksum', 'hardstate-missing', 'snapshot-checksum'. */
  readonly code: string;
  readonly message: string;
  /** Entries from this index on were dropped (not trusted); 0 when the hard state is what is lost. */
  readonly firstBadIndex: number;
  /** The highest index that the damaged files show had been written (the node must be repaired through it). */
  readonly lastIndexSeen: number;
}

export interface Recovered {
  readonly hardState: HardState;
  /** The newest valid snapshot's description (the bytes are read through `SnapshotStore`). */
  readonly snapshot: SnapshotMeta | null;
  /** Every trusted entry after the snapshot, contiguous. */
  readonly entries: Entry[];
  /** Bytes cut from a torn tail (kept aside by the store, and logged by the caller). */
  readonly tornBytes: number;
  /** Present when the store found corruption that is not a torn tail: the node must not vote or lead. */
  readonly corruption: Corruption | null;
  /**
   * Issue 15: this node cannot prove which terms it voted in (its hard state was lost, now or at an
   * earlier start: the `term-unknown` marker is still there). It must neither vote nor acknowledge
   * a leader until it learned a term at least as large as any it may have voted in; the marker
   * stays until `DurableLog.markTermKnown`. Absent: false.
   */
  readonly termUnknown?: boolean;
}

/**
 * A durable, append-only log with group commit. Writes may be issued while earlier ones are being
 * synced; they are batched into the next fdatasync. `onDurable(seq)` reports, in order, the highest
 * sequence number whose write (and all before it) is durable. A failed write or sync calls
 * `onFatal` once and nothing is ever reported durable afterwards (fail-stop: never retry an fsync).
 */
export interface DurableLog {
  /** Queue a write and return its sequence number (1, 2, 3, ...). */
  write(w: LogWrite): number;
  /** Forget entries with index <= throughIndex (covered by a durable snapshot). Background work. */
  compact(throughIndex: number): void;
  onDurable: (seq: number) => void;
  onFatal: (err: Error) => void;
  close(cb: (err: Error | null) => void): void;
  /**
   * Issue 15: the node learned a term at least as large as any it may have voted in, and a hard
   * state in that term is durable: remove the `term-unknown` marker (durably, in the background).
   */
  markTermKnown?(): void;
  /**
   * Optional: whether the log may write its batches on the caller's thread (a synchronous durable
   * write, reported on the next turn) instead of handing them to a thread pool. The node turns it
   * on while it follows (its event loop has little else to do, and two thread hand-offs per batch
   * cost more CPU than the wait) and off while it leads. Same guarantee either way.
   */
  setInlineWrites?(on: boolean): void;
}

/** Snapshot bytes, checksummed on disk; saving one is durable before `cb` is called. */
/** A snapshot's bytes: one buffer, or parts whose concatenation they are (unchanged until saved). */
export type SnapshotBytes = Uint8Array | readonly Uint8Array[];

export interface SnapshotStore {
  /**
   * `dataCrc`, when given, is the CRC-32 of the data (all parts in order) as its maker computed it
   * while encoding: the store writes it into the header instead of checksumming the data again on
   * the event loop (a 95 MB snapshot took 90 ms idle, more under load; 2026-12-07).
   */
  save(meta: SnapshotMeta, data: SnapshotBytes, cb: (err: Error | null) => void, dataCrc?: number): void;
  /** The newest valid snapshot, or null. Corrupt snapshot files are skipped and reported. */
  load(): { meta: SnapshotMeta; data: Uint8Array } | null;
  /**
   * Issue 18: the data of the saved snapshot `meta`, to be read in pieces (a leader streams it to a
   * follower from disk instead of keeping it in memory). Null when there is no such file or its
   * header is not valid; the data itself is checked end to end by the receiver (`dataCrc`).
   */
  openData(meta: SnapshotMeta): SnapshotReader | null;
}

/** The data part of one saved snapshot, read in pieces. */
export interface SnapshotReader {
  readonly byteLength: number;
  /** CRC-32 of the whole data, as recorded when it was saved. */
  readonly dataCrc: number;
  /** Bytes [offset, offset + length) of the data; throws when the read fails or comes back short. */
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

/**
 * The file-system operations storage needs, so the same storage code runs on real files and on the
 * simulator's faulty disk. Reads and metadata are synchronous (recovery, small files); writes and
 * syncs, which sit on the hot path, complete through callbacks.
 */
export interface FileSystem {
  mkdirp(dir: string): void;
  readdir(dir: string): string[];
  exists(path: string): boolean;
  readFile(path: string): Uint8Array;
  /**
   * Optional: what is at `path`, without reading it: a regular file (and its size) or something
   * else (a directory, a socket...), or null when nothing is. Without it, storage opens the file to
   * learn its size (`storage/fileInfo.ts`): files on disk are outside input, and recovery checks
   * what a name holds before it reads, unlinks or writes over it.
   */
  stat?(path: string): { readonly isFile: boolean; readonly size: number } | null;
  /** Atomic replace within a directory; durable only after `syncDir`. */
  rename(from: string, to: string): void;
  /** Durable only after `syncDir`. */
  unlink(path: string): void;
  syncDir(dir: string, cb: (err: Error | null) => void): void;
  open(path: string, flags: 'create' | 'existing'): FileHandle;
}

export interface FileHandle {
  size(): number;
  write(data: Uint8Array, position: number, cb: (err: Error | null) => void): void;
  /** fdatasync: every completed write to this file is durable when cb(null) is called. */
  sync(cb: (err: Error | null) => void): void;
  /**
   * Optional: `write` then `sync` as one operation (a write through an O_DSYNC descriptor: one
   * thread-pool job instead of two, with no turn of the event loop between them). Same guarantee:
   * when cb(null) is called the bytes, and every earlier completed write, are durable. A wrapper
   * that does not forward it gets write + sync.
   */
  writeDurable?(data: Uint8Array, position: number, cb: (err: Error | null) => void): void;
  /** Optional: `writeDurable` on the caller's thread; returns once durable, throws on failure. */
  writeDurableSync?(data: Uint8Array, position: number): void;
  truncate(length: number, cb: (err: Error | null) => void): void;
  readSync(position: number, length: number): Uint8Array;
  close(): void;
}
