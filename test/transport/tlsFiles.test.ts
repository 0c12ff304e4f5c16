/**
 * tlsFiles.ts on its own, over real sockets on 127.0.0.1 (certificates made with the openssl CLI):
 * a pair that does not load keeps the previous certificate in force, `minVersion: 'TLSv1.2'`
 * admits a TLS 1.2 client (the default refuses it), a plain client gets HTTP 426, and the user of a
 * client certificate comes from its CN, else its subjectAltName.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, type Server as NetServer, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { certificateUser, TlsFiles, tlsFront } from '../../transport/wire/tlsFiles.js';
import { Pki } from '../support/pki.js';

describe('transport: TLS certificate files of the client and admin ports', function () {
  this.timeout(20_000);
  const pki = new Pki('sessionraft-tlsfiles-');
  const p = (f: string): string => pki.path(f);
  const leaf = (file: string, subj: string, ext: string): void => pki.leaf(file, subj, 'ca', ext);

  const servers: { front: NetServer; close(): void }[] = [];

  async function serve(files: TlsFiles): Promise<number> {
    const https = createHttpsServer(files.serverOptions(), (req, res) => res.end(String(certificateUser(req.socket))));
    files.attach(https);
    const { front, port } = await tlsFront(https, '127.0.0.1', 0);
    servers.push({
      front,
      close: () => {
        files.detach(https);
        front.close();
        https.closeAllConnections();
      },
    });
    return port;
  }

  const fingerprint = (port: number, extra: object = {}): Promise<string> =>
    new Promise((resolve, reject) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(p('ca.crt')), servername: 'localhost', ...extra }, () => {
        const fp = s.getPeerCertificate().fingerprint256;
        s.destroy();
        resolve(fp);
      });
      s.on('error', reject);
    });

  before(function () {
    pki.ca('ca');
    leaf('a', '/CN=server-a', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
    leaf('b', '/CN=server-b', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
    leaf('bob', '/O=users', 'extendedKeyUsage=clientAuth\nsubjectAltName=email:bob@example.org');
    writeFileSync(p('live.crt'), readFileSync(p('a.crt')));
    writeFileSync(p('live.key'), readFileSync(p('a.key')));
  });

  after(function () {
    for (const s of servers) s.close();
    pki.remove();
  });

  it('a pair that does not load keeps the previous certificate; a good one replaces it', async function () {
    const files = new TlsFiles({ certFile: p('live.crt'), keyFile: p('live.key'), reloadPollMs: 60_000 });
    const port = await serve(files);
    const a = new X509Certificate(readFileSync(p('a.crt'))).fingerprint256;
    assert.equal(await fingerprint(port), a);
    writeFileSync(p('live.crt'), readFileSync(p('b.crt'))); // b's certificate with a's key
    assert.equal(files.reload(), false);
    assert.equal(await fingerprint(port), a);
    writeFileSync(p('live.key'), readFileSync(p('b.key')));
    assert.equal(files.reload(), true);
    assert.equal(await fingerprint(port), new X509Certificate(readFileSync(p('b.crt'))).fingerprint256);
    assert.equal(files.reloads, 1);
  });

  it('TLS 1.3 by default; minVersion TLSv1.2 admits a TLS 1.2 client', async function () {
    const strict = await serve(new TlsFiles({ certFile: p('a.crt'), keyFile: p('a.key') }));
    await assert.rejects(fingerprint(strict, { maxVersion: 'TLSv1.2' }));
    const lenient = await serve(new TlsFiles({ certFile: p('a.crt'), keyFile: p('a.key'), minVersion: 'TLSv1.2' }));
    assert.match(await fingerprint(lenient, { maxVersion: 'TLSv1.2' }), /^[0-9A-F:]+$/);
  });

  it('a plain HTTP client gets 426 with x-sessionraft-tls: required', async function () {
    const port = await serve(new TlsFiles({ certFile: p('a.crt'), keyFile: p('a.key') }));
    const r = await new Promise<{ status: number; header: unknown }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, header: res.headers['x-sessionraft-tls'] });
      });
      req.on('error', reject);
      req.end();
    });
    assert.deepEqual(r, { status: 426, header: 'required' });
  });

  it('a client certificate without a CN names its user by its subjectAltName; none is refused', async function () {
    const port = await serve(new TlsFiles({ certFile: p('a.crt'), keyFile: p('a.key'), clientCaFile: p('ca.crt') }));
    const body = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect(
        { host: '127.0.0.1', port, ca: readFileSync(p('ca.crt')), servername: 'localhost', cert: readFileSync(p('bob.crt')), key: readFileSync(p('bob.key')) },
        () => {
          s.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
        },
      );
      let out = '';
      s.on('data', (d: Buffer) => (out += d.toString('utf8')));
      s.on('end', () => resolve(out));
      s.on('error', reject);
    });
    assert.match(body, /bob@example\.org$/);
    // Without a certificate the TLS 1.3 handshake completes on the client, then the server's alert ends it.
    const refused = await new Promise<boolean>((resolve) => {
      const s = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(p('ca.crt')), servername: 'localhost' }, () =>
        s.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n'),
      );
      s.on('data', () => resolve(false));
      s.on('error', () => resolve(true));
      s.on('close', () => resolve(true));
    });
    assert.equal(refused, true);
  });
});

describe('transport: tlsFront and plain clients', () => {
  /** A plain HTTP request to a TLS port; `answer()` is what came back so far. */
  const plainGet = (port: number): { sock: Socket; answer: () => string } => {
    const sock = netConnect(port, '127.0.0.1');
    let text = '';
    sock.on('data', (d: Buffer) => (text += d.toString('utf8')));
    sock.on('error', () => undefined);
    sock.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    return { sock, answer: () => text };
  };
  const connections = (front: NetServer): Promise<number> =>
    new Promise((resolve, reject) => front.getConnections((err, n) => (err ? reject(err) : resolve(n))));

  it('frees the socket as soon as a plain client closes after the 426, not plainLingerMs later', async () => {
    const https = createHttpsServer({});
    const { front, port } = await tlsFront(https, '127.0.0.1', 0, undefined, 60_000);
    try {
      const { sock, answer } = plainGet(port);
      // A well-behaved client: it reads the answer up to the server's FIN, then closes its side too.
      await new Promise<void>((resolve) => sock.once('close', () => resolve()));
      assert.match(answer(), /^HTTP\/1\.1 426 /);
      const deadline = Date.now() + 5_000;
      while ((await connections(front)) !== 0) {
        if (Date.now() > deadline) assert.fail('the server still holds the plain connection 5 s after its client closed');
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      front.close();
    }
  });

  it('answers 426 and destroys the socket after plainLingerMs instead of holding it for good', async () => {
    const https = createHttpsServer({});
    const { front, port } = await tlsFront(https, '127.0.0.1', 0, undefined, 50);
    try {
      const { sock, answer } = plainGet(port);
      // The client never ends its side; the server must close the connection on its own. 5 s bounds
      // it on a loaded box (it is given 50 ms).
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('the server kept the plain socket for 5 s')), 5_000);
        sock.once('close', () => {
          clearTimeout(t);
          resolve();
        });
      });
      assert.match(answer(), /^HTTP\/1\.1 426 /);
      // The server counts its side once that socket's close event ran (a turn or so later; 5 s bound).
      const deadline = Date.now() + 5_000;
      while ((await connections(front)) !== 0) {
        if (Date.now() > deadline) assert.fail('the server still counts the plain connection 5 s later');
        await new Promise((r) => setTimeout(r, 5));
      }
    } finally {
      front.close();
    }
  });
});
