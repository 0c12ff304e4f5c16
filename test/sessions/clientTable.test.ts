/**
 * Issue 14, finding 5: client IDs are guessable (term << 64 | index), so the exactly-once table must
 * not let anyone but the client use its ID. The leader draws a secret into ClientRegister; every
 * replica keeps it in its client table (and in snapshots); an envelope without it is
 * SESSIONS_ERR_CLIENT_AUTH and changes nothing: not the victim's results, not its ackedBelowSeq,
 * not its place in the LRU order, and no remembered result leaks.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { CommandErrorCode, CommandKind, commandId, encodeCommand, type Command, type Envelope } from '../../transport/commands/codec.js';
import { ResultCode, SessionsError, SessionsErrorCode } from '../../actors/sessions/errors.js';
import { decodeManifest, encodeManifest } from '../../actors/sessions/manifest.js';
import { crc32Bytes } from '../../storage/crc.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { StoreLimits } from '../../actors/sessions/options.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { TestLog, bytes, clientOf, testSecret, text, type TestClient } from './helpers.js';

function newStore(limits: Partial<StoreLimits> = {}): SessionsStore {
  return new SessionsStore({ fs: new MemorySessionFs(), limits, defer: (fn) => fn() });
}

function run(store: SessionsStore, log: TestLog, cmd: Command | Uint8Array): CommandResult {
  const e = log.push(cmd);
  return store.apply([e])[0] as CommandResult;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The victim's ID with someone else's secret: what an attacker who guessed the ID sends. */
function forged(victim: TestClient, seq: number, ackedBelowSeq = 0, secret = testSecret(666)): Envelope {
  return { client: victim.client, secret, seq, ackedBelowSeq };
}

/** The client table's entry for `c` in the store's manifest (what snapshots and digests carry). */
function tableEntry(store: SessionsStore, c: TestClient): unknown {
  const e = store.manifest().clients.find((x) => hex(commandId(x.high, x.low)) === hex(c.client));
  return e === undefined ? undefined : JSON.parse(JSON.stringify(e, (_k, v: unknown) => (v instanceof Uint8Array ? hex(v) : v)));
}

describe('sessions: the client table proves client IDs (secrets)', () => {
  it('stores the secret ClientRegister carries; the result is the credential (ID then secret), equal on every replica', () => {
    const log = new TestLog();
    log.push({ kind: CommandKind.clientRegister, secret: testSecret(7) });
    const [a, b] = [newStore(), newStore()];
    const ra = a.apply(log.entries)[0] as CommandResult;
    const rb = b.apply(log.entries)[0] as CommandResult;
    expect(hex(ra.value!)).to.equal(hex(Uint8Array.from([...commandId(1, 1), ...testSecret(7)])));
    expect(hex(rb.value!)).to.equal(hex(ra.value!));
    expect(a.digest().overall).to.equal(b.digest().overall);
    // The table owns its copy: changing the entry's bytes afterwards changes nothing.
    log.entries[0]!.data.fill(0, 3);
    expect((tableEntry(a, clientOf(ra)) as { secret: string }).secret).to.equal(hex(testSecret(7)));
  });

  it("refuses the victim's ID with future seqs (CLIENT_AUTH); the victim's own commands at those seqs then apply, once", () => {
    const store = newStore();
    const log = new TestLog();
    const victim = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
    const id = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: victim.env(1) }).value!;
    const before = tableEntry(store, victim);
    for (let seq = 2; seq <= 6; seq++) {
      const r = run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes(`evil${seq}`), envelope: forged(victim, seq) });
      expect(r).to.deep.equal({ ok: false, code: ResultCode.clientAuth, value: null });
    }
    expect(tableEntry(store, victim), 'the victim entry did not move').to.deep.equal(before);
    for (let seq = 2; seq <= 6; seq++) {
      const r = run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes(`mine${seq}`), envelope: victim.env(seq, seq) });
      expect(r, `seq ${seq}`).to.deep.equal({ ok: true, code: 'OK', value: null });
    }
    expect(store.getSession(id)!.records.map(text)).to.deep.equal(['mine2', 'mine3', 'mine4', 'mine5', 'mine6']);
  });

  it('refuses a raised ackedBelowSeq without the secret: no SEQ_STALE for the victim afterwards, its remembered results kept', () => {
    const store = newStore();
    const log = new TestLog();
    const victim = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
    const created = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: victim.env(1) });
    const id = created.value!;
    run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('a'), envelope: victim.env(2) });
    const before = tableEntry(store, victim);
    expect(run(store, log, { kind: CommandKind.sessionDestroy, session: id, envelope: forged(victim, 1_000_000, 1_000_000) }).code).to.equal(
      ResultCode.clientAuth,
    );
    expect(tableEntry(store, victim)).to.deep.equal(before);
    expect(store.getSession(id), 'the forged destroy did nothing').to.not.equal(null);
    // Its results below the forged ackedBelowSeq are still there (retries answered), and its next seq applies.
    expect(run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: victim.env(1) })).to.deep.equal({ ...created, duplicate: true });
    expect(run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('b'), envelope: victim.env(3, 1) }).code).to.equal('OK');
    expect(store.getSession(id)!.records.map(text)).to.deep.equal(['a', 'b']);
  });

  it('leaks no remembered result to a forged retry, at apply and at the gateway (clientResult)', () => {
    const store = newStore();
    const log = new TestLog();
    const victim = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
    const created = run(store, log, { kind: CommandKind.sessionCreate, topic: 'secret-topic', envelope: victim.env(1) });
    const r = run(store, log, { kind: CommandKind.sessionCreate, topic: 'secret-topic', envelope: forged(victim, 1) });
    expect(r).to.deep.equal({ ok: false, code: ResultCode.clientAuth, value: null });
    const [h, l] = [1, 1];
    expect(store.clientResult(h, l, testSecret(666), 1)).to.equal('auth');
    expect(store.clientResult(h, l, testSecret(666), 999)).to.equal('auth');
    expect(store.clientResult(h, l, victim.secret, 1)).to.deep.equal(created);
    expect(store.clientResult(h, l, victim.secret, 2)).to.equal(undefined);
    expect(store.clientResult(1, 999, victim.secret, 1)).to.equal('unknown');
  });

  it('a forged envelope does not refresh the victim in the LRU order (evicted exactly as without it)', () => {
    const outcome = (withForgery: boolean): string => {
      const store = newStore({ clientsMax: 2 });
      const log = new TestLog();
      const victim = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
      const other = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(2) }));
      run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: other.env(1) });
      if (withForgery) run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: forged(victim, 1) });
      else store.apply([log.noop()]);
      run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(3) }); // evicts the least recently active
      return run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: victim.env(1) }).code;
    };
    expect(outcome(false)).to.equal(ResultCode.clientUnknown);
    expect(outcome(true)).to.equal(ResultCode.clientUnknown);
  });

  it('a forged SessionStore still fills its planned bytes (a void record) and stores nothing', () => {
    const store = newStore();
    const log = new TestLog();
    const victim = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
    const id = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: victim.env(1) }).value!;
    const file = run(store, log, { kind: CommandKind.dataCreate, replayClass: 0 }).value!;
    const r = run(store, log, {
      kind: CommandKind.sessionStore,
      session: id,
      replayClass: 0,
      dueMs: 5,
      file,
      offset: 0,
      length: 40 + 1 + 0,
      envelope: forged(victim, 2),
    });
    expect(r.code).to.equal(ResultCode.clientAuth);
    expect(store.getSession(id), 'still active').to.not.equal(null);
    expect(store.newestFile(0)!.size, 'the void record fills the planned bytes').to.equal(41);
  });

  it('keeps secrets across snapshot and restore: the client still proves its ID, a forger still cannot', () => {
    const store = newStore();
    const log = new TestLog();
    const victim = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
    const id = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: victim.env(1) }).value!;
    const other = newStore();
    other.restore(log.meta(log.lastIndex), store.snapshot());
    expect(other.digest().overall).to.equal(store.digest().overall);
    log.push({ kind: CommandKind.sessionAppend, session: id, bytes: bytes('evil'), envelope: forged(victim, 2) });
    log.push({ kind: CommandKind.sessionAppend, session: id, bytes: bytes('mine'), envelope: victim.env(2) });
    for (const s of [store, other]) {
      const rs = s.apply(log.slice(s.appliedIndex)) as CommandResult[];
      expect(rs.map((r) => r.code)).to.deep.equal([ResultCode.clientAuth, 'OK']);
      expect(s.getSession(id)!.records.map(text)).to.deep.equal(['mine']);
    }
    expect(other.digest().overall).to.equal(store.digest().overall);
  });

  it('refuses a version 1 manifest (clients without secrets) with SESSIONS_ERR_SNAPSHOT_VERSION, and format 1 entries with FORMAT_RETIRED', () => {
    const store = newStore();
    const log = new TestLog();
    run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) });
    const m = encodeManifest(store.manifest());
    expect(decodeManifest(m).clients[0]!.secret).to.have.length(16);
    const v1 = m.slice();
    v1[5] = 1; // "SRMF" u16 version
    const body = v1.subarray(0, v1.length - 4);
    new DataView(v1.buffer).setUint32(v1.length - 4, crc32Bytes(body, 0));
    expect(() => decodeManifest(v1))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.snapshotVersion);
    const old = encodeCommand({ kind: CommandKind.sessionCreate, topic: 't', envelope: null });
    old[0] = 1;
    expect(run(store, log, old).code).to.equal(CommandErrorCode.formatRetired);
  });

  it('property: forged envelopes interleaved anywhere change nothing the client sees (300 runs)', () => {
    // The same honest sequence, with and without forgeries (unknown secrets, future seqs, raised
    // ackedBelowSeq, retries of seen seqs): every honest result and the final sessions are equal.
    const honestOp = fc.record({ seq: fc.integer({ min: 1, max: 12 }), acked: fc.nat(12), what: fc.constantFrom('append', 'destroy', 'create') });
    const forgedOp = fc.record({
      seq: fc.integer({ min: 1, max: 1000 }),
      acked: fc.nat(1000),
      what: fc.constantFrom('append', 'destroy', 'create'),
      secret: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    });
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            honestOp.map((o) => ({ ...o, forged: false as const })),
            forgedOp.map((o) => ({ ...o, forged: true as const })),
          ),
          { maxLength: 60 },
        ),
        (ops) => {
          const play = (withForgeries: boolean): { results: string[]; sessions: string[] } => {
            const store = newStore({ clientResultsMax: 8 });
            const log = new TestLog();
            const victim = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
            const session = run(store, log, { kind: CommandKind.sessionCreate, topic: 's', envelope: null }).value!;
            const results: string[] = [];
            for (const op of ops) {
              if (op.forged && (!withForgeries || Buffer.compare(Buffer.from(op.secret), Buffer.from(victim.secret)) === 0)) continue;
              const acked = Math.min(op.acked, op.seq);
              const env: Envelope = op.forged ? forged(victim, op.seq, acked, op.secret) : victim.env(op.seq, acked);
              const cmd: Command =
                op.what === 'append'
                  ? { kind: CommandKind.sessionAppend, session, bytes: bytes(`${op.seq}`), envelope: env }
                  : op.what === 'destroy'
                    ? { kind: CommandKind.sessionDestroy, session, envelope: env }
                    : { kind: CommandKind.sessionCreate, topic: 's', envelope: env };
              const r = run(store, log, cmd);
              if (op.forged) expect(r.code).to.equal(ResultCode.clientAuth);
              // (Values are session IDs, which depend on the entries' indexes: left out.)
              else results.push(`${r.code}${r.duplicate === true ? ':dup' : ''}`);
            }
            return { results, sessions: store.listSessions().map((s) => `${s.topic}:${s.records.map(text).join(',')}`) };
          };
          expect(play(true)).to.deep.equal(play(false));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('sessions: the client table is bounded in bytes (issue 18)', () => {
  // Accounted: 256 bytes a client, 96 a result plus its value (a session ID: 16 bytes).
  const limits = { clientResultsMax: 4, clientTableBytesMax: 1000 };

  it('evicts the least recently active client, never the one whose result is recorded, and counts it', () => {
    const store = newStore(limits);
    const log = new TestLog();
    const a = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
    const b = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(2) }));
    expect(store.stats().clientBytes).to.equal(512);
    run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: b.env(1) });
    run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: a.env(1) });
    run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: a.env(2) });
    expect(store.stats().clientBytes).to.equal(512 + 3 * 112);
    // A's third result takes the table to 960, its fourth to 1072: B, least recently active, goes.
    run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: a.env(3) });
    expect(store.stats().clientsEvicted.bytes).to.equal(0);
    const r4 = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: a.env(4) });
    expect(r4.ok).to.equal(true);
    expect(store.stats().clientsEvicted).to.deep.equal({ lru: 0, idle: 0, bytes: 1, user: 0 });
    expect(store.stats().clientBytes).to.equal(256 + 4 * 112);
    expect(store.stats().clients).to.equal(1);
    expect(run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: b.env(2) }).code).to.equal(ResultCode.clientUnknown);
    // Acknowledged results are forgotten and their bytes returned; the retry of a remembered one is still answered.
    const r5 = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: a.env(5, 4) });
    expect(r5.ok).to.equal(true);
    expect(store.stats().clientBytes).to.equal(256 + 2 * 112);
    expect(run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: a.env(4, 4) })).to.deep.equal({ ...r4, duplicate: true });
  });

  it('a replica restored from a snapshot accounts the same bytes and makes the same evictions', () => {
    const log = new TestLog();
    const store = newStore(limits);
    const clients: TestClient[] = [];
    for (let k = 1; k <= 3; k++) clients.push(clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(k) })));
    run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: clients[0]!.env(1) });
    const other = newStore(limits);
    other.restore(log.meta(log.lastIndex), store.snapshot());
    expect(other.stats().clientBytes).to.equal(store.stats().clientBytes);
    for (let seq = 1; seq <= 3; seq++) log.push({ kind: CommandKind.sessionCreate, topic: 't', envelope: clients[2]!.env(seq) });
    for (const s of [store, other]) s.apply(log.slice(s.appliedIndex));
    expect(other.stats().clientsEvicted).to.deep.equal(store.stats().clientsEvicted);
    expect(other.stats().clientsEvicted.bytes).to.be.greaterThan(0);
    expect(other.digest().overall).to.equal(store.digest().overall);
  });

  it('refuses a snapshot that lists a seq of a client twice (snapshotCorrupt, not a crash at a later apply)', () => {
    const store = newStore(limits);
    const log = new TestLog();
    const a = clientOf(run(store, log, { kind: CommandKind.clientRegister, secret: testSecret(1) }));
    run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: a.env(1) });
    const m = store.manifest();
    const c0 = m.clients[0]!;
    const twice = { ...m, clients: [{ ...c0, results: [...c0.results, c0.results[0]!] }] };
    const other = newStore(limits);
    expect(() => other.restore(log.meta(log.lastIndex), encodeManifest(twice)))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.snapshotCorrupt);
  });

  it('refuses a bound that cannot hold one client with a full window', () => {
    expect(() => newStore({ clientResultsMax: 4, clientTableBytesMax: 700 })).to.throw(SessionsError, /clientTableBytesMax/);
  });
});
