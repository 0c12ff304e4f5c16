/**
 * NodeHost.stop() resolves with what became of the leadership (2026-12-07; it resolved with
 * nothing, and a test could tell a handover from a timed-out one only by timing the stop, which a
 * loaded box could exceed). The handover itself (`transferred`) is in inProcess.test.ts; here the
 * outcomes without one.
 */
import { expect } from 'chai';
import { startInProcessCluster, waitFor, type InProcessCluster } from './helpers.js';

describe('node: stop() says what became of the leadership', function () {
  this.timeout(30_000);
  let cluster: InProcessCluster | null = null;

  afterEach(async () => {
    await cluster?.stop();
    cluster = null;
  });

  it('a lone leader has no voter to hand over to: no-voter-reachable', async () => {
    cluster = await startInProcessCluster(1);
    // An election is 100-200 ms of timeout; 10 s bounds a loaded box.
    const leader = await waitFor('the lone node to lead', () => cluster!.leader(), 10_000);
    expect(await leader.stop()).to.equal('no-voter-reachable');
  });

  it('a follower, and a leader asked not to transfer: not-leader', async () => {
    cluster = await startInProcessCluster(3);
    const leader = await waitFor('a leader', () => cluster!.leader(), 10_000);
    const follower = cluster.hosts.find((h) => h !== leader)!;
    expect(await follower.stop()).to.equal('not-leader');
    expect(await leader.stop({ transfer: false })).to.equal('not-leader');
    // Stopped once: a second call answers the same.
    expect(await leader.stop()).to.equal('not-leader');
  });
});
