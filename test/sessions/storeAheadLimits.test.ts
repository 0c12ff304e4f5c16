/**
 * Planner.storeAfterAppend checks the projected record (the applied session plus one append)
 * against the session limits: when the session already holds records (a schedule retried on a
 * session whose create an earlier attempt applied; anyone may append to a session ID), an append
 * that cannot fit is refused at apply, and a store of such a record would not even encode. Before
 * the check (found in review) it threw a TypeError out of scheduleSession, or out of a Raft apply
 * callback when the create was learnt only at apply.
 */
import { expect } from 'chai';
import { CommandKind } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { StoreLimits } from '../../actors/sessions/options.js';
import { Harness } from './helpers.js';

// storedRecordBytesMax = 40 + 16 + 4 * 4 + 1024 = 1096 bytes.
const limits: Partial<StoreLimits> = { topicBytesMax: 16, recordBytesMax: 1024, sessionBytesMax: 1024, sessionRecordsMax: 4 };

describe('sessions: a store planned ahead stays within the session limits', () => {
  it('a projected record larger than a stored session can be does not throw (it falls back, or plans a store that decodes)', () => {
    const store = new SessionsStore({ fs: new MemorySessionFs(), limits, defer: (fn) => fn() });
    const h = new Harness([store], { replayDelaysMs: [1_000] });
    // Class 0 gets its data file (storeAfterAppend plans only behind an existing tail).
    const first = h.createSession('a', ['x']);
    expect(h.planner.storeSession(first, 0, {}).status).to.be.oneOf(['proposed', 'deferred']);
    h.settle();
    expect(store.dataFiles().length).to.equal(1);
    // A session that already holds 1,000 bytes (the retry path: the create applied earlier, and
    // someone appended to it since).
    const id = h.createSession('t', ['y'.repeat(1000)]);
    // The schedule's append (in flight: the only command on the session), then its store ahead.
    h.planner.submit({ kind: CommandKind.sessionAppend, session: id, bytes: new Uint8Array(1000), envelope: null }, null);
    let planned: boolean | undefined;
    expect(() => {
      planned = h.planner.storeAfterAppend(id, 0, { topicByteLength: 1, appendBytes: 1000 }, { context: 'store' });
    }, 'storeAfterAppend must not throw on a projection past the limits').to.not.throw();
    // The append is refused at apply (the session would be too large).
    h.settle();
    expect(planned, 'nothing to plan ahead: the append cannot fit').to.equal(false);
    expect(store.getSession(id)!.records.length, 'the append was refused: the session keeps its one record').to.equal(1);
  });
});
