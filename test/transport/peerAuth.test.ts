/**
 * Peer authentication by the cluster secret (issue 14), over real sockets on 127.0.0.1:
 *
 * - the acceptor speaks first (a challenge with a fresh nonce); a hello that does not prove the
 *   secret over that nonce (none, another secret, a replayed hello, a proof made for another
 *   sender or channel) is refused with 4009 and counted as TRANSPORT_ERR_AUTH, before anything is
 *   delivered or any stranger admitted;
 * - the dialer checks the welcome's proof the same way: an acceptor that does not hold the secret
 *   (a process squatting on a peer's port) gets no message;
 * - the proofs themselves: hello and welcome proofs differ, every covered field changes them, and a
 *   proof of the wrong length is refused without throwing.
 */
import assert from 'node:assert/strict';
import { WebSocketServer } from 'ws';
import type { RaftMessage } from '../../machines/types.js';
import { decodeFrame, encodeChallenge, encodeHandshake } from '../../transport/peer/codec.js';
import { helloProof, newNonce, verifyHelloProof, welcomeProof } from '../../transport/peer/peerAuth.js';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import { CloseCode, TransportErrorCode } from '../../transport/wire/errors.js';
import { closeTransport, helloFor, RawPeer, testSecret, waitFor } from './helpers.js';

const SELF = 'n0';
const CLUSTER = 'c1';
const heartbeat = (from: string, to: string, readCtx: number): RaftMessage => ({ type: 'heartbeat', from, to, term: 1, commit: 0, readCtx });

describe('transport: peers prove the cluster secret (challenge-response)', function () {
  this.timeout(20_000);
  const SECRET = testSecret();
  let server: WsTransport;
  let url: string;
  const delivered: RaftMessage[] = [];
  const others: WsTransport[] = [];

  before(async function () {
    server = new WsTransport({ nodeId: SELF, clusterId: CLUSTER, peers: { p1: null, p2: null }, clusterSecret: SECRET, handshakeTimeoutMs: 500 });
    url = `ws://127.0.0.1:${(await server.listen()).port}/`;
    server.onMessage = (m) => delivered.push(m);
  });

  after(async function () {
    await Promise.all([server, ...others].map(closeTransport));
  });

  const auth = (): number => server.stats().rejected[TransportErrorCode.auth] ?? 0;

  async function dialer(id: string, secret: Uint8Array | undefined, to: { host: string; port: number } = server.address): Promise<WsTransport> {
    const t = new WsTransport({
      nodeId: id,
      clusterId: CLUSTER,
      peers: { [SELF]: to },
      ...(secret !== undefined ? { clusterSecret: secret } : {}),
      reconnectDelayMsMin: 50,
      reconnectDelayMsMax: 50,
    });
    others.push(t);
    await t.listen();
    return t;
  }

  it('two transports with the same secret handshake and deliver; nothing is refused', async function () {
    const before = server.stats().rejectedTotal;
    const t = await dialer('p1', SECRET);
    t.send(SELF, heartbeat('p1', SELF, 1));
    await waitFor(() => delivered.some((m) => m.from === 'p1' && m.type === 'heartbeat' && m.readCtx === 1), 'the authenticated peer to deliver');
    assert.equal(server.stats().rejectedTotal, before);
    assert.equal(t.stats().rejectedTotal, 0);
  });

  it('a dialer without the secret, or with another one, is refused at its hello with 4009; nothing is delivered', async function () {
    const before = auth();
    const none = await dialer('p2', undefined);
    const wrong = await dialer('p2', testSecret());
    for (const [t, n] of [
      [none, 11],
      [wrong, 12],
    ] as const) {
      t.send(SELF, heartbeat('p2', SELF, n));
      await waitFor(() => (t.stats().peerCloseCodes[String(CloseCode.auth)] ?? 0) >= 1, 'the dialer to be told 4009');
      assert.equal(t.stats().outboundHandshakes, 0);
    }
    assert.ok(auth() >= before + 2, `TRANSPORT_ERR_AUTH counted (${auth() - before})`);
    assert.equal(delivered.filter((m) => m.from === 'p2').length, 0);
    await Promise.all([none, wrong].map(closeTransport));
  });

  it('a replayed hello (valid for another challenge) and proofs made for another sender or channel are refused with 4009', async function () {
    // A valid hello for one connection's challenge...
    const first = await RawPeer.connect({ url, clusterId: CLUSTER, from: 'p1', to: SELF, channel: 'control', secret: SECRET });
    await waitFor(() => first.welcomed, 'the welcome');
    const recorded = helloFor({ clusterId: CLUSTER, from: 'p1', to: SELF, channel: 'control', secret: SECRET }, first.challenge!);
    await first.close();
    const before = auth();
    // ...replayed on a new connection, whose challenge differs.
    const replay = await RawPeer.connect({ url, clusterId: CLUSTER, from: 'p1', to: SELF, channel: 'control', hello: recorded });
    assert.equal(await replay.closed(), CloseCode.auth);
    // A proof computed for p2 sent as p1; one computed for the data channel sent on control.
    const asOther = await RawPeer.connect({
      url,
      clusterId: CLUSTER,
      from: 'p1',
      to: SELF,
      channel: 'control',
      hello: (nonce) => {
        const dialerNonce = newNonce();
        const proof = helloProof(SECRET, { clusterId: CLUSTER, dialer: 'p2', acceptor: SELF, channel: 'control', acceptorNonce: nonce, dialerNonce, term: 1 });
        return encodeHandshake({ kind: 'hello', clusterId: CLUSTER, from: 'p1', to: SELF, channel: 'control', term: 1, nonce: dialerNonce, proof });
      },
    });
    assert.equal(await asOther.closed(), CloseCode.auth);
    const otherChannel = await RawPeer.connect({
      url,
      clusterId: CLUSTER,
      from: 'p1',
      to: SELF,
      channel: 'control',
      hello: (nonce) => {
        const dialerNonce = newNonce();
        const proof = helloProof(SECRET, { clusterId: CLUSTER, dialer: 'p1', acceptor: SELF, channel: 'data', acceptorNonce: nonce, dialerNonce, term: 1 });
        return encodeHandshake({ kind: 'hello', clusterId: CLUSTER, from: 'p1', to: SELF, channel: 'control', term: 1, nonce: dialerNonce, proof });
      },
    });
    assert.equal(await otherChannel.closed(), CloseCode.auth);
    // A welcome's proof (the acceptor's) is not a hello's.
    const reflected = await RawPeer.connect({
      url,
      clusterId: CLUSTER,
      from: 'p1',
      to: SELF,
      channel: 'control',
      hello: (nonce) => {
        const dialerNonce = newNonce();
        const proof = welcomeProof(SECRET, {
          clusterId: CLUSTER,
          dialer: 'p1',
          acceptor: SELF,
          channel: 'control',
          acceptorNonce: nonce,
          dialerNonce,
          term: 1,
        });
        return encodeHandshake({ kind: 'hello', clusterId: CLUSTER, from: 'p1', to: SELF, channel: 'control', term: 1, nonce: dialerNonce, proof });
      },
    });
    assert.equal(await reflected.closed(), CloseCode.auth);
    assert.equal(auth(), before + 4);
    for (const p of [replay, asOther, otherChannel, reflected]) assert.equal(p.welcomed, false);
  });

  it('the dialer refuses a welcome without a valid proof (an acceptor without the secret) and sends it nothing', async function () {
    // A process squatting on a peer's port: answers the challenge protocol, but cannot prove the secret.
    const fake = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise((r) => fake.once('listening', r));
    let framesAfterWelcome = 0;
    fake.on('connection', (ws) => {
      ws.on('error', () => {});
      ws.send(encodeChallenge(newNonce()));
      let welcomed = false;
      ws.on('message', (data) => {
        if (welcomed) {
          framesAfterWelcome++;
          return;
        }
        const hello = decodeFrame(data as Buffer);
        if (hello.kind !== 'hello') return;
        welcomed = true;
        ws.send(
          encodeHandshake({ kind: 'welcome', clusterId: CLUSTER, from: SELF, to: hello.from, channel: hello.channel, term: 1, proof: new Uint8Array(32) }),
        );
      });
    });
    const t = await dialer('p1', SECRET, { host: '127.0.0.1', port: (fake.address() as { port: number }).port });
    t.send(SELF, heartbeat('p1', SELF, 21));
    await waitFor(() => (t.stats().rejected[TransportErrorCode.auth] ?? 0) >= 1, 'the dialer to refuse the welcome');
    assert.equal(t.stats().sent, 0, 'nothing is sent before a valid welcome');
    assert.equal(framesAfterWelcome, 0);
    await closeTransport(t);
    await new Promise((r) => fake.close(r));
  });

  it('a hello that arrives before the challenge is read still works (the nonce was sent first)', async function () {
    // The raw peer sends at once; it cannot know the nonce, so without a secret only: a server
    // without a secret still sends its challenge and accepts a known peer's unproven hello.
    const open = new WsTransport({ nodeId: SELF, clusterId: CLUSTER, peers: { p1: null } });
    others.push(open);
    await open.listen();
    const peer = await RawPeer.connect({
      url: `ws://127.0.0.1:${open.address.port}/`,
      clusterId: CLUSTER,
      from: 'p1',
      to: SELF,
      channel: 'control',
      noWait: true,
    });
    await waitFor(() => peer.welcomed, 'the welcome');
    assert.notEqual(peer.challenge, undefined, 'the challenge came first');
    await peer.close();
  });

  it('proofs: hello and welcome differ, every covered field changes them, and a proof of the wrong length is refused', function () {
    const base = {
      clusterId: CLUSTER,
      dialer: 'p1',
      acceptor: SELF,
      channel: 'control' as const,
      acceptorNonce: newNonce(),
      dialerNonce: newNonce(),
      term: 5,
      address: '127.0.0.1:1:2:3',
    };
    const p = helloProof(SECRET, base);
    assert.equal(p.length, 32);
    assert.equal(verifyHelloProof(SECRET, base, p), true);
    assert.notDeepEqual(welcomeProof(SECRET, base), p);
    const variants = [
      { clusterId: 'c2' },
      { dialer: 'p2' },
      { acceptor: 'n1' },
      { channel: 'data' as const },
      { acceptorNonce: newNonce() },
      { dialerNonce: newNonce() },
      { term: 6 },
      { address: '127.0.0.1:1:2:4' },
    ];
    for (const v of variants) assert.equal(verifyHelloProof(SECRET, { ...base, ...v }, p), false, JSON.stringify(Object.keys(v)));
    assert.equal(verifyHelloProof(testSecret(), base, p), false, 'another secret');
    assert.equal(verifyHelloProof(SECRET, base, p.subarray(0, 31)), false);
    assert.equal(verifyHelloProof(SECRET, base, new Uint8Array(0)), false);
    assert.equal(verifyHelloProof(SECRET, base, Buffer.concat([p, Buffer.alloc(1)])), false);
  });
});
