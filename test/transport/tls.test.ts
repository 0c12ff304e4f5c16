/**
 * Mutual TLS (TLS 1.3 only): certificates are generated at test time with the openssl CLI into a
 * temporary directory: a cluster CA with node certificates n1, n2, n3, and a rogue CA with its own
 * "n2". Two properly certified nodes exchange messages both ways; a peer without a certificate, with
 * a certificate from another CA, whose certificate names another node, or that speaks TLS 1.2 or
 * plain ws, is refused and counted.
 */
import assert from 'node:assert/strict';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import WebSocket from 'ws';
import type { RaftMessage } from '../../machines/types.js';
import { encodeHandshake } from '../../transport/peer/codec.js';
import { TransportErrorCode } from '../../transport/wire/errors.js';
import type { TlsOptions } from '../../transport/peer/options.js';
import { certificateNames } from '../../transport/peer/tlsIdentity.js';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import { closeTransport, waitFor } from './helpers.js';
import { Pki as SharedPki } from '../support/pki.js';

/** The peer tests' certificates: node certificates name the node in CN and a DNS SAN. */
class Pki extends SharedPki {
  /** A node certificate with CN = `cn` and a DNS SAN = `cn`, signed by `ca`. */
  node(file: string, cn: string, ca: string): void {
    this.leaf(file, cn, ca, `keyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=DNS:${cn}`);
  }

  text(file: string): string {
    return this.read(file).toString('utf8');
  }

  tls(file: string, ca = 'ca'): TlsOptions {
    return { cert: this.text(`${file}.crt`), key: this.text(`${file}.key`), ca: this.text(`${ca}.crt`) };
  }
}

const hb = (from: string, to: string, readCtx = 0): RaftMessage => ({ type: 'heartbeat', from, to, term: 1, commit: 0, readCtx });

describe('transport: mutual TLS', function () {
  this.timeout(30_000);

  const pki = new Pki();
  let n1: WsTransport;
  let n2: WsTransport;
  const atN1: RaftMessage[] = [];
  const atN2: RaftMessage[] = [];
  let port1: number;
  let seq = 0;

  before(async function () {
    pki.ca('ca');
    pki.ca('rogue-ca');
    pki.node('n1', 'n1', 'ca');
    pki.node('n2', 'n2', 'ca');
    pki.node('n3', 'n3', 'ca');
    pki.node('rogue-n2', 'n2', 'rogue-ca');
    n1 = new WsTransport({ nodeId: 'n1', clusterId: 'c1', peers: { n2: null }, tls: pki.tls('n1'), handshakeTimeoutMs: 1000 });
    n2 = new WsTransport({ nodeId: 'n2', clusterId: 'c1', peers: { n1: null }, tls: pki.tls('n2') });
    const [a1, a2] = await Promise.all([n1.listen(), n2.listen()]);
    port1 = a1.port;
    n1.setPeer('n2', a2);
    n2.setPeer('n1', a1);
    n1.onMessage = (m) => atN1.push(m);
    n2.onMessage = (m) => atN2.push(m);
  });

  after(async function () {
    await Promise.all([closeTransport(n1), closeTransport(n2)]);
    pki.remove();
  });

  /** The properly certified n2 still reaches n1. */
  async function n2StillDelivers(): Promise<void> {
    const n = ++seq;
    n2.send('n1', hb('n2', 'n1', n));
    await waitFor(() => atN1.some((m) => m.type === 'heartbeat' && m.readCtx === n), 'n2 to reach n1 over wss');
  }

  const rejected = (code: string): number => n1.stats().rejected[code] ?? 0;

  it('two nodes with proper certificates exchange messages both ways over wss (TLS 1.3)', async function () {
    n1.send('n2', hb('n1', 'n2', 1));
    n1.send('n2', {
      type: 'append',
      from: 'n1',
      to: 'n2',
      term: 1,
      prevIndex: 0,
      prevTerm: 0,
      commit: 0,
      entries: [{ index: 1, term: 1, kind: 1, data: new Uint8Array([1, 2, 3]) }],
    });
    await waitFor(() => atN2.length === 2, 'n1 -> n2');
    await n2StillDelivers();
    assert.deepEqual(atN2.map((m) => m.type).sort(), ['append', 'heartbeat']);
    assert.equal(n1.stats().rejectedTotal, 0);
    assert.equal(n2.stats().rejectedTotal, 0);
  });

  it('a peer with no certificate is refused at the TLS handshake', async function () {
    const before = rejected(TransportErrorCode.tls);
    const ws = new WebSocket(`wss://127.0.0.1:${port1}/`, {
      ca: pki.read('ca.crt'),
      checkServerIdentity: () => undefined,
    } as unknown as WebSocket.ClientOptions);
    let opened = false;
    ws.on('open', () => {
      opened = true;
      ws.send(encodeHandshake({ kind: 'hello', clusterId: 'c1', from: 'n2', to: 'n1', channel: 'control', term: 1 }));
    });
    let closed = false;
    ws.on('error', () => {});
    ws.on('close', () => (closed = true));
    await waitFor(() => closed, 'the certificate-less client to be cut off');
    assert.equal(opened, false);
    await waitFor(() => rejected(TransportErrorCode.tls) > before, 'the refusal to be counted');
    await n2StillDelivers();
  });

  it('a peer with a certificate from another CA is refused', async function () {
    const before = rejected(TransportErrorCode.tls);
    // Trusts the real CA (so it would accept n1), but presents a rogue-CA certificate for "n2".
    const rogue = new WsTransport({
      nodeId: 'n2',
      clusterId: 'c1',
      peers: { n1: { host: '127.0.0.1', port: port1 } },
      tls: { ...pki.tls('rogue-n2'), ca: pki.read('ca.crt') },
    });
    await rogue.listen();
    try {
      rogue.send('n1', hb('n2', 'n1', 666));
      await waitFor(() => rejected(TransportErrorCode.tls) > before, 'n1 to refuse the rogue certificate');
      assert.equal(rogue.stats().outboundHandshakes, 0);
      assert.ok(!atN1.some((m) => m.type === 'heartbeat' && m.readCtx === 666));
    } finally {
      await closeTransport(rogue);
    }
    await n2StillDelivers();
  });

  it('a peer whose certificate names another node is refused with 4005', async function () {
    const before = rejected(TransportErrorCode.certIdentity);
    // A valid cluster certificate for n3, claiming to be n2 in its hello.
    const impostor = new WsTransport({ nodeId: 'n2', clusterId: 'c1', peers: { n1: { host: '127.0.0.1', port: port1 } }, tls: pki.tls('n3') });
    await impostor.listen();
    try {
      impostor.send('n1', hb('n2', 'n1', 667));
      await waitFor(() => rejected(TransportErrorCode.certIdentity) > before, 'n1 to refuse the impostor');
      await waitFor(() => (impostor.stats().peerCloseCodes['4005'] ?? 0) > 0, 'the impostor to see 4005');
      assert.ok(!atN1.some((m) => m.type === 'heartbeat' && m.readCtx === 667));
    } finally {
      await closeTransport(impostor);
    }
    await n2StillDelivers();
  });

  it('the dialer refuses a server whose certificate names another node', async function () {
    // n1 is told that "n9" listens where a server with n3's certificate is.
    const n3 = new WsTransport({ nodeId: 'n3', clusterId: 'c1', peers: { n1: null }, tls: pki.tls('n3') });
    const addr = await n3.listen();
    const dialer = new WsTransport({ nodeId: 'n1', clusterId: 'c1', peers: { n9: addr }, tls: pki.tls('n1') });
    await dialer.listen();
    try {
      dialer.send('n9', hb('n1', 'n9'));
      await waitFor(() => (dialer.stats().rejected[TransportErrorCode.certIdentity] ?? 0) > 0, 'the dialer to refuse n3 posing as n9');
      assert.equal(dialer.stats().sent, 0);
    } finally {
      await Promise.all([closeTransport(n3), closeTransport(dialer)]);
    }
  });

  it('TLS 1.2 and plain ws are refused', async function () {
    const before = rejected(TransportErrorCode.tls);
    await new Promise<void>((resolve) => {
      const { cert, key } = pki.tls('n2');
      const sock = tlsConnect({
        host: '127.0.0.1',
        port: port1,
        cert,
        key,
        ca: pki.read('ca.crt'),
        maxVersion: 'TLSv1.2',
        checkServerIdentity: () => undefined,
      });
      sock.on('error', () => resolve());
      sock.on('secureConnect', () => sock.destroy());
      sock.on('close', () => resolve());
    });
    const ws = new WebSocket(`ws://127.0.0.1:${port1}/`);
    ws.on('error', () => {});
    let closed = false;
    ws.on('close', () => (closed = true));
    await waitFor(() => closed, 'the plain ws client to be cut off');
    await waitFor(() => rejected(TransportErrorCode.tls) >= before + 2, 'both refusals to be counted');
    await n2StillDelivers();
  });

  it('with TLS, binding a non-loopback address is allowed', async function () {
    const t = new WsTransport({ nodeId: 'n1', clusterId: 'c1', host: '0.0.0.0', tls: pki.tls('n1') });
    await closeTransport(t);
  });

  it('certificateNames matches the CN or a DNS SAN, nothing else', function () {
    const cert = (cn: string, san?: string) => ({ subject: { CN: cn }, subjectaltname: san }) as unknown as PeerCertificate;
    assert.equal(certificateNames(cert('n1'), 'n1'), true);
    assert.equal(certificateNames(cert('other', 'DNS:x, DNS:n1'), 'n1'), true);
    assert.equal(certificateNames(cert('other', 'DNS:n10, IP Address:127.0.0.1'), 'n1'), false);
    assert.equal(certificateNames(cert('other', 'URI:n1'), 'n1'), false);
    assert.equal(certificateNames(undefined, 'n1'), false);
    assert.equal(certificateNames({} as PeerCertificate, 'n1'), false);
  });
});
