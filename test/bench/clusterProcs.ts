/**
 * The cluster benchmark's processes: real `sessionraft node` processes (dist/bin/sessionraft.js)
 * on loopback, each with its own data directory on the real disk (fsync on) and its log in
 * `<dir>/<id>/node.log`; status through each node's admin HTTP port; CPU time and RSS from
 * /proc/<pid>/stat and /proc/<pid>/status. Every process is stopped by its pid.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, fdatasyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { ensureClusterSecret } from '../../actors/host/clusterSecret.js';
import { localPlacement, nodeEnv, nodeExecArgv } from '../../bin/nodeRuntime.js';
import { freePorts } from '../node/helpers.js';
import { sharedDiskFloor } from './diskFloor.js';
import { percentile } from './clusterLoad.js';
import { hopFloor } from './hopFloor.js';
import { pipelineFloor } from './pipelineFloor.js';
import { Pki } from '../support/pki.js';
import { mayHaveVoted } from '../../storage/hardState.js';
import { realFs } from '../../storage/realFs.js';
import type { ClientOptions } from '../../transport/client/client.js';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
/** dist/bin/sessionraft.js (the bench runs from dist/test/bench). */
export const binPath = resolve(here, '../../bin/sessionraft.js');

export interface NodeAddr {
  readonly host: string;
  readonly raftPort: number;
  readonly clientPort: number;
  readonly adminPort: number;
}

/** What the bench reads from a node's /status. */
export interface NodeStatusDoc {
  readonly node: string;
  readonly pid: number;
  readonly role: string;
  readonly term: number;
  readonly leader: string | null;
  readonly commitIndex: number;
  readonly appliedIndex: number;
  readonly lastIndex: number;
  readonly snapshotIndex: number;
  readonly nodes: Record<string, { match?: number; lag?: number; state?: string }>;
  /** Bytes by part (issue 18), as the node accounts them. */
  readonly memory?: Record<string, number>;
  /** The applied store's counts, and the consumer groups' (what a row with undelivered items prints). */
  readonly store?: Record<string, unknown>;
  readonly groups?: readonly Record<string, unknown>[];
  readonly client?: Record<string, unknown>;
}

export { freePorts };

/** Secured admin ports (issue 17): https with this CA, the metrics token (it opens /status too). */
export interface AdminTls {
  readonly ca: Buffer;
  readonly token: string;
}

export async function getJson<T>(host: string, port: number, path: string, timeoutMs = 1000, tls: AdminTls | null = null): Promise<T> {
  return JSON.parse(await getText(host, port, path, timeoutMs, tls)) as T;
}

export function getText(host: string, port: number, path: string, timeoutMs = 1000, tls: AdminTls | null = null): Promise<string> {
  return new Promise((res, rej) => {
    const opts = { host, port, path, method: 'GET', timeout: timeoutMs };
    const onResponse = (r: import('node:http').IncomingMessage): void => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => {
        try {
          if (r.statusCode !== 200) throw new Error(`GET ${path}: HTTP ${r.statusCode}`);
          res(Buffer.concat(chunks).toString('utf8'));
        } catch (err) {
          rej(err as Error);
        }
      });
      r.on('error', rej);
    };
    const req = tls === null ? request(opts, onResponse) : httpsRequest({ ...opts, ca: tls.ca, headers: { authorization: `Bearer ${tls.token}` } }, onResponse);
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', rej);
    req.end();
  });
}

/** Polls `cond` every `everyMs` until it returns a value; throws after `timeoutMs` naming `what`. */
export async function waitFor<T>(
  what: string,
  cond: () => Promise<T | null | undefined | false> | T | null | undefined | false,
  timeoutMs: number,
  everyMs = 10,
): Promise<T> {
  const t0 = performance.now();
  let lastErr: unknown = null;
  for (;;) {
    try {
      const v = await cond();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
    await new Promise<void>((r) => setTimeout(r, everyMs));
  }
}

/** CPU time (user + system, ms) and memory of one process, from /proc. */
export interface ProcSample {
  readonly cpuMs: number;
  readonly rssMb: number;
  /** Peak RSS since start or since the last `resetPeakRss` (VmHWM). */
  readonly hwmMb: number;
}

const clockTicksPerSecond = 100; // USER_HZ on Linux

export function sampleProc(pid: number): ProcSample | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(f[11]);
    const stime = Number(f[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string): number => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status);
      return m ? Number(m[1]) : 0;
    };
    return { cpuMs: ((utime + stime) * 1000) / clockTicksPerSecond, rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/**
 * The machine's CPU (all processes): busy time summed over cores in ms, from /proc/stat, and the
 * PSI CPU pressure stall total ("some": time at least one task waited for a CPU) in ms.
 */
export function sampleMachine(): { busyMs: number; stallMs: number } {
  let busyMs = 0;
  let stallMs = 0;
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal
    busyMs = ((line[0]! + line[1]! + line[2]! + line[5]! + line[6]! + line[7]!) * 1000) / clockTicksPerSecond;
  } catch {
    // not Linux
  }
  try {
    const m = /^some .*total=(\d+)/m.exec(readFileSync('/proc/pressure/cpu', 'utf8'));
    if (m) stallMs = Number(m[1]) / 1000;
  } catch {
    // no PSI
  }
  return { busyMs, stallMs };
}

/**
 * The disk's floor for a durable write, measured now: `writes` appends of 4 KiB to a new file in
 * `dir` (the system temp directory, where the benchmark's data directories are), each followed by
 * fdatasync. Milliseconds.
 */
export function fsyncFloor(dir = tmpdir(), writes = 200, over = false): { p50Ms: number; p99Ms: number } {
  const d = mkdtempSync(join(dir, 'sessionraft-fsync-'));
  const fd = openSync(join(d, 'probe'), 'w');
  const block = new Uint8Array(4096).fill(0x5a);
  const ms: number[] = [];
  try {
    if (over) {
      // `over`: the file's bytes exist already (written and synced), as in a WAL segment kept
      // zero-filled ahead of its end: the write does not grow the file (no inode write).
      const zeros = new Uint8Array(writes * block.length);
      writeSync(fd, zeros, 0, zeros.length, 0);
      fdatasyncSync(fd);
    }
    for (let k = 0; k < writes; k++) {
      const t0 = performance.now();
      writeSync(fd, block, 0, block.length, k * block.length);
      fdatasyncSync(fd);
      ms.push(performance.now() - t0);
    }
  } finally {
    closeSync(fd);
    rmSync(d, { recursive: true, force: true });
  }
  ms.sort((a, b) => a - b);
  const at = (p: number): number => Number(percentile(ms, p).toFixed(3));
  return { p50Ms: at(50), p99Ms: at(99) };
}

/**
 * The fsync floor (one writer, and three at once on the same disk as the benchmark's three nodes:
 * test/bench/diskFloor.ts), the floor of one hop between two processes (test/bench/hopFloor.ts),
 * a write at 1 in flight through four bare processes (test/bench/pipelineFloor.ts) and the load
 * average, as a benchmark row (printed before the suite's rows).
 */
export async function machineRow(): Promise<{ scenario: string; [field: string]: unknown }> {
  const f = fsyncFloor();
  const o = fsyncFloor(tmpdir(), 200, true);
  const shared = await sharedDiskFloor();
  const sharedOver = await sharedDiskFloor(3, 200, tmpdir(), 30_000, true);
  const hop = await hopFloor();
  // A floor that could not be measured is reported as such; it must not cost the run its rows.
  const pipeline = await pipelineFloor().catch((e: Error) => ({ pipelineError: e.message }));
  const [l1, l5, l15] = loadavg();
  return {
    scenario: 'machine',
    fsync4kP50Ms: f.p50Ms,
    fsync4kOverP50Ms: o.p50Ms,
    fsync4kP99Ms: f.p99Ms,
    ...shared,
    fsyncSharedOverP50Ms: sharedOver.fsyncSharedP50Ms,
    ...hop,
    ...pipeline,
    loadAvg1: Number(l1!.toFixed(2)),
    loadAvg5: Number(l5!.toFixed(2)),
    loadAvg15: Number(l15!.toFixed(2)),
  };
}

/** Resets a process's peak RSS (VmHWM) to its current RSS (Linux: `5` into clear_refs). */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface NodeProc {
  readonly id: string;
  readonly addr: NodeAddr;
  readonly dataDir: string;
  readonly logFile: string;
  child: ChildProcess | null;
  exited: Promise<void>;
  /** Set by `kill` before it signals: the exit that follows is the benchmark's doing. */
  killing: boolean;
}

/** A node process that exited without the benchmark stopping it (a crash, an assertion, OOM). */
export interface UnexpectedExit {
  readonly id: string;
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly logFile: string;
}

export interface ClusterSpec {
  readonly size: number;
  /** Extra flags for every node (`--snapshot-entries 2000000`, ...). */
  readonly nodeArgs: readonly string[];
  /** Extra node.js flags (e.g. `--cpu-prof`). */
  readonly execArgs?: readonly string[];
  /** Where `--cpu-prof` profiles go (one directory per node under it). */
  readonly cpuProfDir?: string;
  /**
   * Issue 17: TLS on the client and admin ports (a throwaway CA, a certificate for 127.0.0.1), --auth
   * with a bootstrap admin password, a metrics token; clients log in (`clientAccess`), /status and
   * /metrics are read over https with the token.
   */
  readonly secure?: boolean;
}

interface BenchSecurity {
  readonly pki: Pki;
  readonly admin: AdminTls;
  readonly password: string;
  readonly passwordFile: string;
  readonly tokenFile: string;
}

function makeSecurity(): BenchSecurity {
  const pki = new Pki('sessionraft-bench-pki-');
  pki.ca('ca');
  pki.leaf('server', 'bench node', 'ca', 'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost');
  const password = `bench-${randomBytes(12).toString('hex')}`;
  const token = `bench-token-${randomBytes(12).toString('hex')}`;
  const passwordFile = pki.path('admin-password');
  const tokenFile = pki.path('metrics-token');
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  return { pki, admin: { ca: pki.read('ca.crt'), token }, password, passwordFile, tokenFile };
}

/** `<dir>/cluster-secret` (made on first use), the bench cluster's secret. */
function ensureClusterSecretFile(dir: string): string {
  const file = join(dir, 'cluster-secret');
  ensureClusterSecret(file);
  return file;
}

/** A node's garbage collections so far (gcTotalsOf). */
export interface GcTotals {
  readonly majors: number;
  readonly pauseSeconds: number;
}

/** Sums prom-client's GC histogram in a /metrics text: the count of kind "major", the sum of all kinds. */
export function gcTotalsOf(text: string): GcTotals {
  let majors = 0;
  let pauseSeconds = 0;
  for (const line of text.split('\n')) {
    const m = /^nodejs_gc_duration_seconds_(count|sum)\{([^}]*)\} ([-+0-9.eE]+)$/.exec(line);
    if (m === null) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    if (m[1] === 'sum') pauseSeconds += v;
    else if (/(^|,)kind="major"/.test(m[2]!)) majors += v;
  }
  return { majors, pauseSeconds };
}

/** A node's GC totals, and the process they were read from. */
export interface GcReading extends GcTotals {
  readonly pid: number;
}

/**
 * Between two readings (`wallS` seconds apart): `<tag>GcMajorPerSec`, full collections a second,
 * and `<tag>GcMsPerSec`, ms of collection pauses a second on the node's main thread (the concurrent
 * marking and sweeping on V8's helper threads come on top). A follower that marks many times a
 * second is short of heap headroom, not of CPU (docs/performance.md, "Full collections on the
 * followers"). A node restarted in between counts from zero again: it gets no figure rather than a
 * wrong one.
 */
export function gcRateFields(
  g0: ReadonlyMap<string, GcReading>,
  g1: ReadonlyMap<string, GcReading>,
  wallS: number,
  tagOf: (id: string) => string,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, b] of g1) {
    const a = g0.get(id);
    if (a === undefined || a.pid !== b.pid || !Number.isFinite(a.majors + b.majors) || b.majors < a.majors || !(wallS > 0)) continue;
    out[`${tagOf(id)}GcMajorPerSec`] = Number(((b.majors - a.majors) / wallS).toFixed(1));
    out[`${tagOf(id)}GcMsPerSec`] = Math.round(((b.pauseSeconds - a.pauseSeconds) * 1000) / wallS);
  }
  return out;
}

/** A cluster of node processes in a temporary directory on the real disk. */
export class BenchCluster {
  readonly dir: string;
  readonly nodes: NodeProc[] = [];
  /** Node exits the benchmark did not cause, in order: a run with any is not a clean measurement. */
  readonly unexpectedExits: UnexpectedExit[] = [];
  private readonly spec: ClusterSpec;
  private readonly security: BenchSecurity | null;

  private constructor(spec: ClusterSpec, dir: string) {
    this.spec = spec;
    this.dir = dir;
    this.security = spec.secure === true ? makeSecurity() : null;
  }

  /** https and the token for the admin ports; null: plain http. */
  get adminTls(): AdminTls | null {
    return this.security?.admin ?? null;
  }

  /** What a bench client needs (spread into createClient): the CA and the bootstrap admin's login; {} when not secured. */
  clientAccess(): Pick<ClientOptions, 'tls' | 'user' | 'password' | 'ignoreEnvironment'> {
    const s = this.security;
    return s === null ? {} : { tls: { ca: s.admin.ca }, user: 'admin', password: s.password, ignoreEnvironment: true };
  }

  static async start(spec: ClusterSpec): Promise<BenchCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'sessionraft-bench-'));
    const c = new BenchCluster(spec, dir);
    live.add(c);
    const ports = await freePorts(spec.size * 3);
    for (let k = 0; k < spec.size; k++) {
      const id = `n${k + 1}`;
      c.nodes.push({
        id,
        addr: { host: '127.0.0.1', raftPort: ports[3 * k]!, clientPort: ports[3 * k + 1]!, adminPort: ports[3 * k + 2]! },
        dataDir: join(dir, id),
        logFile: join(dir, id, 'node.log'),
        child: null,
        exited: Promise.resolve(),
        killing: false,
      });
    }
    for (const n of c.nodes) c.spawn(n);
    return c;
  }

  endpoints(): string[] {
    return this.nodes.map((n) => `${n.addr.host}:${n.addr.clientPort}`);
  }

  node(id: string): NodeProc {
    const n = this.nodes.find((x) => x.id === id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  isRunning(n: NodeProc): boolean {
    return n.child !== null && n.child.exitCode === null && n.child.signalCode === null;
  }

  /** Starts (or restarts) a node process on its data directory (`execArgs`: node flags for this start only). */
  spawn(n: NodeProc, execArgs: readonly string[] = []): void {
    if (this.isRunning(n)) throw new Error(`${n.id} is running`);
    mkdirSync(n.dataDir, { recursive: true });
    const spec = this.nodes.map((x) => `${x.id}=${x.addr.host}:${x.addr.raftPort}:${x.addr.clientPort}:${x.addr.adminPort}`).join(',');
    const fd = openSync(n.logFile, 'a');
    // The memory and GC defaults `npm start` gives its nodes (bin/nodeRuntime.ts), unless --exec-args sets them.
    const exec = nodeExecArgv([...(this.spec.execArgs ?? []), ...execArgs], process.env.NODE_OPTIONS, localPlacement(this.nodes.length));
    if (this.spec.cpuProfDir !== undefined) {
      const d = join(this.spec.cpuProfDir, n.id);
      mkdirSync(d, { recursive: true });
      exec.push('--cpu-prof', `--cpu-prof-dir=${d}`);
    }
    const child = spawn(
      process.execPath,
      [
        ...exec,
        binPath,
        'node',
        '--id',
        n.id,
        '--cluster-id',
        'bench',
        '--nodes',
        spec,
        '--data-dir',
        n.dataDir,
        '--log-level',
        'warn',
        '--log-format',
        'json',
        // Peers authenticate, as by default: one secret per bench cluster, in its directory.
        '--cluster-secret-file',
        ensureClusterSecretFile(this.dir),
        // A node that never voted bootstraps; a restarted one keeps its state (issue 9). Not "has a
        // hard state file": a node killed before its first vote was durable has one, at term 0.
        ...(mayHaveVoted(realFs, join(n.dataDir, 'raft')) ? [] : ['--bootstrap']),
        ...(this.security === null
          ? []
          : [
              '--auth',
              '--bootstrap-admin-password-file',
              this.security.passwordFile,
              '--client-tls-cert',
              this.security.pki.path('server.crt'),
              '--client-tls-key',
              this.security.pki.path('server.key'),
              '--metrics-token-file',
              this.security.tokenFile,
            ]),
        ...this.spec.nodeArgs,
      ],
      // An IPC channel: a node started this way stops when the benchmark process goes away
      // (bin/sessionraft.ts listens for 'disconnect'), so an interrupted run leaves no nodes behind.
      { stdio: ['ignore', fd, fd, 'ipc'], env: nodeEnv() },
    );
    closeSync(fd);
    n.child = child;
    n.killing = false;
    n.exited = new Promise<void>((r) =>
      child.once('exit', (code, signal) => {
        if (!n.killing) this.unexpectedExits.push({ id: n.id, code, signal, logFile: n.logFile });
        r();
      }),
    );
  }

  /** Sends `signal` to the node's pid and waits for it to exit. */
  async kill(n: NodeProc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.isRunning(n)) return;
    n.killing = true;
    process.kill(n.child!.pid!, signal);
    await n.exited;
  }

  async status(n: NodeProc, timeoutMs = 1000): Promise<NodeStatusDoc> {
    return getJson<NodeStatusDoc>(n.addr.host, n.addr.adminPort, '/status', timeoutMs, this.adminTls);
  }

  /** The node's /metrics, summed per metric name over its labels (counters and gauges; histograms' lines by their own names). */
  /** The node's /metrics text (with the admin token and TLS when the cluster has them). */
  private metricsText(n: NodeProc, timeoutMs: number): Promise<string> {
    return getText(n.addr.host, n.addr.adminPort, '/metrics', timeoutMs, this.adminTls);
  }

  async metrics(n: NodeProc, timeoutMs = 1000): Promise<Map<string, number>> {
    const text = await this.metricsText(n, timeoutMs);
    const out = new Map<string, number>();
    for (const line of text.split('\n')) {
      const m = /^([a-z_:][a-z0-9_:]*)(?:\{[^}]*\})? ([-+0-9.eE]+|NaN)$/i.exec(line);
      if (m === null) continue;
      const v = Number(m[2]);
      if (Number.isFinite(v)) out.set(m[1]!, (out.get(m[1]!) ?? 0) + v);
    }
    return out;
  }

  /**
   * The node's garbage collections so far, from prom-client's `nodejs_gc_duration_seconds` in
   * /metrics: full (mark-compact) collections, and the seconds of every collection's pause.
   */
  async gcTotals(n: NodeProc, timeoutMs = 1000): Promise<GcTotals> {
    return gcTotalsOf(await this.metricsText(n, timeoutMs));
  }

  /** Every running node's GC totals now (a node whose /metrics did not answer reads NaN). */
  async gcReadings(): Promise<Map<string, GcReading>> {
    const running = this.nodes.filter((n) => this.isRunning(n));
    const totals = await Promise.all(running.map((n) => this.gcTotals(n).catch(() => ({ majors: NaN, pauseSeconds: NaN }))));
    // In the cluster's node order, so that rows list n1, n2, n3.
    return new Map(running.map((n, k) => [n.id, { pid: n.child?.pid ?? -1, ...totals[k]! }]));
  }

  /** The running node every running node agrees is the leader. */
  async waitForLeader(timeoutMs = 15_000, exclude: string | null = null): Promise<NodeProc> {
    return this.withLogTails(
      waitFor(
        'one leader that every running node follows',
        async () => {
          const running = this.nodes.filter((n) => this.isRunning(n) && n.id !== exclude);
          const docs = await Promise.all(running.map((n) => this.status(n, 500)));
          const leader = docs.find((d) => d.role === 'leader');
          if (leader === undefined || docs.some((d) => d.leader !== leader.node)) return null;
          return this.node(leader.node);
        },
        timeoutMs,
        20,
      ),
    );
  }

  /** `p`, whose error (a wait that timed out) also carries each node's last 1,000 bytes of log: why it did not answer. */
  private async withLogTails<T>(p: Promise<T>): Promise<T> {
    try {
      return await p;
    } catch (err) {
      const tails = this.nodes.map((n) => `--- ${n.id} (${this.isRunning(n) ? 'running' : 'not running'}) ${n.logFile}:\n${logTail(n.logFile, 1000)}`);
      throw new Error(`${(err as Error).message}\n${tails.join('\n')}`, { cause: err });
    }
  }

  /** Waits until every running node applied the leader's commit index. */
  async waitForConvergence(timeoutMs = 60_000): Promise<void> {
    await this.withLogTails(
      waitFor(
        'every running node applied the leader commit index',
        async () => {
          const running = this.nodes.filter((n) => this.isRunning(n));
          const docs = await Promise.all(running.map((n) => this.status(n, 2000)));
          const leader = docs.find((d) => d.role === 'leader');
          if (leader === undefined) return null;
          return docs.every((d) => d.appliedIndex >= leader.commitIndex) ? true : null;
        },
        timeoutMs,
        50,
      ),
    );
  }

  sample(n: NodeProc): ProcSample | null {
    return this.isRunning(n) ? sampleProc(n.child!.pid!) : null;
  }

  /** Stops every node (SIGKILL: the benchmark needs no graceful handover) and removes the directory. */
  async stop(keepDir = false, write: (text: string) => void = (t) => process.stderr.write(t)): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill(n, this.spec.cpuProfDir !== undefined ? 'SIGTERM' : 'SIGKILL')));
    live.delete(this);
    // A node that exited on its own leaves the directory (its log and data say why) and says so.
    const report = this.unexpectedExitReport();
    if (report !== '') write(report);
    if (!keepDir && this.unexpectedExits.length === 0) rmSync(this.dir, { recursive: true, force: true });
    this.security?.pki.remove();
  }

  /** Each node that exited on its own: its exit, where its log is, and the log's last 3,000 bytes ('' when none did). */
  unexpectedExitReport(): string {
    return this.unexpectedExits
      .map(
        (e) =>
          `node ${e.id} exited unexpectedly (code ${e.code}, signal ${e.signal}); its directory is kept, its log: ${e.logFile}\n${logTail(e.logFile, 3000)}\n`,
      )
      .join('');
  }

  /** Synchronous last resort (process exit): SIGKILL every node by pid, remove the directory. */
  killAllNow(): void {
    for (const n of this.nodes) {
      if (this.isRunning(n)) {
        try {
          process.kill(n.child!.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
    this.security?.pki.remove();
  }
}

/** The last `bytes` of a node's log (empty when it cannot be read). */
function logTail(file: string, bytes: number): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-bytes);
  } catch {
    return '';
  }
}

/** Clusters not stopped yet: killed if the benchmark process exits first (an error, Ctrl-C). */
const live = new Set<BenchCluster>();
process.once('exit', () => {
  for (const c of live) c.killAllNow();
});
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const c of live) c.killAllNow();
    process.exit(130);
  });
}
