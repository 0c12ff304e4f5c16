/**
 * The console's cluster view on a cluster with TLS and logins (npm start's): each node fetches
 * the others' /console/node.json over HTTPS checked against the CA given with --client-tls-ca,
 * with the viewer's login. Until 2026-12-07 it fetched them over plain HTTP with no login, every
 * peer answered HTTP 426, and the console showed one node. A 3-node in-process cluster on
 * 127.0.0.1 with a test CA (openssl, test/support/pki.ts).
 */
import { expect } from 'chai';
import { get as httpsGet } from 'node:https';
import { Pki } from '../support/pki.js';
import { removeDir, startAuthCluster, tempDir, waitFor, type InProcessCluster } from './helpers.js';

const ADMIN_PASSWORD = 'console peers admin password';

class ServerPki extends Pki {
  constructor() {
    super('sessionraft-console-peers-');
  }

  /** A server certificate for IP 127.0.0.1 signed by `ca`. */
  server(file: string, ca: string): void {
    this.leaf(file, 'node', ca, 'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost');
  }
}

function getJson(url: string, ca: Buffer, authorization: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca, timeout: 5000, headers: { authorization } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString('utf8')));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, unknown> });
        } catch (err) {
          reject(err as Error);
        }
      });
    });
    req.on('error', reject);
  });
}

describe('node: the console fetches its peers over HTTPS with the viewer login (2026-12-07)', function () {
  // openssl for the certificates, three nodes with scrypt logins.
  this.timeout(60_000);
  const pki = new ServerPki();
  let cluster: InProcessCluster | undefined;
  let dir = '';

  before(async () => {
    pki.ca('ca');
    pki.server('server', 'ca');
    dir = tempDir('console-peers');
    cluster = await startAuthCluster(3, dir, ADMIN_PASSWORD, {
      clientTls: { certFile: pki.path('server.crt'), keyFile: pki.path('server.key'), peerCaFile: pki.path('ca.crt') },
    });
    await waitFor('a leader', () => cluster!.leader(), 10_000);
  });
  after(async () => {
    await cluster?.stop();
    if (dir !== '') removeDir(dir);
    pki.remove();
  });

  it('cluster.json lists every node with its view', async () => {
    const host = cluster!.hosts[0]!;
    const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
    const r = await getJson(`https://127.0.0.1:${host.address().adminPort}/console/cluster.json`, pki.read('ca.crt'), basic);
    expect(r.status).to.equal(200);
    const nodes = r.body.nodes as Record<string, { ok: boolean; error?: string }>;
    expect(Object.keys(nodes).sort()).to.deep.equal(['n1', 'n2', 'n3']);
    for (const [id, n] of Object.entries(nodes)) expect(n.ok, `${id}: ${n.error ?? ''}`).to.equal(true);
  });
});
