/**
 * A short campaign of the fault harness in `npm test`: every fault kind once, with real node
 * processes behind per-link proxies (3 nodes; the ring and the bridge on 5), each run checked for
 * linearizability, lost, duplicated, reordered or stale answers, equal digests, liveness and the
 * replay sessions; plus evidence that the fault really happened (a torn tail cut at recovery,
 * corruption found, messages dropped, links cut, stored sessions restored under skewed clocks).
 *
 * One fault application per run (rounds 1) keeps each run at 6-12 s on a 2-core box.
 * `CHAOS_RESULTS=dir` keeps the reports (every run's directory, with logs and history on failure).
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultTiming, faultsFor, summaryTable } from './campaign.js';
import type { Fault } from './faults.js';
import { formatRunLine, runOne, type RunReport } from './run.js';

const quiet = process.env.CHAOS_PROGRESS === undefined;

describe('chaos: a short campaign over real processes (every fault once)', function () {
  // Each run: start 3 (or 5) processes, fault, heal, restart all, converge, check: 4-12 s here.
  // A failing run ends through its own bounded waits (20-30 s each), which report what hung.
  this.timeout(150_000);
  const reports: RunReport[] = [];
  const resultsDir = process.env.CHAOS_RESULTS ?? mkdtempSync(join(tmpdir(), 'sessionraft-chaos-results-'));
  let run = 0;

  after(function () {
    if (reports.length > 0) process.stdout.write(`\n${summaryTable(reports)}\n`);
    if (process.env.CHAOS_RESULTS === undefined && reports.every((r) => r.pass)) rmSync(resultsDir, { recursive: true, force: true });
    else process.stdout.write(`chaos reports in ${resultsDir}\n`);
  });

  async function check(fault: Fault, nodes: number): Promise<RunReport> {
    run++;
    const r = await runOne({
      run,
      fault,
      nodes,
      seed: 1000 + run,
      plant: [],
      workers: 6,
      timing: defaultTiming,
      rounds: 1,
      resultsDir,
      keep: false,
      progress: quiet ? () => {} : (l) => process.stderr.write(`${l}\n`),
    });
    reports.push(r);
    if (!quiet || !r.pass) process.stdout.write(`${formatRunLine(r)}\n`);
    expect(r.failures, `${formatRunLine(r)}\n${r.timeline.join('\n')}\nreport: ${r.dir}`).to.deep.equal([]);
    expect(r.lincheck?.verdict).to.equal('linearizable');
    expect(r.queue?.lost).to.equal(0);
    expect(r.queue?.duplicated).to.equal(0);
    expect(r.staleReads).to.equal(0);
    expect(r.ops.ok, 'acknowledged operations').to.be.greaterThan(20);
    expect(r.liveness.ok).to.equal(true);
    expect(new Set(Object.values(r.digests)).size).to.equal(1);
    return r;
  }

  /**
   * Evidence that a partition took effect: the proxies stopped traffic on at least one cut link
   * (closed or refused a connection of it, or swallowed its bytes), counted by the proxies as they
   * did it, so it does not depend on when the count is read. Every partition here cuts a link the
   * leader uses (its heartbeats out, or the acknowledgements in), and the transport keeps using a
   * link (it redials a closed one), so a working cut always has something to stop; a cut that
   * stopped nothing reads 0.
   */
  function expectLinksCut(r: RunReport): void {
    expect(r.network?.linksCut, `cut links that stopped traffic (proxies: ${JSON.stringify(r.network)}; ${r.timeline.join('; ')})`).to.be.greaterThan(0);
    expect(r.network?.cut, 'connections cut').to.be.greaterThan(0);
  }

  /**
   * Evidence of `replace`: the final configuration, read from the leader, has the spare and not the
   * killed node, and as many members as at the start; every node checked was one of those members.
   */
  function expectReplaced(r: RunReport, nodes: number): void {
    const m = r.membership!;
    expect(m.spares, 'spares spawned').to.have.length(1);
    expect(m.removed, 'nodes removed').to.have.length(1);
    expect(m.voters, 'final voters (from the leader)').to.include(m.spares[0]!);
    expect(m.final, 'final members (from the leader)').to.not.include(m.removed[0]!);
    expect(m.final).to.have.length(nodes);
    expect(m.learners).to.deep.equal([]);
    expect(Object.keys(r.digests).sort()).to.deep.equal([...m.final].sort());
    expect(r.timeline.some((l) => l.includes(`kill -9 ${m.removed[0]}`))).to.equal(true);
    expect(r.timeline.some((l) => l.includes(`addLearner ${m.spares[0]}`))).to.equal(true);
    expect(r.timeline.some((l) => l.includes(`removeMember ${m.removed[0]}`))).to.equal(true);
    // The removed node, restarted for a while, tried to reach the members and was refused.
    expect(m.removedWatch).to.have.length(1);
    expect(m.removedWatch[0]!.termMax, 'the removed node did not raise its term').to.equal(m.removedWatch[0]!.termBefore);
    expect(m.removedWatch[0]!.refused, 'connections from the removed node refused by the members').to.be.greaterThan(0);
  }

  for (const fault of faultsFor(3)) {
    it(`3 nodes: ${fault.name} (${fault.description})`, async () => {
      const r = await check(fault, 3);
      // Evidence that the fault took effect.
      if (fault.name === 'torn-tail') expect(r.evidence.tornTailsCut, `torn tails cut at recovery (${r.timeline.join('; ')})`).to.be.at.least(1);
      if (fault.name === 'bit-flip') expect(r.evidence.corruptionFound, `corruption found at recovery (${r.timeline.join('; ')})`).to.be.at.least(1);
      if (fault.name === 'loss') expect(r.network?.dropped, 'messages dropped').to.be.greaterThan(0);
      if (/isolate|minority|one-way/.test(fault.name)) expectLinksCut(r);
      if (fault.name.startsWith('kill') || fault.name === 'torn-tail' || fault.name === 'bit-flip' || fault.name === 'clock-skew') {
        expect(r.timeline.some((l) => l.includes('kill -9'))).to.equal(true);
      }
      if (fault.name === 'pause-leader') expect(r.timeline.some((l) => l.includes('SIGSTOP'))).to.equal(true);
      if (fault.name === 'clock-skew') expect(r.replay?.restored, 'stored sessions restored under skewed clocks').to.be.greaterThan(0);
      if (fault.name === 'replace') expectReplaced(r, 3);
    });
  }

  for (const name of ['ring', 'bridge']) {
    it(`5 nodes: ${name}`, async () => {
      const fault = faultsFor(5).find((f) => f.name === name)!;
      const r = await check(fault, 5);
      expectLinksCut(r);
    });
  }

  it('5 nodes: replace', async () => {
    const r = await check(
      faultsFor(5).find((f) => f.name === 'replace')!,
      5,
    );
    expectReplaced(r, 5);
  });
});
