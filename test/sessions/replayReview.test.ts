/**
 * What a review of the timed-replay path found (2026-12-07), each test failing before the fix: a new
 * leader that inherited restores in flight, one of them refused at apply, read a record header
 * inside a record and threw out of apply; and with restore ahead, a void record's restore (planned
 * with no hold) restored the record before it, shifted there by a refused restore, to subscribers
 * before its due time.
 */
import { expect } from 'chai';
import { CommandKind } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { ResultCode } from '../../actors/sessions/errors.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { StoreLimits } from '../../actors/sessions/options.js';
import { Harness, ManualTimers, bytes, text } from './helpers.js';

const limits: Partial<StoreLimits> = { sessionBytesMax: 1024, recordBytesMax: 512, sessionRecordsMax: 8 };

describe('sessions: a new leader inherits restores in flight, one is refused at apply (2026-12-07)', () => {
  it('the new leader does not read a record header inside a record (no throw out of apply)', () => {
    const a = new SessionsStore({ fs: new MemorySessionFs(), limits: { ...limits, activeSessionsMax: 3 }, defer: (fn) => fn() });
    const b = new SessionsStore({ fs: new MemorySessionFs(), limits: { ...limits, activeSessionsMax: 3 }, defer: (fn) => fn() });
    const h = new Harness([a, b], { replayDelaysMs: [10] });
    const stored = [h.createSession('s1', ['a']), h.createSession('s2', ['b'.repeat(200)]), h.createSession('s3', ['c'.repeat(20)])];
    for (const id of stored) h.planner.storeSession(id, 0);
    h.settle();
    h.now += 100;
    // Two client creates go first; the old leader plans the three restores behind them.
    h.planner.submit({ kind: CommandKind.sessionCreate, topic: 'busy', envelope: null }, 'client');
    h.planner.submit({ kind: CommandKind.sessionCreate, topic: 'busy', envelope: null }, 'client');
    expect(h.scheduler.tick()).to.equal(3);
    const entries = h.flush();
    expect(entries.length).to.equal(5);
    // Leadership moves to b before anything of this is committed: b's planner knows the three
    // restores only from the log (anonymous: restoreEnd unknown).
    h.changeLeader(1);
    // Commit through the second restore (refused: the table is full); the third is still in flight.
    let err: unknown = null;
    try {
      h.commit(entries[3]!.index);
    } catch (e) {
      err = e;
    }
    expect(err === null ? null : String(err), 'apply on the new leader threw').to.equal(null);
    expect(h.results.get(entries[3]!.index)?.code).to.equal(ResultCode.tooManySessions);
    expect(() => h.scheduler.tick()).to.not.throw();
  });
});

describe('sessions: restore ahead, a refused restore and a void record behind it (2026-12-07)', () => {
  it('no subscriber gets a session before its due time', () => {
    const ref: { h?: Harness } = {};
    const now = (): number => ref.h!.now;
    const timers = new ManualTimers(now);
    const store = new SessionsStore({
      fs: new MemorySessionFs(),
      limits: { ...limits, activeSessionsMax: 4 },
      defer: (fn) => fn(),
      clock: now,
      after: timers.after,
    });
    // A 200 ms lead; at most one proposal per tick (the 256 budget, reached under load).
    const h = new Harness([store], { replayDelaysMs: [1_000], restoreLeadMs: 200, proposalsPerTickMax: 1 });
    ref.h = h;
    const got: { rec: string; atMs: number }[] = [];
    store.subscribe('orders', (d) => void got.push({ rec: text(d.records[0]!), atMs: h.now }));
    const x = h.createSession('other');
    const p = h.createSession('other');
    const t0 = h.now;
    // A: a stored session due at t0 + 1 s.
    h.planner.storeSession(h.createSession('orders', ['a']), 0);
    h.settle();
    // The table fills for a moment; a schedule of the same size on the same topic comes then:
    // its create is refused, and its store writes a void record of the projected length.
    const f1 = h.createSession('other');
    const f2 = h.createSession('other');
    expect(store.listSessions().length).to.equal(4);
    const create = h.planner.submit({ kind: CommandKind.sessionCreate, topic: 'orders', envelope: null }, 'client');
    h.planner.submitAfterCreate(create, bytes('b'), null, 'client');
    expect(h.planner.storeAfterCreate(create, 0, { topicByteLength: 6, appendBytes: 1 }, { context: 'client' })).to.equal(true);
    h.settle();
    for (const id of [f1, f2]) h.client({ kind: CommandKind.sessionDestroy, session: id, envelope: null });
    expect(store.listSessions().length).to.equal(2);
    void x;
    // 100 ms before the due time: two client creates in flight, then the restore of A (hold 100).
    h.now = t0 + 900;
    h.planner.submit({ kind: CommandKind.sessionCreate, topic: 'other', envelope: null }, 'client');
    h.planner.submit({ kind: CommandKind.sessionCreate, topic: 'other', envelope: null }, 'client');
    expect(h.scheduler.tick()).to.equal(1);
    // A destroy, then the next tick's restore: the void record (no hold).
    h.planner.submit({ kind: CommandKind.sessionDestroy, session: p, envelope: null }, 'client');
    expect(h.scheduler.tick()).to.equal(1);
    const entries = h.flush();
    h.commit();
    const codes = entries.map((e) => h.results.get(e.index)?.code);
    timers.fire();
    const early = got.filter((g) => g.atMs < t0 + 1_000);
    expect(early, `codes ${JSON.stringify(codes)}; got ${JSON.stringify(got)}`).to.deep.equal([]);
  });
});
