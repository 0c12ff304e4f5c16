/**
 * Boundaries of the exactly-once table, the planner and the consumer groups that no other test
 * pinned down: each test here failed with a hand-made mutant of the product code (a flipped
 * comparison, a dropped check) that the rest of the suite let through (mutation audit, 2026-12-07).
 * Each names the rule it holds, at the exact value where the rule changes.
 */
import { expect } from 'chai';
import { CommandKind, commandId, type Command } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import type { ConsumerGroup } from '../../actors/sessions/consumerGroups.js';
import { Dispatcher } from '../../actors/sessions/dispatcher.js';
import { ResultCode, SessionsError, SessionsErrorCode } from '../../actors/sessions/errors.js';
import { encodeManifest } from '../../actors/sessions/manifest.js';
import { CLIENT_ACCOUNTED_BYTES, type StoreLimits } from '../../actors/sessions/options.js';
import { storedRecordLength } from '../../actors/sessions/record.js';
import { Planner } from '../../actors/sessions/planner.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import { Harness, TestLog, bytes, clientOf, testSecret } from './helpers.js';

function newStore(limits: Partial<StoreLimits> = {}): SessionsStore {
  return new SessionsStore({ fs: new MemorySessionFs(), limits, defer: (fn) => fn() });
}

function run(store: SessionsStore, log: TestLog, cmd: Command): CommandResult {
  return store.apply([log.push(cmd)])[0] as CommandResult;
}

describe('sessions: boundaries a mutation audit found unpinned (2026-12-07)', () => {
  describe('the client table', () => {
    it('a client idle for exactly clientIdleEntriesMax entries is kept; one entry more and it is forgotten', () => {
      for (const [gap, expected] of [
        [2, 'OK'],
        [3, ResultCode.clientUnknown],
      ] as const) {
        const store = newStore({ clientIdleEntriesMax: 2 });
        const log = new TestLog();
        const c = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(4) }));
        // Entries that touch no client (expiry is decided at every command entry, by its index).
        for (let k = 1; k < gap; k++) run(store, log, { kind: CommandKind.sessionCreate, topic: 'filler', envelope: null });
        // The client's command at index 1 + gap: idle for `gap` entries since its register at index 1.
        expect(log.lastIndex + 1).to.equal(1 + gap);
        const r = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: c.env(1) });
        expect(r.code, `a command ${gap} entries after the client's last`).to.equal(expected);
        expect(store.stats().clientsEvicted.idle).to.equal(expected === 'OK' ? 0 : 1);
      }
    });

    it('a table at exactly clientTableBytesMax evicts nobody; one byte under and the least recently active goes', () => {
      for (const [bytesMax, evicted] of [
        [2 * CLIENT_ACCOUNTED_BYTES, 0],
        [2 * CLIENT_ACCOUNTED_BYTES - 1, 1],
      ] as const) {
        // clientResultsMax 1: the smallest table that holds one client with a full window (options.ts) is below 2 clients.
        const store = newStore({ clientResultsMax: 1, clientTableBytesMax: bytesMax });
        const log = new TestLog();
        const first = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
        run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(2) });
        expect(store.stats().clientsEvicted.bytes, `clientTableBytesMax ${bytesMax}`).to.equal(evicted);
        expect(store.stats().clients).to.equal(2 - evicted);
        const r = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: first.env(1) });
        expect(r.code).to.equal(evicted === 0 ? 'OK' : ResultCode.clientUnknown);
      }
    });

    it("the leader's gateway answers 'stale' for every seq below ackedBelowSeq, the one just below included", () => {
      const store = newStore();
      const log = new TestLog();
      const c = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
      const id = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: c.env(1) }).value!;
      for (let seq = 2; seq <= 3; seq++) run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes(`r${seq}`), envelope: c.env(seq) });
      // Seq 4 acknowledges everything below 3: seqs 1 and 2 are forgotten, 3 is remembered.
      run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('r4'), envelope: c.env(4, 3) });
      const at = (seq: number): unknown => store.clientResult(1, 1, c.secret, seq);
      expect(at(1)).to.equal('stale');
      expect(at(2), 'the seq just below ackedBelowSeq').to.equal('stale');
      expect(at(3)).to.deep.include({ ok: true, code: 'OK' });
      expect(at(5), 'not applied yet').to.equal(undefined);
      // What the log says for that seq is the same: a retry of seq 2 is SEQ_STALE, and appends nothing.
      expect(run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('again'), envelope: c.env(2) }).code).to.equal(ResultCode.seqStale);
      expect(store.getSession(id)!.records).to.have.length(3);
    });
  });

  describe('the scheduler', () => {
    it("restores a due session only when it fits activeBytesMax less the clients' reserve (a tenth): exactly at the line is room, one byte over waits (no refused restore in the log)", () => {
      // activeBytesMax 20: restores may fill 18 bytes, the last 2 are the clients'.
      for (const [otherBytes, restored] of [
        [12, true],
        [13, false],
      ] as const) {
        const store = newStore({ activeBytesMax: 20 });
        const h = new Harness([store], { replayDelaysMs: [1_000] });
        const stored = h.createSession('t', ['x'.repeat(6)]);
        h.planner.storeSession(stored, 0, {});
        h.settle();
        expect(store.getSession(stored), 'stored').to.equal(null);
        const other = h.createSession('t', ['y'.repeat(otherBytes)]);
        h.now += 1_001;
        h.settle();
        expect(store.getSession(stored) !== null, `6 bytes due beside ${otherBytes} active, activeBytesMax 20`).to.equal(restored);
        expect(store.stats().rejectedByCode, 'no restore proposed that apply refuses').to.deep.equal({});
        if (!restored) {
          // Room made: it is restored at the next tick.
          h.client({ kind: CommandKind.sessionDestroy, session: other, envelope: null });
          h.settle();
          expect(store.getSession(stored)).to.not.equal(null);
        }
      }
    });

    it('leaves a tenth of activeSessionsMax to clients: sessions due with no consumer stop at nine of ten, and a client still creates the tenth', () => {
      const store = newStore({ activeSessionsMax: 10 });
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      const due: Uint8Array[] = [];
      for (let k = 0; k < 10; k++) {
        const id = h.createSession('t', [`r${k}`]);
        h.planner.storeSession(id, 0, {});
        h.settle();
        due.push(id);
      }
      expect(store.stats().activeSessions, 'all ten stored').to.equal(0);
      h.now += 1_001;
      h.settle();
      const restored = due.filter((id) => store.getSession(id) !== null).length;
      expect(restored, 'restored up to the reserve').to.equal(9);
      expect(store.stats().rejectedByCode, 'no restore proposed that apply refuses').to.deep.equal({});
      // Before 2026-12-07 restores took all ten slots, and this create was SESSIONS_ERR_TOO_MANY_SESSIONS.
      const mine = h.createSession('t', ['mine']);
      expect(store.getSession(mine)).to.not.equal(null);
      expect(store.stats().activeSessions).to.equal(10);
      // The tenth due session waits in its data file until a slot is free again.
      h.client({ kind: CommandKind.sessionDestroy, session: mine, envelope: null });
      h.client({ kind: CommandKind.sessionDestroy, session: due.find((id) => store.getSession(id) !== null)!, envelope: null });
      h.settle();
      expect(due.filter((id) => store.getSession(id) !== null).length, 'the last one restored once there was room').to.equal(9);
      expect(store.stats().activeSessions).to.equal(9);
    });
  });

  describe('consumer group apply rules', () => {
    /** A group on topic 't' with one restored item; its IDs, and a way to apply group commands. */
    function oneItem(): {
      h: Harness;
      store: SessionsStore;
      group: Uint8Array;
      restore: Uint8Array;
      item: () => { deliveries: number; inFlight: boolean; readyAtMs: number } | undefined;
    } {
      const store = newStore();
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      const group = h.client({ kind: CommandKind.groupCreate, topic: 't', name: 'g', ackWaitMs: 1_000, maxDeliveries: 5, maxAckPending: 10 }).value!;
      const id = h.createSession('t', ['x']);
      h.planner.storeSession(id, 0, {});
      h.settle();
      h.now += 1_001;
      h.settle();
      const g = store.groupByName('t', 'g')!;
      expect(g.items.size, 'one item restored').to.equal(1);
      const [rl, it] = [...g.items.entries()][0]!;
      const restore = commandId(it.restore.high, rl);
      const item = (): { deliveries: number; inFlight: boolean; readyAtMs: number } | undefined => {
        const x = store.groupByName('t', 'g')!.items.get(rl);
        return x === undefined ? undefined : { deliveries: x.deliveries, inFlight: x.inFlight, readyAtMs: x.readyAtMs };
      };
      return { h, store, group, restore, item };
    }

    it('a GroupDeliver must carry the next delivery number: one that skips ahead is DELIVERY_STALE and changes nothing', () => {
      const { h, group, restore, item } = oneItem();
      const deliver = (delivery: number): CommandResult =>
        h.client({ kind: CommandKind.groupDeliver, group, restore, delivery, deadlineMs: h.now + 1_000, consumer: 'c' });
      expect(deliver(2).code, 'delivery 2 of an item never delivered').to.equal(ResultCode.deliveryStale);
      expect(item()).to.deep.equal({ deliveries: 0, inFlight: false, readyAtMs: 0 });
      expect(deliver(1).code).to.equal('OK');
      expect(deliver(3).code, 'delivery 3 after 1').to.equal(ResultCode.deliveryStale);
      expect(deliver(1).code, 'delivery 1 again').to.equal(ResultCode.deliveryStale);
      expect(item()).to.deep.include({ deliveries: 1, inFlight: true });
      // Settled by its ack: a delivery of it delivers nothing, and says so (not OK_ALREADY_SETTLED).
      expect(h.client({ kind: CommandKind.groupAck, group, restore, delivery: 1 }).code).to.equal('OK');
      const late = deliver(2);
      expect(late.ok).to.equal(false);
      expect(late.code, 'a delivery of a settled item').to.equal(ResultCode.deliveryStale);
    });

    it('a nack of a delivery already given back is DELIVERY_STALE: a retried nack does not push the item further back', () => {
      const { h, group, restore, item } = oneItem();
      expect(h.client({ kind: CommandKind.groupDeliver, group, restore, delivery: 1, deadlineMs: h.now + 1_000, consumer: 'c' }).code).to.equal('OK');
      const readyAtMs = h.now + 10;
      expect(h.client({ kind: CommandKind.groupNack, group, restore, delivery: 1, readyAtMs }).code).to.equal('OK');
      expect(item()).to.deep.equal({ deliveries: 1, inFlight: false, readyAtMs });
      expect(h.client({ kind: CommandKind.groupNack, group, restore, delivery: 1, readyAtMs: h.now + 60_000 }).code).to.equal(ResultCode.deliveryStale);
      expect(item(), "still ready at the first nack's time").to.deep.equal({ deliveries: 1, inFlight: false, readyAtMs });
    });

    it('a GroupDeadLetter of an earlier delivery than the current one is DELIVERY_STALE: the item stays, no dead letter', () => {
      const { h, store, group, restore, item } = oneItem();
      for (const delivery of [1, 2])
        expect(h.client({ kind: CommandKind.groupDeliver, group, restore, delivery, deadlineMs: h.now + 1_000, consumer: 'c' }).code).to.equal('OK');
      expect(h.client({ kind: CommandKind.groupDeadLetter, group, restore, delivery: 1 }).code).to.equal(ResultCode.deliveryStale);
      expect(item()).to.deep.include({ deliveries: 2, inFlight: true });
      expect(store.groupCounts(store.groupByName('t', 'g')!)).to.include({ deadLetters: 0, deadLettered: 0 });
      expect(h.client({ kind: CommandKind.groupDeadLetter, group, restore, delivery: 2 }).code).to.equal('OK');
      expect(item()).to.equal(undefined);
    });
    it('a snapshot whose group lists one dead letter twice is refused (SNAPSHOT_CORRUPT), not loaded with its record held twice', () => {
      const { h, store, group, restore } = oneItem();
      h.client({ kind: CommandKind.groupDeliver, group, restore, delivery: 1, deadlineMs: h.now + 1_000, consumer: 'c' });
      expect(h.client({ kind: CommandKind.groupDeadLetter, group, restore, delivery: 1 }).code).to.equal('OK');
      const m = store.manifest();
      const table = m.groups!;
      // Format 2 ends with the only group's dead letters: u32 n, then n entries of 45 bytes.
      const DEAD = 45;
      const at = table.length - DEAD - 4;
      expect(new DataView(table.buffer, table.byteOffset).getUint32(at)).to.equal(1);
      const twice = new Uint8Array(table.length + DEAD);
      twice.set(table, 0);
      twice.set(table.subarray(table.length - DEAD), table.length);
      new DataView(twice.buffer).setUint32(at, 2);
      const meta = h.log.meta(h.log.lastIndex);
      const before = store.digest().overall;
      expect(() => store.restore(meta, encodeManifest({ ...m, groups: twice })))
        .to.throw(SessionsError)
        .with.property('code', SessionsErrorCode.snapshotCorrupt);
      expect(store.digest().overall, 'refused whole').to.equal(before);
      // The table as written loads (the edit above is the only fault).
      store.restore(meta, encodeManifest(m));
      expect(store.digest().overall).to.equal(before);
    });
  });

  describe('the dispatcher', () => {
    /** A leader (harness) with a dispatcher on its store; `run` settles the log and ticks until nothing more is proposed. */
    function leader(restoreLeadMs = 0): { h: Harness; d: Dispatcher; store: SessionsStore; run: () => void } {
      const ref: { h?: Harness } = {};
      const now = (): number => ref.h!.now;
      const store = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn(), clock: now, after: () => undefined });
      const h = new Harness([store], restoreLeadMs > 0 ? { replayDelaysMs: [1_000], restoreLeadMs } : { replayDelaysMs: [1_000] });
      ref.h = h;
      // No timer: ticks release what is held.
      const d = new Dispatcher({ store, clock: now, isLeader: () => true, submit: (cmd) => void h.planner.submit(cmd, null), after: () => undefined });
      const run = (): void => {
        for (let round = 0; round < 200; round++) {
          h.settle();
          if (d.tick() === 0) return;
        }
        throw new Error('dispatcher did not settle');
      };
      return { h, d, store, run };
    }

    function group(h: Harness, store: SessionsStore, over: { ackWaitMs?: number; maxAckPending?: number } = {}): ConsumerGroup {
      const r = h.client({
        kind: CommandKind.groupCreate,
        topic: 't',
        name: 'g',
        ackWaitMs: over.ackWaitMs ?? 30_000,
        maxDeliveries: 5,
        maxAckPending: over.maxAckPending ?? 10,
      });
      expect(r.ok, r.code).to.equal(true);
      return store.groupByName('t', 'g')!;
    }

    it('an unacknowledged delivery is redelivered at its deadline, to the millisecond (not one later)', () => {
      const { h, d, store, run } = leader();
      const g = group(h, store, { ackWaitMs: 1_000 });
      const got: number[] = [];
      d.attach(g, 'c1', (x) => void got.push(x.delivery));
      h.planner.storeSession(h.createSession('t', ['a']), 0, {});
      h.settle();
      h.now += 1_000;
      run();
      expect(got).to.deep.equal([1]);
      const deadlineMs = [...g.items.values()][0]!.deadlineMs;
      h.now = deadlineMs - 1;
      run();
      expect(got, 'before the deadline').to.deep.equal([1]);
      h.now = deadlineMs;
      run();
      expect(got, 'at the deadline').to.deep.equal([1, 2]);
    });

    it("a consumer never holds more than its group's maxAckPending, whatever it asks for", () => {
      const { h, d, store, run } = leader();
      const g = group(h, store, { maxAckPending: 2 });
      const got: number[] = [];
      d.attach(g, 'c1', (x) => void got.push(x.delivery), { maxAckPending: 5 });
      for (let k = 0; k < 4; k++) {
        h.planner.storeSession(h.createSession('t', [`s${k}`]), 0, {});
        h.settle();
      }
      h.now += 1_001;
      run();
      expect(got).to.have.length(2);
      expect(store.groupCounts(g)).to.include({ inFlight: 2, ready: 2 });
    });

    it('restores delivered ahead (behind their entries, before they apply) respect the consumer window too', () => {
      const store = newStore();
      const log = new TestLog();
      run(store, log, { kind: CommandKind.groupCreate, topic: 't', name: 'g', ackWaitMs: 30_000, maxDeliveries: 5, maxAckPending: 10 });
      const proposed: Command[] = [];
      const d = new Dispatcher({
        store,
        clock: () => 1_700_000_000_000,
        isLeader: () => true,
        submit: (cmd) => void proposed.push(cmd),
        defer: () => undefined,
      });
      d.attach(store.groupByName('t', 'g')!, 'c1', () => undefined, { maxAckPending: 1 });
      // Two restores of sessions on 't' planned and appended in one batch (their entries not applied yet).
      for (const index of [100, 101]) d.restorePlanned({ state: 'appended', index, term: 1 }, 't', 1_700_000_000_000);
      d.appended();
      expect(proposed.map((c) => c.kind)).to.deep.equal([CommandKind.groupDeliver]);
      expect(d.counters.deliveredAhead).to.equal(1);
    });

    it('a delivery held until its due time and redelivered meanwhile (its consumer reattached) is pushed once, as the redelivery', () => {
      const { h, d, store, run } = leader(20);
      const g = group(h, store);
      const first: number[] = [];
      d.attach(g, 'c1', (x) => void first.push(x.delivery));
      const t0 = h.now;
      h.planner.storeSession(h.createSession('t', ['a']), 0, {});
      h.settle();
      // 5 ms before the due time the restore and its delivery are applied, and held.
      h.now = t0 + 1_000 - 5;
      h.scheduler.tick();
      run();
      expect(d.heldCount).to.equal(1);
      // The consumer reattaches under its name (its connection was replaced): delivery 2 goes to it, held too.
      const second: number[] = [];
      d.attach(g, 'c1', (x) => void second.push(x.delivery));
      run();
      expect([...g.items.values()][0]!.deliveries).to.equal(2);
      expect(first.concat(second)).to.deep.equal([]);
      h.now = t0 + 1_000;
      d.tick();
      expect(second, 'the newest attachment gets delivery 2, once').to.deep.equal([2]);
      expect(first).to.deep.equal([]);
      expect(d.heldCount).to.equal(0);
    });
  });

  describe('restore refusals', () => {
    it('refuses a snapshot whose manifest is at another term than its meta, the index alike (SNAPSHOT_INDEX)', () => {
      const store = newStore();
      const log = new TestLog();
      run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: null });
      const snap = store.snapshot();
      const meta = log.meta(log.lastIndex);
      const other = newStore();
      expect(() => other.restore({ ...meta, term: meta.term + 1 }, snap))
        .to.throw(SessionsError)
        .with.property('code', SessionsErrorCode.snapshotIndex);
      expect(other.appliedIndex).to.equal(0);
      expect(other.listSessions()).to.deep.equal([]);
      other.restore(meta, snap);
      expect(other.listSessions()).to.have.length(1);
    });

    it('a snapshot refused for its client list leaves the whole store as it was (sessions, clients, groups)', () => {
      const source = newStore();
      const slog = new TestLog();
      run(source, slog, { kind: CommandKind.clientRegister, secret: testSecret(1) });
      run(source, slog, { kind: CommandKind.sessionCreate, topic: 'theirs', envelope: null });
      const m = source.manifest();
      const c0 = m.clients[0]!;
      // The same client listed twice: consistent with its CRC, not with itself.
      const twice = encodeManifest({ ...m, clients: [c0, { ...c0, results: [] }] });
      const store = newStore();
      const log = new TestLog();
      const mine = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(2) }));
      run(store, log, { kind: CommandKind.sessionCreate, topic: 'mine', envelope: mine.env(1) });
      run(store, log, { kind: CommandKind.groupCreate, topic: 'mine', name: 'g', ackWaitMs: 1_000, maxDeliveries: 3, maxAckPending: 10 });
      const before = store.digest().overall;
      expect(() => store.restore(slog.meta(slog.lastIndex), twice))
        .to.throw(SessionsError)
        .with.property('code', SessionsErrorCode.snapshotCorrupt);
      expect(store.digest().overall, 'nothing of the refused snapshot was loaded').to.equal(before);
      expect(store.listSessions().map((s) => s.topic)).to.deep.equal(['mine']);
      expect(run(store, log, { kind: CommandKind.sessionCreate, topic: 'mine', envelope: mine.env(1) }).duplicate, 'the client table kept').to.equal(true);
    });
  });

  describe('the planner', () => {
    // storedRecordBytesMax = 40 + 16 + 4 * 4 + 1024 = 1096 bytes: every data file below may be as small as two records.
    const limits: Partial<StoreLimits> = { topicBytesMax: 16, recordBytesMax: 1024, sessionBytesMax: 1024, sessionRecordsMax: 4 };
    /** One session on topic 't' with one record of 1,000 bytes, stored. */
    const L = storedRecordLength(1, 1, 1000);

    /** Two sessions of L bytes stored in class 0; the data files' sizes after. */
    function storeTwo(dataFileBytesMax: number): number[] {
      const store = newStore(limits);
      const h = new Harness([store], { replayDelaysMs: [1_000], dataFileBytesMax });
      for (let k = 0; k < 2; k++) {
        const id = h.createSession('t', ['x'.repeat(1000)]);
        expect(h.planner.storeSession(id, 0, {}).status).to.be.oneOf(['proposed', 'deferred']);
        h.settle();
        expect(store.getSession(id), 'stored').to.equal(null);
      }
      return store.dataFiles().map((f) => f.size);
    }

    it("a store of a session that a previous leader's restore in flight will make active waits for it (not SESSION_UNKNOWN)", () => {
      const store = newStore();
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      const id = h.createSession('t', ['x']);
      h.planner.storeSession(id, 0, {});
      h.settle();
      // Due: the leader appends the restore, and loses leadership before it is committed.
      h.now += 1_001;
      h.scheduler.tick();
      expect(h.flush().length).to.equal(1);
      h.changeLeader(0);
      expect(store.getSession(id), 'not restored yet').to.equal(null);
      // The new leader cannot tell which session the restore is of: a store of any unknown session waits.
      expect(h.planner.storeSession(id, 0, { context: 'again' }).status).to.equal('deferred');
      h.settle();
      expect(h.outcomes, 'nothing refused').to.deep.equal([]);
      expect(store.getSession(id), 'restored, then stored again').to.equal(null);
      expect(store.stats().rejectedByCode).to.deep.equal({});
    });

    it('storeSession under an envelope whose seq is in flight waits for it, then answers from the client table (no store written)', () => {
      const store = newStore();
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      const first = h.createSession('a', ['x']);
      h.planner.storeSession(first, 0, {});
      h.settle();
      const c = clientOf(h.client({ kind: CommandKind.clientRegister, secret: testSecret(1) }));
      const other = h.createSession('t');
      const id = h.createSession('t', ['z']);
      h.planner.submit({ kind: CommandKind.sessionAppend, session: other, bytes: bytes('y'), envelope: c.env(5) }, null);
      expect(h.planner.storeSession(id, 0, { envelope: c.env(5), context: 'store' }).status).to.equal('deferred');
      const sizes = store.dataFiles().map((f) => f.size);
      h.settle();
      expect(h.outcomes.map((o) => [o.context, o.outcome.status])).to.deep.equal([['store', 'duplicate']]);
      expect(
        store.dataFiles().map((f) => f.size),
        'no store (not even a void record) was written',
      ).to.deep.equal(sizes);
      expect(store.getSession(id), 'still active').to.not.equal(null);
    });

    it('storeAfterCreate plans nothing under an envelope whose seq is already in flight', () => {
      const store = newStore();
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      const first = h.createSession('a', ['x']);
      h.planner.storeSession(first, 0, {});
      h.settle();
      const c = clientOf(h.client({ kind: CommandKind.clientRegister, secret: testSecret(1) }));
      const other = h.createSession('t');
      // Seq 5 in flight (proposed, not applied) on another session.
      h.planner.submit({ kind: CommandKind.sessionAppend, session: other, bytes: bytes('y'), envelope: c.env(5) }, null);
      const create = h.planner.submit({ kind: CommandKind.sessionCreate, topic: 't', envelope: c.env(6) }, null);
      h.planner.submitAfterCreate(create, bytes('p'), c.env(7));
      expect(h.planner.storeAfterCreate(create, 0, { topicByteLength: 1, appendBytes: 1 }, { envelope: c.env(5), context: 'store' })).to.equal(false);
      const sizes = store.dataFiles().map((f) => f.size);
      h.settle();
      expect(
        store.dataFiles().map((f) => f.size),
        'no store (not even a void record) was written',
      ).to.deep.equal(sizes);
    });

    it('a record that fills the newest data file exactly goes in it; one byte more and a new file is started', () => {
      expect(storeTwo(2 * L), 'two records fill the file exactly').to.deep.equal([2 * L]);
      expect(storeTwo(2 * L - 1), 'the second would pass dataFileBytesMax by one byte').to.deep.equal([L, L]);
    });

    it('storeAfterAppend plans behind the tail only when the record fits the newest file, to the byte', () => {
      for (const [dataFileBytesMax, fits] of [
        [2 * L, true],
        [2 * L - 1, false],
      ] as const) {
        const store = newStore(limits);
        const h = new Harness([store], { replayDelaysMs: [1_000], dataFileBytesMax });
        const first = h.createSession('t', ['x'.repeat(1000)]);
        h.planner.storeSession(first, 0, {});
        h.settle();
        expect(store.dataFiles().map((f) => f.size)).to.deep.equal([L]);
        // A schedule: the create applied, its one append in flight, the store planned ahead of it.
        const id = h.createSession('t');
        h.planner.submit({ kind: CommandKind.sessionAppend, session: id, bytes: new Uint8Array(1000), envelope: null }, null);
        const planned = h.planner.storeAfterAppend(id, 0, { topicByteLength: 1, appendBytes: 1000 }, { context: 'store' });
        expect(planned, `dataFileBytesMax ${dataFileBytesMax}`).to.equal(fits);
        h.settle();
        for (const f of store.dataFiles()) expect(f.size).to.be.at.most(dataFileBytesMax);
      }
    });

    it('storeAfterAppend plans nothing for a session with no append in flight (the projection would not be its record)', () => {
      const store = newStore(limits);
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      const first = h.createSession('a', ['x']);
      h.planner.storeSession(first, 0, {});
      h.settle();
      const id = h.createSession('t', ['y']);
      expect(h.planner.storeAfterAppend(id, 0, { topicByteLength: 1, appendBytes: 1 }, { context: 'store' })).to.equal(false);
      expect(h.planner.inFlight).to.equal(0);
      h.settle();
      expect(store.stats().rejectedByCode).to.deep.equal({});
      expect(store.getSession(id)!.records).to.have.length(1);
    });

    it('storeAfterAppend plans nothing when the append would pass sessionRecordsMax by one record', () => {
      const store = newStore(limits);
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      const first = h.createSession('a', ['x']);
      h.planner.storeSession(first, 0, {});
      h.settle();
      // sessionRecordsMax 4: a session with 4 records, and a fifth append in flight (refused at apply).
      const id = h.createSession('t', ['1', '2', '3', '4']);
      h.planner.submit({ kind: CommandKind.sessionAppend, session: id, bytes: bytes('5'), envelope: null }, null);
      expect(h.planner.storeAfterAppend(id, 0, { topicByteLength: 1, appendBytes: 1 }, { context: 'store' })).to.equal(false);
      h.settle();
      expect(store.getSession(id)!.records, 'the fifth append was refused; the session is still active, not stored').to.have.length(4);
      // The session at its bound (the fourth append in flight) is planned ahead.
      const ok = h.createSession('t', ['1', '2', '3']);
      h.planner.submit({ kind: CommandKind.sessionAppend, session: ok, bytes: bytes('4'), envelope: null }, null);
      expect(h.planner.storeAfterAppend(ok, 0, { topicByteLength: 1, appendBytes: 1 }, { context: 'store' })).to.equal(true);
      h.settle();
      expect(store.getSession(ok), 'stored').to.equal(null);
    });
    it('at most deferredMax store requests wait: the next one is refused PLANNER_BUSY, not queued', () => {
      const store = newStore();
      const log = new TestLog();
      const ids = [0, 1, 2].map(() => run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: null }).value!);
      const proposed: Uint8Array[] = [];
      const planner = new Planner({
        store,
        replayDelaysMs: [1_000],
        clock: () => 1_700_000_000_000,
        propose: (b) => void proposed.push(...b.map((p) => p.data)),
        deferredMax: 2,
      });
      planner.reset(store, []);
      // No data file yet: the first request proposes a DataCreate and waits for it; the next waits behind it.
      expect(planner.storeSession(ids[0]!, 0).status).to.equal('deferred');
      expect(planner.storeSession(ids[1]!, 0).status).to.equal('deferred');
      const third = planner.storeSession(ids[2]!, 0);
      expect(third.status).to.equal('rejected');
      expect(third.status === 'rejected' && third.error.code).to.equal(SessionsErrorCode.plannerBusy);
      expect(planner.deferredCount).to.equal(2);
      planner.dispose();
    });
  });
});
