/**
 * An ack or nack that reached the node after it ended the consumer's attachment (it crossed the
 * end on the wire) is refused with CLIENT_ERR_CONSUMER_ENDED, nothing taken, and the client library
 * sends it again through the consumer's next attachment, never through the ended one. Until
 * 2026-12-07 the node answered CLIENT_ERR_MALFORMED and the library reported it as final, so the
 * work was done and the item came back at its deadline (or became a dead letter). A fake client
 * port speaking the real protocol over ws on 127.0.0.1.
 */
import { expect } from 'chai';
import { createClient } from '../../transport/client/client.js';
import { ClientErrorCode } from '../../transport/client/errors.js';
import { encodeCommandResult, encodeError, encodeGroupDelivery, encodeResult, encodeSubscriptionEnded } from '../../transport/client/protocol.js';
import { fakeClientPort, until } from './fakeClientPort.js';

/** Each wait is for a loopback answer (milliseconds); 10 s bounds a loaded box (until 2026-12-07: 2 s). */
const UNTIL_MS = 10_000;

describe('client library: an answer refused with CLIENT_ERR_CONSUMER_ENDED (2026-12-07)', function () {
  this.timeout(20_000);

  it('waits for the next attachment (not the ended one, whose end is still on its way) and goes through it', async () => {
    let consumes = 0;
    /** Each ack or nack as `op subId delivery`, in arrival order. */
    const answers: string[] = [];
    const node = await fakeClientPort('ended', (req, reply) => {
      if (req.op === 'consume') {
        consumes++;
        const subId = 4 + consumes;
        reply(encodeResult(req.reqId, [subId]));
        if (consumes > 1) return;
        // Two deliveries on the first attachment: the handler acks the first and throws on the second.
        for (const delivery of [1, 2]) {
          reply(
            encodeGroupDelivery({
              subId,
              topic: 't',
              session: new Uint8Array(16).fill(delivery),
              records: [new Uint8Array([delivery])],
              restoreId: new Uint8Array(16).fill(delivery),
              delivery,
            }),
          );
        }
        return;
      }
      if (req.op !== 'ack' && req.op !== 'nack') return;
      answers.push(`${req.op} ${req.subId} ${req.delivery}`);
      // The first attachment has ended at the node; its end frame comes after both refusals, so
      // the library reads each refusal while it still holds that attachment.
      if (req.subId === 5) {
        reply(encodeError(req.reqId, ClientErrorCode.consumerEnded, 'consumer 5 of this connection has ended; nothing taken'));
        if (answers.length === 2) reply(encodeSubscriptionEnded(5, 'CLIENT_ERR_NOT_LEADER', 'this node is no longer the leader'));
        return;
      }
      reply(encodeCommandResult(req.reqId, { ok: true, code: 'OK', value: null, index: 9, term: 1, duplicate: false }));
    });
    const c = createClient({ endpoints: [`127.0.0.1:${node.port}`], clusterId: 'ended', operationTimeoutMs: 3000, batches: false });
    try {
      const told: string[] = [];
      await c.consume(
        't',
        'g',
        (m) => {
          if (m.delivery === 2) throw new Error('give it back');
        },
        { onAnswer: (m, ack, o) => void told.push(`${ack ? 'ack' : 'nack'} ${m.delivery} ${'code' in o ? String(o.code) : 'error'}`) },
      );
      expect(await until(() => told.length === 2, UNTIL_MS), 'both answers reported').to.equal(true);
      // Refused on the ended attachment, never sent on it again, and taken through the next one.
      expect(consumes).to.equal(2);
      expect(answers.slice(0, 2).sort()).to.deep.equal(['ack 5 1', 'nack 5 2']);
      expect(answers.slice(2).sort()).to.deep.equal(['ack 6 1', 'nack 6 2']);
      expect(told.sort()).to.deep.equal(['ack 1 OK', 'nack 2 OK']);
    } finally {
      await c.close();
      await node.close();
    }
  });
});

describe('client library: an answer waiting out a BUSY backoff when its consumer closes (2026-12-07)', function () {
  this.timeout(20_000);

  it('is reported as not sent at the close, its timer cleared, and never sent after it', async () => {
    let acks = 0;
    const node = await fakeClientPort('busy', (req, reply) => {
      if (req.op === 'consume') {
        reply(encodeResult(req.reqId, [5]));
        reply(
          encodeGroupDelivery({
            subId: 5,
            topic: 't',
            session: new Uint8Array(16).fill(1),
            records: [new Uint8Array([1])],
            restoreId: new Uint8Array(16).fill(1),
            delivery: 1,
          }),
        );
        return;
      }
      if (req.op !== 'ack') return;
      acks++;
      reply(encodeError(req.reqId, ClientErrorCode.busy, 'a leadership transfer is in progress'));
    });
    // A long backoff: the answer is still waiting when the consumer closes.
    const c = createClient({
      endpoints: [`127.0.0.1:${node.port}`],
      clusterId: 'busy',
      operationTimeoutMs: 15_000,
      backoffMsMin: 5_000,
      backoffMsMax: 5_000,
      batches: false,
    });
    try {
      const told: string[] = [];
      const consumer = await c.consume('t', 'g', () => undefined, { onAnswer: (_m, _ack, o) => void told.push('code' in o ? String(o.code) : 'error') });
      expect(await until(() => acks === 1, UNTIL_MS), 'the ack sent and refused BUSY').to.equal(true);
      expect(told, 'not reported while it waits').to.deep.equal([]);
      await consumer.close();
      expect(told).to.deep.equal([ClientErrorCode.closed]);
      expect(acks, 'not sent again after the close').to.equal(1);
    } finally {
      await c.close();
      await node.close();
    }
  });
});

describe('client library: an answer refused NOT_LEADER on an attachment whose end never comes (2026-12-07)', function () {
  this.timeout(20_000);

  it('ends that attachment itself after requestTimeoutMs, attaches again and sends the answer through the new one', async () => {
    let consumes = 0;
    const unsubscribed: number[] = [];
    /** Each ack as `subId delivery`, in arrival order. */
    const acks: string[] = [];
    const node = await fakeClientPort('overdue', (req, reply) => {
      if (req.op === 'consume') {
        consumes++;
        reply(encodeResult(req.reqId, [4 + consumes]));
        if (consumes > 1) return;
        reply(
          encodeGroupDelivery({
            subId: 5,
            topic: 't',
            session: new Uint8Array(16).fill(1),
            records: [new Uint8Array([1])],
            restoreId: new Uint8Array(16).fill(1),
            delivery: 1,
          }),
        );
        return;
      }
      if (req.op === 'unsubscribe') {
        unsubscribed.push(req.subId);
        reply(encodeResult(req.reqId, []));
        return;
      }
      if (req.op !== 'ack') return;
      acks.push(`${req.subId} ${req.delivery}`);
      // The node says it no longer leads, and never ends attachment 5 (the fault this guards against).
      if (req.subId === 5) return reply(encodeError(req.reqId, ClientErrorCode.notLeader, 'this node is no longer the leader'));
      reply(encodeCommandResult(req.reqId, { ok: true, code: 'OK', value: null, index: 9, term: 2, duplicate: false }));
    });
    const c = createClient({ endpoints: [`127.0.0.1:${node.port}`], clusterId: 'overdue', operationTimeoutMs: 5000, requestTimeoutMs: 300, batches: false });
    try {
      const told: string[] = [];
      const errors: string[] = [];
      await c.consume('t', 'g', () => undefined, {
        onAnswer: (_m, _ack, o) => void told.push('code' in o ? String(o.code) : 'error'),
        onError: (e) => void errors.push(e.code),
      });
      // 300 ms until the library gives up waiting for the end, then a consume round trip and the
      // ack on loopback: 5 s bounds a slow machine.
      expect(await until(() => told.length === 1, 5000), 'the ack reported').to.equal(true);
      expect(told).to.deep.equal(['OK']);
      expect(acks).to.deep.equal(['5 1', '6 1']);
      expect(consumes).to.equal(2);
      expect(errors).to.deep.equal([ClientErrorCode.consumerEnded]);
      expect(await until(() => unsubscribed.includes(5), 2000), 'attachment 5 ended by the library').to.equal(true);
    } finally {
      await c.close();
      await node.close();
    }
  });
});
