/**
 * `npm run bench -- cluster [--json] [--quick] [--only=a,b] [--profile=DIR] [--repeat=N] [--secure[=both]]`
 *
 * Three real node processes (dist/bin/sessionraft.js node) on loopback, data in a temporary
 * directory on the real disk, fsync on, default timing (20 ms ticks); closed-loop clients in this
 * process through the real client library (transport/client/client.ts). Scenarios (names for --only):
 *
 *   append    SessionAppend at 1, 16 and 128 in flight, 128 B and 4 KiB records
 *   mixed     create, append (128 B; --mixed-payload=N), store with replay (1 s class), destroy
 *   read      linearizable get at 16 in flight
 *   failover  kill -9 of the leader under load, 10 tries: time to the first acknowledged write,
 *             the gap in acknowledgements, and a check that nothing acknowledged was lost
 *   catchup   a follower down while 100,000 commands pass, then the time until it caught up
 *   restart   a follower whose log holds 1,000,000 entries restarts: time until it serves
 *   active    100,000 active sessions of 1 KiB (--sessions=N; 10,000 with --quick): each node's peak
 *             RSS while they are created, then while a follower restarts (kill -9) on them (issue 18)
 *
 * The first row is the machine: the fsync floor (4 KiB write + fdatasync, p50 and p99) and the load
 * average. Every row carries the CPU use and peak RSS of each node over the scenario, and the write
 * rows the CPU time per command of the three nodes and the client together (`cpuUsPerOp`). `--profile=DIR` runs
 * the nodes with `node --cpu-prof` and keeps the profiles there (one directory per node).
 * `--repeat=N` runs the machine row and the scenarios N times over (N fresh clusters, at most 20),
 * every row tagged with its `run`, and closes with each target's median, range and the number of
 * runs that met it (`scenario: 'target'` rows with --json): the box's speed moves from hour to hour,
 * and a target judged on one run says as much about the hour as about the build.
 * `--secure` runs every node with TLS on its client and admin ports and --auth (issue 17), the client
 * logged in, /status and /metrics read over https with a token; `--secure=both` runs each scenario
 * without, then with, every row tagged `security` (off, tls+auth): the cost of security per operation.
 */
import { mkdirSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import type { BenchContext, BenchResult } from './cli.js';
import { formatColumns } from '../../bin/output.js';
import { closedLoop, repeatOf, spreadOf, summarize, type LoadSummary } from './clusterLoad.js';
import {
  BenchCluster,
  machineRow,
  resetPeakRss,
  sampleMachine,
  waitFor,
  type ClusterSpec,
  gcRateFields,
  type GcReading,
  type NodeProc,
  type ProcSample,
} from './clusterProcs.js';

type Row = Record<string, unknown>;

interface Settings {
  readonly quick: boolean;
  /** Measured seconds per throughput row (after a warm-up). */
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly failoverTries: number;
  readonly catchupCommands: number;
  readonly restartEntries: number;
  /** Active sessions of 1 KiB held by the `active` scenario. */
  readonly activeSessions: number;
  readonly profileDir: string | undefined;
  /** Only these append payloads / concurrencies (`--payload=128`, `--concurrency=1,128`). */
  readonly payloads: readonly number[];
  readonly concurrencies: readonly number[];
  /** The mixed scenario's record size (`--mixed-payload=4096`: long appends between short commands). */
  readonly mixedPayloadBytes: number;
  /** Node.js flags for every node (`--exec-args=--max-old-space-size=96`, comma separated). */
  readonly execArgs: readonly string[];
  /** Extra `sessionraft node` flags for every node (`--node-args=--log-window-bytes,1073741824`, comma separated). */
  readonly nodeArgs: readonly string[];
  /** Issue 17: TLS on client/admin ports and --auth on every node, the client logged in (`--secure`). */
  readonly secure: boolean;
}

function settingsOf(ctx: BenchContext): Settings {
  const arg = (name: string): string | undefined => ctx.args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const profile = arg('profile');
  return {
    quick: ctx.quick,
    durationMs: Number(arg('seconds') ?? (ctx.quick ? 2 : 8)) * 1000,
    warmupMs: ctx.quick ? 500 : 1500,
    failoverTries: Number(arg('tries') ?? (ctx.quick ? 3 : 10)),
    catchupCommands: Number(arg('catchup') ?? (ctx.quick ? 20_000 : 100_000)),
    restartEntries: Number(arg('entries') ?? (ctx.quick ? 100_000 : 1_000_000)),
    activeSessions: Number(arg('sessions') ?? (ctx.quick ? 10_000 : 100_000)),
    profileDir: profile !== undefined ? resolve(profile) : undefined,
    payloads: (arg('payload') ?? '128,4096').split(',').map(Number),
    concurrencies: (arg('concurrency') ?? '1,16,128').split(',').map(Number),
    mixedPayloadBytes: Number(arg('mixed-payload') ?? 128),
    execArgs: (arg('exec-args') ?? '').split(',').filter((a) => a !== ''),
    nodeArgs: (arg('node-args') ?? '').split(',').filter((a) => a !== ''),
    secure: false,
  };
}

const scenarioNames = ['append', 'mixed', 'read', 'failover', 'catchup', 'restart', 'active'] as const;

/** Resource use of every node between `begin` and `end`. */
class Resources {
  private readonly t0 = performance.now();
  private readonly cpu0: Map<string, number> = new Map();
  private readonly self0 = process.cpuUsage();
  private readonly machine0 = sampleMachine();
  constructor(private readonly cluster: BenchCluster) {
    for (const n of cluster.nodes) {
      const s = cluster.sample(n);
      if (s !== null) {
        this.cpu0.set(n.id, s.cpuMs);
        resetPeakRss(n.child!.pid!);
      } else {
        this.cpu0.set(n.id, 0); // not running now: a process started later counts from its start
      }
    }
  }

  private gc0: Map<string, GcReading> | null = null;

  /** Starts counting each node's garbage collections (read from its /metrics). */
  async startGc(): Promise<void> {
    this.gc0 = await this.cluster.gcReadings();
  }

  /** Since `startGc`: each node's full collections and GC pauses a second (gcRateFields). */
  async gcFields(leader: string | null): Promise<Row> {
    if (this.gc0 === null) return {};
    const g1 = await this.cluster.gcReadings();
    return gcRateFields(this.gc0, g1, (performance.now() - this.t0) / 1000, (id) => (id === leader ? `${id}L` : id));
  }

  /**
   * Fields: `<id>CpuPct`, `<id>RssPeakMb` per node (100 = one core; `L` marks the leader),
   * `clientCpuPct`; with `ops`, CPU microseconds per operation (`<id>UsPerOp`, `clientUsPerOp`),
   * the figure least disturbed by other work on the machine.
   */
  fields(leader: string | null, ops = 0): Row {
    const wallMs = performance.now() - this.t0;
    const out: Row = {};
    for (const n of this.cluster.nodes) {
      const s: ProcSample | null = this.cluster.sample(n);
      if (s === null) continue;
      const c0 = this.cpu0.get(n.id);
      const tag = n.id === leader ? `${n.id}L` : n.id;
      if (c0 !== undefined) out[`${tag}CpuPct`] = Math.round(((s.cpuMs - c0) / wallMs) * 100);
      if (c0 !== undefined && ops > 0) out[`${tag}UsPerOp`] = Math.round(((s.cpuMs - c0) * 1000) / ops);
      out[`${tag}RssPeakMb`] = Math.round(s.hwmMb);
    }
    const u = process.cpuUsage(this.self0);
    const clientMs = (u.user + u.system) / 1000;
    out.clientCpuPct = Math.round((clientMs / wallMs) * 100);
    if (ops > 0) out.clientUsPerOp = Math.round((clientMs * 1000) / ops);
    // Everything else on the machine (other work shares these 2 cores) and how often a task waited
    // for a CPU: context for every figure on a shared box.
    const m = sampleMachine();
    let oursMs = clientMs;
    for (const n of this.cluster.nodes) {
      const s = this.cluster.sample(n);
      const c0 = this.cpu0.get(n.id);
      if (s !== null && c0 !== undefined) oursMs += s.cpuMs - c0;
    }
    // What the cluster and client would do if CPU were the only limit and the machine were theirs:
    // the machine's cores divided by the CPU time all four processes spent per operation.
    // CPU per command of all four processes together (the three nodes and the client).
    if (ops > 0) out.cpuUsPerOp = Math.round((oursMs * 1000) / ops);
    if (ops > 0 && oursMs > 0) out.cpuCeilingOpsPerSec = Math.round((availableParallelism() * ops * 1000) / oursMs);
    out.otherCpuPct = Math.max(0, Math.round(((m.busyMs - this.machine0.busyMs - oursMs) / wallMs) * 100));
    out.cpuStallPct = Math.round(((m.stallMs - this.machine0.stallMs) / wallMs) * 100);
    return out;
  }
}

function loadFields(s: LoadSummary): Row {
  const r = (x: number, d = 3): number => Number(x.toFixed(d));
  return {
    opsPerSec: Math.round(s.opsPerSec),
    p50Ms: r(s.p50Ms),
    p99Ms: r(s.p99Ms),
    maxMs: r(s.maxMs),
    ops: s.ops,
    errors: s.errors,
    ...(s.firstError ? { firstError: s.firstError } : {}),
  };
}

function spec(s: Settings, nodeArgs: string[] = []): ClusterSpec {
  return {
    size: 3,
    nodeArgs: [...nodeArgs, ...s.nodeArgs],
    execArgs: s.execArgs,
    secure: s.secure,
    ...(s.profileDir !== undefined ? { cpuProfDir: s.profileDir } : {}),
  };
}

async function withCluster<T>(s: Settings, nodeArgs: string[], fn: (c: BenchCluster) => Promise<T>): Promise<T> {
  const c = await BenchCluster.start(spec(s, nodeArgs));
  try {
    // Generous: on a loaded shared box three node processes took more than 20 s to load and elect.
    await c.waitForLeader(90_000);
    if (s.secure) {
      // The leader creates the bootstrap admin once it applied an entry of its term; every node
      // must know it before the client logs in (a few entries after the election; 60 s on a loaded box).
      await waitFor(
        'the bootstrap admin logging in on every node',
        async () => {
          for (const e of c.endpoints()) {
            const one = createClient({ ...c.clientAccess(), endpoints: [e], operationTimeoutMs: 5000 });
            try {
              await one.list();
            } catch {
              return null;
            } finally {
              await one.close();
            }
          }
          return true;
        },
        60_000,
        200,
      );
    }
    return await fn(c);
  } finally {
    await c.stop();
  }
}

function client(c: BenchCluster, inflight: number): SessionraftClient {
  return createClient({ ...c.clientAccess(), endpoints: c.endpoints(), inflightCommandsMax: Math.max(1, Math.min(inflight, 192)) });
}

// ---- append ----------------------------------------------------------------------------------------

/** Sessions are kept under this many bytes (rewritten to one record when full): bounded active data. */
const sessionBytesBench = 64 * 1024;

/**
 * A SessionAppend workload: one session per worker, kept under sessionBytesBench (rewritten to one
 * record when full; the rewrite is not timed). Records are `payloadBytes` long; with `tagged`, each
 * starts with `<worker>:<seq>;` so that a check can find every acknowledged one later.
 */
async function appendWorkload(
  cl: SessionraftClient,
  concurrency: number,
  payloadBytes: number,
  topic = 'bench',
): Promise<{ op: (w: number, seq: number) => Promise<boolean>; sessions: string[] }> {
  const record = new Uint8Array(payloadBytes).fill(0x61);
  const perSession = Math.max(1, Math.floor(sessionBytesBench / payloadBytes) - 1);
  const sessions: string[] = [];
  for (let w = 0; w < concurrency; w++) sessions.push((await cl.createSession(`${topic}-${w % 16}`)).id);
  const counts = new Array<number>(concurrency).fill(0);
  const op = async (w: number): Promise<boolean> => {
    if (++counts[w]! >= perSession) {
      counts[w] = 0;
      await cl.rewrite(sessions[w]!, record);
      return false;
    }
    await cl.append(sessions[w]!, record);
    return true;
  };
  return { op, sessions };
}

/** Drives `count` appends through the cluster as fast as 128 in flight allow. */
async function push(ctx: BenchContext, c: BenchCluster, count: number, what: string): Promise<LoadSummary> {
  const cl = client(c, 128);
  try {
    const { op } = await appendWorkload(cl, 128, 128, 'fill');
    return await closedLoop({
      concurrency: 128,
      opsMax: count,
      op,
      onProgress: (ops, ms) => ctx.progress(`${what}: ${ops}/${count} commands, ${Math.round((ops * 1000) / ms)}/s`),
    });
  } finally {
    await cl.close();
  }
}

/**
 * A fresh node process runs its code cold (interpreted, then baseline), which at a few hundred
 * operations a second would dominate what is measured. Every throughput scenario starts after this
 * warm-up at full load, as a long-running server would be.
 */
async function warmUp(ctx: BenchContext, s: Settings, c: BenchCluster): Promise<void> {
  const cl = client(c, 128);
  try {
    const { op } = await appendWorkload(cl, 128, 128, 'warm');
    await closedLoop({ concurrency: 128, durationMs: s.quick ? 1500 : 4000, op, onProgress: (ops) => ctx.progress(`warming up the cluster: ${ops} appends`) });
  } finally {
    await cl.close();
  }
}

/** Where the leader's memory is at the end of a row, as it accounts it (MB by part): what its peak is made of. */
async function leaderMemFields(c: BenchCluster, leader: NodeProc): Promise<{ snapshotIndex: number; parts: Record<string, number> }> {
  const st = await c.status(leader);
  const parts = Object.fromEntries(Object.entries(st.memory ?? {}).map(([k, v]) => [`leaderMem_${k}Mb`, Math.round(v / 1e6)]));
  return { snapshotIndex: st.snapshotIndex, parts };
}

/**
 * How well the leader batched during a row: its durable log writes and its peer messages per
 * command (a write of 10 entries is 0.1 per command). Measured from its /metrics before and after.
 */
function batching(m0: Map<string, number>, m1: Map<string, number>, ops: number): Record<string, number> {
  const per = (name: string): number => (ops > 0 ? Math.round((((m1.get(name) ?? 0) - (m0.get(name) ?? 0)) / ops) * 1000) / 1000 : 0);
  return { leaderWalBatchesPerOp: per('sessionraft_wal_batches_total'), leaderPeerMsgsPerOp: per('sessionraft_transport_messages_sent_total') };
}

async function appendRows(ctx: BenchContext, s: Settings, c: BenchCluster): Promise<void> {
  for (const payloadBytes of s.payloads) {
    for (const concurrency of s.concurrencies) {
      const cl = client(c, concurrency);
      try {
        const { op } = await appendWorkload(cl, concurrency, payloadBytes);
        const label = `append ${payloadBytes} B x${concurrency}`;
        ctx.progress(`${label}: warming up`);
        await closedLoop({ concurrency, durationMs: s.warmupMs, op });
        const leaderProc = await c.waitForLeader();
        const leader = leaderProc.id;
        const res = new Resources(c);
        await res.startGc();
        const m0 = await c.metrics(leaderProc);
        const sum = await closedLoop({
          concurrency,
          durationMs: s.durationMs,
          op,
          onProgress: (ops, ms) => ctx.progress(`${label}: ${ops} ops, ${Math.round((ops * 1000) / ms)}/s`),
        });
        const gc = await res.gcFields(leader);
        const m1 = await c.metrics(leaderProc);
        const { parts: mem } = await leaderMemFields(c, leaderProc);
        ctx.report({
          scenario: 'append',
          concurrency,
          payloadBytes,
          ...loadFields(sum),
          ...res.fields(leader, sum.ops),
          ...gc,
          ...batching(m0, m1, sum.ops),
          ...mem,
        });
      } finally {
        await cl.close();
      }
    }
  }
}

// ---- mixed -----------------------------------------------------------------------------------------

/**
 * Each worker: create a session, append 6 records of 128 B (`--mixed-payload=N`), then store it for
 * replay in the 1 s class (every other session) or destroy it. A subscriber on the topic counts the restored
 * sessions the cluster pushes back (they stay active; the scenario is short). One row overall and
 * one per operation.
 */
async function mixedRows(ctx: BenchContext, s: Settings, c: BenchCluster): Promise<void> {
  const concurrency = 16;
  const cl = client(c, concurrency);
  let deliveries = 0;
  const sub = await cl.subscribe('mixed', () => {
    deliveries++;
  });
  try {
    const record = new Uint8Array(s.mixedPayloadBytes).fill(0x6d);
    const current: (string | null)[] = new Array<string | null>(concurrency).fill(null);
    const step = new Array<number>(concurrency).fill(0);
    const byOp = new Map<string, number[]>();
    const time = async (name: string, fn: () => Promise<unknown>): Promise<void> => {
      const t0 = performance.now();
      await fn();
      let l = byOp.get(name);
      if (l === undefined) byOp.set(name, (l = []));
      l.push(performance.now() - t0);
    };
    let cycles = 0;
    const op = async (w: number): Promise<boolean> => {
      const k = step[w]!;
      step[w] = (k + 1) % 8;
      if (k === 0) await time('create', async () => (current[w] = (await cl.createSession('mixed')).id));
      else if (k < 7) await time('append', () => cl.append(current[w]!, record));
      else if (++cycles % 2 === 0) await time('store', () => cl.store(current[w]!, { replay: '1s' }));
      else await time('destroy', () => cl.destroy(current[w]!));
      return true;
    };
    ctx.progress('mixed x16: warming up');
    await closedLoop({ concurrency, durationMs: s.warmupMs, op });
    byOp.clear();
    const delivered0 = deliveries;
    const leader = (await c.waitForLeader()).id;
    const res = new Resources(c);
    const sum = await closedLoop({
      concurrency,
      durationMs: s.durationMs,
      op,
      onProgress: (ops, ms) => ctx.progress(`mixed x16: ${ops} ops, ${Math.round((ops * 1000) / ms)}/s`),
    });
    ctx.report({
      scenario: 'mixed',
      concurrency,
      payloadBytes: s.mixedPayloadBytes,
      ...loadFields(sum),
      restoredDelivered: deliveries - delivered0,
      ...res.fields(leader, sum.ops),
    });
    for (const [name, lat] of byOp) {
      const o = summarize(lat, sum.seconds, 0, null);
      ctx.report({ scenario: `mixed.${name}`, concurrency, payloadBytes: name === 'append' ? s.mixedPayloadBytes : 0, ...loadFields(o) });
    }
  } finally {
    await sub.close();
    await cl.close();
  }
}

// ---- read ------------------------------------------------------------------------------------------

async function readRows(ctx: BenchContext, s: Settings, c: BenchCluster): Promise<void> {
  const concurrency = 16;
  const cl = client(c, concurrency);
  try {
    const ids: string[] = [];
    for (let k = 0; k < 64; k++) {
      const { id } = await cl.createSession('bench-read');
      for (let r = 0; r < 4; r++) await cl.append(id, new Uint8Array(128).fill(0x62));
      ids.push(id);
    }
    const op = async (w: number, seq: number): Promise<boolean> => {
      const st = await cl.get(ids[(w * 7 + seq) % ids.length]!);
      if (st === null || st.records.length !== 4) throw new Error('read returned the wrong session');
      return true;
    };
    ctx.progress('read x16: warming up');
    await closedLoop({ concurrency, durationMs: s.warmupMs, op });
    const leader = (await c.waitForLeader()).id;
    const res = new Resources(c);
    const sum = await closedLoop({
      concurrency,
      durationMs: s.durationMs,
      op,
      onProgress: (ops, ms) => ctx.progress(`read x16: ${ops} ops, ${Math.round((ops * 1000) / ms)}/s`),
    });
    ctx.report({ scenario: 'read', concurrency, payloadBytes: 4 * 128, ...loadFields(sum), ...res.fields(leader, sum.ops) });
  } finally {
    await cl.close();
  }
}

// ---- failover --------------------------------------------------------------------------------------

const utf8 = new TextEncoder();
const utf8d = new TextDecoder();

/**
 * kill -9 of the leader under load (16 writers, 128 B appends, default timing), `tries` times.
 * Per try: the time from the kill to the first acknowledged append that was sent after the kill
 * (firstAckMs), the longest time without any acknowledgement around the kill (gapMs), and a check
 * that every acknowledged append is in its session exactly once and in order (lost, duplicated).
 * The killed node is restarted and caught up before the next try.
 */
async function failoverRows(ctx: BenchContext, s: Settings, c: BenchCluster): Promise<void> {
  const concurrency = 16;
  const firsts: number[] = [];
  const gaps: number[] = [];
  const all: number[] = [];
  let lostTotal = 0;
  let loadSeconds = 0;
  let dupTotal = 0;
  for (let t = 1; t <= s.failoverTries; t++) {
    const cl = client(c, concurrency);
    try {
      const sessions: string[] = [];
      for (let w = 0; w < concurrency; w++) sessions.push((await cl.createSession(`failover-${t}`)).id);
      const acked: string[][] = sessions.map(() => []);
      let killAt = Number.POSITIVE_INFINITY;
      let firstAfter = Number.POSITIVE_INFINITY;
      const ackTimes: number[] = [];
      let stopAt = Number.POSITIVE_INFINITY;
      const worker = async (w: number): Promise<void> => {
        for (let seq = 0; performance.now() < stopAt; seq++) {
          const tag = `${w}:${seq};`;
          const rec = new Uint8Array(128).fill(0x66);
          rec.set(utf8.encode(tag));
          const sentAt = performance.now();
          try {
            await cl.append(sessions[w]!, rec);
          } catch {
            continue; // an unknown outcome: may or may not be there, never twice
          }
          const now = performance.now();
          acked[w]!.push(tag);
          ackTimes.push(now);
          all.push(now - sentAt);
          if (sentAt > killAt && now < firstAfter) firstAfter = now;
        }
      };
      const loadStart = performance.now();
      const loops = Array.from({ length: concurrency }, (_, w) => worker(w));
      await new Promise<void>((r) => setTimeout(r, 1000));
      const leader = await c.waitForLeader();
      ctx.progress(`failover try ${t}/${s.failoverTries}: kill -9 ${leader.id}`);
      killAt = performance.now();
      await c.kill(leader, 'SIGKILL');
      await waitFor('an acknowledged append sent after the kill', () => (firstAfter < Number.POSITIVE_INFINITY ? true : null), 30_000, 5);
      stopAt = Math.max(performance.now() + 500, firstAfter + 500);
      await Promise.all(loops);
      loadSeconds += (performance.now() - loadStart) / 1000;
      // The longest stretch without an acknowledgement, from the last one before the kill.
      ackTimes.sort((a, b) => a - b);
      let gap = 0;
      for (let k = 1; k < ackTimes.length; k++) if (ackTimes[k]! > killAt - 1000) gap = Math.max(gap, ackTimes[k]! - ackTimes[k - 1]!);
      // Nothing acknowledged lost or applied twice: a linearizable read of every session.
      let lost = 0;
      let dup = 0;
      for (let w = 0; w < concurrency; w++) {
        const st = await cl.get(sessions[w]!);
        const tags = (st?.records ?? []).map((r) => utf8d.decode(r.subarray(0, r.indexOf(0x3b) + 1)));
        const seen = new Set<string>();
        for (const x of tags) {
          if (seen.has(x)) dup++;
          seen.add(x);
        }
        let at = 0;
        for (const want of acked[w]!) {
          const found = tags.indexOf(want, at);
          if (found < 0) lost++;
          else at = found + 1;
        }
      }
      lostTotal += lost;
      dupTotal += dup;
      const firstAckMs = firstAfter - killAt;
      firsts.push(firstAckMs);
      gaps.push(gap);
      ctx.report({
        scenario: 'failover.try',
        concurrency,
        payloadBytes: 128,
        try: t,
        killed: leader.id,
        firstAckMs: Math.round(firstAckMs),
        gapMs: Math.round(gap),
        acked: acked.reduce((n, a) => n + a.length, 0),
        lost,
        duplicated: dup,
      });
      ctx.progress(`failover try ${t}: restarting ${leader.id}`);
      c.spawn(leader);
      await c.waitForLeader(20_000);
      await c.waitForConvergence(60_000);
    } finally {
      await cl.close();
    }
  }
  const sorted = [...firsts].sort((a, b) => a - b);
  const lat = summarize(all, 1, 0, null);
  ctx.report({
    scenario: 'failover',
    concurrency,
    payloadBytes: 128,
    tries: firsts.length,
    firstAckMs: Math.round(sorted[Math.floor(sorted.length / 2)]!),
    firstAckMaxMs: Math.round(sorted[sorted.length - 1]!),
    firstAckMinMs: Math.round(sorted[0]!),
    gapMaxMs: Math.round(Math.max(...gaps)),
    within1s: firsts.filter((x) => x < 1000).length,
    lost: lostTotal,
    duplicated: dupTotal,
    // Over the tries' load (each: 1 s before the kill, the failover, 0.5 s after the first ack).
    opsPerSec: Math.round(all.length / loadSeconds),
    p50Ms: Number(lat.p50Ms.toFixed(3)),
    p99Ms: Number(lat.p99Ms.toFixed(3)),
    maxMs: Number(lat.maxMs.toFixed(3)),
  });
}

// ---- catch-up and restart --------------------------------------------------------------------------

/** Polls the node's /status until it applied `index`; resolves with the times (ms since `t0`). */
async function timeToApplied(c: BenchCluster, n: NodeProc, index: number, t0: number): Promise<{ upMs: number; caughtUpMs: number }> {
  let upMs = -1;
  await waitFor(
    `${n.id} to apply ${index}`,
    async () => {
      const st = await c.status(n, 1000);
      if (upMs < 0) upMs = performance.now() - t0;
      return st.appliedIndex >= index && st.leader !== null ? true : null;
    },
    120_000,
    5,
  );
  return { upMs, caughtUpMs: performance.now() - t0 };
}

async function nodeEvents(c: BenchCluster, n: NodeProc): Promise<Record<string, number>> {
  const text = await new Promise<string>((res, rej) => {
    const tls = c.adminTls;
    import(tls === null ? 'node:http' : 'node:https')
      .then(({ request }: typeof import('node:https')) => {
        const opts = { host: n.addr.host, port: n.addr.adminPort, path: '/metrics' };
        const req = request(tls === null ? opts : { ...opts, ca: tls.ca, headers: { authorization: `Bearer ${tls.token}` } }, (r) => {
          let b = '';
          r.on('data', (d: Buffer) => (b += d.toString()));
          r.on('end', () => res(b));
        });
        req.on('error', rej);
        req.end();
      })
      .catch(rej);
  });
  const out: Record<string, number> = {};
  for (const m of text.matchAll(/^sessionraft_node_events_total\{code="([^"]+)"\} (\d+)/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

/**
 * A follower is down (kill -9) while `catchupCommands` commands pass; then it restarts and the
 * time until it applied the leader's commit index is measured (from the spawn, and from when its
 * admin port first answered). Default snapshotting (every 10,000 entries), so it catches up by a
 * snapshot install plus the entries after it.
 */
async function catchupRows(ctx: BenchContext, s: Settings, c: BenchCluster): Promise<void> {
  const leader = await c.waitForLeader();
  const follower = c.nodes.find((n) => n !== leader)!;
  await c.kill(follower, 'SIGKILL');
  const sum = await push(ctx, c, s.catchupCommands, `catch-up: ${follower.id} down`);
  const st = await c.status(leader);
  const target = st.commitIndex;
  ctx.progress(`catch-up: restarting ${follower.id} (${target - 0} is the leader's commit index)`);
  const res = new Resources(c);
  const t0 = performance.now();
  c.spawn(follower);
  const t = await timeToApplied(c, follower, target, t0);
  const ev = await nodeEvents(c, follower);
  ctx.report({
    scenario: 'catchup',
    // The load that put the follower behind (128 in flight, 128 B appends).
    concurrency: 128,
    payloadBytes: 128,
    ...loadFields(sum),
    commands: sum.ops,
    behindEntries: target,
    catchUpMs: Math.round(t.caughtUpMs),
    processUpMs: Math.round(t.upMs),
    catchUpAfterUpMs: Math.round(t.caughtUpMs - t.upMs),
    snapshotsInstalled: ev['snapshot-installed'] ?? 0,
    ...res.fields(leader.id),
  });
}

/**
 * kill -9 `follower` and start it again at once: the resources of every node meanwhile, and the
 * times until it answered and until it applied the leader's commit index.
 */
async function killAndRestart(
  ctx: BenchContext,
  c: BenchCluster,
  leader: NodeProc,
  follower: NodeProc,
  what: string,
): Promise<{ res: Resources; t: { upMs: number; caughtUpMs: number } }> {
  await c.kill(follower, 'SIGKILL');
  ctx.progress(what);
  const res = new Resources(c);
  const t0 = performance.now();
  c.spawn(follower);
  const target = (await c.status(leader)).commitIndex;
  return { res, t: await timeToApplied(c, follower, target, t0) };
}

/**
 * Restart with a long log: snapshots far apart (--snapshot-entries 2,000,000), `restartEntries`
 * commands, then a follower is killed (kill -9) and restarted: the time until it has recovered its
 * log, learned the commit index and applied everything (serving its applied state).
 */
async function restartRows(ctx: BenchContext, s: Settings, c: BenchCluster): Promise<void> {
  const sum = await push(ctx, c, s.restartEntries, 'restart: filling the log');
  const leader = await c.waitForLeader();
  const follower = c.nodes.find((n) => n !== leader)!;
  await c.waitForConvergence(120_000);
  const st = await c.status(follower);
  const { res, t } = await killAndRestart(
    ctx,
    c,
    leader,
    follower,
    `restart: ${follower.id} holds ${st.lastIndex - st.snapshotIndex} log entries; restarting it`,
  );
  ctx.report({
    scenario: 'restart',
    // The load that filled the log (128 in flight, 128 B appends).
    concurrency: 128,
    payloadBytes: 128,
    ...loadFields(sum),
    logEntries: st.lastIndex - st.snapshotIndex,
    restartMs: Math.round(t.caughtUpMs),
    processUpMs: Math.round(t.upMs),
    ...res.fields(leader.id),
  });
}

/**
 * Issue 18's third memory target: `activeSessions` active sessions of 1 KiB (a SessionCreate and
 * one 1 KiB SessionAppend each, 128 in flight, on 16 topics), each node's peak RSS over the fill;
 * then a follower is killed (kill -9) and restarted on them (it loads its snapshot, with every
 * session, and the log after it), and each node's peak RSS over the restart.
 */
async function activeRows(ctx: BenchContext, s: Settings, c: BenchCluster): Promise<void> {
  const leader = await c.waitForLeader();
  const cl = client(c, 128);
  const record = new Uint8Array(1024).fill(0x62);
  const fill = new Resources(c);
  let sum: LoadSummary;
  try {
    sum = await closedLoop({
      concurrency: 128,
      opsMax: s.activeSessions,
      op: async (w) => {
        const { id } = await cl.createSession(`active-${w % 16}`);
        await cl.append(id, record);
        return true;
      },
      onProgress: (ops, ms) => ctx.progress(`active: ${ops}/${s.activeSessions} sessions of 1 KiB, ${Math.round((ops * 1000) / ms)}/s`),
    });
  } finally {
    await cl.close();
  }
  const { snapshotIndex, parts } = await leaderMemFields(c, leader);
  ctx.report({
    scenario: 'active',
    phase: 'fill',
    activeSessions: s.activeSessions,
    sessionBytes: 1024,
    ...loadFields(sum),
    snapshotIndex,
    ...fill.fields(leader.id),
    ...parts,
  });
  await c.waitForConvergence(120_000);
  const follower = c.nodes.find((n) => n !== leader)!;
  const { res, t } = await killAndRestart(ctx, c, leader, follower, `active: restarting ${follower.id} on ${s.activeSessions} active sessions`);
  ctx.report({
    scenario: 'active',
    phase: 'follower restart',
    activeSessions: s.activeSessions,
    sessionBytes: 1024,
    restartMs: Math.round(t.caughtUpMs),
    processUpMs: Math.round(t.upMs),
    ...res.fields(leader.id),
  });
}

// ---- run -------------------------------------------------------------------------------------------

/** The issue's targets and etcd 3.4's figures on this machine (issue 8), for the closing table. */
interface TargetLine {
  readonly what: string | ((row: Row) => string);
  readonly pick: (rows: readonly Row[]) => Row | undefined;
  readonly field: string;
  readonly target: string;
  readonly met: (v: number) => boolean;
  readonly etcd: string;
  /** The measured value's unit when the field's name does not say it (`Ms`, `Mb`; else `/s`). */
  readonly unit?: string;
  /** What the row's figures say beside the value (the 1-in-flight line's floors): printed under the table, not in its column. */
  readonly note?: (row: Row) => string;
}

const targetLines: readonly TargetLine[] = [
  {
    what: 'SessionAppend 128 B, 1 in flight, p50',
    pick: (r) => r.find((x) => x.scenario === 'append' && x.payloadBytes === 128 && x.concurrency === 1),
    field: 'p50Ms',
    target: '< 1 ms',
    met: (v) => v < 1,
    etcd: '~2 ms (450/s)',
  },
  {
    what: 'SessionAppend 128 B, 16 in flight',
    pick: (r) => r.find((x) => x.scenario === 'append' && x.payloadBytes === 128 && x.concurrency === 16),
    field: 'opsPerSec',
    target: '-',
    met: () => true,
    etcd: '1,500/s',
  },
  {
    what: 'SessionAppend 128 B, 128 in flight',
    pick: (r) => r.find((x) => x.scenario === 'append' && x.payloadBytes === 128 && x.concurrency === 128),
    field: 'opsPerSec',
    target: '>= 20,000/s',
    met: (v) => v >= 20_000,
    etcd: '2,800/s',
  },
  {
    what: 'SessionAppend 4 KiB, 128 in flight',
    pick: (r) => r.find((x) => x.scenario === 'append' && x.payloadBytes === 4096 && x.concurrency === 128),
    field: 'opsPerSec',
    target: '>= 8,000/s',
    met: (v) => v >= 8_000,
    etcd: '1,750/s',
  },
  // Issue 20's write targets, each against what this run measured of the machine.
  {
    what: 'SessionAppend 128 B, 1 in flight: p50 / fsync p50 (*)',
    note: (r) =>
      `(*) no-work floor: 3 writers over existing bytes + 2 hops = ${String(r.floorMs)} ms, ${String(r.floorRatio)}x; ` +
      (r.pipelineMs === undefined ? '' : `measured through four bare processes = ${String(r.pipelineMs)} ms, ${String(r.pipelineRatio)}x; `) +
      `against a write over existing bytes, as the WAL's preallocated segments are written, ${String(r.p50OverFsyncOver)}x`,
    pick: (r) => {
      const m = r.find((x) => x.scenario === 'machine');
      const a = r.find((x) => x.scenario === 'append' && x.payloadBytes === 128 && x.concurrency === 1);
      if (m === undefined || a === undefined) return undefined;
      const fsyncMs = Number(m.fsync4kP50Ms);
      // The nodes share one disk: their overlapping durable writes wait for each other. They write
      // over preallocated bytes (storage/wal.ts), so the floor is three such writers at once.
      const floorMs = Number(m.fsyncSharedOverP50Ms) + (2 * Number(m.hopRttP50Us)) / 1000;
      return {
        ...a,
        p50OverFsync: round1(Number(a.p50Ms) / fsyncMs),
        p50OverFsyncOver: round1(Number(a.p50Ms) / Number(m.fsync4kOverP50Ms)),
        floorMs: Number(floorMs.toFixed(2)),
        floorRatio: round1(floorMs / fsyncMs),
        // The same path measured with none of the work (test/bench/pipelineFloor.ts); older rows lack it.
        ...(m.pipelineP50Ms === undefined
          ? {}
          : { pipelineMs: Number(Number(m.pipelineP50Ms).toFixed(2)), pipelineRatio: round1(Number(m.pipelineP50Ms) / fsyncMs) }),
      };
    },
    field: 'p50OverFsync',
    target: '<= 2.5x',
    met: (v) => v <= 2.5,
    etcd: '-',
    unit: 'x',
  },
  cpuLine(128, 40),
  cpuLine(4096, 120),
  {
    what: 'linearizable get, 16 in flight',
    pick: (r) => r.find((x) => x.scenario === 'read'),
    field: 'opsPerSec',
    target: '>= 10,000/s',
    met: (v) => v >= 10_000,
    etcd: '2,100/s',
  },
  {
    what: 'failover: first ack after kill -9 (worst try)',
    pick: (r) => r.find((x) => x.scenario === 'failover'),
    field: 'firstAckMaxMs',
    target: '< 1,000 ms every try',
    met: (v) => v < 1000,
    etcd: '1,100-1,500 ms',
  },
  {
    what: (r) => `catch-up of ${Number(r.commands).toLocaleString('en-US')} entries (goal for 100,000)`,
    pick: (r) => r.find((x) => x.scenario === 'catchup'),
    field: 'catchUpMs',
    target: '< 2,000 ms',
    met: (v) => v < 2000,
    etcd: '-',
  },
  {
    what: (r) => `restart with ${Number(r.logEntries).toLocaleString('en-US')} log entries (goal for 1,000,000)`,
    pick: (r) => r.find((x) => x.scenario === 'restart'),
    field: 'restartMs',
    target: '< 3,000 ms',
    met: (v) => v < 3000,
    etcd: '-',
  },
  rssLine('peak RSS of any node, 128 B appends at 128 in flight', appendRow(128), 150, '333 MB (largest member, whole run)'),
  rssLine('peak RSS of any node, 4 KiB appends at 128 in flight', appendRow(4096), 250),
  rssLine(
    (r) => `peak RSS of any node, restart with ${Number(r.logEntries).toLocaleString('en-US')} log entries`,
    (r) => r.find((x) => x.scenario === 'restart'),
    200,
  ),
  rssLine(
    (r) => `peak RSS of any node, ${Number(r.activeSessions).toLocaleString('en-US')} active 1 KiB sessions (fill and a follower restart)`,
    (r) => {
      const rows = r.filter((x) => x.scenario === 'active');
      return rows.length === 0 ? undefined : { ...rows[0]!, rssPeakMaxMb: Math.max(...rows.map((x) => rssPeakMaxMb(x))) };
    },
    400,
  ),
];

/** Issue 18's memory targets: the largest peak RSS of any node in the picked row, at most `maxMb`. */
function rssLine(what: TargetLine['what'], pick: TargetLine['pick'], maxMb: number, etcd = '-'): TargetLine {
  return { what, pick, field: 'rssPeakMaxMb', target: `<= ${maxMb} MB`, met: (v) => v <= maxMb, etcd };
}

/** Issue 20: CPU time per command of the three nodes and the client together, at 128 in flight. */
function cpuLine(payloadBytes: number, maxUs: number): TargetLine {
  const size = payloadBytes >= 1024 ? `${payloadBytes / 1024} KiB` : `${payloadBytes} B`;
  return {
    what: `CPU per SessionAppend ${size} at 128 in flight (3 nodes + client)`,
    pick: appendRow(payloadBytes),
    field: 'cpuUsPerOp',
    target: `<= ${maxUs} µs`,
    met: (v) => v <= maxUs,
    etcd: '-',
    unit: 'µs',
  };
}

function round1(v: number): number {
  return Number(v.toFixed(1));
}

/** The append row with this payload at 128 in flight. */
function appendRow(payloadBytes: number): TargetLine['pick'] {
  return (r) => r.find((x) => x.scenario === 'append' && x.payloadBytes === payloadBytes && x.concurrency === 128);
}

/** The largest `<node>RssPeakMb` of a row. */
function rssPeakMaxMb(r: Row): number {
  return Math.max(0, ...Object.entries(r).flatMap(([k, v]) => (k.endsWith('RssPeakMb') && typeof v === 'number' ? [v] : [])));
}

/** A target line's value in one run's rows (undefined when the run did not measure it). */
function targetValue(t: TargetLine, rows: readonly Row[]): { row: Row; value: number } | undefined {
  const r = t.pick(rows);
  if (r === undefined) return undefined;
  const value = t.field === 'rssPeakMaxMb' && r.rssPeakMaxMb === undefined ? rssPeakMaxMb(r) : Number(r[t.field]);
  return { row: r, value };
}

function unitOf(t: TargetLine): string {
  return t.unit ?? (t.field.endsWith('Ms') ? 'ms' : t.field.endsWith('Mb') ? 'MB' : '/s');
}

/** One target over several runs (`--repeat`): its median and range (`spreadOf`), and how many runs met it. */
export interface TargetSummary {
  readonly what: string;
  /** The line's note with the first measuring run's figures (TargetLine.note), if it has one. */
  readonly note?: string;
  readonly field: string;
  readonly target: string;
  readonly unit: string;
  readonly runs: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly metRuns: number;
  /** The most other processes used of the machine during the row, in % of one core, over the runs. */
  readonly otherCpuPctMax: number | null;
}

/** Each target line measured in at least one run, summarized over the runs (each run's own rows). */
export function summarizeTargets(runs: readonly (readonly Row[])[]): TargetSummary[] {
  const out: TargetSummary[] = [];
  for (const t of targetLines) {
    const got = runs.flatMap((rows) => {
      const v = targetValue(t, rows);
      return v === undefined || !Number.isFinite(v.value) ? [] : [v];
    });
    if (got.length === 0) continue;
    const values = got.map((g) => g.value);
    const { median, min, max } = spreadOf(values);
    const others = got.flatMap((g) => (typeof g.row.otherCpuPct === 'number' ? [g.row.otherCpuPct] : []));
    out.push({
      // A label or a note made from a row (the 1-in-flight line's floors) is the first measuring run's.
      what: typeof t.what === 'string' ? t.what : t.what(got[0]!.row) + (got.length > 1 ? ' (its figures: the first run)' : ''),
      ...(t.note !== undefined ? { note: t.note(got[0]!.row) + (got.length > 1 ? ' (the first run)' : '') } : {}),
      field: t.field,
      target: t.target,
      unit: unitOf(t),
      runs: got.length,
      median: Number(median.toFixed(3)),
      min,
      max,
      metRuns: values.filter((v) => t.met(v)).length,
      otherCpuPctMax: others.length === 0 ? null : Math.max(...others),
    });
  }
  return out;
}

function printTable(lines: string[][], notes: readonly string[]): void {
  if (lines.length === 1) return;
  process.stdout.write('\n' + formatColumns(lines) + '\n');
  for (const n of notes) process.stdout.write(n + '\n');
  process.stdout.write('(other CPU: what other processes used of the machine meanwhile, in % of one core)\n');
}

function printTargets(rows: readonly Row[]): void {
  const lines: string[][] = [['target', 'measured', 'goal', 'etcd 3.4', 'other CPU']];
  const notes: string[] = [];
  for (const t of targetLines) {
    const got = targetValue(t, rows);
    if (got === undefined) continue;
    const { row: r, value: v } = got;
    if (t.note !== undefined) notes.push(t.note(r));
    lines.push([
      typeof t.what === 'string' ? t.what : t.what(r),
      `${v.toLocaleString('en-US')} ${unitOf(t)}${t.met(v) ? '' : '  (not met)'}`,
      t.target,
      t.etcd,
      r.otherCpuPct === undefined ? '' : `${String(r.otherCpuPct)}%`,
    ]);
  }
  printTable(lines, notes);
}

/** `--repeat`: each target's median and range over the runs, and in how many runs it was met. */
function printSummaries(summaries: readonly TargetSummary[]): void {
  const lines: string[][] = [['target', 'median (range)', 'goal', 'met in', 'other CPU, most']];
  for (const t of summaries) {
    const fmt = (v: number): string => v.toLocaleString('en-US');
    lines.push([
      t.what,
      `${fmt(t.median)} ${t.unit} (${fmt(t.min)}-${fmt(t.max)})`,
      t.target,
      `${t.metRuns} of ${t.runs} runs`,
      t.otherCpuPctMax === null ? '' : `${String(t.otherCpuPctMax)}%`,
    ]);
  }
  printTable(
    lines,
    summaries.flatMap((t) => (t.note !== undefined ? [t.note] : [])),
  );
}

export async function run(ctxIn: BenchContext): Promise<void> {
  const repeat = repeatOf(ctxIn.args, 20);
  const runs: Row[][] = [];
  try {
    for (let k = 1; k <= repeat; k++) {
      const rows: Row[] = [];
      runs.push(rows);
      const report = (r: Row): void => {
        const tagged = repeat > 1 ? { run: k, ...r } : r;
        rows.push(tagged);
        ctxIn.report(tagged as BenchResult);
      };
      const ctx: BenchContext = { ...ctxIn, report };
      if (repeat > 1) ctxIn.progress(`run ${k} of ${repeat}`);
      // The disk's floor for a durable write and the load average, in the same run as the rows.
      ctx.report(await machineRow());
      await runScenarios(ctx);
    }
  } finally {
    if (repeat === 1) {
      if (!ctxIn.json) printTargets(runs[0] ?? []);
    } else {
      const summaries = summarizeTargets(runs);
      if (ctxIn.json) for (const t of summaries) ctxIn.report({ scenario: 'target', ...t });
      else printSummaries(summaries);
    }
  }
}

async function runScenarios(ctx: BenchContext): Promise<void> {
  // --secure: TLS and auth on every node (issue 17); --secure=both: each scenario without, then with
  // (rows side by side, told apart by their `security` field).
  const secureArg = ctx.args.find((a) => a === '--secure' || a.startsWith('--secure='));
  const modes = secureArg === undefined ? [false] : secureArg === '--secure=both' ? [false, true] : [true];
  for (const secure of modes) {
    const tagged: BenchContext = { ...ctx, report: (r) => ctx.report({ security: secure ? 'tls+auth' : 'off', ...r }) };
    await runScenariosOnce(secureArg === undefined ? ctx : tagged, { ...settingsOf(ctx), secure });
  }
}

async function runScenariosOnce(ctx: BenchContext, s: Settings): Promise<void> {
  const onlyArg = ctx.args.find((a) => a.startsWith('--only='));
  const only = new Set(onlyArg !== undefined ? onlyArg.slice('--only='.length).split(',') : scenarioNames);
  for (const o of only) if (!(scenarioNames as readonly string[]).includes(o)) throw new Error(`unknown scenario ${o}; known: ${scenarioNames.join(', ')}`);
  if (s.profileDir !== undefined) mkdirSync(s.profileDir, { recursive: true });

  if (only.has('append') || only.has('read') || only.has('mixed')) {
    ctx.progress('starting 3 node processes');
    await withCluster(s, [], async (c) => {
      await warmUp(ctx, s, c);
      if (only.has('append')) await appendRows(ctx, s, c);
      if (only.has('mixed')) await mixedRows(ctx, s, c);
      if (only.has('read')) await readRows(ctx, s, c);
    });
  }
  if (only.has('failover')) {
    ctx.progress('failover: starting 3 node processes');
    await withCluster(s, [], (c) => failoverRows(ctx, s, c));
  }
  if (only.has('catchup')) {
    ctx.progress('catch-up: starting 3 node processes');
    await withCluster(s, [], (c) => catchupRows(ctx, s, c));
  }
  if (only.has('restart')) {
    ctx.progress('restart: starting 3 node processes');
    await withCluster(s, ['--snapshot-entries', String(s.restartEntries * 2)], (c) => restartRows(ctx, s, c));
  }
  if (only.has('active')) {
    ctx.progress('active: starting 3 node processes');
    await withCluster(s, [], (c) => activeRows(ctx, s, c));
  }
}

export type { BenchResult };
