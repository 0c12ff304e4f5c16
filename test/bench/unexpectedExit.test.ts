/**
 * The bench cluster tells a node exit it caused (stop, kill: the recovery row's kill -9) from one it
 * did not (a crash, an assertion, the OOM killer): a run with the second is not a clean measurement,
 * so its rows say so (`nodeExitsUnexpected`, delayed.ts) and the cluster keeps its directory and
 * prints the node's log tail when it stops. One real node process on loopback.
 */
import { expect } from 'chai';
import { existsSync, rmSync } from 'node:fs';
import { BenchCluster } from './clusterProcs.js';

describe('bench: a node that exits on its own', function () {
  // One node start (about 1 s) and its election; the bound is for a loaded box.
  this.timeout(60_000);
  let cluster: BenchCluster | null = null;

  afterEach(async () => {
    if (cluster === null) return;
    await cluster.stop(false, () => undefined);
    rmSync(cluster.dir, { recursive: true, force: true });
    cluster = null;
  });

  it('is reported with its log kept; a kill by the benchmark is not', async () => {
    const c = (cluster = await BenchCluster.start({ size: 1, nodeArgs: [] }));
    const n = c.nodes[0]!;
    await c.waitForLeader(30_000);
    // The benchmark's own kill -9 and restart (the recovery row): expected.
    await c.kill(n, 'SIGKILL');
    expect(c.unexpectedExits).to.deep.equal([]);
    c.spawn(n);
    await c.waitForLeader(30_000);
    // A kill the benchmark did not send: as a crash looks from outside.
    const pid = n.child!.pid!;
    process.kill(pid, 'SIGKILL');
    await n.exited;
    expect(c.unexpectedExits.map((e) => [e.id, e.code, e.signal])).to.deep.equal([['n1', null, 'SIGKILL']]);
    let written = '';
    await c.stop(false, (t) => (written += t));
    expect(written).to.contain('node n1 exited unexpectedly (code null, signal SIGKILL)');
    expect(written).to.contain(n.logFile);
    // Kept: its log and data say why.
    expect(existsSync(n.logFile)).to.equal(true);
  });
});
