/**
 * The WebSocket transport between well-behaved nodes: delivery of every message type on its
 * channel, same-tick coalescing, drops (backpressure, unknown peer, too large, encode bug, peer down)
 * that never throw, reconnect after a peer restarts, peer removal, and a clean close.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { channelOf, type RaftMessage } from '../../machines/types.js';
import { backoffDelayMs } from '../../transport/wire/backoff.js';
import { CloseCode, TransportDropCode, TransportErrorCode } from '../../transport/wire/errors.js';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import { closeTransport, messageArb, RawPeer, waitFor } from './helpers.js';

function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  return value;
}

const hb = (from: string, to: string, readCtx = 0): RaftMessage => ({ type: 'heartbeat', from, to, term: 1, commit: 0, readCtx });

async function pair(options: Partial<ConstructorParameters<typeof WsTransport>[0]> = {}): Promise<[WsTransport, WsTransport]> {
  const a = new WsTransport({ nodeId: 'a', clusterId: 'c1', peers: { b: null }, ...options });
  const b = new WsTransport({ nodeId: 'b', clusterId: 'c1', peers: { a: null }, ...options });
  const [aa, ba] = await Promise.all([a.listen(), b.listen()]);
  a.setPeer('b', ba);
  b.setPeer('a', aa);
  return [a, b];
}

describe('transport: WebSocket transport between good peers', function () {
  this.timeout(20_000);

  it('delivers every message type both ways, each on its channel, in order per channel', async function () {
    const [a, b] = await pair();
    try {
      const toB = fc.sample(messageArb(fc.constant('a'), fc.constant('b')), { numRuns: 300, seed: 42 });
      const toA = fc.sample(messageArb(fc.constant('b'), fc.constant('a')), { numRuns: 300, seed: 43 });
      const atA: RaftMessage[] = [];
      const atB: RaftMessage[] = [];
      a.onMessage = (m) => atA.push(m);
      b.onMessage = (m) => atB.push(m);
      for (const m of toB) a.send('b', m);
      for (const m of toA) b.send('a', m);
      await waitFor(() => atA.length === 300 && atB.length === 300, 'all 600 messages');
      for (const channel of ['control', 'data'] as const) {
        const only = (ms: RaftMessage[]) => plain(ms.filter((m) => channelOf(m.type) === channel));
        assert.deepEqual(only(atB), only(toB), `a -> b, ${channel}`);
        assert.deepEqual(only(atA), only(toA), `b -> a, ${channel}`);
      }
      const peerB = a.stats().peers['b']!;
      assert.equal(peerB.control, 'open');
      assert.equal(peerB.data, 'open');
      assert.equal(peerB.inboundControl, true);
      assert.equal(peerB.inboundData, true);
      assert.equal(a.stats().rejectedTotal + b.stats().rejectedTotal, 0);
    } finally {
      await Promise.all([closeTransport(a), closeTransport(b)]);
    }
  });

  it('entries of any size cross intact; large ones travel as fragments of one frame', async function () {
    const [a, b] = await pair();
    try {
      const sizes = [0, 100, 16 * 1024, 300 * 1024, 5, 1024 * 1024];
      const entries = sizes.map((n, i) => ({ index: 11 + i, term: 2 ** 33 + i, kind: 1 as const, data: new Uint8Array(n).fill(i + 1) }));
      const m: RaftMessage = { type: 'append', from: 'a', to: 'b', term: 2 ** 34, prevIndex: 10, prevTerm: 2, commit: 9, entries };
      const got: RaftMessage[] = [];
      b.onMessage = (x) => got.push(x);
      a.send('b', m);
      await waitFor(() => got.length === 1, 'the append');
      assert.deepEqual(plain(got[0]), plain(m));
      assert.equal(a.stats().framesSent, 1);
    } finally {
      await Promise.all([closeTransport(a), closeTransport(b)]);
    }
  });

  it('sends made in the same tick coalesce into one frame', async function () {
    const [a, b] = await pair();
    try {
      let got = 0;
      b.onMessage = () => got++;
      a.send('b', hb('a', 'b'));
      await waitFor(() => got === 1, 'the first message');
      const before = a.stats().framesSent;
      for (let i = 0; i < 500; i++) a.send('b', hb('a', 'b', i));
      await waitFor(() => got === 501, '500 more');
      assert.equal(a.stats().framesSent - before, 1);
    } finally {
      await Promise.all([closeTransport(a), closeTransport(b)]);
    }
  });

  it('drops instead of throwing or queueing without bound: backpressure, too large, unknown peer, encode bug', async function () {
    const MiB = 1024 * 1024;
    const [a, b] = await pair({ frameBytesMax: MiB, bufferedBytesMax: 2 * MiB });
    try {
      let got = 0;
      b.onMessage = () => got++;
      const chunk = (i: number, bytes: number): RaftMessage => ({
        type: 'snapshot',
        from: 'a',
        to: 'b',
        term: 1,
        meta: { index: 1, term: 1, membership: { voters: ['a', 'b'], learners: [] } },
        offset: i,
        totalBytes: 1,
        dataCrc: 0,
        data: new Uint8Array(bytes),
        done: false,
      });
      for (let i = 0; i < 20; i++) a.send('b', chunk(i, 512 * 1024));
      a.send('b', chunk(99, MiB)); // larger than a frame with its header
      a.send('nobody', hb('a', 'nobody'));
      a.send('b', {
        type: 'append',
        from: 'a',
        to: 'b',
        term: 1,
        prevIndex: 0,
        prevTerm: 0,
        commit: 0,
        entries: [{ index: 5, term: 1, kind: 1, data: new Uint8Array() }],
      });
      const s = a.stats();
      assert.ok((s.drops[TransportDropCode.backpressure] ?? 0) >= 15, JSON.stringify(s.drops));
      assert.equal(s.drops[TransportDropCode.tooLarge], 1);
      assert.equal(s.drops[TransportDropCode.unknownPeer], 1);
      assert.equal(s.drops[TransportDropCode.encode], 1);
      const accepted = 20 - (s.drops[TransportDropCode.backpressure] ?? 0);
      await waitFor(() => got === accepted, 'the chunks that fit');
    } finally {
      await Promise.all([closeTransport(a), closeTransport(b)]);
    }
  });

  it('reconnects after the peer restarts on the same port, dropping (and counting) what it could not send', async function () {
    const [a, b] = await pair({ reconnectDelayMsMin: 5, reconnectDelayMsMax: 50 });
    const bPort = b.address.port;
    let b2: WsTransport | undefined;
    try {
      let got = 0;
      b.onMessage = () => got++;
      a.send('b', hb('a', 'b'));
      await waitFor(() => got === 1, 'the first message');
      await closeTransport(b);
      // The peer is down: what a sends now fails and is counted, never thrown.
      await waitFor(() => {
        a.send('b', hb('a', 'b'));
        return (a.stats().drops[TransportDropCode.peerDown] ?? 0) > 0;
      }, 'drops while the peer is down');
      b2 = new WsTransport({ nodeId: 'b', clusterId: 'c1', peers: { a: null }, port: bPort });
      await b2.listen();
      let got2 = 0;
      b2.onMessage = () => got2++;
      // Like Raft, keep retransmitting until it gets through.
      await waitFor(() => {
        a.send('b', hb('a', 'b'));
        return got2 > 0;
      }, 'delivery after the restart');
      assert.equal(a.stats().peers['b']!.control, 'open');
    } finally {
      await Promise.all([closeTransport(a), b2 ? closeTransport(b2) : Promise.resolve()]);
    }
  });

  it('reconnect backoff: jittered, exponential, capped well below an election timeout', function () {
    fc.assert(
      fc.property(fc.nat({ max: 1000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, r) => {
        const d = backoffDelayMs(attempt, 10, 100, () => r);
        const ceiling = Math.min(100, 10 * 2 ** Math.min(attempt, 30));
        assert.ok(d >= ceiling / 2 && d <= ceiling, `attempt ${attempt}: ${d}`);
      }),
    );
  });

  it('removePeer closes its inbound connections and refuses it from then on', async function () {
    const [a, b] = await pair();
    try {
      let got = 0;
      b.onMessage = () => got++;
      a.send('b', hb('a', 'b'));
      await waitFor(() => got === 1, 'the first message');
      b.removePeer('a');
      await waitFor(() => (a.stats().peerCloseCodes[String(CloseCode.goingAway)] ?? 0) >= 1, 'a to see the close');
      await waitFor(() => {
        a.send('b', hb('a', 'b'));
        return (b.stats().rejected[TransportErrorCode.unknownPeer] ?? 0) >= 1;
      }, 'b to refuse the reconnect');
      assert.equal(got, 1);
    } finally {
      await Promise.all([closeTransport(a), closeTransport(b)]);
    }
  });

  it('close() ends every connection, including a stuck raw client, and later sends are dropped', async function () {
    const [a, b] = await pair({ closeTimeoutMs: 100 });
    a.send('b', hb('a', 'b'));
    b.send('a', hb('b', 'a'));
    await waitFor(() => a.stats().received === 1 && b.stats().received === 1, 'both directions');
    const lurker = await RawPeer.connect({ url: `ws://127.0.0.1:${b.address.port}/`, clusterId: 'c1', from: 'a', to: 'b', channel: 'data' });
    await Promise.all([closeTransport(a), closeTransport(b)]);
    await waitFor(() => lurker.closeCode !== undefined, 'the raw client to be closed');
    a.send('b', hb('a', 'b'));
    assert.equal(a.stats().drops[TransportDropCode.closed], 1);
  });
});
