/**
 * Connections that never log in (a review, 2026-12-07): with logins required, idle anonymous
 * WebSockets held the client port's connections for as long as they stayed open, and once
 * `connectionsMax` of them were open an administrator could not connect. Now a connection with no
 * login is closed at `loginTimeoutMs` (4008), and one address may hold at most
 * `loginsPendingPerAddressMax` connections not logged in. In-process nodes on 127.0.0.1.
 */
import { expect } from 'chai';
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
