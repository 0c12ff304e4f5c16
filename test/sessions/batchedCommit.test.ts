import { expect } from 'chai';
import { CommandKind, CommandView, parseCommand, type Command } from '../../transport/commands/codec.js';
import { ResultCode } from '../../actors/sessions/errors.js';
import { codecLimitsOf } from '../../actors/sessions/options.js';
import { storedRecordLength } from '../../actors/sessions/record.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { Harness, TestLog, bytes } from './helpers.js';

function newStore(): SessionsStore {
  return new SessionsStore({ fs: new MemorySessionFs(), limits: {}, defer: (fn) => fn() });
}

function run(store: SessionsStore, log: TestLog, cmd: Command): CommandResult {
  return store.apply([log.push(cmd)])[0] as CommandResult;
}

describe('sessions: one SessionCommit consumes several restored records', () => {
  it('consumes the first k restored records when its length is the sum of theirs, and nothing otherwise', () => {
    const store = newStore();
    const log = new TestLog();
    const file = run(store, log, { kind: CommandKind.dataCreate, replayClass: 0 }).value!;
    const lengths: number[] = [];
    for (const body of ['a', 'bb', 'ccc']) {
      const id = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: null }).value!;
      run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes(body), envelope: null });
      const length = storedRecordLength(1, 1, body.length);
      const f = store.newestFile(0)!;
      const st = run(store, log, { kind: CommandKind.sessionStore, session: id, replayClass: 0, dueMs: 10, file, offset: f.size, length, envelope: null });
      expect(st.code).to.equal('OK');
      lengths.push(length);
    }
    for (const length of lengths) expect(run(store, log, { kind: CommandKind.sessionRestore, replayClass: 0, file, length }).code).to.equal('OK');
    const f = store.newestFile(0)!;
    // Within a record, past the restored ones, or not on a record boundary: refused, nothing consumed.
    for (const length of [lengths[0]! + 1, lengths[0]! + lengths[1]! + lengths[2]! + 1, lengths[0]! + lengths[1]! - 1]) {
      expect(run(store, log, { kind: CommandKind.sessionCommit, replayClass: 0, file, length }).code).to.equal(ResultCode.recordLength);
      expect(f.consumed).to.equal(0);
    }
    // The first two in one entry, then the third.
    expect(run(store, log, { kind: CommandKind.sessionCommit, replayClass: 0, file, length: lengths[0]! + lengths[1]! }).code).to.equal('OK');
    expect(f.consumed).to.equal(lengths[0]! + lengths[1]!);
    expect(f.restoredLengths).to.deep.equal([lengths[2]]);
    expect(run(store, log, { kind: CommandKind.sessionCommit, replayClass: 0, file, length: lengths[2]! }).code).to.equal('OK');
    expect(f.consumed).to.equal(f.size);
    expect(run(store, log, { kind: CommandKind.sessionCommit, replayClass: 0, file, length: lengths[2]! }).code).to.equal(ResultCode.nothingToCommit);
    expect(store.stats().commitsOfHeldRestores).to.equal(0);
  });

  it("the leader's scheduler commits the records a tick finds settled in one entry per file", () => {
    const store = newStore();
    const h = new Harness([store], { replayDelaysMs: [100] });
    const n = 20;
    for (let k = 0; k < n; k++) {
      const id = h.createSession('t', [`r${k}`]);
      h.planner.storeSession(id, 0, { envelope: null, context: null });
      h.settle();
    }
    h.now += 200;
    h.settle();
    const f = store.newestFile(0)!;
    expect(f.consumed).to.equal(f.size);
    expect(h.scheduler.counters.commits).to.equal(n);
    const v = new CommandView();
    const commits = h.log.entries.filter((e) => parseCommand(v, e.data, codecLimitsOf(store.limits)) === null && v.kind === CommandKind.sessionCommit);
    expect(commits.length).to.equal(h.scheduler.counters.commitEntries);
    // The restores of one tick are applied together, so their commits share entries.
    expect(commits.length).to.be.lessThan(n);
  });
});
