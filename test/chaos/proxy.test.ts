/**
 * The link proxy of the fault harness, over a real WebSocket pair (ws, as the peer transport uses
 * it): links told apart by the sender in the hello, forwarding both ways, reset and blackhole cuts
 * and healing, the evidence that a cut stopped traffic (and 0 when it did not), message loss that
 * keeps the stream well-formed (fragmented messages dropped whole), delay with order kept.
 */
import { expect } from 'chai';
import { encode } from 'cbor-x';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { waitFor } from '../node/helpers.js';
import { NodeProxy } from './proxy.js';

interface Peer {
  readonly ws: WebSocket;
  readonly got: string[];
  closed: boolean;
}

describe('chaos: the link proxy', function () {
  this.timeout(20_000);
  let server: WebSocketServer;
  let port: number;
  /** What the server received, per connection, and its sockets (it echoes "echo:<m>" back). */
  const received: string[] = [];
  let proxy: NodeProxy;
  const peers: Peer[] = [];

  beforeEach(async () => {
    received.length = 0;
    server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((r) => server.once('listening', () => r()));
    port = (server.address() as AddressInfo).port;
    server.on('connection', (ws) => {
      ws.on('message', (d, isBinary) => {
        if (isBinary) return; // the hello
        const m = d.toString();
        received.push(m);
        ws.send(`echo:${m}`);
      });
    });
    proxy = new NodeProxy('b', { host: '127.0.0.1', port });
    await proxy.listen();
  });

  afterEach(async () => {
    for (const p of peers.splice(0)) p.ws.terminate();
    await proxy.close();
    for (const c of server.clients) c.terminate();
    await new Promise<void>((r) => server.close(() => r()));
  });

  /**
   * Opens a client through the proxy as node `from` (its first message is the transport's hello,
   * `[1, 0, cluster, from, to, channel, term]`); resolves once open (or closed).
   */
  async function dial(from = 'a'): Promise<Peer> {
    const ws = new WebSocket(`ws://127.0.0.1:${proxy.port}/`, { perMessageDeflate: false });
    const p: Peer = { ws, got: [], closed: false };
    peers.push(p);
    ws.on('message', (d) => p.got.push(d.toString()));
    ws.on('close', () => (p.closed = true));
    ws.on('error', () => (p.closed = true));
    await new Promise<void>((r) => {
      ws.once('open', () => r());
      ws.once('close', () => r());
      ws.once('error', () => r());
    });
    if (!p.closed) ws.send(encode([1, 0, 'chaos', from, 'b', 0, 1]));
    return p;
  }

  it('forwards messages both ways', async () => {
    const p = await dial();
    for (let k = 0; k < 20; k++) p.ws.send(`m${k}`);
    // Loopback through one proxy: milliseconds; 5 s is generous.
    await waitFor('20 echoes', () => p.got.length === 20, 5000);
    expect(received).to.deep.equal(Array.from({ length: 20 }, (_, k) => `m${k}`));
    expect(p.got[19]).to.equal('echo:m19');
    expect(proxy.stats.forwarded).to.equal(21); // and the hello
  });

  it('reset closes open connections and refuses new ones until healed', async () => {
    const p = await dial();
    proxy.set('a', { mode: 'reset' });
    await waitFor('the open connection closed', () => p.closed, 5000);
    const q = await dial();
    await waitFor('a new connection of the link closed at its hello', () => q.closed, 5000);
    // Another sender's link into the same node is not affected.
    const other = await dial('c');
    other.ws.send('from c');
    await waitFor('delivery on link c -> b', () => other.got.includes('echo:from c'), 5000);
    proxy.heal();
    const r = await dial();
    expect(r.closed).to.equal(false);
    r.ws.send('after');
    await waitFor('delivery after healing', () => r.got.includes('echo:after'), 5000);
    expect(proxy.stats.cut).to.equal(2); // p closed, q refused
    expect(proxy.stats.linksCut).to.equal(1); // one link, one cut
    expect(proxy.stats.swallowed).to.equal(0);
  });

  it('blackhole swallows traffic silently; healing closes the stalled connection', async () => {
    const p = await dial();
    p.ws.send('before');
    await waitFor('the first message', () => p.got.length === 1, 5000);
    proxy.set('a', { mode: 'blackhole' });
    p.ws.send('lost');
    // Nothing arrives, and the connection stays open: check that a later message does not pass either.
    p.ws.send('lost too');
    const q = await dial(); // a new connection of the link: its hello and everything after are swallowed
    q.ws.send('lost as well');
    await waitFor('the new connection identified by its hello', () => proxy.stats.identified === 2, 5000);
    expect(received).to.deep.equal(['before']);
    expect(p.closed).to.equal(false);
    proxy.heal();
    await waitFor('the stalled connection closed on heal', () => p.closed, 5000);
    await waitFor('the blackholed new connection closed on heal', () => q.closed, 5000);
    const r = await dial();
    r.ws.send('again');
    await waitFor('delivery after healing', () => r.got.includes('echo:again'), 5000);
    expect(received).to.deep.equal(['before', 'again']);
    expect(proxy.stats.cut).to.equal(2); // p silenced at the cut, q at its hello
    expect(proxy.stats.linksCut).to.equal(1);
    expect(proxy.stats.swallowed).to.be.greaterThan(0);
  });

  it('counts a cut link when it stops traffic, once per cut; a link without a fault, or cut but unused, counts 0', async () => {
    const a = await dial('a');
    const c = await dial('c');
    a.ws.send('a1');
    c.ws.send('c1');
    await waitFor('both links forwarding', () => a.got.includes('echo:a1') && c.got.includes('echo:c1'), 5000);
    proxy.set('a', { mode: 'blackhole' });
    proxy.set('d', { mode: 'blackhole' }); // link d -> b: nobody dials it
    // Silencing a's open connection is immediate; nothing was swallowed yet, so no link counts.
    expect(proxy.stats).to.include({ cut: 1, linksCut: 0, swallowed: 0 });
    a.ws.send('lost');
    // The next bytes on link a reach the proxy within milliseconds on loopback; 5 s is generous.
    await waitFor('the blackhole swallowing link a traffic', () => proxy.stats.linksCut === 1, 5000);
    const swallowed = proxy.stats.swallowed;
    expect(swallowed).to.be.greaterThan(0);
    // More traffic on the same cut link counts bytes, not links; the healthy link c still forwards.
    a.ws.send('lost too');
    c.ws.send('c2');
    await waitFor('more bytes swallowed on link a', () => proxy.stats.swallowed > swallowed, 5000);
    await waitFor('link c still forwarding', () => c.got.includes('echo:c2'), 5000);
    // Exactly one link stopped traffic: a. Link c (no fault) carried traffic and d (cut) carried none.
    expect(proxy.stats).to.include({ cut: 1, linksCut: 1 });
    expect(received).to.have.members(['a1', 'c1', 'c2']); // two connections: no order between them
    proxy.heal();
    await waitFor('the stalled connection closed on heal', () => a.closed, 5000);
    // A new cut of the same link counts again, only once it stops something: here a refused hello.
    proxy.set('a', { mode: 'reset' });
    expect(proxy.stats.linksCut).to.equal(1);
    const refused = await dial('a');
    await waitFor('the new connection refused at its hello', () => refused.closed, 5000);
    expect(proxy.stats).to.include({ cut: 2, linksCut: 2 });
  });

  it('reports 0 when no fault is set, whatever the traffic', async () => {
    const p = await dial('a');
    for (let k = 0; k < 20; k++) p.ws.send(`m${k}`);
    await waitFor('20 echoes', () => p.got.length === 20, 5000);
    proxy.heal(); // healing healthy links stops nothing either
    p.ws.send('after');
    await waitFor('the echo after heal', () => p.got.includes('echo:after'), 5000);
    expect(proxy.stats).to.include({ cut: 0, linksCut: 0, swallowed: 0 });
    expect(p.closed).to.equal(false);
  });

  it('loss drops whole messages (fragmented ones too) and keeps the stream well-formed', async () => {
    const p = await dial();
    p.ws.send('hello');
    await waitFor('hello', () => received.length === 1, 5000);
    proxy.set('a', { lossRate: 1 });
    for (let k = 0; k < 10; k++) p.ws.send(`drop${k}`);
    // A fragmented message: three frames, dropped as one.
    p.ws.send('frag-a', { fin: false });
    p.ws.send('frag-b', { fin: false });
    p.ws.send('frag-c', { fin: true });
    // A large one (a 64-bit length header).
    p.ws.send('x'.repeat(70_000));
    await waitFor('12 messages dropped', () => proxy.stats.dropped === 12, 5000);
    proxy.set('a', { lossRate: 0 });
    p.ws.send('kept');
    await waitFor('the next message, intact', () => received.includes('kept'), 5000);
    expect(received).to.deep.equal(['hello', 'kept']);
    expect(p.closed).to.equal(false);
  });

  it('partial loss: the receiver gets a subset in order, nothing corrupted', async () => {
    const p = await dial();
    p.ws.send('hello');
    proxy.set('a', { lossRate: 0.5 });
    for (let k = 0; k < 200; k++) p.ws.send(`m${k}`);
    p.ws.send('x'.repeat(20_000), { fin: false });
    p.ws.send('y'.repeat(20_000));
    // Every message decided (the transport hello, hello, 200, the fragmented one) before the loss ends.
    await waitFor('every message decided', () => proxy.stats.forwarded + proxy.stats.dropped === 203, 5000);
    proxy.set('a', { lossRate: 0 });
    p.ws.send('end');
    await waitFor('end', () => received.includes('end'), 5000);
    const ms = received.filter((m) => m.startsWith('m')).map((m) => Number(m.slice(1)));
    expect(ms.length).to.be.within(20, 180);
    expect(ms).to.deep.equal([...ms].sort((a, b) => a - b));
    for (const m of received) expect(m === 'hello' || m === 'end' || /^m\d+$/.test(m) || m === 'x'.repeat(20_000) + 'y'.repeat(20_000)).to.equal(true);
  });

  it('delay holds each direction back and keeps order under jitter', async () => {
    const p = await dial();
    proxy.set('a', { delayMs: 60, jitterMs: 40 });
    const t0 = Date.now();
    for (let k = 0; k < 30; k++) p.ws.send(`m${k}`);
    await waitFor('30 echoes', () => p.got.length === 30, 5000);
    // Two delayed hops (request and echo), each at least 60 ms.
    expect(Date.now() - t0).to.be.at.least(120);
    expect(received).to.deep.equal(Array.from({ length: 30 }, (_, k) => `m${k}`));
    expect(p.got).to.deep.equal(Array.from({ length: 30 }, (_, k) => `echo:m${k}`));
  });
});
