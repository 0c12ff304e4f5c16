/**
 * Remove on ack across restores (flag remove-own-restore, 2026-12-07). A session restored (R1) and
 * delivered, then stored and restored again (R2), is active from R2. A removing ack of R1 (late: its
 * handler finished after the session was stored again) settles R1's item; it must not remove the
 * session R2 made active while R2's delivery is in flight. Before the flag it did: an active session
 * did not record which restore made it active. Two replicas, and a third restored from a snapshot
 * taken while R2 was in flight, apply the same entries alike.
 */
import { expect } from 'chai';
import { Dispatcher, type GroupDelivery } from '../../actors/sessions/dispatcher.js';
import { ResultCode } from '../../actors/sessions/errors.js';
import { decodeManifest } from '../../actors/sessions/manifest.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import { CommandKind, FEATURES, FEATURES_KNOWN } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { Harness } from './helpers.js';

interface Twice {
  readonly h: Harness;
  readonly fss: MemorySessionFs[];
  readonly session: Uint8Array;
  /** R1's delivery, then R2's. */
  readonly got: GroupDelivery[];
}

/** Two replicas; a group on `orders`; one session restored (R1, delivered), stored again and restored again (R2, delivered). */
function restoredTwice(flags: number): Twice {
  const fss = [new MemorySessionFs(), new MemorySessionFs()];
  const stores = fss.map((fs) => new SessionsStore({ fs, defer: (fn) => fn() }));
  const h = new Harness(stores, { replayDelaysMs: [1_000] });
  if (flags !== 0) expect(h.client({ kind: CommandKind.featureEnable, features: flags }).ok).to.equal(true);
  const d = new Dispatcher({ store: stores[0]!, clock: () => h.now, isLeader: () => true, submit: (cmd) => void h.planner.submit(cmd, null) });
  const run = (): void => {
    for (let round = 0; round < 200; round++) {
      h.settle();
      if (d.tick() === 0) return;
    }
    throw new Error('dispatcher did not settle in 200 rounds');
  };
  const r = h.client({ kind: CommandKind.groupCreate, topic: 'orders', name: 'billing', ackWaitMs: 30_000, maxDeliveries: 5, maxAckPending: 100 });
  expect(r.ok, r.code).to.equal(true);
  const session = h.createSession('orders', ['one']);
  const got: GroupDelivery[] = [];
  d.attach(stores[0]!.groupByName('orders', 'billing')!, 'c1', (x) => void got.push(x));
  h.planner.storeSession(session, 0, {});
  h.settle();
  h.now += 2_000;
  run();
  expect(got, 'R1 delivered').to.have.length(1);
  expect(h.planner.storeSession(session, 0, {}).status).to.equal('proposed');
  h.settle();
  for (const s of stores) expect(s.getSession(session), 'stored again: not active').to.equal(null);
  h.now += 2_000;
  run();
  expect(got, 'R2 delivered').to.have.length(2);
  for (const s of stores) expect(s.getSession(session), 'active from R2').to.not.equal(null);
  return { h, fss, session, got };
}

/** The low half (the entry's index) of a 16-byte command ID. */
function lowOf(id: Uint8Array): number {
  return Number(Buffer.from(id).readBigUInt64BE(8));
}

/** The restore the store's only active session records, as its snapshot carries it (0: none). */
function recordedRestoreLow(store: SessionsStore): number {
  const sessions = decodeManifest(store.snapshot()).sessions;
  expect(sessions).to.have.length(1);
  return sessions[0]!.restoreLow ?? 0;
}

function removingAck(t: Twice, d: GroupDelivery): ResultCode {
  return t.h.client({ kind: CommandKind.groupAck, group: d.group, restore: d.restoreId, delivery: d.delivery, remove: { session: t.session, user: '' } })
    .code as ResultCode;
}

describe('sessions: a removing ack removes the session only when it settles the restore that made it active (remove-own-restore)', () => {
  it("an ack of R1 settles R1's item and leaves the session R2 made active; R2's ack removes it (both replicas, and one restored from a snapshot)", () => {
    const t = restoredTwice(FEATURES_KNOWN);
    const [r1, r2] = t.got as [GroupDelivery, GroupDelivery];
    expect(t.h.stores.map(recordedRestoreLow), 'both replicas record R2 (their snapshots carry it)').to.deep.equal([lowOf(r2.restoreId), lowOf(r2.restoreId)]);
    // Replica 1 restarts from a snapshot taken with R2 in flight (on its own disk, whose data files
    // it keeps): the restore recorded on the session travels in the snapshot.
    t.h.withFollowers([0]);
    const snap = t.h.stores[1]!.snapshot();
    t.fss[1]!.crash();
    const twin = new SessionsStore({ fs: t.fss[1]!, defer: (fn) => fn() });
    twin.restore(t.h.log.meta(t.h.stores[1]!.appliedIndex), snap);
    const from = twin.appliedIndex;
    const leader = t.h.stores[0]!;

    expect(removingAck(t, r1)).to.equal(ResultCode.ok);
    expect(leader.getSession(t.session), "the ack of R1 leaves R2's session").to.not.equal(null);
    expect(leader.groupCounts(leader.groupByName('orders', 'billing')!)).to.include({ inFlight: 1 });
    expect(removingAck(t, r2)).to.equal(ResultCode.ok);
    expect(leader.getSession(t.session), "R2's ack removes it").to.equal(null);

    const results = twin.apply(t.h.log.slice(from));
    expect(results.slice(-2).map((x) => x?.code)).to.deep.equal([ResultCode.ok, ResultCode.ok]);
    expect(twin.getSession(t.session), 'the twin removed it at the same entry').to.equal(null);
    expect(twin.snapshot()).to.deep.equal(leader.snapshot());
  });

  it('without the flag (an upgraded cluster) the ack of R1 removes the session, as older versions do', () => {
    const t = restoredTwice(FEATURES_KNOWN & ~FEATURES.removeOwnRestore);
    expect(t.h.stores.map(recordedRestoreLow), 'no restore recorded').to.deep.equal([0, 0]);
    expect(removingAck(t, t.got[0]!)).to.equal(ResultCode.ok);
    for (const s of t.h.stores) expect(s.getSession(t.session)).to.equal(null);
  });

  it('a session restored before the flag was turned on records no restore and is removed as before, on every replica alike', () => {
    const t = restoredTwice(FEATURES_KNOWN & ~FEATURES.removeOwnRestore);
    expect(t.h.client({ kind: CommandKind.featureEnable, features: FEATURES.removeOwnRestore }).ok).to.equal(true);
    expect(removingAck(t, t.got[0]!)).to.equal(ResultCode.ok);
    for (const s of t.h.stores) expect(s.getSession(t.session)).to.equal(null);
  });
});
