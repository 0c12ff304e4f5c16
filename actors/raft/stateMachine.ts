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
  /** Replace the state with a snapshot's (taken at meta.index). */
  restore(meta: SnapshotMeta, data: Uint8Array): void;
}
