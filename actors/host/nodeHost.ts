/**
 * A whole sessionraft node in one object, and the composition root of its parts: configuration ->
 * storage (raft log under <dataDir>/raft, data files under <dataDir>/store) -> SessionNode + peer
 * transport + client port + admin HTTP port + ticks + logs + metrics + inspection.
 * `bin/sessionraft.ts node` runs one per process; tests run several in one process over real
 * sockets (ports 0 on 127.0.0.1, then `setPeer` with the ports each one got).
 *
 * The concerns live beside it: the voting bar (votingBar.ts), the peer address book
 * (peerDirectory.ts), /status, /healthz and the member list (statusViews.ts), logging Raft state
 * changes (stateChangeLog.ts), and hand-over and teardown (shutdown.ts).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { featureView } from '../../transport/client/features.js';
import type { Recovered } from '../../storage/types.js';
import type { Logger } from 'pino';
import { defaultRaftConfig } from '../../machines/config.js';
import type { PlantedBug } from '../../machines/core.js';
import type { Membership, NodeId, RaftMessage } from '../../machines/types.js';
import { openLogAsync, type OpenedLog } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';
import type { Wal } from '../../storage/wal.js';
import { ClientServer } from '../../transport/client/server.js';
import type { PeerAddress } from '../../transport/peer/types.js';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import { formatMemberAddress } from '../../transport/wire/address.js';
import { TlsFiles } from '../../transport/wire/tlsFiles.js';
import { NodeSessionFs, SessionsStore } from '../sessions/index.js';
import { SessionNode } from '../sessions/sessionNode.js';
import { AdminHttp } from './adminHttp.js';
import { BootstrapAdmin } from './bootstrapAdmin.js';
import { clientNodeOf } from './clientNode.js';
import { loadClusterSecret } from './clusterSecret.js';
import { ConsoleRecorder } from './console/recorder.js';
import { ConsoleRoutes } from './console/routes.js';
import { ConfigError, type HostConfig, type NodeAddress } from './config.js';
import type { InspectionEvent } from 'xstate';
import { createInspection, type Inspection } from './inspect.js';
import { createLogger, RejectionLog } from './logger.js';
import { HostMetrics } from './metrics.js';
import { advertisedAddress, ep, PeerDirectory, type BoundAddresses } from './peerDirectory.js';
import { shutDown, teardown, type HostParts, type StopTransfer } from './shutdown.js';
import { lockDataDir, type DataDirLock } from './dataDirLock.js';
import { StateChangeLog } from './stateChangeLog.js';
import { DigestCache } from './digestCache.js';
import { healthView, hostStatus, membersView, memoryView, type HealthView, type HostStatus, type MembersView, type StatusSources } from './statusViews.js';
import { DueTimer } from './dueTimer.js';
import { TimedDurableLog, timedFileSystem } from './storage.js';
import { VotingBar } from './votingBar.js';

interface HostStartOptions {
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
  readonly testing?: {
    readonly bugs?: ReadonlySet<PlantedBug>;
    readonly clockOffsetMs?: number;
    readonly fsyncDelayMs?: number;
    readonly raftListenPort?: number;
  };
}

/** A timer that never keeps the process alive (ticks do): releases deliveries held until due. */
function unrefAfter(delayMs: number, fn: () => void): void {
  setTimeout(fn, delayMs).unref();
}

/** The shortest metrics token a node takes: a guessable one would open /metrics and /status. */
const METRICS_TOKEN_CHARS_MIN = 16;

/**
 * The metrics token from its file (--metrics-token-file), trimmed. An unreadable file or a token
 * shorter than METRICS_TOKEN_CHARS_MIN is a ConfigError (exit 2): until 2026-12-07 an empty file
 * made /metrics unreachable with no word, and a missing one failed the start with a raw ENOENT.
 */
export function readMetricsToken(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`metricsTokenFile ${path}: ${(err as Error).message}`);
  }
  const token = text.trim();
  if (token.length < METRICS_TOKEN_CHARS_MIN) {
    throw new ConfigError(`metricsTokenFile ${path}: the token must be at least ${METRICS_TOKEN_CHARS_MIN} characters (it has ${token.length})`);
  }
  return token;
}

export class NodeHost {
  readonly id: NodeId;
  readonly config: HostConfig;
  readonly logger: Logger;
  readonly metrics: HostMetrics;
  node!: SessionNode;
  addresses!: BoundAddresses;
  private readonly peers: PeerDirectory;
  /** The marker is written through the same FileSystem as the log, untimed (the fsync metrics are the log's). */
  private readonly bar: VotingBar;
  private readonly changes: StateChangeLog;
  private readonly views: StatusSources;
  private transport!: WsTransport;
  private clientServer!: ClientServer;
  private admin!: AdminHttp;
  /** The client and admin ports' certificate files (one watcher for both); undefined: plain. */
  private portTls: TlsFiles | undefined;
  /** The CA of the nodes' client and admin certificates (clientTls.peerCaFile): the console checks its peers with it. */
  private peerCa: Buffer | null = null;
  private wal!: Wal;
  private durable!: TimedDurableLog;
  private store!: SessionsStore;
  private inspection: Inspection | null = null;
  /** The console's recent transitions and per-second samples (console/recorder.ts). */
  private readonly recorder = new ConsoleRecorder();
  /** The console's routes (boot step 7); they also answer a peer's status request on the raft port. */
  private consoleRoutes: ConsoleRoutes | null = null;
  private ticker: NodeJS.Timeout | null = null;
  /** Wakes the leader's replay scheduler at the next due time rather than at the next tick (issue 16). */
  private dueTimer: DueTimer | null = null;
  /** Issue 17: creates the first administrator from --bootstrap-admin-password-file (on the leader). */
  private bootstrapAdmin: BootstrapAdmin | null = null;
  private readonly startedAtMs = Date.now();
  private stopping: Promise<StopTransfer> | null = null;
  /** This process's hold on the data directory (dataDirLock.ts), from boot until the stop is done. */
  private dirLock: DataDirLock | null = null;
  private readonly rejections: RejectionLog;
  /** /status?digest=1: cached per applied index, recomputed at most once a second. */
  private readonly digests = new DigestCache(
    () => this.store.digest().overall,
    () => this.store.appliedIndex,
    () => performance.now(),
  );
  private fatal: Error | null = null;
  /** Configuration changes that arrived before the ports were bound (applied at the end of boot). */
  private ready = false;
  private pendingMembership: Membership | null = null;
  /** The configuration built from --nodes (the Raft core's until the log or a snapshot holds one). */
  private bootMembership: Membership | null = null;
  /** This node's storage was created by a version that knows feature flags (FEATURES_NATIVE_FILE). */
  private featuresNative = false;
  /** Milliseconds since the epoch: due times, deadlines and holds (the fault harness may skew it). */
  private readonly clock: () => number;

  private constructor(config: HostConfig, opts: HostStartOptions) {
    this.id = config.id;
    this.config = config;
    const offsetMs = opts.testing?.clockOffsetMs ?? 0;
    this.clock = offsetMs !== 0 ? () => Date.now() + offsetMs : Date.now;
    this.logger =
      opts.logger ?? createLogger({ node: config.id, level: config.logLevel, ...(config.logPretty !== undefined ? { pretty: config.logPretty } : {}) });
    this.metrics = new HostMetrics();
    this.rejections = new RejectionLog(this.logger);
    this.peers = new PeerDirectory(config.id, config.nodes, this.logger);
    this.bar = new VotingBar(realFs, config.dataDir, this.logger);
    this.changes = new StateChangeLog(this.logger);
    this.views = {
      id: config.id,
      clusterId: config.clusterId,
      joining: config.join,
      replayDelaysMs: config.replayDelaysMs,
      startedAtMs: this.startedAtMs,
      peers: this.peers,
      node: () => this.node,
      transport: () => this.transport,
      clientServer: () => this.clientServer,
      store: () => this.store,
      digest: () => this.digests.get(),
      votingBarred: () => this.votingBarred(),
      selfAddress: () => this.address(),
      fatal: () => this.fatal,
      stopping: () => this.stopping !== null,
    };
  }

  /** Opens storage, binds the three ports and starts ticking. Rejects on a bad disk or a busy port. */
  static async start(config: HostConfig, opts: HostStartOptions = {}): Promise<NodeHost> {
    const h = new NodeHost(config, opts);
    try {
      await h.boot(opts);
    } catch (err) {
      h.logger.error({ err, code: (err as { code?: string }).code }, 'node failed to start');
      try {
        await h.teardown();
      } finally {
        await h.dirLock?.release();
      }
      throw err;
    }
    return h;
  }

  private async boot(opts: HostStartOptions): Promise<void> {
    const cfg = this.config;
    mkdirSync(cfg.dataDir, { recursive: true });
    // Before anything in the directory is opened: a second process on it stops here (dataDirLock.ts).
    this.dirLock = await lockDataDir(cfg.dataDir);
    if (!this.dirLock.held)
      this.logger.warn(
        { code: 'DATA_DIR_NOT_LOCKED', dir: cfg.dataDir },
        'no data-directory lock on this platform: make sure no other node process uses this directory',
      );
    const opened = await this.openStorage(opts.testing?.fsyncDelayMs ?? 0);
    this.featuresNative = markFeaturesNative(cfg.dataDir, opened.recovered, cfg.bootstrap && cfg.featuresOnNewCluster);
    await this.bar.decideAtStart({
      id: cfg.id,
      address: formatMemberAddress(cfg.nodes[cfg.id]!),
      bootstrap: cfg.bootstrap,
      join: cfg.join,
      recovered: opened.recovered,
    });
    this.store = this.openStore();
    const raftAddr = await this.startTransport(opts, opened.recovered.hardState.term);
    this.inspection = await this.startInspection();
    this.node = this.startNode(opened, opts);
    const clientAddr = await this.startClientPort();
    const adminAddr = await this.startAdminPort();
    this.bound({ raft: raftAddr, client: clientAddr, admin: adminAddr });
    this.startTicking();
  }

  /** Boot step 1: the raft log. Recovery repairs what it can and says what it kept aside. */
  private async openStorage(fsyncDelayMs: number): Promise<OpenedLog> {
    const log = this.logger;
    const raftDir = join(this.config.dataDir, 'raft');
    const fs = timedFileSystem(realFs, (s) => this.metrics.fsync.observe(s), fsyncDelayMs);
    const opened = await openLogAsync(fs, raftDir, { retainBytesMax: this.config.logRetainBytesMax, preallocateBytes: this.config.logPreallocateBytes });
    this.wal = opened.log;
    this.durable = new TimedDurableLog(opened.log, (s) => this.metrics.append.observe(s));
    const rec = opened.recovered;
    if (rec.corruption !== null) {
      log.error(
        { code: rec.corruption.code, index: rec.corruption.firstBadIndex, lastIndexSeen: rec.corruption.lastIndexSeen },
        `log corruption found at startup: ${rec.corruption.message}; this node will not vote or lead until the leader repairs it`,
      );
    }
    for (const f of opened.keptAside) log.warn({ code: 'STORAGE_KEPT_ASIDE', file: join(raftDir, f) }, 'damaged or torn log bytes were kept aside');
    for (const f of opened.foreign)
      log.warn({ code: 'STORAGE_FOREIGN_FILE', file: join(raftDir, f) }, 'a file in the log directories that is not the log: left alone');
    if (rec.tornBytes > 0) log.warn({ code: 'STORAGE_TORN_TAIL', bytes: rec.tornBytes }, 'a torn log tail was cut (a crash during a write)');
    log.info(
      {
        term: rec.hardState.term,
        index: rec.entries.length > 0 ? rec.entries[rec.entries.length - 1]!.index : (rec.snapshot?.index ?? 0),
        snapshot: rec.snapshot?.index ?? 0,
      },
      'log recovered',
    );
    return opened;
  }

  /** Boot step 2: the session data files under <dataDir>/store. */
  private openStore(): SessionsStore {
    return new SessionsStore({
      fs: new NodeSessionFs(join(this.config.dataDir, 'store')),
      ...(this.config.storeLimits !== undefined ? { limits: this.config.storeLimits } : {}),
      subscriberQueueMax: 1024,
      // Sessions restored ahead reach subscribers the restore's hold after this node applied it
      // (restoreLeadMs): a relative wait, on a monotonic clock.
      clock: () => performance.now(),
      after: unrefAfter,
      // A snapshot's manifest in slices, a turn each: a large active table held the loop past the
      // election timeout (2026-12-07).
      encodeTurn: (fn) => setImmediate(fn),
    });
  }

  /** Boot step 3: the peer transport, listening. */
  private async startTransport(opts: HostStartOptions, recoveredTerm: number): Promise<PeerAddress> {
    const cfg = this.config;
    const self = cfg.nodes[cfg.id]!;
    const peers: Record<NodeId, PeerAddress | null> = {};
    for (const [id, a] of this.peers.entries()) if (id !== cfg.id) peers[id] = a.raftPort === 0 ? null : { host: a.host, port: a.raftPort };
    const tls =
      cfg.tls === undefined ? undefined : { cert: readFileSync(cfg.tls.certFile), key: readFileSync(cfg.tls.keyFile), ca: readFileSync(cfg.tls.caFile) };
    const clusterSecret = cfg.clusterSecretFile === undefined ? undefined : loadClusterSecret(cfg.clusterSecretFile);
    if (tls === undefined && clusterSecret === undefined) {
      this.logger.warn(
        { code: 'NODE_PEERS_UNAUTHENTICATED' },
        '--insecure without TLS or a cluster secret: peers are not authenticated (anyone who reaches the raft port can speak as a member)',
      );
    }
    this.transport = new WsTransport({
      nodeId: cfg.id,
      clusterId: cfg.clusterId,
      host: self.host,
      port: opts.testing?.raftListenPort ?? self.raftPort,
      peers,
      currentTerm: () => (this.node ? this.node.raft.term() : recoveredTerm),
      advertisedAddress: () => advertisedAddress(self, this.addresses as BoundAddresses | undefined),
      admitPeer: (id, address) => this.ready && this.stopping === null && this.peers.admit(id, address),
      ...(tls !== undefined ? { tls } : {}),
      ...(clusterSecret !== undefined ? { clusterSecret } : {}),
      insecure: cfg.insecure,
      logger: this.logger.child({ component: 'transport' }),
      // A peer's console asks for this node's view here (the status channel), once the node runs.
      statusDocument: () => (this.ready && this.consoleRoutes !== null ? this.consoleRoutes.nodeDocument() : null),
    });
    return this.transport.listen();
  }

  /** Boot step 4: state-machine inspection, when asked for. */
  private startInspection(): Promise<Inspection | null> {
    const cfg = this.config;
    return createInspection({
      nodeId: cfg.id,
      ...(cfg.inspect !== undefined ? { liveUrl: cfg.inspect } : {}),
      ...(cfg.inspectFile !== undefined ? { file: cfg.inspectFile } : {}),
      ...(cfg.inspectTicks === true ? { includeTicks: true } : {}),
      logger: this.logger,
    });
  }

  /**
   * Boot step 5: the node. The bootstrap configuration (used until the log or a snapshot holds
   * one) carries every member's address, so that members added later learn where everyone is. A
   * joining node is a learner of the cluster's voters.
   */
  private startNode(opened: OpenedLog, opts: HostStartOptions): SessionNode {
    const cfg = this.config;
    const log = this.logger;
    const learners = cfg.join ? [...cfg.learners.filter((id) => id !== cfg.id), cfg.id] : [...cfg.learners];
    const voters = [...this.peers.ids()].filter((id) => !learners.includes(id));
    const addresses: Record<NodeId, string> = {};
    for (const [id, a] of this.peers.entries()) if (a.raftPort !== 0 && a.clientPort !== 0 && a.adminPort !== 0) addresses[id] = formatMemberAddress(a);
    this.bootMembership = { voters, learners, ...(Object.keys(addresses).length > 0 ? { addresses } : {}) };
    const clock = this.clock;
    const dueTimer = new DueTimer(clock, () => this.node?.wake());
    // The lateness metrics name a group once (one lookup function, not a closure per delivery).
    const store = this.store;
    const groupOf = (low: number): { readonly topic: string; readonly name: string } | undefined => store.groupByLow(low);
    this.dueTimer = dueTimer;
    const node = new SessionNode({
      id: cfg.id,
      membership: this.bootMembership,
      votingBarred: this.bar.barred,
      hooks: { onMembershipChanged: (m) => this.onMembershipChanged(m), onPeerRejected: (code, m) => this.onPeerRejected(code, m) },
      // Peers the transport authenticated (--nodes, configurations, admitted with a proof): judged by term.
      isKnownPeer: (id) => this.peers.get(id) !== undefined,
      raft: { ...defaultRaftConfig, electionTimeoutTicksMin: cfg.electionTimeoutTicksMin, heartbeatIntervalTicks: cfg.heartbeatIntervalTicks },
      recovered: opened.recovered,
      snapshot: opened.snapshot,
      durableLog: this.durable,
      inlineFollowerWrites: cfg.walFollowerWritesInline,
      snapshotStore: opened.snapshots,
      transport: this.transport,
      random: Math.random,
      defer: (fn) => setImmediate(fn),
      snapshotEntries: cfg.snapshotEntries,
      snapshotLogRatio: cfg.snapshotLogPercent / 100,
      compactMarginEntries: cfg.compactMarginEntries,
      logWindowBytesMax: cfg.logWindowBytesMax,
      // 1 MiB chunks (under the 4 MiB frame), 4 in flight, a second without an ack fails a stream.
      snapshotTransfer: {
        chunkBytes: 1024 * 1024,
        windowChunks: 4,
        ackTimeoutTicks: Math.max(10, Math.ceil(1000 / cfg.tickMs)),
        snapshotBytesMax: cfg.snapshotBytesMax,
      },
      // The console's recorder always sees the machine's transitions (from each step: XState
      // inspection builds an object per event, action and microstep); the inspector when asked for.
      onTransition: (value, term, event) => this.recorder.transition(value, term, event),
      ...(this.inspection !== null ? { inspect: (ev: InspectionEvent) => this.inspection?.inspect(ev) } : {}),
      onStep: () => {
        const raft = this.node?.raft;
        if (raft !== undefined) this.changes.afterStep(raft.role(), raft.term());
      },
      onFatal: (err) => {
        this.fatal = err;
        log.fatal(
          { err, code: (err as { code?: string }).code ?? 'DISK_FATAL' },
          'the node stopped: its disk failed (fail-stop); restart it once the disk is fixed',
        );
        opts.onFatal?.(err);
      },
      store: this.store,
      replayDelaysMs: cfg.replayDelaysMs,
      clock,
      onNextDue: (dueMs) => dueTimer.request(dueMs),
      restoreLeadMs: cfg.restoreLeadMs,
      // Only storage this version created may turn the flags on: an older cluster's nodes, even
      // one that never had a command, keep them off until the operator's `feature enable`.
      featuresOnNewCluster: cfg.featuresOnNewCluster && this.featuresNative,
      after: unrefAfter,
      onLateness: {
        restore: (replayClass, lateMs) => this.metrics.observeRestoreLateness(replayClass, lateMs),
        firstDelivery: (groupLow, lateMs) => {
          this.metrics.observeDeliveryLateness(groupLow, lateMs, groupOf);
          this.recorder.observeDeliveryLate(lateMs);
        },
      },
      ...(opts.testing?.bugs !== undefined ? { bugs: opts.testing.bugs } : {}),
    });
    if (opts.testing !== undefined)
      log.warn(
        { bugs: [...(opts.testing.bugs ?? [])], clockOffsetMs: opts.testing.clockOffsetMs ?? 0, fsyncDelayMs: opts.testing.fsyncDelayMs ?? 0 },
        'TEST-ONLY settings in force (fault harness)',
      );
    this.transport.onMessage = (m: RaftMessage) => node.receive(m);
    return node;
  }

  /** Boot step 6: the client port, listening, redirecting to the other nodes' client ports. */
  private async startClientPort(): Promise<{ host: string; port: number }> {
    const cfg = this.config;
    if (cfg.clientTls !== undefined) {
      this.portTls = new TlsFiles({ ...cfg.clientTls, minVersion: cfg.tlsMinVersion }, this.logger.child({ component: 'tls' }));
      if (cfg.clientTls.peerCaFile !== undefined) this.peerCa = readFileSync(cfg.clientTls.peerCaFile);
    }
    const endpoints: Record<NodeId, string> = {};
    for (const [id, a] of this.peers.entries()) if (a.clientPort !== 0) endpoints[id] = ep(a.host, a.clientPort);
    this.clientServer = new ClientServer({
      node: clientNodeOf(this.node),
      nodeId: cfg.id,
      clusterId: cfg.clusterId,
      host: cfg.nodes[cfg.id]!.host,
      port: cfg.nodes[cfg.id]!.clientPort,
      endpoints,
      replayDelaysMs: cfg.replayDelaysMs,
      ...(this.portTls !== undefined ? { tls: this.portTls } : {}),
      insecure: cfg.insecure,
      authRequired: cfg.auth,
      ...(cfg.clientLimits !== undefined ? { limits: cfg.clientLimits } : {}),
      logger: this.logger.child({ component: 'client' }),
      status: (d) => this.status(d),
      members: () => this.members(),
      onRejected: (code, op) => {
        if (code !== 'CLIENT_ERR_NOT_LEADER' && code !== 'CLIENT_ERR_NO_LEADER') this.rejections.note(code, { op }, 'client request rejected');
      },
      onCommandDone: (op, s) => {
        this.metrics.observeCommit(op, s);
        this.recorder.observeCommit(s);
      },
    });
    if (cfg.bootstrapAdminPasswordFile !== undefined) {
      this.bootstrapAdmin = new BootstrapAdmin(this.node, cfg.bootstrapAdminUser, cfg.bootstrapAdminPasswordFile, this.logger.child({ component: 'auth' }));
    }
    const clientAddr = await this.clientServer.listen();
    this.clientServer.setEndpoint(cfg.id, ep(clientAddr.host, clientAddr.port));
    return clientAddr;
  }

  /** Boot step 7: the admin HTTP port (/metrics, /status, /healthz, the console), listening. */
  private startAdminPort(): Promise<{ host: string; port: number }> {
    this.admin = new AdminHttp({
      host: this.config.nodes[this.id]!.host,
      port: this.config.nodes[this.id]!.adminPort,
      metrics: () => this.metrics.text(),
      status: (d) => this.status(d),
      health: () => this.health(),
      logger: this.logger.child({ component: 'admin' }),
      onRejected: (code) => this.rejections.note(code, {}, 'admin request rejected'),
      console: (path, query, mayRead, authorization) => consoleRoutes.handle(path, query, mayRead, authorization),
      ...(this.portTls !== undefined ? { tls: this.portTls } : {}),
      insecure: this.config.insecure,
      // Issue 17: /status and the console behind a login whenever the client port needs one; /metrics and /healthz open unless a token is set.
      auth: {
        on: () => this.config.auth || this.store.access.hasUsers(),
        access: () => this.store.access,
        token: this.config.metricsTokenFile === undefined ? null : readMetricsToken(this.config.metricsTokenFile),
      },
    });
    // Peers that prove their ID to each other (the cluster secret, or peer certificates) serve each
    // other's console view over the raft port; otherwise the console asks their admin ports.
    const peersAuthenticated = this.config.tls !== undefined || this.config.clusterSecretFile !== undefined;
    const consoleRoutes = new ConsoleRoutes({
      id: this.id,
      clusterId: this.config.clusterId,
      replayDelaysMs: this.config.replayDelaysMs,
      recorder: this.recorder,
      status: () => this.status(),
      store: () => this.store,
      peerTls: () => (this.config.clientTls === undefined ? null : { ca: this.peerCa }),
      ...(peersAuthenticated ? { peerView: (id: string, timeoutMs: number, bytesMax: number) => this.transport.fetchStatus(id, timeoutMs, bytesMax) } : {}),
    });
    this.consoleRoutes = consoleRoutes;
    return this.admin.listen();
  }

  /**
   * Boot step 8: every port is bound. The address book learns this node's ports and reaches the
   * transport and client port, metrics read the parts, and configuration changes that arrived
   * meanwhile are followed.
   */
  private bound(addresses: BoundAddresses): void {
    this.addresses = addresses;
    this.peers.setSelf({
      host: this.config.nodes[this.id]!.host,
      raftPort: addresses.raft.port,
      clientPort: addresses.client.port,
      adminPort: addresses.admin.port,
    });
    this.peers.connect(this.transport, this.clientServer);
    this.metrics.attach({
      status: () => this.node.status(),
      raftCounters: () => this.node.raft.counters,
      transport: () => this.transport.stats(),
      wal: () => this.wal.stats,
      store: () => this.store.stats(),
      client: () => this.clientServer.stats(),
      admin: () => this.admin.rejectedByCode(),
      memory: () => ({ ...memoryView(this.views) }),
      groups: () => this.node.groups(),
      dispatcher: () => this.node.dispatcher.counters,
      planner: () => this.node.planner.counters,
      features: () => featureView(this.node.store.features),
    });
    this.ready = true;
    if (this.pendingMembership !== null) this.followMembership(this.pendingMembership);
    this.pendingMembership = null;
  }

  /** Boot step 9: time starts. */
  private startTicking(): void {
    this.ticker = setInterval(() => this.tick(), this.config.tickMs);
    const m = this.node.status().membership;
    const { raft, client, admin } = this.addresses;
    this.logger.info(
      {
        raft: ep(raft.host, raft.port),
        client: ep(client.host, client.port),
        admin: ep(admin.host, admin.port),
        voters: m.voters,
        learners: m.learners,
        votingBarred: this.bar.barred,
        tickMs: this.config.tickMs,
      },
      'node started',
    );
  }

  /**
   * The bar as Raft holds it now, the host's copy brought up to date first. Until 2026-12-07 status
   * read the copy, which follows Raft at the next tick: a learner that had just caught up (and had
   * its bar lifted by that AppendEntries) still read as barred for up to one tick (CI caught
   * test/node/membership.test.ts reading it in that window).
   */
  private votingBarred(): boolean {
    if ((this.node as SessionNode | undefined) !== undefined) this.bar.followRaft(this.node.raft.votingBarred(), this.node.raft.log.lastIndex());
    return this.bar.barred;
  }

  private tick(): void {
    this.node.tick();
    this.bootstrapAdmin?.afterTick(Date.now());
    const st = this.node.status();
    this.bar.followRaft(st.votingBarred, this.node.raft.log.lastIndex());
    this.bar.afterPersisted(st.persistedIndex);
    this.changes.afterTick(st);
    this.recorder.afterTick(st.commitIndex);
  }

  /** Tell this node where a peer listens (in-process clusters on ports 0 learn them after start). */
  setPeer(id: NodeId, a: NodeAddress): void {
    this.peers.setPeer(id, a);
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
   * A peer message Raft refused for what it claims. A second leader of this node's term that is
   * not a member is a forgery by a node that holds the cluster's credentials (an authenticated
   * peer): error level, rate-limited like the other rejections; the rest are warnings.
   */
  private onPeerRejected(code: string, m: RaftMessage): void {
    const fields = { peer: m.from, type: m.type, term: m.term, ourTerm: this.node?.raft.term() };
    if (code === 'foreign-leader') {
      this.rejections.note(code, fields, "a node outside the configuration claims to lead this node's term: refused", 'error');
    } else {
      this.rejections.note(code, fields, 'peer message refused');
    }
  }

  private followMembership(m: Membership): void {
    this.peers.followMembership(m);
    this.logger.info(
      { voters: m.voters, learners: m.learners, self: m.voters.includes(this.id) ? 'voter' : m.learners.includes(this.id) ? 'learner' : 'not a member' },
      'configuration in force',
    );
  }

  /** This node's own addresses as a NodeAddress (for setPeer on the others). */
  address(): NodeAddress {
    const self = this.config.nodes[this.id]!;
    return { host: self.host, raftPort: this.addresses.raft.port, clientPort: this.addresses.client.port, adminPort: this.addresses.admin.port };
  }

  clientEndpoint(): string {
    return ep(this.addresses.client.host, this.addresses.client.port);
  }

  health(): HealthView {
    return healthView(this.views);
  }

  /** This node's view of every node (seed 000: each node knows its role and the others'). */
  status(withDigest = false): HostStatus {
    return hostStatus(this.views, withDigest);
  }

  /** The configuration in force, each member's address and (on the leader) its progress. */
  members(): MembersView {
    return membersView(this.views);
  }

  /**
   * Graceful stop. A leader (with `transfer`, the default) first hands leadership to the most
   * up-to-date follower and waits, at most `shutdownTransferMs`, until another node leads. Resolves
   * with what became of the leadership (until 2026-12-07 it resolved with nothing, and a test could
   * tell a handover from a timed-out one only by timing the stop).
   */
  stop(opts: { transfer?: boolean } = {}): Promise<StopTransfer> {
    if (this.stopping === null) {
      this.stopping = shutDown(this.parts(), {
        selfId: this.id,
        transfer: opts.transfer ?? true,
        transferTimeoutMs: this.config.shutdownTransferMs,
        tickMs: this.config.tickMs,
        stopTicking: () => this.stopTicking(),
        logger: this.logger,
      }).finally(() => this.dirLock?.release());
    }
    return this.stopping;
  }

  private teardown(): Promise<void> {
    return teardown(this.parts(), () => this.stopTicking(), this.logger);
  }

  private stopTicking(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.ticker = null;
    this.dueTimer?.stop();
  }

  /** The parts as they are (after a failed start, some were never made). */
  private parts(): HostParts {
    return {
      clientServer: this.clientServer as ClientServer | undefined,
      admin: this.admin as AdminHttp | undefined,
      node: this.node as SessionNode | undefined,
      transport: this.transport as WsTransport | undefined,
      durable: this.durable as TimedDurableLog | undefined,
      wal: this.wal as Wal | undefined,
      store: this.store as SessionsStore | undefined,
      inspection: this.inspection,
    };
  }
}

/** Written into a data directory whose storage this version created empty (feature flags, docs/sessions.md). */
export const FEATURES_NATIVE_FILE = 'features-native';

/**
 * Whether this node's storage was created by a version that knows feature flags, for a new cluster
 * that turns them on: the marker is written when the storage is empty and `create` (the node
 * bootstraps a new cluster, flags not kept off by `--features-off`). Storage an older version
 * created never has it, nor does a node that joins (`--join`) or one started with `--features-off`
 * (remembered so). Losing the marker (a crash before it reached the disk) only keeps the flags off
 * until `feature enable`.
 */
export function markFeaturesNative(dataDir: string, rec: Pick<Recovered, 'hardState' | 'entries' | 'snapshot'>, create: boolean): boolean {
  const file = join(dataDir, FEATURES_NATIVE_FILE);
  const empty = rec.hardState.term === 0 && rec.hardState.vote === null && rec.entries.length === 0 && rec.snapshot === null;
  if (create && empty && !existsSync(file)) writeFileSync(file, `${new Date().toISOString()} storage created by a version with feature flags\n`);
  return existsSync(file);
}
