/**
 * The delayed benchmark's `--repeat` summary: each row's median and range per system, and in how
 * many runs sessionraft was ahead of BullMQ in the same run. Pure: synthetic rows, no systems.
 */
import { expect } from 'chai';
import type { BenchContext } from './cli.js';
import { run, summarizeDelayed } from './delayed.js';

type Row = Record<string, unknown>;

const throughput = (run: number, system: string, storeToAckPerSec: number): Row => ({
  scenario: 'delayed.throughput',
  run,
  system,
  producers: 16,
  storeToAckPerSec,
});
const lateness = (run: number, system: string, lateP50Ms: number, lateP99Ms: number): Row => ({
  scenario: 'delayed.lateness',
  run,
  system,
  ratePerSec: 1000,
  lateP50Ms,
  lateP99Ms,
});

describe('bench: delayed --repeat summary', () => {
  const rows: Row[] = [
    { scenario: 'machine', run: 1, fsync4kP50Ms: 0.2 },
    throughput(1, 'sessionraft', 2_000),
    throughput(1, 'bullmq', 5_000),
    lateness(1, 'sessionraft', 8, 30),
    lateness(1, 'bullmq', 1.5, 200),
    throughput(2, 'bullmq', 4_000),
    throughput(2, 'sessionraft', 4_500),
    lateness(2, 'bullmq', 1.2, 80),
    lateness(2, 'sessionraft', 7, 40),
    // A third run in which BullMQ was skipped: counted for sessionraft, not paired.
    throughput(3, 'sessionraft', 2_500),
  ];
  const find = (row: RegExp, field: string) => summarizeDelayed(rows).find((t) => row.test(t.row) && t.field === field)!;

  it('gives each system its median and range, and counts the runs where sessionraft was ahead', () => {
    const t = find(/store-to-ack, 16 producers/, 'storeToAckPerSec');
    expect(t.better).to.equal('higher');
    expect(t.systems.sessionraft).to.deep.equal({ runs: 3, median: 2_500, min: 2_000, max: 4_500 });
    expect(t.systems.bullmq).to.deep.equal({ runs: 2, median: 5_000, min: 4_000, max: 5_000 });
    expect(t).to.include({ pairedRuns: 2, sessionraftAhead: 1 });
  });

  it('takes lower as better for lateness', () => {
    expect(find(/lateness at 1000/, 'lateP99Ms')).to.include({ better: 'nearer 0', pairedRuns: 2, sessionraftAhead: 2 });
    expect(find(/lateness at 1000/, 'lateP50Ms')).to.include({ pairedRuns: 2, sessionraftAhead: 0 });
  });

  it('compares lateness by its distance from the due time: early is not better', () => {
    const early: Row[] = [lateness(1, 'sessionraft', 4, 20), lateness(1, 'bullmq', -5, 100), lateness(2, 'sessionraft', 4, 20), lateness(2, 'bullmq', -3, 100)];
    const p50 = summarizeDelayed(early).find((t) => t.field === 'lateP50Ms')!;
    // |4| < |-5| in run 1; |4| > |-3| in run 2.
    expect(p50).to.include({ pairedRuns: 2, sessionraftAhead: 1 });
    expect(p50.systems.bullmq).to.deep.equal({ runs: 2, median: -3, min: -5, max: -3 });
  });

  it('compares memory by the largest process: a node against Redis, lower is better', () => {
    const mem = (run: number, system: string, largestRssMb: number): Row => ({ scenario: 'delayed.memory', run, system, scheduled: 1_000_000, largestRssMb });
    const t = summarizeDelayed([mem(1, 'sessionraft', 143), mem(1, 'bullmq', 2_011), mem(2, 'bullmq', 120), mem(2, 'sessionraft', 144)]);
    expect(t).to.have.length(1);
    expect(t[0]).to.include({ row: 'memory, 1,000,000 scheduled', field: 'largestRssMb', better: 'lower', pairedRuns: 2, sessionraftAhead: 1 });
    expect(t[0]!.systems.sessionraft).to.deep.equal({ runs: 2, median: 144, min: 143, max: 144 });
  });

  it('leaves out rows it does not summarize', () => {
    expect(summarizeDelayed(rows).map((t) => t.row)).to.deep.equal(['store-to-ack, 16 producers', 'lateness at 1000/s due', 'lateness at 1000/s due']);
    expect(summarizeDelayed([{ scenario: 'machine' }])).to.deep.equal([]);
  });

  it('refuses a repeat count outside 1-10 before starting anything', async () => {
    for (const bad of ['--repeat=0', '--repeat=11', '--repeat=1.5']) {
      const ctx: BenchContext = { json: true, quick: true, args: [bad, '--systems=sessionraft'], report: () => undefined, progress: () => undefined };
      const err = await run(ctx).then(
        () => null,
        (e: Error) => e,
      );
      expect(err?.message, bad).to.match(/--repeat: expected an integer from 1 to 10/);
    }
  });
});
