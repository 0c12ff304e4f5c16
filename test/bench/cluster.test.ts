/**
 * The cluster benchmark's `--repeat` summary: each target judged over several runs, each run's rows
 * against that run's own machine row. Pure: synthetic rows, no node processes.
 */
import { expect } from 'chai';
import type { BenchContext } from './cli.js';
import { run, summarizeTargets } from './cluster.js';

type Row = Record<string, unknown>;

/** One run's rows: the machine row and the three append rows issue 20's write targets read. */
function runRows(o: { fsyncMs: number; p50Ms: number; us128: number; us4k?: number; other: number }): Row[] {
  const rows: Row[] = [
    { scenario: 'machine', fsync4kP50Ms: o.fsyncMs, fsync4kOverP50Ms: o.fsyncMs / 2, fsyncSharedOverP50Ms: o.fsyncMs, hopRttP50Us: 50 },
    { scenario: 'append', payloadBytes: 128, concurrency: 1, p50Ms: o.p50Ms, otherCpuPct: o.other },
    { scenario: 'append', payloadBytes: 128, concurrency: 128, opsPerSec: 30_000, cpuUsPerOp: o.us128, otherCpuPct: o.other, n1RssPeakMb: 140 },
  ];
  if (o.us4k !== undefined) rows.push({ scenario: 'append', payloadBytes: 4096, concurrency: 128, opsPerSec: 9_000, cpuUsPerOp: o.us4k, otherCpuPct: o.other });
  return rows;
}

describe('bench: cluster --repeat summary', () => {
  const runs = [
    runRows({ fsyncMs: 0.2, p50Ms: 1.0, us128: 38, us4k: 130, other: 4 }),
    runRows({ fsyncMs: 0.4, p50Ms: 0.9, us128: 45, us4k: 110, other: 9 }),
    runRows({ fsyncMs: 0.25, p50Ms: 1.25, us128: 40, other: 6 }),
  ];
  const byField = (field: string, what: RegExp) => summarizeTargets(runs).find((t) => t.field === field && what.test(t.what));

  it('gives each target its median, range and the runs that met it', () => {
    const cpu128 = byField('cpuUsPerOp', /128 B/);
    expect(cpu128).to.include({ runs: 3, median: 40, min: 38, max: 45, metRuns: 2, target: '<= 40 µs', unit: 'µs', otherCpuPctMax: 9 });
  });

  it('counts only the runs that measured a row', () => {
    const cpu4k = byField('cpuUsPerOp', /4 KiB/);
    expect(cpu4k).to.include({ runs: 2, min: 110, max: 130, metRuns: 1 });
  });

  it("judges the 1-in-flight ratio against each run's own fsync floor", () => {
    // 1.0 / 0.2 = 5, 0.9 / 0.4 = 2.25 (met), 1.25 / 0.25 = 5.
    const ratio = byField('p50OverFsync', /1 in flight/);
    expect(ratio).to.include({ runs: 3, min: 2.3, median: 5, max: 5, metRuns: 1 });
    // The floors go under the table, not in its first column (it was 240 characters wide).
    expect(ratio!.what.length, ratio!.what).to.be.below(60);
    // The first run's floor: 0.2 ms of three writers + 2 hops of 50 µs.
    expect(ratio!.note).to.match(/^\(\*\) no-work floor: .* = 0\.3 ms, .*\(the first run\)$/);
  });

  it("prints the measured no-work floor beside the sum when the run's machine row has it", () => {
    const withPipeline = runs.map((rows, k) => (k === 0 ? rows.map((r) => (r.scenario === 'machine' ? { ...r, pipelineP50Ms: 0.5 } : r)) : rows));
    const note = summarizeTargets(withPipeline).find((t) => t.field === 'p50OverFsync')!.note;
    // The first run: 0.5 ms through four bare processes against its fsync of 0.2 ms.
    expect(note).to.match(/; measured through four bare processes = 0\.5 ms, 2\.5x; against a write over existing bytes/);
    // Rows recorded before the measurement existed keep the note they had.
    expect(byField('p50OverFsync', /1 in flight/)!.note).to.not.include('bare processes');
  });

  it('leaves out what no run measured', () => {
    const fields = summarizeTargets(runs).map((t) => t.field);
    expect(fields).to.not.include('firstAckMaxMs');
    expect(fields).to.not.include('catchUpMs');
    expect(summarizeTargets([])).to.deep.equal([]);
  });

  it('refuses a repeat count outside 1-20 before starting anything', async () => {
    for (const bad of ['--repeat=0', '--repeat=21', '--repeat=2.5', '--repeat=x']) {
      const ctx: BenchContext = { json: true, quick: true, args: [bad, '--only=append'], report: () => undefined, progress: () => undefined };
      const err = await run(ctx).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message, bad).to.match(/--repeat: expected an integer from 1 to 20/);
    }
  });
});
