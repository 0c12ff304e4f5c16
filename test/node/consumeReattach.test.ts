/**
 * A consumer whose work outlives its attachment (a leader change: the library attaches to the new
 * leader): the item stays its to acknowledge until the delivery's deadline, and the library acks
 * it through the new attachment. Until 2026-12-07 the library dropped that ack, and a last allowed
 * delivery was dead-lettered as soon as the consumer attached again (found by a review). A 3-node
 * in-process cluster on 127.0.0.1 over real sockets.
 */
import { expect } from 'chai';
import type { ClientConsumer, SessionraftClient } from '../../transport/client/client.js';
import { useInProcessCluster, waitFor } from './helpers.js';

/** A 200 ms replay, an election (100-200 ms timeouts) and a few commit rounds; 10 s covers a loaded machine. */
const SETTLE_MS = 10_000;

/** A consumer of `topic`'s group g (ackWaitMs a minute, one delivery allowed) whose handler waits for `release`. */
interface Gated {
  readonly consumer: ClientConsumer;
  readonly handled: number[];
  readonly answers: string[];
  readonly errors: string[];
  release(): void;
}

/**
 * Creates the group, attaches the gated consumer, schedules `sessions` sessions on `topic` and
 * waits until the delivery 1 of each is in the handler. One delivery allowed and a minute to ack
 * it: only a dead letter at once, or the ack, ends it early.
 */
async function gatedDelivery(c: SessionraftClient, topic: string, sessions = 1): Promise<Gated> {
  await c.createGroup(topic, 'g', { ackWaitMs: 60_000, maxDeliveries: 1 });
  let release: () => void = () => undefined;
  const gate = new Promise<void>((r) => (release = r));
  const handled: number[] = [];
  const answers: string[] = [];
  const errors: string[] = [];
  const consumer = await c.consume(
    topic,
    'g',
    async (m) => {
      handled.push(m.delivery);
      await gate;
    },
    {
      onAnswer: (_m, ack, o) => void answers.push(`${ack ? 'ack' : 'nack'} ${'code' in o ? String(o.code) : 'error'}`),
      onError: (e) => void errors.push(e.code),
    },
  );
  for (let k = 0; k < sessions; k++) {
    const { id } = await c.createSession(topic);
    await c.append(id, 'work');
    await c.store(id, { replay: '200ms' });
  }
  await waitFor('delivery 1 in the handler', () => handled.length === sessions, SETTLE_MS);
  return { consumer, handled, answers, errors, release: () => release() };
}

describe('node: work finished after the consumer attached again (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(3, { replayDelaysMs: [200] });

  it('its last allowed delivery is acknowledged through the new attachment, long before ackWaitMs, and is no dead letter', async () => {
    const { consumer, handled, answers, release } = await gatedDelivery(suite.client(), 'late');
    try {
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

describe('node: work finished while the consumer had no attachment (2026-12-07)', function () {
  this.timeout(60_000);
  // A cluster of its own: the test stops its leader (two of three stay, a quorum).
  const suite = useInProcessCluster(3, { replayDelaysMs: [200] });

  it('is acknowledged once the consumer attaches again', async () => {
    const { consumer, answers, release } = await gatedDelivery(suite.client(), 'parked');
    try {
      const oldLeader = suite.cluster.leader()!;
      await oldLeader.stop({ transfer: false });
      // The handler finishes at once, before any new leader exists to attach to.
      release();
      await waitFor('a new leader', () => suite.cluster.leader() !== null && suite.cluster.leader() !== oldLeader, SETTLE_MS);
      // The answer waits for the attachment to the new leader (behind its read barrier, so that
      // leader has applied the delivery by then), and the ack is applied before it comes.
      await waitFor('the answer', () => answers.length > 0, SETTLE_MS);
      expect(answers).to.deep.equal(['ack OK']);
      const newLeader = suite.cluster.leader()!;
      expect(newLeader.node.store.groupCounts(newLeader.node.store.groupByName('parked', 'g')!)).to.include({ inFlight: 0, deadLetters: 0 });
    } finally {
      await consumer.close();
    }
  });
});

describe('node: a consumer ended by its node and attached again over the same connection (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(1, { replayDelaysMs: [200] });

  it('acknowledges through the new subscription, not the ended one', async () => {
    const { consumer, answers, errors, release } = await gatedDelivery(suite.client(), 'same');
    try {
      const leader = suite.cluster.leader()!;
      // As when the node loses leadership and wins it again: its consumers end (NOT_LEADER), the
      // connection stays, and the library attaches again over it with a new subscription.
      leader.node.dispatcher.reset(false);
      await waitFor('the consumer ended', () => errors.length > 0, SETTLE_MS);
      await waitFor('attached again', () => leader.node.dispatcher.attached() > 0, SETTLE_MS);
      release();
      await waitFor('the answer', () => answers.length > 0, SETTLE_MS);
      // Before the fix: the old subscription's ID, CLIENT_ERR_MALFORMED, and a dead letter at the deadline.
      expect(answers).to.deep.equal(['ack OK']);
      const g = leader.node.store.groupByName('same', 'g')!;
      expect(leader.node.store.groupCounts(g)).to.include({ inFlight: 0, deadLetters: 0 });
    } finally {
      await consumer.close();
    }
  });
});

describe('node: acks that crossed the end of their attachment (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(1, { replayDelaysMs: [200] });

  // The node ends the consumer in the turn in which its handlers finish: the library sends their
  // acks on the attachment it still holds, and they reach the node after it ended it. Before the
  // fix the node answered CLIENT_ERR_MALFORMED ("no consumer N"), as if the client had sent
  // garbage, and the items stayed in flight until their deadlines (then dead letters).
  for (const sessions of [1, 3]) {
    it(`${sessions === 1 ? 'a lone ack' : 'an acks request'} is refused with CLIENT_ERR_CONSUMER_ENDED and sent again through the new attachment`, async () => {
      const topic = `crossed-${sessions}`;
      const { consumer, answers, errors, release } = await gatedDelivery(suite.client(), topic, sessions);
      try {
        const leader = suite.cluster.leader()!;
        // Same turn: the handlers' continuations (and so the acks) run after the end is written.
        release();
        leader.node.dispatcher.reset(false);
        await waitFor('every answer', () => answers.length === sessions, SETTLE_MS);
        expect(errors).to.have.length(1);
        expect(answers).to.deep.equal(new Array<string>(sessions).fill('ack OK'));
        const g = leader.node.store.groupByName(topic, 'g')!;
        expect(leader.node.store.groupCounts(g)).to.include({ inFlight: 0, deadLetters: 0 });
      } finally {
        await consumer.close();
      }
    });
  }
});

// A graceful stop of the leader (a rolling upgrade, Ctrl-C on `npm start`) drains its client port
// first, then hands leadership over, and only then are its consumers ended: the acks of work that
// finishes in between are answered CLIENT_ERR_UNAVAILABLE ("use another endpoint"), not taken.
// Before the fix the library reported that as final: the work was done, yet the item stayed in
// flight, to be dead-lettered at its deadline on its last allowed delivery (or delivered again).
for (const sessions of [1, 3]) {
  describe(`node: ${sessions === 1 ? 'an ack' : 'acks'} sent while the leader stops gracefully (2026-12-07)`, function () {
    this.timeout(60_000);
    // A cluster of its own: the test stops its leader (two of three stay, a quorum).
    const suite = useInProcessCluster(3, { replayDelaysMs: [200] });

    it('go again through the attachment to the new leader and settle the items', async () => {
      const topic = `drained-${sessions}`;
      const { consumer, answers, release } = await gatedDelivery(suite.client(), topic, sessions);
      try {
        const oldLeader = suite.cluster.leader()!;
        // Same turn: the port drains at once, so the acks the handlers make next reach a draining node.
        const stopped = oldLeader.stop({ transfer: true });
        release();
        await stopped;
        await waitFor('every answer', () => answers.length === sessions, SETTLE_MS);
        expect(answers).to.deep.equal(new Array<string>(sessions).fill('ack OK'));
        const newLeader = suite.cluster.leader()!;
        expect(newLeader).to.not.equal(oldLeader);
        const g = newLeader.node.store.groupByName(topic, 'g')!;
        expect(newLeader.node.store.groupCounts(g)).to.include({ inFlight: 0, deadLetters: 0 });
      } finally {
        await consumer.close();
      }
    });
  });
}

// A leadership transfer in progress (`member remove` of the leader, a graceful stop, an operator's
// transfer) refuses every proposal with CLIENT_ERR_BUSY, nothing taken, until it completes or times
// out (an election timeout). Before the fix the library reported an ack so refused as final: the
// work was done, yet the item stayed in flight until its deadline (a dead letter on its last
// allowed delivery). Here the transfer goes to a follower that is down, so it times out and the
// leader keeps leading: the ack must go again, after a short backoff, on the same attachment.
for (const sessions of [1, 3]) {
  describe(`node: ${sessions === 1 ? 'an ack' : 'acks'} refused BUSY during a leadership transfer (2026-12-07)`, function () {
    this.timeout(60_000);
    const suite = useInProcessCluster(3, { replayDelaysMs: [200] });

    it('go again after a backoff and settle the items', async () => {
      const topic = `busy-${sessions}`;
      const { consumer, answers, release } = await gatedDelivery(suite.client(), topic, sessions);
      try {
        const leader = suite.cluster.leader()!;
        const follower = suite.cluster.hosts.find((h) => h !== leader)!;
        await follower.stop({ transfer: false });
        // Same turn: the acks the handlers make next reach a leader whose transfer is in progress.
        leader.node.raft.transferLeadership(follower.id);
        release();
        await waitFor('every answer', () => answers.length === sessions, SETTLE_MS);
        expect(answers).to.deep.equal(new Array<string>(sessions).fill('ack OK'));
        expect(suite.cluster.leader()).to.equal(leader);
        const g = leader.node.store.groupByName(topic, 'g')!;
        expect(leader.node.store.groupCounts(g)).to.include({ inFlight: 0, deadLetters: 0 });
      } finally {
        await consumer.close();
      }
    });
  });
}

// docs/operations.md, "Error codes": GROUP_DELETED reaches the consumer's onError, the library
// attaches again, and with no group of that name the consumer ends for good (GROUP_UNKNOWN).
describe('node: a consumer whose group is deleted (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(1, { replayDelaysMs: [200] });

  it('gets GROUP_DELETED, then ends for good with SESSIONS_ERR_GROUP_UNKNOWN', async () => {
    const c = suite.client();
    await c.createGroup('deleted', 'g');
    const errors: string[] = [];
    await c.consume('deleted', 'g', () => undefined, { onError: (e) => void errors.push(e.code) });
    await c.deleteGroup('deleted', 'g');
    await waitFor('the consumer ended for good', () => errors.length === 2, SETTLE_MS);
    expect(errors).to.deep.equal(['GROUP_DELETED', 'SESSIONS_ERR_GROUP_UNKNOWN']);
  });
});
