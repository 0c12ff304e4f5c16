/**
 * Helpers of the node tests: in-process clusters over real sockets, spawned node processes, free
 * ports, temporary directories, cluster secrets (one per test cluster: peers authenticate in every
 * test, as they do by default), and bounded waits for conditions (never sleeps).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { pino } from 'pino';
import WebSocket from 'ws';
import { decodeServerFrame } from '../../transport/client/protocol.js';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import { ClientError } from '../../transport/client/errors.js';
import { ensureClusterSecret } from '../../actors/host/clusterSecret.js';
import { resolveHostConfig, type HostConfig, type NodeAddress } from '../../actors/host/config.js';
import { NodeHost } from '../../actors/host/nodeHost.js';
import { mayHaveVoted } from '../../storage/hardState.js';
import { realFs } from '../../storage/realFs.js';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/bin/sessionraft.js (tests run from dist/test/node). */
export const binPath = resolve(here, '../../bin/sessionraft.js');

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `sessionraft-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The cluster secret of the test cluster whose directory is `dir` (`<dir>/cluster-secret`, made on
 * first use: 32 random bytes, mode 0600, as `sessionraft cluster` makes `./data/cluster-secret`).
 * Every node of one test cluster shares it; two test clusters never do.
 */
export function clusterSecretFile(dir: string): string {
  const file = join(dir, 'cluster-secret');
  ensureClusterSecret(file);
  return file;
}

/** Whether a process with this pid still exists (signal 0 checks without sending anything). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until `cond` holds, checking every `everyMs`; fails after `timeoutMs` with `what` and the
 * last value seen. `cond` may be async and may throw (a throw counts as "not yet").
 */
export async function waitFor<T>(what: string, cond: () => T | Promise<T>, timeoutMs: number, everyMs = 20): Promise<NonNullable<T>> {
  const t0 = Date.now();
  let lastErr: unknown = null;
  for (;;) {
    try {
      const v = await cond();
      if (v !== undefined && v !== null && v !== false) return v as NonNullable<T>;
      lastErr = null;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr !== null ? ` (last error: ${String(lastErr)})` : ''}`);
    }
    await new Promise<void>((r) => setTimeout(r, everyMs));
  }
}

function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo!, hi!];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

/**
 * Ports nobody listens on right now (bound together, then released), below the ephemeral range.
 * A port from the ephemeral range (what port 0 gives) is unsafe for a node that is killed and
 * restarted: while it is down, an outgoing connection may take it as its local port, and the
 * restarted node then fails with EADDRINUSE (found by the fault harness).
 */
export async function freePorts(n: number): Promise<number[]> {
  const top = Math.min(ephemeralRange()[0], 65536) - 1;
  const bottom = Math.max(1024, top - 20_000);
  const out: number[] = [];
  const held: ReturnType<typeof createServer>[] = [];
  try {
    // Bounded: at most 50 tries per port.
    for (let tries = 0; out.length < n && tries < 50 * n; tries++) {
      const port = bottom + Math.floor(Math.random() * (top - bottom));
      if (out.includes(port)) continue;
      const s = createServer();
      const ok = await new Promise<boolean>((res) => {
        s.once('error', () => res(false));
        s.listen(port, '127.0.0.1', () => res(true));
      });
      if (ok) {
        held.push(s);
        out.push(port);
      }
    }
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
  if (out.length < n) throw new Error(`found only ${out.length} of ${n} free ports in ${bottom}..${top}`);
  return out;
}

export const quietLogger = pino({ level: process.env.SESSIONRAFT_TEST_LOG ?? 'silent' });

/** `sessionraft cluster --base-port b` listens on b+1..3 (raft), b+101..103 (client) and b+201..203 (admin). */
const CLUSTER_PORT_OFFSETS = [1, 2, 3, 101, 102, 103, 201, 202, 203];

/**
 * A base port for `sessionraft cluster --base-port` whose nine ports are free now, below the
 * ephemeral range as in freePorts. The blocks drawn before (20000..60103) were mostly inside it:
 * while the cluster's nodes start one by one, their dials to peers not yet listening take
 * ephemeral local ports, and one of them may be a port a later node then fails to bind (EADDRINUSE).
 */
export async function freeClusterBasePort(): Promise<number> {
  const top = Math.min(ephemeralRange()[0], 65536) - 1 - 203;
  const bottom = Math.max(1024, top - 20_000);
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = bottom + Math.floor(Math.random() * (top - bottom));
    const free = await Promise.all(
      CLUSTER_PORT_OFFSETS.map(
        (d) =>
          new Promise<boolean>((res) => {
            const s = createServer();
            s.once('error', () => res(false));
            s.listen(base + d, '127.0.0.1', () => s.close(() => res(true)));
          }),
      ),
    );
    if (free.every(Boolean)) return base;
  }
  throw new Error(`no free block of cluster ports in ${bottom}..${top + 203}`);
}

/** Test timing: ticks of 10 ms, elections after 100-200 ms, short replay classes. */
export const fastTiming = { tickMs: 10, electionTimeoutTicksMin: 10, heartbeatIntervalTicks: 2, replayDelaysMs: [200, 1000] };

export interface InProcessCluster {
  readonly hosts: NodeHost[];
  readonly dir: string;
  endpoints(): string[];
  leader(): NodeHost | null;
  stop(): Promise<void>;
}

/** n NodeHosts in this process on 127.0.0.1 ports 0, told about each other once bound. */
export async function startInProcessCluster(n: number, overrides: Partial<HostConfig> = {}): Promise<InProcessCluster> {
  const dir = tempDir('inproc');
  const ids = Array.from({ length: n }, (_, k) => `n${k + 1}`);
  const zero: Record<string, NodeAddress> = {};
  for (const id of ids) zero[id] = { host: '127.0.0.1', raftPort: 0, clientPort: 0, adminPort: 0 };
  const hosts: NodeHost[] = [];
  for (const id of ids) {
    // A brand-new cluster: every node may vote on its empty storage (issue 9).
    const cfg = resolveHostConfig({
      ...fastTiming,
      clusterId: 'test',
      nodes: zero,
      dataDir: join(dir, id),
      bootstrap: true,
      clusterSecretFile: clusterSecretFile(dir),
      ...overrides,
      id,
    });
    hosts.push(await NodeHost.start(cfg, { logger: quietLogger.child({ node: id }) }));
  }
  for (const h of hosts) for (const o of hosts) h.setPeer(o.id, o.address());
  return {
    hosts,
    dir,
    endpoints: () => hosts.map((h) => h.clientEndpoint()),
    leader: () => hosts.find((h) => h.node.raft.role() === 'leader' && !h.node.raft.isStopped()) ?? null,
    stop: async () => {
      await Promise.all(hosts.map((h) => h.stop({ transfer: false })));
      removeDir(dir);
    },
  };
}

/**
 * An in-process cluster with --auth whose leader creates the administrator `admin` with `password`
 * (written to a file in `dir`, mode 0600); resolves once every node has it.
 */
export async function startAuthCluster(n: number, dir: string, password: string, overrides: Partial<HostConfig> = {}): Promise<InProcessCluster> {
  const file = join(dir, 'admin-password');
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  const cluster = await startInProcessCluster(n, { auth: true, bootstrapAdminPasswordFile: file, ...overrides });
  try {
    // The leader creates the first administrator once elected (a UserPut and a UserGrant); 20 s bounds a slow machine.
    await waitFor(
      'the bootstrap administrator on every node',
      () => cluster.hosts.every((h) => h.node.store.access.user('admin')?.roles.includes('admin') === true),
      20_000,
    );
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

export function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string; contentType: string }> {
  return new Promise((res, rej) => {
    const req = get(url, { timeout: timeoutMs }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => res({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), contentType: String(r.headers['content-type'] ?? '') }));
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', rej);
  });
}

export async function getJson<T = Record<string, unknown>>(url: string, timeoutMs = 2000): Promise<T> {
  const r = await httpGet(url, timeoutMs);
  if (r.status !== 200) throw new Error(`GET ${url}: HTTP ${r.status} ${r.body}`);
  return JSON.parse(r.body) as T;
}

/** A spawned `sessionraft node` process. */
export interface NodeProcess {
  readonly id: string;
  readonly child: ChildProcess;
  readonly address: NodeAddress;
  /** Everything it wrote (logs), for failure reports. */
  output(): string;
  exited: Promise<number | null>;
}

/**
 * Whether a node may start with --bootstrap: nothing in its Raft directory says it voted (the
 * tests never take a node's disk away unless they mean to, and then pass `bootstrap: false`).
 */
export function neverVoted(dataDir: string): boolean {
  return !mayHaveVoted(realFs, join(dataDir, 'raft'));
}

/**
 * `opts.bootstrap`: 'auto' (default) adds --bootstrap when the node never voted and neither
 * --join nor --bootstrap is in `extra`; false never adds it (a node that lost its disk).
 * `opts.secret`: 'auto' (default) adds `--cluster-secret-file <parent of dataDir>/cluster-secret`
 * (the test cluster's secret, see `clusterSecretFile`) unless `extra` or `env` gives a secret, TLS
 * or --insecure; false adds nothing (a node started without peer authentication).
 */
export function spawnNode(
  id: string,
  nodes: Record<string, NodeAddress>,
  dataDir: string,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
  opts: { bootstrap?: 'auto' | false; secret?: 'auto' | false } = {},
): NodeProcess {
  const bootstrap = opts.bootstrap !== false && !extra.includes('--join') && !extra.includes('--bootstrap') && neverVoted(dataDir);
  const ownAuth = ['--cluster-secret-file', '--tls-cert', '--insecure'].some((f) => extra.includes(f)) || env.SESSIONRAFT_CLUSTER_SECRET_FILE !== undefined;
  const secret = opts.secret !== false && !ownAuth ? ['--cluster-secret-file', clusterSecretFile(dirname(resolve(dataDir)))] : [];
  const spec = Object.entries(nodes)
    .map(([nid, a]) => `${nid}=${a.host}:${a.raftPort}:${a.clientPort}:${a.adminPort}`)
    .join(',');
  const args = [
    '--enable-source-maps',
    binPath,
    'node',
    '--id',
    id,
    '--cluster-id',
    'proc-test',
    '--nodes',
    spec,
    '--data-dir',
    dataDir,
    '--tick-ms',
    String(fastTiming.tickMs),
    '--replay-delays',
    fastTiming.replayDelaysMs.join(','),
    '--log-level',
    'info',
    '--log-format',
    'json',
    ...(bootstrap ? ['--bootstrap'] : []),
    ...secret,
    ...extra,
  ];
  // An IPC channel: the node stops when this process goes away (bin/sessionraft.ts listens for
  // 'disconnect'), so an interrupted run (mocha killed mid-test) leaves no nodes behind; without it
  // an interrupted chaos test's three nodes ran on until killed by hand.
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'], env: { ...process.env, ...env } });
  let out = '';
  const keep = (b: Buffer): void => {
    out += b.toString('utf8');
    if (out.length > 2_000_000) out = out.slice(-1_000_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  // 'close', not 'exit': after 'exit' the pipes may still hold output not yet read, and a restart
  // that takes the old output at once would lose its last lines (the chaos harness's evidence).
  const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
  return { id, child, address: nodes[id]!, output: () => out, exited };
}

/** Kills by pid (SIGKILL) and waits for the exit. */
export async function killNode(p: NodeProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  process.kill(p.child.pid!, signal);
  await p.exited;
}

/** The code a promise is rejected with (fails the test when it resolves). */
export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ClientError) return err.code;
    throw err;
  }
  expect.fail('expected a ClientError');
}

/** What `useInProcessCluster` gives a suite. */
export interface ClusterSuite {
  /** The running cluster (from the suite's `before` on). */
  readonly cluster: InProcessCluster;
  /** A client of the cluster (`endpoints`: all nodes by default), closed after the suite. */
  client(endpoints?: string[], opts?: { inflightCommandsMax?: number }): SessionraftClient;
}

/**
 * Call inside a mocha `describe`: an in-process cluster of `n` nodes started with a leader elected
 * before the suite's tests, and its clients closed and the cluster stopped after them.
 */
export function useInProcessCluster(n = 3, overrides: Partial<HostConfig> = {}): ClusterSuite {
  let running: InProcessCluster | undefined;
  const clients: SessionraftClient[] = [];
  before(async () => {
    running = await startInProcessCluster(n, overrides);
    // An election takes 100-200 ms of timeout plus a pre-vote and a vote round; 5 s is generous.
    await waitFor('a leader', () => running!.leader(), 5000);
  });
  after(async () => {
    for (const c of clients.splice(0)) await c.close();
    await running?.stop();
  });
  return {
    get cluster(): InProcessCluster {
      if (running === undefined) throw new Error("the cluster starts in the suite's before hook");
      return running;
    },
    client(endpoints, opts) {
      const c = createClient({ endpoints: endpoints ?? this.cluster.endpoints(), clusterId: 'test', ...opts });
      clients.push(c);
      return c;
    },
  };
}

/** What `useAuthCluster` gives a suite. */
export interface AuthClusterSuite {
  /** The running cluster (from the suite's `before` on). */
  readonly cluster: InProcessCluster;
  /** A client logged in as `user`, closed after the suite. */
  client(user: string, password: string): SessionraftClient;
}

/**
 * Call inside a mocha `describe`: an in-process cluster of `n` nodes with --auth and the bootstrap
 * administrator `admin` (`password`) on every node before the suite's tests; its clients closed,
 * the cluster stopped and its directory removed after them.
 */
export function useAuthCluster(n: number, prefix: string, password: string, overrides: Partial<HostConfig> = {}): AuthClusterSuite {
  let running: InProcessCluster | undefined;
  let dir = '';
  const clients: SessionraftClient[] = [];
  before(async () => {
    dir = tempDir(prefix);
    running = await startAuthCluster(n, dir, password, overrides);
  });
  after(async () => {
    for (const c of clients.splice(0)) await c.close();
    await running?.stop();
    if (dir !== '') removeDir(dir);
  });
  return {
    get cluster(): InProcessCluster {
      if (running === undefined) throw new Error("the cluster starts in the suite's before hook");
      return running;
    },
    client(user, password) {
      const c = createClient({ endpoints: this.cluster.endpoints(), operationTimeoutMs: 5000, ignoreEnvironment: true, user, password });
      clients.push(c);
      return c;
    },
  };
}

/** A frame the client port sent, as decoded. */
export type ServerFrame = ReturnType<typeof decodeServerFrame>;

/** A raw WebSocket to a client port (no library): every frame it receives, and the answer to a request by its ID. */
export interface RawPort {
  readonly ws: WebSocket;
  readonly frames: ServerFrame[];
  /** The result or error frame answering request `reqId`, waited for up to `timeoutMs`. */
  answer(reqId: number, timeoutMs: number): Promise<ServerFrame>;
}

/** Opens a raw socket to `endpoint` and waits for the welcome (up to `timeoutMs`). Terminate `ws` when done. */
export async function rawPort(endpoint: string, timeoutMs: number): Promise<RawPort> {
  const ws = new WebSocket(`ws://${endpoint}/`, { perMessageDeflate: false });
  const frames: ServerFrame[] = [];
  ws.on('message', (d) => frames.push(decodeServerFrame(d as Buffer)));
  try {
    await waitFor('the welcome', () => frames.some((f) => f.kind === 'welcome'), timeoutMs);
  } catch (err) {
    ws.terminate();
    throw err;
  }
  const isAnswer = (f: ServerFrame, reqId: number): boolean => (f.kind === 'result' || f.kind === 'error') && f.reqId === reqId;
  return {
    ws,
    frames,
    answer: async (reqId, ms) => {
      await waitFor(`the answer to request ${reqId}`, () => frames.some((f) => isAnswer(f, reqId)), ms);
      return frames.find((f) => isAnswer(f, reqId))!;
    },
  };
}

/** A raw WebSocket to a client port that sends nothing (never logs in): how its upgrade ended, and how it was closed. */
export interface IdleSocket {
  readonly ws: WebSocket;
  /** The upgrade's outcome: 'open', the HTTP status that refused it, or the error. */
  readonly outcome: Promise<string>;
  /** The close code once closed, else null. */
  closedWith: number | null;
}

/** Opens an idle socket to `endpoint` (terminate `ws` when done). */
export function connectIdle(endpoint: string): IdleSocket {
  const ws = new WebSocket(`ws://${endpoint}/`, { perMessageDeflate: false });
  const idle: IdleSocket = {
    ws,
    closedWith: null,
    outcome: new Promise((resolve) => {
      ws.once('open', () => resolve('open'));
      ws.once('unexpected-response', (_req, res) => {
        resolve(`HTTP ${res.statusCode}`);
        res.resume();
        ws.terminate();
      });
      ws.once('error', (err) => resolve(`error ${err.message}`));
    }),
  };
  ws.on('close', (code) => (idle.closedWith = code));
  return idle;
}
