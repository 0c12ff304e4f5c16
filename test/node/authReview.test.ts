/**
 * What a review of users and permissions found (2026-12-07), each shown by a test that failed
 * before the fix: a `get` checked before its read barrier returned a session applied during it on
 * a topic the user may not read; the console showed a monitor-only user the records of any
 * session; a subscription opened before the first user kept receiving after logins were turned
 * on. In-process clusters on 127.0.0.1 over real sockets.
 */
import { expect } from 'chai';
import { get as httpGetRaw } from 'node:http';
import type { ClientNode } from '../../transport/client/node.js';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import { Connection } from '../../transport/client/connection.js';
import type { GroupDeliveryFrame } from '../../transport/client/protocol.js';
import { ClientError } from '../../transport/client/errors.js';
import { codeOf, startInProcessCluster, useAuthCluster, waitFor, type InProcessCluster } from './helpers.js';

const ADMIN_PASSWORD = 'review admin password';
/** An election, a login (scrypt) and a few commit rounds; 10 s covers a loaded machine. */
const SETTLE_MS = 10_000;

function open(endpoint: string, login: { user: string; password: string } | null): Promise<Connection> {
  const c = new Connection(endpoint, { connectTimeoutMs: 5000, replyBytesMax: 1 << 20, clusterId: null, login });
  return c.ready.then(() => c);
}

async function codeOfReq(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'OK';
  } catch (err) {
    return err instanceof ClientError ? err.code : String(err);
  }
}

function basicGet(url: string, user: string, password: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpGetRaw(url, { headers: { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` }, timeout: SETTLE_MS }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      r.on('error', reject);
    });
    req.on('error', reject);
  });
}

describe('node: users and permissions, what a review found (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useAuthCluster(1, 'auth-review', ADMIN_PASSWORD);
  let admin: SessionraftClient;

  before(async () => {
    admin = suite.client('admin', ADMIN_PASSWORD);
    await admin.addRole('orders-r');
    await admin.grantPermission('orders-r', 'read:orders/');
    await admin.addUser('mallory', 'mallory password');
    await admin.grantRole('mallory', 'orders-r');
    await admin.addRole('mon');
    await admin.grantPermission('mon', 'monitor');
    await admin.addUser('watcher', 'watcher password');
    await admin.grantRole('watcher', 'mon');
  });

  it('get: a session this node did not have when the request was checked, but applied by the end of its read barrier, is checked again', async () => {
    const { id } = await admin.createSession('billing/secret');
    await admin.append(id, 'card number');
    const host = suite.cluster.leader()!;
    // The race, made certain: the port's first look finds no such session (as when it is applied
    // during the barrier); after the barrier it exists.
    const node = (host as unknown as { clientServer: { opts: { node: ClientNode } } }).clientServer.opts.node;
    const sessionTopic = node.sessionTopic;
    let armed = true;
    (node as { sessionTopic: ClientNode['sessionTopic'] }).sessionTopic = (s) => {
      if (armed && Buffer.from(s).toString('hex') === id) {
        armed = false;
        return null;
      }
      return sessionTopic(s);
    };
    const mallory = suite.client('mallory', 'mallory password');
    try {
      expect(await codeOf(mallory.get(id))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
      expect(armed, 'the first look was the patched one').to.equal(false);
    } finally {
      (node as { sessionTopic: ClientNode['sessionTopic'] }).sessionTopic = sessionTopic;
    }
  });

  it('the console shows a monitor-only user the counts of a session on a topic it may not read, not its records', async () => {
    const { id } = await admin.createSession('payroll/ceo');
    await admin.append(id, 'salary: 1,000,000');
    const host = suite.cluster.leader()!;
    await waitFor('applied', () => host.node.store.getSession(Buffer.from(id, 'hex')) !== null, SETTLE_MS);
    const url = `http://127.0.0.1:${host.address().adminPort}/console/session?id=${id}`;
    const watcher = await basicGet(url, 'watcher', 'watcher password');
    expect(watcher.status).to.equal(200);
    expect(watcher.body).to.not.include('salary');
    expect(JSON.parse(watcher.body).session).to.include({ topic: 'payroll/ceo', recordCount: 1, recordsHidden: true });
    // An admin (read on every topic) sees them.
    expect((await basicGet(url, 'admin', ADMIN_PASSWORD)).body).to.include('salary');
  });

  it("the admin port verifies an unknown user's password against a decoy: a refusal does the same work whether the user exists or not", async () => {
    const host = suite.cluster.leader()!;
    const admin = (host as unknown as { admin: { decoy: Promise<Uint8Array> | null } }).admin;
    expect(admin.decoy, 'no unknown user so far').to.equal(null);
    const r = await basicGet(`http://127.0.0.1:${host.address().adminPort}/status`, 'nosuchuser', 'some password');
    expect(r.status).to.equal(401);
    expect(JSON.parse(r.body).error).to.equal('ADMIN_ERR_AUTH_FAILED');
    // Before the fix an unknown user was refused with no scrypt at all (102 against 209-230 ms).
    expect(admin.decoy, 'verified against the decoy').to.not.equal(null);
  });

  it('a subscription ends when its connection logs in again as a user who may not read the topic', async () => {
    await admin.addUser('bob', 'bob password'); // no roles
    const host = suite.cluster.leader()!;
    const conn = await open(host.clientEndpoint(), { user: 'mallory', password: 'mallory password' });
    const got: string[] = [];
    try {
      const [subId] = (await conn.request({ op: 'subscribe', topic: 'orders/x' }, 5000)) as [number];
      conn.claim(subId, (d) => {
        if (d.kind === 'delivery') got.push(...d.records.map((r) => Buffer.from(r).toString()));
      });
      await conn.request({ op: 'auth', user: 'bob', password: 'bob password' }, SETTLE_MS);
      // mallory's own subscriber on the same node: once it has the session, anything for the
      // other one was written to its socket before the answer to its next request.
      const seen: string[] = [];
      const own = suite.client('mallory', 'mallory password');
      await own.subscribe('orders/x', (m) => void seen.push(...m.records.map((r) => Buffer.from(r).toString())));
      const { id } = await admin.createSession('orders/x');
      await admin.append(id, 'for mallory only');
      await admin.store(id, { replay: 0 });
      await waitFor("mallory's own subscriber to get it", () => seen.includes('for mallory only'), SETTLE_MS);
      expect(await codeOfReq(conn.request({ op: 'list', topic: 'orders/x', limit: 0 }, 5000))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
      // Before the fix the subscription went on delivering to the connection now logged in as bob.
      expect(got).to.deep.equal([]);
    } finally {
      conn.close();
    }
  });

  it('a consumer whose consume permission is revoked: its next ack is refused and it ends', async () => {
    await admin.addRole('orders-c');
    await admin.grantPermission('orders-c', 'consume:orders/');
    await admin.grantRole('mallory', 'orders-c');
    await admin.createGroup('orders/q', 'g', { ackWaitMs: 60_000 });
    const host = suite.cluster.leader()!;
    const conn = await open(host.clientEndpoint(), { user: 'mallory', password: 'mallory password' });
    const deliveries: GroupDeliveryFrame[] = [];
    try {
      const [subId] = (await conn.request({ op: 'consume', topic: 'orders/q', group: 'g', consumer: 'm', maxAckPending: 0 }, 5000)) as [number];
      conn.claim(subId, (d) => {
        if (d.kind === 'groupDelivery') deliveries.push(d);
      });
      const { id } = await admin.createSession('orders/q');
      await admin.append(id, 'job');
      await admin.store(id, { replay: 0 });
      await waitFor('the delivery', () => deliveries.length === 1, SETTLE_MS);
      await admin.revokePermission('orders-c', 'consume:orders/');
      await waitFor('the revoke applied here', () => !host.node.store.access.allows('mallory', 'consume', 'orders/q', 'g'), SETTLE_MS);
      const d = deliveries[0]!;
      // Before the fix the ack was taken and settled the item.
      expect(await codeOfReq(conn.request({ op: 'ack', subId, restoreId: d.restoreId, delivery: d.delivery }, 5000))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
      const g = host.node.store.groupByName('orders/q', 'g')!;
      expect(host.node.store.groupCounts(g).inFlight, 'still in flight').to.equal(1);
      // The consumer ended: a second ack names an ended attachment (CLIENT_ERR_MALFORMED before 2026-12-07).
      expect(await codeOfReq(conn.request({ op: 'ack', subId, restoreId: d.restoreId, delivery: d.delivery }, 5000))).to.equal('CLIENT_ERR_CONSUMER_ENDED');
    } finally {
      conn.close();
    }
  });

  // Near the end of the suite: 'admin' may be gone after it.
  it('the last-admin guard holds against two removals sent together', async () => {
    await admin.addUser('admin2', 'admin2 password');
    await admin.grantRole('admin2', 'admin');
    const host = suite.cluster.leader()!;
    const a2 = await open(host.clientEndpoint(), { user: 'admin2', password: 'admin2 password' });
    try {
      const answers = await Promise.all([
        codeOfReq(a2.request({ op: 'user', action: 'delete', user: 'admin', password: '', role: '' }, SETTLE_MS)),
        codeOfReq(a2.request({ op: 'user', action: 'delete', user: 'admin2', password: '', role: '' }, SETTLE_MS)),
      ]);
      // Before the fix both answered OK and no admin was left.
      expect([...answers].sort()).to.deep.equal(['CLIENT_ERR_LAST_ADMIN', 'OK']);
      const admins = host.node.store.access.users().filter((u) => u.roles.includes('admin'));
      expect(admins).to.have.length(1);
    } finally {
      a2.close();
    }
  });

  // Last in the suite: it leaves 127.0.0.1 throttled on this cluster's client port for a minute.
  it("a user's own successful logins between wrong guesses of another's password do not reset the throttle", async () => {
    const conn = await open(suite.cluster.leader()!.clientEndpoint(), null);
    try {
      const codes: string[] = [];
      // Bounded: three rounds of 8 wrong guesses at once, then mallory's own login.
      for (let round = 0; round < 3; round++) {
        const guesses = Array.from({ length: 8 }, (_, k) => codeOfReq(conn.request({ op: 'auth', user: 'admin', password: `guess ${round}-${k}` }, 30_000)));
        codes.push(...(await Promise.all(guesses)));
        codes.push(await codeOfReq(conn.request({ op: 'auth', user: 'mallory', password: 'mallory password' }, 30_000)));
      }
      // At most failuresMax (10) wrong passwords a minute from one address, and those in flight.
      expect(codes.filter((c) => c === 'CLIENT_ERR_AUTH_FAILED').length).to.be.at.most(18);
      expect(codes).to.include('CLIENT_ERR_AUTH_RATE_LIMITED');
    } finally {
      conn.close();
    }
  });
});

describe('node: a subscription opened before the first user (2026-12-07)', function () {
  this.timeout(60_000);
  let cluster: InProcessCluster | undefined;
  const clients: SessionraftClient[] = [];
  after(async () => {
    for (const c of clients) await c.close();
    await cluster?.stop();
  });

  it('ends when logins are turned on, and receives nothing stored after', async () => {
    cluster = await startInProcessCluster(1);
    await waitFor('a leader', () => cluster!.leader(), SETTLE_MS);
    const host = cluster.hosts[0]!;
    const anon = await open(host.clientEndpoint(), null);
    const got: string[] = [];
    const ended: string[] = [];
    try {
      const [subId] = (await anon.request({ op: 'subscribe', topic: 'secret/t' }, 5000)) as [number];
      anon.claim(subId, (d) => {
        if (d.kind === 'delivery') got.push(...d.records.map((r) => Buffer.from(r).toString()));
        else ended.push(d.kind);
      });
      // The operator turns authentication on: the first user, an admin.
      const setup = createClient({ endpoints: cluster.endpoints(), operationTimeoutMs: SETTLE_MS, ignoreEnvironment: true });
      clients.push(setup);
      await setup.addUser('root', 'root password');
      const root = createClient({
        endpoints: cluster.endpoints(),
        operationTimeoutMs: SETTLE_MS,
        ignoreEnvironment: true,
        user: 'root',
        password: 'root password',
      });
      clients.push(root);
      // root's own subscriber on the same node: once it has the session, anything for the
      // anonymous one was written to its socket before the answer to its next request.
      const seen: string[] = [];
      await root.subscribe('secret/t', (m) => void seen.push(...m.records.map((r) => Buffer.from(r).toString())));
      const { id } = await root.createSession('secret/t');
      await root.append(id, 'top secret');
      await root.store(id, { replay: 0 });
      await waitFor("root's subscriber to get it", () => seen.includes('top secret'), SETTLE_MS);
      expect(await codeOfReq(anon.request({ op: 'list', topic: '', limit: 0 }, 5000))).to.equal('CLIENT_ERR_AUTH_REQUIRED');
      expect(got, 'the anonymous subscriber after logins were turned on').to.deep.equal([]);
    } finally {
      anon.close();
    }
  });
});
