/**
 * `npm run bench -- cluster [--json] [--quick] [--only=a,b] [--profile=DIR]`
 *
 * Three real node processes (dist/bin/sessionraft.js node) on loopback, data in a temporary
 * directory on the real disk, fsync on, default timing (20 ms ticks); closed-loop clients in this
 * process through the real client library (transport/client.ts). Scenarios (names for --only):
 *
 *   append    SessionAppend at 1, 16 and 128 in flight, 128 B and 4 KiB records
 *   mixed     create, append, store with replay (1 s class), destroy
 *   read      linearizable get at 16 in flight
 *   failover  kill -9 of the leader under load, 10 tries: time to the first acknowledged write,
 *             the gap in acknowledgements, and a check that nothing acknowledged was lost
 *   catchup   a follower down while 100,000 commands pass, then the time until it caught up
 *   restart   a follower whose log holds 1,000,000 entries restarts: time until it serves
 *
 * Every row carries the CPU use and peak RSS of each node over the scenario. `--profile=DIR` runs
 * the nodes with `node --cpu-prof` and keeps the profiles there (one directory per node).
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { createClient, type SessionraftClient } from '../../transport/client.js';
import type { BenchContext, BenchResult } from './cli.js';
import { closedLoop, summarize, type LoadSummary } from './clusterLoad.js';
import { BenchCluster, resetPeakRss, sampleMachine, waitFor, type ClusterSpec, type NodeProc, type ProcSample } from './clusterProcs.js';

type Row = Record<string, unknown>;

interface Settings {
  readonly quick: boolean;
  /** Measured seconds per throughput row (after a warm-up). */
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly failoverTries: number;
  readonly catchupCommands: number;
  readonly restartEntries: number;
  readonly profileDir: string | undefined;
  /** Only these append payloads / concurrencies (`--payload=128`, `--concurrency=1,128`). */
  readonly payloads: readonly number[];
  readonly concurrencies: readonly number[];
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
    profileDir: profile !== undefined ? resolve(profile) : undefined,
    payloads: (arg('payload') ?? '128,4096').split(',').map(Number),
    concurrencies: (arg('concurrency') ?? '1,16,128').split(',').map(Number),
  };
}

const scenarioNames = ['append', 'mixed', 'read', 'failover', 'catchup', 'restart'] as const;

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
      }
    }
  }

  /** Fields: `<id>CpuPct`, `<id>RssPeakMb` per node (100 = one core), `clientCpuPct`. */
  fields(leader: string | null): Row {
    const wallMs = performance.now() - this.t0;
    const out: Row = {};
    for (const n of this.cluster.nodes) {
      const s: ProcSample | null = this.cluster.sample(n);
      if (s === null) continue;
      const c0 = this.cpu0.get(n.id);
      const tag = n.id === leader ? `${n.id}L` : n.id;
      if (c0 !== undefined) out[`${tag}CpuPct`] = Math.round(((s.cpuMs - c0) / wallMs) * 100);
      out[`${tag}RssPeakMb`] = Math.round(s.hwmMb);
    }
    const u = process.cpuUsage(this.self0);
    const clientMs = (u.user + u.system) / 1000;
    out.clientCpuPct = Math.round((clientMs / wallMs) * 100);
    // Everything else on the machine (other work shares these 2 cores) and how often a task waited
    // for a CPU: context for every figure on a shared box.
    const m = sampleMachine();
    let oursMs = clientMs;
    for (const n of this.cluster.nodes) {
      const s = this.cluster.sample(n);
      const c0 = this.cpu0.get(n.id);
      if (s !== null && c0 !== undefined) oursMs += s.cpuMs - c0;
    }
    out.otherCpuPct = Math.max(0, Math.round(((m.busyMs - this.machine0.busyMs - oursMs) / wallMs) * 100));
    out.cpuStallPct = Math.round(((m.stallMs - this.machine0.stallMs) / wallMs) * 100);
    return out;
  }
}

function loadFields(s: LoadSummary): Row {
  const r = (x: number, d = 3): number => Number(x.toFixed(d));
  return { opsPerSec: Math.round(s.opsPerSec), p50Ms: r(s.p50Ms), p99Ms: r(s.p99Ms), maxMs: r(s.maxMs), ops: s.ops, errors: s.errors, ...(s.firstError ? { firstError: s.firstError } : {}) };
}

function spec(s: Settings, nodeArgs: string[] = []): ClusterSpec {
  return { size: 3, nodeArgs, ...(s.profileDir !== undefined ? { cpuProfDir: s.profileDir } : {}) };
}

async function withCluster<T>(s: Settings, nodeArgs: string[], fn: (c: BenchCluster) => Promise<T>): Promise<T> {
  const c = await BenchCluster.start(spec(s, nodeArgs));
  try {
    await c.waitForLeader(20_000);
    return await fn(c);
  } finally {
    await c.stop();
  }
}

function client(c: BenchCluster, inflight: number): SessionraftClient {
  return createClient({ endpoints: c.endpoints(), inflightCommandsMax: Math.max(1, Math.min(inflight, 192)) });
}

// ---- append ----------------------------------------------------------------------------------------

/** Sessions are kept under this many bytes (rewritten to one record when full): bounded active data. */
const sessionBytesBench = 64 * 1024;

async function appendRows(ctx: BenchContext, s: Settings, c: BenchCluster): Promise<void> {
  for (const payloadBytes of s.payloads) {
    for (const concurrency of s.concurrencies) {
      const cl = client(c, concurrency);
      try {
        const record = new Uint8Array(payloadBytes).fill(0x61);
        const perSession = Math.max(1, Math.floor(sessionBytesBench / payloadBytes) - 1);
        const sessions: string[] = [];
        for (let w = 0; w < concurrency; w++) sessions.push((await cl.createSession(`bench-${w % 16}`)).id);
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
        const label = `append ${payloadBytes} B x${concurrency}`;
        ctx.progress(`${label}: warming up`);
        await closedLoop({ concurrency, durationMs: s.warmupMs, op });
        const leader = (await c.waitForLeader()).id;
        const res = new Resources(c);
        const sum = await closedLoop({ concurrency, durationMs: s.durationMs, op, onProgress: (ops, ms) => ctx.progress(`${label}: ${ops} ops, ${Math.round((ops * 1000) / ms)}/s`) });
        ctx.report({ scenario: 'append', concurrency, payloadBytes, ...loadFields(sum), ...res.fields(leader) });
      } finally {
        await cl.close();
      }
    }
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
    const sum = await closedLoop({ concurrency, durationMs: s.durationMs, op, onProgress: (ops, ms) => ctx.progress(`read x16: ${ops} ops, ${Math.round((ops * 1000) / ms)}/s`) });
    ctx.report({ scenario: 'read', concurrency, payloadBytes: 4 * 128, ...loadFields(sum), ...res.fields(leader) });
  } finally {
    await cl.close();
  }
}

// ---- run -------------------------------------------------------------------------------------------

export async function run(ctx: BenchContext): Promise<void> {
  const s = settingsOf(ctx);
  const onlyArg = ctx.args.find((a) => a.startsWith('--only='));
  const only = new Set(onlyArg !== undefined ? onlyArg.slice('--only='.length).split(',') : scenarioNames);
  for (const o of only) if (!(scenarioNames as readonly string[]).includes(o)) throw new Error(`unknown scenario ${o}; known: ${scenarioNames.join(', ')}`);
  if (s.profileDir !== undefined) mkdirSync(s.profileDir, { recursive: true });

  if (only.has('append') || only.has('read') || only.has('mixed')) {
    ctx.progress('starting 3 node processes');
    await withCluster(s, [], async (c) => {
      if (only.has('append')) await appendRows(ctx, s, c);
      if (only.has('read')) await readRows(ctx, s, c);
    });
  }
}

export type { BenchResult, NodeProc };
void summarize;
void waitFor;
