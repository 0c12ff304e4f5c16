import { expect } from 'chai';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { InvariantError } from '../../machines/assert.js';
import { CommandKind, commandId, dataFileName, type Command, type Envelope } from '../../transport/commands/codec.js';
import { EntryKind } from '../../machines/types.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { NodeSessionFs } from '../../actors/sessions/fs.js';
import { ResultCode, SessionsError, SessionsErrorCode } from '../../actors/sessions/errors.js';
import { storedRecordLength } from '../../actors/sessions/record.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult, Delivery } from '../../actors/sessions/types.js';
import type { StoreLimits } from '../../actors/sessions/options.js';
import { FileSnapshotStore } from '../../storage/snapshotStore.js';
import { realFs } from '../../storage/realFs.js';
import { TestLog, bytes, clientOf, removeDir, tempDir, testSecret, text } from './helpers.js';

function newStore(limits: Partial<StoreLimits> = {}, fs = new MemorySessionFs()): SessionsStore {
  return new SessionsStore({ fs, limits, defer: (fn) => fn() });
}

/** Push one command and apply it; return its result. */
function run(store: SessionsStore, log: TestLog, cmd: Command | Uint8Array): CommandResult {
  const e = log.push(cmd);
  return store.apply([e])[0] as CommandResult;
}

/** The SessionStore the planner would produce for `session` (computed from the applied state). */
function planStore(store: SessionsStore, session: Uint8Array, replayClass: number, dueMs: number, envelope: Envelope | null = null): Command {
  const view = store.getSession(session);
  const f = store.newestFile(replayClass)!;
  const length = view === null ? 40 : storedRecordLength(new TextEncoder().encode(view.topic).length, view.records.length, view.bytes);
  return { kind: CommandKind.sessionStore, session, replayClass, dueMs, file: commandId(f.high, f.low), offset: f.size, length, envelope };
}

describe('sessions: the store', () => {
  it('creates, appends, rewrites and destroys sessions; results are deterministic codes', () => {
    const store = newStore();
    const log = new TestLog();
    const created = run(store, log, { kind: CommandKind.sessionCreate, topic: 'orders', envelope: null });
    expect(created.ok).to.equal(true);
    const id = created.value!;
    expect(Buffer.from(id).toString('hex')).to.equal(Buffer.from(commandId(1, 1)).toString('hex'));
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('a'), envelope: null }).code).to.equal('OK');
    run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('b'), envelope: null });
    expect(store.getSession(id)!.records.map(text)).to.deep.equal(['a', 'b']);
    run(store, log, { kind: CommandKind.sessionRewrite, session: id, bytes: bytes('c'), envelope: null });
    expect(store.getSession(id)!.records.map(text)).to.deep.equal(['c']);
    expect(run(store, log, { kind: CommandKind.sessionDestroy, session: id, envelope: null }).code).to.equal('OK');
    expect(store.getSession(id)).to.equal(null);
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('d'), envelope: null }).code).to.equal(ResultCode.sessionUnknown);
    // Undecodable bytes give a result, not an exception.
    expect(run(store, log, Uint8Array.of(9, 9, 9)).code).to.equal('SESSIONS_ERR_VERSION');
    expect(store.stats().rejectedByCode).to.deep.equal({ SESSIONS_ERR_SESSION_UNKNOWN: 1, SESSIONS_ERR_VERSION: 1 });
  });

  it('applies no-op and configuration entries (results null) and asserts that command IDs increase', () => {
    const store = newStore();
    const log = new TestLog();
    log.noop();
    expect(store.apply(log.slice(0))).to.deep.equal([null]);
    expect(() => store.apply([{ index: 3, term: 1, kind: EntryKind.noop, data: new Uint8Array(0) }])).to.throw(InvariantError, /after 1/);
    store.apply([{ index: 2, term: 5, kind: EntryKind.noop, data: new Uint8Array(0) }]);
    expect(() => store.apply([{ index: 3, term: 4, kind: EntryKind.noop, data: new Uint8Array(0) }])).to.throw(InvariantError, /command ID/);
  });

  it('stores a session into its class file, restores it to subscribers, commits, and deletes the sealed file', () => {
    const store = newStore();
    const log = new TestLog();
    const got: Delivery[] = [];
    store.subscribe('t', (d) => void got.push(d));
    const id = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: null }).value!;
    run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('one'), envelope: null });
    run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('two'), envelope: null });
    const file = run(store, log, { kind: CommandKind.dataCreate, replayClass: 2 }).value!;
    const st = planStore(store, id, 2, 5000) as Extract<Command, { kind: 4 }>;
    expect(st.length).to.equal(40 + 1 + 4 + 3 + 4 + 3);
    expect(run(store, log, st).code).to.equal('OK');
    expect(store.getSession(id)).to.equal(null);
    const f = store.newestFile(2)!;
    expect(f.name).to.equal(dataFileName(2, 1, 4));
    expect(f.size).to.equal(st.length);
    expect(store.lastDueMs(2)).to.equal(5000);
    // Restore: the session is active again with the same ID; the subscriber gets it after apply.
    const restored = run(store, log, { kind: CommandKind.sessionRestore, replayClass: 2, file, length: st.length });
    expect(restored).to.deep.include({ ok: true, code: 'OK' });
    expect(store.getSession(id)!.records.map(text)).to.deep.equal(['one', 'two']);
    expect(got).to.have.length(1);
    expect(got[0]!.records.map(text)).to.deep.equal(['one', 'two']);
    expect(Buffer.from(got[0]!.restoreId).toString('hex')).to.equal(Buffer.from(commandId(1, log.lastIndex)).toString('hex'));
    // Nothing more to restore; commit; the newest file cannot be deleted; a new one seals it.
    expect(run(store, log, { kind: CommandKind.sessionRestore, replayClass: 2, file, length: st.length }).code).to.equal(ResultCode.nothingToRestore);
    expect(run(store, log, { kind: CommandKind.sessionCommit, replayClass: 2, file, length: st.length + 1 }).code).to.equal(ResultCode.recordLength);
    expect(run(store, log, { kind: CommandKind.sessionCommit, replayClass: 2, file, length: st.length }).code).to.equal('OK');
    expect(run(store, log, { kind: CommandKind.sessionCommit, replayClass: 2, file, length: st.length }).code).to.equal(ResultCode.nothingToCommit);
    expect(run(store, log, { kind: CommandKind.dataDelete, replayClass: 2, file }).code).to.equal(ResultCode.fileNotConsumed);
    const second = run(store, log, { kind: CommandKind.dataCreate, replayClass: 2 }).value!;
    expect(run(store, log, { kind: CommandKind.dataDelete, replayClass: 3, file }).code).to.equal(ResultCode.fileUnknown);
    expect(run(store, log, { kind: CommandKind.dataDelete, replayClass: 2, file }).code).to.equal('OK');
    expect(store.dataFiles().map((x) => x.name)).to.deep.equal([dataFileName(2, 1, Number(Buffer.from(second).readBigUInt64BE(8)))]);
  });

  it('asserts that a SessionStore matches the replica (file, offset, due time), refuses a length that is not the record, and fills a void record when not applied', () => {
    const store = newStore();
    const log = new TestLog();
    const id = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: null }).value!;
    expect(() => run(store, log, planStoreless(id))).to.throw(InvariantError, /newest file of class 0 is none/);
    // The failed entry was consumed; continue with a fresh log position.
    run(store, log, { kind: CommandKind.dataCreate, replayClass: 0 });
    const good = planStore(store, id, 0, 100) as Extract<Command, { kind: 4 }>;
    expect(() => run(store, log, { ...good, offset: 1 })).to.throw(InvariantError, /writes at 1/);
    // A length that is not the session's record (a schedule's store planned before its append was
    // refused): refused, a void record of the planned length, the session still active.
    expect(run(store, log, { ...good, length: good.length + 4 }).code).to.equal(ResultCode.recordLength);
    expect(store.newestFile(0)!.size).to.equal(good.length + 4);
    expect(store.getSession(id)).to.not.equal(undefined);
    const wrongLength = good.length + 4;
    const good2 = planStore(store, id, 0, 100) as Extract<Command, { kind: 4 }>;
    expect(good2.offset).to.equal(wrongLength);
    expect(run(store, log, good2).code).to.equal('OK');
    expect(() => run(store, log, { ...planStore(store, id, 0, 99) })).to.throw(InvariantError, /before the due floor/);
    // The session is gone now: a planned store of it is not applied but fills its bytes.
    const again = { ...planStore(store, id, 0, 200), length: 64 } as Command;
    expect(run(store, log, again).code).to.equal(ResultCode.sessionUnknown);
    expect(store.newestFile(0)!.size).to.equal(wrongLength + good2.length + 64);
    // Restoring the void records advances the cursor and activates nothing.
    const file = commandId(store.newestFile(0)!.high, store.newestFile(0)!.low);
    expect(run(store, log, { kind: CommandKind.sessionRestore, replayClass: 0, file, length: wrongLength }).code).to.equal(ResultCode.okVoidRecordRestored);
    run(store, log, { kind: CommandKind.sessionRestore, replayClass: 0, file, length: good2.length });
    expect(run(store, log, { kind: CommandKind.sessionRestore, replayClass: 0, file, length: 64 }).code).to.equal(ResultCode.okVoidRecordRestored);
    expect(store.listSessions()).to.have.length(1);
  });

  it('enforces limits with stable codes', () => {
    const store = newStore({ sessionBytesMax: 10, recordBytesMax: 6, sessionRecordsMax: 3, activeSessionsMax: 2, activeBytesMax: 15 });
    const log = new TestLog();
    const a = run(store, log, { kind: CommandKind.sessionCreate, topic: 'a', envelope: null }).value!;
    const b = run(store, log, { kind: CommandKind.sessionCreate, topic: 'b', envelope: null }).value!;
    expect(run(store, log, { kind: CommandKind.sessionCreate, topic: 'c', envelope: null }).code).to.equal(ResultCode.tooManySessions);
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: a, bytes: new Uint8Array(7), envelope: null }).code).to.equal(
      'SESSIONS_ERR_RECORD_TOO_LARGE',
    );
    run(store, log, { kind: CommandKind.sessionAppend, session: a, bytes: new Uint8Array(6), envelope: null });
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: a, bytes: new Uint8Array(5), envelope: null }).code).to.equal(
      ResultCode.sessionTooLarge,
    );
    run(store, log, { kind: CommandKind.sessionAppend, session: a, bytes: new Uint8Array(1), envelope: null });
    run(store, log, { kind: CommandKind.sessionAppend, session: a, bytes: new Uint8Array(1), envelope: null });
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: a, bytes: new Uint8Array(1), envelope: null }).code).to.equal(
      ResultCode.sessionTooManyRecords,
    );
    run(store, log, { kind: CommandKind.sessionAppend, session: b, bytes: new Uint8Array(6), envelope: null });
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: b, bytes: new Uint8Array(2), envelope: null }).code).to.equal(ResultCode.storeFull);
    expect(run(store, log, { kind: CommandKind.sessionRewrite, session: b, bytes: new Uint8Array(6), envelope: null }).code).to.equal('OK');
    expect(store.stats().activeBytes).to.equal(14);
    expect(() => newStore({ topicBytesMax: 0 }))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.options);
  });

  it('answers a retried (client, seq) from the table, not applying it twice; also after snapshot and restore', () => {
    const store = newStore({ clientResultsMax: 4 });
    const log = new TestLog();
    const { client, secret, env } = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
    expect(Buffer.from(client).toString('hex')).to.equal(Buffer.from(commandId(1, 1)).toString('hex'));
    expect(Buffer.from(secret).toString('hex')).to.equal(Buffer.from(testSecret(1)).toString('hex'));
    const created = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: env(1) });
    const retried = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: env(1) });
    expect(retried).to.deep.equal({ ...created, duplicate: true });
    expect(store.listSessions()).to.have.length(1);
    const id = created.value!;
    run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('x'), envelope: env(2) });
    // The snapshot keeps the table: a restored store answers the retry the same way.
    const snap = store.snapshot();
    const other = newStore({ clientResultsMax: 4 });
    other.restore(log.meta(log.lastIndex), snap);
    for (const s of [store, other]) {
      const r = s.apply([{ ...log.entries[log.lastIndex - 1]!, index: log.lastIndex + 1 }])[0] as CommandResult;
      expect(r).to.deep.equal({ ok: true, code: 'OK', value: null, duplicate: true });
      expect(s.getSession(id)!.records.map(text)).to.deep.equal(['x']);
    }
    log.push({ kind: CommandKind.sessionAppend, session: id, bytes: bytes('x'), envelope: env(2) });
    // A failed command's result is remembered too.
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: commandId(9, 9), bytes: bytes('y'), envelope: env(3) }).code).to.equal(
      ResultCode.sessionUnknown,
    );
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: commandId(9, 9), bytes: bytes('y'), envelope: env(3) }).duplicate).to.equal(true);
    // Acknowledged results are forgotten: an older seq is stale.
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('z'), envelope: env(4, 3) }).code).to.equal('OK');
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('z'), envelope: env(2, 2) }).code).to.equal(ResultCode.seqStale);
    // The window: at most 4 unacknowledged results (seq 3..6 here).
    for (let seq = 5; seq <= 6; seq++) run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('w'), envelope: env(seq, 3) });
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('w'), envelope: env(7, 3) }).code).to.equal(ResultCode.clientWindow);
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('v'), envelope: env(7, 4) }).code).to.equal('OK');
    expect(store.getSession(id)!.records.map(text)).to.deep.equal(['x', 'z', 'w', 'w', 'v']);
    expect(
      run(store, log, {
        kind: CommandKind.sessionAppend,
        session: id,
        bytes: bytes('w'),
        envelope: { client: commandId(1, 999), secret, seq: 1, ackedBelowSeq: 0 },
      }).code,
    ).to.equal(ResultCode.clientUnknown);
  });

  it('evicts the least recently active client deterministically by log index', () => {
    const store = newStore({ clientsMax: 2 });
    const log = new TestLog();
    const c1 = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
    const c2 = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(2) }));
    run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: c1.env(1) });
    run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(3) });
    expect(run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: c2.env(1) }).code).to.equal(ResultCode.clientUnknown);
    expect(run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: c1.env(1) }).duplicate).to.equal(true);
    const idle = newStore({ clientIdleEntriesMax: 2 });
    const log2 = new TestLog();
    const c = clientOf(run(idle, log2, { kind: CommandKind.clientRegister, secret: testSecret(4) }));
    log2.noop();
    log2.noop();
    log2.noop();
    idle.apply(log2.slice(1));
    expect(run(idle, log2, { kind: CommandKind.sessionCreate, topic: 't', envelope: c.env(1) }).code).to.equal(ResultCode.clientUnknown);
  });

  it('delivers to subscribers after apply, in log order, without waiting for slow ones; overflow ends a subscription with a code', async () => {
    const queue: (() => void)[] = [];
    const store = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => queue.push(fn) });
    const log = new TestLog();
    const fast: string[] = [];
    const errors: SessionsError[] = [];
    let release: () => void = () => {};
    const slowSeen: string[] = [];
    store.subscribe('t', (d) => void fast.push(text(d.records[0]!)));
    const slow = store.subscribe(
      't',
      (d) => {
        slowSeen.push(text(d.records[0]!));
        return new Promise<void>((resolve) => (release = resolve));
      },
      { queueMax: 2, onError: (e) => errors.push(e) },
    );
    run(store, log, { kind: CommandKind.dataCreate, replayClass: 0 });
    const file = commandId(1, 1);
    const lengths: number[] = [];
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      const id = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: null }).value!;
      run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes(name), envelope: null });
      const st = planStore(store, id, 0, 1) as Extract<Command, { kind: 4 }>;
      run(store, log, st);
      lengths.push(st.length);
    }
    // Restore all five in one apply call: nothing is delivered during apply.
    const entries = lengths.map((length) => log.push({ kind: CommandKind.sessionRestore, replayClass: 0, file, length }));
    store.apply(entries);
    expect(fast).to.deep.equal([]);
    expect(slowSeen).to.deep.equal([]);
    expect(slow.closed).to.equal(true);
    expect(errors.map((e) => e.code)).to.deep.equal([SessionsErrorCode.subscriberOverflow]);
    queue.shift()!();
    expect(fast).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
    expect(slowSeen).to.deep.equal([]);
    release();
  });

  it('works on real files: the store writes data/<class>/<id>.dat and reopens it after restore', () => {
    const dir = tempDir();
    try {
      const store = newStore({}, new NodeSessionFs(dir) as unknown as MemorySessionFs);
      const log = new TestLog();
      run(store, log, { kind: CommandKind.dataCreate, replayClass: 1 });
      const id = run(store, log, { kind: CommandKind.sessionCreate, topic: 'disk', envelope: null }).value!;
      run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('hello'), envelope: null });
      run(store, log, planStore(store, id, 1, 10));
      const snap = store.snapshot();
      store.close();
      const again = newStore({}, new NodeSessionFs(dir) as unknown as MemorySessionFs);
      again.restore(log.meta(log.lastIndex), snap);
      const f = again.newestFile(1)!;
      const r = run(again, log, { kind: CommandKind.sessionRestore, replayClass: 1, file: commandId(f.high, f.low), length: f.size });
      expect(r.ok).to.equal(true);
      expect(again.getSession(id)!.records.map(text)).to.deep.equal(['hello']);
      expect(again.verifyFiles()).to.deep.equal([]);
      again.close();
    } finally {
      removeDir(dir);
    }
  });

  it('opens over a regular file where a class directory belongs (set aside at restore, not a crash)', () => {
    const dir = tempDir();
    try {
      const store = newStore({}, new NodeSessionFs(dir) as unknown as MemorySessionFs);
      const log = new TestLog();
      run(store, log, { kind: CommandKind.dataCreate, replayClass: 1 });
      const snap = store.snapshot();
      store.close();
      writeFileSync(join(dir, 'data', '7'), 'not a directory');
      const again = newStore({}, new NodeSessionFs(dir) as unknown as MemorySessionFs);
      again.restore(log.meta(log.lastIndex), snap);
      expect(existsSync(join(dir, 'trash', '-7'))).to.equal(true);
      expect(again.verifyFiles()).to.deep.equal([]);
      again.close();
    } finally {
      removeDir(dir);
    }
  });

  it('rejects a snapshot of other limits, of another index, or damaged', () => {
    const store = newStore();
    const log = new TestLog();
    run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: null });
    const snap = store.snapshot();
    expect(() => newStore({ topicBytesMax: 10 }).restore(log.meta(1), snap))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.configMismatch);
    expect(() => newStore().restore({ ...log.meta(1), index: 2 }, snap))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.snapshotIndex);
    const bad = snap.slice();
    bad[10] = bad[10]! ^ 1;
    expect(() => newStore().restore(log.meta(1), bad))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.snapshotCorrupt);
  });
});

describe('sessions: the snapshot as parts (issue 18)', () => {
  it('splices records of 256 bytes or more by reference to their arena; the parts concatenate to the snapshot, which restores', async () => {
    const store = newStore();
    const log = new TestLog();
    const ids: Uint8Array[] = [];
    for (let k = 0; k < 6; k++) {
      const id = run(store, log, { kind: CommandKind.sessionCreate, topic: `t${k}`, envelope: null }).value!;
      ids.push(id);
      // Sessions of 100 B (copied) and 2 KiB (by reference), alternating.
      const body = new Uint8Array(k % 2 === 0 ? 100 : 2048).fill(k + 1);
      expect(run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: body, envelope: null }).code).to.equal('OK');
    }
    const parts = store.snapshotParts();
    const whole = Buffer.concat(parts);
    expect(Buffer.from(store.snapshot()).equals(whole)).to.equal(true);
    // Three 2 KiB sessions by reference: a part of at least 2 KiB each, sharing its arena's buffer.
    const big = parts.filter((p) => p.length >= 2048);
    expect(big.length).to.equal(3);
    const arenas = ids.filter((_, k) => k % 2 === 1).map((id) => store.getSession(id)!.records[0]!.buffer);
    for (const p of big) expect(arenas).to.include(p.buffer);
    // Appending after the snapshot does not change the parts taken (bytes below `used` never change).
    run(store, log, { kind: CommandKind.sessionAppend, session: ids[1]!, bytes: new Uint8Array(5000).fill(9), envelope: null });
    expect(Buffer.concat(parts).equals(whole)).to.equal(true);
    // Saved as parts, the file loads as the same bytes, and a store restores from them.
    const dir = tempDir('snap-parts');
    try {
      const files = new FileSnapshotStore(realFs, dir);
      const meta = { ...log.meta(12), membership: { voters: ['n1'], learners: [] } };
      await new Promise<void>((resolve, reject) => files.save(meta, parts, (err) => (err ? reject(err) : resolve())));
      const loaded = files.load()!;
      expect(Buffer.from(loaded.data).equals(whole)).to.equal(true);
      const other = newStore();
      other.restore(log.meta(12), loaded.data);
      // Copied out of the file's buffer (a Buffer, whose slice() is a view): not kept alive by them.
      expect(loaded.data).to.be.instanceOf(Buffer);
      for (const id of ids) expect(other.getSession(id)!.records[0]!.buffer).to.not.equal(loaded.data.buffer);
      expect(other.getSession(ids[3]!)!.records[0]!).to.deep.equal(new Uint8Array(2048).fill(4));
      expect(other.getSession(ids[2]!)!.records[0]!).to.deep.equal(new Uint8Array(100).fill(3));
    } finally {
      removeDir(dir);
    }
  });
});

function planStoreless(session: Uint8Array): Command {
  return { kind: CommandKind.sessionStore, session, replayClass: 0, dueMs: 1, file: commandId(1, 1), offset: 0, length: 41, envelope: null };
}
