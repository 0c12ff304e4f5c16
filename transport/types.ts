/**
 * The one interface between a node and its peers. Two implementations: WebSocket (real) and
 * in-memory (the simulator's). Delivery is best effort: a message may be dropped, delayed,
 * duplicated or reordered, and Raft retransmits; nothing here ever blocks the caller.
 */
import type { NodeId, RaftMessage } from '../machines/types.js';

export interface Transport {
  /** Queue a message for a peer. Never throws for a peer that is down or slow: it drops and counts. */
  send(to: NodeId, message: RaftMessage): void;
  /** Called for every message that passed validation (handshake, schema, sender, cluster). */
  onMessage: (message: RaftMessage) => void;
  close(cb: () => void): void;
}
