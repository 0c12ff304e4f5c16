import { expect } from 'chai';
import { CommandKind } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { ResultCode } from '../../actors/sessions/errors.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import { Harness, bytes } from './helpers.js';

function newStore(): SessionsStore {
  return new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() });
}

describe('sessions: lifecycle review', function () {
  it('commands on a stored session are refused; a replica restored from a snapshot at any index agrees', () => {
    const h = new Harness([newStore(), newStore()]);
    const a = h.createSession('t', ['one', 'two']);
    const b = h.createSession('t', ['x']);
    h.planner.storeSession(a, 0, {});
    h.settle();
    expect(h.client({ kind: CommandKind.sessionAppend, session: a, bytes: bytes('z'), envelope: null }).code).to.equal(ResultCode.sessionUnknown);
    expect(h.client({ kind: CommandKind.sessionRewrite, session: a, bytes: bytes('zz'), envelope: null }).code).to.equal(ResultCode.sessionUnknown);
    expect(h.client({ kind: CommandKind.sessionDestroy, session: a, envelope: null }).code).to.equal(ResultCode.sessionUnknown);
    h.planner.storeSession(a, 0, {});
    h.settle();
    h.planner.storeSession(b, 0, {});
    h.settle();
    h.now += 2_000;
    h.settle();
    h.client({ kind: CommandKind.sessionDestroy, session: a, envelope: null });
    h.client({ kind: CommandKind.sessionRewrite, session: b, bytes: bytes('rewritten'), envelope: null });
    h.planner.storeSession(b, 0, {});
    h.settle();
    h.now += 2_000;
    h.settle();
    h.planner.submit({ kind: CommandKind.dataCreate, replayClass: 0 }, null);
    h.settle();
    h.now += 2_000;
    h.settle();
    const log = h.log.entries;
    const final = h.stores[0]!.digest().overall;
    const results = log.map((e) => JSON.stringify(h.results.get(e.index) ?? null));
    const s = newStore();
    for (let i = 0; i <= log.length; i++) {
      if (i > 0) s.apply([log[i - 1]!]);
      const snap = s.snapshot();
      const t = newStore();
      for (const r of t.missingRanges(snap)) t.writeRange(s.readRange(r));
      t.restore({ index: i, term: i === 0 ? 0 : log[i - 1]!.term, membership: { voters: [], learners: [] } } as never, snap);
      const rest = t.apply(log.slice(i));
      for (let k = 0; k < rest.length; k++) expect(JSON.stringify(rest[k] ?? null), `snapshot at ${i}, entry ${i + k + 1}`).to.equal(results[i + k]);
      expect(t.digest().overall, `snapshot at ${i}`).to.equal(final);
    }
  });
});
