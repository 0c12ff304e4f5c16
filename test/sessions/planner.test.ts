import { expect } from 'chai';
import { InvariantError } from '../../machines/assert.js';
import { CommandKind, commandId, decodeCommand, type Command } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { ResultCode, SessionsErrorCode, type SessionsError } from '../../actors/sessions/errors.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { StoreLimits } from '../../actors/sessions/options.js';
import type { Delivery } from '../../actors/sessions/types.js';
import { Harness, bytes, clientOf, testSecret, text } from './helpers.js';

const limits: Partial<StoreLimits> = { sessionBytesMax: 1024, recordBytesMax: 512, sessionRecordsMax: 8 };

function stores(n: number): { stores: SessionsStore[]; fss: MemorySessionFs[] } {
  const fss = Array.from({ length: n }, () => new MemorySessionFs());
  return { stores: fss.map((fs) => new SessionsStore({ fs, limits, defer: (fn) => fn() })), fss };
}

function kinds(h: Harness, from: number): string[] {
  return h.log
    .slice(from)
    .flatMap((e) => (e.kind === 1 ? [decodeCommand(e.data).kind] : []))
    .map((k) => ['', 'create', 'append', 'rewrite', 'store', 'destroy', 'restore', 'commit', 'dataCreate', 'dataDelete', 'register'][k]!);
}

describe('sessions: planner and replay scheduler', () => {
  it('stored sessions come back when due by the injected clock, in order per class; commits follow; consumed sealed files are deleted', () => {
    const {
      stores: [a],
      fss: [fs],
    } = stores(1);
    const h = new Harness([a!], { replayDelaysMs: [1_000, 10_000], dataFileBytesMax: 1500 });
    const got: { d: Delivery; at: number }[] = [];
    for (const t of ['x', 'y']) a!.subscribe(t, (d) => void got.push({ d, at: h.now }));
    const storedAt = new Map<string, { due: number; cls: number; order: number }>();
    for (let k = 0; k < 24; k++) {
      const id = h.createSession(k % 2 === 0 ? 'x' : 'y', [`s${k}`, 'p'.repeat(80)]);
      const cls = k % 3 === 0 ? 1 : 0;
      expect(h.planner.storeSession(id, cls, { context: k }).status).to.be.oneOf(['proposed', 'deferred']);
      storedAt.set(Buffer.from(id).toString('hex'), { due: h.now + [1_000, 10_000][cls]!, cls, order: k });
      h.settle();
      h.now += 100;
    }
    // Rotation happened: several files per class, each DataCreate before the store that did not fit.
    expect(a!.dataFiles().filter((f) => f.replayClass === 0).length).to.be.greaterThan(1);
    // Advance in steps: nothing comes back before its due time, and per class in store order.
    for (let step = 0; step < 150; step++) {
      h.now += 97;
      h.settle();
    }
    expect(got).to.have.length(24);
    for (const { d, at } of got) {
      const s = storedAt.get(Buffer.from(d.session).toString('hex'))!;
      expect(at).to.be.at.least(s.due);
      expect(at - s.due).to.be.lessThan(100);
    }
    for (const cls of [0, 1]) {
      const order = got
        .map(({ d }) => storedAt.get(Buffer.from(d.session).toString('hex'))!)
        .filter((s) => s.cls === cls)
        .map((s) => s.order);
      expect(order).to.deep.equal([...order].sort((x, y) => x - y));
    }
    expect(got[0]!.d.records.map(text)[0]).to.equal('s1'); // s0 went to the 10 s class
    // Everything was committed; only the newest file of each class is left, the rest are gone from data/.
    for (const f of a!.dataFiles())
      expect({ name: f.name, consumed: f.consumed, sealed: f.sealed }).to.deep.equal({ name: f.name, consumed: f.size, sealed: false });
    expect(a!.dataFiles()).to.have.length(2);
    expect([...fs!.files('data').keys()].sort()).to.deep.equal(
      a!
        .dataFiles()
        .map((f) => f.name)
        .sort(),
    );
    expect(h.scheduler.counters.deletes).to.be.greaterThan(0);
    // The restored sessions are active again.
    expect(a!.listSessions()).to.have.length(24);
  });

  it('plans a DataCreate before the store that would not fit, and the store once the DataCreate is appended', () => {
    const {
      stores: [a],
    } = stores(1);
    const h = new Harness([a!], { dataFileBytesMax: 1500 });
    const before = h.log.lastIndex;
    const id = h.createSession('t', ['r']);
    expect(h.planner.storeSession(id, 0)).to.deep.equal({ status: 'deferred' });
    h.settle();
    expect(kinds(h, before)).to.deep.equal(['create', 'append', 'dataCreate', 'store']);
    expect(h.outcomes).to.deep.equal([]);
  });

  it('defers a store while commands on its session are in flight, so the planned length is exact', () => {
    const {
      stores: [a],
    } = stores(1);
    const h = new Harness([a!]);
    const id = h.createSession('t', ['r']);
    h.client({ kind: CommandKind.dataCreate, replayClass: 0 });
    // An append proposed and not yet applied, then the store request.
    h.planner.submit({ kind: CommandKind.sessionAppend, session: id, bytes: bytes('late'), envelope: null });
    expect(h.planner.storeSession(id, 0)).to.deep.equal({ status: 'deferred' });
    h.flush();
    expect(h.planner.deferredCount).to.equal(1);
    h.commit();
    h.settle();
    expect(h.planner.deferredCount).to.equal(0);
    expect(a!.getSession(id)).to.equal(null);
    const f = a!.newestFile(0)!;
    expect(f.size).to.equal(40 + 1 + 4 + 1 + 4 + 4);
    // A store of a session that does not exist is answered at once, with no entry.
    const n = h.log.lastIndex;
    expect(h.planner.storeSession(commandId(9, 9), 0)).to.deep.include({ status: 'rejected' });
    expect(h.planner.storeSession(id, 7)).to.have.nested.property('error.code', SessionsErrorCode.replayClass);
    expect(h.log.lastIndex).to.equal(n);
  });

  it('keeps offsets exact across a leader change with entries appended but not applied, and proposals lost', () => {
    const { stores: ss, fss } = stores(3);
    const h = new Harness(ss, { dataFileBytesMax: 1500 });
    const ids = Array.from({ length: 12 }, (_, k) => h.createSession(`t${k % 2}`, [`r${k}`, 'z'.repeat(60 + k)]));
    // Leader 0 plans stores; some are appended (not committed), the rest lost with its leadership.
    for (const id of ids.slice(0, 5)) h.planner.storeSession(id, 0);
    h.flush();
    for (const id of ids.slice(5, 8)) h.planner.storeSession(id, 0);
    h.flush();
    // Store 2 applies what is appended; store 1 lags (it applied none of it).
    h.commit(undefined, [2]);
    const appendedStores = h.log.slice(ss[1]!.appliedIndex).length;
    expect(appendedStores).to.be.greaterThan(5);
    for (const id of ids.slice(8)) h.planner.storeSession(id, 0);
    // Leadership moves to store 1: its planner starts from its applied state + the unapplied entries.
    h.changeLeader(1);
    for (const id of ids.slice(8)) expect(h.planner.storeSession(id, 0).status).to.be.oneOf(['proposed', 'deferred']);
    h.settle();
    // Retrying stores that were already planned by the old leader: answered without an entry.
    for (const id of ids.slice(0, 8)) expect(h.planner.storeSession(id, 0)).to.deep.include({ status: 'rejected' });
    expect(ss.map((s) => s.digest())).to.satisfy((d: unknown[]) => d.every((x) => JSON.stringify(x) === JSON.stringify(d[0])));
    expect(ss[1]!.listSessions()).to.have.length(0);
    const stored = ss[1]!.dataFiles().reduce((n, f) => n + f.size, 0);
    expect(stored).to.be.greaterThan(12 * 100);
    // Then everything comes back, on all three stores alike.
    h.now += 2_000;
    h.settle();
    expect(ss[1]!.listSessions()).to.have.length(12);
    expect(ss.map((s) => JSON.stringify(s.digest()))).to.satisfy((d: string[]) => d.every((x) => x === d[0]));
    expect([...fss[0]!.files('data').keys()]).to.deep.equal([...fss[1]!.files('data').keys()]);
  });

  it('a new leader does not propose again a restore the old leader left in flight', () => {
    const { stores: ss } = stores(2);
    const h = new Harness(ss, { replayDelaysMs: [10] });
    const ids = [h.createSession('t', ['a']), h.createSession('t', ['b'])];
    for (const id of ids) h.planner.storeSession(id, 0);
    h.settle();
    h.now += 100;
    h.scheduler.tick();
    const restores = h.flush();
    expect(restores.map((e) => decodeCommand(e.data).kind)).to.deep.equal([CommandKind.sessionRestore, CommandKind.sessionRestore]);
    // Not applied anywhere; leadership changes.
    h.changeLeader(1);
    const n = h.log.lastIndex;
    expect(h.scheduler.tick()).to.equal(0);
    h.commit();
    h.settle();
    // Only the commit of both records (one entry: they were settled in the same tick), and no second restore, was proposed.
    expect(kinds(h, n)).to.deep.equal(['commit']);
    expect(ss[1]!.listSessions()).to.have.length(2);
    expect(ss[1]!.stats().rejectedByCode).to.deep.equal({});
  });

  it('never proposes the same restore twice while one is in flight; bounded work per tick', () => {
    const {
      stores: [a],
    } = stores(1);
    const h = new Harness([a!], { replayDelaysMs: [10], proposalsPerTickMax: 3, restoresInFlightPerFileMax: 8 });
    for (let k = 0; k < 10; k++) h.planner.storeSession(h.createSession('t', [`${k}`]), 0);
    h.settle();
    h.now += 100;
    expect(h.scheduler.tick()).to.equal(3);
    expect(h.scheduler.tick()).to.equal(3);
    expect(h.scheduler.tick()).to.equal(2);
    expect(h.scheduler.tick()).to.equal(0);
    h.flush();
    expect(h.scheduler.tick()).to.equal(0);
    h.commit();
    h.settle();
    expect(a!.listSessions()).to.have.length(10);
    expect(a!.stats().rejectedByCode).to.deep.equal({});
  });

  it('re-plans exactly after a refused batch', () => {
    const {
      stores: [a],
    } = stores(1);
    const h = new Harness([a!]);
    const [x, y] = [h.createSession('t', ['x']), h.createSession('t', ['y'])];
    h.client({ kind: CommandKind.dataCreate, replayClass: 0 });
    h.planner.storeSession(x, 0);
    // Raft refused the batch: it is never appended.
    (h as unknown as { queue: unknown[] }).queue = [];
    h.planner.refused();
    expect(h.planner.inFlight).to.equal(0);
    h.planner.storeSession(y, 0);
    h.planner.storeSession(x, 0);
    h.settle();
    expect(a!.listSessions()).to.have.length(0);
    expect(a!.stats().rejectedByCode).to.deep.equal({});
  });

  it('answers a retried store (same client and seq) from the table, not storing twice', () => {
    const {
      stores: [a],
    } = stores(1);
    const h = new Harness([a!]);
    const c = clientOf(h.client({ kind: CommandKind.clientRegister, secret: testSecret(1) }));
    const id = h.createSession('t', ['x']);
    const envelope = c.env(1);
    expect(h.planner.storeSession(id, 0, { envelope, context: 'first' }).status).to.equal('deferred'); // waits for the DataCreate
    h.settle();
    // The retry, while the store is in flight or after it was applied, is not planned again.
    const n = h.log.lastIndex;
    expect(h.planner.storeSession(id, 0, { envelope, context: 'retry' })).to.deep.equal({
      status: 'duplicate',
      result: { ok: true, code: 'OK', value: null, duplicate: true },
    });
    expect(h.log.lastIndex).to.equal(n);
    h.planner.submit({ kind: CommandKind.sessionAppend, session: id, bytes: bytes('x'), envelope: c.env(2, 1) });
    h.flush();
    h.planner.submit({ kind: CommandKind.sessionCreate, topic: 't', envelope: c.env(3, 1) });
    expect(h.planner.storeSession(id, 0, { envelope: c.env(2, 1) })).to.deep.equal({ status: 'deferred' });
    h.commit();
    h.settle();
    expect(h.outcomes.map((o) => o.outcome.status)).to.deep.equal(['duplicate']);
  });

  it("refuses a store in another client's name (its ID without its secret): no entry, no remembered result, no waiting", () => {
    const {
      stores: [a],
    } = stores(1);
    const h = new Harness([a!]);
    const victim = clientOf(h.client({ kind: CommandKind.clientRegister, secret: testSecret(1) }));
    const id = h.createSession('t', ['x']);
    expect(h.planner.storeSession(id, 0, { envelope: victim.env(1), context: 'victim' }).status).to.equal('deferred');
    h.settle();
    const n = h.log.lastIndex;
    const forged = { ...victim.env(1), secret: testSecret(2) };
    const out = h.planner.storeSession(id, 0, { envelope: forged, context: 'forger' });
    expect(out.status).to.equal('rejected');
    expect((out as { error: SessionsError }).error.code).to.equal(SessionsErrorCode.clientAuth);
    expect(h.planner.storeSession(id, 0, { envelope: { ...victim.env(9, 9), secret: testSecret(2) } }).status).to.equal('rejected');
    expect(h.log.lastIndex, 'nothing proposed').to.equal(n);
  });

  it('asserts that every command on the leader goes through its planner', () => {
    const {
      stores: [a],
    } = stores(1);
    const h = new Harness([a!]);
    const id = h.createSession('t', ['x']);
    h.planner.submit({ kind: CommandKind.sessionAppend, session: id, bytes: bytes('y'), envelope: null });
    const stray: Command = { kind: CommandKind.sessionDestroy, session: id, envelope: null };
    const e = h.log.push(stray);
    expect(() => h.planner.appended([e])).to.throw(InvariantError, /through its planner/);
  });
});

import fc from 'fast-check';

type POp =
  | { t: 'create'; topic: number }
  | { t: 'append' | 'destroy' | 'store'; pick: number; cls: number; len: number }
  | { t: 'flush' | 'refuse' }
  | { t: 'commit'; store: number; upTo: number }
  | { t: 'tick'; ms: number }
  | { t: 'leader'; store: number };

const arbPOp: fc.Arbitrary<POp> = fc.oneof(
  { weight: 10, arbitrary: fc.record({ t: fc.constant('create' as const), topic: fc.nat(2) }) },
  {
    weight: 16,
    arbitrary: fc.record({
      t: fc.constantFrom('append' as const, 'destroy' as const, 'store' as const, 'store' as const, 'store' as const),
      pick: fc.nat(40),
      cls: fc.nat(2),
      len: fc.nat(500),
    }),
  },
  { weight: 12, arbitrary: fc.record({ t: fc.constant('flush' as const) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('refuse' as const) }) },
  { weight: 12, arbitrary: fc.record({ t: fc.constant('commit' as const), store: fc.nat(2), upTo: fc.nat(100) }) },
  { weight: 6, arbitrary: fc.record({ t: fc.constant('tick' as const), ms: fc.nat(3000) }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('leader' as const), store: fc.nat(2) }) },
);

describe('sessions: planner property', () => {
  it('random traffic, partial commits, refused batches and leader changes: no broken invariant, equal replicas', () => {
    const totals = { bytesStored: 0, deleted: 0, leaderChanges: 0, rejected: {} as Record<string, number> };
    fc.assert(
      fc.property(fc.array(arbPOp, { minLength: 20, maxLength: 300, size: 'max' }), (ops) => {
        const { stores: ss, fss } = stores(3);
        const h = new Harness(ss, { replayDelaysMs: [500, 2000, 5000], dataFileBytesMax: 1352, restoresInFlightPerFileMax: 3 });
        const ids: Uint8Array[] = [];
        const leaderCommitted = (): number => h.leader.appliedIndex;
        for (const op of ops) {
          const live = h.leader.listSessions().map((s) => s.id);
          const pickId = (n: number): Uint8Array =>
            live.length > 0 && n % 5 !== 4 ? live[n % live.length]! : (ids[n % Math.max(1, ids.length)] ?? commandId(7, 7));
          switch (op.t) {
            case 'create':
              h.planner.submit({ kind: CommandKind.sessionCreate, topic: `t${op.topic}`, envelope: null });
              break;
            case 'append':
              h.planner.submit({ kind: CommandKind.sessionAppend, session: pickId(op.pick), bytes: new Uint8Array(op.len), envelope: null });
              break;
            case 'destroy':
              h.planner.submit({ kind: CommandKind.sessionDestroy, session: pickId(op.pick), envelope: null });
              break;
            case 'store':
              h.planner.storeSession(pickId(op.pick), op.cls);
              break;
            case 'flush':
              for (const e of h.flush()) {
                const c = e.kind === 1 ? decodeCommand(e.data) : null;
                if (c?.kind === CommandKind.sessionCreate) ids.push(commandId(e.term, e.index));
              }
              break;
            case 'refuse':
              (h as unknown as { queue: unknown[] }).queue = [];
              h.planner.refused();
              break;
            case 'commit': {
              // Raft commits a prefix; the leader applies it, a follower may lag.
              const to = Math.min(h.log.lastIndex, leaderCommitted() + 1 + op.upTo);
              h.commit(to, [h.leaderIndex]);
              if (op.store !== h.leaderIndex) h.commit(Math.min(to, ss[op.store]!.appliedIndex + op.upTo), [op.store]);
              break;
            }
            case 'tick':
              h.now += op.ms;
              h.scheduler.tick();
              break;
            case 'leader':
              h.changeLeader(op.store);
              break;
          }
        }
        h.now += 10_000;
        h.settle();
        h.now += 10_000;
        h.settle();
        const digests = ss.map((s) => JSON.stringify(s.digest()));
        expect(digests[1]).to.equal(digests[0]);
        expect(digests[2]).to.equal(digests[0]);
        expect([...fss[1]!.files('data').keys()]).to.deep.equal([...fss[0]!.files('data').keys()]);
        // Everything stored came back and was committed.
        for (const f of ss[0]!.dataFiles()) expect(f.consumed).to.equal(f.size);
        const st = ss[0]!.stats();
        totals.bytesStored += st.files.bytesWritten;
        totals.deleted += st.files.trashed;
        totals.leaderChanges += ops.filter((o) => o.t === 'leader').length;
        for (const [code, n] of Object.entries(st.rejectedByCode)) totals.rejected[code] = (totals.rejected[code] ?? 0) + n;
      }),
      { numRuns: 300 },
    );
    if (process.env['SESSIONS_MODEL_STATS'] !== undefined) console.log(totals);
    expect(totals.bytesStored).to.be.greaterThan(200_000);
    expect(totals.deleted).to.be.greaterThan(20);
    expect(totals.leaderChanges).to.be.greaterThan(300);
  });
});

describe('sessions: scheduler back-pressure', () => {
  it('does not propose restores while the active table is full, and resumes when there is room', () => {
    const fs = new MemorySessionFs();
    const a = new SessionsStore({ fs, limits: { ...limits, activeSessionsMax: 2 }, defer: (fn) => fn() });
    const h = new Harness([a], { replayDelaysMs: [10] });
    const ids = [h.createSession('t', ['1']), h.createSession('t', ['2'])];
    for (const id of ids) h.planner.storeSession(id, 0);
    h.settle();
    const busy = [h.createSession('t'), h.createSession('t')];
    h.now += 100;
    expect(h.scheduler.tick()).to.equal(0);
    h.client({ kind: CommandKind.sessionDestroy, session: busy[0]!, envelope: null });
    h.settle();
    expect(a.listSessions().length).to.equal(2);
    h.client({ kind: CommandKind.sessionDestroy, session: busy[1]!, envelope: null });
    h.settle();
    expect(a.listSessions().map((s) => text(s.records[0]!))).to.deep.equal(['1', '2']);
    expect(a.stats().rejectedByCode).to.deep.equal({});
  });
});

describe('sessions: a restore refused at apply with restores of the same file behind it (simulator seed 120597)', () => {
  it('plans no restore on a position the refusal made wrong, and restores everything once there is room', () => {
    const fs = new MemorySessionFs();
    const a = new SessionsStore({ fs, limits: { ...limits, activeSessionsMax: 3 }, defer: (fn) => fn() });
    const h = new Harness([a], { replayDelaysMs: [10] });
    // Three stored sessions of different lengths, back to back in one file.
    const stored = [h.createSession('s1', ['a']), h.createSession('s2', ['b'.repeat(200)]), h.createSession('s3', ['c'.repeat(20)])];
    for (const id of stored) h.planner.storeSession(id, 0);
    h.settle();
    expect(a.listSessions()).to.deep.equal([]);
    h.now += 100;
    // Two client creates go first in the log; the scheduler, counting only what is applied, plans
    // all three restores behind them. At apply the table is full at the second restore: refused.
    h.planner.submit({ kind: CommandKind.sessionCreate, topic: 'busy', envelope: null }, 'client');
    h.planner.submit({ kind: CommandKind.sessionCreate, topic: 'busy', envelope: null }, 'client');
    expect(h.scheduler.tick()).to.equal(3);
    const entries = h.flush();
    expect(entries.length).to.equal(5);
    // Apply through the refused restore only: the third is still in flight, planned for the
    // position after the second record, where the file's cursor is not.
    h.commit(entries[3]!.index);
    expect(h.results.get(entries[3]!.index)?.code).to.equal(ResultCode.tooManySessions);
    expect(() => h.scheduler.tick()).to.not.throw();
    expect(h.scheduler.counters.restoresWaitingRefusal, 'the file was left alone').to.be.greaterThan(0);
    h.commit();
    // The third restore was refused too (its length is not the record's at the cursor).
    expect(h.results.get(entries[4]!.index)?.ok).to.equal(false);
    // Room again: what was refused comes back, in file order.
    const busy = a.listSessions().filter((s) => s.topic === 'busy');
    for (const s of busy) h.client({ kind: CommandKind.sessionDestroy, session: s.id, envelope: null });
    h.settle();
    expect(
      a
        .listSessions()
        .map((s) => s.topic)
        .sort(),
    ).to.deep.equal(['s1', 's2', 's3']);
  });
});

describe('sessions: the scheduler reports the next due time (the host wakes it then)', () => {
  it('reports the earliest stored session not due yet, over every class, after each tick; null when none', () => {
    const reports: (number | null)[] = [];
    const {
      stores: [a],
    } = stores(1);
    const h = new Harness([a!], { replayDelaysMs: [100, 5_000], onNextDue: (ms) => reports.push(ms) });
    const t0 = h.now;
    h.scheduler.tick();
    expect(reports.at(-1)).to.equal(null);
    h.planner.storeSession(h.createSession('t', ['slow']), 1);
    h.planner.storeSession(h.createSession('t', ['fast']), 0);
    h.settle();
    // Both scheduled, neither due: the 100 ms class's record is the earlier one.
    expect(reports.at(-1)).to.equal(t0 + 100);
    h.now = t0 + 99;
    expect(h.scheduler.tick()).to.equal(0);
    expect(reports.at(-1)).to.equal(t0 + 100);
    // Due: its restore is proposed, and the next due time is the 5 s class's.
    h.now = t0 + 100;
    expect(h.scheduler.tick()).to.equal(1);
    expect(reports.at(-1)).to.equal(t0 + 5_000);
    h.settle();
    h.now = t0 + 5_000;
    h.settle();
    expect(a!.listSessions().map((s) => text(s.records[0]!))).to.have.members(['slow', 'fast']);
    expect(reports.at(-1)).to.equal(null);
  });

  it('restore ahead: a batch starts once the next record is due within half the lead and takes every record due within the lead; the wake-up is half a lead before the next', () => {
    const reports: (number | null)[] = [];
    const {
      stores: [a],
    } = stores(1);
    const h = new Harness([a!], { replayDelaysMs: [100], restoreLeadMs: 20, onNextDue: (ms) => reports.push(ms) });
    const t0 = h.now;
    // Four records due at t0 + 100, 105, 115 and 125 (stored 0, 5, 15 and 25 ms after t0).
    for (const [k, at] of [0, 5, 15, 25].entries()) {
      h.now = t0 + at;
      h.planner.storeSession(h.createSession('t', [`r${k}`]), 0);
      h.settle();
    }
    // The host is told to wake half a lead (10 ms) before the first due time.
    expect(reports.at(-1)).to.equal(t0 + 90);
    h.now = t0 + 89;
    expect(h.scheduler.tick()).to.equal(0);
    // At t0 + 90 the first is due within 10 ms: the batch takes those due by t0 + 110 (two).
    h.now = t0 + 90;
    expect(h.scheduler.tick()).to.equal(2);
    h.settle();
    expect(
      a!
        .listSessions()
        .map((s) => text(s.records[0]!))
        .sort(),
    ).to.deep.equal(['r0', 'r1']);
    // The next (due t0 + 115) starts a batch at t0 + 105, which also takes the one due at t0 + 125.
    expect(reports.at(-1)).to.equal(t0 + 105);
    h.now = t0 + 104;
    expect(h.scheduler.tick()).to.equal(0);
    h.now = t0 + 105;
    expect(h.scheduler.tick()).to.equal(2);
    h.settle();
    expect(a!.listSessions()).to.have.length(4);
  });

  it('no lead (the default): nothing is restored before its due time', () => {
    const {
      stores: [a],
    } = stores(1);
    const h = new Harness([a!], { replayDelaysMs: [100] });
    const t0 = h.now;
    h.planner.storeSession(h.createSession('t', ['x']), 0);
    h.settle();
    h.now = t0 + 99;
    expect(h.scheduler.tick()).to.equal(0);
    h.now = t0 + 100;
    expect(h.scheduler.tick()).to.equal(1);
  });

  it('tickOnNextApply: the next apply of any entry ticks it (the due timer fired while a round was in flight)', () => {
    const {
      stores: [a],
    } = stores(1);
    const h = new Harness([a!], { replayDelaysMs: [100] });
    h.planner.storeSession(h.createSession('t', ['due']), 0);
    h.settle();
    h.now += 100;
    const n = h.log.lastIndex;
    h.scheduler.tickOnNextApply();
    expect(kinds(h, n)).to.deep.equal([]);
    // A create applies (the scheduler does not tick for creates on its own): the restore follows.
    h.client({ kind: CommandKind.sessionCreate, topic: 'other', envelope: null });
    h.flush();
    expect(kinds(h, n)).to.deep.equal(['create', 'restore']);
  });
});
