/**
 * Flow control of subscriptions against a real node (issue 14, finding 7): a one-node cluster in
 * this process over real sockets on 127.0.0.1, with 12 sessions of 960 KiB stored with the 1 s
 * replay class so that they fall due together (about 11 MiB, more than the 8 MiB that used to end
 * the subscriber).
 *
 * - A subscriber through the client library that reads as fast as it can receives all 12 (before:
 *   CLIENT_ERR_SUBSCRIBER_OVERFLOW after 9, the socket's buffer passed 8 MiB in one burst).
 * - A raw subscriber whose socket is not read (its net.Socket paused) is ended with
 *   CLIENT_ERR_SUBSCRIBER_STALLED once it made no progress for subscriberBehindMsMax, while a
 *   subscriber of the same topic on the same node gets everything and writers carry on; the end is
 *   counted in the client port's rejections (/status, /metrics).
 *
 * The cluster is configured with a short stall bound (1 s, 1 MiB behind) so the test is quick; the
 * reader that keeps up is ended by neither.
 */
import { expect } from 'chai';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { createClient, type Delivery, type SessionraftClient } from '../../transport/client/client.js';
import { decodeServerFrame, encodeRequest } from '../../transport/client/protocol.js';
import { httpGet, startInProcessCluster, waitFor, type InProcessCluster } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** 15 records of 64 KiB (recordBytesMax) make a session of 960 KiB (sessionBytesMax is 1 MiB). */
const RECORDS = 15;
const RECORD_BYTES = 64 * KiB;
const SESSIONS = 12;
const BEHIND_MS = 1000;

type ServerFrame = ReturnType<typeof decodeServerFrame>;

/** Record j of session k: filled with one byte, so a delivery's content can be checked. */
const recordOf = (k: number, j: number): Uint8Array => new Uint8Array(RECORD_BYTES).fill((k * RECORDS + j) % 251);

describe('node: subscribers are flow-controlled, and only a stalled one is ended', function () {
  // Writing 11 MiB through Raft (180 appends) takes a few seconds on a slow machine; each wait below has its own bound.
  this.timeout(60_000);
  let cluster: InProcessCluster;
  const clients: SessionraftClient[] = [];
  const raws: WebSocket[] = [];
  const client = (): SessionraftClient => {
    const c = createClient({ endpoints: cluster.endpoints(), clusterId: 'test' });
    clients.push(c);
    return c;
  };

  before(async () => {
    cluster = await startInProcessCluster(1, { clientLimits: { subscriberBehindBytesMax: 1 * MiB, subscriberBehindMsMax: BEHIND_MS } });
    // A single node elects itself after one election timeout (100-200 ms); 5 s is generous.
    await waitFor('a leader', () => cluster.leader(), 5000);
  });

  after(async () => {
    for (const ws of raws) ws.terminate();
    for (const c of clients) await c.close();
    await cluster?.stop();
  });

  /**
   * Creates 12 sessions of 960 KiB on `topic` and stores them together with the 1 s replay. Returns
   * their IDs and when the stores were sent: none is due before `storedAt` + 1 s (the leader plans
   * the due time from its clock when the store arrives).
   */
  async function storeBurst(c: SessionraftClient, topic: string): Promise<{ ids: string[]; storedAt: number }> {
    const ids = await Promise.all(
      Array.from({ length: SESSIONS }, async (_, k) => {
        const { id } = await c.createSession(topic);
        for (let j = 0; j < RECORDS; j++) await c.append(id, recordOf(k, j));
        return id;
      }),
    );
    // Stored in one pipelined batch: they fall due within a tick of each other, 1 s from now.
    const storedAt = Date.now();
    await Promise.all(ids.map((id) => c.store(id, { replay: '1s' })));
    return { ids, storedAt };
  }

  function expectWhole(d: Delivery, ids: readonly string[]): void {
    const k = ids.indexOf(d.session);
    expect(k, `a session of the burst: ${d.session}`).to.be.at.least(0);
    expect(d.records.length).to.equal(RECORDS);
    d.records.forEach((r, j) => {
      expect(r.length).to.equal(RECORD_BYTES);
      expect(r[0]).to.equal((k * RECORDS + j) % 251);
      expect(r[RECORD_BYTES - 1]).to.equal((k * RECORDS + j) % 251);
    });
  }

  it('a subscriber that reads as fast as it can receives a burst of 12 sessions of 960 KiB', async () => {
    const c = client();
    const got: Delivery[] = [];
    const errors: string[] = [];
    await c.subscribe('burst', (d) => got.push(d), { onError: (e) => errors.push(`${e.code}: ${e.message}`) });
    const rejectedBefore = cluster.hosts[0]!.status().client.rejectedTotal;
    const { ids } = await storeBurst(c, 'burst');
    // Due 1 s after the stores; 11 MiB over loopback takes well under a second. 15 s bounds a slow machine.
    await waitFor(`all ${SESSIONS} deliveries (got ${got.length}, errors ${errors.join('; ')})`, () => got.length >= SESSIONS || errors.length > 0, 15_000);
    expect(errors, `the subscription was not ended (after ${got.length} deliveries)`).to.deep.equal([]);
    expect(got.map((d) => d.session).sort()).to.deep.equal([...ids].sort());
    for (const d of got) expectWhole(d, ids);
    expect(cluster.hosts[0]!.status().client.rejectedTotal, 'nothing rejected').to.equal(rejectedBefore);
  });

  it('a subscriber whose socket is not read is ended with CLIENT_ERR_SUBSCRIBER_STALLED after the time bound; others carry on', async () => {
    const host = cluster.hosts[0]!;
    // The stalled subscriber: a raw WebSocket whose net.Socket is paused once subscribed.
    const raw = new WebSocket(`ws://${host.clientEndpoint()}/`, { perMessageDeflate: false });
    raws.push(raw);
    const frames: ServerFrame[] = [];
    raw.on('message', (data: Buffer) => frames.push(decodeServerFrame(data)));
    await waitFor('the welcome', () => frames.some((f) => f.kind === 'welcome'), 5000);
    raw.send(encodeRequest({ op: 'subscribe', reqId: 1, topic: 'stall' }));
    const answer = await waitFor('the subscribe answer', () => frames.find((f) => f.kind === 'result' || f.kind === 'error'), 5000);
    expect(answer.kind).to.equal('result');
    const subId = (answer as { body: readonly unknown[] }).body[0] as number;
    const socket = (raw as unknown as { _socket: Socket })._socket;
    socket.pause();

    // A subscriber of the same topic on the same node that reads.
    const c = client();
    const got: Delivery[] = [];
    let firstAt = 0;
    const errors: string[] = [];
    await c.subscribe(
      'stall',
      (d) => {
        if (got.length === 0) firstAt = Date.now();
        got.push(d);
      },
      { onError: (e) => errors.push(e.code) },
    );
    const subsBefore = host.status().client.subscriptions;
    const rejectedBefore = host.status().client.rejectedTotal;

    const { ids, storedAt } = await storeBurst(c, 'stall');
    await waitFor(`the reading subscriber's ${SESSIONS} deliveries (got ${got.length})`, () => got.length >= SESSIONS || errors.length > 0, 15_000);
    expect(errors).to.deep.equal([]);
    for (const d of got) expectWhole(d, ids);
    if (Date.now() - firstAt < BEHIND_MS / 2) {
      expect(host.status().client.subscriptions, 'the paused subscriber is held back, not ended at once').to.equal(subsBefore);
    }
    // Writers carry on while it lags.
    const { id: during } = await c.createSession('elsewhere');
    await c.append(during, 'written while a subscriber stalls');

    // Ended after BEHIND_MS without progress (checked every 250 ms): 10 s more bounds a slow machine.
    await waitFor('the paused subscriber ended', () => host.status().client.subscriptions === subsBefore - 1, BEHIND_MS + 10_000, 5);
    // It lagged from the restores on (not before storedAt + 1 s) and was ended BEHIND_MS without
    // progress after that at the earliest. 20 ms of slack: timers run on the event loop's cached
    // clock, which may trail Date.now() by the turn in progress when they are set.
    const endedAfterMs = Date.now() - storedAt;
    expect(endedAfterMs, `not before the time bound (the reader's first delivery came ${firstAt - storedAt} ms after the stores)`).to.be.at.least(
      1000 + BEHIND_MS - 20,
    );
    const st = host.status().client;
    expect(st.rejectedTotal).to.equal(rejectedBefore + 1);
    const metrics = await httpGet(`http://127.0.0.1:${host.addresses.admin.port}/metrics`);
    expect(metrics.body).to.contain('sessionraft_rejected_total{source="client",code="CLIENT_ERR_SUBSCRIBER_STALLED"} 1');
    expect(metrics.body).to.contain('sessionraft_client_lagging_connections 0');

    // Writers and the other subscriber still work.
    await c.append(during, 'written after');
    expect((await c.get(during))!.records.length).to.equal(2);
    expect(errors).to.deep.equal([]);

    // Read again: the deliveries written before the stall, in order, then the end with its code.
    socket.resume();
    const ended = await waitFor('the subscriptionEnded frame', () => frames.find((f) => f.kind === 'subscriptionEnded'), 10_000);
    expect(ended).to.include({ subId, code: 'CLIENT_ERR_SUBSCRIBER_STALLED' });
    expect((ended as { message: string }).message).to.match(/no progress for \d+ ms/);
    const delivered = frames.filter((f) => f.kind === 'delivery');
    expect(delivered.length, 'some deliveries reached the socket before it stalled, not all').to.be.within(1, SESSIONS - 1);
    const after = frames.indexOf(ended);
    expect(
      frames.slice(after + 1).filter((f) => f.kind === 'delivery'),
      'nothing after the end',
    ).to.deep.equal([]);
  });
});
