/**
 * The client library's reporting (a review of 2026-12-07; both failed before): a command whose
 * only attempt was written to the node and may have been applied fails with an unknown outcome
 * (isUnknownOutcome), never with a code that reads as "not applied" (it reported CLIENT_ERR_CLOSED
 * after close(), and CLIENT_ERR_MALFORMED for an answer it could not read). A fake client port
 * (the real protocol over ws) on 127.0.0.1.
 */
import { expect } from 'chai';
import { createClient, isUnknownOutcome } from '../../transport/client/client.js';
import { encodeResult } from '../../transport/client/protocol.js';
import { fakeClientPort, registered } from './fakeClientPort.js';

describe('client: what a command in flight reports (2026-12-07)', function () {
  this.timeout(20_000);

  it('close() while the only attempt is written and unanswered: an unknown outcome, not CLIENT_ERR_CLOSED', async () => {
    const node = await fakeClientPort('once-test', (req, reply) => {
      if (req.op === 'register') reply(registered(req.reqId));
      // Commands: taken, never answered.
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
    const node = await fakeClientPort('once-test', (req, reply) => {
      if (req.op === 'register') return reply(registered(req.reqId));
      // A result with a body this library cannot read (a node of another version, say).
      reply(encodeResult(req.reqId, ['not a result']));
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
