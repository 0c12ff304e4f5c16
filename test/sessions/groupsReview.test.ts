/**
 * What a review of consumer groups found (2026-12-07), each first shown by a test that passed on
 * the wrong behaviour: a consumer that attached again during its last allowed delivery had that
 * item dead-lettered at once (before its deadline), its ack of that delivery then answered
 * OK_ALREADY_SETTLED (the item still a dead letter), and a nack's delay had no bound (past 2^53 ms
 * from now it failed to encode; below, it parked the item for centuries). The port's side of it is
 * in test/node/groupsPort.test.ts.
 */
import { expect } from 'chai';
import { Dispatcher, type GroupDelivery } from '../../actors/sessions/dispatcher.js';
import { ResultCode } from '../../actors/sessions/errors.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import { CommandErrorCode, CommandKind, NACK_DELAY_MS_MAX, readU64BE } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { Harness } from './helpers.js';

/** A leader with planner, scheduler and dispatcher over one replica, driven synchronously. */
function cluster(): { h: Harness; d: Dispatcher; run: () => void; store: SessionsStore; proposed: number[] } {
  const store = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() });
  const h = new Harness([store], { replayDelaysMs: [1_000] });
  const proposed: number[] = [];
  const d = new Dispatcher({
    store,
    clock: () => h.now,
    isLeader: () => true,
    submit: (cmd) => {
      proposed.push(cmd.kind);
      h.planner.submit(cmd, null);
    },
  });
  // Bounded: 200 rounds of settle and tick.
  const run = (): void => {
    for (let round = 0; round < 200; round++) {
      h.settle();
      if (d.tick() === 0) return;
    }
    throw new Error('dispatcher did not settle');
  };
  return { h, d, run, store, proposed };
}

/** One session on `topic` stored for the 1 s class and restored (an item in each group). */
function restoreOne(h: Harness, run: () => void, topic: string): void {
  const id = h.createSession(topic, ['work']);
  h.planner.storeSession(id, 0, {});
  h.settle();
  h.now += 1_001;
  run();
}

describe('sessions: consumer groups, what a review found (2026-12-07)', () => {
  it('a consumer attaching again during the last allowed delivery: no dead letter before its deadline, and its ack of that delivery settles the item', () => {
    const { h, d, run, store } = cluster();
    h.client({ kind: CommandKind.groupCreate, topic: 't', name: 'g', ackWaitMs: 60_000, maxDeliveries: 1, maxAckPending: 10 });
    restoreOne(h, run, 't');
    const g = store.groupByName('t', 'g')!;
    const first: GroupDelivery[] = [];
    const c1 = d.attach(g, 'w', (x) => void first.push(x));
    run();
    expect(first.map((x) => x.delivery)).to.deep.equal([1]);
    // Its connection drops; it attaches again 10 ms later (or to a new leader).
    c1.close();
    h.now += 10;
    const second: GroupDelivery[] = [];
    d.attach(g, 'w', (x) => void second.push(x));
    run();
    expect(store.groupCounts(g), 'still in flight, not a dead letter').to.include({ deadLetters: 0, inFlight: 1 });
    expect(second, 'no delivery past maxDeliveries').to.deep.equal([]);
    // The work of delivery 1 finishes; its ack (through the new attachment) settles the item.
    const x = first[0]!;
    const r = h.client({ kind: CommandKind.groupAck, group: x.group, restore: x.restoreId, delivery: 1 });
    expect(r.code).to.equal(ResultCode.ok);
    expect(store.groupCounts(g)).to.include({ deadLetters: 0, inFlight: 0 });
  });

  it('with no ack the item becomes a dead letter at its deadline; an ack after that says DEAD_LETTERED and the dead letter stays', () => {
    const { h, d, run, store } = cluster();
    h.client({ kind: CommandKind.groupCreate, topic: 't', name: 'g', ackWaitMs: 1_000, maxDeliveries: 3, maxAckPending: 10 });
    restoreOne(h, run, 't');
    const g = store.groupByName('t', 'g')!;
    const got: GroupDelivery[] = [];
    let c = d.attach(g, 'w', (x) => void got.push(x));
    run();
    h.now += 1_001;
    run();
    h.now += 1_001;
    run();
    expect(got.map((x) => x.delivery)).to.deep.equal([1, 2, 3]);
    c.close();
    c = d.attach(g, 'w', (x) => void got.push(x));
    run();
    expect(store.groupCounts(g).deadLetters, 'before the deadline of delivery 3').to.equal(0);
    h.now += 1_001;
    run();
    expect(store.groupCounts(g)).to.include({ deadLetters: 1, inFlight: 0 });
    expect(got).to.have.length(3);
    const x = got[2]!;
    const late = h.client({ kind: CommandKind.groupAck, group: x.group, restore: x.restoreId, delivery: 3 });
    expect({ ok: late.ok, code: late.code }).to.deep.equal({ ok: false, code: ResultCode.deadLettered });
    expect(store.groupCounts(g).deadLetters, 'the ack changed nothing').to.equal(1);
    c.close();
  });

  it("a nack's delay is at most NACK_DELAY_MS_MAX: beyond, SESSIONS_ERR_NUMBER_RANGE and nothing proposed; at the bound, the item waits that long", () => {
    const { h, d, run, store, proposed } = cluster();
    h.client({ kind: CommandKind.groupCreate, topic: 'u', name: 'g', ackWaitMs: 1_000, maxDeliveries: 3, maxAckPending: 10 });
    restoreOne(h, run, 'u');
    const g = store.groupByName('u', 'g')!;
    const got: GroupDelivery[] = [];
    d.attach(g, 'w', (x) => void got.push(x));
    run();
    const x = got[0]!;
    for (const delayMs of [NACK_DELAY_MS_MAX + 1, 8e15, Number.MAX_SAFE_INTEGER, Number.NaN]) {
      const before = proposed.length;
      const answers: (string | null)[] = [];
      d.nack(x.group, x.restoreId, 1, delayMs, (err) => void answers.push(err?.code ?? null));
      expect(answers, String(delayMs)).to.deep.equal([CommandErrorCode.number]);
      expect(proposed.length, String(delayMs)).to.equal(before);
    }
    d.nack(x.group, x.restoreId, 1, NACK_DELAY_MS_MAX);
    run();
    expect(store.groupCounts(g)).to.include({ inFlight: 0, ready: 1 });
    h.now += NACK_DELAY_MS_MAX - 1;
    run();
    expect(got, 'not before the delay').to.have.length(1);
    h.now += 1;
    run();
    expect(got.map((y) => y.delivery)).to.deep.equal([1, 2]);
  });
});

// A group deleted and created again under the same name: the library's consumer attaches to the new
// one (its ID is the new GroupCreate's), and resends through it the answers of work done for the
// old one. Such an answer names the new group and a restore of the old one's time. A restore
// becomes an item of the groups that exist when it applies, the new group exists only after the
// delete (the name is unique at apply), so the new group never has it: the answer finds no item
// and changes nothing (OK_ALREADY_SETTLED), whatever the new group holds. Review of 2026-12-07:
// suspected to settle an item of the new group, refuted.
describe('sessions: answers for a deleted group, resent through a group created again under its name', () => {
  it('settle, nack or remove nothing of the new group (OK_ALREADY_SETTLED)', () => {
    const { h, d, run, store } = cluster();
    const create = (): Uint8Array => {
      const r = h.client({ kind: CommandKind.groupCreate, topic: 't', name: 'g', ackWaitMs: 60_000, maxDeliveries: 5, maxAckPending: 100 });
      expect(r.ok, r.code).to.equal(true);
      return r.value!;
    };
    const restoreOne = (rec: string): Uint8Array => {
      const s = h.createSession('t', [rec]);
      h.planner.storeSession(s, 0, {});
      h.settle();
      h.now += 1_001;
      run();
      return s;
    };
    const oldId = create();
    const got: GroupDelivery[] = [];
    d.attach(store.groupByName('t', 'g')!, 'c', (x) => void got.push(x));
    const oldSession = restoreOne('old');
    expect(got).to.have.length(1);
    expect(h.client({ kind: CommandKind.groupDelete, group: oldId }).code).to.equal(ResultCode.ok);
    const newId = create();
    const g = store.groupByName('t', 'g')!;
    d.attach(g, 'c', (x) => void got.push(x));
    restoreOne('new');
    expect(got).to.have.length(2);
    const [old, fresh] = got as [GroupDelivery, GroupDelivery];
    expect(Buffer.from(fresh.group).equals(Buffer.from(newId))).to.equal(true);
    // What the port proposes for the old work's answers resent through the new attachment.
    for (const delivery of [1, 2]) {
      expect(h.client({ kind: CommandKind.groupNack, group: newId, restore: old.restoreId, delivery, readyAtMs: h.now }).code).to.equal(
        ResultCode.okAlreadySettled,
      );
      expect(h.client({ kind: CommandKind.groupAck, group: newId, restore: old.restoreId, delivery }).code).to.equal(ResultCode.okAlreadySettled);
      expect(h.client({ kind: CommandKind.groupAck, group: newId, restore: old.restoreId, delivery, remove: { session: oldSession, user: '' } }).code).to.equal(
        ResultCode.okAlreadySettled,
      );
    }
    expect(store.groupCounts(g)).to.include({ inFlight: 1, ready: 0 });
    expect(g.items.size).to.equal(1);
    expect(store.session(readU64BE(oldSession, 0), readU64BE(oldSession, 8))).to.not.equal(undefined);
    // The new group's own item is settled by its own ack.
    expect(h.client({ kind: CommandKind.groupAck, group: newId, restore: fresh.restoreId, delivery: 1 }).code).to.equal(ResultCode.ok);
    expect(g.items.size).to.equal(0);
  });
});
