/**
 * The client library keeps the seqs it has in flight within SEQ_SPAN_MAX (192) of the oldest one
 * still unanswered, so that the cluster, which remembers 256 results per client
 * (clientResultsMax), never refuses a command that respects the window with
 * SESSIONS_ERR_CLIENT_WINDOW. Issue 16 saw such refusals under overload (docs/performance.md,
 * "Found on the way"); the cause was in the client: when the oldest command's answer let many
 * waiting commands go at once, each checked the span against the same next seq before any of them
 * took one, and together they ran past it.
 *
 * A fake client port (the real protocol over ws on 127.0.0.1) answers every command at once except
 * four pairs of consecutive seqs, each held until the client is blocked on it (it sent the last seq
 * the span allows, so every other command waits), then answered one at a time: the first answer
 * moves the oldest unanswered seq by one and releases every waiting command at once. Every envelope it receives is
 * checked: seq - ackedBelowSeq < 192.
 */
import { expect } from 'chai';
import { WebSocketServer, type WebSocket } from 'ws';
import { createClient } from '../../transport/client/client.js';
import { decodeRequest, encodeCommandResult, encodeWelcome } from '../../transport/client/protocol.js';

describe('client: the seq span stays inside the cluster window', function () {
  this.timeout(20_000);

  it('never sends a seq 192 or more past the oldest unanswered one, also when the oldest answer releases many waiters at once', async () => {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss.once('listening', () => r()));
    const port = (wss.address() as { port: number }).port;
    let spanMax = 0;
    let seqMax = 0;
    const holdAt = new Set([1, 2, 500, 501, 1000, 1001, 1500, 1501]);
    const held = new Map<number, () => void>();
    let released = 0;
    wss.on('connection', (ws: WebSocket) => {
      ws.send(encodeWelcome('span-test', 'n1', 1024 * 1024, 1024));
      ws.on('message', (raw: Buffer) => {
        const req = decodeRequest(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
        const reply = (value: Uint8Array): void =>
          ws.send(encodeCommandResult(req.reqId, { ok: true, code: 'OK', value, index: 1, term: 1, duplicate: false }));
        if (req.op === 'register') return reply(new Uint8Array(32).fill(7));
        if (req.op !== 'create' || req.envelope === null) throw new Error(`unexpected request ${req.op}`);
        const { seq, ackedBelowSeq } = req.envelope;
        spanMax = Math.max(spanMax, seq - ackedBelowSeq);
        seqMax = Math.max(seqMax, seq);
        const answer = (): void => reply(new Uint8Array(16).fill(seq & 0xff));
        if (holdAt.has(seq)) held.set(seq, answer);
        else answer();
      });
    });
    // A held seq s is answered once the client is blocked on it (it sent s + 191, the last seq the
    // span allows): every other command then waits, and the answer releases them all at once. One
    // answer per check, so the second of a pair stays held while the first's waiters go.
    const poll = setInterval(() => {
      for (const [s, h] of held) {
        if (seqMax < s + 191) continue;
        held.delete(s);
        holdAt.delete(s);
        released++;
        h();
        break;
      }
    }, 2);
    const c = createClient({ endpoints: [`127.0.0.1:${port}`], clusterId: 'span-test', inflightCommandsMax: 128 });
    try {
      // 128 workers, bounded: at most 2,000 commands in all, or 15 s.
      let issued = 0;
      const until = Date.now() + 15_000;
      await Promise.all(
        Array.from({ length: 128 }, async () => {
          while (issued < 2000 && Date.now() < until) {
            issued++;
            await c.createSession('t');
          }
        }),
      );
      expect(released, 'the eight held seqs were answered').to.equal(8);
      expect(spanMax, 'the largest seq - ackedBelowSeq the client sent').to.be.below(192);
    } finally {
      clearInterval(poll);
      await c.close();
      await new Promise<void>((r) => wss.close(() => r()));
    }
  });
});
