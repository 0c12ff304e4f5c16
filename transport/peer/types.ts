/**
 * The one interface between a node and its peers. Two implementations: WebSocket (real) and
 * in-memory (the simulator's). Delivery is best effort: a message may be dropped, delayed,
 * duplicated or reordered, and Raft retransmits; nothing here ever blocks the caller.
 */
import type { NodeId, RaftMessage } from '../../machines/types.js';

export interface Transport {
  /** Queue a message for a peer. Never throws for a peer that is down or slow: it drops and counts. */
  send(to: NodeId, message: RaftMessage): void;
  /** Called for every message that passed validation (handshake, schema, sender, cluster). */
  onMessage: (message: RaftMessage) => void;
  close(cb: () => void): void;
}

/** Where a peer's transport listens. */
export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

/** State of one outbound link (one per peer and channel). */
export type LinkState = 'idle' | 'connecting' | 'open' | 'backoff' | 'closed';

export interface PeerStats {
  readonly control: LinkState;
  readonly data: LinkState;
  /** Whether the peer's inbound control / data connection to us is authenticated and open. */
  readonly inboundControl: boolean;
  readonly inboundData: boolean;
  /** The term the peer sent in its latest accepted hello (null before any). */
  readonly helloTerm: number | null;
}

/** Counters of a transport since it started. Messages, frames and bytes are counted separately. */
export interface TransportStats {
  /** Messages handed to a socket. */
  readonly sent: number;
  /** Messages delivered to onMessage. */
  readonly received: number;
  /** Messages dropped instead of sent (sum of `drops`). */
  readonly dropped: number;
  readonly framesSent: number;
  readonly framesReceived: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  /** Rejected peer input and connection-level failures, by TransportErrorCode. */
  readonly rejected: Readonly<Record<string, number>>;
  /** Sum of `rejected`. */
  readonly rejectedTotal: number;
  /** Dropped outbound messages, by TransportDropCode. */
  readonly drops: Readonly<Record<string, number>>;
  /** Close codes received on outbound links (what peers told us), by code. */
  readonly peerCloseCodes: Readonly<Record<string, number>>;
  /** Outbound handshakes completed (welcome received) and inbound handshakes accepted. */
  readonly outboundHandshakes: number;
  readonly inboundHandshakes: number;
  /** Nodes that were not peers, admitted from their hello's address (`admitPeer`). */
  readonly admittedPeers: number;
  readonly peers: Readonly<Record<NodeId, PeerStats>>;
}
