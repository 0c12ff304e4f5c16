/**
 * A campaign: runs of the harness one after another (fault by fault, cycling), a JSON report per
 * run, a line per run and a summary table (fault, runs, operations, lost, duplicated, stale reads,
 * verdicts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChaosNodeTiming } from './cluster.js';
import { faults, type Fault } from './faults.js';
import { formatRunLine, runOne, type RunReport } from './run.js';

export interface CampaignOptions {
  /** Faults to cycle through; one per run. */
  readonly faults: readonly Fault[];
  /** Total runs (default: one per fault). */
  readonly runs?: number;
  readonly nodes: number;
  readonly seed: number;
  readonly plant?: readonly string[];
  readonly workers?: number;
  readonly timing?: ChaosNodeTiming;
  readonly rounds?: number;
  readonly resultsDir: string | null;
  readonly keep?: boolean;
  /** TLS and --auth on every node, every client logged in (issue 17; default true). */
  readonly secure?: boolean;
  /** Progress lines (phases, fault events). */
  readonly progress?: (line: string) => void;
  /** One line per finished run. */
  readonly onRun?: (r: RunReport, line: string) => void;
  /** Checked between runs: true ends the campaign early (Ctrl-C). */
  readonly stop?: () => boolean;
}

export interface CampaignResult {
  readonly runs: RunReport[];
  readonly pass: boolean;
  readonly table: string;
  readonly durationMs: number;
}

/** 10 ms ticks, elections after 100-200 ms, heartbeats every 20 ms (as the node process tests). */
export const defaultTiming: ChaosNodeTiming = { tickMs: 10, electionTicks: 10, heartbeatTicks: 2 };

/** The faults that make sense on `nodes` nodes. */
export function faultsFor(nodes: number): Fault[] {
  return faults.filter((f) => f.nodesMin <= nodes);
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const t0 = Date.now();
  const list = o.faults.filter((f) => f.nodesMin <= o.nodes);
  if (list.length === 0) throw new Error(`no fault applies to ${o.nodes} nodes`);
  const total = o.runs ?? list.length;
  const reports: RunReport[] = [];
  if (o.resultsDir !== null) mkdirSync(o.resultsDir, { recursive: true });
  for (let k = 0; k < total && !(o.stop?.() ?? false); k++) {
    const fault = list[k % list.length]!;
    const seed = (o.seed + k * 7919) >>> 0;
    o.progress?.(`run ${k + 1}/${total}: ${fault.name} on ${o.nodes} nodes, seed ${seed}`);
    const r = await runOne({
      run: k + 1,
      fault,
      nodes: o.nodes,
      seed,
      plant: o.plant ?? [],
      workers: o.workers ?? 6,
      timing: o.timing ?? defaultTiming,
      rounds: o.rounds ?? 2,
      resultsDir: o.resultsDir,
      keep: o.keep ?? false,
      secure: o.secure !== false,
      progress: o.progress ?? (() => {}),
    });
    reports.push(r);
    o.onRun?.(r, formatRunLine(r));
  }
  const table = summaryTable(reports);
  const pass = reports.every((r) => r.pass);
  if (o.resultsDir !== null) {
    writeFileSync(join(o.resultsDir, 'summary.txt'), `${table}\n`);
    writeFileSync(
      join(o.resultsDir, 'summary.json'),
      `${JSON.stringify({ pass, durationMs: Date.now() - t0, runs: reports.map((r) => ({ run: r.run, fault: r.fault, pass: r.pass, failures: r.failures, durationMs: r.durationMs, ops: r.ops.invoked })) }, null, 2)}\n`,
    );
  }
  return { runs: reports, pass, table, durationMs: Date.now() - t0 };
}

/** The summary: one row per fault, and a total. */
export function summaryTable(reports: readonly RunReport[]): string {
  const rows: string[][] = [
    ['fault', 'runs', 'failed', 'ops', 'ok', 'info', 'lost', 'dup', 'stale', 'verdicts', 'mean s', 'stored', 'delivered', 'redeliv', 'dead', 'dlost'],
  ];
  const byFault = new Map<string, RunReport[]>();
  for (const r of reports) {
    let l = byFault.get(r.fault);
    if (l === undefined) byFault.set(r.fault, (l = []));
    l.push(r);
  }
  const row = (name: string, rs: readonly RunReport[]): string[] => {
    const verdicts = new Map<string, number>();
    for (const r of rs) {
      const v = r.lincheck?.verdict ?? 'unchecked';
      verdicts.set(v, (verdicts.get(v) ?? 0) + 1);
    }
    const sum = (f: (r: RunReport) => number): number => rs.reduce((n, r) => n + f(r), 0);
    return [
      name,
      String(rs.length),
      String(rs.filter((r) => !r.pass).length),
      String(sum((r) => r.ops.invoked)),
      String(sum((r) => r.ops.ok)),
      String(sum((r) => r.ops.info)),
      String(sum((r) => r.queue?.lost ?? 0)),
      String(sum((r) => r.queue?.duplicated ?? 0)),
      String(sum((r) => r.staleReads)),
      [...verdicts].map(([v, n]) => `${n} ${v}`).join(', '),
      (sum((r) => r.durationMs) / rs.length / 1000).toFixed(1),
      // The replay workload's consumer group (issue 16): sessions stored, restores delivered,
      // redeliveries, dead letters, and stored sessions lost to the group.
      String(sum((r) => r.deliveries?.stored ?? 0)),
      String(sum((r) => r.deliveries?.delivered ?? 0)),
      String(sum((r) => r.deliveries?.redelivered ?? 0)),
      String(sum((r) => r.deliveries?.deadLettered ?? 0)),
      String(sum((r) => r.deliveries?.lost ?? 0)),
    ];
  };
  for (const [name, rs] of byFault) rows.push(row(name, rs));
  if (byFault.size > 1) rows.push(row('total', reports));
  const widths = rows[0]!.map((_, k) => Math.max(...rows.map((r) => r[k]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, k) => (k === 0 || k === 9 ? c.padEnd(widths[k]!) : c.padStart(widths[k]!)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}
