#!/usr/bin/env node
/**
 * The `sessionraft` command.
 *
 *   sessionraft node --id n1 --nodes n1=127.0.0.1:7001:7101:7201,... --data-dir data/n1
 *   sessionraft cluster                      # npm start: 3 local node processes and a live status table
 *   sessionraft client create orders         # every client operation; JSON, or a table on a terminal (bin/output.ts)
 *   sessionraft inspector                    # a relay for the Stately inspector (then: node --inspect)
 *
 * docs/operations.md is the reference (flags, environment, config file, ports, codes).
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import {
  clientTlsLayer,
  ConfigError,
  configFromEnv,
  configFromFile,
  hostDefaults,
  localCluster,
  localNodes,
  parseDelays,
  parseNodesSpec,
  resolveHostConfig,
  walFollowerWrites,
  type HostConfig,
} from '../actors/host/config.js';
import { LocalCluster, ensureLocalSecurity, formatTable } from './cluster.js';
import { topicsListing, type AdminReach } from './listings.js';
import { applyTierUpBudget } from './nodeRuntime.js';
import { configureUsage } from './usage.js';
import {
  membersTable,
  outputFormat,
  recordsTable,
  renderTable,
  sessionsTable,
  showRecord,
  statusTable,
  topicsTables,
  useColor,
  withProgress,
} from './output.js';
import { NodeHost } from '../actors/host/nodeHost.js';
import { lockDataDir } from '../actors/host/dataDirLock.js';
import type { PlantedBug } from '../machines/core.js';
import { mayHaveVoted } from '../storage/hardState.js';
import { realFs } from '../storage/realFs.js';
import {
  createClient,
  type ClientConsumer,
  type ClientSubscription,
  type ClientTlsOptions,
  type Delivery,
  type SessionraftClient,
} from '../transport/client/client.js';
import { firstLine, resolveCredentials } from '../transport/client/credentials.js';
import { ClientError, ClientErrorCode } from '../transport/client/errors.js';

const here = dirname(fileURLToPath(import.meta.url));
const selfPath = fileURLToPath(import.meta.url);

/**
 * How `client subscribe` and `client consume` end: `done()` (the count reached, SIGINT), or the
 * subscription or consumer ended for good (`closed`), with that error (exit 1). The library calls
 * onError both for one it moves or attaches again (a lost connection: a warning) and for one that
 * ended for good (the node ended it: a revoked permission, an overflow; or attaching again failed);
 * until 2026-12-07 both only printed the warning, and after the second the command waited for ever.
 * An error before `attached` is thrown there, once the subscribe or consume call returned it closed.
 */
function untilEnded<T extends { readonly closed: boolean }>(): {
  readonly finished: Promise<void>;
  readonly done: () => void;
  readonly onError: (err: ClientError) => void;
  readonly attached: (x: T) => void;
} {
  let done: () => void = () => undefined;
  let ended: (err: ClientError) => void = () => undefined;
  const finished = new Promise<void>((r, j) => ((done = r), (ended = j)));
  let it: T | undefined;
  let early: ClientError | undefined;
  return {
    finished,
    done: () => done(),
    onError: (err) => {
      process.stderr.write(JSON.stringify({ warning: err.code, message: err.message }) + '\n');
      if (it === undefined) early = err;
      else if (it.closed) ended(err);
    },
    attached: (x) => {
      it = x;
      if (x.closed && early !== undefined) throw early;
    },
  };
}

function version(): string {
  for (const p of [resolve(here, '../../package.json'), resolve(here, '../package.json')]) {
    try {
      return (JSON.parse(readFileSync(p, 'utf8')) as { version: string }).version;
    } catch {
      // try the next
    }
  }
  return '0.0.0';
}

/**
 * A whole number of decimal digits. Until 2026-12-07 this took what Number() reads: '' as 0, and
 * 1e3, 0x10, ' 5 ' as numbers.
 */
function int(name: string): (v: string) => number {
  return (v) => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
    return n;
  };
}

/** A TCP port to listen on. Until 2026-12-07 `inspector --port 99999` got to listen() and exited 1 with its RangeError. */
function port(name: string): (v: string) => number {
  return (v) => {
    const n = int(name)(v);
    if (n < 1 || n > 65535) throw new InvalidArgumentError(`${name} is a port, 1 to 65535`);
    return n;
  };
}

/**
 * `--limit` and `--count`: decimal digits only, at least 1 (CLIENT_ERR_BAD_ARGUMENT, exit 2). Until
 * 2026-12-07 they took `int()`, which read '' as 0, and a limit of 0 means "no limit" on the wire:
 * `--limit 0` and `--limit ''` listed every session (and 1e3, 0x10, ' 5 ' were taken as numbers).
 */
function atLeastOne(name: string): (v: string) => number {
  return (v) => {
    const n = /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < 1) {
      throw new ClientError(ClientErrorCode.badArgument, `${name} is a whole number of at least 1 (decimal digits), got ${JSON.stringify(v)}`);
    }
    return n;
  };
}

/** Whether nothing listens on `port` (the inspector relay binds all interfaces). */
function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, () => s.close(() => res(true)));
  });
}

const program = new Command()
  .name('sessionraft')
  .description('A Raft-replicated, durable store of sessions with timed replay')
  .version(version())
  .showHelpAfterError()
  // A subcommand's --help also lists the options of the commands above it (--endpoints, --timeout-ms, …).
  .configureHelp({ showGlobalOptions: true });
// Before the subcommands are made: they inherit how usage errors end (bin/usage.ts).
const usageExit = configureUsage(program, new Set(['node', 'cluster', 'inspector']));

// ---- node ----------------------------------------------------------------------------------------

interface NodeFlags {
  config?: string;
  id?: string;
  clusterId?: string;
  dataDir?: string;
  nodes?: string;
  learners?: string;
  bootstrap?: boolean;
  join?: boolean;
  tickMs?: number;
  electionTicks?: number;
  heartbeatTicks?: number;
  snapshotEntries?: number;
  snapshotLogPercent?: number;
  compactMargin?: number;
  logWindowBytes?: number;
  logRetainBytes?: number;
  logPreallocateBytes?: number;
  restoreLeadMs?: number;
  featuresOff?: boolean;
  snapshotBytes?: number;
  replayDelays?: string;
  shutdownTransferMs?: number;
  logLevel?: string;
  logFormat?: 'json' | 'pretty' | 'auto';
  inspect?: string | boolean;
  inspectFile?: string;
  inspectTicks?: boolean;
  insecure?: boolean;
  walFollowerWrites?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  clientTlsCert?: string;
  clientTlsKey?: string;
  clientCaFile?: string;
  clientCrlFile?: string;
  clientTlsCa?: string;
  tlsMinVersion?: string;
  clusterSecretFile?: string;
  auth?: boolean;
  bootstrapAdminPasswordFile?: string;
  bootstrapAdminUser?: string;
  metricsTokenFile?: string;
  /** Hidden, fault harness only (test/chaos): planted bugs, clock offset. */
  plant?: string;
  clockOffsetMs?: string;
  fsyncDelayMs?: string;
  raftListenPort?: string;
}

function flagsToConfig(f: NodeFlags): Partial<Record<keyof HostConfig, unknown>> {
  const out: Partial<Record<keyof HostConfig, unknown>> = {};
  if (f.id !== undefined) out.id = f.id;
  if (f.clusterId !== undefined) out.clusterId = f.clusterId;
  if (f.dataDir !== undefined) out.dataDir = f.dataDir;
  if (f.nodes !== undefined) out.nodes = parseNodesSpec(f.nodes);
  if (f.learners !== undefined) out.learners = f.learners.split(',').filter((s) => s.length > 0);
  if (f.bootstrap === true) out.bootstrap = true;
  if (f.join === true) out.join = true;
  if (f.tickMs !== undefined) out.tickMs = f.tickMs;
  if (f.electionTicks !== undefined) out.electionTimeoutTicksMin = f.electionTicks;
  if (f.heartbeatTicks !== undefined) out.heartbeatIntervalTicks = f.heartbeatTicks;
  if (f.snapshotEntries !== undefined) out.snapshotEntries = f.snapshotEntries;
  if (f.snapshotLogPercent !== undefined) out.snapshotLogPercent = f.snapshotLogPercent;
  if (f.compactMargin !== undefined) out.compactMarginEntries = f.compactMargin;
  if (f.logWindowBytes !== undefined) out.logWindowBytesMax = f.logWindowBytes;
  if (f.logRetainBytes !== undefined) out.logRetainBytesMax = f.logRetainBytes;
  if (f.logPreallocateBytes !== undefined) out.logPreallocateBytes = f.logPreallocateBytes;
  if (f.restoreLeadMs !== undefined) out.restoreLeadMs = f.restoreLeadMs;
  if (f.featuresOff === true) out.featuresOnNewCluster = false;
  if (f.snapshotBytes !== undefined) out.snapshotBytesMax = f.snapshotBytes;
  if (f.replayDelays !== undefined) out.replayDelaysMs = parseDelays(f.replayDelays);
  if (f.shutdownTransferMs !== undefined) out.shutdownTransferMs = f.shutdownTransferMs;
  if (f.logLevel !== undefined) out.logLevel = f.logLevel;
  if (f.logFormat === 'json') out.logPretty = false;
  if (f.logFormat === 'pretty') out.logPretty = true;
  if (f.inspect !== undefined && f.inspect !== false) out.inspect = f.inspect === true ? 'ws://localhost:8080' : f.inspect;
  if (f.inspectFile !== undefined) out.inspectFile = f.inspectFile;
  if (f.inspectTicks === true) out.inspectTicks = true;
  if (f.insecure === true) out.insecure = true;
  if (f.walFollowerWrites !== undefined) out.walFollowerWritesInline = walFollowerWrites(f.walFollowerWrites);
  if (f.tlsCert !== undefined || f.tlsKey !== undefined || f.tlsCa !== undefined) {
    if (f.tlsCert === undefined || f.tlsKey === undefined || f.tlsCa === undefined) throw new ConfigError('--tls-cert, --tls-key and --tls-ca go together');
    out.tls = { certFile: f.tlsCert, keyFile: f.tlsKey, caFile: f.tlsCa };
  }
  if (f.clusterSecretFile !== undefined) out.clusterSecretFile = f.clusterSecretFile;
  // Only the files given: resolveHostConfig merges clientTls key by key over the environment and the file.
  const clientTls = clientTlsLayer({
    certFile: f.clientTlsCert,
    keyFile: f.clientTlsKey,
    peerCaFile: f.clientTlsCa,
    clientCaFile: f.clientCaFile,
    clientCrlFile: f.clientCrlFile,
  });
  if (clientTls !== undefined) out.clientTls = clientTls;
  if (f.tlsMinVersion !== undefined) out.tlsMinVersion = f.tlsMinVersion;
  if (f.auth === true) out.auth = true;
  if (f.bootstrapAdminPasswordFile !== undefined) out.bootstrapAdminPasswordFile = f.bootstrapAdminPasswordFile;
  if (f.bootstrapAdminUser !== undefined) out.bootstrapAdminUser = f.bootstrapAdminUser;
  if (f.metricsTokenFile !== undefined) out.metricsTokenFile = f.metricsTokenFile;
  return out;
}

function addNodeFlags(c: Command): Command {
  return (
    c
      .option('--config <file>', 'JSON config file (env SESSIONRAFT_CONFIG); flags and environment override it')
      .option('--id <id>', 'this node ID (SESSIONRAFT_ID)')
      .option('--cluster-id <id>', `cluster ID, equal on every node (SESSIONRAFT_CLUSTER_ID; default ${hostDefaults.clusterId})`)
      .option('--data-dir <dir>', 'data directory: raft/ (log, snapshots) and store/ (data files) (SESSIONRAFT_DATA_DIR)')
      .option('--nodes <spec>', 'every node: id=host:raftPort:clientPort:adminPort,... (SESSIONRAFT_NODES)')
      .option('--learners <ids>', 'nodes that do not vote, comma-separated (SESSIONRAFT_LEARNERS)')
      .option('--bootstrap', 'this node starts a new cluster: it may vote on empty storage (SESSIONRAFT_BOOTSTRAP; never on a node that lost its disk)')
      .option(
        '--join',
        "join a running cluster as a learner: --nodes lists the cluster's voters and this node; then `sessionraft member add` (SESSIONRAFT_JOIN)",
      )
      .option('--tick-ms <ms>', `logical clock tick (default ${hostDefaults.tickMs})`, int('--tick-ms'))
      .option(
        '--election-ticks <n>',
        `minimum election timeout in ticks, randomized in [n, 2n) (default ${hostDefaults.electionTimeoutTicksMin})`,
        int('--election-ticks'),
      )
      .option('--heartbeat-ticks <n>', `leader heartbeat interval in ticks (default ${hostDefaults.heartbeatIntervalTicks})`, int('--heartbeat-ticks'))
      .option('--snapshot-entries <n>', `snapshot after this many applied entries (default ${hostDefaults.snapshotEntries})`, int('--snapshot-entries'))
      .option(
        '--snapshot-log-percent <n>',
        `...and once the entries since the last snapshot weigh this % of it (0: entries alone; default ${hostDefaults.snapshotLogPercent})`,
        int('--snapshot-log-percent'),
      )
      .option(
        '--wal-follower-writes <how>',
        'while following, write log batches inline on the event loop (inline, the default) or through the thread pool (pool); the leader always uses the pool',
      )
      .option('--compact-margin <n>', `entries kept below a snapshot (default ${hostDefaults.compactMarginEntries})`, int('--compact-margin'))
      .option(
        '--log-window-bytes <n>',
        `also snapshot after this many bytes of applied entries; the in-memory log's bound (default ${hostDefaults.logWindowBytesMax})`,
        int('--log-window-bytes'),
      )
      .option(
        '--log-retain-bytes <n>',
        `WAL segments kept below the window for lagging followers (read back instead of a snapshot) (default ${hostDefaults.logRetainBytesMax})`,
        int('--log-retain-bytes'),
      )
      .option(
        '--log-preallocate-bytes <n>',
        `zeros kept written ahead of the WAL's end, so a durable write does not grow the file (0: off) (default ${hostDefaults.logPreallocateBytes})`,
        int('--log-preallocate-bytes'),
      )
      .option(
        '--restore-lead-ms <ms>',
        `restore stored sessions due within this many ms ahead, so their round is done when they fall due; consumers still get them at their due time (0: at the due time; at most 1000) (default ${hostDefaults.restoreLeadMs})`,
        int('--restore-lead-ms'),
      )
      .option(
        '--features-off',
        'a new cluster keeps its feature flags off until `sessionraft client feature enable` (for a new cluster that nodes of an older version will join); an existing cluster keeps what it turned on',
      )
      .option(
        '--snapshot-bytes <n>',
        `the largest snapshot accepted from a leader; must exceed storeLimits.activeBytesMax (default ${hostDefaults.snapshotBytesMax})`,
        int('--snapshot-bytes'),
      )
      .option('--replay-delays <list>', 'replay class delays, e.g. 1s,10s,1m,10m (default)')
      .option(
        '--shutdown-transfer-ms <ms>',
        `a stopping leader waits this long for the transfer (default ${hostDefaults.shutdownTransferMs})`,
        int('--shutdown-transfer-ms'),
      )
      .option('--log-level <level>', 'fatal, error, warn, info, debug, trace, silent (default info)')
      .addOption(new Option('--log-format <format>', 'json, pretty, or auto (pretty on a terminal)').choices(['json', 'pretty', 'auto']))
      .option(
        '--inspect [url]',
        'send XState inspection events to a Stately inspector relay (default ws://localhost:8080; start one with `sessionraft inspector`)',
      )
      .option('--inspect-file <path>', 'append XState inspection events to a file as JSON lines')
      .option('--inspect-ticks', 'include tick events in inspection (many)')
      .option(
        '--cluster-secret-file <file>',
        'the cluster secret (16-1024 raw bytes, mode 0600; `sessionraft cluster` writes <data>/cluster-secret): peers prove it to each other in every handshake (SESSIONRAFT_CLUSTER_SECRET_FILE)',
      )
      .option(
        '--insecure',
        'run without peer authentication (no --cluster-secret-file, no TLS), and allow non-loopback addresses without TLS between peers and without authentication on client/admin ports',
      )
      .option('--tls-cert <file>', 'this node certificate (PEM) for mutual TLS between peers')
      .option('--tls-key <file>', 'its key (PEM)')
      .option('--tls-ca <file>', 'the cluster CA (PEM)')
      .option(
        '--client-tls-cert <file>',
        'certificate (PEM) of the client (wss://) and admin (https://) ports, reloaded when the file changes (SESSIONRAFT_CLIENT_TLS_CERT)',
      )
      .option('--client-tls-key <file>', 'its key (PEM) (SESSIONRAFT_CLIENT_TLS_KEY)')
      .option(
        '--client-tls-ca <file>',
        "the CA (PEM) of the nodes' client and admin certificates: the console fetches the other nodes' status over HTTPS checked against it (SESSIONRAFT_CLIENT_TLS_CA)",
      )
      .option('--client-ca-file <file>', 'ask clients for a certificate from this CA (PEM); its CN names the user (SESSIONRAFT_CLIENT_CA_FILE)')
      .option(
        '--client-crl-file <file>',
        "the client CA's certificate revocation lists (PEM): a listed certificate is refused; reloaded on change, open connections are verified again (SESSIONRAFT_CLIENT_CRL_FILE)",
      )
      .option('--tls-min-version <v>', 'lowest TLS version of the client and admin ports: TLSv1.3 (default) or TLSv1.2 (SESSIONRAFT_TLS_MIN_VERSION)')
      .option(
        '--auth',
        'require a login on the client port, /status and the console even while no user exists (SESSIONRAFT_AUTH); without it a login is required once a user exists',
      )
      .option(
        '--bootstrap-admin-password-file <file>',
        'while no user holds the admin role, the leader creates the bootstrap user with the password in this file (SESSIONRAFT_BOOTSTRAP_ADMIN_PASSWORD_FILE)',
      )
      .option('--bootstrap-admin-user <name>', 'the bootstrap user (default admin) (SESSIONRAFT_BOOTSTRAP_ADMIN_USER)')
      .option(
        '--metrics-token-file <file>',
        '/metrics and /healthz then need Authorization: Bearer <token> (default: open); the token also opens /status (SESSIONRAFT_METRICS_TOKEN_FILE)',
      )
      // Test-only, hidden from --help: the fault harness (test/chaos, docs/chaos.md) plants bugs and skews clocks.
      .addOption(new Option('--plant <bugs>', 'planted bugs, comma-separated (ack-before-persist, stale-read, ...)').hideHelp())
      .addOption(new Option('--clock-offset-ms <ms>', 'shift the wall clock used for due times (may be negative)').hideHelp())
      .addOption(new Option('--fsync-delay-ms <ms>', 'report every fsync this much later (a slow disk)').hideHelp())
      .addOption(new Option('--raft-listen-port <port>', 'listen for peers here, not on the raft port --nodes advertises (a proxy listens there)').hideHelp())
  );
}

addNodeFlags(program.command('node').description('run one node (flags > SESSIONRAFT_* environment > --config file > defaults)')).action(
  async (f: NodeFlags) => {
    applyTierUpBudget();
    let config: HostConfig;
    try {
      const file = f.config ?? process.env.SESSIONRAFT_CONFIG;
      config = resolveHostConfig(file !== undefined ? configFromFile(file) : {}, configFromEnv(process.env), flagsToConfig(f));
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      process.exit(2);
    }
    let host: NodeHost | undefined;
    try {
      // A disk failure stops the node (fail-stop); the process then exits 1 for a supervisor to see.
      const bugs = f.plant?.split(',').filter((b) => b.length > 0) as PlantedBug[] | undefined;
      const clockOffsetMs = f.clockOffsetMs === undefined ? 0 : Number(f.clockOffsetMs);
      const fsyncDelayMs = f.fsyncDelayMs === undefined ? 0 : Number(f.fsyncDelayMs);
      if (!Number.isSafeInteger(clockOffsetMs)) throw new ConfigError('--clock-offset-ms must be an integer');
      if (!Number.isSafeInteger(fsyncDelayMs) || fsyncDelayMs < 0) throw new ConfigError('--fsync-delay-ms must be a non-negative integer');
      const raftListenPort = f.raftListenPort === undefined ? undefined : Number(f.raftListenPort);
      if (raftListenPort !== undefined && (!Number.isInteger(raftListenPort) || raftListenPort < 1 || raftListenPort > 65535))
        throw new ConfigError('--raft-listen-port must be a port');
      host = await NodeHost.start(config, {
        ...(bugs !== undefined || clockOffsetMs !== 0 || fsyncDelayMs !== 0 || raftListenPort !== undefined
          ? {
              testing: {
                ...(bugs !== undefined ? { bugs: new Set(bugs) } : {}),
                clockOffsetMs,
                fsyncDelayMs,
                ...(raftListenPort !== undefined ? { raftListenPort } : {}),
              },
            }
          : {}),
        onFatal: () => {
          if (host === undefined) process.exit(1);
          void host.stop({ transfer: false }).then(() => process.exit(1));
        },
      });
    } catch (err) {
      process.stderr.write(`sessionraft node ${config.id} failed to start: ${(err as Error).message}\n`);
      // A configuration found wrong only at start (a file it names) is the operator's, as above.
      process.exit(err instanceof ConfigError ? 2 : 1);
    }
    let signals = 0;
    const stop = (why: string, transfer: boolean): void => {
      if (++signals > 1) process.exit(1);
      host!.logger.info({ signal: why, transfer }, 'stopping');
      host!.stop({ transfer }).then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM', true));
    process.on('SIGINT', () => stop('SIGINT', true));
    // Started by `sessionraft cluster`: it may ask to stop without a transfer (the whole cluster is
    // stopping), and the node stops when the supervisor goes away.
    if (process.connected) {
      process.on('message', (m: { cmd?: string; transfer?: boolean }) => {
        if (m?.cmd === 'stop') stop('supervisor', m.transfer !== false);
        // The supervisor's table (bin/cluster.ts): the status over IPC, no admin-port login needed.
        if (m?.cmd === 'status') process.send?.({ cmd: 'status', status: JSON.parse(JSON.stringify(host!.status())) as unknown });
      });
      process.on('disconnect', () => stop('supervisor-exit', false));
    }
  },
);

// ---- cluster -------------------------------------------------------------------------------------

interface ClusterFlags {
  data: string;
  basePort: number;
  size: number;
  clusterId: string;
  once?: boolean;
  inspect?: boolean;
  leaderTimeoutMs: number;
  tickMs?: number;
  replayDelays?: string;
  logLevel?: string;
  /** --no-security: the local cluster without users, TLS on its client and admin ports (issue 17). */
  security?: boolean;
}

program
  .command('cluster')
  .description('start a local cluster of real node processes (data under ./data/<id>) and show a live status table; Ctrl-C stops it')
  .option('--data <dir>', 'data root', localCluster.dataRoot)
  .option('--base-port <n>', 'node k uses raft base+k, client base+100+k, admin base+200+k', int('--base-port'), localCluster.basePort)
  .option('--size <n>', 'number of nodes', int('--size'), localCluster.ids.length)
  .option('--cluster-id <id>', 'cluster ID', 'local')
  .option('--once', 'print the table once a leader is up, then stop the cluster (for scripts)')
  .option('--inspect', 'start a Stately inspector relay on :8080 and connect every node to it')
  .option('--leader-timeout-ms <ms>', 'give up when no leader appears in this time', int('--leader-timeout-ms'), 15_000)
  .option('--tick-ms <ms>', 'node tick', int('--tick-ms'))
  .option('--replay-delays <list>', 'replay class delays')
  .option('--log-level <level>', 'node log level (logs go to <data>/<id>/node.log)')
  .option(
    '--no-security',
    'no logins and plain ws/HTTP on the client and admin ports (default: <data>/admin-password, a CA and certificates in <data>/tls, --auth on every node)',
  )
  .action(async (f: ClusterFlags, cmd: Command) => {
    // Node k's ports are base+k, base+100+k and base+200+k. Until 2026-12-07 --size 0 and ports
    // past 65535 made the security files and spawned nodes that exited ("every node exited", exit 1).
    if (f.size < 1 || f.size > 99) cmd.error(`--size is 1 to 99 (node k uses base+k, base+100+k, base+200+k), got ${f.size}`);
    if (f.basePort < 1 || f.basePort + 200 + f.size > 65535)
      cmd.error(`--base-port is 1 to ${65535 - 200 - f.size} for ${f.size} nodes (the admin ports are base+201..), got ${f.basePort}`);
    const ids = Array.from({ length: f.size }, (_, k) => `n${k + 1}`);
    const nodes = localNodes(f.basePort, ids);
    const nodeArgs: string[] = [];
    if (f.tickMs !== undefined) nodeArgs.push('--tick-ms', String(f.tickMs));
    if (f.replayDelays !== undefined) nodeArgs.push('--replay-delays', f.replayDelays);
    if (f.logLevel !== undefined) nodeArgs.push('--log-level', f.logLevel);
    let relay: { stop(): void } | null = null;
    if (f.inspect === true) {
      if (await portFree(8080)) {
        const { createInspectorServer } = await import('@statelyai/inspect/server');
        relay = createInspectorServer({ port: 8080, autoOpen: false });
        process.stdout.write('Stately inspector relay on http://localhost:8080 (open it in a browser)\n');
      } else {
        process.stdout.write('port 8080 is taken: assuming a relay runs there (sessionraft inspector); nodes connect to ws://localhost:8080\n');
      }
      nodeArgs.push('--inspect', 'ws://localhost:8080');
    }
    // A node directory another process holds (a second `cluster` on this --data): say so before
    // anything here is written; each node would refuse it too (DATA_DIR_IN_USE, in its node.log).
    for (const id of ids) {
      const dir = join(f.data, id);
      if (!existsSync(dir)) continue;
      try {
        await (await lockDataDir(dir)).release();
      } catch (err) {
        process.stderr.write(
          `${(err as { code?: string }).code ?? 'DATA_DIR_ERR'}: ${(err as Error).message} (another \`sessionraft cluster\` on --data ${f.data}?)\n`,
        );
        process.exit(1);
      }
    }
    // A new cluster only when no node may have voted yet: a node whose directory alone was lost
    // starts without --bootstrap and may not vote until removed and added again (issue 9). A node
    // stopped before its first vote was durable (its hard state still says term 0) counts as new.
    const fresh = ids.every((id) => !mayHaveVoted(realFs, join(f.data, id, 'raft')));
    if (fresh) nodeArgs.push('--bootstrap');
    // Issue 17: security on for the local cluster (bin/cluster.ts ensureLocalSecurity).
    const security = f.security === false ? null : ensureLocalSecurity(f.data);
    if (security !== null) {
      nodeArgs.push('--auth', '--bootstrap-admin-password-file', security.adminPasswordFile);
      if (security.tls !== null)
        nodeArgs.push('--client-tls-cert', security.tls.certFile, '--client-tls-key', security.tls.keyFile, '--client-tls-ca', security.tls.caFile);
    }
    const cluster = new LocalCluster({
      binPath: selfPath,
      nodes,
      dataRoot: f.data,
      clusterId: f.clusterId,
      nodeArgs,
      leaderTimeoutMs: f.leaderTimeoutMs,
      out: process.stdout,
    });
    const t0 = Date.now();
    cluster.start();
    const endpoints = ids.map((id) => `${nodes[id]!.host}:${nodes[id]!.clientPort}`).join(',');
    process.stdout.write(
      `started ${ids.length} nodes (data under ${resolve(f.data)}; peers authenticate with the cluster secret ${cluster.secretFile()}); waiting for a leader...\n`,
    );
    let stopping = false;
    const shutdown = async (code: number): Promise<never> => {
      if (stopping) process.exit(code);
      stopping = true;
      process.stdout.write('\nstopping the cluster (leader first)...\n');
      await cluster.stop();
      relay?.stop();
      process.stdout.write('stopped\n');
      process.exit(code);
    };
    process.on('SIGINT', () => void shutdown(0));
    process.on('SIGTERM', () => void shutdown(0));
    let first;
    try {
      first = await cluster.waitForLeader();
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      return shutdown(1);
    }
    const scheme = security?.tls != null ? 'https' : 'http';
    const defaultPorts = f.basePort === localCluster.basePort;
    const header = (): string =>
      `sessionraft cluster "${f.clusterId}": leader elected in ${first.ms} ms after spawn (${Date.now() - t0} ms total)\n` +
      `client endpoints: ${endpoints}   admin: ${ids.map((id) => `${scheme}://127.0.0.1:${nodes[id]!.adminPort}/status`).join(' ')}\n` +
      (security === null
        ? 'security off (--no-security): no logins, plain ws/HTTP on loopback\n'
        : `logins on: user admin, password in ${security.adminPasswordFile}` +
          (security.tls !== null
            ? `; TLS with the CA ${security.tls.caFile} (browsers: trust it, or accept the warning; /status and the console ask for the login)\n`
            : '; no openssl on this machine, so the ports are plain ws/HTTP on loopback\n') +
          // The CLI's defaults are ./data and the default ports; until 2026-12-07 this said "finds both"
          // on other ports too, where the CLI then dialed 7101-7103.
          (resolve(f.data) === resolve(localCluster.dataRoot) && defaultPorts
            ? 'the CLI run from here finds both in ./data by default; elsewhere: '
            : 'give the CLI: ') +
          (defaultPorts ? '' : `SESSIONRAFT_ENDPOINTS=${endpoints} `) +
          `SESSIONRAFT_USER=admin SESSIONRAFT_PASSWORD=$(cat ${security.adminPasswordFile})` +
          (security.tls !== null ? ` SESSIONRAFT_CA_FILE=${security.tls.caFile}` : '') +
          '\n') +
      `try: npx sessionraft client${defaultPorts ? '' : ` --endpoints ${endpoints}`} create orders    (Ctrl-C stops the cluster)\n\n`;
    if (f.once === true) {
      process.stdout.write(header() + formatTable(await cluster.rows()) + '\n');
      return shutdown(0);
    }
    const tty = process.stdout.isTTY === true;
    let lastSummary = '';
    let lastPrint = 0;
    for (;;) {
      if (stopping) return;
      const rows = await cluster.rows();
      const table = formatTable(rows);
      if (tty) {
        process.stdout.write('\x1b[H\x1b[2J' + header() + table + `\n\n${new Date().toISOString()}  refreshing every 500 ms\n`);
      } else {
        // Not a terminal: print when roles or leaders change, and every 10 s.
        const summary = rows.map((r) => `${r.id}:${r.role}:${r.term}:${r.leader}`).join(' ');
        if (summary !== lastSummary || Date.now() - lastPrint > 10_000) {
          process.stdout.write((lastPrint === 0 ? header() : '') + table + '\n\n');
          lastSummary = summary;
          lastPrint = Date.now();
        }
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  });

// ---- inspector -----------------------------------------------------------------------------------

program
  .command('inspector')
  .description("run a relay that shows the nodes' live state charts in the Stately inspector (start nodes with --inspect)")
  .option('--port <n>', 'relay port, 1-65535 (nodes connect to ws://localhost:<port>)', port('--port'), 8080)
  .option('--no-open', 'do not open a browser')
  .action(async (f: { port: number; open: boolean }) => {
    if (!(await portFree(f.port))) {
      process.stderr.write(`port ${f.port} is in use: pick another with --port, and start nodes with --inspect ws://localhost:<port>\n`);
      process.exit(1);
    }
    const { createInspectorServer } = await import('@statelyai/inspect/server');
    const relay = createInspectorServer({ port: f.port, autoOpen: f.open });
    process.stdout.write(`Stately inspector relay: open http://localhost:${f.port} ; start nodes with --inspect ws://localhost:${f.port}\n`);
    const stop = (): void => {
      relay.stop();
      process.exit(0);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });

// ---- client --------------------------------------------------------------------------------------

interface ClientFlags {
  output?: string;
  endpoints?: string;
  clusterId?: string;
  timeoutMs: number;
  encoding: 'utf8' | 'base64' | 'hex';
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  servername?: string;
  /** Issue 17: log in as this user; the password from SESSIONRAFT_PASSWORD or --credentials-file, never a flag. */
  user?: string;
  credentialsFile?: string;
  /** Send the login over plain ws/HTTP beyond loopback (nodes run with --insecure on a trusted network). */
  insecure?: boolean;
}

/** An environment variable set to '' counts as unset (`SESSIONRAFT_CA_FILE=` is not a path). */
function envValue(name: string): string | undefined {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : v;
}

/**
 * A file named by a flag or variable (a CA, a certificate, a key, a password). One that cannot be
 * read is a bad argument (exit 2), as a missing --credentials-file is; until 2026-12-07 it was
 * CLIENT_ERR_INTERNAL with exit 1, read as a bug.
 */
function readArgumentFile(what: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ClientError(ClientErrorCode.badArgument, `${what}: cannot read ${JSON.stringify(path)}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** TLS options of the library from --ca-file etc. or SESSIONRAFT_CA_FILE etc.; undefined: none given. */
function clientTlsFromFlags(f: Pick<ClientFlags, 'caFile' | 'certFile' | 'keyFile' | 'servername'>): ClientTlsOptions | undefined {
  const ca = f.caFile ?? envValue('SESSIONRAFT_CA_FILE');
  const cert = f.certFile ?? envValue('SESSIONRAFT_CERT_FILE');
  const key = f.keyFile ?? envValue('SESSIONRAFT_KEY_FILE');
  const servername = f.servername ?? envValue('SESSIONRAFT_TLS_SERVERNAME');
  if (ca === undefined && cert === undefined && key === undefined && servername === undefined) return undefined;
  if ((cert === undefined) !== (key === undefined)) throw new ClientError(ClientErrorCode.badArgument, '--cert-file and --key-file go together');
  return {
    ...(ca !== undefined ? { ca: readArgumentFile('--ca-file (SESSIONRAFT_CA_FILE)', ca) } : {}),
    ...(cert !== undefined ? { cert: readArgumentFile('--cert-file (SESSIONRAFT_CERT_FILE)', cert) } : {}),
    ...(key !== undefined ? { key: readArgumentFile('--key-file (SESSIONRAFT_KEY_FILE)', key) } : {}),
    ...(servername !== undefined ? { servername } : {}),
  };
}

/**
 * Credentials and TLS defaults (issue 17): --credentials-file, else --user with SESSIONRAFT_PASSWORD,
 * else SESSIONRAFT_USER/SESSIONRAFT_PASSWORD or SESSIONRAFT_CREDENTIALS_FILE (the library reads those);
 * against the local cluster (no --endpoints, no SESSIONRAFT_ENDPOINTS) the bootstrap admin's password
 * in ./data/admin-password and the CA in ./data/tls/ca.crt, when `sessionraft cluster` made them.
 */
function clientAuthOptions(f: ClientFlags): { user?: string; password?: string; credentialsFile?: string; tls?: ClientTlsOptions; insecure?: boolean } {
  const env = process.env;
  const tls = clientTlsFromFlags(f);
  const local = f.endpoints === undefined && env.SESSIONRAFT_ENDPOINTS === undefined;
  const root = localCluster.dataRoot;
  const localCa = join(root, 'tls', 'ca.crt');
  const localTls = {
    ...(tls === undefined && local && existsSync(localCa) ? { tls: { ca: readFileSync(localCa) } } : tls !== undefined ? { tls } : {}),
    ...(f.insecure === true ? { insecure: true } : {}),
  };
  if (f.credentialsFile !== undefined) return { credentialsFile: f.credentialsFile, ...localTls };
  if (f.user !== undefined) return { user: f.user, password: env.SESSIONRAFT_PASSWORD ?? '', ...localTls };
  if ((env.SESSIONRAFT_USER ?? '') !== '' || (env.SESSIONRAFT_CREDENTIALS_FILE ?? '') !== '') return localTls;
  const localPassword = join(root, 'admin-password');
  if (local && existsSync(localPassword)) return { user: 'admin', password: firstLine(readFileSync(localPassword, 'utf8')), ...localTls };
  return localTls;
}

function addClientTlsFlags(c: Command): Command {
  return c
    .option('--user <name>', 'log in as this user; the password from SESSIONRAFT_PASSWORD (never a flag) (SESSIONRAFT_USER)')
    .option(
      '--credentials-file <file>',
      'a file with user=NAME and password=SECRET lines (SESSIONRAFT_CREDENTIALS_FILE); default against the local cluster: ./data/admin-password as admin',
    )
    .option('--ca-file <file>', "connect with TLS (wss://), trusting this CA (PEM) for the nodes' certificates (SESSIONRAFT_CA_FILE)")
    .option('--cert-file <file>', 'client certificate (PEM) for nodes that ask for one (SESSIONRAFT_CERT_FILE)')
    .option('--key-file <file>', 'its key (PEM) (SESSIONRAFT_KEY_FILE)')
    .option('--servername <name>', 'the name the node certificates carry, when not the endpoint host (SESSIONRAFT_TLS_SERVERNAME)')
    .option('--insecure', 'send the login over plain ws/HTTP to hosts beyond loopback (nodes run with --insecure on a trusted network); refused otherwise');
}

const client = program
  .command('client')
  .description(
    'run client operations against a cluster; prints JSON (errors: JSON on stderr, exit code 1, 2 for a bad argument); status, list, topics, feature, groups, pending and dead print a table on a terminal',
  )
  .addOption(outputOption())
  .option('--endpoints <list>', 'client endpoints host:port,... (SESSIONRAFT_ENDPOINTS; default the local cluster)')
  .option('--cluster-id <id>', 'refuse nodes of another cluster')
  .option('--timeout-ms <ms>', 'operation deadline across retries', int('--timeout-ms'), 10_000)
  .addOption(new Option('--encoding <enc>', 'how records are printed').choices(['utf8', 'base64', 'hex']).default('utf8'));
addClientTlsFlags(client);

function clientFlags(cmd: Command): ClientFlags {
  return cmd.optsWithGlobals() as ClientFlags;
}

/** --endpoints, else SESSIONRAFT_ENDPOINTS, else the local cluster's client ports. */
function endpointList(f: ClientFlags): string[] {
  const list =
    f.endpoints ??
    process.env.SESSIONRAFT_ENDPOINTS ??
    Object.values(localNodes())
      .map((a) => `${a.host}:${a.clientPort}`)
      .join(',');
  return list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function makeClient(f: ClientFlags): SessionraftClient {
  return createClient({
    ...clientAuthOptions(f),
    endpoints: endpointList(f),
    operationTimeoutMs: f.timeoutMs,
    ...(f.clusterId !== undefined ? { clusterId: f.clusterId } : {}),
  });
}

/**
 * How `client topics` reaches the admin port: as the client reaches the client port (the two speak
 * TLS together, from the same certificate): the same TLS settings (or wss:// endpoints), the same
 * login, found as the library finds it (options, then the environment).
 */
function adminReach(f: ClientFlags): AdminReach {
  const auth = clientAuthOptions(f);
  const tls = auth.tls ?? (endpointList(f).some((e) => /^wss:\/\//.test(e)) ? {} : null);
  return { tls, credentials: resolveCredentials(auth, process.env), insecure: auth.insecure === true };
}

function print(v: unknown): void {
  process.stdout.write(JSON.stringify(v) + '\n');
}

/** One JSON line on stdout, settled once written: `client consume` acknowledges a session only then. */
function printed(v: unknown): Promise<void> {
  return new Promise((res, rej) => process.stdout.write(JSON.stringify(v) + '\n', (err) => (err ? rej(err) : res())));
}

/**
 * What a client command does when the reader of its output went away (`client subscribe t | head
 * -1`): end quietly, exit 0, as `yes | head` does; subscribe and consume end through their own
 * `done` (consume has nacked the session it could not print, so it comes back). Until 2026-12-07 the
 * next line threw EPIPE with a stack trace (exit 1) and consume had acknowledged what it lost.
 */
let onPipeClosed: () => void = () => process.exit(0);

/** Client commands only: a node's stdout is its log, not a reader to follow. */
function watchStdout(): void {
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') return onPipeClosed();
    process.stderr.write(JSON.stringify({ error: 'CLIENT_ERR_INTERNAL', message: `stdout: ${err.message}` }) + '\n');
    process.exit(1);
  });
}

/** `-o, --output table|json`: a table on a terminal, JSON when piped (bin/output.ts). */
function outputOption(): Option {
  return new Option('-o, --output <format>', 'table or json (default: a table on a terminal, JSON when piped)').choices(['table', 'json']);
}

/**
 * `table`, when given, prints the result for people (a terminal, or --output table). `failed`, when
 * it returns an error for the printed result, ends the command with it (stderr, exit 1).
 */
async function withClient(
  cmd: Command,
  fn: (c: SessionraftClient, f: ClientFlags) => Promise<unknown>,
  table?: (v: never, color: boolean) => string,
  failed?: (v: never) => ClientError | undefined,
): Promise<void> {
  const f = clientFlags(cmd);
  watchStdout();
  let c: SessionraftClient;
  try {
    c = makeClient(f);
  } catch (err) {
    return fail(err);
  }
  try {
    const out = await fn(c, f);
    if (out !== undefined && out !== null && table !== undefined && outputFormat(f.output) === 'table') {
      process.stdout.write(table(out as never, useColor()) + '\n');
    } else if (out !== undefined) print(out);
    await c.close();
    const err = failed?.(out as never);
    if (err !== undefined) fail(err);
    process.exit(0);
  } catch (err) {
    await c.close();
    fail(err);
  }
}

function fail(err: unknown): never {
  if (err instanceof ClientError) {
    process.stderr.write(
      JSON.stringify({ error: err.code, message: err.message, ...(err.leader ? { leader: err.leader, leaderEndpoint: err.leaderEndpoint } : {}) }) + '\n',
    );
    process.exit(err.code === 'CLIENT_ERR_BAD_ARGUMENT' ? 2 : 1);
  }
  process.stderr.write(JSON.stringify({ error: 'CLIENT_ERR_INTERNAL', message: String(err) }) + '\n');
  process.exit(1);
}

client
  .command('create <topic>')
  .description('create a session on a topic; prints its ID')
  .action((topic: string, _o, cmd: Command) => withClient(cmd, (c) => c.createSession(topic)));
client
  .command('append <id> <text>')
  .description('append a record (UTF-8 text) to a session')
  .action((id: string, text: string, _o, cmd: Command) => withClient(cmd, (c) => c.append(id, text)));
client
  .command('rewrite <id> <text>')
  .description("replace a session's records with one record")
  .action((id: string, text: string, _o, cmd: Command) => withClient(cmd, (c) => c.rewrite(id, text)));
client
  .command('store <id>')
  .description('store a session for replay; it comes back (to subscribers of its topic) after the delay')
  .requiredOption('--replay <class|delay>', 'a replay class index or one of the cluster delays (1s, 10s, 1m, 10m by default)')
  .action((id: string, o: { replay: string }, cmd: Command) => withClient(cmd, (c) => c.store(id, { replay: o.replay })));
client
  .command('schedule <topic> <text>')
  .description('create a session on a topic with one record (UTF-8 text) and store it for replay, in one request; prints its ID')
  .requiredOption('--replay <class|delay>', 'a replay class index or one of the cluster delays (1s, 10s, 1m, 10m by default)')
  .action((topic: string, text: string, o: { replay: string }, cmd: Command) => withClient(cmd, (c) => c.schedule(topic, text, { replay: o.replay })));
client
  .command('destroy <id>')
  .description('delete a session')
  .action((id: string, _o, cmd: Command) => withClient(cmd, (c) => c.destroy(id)));
client
  .command('get <id>')
  .description('read a session (linearizable); prints null when no active session has this ID')
  .action((id: string, _o, cmd: Command) =>
    withClient(cmd, async (c, f) => {
      const s = await c.get(id);
      return s === null ? null : { id: s.id, topic: s.topic, records: s.records.map((r) => showRecord(r, f.encoding)), appliedIndex: s.appliedIndex };
    }),
  );
client
  .command('peek <id>')
  .description("read one node's applied copy of a session without a read barrier (may be stale)")
  .requiredOption('--endpoint <host:port>', 'the node to ask')
  .action((id: string, o: { endpoint: string }, cmd: Command) =>
    withClient(cmd, async (c, f) => {
      const s = await c.peek(id, { endpoint: o.endpoint });
      return s === null ? null : { id: s.id, topic: s.topic, records: s.records.map((r) => showRecord(r, f.encoding)), appliedIndex: s.appliedIndex };
    }),
  );
client
  .command('list [topic]')
  .description('list active sessions (linearizable)')
  .option('--limit <n>', 'at most this many (at least 1)', atLeastOne('--limit'))
  .action((topic: string | undefined, o: { limit?: number }, cmd: Command) =>
    withClient(cmd, (c) => c.list({ ...(topic !== undefined ? { topic } : {}), ...(o.limit !== undefined ? { limit: o.limit } : {}) }), sessionsTable),
  );
client
  .command('topics')
  .description("replay classes (scheduled sessions, next due times, in flight) and active sessions per topic, from the leader's admin port (read-only)")
  .action((_o, cmd: Command) => withClient(cmd, (c, f) => topicsListing(c, Math.min(f.timeoutMs, 5000), adminReach(f)), topicsTables));
client
  .command('subscribe <topic>')
  .description('print sessions restored on a topic as they come (one JSON line each) until Ctrl-C')
  .option('--count <n>', 'exit after this many deliveries', atLeastOne('--count'))
  .option('--endpoint <host:port>', 'subscribe on this node')
  .action((topic: string, o: { count?: number; endpoint?: string }, cmd: Command) =>
    withClient(cmd, async (c, f) => {
      let seen = 0;
      const run = untilEnded<ClientSubscription>();
      const { done, onError } = run;
      const sub = await c.subscribe(
        topic,
        (d: Delivery) => {
          print({
            topic: d.topic,
            session: d.session,
            records: d.records.map((r) => showRecord(r, f.encoding)),
            restoreId: d.restoreId,
            index: d.index,
            node: d.node,
          });
          if (o.count !== undefined && ++seen >= o.count) done();
        },
        { ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}), onError },
      );
      run.attached(sub);
      process.stderr.write(JSON.stringify({ subscribed: topic }) + '\n');
      process.on('SIGINT', done);
      onPipeClosed = done;
      await run.finished;
      return undefined;
    }),
  );
client
  .command('group-create <topic> <name>')
  .description('create a consumer group on a topic: every session restored on the topic after this goes to one consumer of the group, until acknowledged')
  .option('--ack-wait <ms>', 'redeliver after this long unacknowledged (default 30000)', atLeastOne('--ack-wait'))
  .option('--max-deliveries <n>', 'dead-letter after this many deliveries (default 5)', atLeastOne('--max-deliveries'))
  .option('--max-ack-pending <n>', 'unacknowledged deliveries per consumer (default 100)', atLeastOne('--max-ack-pending'))
  .action((topic: string, name: string, o: { ackWait?: number; maxDeliveries?: number; maxAckPending?: number }, cmd: Command) =>
    withClient(cmd, (c) =>
      c.createGroup(topic, name, {
        ...(o.ackWait !== undefined ? { ackWaitMs: o.ackWait } : {}),
        ...(o.maxDeliveries !== undefined ? { maxDeliveries: o.maxDeliveries } : {}),
        ...(o.maxAckPending !== undefined ? { maxAckPending: o.maxAckPending } : {}),
      }),
    ),
  );
client
  .command('group-delete <topic> <name>')
  .description('delete a consumer group (what only it held becomes committable)')
  .action((topic: string, name: string, _o: unknown, cmd: Command) =>
    withClient(cmd, async (c) => (await c.deleteGroup(topic, name), { deleted: name, topic })),
  );
client
  .command('groups')
  .description("consumer groups with ready / in flight / redelivered / dead-lettered counts (the leader's applied table)")
  .action((_o: unknown, cmd: Command) =>
    withClient(
      cmd,
      async (c) =>
        (await c.groups()).map((g) => ({
          topic: g.topic,
          name: g.name,
          ready: g.ready,
          inFlight: g.inFlight,
          redelivered: g.redelivered,
          deadLettered: g.deadLettered,
          ackWaitMs: g.ackWaitMs,
          maxDeliveries: g.maxDeliveries,
          maxAckPending: g.maxAckPending,
          id: g.id,
        })),
      recordsTable,
    ),
  );
client
  .command('pending [topic] [group]')
  .description(
    "each consumer group's pending work (of a topic, of one group): ready (now / waiting for a nack delay), in flight (expired), redelivered, dead-lettered, the oldest pending session's age, and the topic's scheduled sessions per replay class with the class's next due time",
  )
  .action((topic: string | undefined, group: string | undefined, _o: unknown, cmd: Command) =>
    withClient(
      cmd,
      async (c) =>
        (await c.pending(topic, group)).map((g) => ({
          topic: g.topic,
          name: g.name,
          ready: g.ready,
          readyNow: g.readyNow,
          waiting: g.waiting,
          inFlight: g.inFlight,
          expired: g.expired,
          redelivered: g.redelivered,
          deadLettered: g.deadLettered,
          oldestPendingAgeMs: g.oldestPendingAgeMs,
          oldestPendingDue: g.oldestPendingDueMs === null ? null : new Date(g.oldestPendingDueMs).toISOString(),
          scheduled: g.scheduled
            .map((x) => `class ${x.replayClass}: ${x.sessions}${x.nextDueMs === null ? '' : ` (next due ${new Date(x.nextDueMs).toISOString()})`}`)
            .join('; '),
        })),
      recordsTable,
    ),
  );
const dead = client
  .command('dead')
  .argument('<topic>')
  .argument('<group>')
  .description(
    "a consumer group's most recent dead letters (at most 100, newest last): restore ID, session, deliveries, the GroupDeadLetter entry's index, whether it can be replayed; `dead replay|delete` act on them",
  )
  .action((topic: string, group: string, _o: unknown, cmd: Command) => withClient(cmd, (c) => c.deadLetters(topic, group), recordsTable));
for (const action of ['replay', 'delete'] as const) {
  dead
    .command(`${action} <topic> [restoreId]`)
    .description(
      action === 'replay'
        ? 'deliver dead letters of a group again (delivery count from 1) to its consumers: one by restore ID, or --all'
        : "delete dead letters of a group (it settled them: the session's data-file bytes are consumed once every group did): one by restore ID, or --all",
    )
    .requiredOption('--group <name>', 'the consumer group')
    .option('--all', 'every dead letter of the group (listed 100 at a time, each acted on once)')
    .addOption(outputOption())
    .action((topic: string, restoreId: string | undefined, o: { group: string; all?: boolean }, cmd: Command) =>
      withClient(
        cmd,
        async (c) => {
          if ((restoreId === undefined) === (o.all !== true)) throw new ClientError(ClientErrorCode.badArgument, 'give a restore ID or --all, not both');
          const act = (id: string) => (action === 'replay' ? c.replayDeadLetter(topic, o.group, id) : c.deleteDeadLetter(topic, o.group, id));
          if (restoreId !== undefined) {
            const r = await act(restoreId);
            return [{ restoreId, action, code: 'OK', index: r.index }];
          }
          // --all: the listing shows the newest 100; act on each once (a replayed one dead-lettered again is left for the next run).
          const rows: { restoreId: string; action: string; code: string; index: number | null }[] = [];
          const done = new Set<string>();
          for (;;) {
            const todo = (await c.deadLetters(topic, o.group)).filter((d) => !done.has(d.restoreId));
            if (todo.length === 0) return rows;
            for (const d of todo) {
              done.add(d.restoreId);
              try {
                rows.push({ restoreId: d.restoreId, action, code: 'OK', index: (await act(d.restoreId)).index });
              } catch (err) {
                if (!(err instanceof ClientError)) throw err;
                rows.push({ restoreId: d.restoreId, action, code: err.code, index: null });
              }
            }
          }
        },
        (rows: { restoreId: string; action: string; code: string; index: number | null }[], color) =>
          renderTable(
            ['RESTORE ID', 'ACTION', 'RESULT', 'INDEX'],
            rows.map((r) => [r.restoreId, r.action, r.code, r.index ?? '-']),
            color,
          ),
      ),
    );
}
/** `feature` and `feature list`: one row per flag the leader knows. */
async function featureRows(c: SessionraftClient): Promise<{ feature: string; enabled: boolean }[]> {
  const f = await c.features();
  return f.supported.map((name) => ({ feature: name, enabled: f.enabled.includes(name) }));
}
const feature = client
  .command('feature')
  .description(
    'feature flags: each one the leader knows, and whether it is on in the cluster (a new cluster turns all on; an upgraded one waits for `feature enable`)',
  )
  .action((_o: unknown, cmd: Command) => withClient(cmd, featureRows, recordsTable));
feature
  .command('list')
  .description('the same as `feature`: each flag the leader knows, and whether it is on')
  .addOption(outputOption())
  .action((_o: unknown, cmd: Command) => withClient(cmd, featureRows, recordsTable));
feature
  .command('enable <name>')
  .description(
    'turn a feature flag on for the whole cluster (restore-ahead, remove-on-ack, due-floor-per-file, clients-per-user, last-admin, replay-continues, remove-own-restore, first-user-admin, or all) once every node runs this version; it is never turned off',
  )
  .addOption(outputOption())
  .action((name: string, _o: unknown, cmd: Command) =>
    withClient(cmd, async (c) => {
      const r = await c.enableFeature(name);
      return { enabled: (await c.features()).enabled, index: r.index };
    }),
  );
client
  .command('consume <topic>')
  .description('consume a topic as a member of a consumer group: print each session (one JSON line) and acknowledge it, until Ctrl-C')
  .requiredOption('--group <name>', 'the consumer group')
  .option('--consumer <name>', "this consumer's name (the same across restarts gets its unacknowledged sessions back at once)")
  .option('--count <n>', 'exit after this many deliveries', atLeastOne('--count'))
  .option('--remove-on-ack', "each ack also removes the restored session (in the same entry; needs write on the topic), as BullMQ's removeOnComplete")
  .action((topic: string, o: { group: string; consumer?: string; count?: number; removeOnAck?: boolean }, cmd: Command) =>
    withClient(cmd, async (c, f) => {
      let seen = 0;
      const run = untilEnded<ClientConsumer>();
      const { done, onError } = run;
      const consumer = await c.consume(
        topic,
        o.group,
        async (m) => {
          // Rejected when the reader went away: the handler fails, so the session is nacked, not acknowledged.
          await printed({
            topic: m.topic,
            group: m.group,
            session: m.session,
            records: m.records.map((r) => showRecord(r, f.encoding)),
            restoreId: m.restoreId,
            delivery: m.delivery,
          });
          if (o.count !== undefined && ++seen >= o.count) setImmediate(done);
        },
        {
          ...(o.consumer !== undefined ? { consumer: o.consumer } : {}),
          ...(o.removeOnAck === true ? { removeOnAck: true } : {}),
          onError,
        },
      );
      run.attached(consumer);
      process.stderr.write(JSON.stringify({ consuming: topic, group: o.group, consumer: consumer.consumer }) + '\n');
      process.on('SIGINT', done);
      onPipeClosed = done;
      await run.finished;
      // The last ack was sent before this unsubscribe, on the same connection: the node reads it first.
      await consumer.close();
      return undefined;
    }),
  );
client
  .command('status')
  .description("every endpoint's status: its view of every node's role and progress")
  .option('--endpoint <host:port>', 'only this node')
  .option('--digest', 'include the store digest')
  .action((o: { endpoint?: string; digest?: boolean }, cmd: Command) =>
    withClient(
      cmd,
      async (c, f) => {
        if (o.endpoint !== undefined) {
          const one = await c.status({ endpoint: o.endpoint, digest: o.digest === true });
          return outputFormat(f.output) === 'table' ? { [o.endpoint]: one } : one;
        }
        const list = (
          f.endpoints ??
          process.env.SESSIONRAFT_ENDPOINTS ??
          Object.values(localNodes())
            .map((a) => `${a.host}:${a.clientPort}`)
            .join(',')
        )
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s.length > 0);
        const out: Record<string, unknown> = {};
        await Promise.all(
          list.map(async (ep) => {
            const one = createClient({ ...clientAuthOptions(f), endpoints: [ep], operationTimeoutMs: Math.min(f.timeoutMs, 3000) });
            try {
              out[ep] = await one.status({ endpoint: ep, digest: o.digest === true });
            } catch (err) {
              out[ep] = { error: err instanceof ClientError ? err.code : 'CLIENT_ERR_INTERNAL', message: (err as Error).message };
            } finally {
              await one.close();
            }
          }),
        );
        return out;
      },
      statusTable,
      noneAnswered,
    ),
  );

/**
 * `client status` of several endpoints fails (exit 1) when none answered; the rows still print. One
 * that answered is a status to read (the others' rows show their errors), so that exits 0. Until
 * 2026-12-07 it exited 0 with every endpoint down, and `client status && …` went on.
 */
function noneAnswered(byEndpoint: Record<string, { error?: string } | null>): ClientError | undefined {
  const rows = Object.entries(byEndpoint);
  // --endpoint prints one status (not keyed by endpoint) in JSON: its fields are no rows of errors.
  if (rows.length === 0 || rows.some(([, r]) => typeof r !== 'object' || r === null || r.error === undefined)) return undefined;
  const codes = new Set(rows.map(([, r]) => r!.error!));
  return new ClientError(
    codes.size === 1 ? [...codes][0]! : ClientErrorCode.unreachable,
    `no endpoint answered: ${rows.map(([ep, r]) => `${ep} ${r!.error!}`).join(', ')}`,
  );
}

// ---- member --------------------------------------------------------------------------------------

const member = program
  .command('member')
  .description(
    'cluster membership (on the leader; followers redirect): list, add a learner, promote it, remove or replace a node; prints JSON (list: a table on a terminal)',
  )
  .option('--endpoints <list>', 'client endpoints host:port,... (SESSIONRAFT_ENDPOINTS; default the local cluster)')
  .option('--cluster-id <id>', 'refuse nodes of another cluster')
  .option('--timeout-ms <ms>', 'deadline of each request across retries', int('--timeout-ms'), 10_000)
  .addOption(outputOption());
addClientTlsFlags(member);

interface CatchUpFlags {
  lagMax?: number;
  catchUpTimeoutMs: number;
}

function catchUpOptions(o: CatchUpFlags): { lagEntriesMax?: number; timeoutMs: number } {
  return { ...(o.lagMax !== undefined ? { lagEntriesMax: o.lagMax } : {}), timeoutMs: o.catchUpTimeoutMs };
}

/** A progress line for a node catching up (and the member it replaces), from the leader's member list. */
async function catchUpProgress(c: SessionraftClient, id: string, replaced?: string): Promise<string> {
  const v = await c.members();
  const m = v.members[id];
  const old = replaced === undefined ? '' : v.members[replaced] === undefined ? `; ${replaced} removed` : `; ${replaced} still a member`;
  if (m === undefined) return `adding ${id} as a learner${old}`;
  if (m.voter) return `${id} is a voter${old}`;
  return `${id} catching up as a learner: match ${m.match ?? '?'} of ${v.lastIndex}, lag ${m.lag ?? '?'} entries${old}`;
}

member
  .command('list')
  .description("the configuration in force: voters, learners, each member's address and (leader's view) match and lag")
  .action((_o, cmd: Command) => withClient(cmd, (c) => c.members(), membersTable));
member
  .command('add <id> <address>')
  .description('add a node as a learner (it receives the log, does not vote); address is host:raftPort:clientPort:adminPort')
  .option('--promote-when-caught-up', 'then wait until it caught up (polling the leader) and promote it')
  .option('--lag-max <n>', 'caught up: at most this many entries behind the leader (default 1000)', int('--lag-max'))
  .option('--catch-up-timeout-ms <ms>', 'give up waiting for the catch-up after this long', int('--catch-up-timeout-ms'), 60_000)
  .action((id: string, address: string, o: CatchUpFlags & { promoteWhenCaughtUp?: boolean }, cmd: Command) =>
    withClient(cmd, (c) =>
      o.promoteWhenCaughtUp === true
        ? withProgress(c.addLearner(id, address, { promoteWhenCaughtUp: catchUpOptions(o) }), () => catchUpProgress(c, id))
        : c.addLearner(id, address, {}),
    ),
  );
member
  .command('promote <id>')
  .description('make a learner a voter (refused with MEMBERSHIP_LEARNER_BEHIND while it lags)')
  .option('--when-caught-up', 'wait until it caught up (polling the leader), then promote')
  .option('--lag-max <n>', 'caught up: at most this many entries behind the leader (default 1000)', int('--lag-max'))
  .option('--catch-up-timeout-ms <ms>', 'give up waiting for the catch-up after this long', int('--catch-up-timeout-ms'), 60_000)
  .action((id: string, o: CatchUpFlags & { whenCaughtUp?: boolean }, cmd: Command) =>
    withClient(cmd, (c) => (o.whenCaughtUp === true ? c.promoteWhenCaughtUp(id, catchUpOptions(o)) : c.promote(id))),
  );
member
  .command('replace <old> <new> <address>')
  .description(
    'replace member <old> (dead or alive) by node <new> at <address>: add it as a learner, promote it once caught up (if <old> votes), remove <old>; run it again to finish after a failure',
  )
  .option('--lag-max <n>', 'caught up: at most this many entries behind the leader (default 1000)', int('--lag-max'))
  .option('--catch-up-timeout-ms <ms>', 'give up waiting for the catch-up after this long', int('--catch-up-timeout-ms'), 60_000)
  .action((oldId: string, newId: string, address: string, o: CatchUpFlags, cmd: Command) =>
    withClient(cmd, (c) => withProgress(c.replaceMember(oldId, newId, address, catchUpOptions(o)), () => catchUpProgress(c, newId, oldId))),
  );
member
  .command('remove <id>')
  .description('remove a voter or a learner (removing the leader hands leadership over first); the node stops being dialed')
  .action((id: string, _o, cmd: Command) => withClient(cmd, (c) => c.removeMember(id)));

// ---- users and roles (issue 17) ------------------------------------------------------------------

/**
 * A new password: from --password-file (its first line), else from standard input (one line; on a
 * terminal, asked for without echo). Never from a command-line argument (the process list shows those).
 */
async function newPassword(o: { passwordFile?: string }): Promise<string> {
  const pw = await readNewPassword(o);
  // Until 2026-12-07 an empty standard input (</dev/null) or an empty first line made a user
  // without a password and exited 0; --no-password is the one way to ask for that.
  if (pw === '') {
    throw new ClientError(
      ClientErrorCode.badArgument,
      `the new password is empty (${o.passwordFile !== undefined ? `the first line of ${o.passwordFile}` : 'standard input'}); a user without a password: user add --no-password`,
    );
  }
  // A credentials file drops a value's trailing spaces and tabs (credentials.ts), so a password set
  // with them could never log in from one. Until 2026-12-07 it was set as given.
  if (/[ \t]$/.test(pw)) {
    throw new ClientError(
      ClientErrorCode.badArgument,
      `the new password ends with a space or a tab (${o.passwordFile !== undefined ? `the first line of ${o.passwordFile}` : 'standard input'}), which a credentials file cannot hold: remove it`,
    );
  }
  return pw;
}

async function readNewPassword(o: { passwordFile?: string }): Promise<string> {
  if (o.passwordFile !== undefined) return firstLine(readArgumentFile('--password-file', o.passwordFile).toString('utf8'));
  const stdin = process.stdin;
  if (stdin.isTTY !== true) {
    let text = '';
    for await (const chunk of stdin) {
      text += (chunk as Buffer).toString('utf8');
      if (text.includes('\n') || text.length > 4096) break;
    }
    return text.split(/\r?\n/)[0]!;
  }
  process.stderr.write('new password: ');
  stdin.setRawMode(true);
  let pw = '';
  try {
    for await (const chunk of stdin) {
      for (const ch of (chunk as Buffer).toString('utf8')) {
        if (ch === '\r' || ch === '\n') return pw;
        if (ch === '\u0003') throw new ClientError(ClientErrorCode.badArgument, 'cancelled');
        if (ch === '\u007f') pw = pw.slice(0, -1);
        else pw += ch;
      }
    }
    return pw;
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}

function adminGroup(name: string, description: string): Command {
  const g = program
    .command(name)
    .description(description)
    .option('--endpoints <list>', 'client endpoints host:port,... (SESSIONRAFT_ENDPOINTS; default the local cluster)')
    .option('--cluster-id <id>', 'refuse nodes of another cluster')
    .option('--timeout-ms <ms>', 'deadline of each request across retries', int('--timeout-ms'), 10_000)
    .addOption(outputOption());
  addClientTlsFlags(g);
  return g;
}

const userCmd = adminGroup(
  'user',
  'users (on the leader; the admin permission, or your own password): list, add, delete, passwd, grant and revoke roles; prints JSON (list: a table on a terminal)',
);
userCmd
  .command('list')
  .description('every user, whether it has a password, and its roles')
  .action((_o, cmd: Command) => withClient(cmd, (c) => c.users(), recordsTable));
userCmd
  .command('add <user>')
  .description('add a user; its password from --password-file or standard input (never an argument); --no-password: client certificate only')
  .option('--password-file <file>', 'read the password from the first line of this file')
  .option('--no-password', 'no password: the user logs in with a client certificate whose CN is its name')
  .option('--role <role>', 'then grant it this role')
  .action((user: string, o: { passwordFile?: string; password?: boolean; role?: string }, cmd: Command) =>
    withClient(cmd, async (c) => {
      const out = await c.addUser(user, o.password === false ? '' : await newPassword(o));
      return o.role === undefined ? out : { added: out, granted: await c.grantRole(user, o.role) };
    }),
  );
userCmd
  .command('delete <user>')
  .description('delete a user: its open connections fail their next request (CLIENT_ERR_AUTH_FAILED)')
  .action((user: string, _o, cmd: Command) => withClient(cmd, (c) => c.deleteUser(user)));
userCmd
  .command('passwd <user>')
  .description("set a user's password (from --password-file or standard input); logins made with the old one end")
  .option('--password-file <file>', 'read the password from the first line of this file')
  .action((user: string, o: { passwordFile?: string }, cmd: Command) => withClient(cmd, async (c) => c.setPassword(user, await newPassword(o))));
userCmd
  .command('grant <user> <role>')
  .description('give a user a role (admin is built in: every permission)')
  .action((user: string, role: string, _o, cmd: Command) => withClient(cmd, (c) => c.grantRole(user, role)));
userCmd
  .command('revoke <user> <role>')
  .description('take a role from a user (in force on every node once applied, without a restart)')
  .action((user: string, role: string, _o, cmd: Command) => withClient(cmd, (c) => c.revokeRole(user, role)));

const roleCmd = adminGroup(
  'role',
  'roles and their permissions per topic prefix (admin permission): list, add, delete, grant, revoke; a permission is write:PREFIX, read:PREFIX, store:PREFIX, consume:PREFIX[:GROUP], monitor or admin (PREFIX * = every topic)',
);
roleCmd
  .command('list')
  .description('every role and its permissions')
  .action((_o, cmd: Command) => withClient(cmd, (c) => c.roles(), recordsTable));
roleCmd
  .command('add <role>')
  .description('add a role without permissions')
  .action((role: string, _o, cmd: Command) => withClient(cmd, (c) => c.addRole(role)));
roleCmd
  .command('delete <role>')
  .description('delete a role (every user loses it)')
  .action((role: string, _o, cmd: Command) => withClient(cmd, (c) => c.deleteRole(role)));
roleCmd
  .command('grant <role> <permission>')
  .description('give a role a permission, e.g. write:orders/ or consume:orders/:billing')
  .action((role: string, permission: string, _o, cmd: Command) => withClient(cmd, (c) => c.grantPermission(role, permission)));
roleCmd
  .command('revoke <role> <permission>')
  .description('take a permission from a role')
  .action((role: string, permission: string, _o, cmd: Command) => withClient(cmd, (c) => c.revokePermission(role, permission)));

program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) process.exit(usageExit(err));
  // A bad --limit or --count (atLeastOne) is thrown while commander parses: the client's JSON error, exit 2.
  if (err instanceof ClientError) fail(err);
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
