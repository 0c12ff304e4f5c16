/**
 * The documents a node shows about itself: /status (HostStatus, with a NodeView per node),
 * /healthz, and the configuration in force as `sessionraft member list` shows it (MembersView),
 * including why this node does not vote when it does not. Read-only: built from the parts' stats.
 */
import { featureView } from '../../transport/client/features.js';
import type { StoreDigest } from './digestCache.js';
import type { Membership, NodeId } from '../../machines/types.js';
import type { ClientServer } from '../../transport/client/server.js';
import type { WsTransport } from '../../transport/peer/wsTransport.js';
import { formatMemberAddress } from '../../transport/wire/address.js';
import type { NodeStatus, Role } from '../raft/raftNode.js';
import type { SessionNode } from '../sessions/sessionNode.js';
import type { SessionsStore } from '../sessions/index.js';
import type { GroupView } from '../sessions/store.js';
import type { NodeAddress } from './config.js';
import { ep, type PeerDirectory } from './peerDirectory.js';
import { votingBarredNote } from './votingBar.js';

/** One node's entry in /status: this node's view of it. */
interface NodeView {
  /** This node's own role; for others what this node knows: the leader it follows, else follower/learner, unknown without a leader. */
  readonly role: Role | 'learner' | 'unknown';
  readonly self: boolean;
  readonly voter: boolean;
  readonly raft: string;
  readonly client: string;
  readonly admin: string;
  /** On the leader: the follower's replication progress. */
  readonly match?: number;
  readonly next?: number;
  readonly lag?: number;
  readonly state?: string;
  readonly recentActive?: boolean;
  /** Outbound peer links of this node to it. */
  readonly links?: { readonly control: string; readonly data: string };
}

export interface HostStatus {
  readonly node: NodeId;
  readonly clusterId: string;
  readonly pid: number;
  readonly uptimeMs: number;
  readonly role: Role;
  readonly term: number;
  readonly leader: NodeId | null;
  readonly leaderClient: string | null;
  readonly vote: NodeId | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly persistedIndex: number;
  readonly snapshotIndex: number;
  readonly corrupt: boolean;
  readonly stopped: boolean;
  /** Started on empty storage without --bootstrap: no vote until added back as a learner (issue 9). */
  readonly votingBarred: boolean;
  /** Why this node does not vote (votingBarred, a learner, not a member), with what to do; absent when it may. */
  readonly votingNote?: string;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  readonly nodes: Record<NodeId, NodeView>;
  readonly replayDelaysMs: readonly number[];
  /** Feature flags: those this node's version knows, and those on in the cluster as it applied (docs/sessions.md, "Feature flags"). */
  readonly features: { supported: string[]; enabled: string[] };
  readonly store: {
    appliedIndex: number;
    activeSessions: number;
    activeBytes: number;
    dataFiles: number;
    clients: number;
    /** SessionCommits applied while a consumer group held the restore (issue 16): 0 unless the scheduler is broken. */
    commitsOfHeldRestores?: number;
    /** Restored records not yet committed (consumed): what groups and their dead letters hold, and commits about to apply. */
    restoredUncommitted?: number;
    digest?: string;
    digestIndex?: number;
  };
  /** Consumer groups (issue 16), per topic and group: this node's applied table, ages by its clock (dead letters: `sessionraft client dead`). */
  readonly groups?: readonly Omit<GroupView, 'dead'>[];
  readonly client: { connections: number; subscriptions: number; rejectedTotal: number };
  readonly transport: { sent: number; received: number; dropped: number; rejectedTotal: number; admittedPeers: number };
  /** Where the memory is (issue 18): bytes by part, then the process's own figures. */
  readonly memory?: MemoryView;
}

/**
 * Bytes by part (issue 18; docs/performance.md, "Memory"): what the node's bounded parts hold,
 * then what V8 and the process report. `sessionraft_memory_bytes{part}` in /metrics has the same.
 */
interface MemoryView {
  /** The in-memory Raft log: its chunks, typed arrays and recent entries. */
  readonly raftLog: number;
  /** Of which entries (data plus 24 bytes each, as the size limits count them). */
  readonly raftLogEntries: number;
  /** The latest snapshot, kept to send to followers (a stream sends views of it). */
  readonly snapshot: number;
  /** A snapshot being received from the leader. */
  readonly snapshotReceiving: number;
  /** Active sessions' records (the store's activeBytes). */
  readonly sessions: number;
  /** Deliveries waiting in subscribers' push queues. */
  readonly subscriberQueues: number;
  /** The exactly-once client table, as it accounts itself (clientTableBytesMax bounds it). */
  readonly clients: number;
  /** V8: heap used, external memory (ArrayBuffers and other memory outside the heap), resident set. */
  readonly heapUsed: number;
  readonly external: number;
  readonly rss: number;
}

/** The memory parts (issue 18). */
export function memoryView(s: StatusSources): MemoryView {
  const raft = s.node().raft.memory();
  const store = s.store().stats();
  const mu = process.memoryUsage();
  return {
    raftLog: raft.log,
    raftLogEntries: raft.logEntries,
    snapshot: raft.snapshot,
    snapshotReceiving: raft.snapshotReceiving,
    sessions: store.activeBytes,
    subscriberQueues: s.clientServer().stats().pushQueuedBytes,
    clients: store.clientBytes,
    heapUsed: mu.heapUsed,
    external: mu.external,
    rss: mu.rss,
  };
}

/** The configuration in force as `sessionraft member list` shows it (the leader's view). */
export interface MembersView {
  /** The node that answered (the leader, for the client op). */
  readonly node: NodeId;
  readonly leader: NodeId | null;
  readonly term: number;
  readonly commitIndex: number;
  readonly lastIndex: number;
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
  /** Per member: its address and, on the leader, its replication progress (lag = lastIndex - match). */
  readonly members: Record<
    NodeId,
    { voter: boolean; address: string | null; self?: true; match?: number; next?: number; lag?: number; state?: string; recentActive?: boolean }
  >;
}

export interface HealthView {
  ok: boolean;
  [k: string]: unknown;
}

/** What the views are read from; the parts are asked for when a view is built (they exist once the node started). */
export interface StatusSources {
  readonly id: NodeId;
  readonly clusterId: string;
  readonly joining: boolean;
  readonly replayDelaysMs: readonly number[];
  readonly startedAtMs: number;
  readonly peers: PeerDirectory;
  node(): SessionNode;
  transport(): Pick<WsTransport, 'stats'>;
  clientServer(): Pick<ClientServer, 'stats' | 'endpointOf'>;
  store(): Pick<SessionsStore, 'stats'>;
  /** The store digest, bounded in cost (digestCache.ts). */
  digest(): StoreDigest;
  votingBarred(): boolean;
  /** This node's own addresses (the bound ports). */
  selfAddress(): NodeAddress;
  fatal(): Error | null;
  stopping(): boolean;
}

/** /healthz: ok unless stopped, corrupt, failed or stopping. */
export function healthView(s: StatusSources): HealthView {
  const st = s.node().status();
  const fatal = s.fatal();
  const ok = !st.stopped && !st.corrupt && fatal === null && !s.stopping();
  return {
    ok,
    node: s.id,
    role: st.role,
    term: st.term,
    leader: st.leader,
    corrupt: st.corrupt,
    stopped: st.stopped,
    ...(fatal ? { error: fatal.message } : {}),
  };
}

/** /status: this node's view of every node (seed 000: each node knows its role and the others'). */
export function hostStatus(s: StatusSources, withDigest: boolean): HostStatus {
  const st: NodeStatus = s.node().status();
  const ts = s.transport().stats();
  const clientServer = s.clientServer();
  const cs = clientServer.stats();
  const store = s.store();
  const ss = store.stats();
  const nodes: Record<NodeId, NodeView> = {};
  const voters = st.membership.voters;
  const learners = st.membership.learners;
  for (const [id, a] of s.peers.entries()) {
    const isSelf = id === s.id;
    const voter = voters.includes(id);
    if (!isSelf && !voter && !learners.includes(id)) continue; // a peer from --nodes that is not a member
    let role: NodeView['role'];
    if (isSelf) role = st.role;
    else if (st.leader === id) role = 'leader';
    else if (learners.includes(id)) role = 'learner';
    else if (st.leader !== null) role = 'follower';
    else role = 'unknown';
    const p = st.progress[id];
    const link = ts.peers[id];
    nodes[id] = {
      role,
      self: isSelf,
      voter,
      raft: ep(a.host, a.raftPort),
      client: ep(a.host, a.clientPort),
      admin: ep(a.host, a.adminPort),
      ...(p !== undefined && !isSelf
        ? { match: p.match, next: p.next, lag: Math.max(0, st.lastIndex - p.match), state: p.state, recentActive: p.recentActive }
        : {}),
      ...(isSelf && st.role === 'leader' ? { match: st.persistedIndex, lag: Math.max(0, st.lastIndex - st.persistedIndex) } : {}),
      ...(link !== undefined ? { links: { control: link.control, data: link.data } } : {}),
    };
  }
  const note = votingNote(s, st.membership);
  return {
    node: s.id,
    clusterId: s.clusterId,
    pid: process.pid,
    uptimeMs: Date.now() - s.startedAtMs,
    role: st.role,
    term: st.term,
    leader: st.leader,
    leaderClient: st.leader === null ? null : clientServer.endpointOf(st.leader),
    vote: st.vote,
    commitIndex: st.commitIndex,
    appliedIndex: st.appliedIndex,
    lastIndex: st.lastIndex,
    persistedIndex: st.persistedIndex,
    snapshotIndex: st.snapshotIndex,
    corrupt: st.corrupt,
    stopped: st.stopped,
    votingBarred: s.votingBarred(),
    ...(note !== null ? { votingNote: note } : {}),
    voters,
    learners,
    nodes,
    replayDelaysMs: s.replayDelaysMs,
    features: featureView(s.node().store.features),
    store: {
      appliedIndex: ss.appliedIndex,
      activeSessions: ss.activeSessions,
      activeBytes: ss.activeBytes,
      dataFiles: ss.dataFiles,
      clients: ss.clients,
      commitsOfHeldRestores: ss.commitsOfHeldRestores,
      restoredUncommitted: ss.restoredUncommitted,
      ...(withDigest ? s.digest() : {}),
    },
    groups: s
      .node()
      .groups()
      .map(({ dead: _dead, ...g }) => g),
    client: { connections: cs.connections, subscriptions: cs.subscriptions, rejectedTotal: cs.rejectedTotal },
    transport: { sent: ts.sent, received: ts.received, dropped: ts.dropped, rejectedTotal: ts.rejectedTotal, admittedPeers: ts.admittedPeers },
    memory: memoryView(s),
  };
}

/** Why this node does not vote under configuration `m`, with what to do; null when it may. */
function votingNote(s: StatusSources, m: Membership): string | null {
  const barred = s.votingBarred();
  if (barred && s.joining && !m.voters.includes(s.id)) {
    return `joining: it becomes a learner once added (sessionraft member add ${s.id} ${formatMemberAddress(s.selfAddress())}) and votes once promoted`;
  }
  if (barred) return votingBarredNote(s.id, formatMemberAddress(s.selfAddress()));
  if (m.learners.includes(s.id)) return `a learner: it receives the log and does not vote until promoted (sessionraft member promote ${s.id})`;
  if (!m.voters.includes(s.id)) return 'not a member of the configuration in force (removed, or not added yet): it does not vote';
  return null;
}

/** The configuration in force, each member's address and (on the leader) its progress. */
export function membersView(s: StatusSources): MembersView {
  const st: NodeStatus = s.node().status();
  const m = st.membership;
  const members: MembersView['members'] = {};
  for (const id of [...m.voters, ...m.learners]) {
    const known = s.peers.get(id);
    const address = m.addresses?.[id] ?? (known !== undefined && known.raftPort !== 0 ? formatMemberAddress(known) : null);
    const p = st.progress[id];
    members[id] = {
      voter: m.voters.includes(id),
      address,
      ...(id === s.id ? { self: true as const } : {}),
      ...(p !== undefined && id !== s.id
        ? { match: p.match, next: p.next, lag: Math.max(0, st.lastIndex - p.match), state: p.state, recentActive: p.recentActive }
        : {}),
      ...(id === s.id && st.role === 'leader' ? { match: st.persistedIndex, lag: Math.max(0, st.lastIndex - st.persistedIndex) } : {}),
    };
  }
  return {
    node: s.id,
    leader: st.leader,
    term: st.term,
    commitIndex: st.commitIndex,
    lastIndex: st.lastIndex,
    voters: m.voters,
    learners: m.learners,
    members,
  };
}
