/**
 * Issue 20, restore ahead: the leader restores stored sessions a lead before their due time, so the
 * replicated round is done by then, and consumer groups and subscribers are handed each session only
 * once the clock reaches its due time (dispatcher.ts and subscriptions.ts hold it until then).
 */
import { expect } from 'chai';
import {
  CommandErrorCode,
  CommandKind,
  CommandView,
  FEATURES,
  RESTORE_HOLD_MS_MAX,
  commandId,
  decodeCommand,
  encodeCommand,
  parseCommand,
} from '../../transport/commands/codec.js';
import { codecLimitsOf } from '../../actors/sessions/options.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { Dispatcher, type GroupDelivery } from '../../actors/sessions/dispatcher.js';
import type { ConsumerGroup } from '../../actors/sessions/consumerGroups.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import { decodeManifest, encodeManifest } from '../../actors/sessions/manifest.js';
import { crc32Bytes } from '../../storage/crc.js';
import type { Delivery } from '../../actors/sessions/types.js';
import { Harness, ManualTimers, text } from './helpers.js';

const LEAD_MS = 20;
const LIMITS = codecLimitsOf(new SessionsStore({ fs: new MemorySessionFs() }).limits);
const DELAY_MS = 1_000;

function leader(timers: (now: () => number) => ManualTimers): { h: Harness; d: Dispatcher; store: SessionsStore; timers: ManualTimers; run: () => void } {
  // The store needs the clock before the harness (whose `now` it is) exists.
  const ref: { h?: Harness } = {};
  const now = (): number => ref.h!.now;
  const t = timers(now);
  const store = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn(), clock: now, after: t.after });
  const h = new Harness([store], { replayDelaysMs: [DELAY_MS], restoreLeadMs: LEAD_MS });
  ref.h = h;
  const d = new Dispatcher({ store, clock: now, isLeader: () => true, submit: (cmd) => void h.planner.submit(cmd, null), after: t.after });
  const run = (): void => {
    for (let round = 0; round < 200; round++) {
      h.settle();
      if (d.tick() === 0) return;
    }
    throw new Error('dispatcher did not settle');
  };
  return { h, d, store, timers: t, run };
}

/** Timers that never fire: only ticks and applies release. */
const noTimers = (now: () => number): ManualTimers => Object.assign(new ManualTimers(now), { after: () => undefined });

/** The group `orders/billing` (ack wait 30 s). */
function billing(h: Harness, store: SessionsStore): ConsumerGroup {
  h.client({ kind: CommandKind.groupCreate, topic: 'orders', name: 'billing', ackWaitMs: 30_000, maxDeliveries: 5, maxAckPending: 10 });
  return store.groupByName('orders', 'billing')!;
}

/** Store a session of one record on `orders`; 5 ms before its due time the leader restores and delivers it. Returns the due time. */
function storeUntilHeld(h: Harness, run: () => void, record: string): number {
  const t0 = h.now;
  h.planner.storeSession(h.createSession('orders', [record]), 0, {});
  h.settle();
  h.now = t0 + DELAY_MS - 5;
  h.scheduler.tick();
  run();
  return t0 + DELAY_MS;
}

describe('sessions: restore ahead (issue 20)', () => {
  it('a group delivery applied before its due time is held, pushed at the due time, and its ack wait counts from then', () => {
    const { h, d, store, timers, run } = leader((now) => new ManualTimers(now));
    const r = h.client({ kind: CommandKind.groupCreate, topic: 'orders', name: 'billing', ackWaitMs: 30_000, maxDeliveries: 5, maxAckPending: 10 });
    expect(r.ok, r.code).to.equal(true);
    const g = store.groupByName('orders', 'billing')!;
    const got: { x: GroupDelivery; atMs: number }[] = [];
    d.attach(g, 'c1', (x) => void got.push({ x, atMs: h.now }));
    const t0 = h.now;
    h.planner.storeSession(h.createSession('orders', ['hello']), 0, {});
    h.settle();
    // Half a lead before the due time, the restore and its delivery are committed and applied...
    h.now = t0 + DELAY_MS - LEAD_MS / 2;
    h.scheduler.tick();
    run();
    expect(store.groupCounts(g)).to.include({ ready: 0, inFlight: 1 });
    const it = [...g.items.values()][0]!;
    expect(it.deadlineMs).to.equal(t0 + DELAY_MS + 30_000);
    // ...but the consumer has nothing yet; a timer is armed for the due time.
    expect(got).to.deep.equal([]);
    expect(d.heldCount).to.equal(1);
    h.now = t0 + DELAY_MS - 1;
    timers.fire();
    expect(got).to.deep.equal([]);
    h.now = t0 + DELAY_MS;
    timers.fire();
    expect(got.map((y) => [text(y.x.records[0]!), y.x.delivery, y.atMs])).to.deep.equal([['hello', 1, t0 + DELAY_MS]]);
    expect(d.heldCount).to.equal(0);
    expect(d.counters.held).to.equal(1);
  });

  it('without a timer, the dispatcher ticks release what is held; a held delivery whose consumer went is not pushed to anyone', () => {
    const { h, d, store, run } = leader(noTimers);
    const g = billing(h, store);
    const got: string[] = [];
    const c1 = d.attach(g, 'c1', (x) => void got.push(`c1:${text(x.records[0]!)}`));
    const due = storeUntilHeld(h, run, 'a');
    expect(d.heldCount).to.equal(1);
    d.tick();
    expect(got).to.deep.equal([]);
    h.now = due;
    d.tick();
    expect(got).to.deep.equal(['c1:a']);
    // A second one, held; its consumer detaches before the due time: nothing is pushed, and the
    // item stays in flight until its deadline (as any delivery to a consumer that went).
    storeUntilHeld(h, run, 'b');
    expect(d.heldCount).to.equal(1);
    c1.close();
    const got2: string[] = [];
    d.attach(g, 'c2', (x) => void got2.push(`c2:${text(x.records[0]!)}`));
    h.now += 5;
    d.tick();
    expect(got).to.deep.equal(['c1:a']);
    expect(got2).to.deep.equal([]);
    expect(store.groupCounts(g)).to.include({ inFlight: 2 });
  });

  it('an apply on the leader releases a held delivery that fell due, without its timer or a tick', () => {
    const { h, d, store, run } = leader(noTimers);
    const got: string[] = [];
    d.attach(billing(h, store), 'c1', (x) => void got.push(text(x.records[0]!)));
    const due = storeUntilHeld(h, run, 'a');
    expect(d.heldCount).to.equal(1);
    // Due; something else applies (a session created on another topic): the push goes out with it.
    h.now = due;
    h.client({ kind: CommandKind.sessionCreate, topic: 'other', envelope: null });
    expect(got).to.deep.equal(['a']);
    expect(d.heldCount).to.equal(0);
  });

  it('with the restore-ahead flag off (a cluster upgraded from an older version) restores carry no hold and wait for the due time; FeatureEnable turns the lead on', () => {
    const store = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() });
    const h = new Harness([store], { replayDelaysMs: [DELAY_MS], restoreLeadMs: LEAD_MS, featuresOff: true });
    expect(store.features).to.equal(0);
    const restores = (): CommandView[] =>
      h.log.entries
        .map((e) => {
          const v = new CommandView();
          return parseCommand(v, e.data, LIMITS) === null && v.kind === CommandKind.sessionRestore ? v : null;
        })
        .filter((v): v is CommandView => v !== null);
    const t0 = h.now;
    h.planner.storeSession(h.createSession('orders', ['a']), 0, {});
    h.settle();
    // Within the lead of its due time, nothing is restored: an older node would refuse a hold.
    h.now = t0 + DELAY_MS - LEAD_MS / 2;
    expect(h.scheduler.tick()).to.equal(0);
    h.now = t0 + DELAY_MS;
    expect(h.scheduler.tick()).to.equal(1);
    h.settle();
    expect(restores().map((v) => v.holdMs)).to.deep.equal([0]);
    // The operator turns it on once every node runs this version: the next one is restored ahead.
    const r = h.client({ kind: CommandKind.featureEnable, features: FEATURES.restoreAhead });
    expect(r.ok, r.code).to.equal(true);
    expect(store.featureOn(FEATURES.restoreAhead)).to.equal(true);
    expect(store.featureOn(FEATURES.removeOnAck)).to.equal(false);
    const t1 = h.now;
    h.planner.storeSession(h.createSession('orders', ['b']), 0, {});
    h.settle();
    h.now = t1 + DELAY_MS - LEAD_MS / 2;
    expect(h.scheduler.tick()).to.equal(1);
    h.settle();
    expect(restores().map((v) => v.holdMs)).to.deep.equal([0, LEAD_MS / 2]);
  });

  it('feature flags are applied alike on every replica, kept by a snapshot, and a FeatureEnable of flags already on changes nothing', () => {
    const a = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() });
    const b = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() });
    const h = new Harness([a, b], { replayDelaysMs: [DELAY_MS] });
    expect(h.client({ kind: CommandKind.featureEnable, features: FEATURES.removeOnAck }).ok).to.equal(true);
    expect(h.client({ kind: CommandKind.featureEnable, features: FEATURES.removeOnAck }).ok).to.equal(true);
    expect([a.features, b.features]).to.deep.equal([FEATURES.removeOnAck, FEATURES.removeOnAck]);
    expect(a.digest().overall).to.equal(b.digest().overall);
    const c = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() });
    c.restore({ index: a.appliedIndex, term: a.appliedTerm, membership: { voters: [], learners: [] } }, a.snapshot());
    expect(c.features).to.equal(FEATURES.removeOnAck);
    expect(c.digest().overall).to.equal(a.digest().overall);
    // The flags are in the manifest (so in the digest: replicas that disagree about them are told
    // apart), and a manifest with none is version 5, which the version before flags reads.
    const m = a.manifest();
    expect(decodeManifest(encodeManifest(m)).features).to.equal(FEATURES.removeOnAck);
    expect(Buffer.from(encodeManifest({ ...m, features: 0 })).toString('hex')).to.not.equal(Buffer.from(encodeManifest(m)).toString('hex'));
    expect(encodeManifest({ ...m, features: 0 }).subarray(4, 6)).to.deep.equal(Uint8Array.of(0, 5));
    expect(encodeManifest(m).subarray(4, 6)).to.deep.equal(Uint8Array.of(0, 6));
    expect(decodeManifest(encodeManifest({ ...m, features: 0 })).features).to.equal(0);
    // A version 6 manifest with no flag on is not canonical (two encodings of one state): refused.
    const v6 = Uint8Array.from(encodeManifest(m));
    v6.fill(0, v6.length - 8, v6.length - 4);
    new DataView(v6.buffer).setUint32(v6.length - 4, crc32Bytes(v6.subarray(0, v6.length - 4), 0) >>> 0);
    expect(() => decodeManifest(v6)).to.throw(/no feature flag on/);
  });

  it('subscribers get a session restored ahead at its due time, in log order', () => {
    let nowMs = 1_700_000_000_000;
    const timers = new ManualTimers(() => nowMs);
    const store = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn(), clock: () => nowMs, after: timers.after });
    const h = new Harness([store], { replayDelaysMs: [DELAY_MS], restoreLeadMs: LEAD_MS });
    const got: { d: Delivery; atMs: number }[] = [];
    store.subscribe('t', (d) => void got.push({ d, atMs: nowMs }));
    const t0 = nowMs;
    h.now = nowMs;
    h.planner.storeSession(h.createSession('t', ['first']), 0, {});
    h.settle();
    nowMs = h.now = t0 + 4;
    h.planner.storeSession(h.createSession('t', ['second']), 0, {});
    h.settle();
    // Both due within the lead at t0 + 990: restored together, handed over at their due times.
    nowMs = h.now = t0 + DELAY_MS - LEAD_MS / 2;
    expect(h.scheduler.tick()).to.equal(2);
    h.settle();
    expect(store.listSessions()).to.have.length(2);
    expect(got).to.deep.equal([]);
    nowMs = t0 + DELAY_MS;
    timers.fire();
    expect(got.map((x) => [text(x.d.records[0]!), x.atMs])).to.deep.equal([['first', t0 + DELAY_MS]]);
    nowMs = t0 + DELAY_MS + 4;
    timers.fire();
    expect(got.map((x) => [text(x.d.records[0]!), x.atMs])).to.deep.equal([
      ['first', t0 + DELAY_MS],
      ['second', t0 + DELAY_MS + 4],
    ]);
    expect(store.stats().subscriptions.held).to.equal(2);
  });

  it("a follower whose clock runs ahead of the leader's holds its subscribers for the entry's hold after its own apply, not by its clock", () => {
    const SKEW_MS = 500;
    let nowMs = 1_700_000_000_000;
    const leaderTimers = new ManualTimers(() => nowMs);
    const followerTimers = new ManualTimers(() => nowMs + SKEW_MS);
    const lead = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn(), clock: () => nowMs, after: leaderTimers.after });
    const follower = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn(), clock: () => nowMs + SKEW_MS, after: followerTimers.after });
    const h = new Harness([lead, follower], { replayDelaysMs: [DELAY_MS], restoreLeadMs: LEAD_MS });
    const got: number[] = [];
    follower.subscribe('t', () => void got.push(nowMs));
    const t0 = nowMs;
    h.now = nowMs;
    h.planner.storeSession(h.createSession('t', ['x']), 0, {});
    h.settle();
    nowMs = h.now = t0 + DELAY_MS - LEAD_MS / 2;
    expect(h.scheduler.tick()).to.equal(1);
    h.settle();
    // Applied on the follower at the leader's t0 + 990, its clock past the due time: still held.
    expect(follower.listSessions()).to.have.length(1);
    followerTimers.fire();
    expect(got).to.deep.equal([]);
    nowMs = t0 + DELAY_MS;
    followerTimers.fire();
    expect(got).to.deep.equal([t0 + DELAY_MS]);
  });

  it('codec: a restore carries its hold (1..1,000 ms) or nothing; anything else is refused', () => {
    const file = commandId(3, 7);
    const plain = encodeCommand({ kind: CommandKind.sessionRestore, replayClass: 1, file, length: 100 });
    const held = encodeCommand({ kind: CommandKind.sessionRestore, replayClass: 1, file, length: 100, holdMs: 15 });
    expect(held.length).to.equal(plain.length + 4);
    expect(decodeCommand(plain)).to.not.have.property('holdMs');
    expect(decodeCommand(held)).to.include({ holdMs: 15 });
    const view = new CommandView();
    const withHold = (ms: number): Uint8Array => {
      const b = held.slice();
      new DataView(b.buffer).setUint32(b.length - 4, ms);
      return b;
    };
    expect(parseCommand(view, withHold(RESTORE_HOLD_MS_MAX), LIMITS)).to.equal(null);
    expect(view.holdMs).to.equal(RESTORE_HOLD_MS_MAX);
    expect(parseCommand(view, withHold(0), LIMITS)).to.equal(CommandErrorCode.number);
    expect(parseCommand(view, withHold(RESTORE_HOLD_MS_MAX + 1), LIMITS)).to.equal(CommandErrorCode.number);
    expect(parseCommand(view, held.subarray(0, held.length - 1), LIMITS)).to.equal(CommandErrorCode.truncated);
    expect(parseCommand(view, Uint8Array.from([...held, 0]), LIMITS)).to.equal(CommandErrorCode.trailing);
    // A commit has no hold.
    const commit = encodeCommand({ kind: CommandKind.sessionCommit, replayClass: 1, file, length: 100 });
    expect(parseCommand(view, Uint8Array.from([...commit, 0, 0, 0, 1]), LIMITS)).to.equal(CommandErrorCode.trailing);
    expect(() => encodeCommand({ kind: CommandKind.sessionRestore, replayClass: 1, file, length: 100, holdMs: RESTORE_HOLD_MS_MAX + 1 })).to.throw(RangeError);
  });
});
