/**
 * Issue 14, findings 5 and 6, against real sockets and real processes.
 *
 * 5. Client IDs are guessable (term << 64 | index). An attacker on a raw client connection sends
 *    envelopes in a victim's name: future seqs (before the fix they were applied, and the victim's
 *    own appends at those seqs were answered `duplicate` and never applied), a raised ackedBelowSeq
 *    (before the fix every later command of the victim failed SEQ_STALE), a retry of a seq the
 *    victim used (its remembered result), a store. Each is refused with CLIENT_ERR_AUTH and counted
 *    in /metrics; a forged envelope that reaches the log (the victim's register still in flight at
 *    the leader's gateway) is refused by apply on every replica. The victim's later appends are all
 *    applied, once, in order.
 * 6. Both followers of a 3-node cluster of real processes are killed (SIGKILL) while a client has
 *    appends in flight: every append that fails reports CLIENT_ERR_UNKNOWN_OUTCOME or
 *    CLIENT_ERR_TIMEOUT (before the fix: UNREACHABLE, "none accepted a connection", or NO_LEADER),
 *    and once the followers are back every acknowledged append is there exactly once, every unknown
 *    one at most once, in order.
 *
 * Every wait is bounded and says why; every process is stopped by its pid.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { NodeAddress } from '../../actors/host/config.js';
import { commandId } from '../../transport/commands/codec.js';
import { createClient, isRetryable, isUnknownOutcome, type SessionraftClient } from '../../transport/client/client.js';
import { ClientError } from '../../transport/client/errors.js';
import { decodeServerFrame, encodeRequest, idFromHex, parseCommandReply, type Request } from '../../transport/client/protocol.js';
import {
  freePorts,
  getJson,
  httpGet,
  killNode,
  removeDir,
  spawnNode,
  startInProcessCluster,
  tempDir,
  waitFor,
  type InProcessCluster,
  type NodeProcess,
} from './helpers.js';

type Frame = ReturnType<typeof decodeServerFrame>;

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** A raw WebSocket to a client port (as test/node/protocol.test.ts): decoded frames in, raw requests out. */
async function rawConnect(
  endpoint: string,
): Promise<{ ws: WebSocket; frames: Frame[]; send: (reqs: Request[]) => void; answer: (reqId: number) => Promise<Frame> }> {
  const ws = new WebSocket(`ws://${endpoint}/`, { perMessageDeflate: false });
  const frames: Frame[] = [];
  ws.on('message', (d) => frames.push(decodeServerFrame(d as Buffer)));
  await new Promise<void>((res, rej) => {
    ws.once('open', () => res());
    ws.once('error', rej);
  });
  // The node's first frame: a loopback welcome takes milliseconds; 10 s bounds a loaded box (until
  // 2026-12-07: 2 s).
  await waitFor('the welcome', () => frames.some((f) => f.kind === 'welcome'), 10_000, 5);
  const sock = (ws as unknown as { _socket: import('node:net').Socket })._socket;
  return {
    ws,
    frames,
    // Requests written together (one socket write), so the node reads them in one turn.
    send: (reqs) => {
      sock.cork();
      for (const r of reqs) ws.send(encodeRequest(r));
      sock.uncork();
    },
    // A command is answered once applied on the leader (a few ms); 5 s bounds a stuck cluster.
    answer: (reqId) =>
      waitFor(`the answer to request ${reqId}`, () => frames.find((f) => (f.kind === 'result' || f.kind === 'error') && f.reqId === reqId), 5000, 5),
  };
}

function errorCode(f: Frame): string {
  if (f.kind === 'error') return f.code;
  if (f.kind === 'result') {
    const r = parseCommandReply(f.body);
    return r.ok ? 'OK' : r.code;
  }
  return f.kind;
}

/** `sessionraft_rejected_total{source, code}` from a node's /metrics (0 when absent). */
async function rejectedTotal(adminPort: number, source: string, code: string): Promise<number> {
  const m = await httpGet(`http://127.0.0.1:${adminPort}/metrics`);
  for (const line of m.body.split('\n')) {
    if (!line.startsWith('sessionraft_rejected_total{')) continue;
    if (line.includes(`source="${source}"`) && line.includes(`code="${code}"`)) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

describe('client IDs cannot be used by anyone else (issue 14, finding 5)', function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;

  before(async () => {
    cluster = await startInProcessCluster(3);
  });
  after(async () => {
    await cluster?.stop();
  });

  it("refuses envelopes in a victim's name (future seqs, raised ackedBelowSeq, a used seq, a store) with CLIENT_ERR_AUTH, counts them, and the victim's later appends are all applied once, in order", async () => {
    // An election with 100-200 ms timeouts; 10 s is generous.
    const leader = await waitFor('a leader', () => cluster.leader(), 10_000);
    const victim = createClient({ endpoints: cluster.endpoints(), clusterId: 'test' });
    try {
      const { id } = await victim.createSession('victim');
      await victim.append(id, 'v1');
      await victim.append(id, 'v2');
      // The victim used seqs 1 (create), 2 and 3. Its ID is what anyone can guess: term << 64 | index.
      const victimId = idFromHex(victim.clientId!);
      const session = idFromHex(id);
      const adminPort = leader.addresses.admin.port;
      const authBefore = await rejectedTotal(adminPort, 'client', 'CLIENT_ERR_AUTH');

      const attacker = await rawConnect(leader.clientEndpoint());
      const guess = randomBytes(16);
      const forged = (seq: number, ackedBelowSeq: number) => ({ client: victimId, secret: guess, seq, ackedBelowSeq });
      const attacks: Request[] = [];
      let reqId = 1;
      // Future seqs (the victim's next ten), each with a record of the attacker's.
      for (let seq = 4; seq <= 13; seq++) attacks.push({ op: 'append', reqId: reqId++, envelope: forged(seq, 0), session, bytes: Buffer.from(`evil${seq}`) });
      // A raised ackedBelowSeq (on a destroy of the victim's session, and on an append).
      attacks.push({ op: 'destroy', reqId: reqId++, envelope: forged(1_000, 1_000), session });
      attacks.push({ op: 'append', reqId: reqId++, envelope: forged(50, 40), session, bytes: Buffer.from('evil-acked') });
      // A retry of seq 1, whose remembered result is the session's ID.
      attacks.push({ op: 'create', reqId: reqId++, envelope: forged(1, 0), topic: 'victim' });
      // A store in the victim's name (planned by the leader's planner).
      attacks.push({ op: 'store', reqId: reqId++, envelope: forged(14, 0), session, replay: { mode: 'class', value: 0 } });
      attacker.send(attacks);
      for (const a of attacks) {
        const f = await attacker.answer(a.reqId);
        expect(errorCode(f), `${a.op} #${a.reqId}`).to.equal('CLIENT_ERR_AUTH');
        expect(f.kind, 'an error frame: no result, no remembered value').to.equal('error');
      }
      // Counted, by code, on the node that refused them.
      expect(await rejectedTotal(adminPort, 'client', 'CLIENT_ERR_AUTH')).to.equal(authBefore + attacks.length);

      // A forged envelope that reaches the log: a register and, in the same write, an envelope in
      // the name of the client that register will create (its ID is the next index: guessable). The
      // leader's gateway cannot refuse it (the client is not applied yet), so every replica's apply
      // must. Retried a bounded number of times in case another entry takes the guessed index.
      const storeAuthBefore = await Promise.all(cluster.hosts.map((h) => rejectedTotal(h.addresses.admin.port, 'store', 'SESSIONS_ERR_CLIENT_AUTH')));
      let hit = false;
      for (let attempt = 0; attempt < 5 && !hit; attempt++) {
        const st = leader.node.status();
        const next = commandId(st.term, leader.node.raft.log.lastIndex() + 1);
        const reg = reqId++;
        const sneak = reqId++;
        attacker.send([
          { op: 'register', reqId: reg },
          { op: 'append', reqId: sneak, envelope: { client: next, secret: guess, seq: 1, ackedBelowSeq: 0 }, session, bytes: Buffer.from('evil-in-flight') },
        ]);
        const regFrame = await attacker.answer(reg);
        expect(regFrame.kind, `register: ${errorCode(regFrame)}`).to.equal('result');
        const r = parseCommandReply((regFrame as Extract<Frame, { kind: 'result' }>).body);
        expect(r.value, 'register answers the credential: ID and secret').to.have.length(32);
        hit = Buffer.compare(Buffer.from(r.value!.subarray(0, 16)), Buffer.from(next)) === 0;
        const code = errorCode(await attacker.answer(sneak));
        if (hit) expect(code, 'refused by apply').to.equal('CLIENT_ERR_AUTH');
      }
      expect(hit, 'the guessed ID was the register entry').to.equal(true);
      // Every replica refused it at apply, from its own table (the followers apply a little later).
      await waitFor(
        'every replica counted the forged entry it refused at apply',
        async () =>
          (await Promise.all(cluster.hosts.map((h) => rejectedTotal(h.addresses.admin.port, 'store', 'SESSIONS_ERR_CLIENT_AUTH')))).every(
            (n, k) => n >= storeAuthBefore[k]! + 1,
          ),
        5000,
      );
      attacker.ws.close();

      // The victim carries on with the very seqs the attacker used: every append applied, once, in order.
      const later: string[] = [];
      for (let k = 3; k <= 14; k++) {
        const out = await victim.append(id, `v${k}`);
        expect(out.duplicate, `v${k} applied, not answered as a duplicate`).to.equal(false);
        later.push(`v${k}`);
      }
      const s = await victim.get(id);
      expect(s!.records.map(text)).to.deep.equal(['v1', 'v2', ...later]);
      // Every replica holds the same (peek: each node's own applied state).
      for (const h of cluster.hosts) {
        const want = s!.appliedIndex;
        await waitFor(`${h.id} applied through ${want}`, () => h.node.store.appliedIndex >= want, 5000);
        expect(h.node.store.getSession(session)!.records.map(text), h.id).to.deep.equal(['v1', 'v2', ...later]);
      }
    } finally {
      await victim.close();
    }
  });
});

describe('failures that were not failures (issue 14, finding 6): both followers killed with appends in flight', function () {
  this.timeout(120_000);
  let dir: string;
  let nodes: Record<string, NodeAddress>;
  const procs = new Map<string, NodeProcess>();
  let client: SessionraftClient | null = null;

  const start = (id: string): NodeProcess => {
    const p = spawnNode(id, nodes, join(dir, id));
    procs.set(id, p);
    return p;
  };
  /** The fields of /status this test reads. */
  type Status = { node: string; role: string; leader: string | null; lastIndex: number; appliedIndex: number };
  // A loopback answer from a live process takes milliseconds; 10 s bounds a loaded box (until
  // 2026-12-07: 1 s, and a status read outside a waitFor then failed the test).
  const statusOf = (a: NodeAddress): Promise<Status> => getJson<Status>(`http://${a.host}:${a.adminPort}/status`, 10_000);
  const agreedLeader = async (): Promise<string | null> => {
    const live = [...procs.values()].filter((p) => p.child.exitCode === null && p.child.signalCode === null);
    const all = await Promise.all(live.map((p) => statusOf(p.address).catch(() => null)));
    if (all.some((s) => s === null)) return null;
    const leaders = all.filter((s) => s!.role === 'leader');
    if (leaders.length !== 1) return null;
    const id = leaders[0]!.node;
    return all.every((s) => s!.leader === id) ? id : null;
  };

  before(async () => {
    dir = tempDir('attack');
    const ports = await freePorts(9);
    nodes = {};
    ['n1', 'n2', 'n3'].forEach((id, k) => {
      nodes[id] = { host: '127.0.0.1', raftPort: ports[k]!, clientPort: ports[3 + k]!, adminPort: ports[6 + k]! };
    });
    for (const id of Object.keys(nodes)) start(id);
    // Process start (~0.3-0.5 s each, in parallel) plus an election (100-200 ms timeouts); 15 s is generous.
    await waitFor('an agreed leader', agreedLeader, 15_000, 50);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      for (const p of procs.values()) process.stderr.write(`---- ${p.id} output (tail) ----\n${p.output().slice(-3000)}\n`);
    }
  });

  after(async () => {
    await client?.close();
    await Promise.all([...procs.values()].map((p) => killNode(p, 'SIGKILL')));
    if (dir !== undefined) removeDir(dir);
  });

  it('every failed append reports UNKNOWN_OUTCOME or TIMEOUT; after the followers return, acknowledged appends are there once and unknown ones at most once', async () => {
    const endpoints = Object.values(nodes).map((a) => `${a.host}:${a.clientPort}`);
    // Short deadlines so that the failures come quickly: 500 ms per attempt, 4 s per append.
    client = createClient({ endpoints, clusterId: 'proc-test', requestTimeoutMs: 500, operationTimeoutMs: 4000 });
    const c = client;
    const writers = 6;
    const sessions: string[] = [];
    for (let w = 0; w < writers; w++) sessions.push((await c.createSession(`w${w}`)).id);
    const acked: string[][] = sessions.map(() => []);
    const unknown: string[][] = sessions.map(() => []);
    const failures: { value: string; code: string; message: string }[] = [];
    let stop = false;
    const loops = sessions.map(async (id, w) => {
      for (let k = 1; !stop; k++) {
        const v = `w${w}-${k}`;
        try {
          await c.append(id, v);
          acked[w]!.push(v);
        } catch (err) {
          if (!(err instanceof ClientError)) throw err;
          failures.push({ value: v, code: err.code, message: err.message });
          unknown[w]!.push(v);
          // One failure per writer is the point; the writer stops (a caller that resent it as a new append could apply it twice).
          return;
        }
      }
    });
    const total = (): number => acked.reduce((n, a) => n + a.length, 0);
    // Appends stream at a few hundred per second on loopback; 20 s bounds a slow machine.
    await waitFor('60 acknowledged appends', () => total() >= 60, 20_000);
    const leaderId = (await agreedLeader())!;
    expect(leaderId).to.be.a('string');
    const followers = [...procs.values()].filter((p) => p.id !== leaderId);
    await Promise.all(followers.map((p) => killNode(p, 'SIGKILL')));
    // Every writer had an append in flight or sends one now, which cannot commit: each fails within
    // its 4 s deadline; 15 s bounds it.
    await waitFor('every writer saw its append fail', () => failures.length >= writers, 15_000, 50);
    stop = true;
    await Promise.all(loops);

    for (const f of failures) {
      expect(['CLIENT_ERR_UNKNOWN_OUTCOME', 'CLIENT_ERR_TIMEOUT'], `${f.value}: ${f.message}`).to.include(f.code);
      expect(isUnknownOutcome(f.code), f.code).to.equal(true);
      expect(isRetryable(f.code), `${f.code} is not safe to resend as a new command`).to.equal(false);
    }

    // The followers come back from their disks; the cluster agrees on a leader and catches up.
    for (const p of followers) start(p.id);
    await waitFor('an agreed leader with all three up', agreedLeader, 20_000, 50);
    await waitFor(
      'every node applied the leader\u2019s last index',
      async () => {
        const st = await Promise.all(Object.values(nodes).map((a) => statusOf(a)));
        const last = st.find((s) => s.role === 'leader')?.lastIndex;
        return last !== undefined && st.every((s) => s.appliedIndex === last);
      },
      15_000,
      50,
    );
    let unknownApplied = 0;
    for (let w = 0; w < writers; w++) {
      const got = (await c.get(sessions[w]!))!.records.map(text);
      for (const v of acked[w]!)
        expect(
          got.filter((x) => x === v),
          `acknowledged ${v} exactly once`,
        ).to.have.length(1);
      for (const v of unknown[w]!) {
        const n = got.filter((x) => x === v).length;
        expect(n, `unknown ${v} at most once`).to.be.at.most(1);
        unknownApplied += n;
      }
      // Nothing else, and in the order they were sent (each writer sends one append at a time).
      const sent = [...acked[w]!, ...unknown[w]!];
      expect(
        got.every((x) => sent.includes(x)),
        `session ${w} holds only what was sent`,
      ).to.equal(true);
      const order = got.map((x) => Number(x.split('-')[1]));
      expect(order, `session ${w} in order`).to.deep.equal([...order].sort((a, b) => a - b));
    }
    process.stdout.write(
      `      (${total()} acknowledged; ${failures.length} failed: ${[...new Set(failures.map((f) => f.code))].join(', ')}; ${unknownApplied} of those were applied once the followers returned)\n`,
    );
  });
});
