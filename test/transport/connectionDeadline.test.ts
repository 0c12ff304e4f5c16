/**
 * The client connection's request deadlines: one sweep timer per connection (not a timer per
 * request). Against a fake node that welcomes and then never answers: each request fails with
 * CLIENT_ERR_TIMEOUT once its own deadline passes, a later request with a shorter timeout is not
 * held back by an earlier, longer one, an answered request is not failed, and closing the
 * connection answers what still waits.
 */
import { expect } from 'chai';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { Connection } from '../../transport/client/connection.js';
import { ClientError, ClientErrorCode } from '../../transport/client/errors.js';
import { decodeRequest, encodeCommandResult, encodeWelcome } from '../../transport/client/protocol.js';

interface FakeNode {
  readonly endpoint: string;
  /** Answers the next request that arrives (the others stay unanswered). */
  answerNext(): void;
  close(): Promise<void>;
}

async function fakeNode(inflightMax = 64): Promise<FakeNode> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  let answer = false;
  wss.on('connection', (ws: WebSocket) => {
    ws.send(encodeWelcome('cluster-a', 'n1', 1 << 20, inflightMax));
    ws.on('message', (data: Buffer) => {
      if (!answer) return;
      answer = false;
      const req = decodeRequest(data);
      ws.send(encodeCommandResult(req.reqId, { ok: true, code: 'OK', index: 7, term: 1, value: null, duplicate: false }));
    });
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    endpoint: `127.0.0.1:${port}`,
    answerNext: () => {
      answer = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => resolve());
      }),
  };
}

/** Settles with the time it took and the error (null: resolved). */
/** Runs `start` and times its promise from before the call (a request takes its deadline inside it). */
async function timed(start: () => Promise<unknown>): Promise<{ ms: number; err: ClientError | null }> {
  const t0 = performance.now();
  try {
    await start();
    return { ms: performance.now() - t0, err: null };
  } catch (err) {
    return { ms: performance.now() - t0, err: err as ClientError };
  }
}

describe('client connection: request deadlines', function () {
  // Bound: the longest deadline below is 2 s; 10 s covers a loaded box.
  this.timeout(10_000);
  let node: FakeNode;
  let conn: Connection;

  beforeEach(async function () {
    node = await fakeNode();
    conn = new Connection(node.endpoint, { connectTimeoutMs: 2_000, replyBytesMax: 1 << 20, clusterId: null });
    await conn.ready;
  });

  afterEach(async function () {
    conn.close();
    await node.close();
  });

  it('fails each unanswered request at its own deadline, a shorter one first', async function () {
    const long = timed(() => conn.request({ op: 'get', session: new Uint8Array(16) }, 2_000));
    let longSettled = false;
    void long.then(() => (longSettled = true));
    // Whether the long one was still waiting when the short one failed (an ordering, not a time).
    const short = timed(() => conn.request({ op: 'get', session: new Uint8Array(16) }, 100)).then((r) => ({ ...r, longWaiting: !longSettled }));
    const [s, l] = await Promise.all([short, long]);
    expect(s.err?.code).to.equal(ClientErrorCode.timeout);
    expect(l.err?.code).to.equal(ClientErrorCode.timeout);
    expect(s.err?.detail).to.match(/within 100 ms/);
    expect(l.err?.detail).to.match(/within 2000 ms/);
    // Never before the deadline (a timer may fire a millisecond early on the loop's clock).
    expect(s.ms).to.be.at.least(98);
    expect(l.ms).to.be.at.least(1_998);
    // The short one was not held until the long one's deadline: it failed while the long one still
    // waited. Until 2026-12-07 this was `s.ms < 1000`, which a loaded box could exceed.
    expect(s.longWaiting, 'the long request still waiting when the short one failed').to.equal(true);
  });

  it('resolves an answered request, and fails only the unanswered one', async function () {
    node.answerNext();
    const answered = timed(() => conn.request({ op: 'get', session: new Uint8Array(16) }, 300));
    const silent = timed(() => conn.request({ op: 'get', session: new Uint8Array(16) }, 300));
    const [a, s] = await Promise.all([answered, silent]);
    expect(a.err).to.equal(null);
    expect(s.err?.code).to.equal(ClientErrorCode.timeout);
  });

  it('fails a request waiting for a free slot at its deadline, while the slots stay taken', async function () {
    // One slot; the first request is never answered, and a timed-out request keeps its slot.
    conn.close();
    await node.close();
    node = await fakeNode(1);
    conn = new Connection(node.endpoint, { connectTimeoutMs: 2_000, replyBytesMax: 1 << 20, clusterId: null });
    await conn.ready;
    const first = timed(() => conn.request({ op: 'get', session: new Uint8Array(16) }, 100));
    const second = timed(() => conn.request({ op: 'get', session: new Uint8Array(16) }, 300));
    const [f, w] = await Promise.all([first, second]);
    expect(f.err?.code).to.equal(ClientErrorCode.timeout);
    expect(w.err?.code).to.equal(ClientErrorCode.timeout);
    expect(w.err?.detail).to.match(/no free request slot/);
    expect(w.ms).to.be.at.least(298);
    // Before the fix it waited for the close (the await above then never returned: the connection
    // closes only in afterEach). It failed with the connection still open. Until 2026-12-07 this was
    // also `w.ms < 3300`, which a loaded box could exceed.
    expect(conn.isOpen, 'failed at its deadline, not at the close').to.equal(true);
  });

  it('answers waiting requests with CONNECTION_LOST when closed, before their deadline', async function () {
    // A deadline far past the test's own timeout: an answer at all comes from the close. Until
    // 2026-12-07 the deadline was 5 s and the test asserted `w.ms < 5000`, a time bound.
    const waiting = timed(() => conn.request({ op: 'get', session: new Uint8Array(16) }, 600_000));
    conn.close();
    const w = await waiting;
    expect(w.err).to.be.instanceOf(ClientError);
    expect(w.err?.code).to.equal(ClientErrorCode.closed);
  });
});
