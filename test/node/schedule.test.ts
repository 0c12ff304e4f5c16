/**
 * Schedule (issue 20): one request creates a session with one record and stores it for replay.
 * Against an in-process 3-node cluster on 127.0.0.1: the session comes back when due with its
 * record; a retry with the same seqs is answered without proposing anything; a retry while the
 * first attempt is in flight is UNKNOWN_OUTCOME, never a second proposal; a retry after an
 * earlier attempt applied only the create finishes that session.
 */
import { expect } from 'chai';
import { type GroupMessage, type SessionraftClient } from '../../transport/client/client.js';
import { CommandKind, readU64BE, type Envelope } from '../../transport/commands/codec.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import type { NodeHost } from '../../actors/host/nodeHost.js';
import { httpGet, useInProcessCluster, waitFor } from './helpers.js';
import { hostDefaults } from '../../actors/host/config.js';

/** A 200 ms replay, a 10 ms tick and a few commit rounds; 5 s covers a loaded machine. */
const SETTLE_MS = 5000;

type Outcome = { err: { code: string; message: string } | null; result?: CommandResult; index?: number };

describe('node: schedule, one request for create + append + store (issue 20)', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(3);
  const client = (): SessionraftClient => suite.client();
  const leader = (): NodeHost => suite.cluster.leader()!;

  function schedule(host: NodeHost, topic: string, bytes: string, env: Envelope | null): Promise<Outcome> {
    return new Promise((resolve) => scheduleNow(host, topic, bytes, env, resolve));
  }

  function scheduleNow(host: NodeHost, topic: string, bytes: string, env: Envelope | null, done: (o: Outcome) => void): void {
    host.node.scheduleSession(topic, Buffer.from(bytes), 0, env, (err, result, entry) =>
      done({ err, ...(result !== undefined ? { result } : {}), ...(entry !== undefined ? { index: entry.index } : {}) }),
    );
  }

  async function register(host: NodeHost): Promise<{ client: Uint8Array; secret: Uint8Array }> {
    const value = await new Promise<Uint8Array>((resolve, reject) => host.node.registerClient((err, r) => (err !== null ? reject(err) : resolve(r!.value!))));
    return { client: value.slice(0, 16), secret: value.slice(16, 32) };
  }

  /** Command requests (create ... schedule) the leader's client port counted. */
  function commandRequests(): number {
    const stats = (leader() as unknown as { clientServer: { stats(): { requests: Readonly<Record<string, number>> } } }).clientServer.stats();
    let n = 0;
    for (const op of ['create', 'append', 'rewrite', 'store', 'destroy', 'schedule']) n += stats.requests[op] ?? 0;
    return n;
  }

  /** The session's records on `host` once restored (active again), or null. */
  function restored(host: NodeHost, id: Uint8Array): string[] | null {
    const s = host.node.store.getSession(id);
    return s === null ? null : s.records.map((r) => Buffer.from(r).toString());
  }

  it('the client library schedules in one request; the session comes back when due, with its record, on every node', async () => {
    const c = client();
    await c.createGroup('sched', 'g');
    const got: GroupMessage[] = [];
    const consumer = await client().consume('sched', 'g', (m) => {
      got.push(m);
    });
    const requestsBefore = commandRequests();
    const s = await c.schedule('sched', 'payload-1', { replay: '200ms' });
    expect(s.id).to.match(/^[0-9a-f]{32}$/);
    // The store's entry comes after the create's (the session's ID is the create's entry ID).
    expect(s.index).to.be.greaterThan(Number(BigInt('0x' + s.id) & 0xffff_ffff_ffff_ffffn));
    expect(commandRequests() - requestsBefore, 'command requests the leader received (no register: the consumer group made one)').to.equal(1);
    await waitFor('the scheduled session delivered to the consumer', () => got.length === 1, SETTLE_MS);
    expect(got[0]!.session).to.equal(s.id);
    expect(got[0]!.records.map((r) => Buffer.from(r).toString())).to.deep.equal(['payload-1']);
    const id = Buffer.from(s.id, 'hex');
    await waitFor('restored on every node', () => suite.cluster.hosts.every((h) => restored(h, id) !== null), SETTLE_MS);
    for (const h of suite.cluster.hosts) expect(restored(h, id)).to.deep.equal(['payload-1']);
    await consumer.close();
  });

  it('with nothing in flight, create, append and store are one batch: three entries in a row, bound to the create', async () => {
    const host = leader();
    const bound = (): number => host.node.planner.counters.bound;
    /**
     * An idle leader binds whatever `scheduleBinding` says (under load, see the next test).
     * Waits until nothing is in the leader's flight, then schedules in the same turn: no timer (the
     * scheduler's tick) or socket can run between the check and the request. Class 1: 1 s.
     */
    const scheduleIdle = async (topic: string, text: string): Promise<{ id: string; index: number }> => {
      await waitFor('nothing in the leader flight', () => host.node.planner.inFlight === 0, SETTLE_MS);
      const o = await new Promise<Outcome>((resolve) =>
        host.node.scheduleSession(topic, Buffer.from(text), 1, null, (err, result, entry) =>
          resolve({ err, ...(result !== undefined ? { result } : {}), ...(entry !== undefined ? { index: entry.index } : {}) }),
        ),
      );
      expect(o.err).to.equal(null);
      expect(o.result).to.include({ ok: true });
      return { id: Buffer.from(o.result!.value!).toString('hex'), index: o.index! };
    };
    const bound0 = bound();
    const first = await scheduleIdle('ahead', 'first');
    expect(bound() - bound0, 'the first schedule of the class: its append bound to the create').to.equal(1);
    // Entries with their data: nodes drop the data of applied entries every node holds, so read them back.
    const log = { entry: (i: number) => host.node.raft.entryAt(i) };
    // The class's first store waits for its DataCreate; the append still went in the create's batch.
    const firstCreate = Number(BigInt('0x' + first.id) & 0xffff_ffff_ffff_ffffn);
    expect(log.entry(firstCreate + 1).data[1]).to.equal(CommandKind.sessionAppend);
    const before = host.node.planner.counters.storesAhead;
    const s = await scheduleIdle('ahead', 'second');
    expect(host.node.planner.counters.storesAhead - before, 'stores planned ahead of their append applying').to.equal(1);
    expect(bound() - bound0, 'then its append and its store').to.equal(3);
    const createIndex = Number(BigInt('0x' + s.id) & 0xffff_ffff_ffff_ffffn);
    const term = Number(BigInt('0x' + s.id) >> 64n);
    expect(s.index, 'the store two entries after the create').to.equal(createIndex + 2);
    const kinds = [0, 1, 2].map((k) => log.entry(createIndex + k).data[1]);
    expect(kinds).to.deep.equal([CommandKind.sessionCreate, CommandKind.sessionAppend, CommandKind.sessionStore]);
    for (let k = 0; k < 3; k++) expect(log.entry(createIndex + k).term, 'one batch: one term').to.equal(term);
    // The append and the store name the create's entry (the leader wrote its ID just before Raft appended them).
    const named = (k: number): string => {
      const d = log.entry(createIndex + k).data;
      const at = 3 + ((d[2]! & 1) !== 0 ? 48 : 0);
      return Buffer.from(d.subarray(at, at + 16)).toString('hex');
    };
    expect([named(1), named(2)]).to.deep.equal([s.id, s.id]);
  });

  it('with schedules already in flight, each one still goes in one batch: create, append and store in a row', async () => {
    const host = leader();
    const bound = (): number => host.node.planner.counters.bound;
    // The class's DataCreate first (the class's first store waits for it), as above.
    const first = await schedule(host, 'loaded', 'first', null);
    expect(first.err).to.equal(null);
    /** Five schedules in one turn: from the second on, the earlier ones are in the leader's flight. */
    const count = 5;
    const bound0 = bound();
    const outcomes = await new Promise<Outcome[]>((resolve) => {
      const got: Outcome[] = [];
      let answered = 0;
      for (let k = 0; k < count; k++) {
        scheduleNow(host, 'loaded', `item-${k}`, null, (o) => {
          got[k] = o;
          if (++answered === count) resolve(got);
        });
        if (k === 0) expect(host.node.planner.inFlight, 'the first schedule is in flight when the others come').to.be.greaterThan(0);
      }
    });
    expect(bound() - bound0, 'every append and every store bound to its create').to.equal(2 * count);
    const log = { entry: (i: number) => host.node.raft.entryAt(i) };
    for (const o of outcomes) {
      expect(o.err).to.equal(null);
      expect(o.result).to.include({ ok: true });
      const id = Buffer.from(o.result!.value!).toString('hex');
      const createIndex = Number(BigInt('0x' + id) & 0xffff_ffff_ffff_ffffn);
      expect(o.index, 'the store two entries after its create').to.equal(createIndex + 2);
      const kinds = [0, 1, 2].map((k) => log.entry(createIndex + k).data[1]);
      expect(kinds).to.deep.equal([CommandKind.sessionCreate, CommandKind.sessionAppend, CommandKind.sessionStore]);
    }
  });

  it('a retry with the same seqs answers from the client table and proposes nothing; a retry while in flight is UNKNOWN_OUTCOME', async () => {
    const host = leader();
    const cred = await register(host);
    const env: Envelope = { ...cred, seq: 1, ackedBelowSeq: 1 };
    const first = new Promise<Outcome>((resolve) => scheduleNow(host, 'retry', 'once', env, resolve));
    // The same request again before the first is applied: never proposed a second time.
    const second = await schedule(host, 'retry', 'once', env);
    expect(second.err?.code).to.equal('UNKNOWN_OUTCOME');
    const a = await first;
    expect(a.err).to.equal(null);
    expect(a.result).to.include({ ok: true, code: 'OK' });
    const session = a.result!.value!;
    expect(session).to.have.length(16);
    await waitFor('the leader applied everything it has', () => host.node.store.appliedIndex === host.node.raft.log.lastIndex(), SETTLE_MS);
    const lastIndex = host.node.raft.log.lastIndex();
    const b = await schedule(host, 'retry', 'once', env);
    expect(b.err).to.equal(null);
    expect(b.result).to.include({ ok: true, duplicate: true });
    expect(Buffer.from(b.result!.value!)).to.deep.equal(Buffer.from(session));
    expect(host.node.raft.log.lastIndex(), 'the retry proposed nothing').to.equal(lastIndex);
    await waitFor('the session back once, with its record', () => restored(host, session) !== null, SETTLE_MS);
    expect(restored(host, session)).to.deep.equal(['once']);
  });

  it('after an earlier attempt applied only the create, a retry appends to and stores that session', async () => {
    const host = leader();
    const cred = await register(host);
    const env: Envelope = { ...cred, seq: 1, ackedBelowSeq: 1 };
    // The earlier attempt: its create alone reached the log (seq 1 of the schedule).
    const created = await new Promise<CommandResult>((resolve, reject) =>
      host.node.submit({ kind: CommandKind.sessionCreate, topic: 'partial', envelope: env }, (err, r) => (err !== null ? reject(err) : resolve(r!))),
    );
    expect(created.ok).to.equal(true);
    const session = created.value!;
    expect(host.node.store.session(readU64BE(session, 0), readU64BE(session, 8))).to.not.equal(undefined);
    const retry = await schedule(host, 'partial', 'finished', env);
    expect(retry.err).to.equal(null);
    expect(retry.result).to.include({ ok: true });
    expect(Buffer.from(retry.result!.value!)).to.deep.equal(Buffer.from(session));
    // Stored: no longer active, then back when due with the retry's record.
    expect(host.node.store.session(readU64BE(session, 0), readU64BE(session, 8))).to.equal(undefined);
    await waitFor('the session back when due', () => restored(host, session) !== null, SETTLE_MS);
    expect(restored(host, session)).to.deep.equal(['finished']);
  });

  it('128 schedules at once on a client not registered yet all succeed: the seq span (3 a schedule) stays inside the cluster window', async () => {
    // Before the fix the client let 384 seqs go before registering: 128 creates and appends were
    // applied and every store was refused with SESSIONS_ERR_CLIENT_WINDOW (found in review).
    const c = suite.client(undefined, { inflightCommandsMax: 128 });
    const outcomes = await Promise.all(
      Array.from({ length: 128 }, (_, k) =>
        c.schedule('burst', `b${k}`, { replay: '1s' }).then(
          () => 'OK',
          (e: { code: string }) => e.code,
        ),
      ),
    );
    const counts: Record<string, number> = {};
    for (const o of outcomes) counts[o] = (counts[o] ?? 0) + 1;
    expect(counts).to.deep.equal({ OK: 128 });
  });

  it('a refused create answers its own code with no session; an unknown replay class is refused before anything is proposed', async () => {
    const host = leader();
    const cred = await register(host);
    // Another client's secret: refused before the log.
    const forged: Envelope = { client: cred.client, secret: new Uint8Array(16), seq: 1, ackedBelowSeq: 1 };
    const lastIndex = host.node.raft.log.lastIndex();
    const o = await schedule(host, 'forged', 'x', forged);
    expect(o.err?.code).to.equal('SESSIONS_ERR_CLIENT_AUTH');
    expect(host.node.raft.log.lastIndex()).to.equal(lastIndex);
    const c = client();
    const err = await c.schedule('sched', 'x', { replay: '7s' }).then(
      () => null,
      (e: { code: string }) => e,
    );
    expect(err?.code).to.equal('CLIENT_ERR_REPLAY_UNKNOWN');
    // A record over recordBytesMax (64 KiB): refused at the port with the codec's code, nothing proposed.
    const before = host.node.raft.log.lastIndex();
    const tooLarge = await c.schedule('sched', new Uint8Array(64 * 1024 + 1), { replay: '1s' }).then(
      () => null,
      (e: { code: string; message: string }) => e,
    );
    expect(tooLarge?.code).to.equal('SESSIONS_ERR_RECORD_TOO_LARGE');
    expect(tooLarge?.message).to.contain("the schedule's SessionAppend of");
    expect(host.node.raft.log.lastIndex()).to.equal(before);
    // One byte less fits.
    await c.schedule('sched', new Uint8Array(64 * 1024), { replay: '1s' });
  });
});

describe('node: a schedule whose append is refused at apply (its store was planned ahead)', function () {
  this.timeout(60_000);
  // Room for 1,000 bytes of active records: the second session's append no longer fits.
  const suite = useInProcessCluster(3, { storeLimits: { activeBytesMax: 1000 } });

  it("answers the append's code with the session, refuses the store with a void record on every node, and later schedules work", async () => {
    const host = suite.cluster.leader()!;
    const c = suite.client();
    const filler = await c.createSession('full');
    await c.append(filler.id, Buffer.alloc(900, 1));
    await c.schedule('other', Buffer.alloc(10), { replay: '1s' }); // the class's data file
    const aheadBefore = host.node.planner.counters.storesAhead;
    const err = await c.schedule('full', Buffer.alloc(200, 2), { replay: '1s' }).then(
      () => null,
      (e: { code: string }) => e,
    );
    expect(host.node.planner.counters.storesAhead - aheadBefore, 'the store was planned ahead').to.equal(1);
    expect(err?.code).to.equal('SESSIONS_ERR_STORE_FULL');
    await waitFor(
      'every node applied the refused store',
      () => suite.cluster.hosts.every((h) => (h.node.store.stats().rejectedByCode['SESSIONS_ERR_RECORD_LENGTH'] ?? 0) === 1),
      SETTLE_MS,
    );
    for (const h of suite.cluster.hosts) {
      // The created session stays active and empty beside the filler; nothing was stored.
      const active = h.node.store.listSessions().filter((x) => x.topic === 'full');
      expect(active.map((x) => x.records.length).sort()).to.deep.equal([0, 1]);
      expect(h.node.store.stats().rejectedByCode['SESSIONS_ERR_STORE_FULL']).to.equal(1);
    }
    // With room again, a schedule goes through and the cluster keeps the same file layout.
    await c.destroy(filler.id);
    const s = await c.schedule('full', Buffer.alloc(200, 3), { replay: '1s' });
    expect(s.id).to.match(/^[0-9a-f]{32}$/);
    const sizes = (h: NodeHost): number[] => h.node.store.dataFiles().map((f) => f.size);
    await waitFor('every node applied the second store', () => suite.cluster.hosts.every((h) => h.node.store.appliedIndex >= s.index), SETTLE_MS);
    for (const h of suite.cluster.hosts) expect(sizes(h)).to.deep.equal(sizes(host));
  });
});

describe('node: restore ahead (issue 20)', function () {
  this.timeout(60_000);
  // The largest lead (1 s) over a 200 ms class: a session is restored once its store applies.
  const suite = useInProcessCluster(3, { restoreLeadMs: 1000 });
  const client = (): SessionraftClient => suite.client();

  it('the default lead is 20 ms', () => {
    expect(hostDefaults.restoreLeadMs).to.equal(20);
  });

  it('restored as soon as stored (a lead past the class delay), every session is held: no consumer or subscriber gets one before its due time', async () => {
    const host = suite.cluster.leader()!;
    const c = client();
    await c.createGroup('ahead', 'g');
    const got: { id: string; atMs: number }[] = [];
    const subscribed: { id: string; atMs: number }[] = [];
    const consumer = await client().consume('ahead', 'g', (m) => {
      got.push({ id: m.session, atMs: Date.now() });
    });
    const sub = await client().subscribe('ahead', (d) => {
      subscribed.push({ id: d.session, atMs: Date.now() });
    });
    // The leader decides each due time (its clock when it plans the store, plus 200 ms) after the
    // request left: so a receipt before sent + 200 ms is early. Five, a few ms apart.
    const sentAt = new Map<string, number>();
    for (let k = 0; k < 5; k++) {
      const at = Date.now();
      const s = await c.schedule('ahead', `p${k}`, { replay: '200ms' });
      sentAt.set(s.id, at);
    }
    await waitFor('five deliveries to the consumer and the subscriber', () => got.length === 5 && subscribed.length === 5, SETTLE_MS);
    for (const r of [...got, ...subscribed]) {
      const at = sentAt.get(r.id);
      expect(at, r.id).to.not.equal(undefined);
      expect(r.atMs - at!, `received ${r.atMs - at!} ms after it was sent (replay 200 ms)`).to.be.at.least(200);
    }
    // Each was restored about 200 ms ahead, so the leader held them (all five unless a round took
    // 200 ms: at least one, or the receipts above checked nothing of the hold).
    const held = host.node.dispatcher.counters.held;
    expect(held, 'deliveries the leader held until due').to.be.at.least(1);
    // /metrics shows the same count.
    const m = await httpGet(`http://127.0.0.1:${host.addresses.admin.port}/metrics`);
    expect(Number(/^sessionraft_group_deliveries_held_total (\d+)/m.exec(m.body)?.[1] ?? -1)).to.equal(held);
    expect(m.body).to.match(/^sessionraft_subscriber_deliveries_held_total \d+/m);
    // The leader's files started for a clock behind the due floor (none here: one clock).
    expect(Number(/^sessionraft_due_floor_files_total (\d+)/m.exec(m.body)?.[1] ?? -1)).to.equal(host.node.planner.counters.dueFloorFiles);
    await sub.close();
    await consumer.close();
  });
});
