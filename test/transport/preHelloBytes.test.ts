/**
 * Bytes a stranger may send before its hello (a review of the peer transport, 2026-12-07): the
 * acceptor buffered a first frame of up to frameBytesMax (4 MiB) for the handshake timeout, on each
 * of inboundConnectionsMax connections (256, 32 per address), before the connection had proved
 * anything; a valid hello is under 400 bytes. Now a connection that sends more than 64 KiB before
 * its hello is accepted is closed at once and counted (TRANSPORT_ERR_FRAME_TOO_LARGE).
 */
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import { closeTransport, testSecret, waitFor } from '../transport/helpers.js';

describe('transport: bytes before the hello are bounded (2026-12-07)', function () {
  this.timeout(30_000);

  it('16 connections that each start a 4 MiB first frame and never finish it are closed by the node, long before the handshake timeout', async function () {
    const t = new WsTransport({ nodeId: 'n0', clusterId: 'c1', peers: { p1: null }, clusterSecret: testSecret(), handshakeTimeoutMs: 20_000 });
    const { port } = await t.listen();
    const N = 16;
    const clients: WebSocket[] = [];
    const closed = new Set<WebSocket>();
    try {
      for (let i = 0; i < N; i++) {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
        ws.on('error', () => {});
        ws.on('close', () => closed.add(ws));
        await new Promise<void>((resolve, reject) => {
          ws.once('open', () => resolve());
          ws.once('error', reject);
        });
        clients.push(ws);
      }
      // Each: one fragment of 4 MiB - 64 KiB with fin unset: a first frame that never ends.
      const chunk = Buffer.alloc(4 * 1024 * 1024 - 64 * 1024, 0x41);
      for (const ws of clients) ws.send(chunk, { binary: true, fin: false });
      // The handshake timeout is 20 s: only the pre-hello bound closes them within 10.
      await waitFor(() => closed.size === N, 'the node to close every connection that sent too much before its hello', 10_000);
      assert.ok((t.stats().rejected['TRANSPORT_ERR_FRAME_TOO_LARGE'] ?? 0) >= N, JSON.stringify(t.stats().rejected));
    } finally {
      for (const ws of clients) ws.terminate();
      await closeTransport(t);
    }
  });
});
