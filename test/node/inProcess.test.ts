/**
 * A 3-node cluster of NodeHosts in this process, over real sockets on 127.0.0.1 (ports 0): the
 * client library against it (create, append, store with a short replay, subscriptions on two
 * nodes, linearizable reads through a follower), exactly-once on the raw protocol, and the admin
 * port (/metrics, /status, /healthz). Timing: ticks of 10 ms, elections after 100-200 ms, replay
 * classes of 200 ms and 1 s (helpers.ts).
 */
import { expect } from 'chai';
import { type Delivery, type SessionraftClient } from '../../transport/client/client.js';
import { Connection } from '../../transport/client/connection.js';
import { parseCommandReply, parseSessionReply } from '../../transport/client/protocol.js';
import { getJson, httpGet, useInProcessCluster, waitFor } from './helpers.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

describe('node: in-process 3-node cluster over real sockets', function () {
  this.timeout(30_000);
  const suite = useInProcessCluster(3);
  const client = (endpoints: string[]): SessionraftClient => suite.client(endpoints);

  it('creates, appends, stores with a 200 ms replay, and delivers the restored session to subscribers on two nodes', async () => {
    const leader = suite.cluster.leader()!;
    const follower = suite.cluster.hosts.find((h) => h !== leader)!;
    const c = client(suite.cluster.endpoints());
    const atLeader: Delivery[] = [];
    const atFollower: Delivery[] = [];
    await c.subscribe('orders', (d) => atLeader.push(d), { endpoint: leader.clientEndpoint() });
    await c.subscribe('orders', (d) => atFollower.push(d), { endpoint: follower.clientEndpoint() });
    const other: Delivery[] = [];
    await c.subscribe('invoices', (d) => other.push(d), { endpoint: follower.clientEndpoint() });

    const { id } = await c.createSession('orders');
    expect(id).to.match(/^[0-9a-f]{32}$/);
    await c.append(id, 'first');
    await c.append(id, new Uint8Array([0, 1, 2]));
    const before = await c.get(id);
    expect(before!.topic).to.equal('orders');
    expect(before!.records.map((r) => Array.from(r))).to.deep.equal([Array.from(Buffer.from('first')), [0, 1, 2]]);

    const storedAt = Date.now();
    await c.store(id, { replay: '200ms' });
    expect(await c.get(id), 'a stored session is not active').to.equal(null);
    // Due 200 ms after the store; the scheduler runs every tick (10 ms). 5 s bounds a slow machine.
    await waitFor('the restored session on both subscriptions', () => atLeader.length >= 1 && atFollower.length >= 1, 5000);
    for (const d of [atLeader[0]!, atFollower[0]!]) {
      expect(d.session).to.equal(id);
      expect(d.topic).to.equal('orders');
      expect(d.records.map((r) => Array.from(r))).to.deep.equal([Array.from(Buffer.from('first')), [0, 1, 2]]);
    }
    expect(atLeader[0]!.restoreId, 'the same SessionRestore on every node').to.equal(atFollower[0]!.restoreId);
    expect(atLeader[0]!.node).to.equal(leader.id);
    expect(atFollower[0]!.node).to.equal(follower.id);
    expect(Date.now() - storedAt).to.be.at.least(200);
    expect(other).to.have.length(0);
    // Restored: active again, with its records.
    const after = await c.get(id);
    expect(after!.records.map(text)[0]).to.equal('first');
  });

  it('store by class index, rewrite, destroy, list; unknown replay delays and IDs get stable codes', async () => {
    const c = client(suite.cluster.endpoints());
    const { id } = await c.createSession('carts');
    await c.append(id, 'a');
    await c.rewrite(id, 'b');
    expect((await c.get(id))!.records.map(text)).to.deep.equal(['b']);
    const listed = await c.list({ topic: 'carts' });
    expect(listed.sessions.map((s) => s.id)).to.include(id);
    await c.destroy(id);
    expect(await c.get(id)).to.equal(null);
    const err1 = await c.append(id, 'x').then(
      () => null,
      (e: { code: string }) => e,
    );
    expect(err1?.code).to.equal('SESSIONS_ERR_SESSION_UNKNOWN');
    const { id: id2 } = await c.createSession('carts');
    const err2 = await c.store(id2, { replay: '3s' }).then(
      () => null,
      (e: { code: string; message: string }) => e,
    );
    expect(err2?.code).to.equal('CLIENT_ERR_REPLAY_UNKNOWN');
    expect(err2?.message).to.contain('0=200ms, 1=1s');
    await c.store(id2, { replay: 1 });
    expect(await c.get(id2)).to.equal(null);
    const err3 = await c.get('not-an-id').then(
      () => null,
      (e: { code: string }) => e,
    );
    expect(err3?.code).to.equal('CLIENT_ERR_BAD_ARGUMENT');
    const err4 = await c.createSession('x'.repeat(300)).then(
      () => null,
      (e: { code: string }) => e,
    );
    expect(err4?.code, 'a topic over topicBytesMax is refused at the gateway').to.equal('SESSIONS_ERR_TOPIC_TOO_LONG');
  });

  it('get is linearizable: an append acknowledged to one client is read at once by another that only knows a follower', async () => {
    const leader = suite.cluster.leader()!;
    const follower = suite.cluster.hosts.find((h) => h !== leader)!;
    const writer = client([leader.clientEndpoint()]);
    const reader = client([follower.clientEndpoint()]);
    const { id } = await writer.createSession('linear');
    for (let k = 1; k <= 30; k++) {
      await writer.append(id, `v${k}`);
      const s = await reader.get(id);
      expect(s!.records.length, `read after append ${k}`).to.equal(k);
    }
  });

  it('a retry with the same seq is answered from the client table, not applied twice (raw protocol)', async () => {
    const leader = suite.cluster.leader()!;
    const conn = new Connection(leader.clientEndpoint(), { connectTimeoutMs: 2000, replyBytesMax: 1 << 20, clusterId: 'test' });
    try {
      await conn.ready;
      const reg = parseCommandReply(await conn.request({ op: 'register' }, 2000));
      // The credential: the client ID, then the secret the leader drew.
      expect(reg.value).to.have.length(32);
      const client = reg.value!.slice(0, 16);
      const secret = reg.value!.slice(16);
      const env = (seq: number) => ({ client, secret, seq, ackedBelowSeq: seq });
      const created = parseCommandReply(await conn.request({ op: 'create', envelope: env(1), topic: 'dups' }, 2000));
      const session = created.value!;
      const a1 = parseCommandReply(await conn.request({ op: 'append', envelope: env(2), session, bytes: Buffer.from('once') }, 2000));
      const a2 = parseCommandReply(await conn.request({ op: 'append', envelope: env(2), session, bytes: Buffer.from('once') }, 2000));
      expect(a1.duplicate).to.equal(false);
      expect(a2.duplicate, 'the retry is answered from the client table').to.equal(true);
      // Two copies of one seq in flight at once: both answered, applied once.
      const [b1, b2] = await Promise.all([
        conn.request({ op: 'append', envelope: env(3), session, bytes: Buffer.from('twice?') }, 2000),
        conn.request({ op: 'append', envelope: env(3), session, bytes: Buffer.from('twice?') }, 2000),
      ]);
      expect([parseCommandReply(b1).ok, parseCommandReply(b2).ok]).to.deep.equal([true, true]);
      const s = parseSessionReply(await conn.request({ op: 'get', session }, 2000));
      expect(s.records.map(text)).to.deep.equal(['once', 'twice?']);
      // A seq below ackedBelowSeq is stale.
      const stale = parseCommandReply(
        await conn.request({ op: 'append', envelope: { client, secret, seq: 1, ackedBelowSeq: 1 }, session, bytes: Buffer.from('late') }, 2000),
      );
      expect(stale.ok).to.equal(false);
      expect(stale.code).to.equal('SESSIONS_ERR_SEQ_STALE');
    } finally {
      conn.close();
    }
  });

  it('serves /metrics, /status and /healthz on the admin port', async () => {
    const leader = suite.cluster.leader()!;
    const follower = suite.cluster.hosts.find((h) => h !== leader)!;
    // Some rejected client input first, so that the rejection counter has a sample.
    const c = client([leader.clientEndpoint()]);
    await c.createSession('x'.repeat(300)).catch(() => undefined);
    const m = await httpGet(`http://127.0.0.1:${leader.addresses.admin.port}/metrics`);
    expect(m.status).to.equal(200);
    expect(m.contentType).to.contain('text/plain');
    for (const line of [
      'sessionraft_role{role="leader"} 1',
      'sessionraft_is_leader 1',
      `sessionraft_term ${leader.node.raft.term()}`,
      'sessionraft_commit_index ',
      'sessionraft_applied_index ',
      'sessionraft_fsync_seconds_bucket{le="0.001"}',
      'sessionraft_append_seconds_count ',
      'sessionraft_commit_seconds_count{op="append"}',
      `sessionraft_peer_lag_entries{peer="${follower.id}"}`,
      'sessionraft_rejected_total{source="client",code="SESSIONS_ERR_TOPIC_TOO_LONG"}',
      'sessionraft_storage_damaged 0',
      'sessionraft_voting_barred 0',
      'process_cpu_seconds_total',
    ]) {
      expect(m.body, line).to.contain(line);
    }
    const fm = await httpGet(`http://127.0.0.1:${follower.addresses.admin.port}/metrics`);
    expect(fm.body).to.contain('sessionraft_role{role="follower"} 1');
    expect(fm.body, "lag is the leader's view").to.not.contain('sessionraft_peer_lag_entries{');
    const fsyncCount = Number(/^sessionraft_fsync_seconds_count (\d+)/m.exec(m.body)![1]);
    expect(fsyncCount, 'the WAL fsynced').to.be.greaterThan(0);
    // The node's default --log-preallocate-bytes: the WAL zeroed a range ahead of its first records.
    const zeroed = Number(/^sessionraft_wal_preallocations_total (\d+)/m.exec(m.body)?.[1] ?? -1);
    expect(zeroed, 'ranges zeroed ahead of the WAL').to.be.greaterThan(0);

    const ls = await getJson<Record<string, any>>(`http://127.0.0.1:${leader.addresses.admin.port}/status?digest=1`);
    expect(ls.role).to.equal('leader');
    expect(ls.voters).to.deep.equal(['n1', 'n2', 'n3']);
    expect(ls.store.digest).to.match(/^[0-9a-f]{64}$/);
    for (const h of suite.cluster.hosts) {
      const v = ls.nodes[h.id];
      expect(v.role).to.equal(h === leader ? 'leader' : 'follower');
      if (h !== leader) expect(v).to.include.keys('match', 'lag', 'state');
    }
    const fs = await getJson<Record<string, any>>(`http://127.0.0.1:${follower.addresses.admin.port}/status`);
    expect(fs.role).to.equal('follower');
    expect(fs.leader).to.equal(leader.id);
    expect(fs.nodes[leader.id].role, 'a follower knows who leads').to.equal('leader');
    expect(fs.nodes[follower.id].role).to.equal('follower');
    expect(fs.leaderClient).to.equal(leader.clientEndpoint());

    const hz = await getJson<Record<string, unknown>>(`http://127.0.0.1:${follower.addresses.admin.port}/healthz`);
    expect(hz.ok).to.equal(true);
    const nf = await httpGet(`http://127.0.0.1:${follower.addresses.admin.port}/nope`);
    expect(nf.status).to.equal(404);
  });

  it('pipelines: 400 appends in flight from one client, each applied once', async () => {
    const c = client(suite.cluster.endpoints());
    const { id } = await c.createSession('pipeline');
    const values = Array.from({ length: 400 }, (_, k) => `p${k}`);
    const outs = await Promise.all(values.map((v) => c.append(id, v)));
    expect(outs.every((o) => o.index > 0)).to.equal(true);
    const got = (await c.get(id))!.records.map(text);
    expect(got.length).to.equal(400);
    expect([...got].sort()).to.deep.equal([...values].sort());
  });

  it('a leader asked to stop hands over leadership; clients and subscriptions carry on elsewhere', async () => {
    const old = suite.cluster.leader()!;
    const c = client([old.clientEndpoint(), ...suite.cluster.endpoints().filter((e) => e !== old.clientEndpoint())]);
    const { id } = await c.createSession('handover');
    await c.append(id, 'before');
    // Unpinned: it lives on the leader's node now and moves when that node stops.
    const got: Delivery[] = [];
    const notes: string[] = [];
    const sub = await c.subscribe('handover', (d) => got.push(d), { onError: (e) => notes.push(e.code) });
    expect(sub.endpoint).to.equal(old.clientEndpoint());
    // The stop says whether another node led within the transfer bound (a handover, not an
    // election timeout). Until 2026-12-07 the test timed the stop (< 1.5 s), which a loaded box
    // could exceed with the transfer done.
    const transfer = await old.stop({ transfer: true });
    expect(transfer, 'handed over, not timed out').to.equal('transferred');
    const next = suite.cluster.leader();
    expect(next, 'a new leader at once (transfer, not an election timeout)').to.not.equal(null);
    expect(next!.id).to.not.equal(old.id);
    await c.append(id, 'after');
    expect((await c.get(id))!.records.map(text)).to.deep.equal(['before', 'after']);
    await waitFor('the subscription on another node', () => sub.endpoint !== null && sub.endpoint !== old.clientEndpoint(), 5000);
    expect(notes).to.include('CLIENT_ERR_CONNECTION_LOST');
    await c.store(id, { replay: 0 });
    await waitFor('the restored session after the move', () => got.length >= 1, 5000);
    expect(got[0]!.session).to.equal(id);
  });
});
