/**
 * Named bad-peer scenarios over real sockets: oversized frames (1009), wrong cluster, unknown
 * sender, forged sender after the handshake, bad or missing hellos, wrong channel, connection
 * limits, raw TCP and HTTP garbage, the insecure-bind guard. Every transport here holds the
 * cluster secret (auth on), and so does the raw peer unless a case says otherwise (peerAuth.test.ts
 * has the authentication cases). In every case the receiving transport
 * stays up, nothing bad reaches onMessage, the rejection is counted by code, and a valid peer (a
 * real WsTransport) still delivers afterwards.
 */
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { request as httpRequest } from 'node:http';
import WebSocket, { WebSocketServer } from 'ws';
import type { RaftMessage } from '../../machines/types.js';
import { encodeChallenge, encodeHandshake, encodeMessages } from '../../transport/peer/codec.js';
import { CloseCode, TransportError, TransportErrorCode } from '../../transport/wire/errors.js';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import { closeTransport, RawPeer, testSecret, waitFor } from './helpers.js';

const SELF = 'n0';
const CLUSTER = 'c1';
const SECRET = testSecret();
const HANDSHAKE_TIMEOUT_MS = 300;

describe('transport: bad peers over real sockets', function () {
  this.timeout(20_000);

  let server: WsTransport;
  let good: WsTransport;
  let url: string;
  let port: number;
  const delivered: RaftMessage[] = [];
  let goodSeq = 0;

  before(async function () {
    server = new WsTransport({
      nodeId: SELF,
      clusterId: CLUSTER,
      peers: { p1: null, p2: null },
      handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
      clusterSecret: SECRET,
    });
    const addr = await server.listen();
    port = addr.port;
    url = `ws://127.0.0.1:${port}/`;
    server.onMessage = (m) => delivered.push(m);
    good = new WsTransport({ nodeId: 'p2', clusterId: CLUSTER, peers: { [SELF]: addr }, clusterSecret: SECRET });
    await good.listen();
  });

  after(async function () {
    await Promise.all([closeTransport(server), closeTransport(good)]);
  });

  beforeEach(function () {
    delivered.length = 0;
  });

  /** After each scenario: the server is up and a valid peer's message gets through. */
  afterEach(async function () {
    const n = ++goodSeq;
    good.send(SELF, { type: 'heartbeat', from: 'p2', to: SELF, term: 1, commit: 0, readCtx: n });
    await waitFor(() => delivered.some((m) => m.from === 'p2' && m.type === 'heartbeat' && m.readCtx === n), 'the valid peer to deliver');
  });

  const rejected = (code: string): number => server.stats().rejected[code] ?? 0;
  const hello = (o: { from?: string; to?: string; cluster?: string; channel?: 'control' | 'data' } = {}) =>
    ({ url, clusterId: o.cluster ?? CLUSTER, from: o.from ?? 'p1', to: o.to ?? SELF, channel: o.channel ?? 'control', secret: SECRET }) as const;
  const heartbeat = (from: string, to: string, readCtx = 0): RaftMessage => ({ type: 'heartbeat', from, to, term: 1, commit: 0, readCtx });

  /** Sends a valid message on `peer` and waits for it: proves the connection is still open and in order. */
  async function stillOpen(peer: RawPeer, readCtx: number): Promise<void> {
    peer.send(encodeMessages([heartbeat('p1', SELF, readCtx)]));
    await waitFor(() => delivered.some((m) => m.type === 'heartbeat' && m.from === 'p1' && m.readCtx === readCtx), 'the marker on the same connection');
  }

  it('an oversized frame is closed with 1009 and counted; nothing is delivered', async function () {
    const before = rejected(TransportErrorCode.frameTooLarge);
    const peer = await RawPeer.handshake(hello());
    peer.send(Buffer.alloc(4 * 1024 * 1024 + 1, 0x41));
    assert.equal(await peer.closed(), CloseCode.messageTooBig);
    assert.equal(rejected(TransportErrorCode.frameTooLarge), before + 1);
    assert.equal(delivered.length, 0);
  });

  it('a wrong cluster ID is closed with 4002', async function () {
    const before = rejected(TransportErrorCode.cluster);
    const peer = await RawPeer.connect(hello({ cluster: 'other-cluster' }));
    assert.equal(await peer.closed(), CloseCode.cluster);
    assert.equal(peer.welcomed, false);
    assert.equal(rejected(TransportErrorCode.cluster), before + 1);
  });

  it('an unknown sender is closed with 4003', async function () {
    const before = rejected(TransportErrorCode.unknownPeer);
    const peer = await RawPeer.connect(hello({ from: 'stranger' }));
    assert.equal(await peer.closed(), CloseCode.unknownPeer);
    assert.equal(rejected(TransportErrorCode.unknownPeer), before + 1);
  });

  it('a hello addressed to another node is closed with 4003', async function () {
    const peer = await RawPeer.connect(hello({ to: 'n9' }));
    assert.equal(await peer.closed(), CloseCode.unknownPeer);
  });

  it('another protocol version is closed with 4001', async function () {
    const before = rejected(TransportErrorCode.version);
    const bad = encodeHandshake({ kind: 'hello', version: 2, clusterId: CLUSTER, from: 'p1', to: SELF, channel: 'control', term: 1 });
    const peer = await RawPeer.connect({ ...hello(), hello: bad });
    assert.equal(await peer.closed(), CloseCode.version);
    assert.equal(rejected(TransportErrorCode.version), before + 1);
  });

  it('garbage, a messages frame or a welcome as the first frame is closed with 4004', async function () {
    const firsts: Array<[Uint8Array, string]> = [
      [Buffer.from([0xff, 0x00]), TransportErrorCode.cbor],
      [encodeMessages([heartbeat('p1', SELF)]), TransportErrorCode.handshake],
      [encodeHandshake({ kind: 'welcome', clusterId: CLUSTER, from: 'p1', to: SELF, channel: 'control', term: 0 }), TransportErrorCode.handshake],
    ];
    for (const [first, code] of firsts) {
      const before = rejected(code);
      const peer = await RawPeer.connect({ ...hello(), hello: first });
      assert.equal(await peer.closed(), CloseCode.handshake);
      assert.equal(rejected(code), before + 1, code);
    }
    assert.equal(delivered.length, 0);
  });

  it('a text frame as the hello is closed with 4004', async function () {
    const peer = await RawPeer.connect({ ...hello(), hello: undefined });
    // RawPeer.connect already sent a binary hello; use a fresh raw socket for the text one.
    await peer.close();
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    let code: number | undefined;
    ws.on('close', (c) => (code = c));
    await new Promise((r) => ws.once('open', r));
    ws.send('{"hello":true}');
    await waitFor(() => code !== undefined, 'close after a text hello');
    assert.equal(code, CloseCode.handshake);
  });

  it('no hello within handshakeTimeoutMs is closed with 4004 and counted', async function () {
    const before = rejected(TransportErrorCode.handshakeTimeout);
    const ws = new WebSocket(url);
    ws.on('error', () => {});
    let code: number | undefined;
    ws.on('close', (c) => (code = c));
    // The server's own timer (300 ms) ends it; 5 s only bounds a hang.
    await waitFor(() => code !== undefined, 'the handshake timeout', 5000);
    assert.equal(code, CloseCode.handshake);
    assert.equal(rejected(TransportErrorCode.handshakeTimeout), before + 1);
  });

  it('a forged sender after the handshake is closed with 4006; its message is not delivered', async function () {
    const before = rejected(TransportErrorCode.sender);
    const peer = await RawPeer.handshake(hello());
    peer.send(encodeMessages([heartbeat('p2', SELF, 777)]));
    assert.equal(await peer.closed(), CloseCode.sender);
    assert.equal(rejected(TransportErrorCode.sender), before + 1);
    assert.equal(delivered.length, 0);
  });

  it('a frame addressed to another node after the handshake is closed with 4006', async function () {
    const before = rejected(TransportErrorCode.receiver);
    const peer = await RawPeer.handshake(hello());
    peer.send(encodeMessages([heartbeat('p1', 'n9')]));
    assert.equal(await peer.closed(), CloseCode.sender);
    assert.equal(rejected(TransportErrorCode.receiver), before + 1);
    assert.equal(delivered.length, 0);
  });

  it('a message on the wrong channel, a text frame and a second hello are dropped and counted; the connection stays', async function () {
    const peer = await RawPeer.handshake(hello({ channel: 'control' }));
    const before = server.stats().rejected;
    peer.send(encodeMessages([{ type: 'append', from: 'p1', to: SELF, term: 1, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] }]));
    peer.send('a text frame');
    peer.send(encodeHandshake({ kind: 'hello', clusterId: CLUSTER, from: 'p1', to: SELF, channel: 'control', term: 1 }));
    await stillOpen(peer, 4242);
    const after = server.stats().rejected;
    for (const code of [TransportErrorCode.channel, TransportErrorCode.textFrame, TransportErrorCode.frameKind]) {
      assert.equal((after[code] ?? 0) - (before[code] ?? 0), 1, code);
    }
    assert.deepEqual(
      delivered.map((m) => m.type),
      ['heartbeat'],
    );
    await peer.close();
  });

  it('the 16th bad frame on one connection closes it with 4007', async function () {
    const peer = await RawPeer.handshake(hello());
    for (let i = 0; i < 15; i++) peer.send(Buffer.from([0xff]));
    await stillOpen(peer, 1515);
    peer.send(Buffer.from([0xff]));
    assert.equal(await peer.closed(), CloseCode.tooManyBadFrames);
  });

  it('a newer connection from the same peer and channel replaces the older one (4008)', async function () {
    const first = await RawPeer.handshake(hello());
    const second = await RawPeer.handshake(hello());
    assert.equal(await first.closed(), CloseCode.replaced);
    await stillOpen(second, 8080);
    await second.close();
  });

  it('connections past connectionsPerAddressMax are refused with HTTP 503 and counted', async function () {
    const limited = new WsTransport({ nodeId: 'n5', clusterId: CLUSTER, peers: { p1: null }, connectionsPerAddressMax: 2, clusterSecret: SECRET });
    const { port: limitedPort } = await limited.listen();
    const lurl = `ws://127.0.0.1:${limitedPort}/`;
    const a = await RawPeer.connect({ ...hello({ to: 'n5' }), url: lurl });
    const b = await RawPeer.connect({ ...hello({ to: 'n5' }), url: lurl });
    await assert.rejects(RawPeer.connect({ ...hello({ to: 'n5' }), url: lurl }), /unexpected response 503/);
    assert.equal(limited.stats().rejected[TransportErrorCode.connectionLimit], 1);
    // A slot frees when a connection closes.
    a.terminate();
    await waitFor(() => a.closeCode !== undefined, 'the first connection to close');
    let c: RawPeer | undefined;
    await waitFor(() => {
      if (!c)
        void RawPeer.connect({ ...hello({ to: 'n5', channel: 'data' }), url: lurl }).then(
          (p) => (c = p),
          () => {},
        );
      return c !== undefined;
    }, 'a new connection once a slot is free');
    b.terminate();
    c!.terminate();
    await closeTransport(limited);
  });

  it('raw TCP garbage and a plain HTTP request are refused and counted', async function () {
    const before = rejected(TransportErrorCode.http);
    await new Promise<void>((resolve) => {
      const sock = tcpConnect(port, '127.0.0.1', () => sock.write(Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0, 0, 0x0d, 0x0a, 0x0d, 0x0a])));
      sock.on('error', () => {});
      sock.on('close', () => resolve());
    });
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/' }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 426);
    assert.equal(rejected(TransportErrorCode.http), before + 2);
  });

  it('an onMessage that throws is counted and does not stop delivery', async function () {
    const before = rejected(TransportErrorCode.handler);
    const original = server.onMessage;
    let calls = 0;
    server.onMessage = (m) => {
      calls++;
      original(m);
      if (m.type === 'heartbeat' && m.readCtx === 31337) throw new Error('application bug');
    };
    try {
      const peer = await RawPeer.handshake(hello());
      peer.send(encodeMessages([heartbeat('p1', SELF, 31337), heartbeat('p1', SELF, 31338)]));
      await waitFor(() => calls >= 2, 'both messages');
      assert.equal(rejected(TransportErrorCode.handler), before + 1);
      await peer.close();
    } finally {
      server.onMessage = original;
    }
  });

  it('the dialing side checks the welcome: a server of another cluster is refused and counted', async function () {
    const fake = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => fake.once('listening', r));
    const fakePort = (fake.address() as { port: number }).port;
    fake.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.send(encodeChallenge(new Uint8Array(16)));
      ws.once('message', () => ws.send(encodeHandshake({ kind: 'welcome', clusterId: 'evil', from: 'p9', to: 'p2', channel: 'control', term: 99 })));
    });
    const dialer = new WsTransport({ nodeId: 'p2', clusterId: CLUSTER, peers: { p9: { host: '127.0.0.1', port: fakePort } }, clusterSecret: SECRET });
    await dialer.listen();
    dialer.send('p9', heartbeat('p2', 'p9'));
    await waitFor(() => (dialer.stats().rejected[TransportErrorCode.cluster] ?? 0) >= 1, 'the dialer to refuse the welcome');
    assert.equal(dialer.stats().sent, 0, 'nothing is sent before a valid welcome');
    await closeTransport(dialer);
    await new Promise((r) => fake.close(r));
  });

  describe('insecure bind guard', function () {
    const codeOf = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        return err instanceof TransportError ? err.code : String(err);
      }
      return 'ok';
    };
    it('refuses a non-loopback bind address without TLS', function () {
      assert.equal(
        codeOf(() => new WsTransport({ nodeId: 'x', clusterId: CLUSTER, host: '0.0.0.0' })),
        TransportErrorCode.insecureBind,
      );
      assert.equal(
        codeOf(() => new WsTransport({ nodeId: 'x', clusterId: CLUSTER, host: '10.1.2.3' })),
        TransportErrorCode.insecureBind,
      );
      assert.equal(
        codeOf(() => new WsTransport({ nodeId: 'x', clusterId: CLUSTER, host: 'example.org' })),
        TransportErrorCode.insecureBind,
      );
    });
    it('refuses a non-loopback peer address without TLS', function () {
      assert.equal(
        codeOf(() => new WsTransport({ nodeId: 'x', clusterId: CLUSTER, peers: { y: { host: '192.168.1.9', port: 7000 } } })),
        TransportErrorCode.insecureBind,
      );
      assert.equal(
        codeOf(() => server.setPeer('p3', { host: '192.168.1.9', port: 7000 })),
        TransportErrorCode.insecureBind,
      );
    });
    it('allows loopback (v4, v6, localhost), and anything with an explicit insecure: true', async function () {
      for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost']) {
        assert.equal(
          codeOf(() => new WsTransport({ nodeId: 'x', clusterId: CLUSTER, host })),
          'ok',
          host,
        );
      }
      const t = new WsTransport({ nodeId: 'x', clusterId: CLUSTER, host: '0.0.0.0', insecure: true });
      await t.listen();
      await closeTransport(t);
    });
    it('rejects invalid options with TRANSPORT_ERR_CONFIG', function () {
      assert.equal(
        codeOf(() => new WsTransport({ nodeId: 'bad id', clusterId: CLUSTER })),
        TransportErrorCode.config,
      );
      assert.equal(
        codeOf(() => new WsTransport({ nodeId: 'x', clusterId: CLUSTER, frameBytesMax: 0 })),
        TransportErrorCode.config,
      );
      assert.equal(
        codeOf(() => new WsTransport({ nodeId: 'x', clusterId: CLUSTER, frameBytesMax: 1 << 20, bufferedBytesMax: 1000 })),
        TransportErrorCode.config,
      );
      assert.equal(
        codeOf(() => new WsTransport({ nodeId: 'x', clusterId: CLUSTER, peers: { x: null } })),
        TransportErrorCode.config,
      );
      assert.equal(
        codeOf(() => server.setPeer('not valid', null)),
        TransportErrorCode.config,
      );
      assert.equal(
        codeOf(() => server.setPeer('__proto__', null)),
        TransportErrorCode.config,
      );
      assert.equal(
        codeOf(() => new WsTransport({ nodeId: 'x', clusterId: CLUSTER, clusterSecret: new Uint8Array(8) })),
        TransportErrorCode.config,
      );
    });
  });
});
