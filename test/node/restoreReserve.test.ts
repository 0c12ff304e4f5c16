/**
 * Sessions that come due while no consumer runs wait for one without locking producers out
 * (storeLimits.restoreReservePercent, 2026-12-07). Restored sessions are active until a consumer is
 * done with them; before, restores filled the whole active table, and from then on every new
 * session was refused with SESSIONS_ERR_TOO_MANY_SESSIONS: 100,000 items due during a consumer
 * outage stopped every producer (the delayed benchmark's backlog row). Now restores stop at 90 % of
 * activeSessionsMax, due records past that wait in their data file, producers go on scheduling,
 * and a consumer that comes back gets every item, each once. An in-process 3-node cluster on
 * 127.0.0.1 with room for 20 active sessions.
 */
import { expect } from 'chai';
import type { ClientConsumer } from '../../transport/client/client.js';
import { useInProcessCluster, waitFor } from './helpers.js';

/** A 200 ms replay class, a tick (10 ms) and a few commit rounds per step; 10 s covers a loaded machine. */
const SETTLE_MS = 10_000;

describe('node: sessions due with no consumer leave room for producers (restoreReservePercent, 2026-12-07)', function () {
  this.timeout(60_000);
  // Room for 20 active sessions: restores may take 18, the last 2 are the clients'.
  const suite = useInProcessCluster(3, { storeLimits: { activeSessionsMax: 20 } });

  it('30 items due with no consumer: 18 restored, the rest wait on disk; schedules still succeed; a late consumer gets every item once', async () => {
    const c = suite.client();
    await c.createGroup('backlog', 'g');
    const ids: string[] = [];
    // Class 0 is 200 ms: the first ones come due while the rest are scheduled.
    for (let k = 0; k < 30; k++) ids.push((await c.schedule('backlog', `item ${k}`, { replay: 0 })).id);
    const active = (): number | null => suite.cluster.leader()?.node.store.stats().activeSessions ?? null;
    await waitFor('18 sessions restored and waiting for a consumer', () => active() === 18 || null, SETTLE_MS);
    const held = suite.cluster.leader()!.node.store.stats();
    expect(held.activeSessions, 'restores stopped at the reserve').to.equal(18);

    // Before the reserve this was SESSIONS_ERR_TOO_MANY_SESSIONS (so were the loop's last ten).
    ids.push((await c.schedule('backlog', 'after the backlog', { replay: 0 })).id);
    const { id: plain } = await c.createSession('elsewhere');
    await c.destroy(plain);

    const got = new Map<string, number>();
    let consumer: ClientConsumer | null = null;
    try {
      consumer = await c.consume('backlog', 'g', (m) => void got.set(m.session, (got.get(m.session) ?? 0) + 1), { consumer: 'late', removeOnAck: true });
      await waitFor(`all ${ids.length} items delivered to the late consumer`, () => ids.every((id) => got.has(id)) || null, SETTLE_MS);
    } finally {
      await consumer?.close();
    }
    expect(got.size, 'nothing beyond the scheduled items').to.equal(ids.length);
    expect(
      [...got.entries()].filter(([, n]) => n !== 1),
      'each delivered once',
    ).to.deep.equal([]);
    // Every item acknowledged and removed: the table is empty again on every node.
    await waitFor(
      'every restored session removed on every node',
      () => suite.cluster.hosts.every((h) => h.node.store.stats().activeSessions === 0) || null,
      SETTLE_MS,
    );
  });
});
