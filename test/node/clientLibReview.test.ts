/**
 * What a review of the client library's promises under failure found (2026-12-07), each failing on
 * the code before: a consumer or a subscription closed by the user while the library attached it
 * again stayed attached on the node (a consumer's deliveries then sat in flight, unhandled, until
 * their deadlines); client.close() left consumers open, and an answer a handler gave after it was
 * never told. In-process clusters on 127.0.0.1; every wait is for a condition, bounded.
 */
import { expect } from 'chai';
import type { ClientServer } from '../../transport/client/server.js';
import type { NodeHost } from '../../actors/host/nodeHost.js';
import { createClient, type ClientConsumer, type ClientSubscription } from '../../transport/client/client.js';
import { useInProcessCluster, waitFor } from './helpers.js';

const SETTLE_MS = 10_000;

/** The client-port subscriptions (plain and consumers) open on a node. */
function portSubs(h: NodeHost): number {
  return (h as unknown as { clientServer: ClientServer }).clientServer.stats().subscriptions;
}

/** Resolves true once `cond` holds, false when `ms` pass first (a bounded wait, no sleep). */
async function becomes(cond: () => boolean, ms: number): Promise<boolean> {
  try {
    await waitFor('condition', () => cond() || null, ms);
    return true;
  } catch {
    return false;
  }
}

describe('client library (2026-12-07 review): consumer.close() while the library attaches it again', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(3, { replayDelaysMs: [200] });

  it('a consumer closed by the user during its reattach is not attached on the new leader', async () => {
    const c = suite.client();
    await c.createGroup('zombie', 'g', { ackWaitMs: 60_000 });
    let consumer: ClientConsumer | null = null;
    let closing: Promise<void> | null = null;
    const handled: string[] = [];
    consumer = await c.consume('zombie', 'g', (m) => void handled.push(m.session), {
      // The library says it moves the consumer; the application closes it (shutting down, say).
      onError: () => {
        closing ??= consumer!.close();
      },
    });
    const oldLeader = suite.cluster.leader()!;
    await waitFor('attached on the leader', () => oldLeader.node.dispatcher.attached() === 1 || null, SETTLE_MS);
    await oldLeader.stop({ transfer: false });
    await waitFor('close() called from onError', () => closing !== null || null, SETTLE_MS);
    await closing;
    expect(consumer.closed).to.equal(true);
    await waitFor('a new leader', () => (suite.cluster.leader() !== null && suite.cluster.leader() !== oldLeader) || null, SETTLE_MS);
    const newLeader = suite.cluster.leader()!;
    // The cluster answers this client now (its reattach loop, if any, has a leader to find).
    await c.createSession('other');
    // Attached at some point (the reattach that was under way) and still attached 3 s later: not a moment's overlap.
    const zombie =
      (await becomes(() => newLeader.node.dispatcher.attached() > 0, 3000)) && !(await becomes(() => newLeader.node.dispatcher.attached() === 0, 3000));
    if (zombie) {
      // What that costs: a session restored now is delivered to the closed consumer and sits in flight, unhandled.
      const { id } = await c.createSession('zombie');
      await c.append(id, 'x');
      await c.store(id, { replay: '200ms' });
      const g = newLeader.node.store.groupByName('zombie', 'g')!;
      await waitFor('delivered', () => newLeader.node.store.groupCounts(g).inFlight === 1 || null, SETTLE_MS);
      expect.fail(
        `the closed consumer is attached on the new leader (attached ${newLeader.node.dispatcher.attached()}); ` +
          `a restored session went in flight to it (inFlight ${newLeader.node.store.groupCounts(g).inFlight}), handler calls ${handled.length}`,
      );
    }
  });
});

describe('client library (2026-12-07 review): subscription.close() while the library subscribes it again', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(3, { replayDelaysMs: [200] });

  it('a subscription closed during its resubscribe leaves nothing open on the node', async () => {
    const leader = suite.cluster.leader()!;
    const followers = suite.cluster.hosts.filter((h) => h !== leader);
    const [f1, f2] = [followers[0]!, followers[1]!];
    const c = createClient({ endpoints: [f1.clientEndpoint(), f2.clientEndpoint()], clusterId: 'test' });
    try {
      let sub: ClientSubscription | null = null;
      let closing: Promise<void> | null = null;
      sub = await c.subscribe('moved', () => undefined, {
        onError: () => {
          closing ??= sub!.close();
        },
      });
      expect(sub.endpoint).to.equal(f1.clientEndpoint());
      expect(portSubs(f2)).to.equal(0);
      await f1.stop({ transfer: false });
      await waitFor('close() called from onError', () => closing !== null || null, SETTLE_MS);
      await closing;
      expect(sub.closed).to.equal(true);
      // Open at some point (the resubscribe under way) and still open 3 s later: not a moment's overlap.
      const leaked = (await becomes(() => portSubs(f2) > 0, 3000)) && !(await becomes(() => portSubs(f2) === 0, 3000));
      expect(leaked, `a subscription the user closed is open on ${f2.id} (${portSubs(f2)})`).to.equal(false);
    } finally {
      await c.close();
    }
  });
});

describe('client library (2026-12-07 review): client.close() with a consumer handler running', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(1, { replayDelaysMs: [200] });

  it('the answer of a handler that finishes after client.close() is reported (onAnswer), and the consumer reads closed', async () => {
    const c = createClient({ endpoints: suite.cluster.endpoints(), clusterId: 'test' });
    await c.createGroup('late', 'g', { ackWaitMs: 60_000 });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const handled: number[] = [];
    const answers: string[] = [];
    const consumer = await c.consume(
      'late',
      'g',
      async (m) => {
        handled.push(m.delivery);
        await gate;
      },
      { onAnswer: (_m, ack, o) => void answers.push(`${ack ? 'ack' : 'nack'} ${'code' in o ? o.code : String(o)}`) },
    );
    const { id } = await c.createSession('late');
    await c.append(id, 'w');
    await c.store(id, { replay: '200ms' });
    await waitFor('delivery 1 in the handler', () => handled.length === 1 || null, SETTLE_MS);
    await c.close();
    release();
    const told = await becomes(() => answers.length > 0, 3000);
    expect({ told, answers, consumerClosed: consumer.closed }).to.deep.equal({ told: true, answers: [`ack CLIENT_ERR_CLOSED`], consumerClosed: true });
  });
});
