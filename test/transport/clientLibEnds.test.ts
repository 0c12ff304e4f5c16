/**
 * Subscriptions and consumers the node ends (a review of the client library, 2026-12-07, each
 * failing on the code before): an end that came in the same read as the subscribe answer was lost,
 * so the subscription looked live for good and a consumer never attached again; and a subscription
 * the node ended kept its delivery handler for the connection's life. A fake client port speaking
 * the real protocol over ws on 127.0.0.1, with batches on (as real nodes answer).
 */
import { expect } from 'chai';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import type { Connection } from '../../transport/client/connection.js';
import { encodeDelivery, encodeResult, encodeSubscriptionEnded } from '../../transport/client/protocol.js';
import { fakeClientPort, registered, until } from './fakeClientPort.js';
import { ClientError, isRetryable, isUnknownOutcome } from '../../transport/client/errors.js';

/** Each wait is for a loopback answer (milliseconds); 10 s bounds a loaded box (until 2026-12-07: 2 s). */
const UNTIL_MS = 10_000;

describe('client library (2026-12-07 review): the node ends a subscription in the read that answers its subscribe', function () {
  this.timeout(20_000);

  it('subscribe: the end is not lost (onError, closed)', async () => {
    const node = await fakeClientPort('review', (req, reply) => {
      if (req.op === 'subscribe') reply(encodeResult(req.reqId, [5]), encodeSubscriptionEnded(5, 'CLIENT_ERR_SUBSCRIBER_OVERFLOW', 'ended at once'));
    });
    const c = createClient({ endpoints: [`127.0.0.1:${node.port}`], clusterId: 'review', operationTimeoutMs: 3000 });
    try {
      const errors: string[] = [];
      const sub = await c.subscribe('t', () => undefined, { onError: (e) => void errors.push(e.code) });
      const told = await until(() => errors.length > 0 || sub.closed, UNTIL_MS);
      expect({ told, errors, closed: sub.closed }).to.deep.equal({ told: true, errors: ['CLIENT_ERR_SUBSCRIBER_OVERFLOW'], closed: true });
    } finally {
      await c.close();
      await node.close();
    }
  });

  it('consume: a consumer the node ended (NOT_LEADER) at once attaches again', async () => {
    let consumes = 0;
    const node = await fakeClientPort('review', (req, reply) => {
      if (req.op !== 'consume') return;
      consumes++;
      // The first attachment is ended in the same read as its answer (leadership moved meanwhile); later ones stay.
      if (consumes === 1) reply(encodeResult(req.reqId, [5]), encodeSubscriptionEnded(5, 'CLIENT_ERR_NOT_LEADER', 'this node is no longer the leader'));
      else reply(encodeResult(req.reqId, [5 + consumes]));
    });
    const c = createClient({ endpoints: [`127.0.0.1:${node.port}`], clusterId: 'review', operationTimeoutMs: 3000 });
    try {
      const errors: string[] = [];
      await c.consume('t', 'g', () => undefined, { onError: (e) => void errors.push(e.code) });
      const reattached = await until(() => consumes >= 2, UNTIL_MS);
      expect({ reattached, consumes, errors }).to.deep.equal({ reattached: true, consumes: 2, errors: ['CLIENT_ERR_NOT_LEADER'] });
    } finally {
      await c.close();
      await node.close();
    }
  });
});

describe('client library (2026-12-07 review): subscriptions ended by the node leave their handlers behind', function () {
  this.timeout(20_000);

  it("the connection's delivery handlers do not grow with subscriptions the node ended", async () => {
    let next = 1;
    const ended: number[] = [];
    const node = await fakeClientPort('review', (req, reply) => {
      if (req.op !== 'subscribe') return;
      const subId = next++;
      reply(encodeResult(req.reqId, [subId]));
      // Ended a moment later, in a read of its own (an overflow, a revoked permission).
      setTimeout(() => {
        ended.push(subId);
        reply(encodeSubscriptionEnded(subId, 'CLIENT_ERR_SUBSCRIBER_OVERFLOW', 'fell behind'));
      }, 5);
    });
    const endpoint = `127.0.0.1:${node.port}`;
    const c: SessionraftClient = createClient({ endpoints: [endpoint], clusterId: 'review', operationTimeoutMs: 3000 });
    try {
      const n = 50;
      for (let k = 0; k < n; k++) {
        const sub = await c.subscribe('t', () => undefined, { onError: () => undefined });
        expect(await until(() => sub.closed, UNTIL_MS), `subscription ${k} ended`).to.equal(true);
      }
      const conn = (c as unknown as { conns: Map<string, Connection> }).conns.get(endpoint)!;
      expect(conn.handlerCount, `handlers kept for ${n} ended subscriptions`).to.equal(0);
    } finally {
      await c.close();
      await node.close();
    }
  });
});

describe('client library (2026-12-07 review): deliveries nobody claims are bounded', function () {
  this.timeout(20_000);

  it('late deliveries of a closed subscription are dropped, and those of a subId never claimed hold at most 8 MiB', async () => {
    let push: ((...frames: Uint8Array[]) => void) | null = null;
    const node = await fakeClientPort('review', (req, reply) => {
      push = reply;
      if (req.op === 'subscribe') reply(encodeResult(req.reqId, [5]));
      if (req.op === 'unsubscribe') reply(encodeResult(req.reqId, []));
    });
    const endpoint = `127.0.0.1:${node.port}`;
    const c = createClient({ endpoints: [endpoint], clusterId: 'review', operationTimeoutMs: 3000 });
    try {
      const sub = await c.subscribe('t', () => undefined);
      await sub.close();
      const conn = (c as unknown as { conns: Map<string, Connection> }).conns.get(endpoint)!;
      const record = new Uint8Array(100 * 1024);
      const delivery = (subId: number, k: number): Uint8Array =>
        encodeDelivery({
          subId,
          topic: 't',
          session: new Uint8Array(16).fill(1),
          records: [record],
          restoreId: new Uint8Array(16).fill(k & 0xff),
          index: k + 1,
        });
      // 50 deliveries that were in flight for the closed subscription (dropped), then 200 of 100 KiB
      // for a subId nobody ever claimed (20 MiB), the last one (index 200) a marker: frames arrive in order.
      for (let k = 0; k < 50; k++) push!(delivery(5, k));
      for (let k = 0; k < 200; k++) push!(delivery(9, k));
      expect(await until(() => conn.unclaimedHeld.newestIndex === 200, 5000), `held ${JSON.stringify(conn.unclaimedHeld)}`).to.equal(true);
      const held = conn.unclaimedHeld;
      expect(held.subIds, 'none of the closed subscription').to.deep.equal([9]);
      expect(held.bytes, `${held.deliveries} deliveries`).to.be.at.most(8 * 1024 * 1024);
      expect(held.deliveries).to.be.below(200);
    } finally {
      await c.close();
      await node.close();
    }
  });
});

describe('client library (2026-12-07 review): a command waiting for a pipelining slot has a deadline', function () {
  this.timeout(20_000);

  it('with one slot and a node that never answers, the third command fails TOO_MANY_IN_FLIGHT (not sent) at its deadline, not an unknown outcome much later', async () => {
    const node = await fakeClientPort('review', (req, reply) => {
      // Registration answers; every command then hangs (no answer ever).
      if (req.op === 'register') reply(registered(req.reqId));
    });
    const timeoutMs = 300;
    const c = createClient({ endpoints: [`127.0.0.1:${node.port}`], clusterId: 'review', operationTimeoutMs: timeoutMs, inflightCommandsMax: 1 });
    try {
      const started = Date.now();
      const outcome = (p: Promise<unknown>): Promise<{ code: string; afterMs: number }> =>
        p.then(
          () => ({ code: 'OK', afterMs: Date.now() - started }),
          (err: unknown) => ({ code: err instanceof ClientError ? err.code : String(err), afterMs: Date.now() - started }),
        );
      const [a, , third] = await Promise.all([outcome(c.createSession('t')), outcome(c.createSession('t')), outcome(c.createSession('t'))]);
      // The first was sent and never answered: an unknown outcome.
      expect(a.code).to.equal('CLIENT_ERR_TIMEOUT');
      // The third never got a slot before its deadline: certainly not applied, safe to send again.
      expect(third.code, JSON.stringify(third)).to.equal('CLIENT_ERR_TOO_MANY_IN_FLIGHT');
      expect(isUnknownOutcome(third.code)).to.equal(false);
      expect(isRetryable(third.code)).to.equal(true);
    } finally {
      await c.close();
      await node.close();
    }
  });
});
