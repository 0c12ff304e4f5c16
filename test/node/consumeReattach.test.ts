/**
 * A consumer whose work outlives its attachment (a leader change: the library attaches to the new
 * leader): the item stays its to acknowledge until the delivery's deadline, and the library acks
 * it through the new attachment. Until 2026-12-07 the library dropped that ack, and a last allowed
 * delivery was dead-lettered as soon as the consumer attached again (found by a review). A 3-node
 * in-process cluster on 127.0.0.1 over real sockets.
 */
import { expect } from 'chai';
import type { SessionraftClient } from '../../transport/client/client.js';
import { useInProcessCluster, waitFor } from './helpers.js';

/** A 200 ms replay, an election (100-200 ms timeouts) and a few commit rounds; 10 s covers a loaded machine. */
const SETTLE_MS = 10_000;

describe('node: work finished after the consumer attached again (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(3, { replayDelaysMs: [200] });

  it('its last allowed delivery is acknowledged through the new attachment, long before ackWaitMs, and is no dead letter', async () => {
    const c: SessionraftClient = suite.client();
    // One delivery allowed, a minute to ack it: only a dead letter at once, or the ack, ends it early.
    await c.createGroup('late', 'g', { ackWaitMs: 60_000, maxDeliveries: 1 });
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
      { onAnswer: (_m, ack, o) => void answers.push(`${ack ? 'ack' : 'nack'} ${'code' in o ? String(o.code) : 'error'}`) },
    );
    try {
      const { id } = await c.createSession('late');
      await c.append(id, 'work');
      await c.store(id, { replay: '200ms' });
      await waitFor('delivery 1 in the handler', () => handled.length === 1, SETTLE_MS);
      const oldLeader = suite.cluster.leader()!;
      await oldLeader.stop({ transfer: false });
      await waitFor('a new leader', () => suite.cluster.leader() !== null && suite.cluster.leader() !== oldLeader, SETTLE_MS);
      const newLeader = suite.cluster.leader()!;
      const counts = (): { inFlight: number; deadLetters: number } => {
        const g = newLeader.node.store.groupByName('late', 'g')!;
        return newLeader.node.store.groupCounts(g);
      };
      // The library attaches to the new leader; the item stays in flight (no dead letter, no delivery 2).
      await waitFor('the consumer attached to the new leader', () => newLeader.node.dispatcher.attached() > 0, SETTLE_MS);
      expect(counts()).to.include({ inFlight: 1, deadLetters: 0 });
      release();
      await waitFor('the ack of delivery 1 applied', () => counts().inFlight === 0, SETTLE_MS);
      expect(counts().deadLetters).to.equal(0);
      expect(handled).to.deep.equal([1]);
      expect(answers).to.deep.equal(['ack OK']);
    } finally {
      await consumer.close();
    }
  });
});
