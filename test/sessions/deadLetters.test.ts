/**
 * Dead letters of consumer groups (issue 16): replayed (DeadLetterReplay) or deleted
 * (DeadLetterDelete); a dead letter keeps its restore's record uncommitted until then; the
 * per-group bound (DEAD_LETTERS_MAX, DEAD_LETTER_BYTES_MAX) drops the oldest; the table with dead
 * letters survives a snapshot, and a table of the previous format (manifest version 4) loads with
 * its dead letters listed but not replayable.
 */
import { expect } from 'chai';
import { CommandErrorCode, CommandKind, commandId, decodeCommand, encodeCommand } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { Dispatcher, type GroupDelivery } from '../../actors/sessions/dispatcher.js';
import { ResultCode } from '../../actors/sessions/errors.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import { ByteWriter } from '../../actors/sessions/binary.js';
import { DEAD_LETTERS_MAX, DEAD_LETTER_BYTES_MAX, GroupTable, upgradeGroupTable } from '../../actors/sessions/consumerGroups.js';
import { Harness, text } from './helpers.js';

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

/** A leader (planner, scheduler, dispatcher) over `n` in-memory replicas, driven synchronously. */
function cluster(
  n = 1,
  onFirstPush?: (groupLow: number, dueMs: number) => void,
): { h: Harness; d: Dispatcher; run: () => void; store: SessionsStore; fss: MemorySessionFs[] } {
  const fss = Array.from({ length: n }, () => new MemorySessionFs());
  const ss = fss.map((fs) => new SessionsStore({ fs, defer: (fn) => fn() }));
  const h = new Harness(ss, { replayDelaysMs: [1_000] });
  const d = new Dispatcher({
    store: ss[0]!,
    clock: () => h.now,
    isLeader: () => true,
    submit: (cmd) => void h.planner.submit(cmd, null),
    ...(onFirstPush !== undefined ? { onFirstPush } : {}),
  });
  const run = (): void => {
    // Bounded: each round either proposes something or ends; 200 rounds is far beyond these tests' work.
    for (let round = 0; round < 200; round++) {
      h.settle();
      if (d.tick() === 0) return;
    }
    throw new Error('dispatcher did not settle');
  };
  return { h, d, run, store: ss[0]!, fss };
}

function group(h: Harness, topic: string, name: string, maxDeliveries: number): Uint8Array {
  const r = h.client({ kind: CommandKind.groupCreate, topic, name, ackWaitMs: 100, maxDeliveries, maxAckPending: 100 });
  expect(r.ok, r.code).to.equal(true);
  return r.value!;
}

function storeAndRestore(h: Harness, run: () => void, topic: string, n: number): void {
  for (let k = 0; k < n; k++) {
    h.planner.storeSession(h.createSession(topic, [`s${k}`]), 0, {});
    h.settle();
  }
  h.now += 1_001;
  run();
}

/** Deliveries to a consumer that never acks, until every item of the group is dead-lettered (maxDeliveries each). */
function deadLetterAll(h: Harness, d: Dispatcher, run: () => void, store: SessionsStore, topic: string, name: string): GroupDelivery[] {
  const g = store.groupByName(topic, name)!;
  const got: GroupDelivery[] = [];
  const c = d.attach(g, 'silent', (x) => void got.push(x));
  run();
  for (let k = 0; k < 20 && g.items.size > 0; k++) {
    h.now += 101;
    run();
  }
  c.close();
  expect(g.items.size, 'every item dead-lettered').to.equal(0);
  return got;
}

const committedToEnd = (store: SessionsStore): boolean => store.dataFiles().every((f) => f.consumed === f.size);

describe('sessions: dead letters, replay and delete (issue 16)', () => {
  it('codec: DeadLetterReplay and DeadLetterDelete round-trip (group 16 | restore 16); truncated, trailing and zero IDs are refused with codes', () => {
    for (const kind of [CommandKind.deadLetterReplay, CommandKind.deadLetterDelete] as const) {
      const c = { kind, group: commandId(3, 7), restore: commandId(3, 9) };
      const b = encodeCommand(c);
      expect(b.length).to.equal(3 + 32);
      expect(decodeCommand(b)).to.deep.equal(c);
      expect(() => decodeCommand(b.subarray(0, b.length - 1))).to.throw(CommandErrorCode.truncated);
      expect(() => decodeCommand(Uint8Array.from([...b, 0]))).to.throw(CommandErrorCode.trailing);
      const zero = b.slice();
      zero.fill(0, 3 + 16, 3 + 32); // restore ID 0: a log index is at least 1
      expect(() => decodeCommand(zero)).to.throw(CommandErrorCode.id);
    }
  });

  it('a dead letter keeps its record uncommitted; DeadLetterReplay delivers it again from delivery 1, and its ack lets SessionCommit consume it', () => {
    const { h, d, run, store } = cluster(2);
    const gid = group(h, 'orders', 'billing', 2);
    storeAndRestore(h, run, 'orders', 3);
    const first = deadLetterAll(h, d, run, store, 'orders', 'billing');
    expect(first.map((x) => x.delivery)).to.deep.equal([1, 1, 1, 2, 2, 2]);
    const g = store.groupByName('orders', 'billing')!;
    expect(store.groupCounts(g)).to.include({ ready: 0, inFlight: 0, deadLettered: 3, deadLetters: 3, deadDropped: 0 });
    // Held: nothing is committed while the group has them as dead letters.
    for (const f of store.dataFiles()) expect(f.consumed).to.equal(0);
    const view = store.groupView(g, h.now).dead;
    expect(view.map((x) => [x.deliveries, x.replayable])).to.deep.equal([
      [2, true],
      [2, true],
      [2, true],
    ]);
    const target = first[0]!.restoreId;
    expect(h.client({ kind: CommandKind.deadLetterReplay, group: gid, restore: target }).code).to.equal(ResultCode.ok);
    // Gone from the dead letters: a second replay or a delete of it is NOT_FOUND; an unknown group is GROUP_UNKNOWN.
    expect(h.client({ kind: CommandKind.deadLetterReplay, group: gid, restore: target }).code).to.equal(ResultCode.deadLetterNotFound);
    expect(h.client({ kind: CommandKind.deadLetterDelete, group: gid, restore: target }).code).to.equal(ResultCode.deadLetterNotFound);
    expect(h.client({ kind: CommandKind.deadLetterReplay, group: commandId(9, 9999), restore: target }).code).to.equal(ResultCode.groupUnknown);
    expect(store.groupCounts(g)).to.include({ ready: 1, deadLetters: 2, deadLettered: 3 });
    const again: GroupDelivery[] = [];
    d.attach(g, 'fixed', (x) => void again.push(x));
    run();
    expect(again.map((x) => [hex(x.restoreId), x.delivery, text(x.records[0]!)])).to.deep.equal([[hex(target), 1, 's0']]);
    d.ack(again[0]!.group, again[0]!.restoreId, 1);
    run();
    // The first record of the file is settled and committed; the two dead letters after it still hold theirs.
    const f = store.dataFiles()[0]!;
    expect(f.consumed).to.be.above(0).and.below(f.size);
    expect(store.stats().commitsOfHeldRestores).to.equal(0);
    h.commit();
    expect(h.stores[1]!.digest().overall).to.equal(store.digest().overall);
  });

  it('the lateness report (onFirstPush) counts each first delivery once, with its due time: not redeliveries, not a replayed dead letter delivered as 1 again', () => {
    const firsts: [number, number][] = [];
    const { h, d, run, store } = cluster(1, (groupLow, dueMs) => void firsts.push([groupLow, dueMs]));
    const gid = group(h, 't', 'g', 2);
    const storedAt = h.now;
    storeAndRestore(h, run, 't', 2);
    const got = deadLetterAll(h, d, run, store, 't', 'g');
    // Two items, each delivered twice (1, then 2 after its deadline), then dead-lettered.
    expect(got.map((x) => x.delivery)).to.deep.equal([1, 1, 2, 2]);
    const g = store.groupByName('t', 'g')!;
    expect(firsts.map(([low]) => low)).to.deep.equal([g.low, g.low]);
    // The due time the leader decided at the store: its clock then plus the class's 1 s.
    for (const [, dueMs] of firsts) expect(dueMs).to.equal(storedAt + 1_000);
    expect(h.client({ kind: CommandKind.deadLetterReplay, group: gid, restore: got[0]!.restoreId }).code).to.equal(ResultCode.ok);
    const again: GroupDelivery[] = [];
    d.attach(g, 'fixed', (x) => void again.push(x));
    run();
    expect(again.map((x) => x.delivery)).to.deep.equal([1]);
    expect(firsts, 'the replayed dead letter is not a first delivery').to.have.length(2);
  });

  it('DeadLetterDelete drops it; SessionCommit follows only once every group settled (another group still holding waits for its ack)', () => {
    const { h, d, run, store } = cluster(1);
    const gid = group(h, 't', 'strict', 1);
    group(h, 't', 'slow', 5);
    storeAndRestore(h, run, 't', 1);
    const dead = deadLetterAll(h, d, run, store, 't', 'strict');
    expect(h.client({ kind: CommandKind.deadLetterDelete, group: gid, restore: dead[0]!.restoreId }).code).to.equal(ResultCode.ok);
    run();
    expect(store.groupCounts(store.groupByName('t', 'strict')!)).to.include({ deadLetters: 0, deadLettered: 1 });
    // 'slow' has not acked: still held.
    expect(committedToEnd(store)).to.equal(false);
    const got: GroupDelivery[] = [];
    d.attach(store.groupByName('t', 'slow')!, 'c', (x) => void got.push(x));
    run();
    d.ack(got[0]!.group, got[0]!.restoreId, got[0]!.delivery);
    run();
    expect(committedToEnd(store)).to.equal(true);
    expect(store.stats().commitsOfHeldRestores).to.equal(0);
  });

  it('deleting the group releases its dead letters too', () => {
    const { h, d, run, store } = cluster(1);
    const gid = group(h, 't', 'g', 1);
    storeAndRestore(h, run, 't', 2);
    deadLetterAll(h, d, run, store, 't', 'g');
    expect(committedToEnd(store)).to.equal(false);
    expect(h.client({ kind: CommandKind.groupDelete, group: gid }).ok).to.equal(true);
    run();
    expect(committedToEnd(store)).to.equal(true);
  });

  it('a group table whose group has a limit of 0 (ackWait, maxDeliveries or maxAckPending, which no GroupCreate can carry) is refused at load (RangeError), not taken', () => {
    for (const [ackWaitMs, maxDeliveries, maxAckPending] of [
      [0, 1, 10],
      [100, 0, 10],
      [100, 1, 0],
    ] as const) {
      const t = new GroupTable();
      t.create(1, 1, 't', 'g', ackWaitMs, maxDeliveries, maxAckPending, commandId(1, 1));
      expect(() => new GroupTable().load(t.encode()), `${ackWaitMs} ${maxDeliveries} ${maxAckPending}`).to.throw(RangeError, /a limit of 0/);
    }
    const ok = new GroupTable();
    ok.create(1, 1, 't', 'g', 100, 1, 10, commandId(1, 1));
    expect(() => new GroupTable().load(ok.encode())).to.not.throw();
  });

  it('the bound: at DEAD_LETTERS_MAX (count) or DEAD_LETTER_BYTES_MAX (record bytes held) the oldest dead letters are dropped, counted, and no longer hold their records', () => {
    const t = new GroupTable();
    t.create(1, 1, 't', 'g', 100, 1, 10, commandId(1, 1));
    const restore = (low: number, length: number): void =>
      t.restored({ high: 1, low, topic: 't', sessionHigh: 1, sessionLow: low, fileHigh: 1, fileLow: 2, offset: low * 100, length });
    const kill = (low: number): void => {
      expect(t.deliver(1, 1, 1, low, 1, 5, 'c', low).code).to.equal(ResultCode.ok);
      expect(t.deadLetter(1, 1, 1, low, 1, low).code).to.equal(ResultCode.ok);
    };
    const g = t.get(1, 1)!;
    for (let low = 10; low < 10 + DEAD_LETTERS_MAX; low++) {
      restore(low, 50);
      kill(low);
    }
    expect(g.dead.size).to.equal(DEAD_LETTERS_MAX);
    expect(t.holds(1, 2, 10 * 100)).to.equal(true);
    restore(5000, 50);
    kill(5000);
    // One more: the oldest (restore 10) is dropped and released; the newest is kept.
    expect(g.dead.size).to.equal(DEAD_LETTERS_MAX);
    expect(g.dead.has(10)).to.equal(false);
    expect(g.dead.has(5000)).to.equal(true);
    expect(t.holds(1, 2, 10 * 100)).to.equal(false);
    expect(t.counts(g, commandId(1, 1))).to.include({ deadLettered: DEAD_LETTERS_MAX + 1, deadLetters: DEAD_LETTERS_MAX, deadDropped: 1 });
    expect(t.deleteDead(1, 1, 1, 10).code).to.equal(ResultCode.deadLetterNotFound);
    // Bytes: a dead letter of 3/4 of the byte bound pushes out as many old ones as it takes.
    const big = Math.floor((DEAD_LETTER_BYTES_MAX * 3) / 4);
    restore(6000, big);
    kill(6000);
    restore(6001, big);
    kill(6001);
    expect(g.dead.has(6000)).to.equal(false);
    expect(g.dead.has(6001)).to.equal(true);
    expect(g.deadBytes).to.be.at.most(DEAD_LETTER_BYTES_MAX);
    // The small ones were older than 6000, so they went first, and then 6000 itself.
    expect([...g.dead.keys()]).to.deep.equal([6001]);
    // Dropped: 10 (for 5000), 11 (for 6000, by count), then for 6001 one by count and the rest by bytes.
    expect(g.deadDropped).to.equal(DEAD_LETTERS_MAX + 2);
    // A full encode/load round trip keeps every dead letter, its hold and the counters.
    const copy = new GroupTable();
    copy.load(t.encode());
    expect(copy.encode()).to.deep.equal(t.encode());
    const cg = copy.get(1, 1)!;
    expect([cg.deadTotal, cg.deadDropped, cg.deadBytes, cg.dead.size]).to.deep.equal([g.deadTotal, g.deadDropped, g.deadBytes, g.dead.size]);
    expect(copy.holds(1, 2, 6001 * 100)).to.equal(true);
  });

  it('a snapshot keeps dead letters replayable: a node restored from it replays one and the ack commits it (equal digests)', () => {
    const { h, d, run, store, fss } = cluster(2);
    const gid = group(h, 't', 'g', 1);
    storeAndRestore(h, run, 't', 2);
    const dead = deadLetterAll(h, d, run, store, 't', 'g');
    // Replica 1 restarts on its own disk from the leader's snapshot (the same files: it applied the same entries).
    h.withFollowers([0]);
    const snap = h.stores[1]!.snapshot(); // (syncs replica 1's files: the crash keeps them)
    fss[1]!.crash();
    const twin = new SessionsStore({ fs: fss[1]!, defer: (fn) => fn() });
    twin.restore(h.log.meta(store.appliedIndex), snap);
    expect(twin.digest().overall).to.equal(store.digest().overall);
    const tg = twin.groupByName('t', 'g')!;
    expect(twin.groupView(tg, h.now).dead.map((x) => [x.restoreId, x.replayable])).to.deep.equal(dead.map((x) => [hex(x.restoreId), true]));
    // Both apply the same replay, delivery and ack (the twin as a follower of the same log).
    expect(h.client({ kind: CommandKind.deadLetterReplay, group: gid, restore: dead[1]!.restoreId }).code).to.equal(ResultCode.ok);
    const got: GroupDelivery[] = [];
    d.attach(store.groupByName('t', 'g')!, 'c', (x) => void got.push(x));
    run();
    d.ack(got[0]!.group, got[0]!.restoreId, 1);
    run();
    const results = twin.apply(h.log.slice(twin.appliedIndex));
    expect(results.filter((r) => r !== null && !r.ok)).to.deep.equal([]);
    expect(twin.digest().overall).to.equal(store.digest().overall);
    expect(twin.groupCounts(twin.groupByName('t', 'g')!)).to.include({ deadLetters: 1, ready: 0, inFlight: 0 });
  });

  it('a group table of format 1 (manifest version 4) loads with its dead letters listed and deletable, not replayable (their records were consumed)', () => {
    // Format 1: no restores, one group, no items, one dead letter (no holds byte, no deadDropped).
    const w = new ByteWriter(256);
    w.u32(0);
    w.u32(1);
    for (const x of [1, 1]) w.u64(x);
    w.str('t');
    w.str('g');
    w.u32(100);
    w.u16(2);
    w.u16(10);
    w.u64(7); // deadTotal
    w.u32(0); // items
    w.u32(1); // dead letters
    for (const x of [1, 42, 1, 40]) w.u64(x);
    w.u32(2);
    w.u64(50);
    const legacy = w.finish();
    const t = new GroupTable();
    t.load(upgradeGroupTable(legacy));
    const g = t.get(1, 1)!;
    expect(t.counts(g, commandId(1, 1))).to.include({ deadLettered: 7, deadLetters: 1, deadDropped: 0 });
    expect(t.detail(g, 0, 100).dead).to.deep.equal([
      { restoreId: hex(commandId(1, 42)), session: hex(commandId(1, 40)), deliveries: 2, index: 50, replayable: false },
    ]);
    expect(t.replayDead(1, 1, 1, 42).code).to.equal(ResultCode.deadLetterConsumed);
    expect(t.deleteDead(1, 1, 1, 42).code).to.equal(ResultCode.ok);
    expect(g.dead.size).to.equal(0);
    // The same bytes read as the current format are refused (they are not).
    expect(() => new GroupTable().load(legacy)).to.throw();
  });

  it('a SessionCommit of a dead-lettered record (a broken scheduler, or a log from before) makes the dead letter unreplayable on every replica instead of leaving it pointing at consumed bytes', () => {
    const t = new GroupTable();
    t.create(1, 1, 't', 'g', 100, 1, 10, commandId(1, 1));
    t.restored({ high: 1, low: 5, topic: 't', sessionHigh: 1, sessionLow: 3, fileHigh: 1, fileLow: 2, offset: 0, length: 60 });
    t.deliver(1, 1, 1, 5, 1, 10, 'c', 6);
    t.deadLetter(1, 1, 1, 5, 1, 7);
    expect(t.holds(1, 2, 0)).to.equal(true);
    t.consumedWhileHeld(1, 2, 0);
    expect(t.holds(1, 2, 0)).to.equal(false);
    expect(t.replayDead(1, 1, 1, 5).code).to.equal(ResultCode.deadLetterConsumed);
    expect(t.get(1, 1)!.deadBytes).to.equal(0);
  });
});
