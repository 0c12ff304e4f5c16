/**
 * Issue 18: where the memory is. A 3-node in-process cluster; after appends, `/status` has a
 * `memory` figure by part and `/metrics` the same as `sessionraft_memory_bytes{part}`: the Raft
 * log's entry bytes follow what was written (data plus 24 bytes an entry), the log holds them
 * packed (well under the ~500 bytes an entry it cost as objects), and a snapshot compacts it.
 */
import { expect } from 'chai';
import { createClient } from '../../transport/client/client.js';
import { getJson, httpGet, startInProcessCluster, waitFor, type InProcessCluster } from './helpers.js';

interface Memory {
  raftLog: number;
  raftLogEntries: number;
  snapshot: number;
  sessions: number;
  subscriberQueues: number;
  heapUsed: number;
  rss: number;
}

describe('node: memory figures in /status and /metrics (issue 18)', function () {
  this.timeout(30_000);
  let cluster: InProcessCluster;

  before(async () => {
    // Snapshots every 400 entries, 50 kept below: the log is compacted during the test.
    cluster = await startInProcessCluster(3, { snapshotEntries: 400, compactMarginEntries: 50 });
    await waitFor('a leader', () => cluster.leader(), 5000);
  });

  after(async () => {
    await cluster?.stop();
  });

  it('reports the log, snapshot and session bytes by part, and the log stays compact', async () => {
    const leader = cluster.leader()!;
    const admin = `http://127.0.0.1:${leader.addresses.admin.port}`;
    const c = createClient({ endpoints: cluster.endpoints(), clusterId: 'test' });
    try {
      const { id } = await c.createSession('mem');
      const record = new Uint8Array(128).fill(0x61);
      for (let k = 0; k < 300; k++) await c.append(id, record);
      const st = await getJson<{ lastIndex: number; snapshotIndex: number; memory: Memory }>(`${admin}/status`);
      const m = st.memory;
      const entries = st.lastIndex - st.snapshotIndex;
      // Each append is one entry of at least the record plus the 24-byte allowance.
      expect(entries).to.be.at.least(300);
      expect(m.raftLogEntries).to.be.at.least(300 * (128 + 24));
      // Packed: a 256 KiB arena chunk (or two), the typed arrays and the ring of recent entries.
      expect(m.raftLog).to.be.at.least(m.raftLogEntries);
      expect(m.raftLog).to.be.below(2 * 1024 * 1024);
      expect(m.sessions).to.be.at.least(300 * 128);
      expect(m.heapUsed).to.be.above(0);
      expect(m.rss).to.be.above(m.heapUsed / 2);
      const metrics = (await httpGet(`${admin}/metrics`)).body;
      for (const part of ['raftLog', 'raftLogEntries', 'snapshot', 'snapshotReceiving', 'sessions', 'subscriberQueues', 'heapUsed', 'external', 'rss']) {
        expect(metrics).to.match(new RegExp(`^sessionraft_memory_bytes\\{part="${part}"\\} \\d+`, 'm'));
      }

      // Past a snapshot (400 entries) the log is compacted: the entries before it are gone.
      for (let k = 0; k < 200; k++) await c.append(id, record);
      const after = await waitFor(
        'a snapshot on the leader',
        async () => {
          const s = await getJson<{ lastIndex: number; snapshotIndex: number; memory: Memory }>(`${admin}/status`);
          return s.snapshotIndex > 0 ? s : null;
        },
        5000,
      );
      expect(after.memory.snapshot).to.be.above(0);
      expect(after.memory.raftLogEntries).to.be.at.most((after.lastIndex - after.snapshotIndex) * (128 + 200));
    } finally {
      await c.close();
    }
  });
});
