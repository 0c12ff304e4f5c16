/**
 * The directed-link proxy of the fault harness, over a real WebSocket pair (ws, as the peer
 * transport uses it): forwarding both ways, reset and blackhole cuts and healing, message loss that
 * keeps the stream well-formed (fragmented messages dropped whole), delay with order kept.
 */
import { expect } from 'chai';
import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { waitFor } from '../node/helpers.js';
import { LinkProxy } from './proxy.js';

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
  let proxy: LinkProxy;
  const peers: Peer[] = [];

  beforeEach(async () => {
    received.length = 0;
    server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
    await new Promise<void>((r) => server.once('listening', () => r()));
    port = (server.address() as AddressInfo).port;
    server.on('connection', (ws) => {
      ws.on('message', (d) => {
        const m = d.toString();
        received.push(m);
        ws.send(`echo:${m}`);
      });
    });
    proxy = new LinkProxy('a', 'b', { host: '127.0.0.1', port });
    await proxy.listen();
  });

  afterEach(async () => {
    for (const p of peers.splice(0)) p.ws.terminate();
    await proxy.close();
    for (const c of server.clients) c.terminate();
    await new Promise<void>((r) => server.close(() => r()));
  });

  // Opens a client through the proxy; resolves once open (or closed, when the link refuses it).
  async function dial(): Promise<Peer> {
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
    return p;
  }

  it('forwards messages both ways', async () => {
    const p = await dial();
    for (let k = 0; k < 20; k++) p.ws.send(`m${k}`);
    // Loopback through one proxy: milliseconds; 5 s is generous.
    await waitFor('20 echoes', () => p.got.length === 20, 5000);
    expect(received).to.deep.equal(Array.from({ length: 20 }, (_, k) => `m${k}`));
    expect(p.got[19]).to.equal('echo:m19');
    expect(proxy.stats.forwarded).to.equal(20);
  });

  it('reset closes open connections and refuses new ones until healed', async () => {
    const p = await dial();
    proxy.set({ mode: 'reset' });
    await waitFor('the open connection closed', () => p.closed, 5000);
    const q = await dial();
    expect(q.closed, 'a new connection is closed on accept').to.equal(true);
    proxy.heal();
    const r = await dial();
    expect(r.closed).to.equal(false);
    r.ws.send('after');
    await waitFor('delivery after healing', () => r.got.includes('echo:after'), 5000);
    expect(proxy.stats.cut).to.be.at.least(2);
  });

  it('blackhole swallows traffic silently; healing closes the stalled connection', async () => {
    const p = await dial();
    p.ws.send('before');
    await waitFor('the first message', () => p.got.length === 1, 5000);
    proxy.set({ mode: 'blackhole' });
    p.ws.send('lost');
    // Nothing arrives, and the connection stays open: check that a later message does not pass either.
    p.ws.send('lost too');
    const q = dial(); // a new connection: accepted, never opened (no upstream)
    await waitFor('the new connection accepted', () => proxy.stats.accepted === 2, 5000);
    expect(received).to.deep.equal(['before']);
    expect(p.closed).to.equal(false);
    proxy.heal();
    await waitFor('the stalled connection closed on heal', () => p.closed, 5000);
    const qp = await q;
    expect(qp.closed, 'the never-opened connection closed on heal').to.equal(true);
    const r = await dial();
    r.ws.send('again');
    await waitFor('delivery after healing', () => r.got.includes('echo:again'), 5000);
    expect(received).to.deep.equal(['before', 'again']);
  });

  it('loss drops whole messages (fragmented ones too) and keeps the stream well-formed', async () => {
    const p = await dial();
    p.ws.send('hello'); // the first message of a connection is never dropped
    await waitFor('hello', () => received.length === 1, 5000);
    proxy.set({ lossRate: 1 });
    for (let k = 0; k < 10; k++) p.ws.send(`drop${k}`);
    // A fragmented message: three frames, dropped as one.
    p.ws.send('frag-a', { fin: false });
    p.ws.send('frag-b', { fin: false });
    p.ws.send('frag-c', { fin: true });
    // A large one (a 64-bit length header).
    p.ws.send('x'.repeat(70_000));
    await waitFor('12 messages dropped', () => proxy.stats.dropped === 12, 5000);
    proxy.set({ lossRate: 0 });
    p.ws.send('kept');
    await waitFor('the next message, intact', () => received.includes('kept'), 5000);
    expect(received).to.deep.equal(['hello', 'kept']);
    expect(p.closed).to.equal(false);
  });

  it('partial loss: the receiver gets a subset in order, nothing corrupted', async () => {
    const p = await dial();
    p.ws.send('hello');
    proxy.set({ lossRate: 0.5 });
    for (let k = 0; k < 200; k++) p.ws.send(`m${k}`);
    p.ws.send('x'.repeat(20_000), { fin: false });
    p.ws.send('y'.repeat(20_000));
    // Every message decided (hello, 200, the fragmented one) before the loss ends.
    await waitFor('every message decided', () => proxy.stats.forwarded + proxy.stats.dropped === 202, 5000);
    proxy.set({ lossRate: 0 });
    p.ws.send('end');
    await waitFor('end', () => received.includes('end'), 5000);
    const ms = received.filter((m) => m.startsWith('m')).map((m) => Number(m.slice(1)));
    expect(ms.length).to.be.within(20, 180);
    expect(ms).to.deep.equal([...ms].sort((a, b) => a - b));
    for (const m of received) expect(m === 'hello' || m === 'end' || /^m\d+$/.test(m) || m === 'x'.repeat(20_000) + 'y'.repeat(20_000)).to.equal(true);
  });

  it('delay holds each direction back and keeps order under jitter', async () => {
    const p = await dial();
    proxy.set({ delayMs: 60, jitterMs: 40 });
    const t0 = Date.now();
    for (let k = 0; k < 30; k++) p.ws.send(`m${k}`);
    await waitFor('30 echoes', () => p.got.length === 30, 5000);
    // Two delayed hops (request and echo), each at least 60 ms.
    expect(Date.now() - t0).to.be.at.least(120);
    expect(received).to.deep.equal(Array.from({ length: 30 }, (_, k) => `m${k}`));
    expect(p.got).to.deep.equal(Array.from({ length: 30 }, (_, k) => `echo:m${k}`));
  });
});
