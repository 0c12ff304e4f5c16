/**
 * Connections that never log in (a review, 2026-12-07): with logins required, idle anonymous
 * WebSockets held the client port's connections for as long as they stayed open, and once
 * `connectionsMax` of them were open an administrator could not connect. Now a connection with no
 * login is closed at `loginTimeoutMs` (4008), and one address may hold at most
 * `loginsPendingPerAddressMax` connections not logged in. In-process nodes on 127.0.0.1.
 */
import { expect } from 'chai';
import { createConnection } from 'node:net';
import { ClientCloseCode } from '../../transport/client/protocol.js';
import { connectIdle, useAuthCluster, useInProcessCluster, waitFor, type IdleSocket } from './helpers.js';

const ADMIN_PASSWORD = 'login timeout admin password';
/** An election, a login (scrypt) and a commit round; 10 s covers a loaded machine. */
const SETTLE_MS = 10_000;

describe('node: connections that never log in (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useAuthCluster(1, 'login-timeout', ADMIN_PASSWORD, { clientLimits: { loginTimeoutMs: 1_000, loginsPendingPerAddressMax: 3 } });
  const idle: IdleSocket[] = [];

  after(() => {
    for (const c of idle) c.ws.terminate();
  });

  it('an address holds at most loginsPendingPerAddressMax connections not logged in, each closed with 4008 at loginTimeoutMs; then a login gets in', async () => {
    const endpoint = suite.cluster.endpoints()[0]!;
    for (let k = 0; k < 3; k++) idle.push(connectIdle(endpoint));
    expect(await Promise.all(idle.map((c) => c.outcome))).to.deep.equal(['open', 'open', 'open']);
    // The fourth from the same address is refused at the upgrade, before it holds anything.
    const fourth = connectIdle(endpoint);
    idle.push(fourth);
    expect(await fourth.outcome).to.equal('HTTP 503');
    // None logs in: each is closed by the node (not by us) once its second has passed.
    await waitFor('the three idle connections closed by the node', () => idle.slice(0, 3).every((c) => c.closedWith !== null), SETTLE_MS);
    expect(idle.slice(0, 3).map((c) => c.closedWith)).to.deep.equal([ClientCloseCode.loginTimeout, ClientCloseCode.loginTimeout, ClientCloseCode.loginTimeout]);
    // The administrator connects and logs in now; a connection that logged in is not closed at the timeout.
    const admin = suite.client('admin', ADMIN_PASSWORD);
    expect(await admin.groups()).to.be.an('array');
    // Logged-in connections do not count: three more anonymous ones open beside it.
    const again = [connectIdle(endpoint), connectIdle(endpoint), connectIdle(endpoint)];
    idle.push(...again);
    expect(await Promise.all(again.map((c) => c.outcome))).to.deep.equal(['open', 'open', 'open']);
    await waitFor('the second three closed by the node', () => again.every((c) => c.closedWith !== null), SETTLE_MS);
    // The administrator's connection outlived two timeouts: it still answers.
    expect(await admin.groups()).to.be.an('array');
  });
});

describe('node: a cluster that requires no login keeps its anonymous connections (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(1, { clientLimits: { loginsPendingPerAddressMax: 2 } });
  const idle: IdleSocket[] = [];

  after(() => {
    for (const c of idle) c.ws.terminate();
  });

  it('the per-address bound applies only while logins are required', async () => {
    const endpoint = suite.cluster.endpoints()[0]!;
    for (let k = 0; k < 4; k++) idle.push(connectIdle(endpoint));
    expect(await Promise.all(idle.map((c) => c.outcome))).to.deep.equal(['open', 'open', 'open', 'open']);
    // And the port still answers a client on it.
    expect((await suite.client().list()).sessions).to.be.an('array');
  });
});

describe('node: an upgrade that never finishes its headers (2026-12-07)', function () {
  this.timeout(30_000);
  const suite = useInProcessCluster(1);

  it('is closed by the node once the headers deadline (5 s) has passed; a plain HTTP request gets 426', async () => {
    const endpoint = suite.cluster.endpoints()[0]!;
    const [host, port] = [endpoint.slice(0, endpoint.lastIndexOf(':')), Number(endpoint.slice(endpoint.lastIndexOf(':') + 1))];
    // Until 2026-12-07 ws's own server kept such a socket for 60 s (checked every 30 s), any number of them.
    const socket = createConnection({ host, port });
    let closedAtMs = 0;
    socket.on('error', () => undefined);
    // Read what the node sends (its 408), so that its end of the connection is seen.
    socket.resume();
    socket.on('close', () => void (closedAtMs = Date.now()));
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const startMs = Date.now();
    socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\n`);
    // The deadline is 5 s and the node checks every second; 15 s covers a loaded machine.
    await waitFor('the node to close the half-sent upgrade', () => closedAtMs !== 0, 15_000);
    expect(closedAtMs - startMs).to.be.at.least(4_000);
    const res = await fetch(`http://${endpoint}/`);
    expect(res.status).to.equal(426);
  });
});
