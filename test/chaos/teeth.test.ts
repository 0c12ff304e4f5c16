/**
 * The harness has teeth: with a planted bug it reports failures, within one short run.
 *
 * - stale-read (a node answers `get` from its own state, no ReadIndex): isolate a follower; the
 *   workload's reader for that node keeps reading there while the majority commits new appends, so
 *   reads miss acknowledged values. Caught as stale reads and a non-linearizable history.
 * - ack-before-persist (followers and the leader count entries before they are durable): slow
 *   disks (every fsync 100 ms late here; 20 ms in the campaign) keep acknowledged entries in the group-commit queue, and every
 *   node is killed -9 right after an acknowledgement (4 times); after the restart the acknowledged
 *   append is gone everywhere. Caught as lost values (queue checker), a non-linearizable history,
 *   or acknowledged replay records missing. (Each crash catches acknowledged work in the queue in
 *   most runs here, 8 of 8 runs with 2 crashes lost some; a run of 4 crashes missed once, so the
 *   test allows up to 3 runs and stops at the first that fails.)
 * - commit-before-ack (issue 16: the leader's scheduler ignores the consumer groups' holds): the
 *   replay workload's sessions are committed (their data-file bytes consumed) as soon as they are
 *   restored, before the consumer group acknowledged them. Caught by the delivery checker, which
 *   reads every node's count of such commits (`store.commitsOfHeldRestores` in /status).
 */
import { expect } from 'chai';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultTiming } from './campaign.js';
import { faultByName } from './faults.js';
import { formatRunLine, runOne, type RunReport } from './run.js';

describe('chaos: the harness catches planted bugs', function () {
  // Up to 3 runs of about 10 s (kill-all with slow disks) in the second test; 90 s each bounds a busy box.
  this.timeout(270_000);
  const resultsDir = mkdtempSync(join(tmpdir(), 'sessionraft-chaos-teeth-'));
  after(() => rmSync(resultsDir, { recursive: true, force: true }));

  const plantRun = async (plant: string, faultName: string, seed: number, rounds: number, fsyncDelayMs?: number): Promise<RunReport> => {
    const base = faultByName(faultName)!;
    const r = await runOne({
      run: seed,
      fault: fsyncDelayMs === undefined ? base : { ...base, nodeArgs: () => ['--fsync-delay-ms', String(fsyncDelayMs)] },
      nodes: 3,
      seed,
      plant: [plant],
      workers: 6,
      // A slower disk needs slower elections: a vote is an fsync, and one longer than the election
      // timeout would keep every candidate from winning.
      timing:
        fsyncDelayMs === undefined
          ? defaultTiming
          : { ...defaultTiming, electionTicks: Math.max(defaultTiming.electionTicks, Math.ceil((fsyncDelayMs * 5) / defaultTiming.tickMs)) },
      rounds,
      resultsDir,
      keep: false,
      progress: () => {},
    });
    process.stdout.write(`${formatRunLine(r)}\n`);
    return r;
  };

  it('--plant stale-read, isolate a follower: stale reads, not linearizable', async () => {
    const r = await plantRun('stale-read', 'isolate-follower', 1, 1);
    expect(r.pass).to.equal(false);
    expect(r.staleReads, 'stale reads counted').to.be.greaterThan(0);
    expect(r.lincheck?.verdict).to.equal('not-linearizable');
    // The planted bug breaks reads only: no acknowledged write is lost.
    expect(r.queue?.lost).to.equal(0);
  });

  it('--plant ack-before-persist, kill -9 every node right after acknowledgements: lost acknowledged writes (within 3 runs)', async () => {
    // A crash loses acknowledged work only when it was still queued behind a running fsync, a
    // race: one run of 4 crashes missed it once in a fresh clone (1,773 operations, nothing lost),
    // and with the campaign's 20 ms slow disk all 3 runs missed it on a box at load 9 (CI of
    // 2026-12-02 21:20: the harness, starved, killed the nodes after the fsync had completed).
    // Here every fsync is 100 ms late (and elections take 0.5-1 s, so that votes still persist in
    // time), so the window between an acknowledgement and its fsync is wider than the harness's
    // reaction on a loaded box. As the simulator's plants are caught
    // "within N seeds": up to 3 runs, stop at the first failure.
    let r: RunReport | undefined;
    for (let seed = 2; seed < 5 && (r === undefined || r.pass); seed++) r = await plantRun('ack-before-persist', 'kill-all', seed, 3, 100);
    r = r!;
    expect(r.pass, 'some run of the 3 fails').to.equal(false);
    // Lost appends show in the final state (queue) or, when a rewrite followed, in the reads (linearizability).
    const lost = r.queue?.lost ?? 0;
    expect(lost > 0 || r.lincheck?.verdict === 'not-linearizable' || (r.replay?.problems.length ?? 0) > 0, r.failures.join('\n')).to.equal(true);
    expect(r.failures.join('\n')).to.match(/lost [1-9]|not-linearizable|acknowledged .* missing/);
  });

  it('--plant commit-before-ack, kill a follower: the delivery checker sees commits of restores the group had not acknowledged', async () => {
    const r = await plantRun('commit-before-ack', 'kill-follower', 6, 1);
    expect(r.pass).to.equal(false);
    // Read from the nodes' /status during the run and by the delivery check at its end.
    expect(r.failures.join('\n')).to.match(/[1-9]\d* SessionCommits applied while the group held the restore/);
  });
});
