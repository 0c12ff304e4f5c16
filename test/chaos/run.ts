/**
 * One run of the fault harness, and a campaign of runs.
 *
 * A run: start the cluster (fresh data directories, fresh proxies) -> wait for a leader -> start
 * the workload -> wait for it to make progress -> apply the fault (its own schedule, several
 * election timeouts) -> heal everything -> wait for progress again -> stop the workload -> kill -9
 * and restart every node -> wait until all nodes applied the same index under one leader -> a
 * final write must commit (liveness) -> converge again -> read every node's state -> check.
 * "Every node" from the final restart on is every member of the configuration in force, read from
 * the leader once the workload stopped (a fault may have replaced nodes: `replace`).
 * Every wait is for a condition, bounded, with the reason in its message; every process is
 * stopped by pid in `finally`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FinalState } from '../lincheck/index.js';
import { formatQueueReport, type QueueCounts } from '../lincheck/index.js';
import { waitFor } from '../node/helpers.js';
import { Rng } from '../sim/rng.js';
import {
  checkDeliveries,
  checkReplay,
  countStaleReads,
  finalState,
  lincheck,
  queueCheck,
  statusClient,
  waitConverged,
  type DeliveryReport,
  type LincheckSummary,
  type ReplayReport,
} from './checks.js';
import { GroupConsumers } from './consumers.js';
import { ChaosCluster, type ChaosNodeTiming, type RemovedWatch } from './cluster.js';
import type { LinkStats } from './proxy.js';
import type { Fault, FaultContext } from './faults.js';
import { Workload, type WorkloadCounts } from './workload.js';

export interface RunOptions {
  /** 1-based number of the run in its campaign (names the results). */
  readonly run: number;
  readonly fault: Fault;
  readonly nodes: number;
  readonly seed: number;
  readonly plant: readonly string[];
  readonly workers: number;
  readonly timing: ChaosNodeTiming;
  /** Times each fault is applied in its window. */
  readonly rounds: number;
  /** Where reports go (a directory per run); null: nowhere. */
  readonly resultsDir: string | null;
  /** Keep the history and final state of passing runs too. */
  readonly keep: boolean;
  readonly progress: (line: string) => void;
  /** TLS on client/admin ports, --auth, every client logged in (issue 17; default true). */
  readonly secure?: boolean;
}

export interface RunReport {
  readonly run: number;
  readonly fault: string;
  readonly nodes: number;
  readonly seed: number;
  readonly plant: readonly string[];
  /** Whether the nodes ran with TLS and --auth, the clients logged in. */
  readonly secure: boolean;
  readonly pass: boolean;
  /** Why not, one line each. */
  readonly failures: string[];
  readonly durationMs: number;
  readonly phasesMs: Record<string, number>;
  readonly timeline: string[];
  readonly ops: WorkloadCounts;
  readonly lincheck: LincheckSummary | null;
  readonly queue: (QueueCounts & { summary: string }) | null;
  readonly staleReads: number;
  readonly staleExamples: string[];
  readonly digests: Record<string, string>;
  readonly liveness: { ok: boolean; ms: number; error?: string };
  readonly replay: ReplayReport | null;
  /** The replay workload's consumer group (issue 16): what the delivery checker found. */
  readonly deliveries: DeliveryReport | null;
  readonly crashes: { node: string; code: number | null; signal: string | null }[];
  /** From the nodes' logs: torn tails cut, corruption found, bytes kept aside, disk failures. */
  readonly evidence: Record<string, number>;
  /**
   * The configuration: the initial nodes, the final members read from the leader (the nodes that
   * were restarted, converged and checked), the spares spawned and the nodes a fault removed.
   */
  readonly membership: {
    initial: string[];
    final: string[];
    voters: string[];
    learners: string[];
    spares: string[];
    removed: string[];
    /** Each removed node restarted for a while: it must not disturb the members. */
    removedWatch: RemovedWatch[];
  } | null;
  /**
   * The proxies' counters, summed: connections accepted, identified and cut, messages forwarded and
   * dropped, bytes a blackhole swallowed, links on which a cut stopped traffic.
   */
  readonly network: LinkStats | null;
  readonly error?: string;
  readonly dir?: string;
}

const clusterId = 'chaos';
/** The replay workload's consumer group: redelivery after 1 s unacknowledged, dead letter after 4 deliveries. */
const groupAckWaitMs = 1000;
const groupMaxDeliveries = 4;

/** The largest difference between two nodes' clocks (`--clock-offset-ms`, 0 when absent). */
function clockSkewMs(args: ReadonlyMap<string, readonly string[]>): number {
  const offsets = [0];
  for (const a of args.values()) {
    const k = a.indexOf('--clock-offset-ms');
    if (k >= 0) offsets.push(Number(a[k + 1]));
  }
  return Math.max(...offsets) - Math.min(...offsets);
}

export async function runOne(o: RunOptions): Promise<RunReport> {
  const t0 = Date.now();
  const rng = new Rng(o.seed);
  const random = (): number => rng.next();
  const timeline: string[] = [];
  const phasesMs: Record<string, number> = {};
  let phaseAt = Date.now();
  const phase = (name: string): void => {
    const now = Date.now();
    phasesMs[name] = now - phaseAt;
    phaseAt = now;
  };
  const at = (): string => `${((Date.now() - t0) / 1000).toFixed(2)}s`;
  const log = (what: string): void => {
    timeline.push(`${at()} ${what}`);
    o.progress(`  [run ${o.run} ${o.fault.name}] ${at()} ${what}`);
  };
  const failures: string[] = [];
  const electionMs = 2 * o.timing.electionTicks * o.timing.tickMs;
  const replayDelaysMs = [200, 1000];
  const dir = o.resultsDir === null ? null : join(o.resultsDir, `run-${String(o.run).padStart(3, '0')}-${o.fault.name}`);

  let cluster: ChaosCluster | null = null;
  let workload: Workload | null = null;
  let lin: LincheckSummary | null = null;
  let queue: RunReport['queue'] = null;
  let stale = { count: 0, examples: [] as string[] };
  const digests: Record<string, string> = {};
  let liveness: RunReport['liveness'] = { ok: false, ms: 0 };
  let replay: ReplayReport | null = null;
  let deliveries: DeliveryReport | null = null;
  let consumers: GroupConsumers | null = null;
  let heldPoll: Promise<void> | null = null;
  let polling = true;
  const heldCommitsSeen = new Map<string, number>();
  let final: FinalState | null = null;
  let error: string | undefined;
  let evidence: Record<string, number> = {};
  let network: RunReport['network'] = null;
  let membership: RunReport['membership'] = null;
  const nodeArgsRng = new Rng(o.seed ^ 0x5eed);
  try {
    const nodeIds = Array.from({ length: o.nodes }, (_, k) => `n${k + 1}`);
    const extra = new Map(nodeIds.map((id, k) => [id, o.fault.nodeArgs?.(id, k, () => nodeArgsRng.next(), o.timing.tickMs) ?? []]));
    cluster = await ChaosCluster.start({
      size: o.nodes,
      timing: o.timing,
      replayDelaysMs,
      // Snapshots every 300 entries with 50 kept: restarted and partitioned nodes catch up by snapshot install too.
      snapshotEntries: 300,
      compactMargin: 50,
      plant: o.plant,
      nodeArgs: (id) => extra.get(id) ?? [],
      random,
      clusterId,
      spares: o.fault.spares?.(o.rounds) ?? 0,
      secure: o.secure !== false,
    });
    for (const [id, a] of extra) if (a.length > 0) log(`${id} ${a.join(' ')}`);
    const c = cluster;
    // Process start (~0.5 s each, in parallel on 2 cores) plus an election; on a 2-core box shared
    // with other test suites (load average 25-35) a node process took 7-20 s to start: 45 s.
    const first = await c.waitLeader('cluster start', 45_000);
    log(`leader ${first}`);
    // The leader creates the bootstrap admin once it applied an entry of its term: every node must
    // know it before the clients log in. A few entries to apply after the election; 30 s bounds a loaded box.
    if (c.secure) {
      await c.waitAdmin(30_000);
      log('bootstrap admin on every node (TLS and --auth on; clients log in as admin)');
    }
    phase('start');

    // The replay workload's consumers (issue 16): a group on the replay topic, created before the
    // first store, two consumers that ack, throw on poison sessions and crash now and then.
    const requestTimeoutMs = Math.max(300, 3 * electionMs);
    // Secured (issue 17): a new connection is ready only after a TLS handshake and a login (a scrypt
    // hash on the node), 2-5 s here at load average 30-40; an operation that must connect first
    // gets 10 s (at 2 s every operation of the first 15 s was a timeout, none connected).
    const operationTimeoutMs = Math.max(c.secure ? 10_000 : 2000, 10 * electionMs);
    const gc = new GroupConsumers({
      access: c.clientAccess(),
      endpoints: c.endpoints(),
      clusterId,
      random,
      topic: 'replay',
      group: 'g',
      consumers: 2,
      ackWaitMs: groupAckWaitMs,
      maxDeliveries: groupMaxDeliveries,
      crashRate: 0.03,
      crashesMax: 6,
      requestTimeoutMs,
      operationTimeoutMs,
      poisonPrefix: 'rp-',
    });
    consumers = gc;
    // A group create commits in milliseconds once a leader serves; 15 s bounds it.
    await gc.start(15_000);
    log(`consumer group g on replay (ackWaitMs ${groupAckWaitMs}, maxDeliveries ${groupMaxDeliveries}) in ${gc.counts.groupCreateMs} ms`);
    // Commits of held restores are counted in memory on apply: read every node's count now and then
    // (a kill -9 resets it; the final check reads it once more).
    heldPoll = (async () => {
      while (polling) {
        for (const id of c.ids) {
          const st = await c.status(id, false, 500);
          const n = Number((st?.store as { commitsOfHeldRestores?: number } | undefined)?.commitsOfHeldRestores ?? 0);
          if (n > (heldCommitsSeen.get(id) ?? 0)) heldCommitsSeen.set(id, n);
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    })();

    const w = new Workload({
      // Many clients, reconnecting after every kill: certificate logins (ChaosCluster.clientAccess).
      access: c.clientAccess('certificate'),
      endpoints: c.endpoints(),
      clusterId,
      workers: o.workers,
      random,
      hotSessions: Math.max(3, Math.ceil(o.workers / 2)),
      recordsMax: 12,
      requestTimeoutMs,
      operationTimeoutMs,
      replayClasses: [0, 1],
      replayPoisonRate: 0.05,
      replayers: 2,
    });
    workload = w;
    const acks: (() => void)[] = [];
    w.onAppendOk = () => {
      for (const f of acks.splice(0)) f();
    };
    w.start();
    const okNow = (): number => w.counts.ok;
    // Progress before the fault: 30 acknowledged operations (about 0.1-0.3 s here); 15 s bound.
    await waitFor('30 acknowledged operations before the fault', () => okNow() >= 30, 15_000);
    phase('warmup');

    let aborted = false;
    const ctx: FaultContext = {
      cluster: c,
      random,
      electionMs,
      log,
      fail: (what) => {
        log(`FAILED: ${what}`);
        failures.push(what);
      },
      hold: (ms) => new Promise((r) => setTimeout(r, ms)),
      nextAck: (timeoutMs) =>
        new Promise<boolean>((resolve) => {
          const t = setTimeout(() => resolve(false), timeoutMs);
          acks.push(() => {
            clearTimeout(t);
            resolve(true);
          });
        }),
      aborted: () => aborted,
      rounds: o.rounds,
    };
    // A fault's schedule is a few seconds; a minute means a wait inside it hung.
    const faultBudgetMs = 60_000;
    let budgetTimer: NodeJS.Timeout | undefined;
    await Promise.race([
      o.fault.run(ctx),
      new Promise<never>((_, rej) => {
        budgetTimer = setTimeout(() => {
          aborted = true;
          rej(new Error(`fault ${o.fault.name} did not finish within ${faultBudgetMs} ms`));
        }, faultBudgetMs);
      }),
    ]).finally(() => clearTimeout(budgetTimer));
    phase('fault');

    // Heal everything: links, paused nodes, stopped nodes.
    c.healNetwork();
    c.resumeAll();
    for (const id of c.ids) if (!c.isRunning(id)) c.restart(id);
    log('healed');
    const okAtHeal = okNow();
    // Progress after healing: 30 more acknowledged operations. An election or two plus catch-up
    // take well under a second; 20 s bounds it (a cluster that cannot recover fails here).
    try {
      await waitFor('30 acknowledged operations after healing', () => okNow() >= okAtHeal + 30, 20_000);
    } catch (err) {
      failures.push(`no progress after healing: ${(err as Error).message}`);
    }
    phase('recover');
    // Workers finish their operation in flight (bounded by the operation timeout).
    await w.stop();
    await w.close();
    log(`workload stopped: ${w.counts.invoked} operations (ok ${w.counts.ok}, fail ${w.counts.fail}, info ${w.counts.info})`);
    phase('drain');

    // The configuration in force, from the leader: its members are "the nodes" from here on
    // (restart, convergence, final write, final state, digests, replay). It must be what the
    // harness made it (a membership change acknowledged and then lost would show here).
    const mc = statusClient(c, clusterId);
    try {
      const m = await mc.members();
      const fromLeader = [...m.voters, ...m.learners].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
      if (fromLeader.join(',') !== c.ids.join(','))
        failures.push(`the configuration from the leader (${fromLeader.join(',')}) is not the harness's (${c.ids.join(',')})`);
      c.setMembers(fromLeader);
      membership = {
        initial: c.initialIds,
        final: c.ids,
        voters: m.voters,
        learners: m.learners,
        spares: c.sparesSpawned,
        removed: [...c.removed],
        removedWatch: [...c.removedWatch],
      };
      if (fromLeader.join(',') !== c.initialIds.join(','))
        log(`members from leader ${m.leader}: ${c.ids.join(',')} (were ${c.initialIds.join(',')}); removed ${c.removed.join(',') || 'none'} stay down`);
    } finally {
      await mc.close();
    }

    // Restart every node from its disk.
    await c.killAll(c.ids);
    for (const id of c.ids) c.restart(id);
    log('kill -9 and restart every node');
    // Start, an election, catch-up by log or snapshot: a few seconds at most; 30 s bound.
    await waitConverged(c, 30_000);
    phase('restart');

    // Liveness: a final write must commit.
    const sc = statusClient(c, clusterId);
    try {
      const l0 = Date.now();
      const rec = w.recorder;
      try {
        rec.invoke('final', 'create', 'final');
        const s = await sc.createSession('final');
        rec.ok('final', 'final', s.id);
        rec.invoke('final', 'append', `final-${o.run}`, s.id);
        await sc.append(s.id, `final-${o.run}`);
        rec.ok('final');
        liveness = { ok: true, ms: Date.now() - l0 };
      } catch (err) {
        if (rec.openProcesses().includes('final')) rec.info('final', String((err as Error).message));
        liveness = { ok: false, ms: Date.now() - l0, error: String((err as Error).message) };
        failures.push(`liveness: the final write did not commit: ${(err as Error).message}`);
      }
      log(`final write ${liveness.ok ? `committed in ${liveness.ms} ms` : 'FAILED'}`);
      const st = await waitConverged(c, 30_000);
      for (const s of st) digests[s.node as string] = String(s.store.digest);
      if (new Set(Object.values(digests)).size !== 1) failures.push(`store digests differ: ${JSON.stringify(digests)}`);
      final = await finalState(c, sc, new Set(['replay']));
      if ((final as { truncated?: boolean }).truncated) failures.push('the final list was truncated (more sessions than listSessionsMax)');
      phase('final');

      const ops = w.recorder.operations();
      lin = lincheck(ops, 60_000);
      if (lin.verdict !== 'linearizable') failures.push(`history ${lin.verdict}${lin.unknownReason ? ` (${lin.unknownReason})` : ''}`);
      const q = queueCheck(ops, final);
      queue = { ...q.counts, summary: formatQueueReport(q) };
      if (!q.ok) failures.push(formatQueueReport(q).split('\n').slice(0, 6).join('; '));
      stale = countStaleReads(ops);
      if (stale.count > 0) failures.push(`${stale.count} stale reads, e.g. ${stale.examples.slice(0, 2).join('; ')}`);
      phase('check');

      // A stored session is due after its class delay (at most 1 s) by the clock of whichever node
      // leads; clocks are up to 3 s apart under clock-skew: 1 s + 3 s + 4 s of slack. (A run that
      // already failed waits 2 s: sessions may be lost for good.)
      replay = await checkReplay(c, sc, w.replay, failures.length > 0 ? 2_000 : 8_000);
      for (const p of replay.problems) failures.push(`replay: ${p}`);
      phase('replay');

      // Deliveries to the consumer group: drained within a few ack waits (an item's chain of
      // redeliveries is at most maxDeliveries x ackWaitMs, plus consumers restarting after the
      // final restart); a run that already failed waits 3 s.
      const skewMs = clockSkewMs(extra);
      deliveries = await checkDeliveries(c, w.replay, consumers, {
        delaysMs: replayDelaysMs,
        skewMs,
        drainTimeoutMs: failures.length > 0 ? 3_000 : groupAckWaitMs * groupMaxDeliveries + 12_000,
      });
      polling = false;
      await heldPoll;
      const held = [...heldCommitsSeen.values()].reduce((a, b) => a + b, 0);
      if (held > 0 && deliveries.commitsBeforeAck === 0) {
        deliveries = {
          ...deliveries,
          commitsBeforeAck: held,
          problems: [...deliveries.problems, `${held} SessionCommits applied while the group held the restore (seen during the run)`],
        };
      }
      for (const p of deliveries.problems) failures.push(`deliveries: ${p}`);
      log(
        `deliveries: stored ${deliveries.stored} (poison ${deliveries.poison}), delivered ${deliveries.delivered}, deliveries ${deliveries.deliveries}, redelivered ${deliveries.redelivered}, acked ${deliveries.acked}, dead-lettered ${deliveries.deadLettered}, lost ${deliveries.lost}, consumer crashes ${deliveries.crashes}`,
      );
      phase('deliveries');
    } finally {
      await sc.close();
    }
  } catch (err) {
    error = (err as Error).stack ?? String(err);
    failures.push(`harness: ${(err as Error).message}`);
  } finally {
    polling = false;
    await heldPoll;
    // A run that ended before its delivery check (the harness failed earlier) still reports commits
    // of held restores that the poller saw.
    const heldSeen = [...heldCommitsSeen.values()].reduce((a, b) => a + b, 0);
    if (deliveries === null && heldSeen > 0)
      failures.push(`deliveries: ${heldSeen} SessionCommits applied while the group held the restore (seen during the run)`);
    if (consumers !== null) await consumers.stop();
    if (workload !== null) await workload.close();
    if (cluster !== null) {
      evidence = cluster.evidence();
      network = cluster.networkStats();
      for (const x of cluster.exits) failures.push(`node ${x.node} exited on its own (code ${x.code}, signal ${x.signal})`);
      if (dir !== null && (failures.length > 0 || o.keep)) {
        mkdirSync(dir, { recursive: true });
        cluster.saveOutputs(dir);
      }
      await cluster.destroy();
    }
  }
  const report: RunReport = {
    run: o.run,
    fault: o.fault.name,
    nodes: o.nodes,
    seed: o.seed,
    plant: o.plant,
    secure: o.secure !== false,
    pass: failures.length === 0,
    failures,
    durationMs: Date.now() - t0,
    phasesMs,
    timeline,
    ops: workload?.counts ?? { invoked: 0, ok: 0, fail: 0, info: 0, byF: {} },
    lincheck: lin,
    queue,
    staleReads: stale.count,
    staleExamples: stale.examples,
    digests,
    liveness,
    replay,
    deliveries,
    crashes: (cluster?.exits ?? []).map((x) => ({ node: x.node, code: x.code, signal: x.signal })),
    evidence,
    membership,
    network,
    ...(error !== undefined ? { error } : {}),
    ...(dir !== null ? { dir } : {}),
  };
  if (dir !== null) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
    if (workload !== null && (!report.pass || o.keep)) writeFileSync(join(dir, 'history.jsonl'), workload.recorder.toJsonl());
    if (final !== null && (!report.pass || o.keep)) writeFileSync(join(dir, 'final.json'), `${JSON.stringify(final)}\n`);
  }
  return report;
}

/** One line per run for stdout. */
export function formatRunLine(r: RunReport): string {
  const q = r.queue;
  return (
    `run ${r.run} ${r.fault} n=${r.nodes} seed=${r.seed}${r.plant.length > 0 ? ` plant=${r.plant.join(',')}` : ''}${r.secure ? '' : ' insecure'}: ` +
    `${r.pass ? 'PASS' : 'FAIL'} ${(r.durationMs / 1000).toFixed(1)}s ops ${r.ops.invoked} (ok ${r.ops.ok}, fail ${r.ops.fail}, info ${r.ops.info}) ` +
    `${r.lincheck?.verdict ?? 'unchecked'} lost ${q?.lost ?? '-'} dup ${q?.duplicated ?? '-'} stale ${r.staleReads}` +
    (r.deliveries !== null
      ? ` group: stored ${r.deliveries.stored} delivered ${r.deliveries.delivered} redelivered ${r.deliveries.redelivered} dead ${r.deliveries.deadLettered} lost ${r.deliveries.lost}`
      : '') +
    `${r.pass ? '' : ` -- ${r.failures[0]}`}`
  );
}
