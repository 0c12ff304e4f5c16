/**
 * `npm run bench -- delayed [--quick] [--tiny] [--json] [--systems=sessionraft,bullmq]
 *   [--only=throughput,lateness,recovery,memory,backlog] [--scheduled N] [--backlog N] [--rates=1000,5000]
 *   [--producers=16,128] [--seconds=S] [--recovery-rate=R] [--profile=DIR]
 *   [--sessionraft-schedule=schedule|steps] [--sessionraft-ack=remove|destroy] [--sessionraft-nodes=3|1|5]
 *   [--repeat=N]`
 *
 * Delayed delivery, the job users pick this system for, against what a Node.js user picks instead:
 * BullMQ on Redis. The same workload through each system's Node.js client, one system at a time
 * (the other is stopped), in the order of `--systems`:
 *
 *   sessionraft  3 `sessionraft node` processes (replicated, fsync on a majority before each ack;
 *               `--sessionraft-nodes=1`: one node, its own fsync before each ack, as redis-server's);
 *               a producer schedules an item with one `schedule` request (create + append + store:
 *               issue 20), or with the three requests in a row (`--sessionraft-schedule=steps`);
 *                each item: create a session, append 1 KiB, store it for replay (1 s class); one
 *                consumer group on the topic, one consumer (window 256) whose ack also removes the
 *                restored session (`--sessionraft-ack=destroy`: a destroy, then the ack).
 *   bullmq       one `redis-server` (not replicated; `appendonly yes`, `appendfsync always`: an fsync
 *                before each reply), started by the benchmark; each item: `queue.add` with ~1 KiB of
 *                data, a 1 s delay, a fixed job ID and removeOnComplete; one Worker (concurrency 256)
 *                whose processor returns (completes).
 *
 * Rows (each for both systems, each on a freshly started system, warmed up first: 4 s of the lateness row's own load before a lateness row, 4 s at 128 producers before the others):
 *   throughput  closed loop of 16 and 128 producers scheduling items with a 1 s delay for S seconds;
 *               store-to-ack throughput = items / (last ack - load start - 1 s)
 *   lateness    open loop: 1,000 and 5,000 items a second scheduled, so as many fall due each second;
 *               lateness = the consumer's receive time - due time (the scheduling command's send
 *               time + 1 s), p50 / p99 / max
 *   recovery    open loop at 200/s (`--recovery-rate`: a rate both keep up with on a loaded 2-core
 *               box, so that what is late is the crash's doing) for 20 s; kill -9 of the leader
 *               (sessionraft) or of redis-server (BullMQ) at 40 % of the load, restarted at once; then every acknowledged item's fate: lost,
 *               late (first delivery more than 2 s after due), redelivered (same restore ID / job
 *               ID: a consumer dedups it), duplicated (delivered again as new work)
 *   memory      N items of 1 KiB scheduled 2 h ahead (1,000,000; `--scheduled N`; 20,000 with
 *               --quick): each node's RSS, or Redis's used_memory and RSS
 *   backlog     N items of 1 KiB due in 1 s while no consumer runs (1,000,000; `--backlog N`; 20,000
 *               with --quick): once all are due and held for the consumer (sessionraft's group has
 *               them ready: restored, waiting; BullMQ keeps them delayed until a worker fetches),
 *               each process's memory; then the consumer starts and takes them all: how long,
 *               items/s, and every item's fate (never delivered, duplicated, redelivered)
 *
 * `--repeat=N` (1-10) runs the systems N times, in the order of `--systems` in odd runs and reversed
 * in even ones (the issue's "twice, alternating": `--repeat=2`), every row tagged with its `run`,
 * and closes with each row's median and range per system and in how many runs sessionraft was
 * ahead of BullMQ in the same run (`scenario: 'delayed.summary'` rows with --json).
 *
 * The first row is the machine: the fsync floor (4 KiB write + fdatasync, p50) and the load average.
 * Every row carries CPU per item (the servers' and this process's CPU time over the row / items)
 * and the CPU other processes used meanwhile. Without `redis-server` on PATH the BullMQ rows are
 * skipped with a message (Debian: `apt-get install -y redis-server`).
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import type { BenchContext } from './cli.js';
import { formatColumns } from '../../bin/output.js';
import { closedLoop, percentile, repeatOf, spreadOf, type Spread } from './clusterLoad.js';
import { gcRateFields, machineRow, sampleMachine, waitFor } from './clusterProcs.js';
import { findRedisServer, redisMissingMessage } from './delayedRedis.js';
import {
  BullmqSystem,
  SessionraftSystem,
  delayMs,
  type DelayedSystem,
  type DelayName,
  type GcSnapshot,
  type LeaderCounters,
  type Received,
  type ScheduleWay,
  type Stream,
  type SystemName,
  type AckWay,
  ackWay,
  scheduleWay,
} from './delayedSystems.js';

type Row = Record<string, unknown>;

const scenarioNames = ['throughput', 'lateness', 'recovery', 'memory', 'backlog'] as const;
type Scenario = (typeof scenarioNames)[number];

/** A first delivery later than this after the due time counts as late in the recovery row. */
const lateBoundMs = 2000;

interface Settings {
  readonly systems: readonly SystemName[];
  readonly only: ReadonlySet<Scenario>;
  readonly producers: readonly number[];
  readonly rates: readonly number[];
  /** Closed-loop seconds per throughput row (ms). */
  readonly throughputMs: number;
  /** Open-loop duration of a lateness row (ms). */
  readonly latenessMs: number;
  readonly recoveryMs: number;
  readonly recoveryRate: number;
  readonly scheduled: number;
  /** Items of the backlog row (`--backlog N`). */
  readonly backlog: number;
  readonly warmupMs: number;
  /** --tiny: a handful of items per row (the end-to-end test). */
  readonly itemsMax: number;
  readonly profileDir: string | undefined;
  /** Node.js flags for every sessionraft node (`--exec-args=a,b`); bin/nodeRuntime.ts adds its defaults for what they leave unset. */
  readonly execArgs: readonly string[];
  /** How a sessionraft producer schedules an item (`--sessionraft-schedule=`): one schedule request, or create, append, store. */
  readonly sessionraftSchedule: ScheduleWay;
  /** How the sessionraft consumer is done with an item (`--sessionraft-ack=`): its ack removes the session, or destroy then ack. */
  readonly sessionraftAck: AckWay;
  /** sessionraft's cluster size (`--sessionraft-nodes=`): 3 (a replicated majority), or 1 (one fsync, as redis-server). */
  readonly sessionraftNodes: number;
}

/** `--sessionraft-nodes`: 1, 3 or 5. */
function clusterSize(v: string): number {
  if (v !== '1' && v !== '3' && v !== '5') throw new Error(`--sessionraft-nodes: 1, 3 or 5, got ${JSON.stringify(v)}`);
  return Number(v);
}

/** The row's system, and for sessionraft its cluster size (`nodes`). */
function systemFields(sys: DelayedSystem): Row {
  const row: Row = sys.nodes === undefined ? { system: sys.name } : { system: sys.name, nodes: sys.nodes };
  // A node that exited on its own during the row: not a clean measurement (its log is kept, see stderr).
  const exits = sys.unexpectedExits?.() ?? 0;
  if (exits > 0) row.nodeExitsUnexpected = exits;
  return row;
}

function settingsOf(ctx: BenchContext): Settings {
  // `--name=value` or `--name value`.
  const arg = (name: string): string | undefined => {
    const eq = ctx.args.find((a) => a.startsWith(`--${name}=`));
    if (eq !== undefined) return eq.slice(name.length + 3);
    const at = ctx.args.indexOf(`--${name}`);
    return at >= 0 ? ctx.args[at + 1] : undefined;
  };
  const list = (name: string, dflt: string): string[] => (arg(name) ?? dflt).split(',').filter((x) => x.length > 0);
  const tiny = ctx.args.includes('--tiny');
  const quick = ctx.quick || tiny;
  const systems = list('systems', 'sessionraft,bullmq');
  for (const s of systems) if (s !== 'sessionraft' && s !== 'bullmq') throw new Error(`unknown system ${s}; known: sessionraft, bullmq`);
  const only = list('only', scenarioNames.join(','));
  for (const o of only) if (!(scenarioNames as readonly string[]).includes(o)) throw new Error(`unknown scenario ${o}; known: ${scenarioNames.join(', ')}`);
  const seconds = arg('seconds');
  const profile = arg('profile');
  const num = (v: string, what: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`${what}: expected a positive integer, got ${JSON.stringify(v)}`);
    return n;
  };
  return {
    systems: systems as SystemName[],
    only: new Set(only as Scenario[]),
    producers: list('producers', '16,128').map((x) => num(x, '--producers')),
    rates: list('rates', tiny ? '50' : '1000,5000').map((x) => num(x, '--rates')),
    throughputMs: seconds !== undefined ? num(seconds, '--seconds') * 1000 : quick ? 3000 : 10_000,
    latenessMs: seconds !== undefined ? num(seconds, '--seconds') * 1000 : tiny ? 1000 : quick ? 4000 : 10_000,
    recoveryMs: tiny ? 2000 : quick ? 6000 : 20_000,
    recoveryRate: num(arg('recovery-rate') ?? (tiny ? '50' : '200'), '--recovery-rate'),
    scheduled: num(arg('scheduled') ?? (tiny ? '50' : quick ? '20000' : '1000000'), '--scheduled'),
    backlog: num(arg('backlog') ?? (tiny ? '50' : quick ? '20000' : '1000000'), '--backlog'),
    warmupMs: tiny ? 0 : quick ? 1500 : 4000,
    itemsMax: tiny ? 50 : Number.POSITIVE_INFINITY,
    profileDir: profile !== undefined ? resolve(profile) : undefined,
    execArgs: (arg('exec-args') ?? '').split(',').filter((a) => a !== ''),
    sessionraftSchedule: scheduleWay(arg('sessionraft-schedule') ?? 'schedule'),
    sessionraftAck: ackWay(arg('sessionraft-ack') ?? 'remove'),
    sessionraftNodes: clusterSize(arg('sessionraft-nodes') ?? '3'),
  };
}

// ---- bookkeeping ---------------------------------------------------------------------------------

/** Every item of one stream: when it was due, when (and how often) it was received and done. */
class Tracker {
  readonly due = new Map<string, number>();
  readonly firstAt = new Map<string, number>();
  private readonly firstDedup = new Map<string, string>();
  readonly done = new Set<string>();
  lastDoneAt = 0;
  received = 0;
  /** Delivered again under the same dedup key (a consumer that deduplicates drops it). */
  redelivered = 0;
  /** Delivered again under another dedup key: the same item as new work. */
  duplicated = 0;
  scheduleErrors = 0;
  firstScheduleError: string | null = null;

  constructor(private readonly delay: DelayName) {}

  scheduled(r: { key: string; scheduledAt: number }): void {
    this.due.set(r.key, r.scheduledAt + delayMs[this.delay]);
  }

  failed(err: unknown): void {
    this.scheduleErrors++;
    this.firstScheduleError ??= String(err instanceof Error ? err.message : err);
  }

  readonly hooks = {
    onReceive: (r: Received): void => {
      this.received++;
      const first = this.firstDedup.get(r.key);
      if (first === undefined) {
        this.firstDedup.set(r.key, r.dedupKey);
        this.firstAt.set(r.key, r.at);
      } else if (first === r.dedupKey) this.redelivered++;
      else this.duplicated++;
    },
    onDone: (key: string, at: number): void => {
      this.done.add(key);
      if (at > this.lastDoneAt) this.lastDoneAt = at;
    },
  };

  /** Every acknowledged item done by the consumer. */
  allDone(): boolean {
    for (const k of this.due.keys()) if (!this.done.has(k)) return false;
    return true;
  }

  /**
   * First-delivery lateness of every acknowledged item (ms), sorted, and how many were never
   * received. An item not received by now counts as `now - due` (at least that late), so that the
   * percentiles are lower bounds rather than flattered when some never came.
   */
  lateness(): { sorted: number[]; missing: number } {
    const out: number[] = [];
    let missing = 0;
    const now = performance.now();
    for (const [k, due] of this.due) {
      const at = this.firstAt.get(k);
      if (at === undefined) {
        missing++;
        out.push(now - due);
      } else out.push(at - due);
    }
    out.sort((a, b) => a - b);
    return { sorted: out, missing };
  }

  /** Items received more than `boundMs` after their due time (first delivery). */
  lateCount(boundMs: number): number {
    let n = 0;
    for (const [k, due] of this.due) {
      const at = this.firstAt.get(k);
      if (at !== undefined && at - due > boundMs) n++;
    }
    return n;
  }

  /** Lateness (ms, sorted) of the items received that fell due before `t` (the recovery row: before the kill). */
  latenessDueBefore(t: number): number[] {
    const out: number[] = [];
    for (const [k, due] of this.due) {
      const at = this.firstAt.get(k);
      if (at !== undefined && due < t) out.push(at - due);
    }
    return out.sort((a, b) => a - b);
  }

  /** Items received that no acknowledged scheduling call named (a failed call that took effect). */
  receivedUnacknowledged(): number {
    let n = 0;
    for (const k of this.firstAt.keys()) if (!this.due.has(k)) n++;
    return n;
  }

  lastDue(): number {
    let m = 0;
    for (const d of this.due.values()) if (d > m) m = d;
    return m;
  }
}

const r3 = (x: number): number => Number(x.toFixed(3));
const r1 = (x: number): number => Number(x.toFixed(1));

function latenessFields(sorted: readonly number[]): Row {
  return {
    lateP50Ms: r1(percentile(sorted, 50)),
    lateP99Ms: r1(percentile(sorted, 99)),
    lateMaxMs: r1(sorted.length > 0 ? sorted[sorted.length - 1]! : 0),
  };
}

/** CPU of the system's servers and of this process (producers and consumer) between `begin` and `fields`. */
class Cpu {
  private readonly t0 = performance.now();
  private readonly server0: number;
  private readonly nodes0: ReadonlyMap<string, number> | undefined;
  private readonly self0 = process.cpuUsage();
  private readonly machine0 = sampleMachine();
  constructor(private readonly sys: DelayedSystem) {
    this.server0 = sys.serverCpuMs();
    this.nodes0 = sys.nodeCpuMs?.();
  }
  fields(items: number): Row {
    const wallMs = performance.now() - this.t0;
    const serverMs = this.sys.serverCpuMs() - this.server0;
    const u = process.cpuUsage(this.self0);
    const clientMs = (u.user + u.system) / 1000;
    const m = sampleMachine();
    // Each node's share (sessionraft): which node the CPU went to (the GC fields mark the leader `L`).
    const perNode: Row = {};
    const nodes1 = this.sys.nodeCpuMs?.();
    if (nodes1 !== undefined && this.nodes0 !== undefined && items > 0) {
      for (const [id, ms] of nodes1) perNode[`${id}UsPerItem`] = Math.round(((ms - (this.nodes0.get(id) ?? ms)) * 1000) / items);
    }
    return {
      cpuUsPerItem: items > 0 ? Math.round(((serverMs + clientMs) * 1000) / items) : 0,
      serverUsPerItem: items > 0 ? Math.round((serverMs * 1000) / items) : 0,
      ...perNode,
      clientUsPerItem: items > 0 ? Math.round((clientMs * 1000) / items) : 0,
      serverCpuPct: Math.round((serverMs / wallMs) * 100),
      clientCpuPct: Math.round((clientMs / wallMs) * 100),
      otherCpuPct: Math.max(0, Math.round(((m.busyMs - this.machine0.busyMs - serverMs - clientMs) / wallMs) * 100)),
      cpuStallPct: Math.round(((m.stallMs - this.machine0.stallMs) / wallMs) * 100),
      loadAvg1: Number(loadavg()[0]!.toFixed(2)),
    };
  }
}

/**
 * The leader's work per item over a row (sessionraft): log entries, WAL batches (Raft rounds),
 * peer messages sent, client requests; and its own lateness metrics over the row: the mean of how
 * long after their due time stored sessions were planned for restore (`leaderRestoreLateMeanMs`)
 * and first handed to the consumer (`leaderDeliveryLateMeanMs`), by the leader's clock in whole
 * milliseconds; the mean durable WAL write under the row's load, the leader's and the followers'
 * (`leaderFsyncMeanMs`, `followerFsyncMeanMs`: set beside the machine row's idle `fsync4kP50Ms`, they
 * show what the disk adds when three nodes share it), and the leader's mean client command, request
 * to applied result (`leaderCommitMeanMs`). {} when unknown or when the leader changed.
 */
async function leaderFields(sys: DelayedSystem, c0: LeaderCounters | null, items: number): Promise<Row> {
  if (sys.leaderCounters === undefined || c0 === null || items === 0) return {};
  const c1 = await sys.leaderCounters();
  if (c1 === null || c1.leader !== c0.leader) return {};
  return {
    entriesPerItem: r1((c1.entries - c0.entries) / items),
    walBatchesPerItem: r1((c1.walBatches - c0.walBatches) / items),
    peerMsgsPerItem: r1((c1.peerMessages - c0.peerMessages) / items),
    peerBytesPerItem: Math.round((c1.peerBytes - c0.peerBytes) / items),
    requestsPerItem: r1((c1.clientRequests - c0.clientRequests) / items),
    ...meanMs('leaderRestoreLateMeanMs', c1.restoreLateSeconds - c0.restoreLateSeconds, c1.restoreLateCount - c0.restoreLateCount),
    ...meanMs('leaderDeliveryLateMeanMs', c1.deliveryLateSeconds - c0.deliveryLateSeconds, c1.deliveryLateCount - c0.deliveryLateCount),
    ...meanMs('leaderFsyncMeanMs', c1.leaderFsyncSeconds - c0.leaderFsyncSeconds, c1.leaderFsyncCount - c0.leaderFsyncCount),
    ...followerFsyncMean(c0, c1),
    ...meanMs('leaderCommitMeanMs', c1.commitSeconds - c0.commitSeconds, c1.commitCount - c0.commitCount),
  };
}

/**
 * `followerFsyncMeanMs` over the followers read at both ends of the row (a follower whose /metrics
 * did not answer at either end is left out; one whose counters went back, a restart, too).
 */
export function followerFsyncMean(c0: LeaderCounters, c1: LeaderCounters): Row {
  let seconds = 0;
  let count = 0;
  for (const [id, end] of c1.followerFsync) {
    const start = c0.followerFsync.get(id);
    if (start === undefined || end.count < start.count) continue;
    seconds += end.seconds - start.seconds;
    count += end.count - start.count;
  }
  return meanMs('followerFsyncMeanMs', seconds, count);
}

/** `{ [name]: mean in ms }` of `count` observations summing `seconds`; {} without any. */
function meanMs(name: string, seconds: number, count: number): Row {
  return count > 0 ? { [name]: Number(((seconds / count) * 1000).toFixed(2)) } : {};
}

type GcStart = { readonly at: number; readonly snapshot: GcSnapshot } | null;

/** sessionraft's GC readings at the start of a row (null for a system without them). */
async function gcStart(sys: DelayedSystem): Promise<GcStart> {
  if (sys.gcReadings === undefined) return null;
  return { at: performance.now(), snapshot: await sys.gcReadings() };
}

/** Each node's full collections and GC pauses a second since `g0` (gcRateFields; `L` the leader now). */
async function gcFields(sys: DelayedSystem, g0: GcStart): Promise<Row> {
  if (g0 === null || sys.gcReadings === undefined) return {};
  const g1 = await sys.gcReadings();
  return gcRateFields(g0.snapshot.readings, g1.readings, (performance.now() - g0.at) / 1000, (id) => (id === g1.leader ? `${id}L` : id));
}

/**
 * Waits until every acknowledged item was done, at most until `slackMs` after the last due time.
 * Items still not done then: the system's own view of where they stand goes to stderr (`diagnose`).
 */
async function drain(t: Tracker, slackMs: number, what: string, ctx: BenchContext, sys: DelayedSystem): Promise<void> {
  const deadline = Math.max(t.lastDue(), performance.now()) + slackMs;
  await waitFor(
    what,
    () => {
      ctx.progress(`${what}: ${t.done.size}/${t.due.size} done`);
      return t.allDone() || performance.now() > deadline ? true : null;
    },
    slackMs + 3_600_000, // bounded by `deadline` above; this is the loop's own guard
    50,
  );
  if (t.allDone() || sys.diagnose === undefined) return;
  const notDone = [...t.due.keys()].filter((k) => !t.done.has(k));
  const received = notDone.filter((k) => t.firstAt.has(k)).length;
  process.stderr.write(
    `${what}: ${notDone.length} of ${t.due.size} items not done ${slackMs} ms after the last due time (${received} of them received); first: ${notDone.slice(0, 3).join(', ')}\n${await sys.diagnose()}\n`,
  );
}

/**
 * Open loop: schedules `rate` items a second for `durationMs` whatever the acknowledgements (at
 * most `outstandingMax` unacknowledged; beyond that an item is skipped and counted). `during` runs
 * alongside (the recovery row's kill and restart).
 */
async function openLoop(
  stream: Stream,
  t: Tracker,
  rate: number,
  durationMs: number,
  itemsMax: number,
  onTick: (issued: number) => void,
): Promise<{ issued: number; skipped: number; seconds: number; scheduleMs: number[] }> {
  // One second of items at 5,000/s: a system that cannot take the rate shows it as skipped items
  // (and a lower achieved rate) rather than as minutes of calls queued in its client.
  const outstandingMax = 5_000;
  const pending = new Set<Promise<void>>();
  // Each acknowledged scheduling call's time from issue to answer: where a row falls behind, this
  // tells the scheduling side from the delivery side.
  const scheduleMs: number[] = [];
  let issued = 0;
  let skipped = 0;
  const t0 = performance.now();
  let lastTick = t0;
  for (;;) {
    const now = performance.now();
    if (now - t0 >= durationMs || issued >= itemsMax) break;
    const target = Math.min(itemsMax, Math.floor((rate * (now - t0)) / 1000));
    while (issued < target) {
      const seq = issued++;
      if (pending.size >= outstandingMax) {
        skipped++;
        continue;
      }
      const sentAt = performance.now();
      const p = stream.schedule(seq, seq, '1s').then(
        (r) => {
          scheduleMs.push(performance.now() - sentAt);
          t.scheduled(r);
        },
        (err: unknown) => t.failed(err),
      );
      pending.add(p);
      void p.finally(() => pending.delete(p));
    }
    if (now - lastTick > 1000) {
      lastTick = now;
      onTick(issued);
    }
    await new Promise<void>((r) => setTimeout(r, 2));
  }
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(pending);
  return { issued, skipped, seconds, scheduleMs: scheduleMs.sort((a, b) => a - b) };
}

// ---- rows ----------------------------------------------------------------------------------------

let streamSeq = 0;

async function withStream<T>(
  sys: DelayedSystem,
  name: string,
  delay: DelayName,
  fn: (s: Stream, t: Tracker) => Promise<T>,
  opts: { readonly consumerLater?: boolean } = {},
): Promise<T> {
  const t = new Tracker(delay);
  const stream = await sys.openStream(`${name}-${++streamSeq}`, t.hooks, opts);
  try {
    return await fn(stream, t);
  } finally {
    await stream.close();
  }
}

async function throughputRow(ctx: BenchContext, s: Settings, sys: DelayedSystem, producers: number, durationMs: number, report: boolean): Promise<void> {
  await withStream(sys, `tp${producers}`, '1s', async (stream, t) => {
    const label = `${sys.name} throughput x${producers}`;
    const counters0 = (await sys.leaderCounters?.()) ?? null;
    const gc0 = report ? await gcStart(sys) : null;
    const cpu = new Cpu(sys);
    let seq = 0;
    const t0 = performance.now();
    const sum = await closedLoop({
      concurrency: producers,
      durationMs,
      opsMax: s.itemsMax,
      op: async (w) => {
        try {
          t.scheduled(await stream.schedule(w, seq++, '1s'));
        } catch (err) {
          t.failed(err);
          throw err;
        }
        return true;
      },
      onProgress: (ops, ms) => ctx.progress(`${label}: ${ops} scheduled, ${Math.round((ops * 1000) / ms)}/s`),
    });
    await drain(t, 30_000, label, ctx, sys);
    if (!report) return;
    const items = t.done.size;
    const late = t.lateness();
    const spanS = (t.lastDoneAt - t0 - delayMs['1s']) / 1000;
    ctx.report({
      scenario: 'delayed.throughput',
      ...systemFields(sys),
      producers,
      delayMs: delayMs['1s'],
      storeToAckPerSec: items > 0 ? Math.round(items / spanS) : 0,
      scheduledPerSec: Math.round(sum.opsPerSec),
      scheduleP50Ms: r3(sum.p50Ms),
      scheduleP99Ms: r3(sum.p99Ms),
      items: t.due.size,
      acked: items,
      undelivered: late.missing,
      ...latenessFields(late.sorted),
      errors: t.scheduleErrors,
      ...(t.firstScheduleError !== null ? { firstError: t.firstScheduleError } : {}),
      ...cpu.fields(items),
      ...(await gcFields(sys, gc0)),
      ...(await leaderFields(sys, counters0, items)),
    });
  });
}

async function latenessRow(ctx: BenchContext, s: Settings, sys: DelayedSystem, rate: number, durationMs: number, report: boolean): Promise<void> {
  await withStream(sys, `late${rate}`, '1s', async (stream, t) => {
    const label = `${sys.name} lateness at ${rate}/s${report ? '' : ' (warm-up)'}`;
    const counters0 = (await sys.leaderCounters?.()) ?? null;
    const gc0 = report ? await gcStart(sys) : null;
    const cpu = new Cpu(sys);
    const o = await openLoop(stream, t, rate, durationMs, s.itemsMax, (n) => ctx.progress(`${label}: ${n} scheduled, ${t.done.size} done`));
    await drain(t, 30_000, label, ctx, sys);
    if (!report) return;
    const late = t.lateness();
    ctx.report({
      scenario: 'delayed.lateness',
      ...systemFields(sys),
      ratePerSec: rate,
      // What the producers achieved (acknowledged scheduling calls per second of load).
      scheduledPerSec: Math.round(t.due.size / o.seconds),
      ...(o.scheduleMs.length > 0 ? { scheduleP50Ms: r3(percentile(o.scheduleMs, 50)), scheduleP99Ms: r3(percentile(o.scheduleMs, 99)) } : {}),
      ...latenessFields(late.sorted),
      items: t.due.size,
      acked: t.done.size,
      // Not delivered by 30 s after the last due time (then the row ends; lateness counts them as at least that late).
      undelivered: late.missing,
      skipped: o.skipped,
      errors: t.scheduleErrors,
      ...(t.firstScheduleError !== null ? { firstError: t.firstScheduleError } : {}),
      ...cpu.fields(t.done.size),
      ...(await gcFields(sys, gc0)),
      ...(await leaderFields(sys, counters0, t.done.size)),
    });
  });
}

async function recoveryRow(ctx: BenchContext, s: Settings, sys: DelayedSystem): Promise<void> {
  await withStream(sys, 'recovery', '1s', async (stream, t) => {
    const label = `${sys.name} recovery`;
    let killed = '';
    let crashAt = 0;
    let upAt = 0;
    let chaosError: unknown = null;
    const chaos = (async () => {
      await new Promise<void>((r) => setTimeout(r, s.recoveryMs * 0.4));
      crashAt = performance.now();
      killed = await sys.crash();
      ctx.progress(`${label}: killed ${killed} (kill -9); restarting it`);
      await sys.restart();
      upAt = performance.now();
    })().catch((err: unknown) => {
      chaosError = err;
    });
    const o = await openLoop(stream, t, s.recoveryRate, s.recoveryMs, s.itemsMax, (n) => ctx.progress(`${label}: ${n} scheduled, ${t.done.size} done`));
    await chaos;
    if (chaosError !== null) throw chaosError instanceof Error ? chaosError : new Error(String(chaosError));
    // Redeliveries wait for the ack deadline (sessionraft's ackWaitMs and BullMQ's lock, 30 s each by default).
    await drain(t, 75_000, label, ctx, sys);
    const late = t.lateness();
    ctx.report({
      scenario: 'delayed.recovery',
      ...systemFields(sys),
      ratePerSec: s.recoveryRate,
      killed,
      restartMs: Math.round(upAt - crashAt),
      items: t.due.size,
      lost: late.missing,
      late: t.lateCount(lateBoundMs),
      lateBoundMs,
      redelivered: t.redelivered,
      duplicated: t.duplicated,
      ...latenessFields(late.sorted),
      // Whether the system kept up before the kill: the lateness of the items due before it.
      lateBeforeKillP50Ms: r1(percentile(t.latenessDueBefore(crashAt), 50)),
      lateBeforeKillP99Ms: r1(percentile(t.latenessDueBefore(crashAt), 99)),
      scheduleErrors: t.scheduleErrors,
      receivedUnacknowledged: t.receivedUnacknowledged(),
      skipped: o.skipped,
      ...(t.firstScheduleError !== null ? { firstError: t.firstScheduleError } : {}),
      loadAvg1: Number(loadavg()[0]!.toFixed(2)),
    });
  });
}

async function memoryRow(ctx: BenchContext, s: Settings, sys: DelayedSystem): Promise<void> {
  await withStream(sys, 'memory', '2h', async (stream, t) => {
    const before = await sys.memory();
    const cpu = new Cpu(sys);
    let seq = 0;
    const sum = await closedLoop({
      concurrency: 128,
      opsMax: s.scheduled,
      op: async (w) => {
        t.scheduled(await stream.schedule(w, seq++, '2h'));
        return true;
      },
      onProgress: (ops, ms) => ctx.progress(`${sys.name} memory: ${ops}/${s.scheduled} scheduled, ${Math.round((ops * 1000) / ms)}/s`),
    });
    const cpuFields = cpu.fields(sum.ops);
    // Let the nodes' snapshots and Redis's AOF rewrite settle before reading memory.
    await new Promise<void>((r) => setTimeout(r, Number.isFinite(s.itemsMax) ? 200 : 3000));
    const after = await sys.memory();
    const beforeFields: Row = {};
    for (const [k, v] of Object.entries(before)) if (!k.includes('Peak')) beforeFields[`${k}Before`] = v;
    // One figure both systems have: the largest process's RSS now (a node's; Redis's), for the summary.
    const largestRssMb = Math.max(0, ...Object.entries(after).flatMap(([k, v]) => (k.endsWith('RssMb') && !k.includes('Peak') ? [v] : [])));
    ctx.report({
      scenario: 'delayed.memory',
      ...systemFields(sys),
      scheduled: t.due.size,
      itemBytes: 1024,
      ...after,
      largestRssMb,
      ...beforeFields,
      fillPerSec: Math.round(sum.opsPerSec),
      errors: sum.errors,
      ...(sum.firstError !== null ? { firstError: sum.firstError } : {}),
      ...cpuFields,
    });
  });
}

/**
 * The backlog row: `s.backlog` items due in 1 s with no consumer running, then the consumer. What a
 * user of a delayed-delivery service meets after a consumer outage: everything due meanwhile waits
 * in the system (memory), and reaches the consumer once it is back, each item once.
 */
async function backlogRow(ctx: BenchContext, s: Settings, sys: DelayedSystem): Promise<void> {
  await withStream(
    sys,
    'backlog',
    '1s',
    async (stream, t) => {
      const label = `${sys.name} backlog`;
      const before = await sys.memory();
      // sessionraft: the leader's term before and after, to count the elections the row caused.
      const termBefore = (await sys.leaderCounters?.())?.term;
      const cpu = new Cpu(sys);
      let seq = 0;
      const sum = await closedLoop({
        concurrency: 128,
        opsMax: s.backlog,
        op: async (w) => {
          t.scheduled(await stream.schedule(w, seq++, '1s'));
          return true;
        },
        onProgress: (ops, ms) => ctx.progress(`${label}: ${ops}/${s.backlog} scheduled, ${Math.round((ops * 1000) / ms)}/s`),
      });
      const fillCpu = cpu.fields(sum.ops);
      const scheduled = t.due.size;
      // Every item due, and held for the consumer: bounded by the row's size (a restore rate of
      // 1,000/s at the least) and read every second.
      const heldWaitMs = 60_000 + scheduled;
      const heldAtStart = performance.now();
      let held: number | null = null;
      await waitFor(
        `${label}: every item due and held for the consumer`,
        async () => {
          if (performance.now() < t.lastDue()) return null;
          held = await stream.held();
          ctx.progress(`${label}: ${held ?? '?'}/${scheduled} held for the consumer`);
          return held !== null && held >= scheduled ? true : null;
        },
        heldWaitMs,
        1000,
      ).catch((err: unknown) => process.stderr.write(`${String(err)}\n`));
      const heldS = (performance.now() - heldAtStart) / 1000;
      const waiting = await sys.memory();
      // The consumer, late: it takes everything held.
      const drainCpu = new Cpu(sys);
      const d0 = performance.now();
      await stream.startConsumer();
      const drainWaitMs = 60_000 + scheduled * 2;
      await waitFor(
        `${label}: every item done`,
        () => {
          ctx.progress(`${label}: ${t.done.size}/${scheduled} done`);
          return t.done.size >= scheduled && t.allDone() ? true : null;
        },
        drainWaitMs,
        200,
      ).catch(async (err: unknown) => process.stderr.write(`${String(err)}\n${sys.diagnose !== undefined ? await sys.diagnose() : ''}\n`));
      const done = t.done.size;
      const drainS = ((done > 0 ? t.lastDoneAt : performance.now()) - d0) / 1000;
      const after = await sys.memory();
      const termAfter = termBefore !== undefined ? (await sys.leaderCounters?.())?.term : undefined;
      const waitingFields: Row = {};
      for (const [k, v] of Object.entries(waiting)) if (!k.includes('Peak')) waitingFields[`${k.replace(/Mb$/, '')}WaitingMb`] = v;
      const beforeFields: Row = {};
      for (const [k, v] of Object.entries(before)) if (!k.includes('Peak')) beforeFields[`${k.replace(/Mb$/, '')}BeforeMb`] = v;
      const late = t.lateness();
      const drainFields = drainCpu.fields(done);
      ctx.report({
        scenario: 'delayed.backlog',
        ...systemFields(sys),
        scheduled,
        itemBytes: 1024,
        fillPerSec: Math.round(sum.opsPerSec),
        errors: sum.errors,
        ...(sum.firstError !== null ? { firstError: sum.firstError } : {}),
        held: held ?? -1,
        heldAfterS: r1(heldS),
        ...waitingFields,
        // One figure both systems have: the largest process's RSS while everything waited.
        largestRssWaitingMb: Math.max(0, ...Object.entries(waiting).flatMap(([k, v]) => (k.endsWith('RssMb') && !k.includes('Peak') ? [v] : []))),
        drainS: r1(drainS),
        drainPerSec: drainS > 0 ? Math.round(done / drainS) : 0,
        done,
        undelivered: late.missing,
        duplicated: t.duplicated,
        redelivered: t.redelivered,
        receivedUnacknowledged: t.receivedUnacknowledged(),
        // Terms the row went through: 0 when one leader led it all (a schedule in flight at a
        // leader change may end in CLIENT_ERR_UNKNOWN_OUTCOME).
        ...(termBefore !== undefined && termAfter !== undefined ? { leaderTerms: termAfter - termBefore } : {}),
        ...after,
        ...beforeFields,
        fillCpuUsPerItem: fillCpu.cpuUsPerItem,
        drainCpuUsPerItem: drainFields.cpuUsPerItem,
        drainServerUsPerItem: drainFields.serverUsPerItem,
        drainClientUsPerItem: drainFields.clientUsPerItem,
      });
    },
    { consumerLater: true },
  );
}

// ---- run -----------------------------------------------------------------------------------------

/** One row: its warm-up (unreported) and its measurement, on one freshly started system. */
interface BenchRow {
  warmUp(sys: DelayedSystem): Promise<void>;
  run(sys: DelayedSystem): Promise<void>;
}

async function runSystem(ctx: BenchContext, s: Settings, name: SystemName, redisBin: string | null): Promise<void> {
  if (name === 'bullmq' && redisBin === null) {
    ctx.progress(redisMissingMessage);
    ctx.report({ scenario: 'delayed.skipped', system: 'bullmq', reason: redisMissingMessage });
    return;
  }
  // A fresh system for every row (nothing left over from the row before: a backlog in sessionraft's
  // 1 s class file would delay the next row's items), warmed up at full load first.
  const fresh = async (row: BenchRow): Promise<void> => {
    ctx.progress(name === 'sessionraft' ? `starting ${s.sessionraftNodes} sessionraft node process(es)` : `starting ${redisBin}`);
    const sys: DelayedSystem =
      name === 'sessionraft'
        ? await SessionraftSystem.start({
            execArgs: s.execArgs,
            schedule: s.sessionraftSchedule,
            ack: s.sessionraftAck,
            nodes: s.sessionraftNodes,
            ...(s.profileDir !== undefined ? { cpuProfDir: s.profileDir } : {}),
          })
        : await BullmqSystem.start(redisBin!);
    try {
      if (s.warmupMs > 0) await row.warmUp(sys);
      await row.run(sys);
    } finally {
      await sys.stop();
    }
  };
  // The warm-up: full load (128 producers), except before a lateness row: the same open loop at
  // the same rate (a first run of that load shape was measurably slower for its first seconds on
  // both systems: JIT and heap warm-up, not the system's steady state).
  const fullLoad = (sys: DelayedSystem): Promise<void> => throughputRow(ctx, s, sys, 128, s.warmupMs, false);
  const rows: BenchRow[] = [];
  if (s.only.has('throughput')) for (const p of s.producers) rows.push({ warmUp: fullLoad, run: (sys) => throughputRow(ctx, s, sys, p, s.throughputMs, true) });
  if (s.only.has('lateness'))
    for (const r of s.rates)
      rows.push({ warmUp: (sys) => latenessRow(ctx, s, sys, r, s.warmupMs, false), run: (sys) => latenessRow(ctx, s, sys, r, s.latenessMs, true) });
  if (s.only.has('recovery')) rows.push({ warmUp: fullLoad, run: (sys) => recoveryRow(ctx, s, sys) });
  if (s.only.has('memory')) rows.push({ warmUp: fullLoad, run: (sys) => memoryRow(ctx, s, sys) });
  if (s.only.has('backlog')) rows.push({ warmUp: fullLoad, run: (sys) => backlogRow(ctx, s, sys) });
  // --tiny (a handful of items a row, nothing left over) runs every row on one system: the test stays short.
  if (Number.isFinite(s.itemsMax))
    await fresh({
      warmUp: fullLoad,
      run: async (sys) => {
        for (const row of rows) await row.run(sys);
      },
    });
  else for (const row of rows) await fresh(row);
}

/** The closing table: one line per row and system. */
function printSummary(rows: readonly Row[]): void {
  const pick = (r: Row): string[] => {
    const sys0 = r.nodes === undefined || r.nodes === 3 ? String(r.system) : `${String(r.system)} (${String(r.nodes)} node${r.nodes === 1 ? '' : 's'})`;
    const sys = r.run === undefined ? sys0 : `${sys0}, run ${String(r.run)}`;
    switch (r.scenario) {
      case 'delayed.throughput':
        return [`store-to-ack, 1 s delay, ${String(r.producers)} producers`, sys, `${String(r.storeToAckPerSec)}/s (CPU ${String(r.cpuUsPerItem)} µs/item)`];
      case 'delayed.lateness':
        return [
          `lateness at ${String(r.ratePerSec)}/s due`,
          sys,
          `p50 ${String(r.lateP50Ms)} ms, p99 ${String(r.lateP99Ms)} ms, max ${String(r.lateMaxMs)} ms (${String(r.scheduledPerSec)}/s achieved, ${String(r.undelivered)} undelivered)`,
        ];
      case 'delayed.recovery':
        return [
          `kill -9 ${String(r.killed)} at ${String(r.ratePerSec)}/s`,
          sys,
          `${String(r.items)} items: lost ${String(r.lost)}, late ${String(r.late)} (> ${String(r.lateBoundMs)} ms), duplicated ${String(r.duplicated)}, redelivered ${String(r.redelivered)}, max ${String(r.lateMaxMs)} ms`,
        ];
      case 'delayed.memory': {
        const mem = Object.entries(r)
          .filter(([k]) => k.endsWith('RssMb') || k === 'redisUsedMemoryMb')
          .map(([k, v]) => `${k.replace(/Mb$/, '')} ${String(v)} MB`)
          .join(', ');
        return [`memory, ${Number(r.scheduled).toLocaleString('en-US')} scheduled 1 KiB items`, sys, mem];
      }
      case 'delayed.backlog':
        return [
          `backlog, ${Number(r.scheduled).toLocaleString('en-US')} due with no consumer`,
          sys,
          `largest RSS ${String(r.largestRssWaitingMb)} MB while waiting; drained in ${String(r.drainS)} s (${String(r.drainPerSec)}/s): undelivered ${String(r.undelivered)}, duplicated ${String(r.duplicated)}`,
        ];
      case 'delayed.skipped':
        return ['(skipped)', sys, String(r.reason)];
      default:
        return [];
    }
  };
  const lines = rows.map(pick).filter((l) => l.length > 0);
  if (lines.length === 0) return;
  process.stdout.write('\n' + formatColumns(lines) + '\n');
}

/**
 * Which way is better: more, less, or nearer 0 (lateness is a distance from the due time: an item
 * delivered early, as BullMQ's median one can be, is not better for it).
 */
type Better = 'higher' | 'lower' | 'nearer 0';

/** What a summary compares for each kind of row, and which way is better. */
const summaryFields: Readonly<Record<string, readonly { field: string; better: Better }[]>> = {
  'delayed.throughput': [{ field: 'storeToAckPerSec', better: 'higher' }],
  'delayed.lateness': [
    { field: 'lateP50Ms', better: 'nearer 0' },
    { field: 'lateP99Ms', better: 'nearer 0' },
  ],
  'delayed.recovery': [
    { field: 'lost', better: 'lower' },
    { field: 'late', better: 'lower' },
    { field: 'duplicated', better: 'lower' },
  ],
  'delayed.memory': [{ field: 'largestRssMb', better: 'lower' }],
  'delayed.backlog': [
    { field: 'largestRssWaitingMb', better: 'lower' },
    { field: 'drainPerSec', better: 'higher' },
    { field: 'undelivered', better: 'lower' },
    { field: 'duplicated', better: 'lower' },
  ],
};

function rowLabel(r: Row): string | null {
  switch (r.scenario) {
    case 'delayed.throughput':
      return `store-to-ack, ${String(r.producers)} producers`;
    case 'delayed.lateness':
      return `lateness at ${String(r.ratePerSec)}/s due`;
    case 'delayed.recovery':
      return `kill -9 at ${String(r.ratePerSec)}/s`;
    case 'delayed.memory':
      return `memory, ${Number(r.scheduled).toLocaleString('en-US')} scheduled`;
    case 'delayed.backlog':
      return `backlog, ${Number(r.scheduled).toLocaleString('en-US')} due with no consumer`;
    default:
      return null;
  }
}

/** One row and field over the runs: each system's median and range, and the runs sessionraft was ahead. */
export interface DelayedSummary {
  readonly row: string;
  readonly field: string;
  readonly better: Better;
  /** Per system: runs measured, median, min, max. */
  readonly systems: Readonly<Record<string, Spread>>;
  /** Runs in which both systems measured the row. */
  readonly pairedRuns: number;
  /** Of those, the runs in which sessionraft's value was strictly better than BullMQ's. */
  readonly sessionraftAhead: number;
}

/** Summarizes tagged rows (`run`, `system`) of several runs; rows of other kinds are left out. */
export function summarizeDelayed(rows: readonly Row[]): DelayedSummary[] {
  const out: DelayedSummary[] = [];
  const labels: string[] = [];
  for (const r of rows) {
    const l = rowLabel(r);
    if (l !== null && !labels.includes(l)) labels.push(l);
  }
  for (const label of labels) {
    const mine = rows.filter((r) => rowLabel(r) === label);
    for (const { field, better } of summaryFields[String(mine[0]!.scenario)] ?? []) {
      const systems: Record<string, Spread> = {};
      const byRun = new Map<number, Map<string, number>>();
      for (const r of mine) {
        const v = Number(r[field]);
        if (!Number.isFinite(v)) continue;
        const sys = String(r.system);
        const run = typeof r.run === 'number' ? r.run : 1;
        if (!byRun.has(run)) byRun.set(run, new Map());
        byRun.get(run)!.set(sys, v);
      }
      const names = [...new Set([...byRun.values()].flatMap((m) => [...m.keys()]))];
      for (const sys of names) {
        systems[sys] = spreadOf([...byRun.values()].flatMap((m) => (m.has(sys) ? [m.get(sys)!] : [])));
      }
      let pairedRuns = 0;
      let sessionraftAhead = 0;
      for (const m of byRun.values()) {
        const a = m.get('sessionraft');
        const b = m.get('bullmq');
        if (a === undefined || b === undefined) continue;
        pairedRuns++;
        if (better === 'higher' ? a > b : better === 'lower' ? a < b : Math.abs(a) < Math.abs(b)) sessionraftAhead++;
      }
      out.push({ row: label, field, better, systems, pairedRuns, sessionraftAhead });
    }
  }
  return out;
}

function printDelayedSummaries(summaries: readonly DelayedSummary[]): void {
  const names = [...new Set(summaries.flatMap((t) => Object.keys(t.systems)))];
  const lines: string[][] = [['row', 'field', ...names.map((n) => `${n}: median (range)`), 'sessionraft ahead']];
  for (const t of summaries) {
    lines.push([
      t.row,
      `${t.field} (${t.better} is better)`,
      ...names.map((n) => {
        const x = t.systems[n];
        return x === undefined ? '-' : `${x.median.toLocaleString('en-US')} (${x.min.toLocaleString('en-US')}-${x.max.toLocaleString('en-US')})`;
      }),
      t.pairedRuns === 0 ? '-' : `in ${t.sessionraftAhead} of ${t.pairedRuns} runs`,
    ]);
  }
  process.stdout.write('\n' + formatColumns(lines) + '\n');
}

export async function run(ctxIn: BenchContext): Promise<void> {
  const s = settingsOf(ctxIn);
  const repeat = repeatOf(ctxIn.args, 10);
  const rows: Row[] = [];
  if (s.profileDir !== undefined) mkdirSync(s.profileDir, { recursive: true });
  const redisBin = s.systems.includes('bullmq') ? findRedisServer() : null;
  try {
    for (let k = 1; k <= repeat; k++) {
      const tag = (r: Row): Row => (repeat > 1 ? { run: k, ...r } : r);
      const ctx: BenchContext = {
        ...ctxIn,
        report: (r) => {
          const t = tag(r);
          rows.push(t);
          ctxIn.report(t as typeof r);
        },
      };
      if (repeat > 1) ctxIn.progress(`run ${k} of ${repeat}`);
      ctx.report(await machineRow());
      // Odd runs in the order of --systems, even runs reversed: alternating, as the issue asks.
      const order = k % 2 === 1 ? s.systems : [...s.systems].reverse();
      try {
        for (const name of order) await runSystem(ctx, s, name, redisBin);
      } finally {
        ctx.report(await machineRow());
      }
    }
  } finally {
    if (!ctxIn.json) printSummary(rows);
    if (repeat > 1) {
      const summaries = summarizeDelayed(rows);
      if (ctxIn.json) for (const t of summaries) ctxIn.report({ scenario: 'delayed.summary', ...t });
      else printDelayedSummaries(summaries);
    }
  }
}
