/**
 * connectionsPerUserMax for a user who logs in by client certificate: such a connection logs in at
 * its first request, so the bound applies there. A connection of that user beyond the bound gets
 * CLIENT_ERR_TOO_MANY_CONNECTIONS (counted) for its requests, none of which reaches the log, while
 * the user's connection already logged in keeps working; once that one closes, the next request of
 * the other logs in and goes through. In-process node with a client CA on 127.0.0.1.
 */
import { expect } from 'chai';
import type { NodeHost } from '../../actors/host/nodeHost.js';
import { createClient, type ClientTlsOptions, type SessionraftClient } from '../../transport/client/client.js';
import { ClientError } from '../../transport/client/errors.js';
import type { ClientServerStats } from '../../transport/client/server.js';
import { Pki } from '../support/pki.js';
import { startInProcessCluster, waitFor, type InProcessCluster } from './helpers.js';

/** A login (scrypt, tens of ms) or a TLS handshake on a loaded machine. */
const ANSWER_MS = 10_000;

function statsOf(host: NodeHost): ClientServerStats {
  return (host as unknown as { clientServer: { stats(): ClientServerStats } }).clientServer.stats();
}

describe('node: connectionsPerUserMax for a user logged in by client certificate', function () {
  this.timeout(60_000);
  const pki = new Pki('sessionraft-cert-conns-');
  let cluster: InProcessCluster;
  const clients: SessionraftClient[] = [];
  const client = (tls: ClientTlsOptions, extra: { user?: string; password?: string; operationTimeoutMs?: number } = {}): SessionraftClient => {
    const c = createClient({ endpoints: cluster.endpoints(), clusterId: 'test', operationTimeoutMs: ANSWER_MS, ignoreEnvironment: true, tls, ...extra });
    clients.push(c);
    return c;
  };
  const certOf = (name: string): ClientTlsOptions => ({ ca: pki.read('ca.crt'), cert: pki.read(`${name}.crt`), key: pki.read(`${name}.key`) });

  before(async function () {
    pki.ca('ca');
    pki.leaf('server', 'node-1', 'ca', 'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost');
    for (const who of ['setup', 'carol']) pki.leaf(who, who, 'ca', 'keyUsage=digitalSignature\nextendedKeyUsage=clientAuth');
    cluster = await startInProcessCluster(1, {
      clientTls: { certFile: pki.path('server.crt'), keyFile: pki.path('server.key'), clientCaFile: pki.path('ca.crt') },
      clientLimits: { connectionsPerUserMax: 1 },
    });
    await waitFor('a leader', () => cluster.leader(), ANSWER_MS);
  });

  after(async function () {
    for (const c of clients) await c.close();
    await cluster?.stop();
    pki.remove();
  });

  it('refuses the requests of a second certificate connection with CLIENT_ERR_TOO_MANY_CONNECTIONS, counted and never applied, and lets them through once the first closes', async function () {
    const host = cluster.hosts[0]!;
    // An open cluster: its first user is an administrator (first-user-admin), who adds carol
    // (certificate only) with write on carol/.
    await client(certOf('setup')).addUser('ops', 'ops password 1');
    const ops = client(certOf('setup'), { user: 'ops', password: 'ops password 1' });
    await ops.addUser('carol');
    await ops.addRole('carols');
    await ops.grantPermission('carols', 'write:carol/');
    await ops.grantRole('carol', 'carols');
    const carolTopics = async (): Promise<string[]> =>
      (await ops.list()).sessions
        .map((x) => x.topic)
        .filter((t) => t.startsWith('carol/'))
        .sort();

    const first = client(certOf('carol'));
    await first.createSession('carol/1');
    const refusedBefore = statsOf(host).rejected['CLIENT_ERR_TOO_MANY_CONNECTIONS'] ?? 0;
    // The library tries again until its deadline (a busy node may free a slot): 1.5 s here.
    const second = client(certOf('carol'), { operationTimeoutMs: 1500 });
    const err = await second.createSession('carol/2').then(
      () => null,
      (e: unknown) => e,
    );
    expect(err, String(err)).to.be.instanceOf(ClientError);
    expect((err as ClientError).code).to.equal('CLIENT_ERR_TOO_MANY_CONNECTIONS');
    expect(statsOf(host).rejected['CLIENT_ERR_TOO_MANY_CONNECTIONS'] ?? 0).to.be.greaterThan(refusedBefore);
    expect(await carolTopics(), 'nothing of the refused request in the log').to.deep.equal(['carol/1']);
    // The first connection goes on.
    await first.createSession('carol/3');

    await first.close();
    await waitFor('the node to see the first connection closed', () => statsOf(host).users.filter((u) => u === 'carol').length === 1 || null, ANSWER_MS);
    await second.createSession('carol/4');
    expect(await carolTopics()).to.deep.equal(['carol/1', 'carol/3', 'carol/4']);
  });
});
