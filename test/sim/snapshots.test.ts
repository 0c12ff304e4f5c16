/**
 * Snapshots in the simulator: taking one never stalls heartbeats or appends (issue 3), and a
 * follower that was down while the log was compacted beyond it installs a snapshot whose data files
 * arrive by range sync, fetching only the ranges it lacked, and ends with the same digest (issue 5).
 */
import { expect } from 'chai';
import { defaultRaftConfig } from '../../machines/config.js';
import { CommandKind } from '../../transport/commands/codec.js';
import { EntryKind, type RaftMessage } from '../../machines/types.js';
import { SimCluster } from './cluster.js';

describe('simulator: snapshots', function () {
  this.timeout(60_000);

  it('a slow snapshot save (300 ms, longer than an election timeout) stalls neither heartbeats nor commits', () => {
    const c = new SimCluster({
      seed: 3,
      nodeCount: 3,
      bugs: new Set(),
      raft: defaultRaftConfig,
      tickMs: 10,
      diskLatency: { syncMsMin: 0, syncMsMax: 1, snapshotSaveMs: 300 },
      snapshotEntries: 20,
      compactMarginEntries: 0,
    });
    // Heartbeat gaps per follower, and commits over time.
    const lastHeard = new Map<string, number>();
    let worstGapMs = 0;
    c.network.onSend = ((prev) => (m: RaftMessage) => {
      prev?.(m);
      if (m.type === 'heartbeat' || m.type === 'append') {
        const at = lastHeard.get(m.to);
        if (at !== undefined) worstGapMs = Math.max(worstGapMs, c.scheduler.nowMs - at);
        lastHeard.set(m.to, c.scheduler.nowMs);
      }
    })(c.network.onSend);
    c.start();
    c.runUntil(2000, () => c.leader() !== null);
    const leader = c.leader()!;
    const term = leader.term();
    let acked = 0;
    const propose = (): void => {
      leader.propose({ kind: EntryKind.command, data: new Uint8Array([acked & 255]) }, (err) => !err && acked++);
      if (c.scheduler.nowMs < 4000) c.scheduler.schedule(5, propose);
    };
    const startMs = c.scheduler.nowMs;
    propose();
    const ackedAt: number[] = [];
    // Every 100 ms of simulated time, note the acknowledged count: it must grow in every window.
    for (let t = startMs + 100; t <= 4000; t += 100) {
      c.runUntil(t);
      ackedAt.push(acked);
    }
    const snapshots = c.liveNodes().reduce((n, x) => n + (x.counters.get('snapshot-taken') ?? 0), 0);
    expect(c.checker.violations).to.deep.equal([]);
    expect(snapshots, 'snapshots were taken while the workload ran').to.be.greaterThan(10);
    expect(leader.term(), 'no election: the leader never lost its followers').to.equal(term);
    expect(worstGapMs, 'the longest silence a follower saw').to.be.lessThan(defaultRaftConfig.heartbeatIntervalTicks * 10 + 10);
    for (let k = 1; k < ackedAt.length; k++) expect(ackedAt[k]!, `commits between ${k * 100} and ${(k + 1) * 100} ms`).to.be.greaterThan(ackedAt[k - 1]!);
  });

  it('a follower down while the log is compacted beyond it installs a snapshot, fetching only the data-file ranges it lacks', () => {
    const c = new SimCluster({
      seed: 5,
      nodeCount: 3,
      bugs: new Set(),
      raft: defaultRaftConfig,
      tickMs: 10,
      diskLatency: { syncMsMin: 0, syncMsMax: 1 },
      snapshotEntries: 50,
      compactMarginEntries: 0,
      sessions: { replayDelaysMs: [60_000, 120_000], dataFileBytesMax: 8192 },
    });
    c.start();
    c.runUntil(2000, () => c.leader() !== null);
    const leaderId = c.leader()!.id;
    const follower = c.ids.find((x) => x !== leaderId)!;
    const host = (): ReturnType<SimCluster['host']> => c.host(c.leader()!.id);
    // Sessions stored for a long replay fill data files; some exist before the follower goes down.
    const storeSessions = (count: number, untilMs: number): void => {
      let left = count;
      const one = (): void => {
        if (left-- <= 0) return;
        host()!.submit({ kind: CommandKind.sessionCreate, topic: 'orders', envelope: null }, (err, r) => {
          if (err || !r?.ok || r.value === null) return one();
          const id = r.value;
          host()!.submit({ kind: CommandKind.sessionAppend, session: id, bytes: new Uint8Array(40).fill(left & 255), envelope: null }, () =>
            host()!.storeSession(id, left % 2, null, () => one()),
          );
        });
      };
      one();
      c.runUntil(untilMs, () => left <= 0 && host()!.planner.inFlight === 0);
    };
    storeSessions(40, c.scheduler.nowMs + 5000);
    c.runUntil(c.scheduler.nowMs + 500);
    const had = totalDataBytes(c, follower);
    const filesBefore = c.host(follower)!.store.dataFiles().length;
    c.crash(follower);
    const before = c.scheduler.nowMs;
    storeSessions(80, before + 10_000);
    const leader = c.leader()!;
    expect(leader.log.snapshotIndex, 'the leader compacted its log').to.be.greaterThan(0);
    const lacked = leader.log.snapshotIndex;
    c.restart(follower);
    c.runUntil(
      c.scheduler.nowMs + 5000,
      () => c.host(follower)?.store.appliedIndex === c.host(leaderId)?.store.appliedIndex && (c.node(follower)!.counters.get('snapshot-installed') ?? 0) > 0,
    );
    const f = c.node(follower)!;
    expect(f.counters.get('snapshot-installed'), 'installed a snapshot').to.be.greaterThan(0);
    expect(lacked).to.be.greaterThan(0);
    // Same state everywhere.
    const digests = new Set(c.ids.map((id) => c.digest(id)));
    expect(digests.size, [...digests].join(' ')).to.equal(1);
    // Range sync moved only what differed: at most the bytes written while it was down (less
    // what its own log replay rewrote before the install), plus the last, still open range of
    // each file it already had (ranges cover whole records): never what it already held.
    const total = totalDataBytes(c, leaderId);
    const fetched = f.rangeBytesFetched;
    expect(had, 'it had data files before it went down').to.be.greaterThan(0);
    expect(fetched, 'fetched some data-file bytes').to.be.greaterThan(0);
    expect(fetched, `fetched ${fetched}, had ${had}, total ${total}`).to.be.at.most(total - had + filesBefore * 512);
    expect(c.checker.violations).to.deep.equal([]);
  });
});

function totalDataBytes(c: SimCluster, id: string): number {
  return c
    .host(id)!
    .store.dataFiles()
    .reduce((n, f) => n + f.size, 0);
}
