/**
 * The client library's reporting (a review of 2026-12-07; both failed before): a command whose
 * only attempt was written to the node and may have been applied fails with an unknown outcome
 * (isUnknownOutcome), never with a code that reads as "not applied" (it reported CLIENT_ERR_CLOSED
 * after close(), and CLIENT_ERR_MALFORMED for an answer it could not read). A fake client port
 * (the real protocol over ws) on 127.0.0.1.
 */
import { expect } from 'chai';
import { WebSocketServer, type WebSocket } from 'ws';
import { createClient, isUnknownOutcome } from '../../transport/client/client.js';
import { decodeRequest, encodeCommandResult, encodeResult, encodeWelcome } from '../../transport/client/protocol.js';

async function fakeNode(onCommand: (ws: WebSocket, reqId: number, op: string) => void): Promise<{ port: number; seen: string[]; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const seen: string[] = [];
  wss.on('connection', (ws: WebSocket) => {
    ws.send(encodeWelcome('once-test', 'n1', 1024 * 1024, 1024));
    ws.on('message', (raw: Buffer) => {
      const req = decodeRequest(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
      seen.push(req.op);
      if (req.op === 'register')
        return ws.send(encodeCommandResult(req.reqId, { ok: true, code: 'OK', value: new Uint8Array(32).fill(7), index: 1, term: 1, duplicate: false }));
      onCommand(ws, req.reqId, req.op);
    });
  });
  return {
    port: (wss.address() as { port: number }).port,
    seen,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

describe('client: what a command in flight reports (2026-12-07)', function () {
  this.timeout(20_000);

  it('close() while the only attempt is written and unanswered: an unknown outcome, not CLIENT_ERR_CLOSED', async () => {
    const node = await fakeNode(() => {
      /* taken, never answered */
    });
    const c = createClient({ endpoints: [`127.0.0.1:${node.port}`], clusterId: 'once-test', requestTimeoutMs: 5000, operationTimeoutMs: 10_000 });
    try {
      const p = c.createSession('t').then(
        () => 'resolved',
        (err: { code: string }) => err.code,
      );
      while (!node.seen.includes('create')) await new Promise((r) => setTimeout(r, 5));
      await c.close();
      const code = await p;
      expect(isUnknownOutcome(code), `code ${code}`).to.equal(true);
    } finally {
      await c.close();
      await node.close();
    }
  });

  it('an answer the library cannot read, to a command it wrote: an unknown outcome, not MALFORMED', async () => {
    const node = await fakeNode((ws, reqId) => {
      // A result with a body this library cannot read (a node of another version, say).
      ws.send(encodeResult(reqId, ['not a result']));
    });
    const c = createClient({ endpoints: [`127.0.0.1:${node.port}`], clusterId: 'once-test', requestTimeoutMs: 1000, operationTimeoutMs: 3000 });
    try {
      let code = 'resolved';
      try {
        await c.createSession('t');
      } catch (err) {
        code = (err as { code: string }).code;
      }
      expect(isUnknownOutcome(code), `code ${code}`).to.equal(true);
    } finally {
      await c.close();
      await node.close();
    }
  });
});
