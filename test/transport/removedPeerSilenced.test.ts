/**
 * A removed peer is silenced at once (a review of the peer transport, 2026-12-07; fails on the code
 * before). removePeer() says "its inbound connections are refused from now on", and
 * close() stops accepting; but an InboundConnection that is closing stays in state 'open' until its
 * socket has closed (InboundConnection.close only sends the close frame), so every frame the removed
 * peer sends before it answers the close frame (up to closeTimeoutMs, 500 ms, if it never answers) is
 * still delivered to onMessage as from that peer.
 */
import assert from 'node:assert/strict';
import type { RaftMessage } from '../../machines/types.js';
import { encodeMessages } from '../../transport/peer/codec.js';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import { closeTransport, RawPeer, testSecret, waitFor } from '../transport/helpers.js';

describe('transport: frames of a removed peer (2026-12-07)', function () {
  this.timeout(20_000);

  it('after removePeer, nothing more from that peer is delivered', async function () {
    const secret = testSecret();
    const t = new WsTransport({ nodeId: 'n0', clusterId: 'c1', peers: { p1: null }, clusterSecret: secret });
    const { port } = await t.listen();
    const delivered: RaftMessage[] = [];
    t.onMessage = (m) => delivered.push(m);
    const peer = await RawPeer.handshake({ url: `ws://127.0.0.1:${port}/`, clusterId: 'c1', from: 'p1', to: 'n0', channel: 'control', secret });
    peer.send(encodeMessages([{ type: 'heartbeat', from: 'p1', to: 'n0', term: 1, commit: 0, readCtx: 1 }]));
    await waitFor(() => delivered.length === 1, 'the first heartbeat');
    t.removePeer('p1');
    // The removed peer keeps talking (it has not read the close frame yet).
    for (let i = 2; i <= 50; i++) peer.send(encodeMessages([{ type: 'heartbeat', from: 'p1', to: 'n0', term: 1, commit: 0, readCtx: i }]));
    await peer.closed();
    await closeTransport(t);
    const after = delivered.filter((m) => m.type === 'heartbeat' && m.readCtx >= 2).length;
    assert.equal(after, 0, `${after} messages of the removed peer p1 were delivered after removePeer('p1')`);
  });
});
