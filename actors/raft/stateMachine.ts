/**
 * The contract between Raft and the replicated state machine (the session store, or the
 * simulator's model). Apply is deterministic: the same entries give the same state and results on
 * every node.
 */
import type { Entry, SnapshotMeta } from '../../machines/types.js';

export interface StateMachine {
  /**
   * Apply committed entries, in order, every kind included (no-op and configuration entries too, so
   * that the state machine always knows its applied index). Returns one result per entry.
   */
  apply(entries: readonly Entry[]): readonly unknown[];
  /** Serialize the state as of the last applied entry. */
  snapshot(): Uint8Array;
  /**
   * Optional: `snapshot()` as parts whose concatenation it is, which must not change afterwards (views
   * of immutable state instead of a copy of it: issue 18). Raft saves these when present.
   */
  snapshotParts?(): readonly Uint8Array[];
  /**
   * Optional: `snapshotParts()` whose durability work (what the parts refer to on disk: the session
   * store's data files) is not done yet: Raft calls `durable` and saves the snapshot once it called
   * back without an error (an error is a disk failure: fail-stop). Raft prefers this when present,
   * so that the fsyncs of a snapshot leave the event loop (issue 16: 3-8 ms on every node at every
   * snapshot, the tail of the lateness at 1,000/s). `parts` may be empty until `durable` calls
   * back without an error: the session store encodes a large manifest in slices meanwhile.
   * `dataCrc` (read once durable): the parts' CRC-32, handed to the snapshot store's save.
   */
  snapshotPartsDeferred?(): { readonly parts: readonly Uint8Array[]; readonly dataCrc?: number; durable(cb: (err: Error | null) => void): void };
  /** Replace the state with a snapshot's (taken at meta.index). */
  restore(meta: SnapshotMeta, data: Uint8Array): void;
}
