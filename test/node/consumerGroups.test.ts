/**
 * Durable consumers (issue 16) on an in-process 3-node cluster over real sockets on 127.0.0.1:
 * sessions are created and stored through the client library with a 200 ms replay; consumers
 * attach to the leader's SessionNode (the client port's `consume` is not wired yet). Every wait is
 * for a condition, bounded by a timeout that says what it covers.
 */
import { expect } from 'chai';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import type { GroupDelivery } from '../../actors/sessions/dispatcher.js';
import type { NodeHost } from '../../actors/host/nodeHost.js';
import { startInProcessCluster, waitFor, type InProcessCluster } from './helpers.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Restore, delivery and commit each take a tick (10 ms) and a commit round; 200 ms replay; 5 s covers a loaded machine. */
const SETTLE_MS = 5000;

describe('node: consumer groups over a real 3-node cluster (issue 16)', function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;
  let client: SessionraftClient;

  before(async () => {
    cluster = await startInProcessCluster(3);
    // An election takes 100-200 ms of timeout plus a pre-vote and a vote round; 5 s is generous.
    await waitFor('a leader', () => cluster.leader(), 5000);
    client = createClient({ endpoints: cluster.endpoints(), clusterId: 'test' });
  });

  after(async () => {
    await client?.close();
    await cluster?.stop();
  });

  const leader = (): NodeHost => cluster.leader()!;

  function createGroup(topic: string, name: string, opts: { ackWaitMs?: number; maxDeliveries?: number; maxAckPending?: number } = {}): Promise<Uint8Array> {
    return new Promise((resolve, reject) =>
      leader().node.createGroup(topic, name, opts, (err, r) => {
        if (err) reject(err);
        else if (!r!.ok) reject(new Error(r!.code));
        else resolve(r!.value!);
      }),
    );
  }

  /** n sessions stored for a 200 ms replay; their IDs in store order. */
  async function storeSessions(topic: string, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let k = 0; k < n; k++) {
      const { id } = await client.createSession(topic);
      await client.append(id, `${topic}-${k}`);
      await client.store(id, { replay: '200ms' });
      ids.push(id);
    }
    return ids;
  }

  function counts(topic: string, name: string, host: NodeHost = leader()) {
    return host.node.groups().find((g) => g.topic === topic && g.name === name)!;
  }

  /** Every restored record committed on every node (nothing held by a group). */
  function allCommitted(): boolean {
    return cluster.hosts.every((h) => h.node.raft.isStopped() || h.node.store.dataFiles().every((f) => f.consumed === f.readCursor));
  }

  function uncommitted(host: NodeHost = leader()): number {
    let n = 0;
    for (const f of host.node.store.dataFiles()) n += f.restoredLengths.length;
    return n;
  }

  it('a consumer absent when sessions fall due gets all of them when it attaches, oldest first; SessionCommit waits for its acks', async () => {
    await createGroup('orders', 'billing');
    const ids = await storeSessions('orders', 5);
    await waitFor('5 restores ready in the group', () => counts('orders', 'billing').ready === 5, SETTLE_MS);
    expect(uncommitted()).to.equal(5);
    const got: GroupDelivery[] = [];
    const c = leader().node.consume('orders', 'billing', 'c1', (d) => got.push(d));
    await waitFor('5 deliveries', () => got.length === 5, SETTLE_MS);
    expect(got.map((d) => hex(d.session))).to.deep.equal(ids);
    expect(got.map((d) => text(d.records[0]!))).to.deep.equal(['orders-0', 'orders-1', 'orders-2', 'orders-3', 'orders-4']);
    expect(got.every((d) => d.delivery === 1)).to.equal(true);
    expect(uncommitted()).to.equal(5);
    for (const d of got) c.ack(d);
    await waitFor('every restore committed on every node', allCommitted, SETTLE_MS);
    // Every node agrees on the group table.
    await waitFor(
      'equal counts on every node',
      () => cluster.hosts.every((h) => JSON.stringify(counts('orders', 'billing', h)) === JSON.stringify(counts('orders', 'billing'))),
      SETTLE_MS,
    );
    c.close();
  });

  it('a consumer killed before acking: each of its deliveries goes again, after ackWaitMs, to another consumer of the group', async () => {
    await createGroup('jobs', 'workers', { ackWaitMs: 400 });
    await storeSessions('jobs', 4);
    await waitFor('4 restores ready', () => counts('jobs', 'workers').ready === 4, SETTLE_MS);
    const first: GroupDelivery[] = [];
    const dying = leader().node.consume('jobs', 'workers', 'dying', (d) => first.push(d));
    await waitFor('4 deliveries to the first consumer', () => first.length === 4, SETTLE_MS);
    const killedAt = Date.now();
    dying.close(); // killed: nothing acknowledged
    const second: { d: GroupDelivery; at: number }[] = [];
    const survivor = leader().node.consume('jobs', 'workers', 'survivor', (d) => second.push({ d, at: Date.now() }));
    // ackWaitMs 400 after each delivery, then a tick and a commit round; SETTLE_MS bounds it.
    await waitFor('4 redeliveries to the survivor', () => second.length === 4, SETTLE_MS);
    expect(second.map((x) => hex(x.d.restoreId))).to.deep.equal(first.map((d) => hex(d.restoreId)));
    expect(second.every((x) => x.d.delivery === 2)).to.equal(true);
    // Not before the deadline the leader carried in the first GroupDeliver (400 ms after it was proposed).
    expect(Math.min(...second.map((x) => x.at)) - killedAt).to.be.greaterThan(200);
    expect(counts('jobs', 'workers').redelivered).to.equal(4);
    expect(uncommitted()).to.be.greaterThan(0);
    for (const x of second) survivor.ack(x.d);
    await waitFor('every restore committed', allCommitted, SETTLE_MS);
    survivor.close();
  });

  it('two groups each get every session; SessionCommit waits for the slowest group', async () => {
    await createGroup('events', 'fast');
    await createGroup('events', 'slow');
    const ids = await storeSessions('events', 3);
    const fast: GroupDelivery[] = [];
    const slow: GroupDelivery[] = [];
    const cf = leader().node.consume('events', 'fast', 'f', (d) => fast.push(d));
    const cs = leader().node.consume('events', 'slow', 's', (d) => slow.push(d));
    await waitFor('3 deliveries in each group', () => fast.length === 3 && slow.length === 3, SETTLE_MS);
    expect(fast.map((d) => hex(d.session))).to.deep.equal(ids);
    expect(slow.map((d) => hex(d.session))).to.deep.equal(ids);
    for (const d of fast) cf.ack(d);
    await waitFor('the fast group settled everything', () => counts('events', 'fast').inFlight === 0 && counts('events', 'fast').ready === 0, SETTLE_MS);
    expect(uncommitted()).to.equal(3);
    // The first slow ack releases the oldest record only: exactly two stay uncommitted (a commit that
    // ignored the slow group would have taken all three by the time this one applies).
    cs.ack(slow.shift()!);
    await waitFor('one commit', () => uncommitted() === 2 && counts('events', 'slow').inFlight === 2, SETTLE_MS);
    expect(allCommitted()).to.equal(false);
    for (const d of slow) cs.ack(d);
    await waitFor('every restore committed', allCommitted, SETTLE_MS);
    cf.close();
    cs.close();
  });

  it('maxDeliveries: a session never acknowledged goes to the dead letters after that many deliveries, and is committed once deleted', async () => {
    await createGroup('poison', 'g', { ackWaitMs: 150, maxDeliveries: 3 });
    await storeSessions('poison', 2);
    const got: GroupDelivery[] = [];
    const c = leader().node.consume('poison', 'g', 'never-acks', (d) => got.push(d));
    // 3 deliveries of 150 ms each, then the dead letter; SETTLE_MS covers it.
    await waitFor('2 dead letters', () => counts('poison', 'g').deadLettered === 2, SETTLE_MS);
    expect(got.map((d) => d.delivery).sort()).to.deep.equal([1, 1, 2, 2, 3, 3]);
    // A dead letter keeps its record (it can be replayed) until deleted.
    expect(allCommitted()).to.equal(false);
    const restores = [...new Set(got.map((d) => Buffer.from(d.restoreId).toString('hex')))];
    for (const r of restores) {
      const code = await new Promise<string>((resolve, reject) =>
        leader().node.deadLetter('delete', 'poison', 'g', Buffer.from(r, 'hex'), (err, res) => (err ? reject(err) : resolve(res!.code))),
      );
      expect(code).to.equal('OK');
    }
    await waitFor('every restore committed', allCommitted, SETTLE_MS);
    c.close();
  });

  it('a consumer reattached on the next leader gets what it had not acknowledged, at once', async () => {
    await createGroup('resume', 'g', { ackWaitMs: 60_000 });
    const ids = await storeSessions('resume', 3);
    const before: GroupDelivery[] = [];
    const old = leader().node.consume('resume', 'g', 'w', (d) => before.push(d));
    await waitFor('3 deliveries', () => before.length === 3, SETTLE_MS);
    old.ack(before[0]!);
    await waitFor('the ack applied on every node', () => cluster.hosts.every((h) => counts('resume', 'g', h).inFlight === 2), SETTLE_MS);
    const oldLeader = leader();
    const ended: string[] = [];
    await oldLeader.stop({ transfer: false });
    // An election after the old leader stopped: 100-200 ms timeouts, 5 s is generous.
    await waitFor('a new leader', () => cluster.leader() !== null && cluster.leader() !== oldLeader, 5000);
    const after: GroupDelivery[] = [];
    const again = leader().node.consume('resume', 'g', 'w', (d) => after.push(d), { onEnd: (code) => ended.push(code) });
    // ackWaitMs is a minute: only the reattach can bring them back within SETTLE_MS.
    await waitFor('2 redeliveries on the new leader', () => after.length === 2, SETTLE_MS);
    expect(after.map((d) => hex(d.session))).to.deep.equal(ids.slice(1));
    expect(after.every((d) => d.delivery === 2)).to.equal(true);
    for (const d of after) again.ack(d);
    await waitFor('every restore committed on the live nodes', allCommitted, SETTLE_MS);
    again.close();
  });
});
