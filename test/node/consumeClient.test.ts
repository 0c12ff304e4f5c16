/**
 * Durable consumers through the client port (issue 16): the client library's createGroup, consume
 * (resolve acks, a throw nacks), groups, against an in-process 3-node cluster on 127.0.0.1 over real
 * sockets. Every wait is for a condition with a timeout that says what it covers.
 */
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { createClient, type GroupMessage, type SessionraftClient } from '../../transport/client/client.js';
import { binPath, startInProcessCluster, waitFor, type InProcessCluster } from './helpers.js';

/** A 200 ms replay, a tick (10 ms) and a few commit rounds per step; 5 s covers a loaded machine. */
const SETTLE_MS = 5000;

describe('node: consume through the client library (issue 16)', function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;
  const clients: SessionraftClient[] = [];
  const client = (): SessionraftClient => {
    const c = createClient({ endpoints: cluster.endpoints(), clusterId: 'test' });
    clients.push(c);
    return c;
  };

  before(async () => {
    cluster = await startInProcessCluster(3);
    // An election takes 100-200 ms of timeout plus a pre-vote and a vote round; 5 s is generous.
    await waitFor('a leader', () => cluster.leader(), 5000);
  });

  after(async () => {
    for (const c of clients) await c.close();
    await cluster?.stop();
  });

  async function storeSessions(c: SessionraftClient, topic: string, n: number): Promise<string[]> {
    const ids: string[] = [];
    for (let k = 0; k < n; k++) {
      const { id } = await c.createSession(topic);
      await c.append(id, `${topic}-${k}`);
      await c.store(id, { replay: '200ms' });
      ids.push(id);
    }
    return ids;
  }

  function allCommitted(): boolean {
    return cluster.hosts.every((h) => h.node.store.dataFiles().every((f) => f.consumed === f.readCursor));
  }

  async function group(c: SessionraftClient, topic: string, name: string): Promise<Record<string, unknown>> {
    return (await c.groups()).find((g) => g.topic === topic && g.name === name)!;
  }

  it('a consumer that connects after the sessions fell due gets all of them, oldest first; its resolves ack them and they are committed', async () => {
    const c = client();
    await c.createGroup('orders', 'billing');
    const ids = await storeSessions(c, 'orders', 4);
    await waitFor('4 ready in the group', async () => (await group(c, 'orders', 'billing')).ready === 4, SETTLE_MS);
    expect(allCommitted()).to.equal(false);
    const got: GroupMessage[] = [];
    const consumer = await client().consume('orders', 'billing', (m) => {
      got.push(m);
    });
    await waitFor('4 deliveries', () => got.length === 4, SETTLE_MS);
    expect(got.map((m) => m.session)).to.deep.equal(ids);
    expect(got.map((m) => Buffer.from(m.records[0]!).toString())).to.deep.equal(['orders-0', 'orders-1', 'orders-2', 'orders-3']);
    await waitFor('every restore committed on every node', allCommitted, SETTLE_MS);
    expect(await group(c, 'orders', 'billing')).to.include({ ready: 0, inFlight: 0, redelivered: 0, deadLettered: 0 });
    await consumer.close();
  });

  it('a consumer whose client dies before acking: another client consuming the group gets each session again after ackWaitMs', async () => {
    const c = client();
    await c.createGroup('jobs', 'w', { ackWaitMs: 400 });
    await storeSessions(c, 'jobs', 3);
    const dying = client();
    const first: GroupMessage[] = [];
    // The handler never settles: nothing is acknowledged.
    await dying.consume('jobs', 'w', (m) => new Promise(() => void first.push(m)), { consumer: 'dying' });
    await waitFor('3 deliveries to the first consumer', () => first.length === 3, SETTLE_MS);
    await dying.close();
    const second: GroupMessage[] = [];
    await client().consume('jobs', 'w', (m) => void second.push(m), { consumer: 'survivor' });
    // ackWaitMs 400 after each delivery, then a tick and a commit round.
    await waitFor('3 redeliveries', () => second.length === 3, SETTLE_MS);
    expect(second.map((m) => m.restoreId)).to.deep.equal(first.map((m) => m.restoreId));
    expect(second.every((m) => m.delivery === 2)).to.equal(true);
    await waitFor('every restore committed', allCommitted, SETTLE_MS);
  });

  it('the CLI: group-create, consume --group prints and acks --count sessions, groups lists the counts', async () => {
    const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [binPath, 'client', '--endpoints', cluster.endpoints().join(','), '--timeout-ms', '5000', '-o', 'json', ...args],
          // A CLI process starts in about a second; 15 s bounds a loaded machine.
          { timeout: 15_000 },
          (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? -1), stdout, stderr }),
        );
      });
    const created = await run(['group-create', 'cli', 'g', '--ack-wait', '20000']);
    expect(created.code, created.stderr).to.equal(0);
    const c = client();
    const ids = await storeSessions(c, 'cli', 2);
    await waitFor('2 ready', async () => (await group(c, 'cli', 'g')).ready === 2, SETTLE_MS);
    const consumed = await run(['consume', 'cli', '--group', 'g', '--count', '2']);
    expect(consumed.code, consumed.stderr).to.equal(0);
    const lines = consumed.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { session: string; delivery: number; group: string });
    expect(lines.map((l) => l.session)).to.deep.equal(ids);
    expect(lines.every((l) => l.delivery === 1 && l.group === 'g')).to.equal(true);
    // The acks were sent before the CLI unsubscribed: nothing in flight, all committed.
    await waitFor('acknowledged and committed', async () => (await group(c, 'cli', 'g')).inFlight === 0 && allCommitted(), SETTLE_MS);
    const listed = await run(['groups']);
    expect(listed.code, listed.stderr).to.equal(0);
    const row = (JSON.parse(listed.stdout) as Record<string, unknown>[]).find((g) => g.topic === 'cli')!;
    expect(row).to.include({ name: 'g', ready: 0, inFlight: 0, redelivered: 0, deadLettered: 0, ackWaitMs: 20000 });
  });

  it('a handler that throws nacks: the session comes back (delivery 2), and two groups each get it', async () => {
    const c = client();
    await c.createGroup('events', 'flaky');
    await c.createGroup('events', 'steady');
    const [id] = await storeSessions(c, 'events', 1);
    const flaky: GroupMessage[] = [];
    const steady: GroupMessage[] = [];
    await client().consume('events', 'flaky', (m) => {
      flaky.push(m);
      if (m.delivery === 1) throw new Error('first time fails');
    });
    await client().consume('events', 'steady', (m) => void steady.push(m));
    await waitFor('two deliveries to flaky, one to steady', () => flaky.length === 2 && steady.length === 1, SETTLE_MS);
    expect(flaky.map((m) => [m.session, m.delivery])).to.deep.equal([
      [id, 1],
      [id, 2],
    ]);
    expect(steady[0]!.session).to.equal(id);
    await waitFor('committed once both groups acked', allCommitted, SETTLE_MS);
  });
});
