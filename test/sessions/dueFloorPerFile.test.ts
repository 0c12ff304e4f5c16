/**
 * A replay class's due floor per data file (the `due-floor-per-file` flag, 2026-12-07). Before it,
 * one store planned while the leader's clock read far ahead raised its class's floor for good: every
 * later store in the class, on any leader, got at least that due time, and the class stalled until
 * the clock reached it (a review found it; docs/sessions.md). With the flag a DataCreate starts the
 * new file's floor at 0, and the leader starts a new file when its clock + delay is more than 100 ms
 * behind the newest file's floor.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { CommandKind, CommandView } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { StoreLimits } from '../../actors/sessions/options.js';
import { Harness, storeDueLate, text } from './helpers.js';

const limits: Partial<StoreLimits> = { sessionBytesMax: 1024, recordBytesMax: 512, sessionRecordsMax: 8 };
const DELAY_MS = 1_000;
const HOUR_MS = 3_600_000;

function stores(n: number): SessionsStore[] {
  return Array.from({ length: n }, () => new SessionsStore({ fs: new MemorySessionFs(), limits, defer: (fn) => fn() }));
}

/** Each data file's records as (due time, void) pairs, by file name: the layout every replica must share. */
function layout(store: SessionsStore): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of store.dataFiles()) {
    const recs: string[] = [];
    for (let at = 0; at < f.size;) {
      const h = store.recordHeaderAt(f, at);
      recs.push(`${h.dueMs}${h.isVoid ? 'v' : ''}`);
      at += h.length;
    }
    out.set(f.name, recs);
  }
  return out;
}

describe('sessions: a replay class due floor per data file (2026-12-07)', () => {
  it('one store planned an hour ahead does not stall the class: the next store goes to a new file, due at clock + delay', () => {
    const [a, b] = stores(2);
    const h = new Harness([a!, b!], { replayDelaysMs: [DELAY_MS], featuresOn: true });
    const got: string[] = [];
    a!.subscribe('t', (d) => void got.push(text(d.records[0]!)));
    const t0 = h.now;
    // The leader's clock reads an hour ahead for one store (a step, a skewed new leader).
    h.now = t0 + HOUR_MS;
    h.planner.storeSession(h.createSession('t', ['ahead']), 0);
    h.settle();
    h.now = t0;
    h.planner.storeSession(h.createSession('t', ['now']), 0);
    h.settle();
    expect(h.planner.counters.dueFloorFiles, 'a new file for the store behind the floor').to.equal(1);
    const files = [...layout(a!).values()];
    expect(files).to.deep.equal([[`${t0 + HOUR_MS + DELAY_MS}`], [`${t0 + DELAY_MS}`]]);
    expect(layout(b!)).to.deep.equal(layout(a!));
    h.now = t0 + DELAY_MS;
    h.settle();
    expect(got, 'the store due now is replayed; the one an hour ahead waits').to.deep.equal(['now']);
    // The hour passes: the first comes back too, and both files are consumed and deleted.
    h.now = t0 + HOUR_MS + DELAY_MS;
    h.settle();
    expect(got).to.deep.equal(['now', 'ahead']);
  });

  it('without the flag (a cluster upgraded from an older version) the class floor holds, as older versions apply it', () => {
    const [a] = stores(1);
    const h = new Harness([a!], { replayDelaysMs: [DELAY_MS] });
    const t0 = h.now;
    h.now = t0 + HOUR_MS;
    h.planner.storeSession(h.createSession('t', ['ahead']), 0);
    h.settle();
    h.now = t0;
    h.planner.storeSession(h.createSession('t', ['now']), 0);
    h.settle();
    expect(h.planner.counters.dueFloorFiles).to.equal(0);
    expect([...layout(a!).values()]).to.deep.equal([[`${t0 + HOUR_MS + DELAY_MS}`, `${t0 + HOUR_MS + DELAY_MS}`]]);
  });

  it('a clock a little behind the floor (100 ms or less) keeps the file and takes the floor', () => {
    const [a] = stores(1);
    const h = new Harness([a!], { replayDelaysMs: [DELAY_MS], featuresOn: true });
    const t0 = h.now;
    h.now = t0 + 100;
    h.planner.storeSession(h.createSession('t', ['x']), 0);
    h.settle();
    h.now = t0;
    h.planner.storeSession(h.createSession('t', ['y']), 0);
    h.settle();
    expect(h.planner.counters.dueFloorFiles).to.equal(0);
    expect([...layout(a!).values()]).to.deep.equal([[`${t0 + 100 + DELAY_MS}`, `${t0 + 100 + DELAY_MS}`]]);
  });

  it("a new leader takes over a DataCreate in flight: its stores start at the new file's floor (0), not the old file's", () => {
    const [a, b] = stores(2);
    const h = new Harness([a!, b!], { replayDelaysMs: [DELAY_MS], featuresOn: true });
    const t0 = h.now;
    h.now = t0 + HOUR_MS;
    h.planner.storeSession(h.createSession('t', ['ahead']), 0);
    h.settle();
    h.now = t0;
    const s = h.createSession('t', ['now']);
    h.planner.storeSession(s, 0);
    const created = h.flush();
    expect(created.map((e) => e.data[1])).to.deep.equal([CommandKind.dataCreate]);
    // Appended, not committed: b leads with the DataCreate in its log.
    h.changeLeader(1);
    h.planner.storeSession(s, 0);
    h.settle();
    expect([...layout(b!).values()]).to.deep.equal([[`${t0 + HOUR_MS + DELAY_MS}`], [`${t0 + DELAY_MS}`]]);
    expect(layout(a!)).to.deep.equal(layout(b!));
  });

  it('a refused batch that held the DataCreate: the floor goes back to the old file, no store is planned below it', () => {
    const [a] = stores(1);
    const h = new Harness([a!], { replayDelaysMs: [DELAY_MS], featuresOn: true });
    const t0 = h.now;
    h.now = t0 + HOUR_MS;
    h.planner.storeSession(h.createSession('t', ['ahead']), 0);
    h.settle();
    h.now = t0;
    const s = h.createSession('t', ['now']);
    expect(h.planner.storeSession(s, 0).status).to.equal('deferred');
    h.refuse();
    expect(h.planner.counters.dueFloorFiles).to.equal(1);
    // The waiting store is tried again: against the old file's floor, so a new DataCreate first;
    // nothing applied may break a file's floor (an assertion on every replica).
    expect(() => h.settle()).to.not.throw();
    expect(h.planner.counters.dueFloorFiles).to.equal(2);
    expect(h.outcomes, 'the deferred store was proposed, not answered otherwise').to.deep.equal([]);
    expect([...layout(a!).values()]).to.deep.equal([[`${t0 + HOUR_MS + DELAY_MS}`], [`${t0 + DELAY_MS}`]]);
  });

  it("a refused DataCreate behind a store still in flight: the floor is that store's again", () => {
    const [a] = stores(1);
    const h = new Harness([a!], { replayDelaysMs: [DELAY_MS], featuresOn: true });
    const t0 = h.now;
    const [s0, s1, s2] = [h.createSession('t', ['zero']), h.createSession('t', ['one']), h.createSession('t', ['two'])];
    h.planner.storeSession(s0!, 0);
    h.settle();
    h.now = t0 + HOUR_MS;
    h.planner.storeSession(s1!, 0);
    h.flush();
    h.now = t0;
    expect(h.planner.storeSession(s2!, 0).status).to.equal('deferred');
    h.refuse();
    expect(() => h.settle()).to.not.throw();
    expect([...layout(a!).values()]).to.deep.equal([[`${t0 + DELAY_MS}`, `${t0 + HOUR_MS + DELAY_MS}`], [`${t0 + DELAY_MS}`]]);
  });

  it('property: whatever the clock does, no store is due more than 100 ms after the clock + delay it was planned with, replicas agree, and apply never throws', () => {
    const view = new CommandView();
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ op: fc.constant('jump' as const), ms: fc.integer({ min: -2 * HOUR_MS, max: 2 * HOUR_MS }) }),
            fc.record({ op: fc.constant('store' as const), settle: fc.boolean() }),
            fc.record({ op: fc.constantFrom('flush' as const, 'refuse' as const, 'settle' as const, 'lead' as const) }),
          ),
          { maxLength: 40 },
        ),
        (steps) => {
          const all = stores(3);
          const late: string[] = [];
          const h = new Harness(all, {
            replayDelaysMs: [DELAY_MS],
            featuresOn: true,
            dataFileBytesMax: 4096,
            onProposed: (data, nowMs) => {
              const why = storeDueLate(view, data, nowMs, DELAY_MS);
              if (why !== null) late.push(why);
            },
          });
          const t0 = h.now;
          // Created up front: a create commits everything in flight, and the steps need stores,
          // DataCreates and refusals in flight together.
          const sessions = steps.filter((s) => s.op === 'store').map(() => h.createSession('t', ['r']));
          // A file to start from: the first store of a class waits for its DataCreate either way.
          h.planner.storeSession(h.createSession('t', ['first']), 0);
          h.settle();
          let lead = 0;
          for (const s of steps) {
            if (s.op === 'jump') h.now = Math.max(t0 - 3 * HOUR_MS, h.now + s.ms);
            else if (s.op === 'store') {
              h.planner.storeSession(sessions.shift()!, 0);
              if (s.settle) h.settle();
            } else if (s.op === 'flush') h.flush();
            else if (s.op === 'refuse') h.refuse();
            else if (s.op === 'settle') h.settle();
            else h.changeLeader((lead = (lead + 1) % all.length));
          }
          h.settle();
          expect(late).to.deep.equal([]);
          const want = layout(all[0]!);
          for (const st of all.slice(1)) expect(layout(st)).to.deep.equal(want);
        },
      ),
      { numRuns: 200, seed: 20261207 },
    );
  });
});
