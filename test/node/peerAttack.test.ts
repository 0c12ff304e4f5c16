/**
 * Issue 4 against a live cluster: whatever a stranger or a broken peer sends to a node's peer port
 * (garbage, a wrong cluster ID, an unknown sender, a hello without the cluster secret, a forged
 * sender, replayed messages of an older term), the node stays up, its Raft state does not move, the
 * rejection is counted by code, and the cluster keeps committing. The parts that need a peer's
 * credentials read the test cluster's secret (an insider); issue 14's attacks are in peerAuth.test.ts.
 */
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeMessage } from '../../transport/peer/codec.js';
import { createClient } from '../../transport/client/client.js';
import type { RaftMessage } from '../../machines/types.js';
import { RawPeer } from '../transport/helpers.js';
import { startInProcessCluster, waitFor, type InProcessCluster } from './helpers.js';

describe('a live cluster under peer attack', function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;

  before(async () => {
    cluster = await startInProcessCluster(3);
  });
  after(async () => {
    await cluster.stop();
  });

  it('stays up, keeps its term and leader, counts every rejection by code, and keeps committing', async () => {
    const leader = await waitFor('a leader', () => cluster.leader(), 10_000);
    const victim = cluster.hosts.find((h) => h !== leader)!;
    const url = `ws://127.0.0.1:${victim.address().raftPort}`;
    const client = createClient({ endpoints: cluster.endpoints() });
    try {
      const { id } = await client.createSession('attack');
      await client.append(id, 'before');
      const secret = new Uint8Array(readFileSync(join(cluster.dir, 'cluster-secret')));
      const termBefore = victim.node.raft.term();
      const leaderBefore = victim.node.raft.status().leader;
      const staleBefore = victim.node.raft.counters.get('stale-term') ?? 0;

      // 1. Garbage, then a valid-looking frame, from a stranger that never said hello.
      const stranger = await RawPeer.connect({
        url,
        clusterId: 'test',
        from: 'n1',
        to: victim.id,
        channel: 'control',
        hello: new Uint8Array([0xff, 0x00, 0x13, 0x37]),
      });
      expect(await stranger.closed()).to.be.greaterThanOrEqual(4000);
      // 2. A wrong cluster ID, a member's ID without the cluster secret, and an unknown sender.
      const wrongCluster = await RawPeer.connect({ url, clusterId: 'other', from: leader.id, to: victim.id, channel: 'control' });
      expect(await wrongCluster.closed()).to.equal(4002);
      const noSecret = await RawPeer.connect({ url, clusterId: 'test', from: leader.id, to: victim.id, channel: 'control' });
      expect(await noSecret.closed()).to.equal(4009);
      const unknown = await RawPeer.connect({ url, clusterId: 'test', from: 'n9', to: victim.id, channel: 'control', secret });
      expect(await unknown.closed()).to.equal(4003);
      // 3. An insider (it holds the secret) that claims the leader's identity and replays messages
      //    of an older term, then forges another sender.
      const impostor = await RawPeer.handshake({ url, clusterId: 'test', from: leader.id, to: victim.id, channel: 'data', secret });
      const impostorControl = await RawPeer.handshake({ url, clusterId: 'test', from: leader.id, to: victim.id, channel: 'control', secret });
      const stale: RaftMessage[] = [
        {
          type: 'append',
          from: leader.id,
          to: victim.id,
          term: Math.max(0, termBefore - 1),
          prevIndex: 0,
          prevTerm: 0,
          commit: 999,
          entries: [{ index: 1, term: Math.max(0, termBefore - 1), kind: 1, data: new Uint8Array([6, 6, 6]) }],
        },
        { type: 'heartbeat', from: leader.id, to: victim.id, term: Math.max(0, termBefore - 1), commit: 999, readCtx: 0 },
        { type: 'vote', from: leader.id, to: victim.id, term: Math.max(0, termBefore - 1), lastIndex: 1e9, lastTerm: 1e9, preVote: false, transfer: true },
      ];
      for (const m of stale) (m.type === 'append' ? impostor : impostorControl).send(encodeMessage(m));
      await waitFor('the stale messages counted', () => (victim.node.raft.counters.get('stale-term') ?? 0) >= staleBefore + stale.length, 5000);
      await impostor.close();
      await impostorControl.close();
      // A forged sender after the handshake: the real peer's reconnect may replace our connection
      // first (4008), so try a bounded number of times until the forgery itself is refused (4006).
      const other = cluster.hosts.find((h) => h !== leader && h !== victim)!.id;
      let forgedCode = 0;
      for (let attempt = 0; attempt < 10 && forgedCode !== 4006; attempt++) {
        const forger = await RawPeer.handshake({ url, clusterId: 'test', from: leader.id, to: victim.id, channel: 'control', secret });
        forger.send(encodeMessage({ type: 'heartbeat', from: other, to: victim.id, term: termBefore, commit: 0, readCtx: 0 }));
        forgedCode = await forger.closed();
      }
      expect(forgedCode).to.equal(4006);

      // The node is up, its term and leader did not move, and the transport counted the rest.
      expect(victim.node.raft.isStopped()).to.equal(false);
      expect(victim.node.raft.term()).to.equal(termBefore);
      expect(victim.node.raft.status().leader).to.equal(leaderBefore);
      const rejected = victim.status(false).transport;
      expect(rejected.rejectedTotal, JSON.stringify(rejected)).to.be.greaterThan(0);
      const codes = (victim as unknown as { transport: { stats(): { rejected: Record<string, number> } } }).transport.stats().rejected;
      expect(codes).to.include.keys('TRANSPORT_ERR_CLUSTER', 'TRANSPORT_ERR_AUTH', 'TRANSPORT_ERR_UNKNOWN_PEER', 'TRANSPORT_ERR_SENDER');

      // The cluster keeps committing, and the victim applies what it commits.
      const r = await client.append(id, 'after');
      await waitFor('the victim applies the new append', () => victim.node.store.appliedIndex >= r.index, 5000);
      const s = victim.node.store.getSession(Buffer.from(id, 'hex'));
      expect(s?.records.map((x) => Buffer.from(x).toString())).to.deep.equal(['before', 'after']);
    } finally {
      await client.close();
    }
  });
});
