/**
 * A cluster of real `sessionraft node` processes on 127.0.0.1 for the fault harness, with every
 * peer link through a proxy that the harness controls per directed link (proxy.ts).
 *
 * Ports: each node has a raft port that it advertises (in `--nodes`, the same list for every node,
 * as the configuration replicates it) where its proxy listens, a raft port it really listens on
 * (hidden flag --raft-listen-port), and client and admin ports. All peer traffic passes through
 * the proxies; client traffic goes straight to the nodes.
 *
 * Processes are started with `spawnNode` of the node tests and stopped by pid (SIGKILL) in
 * `destroy()`, which also removes the data directories; `destroy` is safe to call at any point.
 *
 * Membership: `ids` are "the nodes" the harness works on: the members of the configuration in
 * force as the harness last read it from the leader (`setMembers`), the initial nodes until a
 * fault changes the configuration. Spare nodes (`spares`) get their ports and proxies at start but
 * are spawned only when a fault adds one (`spawnSpare`, with --join); a node removed from the
 * configuration is no longer one of `ids` (not restarted on heal, not checked).
 */
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { Agent, get as httpsGet } from 'node:https';
import { join } from 'node:path';
import type { NodeAddress } from '../../actors/host/config.js';
import type { ClientOptions } from '../../transport/client/client.js';
import { freePorts, getJson, killNode, removeDir, spawnNode, tempDir, waitFor, type NodeProcess } from '../node/helpers.js';
import { Pki } from '../support/pki.js';
import { NodeProxy, type LinkSettings, type LinkStats } from './proxy.js';

export type Status = Record<string, any>;

export interface ChaosNodeTiming {
  readonly tickMs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
}

export interface ChaosClusterOptions {
  readonly size: number;
  readonly timing: ChaosNodeTiming;
  /** Replay classes, e.g. [200, 1000]. */
  readonly replayDelaysMs: readonly number[];
  readonly snapshotEntries: number;
  readonly compactMargin: number;
  /** Planted bugs for every node (hidden --plant flag). */
  readonly plant: readonly string[];
  /** Per node: extra flags (clock offset, another tick rate). */
  readonly nodeArgs?: (id: string) => string[];
  readonly random: () => number;
  readonly clusterId?: string;
  /** Spare nodes: ports and proxies set up at start, spawned (with --join) only by `spawnSpare`. */
  readonly spares?: number;
  /**
   * Security on (issue 17; default true): TLS on every node's client and admin ports (a throwaway
   * CA, a server certificate for IP 127.0.0.1), --auth with a bootstrap admin password file, and a
   * metrics token; every harness client logs in as the bootstrap admin (`clientAccess`), /status
   * is read over https with the token. false: plain ports, no login (the harness before issue 17).
   */
  readonly secure?: boolean;
}

/** What a harness client needs to reach a secured cluster: the CA, the login; spread into createClient. */
export type ClientAccess = Pick<ClientOptions, 'tls' | 'user' | 'password' | 'ignoreEnvironment' | 'connectTimeoutMs'>;

/** The harness's security material: a PKI, the bootstrap admin's password, the metrics token, their files. */
interface ChaosSecurity {
  readonly pki: Pki;
  /** The CA, and the client certificate naming admin (every client port and admin port asks for one). */
  readonly tls: { readonly ca: Buffer; readonly cert: Buffer; readonly key: Buffer };
  /**
   * Keep-alive for /status: a TLS handshake per request took more than the 500 ms a fault's poll
   * gives a status read on the loaded box (isolate-leader failed its 2 s wait for a new leader).
   */
  readonly agent: Agent;
  readonly adminPassword: string;
  readonly adminPasswordFile: string;
  readonly token: string;
  readonly tokenFile: string;
}

function makeSecurity(random: () => number): ChaosSecurity {
  const pki = new Pki('sessionraft-chaos-pki-');
  pki.ca('ca');
  pki.leaf('server', 'chaos node', 'ca', 'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost');
  // A client certificate naming the bootstrap admin: it logs in by itself (no scrypt hash on the node).
  pki.leaf('client-admin', 'admin', 'ca', 'keyUsage=digitalSignature\nextendedKeyUsage=clientAuth');
  const word = (n: number): string => Array.from({ length: n }, () => 'abcdefghijkmnpqrstuvwxyz23456789'[Math.floor(random() * 32)]).join('');
  const adminPassword = `chaos-${word(20)}`;
  const token = `chaos-token-${word(24)}`;
  const adminPasswordFile = pki.path('admin-password');
  const tokenFile = pki.path('metrics-token');
  writeFileSync(adminPasswordFile, `${adminPassword}\n`, { mode: 0o600 });
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const tls = { ca: pki.read('ca.crt'), cert: pki.read('client-admin.crt'), key: pki.read('client-admin.key') };
  return {
    pki,
    tls,
    agent: new Agent({ keepAlive: true, ...tls }),
    adminPassword,
    adminPasswordFile,
    token,
    tokenFile,
  };
}

/** GET JSON over https with the harness CA and headers; rejects on a status other than 200. */
function getJsonTls<T>(url: string, s: ChaosSecurity, headers: Record<string, string>, timeoutMs: number): Promise<T> {
  return new Promise((res, rej) => {
    const req = httpsGet(url, { ...s.tls, agent: s.agent, headers, timeout: timeoutMs }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (b: Buffer) => chunks.push(b));
      r.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (r.statusCode !== 200) rej(new Error(`GET ${url}: HTTP ${r.statusCode} ${body}`));
        else {
          try {
            res(JSON.parse(body) as T);
          } catch (err) {
            rej(err as Error);
          }
        }
      });
      r.on('error', rej);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', rej);
  });
}

export interface RemovedWatch {
  readonly node: string;
  readonly ranMs: number;
  readonly termBefore: number;
  readonly termMax: number;
  readonly membersBefore: string;
  readonly membersAfter: string;
  readonly kept: boolean;
  readonly refused: number;
}

/** A node that exited without the harness killing it (a crash: an invariant, a disk error). */
export interface UnexpectedExit {
  readonly node: string;
  readonly code: number | null;
  readonly signal: string | null;
  readonly tail: string;
}

/** Clusters not destroyed yet: an exiting harness kills their processes (by pid) and removes their data. */
const liveClusters = new Set<ChaosCluster>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of liveClusters) c.destroySync();
  });
}

export class ChaosCluster {
  /** The nodes the cluster started with (the bootstrap configuration). */
  readonly initialIds: string[];
  /** Spare nodes, in the order `spawnSpare` uses them. */
  readonly spareIds: string[];
  readonly dir: string;
  /** Real ports: raftPort is where the node listens (its proxy forwards there). */
  readonly real: Record<string, NodeAddress> = {};
  /** What every node is told (`--nodes`): raftPort is the node's proxy. */
  readonly advertised: Record<string, NodeAddress> = {};
  readonly proxies = new Map<string, NodeProxy>();
  readonly procs = new Map<string, NodeProcess>();
  readonly exits: UnexpectedExit[] = [];
  /** Earlier incarnations' output, per node (for failure reports). */
  private readonly pastOutput = new Map<string, string>();
  private readonly expectedExit = new Set<NodeProcess>();
  private readonly paused = new Set<string>();
  /** The configuration's members as the harness knows them (see `ids`). */
  private memberIds: string[];
  /** Nodes a fault removed from the configuration (they stay down, or are excluded from the checks). */
  readonly removed: string[] = [];
  /**
   * A removed node restarted for a while (faults.ts, `replace`): its term before and at most, the
   * members' leader@term before and after, whether they kept both, connections the members refused.
   */
  readonly removedWatch: RemovedWatch[] = [];
  private sparesUsed = 0;
  private destroyed = false;
  /** null: security off (`secure: false`). */
  private readonly security: ChaosSecurity | null;

  private constructor(
    readonly opts: ChaosClusterOptions,
    dir: string,
  ) {
    this.security = opts.secure === false ? null : makeSecurity(opts.random);
    this.initialIds = Array.from({ length: opts.size }, (_, k) => `n${k + 1}`);
    this.spareIds = Array.from({ length: opts.spares ?? 0 }, (_, k) => `n${opts.size + k + 1}`);
    this.memberIds = [...this.initialIds];
    this.dir = dir;
  }

  /**
   * "The nodes": the configuration's members (voters and learners) as last read from the leader
   * (`setMembers`); the initial nodes until a fault changes the configuration.
   */
  get ids(): string[] {
    return [...this.memberIds];
  }

  /** Spares spawned so far. */
  get sparesSpawned(): string[] {
    return this.spareIds.slice(0, this.sparesUsed);
  }

  /** Every node ever spawned (members, removed nodes, spares in use), for logs and evidence. */
  get spawnedIds(): string[] {
    return [...this.initialIds, ...this.spareIds.slice(0, this.sparesUsed)];
  }

  get clusterId(): string {
    return this.opts.clusterId ?? 'chaos';
  }

  get secure(): boolean {
    return this.security !== null;
  }

  /**
   * Options for a harness client: TLS with the harness CA and a login as the bootstrap admin ({}
   * when security is off), by `password` or by a client `certificate` naming admin.
   *
   * A password login is a scrypt hash on the node (N = 2^15, 50-100 ms of a libuv thread on an idle
   * core, at most 8 at once per node): on this 2-core box at load average 30-40 one login took 2-5
   * s, and a dozen clients logging in at once (the workload's workers and readers, again after
   * every kill) never got a connection ready: each gave up after its connect timeout and tried
   * another node, whose hash queue grew too. So the many workload clients and the checks' client
   * (the final write) log in by certificate, the few others (consumers, the group and membership
   * admin) by password, with 6 s
   * to connect (the login's own deadline is twice that). The nodes ask every client for a
   * certificate (--client-ca-file), so password clients present it too: their login request is
   * still checked against the password's hash.
   */
  clientAccess(by: 'password' | 'certificate' = 'password'): ClientAccess {
    const s = this.security;
    if (s === null) return {};
    if (by === 'certificate') return { tls: s.tls, ignoreEnvironment: true, connectTimeoutMs: 6000 };
    return { tls: s.tls, user: 'admin', password: s.adminPassword, ignoreEnvironment: true, connectTimeoutMs: 6000 };
  }

  /**
   * Waits until every live node lets the bootstrap admin in (HTTP Basic on /status: the node applied
   * the leader's UserPut), so harness clients do not start with logins a node cannot check yet.
   * Resolves at once when security is off.
   */
  async waitAdmin(timeoutMs: number): Promise<void> {
    const s = this.security;
    if (s === null) return;
    const basic = { authorization: `Basic ${Buffer.from(`admin:${s.adminPassword}`).toString('base64')}` };
    await waitFor(
      'the bootstrap admin on every live node (/status with HTTP Basic)',
      async () => {
        const ok = await Promise.all(
          this.live().map((id) =>
            getJsonTls(`https://127.0.0.1:${this.real[id]!.adminPort}/status`, s, basic, 2000).then(
              () => true,
              () => false,
            ),
          ),
        );
        return ok.every((x) => x) ? true : null;
      },
      timeoutMs,
      100,
    );
  }

  /** Adopts the configuration's members (read from the leader) as "the nodes". */
  setMembers(ids: readonly string[]): void {
    for (const id of ids) if (this.advertised[id] === undefined) throw new Error(`member ${id} is not a node of this harness`);
    this.memberIds = [...ids].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  }

  /**
   * Spawns the next spare node under its new ID with --join (empty data directory of its own, its
   * own ports and proxy): its --nodes lists the current members and itself, with the advertised
   * (proxy) addresses, as every node is told. It is not a member until the leader adds it.
   */
  spawnSpare(): string {
    const id = this.spareIds[this.sparesUsed];
    if (id === undefined) throw new Error(`no spare node left (${this.spareIds.length} set up: ChaosClusterOptions.spares)`);
    this.sparesUsed++;
    this.spawn(id);
    return id;
  }

  /** The address a member is added with: `host:raftPort:clientPort:adminPort`, its raft port its proxy's. */
  advertisedAddress(id: string): string {
    const a = this.advertised[id];
    if (a === undefined) throw new Error(`no node ${id}`);
    return `${a.host}:${a.raftPort}:${a.clientPort}:${a.adminPort}`;
  }

  static async start(opts: ChaosClusterOptions): Promise<ChaosCluster> {
    const c = new ChaosCluster(opts, tempDir('chaos'));
    installExitHook();
    liveClusters.add(c);
    try {
      const all = [...c.initialIds, ...c.spareIds];
      const n = all.length;
      const ports = await freePorts(4 * n);
      all.forEach((id, k) => {
        c.real[id] = { host: '127.0.0.1', raftPort: ports[k]!, clientPort: ports[n + k]!, adminPort: ports[2 * n + k]! };
        c.advertised[id] = { ...c.real[id]!, raftPort: ports[3 * n + k]! };
      });
      for (const id of all) {
        const p = new NodeProxy(id, { host: '127.0.0.1', port: c.real[id]!.raftPort }, opts.random);
        await p.listen(c.advertised[id]!.raftPort);
        c.proxies.set(id, p);
      }
      for (const id of c.ids) c.spawn(id);
    } catch (err) {
      await c.destroy();
      throw err;
    }
    return c;
  }

  /**
   * Spawns `id` on its ports and data directory. --nodes: the current members and `id` itself, with
   * the advertised addresses (at first the initial nodes: the bootstrap configuration). A removed
   * node is left out, so a restarted member does not keep it as a peer; the configuration in a
   * node's log or snapshot wins over --nodes anyway. Spares always start with --join: a learner
   * of the configuration until the log holds one (and never --bootstrap).
   */
  private spawn(id: string): NodeProcess {
    const t = this.opts.timing;
    const spare = this.spareIds.includes(id);
    const nodes: Record<string, NodeAddress> = {};
    for (const m of [...this.memberIds.filter((x) => x !== id), id]) nodes[m] = this.advertised[m]!;
    const extra = [
      '--cluster-id',
      this.opts.clusterId ?? 'chaos',
      '--tick-ms',
      String(t.tickMs),
      '--election-ticks',
      String(t.electionTicks),
      '--heartbeat-ticks',
      String(t.heartbeatTicks),
      '--replay-delays',
      this.opts.replayDelaysMs.join(','),
      '--snapshot-entries',
      String(this.opts.snapshotEntries),
      '--compact-margin',
      String(this.opts.compactMargin),
      '--shutdown-transfer-ms',
      '500',
      '--log-level',
      process.env.CHAOS_NODE_LOG_LEVEL ?? 'warn',
      ...(this.opts.plant.length > 0 ? ['--plant', this.opts.plant.join(',')] : []),
      '--raft-listen-port',
      String(this.real[id]!.raftPort),
      ...(spare ? ['--join'] : []),
      ...(this.security === null
        ? []
        : [
            '--auth',
            '--bootstrap-admin-password-file',
            this.security.adminPasswordFile,
            '--client-tls-cert',
            this.security.pki.path('server.crt'),
            '--client-tls-key',
            this.security.pki.path('server.key'),
            '--client-ca-file',
            this.security.pki.path('ca.crt'),
            '--metrics-token-file',
            this.security.tokenFile,
          ]),
      ...(this.opts.nodeArgs?.(id) ?? []),
    ];
    const p = spawnNode(id, nodes, this.dataDir(id), extra, {}, spare ? { bootstrap: false } : {});
    this.procs.set(id, p);
    void p.exited.then((code) => {
      if (this.expectedExit.has(p) || this.destroyed) return;
      this.exits.push({ node: id, code, signal: p.child.signalCode, tail: p.output().slice(-4000) });
    });
    return p;
  }

  dataDir(id: string): string {
    return join(this.dir, id);
  }

  /** The proxy in front of node `to` (every link into it). */
  proxy(to: string): NodeProxy {
    const p = this.proxies.get(to);
    if (p === undefined) throw new Error(`no node ${to}`);
    return p;
  }

  endpoints(): string[] {
    return this.ids.map((id) => `127.0.0.1:${this.real[id]!.clientPort}`);
  }

  endpoint(id: string): string {
    return `127.0.0.1:${this.real[id]!.clientPort}`;
  }

  isRunning(id: string): boolean {
    const p = this.procs.get(id);
    return p !== undefined && p.child.exitCode === null && p.child.signalCode === null;
  }

  isPaused(id: string): boolean {
    return this.paused.has(id);
  }

  /** Running and not paused. */
  live(): string[] {
    return this.ids.filter((id) => this.isRunning(id) && !this.paused.has(id));
  }

  // ---- process faults ---------------------------------------------------------------------------

  /** Sends `signal` by pid and waits for the exit (SIGKILL: at once; SIGTERM: a graceful stop). */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.procs.get(id);
    if (p === undefined || !this.isRunning(id)) return;
    this.expectedExit.add(p);
    if (this.paused.has(id) && signal !== 'SIGKILL') process.kill(p.child.pid!, 'SIGCONT');
    this.paused.delete(id);
    await killNode(p, signal);
  }

  /** Kills several at once: the signals go out back to back, then the exits are awaited. */
  async killAll(ids: readonly string[]): Promise<void> {
    const ps: NodeProcess[] = [];
    for (const id of ids) {
      const p = this.procs.get(id);
      if (p === undefined || !this.isRunning(id)) continue;
      this.expectedExit.add(p);
      process.kill(p.child.pid!, 'SIGKILL');
      this.paused.delete(id);
      ps.push(p);
    }
    await Promise.all(ps.map((p) => p.exited));
  }

  /** Starts a stopped node again on its ports and data directory. */
  restart(id: string): void {
    if (this.isRunning(id)) throw new Error(`${id} is running`);
    const old = this.procs.get(id);
    if (old !== undefined) this.pastOutput.set(id, ((this.pastOutput.get(id) ?? '') + old.output()).slice(-200_000));
    this.spawn(id);
  }

  pause(id: string): void {
    const p = this.procs.get(id);
    if (p === undefined || !this.isRunning(id) || this.paused.has(id)) return;
    process.kill(p.child.pid!, 'SIGSTOP');
    this.paused.add(id);
  }

  resume(id: string): void {
    const p = this.procs.get(id);
    if (p === undefined || !this.paused.has(id)) return;
    this.paused.delete(id);
    if (this.isRunning(id)) process.kill(p.child.pid!, 'SIGCONT');
  }

  // ---- network faults ---------------------------------------------------------------------------

  setLink(from: string, to: string, s: Partial<LinkSettings>): void {
    if (from === to) return;
    this.proxy(to).set(from, s);
  }

  /** Every link, both directions. */
  setAll(s: Partial<LinkSettings>): void {
    for (const a of this.ids) for (const b of this.ids) this.setLink(a, b, s);
  }

  /** Only nodes in the same group talk; `mode` says how the others are cut. */
  partition(groups: readonly (readonly string[])[], mode: 'reset' | 'blackhole' = 'reset'): void {
    const groupOf = new Map<string, number>();
    groups.forEach((g, k) => g.forEach((id) => groupOf.set(id, k)));
    for (const a of this.ids) {
      for (const b of this.ids) {
        const same = groupOf.get(a) !== undefined && groupOf.get(a) === groupOf.get(b);
        if (!same) this.setLink(a, b, { mode });
      }
    }
  }

  /** Cuts exactly the listed directed links (from -> to). */
  cut(pairs: readonly (readonly [string, string])[], mode: 'reset' | 'blackhole' = 'reset'): void {
    for (const [a, b] of pairs) this.setLink(a, b, { mode });
  }

  /** Every link back to healthy (no cut, delay or loss) and every paused node resumed. */
  healNetwork(): void {
    for (const p of this.proxies.values()) p.heal();
  }

  resumeAll(): void {
    for (const id of [...this.paused]) this.resume(id);
  }

  // ---- disk faults (on a stopped node) ----------------------------------------------------------

  private walFiles(id: string): string[] {
    const dir = join(this.dataDir(id), 'raft', 'wal');
    try {
      return readdirSync(dir)
        .filter((f) => f.endsWith('.wal'))
        .sort()
        .map((f) => join(dir, f));
    } catch {
      return [];
    }
  }

  /** Whether the newest WAL segment of a node (running or not) holds a whole record to tear now. */
  hasTearableTail(id: string): boolean {
    const files = this.walFiles(id);
    const last = files[files.length - 1];
    return last !== undefined && lastRecord(readFileSync(last)) !== null;
  }

  /**
   * A torn tail on the last WAL segment of a stopped node: either the last record cut short (as if
   * its write never completed), or a copy of the start of the last record appended (a header with
   * a valid checksum whose payload runs past the end: a new record that was being written).
   * Returns what was done, or null if the node has no records yet.
   */
  tearTail(id: string, random: () => number): string | null {
    if (this.isRunning(id)) throw new Error(`${id} must be stopped`);
    const files = this.walFiles(id);
    const last = files[files.length - 1];
    if (last === undefined) return null;
    const bytes = readFileSync(last);
    const found = lastRecord(bytes);
    if (found === null) return null; // only the segment header: nothing to tear
    const { lastStart, lastLen, end } = found;
    const name = last.slice(last.lastIndexOf('/') + 1);
    const preallocated = bytes.length > end;
    const r = random();
    // Preallocated zeros after the records: a write into them cut short at a sector boundary
    // inside the last record (what a crash leaves there), when the record crosses one.
    const sector = Math.ceil((lastStart + 1) / 512) * 512;
    if (preallocated && r < 1 / 3 && sector < end) {
      const fd = openSync(last, 'r+');
      try {
        writeSync(fd, Buffer.alloc(end - sector), 0, end - sector, sector);
      } finally {
        closeSync(fd);
      }
      return `zeroed ${name} from ${sector} (a write cut short at a sector boundary inside its last record ${lastStart}+${lastLen}, zeros after)`;
    }
    if (r < 0.5) {
      const cutAt = lastStart + 1 + Math.floor(random() * (lastLen - 1));
      truncateSync(last, cutAt);
      return `cut ${name} at ${cutAt} (inside its last record ${lastStart}+${lastLen}, of ${bytes.length})`;
    }
    const part = bytes.subarray(lastStart, lastStart + 16 + Math.floor(random() * (lastLen - 16)));
    // A file that grew with the write: the preallocated zeros go first.
    if (preallocated) truncateSync(last, end);
    const fd = openSync(last, 'a');
    try {
      writeSync(fd, part);
    } finally {
      closeSync(fd);
    }
    return `appended ${part.length} bytes of a partial record to ${name} (was ${bytes.length})`;
  }

  /**
   * Flips one bit of a stopped node's newest WAL segment, in its second half: the newest entries,
   * which no snapshot covers yet (damage that a snapshot covers is repaired by it and not even
   * reported, so it would prove nothing). Any bit there is under a checksum: recovery must find
   * the damage, keep the bytes aside and refuse to vote until the leader repaired the log.
   */
  flipBit(id: string, random: () => number): string | null {
    if (this.isRunning(id)) throw new Error(`${id} must be stopped`);
    const files = this.walFiles(id).filter((f) => statSync(f).size > 0);
    const f = files[files.length - 1];
    if (f === undefined) return null;
    // Within the records: a preallocated segment goes on in zeros past them (storage/wal.ts).
    const size = lastRecord(readFileSync(f))?.end ?? statSync(f).size;
    const offset = Math.floor(size / 2 + random() * (size - Math.floor(size / 2)));
    const bit = Math.floor(random() * 8);
    const fd = openSync(f, 'r+');
    try {
      const b = Buffer.alloc(1);
      readSync(fd, b, 0, 1, offset);
      b[0] = b[0]! ^ (1 << bit);
      writeSync(fd, b, 0, 1, offset);
    } finally {
      closeSync(fd);
    }
    return `flipped bit ${bit} at ${offset} of ${f.slice(f.lastIndexOf('/') + 1)} (${size} bytes)`;
  }

  // ---- observation ------------------------------------------------------------------------------

  async status(id: string, digest = false, timeoutMs = 1000): Promise<Status | null> {
    if (!this.isRunning(id) || this.paused.has(id)) return null;
    const path = `127.0.0.1:${this.real[id]!.adminPort}/status${digest ? '?digest=1' : ''}`;
    const s = this.security;
    try {
      // Secured: https with the harness CA and the metrics token (it opens /status too, and needs no user yet).
      if (s !== null) return await getJsonTls<Status>(`https://${path}`, s, { authorization: `Bearer ${s.token}` }, timeoutMs);
      return await getJson<Status>(`http://${path}`, timeoutMs);
    } catch {
      return null;
    }
  }

  /** The node that leads and that every live node follows (all live nodes answering), or null. */
  async agreedLeader(): Promise<string | null> {
    const live = this.live();
    const all = await Promise.all(live.map((id) => this.status(id)));
    if (all.length === 0 || all.some((s) => s === null)) return null;
    const leaders = all.filter((s) => s!.role === 'leader');
    if (leaders.length !== 1) return null;
    const id = leaders[0]!.node as string;
    return all.every((s) => s!.leader === id) ? id : null;
  }

  /** Some node that believes it leads (for faults aimed at "the leader" during chaos). */
  async currentLeader(): Promise<string | null> {
    const all = await Promise.all(this.live().map((id) => this.status(id, false, 500)));
    let best: Status | null = null;
    for (const s of all) if (s !== null && s.role === 'leader' && (best === null || s.term > best.term)) best = s;
    return best === null ? null : (best.node as string);
  }

  /**
   * Waits until none of `ids` reports a damaged log any more (`corrupt` in /status: recovery found
   * damage and the node neither votes nor leads until the leader has re-replicated its entries).
   */
  waitRepaired(ids: readonly string[], timeoutMs: number): Promise<true> {
    return waitFor(
      `${ids.join(',')} repaired by the leader (no longer reporting a damaged log)`,
      async () => {
        const st = await Promise.all(ids.map((id) => this.status(id)));
        return st.every((s) => s !== null && s.corrupt === false) ? true : null;
      },
      timeoutMs,
      50,
    );
  }

  /** Waits for a leader that every live node follows. */
  waitLeader(why: string, timeoutMs: number): Promise<string> {
    return waitFor(`an agreed leader (${why})`, () => this.agreedLeader(), timeoutMs, 50);
  }

  /** Every node's output (earlier incarnations first), for failure reports. */
  output(id: string): string {
    return (this.pastOutput.get(id) ?? '') + (this.procs.get(id)?.output() ?? '');
  }

  /**
   * What the nodes' logs say happened, counted over every incarnation: evidence that a fault took
   * effect (a torn tail cut at recovery, corruption found, bytes kept aside, a disk failure).
   */
  evidence(): Record<string, number> {
    const marks: Record<string, string> = {
      tornTailsCut: '"code":"STORAGE_TORN_TAIL"',
      corruptionFound: 'log corruption found at startup',
      keptAside: '"code":"STORAGE_KEPT_ASIDE"',
      diskFatal: '"level":60',
    };
    const out: Record<string, number> = {};
    for (const [k, m] of Object.entries(marks)) {
      out[k] = 0;
      for (const id of this.spawnedIds) out[k] += this.output(id).split(m).length - 1;
    }
    // A torn tail also leaves durable evidence: recovery keeps the cut bytes in raft/torn/ before the
    // node starts. The log line alone once went missing (CI, 2026-12-02: the node logs through an
    // asynchronous destination and was killed again 1.2 s after its restart), so the disk decides.
    out.tornTailsLogged = out.tornTailsCut!;
    out.tornTailsCut = 0;
    for (const id of this.spawnedIds) {
      const tornDir = join(this.dataDir(id), 'raft', 'torn');
      if (existsSync(tornDir)) out.tornTailsCut += readdirSync(tornDir).length;
    }
    return out;
  }

  /** The proxies' counters, summed over every link. */
  networkStats(): LinkStats {
    const t: LinkStats = { accepted: 0, cut: 0, dropped: 0, forwarded: 0, identified: 0, linksCut: 0, swallowed: 0 };
    for (const p of this.proxies.values()) for (const k of Object.keys(t) as (keyof LinkStats)[]) t[k] += p.stats[k];
    return t;
  }

  saveOutputs(dir: string): void {
    for (const id of this.spawnedIds) writeFileSync(join(dir, `${id}.log`), this.output(id));
  }

  /** For a harness that exits abruptly (a second Ctrl-C): SIGKILL by pid and remove the data, synchronously. */
  destroySync(): void {
    this.destroyed = true;
    liveClusters.delete(this);
    for (const p of this.procs.values()) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        try {
          process.kill(p.child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    removeDir(this.dir);
    this.security?.pki.remove();
    this.security?.agent.destroy();
  }

  /** Stops every process by pid (SIGKILL, also paused ones), closes the proxies, removes the data. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    liveClusters.delete(this);
    const waits: Promise<unknown>[] = [];
    for (const p of this.procs.values()) {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        try {
          process.kill(p.child.pid!, 'SIGKILL');
        } catch {
          // already gone
        }
        waits.push(p.exited);
      }
    }
    await Promise.all(waits);
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    removeDir(this.dir);
    this.security?.pki.remove();
    this.security?.agent.destroy();
  }
}

/**
 * The last whole record of a WAL segment's bytes (16-byte header: crc u32, payloadBytes u32 LE, type,
 * 3 zero, payloadCrc), or null when the segment holds only its header.
 */
function lastRecord(bytes: Buffer): { lastStart: number; lastLen: number; end: number } | null {
  let at = 0;
  let lastStart = -1;
  let lastLen = 0;
  while (at + 16 <= bytes.length) {
    // Zeros: the segment's preallocated tail (storage/wal.ts), past its records.
    if (bytes.subarray(at, at + 16).every((b) => b === 0)) break;
    const len = 16 + bytes.readUInt32LE(at + 4);
    if (at + len > bytes.length) break;
    lastStart = at;
    lastLen = len;
    at += len;
  }
  return lastStart <= 0 || lastLen <= 17 ? null : { lastStart, lastLen, end: lastStart + lastLen };
}
