/**
 * Connections per user (connectionsPerUserMax, 2026-12-07): until then one user could log in on
 * every one of a node's connectionsMax connections and lock every other user, the administrator
 * included, out of the node. Now a login beyond the user's bound is refused with
 * CLIENT_ERR_TOO_MANY_CONNECTIONS (counted), its connections already logged in keep working, and a
 * slot comes back when one of them closes. In-process node on 127.0.0.1, raw connections.
 */
import { expect } from 'chai';
import type { NodeHost } from '../../actors/host/nodeHost.js';
import { encodeRequest } from '../../transport/client/protocol.js';
import type { ClientServerStats } from '../../transport/client/server.js';
import { rawPort, useAuthCluster, waitFor, type RawPort, type ServerFrame } from './helpers.js';

const ADMIN_PASSWORD = 'connections per user admin password';
/** A welcome, or a login (scrypt, tens of ms), on a loaded machine. */
const ANSWER_MS = 10_000;

function statsOf(host: NodeHost): ClientServerStats {
  return (host as unknown as { clientServer: { stats(): ClientServerStats } }).clientServer.stats();
}

function codeOf(f: ServerFrame): string {
  return f.kind === 'error' ? f.code : f.kind;
}

describe('node: one user holds at most connectionsPerUserMax connections (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useAuthCluster(1, 'conns-per-user', ADMIN_PASSWORD, { clientLimits: { connectionsPerUserMax: 2 } });
  const raws: RawPort[] = [];

  after(() => {
    for (const r of raws) r.ws.terminate();
  });

  async function login(reqId: number): Promise<{ port: RawPort; code: string }> {
    const port = await rawPort(suite.cluster.endpoints()[0]!, ANSWER_MS);
    raws.push(port);
    port.ws.send(encodeRequest({ op: 'auth', reqId, user: 'admin', password: ADMIN_PASSWORD }));
    return { port, code: codeOf(await port.answer(reqId, ANSWER_MS)) };
  }

  it('refuses the third login of a user with CLIENT_ERR_TOO_MANY_CONNECTIONS, counted; a closed one gives its slot back', async () => {
    const host = suite.cluster.hosts[0]!;
    await waitFor('a leader', () => suite.cluster.leader(), ANSWER_MS);
    const before = statsOf(host).rejected['CLIENT_ERR_TOO_MANY_CONNECTIONS'] ?? 0;
    const first = await login(1);
    const second = await login(1);
    expect([first.code, second.code]).to.deep.equal(['result', 'result']);
    const third = await login(1);
    expect(third.code).to.equal('CLIENT_ERR_TOO_MANY_CONNECTIONS');
    expect(statsOf(host).rejected['CLIENT_ERR_TOO_MANY_CONNECTIONS'] ?? 0).to.equal(before + 1);
    // The user's logged-in connections go on.
    first.port.ws.send(encodeRequest({ op: 'list', reqId: 2, topic: '', limit: 10 }));
    expect(codeOf(await first.port.answer(2, ANSWER_MS))).to.equal('result');
    // One closes: its slot is the user's again.
    second.port.ws.terminate();
    await waitFor('the node to see the closed connection', () => statsOf(host).connections === 2, ANSWER_MS);
    third.port.ws.send(encodeRequest({ op: 'auth', reqId: 2, user: 'admin', password: ADMIN_PASSWORD }));
    expect(codeOf(await third.port.answer(2, ANSWER_MS))).to.equal('result');
  });
});
