/**
 * `npm run sim -- --seeds N [--from F] [--nodes 3|5] [--seed S] [--plant BUG] [--faults a,b] [--chaos-ms M]
 *                 [--workers K] [--quiet] [--sessions [--no-security] [--clock-skew]] [--disk-faults] [--membership]`
 * `--sessions` runs with security on (issue 17: users, permissions, principals; security.ts);
 * `--no-security` turns it off there.
 * Runs N seeded scenarios (seeds F..F+N-1, F = 1 by default, or only S) and ends with `seeds: N, violations: V`. A
 * violation prints its seed, the property broken and the trace of the last events; `--seed S`
 * replays it exactly.
 */
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { plantedBugs, type PlantedBug } from '../../machines/core.js';
import { addGroupsStats, emptyGroupsStats } from './groupsChecker.js';
import { addSecurityStats, emptySecurityStats } from './securityChecker.js';
import { faultKinds, type FaultKind, type ScenarioResult } from './scenario.js';

export interface SimArgs {
  seeds: number[];
  nodeCount?: number;
  bugs: PlantedBug[];
  faults: FaultKind[];
  chaosMs: number;
  workers: number;
  quiet: boolean;
  stopAtFirst: boolean;
  sessions: boolean;
  diskFaults: boolean;
  membership: boolean;
  /** With diskFaults: processes killed on a machine that survives (page cache intact); SimCluster `kill`. */
  processKills?: boolean;
  /** With sessions: users and permissions (issue 17); on unless false (`--no-security`). */
  security?: boolean;
  /** A small `logWindowBytesMax` on every node: snapshots by bytes, and a leader's applied data released past it. */
  logWindow?: boolean;
  /** With sessions: the nodes' clocks (planner, scheduler, dispatcher) off by up to ±2 s, changing during the chaos, true again at the heal. */
  clockSkew?: boolean;
}

export function parseArgs(argv: readonly string[]): SimArgs {
  const get = (name: string): string | undefined => {
    const k = argv.indexOf(name);
    return k >= 0 ? argv[k + 1] : undefined;
  };
  const seedsN = Number(get('--seeds') ?? '100');
  // The first seed of a --seeds run (a long campaign in chunks: --from 501 --seeds 500).
  const from = Number(get('--from') ?? '1');
  const seed = get('--seed');
  const nodes = get('--nodes');
  const plant = get('--plant');
  const faults = get('--faults');
  const fail = (msg: string): never => {
    process.stderr.write(`sim: ${msg}\n`);
    process.exit(2);
  };
  if (!Number.isSafeInteger(seedsN) || seedsN < 1) fail('--seeds must be a positive integer');
  if (!Number.isSafeInteger(from) || from < 1) fail('--from must be a positive integer');
  if (nodes !== undefined && nodes !== '3' && nodes !== '5') fail('--nodes must be 3 or 5');
  const bugs = plant === undefined ? [] : plant.split(',');
  for (const b of bugs) if (!plantedBugs.includes(b as PlantedBug)) fail(`unknown planted bug ${b}; known: ${plantedBugs.join(', ')}`);
  const faultList = faults === undefined ? [...faultKinds] : faults.split(',').filter((f) => f !== '');
  for (const f of faultList) if (!faultKinds.includes(f as FaultKind)) fail(`unknown fault ${f}; known: ${faultKinds.join(', ')}`);
  const seeds = seed !== undefined ? [Number(seed)] : Array.from({ length: seedsN }, (_, k) => from + k);
  return {
    seeds,
    ...(nodes !== undefined ? { nodeCount: Number(nodes) } : {}),
    bugs: bugs as PlantedBug[],
    faults: faultList as FaultKind[],
    chaosMs: Number(get('--chaos-ms') ?? '4000'),
    workers: Math.max(1, Math.min(Number(get('--workers') ?? String(Math.min(2, cpus().length))), seeds.length)),
    quiet: argv.includes('--quiet'),
    stopAtFirst: argv.includes('--stop-at-first'),
    sessions: argv.includes('--sessions'),
    diskFaults: argv.includes('--disk-faults'),
    membership: argv.includes('--membership'),
    ...(argv.includes('--process-kills') ? { processKills: true } : {}),
    ...(argv.includes('--no-security') ? { security: false } : {}),
    ...(argv.includes('--log-window') ? { logWindow: true } : {}),
    ...(argv.includes('--clock-skew') ? { clockSkew: true } : {}),
  };
}

/** Run the seeds over worker threads; results come back in seed order. */
export async function runSeeds(args: SimArgs, onResult?: (r: ScenarioResult) => void): Promise<ScenarioResult[]> {
  const workerFile = fileURLToPath(new URL('./worker.js', import.meta.url));
  const results: ScenarioResult[] = [];
  const queue = [...args.seeds];
  let stop = false;
  const runWorker = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const w = new Worker(workerFile, {
        workerData: {
          nodeCount: args.nodeCount,
          bugs: args.bugs,
          faults: args.faults,
          chaosMs: args.chaosMs,
          sessions: args.sessions,
          diskFaults: args.diskFaults,
          membership: args.membership,
          processKills: args.processKills === true,
          security: args.security !== false,
          logWindow: args.logWindow === true,
          clockSkew: args.clockSkew === true,
        },
      });
      const next = (): void => {
        const seed = queue.shift();
        if (seed === undefined || stop) {
          void w.terminate().then(() => resolve());
          return;
        }
        w.postMessage(seed);
      };
      w.on('message', (r: ScenarioResult) => {
        results.push(r);
        onResult?.(r);
        if (args.stopAtFirst && r.violations.length > 0) stop = true;
        next();
      });
      w.on('error', reject);
      next();
    });
  await Promise.all(Array.from({ length: args.workers }, runWorker));
  results.sort((a, b) => a.seed - b.seed);
  return results;
}

/** The flags that decide a run besides its seed (issue 15: the replay line used to drop them). */
export function modeFlags(
  a: Pick<SimArgs, 'bugs' | 'faults' | 'chaosMs' | 'sessions' | 'diskFaults' | 'membership' | 'security' | 'processKills' | 'logWindow' | 'clockSkew'>,
): string {
  const out: string[] = [];
  if (a.diskFaults) out.push('--disk-faults');
  if (a.processKills === true) out.push('--process-kills');
  if (a.membership) out.push('--membership');
  if (a.logWindow === true) out.push('--log-window');
  if (a.clockSkew === true) out.push('--clock-skew');
  if (a.sessions) out.push('--sessions');
  if (a.sessions && a.security === false) out.push('--no-security');
  if (a.bugs.length > 0) out.push(`--plant ${a.bugs.join(',')}`);
  if (a.faults.length !== faultKinds.length || a.faults.some((f, k) => f !== faultKinds[k])) out.push(`--faults ${a.faults.join(',')}`);
  if (a.chaosMs !== 4000) out.push(`--chaos-ms ${a.chaosMs}`);
  return out.length > 0 ? ' ' + out.join(' ') : '';
}

export function describe(r: ScenarioResult, flags = ''): string {
  const lines = [`seed ${r.seed} (${r.nodeCount} nodes): ${r.violations.length} violation(s)`];
  for (const v of r.violations) lines.push(`  ${v.property}${v.node ? ` at ${v.node}` : ''} @${v.timeMs.toFixed(0)}ms: ${v.detail}`);
  lines.push('  last events:');
  // The last 60 events (SIM_TRACE_EVENTS=N: the last N, for debugging a seed).
  for (const t of r.trace.slice(-(Number(process.env.SIM_TRACE_EVENTS ?? 60) || 60))) lines.push(`    ${t}`);
  lines.push(`  replay: npm run sim -- --seed ${r.seed}${r.nodeCount ? ` --nodes ${r.nodeCount}` : ''}${flags}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  let done = 0;
  let bad = 0;
  let violations = 0;
  const tty = process.stderr.isTTY;
  const results = await runSeeds(args, (r) => {
    done++;
    if (r.violations.length > 0) {
      bad++;
      violations += r.violations.length;
      if (tty) process.stderr.write('\r\x1b[K');
      process.stdout.write(describe(r, modeFlags(args)) + '\n');
    }
    if (!args.quiet && tty) process.stderr.write(`\r\x1b[K${done}/${args.seeds.length} seeds, ${bad} failing`);
  });
  if (tty) process.stderr.write('\r\x1b[K');
  const acked = results.reduce((s, r) => s + r.stats.acked, 0);
  const faults = results.reduce((s, r) => s + r.stats.faults, 0);
  const snaps = results.reduce((s, r) => s + r.stats.snapshotsSent, 0);
  const simSec = results.reduce((s, r) => s + r.stats.simMs, 0) / 1000;
  const reads = results.reduce((s, r) => s + r.stats.reads, 0);
  const wipes = results.reduce((s, r) => s + r.stats.wipes, 0);
  const windows = results.reduce((s, r) => s + r.stats.liveWindows, 0);
  const cuts = results.reduce((s, r) => s + r.stats.batchCuts, 0);
  const cutsAtTie = results.reduce((s, r) => s + r.stats.batchCutsAtTie, 0);
  const released = results.reduce((s, r) => s + r.stats.releasedPastWindow, 0);
  const kills = results.reduce((s, r) => s + (r.stats.kills ?? 0), 0);
  const dueFloorFiles = results.reduce((s, r) => s + (r.stats.dueFloorFiles ?? 0), 0);
  const sessionFsyncsFailed = results.reduce((s, r) => s + (r.stats.sessionFsyncsFailed ?? 0), 0);
  process.stdout.write(
    `ran ${results.length} scenarios in ${((Date.now() - started) / 1000).toFixed(1)}s: ${simSec.toFixed(0)}s simulated, ` +
      `${faults} faults, ${acked} acknowledged proposals, ${reads} linearizable reads checked, ${wipes} disks wiped, ` +
      `${windows} liveness windows met, ${snaps} snapshots sent, ${cuts} proposal batches cut (${cutsAtTie} at a tie)` +
      (args.logWindow === true ? `, ${released} releases past the log window` : '') +
      (args.clockSkew === true ? `, ${dueFloorFiles} data files started for a clock behind the due floor` : '') +
      (args.processKills === true ? `, ${kills} processes killed, ${sessionFsyncsFailed} session-store fsyncs failed` : '') +
      (args.bugs.length ? `, planted: ${args.bugs.join(',')}` : '') +
      `\nseeds: ${results.length}, violations: ${violations}\n`,
  );
  // Issue 20: the schedule requests (--sessions).
  if (results.some((r) => r.schedules !== undefined)) {
    const t = { sent: 0, ok: 0, refused: 0, failed: 0 };
    const codes = new Map<string, number>();
    for (const r of results) {
      if (r.schedules === undefined) continue;
      for (const k of ['sent', 'ok', 'refused', 'failed'] as const) t[k] += r.schedules[k];
      for (const [c, n] of Object.entries(r.schedules.codes)) codes.set(c, (codes.get(c) ?? 0) + n);
    }
    const why = [...codes].sort((a, b) => b[1] - a[1]).map(([c, n]) => `${c} ${n}`);
    process.stdout.write(
      `schedules: ${t.sent} sent, ${t.ok} answered OK, ${t.refused} refused, ${t.failed} failed${why.length > 0 ? ` (${why.join(', ')})` : ''}\n`,
    );
  }
  // Issue 16: what the consumer groups did (--sessions).
  if (results.some((r) => r.groups !== undefined)) {
    const g = results.reduce((s, r) => (r.groups === undefined ? s : addGroupsStats(s, r.groups)), emptyGroupsStats());
    process.stdout.write(
      `groups: ${g.stored} sessions stored, ${g.restored} restored, ${g.items} group items, ${g.restoredAhead} restored ahead of their due time (${g.subscriberReceived} handed to subscribers), ${g.delivered} delivered (${g.deliveredAhead} ahead of their restore's apply), ${g.redelivered} redelivered, ` +
        `${g.received} received by consumers, ${g.acked} acked (${g.duplicateAcks} second acks), ${g.nacked} nacked, ${g.deadLettered} dead-lettered (${g.deadReplayed} replayed, ${g.deadDeleted} deleted), ` +
        `${g.committed} committed, lost ${g.lost}\n`,
    );
  }
  // Issue 17: what the security checks judged (--sessions).
  if (results.some((r) => r.security !== undefined)) {
    const s = results.reduce((a, r) => (r.security === undefined ? a : addSecurityStats(a, r.security)), emptySecurityStats());
    process.stdout.write(
      `security: ${s.authEntries} auth entries (${s.authApplied} applied OK), ${s.deniedAtPort} requests denied at the port, ${s.unchecked} sent past it unchecked, ` +
        `${s.judged} session commands judged in log order (${s.removingAcks} removing acks, ${s.removedByAck} removed their session), ${s.deniedAtApply} denied at apply (${s.deniedAfterPortAllowed} of them allowed by the port), ` +
        `${s.digestChecks} auth-state digests compared\n`,
    );
  }
  process.exitCode = violations > 0 ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  void main();
}
