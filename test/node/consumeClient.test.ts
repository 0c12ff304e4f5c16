/**
 * Durable consumers through the client port (issue 16): the client library's createGroup, consume
 * (resolve acks, a throw nacks), groups, against an in-process 3-node cluster on 127.0.0.1 over real
 * sockets. Every wait is for a condition with a timeout that says what it covers.
 */
import { execFile } from 'node:child_process';
import { expect } from 'chai';
import { type GroupMessage, type SessionraftClient } from '../../transport/client/client.js';
import { encodeRequest, parseAcksReply, type GroupDeliveryFrame } from '../../transport/client/protocol.js';
import { binPath, httpGet, rawPort, useInProcessCluster, waitFor, type ServerFrame } from './helpers.js';

/** A 200 ms replay, a tick (10 ms) and a few commit rounds per step; 5 s covers a loaded machine. */
const SETTLE_MS = 5000;

describe('node: consume through the client library (issue 16)', function () {
  this.timeout(60_000);
  // A third replay class of an hour (the visibility test keeps sessions scheduled in it).
  const suite = useInProcessCluster(3, { replayDelaysMs: [200, 1000, 3_600_000] });
  const client = (): SessionraftClient => suite.client();

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

  /** A metric's value summed over every node's /metrics (a leader change may split the counts). */
  async function metricSum(line: RegExp): Promise<number> {
    let sum = 0;
    for (const h of suite.cluster.hosts) {
      const text = (await httpGet(`http://127.0.0.1:${h.addresses.admin.port}/metrics`)).body;
      for (const l of text.split('\n')) {
        const m = line.exec(l);
        if (m !== null) sum += Number(m[1]);
      }
    }
    return sum;
  }

  function allCommitted(): boolean {
    return suite.cluster.hosts.every((h) => h.node.store.dataFiles().every((f) => f.consumed === f.readCursor));
  }

  async function group(c: SessionraftClient, topic: string, name: string): Promise<Record<string, unknown>> {
    return (await c.groups()).find((g) => g.topic === topic && g.name === name)!;
  }

  it('a consumer name no delivery can carry is refused at attach with SESSIONS_ERR_NAME (a valid one attaches)', async () => {
    const c = client();
    await c.createGroup('names', 'g');
    for (const bad of ['x'.repeat(65), 'a\nb', 'a\u007fb']) {
      const err = await c
        .consume('names', 'g', () => undefined, { consumer: bad })
        .then(
          (h) => h.close().then(() => null),
          (e: { code: string }) => e,
        );
      expect(err?.code, JSON.stringify(bad)).to.equal('SESSIONS_ERR_NAME');
    }
    const ok = await c.consume('names', 'g', () => undefined, { consumer: 'é'.repeat(32) });
    await ok.close();
  });

  it('a consumer that connects after the sessions fell due gets all of them, oldest first; its resolves ack them and they are committed', async () => {
    const c = client();
    await c.createGroup('orders', 'billing');
    const restoredBefore = await metricSum(/^sessionraft_restore_lateness_seconds_count\{class="0"\} (\d+)$/);
    // When each store was sent and answered (the same clock as the leader's: one machine).
    const sentMs: number[] = [];
    const storedMs: number[] = [];
    const ids: string[] = [];
    for (let k = 0; k < 4; k++) {
      const { id } = await c.createSession('orders');
      await c.append(id, `orders-${k}`);
      sentMs.push(Date.now());
      await c.store(id, { replay: '200ms' });
      storedMs.push(Date.now());
      ids.push(id);
    }
    await waitFor('4 ready in the group', async () => (await group(c, 'orders', 'billing')).ready === 4, SETTLE_MS);
    expect(allCommitted()).to.equal(false);
    const got: GroupMessage[] = [];
    const receivedMs: number[] = [];
    const consumeMs = Date.now();
    const consumer = await client().consume('orders', 'billing', (m) => {
      got.push(m);
      receivedMs.push(Date.now());
    });
    await waitFor('4 deliveries', () => got.length === 4, SETTLE_MS);
    // The delivery lateness metric: each first delivery counted once, as late as the leader's due
    // time (planned between the store's send and answer, + 200 ms) says. No consumer was attached
    // before consumeMs, so each is at least consumeMs - (answer + 200) late, and at most its
    // receive time - (send + 200); a millisecond either way for the leader's whole-ms clock.
    const late = (re: string): Promise<number> =>
      metricSum(new RegExp(`^sessionraft_delivery_lateness_seconds_${re}\\{topic="orders",group="billing"\\} ([0-9.e+-]+)$`));
    expect(await late('count')).to.equal(4);
    const sumMs = (await late('sum')) * 1000;
    const lowMs = storedMs.reduce((a, t) => a + Math.max(0, consumeMs - (t + 200)), 0);
    const highMs = receivedMs.reduce((a, t, k) => a + (t - (sentMs[k]! + 200)), 0);
    expect(sumMs, `lateness sum ${sumMs} ms within [${lowMs}, ${highMs}]`).to.be.within(lowMs - 4, highMs + 4);
    // Each of the four was planned for restore once (a leader change may plan one again).
    expect((await metricSum(/^sessionraft_restore_lateness_seconds_count\{class="0"\} (\d+)$/)) - restoredBefore).to.be.at.least(4);
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
    // Each one again (redeliveries are not ordered: docs/sessions.md, Guarantees; on a loaded box a
    // leader change in between reorders them).
    expect(second.map((m) => m.restoreId)).to.have.members(first.map((m) => m.restoreId));
    expect(second.every((m) => m.delivery === 2)).to.equal(true);
    await waitFor('every restore committed', allCommitted, SETTLE_MS);
  });

  it('acks of handlers that resolve together leave in one acks request; each ack gets its own answer, and a lone ack goes as ack', async () => {
    const c = client();
    await c.createGroup('batch', 'g', { ackWaitMs: 60_000 });
    const ids = await storeSessions(c, 'batch', 6);
    await waitFor('6 ready', async () => (await group(c, 'batch', 'g')).ready === 6, SETTLE_MS);
    const acksBefore = await metricSum(/^sessionraft_client_requests_total\{op="acks"\} (\d+)$/);
    const ackBefore = await metricSum(/^sessionraft_client_requests_total\{op="ack"\} (\d+)$/);
    const got: GroupMessage[] = [];
    const answers: { session: string; ok: boolean; code: string }[] = [];
    // Every handler waits for the sixth delivery, so the six answers resolve together.
    let release!: () => void;
    const allIn = new Promise<void>((r) => (release = r));
    const consumer = await client().consume(
      'batch',
      'g',
      async (m) => {
        got.push(m);
        if (got.length === 6) release();
        await allIn;
      },
      {
        onAnswer: (m, ack, outcome) =>
          void answers.push({
            session: m.session,
            ok: ack && !(outcome instanceof Error) && outcome.ok,
            code: outcome instanceof Error ? outcome.code : outcome.code,
          }),
      },
    );
    await waitFor('six answers', () => answers.length === 6, SETTLE_MS);
    expect(answers.map((a) => a.session)).to.have.members(ids);
    expect(answers.every((a) => a.ok && a.code === 'OK')).to.equal(true);
    expect(await metricSum(/^sessionraft_client_requests_total\{op="acks"\} (\d+)$/)).to.equal(acksBefore + 1);
    expect(await metricSum(/^sessionraft_client_requests_total\{op="ack"\} (\d+)$/)).to.equal(ackBefore);
    await waitFor('none in flight', async () => (await group(c, 'batch', 'g')).inFlight === 0, SETTLE_MS);
    // One more, alone: a plain ack.
    await storeSessions(c, 'batch', 1);
    await waitFor('seven answers', () => answers.length === 7, SETTLE_MS);
    expect(answers[6]).to.include({ ok: true, code: 'OK' });
    expect(await metricSum(/^sessionraft_client_requests_total\{op="ack"\} (\d+)$/)).to.equal(ackBefore + 1);
    await consumer.close();
    await waitFor('every restore committed', allCommitted, SETTLE_MS);
  });

  it('an acks request over a raw socket: each ack its own status (taken, refused); one bad ack, or a Raft batch without room for them all, refuses the whole request with nothing taken', async () => {
    const c = client();
    await c.createGroup('rawacks', 'g', { ackWaitMs: 60_000 });
    await storeSessions(c, 'rawacks', 3);
    await waitFor('3 ready', async () => (await group(c, 'rawacks', 'g')).ready === 3, SETTLE_MS);
    const { ws, frames, answer: answerIn } = await rawPort(suite.cluster.leader()!.clientEndpoint(), SETTLE_MS);
    const answer = (reqId: number): Promise<ServerFrame> => answerIn(reqId, SETTLE_MS);
    try {
      ws.send(encodeRequest({ op: 'consume', topic: 'rawacks', group: 'g', consumer: 'raw', maxAckPending: 0 }, 1));
      const subId = (await answer(1)) as Extract<ServerFrame, { kind: 'result' }>;
      const deliveries = (): GroupDeliveryFrame[] => frames.filter((f): f is GroupDeliveryFrame => f.kind === 'groupDelivery');
      await waitFor('3 deliveries', () => deliveries().length === 3, SETTLE_MS);
      const [d1, d2, d3] = deliveries();
      const sub = subId.body[0] as number;
      const sendAcks = (reqId: number, acks: { restoreId: Uint8Array; delivery: number }[]): void =>
        ws.send(encodeRequest({ op: 'acks', subId: sub, acks }, reqId));
      // A restore ID that names no log entry: the whole request is refused, so d3's ack in it is not taken.
      sendAcks(2, [
        { restoreId: d3!.restoreId, delivery: 1 },
        { restoreId: new Uint8Array(16), delivery: 1 },
      ]);
      const refused = await answer(2);
      expect(refused.kind === 'error' && refused.code).to.equal('CLIENT_ERR_MALFORMED');
      expect((await group(c, 'rawacks', 'g')).inFlight).to.equal(3);
      // The Raft batch forming on the leader has room for one command only (as when other requests
      // of the same turn filled it to proposalEntriesMax): two acks are refused whole with BUSY, not
      // proposed, so the leader never refuses that batch, other clients' commands with it.
      const raft = suite.cluster.leader()!.node.raft;
      const room = raft.proposalRoom.bind(raft);
      raft.proposalRoom = () => 1;
      try {
        sendAcks(5, [
          { restoreId: d2!.restoreId, delivery: 1 },
          { restoreId: d3!.restoreId, delivery: 1 },
        ]);
        const busy = await answer(5);
        expect(busy.kind === 'error' && busy.code).to.equal('CLIENT_ERR_BUSY');
        // Any request that proposes is refused the same way (a create here); one that reads is not.
        ws.send(encodeRequest({ op: 'create', topic: 'rawacks', envelope: null }, 6));
        const busyCreate = await answer(6);
        expect(busyCreate.kind === 'error' && busyCreate.code).to.equal('CLIENT_ERR_BUSY');
        ws.send(encodeRequest({ op: 'groups' }, 7));
        expect((await answer(7)).kind).to.equal('result');
      } finally {
        raft.proposalRoom = room;
      }
      expect(raft.proposalRoom()).to.equal(8192);
      expect((await group(c, 'rawacks', 'g')).inFlight).to.equal(3);
      // d1 taken; d2 with a delivery number it never reached is refused on its own.
      sendAcks(3, [
        { restoreId: d1!.restoreId, delivery: 1 },
        { restoreId: d2!.restoreId, delivery: 9 },
      ]);
      const mixed = await answer(3);
      expect(mixed.kind).to.equal('result');
      expect(parseAcksReply((mixed as { body: readonly unknown[] }).body, 2)).to.deep.equal([
        { applied: true, ok: true, code: 'OK' },
        { applied: true, ok: false, code: 'SESSIONS_ERR_DELIVERY_STALE' },
      ]);
      await waitFor('two left in flight', async () => (await group(c, 'rawacks', 'g')).inFlight === 2, SETTLE_MS);
      sendAcks(4, [
        { restoreId: d2!.restoreId, delivery: 1 },
        { restoreId: d3!.restoreId, delivery: 1 },
      ]);
      // OK, not OK_ALREADY_SETTLED: the refused requests (MALFORMED, BUSY) took nothing.
      expect(parseAcksReply(((await answer(4)) as { body: readonly unknown[] }).body, 2)).to.deep.equal([
        { applied: true, ok: true, code: 'OK' },
        { applied: true, ok: true, code: 'OK' },
      ]);
      await waitFor('none in flight', async () => (await group(c, 'rawacks', 'g')).inFlight === 0, SETTLE_MS);
    } finally {
      ws.terminate();
    }
  });

  it('the CLI: group-create, consume --group prints and acks --count sessions, groups lists the counts', async () => {
    const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [binPath, 'client', '--endpoints', suite.cluster.endpoints().join(','), '--timeout-ms', '5000', '-o', 'json', ...args],
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
    // Plain acks leave the restored sessions active; --remove-on-ack removes each with its ack.
    for (const id of ids) expect(await c.get(id), id).to.not.equal(null);
    const [third] = await storeSessions(c, 'cli', 1);
    await waitFor('the third ready', async () => (await group(c, 'cli', 'g')).ready === 1, SETTLE_MS);
    const removing = await run(['consume', 'cli', '--group', 'g', '--count', '1', '--remove-on-ack']);
    expect(removing.code, removing.stderr).to.equal(0);
    expect((JSON.parse(removing.stdout.trim()) as { session: string }).session).to.equal(third);
    await waitFor('the third acknowledged and removed', async () => (await group(c, 'cli', 'g')).inFlight === 0 && (await c.get(third!)) === null, SETTLE_MS);
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

  it('visibility: pending() counts per group (scheduled per class, ready, in flight, waiting, oldest age), dead letters listed; the CLI pending and dead', async () => {
    const c = client();
    await c.createGroup('vis', 'g', { ackWaitMs: 60_000, maxDeliveries: 1 });
    // Two sessions in the 1 h class (index 2) stay scheduled; two in the 200 ms class come back.
    const later: string[] = [];
    for (let k = 0; k < 2; k++) {
      const { id } = await c.createSession('vis');
      await c.append(id, `later-${k}`);
      await c.store(id, { replay: 2 });
      later.push(id);
    }
    const ids = await storeSessions(c, 'vis', 2);
    await waitFor(
      '2 ready, 2 scheduled',
      async () => {
        const [g] = await c.pending('vis', 'g');
        return g !== undefined && g.ready === 2 && g.scheduledComplete !== false && g.scheduled.reduce((n, x) => n + x.sessions, 0) === 2;
      },
      SETTLE_MS,
    );
    const [g] = await c.pending('vis', 'g');
    expect(g).to.include({ topic: 'vis', name: 'g', ready: 2, readyNow: 2, waiting: 0, inFlight: 0, expired: 0, deadLettered: 0 });
    expect(g!.oldestPendingAgeMs).to.be.a('number').and.at.least(0);
    expect(g!.scheduled).to.have.length(1);
    expect(g!.scheduled[0]!.sessions).to.equal(2);
    expect(g!.scheduled[0]!.nextDueMs).to.be.greaterThan(Date.now() + 30 * 60_000);
    // The first delivery is nacked (thrown): with maxDeliveries 1 it is dead-lettered; the second is acked.
    const answers: { ack: boolean; code: string }[] = [];
    const consumer = await client().consume(
      'vis',
      'g',
      (m) => {
        if (m.session === ids[0]) throw new Error('poison');
      },
      { onAnswer: (_m, ack, out) => answers.push({ ack, code: 'code' in out ? out.code : 'ERROR' }) },
    );
    await waitFor(
      'one dead letter, nothing pending',
      async () => {
        const [x] = await c.pending('vis', 'g');
        return x!.deadLettered === 1 && x!.ready === 0 && x!.inFlight === 0;
      },
      SETTLE_MS,
    );
    const dead = await c.deadLetters('vis', 'g');
    expect(dead.map((d) => [d.session, d.deliveries])).to.deep.equal([[ids[0], 1]]);
    expect(answers).to.deep.include({ ack: true, code: 'OK' });
    expect(answers).to.deep.include({ ack: false, code: 'OK' });
    await consumer.close();
    expect(consumer.closed).to.equal(true);
    const run = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(
          process.execPath,
          [binPath, 'client', '--endpoints', suite.cluster.endpoints().join(','), '--timeout-ms', '5000', '-o', 'json', ...args],
          // A CLI process starts in about a second; 15 s bounds a loaded machine.
          { timeout: 15_000 },
          (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? -1), stdout, stderr }),
        );
      });
    const pending = await run(['pending', 'vis', 'g']);
    expect(pending.code, pending.stderr).to.equal(0);
    const rows = JSON.parse(pending.stdout) as Record<string, unknown>[];
    expect(rows).to.have.length(1);
    expect(rows[0]).to.include({ topic: 'vis', name: 'g', ready: 0, inFlight: 0, deadLettered: 1 });
    expect(String(rows[0]!.scheduled)).to.match(/^class \d+: 2 \(next due /);
    const listed = await run(['dead', 'vis', 'g']);
    expect(listed.code, listed.stderr).to.equal(0);
    expect((JSON.parse(listed.stdout) as { session: string }[]).map((d) => d.session)).to.deep.equal([ids[0]]);
    expect(later).to.have.length(2);
  });
});
