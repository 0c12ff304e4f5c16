/**
 * Real node processes (`node dist/bin/sessionraft.js node`) on loopback with real disks.
 *
 * The main test: writers append unique values to their sessions in a stream; the leader is killed
 * with SIGKILL mid-stream; the writers keep going (the client retries each command with the same
 * seq until it is acknowledged); the killed node is restarted and catches up; then every node holds
 * every acknowledged append exactly once and in order, and all three store digests are equal.
 *
 * Every process is stopped by its pid in `after`, whatever happened.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeAddress } from '../../actors/host/config.js';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import { binPath, freePorts, getJson, httpGet, killNode, removeDir, spawnNode, tempDir, waitFor, type NodeProcess } from './helpers.js';

type Status = Record<string, any>;

/**
 * Snapshots every 100 entries with 20 kept below: the killed leader, down while ~200 entries are
 * committed, comes back behind the others' compacted logs and must install a snapshot (with range
 * sync of the data files) to catch up.
 */
const snapshotArgs = ['--snapshot-entries', '100', '--compact-margin', '20'];

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

async function statusOf(a: NodeAddress, digest = false): Promise<Status> {
  // A loopback answer from a live process takes milliseconds; 10 s bounds a loaded box (until
  // 2026-12-07: 1 s, and a status read outside a waitFor then failed the test).
  return getJson<Status>(`http://${a.host}:${a.adminPort}/status${digest ? '?digest=1' : ''}`, 10_000);
}

/** The node that leads and that every live node follows, or null. */
async function agreedLeader(procs: NodeProcess[]): Promise<string | null> {
  const live = procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null);
  const all = await Promise.all(live.map((p) => statusOf(p.address).catch(() => null)));
  if (all.some((s) => s === null)) return null;
  const leaders = all.filter((s) => s!.role === 'leader');
  if (leaders.length !== 1) return null;
  const id = leaders[0]!.node as string;
  return all.every((s) => s!.leader === id) ? id : null;
}

function runCli(args: string[], timeoutMs = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => {
    execFile(process.execPath, [binPath, ...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('node: real processes', function () {
  this.timeout(90_000);
  let dir: string;
  let nodes: Record<string, NodeAddress>;
  const procs = new Map<string, NodeProcess>();
  let client: SessionraftClient | null = null;

  const start = (id: string, extra: string[] = []): NodeProcess => {
    const p = spawnNode(id, nodes, join(dir, id), extra);
    procs.set(id, p);
    return p;
  };
  const endpoints = (): string[] => Object.values(nodes).map((a) => `${a.host}:${a.clientPort}`);

  before(async () => {
    dir = tempDir('procs');
    const ports = await freePorts(9);
    nodes = {};
    ['n1', 'n2', 'n3'].forEach((id, k) => {
      nodes[id] = { host: '127.0.0.1', raftPort: ports[k]!, clientPort: ports[3 + k]!, adminPort: ports[6 + k]! };
    });
    for (const id of Object.keys(nodes)) start(id, snapshotArgs);
    // Process start (~0.3-0.5 s each, in parallel) plus an election (100-200 ms timeouts); 15 s is generous.
    await waitFor('an agreed leader', () => agreedLeader([...procs.values()]), 15_000, 50);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed') {
      for (const p of procs.values()) process.stderr.write(`---- ${p.id} output (tail) ----\n${p.output().slice(-4000)}\n`);
    }
  });

  after(async () => {
    await client?.close();
    await Promise.all([...procs.values()].map((p) => killNode(p, 'SIGKILL')));
    if (dir !== undefined) removeDir(dir);
  });

  it('kill -9 the leader mid-stream: every acknowledged append is on every node exactly once, in order; digests equal', async () => {
    client = createClient({ endpoints: endpoints(), clusterId: 'proc-test', requestTimeoutMs: 1000 });
    const c = client;
    const writers = 4;
    const sessions: string[] = [];
    for (let w = 0; w < writers; w++) sessions.push((await c.createSession(`stream-${w}`)).id);
    const acked: string[][] = sessions.map(() => []);
    let retried = 0;
    let duplicates = 0;
    let killedAt = 0;
    let firstAckAfterKill = 0;
    let stop = false;
    const loops = sessions.map(async (id, w) => {
      for (let k = 1; !stop; k++) {
        const v = `w${w}-${k}`;
        const sentAt = Date.now();
        const out = await c.append(id, v);
        if (out.attempts > 1) retried++;
        if (out.duplicate) duplicates++;
        acked[w]!.push(v);
        // Failover time: the first append sent after the kill that is acknowledged.
        if (killedAt > 0 && sentAt >= killedAt && firstAckAfterKill === 0) firstAckAfterKill = Date.now();
      }
    });
    const total = (): number => acked.reduce((n, a) => n + a.length, 0);
    // Mid-stream: after 200 acknowledged appends.
    await waitFor('200 acknowledged appends', () => total() >= 200, 20_000);
    const leaderId = (await agreedLeader([...procs.values()]))!;
    expect(leaderId).to.be.a('string');
    const before = total();
    killedAt = Date.now();
    await killNode(procs.get(leaderId)!, 'SIGKILL');
    // The writers carry on through the failover: 200 more acknowledged appends.
    await waitFor('200 appends acknowledged after the kill', () => total() >= before + 200, 30_000);
    const failoverMs = firstAckAfterKill - killedAt;
    stop = true;
    await Promise.all(loops);

    // The killed node comes back from its disk and catches up.
    start(leaderId, snapshotArgs);
    await waitFor('an agreed leader with all three up', () => agreedLeader([...procs.values()]), 15_000, 50);
    const all = await waitFor(
      'every node applied the same last index',
      async () => {
        const st = await Promise.all(Object.values(nodes).map((a) => statusOf(a, true)));
        const idx = st.map((s) => s.appliedIndex as number);
        const last = st.find((s) => s.role === 'leader')?.lastIndex as number | undefined;
        // A digest is current when computed at the applied index (it is recomputed at most once a second).
        const current = st.every((s) => (s.store as { digestIndex?: number }).digestIndex === s.appliedIndex);
        return idx.every((i) => i === last) && current ? st : null;
      },
      15_000,
      50,
    );
    // The restarted node was behind the others' compacted logs: it caught up by a snapshot, or
    // (issue 18) from entries the new leader read back from its WAL.
    const m = await httpGet(`http://127.0.0.1:${nodes[leaderId]!.adminPort}/metrics`);
    const installed = Number(/^sessionraft_node_events_total\{code="snapshot-installed"\} (\d+)/m.exec(m.body)?.[1] ?? 0);
    let readBack = 0;
    for (const a of Object.values(nodes)) {
      const body = (await httpGet(`http://127.0.0.1:${a.adminPort}/metrics`)).body;
      readBack += Number(/^sessionraft_node_events_total\{code="entries-read-back"\} (\d+)/m.exec(body)?.[1] ?? 0);
    }
    expect(installed + readBack, 'snapshots installed on the restarted node, or entries read back for it').to.be.at.least(1);
    const digests = all.map((s) => s.store.digest as string);
    expect(new Set(digests).size, `digests ${digests.join(' ')}`).to.equal(1);

    // Each node's own copy (peek: no read barrier, the node's applied state).
    for (const [id, a] of Object.entries(nodes)) {
      for (let w = 0; w < writers; w++) {
        const s = await c.peek(sessions[w]!, { endpoint: `${a.host}:${a.clientPort}` });
        expect(s, `${id} has session ${w}`).to.not.equal(null);
        const got = s!.records.map(text);
        expect(got.length, `${id} session ${w}: ${got.length} records, ${acked[w]!.length} acknowledged`).to.equal(acked[w]!.length);
        expect(got, `${id} session ${w}: every acknowledged append once, in order`).to.deep.equal(acked[w]);
      }
    }
    // And through the linearizable path.
    for (let w = 0; w < writers; w++) expect((await c.get(sessions[w]!))!.records.map(text)).to.deep.equal(acked[w]);
    process.stdout.write(
      `      (killed leader ${leaderId} after ${before} appends; first append sent after the kill acknowledged ${failoverMs} ms after it; ` +
        `${total()} appends, ${retried} retried with the same seq, ${duplicates} of them answered as already applied)\n`,
    );
    // The cluster failed over: an append sent after the kill was acknowledged (the time it took is
    // printed above). Until 2026-12-07 this asserted failoverMs < 10 s, a speed claim a loaded box
    // could break; the waits above bound it.
    expect(firstAckAfterKill, 'an append sent after the kill acknowledged').to.be.greaterThan(0);
  });

  it('SIGTERM on a leader transfers leadership before it exits', async () => {
    const leaderId = (await waitFor('an agreed leader', () => agreedLeader([...procs.values()]), 10_000, 50))!;
    const p = procs.get(leaderId)!;
    process.kill(p.child.pid!, 'SIGTERM');
    const code = await p.exited;
    expect(code).to.equal(0);
    // Logged only when another node led within the 2 s transfer bound (else "did not finish in
    // time"): the handover, shown without timing it.
    expect(p.output()).to.contain('leadership transferred');
    expect(p.output()).to.not.contain('did not finish in time');
    const next = await waitFor('a new leader', () => agreedLeader([...procs.values()]), 5000, 20);
    expect(next).to.not.equal(leaderId);
    // Until 2026-12-07 this also asserted the exit came within 2.5 s of the SIGTERM, which a loaded
    // box could exceed; the log lines above say the transfer finished within its bound.
    start(leaderId, snapshotArgs);
    await waitFor(
      'all three up again',
      async () => (await Promise.all(Object.values(nodes).map((a) => statusOf(a).catch(() => null)))).every((s) => s !== null),
      15_000,
      50,
    );
  });

  it('the CLI runs client operations and prints JSON; errors come with stable codes', async () => {
    const eps = ['--endpoints', endpoints().join(','), '--cluster-id', 'proc-test'];
    const created = await runCli(['client', ...eps, 'create', 'cli']);
    expect(created.code, created.stderr).to.equal(0);
    const id = (JSON.parse(created.stdout) as { id: string }).id;
    expect((await runCli(['client', ...eps, 'append', id, 'hello'])).code).to.equal(0);
    const got = await runCli(['client', ...eps, 'get', id]);
    expect(JSON.parse(got.stdout)).to.include({ id, topic: 'cli' });
    expect((JSON.parse(got.stdout) as { records: string[] }).records).to.deep.equal(['hello']);
    const st = await runCli(['client', ...eps, 'status']);
    const views = JSON.parse(st.stdout) as Record<string, Status>;
    expect(Object.keys(views)).to.have.length(3);
    expect(Object.values(views).filter((v) => v.role === 'leader')).to.have.length(1);
    const bad = await runCli(['client', ...eps, 'store', id, '--replay', '7s']);
    expect(bad.code).to.equal(1);
    expect(JSON.parse(bad.stderr).error).to.equal('CLIENT_ERR_REPLAY_UNKNOWN');
    // The admin port is not a client port.
    const a = Object.values(nodes)[0]!;
    const wrong = await runCli(['client', '--endpoints', `${a.host}:${a.adminPort}`, 'status']);
    expect(JSON.parse(wrong.stdout)[`${a.host}:${a.adminPort}`].error).to.equal('CLIENT_ERR_WRONG_ENDPOINT');
  });
});

describe('node: inspection events to a file (--inspect-file)', function () {
  this.timeout(30_000);
  let dir: string;
  let p: NodeProcess | null = null;

  after(async () => {
    if (p !== null) await killNode(p, 'SIGKILL');
    removeDir(dir);
  });

  it('writes XState inspection events of the raft machine as JSON lines', async () => {
    dir = tempDir('inspect');
    const [raft, cl, admin] = await freePorts(3);
    const nodes = { solo: { host: '127.0.0.1', raftPort: raft!, clientPort: cl!, adminPort: admin! } };
    const file = join(dir, 'inspect.jsonl');
    p = spawnNode('solo', nodes, join(dir, 'solo'), ['--inspect-file', file]);
    // One voter elects itself after one election timeout (100-200 ms) once started.
    await waitFor('the single node leads', async () => (await statusOf(nodes.solo)).role === 'leader', 15_000, 50);
    const c = createClient({ endpoints: [`127.0.0.1:${cl}`] });
    const { id } = await c.createSession('inspected');
    await c.append(id, 'x');
    await c.close();
    process.kill(p.child.pid!, 'SIGTERM');
    expect(await p.exited).to.equal(0);
    expect(existsSync(file)).to.equal(true);
    const events = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, any>);
    const types = new Set(events.map((e) => e.type));
    expect([...types]).to.include.members(['@xstate.actor', '@xstate.event', '@xstate.snapshot']);
    expect(events.every((e) => e.node === 'solo' && typeof e.sessionId === 'string')).to.equal(true);
    const values = events.filter((e) => e.type === '@xstate.snapshot').map((e) => e.snapshot.value as string);
    // A single voter wins its election within one step: follower, then leader.
    expect(values).to.include.members(['follower', 'leader']);
    const electedBy = events.find((e) => e.type === '@xstate.snapshot' && e.snapshot.value === 'leader')!.event.type;
    expect(electedBy, 'the election timeout tick that changed the role is kept').to.equal('tick');
    const leaderSnap = events.find((e) => e.type === '@xstate.snapshot' && e.snapshot.value === 'leader')!;
    expect(leaderSnap.snapshot.context).to.include.keys('term', 'commitIndex', 'leader');
    const eventTypes = new Set(events.filter((e) => e.type === '@xstate.event').map((e) => e.event.type as string));
    expect([...eventTypes]).to.include.members(['client.propose', 'storage.durable']);
    expect(eventTypes.has('tick'), 'ticks are left out by default').to.equal(false);
  });
});
