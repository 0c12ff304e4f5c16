/**
 * A whole sessionraft node in one object: configuration -> storage (raft log under
 * <dataDir>/raft, data files under <dataDir>/store) -> SessionNode + peer transport + client port
 * + admin HTTP port + ticks + logs + metrics + inspection. `bin/sessionraft.ts node` runs one per
 * process; tests run several in one process over real sockets (ports 0 on 127.0.0.1, then
 * `setPeer` with the ports each one got).
 *
 * Stopping is graceful: a leader first hands leadership to the most up-to-date follower and waits
 * (at most `shutdownTransferMs`) until another node leads, so clients see a leader change rather
 * than an election timeout; then everything closes in order (client port, ticks, node, transport,
 * log, store).
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { defaultRaftConfig } from '../../machines/config.js';
import type { PlantedBug } from '../../machines/core.js';
import { decodeMembership } from '../../machines/membership.js';
import { EntryKind, type Membership, type NodeId, type RaftMessage } from '../../machines/types.js';
import { openLogAsync } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';
import type { Wal } from '../../storage/wal.js';
import { formatMemberAddress, parseMemberAddress } from '../../transport/wire/address.js';
import { AdminHttp } from './adminHttp.js';
import { ClientServer } from '../../transport/client/server.js';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import type { PeerAddress } from '../../transport/peer/types.js';
import type { HostConfig, NodeAddress } from './config.js';
import { createInspection, type Inspection } from './inspect.js';
import { HostMetrics } from './metrics.js';
import { TimedDurableLog, timedFileSystem } from './storage.js';
import { createLogger, RejectionLog } from './logger.js';
import type { NodeStatus, Role } from '../raft/raftNode.js';
import { SessionNode } from '../sessions/sessionNode.js';
import { clientNodeOf } from './clientNode.js';
import { NodeSessionFs, SessionsStore } from '../sessions/index.js';

export interface HostStartOptions {
  /** Use this logger (tests); else one is made from the config. */
  readonly logger?: Logger;
  /** Called once if the node stops on its own (disk failure). The process should exit. */
  readonly onFatal?: (err: Error) => void;
  /**
   * Fault-harness only (hidden flags --plant, --clock-offset-ms, --fsync-delay-ms,
   * --raft-listen-port; test/chaos): planted bugs, an offset added to the wall clock the leader
   * uses for due times and replay, a slow disk (every fsync reported that much later), and a raft
   * port to listen on other than the one --nodes advertises (the harness's proxy listens there).
   * Never set otherwise.
   */
  readonly testing?: { readonly bugs?: ReadonlySet<PlantedBug>; readonly clockOffsetMs?: number; readonly fsyncDelayMs?: number; readonly raftListenPort?: number };
}

export interface BoundAddresses {
  readonly raft: { host: string; port: number };
  readonly client: { host: string; port: number };
  readonly admin: { host: string; port: number };
}

/** One node's entry in /status: this node's view of it. */
export interface NodeView {
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
  readonly store: { appliedIndex: number; activeSessions: number; activeBytes: number; dataFiles: number; clients: number; digest?: string };
  readonly client: { connections: number; subscriptions: number; rejectedTotal: number };
  readonly transport: { sent: number; received: number; dropped: number; rejectedTotal: number; admittedPeers: number };
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
  readonly members: Record<NodeId, { voter: boolean; address: string | null; self?: true; match?: number; next?: number; lag?: number; state?: string; recentActive?: boolean }>;
}

/** Writes a small file and makes it durable (the file, then its directory). */
function writeDurably(path: string, text: string): void {
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  syncDir(join(path, '..'));
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** What an operator reads when a node on empty storage may not vote (log and /status). */
function votingBarredNote(id: NodeId, address: string): string {
  return (
    `this node started on empty storage without --bootstrap: it may have voted as ${id} before losing its data, so it does not vote or campaign ` +
    `until the cluster holds it as a learner again. On the cluster: \`sessionraft member remove ${id}\`, then \`sessionraft member add ${id} ${address} --promote-when-caught-up\` ` +
    `(or start it under a new ID with --join and add that). Only the nodes of a brand-new cluster start with --bootstrap.`
  );
}

function ep(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** Nodes outside the configuration and --nodes admitted from their hello at most (see admitPeer). */
const ADMITTED_PEERS_MAX = 16;

export class NodeHost {
  readonly id: NodeId;
  readonly config: HostConfig;
  readonly logger: Logger;
  readonly metrics: HostMetrics;
  node!: SessionNode;
  addresses!: BoundAddresses;
  private readonly nodes = new Map<NodeId, NodeAddress>();
  private transport!: WsTransport;
  private clientServer!: ClientServer;
  private admin!: AdminHttp;
  private wal!: Wal;
  private durable!: TimedDurableLog;
  private store!: SessionsStore;
  private inspection: Inspection | null = null;
  private ticker: NodeJS.Timeout | null = null;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | null = null;
  private readonly rejections: RejectionLog;
  private fatal: Error | null = null;
  /** Mirrors the Raft node's bar (set at start, lifted once the configuration holds us as a learner). */
  private votingBarred = false;
  /** Configuration changes that arrived before the ports were bound (applied at the end of boot). */
  private ready = false;
  private pendingMembership: Membership | null = null;
  /** Members whose address nobody told us: they may connect to us, we cannot dial them. */
  private readonly addressless = new Set<NodeId>();
  /** Nodes admitted from their hello (admitPeer), at most ADMITTED_PEERS_MAX. */
  private readonly admitted = new Set<NodeId>();
  /** Where nodes that left the configuration were (a member without a replicated address may come back). */
  private readonly departed = new Map<NodeId, NodeAddress>();
  /** The members of the configuration this host last followed (null before the first). */
  private lastMembers: ReadonlySet<NodeId> | null = null;
  /** The voting bar was lifted with the log through this index: the marker goes once more is durable. */
  private barLiftIndex: number | null = null;
  /** The configuration built from --nodes (the Raft core's until the log or a snapshot holds one). */
  private bootMembership: Membership | null = null;
  // What was logged last (role changes, leader changes, snapshots).
  private seenRole: Role | null = null;
  private seenTerm = -1;
  private seenLeader: NodeId | null = null;
  private seenSnapshot = 0;

  private constructor(config: HostConfig, opts: HostStartOptions) {
    this.id = config.id;
    this.config = config;
    this.logger = opts.logger ?? createLogger({ node: config.id, level: config.logLevel, ...(config.logPretty !== undefined ? { pretty: config.logPretty } : {}) });
    this.metrics = new HostMetrics();
    this.rejections = new RejectionLog(this.logger);
    for (const [id, a] of Object.entries(config.nodes)) this.nodes.set(id, a);
  }

  /** Opens storage, binds the three ports and starts ticking. Rejects on a bad disk or a busy port. */
  static async start(config: HostConfig, opts: HostStartOptions = {}): Promise<NodeHost> {
    const h = new NodeHost(config, opts);
    try {
      await h.boot(opts);
    } catch (err) {
      h.logger.error({ err, code: (err as { code?: string }).code }, 'node failed to start');
      await h.teardown();
      throw err;
    }
    return h;
  }

  private async boot(opts: HostStartOptions): Promise<void> {
    const cfg = this.config;
    const log = this.logger;
    const self = cfg.nodes[cfg.id]!;
    mkdirSync(cfg.dataDir, { recursive: true });

    // 1. Storage. Recovery repairs what it can and says what it kept aside.
    const fs = timedFileSystem(realFs, (s) => this.metrics.fsync.observe(s), opts.testing?.fsyncDelayMs ?? 0);
    const opened = await openLogAsync(fs, join(cfg.dataDir, 'raft'));
    this.wal = opened.log;
    this.durable = new TimedDurableLog(opened.log, (s) => this.metrics.append.observe(s));
    const rec = opened.recovered;
    if (rec.corruption !== null) {
      log.error(
        { code: rec.corruption.code, index: rec.corruption.firstBadIndex, lastIndexSeen: rec.corruption.lastIndexSeen },
        `log corruption found at startup: ${rec.corruption.message}; this node will not vote or lead until the leader repairs it`,
      );
    }
    for (const f of opened.keptAside) log.warn({ code: 'STORAGE_KEPT_ASIDE', file: join(cfg.dataDir, 'raft', f) }, 'damaged or torn log bytes were kept aside');
    if (rec.tornBytes > 0) log.warn({ code: 'STORAGE_TORN_TAIL', bytes: rec.tornBytes }, 'a torn log tail was cut (a crash during a write)');
    log.info(
      { term: rec.hardState.term, index: rec.entries.length > 0 ? rec.entries[rec.entries.length - 1]!.index : (rec.snapshot?.index ?? 0), snapshot: rec.snapshot?.index ?? 0 },
      'log recovered',
    );
    // A node on empty storage may have voted under its ID before losing its disk: unless it
    // starts a new cluster (--bootstrap), it must not vote until it is a learner again (issue 9).
    // The bar outlives restarts (a marker file) until the configuration holds this node as a learner.
    const emptyStorage = rec.hardState.term === 0 && rec.hardState.vote === null && rec.entries.length === 0 && rec.snapshot === null;
    const marked = existsSync(this.barFile());
    let inForce: Membership | null = opened.snapshot?.meta.membership ?? null;
    for (const e of rec.entries) if (e.kind === EntryKind.config) inForce = decodeMembership(e.data);
    if (marked && inForce !== null && inForce.learners.includes(cfg.id)) {
      this.removeBarFile();
      log.info({ code: 'NODE_VOTING_BAR_LIFTED' }, 'the configuration in the log holds this node as a learner: the voting bar is lifted');
    } else {
      this.votingBarred = marked || (emptyStorage && !cfg.bootstrap);
      if (this.votingBarred && !marked) writeDurably(this.barFile(), `${new Date().toISOString()} started on empty storage without --bootstrap\n`);
    }
    if (this.votingBarred && cfg.join) {
      log.info({ code: 'NODE_JOINING' }, `joining the cluster as a learner: run \`sessionraft member add ${cfg.id} ${formatMemberAddress(self)}\` against the cluster, then \`sessionraft member promote ${cfg.id}\` once it caught up (or \`member add --promote-when-caught-up\`)`);
    } else if (this.votingBarred) {
      log.warn({ code: 'NODE_VOTING_BARRED' }, votingBarredNote(cfg.id, formatMemberAddress(self)));
    }
    this.store = new SessionsStore({
      fs: new NodeSessionFs(join(cfg.dataDir, 'store')),
      ...(cfg.storeLimits !== undefined ? { limits: cfg.storeLimits } : {}),
      subscriberQueueMax: 1024,
    });

    // 2. Peer transport.
    const peers: Record<NodeId, PeerAddress | null> = {};
    for (const [id, a] of this.nodes) if (id !== cfg.id) peers[id] = a.raftPort === 0 ? null : { host: a.host, port: a.raftPort };
    const tls =
      cfg.tls === undefined
        ? undefined
        : { cert: readFileSync(cfg.tls.certFile), key: readFileSync(cfg.tls.keyFile), ca: readFileSync(cfg.tls.caFile) };
    this.transport = new WsTransport({
      nodeId: cfg.id,
      clusterId: cfg.clusterId,
      host: self.host,
      port: opts.testing?.raftListenPort ?? self.raftPort,
      peers,
      currentTerm: () => (this.node ? this.node.raft.term() : rec.hardState.term),
      advertisedAddress: () => this.advertisedSelf(),
      admitPeer: (id, address) => this.admitPeer(id, address),
      ...(tls !== undefined ? { tls } : {}),
      insecure: cfg.insecure,
      logger: log.child({ component: 'transport' }),
    });
    const raftAddr = await this.transport.listen();

    // 3. The node.
    this.inspection = await createInspection({
      nodeId: cfg.id,
      ...(cfg.inspect !== undefined ? { liveUrl: cfg.inspect } : {}),
      ...(cfg.inspectFile !== undefined ? { file: cfg.inspectFile } : {}),
      ...(cfg.inspectTicks === true ? { includeTicks: true } : {}),
      logger: log,
    });
    // The bootstrap configuration (used until the log or a snapshot holds one) carries every
    // member's address, so that members added later learn where everyone is. A joining node is a
    // learner of the cluster's voters.
    const learners = cfg.join ? [...cfg.learners.filter((id) => id !== cfg.id), cfg.id] : [...cfg.learners];
    const voters = [...this.nodes.keys()].filter((id) => !learners.includes(id));
    const addresses: Record<NodeId, string> = {};
    for (const [id, a] of this.nodes) if (a.raftPort !== 0 && a.clientPort !== 0 && a.adminPort !== 0) addresses[id] = formatMemberAddress(a);
    this.bootMembership = { voters, learners, ...(Object.keys(addresses).length > 0 ? { addresses } : {}) };
    this.node = new SessionNode({
      id: cfg.id,
      membership: this.bootMembership,
      votingBarred: this.votingBarred,
      hooks: { onMembershipChanged: (m) => this.onMembershipChanged(m) },
      raft: { ...defaultRaftConfig, electionTimeoutTicksMin: cfg.electionTimeoutTicksMin, heartbeatIntervalTicks: cfg.heartbeatIntervalTicks },
      recovered: rec,
      snapshot: opened.snapshot,
      durableLog: this.durable,
      snapshotStore: opened.snapshots,
      transport: this.transport,
      random: Math.random,
      defer: (fn) => setImmediate(fn),
      snapshotEntries: cfg.snapshotEntries,
      compactMarginEntries: cfg.compactMarginEntries,
      // 1 MiB chunks (under the 4 MiB frame), 4 in flight, a second without an ack fails a stream.
      snapshotTransfer: { chunkBytes: 1024 * 1024, windowChunks: 4, ackTimeoutTicks: Math.max(10, Math.ceil(1000 / cfg.tickMs)), snapshotBytesMax: 1024 * 1024 * 1024 },
      ...(this.inspection !== null ? { inspect: this.inspection.inspect } : {}),
      onStep: () => this.afterStep(),
      onFatal: (err) => {
        this.fatal = err;
        log.fatal({ err, code: (err as { code?: string }).code ?? 'DISK_FATAL' }, 'the node stopped: its disk failed (fail-stop); restart it once the disk is fixed');
        opts.onFatal?.(err);
      },
      store: this.store,
      replayDelaysMs: cfg.replayDelaysMs,
      clock: opts.testing?.clockOffsetMs ? () => Date.now() + opts.testing!.clockOffsetMs! : Date.now,
      ...(opts.testing?.bugs !== undefined ? { bugs: opts.testing.bugs } : {}),
    });
    if (opts.testing !== undefined) log.warn({ bugs: [...(opts.testing.bugs ?? [])], clockOffsetMs: opts.testing.clockOffsetMs ?? 0, fsyncDelayMs: opts.testing.fsyncDelayMs ?? 0 }, 'TEST-ONLY settings in force (fault harness)');
    this.transport.onMessage = (m: RaftMessage) => this.node.receive(m);

    // 4. Client and admin ports.
    const endpoints: Record<NodeId, string> = {};
    for (const [id, a] of this.nodes) if (a.clientPort !== 0) endpoints[id] = ep(a.host, a.clientPort);
    this.clientServer = new ClientServer({
      node: clientNodeOf(this.node),
      nodeId: cfg.id,
      clusterId: cfg.clusterId,
      host: self.host,
      port: self.clientPort,
      endpoints,
      replayDelaysMs: cfg.replayDelaysMs,
      ...(cfg.clientLimits !== undefined ? { limits: cfg.clientLimits } : {}),
      logger: log.child({ component: 'client' }),
      status: (d) => this.status(d),
      members: () => this.members(),
      onRejected: (code, op) => {
        if (code !== 'CLIENT_ERR_NOT_LEADER' && code !== 'CLIENT_ERR_NO_LEADER') this.rejections.note(code, { op }, 'client request rejected');
      },
      onCommandDone: (op, s) => this.metrics.observeCommit(op, s),
    });
    const clientAddr = await this.clientServer.listen();
    this.clientServer.setEndpoint(cfg.id, ep(clientAddr.host, clientAddr.port));
    this.admin = new AdminHttp({
      host: self.host,
      port: self.adminPort,
      metrics: () => this.metrics.text(),
      status: (d) => this.status(d),
      health: () => this.health(),
      logger: log.child({ component: 'admin' }),
    });
    const adminAddr = await this.admin.listen();
    this.addresses = { raft: raftAddr, client: clientAddr, admin: adminAddr };
    this.nodes.set(cfg.id, { host: self.host, raftPort: raftAddr.port, clientPort: clientAddr.port, adminPort: adminAddr.port });
    this.metrics.attach({
      status: () => this.node.status(),
      raftCounters: () => this.node.raft.counters,
      transport: () => this.transport.stats(),
      wal: () => this.wal.stats,
      store: () => this.store.stats(),
      client: () => this.clientServer.stats(),
    });

    this.ready = true;
    if (this.pendingMembership !== null) this.followMembership(this.pendingMembership);
    this.pendingMembership = null;

    // 5. Time.
    this.ticker = setInterval(() => this.tick(), cfg.tickMs);
    const m = this.node.status().membership;
    log.info(
      {
        raft: ep(raftAddr.host, raftAddr.port),
        client: ep(clientAddr.host, clientAddr.port),
        admin: ep(adminAddr.host, adminAddr.port),
        voters: m.voters,
        learners: m.learners,
        votingBarred: this.votingBarred,
        tickMs: cfg.tickMs,
      },
      'node started',
    );
  }

  /** Tell this node where a peer listens (in-process clusters on ports 0 learn them after start). */
  setPeer(id: NodeId, a: NodeAddress): void {
    if (id === this.id) return;
    this.nodes.set(id, a);
    this.transport.setPeer(id, { host: a.host, port: a.raftPort });
    this.clientServer.setEndpoint(id, ep(a.host, a.clientPort));
  }

  /** `<dataDir>/voting-barred`: present while this node may not vote (see votingBarred). */
  private barFile(): string {
    return join(this.config.dataDir, 'voting-barred');
  }

  private removeBarFile(): void {
    try {
      unlinkSync(this.barFile());
      syncDir(this.config.dataDir);
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') this.logger.error({ err }, 'cannot remove the voting-barred marker');
    }
  }

  /** The configuration in force changed (Raft hook, synchronous after a step). */
  private onMembershipChanged(m: Membership): void {
    if (!this.ready) {
      this.pendingMembership = m;
      return;
    }
    this.followMembership(m);
  }

  /**
   * Dial, accept and redirect to the members of the configuration in force, at the addresses it
   * carries (they win over --nodes: they are what every node agrees on); forget a node that leaves
   * it (no dialing, its connections refused). A member nobody gave an address may still connect to
   * us. Nodes of --nodes outside the first configuration followed stay peers (see below).
   */
  private followMembership(m: Membership): void {
    const members = new Set([...m.voters, ...m.learners]);
    for (const id of members) {
      if (id === this.id) continue;
      this.admitted.delete(id); // a member now: no longer counted against ADMITTED_PEERS_MAX
      const text = m.addresses?.[id];
      const a = text === undefined ? null : parseMemberAddress(text);
      const known = this.nodes.get(id);
      try {
        if (a !== null && (known === undefined || formatMemberAddress(known) !== text)) {
          this.logger.info({ peer: id, address: text, was: known === undefined ? null : formatMemberAddress(known) }, 'peer address from the configuration');
          this.addressless.delete(id);
          this.setPeer(id, a);
        } else if (a === null && known === undefined && this.departed.has(id)) {
          // Back (a removal undone by a truncation, or added again without an address): where it was.
          this.setPeer(id, this.departed.get(id)!);
        } else if (a === null && known === undefined && !this.addressless.has(id)) {
          this.logger.warn({ peer: id }, 'a member without an address: it may connect to this node, which cannot dial it');
          this.addressless.add(id);
          this.transport.setPeer(id, null);
        }
      } catch (err) {
        // e.g. a non-loopback address on a node without --insecure or TLS: counted as unreachable.
        this.logger.error({ peer: id, address: text, err, code: (err as { code?: string }).code }, 'cannot use the address of a member');
      }
    }
    if (this.lastMembers === null) {
      // At start: a node listed in --nodes but not in the configuration in force may be a member
      // added while this node was away (a leader of a newer configuration must reach us, and we
      // must answer it before our log shows it). Accepted, and dialed only when Raft answers it.
      for (const id of this.nodes.keys()) {
        if (id !== this.id && !members.has(id)) this.logger.info({ peer: id }, 'listed in --nodes but not in the configuration in force: accepted as a peer until a configuration change removes it');
      }
    } else {
      // Left the configuration: no longer dialed, its connections refused (it cannot disturb us).
      for (const id of this.lastMembers) {
        if (id === this.id || members.has(id)) continue;
        const was = this.nodes.get(id);
        if (was !== undefined) this.departed.set(id, was);
        this.nodes.delete(id);
        this.addressless.delete(id);
        this.admitted.delete(id);
        this.transport.removePeer(id);
        this.logger.info({ peer: id }, 'node left the configuration: no longer dialed, its connections refused');
      }
    }
    this.lastMembers = members;
    // Raft lifts the bar when a configuration from the leader (an entry or a snapshot) holds this
    // node as a learner, not the bootstrap one a joining node starts with.
    if (this.votingBarred && m !== this.bootMembership && m.learners.includes(this.id)) {
      this.votingBarred = false;
      // The marker stays until the configuration that lifted the bar is durable (a later entry is).
      this.barLiftIndex = this.node.raft.log.lastIndex();
      this.logger.info({ code: 'NODE_VOTING_BAR_LIFTED' }, 'the cluster holds this node as a learner: it votes once promoted');
    }
    this.logger.info({ voters: m.voters, learners: m.learners, self: m.voters.includes(this.id) ? 'voter' : m.learners.includes(this.id) ? 'learner' : 'not a member' }, 'configuration in force');
  }

  /**
   * Where the others reach this node, as its hello says: the --nodes ports (what the configuration
   * carries), the bound ones where --nodes has 0. Null until every port is known.
   */
  private advertisedSelf(): string | null {
    const self = this.config.nodes[this.id]!;
    const bound = this.addresses as BoundAddresses | undefined;
    const a = {
      host: self.host,
      raftPort: self.raftPort || (bound?.raft.port ?? 0),
      clientPort: self.clientPort || (bound?.client.port ?? 0),
      adminPort: self.adminPort || (bound?.admin.port ?? 0),
    };
    return a.raftPort === 0 || a.clientPort === 0 || a.adminPort === 0 ? null : formatMemberAddress(a);
  }

  /**
   * A node that is neither in the configuration this node follows nor in --nodes dialed it, with
   * its address: typically a member added while this node was down, maybe leading now, which this
   * node must accept (and answer) to catch up and learn of the change at all. Admitted as a peer
   * (dialed at that address) unless it left the configuration while this node ran; a node removed
   * earlier that comes back this way still cannot disturb the cluster (pre-vote, and Raft refuses
   * votes from non-members). At most ADMITTED_PEERS_MAX such peers; a later configuration change
   * that removes one forgets it as any member.
   */
  private admitPeer(id: NodeId, text: string): boolean {
    if (!this.ready || this.stopping !== null || this.departed.has(id)) return false;
    if (!this.admitted.has(id) && this.admitted.size >= ADMITTED_PEERS_MAX) {
      this.logger.warn({ peer: id, address: text, code: 'NODE_PEER_NOT_ADMITTED' }, `an unknown node dialed this one: refused, ${ADMITTED_PEERS_MAX} admitted already`);
      return false;
    }
    const a = parseMemberAddress(text);
    if (a === null) return false;
    try {
      this.setPeer(id, a);
    } catch (err) {
      // e.g. a non-loopback address on a node without TLS or --insecure.
      this.logger.warn({ peer: id, address: text, err, code: 'NODE_PEER_NOT_ADMITTED' }, 'an unknown node dialed this one: its address cannot be used');
      return false;
    }
    this.admitted.add(id);
    this.logger.warn(
      { peer: id, address: text, code: 'NODE_PEER_ADMITTED' },
      'a node outside the configuration this node follows dialed it (a member added while this node was away?): accepted as a peer at the address it sent, until a configuration change removes it',
    );
    return true;
  }

  /** This node's own addresses as a NodeAddress (for setPeer on the others). */
  address(): NodeAddress {
    const self = this.config.nodes[this.id]!;
    return { host: self.host, raftPort: this.addresses.raft.port, clientPort: this.addresses.client.port, adminPort: this.addresses.admin.port };
  }

  clientEndpoint(): string {
    return ep(this.addresses.client.host, this.addresses.client.port);
  }

  private tick(): void {
    this.node.tick();
    const st = this.node.status();
    if (this.barLiftIndex !== null && st.persistedIndex > this.barLiftIndex) {
      this.barLiftIndex = null;
      this.removeBarFile();
    }
    if (st.leader !== this.seenLeader) {
      this.seenLeader = st.leader;
      this.logger.info({ term: st.term, leader: st.leader, role: st.role }, st.leader === null ? 'leader unknown' : 'leader changed');
    }
    if (st.snapshotIndex !== this.seenSnapshot) {
      this.seenSnapshot = st.snapshotIndex;
      this.logger.info({ index: st.snapshotIndex, term: st.term }, 'snapshot saved (log compacted up to it, minus the margin)');
    }
  }

  private afterStep(): void {
    const raft = this.node?.raft;
    if (raft === undefined) return;
    const role = raft.role();
    const term = raft.term();
    if (role !== this.seenRole || term !== this.seenTerm) {
      const from = this.seenRole;
      this.seenRole = role;
      this.seenTerm = term;
      this.logger.info({ term, role, from }, from === role ? 'term changed' : 'role changed');
    }
  }

  health(): { ok: boolean; [k: string]: unknown } {
    const st = this.node.status();
    const ok = !st.stopped && !st.corrupt && this.fatal === null && this.stopping === null;
    return { ok, node: this.id, role: st.role, term: st.term, leader: st.leader, corrupt: st.corrupt, stopped: st.stopped, ...(this.fatal ? { error: this.fatal.message } : {}) };
  }

  /** This node's view of every node (seed 000: each node knows its role and the others'). */
  status(withDigest = false): HostStatus {
    const st: NodeStatus = this.node.status();
    const ts = this.transport.stats();
    const cs = this.clientServer.stats();
    const ss = this.store.stats();
    const nodes: Record<NodeId, NodeView> = {};
    const voters = st.membership.voters;
    const learners = st.membership.learners;
    for (const [id, a] of this.nodes) {
      const isSelf = id === this.id;
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
        ...(p !== undefined && !isSelf ? { match: p.match, next: p.next, lag: Math.max(0, st.lastIndex - p.match), state: p.state, recentActive: p.recentActive } : {}),
        ...(isSelf && st.role === 'leader' ? { match: st.persistedIndex, lag: 0 } : {}),
        ...(link !== undefined ? { links: { control: link.control, data: link.data } } : {}),
      };
    }
    return {
      node: this.id,
      clusterId: this.config.clusterId,
      pid: process.pid,
      uptimeMs: Date.now() - this.startedAt,
      role: st.role,
      term: st.term,
      leader: st.leader,
      leaderClient: st.leader === null ? null : this.clientServer.endpointOf(st.leader),
      vote: st.vote,
      commitIndex: st.commitIndex,
      appliedIndex: st.appliedIndex,
      lastIndex: st.lastIndex,
      persistedIndex: st.persistedIndex,
      snapshotIndex: st.snapshotIndex,
      corrupt: st.corrupt,
      stopped: st.stopped,
      votingBarred: this.votingBarred,
      ...(this.votingNote(st.membership) !== null ? { votingNote: this.votingNote(st.membership)! } : {}),
      voters,
      learners,
      nodes,
      replayDelaysMs: this.config.replayDelaysMs,
      store: {
        appliedIndex: ss.appliedIndex,
        activeSessions: ss.activeSessions,
        activeBytes: ss.activeBytes,
        dataFiles: ss.dataFiles,
        clients: ss.clients,
        ...(withDigest ? { digest: this.store.digest().overall } : {}),
      },
      client: { connections: cs.connections, subscriptions: cs.subscriptions, rejectedTotal: cs.rejectedTotal },
      transport: { sent: ts.sent, received: ts.received, dropped: ts.dropped, rejectedTotal: ts.rejectedTotal, admittedPeers: ts.admittedPeers },
    };
  }

  private votingNote(m: Membership): string | null {
    if (this.votingBarred && this.config.join && !m.voters.includes(this.id)) {
      return `joining: it becomes a learner once added (sessionraft member add ${this.id} ${formatMemberAddress(this.address())}) and votes once promoted`;
    }
    if (this.votingBarred) return votingBarredNote(this.id, formatMemberAddress(this.address()));
    if (m.learners.includes(this.id)) return `a learner: it receives the log and does not vote until promoted (sessionraft member promote ${this.id})`;
    if (!m.voters.includes(this.id)) return 'not a member of the configuration in force (removed, or not added yet): it does not vote';
    return null;
  }

  /** The configuration in force, each member's address and (on the leader) its progress. */
  members(): MembersView {
    const st: NodeStatus = this.node.status();
    const m = st.membership;
    const members: MembersView['members'] = {};
    for (const id of [...m.voters, ...m.learners]) {
      const known = this.nodes.get(id);
      const address = m.addresses?.[id] ?? (known !== undefined && known.raftPort !== 0 ? formatMemberAddress(known) : null);
      const p = st.progress[id];
      members[id] = {
        voter: m.voters.includes(id),
        address,
        ...(id === this.id ? { self: true as const } : {}),
        ...(p !== undefined && id !== this.id ? { match: p.match, next: p.next, lag: Math.max(0, st.lastIndex - p.match), state: p.state, recentActive: p.recentActive } : {}),
        ...(id === this.id && st.role === 'leader' ? { match: st.persistedIndex, lag: Math.max(0, st.lastIndex - st.persistedIndex) } : {}),
      };
    }
    return { node: this.id, leader: st.leader, term: st.term, commitIndex: st.commitIndex, lastIndex: st.lastIndex, voters: m.voters, learners: m.learners, members };
  }

  /**
   * Graceful stop. A leader (with `transfer`, the default) first hands leadership to the most
   * up-to-date follower and waits, at most `shutdownTransferMs`, until another node leads.
   */
  stop(opts: { transfer?: boolean } = {}): Promise<void> {
    if (this.stopping === null) this.stopping = this.shutdown(opts.transfer ?? true);
    return this.stopping;
  }

  private async shutdown(transfer: boolean): Promise<void> {
    const log = this.logger;
    this.clientServer?.drain();
    if (transfer && this.node !== undefined && !this.node.raft.isStopped() && this.node.raft.role() === 'leader') await this.handOver();
    await this.teardown();
    log.info({ term: this.node?.raft.term() }, 'node stopped');
    await new Promise<void>((r) => log.flush(() => r()));
  }

  private async handOver(): Promise<void> {
    const st = this.node.status();
    const links = this.transport.stats().peers;
    // The most up-to-date voter among those this node can reach (its control link is open);
    // `recentActive` is no guide here: the leader clears it every election timeout.
    let best: NodeId | null = null;
    let bestMatch = -1;
    for (const [id, p] of Object.entries(st.progress)) {
      if (id === this.id || !st.membership.voters.includes(id) || links[id]?.control !== 'open') continue;
      if (p.match > bestMatch) {
        best = id;
        bestMatch = p.match;
      }
    }
    if (best === null) {
      this.logger.warn({ term: st.term }, 'stopping the leader without a transfer: no other voter is reachable');
      return;
    }
    const t0 = Date.now();
    this.logger.info({ term: st.term, peer: best, index: bestMatch }, 'transferring leadership before stopping');
    this.node.raft.transferLeadership(best);
    const done = await this.waitFor(() => {
      const s = this.node.status();
      return s.role !== 'leader' && s.leader !== null && s.leader !== this.id;
    }, this.config.shutdownTransferMs);
    const s = this.node.status();
    if (done) this.logger.info({ term: s.term, leader: s.leader, ms: Date.now() - t0 }, 'leadership transferred');
    else this.logger.warn({ term: s.term, peer: best, ms: this.config.shutdownTransferMs }, 'leadership transfer did not finish in time; stopping anyway');
  }

  /** Polls `cond` every tick until true or `ms` passed. */
  private waitFor(cond: () => boolean, ms: number): Promise<boolean> {
    return new Promise((resolve) => {
      if (cond()) return resolve(true);
      const t0 = Date.now();
      const timer = setInterval(() => {
        if (cond()) {
          clearInterval(timer);
          resolve(true);
        } else if (Date.now() - t0 >= ms) {
          clearInterval(timer);
          resolve(false);
        }
      }, Math.max(5, Math.floor(this.config.tickMs / 2)));
    });
  }

  private async teardown(): Promise<void> {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    if (this.clientServer !== undefined) await new Promise<void>((r) => this.clientServer.close(r));
    if (this.admin !== undefined) await new Promise<void>((r) => this.admin.close(r));
    if (this.node !== undefined) this.node.stop();
    if (this.transport !== undefined) await new Promise<void>((r) => this.transport.close(r));
    if (this.durable !== undefined && !this.wal.hasFailed()) {
      await new Promise<void>((r) =>
        this.durable.close((err) => {
          if (err) this.logger.warn({ err }, 'closing the log');
          r();
        }),
      );
    }
    this.store?.close();
    if (this.inspection !== null) await new Promise<void>((r) => this.inspection!.close(r));
  }
}
