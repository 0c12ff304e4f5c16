/**
 * `sessionraft cluster`: a local cluster of real node processes on one machine, with a live status
 * table. Each node is a child process (`sessionraft node ...`) with its own data directory and
 * log file; the supervisor polls every node's admin /status and draws the table. Stopping stops
 * the leader first (so it hands leadership to a running follower, as SIGTERM on a leader does),
 * then the others; children also stop if the supervisor dies (their IPC channel closes).
 *
 * Peers authenticate: the cluster secret is `<data>/cluster-secret` (32 random bytes, mode 0600,
 * generated on the first start and kept), given to every node with --cluster-secret-file.
 *
 * Clients authenticate too (issue 17): the first start also writes `<data>/admin-password` (the
 * bootstrap administrator's, mode 0600) and, with the openssl CLI, a CA and a server certificate for
 * 127.0.0.1 and localhost under `<data>/tls/` (kept across restarts); every node runs with --auth,
 * --bootstrap-admin-password-file and TLS on its client and admin ports. node:crypto cannot make
 * X.509 certificates; openssl is on practically every machine that has Node, so no npm dependency
 * is added for it; without openssl the ports stay plain on loopback (said at startup). The CLI finds
 * the password and the CA in ./data by default. The supervisor reads each node's status over its IPC
 * channel, so it needs no login of its own.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ensureClusterSecret } from '../actors/host/clusterSecret.js';
import { formatNodesSpec, type NodeAddress } from '../actors/host/config.js';
import { localPlacement, nodeEnv, nodeExecArgv } from './nodeRuntime.js';
import { formatColumns } from './output.js';

interface ClusterOptions {
  readonly binPath: string;
  readonly nodes: Record<string, NodeAddress>;
  readonly dataRoot: string;
  readonly clusterId: string;
  /** Extra flags for every node (timing, log level, inspection...). */
  readonly nodeArgs: readonly string[];
  /** Per-node extra flags. */
  readonly perNodeArgs?: (id: string) => readonly string[];
  readonly leaderTimeoutMs: number;
  readonly out: NodeJS.WriteStream;
}

interface Child {
  readonly id: string;
  readonly proc: ChildProcess;
  readonly logFile: string;
  exitCode: number | null | undefined;
  exitSignal: NodeJS.Signals | null;
}

/** What the table shows for one node (its own /status, or why there is none). */
interface NodeRow {
  readonly id: string;
  readonly pid: number | null;
  readonly up: boolean;
  readonly role: string;
  readonly term: number | null;
  readonly leader: string | null;
  readonly commit: number | null;
  readonly applied: number | null;
  readonly last: number | null;
  readonly lag: number | null;
  readonly note: string;
}

/** The local cluster's security files (issue 17), made on the first start and kept. */
interface LocalSecurity {
  /** The bootstrap administrator's password file (`admin` logs in with it). */
  readonly adminPasswordFile: string;
  /** The CA, the nodes' server certificate and key; null without openssl (plain ports on loopback). */
  readonly tls: { readonly caFile: string; readonly certFile: string; readonly keyFile: string } | null;
}

/** The openssl CLI, or null when the machine has none. */
function findOpenssl(): string | null {
  for (const p of ['/usr/bin/openssl', '/usr/local/bin/openssl', '/opt/homebrew/bin/openssl']) if (existsSync(p)) return p;
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return 'openssl';
  } catch {
    return null;
  }
}

/**
 * `<dataRoot>/admin-password` (24 random bytes, base64url, mode 0600) and `<dataRoot>/tls/` (an EC
 * P-256 CA valid 10 years, and a server certificate for IP 127.0.0.1 and DNS localhost signed by it,
 * valid 825 days): made once, kept afterwards (the CA may be trusted by clients already).
 */
export function ensureLocalSecurity(dataRoot: string): LocalSecurity {
  mkdirSync(dataRoot, { recursive: true });
  const adminPasswordFile = resolve(dataRoot, 'admin-password');
  if (!existsSync(adminPasswordFile)) writeFileSync(adminPasswordFile, randomBytes(24).toString('base64url') + '\n', { mode: 0o600, flag: 'wx' });
  const dir = resolve(dataRoot, 'tls');
  const tls = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') };
  if (existsSync(tls.caFile) && existsSync(tls.certFile) && existsSync(tls.keyFile)) return { adminPasswordFile, tls };
  const openssl = findOpenssl();
  if (openssl === null) return { adminPasswordFile, tls: null };
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const run = (...args: string[]): void => void execFileSync(openssl, args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  run('req', '-x509', ...ec, '-days', '3650', '-subj', '/CN=sessionraft local CA', '-keyout', 'ca.key', '-out', 'ca.crt');
  writeFileSync(
    join(dir, 'server.ext'),
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  );
  run('req', ...ec, '-subj', '/CN=sessionraft local node', '-keyout', 'server.key', '-out', 'server.csr');
  run(
    'x509',
    '-req',
    '-in',
    'server.csr',
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '825',
    '-out',
    'server.crt',
    '-extfile',
    'server.ext',
  );
  return { adminPasswordFile, tls };
}

export class LocalCluster {
  private readonly children = new Map<string, Child>();
  private stopping: Promise<void> | null = null;

  constructor(readonly opts: ClusterOptions) {}

  ids(): string[] {
    return Object.keys(this.opts.nodes);
  }

  /** Where the cluster secret is (generated by `start` when there is none). */
  secretFile(): string {
    return resolve(this.opts.dataRoot, 'cluster-secret');
  }

  /**
   * A node's status (what its admin /status serves), asked over the child's IPC channel: the
   * supervisor needs no login on the admin port, which may require one (issue 17).
   */
  private fetchStatus(id: string, timeoutMs: number): Promise<Record<string, unknown>> {
    const c = this.children.get(id);
    if (c === undefined || !c.proc.connected) return Promise.reject(new Error('not running'));
    const proc = c.proc;
    return new Promise((res, rej) => {
      const timer = setTimeout(() => {
        proc.off('message', onMessage);
        rej(new Error('timeout'));
      }, timeoutMs);
      const onMessage = (m: { cmd?: string; status?: Record<string, unknown> }): void => {
        if (m?.cmd !== 'status' || m.status === undefined) return;
        clearTimeout(timer);
        proc.off('message', onMessage);
        res(m.status);
      };
      proc.on('message', onMessage);
      try {
        proc.send({ cmd: 'status' });
      } catch (err) {
        clearTimeout(timer);
        proc.off('message', onMessage);
        rej(err as Error);
      }
    });
  }

  /** Spawns every node. Their logs go to <dataRoot>/<id>/node.log. */
  start(): void {
    const spec = formatNodesSpec(this.opts.nodes);
    const secretFile = this.secretFile();
    ensureClusterSecret(secretFile);
    for (const id of this.ids()) {
      const dataDir = resolve(this.opts.dataRoot, id);
      mkdirSync(dataDir, { recursive: true });
      const logFile = join(dataDir, 'node.log');
      const fd = openSync(logFile, 'a');
      const args = [
        // The supervisor's node flags (e.g. --enable-source-maps), but never a debugger port; and
        // the memory and GC defaults it did not set (nodeRuntime.ts).
        ...nodeExecArgv(
          process.execArgv.filter((a) => !a.startsWith('--inspect') && !a.startsWith('--debug')),
          process.env.NODE_OPTIONS,
          localPlacement(this.ids().length),
        ),
        this.opts.binPath,
        'node',
        '--id',
        id,
        '--cluster-id',
        this.opts.clusterId,
        '--nodes',
        spec,
        '--data-dir',
        dataDir,
        '--log-format',
        'json',
        '--cluster-secret-file',
        secretFile,
        ...this.opts.nodeArgs,
        ...(this.opts.perNodeArgs?.(id) ?? []),
      ];
      // Own process group: a Ctrl-C reaches only the supervisor, which stops the nodes in order.
      const proc = spawn(process.execPath, args, { stdio: ['ignore', fd, fd, 'ipc'], detached: true, env: nodeEnv() });
      closeSync(fd);
      const child: Child = { id, proc, logFile, exitCode: undefined, exitSignal: null };
      proc.on('exit', (code, signal) => {
        child.exitCode = code;
        child.exitSignal = signal;
      });
      this.children.set(id, child);
    }
  }

  async rows(timeoutMs = 400): Promise<NodeRow[]> {
    const ids = this.ids();
    const statuses = await Promise.all(ids.map((id) => this.fetchStatus(id, timeoutMs).catch((err: Error) => err)));
    // The leader's view gives every follower's lag.
    let leaderView: Record<string, unknown> | null = null;
    for (const s of statuses) {
      if (!(s instanceof Error) && s.role === 'leader' && (leaderView === null || Number(s.term) > Number(leaderView.term))) leaderView = s;
    }
    return ids.map((id, k) => {
      const c = this.children.get(id);
      const s = statuses[k]!;
      const pid = c?.proc.pid ?? null;
      const exited = c !== undefined && c.exitCode !== undefined;
      if (s instanceof Error) {
        const note = exited ? `exited (${c!.exitSignal ?? c!.exitCode}); log: ${c!.logFile}` : `no status: ${s.message}`;
        return { id, pid, up: false, role: exited ? 'down' : '?', term: null, leader: null, commit: null, applied: null, last: null, lag: null, note };
      }
      const views = (leaderView?.nodes ?? {}) as Record<string, { lag?: number }>;
      const lag = s.role === 'leader' ? 0 : (views[id]?.lag ?? null);
      return {
        id,
        pid: Number(s.pid),
        up: true,
        role: String(s.role),
        term: Number(s.term),
        leader: (s.leader as string | null) ?? null,
        commit: Number(s.commitIndex),
        applied: Number(s.appliedIndex),
        last: Number(s.lastIndex),
        lag,
        note: s.corrupt === true ? 'log corrupt: waiting for repair' : '',
      };
    });
  }

  /**
   * Resolves once exactly one node leads, every running node follows it, and each has applied
   * what the leader had committed (the leader's first entry of its term included).
   */
  async waitForLeader(): Promise<{ leader: string; term: number; ms: number }> {
    const t0 = Date.now();
    for (;;) {
      const rows = await this.rows(300);
      const leaders = rows.filter((r) => r.role === 'leader');
      const l = leaders[0];
      if (leaders.length === 1 && l!.commit! > 0 && rows.every((r) => !r.up || (r.leader === l!.id && r.applied! >= l!.commit!))) {
        return { leader: l!.id, term: l!.term!, ms: Date.now() - t0 };
      }
      const dead = [...this.children.values()].filter((c) => c.exitCode !== undefined);
      if (dead.length === this.children.size) throw new Error(`every node exited; see ${dead.map((c) => c.logFile).join(', ')}`);
      if (Date.now() - t0 > this.opts.leaderTimeoutMs) {
        throw new Error(`no leader within ${this.opts.leaderTimeoutMs} ms; node logs: ${[...this.children.values()].map((c) => c.logFile).join(', ')}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stops the leader first (it transfers leadership), then the others; SIGKILL after `graceMs`. */
  stop(graceMs = 5000): Promise<void> {
    if (this.stopping === null) this.stopping = this.stopAll(graceMs);
    return this.stopping;
  }

  private async stopAll(graceMs: number): Promise<void> {
    const rows = await this.rows(300).catch(() => [] as NodeRow[]);
    const leader = rows.find((r) => r.role === 'leader')?.id;
    // The leader first, handing over to a running follower (what SIGTERM does to a leader); the
    // rest then stop together without transfers (nobody would be left to lead).
    if (leader !== undefined) await this.stopOne(leader, graceMs, true);
    await Promise.all(
      this.ids()
        .filter((id) => id !== leader)
        .map((id) => this.stopOne(id, graceMs, false)),
    );
  }

  private stopOne(id: string, graceMs: number, transfer: boolean): Promise<void> {
    const c = this.children.get(id);
    if (c === undefined || c.exitCode !== undefined || c.proc.pid === undefined) return Promise.resolve();
    return new Promise((res) => {
      const timer = setTimeout(() => {
        if (c.exitCode === undefined) process.kill(c.proc.pid!, 'SIGKILL');
      }, graceMs);
      c.proc.once('exit', () => {
        clearTimeout(timer);
        res();
      });
      try {
        if (c.proc.connected) c.proc.send({ cmd: 'stop', transfer });
        else process.kill(c.proc.pid!, 'SIGTERM');
      } catch {
        clearTimeout(timer);
        res();
      }
    });
  }
}

/** The status table: one line per node. */
export function formatTable(rows: readonly NodeRow[]): string {
  const head = ['node', 'pid', 'role', 'term', 'leader', 'commit', 'applied', 'last', 'lag', ''];
  const cell = (v: unknown): string => (v === null || v === undefined ? '-' : String(v));
  const lines = [
    head,
    ...rows.map((r) => [r.id, cell(r.pid), r.role, cell(r.term), cell(r.leader), cell(r.commit), cell(r.applied), cell(r.last), cell(r.lag), r.note]),
  ];
  return formatColumns(lines);
}
