/**
 * The client port's checks at the exact values where they change, each failing with a hand-made
 * mutant of transport/client/server.ts that the rest of the suite let through (mutation audit,
 * 2026-12-07). In-process nodes on 127.0.0.1 over real sockets.
 */
import { expect } from 'chai';
import { WebSocket } from 'ws';
import { Connection } from '../../transport/client/connection.js';
import type { GroupDeliveryFrame } from '../../transport/client/protocol.js';
import { commandKindNames } from '../../transport/commands/codec.js';
import type { SessionraftClient } from '../../transport/client/client.js';
import { codeOf, connectIdle as idleSocket, useAuthCluster, waitFor } from './helpers.js';

/** The outcome of an idle socket's upgrade, the socket kept in `open` (to terminate after). */
function connectIdle(endpoint: string, open: WebSocket[]): Promise<string> {
  const s = idleSocket(endpoint);
  open.push(s.ws);
  return s.outcome;
}

const ADMIN_PASSWORD = 'mutation audit admin password';
/** A 200 ms replay, a tick and a few commit rounds; 10 s covers a loaded machine. */
const SETTLE_MS = 10_000;

describe('node: client port boundaries a mutation audit found unpinned (2026-12-07)', function () {
  this.timeout(60_000);
  // No idle connection times out during a test (30 s), so every count below is the test's own.
  const suite = useAuthCluster(1, 'mutation-kills', ADMIN_PASSWORD, { clientLimits: { loginTimeoutMs: 30_000, loginsPendingPerAddressMax: 2 } });
  const sockets: WebSocket[] = [];
  const conns: Connection[] = [];

  afterEach(() => {
    for (const ws of sockets.splice(0)) ws.terminate();
    for (const c of conns.splice(0)) c.close();
  });

  it('a connection that logs in lowers its address count of connections waiting for a login by one: the one still waiting counts', async () => {
    const endpoint = suite.cluster.endpoints()[0]!;
    // One idle connection, and one that logs in: two waiting, then one.
    expect(await connectIdle(endpoint, sockets)).to.equal('open');
    const admin = new Connection(endpoint, {
      connectTimeoutMs: 5_000,
      replyBytesMax: 1 << 20,
      clusterId: null,
      login: { user: 'admin', password: ADMIN_PASSWORD },
    });
    conns.push(admin);
    await admin.ready;
    // The idle one still waits: one more may open beside it, and the next is refused.
    expect(await connectIdle(endpoint, sockets)).to.equal('open');
    expect(await connectIdle(endpoint, sockets), 'a third connection not logged in from the address').to.equal('HTTP 503');
  });
});

describe('node: client port permissions a mutation audit found unpinned (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useAuthCluster(1, 'mutation-kills-perm', ADMIN_PASSWORD);
  let admin: SessionraftClient;

  before(async () => {
    admin = suite.client('admin', ADMIN_PASSWORD);
    // A writer of w/ who may not store, and a monitor.
    await admin.addRole('w-writer');
    await admin.grantPermission('w-writer', 'write:w/');
    await admin.grantPermission('w-writer', 'read:w/');
    await admin.addUser('writer', 'writer password');
    await admin.grantRole('writer', 'w-writer');
    await admin.addRole('mon');
    await admin.grantPermission('mon', 'monitor');
    await admin.addUser('watcher', 'watcher password');
    await admin.grantRole('watcher', 'mon');
  });

  function leaderLastIndex(): number {
    return suite.cluster.leader()!.node.status().lastIndex;
  }

  it("a user changes its own password only: another user's is administration (PERMISSION_DENIED, the password unchanged)", async () => {
    const writer = suite.client('writer', 'writer password');
    const before = leaderLastIndex();
    expect(await codeOf(writer.setPassword('admin', 'taken over password'))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
    expect(await codeOf(writer.setPassword('watcher', 'taken over password'))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
    expect(leaderLastIndex(), 'nothing reached the log').to.equal(before);
    // The administrator still logs in with its password; the writer may change its own.
    expect(await suite.client('admin', ADMIN_PASSWORD).users()).to.be.an('array');
    await writer.setPassword('writer', 'writer password 2');
    expect((await suite.client('writer', 'writer password 2').list({ topic: 'w/' })).sessions).to.be.an('array');
    await admin.setPassword('writer', 'writer password');
  });

  it('monitor lists members but may not change them (admin)', async () => {
    const watcher = suite.client('watcher', 'watcher password');
    expect(await watcher.members()).to.be.an('object');
    const before = leaderLastIndex();
    expect(await codeOf(watcher.removeMember('n9'))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
    expect(await codeOf(watcher.promote('n9'))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
    expect(leaderLastIndex(), 'nothing reached the log').to.equal(before);
  });

  it('schedule needs store as well as write: a writer who may not store is refused before anything reaches the log', async () => {
    const writer = suite.client('writer', 'writer password');
    // Its first command registers its client (a ClientRegister entry): the one counted from.
    await writer.createSession('w/first');
    const before = leaderLastIndex();
    expect(await codeOf(writer.schedule('w/scheduled', 'x', { replay: 0 }))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
    expect(leaderLastIndex(), 'no create, no append, no store').to.equal(before);
    expect((await writer.list({ topic: 'w/scheduled' })).sessions).to.deep.equal([]);
  });

  it('a store of a session this node does not have needs the store permission on every topic (PERMISSION_DENIED, not SESSION_UNKNOWN)', async () => {
    const writer = suite.client('writer', 'writer password');
    const unknown = Uint8Array.from({ length: 16 }, (_, k) => (k === 7 || k === 15 ? 99 : 0));
    expect(await codeOf(writer.store(unknown, { replay: 0 }))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
    // The administrator (store on every topic) is told the session is unknown.
    expect(await codeOf(admin.store(unknown, { replay: 0 }))).to.not.equal('CLIENT_ERR_PERMISSION_DENIED');
  });
  it('an ack that would remove its session, from a consumer who may not write, is refused at the port (ack and acks): nothing reaches the log', async () => {
    const host = suite.cluster.hosts[0]!;
    const acks: number[] = [];
    const unlisten = host.node.store.onApplied((es) => {
      for (const e of es) if (e.data.length > 1 && commandKindNames[e.data[1]!] === 'GroupAck') acks.push(e.index);
    });
    await admin.createGroup('plain', 'g', { ackWaitMs: 60_000 });
    await admin.addRole('plain-c');
    await admin.grantPermission('plain-c', 'consume:plain:g');
    await admin.addUser('carol', 'carol password');
    await admin.grantRole('carol', 'plain-c');
    // A consumer attached without removeOnAck (consume is all it needs), which then asks its acks to remove.
    const conn = new Connection(host.clientEndpoint(), {
      connectTimeoutMs: 5_000,
      replyBytesMax: 1 << 20,
      clusterId: null,
      login: { user: 'carol', password: 'carol password' },
    });
    try {
      await conn.ready;
      const deliveries: GroupDeliveryFrame[] = [];
      const [subId] = (await conn.request({ op: 'consume', topic: 'plain', group: 'g', consumer: 'carol', maxAckPending: 0 }, 5_000)) as [number];
      conn.claim(subId, (d) => {
        if (d.kind === 'groupDelivery') deliveries.push(d);
      });
      const { id } = await admin.createSession('plain');
      await admin.append(id, 'job');
      await admin.store(id, { replay: 0 });
      await waitFor('the delivery', () => deliveries.length === 1, SETTLE_MS);
      const d = deliveries[0]!;
      const remove = d.session;
      expect(await codeOf(conn.request({ op: 'ack', subId, restoreId: d.restoreId, delivery: d.delivery, remove }, 5_000))).to.equal(
        'CLIENT_ERR_PERMISSION_DENIED',
      );
      expect(await codeOf(conn.request({ op: 'acks', subId, acks: [{ restoreId: d.restoreId, delivery: d.delivery, remove }] }, 5_000))).to.equal(
        'CLIENT_ERR_PERMISSION_DENIED',
      );
      expect(acks, 'no GroupAck reached the log').to.deep.equal([]);
      expect(await admin.get(id), 'the session is still active').to.not.equal(null);
      // Its plain ack is taken.
      await conn.request({ op: 'ack', subId, restoreId: d.restoreId, delivery: d.delivery }, 5_000);
      await waitFor('the plain ack applied', () => acks.length === 1, SETTLE_MS);
      expect(await admin.get(id), 'a plain ack removes nothing').to.not.equal(null);
    } finally {
      unlisten();
      conn.close();
    }
  });
});
