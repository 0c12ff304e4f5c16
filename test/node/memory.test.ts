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
  clients: number;
  heapUsed: number;
  rss: number;
}

describe('node: memory figures in /status and /metrics (issue 18)', function () {
  this.timeout(30_000);
  let cluster: InProcessCluster;

  before(async () => {
    // Snapshots every 1,000 entries, 50 kept below: the log is compacted during the test. A node's
    // first snapshot comes at 1 - k/3 of that (k its place among the voters: 1,000, 667 or 333
    // entries; the nodes do not snapshot together since 2026-12-08), past the first 300 appends.
    cluster = await startInProcessCluster(3, { snapshotEntries: 1_000, compactMarginEntries: 50 });
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
      // Each append is one entry of at least the record plus the 24-byte allowance; once every
      // follower holds them too, the leader drops their data (docs/raft.md, "Applied entries
      // without their data") and counts only what it still holds.
      const raft = leader.node.raft;
      const last = raft.log.lastIndex();
      await waitFor('the leader drops the data of entries every node holds', () => raft.log.dataFloor >= last, 5000);
      const st = await getJson<{ lastIndex: number; snapshotIndex: number; memory: Memory }>(`${admin}/status`);
      const m = st.memory;
      const entries = st.lastIndex - st.snapshotIndex;
      expect(entries).to.be.at.least(300);
      expect(m.raftLogEntries).to.be.below(300 * (128 + 24));
      // Packed: a 256 KiB arena chunk (or two), the typed arrays and the ring of recent entries.
      expect(m.raftLog).to.be.at.least(m.raftLogEntries);
      expect(m.raftLog).to.be.below(2 * 1024 * 1024);
      expect(m.sessions).to.be.at.least(300 * 128);
      // The client table: at least this client (the accounted cost of a client), well under its bound.
      expect(m.clients).to.be.at.least(256);
      expect(m.clients).to.be.below(32 * 1024 * 1024);
      expect(m.heapUsed).to.be.above(0);
      expect(m.rss).to.be.above(m.heapUsed / 2);
      const metrics = (await httpGet(`${admin}/metrics`)).body;
      for (const part of [
        'raftLog',
        'raftLogEntries',
        'snapshot',
        'snapshotReceiving',
        'sessions',
        'subscriberQueues',
        'clients',
        'heapUsed',
        'external',
        'rss',
      ]) {
        expect(metrics).to.match(new RegExp(`^sessionraft_memory_bytes\\{part="${part}"\\} \\d+`, 'm'));
      }

      // Past the leader's first snapshot (at 1,000 entries at most) the log is compacted: the entries before it are gone.
      for (let k = 0; k < 750; k++) await c.append(id, record);
      const after = await waitFor(
        'a snapshot on the leader',
        async () => {
          const s = await getJson<{ lastIndex: number; snapshotIndex: number; memory: Memory }>(`${admin}/status`);
          return s.snapshotIndex > 0 ? s : null;
        },
        5000,
      );
      // Issue 18: once saved, a snapshot is sent from its file, not kept in memory.
      expect(after.memory.snapshot, 'bytes of a saved snapshot held in memory').to.equal(0);
      expect(after.memory.raftLogEntries).to.be.at.most((after.lastIndex - after.snapshotIndex) * (128 + 200));
    } finally {
      await c.close();
    }
  });
  it("bounds the log by logWindowBytesMax: snapshots by bytes keep every node's in-memory log small while 400 KiB are written", async () => {
    const windowBytes = 64 * 1024;
    // Snapshots by entries would come only after 100,000: every snapshot here is by bytes.
    const c3 = await startInProcessCluster(3, { snapshotEntries: 100_000, compactMarginEntries: 1_000, logWindowBytesMax: windowBytes });
    const c = createClient({ endpoints: c3.endpoints(), clusterId: 'test' });
    try {
      await waitFor('a leader', () => c3.leader(), 5000);
      const { id } = await c.createSession('window');
      const record = new Uint8Array(1024).fill(0x62);
      let maxLogEntryBytes = 0;
      for (let group = 0; group < 25; group++) {
        // 16 in flight (about 17 KiB uncommitted at most), then every node's log is sampled.
        await Promise.all(Array.from({ length: 16 }, () => c.append(id, record)));
        for (const h of c3.hosts) maxLogEntryBytes = Math.max(maxLogEntryBytes, h.node.raft.memory().logEntries);
        if (group % 8 === 7) await c.rewrite(id, record); // keeps the session (and the snapshot) small
      }
      const leader = c3.leader()!;
      expect(leader.node.raft.status().snapshotIndex, 'snapshots were taken by bytes').to.be.above(0);
      // The window, a quarter of it below the snapshot, the unapplied tail: far below the 400 KiB written.
      expect(maxLogEntryBytes).to.be.at.most(windowBytes + windowBytes / 4 + 64 * 1024);
      const commit = leader.node.raft.status().commitIndex;
      await waitFor('every node applied the commit index', () => c3.hosts.every((h) => h.node.raft.status().appliedIndex >= commit), 10_000);
    } finally {
      await c.close();
      await c3.stop();
    }
  });
});
