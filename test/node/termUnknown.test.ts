/**
 * Issue 15 on a real node (NodeHost, real WAL): a node restarted with its hard state file gone marks
 * `term-unknown` durably, and once it learned its term from the cluster the marker is removed. The
 * host wraps the WAL (TimedDurableLog) and once dropped the call, so the marker outlived every
 * restart in production while the simulator, which uses the WAL directly, saw it go.
 */
import { expect } from 'chai';
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { NodeHost } from '../../actors/host/nodeHost.js';
import { createClient } from '../../transport/client/client.js';
import { quietLogger, startInProcessCluster, waitFor, type InProcessCluster } from './helpers.js';

describe('node: a lost hard state is marked, then cleared once the term is learned (issue 15)', function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;
  const extra: NodeHost[] = [];

  after(async () => {
    for (const h of extra) await h.stop({ transfer: false });
    await cluster?.stop();
  });

  it('a follower restarted without its hardstate file writes term-unknown, and removes it after learning the term', async function () {
    cluster = await startInProcessCluster(3);
    await waitFor('a leader', () => cluster.leader(), 10_000);
    const leader = cluster.leader()!;
    const c = createClient({ endpoints: [leader.clientEndpoint()], operationTimeoutMs: 10_000, ignoreEnvironment: true });
    try {
      await c.createSession('t');
    } finally {
      await c.close();
    }
    const down = cluster.hosts.find((h) => h !== leader)!;
    const cfg = down.config;
    await down.stop({ transfer: false });
    const raftDir = join(cfg.dataDir, 'raft');
    unlinkSync(join(raftDir, 'hardstate'));

    const again = await NodeHost.start(cfg, { logger: quietLogger.child({ node: cfg.id }) });
    extra.push(again);
    // Recovery wrote the marker durably before the node started.
    expect(existsSync(join(raftDir, 'term-unknown')), 'marked at recovery').to.equal(true);
    const live = [...cluster.hosts.filter((h) => h !== down), again];
    for (const h of live) for (const o of live) if (h !== o) h.setPeer(o.id, o.address());
    // It hears the leader's term, writes a hard state in it, and then the marker goes (10 s: a loaded box).
    await waitFor('the term-unknown marker removed', () => (existsSync(join(raftDir, 'term-unknown')) ? null : true), 10_000);
    expect(existsSync(join(raftDir, 'hardstate'))).to.equal(true);
  });
});
