/**
 * The console's cluster view on a cluster with TLS and logins (npm start's). A 3-node in-process
 * cluster on 127.0.0.1 with a test CA (openssl, test/support/pki.ts).
 *
 * - Peers not authenticated (--insecure, no secret): each node fetches the others'
 *   /console/node.json from their admin ports over HTTPS checked against the CA given with
 *   --client-tls-ca, with the viewer's login. Until 2026-12-07 it fetched them over plain HTTP with
 *   no login, every peer answered HTTP 426, and the console showed one node.
 * - Admin ports that require client certificates (--client-ca-file): the serving node holds none,
 *   so since 2026-12-07 it asks over the raft port's authenticated link (the status channel);
 *   before, every peer refused its TLS handshake ("certificate required") and the console showed one node.
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

  /** A client certificate naming `cn`, signed by `ca`. */
  client(file: string, cn: string, ca: string): void {
    this.leaf(file, cn, ca, 'keyUsage=digitalSignature\nextendedKeyUsage=clientAuth');
  }
}

function getJson(
  url: string,
  ca: Buffer,
  authorization: string,
  cert: { cert: Buffer; key: Buffer } | Record<string, never> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsGet(url, { ca, ...cert, timeout: 5000, headers: { authorization } }, (res) => {
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

describe('node: without peer authentication the console fetches its peers over HTTPS with the viewer login (2026-12-07)', function () {
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
      // No cluster secret, no peer TLS: the status channel is refused, the admin ports are asked.
      insecure: true,
      clusterSecretFile: undefined,
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

describe('node: the console shows every node when the admin ports require client certificates (2026-12-07)', function () {
  // openssl for the certificates, three nodes with scrypt logins.
  this.timeout(60_000);
  const pki = new ServerPki();
  let cluster: InProcessCluster | undefined;
  let dir = '';

  before(async () => {
    pki.ca('ca');
    pki.server('server', 'ca');
    pki.ca('clients');
    pki.client('viewer', 'admin', 'clients');
    dir = tempDir('console-peers-mtls');
    cluster = await startAuthCluster(3, dir, ADMIN_PASSWORD, {
      clientTls: {
        certFile: pki.path('server.crt'),
        keyFile: pki.path('server.key'),
        peerCaFile: pki.path('ca.crt'),
        clientCaFile: pki.path('clients.crt'),
      },
    });
    await waitFor('a leader', () => cluster!.leader(), 10_000);
  });
  after(async () => {
    await cluster?.stop();
    if (dir !== '') removeDir(dir);
    pki.remove();
  });

  it('cluster.json lists every node with its view, fetched over the peers authenticated link', async () => {
    const basic = `Basic ${Buffer.from(`admin:${ADMIN_PASSWORD}`).toString('base64')}`;
    const viewer = { cert: pki.read('viewer.crt'), key: pki.read('viewer.key') };
    for (const host of cluster!.hosts) {
      const r = await getJson(`https://127.0.0.1:${host.address().adminPort}/console/cluster.json`, pki.read('ca.crt'), basic, viewer);
      expect(r.status).to.equal(200);
      const nodes = r.body.nodes as Record<string, { ok: boolean; error?: string; view?: { status: { node: string } } }>;
      expect(Object.keys(nodes).sort()).to.deep.equal(['n1', 'n2', 'n3']);
      // Before the fix each peer was { ok: false, error: 'socket hang up' }-like: the peer's
      // admin port asked for a client certificate the serving node does not hold.
      for (const [id, n] of Object.entries(nodes)) {
        expect(n.ok, `${host.id} -> ${id}: ${n.error ?? ''}`).to.equal(true);
        expect(n.view!.status.node).to.equal(id);
      }
    }
  });
});
