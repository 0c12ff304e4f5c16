/**
 * A node process's configuration: defaults, validation, and the three ways to give it (a JSON
 * file, SESSIONRAFT_* environment variables, command-line flags; later ones win).
 *
 * Every node lists every node (itself included) with its three ports: raft (peers), client
 * (clients; redirects name the leader's) and admin (HTTP /metrics, /status, /healthz).
 */
import { constants as bufferConstants } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { LevelWithSilent } from 'pino';
import { defaultStoreLimits, type StoreLimits } from '../sessions/options.js';
import { defaultClientProtocolLimits, validateClientProtocolLimits, type ClientProtocolLimits } from '../../transport/client/protocol.js';
import { isLoopbackHost } from '../../transport/wire/address.js';
import { isNodeId } from '../../transport/peer/codec.js';
import { isAuthName } from '../../transport/commands/access.js';
import type { TlsMinVersion } from '../../transport/wire/tlsFiles.js';

export interface NodeAddress {
  readonly host: string;
  readonly raftPort: number;
  readonly clientPort: number;
  readonly adminPort: number;
}

export interface HostConfig {
  readonly id: string;
  /** Every node must have the same cluster ID (peers and clients check it). */
  readonly clusterId: string;
  /** The raft log goes under <dataDir>/raft, the session data files under <dataDir>/store. */
  readonly dataDir: string;
  /** Every node of the cluster, this one included. */
  readonly nodes: Readonly<Record<string, NodeAddress>>;
  /** Nodes that receive the log but do not vote (must be in `nodes`). */
  readonly learners: readonly string[];
  /**
   * This node starts a brand-new cluster: on empty storage it may vote at once. Without it, a node
   * on empty storage may have lost a vote it cast under its ID, so it does not vote until the
   * configuration holds it as a learner again (removed, added back, promoted). `sessionraft cluster`
   * sets it when no node of the cluster has Raft state yet.
   */
  readonly bootstrap: boolean;
  /**
   * This node joins a running cluster: `nodes` lists the cluster's voters and this node, which
   * starts as a learner of that configuration (an operator adds it with `sessionraft member add`).
   */
  readonly join: boolean;
  readonly tickMs: number;
  readonly electionTimeoutTicksMin: number;
  readonly heartbeatIntervalTicks: number;
  readonly snapshotEntries: number;
  /**
   * Issue 20: the entries applied since the last snapshot must also weigh this percentage of its
   * bytes before snapshotEntries takes the next one (0: entries alone decide). logWindowBytesMax
   * still bounds the log in memory whatever this says.
   */
  readonly snapshotLogPercent: number;
  readonly compactMarginEntries: number;
  /**
   * Issue 18: a snapshot is also taken once this many bytes of entries were applied since the last
   * one, and at most a quarter of it is kept below a snapshot: the in-memory log (and the WAL after
   * compaction) hold about this much plus the unapplied tail, whatever the entries' size.
   */
  readonly logWindowBytesMax: number;
  /**
   * Issue 18: the WAL keeps segments below the in-memory window (already covered by a snapshot)
   * while all segments together are at most this many bytes, so a leader reads entries back for a
   * follower behind the window instead of sending it a snapshot.
   */
  readonly logRetainBytesMax: number;
  /**
   * The WAL's active segment is kept zero-filled this far ahead of its end (storage/options.ts,
   * `preallocateBytes`): a durable write then overwrites existing bytes and skips the inode write
   * a growing file needs. 0 turns it off. Default 8 MiB.
   */
  readonly logPreallocateBytes: number;
  /**
   * Issue 20: while following, the WAL writes its batches on the event loop (one O_DSYNC pwrite)
   * instead of the thread pool: two fewer thread hand-offs per batch. The leader always uses the
   * pool. Default true; false (`--wal-follower-writes pool`, SESSIONRAFT_WAL_FOLLOWER_WRITES=pool)
   * keeps the pool on every node.
   */
  readonly walFollowerWritesInline: boolean;
  /**
   * Issue 20: stored sessions due within this many milliseconds are restored, and their first
   * deliveries proposed, ahead of their due time, so that the replicated round is done by then;
   * consumers and subscribers still get each one at its due time (docs/sessions.md, "Restore
   * ahead"). 0 restores at the due time. Default 20, at most 1,000 (`--restore-lead-ms`,
   * SESSIONRAFT_RESTORE_LEAD_MS).
   */
  readonly restoreLeadMs: number;
  /**
   * Feature flags (docs/sessions.md, "Feature flags"): the first leader of a new cluster turns on
   * every flag this version knows (default true). false keeps them off until `sessionraft client
   * feature enable`, as in a cluster upgraded from an older version: for a new cluster that nodes
   * of an older version will join (`--features-off`, SESSIONRAFT_FEATURES_OFF=1).
   */
  readonly featuresOnNewCluster: boolean;
  /**
   * Issue 18: the largest snapshot this node accepts from a leader (the receive buffer grows as
   * chunks arrive, up to this). Snapshots carry the active sessions, so it must exceed the store's
   * activeBytesMax.
   */
  readonly snapshotBytesMax: number;
  /** The replay classes' delays, class 0 first. Equal on every node. */
  readonly replayDelaysMs: readonly number[];
  /** A leader asked to stop hands over leadership first, waiting at most this long. */
  readonly shutdownTransferMs: number;
  readonly logLevel: LevelWithSilent;
  /** undefined: pretty on a terminal, JSON otherwise. */
  readonly logPretty?: boolean;
  /** WebSocket URL of a Stately inspector relay. */
  readonly inspect?: string;
  /** Append XState inspection events to this file (JSON lines). */
  readonly inspectFile?: string;
  readonly inspectTicks?: boolean;
  /**
   * Allow non-loopback addresses without TLS (peer port) or authentication (client, admin ports),
   * and a node without peer authentication (neither `tls` nor `clusterSecretFile`).
   */
  readonly insecure: boolean;
  /** Mutual TLS between peers: PEM file paths. */
  readonly tls?: { readonly certFile: string; readonly keyFile: string; readonly caFile: string };
  /**
   * TLS on the client (wss://) and admin (https://) ports: the server certificate and key (PEM
   * files, reloaded when they change, polled every `reloadPollMs`, default 2,000), and optionally
   * the CA of client certificates (asked for; a presented one must chain to it; its CN names the user).
   */
  readonly clientTls?: ClientTlsFiles;
  /** The lowest TLS version the client and admin ports accept. Default TLSv1.3. */
  readonly tlsMinVersion: TlsMinVersion;
  /**
   * The cluster secret's file (clusterSecret.ts): every peer's hello must prove the secret, and
   * only a peer that proved it may be admitted from its hello. A node needs it, or `tls`, or
   * `insecure`. `sessionraft cluster` generates `<data>/cluster-secret`.
   */
  readonly clusterSecretFile?: string;
  /**
   * Issue 17: require a login on the client port and for /status and the console even while no user
   * exists (then only `bootstrapAdminPasswordFile` can create the first one). Without it a login is
   * required once any user exists; a cluster with no users on loopback is open (tests, a bare local
   * cluster). A non-loopback node needs it (and TLS) unless `insecure`.
   */
  readonly auth: boolean;
  /**
   * The first administrator: while no user holds the admin role, the leader creates the user
   * `bootstrapAdminUser` (default `admin`) with the password in this file and the admin role.
   * `sessionraft cluster` writes `<data>/admin-password`.
   */
  readonly bootstrapAdminPasswordFile?: string;
  readonly bootstrapAdminUser: string;
  /** /metrics and /healthz need `Authorization: Bearer <token>` with the token in this file (default: open). */
  readonly metricsTokenFile?: string;
  readonly storeLimits?: Partial<StoreLimits>;
  readonly clientLimits?: Partial<ClientProtocolLimits>;
}

interface ClientTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  readonly clientCaFile?: string;
  /** Certificate revocation lists (PEM) for the client CA: a listed client certificate is refused. */
  readonly clientCrlFile?: string;
  /**
   * The CA (PEM) that signed the nodes' client and admin certificates: the console fetches the
   * other nodes' status from their admin ports over HTTPS checked against it. Without it, a
   * console on TLS lists its peers as not fetched.
   */
  readonly peerCaFile?: string;
  readonly reloadPollMs?: number;
}

/** A session's fixed part in a snapshot besides its topic: ID, lengths, counts (actors/sessions/manifest.ts), rounded up. */
const SNAPSHOT_SESSION_BYTES = 48;

export const hostDefaults = {
  tlsMinVersion: 'TLSv1.3' as TlsMinVersion,
  clusterId: 'sessionraft',
  tickMs: 20,
  electionTimeoutTicksMin: 10,
  heartbeatIntervalTicks: 2,
  snapshotEntries: 10_000,
  snapshotLogPercent: 50,
  compactMarginEntries: 1_000,
  logWindowBytesMax: 32 * 1024 * 1024,
  logRetainBytesMax: 256 * 1024 * 1024,
  logPreallocateBytes: 8 * 1024 * 1024,
  walFollowerWritesInline: true,
  restoreLeadMs: 20,
  featuresOnNewCluster: true,
  snapshotBytesMax: 1024 * 1024 * 1024,
  replayDelaysMs: [1_000, 10_000, 60_000, 600_000] as readonly number[],
  shutdownTransferMs: 2_000,
  logLevel: 'info' as LevelWithSilent,
  insecure: false,
  bootstrap: false,
  join: false,
  auth: false,
  bootstrapAdminUser: 'admin',
};

/** The embedded local cluster (`sessionraft cluster`, `npm start`). */
export const localCluster = {
  ids: ['n1', 'n2', 'n3'],
  host: '127.0.0.1',
  /** Node k (1-based) uses raft 7000+k, client 7100+k, admin 7200+k. */
  basePort: 7000,
  dataRoot: 'data',
};

export function localNodes(basePort = localCluster.basePort, ids = localCluster.ids, host = localCluster.host): Record<string, NodeAddress> {
  const out: Record<string, NodeAddress> = {};
  ids.forEach((id, k) => {
    out[id] = { host, raftPort: basePort + 1 + k, clientPort: basePort + 101 + k, adminPort: basePort + 201 + k };
  });
  return out;
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_ERR';
  constructor(message: string) {
    super(`CONFIG_ERR: ${message}`);
    this.name = 'ConfigError';
  }
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/**
 * A node's host without the brackets an IPv6 literal may be written in (`[::1]`, as in URLs and
 * parseMemberAddress). They were kept: `[::1]` passed the loopback check and the node then failed
 * to bind with ENOTFOUND [::1] (review 2026-12-07). Brackets around anything else are refused.
 */
function bareHost(host: string, nid: string): string {
  if (!host.includes('[') && !host.includes(']')) return host;
  const m = /^\[([^[\]]+)\]$/.exec(host);
  if (m === null || isIP(m[1]!) !== 6) throw new ConfigError(`node ${nid}: host ${JSON.stringify(host)}: brackets go around an IPv6 address only, as in [::1]`);
  return m[1]!;
}

/** `n1=127.0.0.1:7001:7101:7201,n2=[::1]:7002:7102:7202,...` (id=host:raftPort:clientPort:adminPort). */
export function parseNodesSpec(spec: string): Record<string, NodeAddress> {
  // Null prototype: an ID such as `__proto__` is then an entry (refused by validation), never the prototype.
  const out: Record<string, NodeAddress> = Object.create(null) as Record<string, NodeAddress>;
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0)) {
    const m = /^([^=]+)=(.+):(\d+):(\d+):(\d+)$/.exec(part);
    if (m === null) throw new ConfigError(`node ${JSON.stringify(part)}: expected id=host:raftPort:clientPort:adminPort`);
    out[m[1]!] = { host: bareHost(m[2]!, m[1]!), raftPort: Number(m[3]), clientPort: Number(m[4]), adminPort: Number(m[5]) };
  }
  return out;
}

export function formatNodesSpec(nodes: Readonly<Record<string, NodeAddress>>): string {
  return Object.entries(nodes)
    .map(([id, a]) => `${id}=${a.host}:${a.raftPort}:${a.clientPort}:${a.adminPort}`)
    .join(',');
}

export function parseDelays(spec: string): number[] {
  return spec.split(',').map((s) => {
    const t = s.trim();
    const m = /^(\d+)(ms|s|m|min|h)?$/.exec(t);
    if (m === null) throw new ConfigError(`replay delay ${JSON.stringify(t)}: expected milliseconds or 200ms, 1s, 10s, 1m, 10m, 1h`);
    const unit = m[2] ?? 'ms';
    const f = unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' || unit === 'min' ? 60_000 : 3_600_000;
    return Number(m[1]) * f;
  });
}

/** `inline` or `pool` (flag --wal-follower-writes, SESSIONRAFT_WAL_FOLLOWER_WRITES) to walFollowerWritesInline. */
export function walFollowerWrites(v: string): boolean {
  if (v === 'inline') return true;
  if (v === 'pool') return false;
  throw new ConfigError(`wal follower writes must be inline or pool, got ${JSON.stringify(v)} (flag --wal-follower-writes, SESSIONRAFT_WAL_FOLLOWER_WRITES)`);
}

/**
 * A boolean SESSIONRAFT_* variable: 1 or true, 0 or false; unset or empty is undefined. Anything
 * else is refused: `yes` read as false turned auth off without a word (review 2026-12-07).
 */
function envBool(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  if (v === '1' || v === 'true') return true;
  if (v === '0' || v === 'false') return false;
  throw new ConfigError(`${name} must be 1, true, 0 or false, got ${JSON.stringify(v)}`);
}

/**
 * A numeric SESSIONRAFT_* variable: a non-negative integer as the flags take it (Number()); unset or
 * empty is undefined. Anything else is refused naming the variable and quoting the value: `20ms`
 * went on as NaN and was reported as "must be a positive integer, got null" (review 2026-12-07).
 * Ranges (positive, at most) are checked with the other layers' values in resolveHostConfig.
 */
function envInt(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const v = env[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return Object.is(n, -0) ? 0 : n;
}

/** SESSIONRAFT_* variables (strings) to a partial config. */
export function configFromEnv(env: NodeJS.ProcessEnv): Partial<Record<keyof HostConfig, unknown>> {
  const out: Partial<Record<keyof HostConfig, unknown>> = {};
  const int = (name: string, key: keyof HostConfig): void => {
    const n = envInt(env, name);
    if (n !== undefined) out[key] = n;
  };
  if (env.SESSIONRAFT_ID) out.id = env.SESSIONRAFT_ID;
  if (env.SESSIONRAFT_CLUSTER_ID) out.clusterId = env.SESSIONRAFT_CLUSTER_ID;
  if (env.SESSIONRAFT_DATA_DIR) out.dataDir = env.SESSIONRAFT_DATA_DIR;
  if (env.SESSIONRAFT_NODES) out.nodes = parseNodesSpec(env.SESSIONRAFT_NODES);
  if (env.SESSIONRAFT_LEARNERS) out.learners = env.SESSIONRAFT_LEARNERS.split(',').filter((s) => s.length > 0);
  int('SESSIONRAFT_TICK_MS', 'tickMs');
  int('SESSIONRAFT_ELECTION_TICKS', 'electionTimeoutTicksMin');
  int('SESSIONRAFT_HEARTBEAT_TICKS', 'heartbeatIntervalTicks');
  int('SESSIONRAFT_SNAPSHOT_ENTRIES', 'snapshotEntries');
  int('SESSIONRAFT_SNAPSHOT_LOG_PERCENT', 'snapshotLogPercent');
  int('SESSIONRAFT_COMPACT_MARGIN', 'compactMarginEntries');
  int('SESSIONRAFT_LOG_WINDOW_BYTES', 'logWindowBytesMax');
  int('SESSIONRAFT_LOG_RETAIN_BYTES', 'logRetainBytesMax');
  int('SESSIONRAFT_LOG_PREALLOCATE_BYTES', 'logPreallocateBytes');
  int('SESSIONRAFT_RESTORE_LEAD_MS', 'restoreLeadMs');
  const featuresOff = envBool(env, 'SESSIONRAFT_FEATURES_OFF');
  if (featuresOff !== undefined) out.featuresOnNewCluster = !featuresOff;
  if (env.SESSIONRAFT_WAL_FOLLOWER_WRITES) out.walFollowerWritesInline = walFollowerWrites(env.SESSIONRAFT_WAL_FOLLOWER_WRITES);
  int('SESSIONRAFT_SNAPSHOT_BYTES', 'snapshotBytesMax');
  if (env.SESSIONRAFT_REPLAY_DELAYS) out.replayDelaysMs = parseDelays(env.SESSIONRAFT_REPLAY_DELAYS);
  int('SESSIONRAFT_SHUTDOWN_TRANSFER_MS', 'shutdownTransferMs');
  if (env.SESSIONRAFT_LOG_LEVEL) out.logLevel = env.SESSIONRAFT_LOG_LEVEL;
  if (env.SESSIONRAFT_LOG_PRETTY) out.logPretty = env.SESSIONRAFT_LOG_PRETTY === '1' || env.SESSIONRAFT_LOG_PRETTY === 'true';
  if (env.SESSIONRAFT_INSPECT) out.inspect = env.SESSIONRAFT_INSPECT;
  if (env.SESSIONRAFT_INSPECT_FILE) out.inspectFile = env.SESSIONRAFT_INSPECT_FILE;
  if (env.SESSIONRAFT_CLUSTER_SECRET_FILE) out.clusterSecretFile = env.SESSIONRAFT_CLUSTER_SECRET_FILE;
  // An empty variable is unset, as elsewhere.
  const clientTls = clientTlsLayer({
    certFile: env.SESSIONRAFT_CLIENT_TLS_CERT || undefined,
    keyFile: env.SESSIONRAFT_CLIENT_TLS_KEY || undefined,
    peerCaFile: env.SESSIONRAFT_CLIENT_TLS_CA || undefined,
    clientCaFile: env.SESSIONRAFT_CLIENT_CA_FILE || undefined,
    clientCrlFile: env.SESSIONRAFT_CLIENT_CRL_FILE || undefined,
  });
  if (clientTls !== undefined) out.clientTls = clientTls;
  if (env.SESSIONRAFT_TLS_MIN_VERSION) out.tlsMinVersion = env.SESSIONRAFT_TLS_MIN_VERSION;
  for (const [name, key] of [
    ['SESSIONRAFT_INSECURE', 'insecure'],
    ['SESSIONRAFT_BOOTSTRAP', 'bootstrap'],
    ['SESSIONRAFT_JOIN', 'join'],
    ['SESSIONRAFT_AUTH', 'auth'],
  ] as const) {
    const b = envBool(env, name);
    if (b !== undefined) out[key] = b;
  }
  if (env.SESSIONRAFT_BOOTSTRAP_ADMIN_PASSWORD_FILE) out.bootstrapAdminPasswordFile = env.SESSIONRAFT_BOOTSTRAP_ADMIN_PASSWORD_FILE;
  if (env.SESSIONRAFT_BOOTSTRAP_ADMIN_USER) out.bootstrapAdminUser = env.SESSIONRAFT_BOOTSTRAP_ADMIN_USER;
  if (env.SESSIONRAFT_METRICS_TOKEN_FILE) out.metricsTokenFile = env.SESSIONRAFT_METRICS_TOKEN_FILE;
  return out;
}

export function configFromFile(path: string): Partial<Record<keyof HostConfig, unknown>> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as Partial<Record<keyof HostConfig, unknown>>;
  } catch (err) {
    throw new ConfigError(`config file ${path} is not a JSON object: ${(err as Error).message}`);
  }
}

/**
 * One layer's clientTls (environment, flags): the files it gives, undefined when none. Layers merge
 * it key by key (resolveHostConfig), so a layer that gives only the certificate keeps the client CA,
 * revocation list, peer CA and poll interval of the layers below.
 */
export function clientTlsLayer(files: { readonly [K in keyof ClientTlsFiles]?: ClientTlsFiles[K] | undefined }): Partial<ClientTlsFiles> | undefined {
  const out = Object.fromEntries(Object.entries(files).filter(([, v]) => v !== undefined)) as Partial<ClientTlsFiles>;
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The peers' mutual TLS, checked: undefined when not given. A config file's null, {} or partial
 * object was taken as it was, and the node then failed at start with a TypeError (exit 1) instead
 * of CONFIG_ERR (exit 2) (review 2026-12-07).
 */
function peerTlsOf(v: unknown): HostConfig['tls'] {
  if (v === undefined) return undefined;
  const t = v as Partial<Record<'certFile' | 'keyFile' | 'caFile', unknown>> | null;
  const path = (p: unknown): p is string => typeof p === 'string' && p.length > 0;
  if (t === null || typeof t !== 'object' || Array.isArray(t) || !path(t.certFile) || !path(t.keyFile) || !path(t.caFile)) {
    throw new ConfigError(`tls needs certFile, keyFile and caFile, each a path (flags --tls-cert, --tls-key and --tls-ca), got ${JSON.stringify(v)}`);
  }
  return { certFile: t.certFile, keyFile: t.keyFile, caFile: t.caFile };
}

/** The merged clientTls, checked: undefined when not given. */
function clientTlsOf(v: unknown): ClientTlsFiles | undefined {
  if (v === undefined) return undefined;
  const t = v as Partial<Record<keyof ClientTlsFiles, unknown>> | null;
  const path = (p: unknown): p is string => typeof p === 'string' && p.length > 0;
  if (t === null || typeof t !== 'object' || !path(t.certFile) || !path(t.keyFile)) {
    throw new ConfigError(
      'clientTls needs certFile and keyFile (flags --client-tls-cert and --client-tls-key, SESSIONRAFT_CLIENT_TLS_CERT and SESSIONRAFT_CLIENT_TLS_KEY)',
    );
  }
  if (t.clientCaFile !== undefined && !path(t.clientCaFile))
    throw new ConfigError('clientTls.clientCaFile must be a path (flag --client-ca-file, SESSIONRAFT_CLIENT_CA_FILE)');
  if (t.clientCrlFile !== undefined && (!path(t.clientCrlFile) || t.clientCaFile === undefined))
    throw new ConfigError('clientTls.clientCrlFile must be a path, and needs clientCaFile (flags --client-crl-file and --client-ca-file)');
  if (t.peerCaFile !== undefined && !path(t.peerCaFile))
    throw new ConfigError('clientTls.peerCaFile must be a path (flag --client-tls-ca, SESSIONRAFT_CLIENT_TLS_CA)');
  if (t.reloadPollMs !== undefined) posInt(t.reloadPollMs, 'clientTls.reloadPollMs');
  return {
    certFile: t.certFile,
    keyFile: t.keyFile,
    ...(t.peerCaFile !== undefined ? { peerCaFile: t.peerCaFile } : {}),
    ...(t.clientCaFile !== undefined ? { clientCaFile: t.clientCaFile } : {}),
    ...(t.clientCrlFile !== undefined ? { clientCrlFile: t.clientCrlFile } : {}),
    ...(t.reloadPollMs !== undefined ? { reloadPollMs: t.reloadPollMs as number } : {}),
  };
}

function posInt(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ConfigError(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function bool(v: unknown, name: string): boolean {
  if (typeof v !== 'boolean') throw new ConfigError(`${name} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function nonNegInt(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new ConfigError(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

/** Restore ahead: 0..RESTORE_LEAD_MS_MAX milliseconds. */
const RESTORE_LEAD_MS_MAX = 1_000;
function restoreLead(v: unknown): number {
  const ms = nonNegInt(v, 'restoreLeadMs');
  if (ms > RESTORE_LEAD_MS_MAX) throw new ConfigError(`restoreLeadMs must be at most ${RESTORE_LEAD_MS_MAX}, got ${ms}`);
  return ms;
}

/** An integer percentage, 0..10,000 (a hundred times the last snapshot at most). */
function percent(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > 10_000)
    throw new ConfigError(`${name} must be an integer 0..10000, got ${JSON.stringify(v)}`);
  return v;
}

function port(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw new ConfigError(`${name} must be a port 0..65535, got ${JSON.stringify(v)}`);
  return v;
}

/** Merges the layers (later wins), fills defaults and validates. Throws ConfigError. */
export function resolveHostConfig(...layers: Partial<Record<keyof HostConfig, unknown>>[]): HostConfig {
  const raw: Record<string, unknown> = { ...hostDefaults };
  for (const l of layers) {
    for (const [k, v] of Object.entries(l)) {
      if (v === undefined) continue;
      // clientTls merges key by key (file < environment < flags). It used to be replaced whole, so a
      // certificate given by environment or flag dropped the file's clientCaFile: client certificates
      // were silently no longer required (review 2026-12-07).
      if (k === 'clientTls') {
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`clientTls must be an object, got ${JSON.stringify(v)}`);
        const below = (raw.clientTls ?? {}) as Record<string, unknown>;
        raw.clientTls = { ...below, ...Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined)) };
      } else {
        raw[k] = v;
      }
    }
  }
  const id = raw.id;
  if (!isNodeId(id)) throw new ConfigError(`id must match [A-Za-z0-9_.-]{1,64}, got ${JSON.stringify(id)} (flag --id, SESSIONRAFT_ID)`);
  if (!isNodeId(raw.clusterId)) throw new ConfigError(`clusterId must match [A-Za-z0-9_.-]{1,64}, got ${JSON.stringify(raw.clusterId)}`);
  if (typeof raw.dataDir !== 'string' || raw.dataDir.length === 0) throw new ConfigError('dataDir is required (flag --data-dir, SESSIONRAFT_DATA_DIR)');
  const nodesRaw = raw.nodes;
  if (nodesRaw === null || typeof nodesRaw !== 'object' || Array.isArray(nodesRaw)) {
    throw new ConfigError('nodes is required: every node with its ports (flag --nodes id=host:raftPort:clientPort:adminPort,...)');
  }
  const nodes: Record<string, NodeAddress> = {};
  for (const [nid, a] of Object.entries(nodesRaw as Record<string, unknown>)) {
    if (!isNodeId(nid)) throw new ConfigError(`node ID ${JSON.stringify(nid)} must match [A-Za-z0-9_.-]{1,64}`);
    const addr = a as Partial<NodeAddress> | null;
    if (addr === null || typeof addr !== 'object' || typeof addr.host !== 'string' || addr.host.length === 0) throw new ConfigError(`node ${nid} needs a host`);
    nodes[nid] = {
      host: bareHost(addr.host, nid),
      raftPort: port(addr.raftPort, `nodes.${nid}.raftPort`),
      clientPort: port(addr.clientPort, `nodes.${nid}.clientPort`),
      adminPort: port(addr.adminPort, `nodes.${nid}.adminPort`),
    };
  }
  if (nodes[id] === undefined) throw new ConfigError(`nodes must include this node (${id})`);
  const learners = (raw.learners ?? []) as unknown;
  if (!Array.isArray(learners) || learners.some((l) => typeof l !== 'string' || nodes[l] === undefined))
    throw new ConfigError('learners must name nodes listed in nodes');
  if (learners.length >= Object.keys(nodes).length) throw new ConfigError('at least one node must be a voter');
  // A config file's "auth": "true" was read as false: booleans are JSON booleans (review 2026-12-07).
  const bootstrap = bool(raw.bootstrap, 'bootstrap');
  const join = bool(raw.join, 'join');
  if (bootstrap && join) throw new ConfigError('--bootstrap starts a new cluster and --join joins a running one: give one of them');
  if (join && Object.keys(nodes).filter((n) => n !== id && !(learners as string[]).includes(n)).length === 0) {
    throw new ConfigError("--join needs the running cluster's voters in nodes (flag --nodes), besides this node");
  }
  const delays = raw.replayDelaysMs;
  if (!Array.isArray(delays) || delays.length === 0 || delays.length > 16 || delays.some((d) => typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0)) {
    throw new ConfigError('replayDelaysMs must list 1..16 non-negative integers (milliseconds)');
  }
  const level = String(raw.logLevel);
  if (!LEVELS.has(level)) throw new ConfigError(`logLevel must be one of ${[...LEVELS].join(', ')}`);
  const insecure = bool(raw.insecure, 'insecure');
  const tls = peerTlsOf(raw.tls);
  const clientTls = clientTlsOf(raw.clientTls);
  const tlsMinVersion = ({ 'TLSv1.2': 'TLSv1.2', '1.2': 'TLSv1.2', 'TLSv1.3': 'TLSv1.3', '1.3': 'TLSv1.3' } as const)[String(raw.tlsMinVersion) as '1.2'];
  if (tlsMinVersion === undefined)
    throw new ConfigError(
      `tlsMinVersion must be TLSv1.3 (default) or TLSv1.2, got ${JSON.stringify(raw.tlsMinVersion)} (flag --tls-min-version, SESSIONRAFT_TLS_MIN_VERSION)`,
    );
  const cfg: HostConfig = {
    id,
    clusterId: raw.clusterId,
    dataDir: raw.dataDir,
    nodes,
    learners: learners as string[],
    bootstrap,
    join,
    tickMs: posInt(raw.tickMs, 'tickMs'),
    electionTimeoutTicksMin: posInt(raw.electionTimeoutTicksMin, 'electionTimeoutTicksMin'),
    heartbeatIntervalTicks: posInt(raw.heartbeatIntervalTicks, 'heartbeatIntervalTicks'),
    snapshotEntries: posInt(raw.snapshotEntries, 'snapshotEntries'),
    snapshotLogPercent: percent(raw.snapshotLogPercent, 'snapshotLogPercent'),
    compactMarginEntries: posInt(raw.compactMarginEntries, 'compactMarginEntries'),
    logWindowBytesMax: posInt(raw.logWindowBytesMax, 'logWindowBytesMax'),
    logRetainBytesMax: posInt(raw.logRetainBytesMax, 'logRetainBytesMax'),
    logPreallocateBytes: nonNegInt(raw.logPreallocateBytes, 'logPreallocateBytes'),
    walFollowerWritesInline: bool(raw.walFollowerWritesInline, 'walFollowerWritesInline'),
    restoreLeadMs: restoreLead(raw.restoreLeadMs),
    featuresOnNewCluster: bool(raw.featuresOnNewCluster, 'featuresOnNewCluster'),
    snapshotBytesMax: posInt(raw.snapshotBytesMax, 'snapshotBytesMax'),
    replayDelaysMs: delays as number[],
    shutdownTransferMs: posInt(raw.shutdownTransferMs, 'shutdownTransferMs'),
    logLevel: level as LevelWithSilent,
    ...(typeof raw.logPretty === 'boolean' ? { logPretty: raw.logPretty } : {}),
    ...(typeof raw.inspect === 'string' ? { inspect: raw.inspect } : {}),
    ...(typeof raw.inspectFile === 'string' ? { inspectFile: raw.inspectFile } : {}),
    ...(raw.inspectTicks === true ? { inspectTicks: true } : {}),
    insecure,
    ...(tls !== undefined ? { tls } : {}),
    ...(clientTls !== undefined ? { clientTls } : {}),
    tlsMinVersion,
    ...(typeof raw.clusterSecretFile === 'string' && raw.clusterSecretFile.length > 0 ? { clusterSecretFile: raw.clusterSecretFile } : {}),
    auth: bool(raw.auth, 'auth'),
    ...(typeof raw.bootstrapAdminPasswordFile === 'string' && raw.bootstrapAdminPasswordFile.length > 0
      ? { bootstrapAdminPasswordFile: raw.bootstrapAdminPasswordFile }
      : {}),
    bootstrapAdminUser: String(raw.bootstrapAdminUser),
    ...(typeof raw.metricsTokenFile === 'string' && raw.metricsTokenFile.length > 0 ? { metricsTokenFile: raw.metricsTokenFile } : {}),
    ...(raw.storeLimits !== undefined ? { storeLimits: raw.storeLimits as Partial<StoreLimits> } : {}),
    ...(raw.clientLimits !== undefined ? { clientLimits: raw.clientLimits as Partial<ClientProtocolLimits> } : {}),
  };
  if (cfg.heartbeatIntervalTicks >= cfg.electionTimeoutTicksMin) throw new ConfigError('heartbeatIntervalTicks must be smaller than electionTimeoutTicksMin');
  // A snapshot holds every active session (its records, 4 bytes of framing each, its ID and topic)
  // and the client table: a bound below what the limits allow them would refuse the snapshot a
  // lagging follower needs, and it would never catch up. The floor counts the records' bytes, each
  // session's fixed part and the client table; records' framing comes on top (a store of many tiny
  // records needs more: docs/operations.md).
  const limits = { ...defaultStoreLimits, ...(cfg.storeLimits ?? {}) };
  const snapshotFloor = limits.activeBytesMax + limits.activeSessionsMax * (limits.topicBytesMax + SNAPSHOT_SESSION_BYTES) + limits.clientTableBytesMax;
  // A snapshot is received, and read at restart, into one array: past what one can hold a leader's
  // snapshot would fail as it arrives (a raw RangeError) and the node's own would not load.
  if (cfg.snapshotBytesMax > bufferConstants.MAX_LENGTH) {
    throw new ConfigError(
      `snapshotBytesMax (${cfg.snapshotBytesMax}) must be at most ${bufferConstants.MAX_LENGTH}, the largest array this Node.js holds (flag --snapshot-bytes, SESSIONRAFT_SNAPSHOT_BYTES)`,
    );
  }
  if (typeof snapshotFloor === 'number' && Number.isFinite(snapshotFloor) && cfg.snapshotBytesMax < snapshotFloor) {
    throw new ConfigError(
      `snapshotBytesMax (${cfg.snapshotBytesMax}) must be at least ${snapshotFloor}: storeLimits.activeBytesMax + activeSessionsMax x (topicBytesMax + ${SNAPSHOT_SESSION_BYTES}) + clientTableBytesMax, what a snapshot carries (flag --snapshot-bytes, SESSIONRAFT_SNAPSHOT_BYTES)`,
    );
  }
  if (cfg.clientLimits !== undefined) {
    try {
      validateClientProtocolLimits({ ...defaultClientProtocolLimits, ...cfg.clientLimits });
    } catch (err) {
      throw new ConfigError(`clientLimits: ${(err as Error).message}`);
    }
  }
  if (raw.clusterSecretFile !== undefined && (typeof raw.clusterSecretFile !== 'string' || raw.clusterSecretFile.length === 0)) {
    throw new ConfigError('clusterSecretFile must be a path (flag --cluster-secret-file, SESSIONRAFT_CLUSTER_SECRET_FILE)');
  }
  if (!insecure && cfg.tls === undefined && cfg.clusterSecretFile === undefined) {
    throw new ConfigError(
      'peers would not be authenticated: give the cluster secret (--cluster-secret-file FILE or SESSIONRAFT_CLUSTER_SECRET_FILE; `sessionraft cluster` writes one to <data>/cluster-secret), ' +
        'or mutual TLS (--tls-cert, --tls-key, --tls-ca), or pass --insecure to run without peer authentication (anyone who can reach the raft port can then speak as a member)',
    );
  }
  const self = nodes[id]!;
  if (!isAuthName(cfg.bootstrapAdminUser))
    throw new ConfigError(`bootstrapAdminUser must be 1..64 of [A-Za-z0-9_.@-], got ${JSON.stringify(cfg.bootstrapAdminUser)}`);
  if (!insecure && clientTls === undefined && !isLoopbackHost(self.host)) {
    throw new ConfigError(
      `host ${self.host} is not loopback and the client and admin ports have no TLS: give their certificate (--client-tls-cert FILE --client-tls-key FILE), bind loopback, or pass --insecure on a trusted network`,
    );
  }
  if (!insecure && !cfg.auth && !isLoopbackHost(self.host)) {
    throw new ConfigError(
      `host ${self.host} is not loopback and authentication is not required: pass --auth (with --bootstrap-admin-password-file FILE for the first administrator), bind loopback, or pass --insecure on a trusted network`,
    );
  }
  return cfg;
}
