/**
 * Consumer-group input from a client that the codec cannot carry is refused at the node with a
 * stable code, before the planner (which asserts that what it proposes decodes). Until 2026-12-07
 * a group name of 65 bytes, an empty topic, maxDeliveries 70,000, a zero restore ID or a nack
 * delay past 2^53 ms came back as CLIENT_ERR_INTERNAL ("a bug in the node") or an unknown outcome
 * (found by a review). An in-process one-node cluster on 127.0.0.1.
 */
import { expect } from 'chai';
import type { SessionraftClient } from '../../transport/client/client.js';
import { encodeRequest, type GroupDeliveryFrame, type RequestBody } from '../../transport/client/protocol.js';
import { NACK_DELAY_MS_MAX } from '../../transport/commands/codec.js';
import { rawPort, useInProcessCluster, waitFor, type ServerFrame } from './helpers.js';

/** A 200 ms replay and a few commit rounds; 5 s covers a loaded machine. */
const SETTLE_MS = 5000;

describe('node: consumer-group input a command cannot carry (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(1, { replayDelaysMs: [200] });
  const client = (): SessionraftClient => suite.client();

  /** The code a rejected call fails with ('resolved' when it did not fail). */
  async function codeOf(p: Promise<unknown>): Promise<string> {
    try {
      await p;
      return 'resolved';
    } catch (err) {
      return String((err as { code?: string }).code);
    }
  }

  it('group names, topics and limits out of range: SESSIONS_ERR_NAME, the topic codes, SESSIONS_ERR_NUMBER_RANGE; nothing created', async () => {
    const c = client();
    const got = {
      ctrlName: await codeOf(c.createGroup('t', 'a\u0007b')),
      emptyName: await codeOf(c.createGroup('t', '')),
      longName: await codeOf(c.createGroup('t', 'x'.repeat(65))),
      ctrlTopic: await codeOf(c.createGroup('a\u0001', 'g')),
      emptyTopic: await codeOf(c.createGroup('', 'g')),
      longTopic: await codeOf(c.createGroup('x'.repeat(5000), 'g')),
      hugeDeliveries: await codeOf(c.createGroup('t', 'g', { maxDeliveries: 70_000 })),
      hugePending: await codeOf(c.createGroup('t', 'g', { maxAckPending: 65_536 })),
      hugeWait: await codeOf(c.createGroup('t', 'g', { ackWaitMs: 2 ** 33 })),
    };
    expect(got).to.deep.equal({
      ctrlName: 'SESSIONS_ERR_NAME',
      emptyName: 'SESSIONS_ERR_NAME',
      longName: 'SESSIONS_ERR_NAME',
      ctrlTopic: 'SESSIONS_ERR_TOPIC_INVALID',
      emptyTopic: 'SESSIONS_ERR_TOPIC_EMPTY',
      longTopic: 'SESSIONS_ERR_TOPIC_TOO_LONG',
      hugeDeliveries: 'SESSIONS_ERR_NUMBER_RANGE',
      hugePending: 'SESSIONS_ERR_NUMBER_RANGE',
      hugeWait: 'SESSIONS_ERR_NUMBER_RANGE',
    });
    expect(await c.groups()).to.deep.equal([]);
    // The limits themselves are fine.
    expect(await codeOf(c.createGroup('t', 'x'.repeat(64), { maxDeliveries: 65_535, maxAckPending: 65_535, ackWaitMs: 2 ** 32 - 1 }))).to.equal('resolved');
  });

  it('a dead letter named by a restore ID that names no log entry: SESSIONS_ERR_ID', async () => {
    const c = client();
    await c.createGroup('dl', 'g');
    expect(await codeOf(c.replayDeadLetter('dl', 'g', new Uint8Array(16)))).to.equal('SESSIONS_ERR_ID');
    expect(await codeOf(c.deleteDeadLetter('dl', 'g', new Uint8Array(16)))).to.equal('SESSIONS_ERR_ID');
  });

  it("a nack's delay past NACK_DELAY_MS_MAX: the library refuses it at consume(), the port with CLIENT_ERR_MALFORMED, and nothing is nacked", async () => {
    const c = client();
    await c.createGroup('nk', 'g', { ackWaitMs: 60_000 });
    expect(await codeOf(c.consume('nk', 'g', () => undefined, { nackDelayMs: NACK_DELAY_MS_MAX + 1 }))).to.equal('CLIENT_ERR_BAD_ARGUMENT');
    const { id } = await c.createSession('nk');
    await c.append(id, 'x');
    await c.store(id, { replay: '200ms' });
    // The port itself, over a raw socket (an older or another library).
    const { ws, frames, answer: answerIn } = await rawPort(suite.cluster.leader()!.clientEndpoint(), SETTLE_MS);
    const answer = (reqId: number): Promise<ServerFrame> => answerIn(reqId, SETTLE_MS);
    try {
      ws.send(encodeRequest({ op: 'consume', topic: 'nk', group: 'g', consumer: 'raw', maxAckPending: 0 }, 1));
      const sub = ((await answer(1)) as { body: readonly unknown[] }).body[0] as number;
      await waitFor('the delivery', () => frames.some((f) => f.kind === 'groupDelivery'), SETTLE_MS);
      const d = frames.find((f): f is GroupDeliveryFrame => f.kind === 'groupDelivery')!;
      ws.send(encodeRequest({ op: 'nack', subId: sub, restoreId: d.restoreId, delivery: 1, delayMs: NACK_DELAY_MS_MAX + 1 }, 2));
      const refused = await answer(2);
      expect(refused.kind === 'error' && refused.code).to.equal('CLIENT_ERR_MALFORMED');
      const g = (await c.groups()).find((x) => x.topic === 'nk')!;
      expect(g).to.include({ inFlight: 1, ready: 0 });
      // At the bound it is taken.
      ws.send(encodeRequest({ op: 'nack', subId: sub, restoreId: d.restoreId, delivery: 1, delayMs: NACK_DELAY_MS_MAX }, 3));
      const taken = await answer(3);
      expect(taken.kind).to.equal('result');
      await waitFor('the item waiting', async () => (await c.groups()).find((x) => x.topic === 'nk')!.inFlight === 0, SETTLE_MS);
    } finally {
      ws.terminate();
    }
  });

  it('an ack, nack or acks naming an attachment this connection had and that ended: CLIENT_ERR_CONSUMER_ENDED; a subId never given or a live subscription: CLIENT_ERR_MALFORMED', async () => {
    const c = client();
    await c.createGroup('ended', 'g');
    const { ws, answer: answerIn } = await rawPort(suite.cluster.leader()!.clientEndpoint(), SETTLE_MS);
    const answer = (reqId: number): Promise<ServerFrame> => answerIn(reqId, SETTLE_MS);
    const codeOfFrame = async (reqId: number): Promise<string> => {
      const f = await answer(reqId);
      return f.kind === 'error' ? f.code : f.kind;
    };
    try {
      ws.send(encodeRequest({ op: 'consume', topic: 'ended', group: 'g', consumer: 'raw', maxAckPending: 0 }, 1));
      const consumer = ((await answer(1)) as { body: readonly unknown[] }).body[0] as number;
      ws.send(encodeRequest({ op: 'subscribe', topic: 'ended' }, 2));
      const subscription = ((await answer(2)) as { body: readonly unknown[] }).body[0] as number;
      ws.send(encodeRequest({ op: 'unsubscribe', subId: consumer }, 3));
      await answer(3);
      const restoreId = new Uint8Array(16);
      restoreId[7] = 1;
      restoreId[15] = 9;
      const ack = (subId: number): RequestBody => ({ op: 'ack', subId, restoreId, delivery: 1 });
      ws.send(encodeRequest(ack(consumer), 4));
      ws.send(encodeRequest({ op: 'nack', subId: consumer, restoreId, delivery: 1, delayMs: 0 }, 5));
      ws.send(encodeRequest({ op: 'acks', subId: consumer, acks: [{ restoreId, delivery: 1 }] }, 6));
      ws.send(encodeRequest(ack(subscription), 7));
      ws.send(encodeRequest(ack(999), 8));
      expect([await codeOfFrame(4), await codeOfFrame(5), await codeOfFrame(6), await codeOfFrame(7), await codeOfFrame(8)]).to.deep.equal([
        'CLIENT_ERR_CONSUMER_ENDED',
        'CLIENT_ERR_CONSUMER_ENDED',
        'CLIENT_ERR_CONSUMER_ENDED',
        'CLIENT_ERR_MALFORMED',
        'CLIENT_ERR_MALFORMED',
      ]);
    } finally {
      ws.terminate();
    }
  });
});
