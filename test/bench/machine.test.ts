/**
 * The machine benchmark (`npm run bench -- machine`) runs: a short run reports every row with a
 * positive time per event, and its own checks (the follower appended every entry, the leader
 * committed every command) pass.
 */
import { expect } from 'chai';
import type { BenchContext, BenchResult } from './cli.js';
import { run } from './machine.js';

describe('bench: machine', () => {
  it('reports every event it times, after checking what the machine did', async () => {
    const rows: BenchResult[] = [];
    const ctx: BenchContext = { json: true, quick: true, args: ['--events=300'], report: (r) => rows.push(r), progress: () => undefined };
    await run(ctx);
    expect(rows.map((r) => r.scenario)).to.deep.equal([
      'machine.follower.heartbeat',
      'machine.follower.append',
      'machine.tick',
      'machine.leader.propose',
      'machine.leader.durable',
      'machine.leader.appendResp1',
      'machine.leader.appendResp2',
    ]);
    for (const r of rows) {
      expect(r.events).to.equal(300);
      expect(r.usPerEvent).to.be.a('number').and.to.be.greaterThan(0);
    }
  });

  it('refuses an events count that is not a positive integer', async () => {
    const ctx: BenchContext = { json: true, quick: true, args: ['--events=0'], report: () => undefined, progress: () => undefined };
    let err: Error | null = null;
    try {
      await run(ctx);
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/--events: expected a positive integer/);
  });
});
