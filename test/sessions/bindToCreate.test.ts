/**
 * A schedule on an idle leader proposes its create, append and store in one batch
 * (Planner.submitAfterCreate, storeAfterCreate): the append and the store name a session whose ID
 * (the create's entry ID) is known only once Raft appends the batch, so the planner writes it into
 * their bytes just before (Planner.bind). What must hold: every replica applies the three as if the
 * ID had been known all along; a batch refused before it was appended leaves nothing counted in
 * flight; unbound bytes never reach the log.
 */
import { expect } from 'chai';
import { CommandKind, commandId } from '../../transport/commands/codec.js';
import { EntryKind } from '../../machines/types.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import { Harness, bytes } from './helpers.js';

function stores(n: number): SessionsStore[] {
  return Array.from({ length: n }, () => new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() }));
}

/** The 16 bytes after the header (no envelope): the session field of an append or a store. */
function sessionField(data: Uint8Array): string {
  expect(data[2], 'no envelope in these commands').to.equal(0);
  return Buffer.from(data.subarray(3, 19)).toString('hex');
}

describe('sessions: a schedule bound to its create in one batch', () => {
  it('create, append and store go in one batch, named by the create ID; every replica applies them alike', () => {
    const h = new Harness(stores(3), { replayDelaysMs: [1_000] });
    // Class 0 gets its data file first (a store is planned ahead only behind an existing tail).
    const first = h.createSession('warm', ['x']);
    expect(h.planner.storeSession(first, 0, {}).status).to.be.oneOf(['proposed', 'deferred']);
    h.settle();
    // Something else in the batch before the create: the binding follows the create's place, not the batch's start.
    const other = h.createSession('other', []);
    h.planner.submit({ kind: CommandKind.sessionAppend, session: other, bytes: bytes('before'), envelope: null }, 'other');
    const create = h.planner.submit({ kind: CommandKind.sessionCreate, topic: 'sched', envelope: null }, 'create');
    h.planner.submitAfterCreate(create, bytes('payload'), null, 'append');
    expect(h.planner.storeAfterCreate(create, 0, { topicByteLength: 5, appendBytes: 7 }, { context: 'store' })).to.equal(true);
    // The append and the store are tied to the command before them: RaftNode never cuts a turn there.
    expect(h.queuedTied()).to.deep.equal([false, false, true, true]);
    const bound0 = h.planner.counters.bound;
    const entries = h.flush();
    expect(h.planner.counters.bound - bound0, 'the append and the store were bound').to.equal(2);
    expect(entries.map((e) => e.data[1])).to.deep.equal([
      CommandKind.sessionAppend,
      CommandKind.sessionCreate,
      CommandKind.sessionAppend,
      CommandKind.sessionStore,
    ]);
    const createEntry = entries[1]!;
    const id = Buffer.from(commandId(createEntry.term, createEntry.index)).toString('hex');
    expect([sessionField(entries[2]!.data), sessionField(entries[3]!.data)]).to.deep.equal([id, id]);
    h.commit();
    for (const e of entries) expect(h.results.get(e.index), `entry ${e.index} applied OK`).to.include({ ok: true });
    // Stored: no longer active, and one more record in class 0's data file on every replica.
    for (const s of h.stores) {
      expect(s.getSession(commandId(createEntry.term, createEntry.index)), 'stored, not active').to.equal(null);
      expect(s.dataFiles().length).to.equal(1);
    }
    const sizes = h.stores.map((s) => s.dataFiles()[0]!.size);
    expect(new Set(sizes).size, 'the same data file on every replica').to.equal(1);
    expect(h.planner.inFlight).to.equal(0);
  });

  it('a batch refused before it was appended leaves nothing in flight, and a later one binds afresh', () => {
    const h = new Harness(stores(1), { replayDelaysMs: [1_000] });
    const create = h.planner.submit({ kind: CommandKind.sessionCreate, topic: 't', envelope: null }, 'create');
    h.planner.submitAfterCreate(create, bytes('r'), null, 'append');
    expect(h.planner.inFlight).to.equal(2);
    // Raft refused the batch (too many uncommitted bytes, a transfer...): the host says so, nothing was bound or appended.
    h.refuse();
    expect(h.planner.inFlight).to.equal(0);
    expect(h.planner.counters.bound).to.equal(0);
    const again = h.planner.submit({ kind: CommandKind.sessionCreate, topic: 't', envelope: null }, 'create');
    h.planner.submitAfterCreate(again, bytes('r'), null, 'append');
    const entries = h.flush();
    h.commit();
    expect(h.results.get(entries[1]!.index)).to.include({ ok: true });
    expect(h.leader.getSession(commandId(entries[0]!.term, entries[0]!.index))!.records.map((r) => Buffer.from(r).toString())).to.deep.equal(['r']);
  });

  it('a batch with a proposal the planner no longer tracks binds nothing out of place and goes on', () => {
    const h = new Harness(stores(1), { replayDelaysMs: [1_000] });
    // Proposed from a refusal's callback: Raft queued it, then the planner's refused() forgot it.
    h.queueUntracked({ kind: CommandKind.sessionCreate, topic: 'untracked', envelope: null });
    expect(() => h.flush()).to.not.throw();
    h.commit();
    expect(h.results.get(h.log.lastIndex)).to.include({ ok: true });
    // The next schedule binds as usual.
    const create = h.planner.submit({ kind: CommandKind.sessionCreate, topic: 't', envelope: null }, null);
    h.planner.submitAfterCreate(create, bytes('r'), null, null);
    const entries = h.flush();
    expect(sessionField(entries[1]!.data)).to.equal(Buffer.from(commandId(entries[0]!.term, entries[0]!.index)).toString('hex'));
  });

  it('the unbound bytes never reach the log: an append of them is a broken invariant', () => {
    const h = new Harness(stores(1), { replayDelaysMs: [1_000] });
    const create = h.planner.submit({ kind: CommandKind.sessionCreate, topic: 't', envelope: null }, null);
    const append = h.planner.submitAfterCreate(create, bytes('r'), null, null);
    // Appended without bind (as if the host skipped onProposing): the planner refuses to go on.
    expect(() =>
      h.planner.appended([
        { index: 1, term: 1, kind: EntryKind.command, data: create.data },
        { index: 2, term: 1, kind: EntryKind.command, data: append.data },
      ]),
    ).to.throw(/before its session was bound/);
  });
});
