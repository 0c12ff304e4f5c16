/**
 * A replayed dead letter is a new round of deliveries (review of 2026-12-07): an ack or nack of a
 * delivery of the round before the dead letter, arriving late, must change nothing in the new
 * round (DELIVERY_STALE), on every replica and after a snapshot restore. With the
 * `replay-continues` flag on, a replay's deliveries continue the item's numbers (so a late answer
 * names a number of its own round), and it gets maxDeliveries more of them; with it off (a cluster
 * upgraded from an older version), it is delivered from 1 again, as before.
 */
import { expect } from 'chai';
import { CommandKind, FEATURES } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { Dispatcher, type GroupDelivery } from '../../actors/sessions/dispatcher.js';
import { ResultCode } from '../../actors/sessions/errors.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import { Harness } from './helpers.js';

interface Cluster {
  readonly h: Harness;
  readonly d: Dispatcher;
  readonly run: () => void;
  readonly store: SessionsStore;
  readonly fss: MemorySessionFs[];
  readonly gid: Uint8Array;
}

/** Two replicas, a group of maxDeliveries `max` on topic t, one session restored on it. */
function cluster(featuresOn: boolean, max: number): Cluster {
  const fss = [new MemorySessionFs(), new MemorySessionFs()];
  const ss = fss.map((fs) => new SessionsStore({ fs, defer: (fn) => fn() }));
  const h = new Harness(ss, { replayDelaysMs: [1_000], featuresOn });
  const d = new Dispatcher({ store: ss[0]!, clock: () => h.now, isLeader: () => true, submit: (cmd) => void h.planner.submit(cmd, null) });
  const run = (): void => {
    for (let round = 0; round < 200; round++) {
      h.settle();
      if (d.tick() === 0) return;
    }
    throw new Error('dispatcher did not settle');
  };
  const r = h.client({ kind: CommandKind.groupCreate, topic: 't', name: 'g', ackWaitMs: 100, maxDeliveries: max, maxAckPending: 100 });
  expect(r.ok, r.code).to.equal(true);
  h.planner.storeSession(h.createSession('t', ['s0']), 0, {});
  h.settle();
  h.now += 1_001;
  run();
  return { h, d, run, store: ss[0]!, fss, gid: r.value! };
}

/** Consumer `old` gets every delivery of the first round and answers none: the item is dead-lettered, then replayed and delivered to `fresh`. */
function replayed(c: Cluster, max: number): { old: GroupDelivery[]; fresh: GroupDelivery[] } {
  const { h, d, run, store } = c;
  const g = store.groupByName('t', 'g')!;
  const old: GroupDelivery[] = [];
  const a = d.attach(g, 'old', (x) => void old.push(x));
  run();
  for (let k = 0; k < 4 * max && g.items.size > 0; k++) {
    h.now += 101;
    run();
  }
  a.close();
  expect(g.dead.size, 'dead-lettered').to.equal(1);
  expect(h.client({ kind: CommandKind.deadLetterReplay, group: c.gid, restore: old[0]!.restoreId }).code).to.equal(ResultCode.ok);
  const fresh: GroupDelivery[] = [];
  d.attach(g, 'fresh', (x) => void fresh.push(x));
  run();
  expect(fresh, 'the replay delivered').to.have.length(1);
  return { old, fresh };
}

describe('sessions: a replayed dead letter is a new round; answers of the round before change nothing', () => {
  for (const max of [1, 3]) {
    it(`maxDeliveries ${max}: a late nack of the round before is DELIVERY_STALE, the new delivery stays in flight (both replicas, and one restored from a snapshot)`, () => {
      const c = cluster(true, max);
      const { old, fresh } = replayed(c, max);
      expect(old.map((x) => x.delivery)).to.deep.equal(Array.from({ length: max }, (_, k) => k + 1));
      // A replica restored from a snapshot taken in the new round applies the late answers alike.
      c.h.withFollowers([0]);
      const snap = c.h.stores[1]!.snapshot();
      c.fss[1]!.crash();
      const twin = new SessionsStore({ fs: c.fss[1]!, defer: (fn) => fn() });
      twin.restore(c.h.log.meta(c.store.appliedIndex), snap);
      for (const x of old) {
        const nack = c.h.client({ kind: CommandKind.groupNack, group: x.group, restore: x.restoreId, delivery: x.delivery, readyAtMs: c.h.now });
        expect(nack.code, `nack of old delivery ${x.delivery}`).to.equal(ResultCode.deliveryStale);
        const ack = c.h.client({ kind: CommandKind.groupAck, group: x.group, restore: x.restoreId, delivery: x.delivery });
        expect(ack.code, `ack of old delivery ${x.delivery}`).to.equal(ResultCode.deliveryStale);
      }
      const g = c.store.groupByName('t', 'g')!;
      expect(c.store.groupCounts(g)).to.include({ inFlight: 1, ready: 0, deadLetters: 0 });
      // The replay's deliveries continue the numbers: the first of the new round is max + 1.
      expect(fresh[0]!.delivery).to.equal(max + 1);
      // The new round: maxDeliveries more deliveries, then a dead letter again.
      const fresh2: GroupDelivery[] = [...fresh];
      c.d.attach(g, 'fresh', (x) => void fresh2.push(x));
      for (let k = 0; k < 4 * max && g.items.size > 0; k++) {
        c.h.now += 101;
        c.run();
      }
      expect(fresh2.map((x) => x.delivery).filter((n, k, a) => a.indexOf(n) === k)).to.deep.equal(Array.from({ length: max }, (_, k) => max + k + 1));
      expect(c.store.groupCounts(g)).to.include({ deadLetters: 1, deadLettered: 2 });
      const results = twin.apply(c.h.log.slice(twin.appliedIndex));
      expect(results.filter((r) => r !== null && r.code === ResultCode.ok).length).to.be.above(0);
      expect(twin.digest().overall).to.equal(c.store.digest().overall);
    });
  }

  it("a late GroupDeadLetter of the round before (its last delivery) changes nothing in the new round, before and after the new round's first delivery", () => {
    const max = 3;
    const c = cluster(true, max);
    const g = c.store.groupByName('t', 'g')!;
    const old: GroupDelivery[] = [];
    const a = c.d.attach(g, 'old', (x) => void old.push(x));
    c.run();
    for (let k = 0; k < 4 * max && g.items.size > 0; k++) {
      c.h.now += 101;
      c.run();
    }
    a.close();
    expect(g.dead.size, 'dead-lettered').to.equal(1);
    const last = old[old.length - 1]!;
    expect(last.delivery).to.equal(max);
    expect(c.h.client({ kind: CommandKind.deadLetterReplay, group: c.gid, restore: last.restoreId }).code).to.equal(ResultCode.ok);
    // Replayed, not delivered yet: the old round's dead letter (a leader's, late in the log) is stale.
    const lateDead = (): string | undefined => c.h.client({ kind: CommandKind.groupDeadLetter, group: c.gid, restore: last.restoreId, delivery: max }).code;
    expect(lateDead()).to.equal(ResultCode.deliveryStale);
    expect(c.store.groupCounts(g)).to.include({ ready: 1, deadLetters: 0 });
    const fresh: GroupDelivery[] = [];
    const counted = { ...c.d.counters };
    c.d.attach(g, 'fresh', (x) => void fresh.push(x));
    c.run();
    expect(fresh.map((x) => x.delivery)).to.deep.equal([max + 1]);
    // The new round's first delivery is counted as a delivery, not a redelivery.
    expect(c.d.counters.delivered - counted.delivered).to.equal(1);
    expect(c.d.counters.redelivered - counted.redelivered).to.equal(0);
    expect(lateDead()).to.equal(ResultCode.deliveryStale);
    expect(c.store.groupCounts(g)).to.include({ inFlight: 1, deadLetters: 0 });
    c.h.commit();
    expect(c.h.stores[1]!.digest().overall).to.equal(c.store.digest().overall);
  });

  it('the new round is acked by its own delivery numbers (the ack settles and the record is committed)', () => {
    const c = cluster(true, 2);
    const { fresh } = replayed(c, 2);
    c.d.ack(fresh[0]!.group, fresh[0]!.restoreId, fresh[0]!.delivery);
    c.run();
    c.h.commit();
    const g = c.store.groupByName('t', 'g')!;
    expect(c.store.groupCounts(g)).to.include({ inFlight: 0, ready: 0, deadLetters: 0 });
    expect(c.store.dataFiles().every((f) => f.consumed === f.size)).to.equal(true);
    expect(c.h.stores[1]!.digest().overall).to.equal(c.store.digest().overall);
  });

  it('with the flag off (an upgraded cluster) a replay delivers from 1 again, as older nodes apply it; the FeatureEnable turns the new rule on', () => {
    const c = cluster(false, 1);
    const { fresh } = replayed(c, 1);
    expect(fresh[0]!.delivery).to.equal(1);
    expect(c.store.featureOn(FEATURES.replayContinues)).to.equal(false);
    c.h.planner.submit({ kind: CommandKind.featureEnable, features: FEATURES.replayContinues }, null);
    c.h.settle();
    expect(c.h.stores.every((s) => s.featureOn(FEATURES.replayContinues))).to.equal(true);
    // Dead-lettered again (the replayed round's delivery 1 went unanswered), replayed with the flag on: the numbers continue.
    const g = c.store.groupByName('t', 'g')!;
    for (let k = 0; k < 4 && g.items.size > 0; k++) {
      c.h.now += 101;
      c.run();
    }
    expect(g.dead.size).to.equal(1);
    expect(c.h.client({ kind: CommandKind.deadLetterReplay, group: c.gid, restore: fresh[0]!.restoreId }).code).to.equal(ResultCode.ok);
    c.run();
    expect(fresh.map((x) => x.delivery)).to.deep.equal([1, 2]);
    expect(c.h.client({ kind: CommandKind.groupNack, group: c.gid, restore: fresh[0]!.restoreId, delivery: 1, readyAtMs: c.h.now }).code).to.equal(
      ResultCode.deliveryStale,
    );
    c.h.commit();
    expect(c.h.stores[1]!.digest().overall).to.equal(c.store.digest().overall);
  });
});
