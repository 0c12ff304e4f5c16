/**
 * A fake client port for the client library's tests: the real protocol over ws on 127.0.0.1,
 * with batches on (as real nodes answer), where each test decides every answer.
 */
import { WebSocketServer, type WebSocket } from 'ws';
import { encodeBatch, isBatch, readBatch } from '../../transport/client/batch.js';
import { decodeRequest, encodeCommandResult, encodeWelcome, type Request } from '../../transport/client/protocol.js';

export interface FakeClientPort {
  readonly port: number;
  /** Every request's op, in arrival order. */
  readonly seen: string[];
  close(): Promise<void>;
}

/** `onRequest` answers each request (or not); `reply` sends its frames as one message (a batch for several). */
export async function fakeClientPort(clusterId: string, onRequest: (req: Request, reply: (...frames: Uint8Array[]) => void) => void): Promise<FakeClientPort> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  const seen: string[] = [];
  wss.on('connection', (ws: WebSocket) => {
    ws.send(encodeWelcome(clusterId, 'n1', 1024 * 1024, 1024, true));
    const reply = (...frames: Uint8Array[]): void => {
      ws.send(frames.length === 1 ? frames[0]! : encodeBatch('reply', frames, 0, frames.length));
    };
    ws.on('message', (raw: Buffer) => {
      const data = new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength);
      const frames = isBatch('request', data) ? readBatch('request', data, 4096)! : [data];
      for (const f of frames) {
        const req = decodeRequest(f);
        seen.push(req.op);
        onRequest(req, reply);
      }
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

/** The answer to a `register`: a client ID and secret of sevens. */
export function registered(reqId: number): Uint8Array {
  return encodeCommandResult(reqId, { ok: true, code: 'OK', value: new Uint8Array(32).fill(7), index: 1, term: 1, duplicate: false });
}

/** Whether `cond` held within `ms` (polled every 10 ms): the caller asserts on the answer with its own message. */
export async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}
