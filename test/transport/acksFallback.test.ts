/**
 * The client's batched acks (op `acks`, 26, 2026-12-05) against a node of an older version, which
 * does not know op 26 and answers it with CLIENT_ERR_MALFORMED ('unknown op 26'). The client
 * must then send each ack of that batch again on its own as `ack` (18), and from then on send
 * single acks on that connection, never `acks` again.
 *
 * The "older node" is a fake client port (the real protocol over ws on 127.0.0.1): it welcomes,
 * answers `consume` with subId 1 and pushes group deliveries, refuses `acks` as an older decoder
 * would, and takes every `ack`. The consumer's handlers all wait for one shared promise that
 * resolves once the whole round was received, so their acks are made together (one microtask wave)
 * and the client batches them.
 */
import { expect } from 'chai';
import { WebSocketServer, type WebSocket } from 'ws';
import { createClient, type ClientError, type GroupMessage, type SessionraftClient } from '../../transport/client/client.js';
import {
  decodeRequest,
  encodeCommandResult,
  encodeError,
  encodeGroupDelivery,
  encodeResult,
  encodeWelcome,
  idToHex,
  type Request,
} from '../../transport/client/protocol.js';
import { waitFor } from './helpers.js';

const CLUSTER = 'acks-fallback';
const SUB_ID = 1;
const TOPIC = 't';
/** A failure detector, not a delay: every step here takes a few ms on loopback. */
const WAIT_MS = 1000;

/** Delivery k's restore ID and session: 16 distinct bytes each. */
const restoreIdOf = (k: number): Uint8Array => new Uint8Array(16).fill(0xa0 + k);
const sessionOf = (k: number): Uint8Array => new Uint8Array(16).fill(0x10 + k);

type AckRequest = Extract<Request, { op: 'ack' }>;
type AcksRequest = Extract<Request, { op: 'acks' }>;

interface Round {
  readonly size: number;
  received: number;
  readonly open: () => void;
  readonly gate: Promise<void>;
}

describe('client: batched acks fall back to single acks on a node without op 26', function () {
  this.timeout(3000);

  let wss: WebSocketServer | null = null;
  let client: SessionraftClient | null = null;
  /** Every request the fake node decoded, in arrival order. */
  let requests: Request[] = [];
  /** Requests the fake node was not built for (answered with an error so that nothing hangs). */
  let unexpected: string[] = [];
  /** The consumer's connection on the fake node's side. */
  let peer: WebSocket | null = null;
  /**
   * How the fake node answers `acks`: as an older node ('old'), with statuses no version sends
   * ('unreadable'), or by dropping the connection with the request taken ('drop'); and `ack`.
   */
  let acksReply: 'old' | 'unreadable' | 'drop' = 'old';
  let ackReply: 'ok' | 'unreadable' = 'ok';
  /** Deliveries 1-3 pushed on `consume` (off once, so that a reattached consumer gets none again). */
  let pushOnConsume = true;

  const push = (ks: readonly number[]): void => {
    // One send per delivery, all in this turn: they reach the client in one read (or back to back).
    for (const k of ks) {
      peer!.send(
        encodeGroupDelivery({ subId: SUB_ID, topic: TOPIC, session: sessionOf(k), records: [Uint8Array.of(k, k, k)], restoreId: restoreIdOf(k), delivery: 1 }),
      );
    }
  };

  /** A client of the fake node, with short deadlines. */
  const connectClient = (): SessionraftClient =>
    createClient({
      endpoints: [`127.0.0.1:${(wss!.address() as { port: number }).port}`],
      clusterId: CLUSTER,
      ignoreEnvironment: true,
      connectTimeoutMs: 1000,
      requestTimeoutMs: 1000,
      operationTimeoutMs: 1500,
    });

  beforeEach(async () => {
    requests = [];
    unexpected = [];
    peer = null;
    acksReply = 'old';
    ackReply = 'ok';
    pushOnConsume = true;
    wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    await new Promise<void>((r) => wss!.once('listening', () => r()));
    wss.on('connection', (ws: WebSocket) => {
      ws.send(encodeWelcome(CLUSTER, 'old-node', 256 * 1024, 256));
      ws.on('message', (raw: Buffer, isBinary: boolean) => {
        if (!isBinary) return void unexpected.push('a text frame');
        let req: Request;
        try {
          req = decodeRequest(new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
        } catch (err) {
          return void unexpected.push(`an undecodable frame: ${String(err)}`);
        }
        requests.push(req);
        switch (req.op) {
          case 'consume':
            peer = ws;
            ws.send(encodeResult(req.reqId, [SUB_ID]));
            return pushOnConsume ? push([1, 2, 3]) : undefined;
          case 'acks':
            if (acksReply === 'drop') return ws.terminate();
            // Status 3 is no status of the protocol: an answer the client cannot read.
            if (acksReply === 'unreadable')
              return ws.send(
                encodeResult(
                  req.reqId,
                  req.acks.flatMap(() => [3, 'OK']),
                ),
              );
            // What a node of an older version answers: its decoder has no op 26.
            return ws.send(encodeError(req.reqId, 'CLIENT_ERR_MALFORMED', 'unknown op 26'));
          case 'ack':
            if (ackReply === 'unreadable') return ws.send(encodeResult(req.reqId, ['not a command result']));
            return ws.send(encodeCommandResult(req.reqId, { ok: true, code: '', value: null, index: 0, term: 0, duplicate: false }));
          case 'unsubscribe':
            return ws.send(encodeResult(req.reqId, []));
          default:
            unexpected.push(req.op);
            return ws.send(encodeError(req.reqId, 'CLIENT_ERR_MALFORMED', `the fake node does not answer ${req.op}`));
        }
      });
    });
  });

  afterEach(async () => {
    await client?.close();
    client = null;
    if (wss !== null) {
      // ws 8 leaves open connections open on close(): end them, or close()'s callback waits for them.
      for (const ws of wss.clients) ws.terminate();
      const s = wss;
      await new Promise<void>((r) => s.close(() => r()));
      wss = null;
    }
  });

  it('resends a refused `acks` as single acks, and sends single acks on that connection afterwards', async () => {
    client = connectClient();

    // A round's handlers all wait for its gate, opened once `size` deliveries of it were received.
    const newRound = (size: number): Round => {
      let open = (): void => {};
      const gate = new Promise<void>((r) => (open = r));
      return { size, received: 0, open, gate };
    };
    let round = newRound(3);
    const received: GroupMessage[] = [];
    const answers: { restoreId: string; ack: boolean; outcome: { readonly ok: boolean; readonly code: string } | ClientError }[] = [];
    const errors: ClientError[] = [];

    const consumer = await client.consume(
      TOPIC,
      'g',
      async (m) => {
        received.push(m);
        const r = round;
        if (++r.received === r.size) r.open();
        await r.gate;
      },
      {
        onAnswer: (m, ack, outcome) => answers.push({ restoreId: m.restoreId, ack, outcome }),
        onError: (err) => errors.push(err),
      },
    );

    // Round 1: three acks made together go as one `acks`; refused, each goes again as `ack`.
    await waitFor(() => answers.length >= 3 || unexpected.length > 0, 'onAnswer for the three acks of round 1 (after the fallback to single acks)', WAIT_MS);
    expect(unexpected, 'requests the fake node did not expect').to.deep.equal([]);
    expect(received.map((m) => m.restoreId)).to.deep.equal([1, 2, 3].map((k) => idToHex(restoreIdOf(k))));
    expect(
      requests.map((r) => r.op),
      'the requests of round 1, in order',
    ).to.deep.equal(['consume', 'acks', 'ack', 'ack', 'ack']);
    const batch = requests[1] as AcksRequest;
    expect(batch.subId).to.equal(SUB_ID);
    expect(
      batch.acks.map((a) => ({ restoreId: idToHex(a.restoreId), delivery: a.delivery, remove: a.remove })),
      'the one acks request carries the three acks',
    ).to.deep.equal([1, 2, 3].map((k) => ({ restoreId: idToHex(restoreIdOf(k)), delivery: 1, remove: undefined })));
    const singles1 = requests.slice(2) as AckRequest[];
    expect(
      singles1.map((a) => ({ subId: a.subId, restoreId: idToHex(a.restoreId), delivery: a.delivery, remove: a.remove })),
      'the three single acks resend the batch',
    ).to.have.deep.members([1, 2, 3].map((k) => ({ subId: SUB_ID, restoreId: idToHex(restoreIdOf(k)), delivery: 1, remove: undefined })));
    expect(answers, 'one answer per ack, each taken').to.have.deep.members(
      [1, 2, 3].map((k) => ({ restoreId: idToHex(restoreIdOf(k)), ack: true, outcome: { ok: true, code: '' } })),
    );

    // Round 2: two acks made together on the same connection go as two `ack`s, no `acks` at all.
    round = newRound(2);
    push([4, 5]);
    await waitFor(() => answers.length >= 5 || unexpected.length > 0, 'onAnswer for the two acks of round 2', WAIT_MS);
    expect(unexpected, 'requests the fake node did not expect').to.deep.equal([]);
    expect(received).to.have.length(5);
    const round2 = requests.slice(5);
    expect(
      round2.map((r) => r.op),
      'the requests of round 2: single acks only (the connection remembers)',
    ).to.deep.equal(['ack', 'ack']);
    expect(
      (round2 as AckRequest[]).map((a) => idToHex(a.restoreId)),
      'the single acks of round 2',
    ).to.have.members([4, 5].map((k) => idToHex(restoreIdOf(k))));
    expect(
      requests.filter((r) => r.op === 'acks'),
      'acks requests over the whole test',
    ).to.have.length(1);
    expect(answers.slice(3)).to.have.deep.members([4, 5].map((k) => ({ restoreId: idToHex(restoreIdOf(k)), ack: true, outcome: { ok: true, code: '' } })));
    expect(errors, 'consumer errors').to.deep.equal([]);

    await consumer.close();
    expect(requests.at(-1)).to.deep.include({ op: 'unsubscribe', subId: SUB_ID });
  });
  it('a consumer closed while its first `acks` is unanswered: the acks go again one by one before the unsubscribe', async () => {
    client = connectClient();
    let open = (): void => {};
    const gate = new Promise<void>((r) => (open = r));
    let received = 0;
    let closing: Promise<void> | null = null;
    const answers: string[] = [];
    const consumer = await client.consume(
      TOPIC,
      'g',
      async () => {
        if (++received === 3) {
          open();
          // As the CLI's `consume --count` does: close once the last handler is done, in the next turn.
          setImmediate(() => (closing = consumer.close()));
        }
        await gate;
      },
      { onAnswer: (m, _ack, outcome) => answers.push(`${m.restoreId}:${outcome instanceof Error ? outcome.code : outcome.ok}`) },
    );
    await waitFor(() => closing !== null || unexpected.length > 0, 'the consumer closing', WAIT_MS);
    await closing;
    expect(unexpected, 'requests the fake node did not expect').to.deep.equal([]);
    expect(
      requests.map((r) => r.op),
      'the probe, its acks again one by one, then the unsubscribe',
    ).to.deep.equal(['consume', 'acks', 'ack', 'ack', 'ack', 'unsubscribe']);
    await waitFor(() => answers.length >= 3, 'onAnswer for the three acks', WAIT_MS);
    expect(answers).to.have.members([1, 2, 3].map((k) => `${idToHex(restoreIdOf(k))}:true`));
  });
  /** A consumer whose three handlers resolve together; its answers as `restoreId:outcome`. */
  async function consumeThree(c: SessionraftClient): Promise<{ answers: string[]; consumer: Awaited<ReturnType<SessionraftClient['consume']>> }> {
    let open = (): void => {};
    const gate = new Promise<void>((r) => (open = r));
    let received = 0;
    const answers: string[] = [];
    const consumer = await c.consume(
      TOPIC,
      'g',
      async () => {
        if (++received === 3) open();
        await gate;
      },
      { onAnswer: (m, _ack, outcome) => answers.push(`${m.restoreId}:${outcome.code}`) },
    );
    return { answers, consumer };
  }

  it('an answer the library cannot read, to `acks` or to a lone `ack`, is reported as an unknown outcome (the node processed it)', async () => {
    acksReply = 'unreadable';
    ackReply = 'unreadable';
    client = connectClient();
    const { answers, consumer } = await consumeThree(client);
    await waitFor(() => answers.length >= 3 || unexpected.length > 0, 'onAnswer for the three acks of the unreadable acks answer', WAIT_MS);
    expect(requests.map((r) => r.op)).to.deep.equal(['consume', 'acks']);
    expect(answers).to.have.members([1, 2, 3].map((k) => `${idToHex(restoreIdOf(k))}:CLIENT_ERR_UNKNOWN_OUTCOME`));
    // A lone ack on the same connection, answered in a form that is no command result.
    push([4]);
    await waitFor(() => answers.length >= 4 || unexpected.length > 0, 'onAnswer for the lone ack', WAIT_MS);
    expect(requests.map((r) => r.op)).to.deep.equal(['consume', 'acks', 'ack']);
    expect(answers[3]).to.equal(`${idToHex(restoreIdOf(4))}:CLIENT_ERR_UNKNOWN_OUTCOME`);
    expect(unexpected, 'requests the fake node did not expect').to.deep.equal([]);
    await consumer.close();
  });

  it('an `acks` request lost with its connection is reported as an unknown outcome for each ack, not as "not taken"', async () => {
    acksReply = 'drop';
    client = connectClient();
    const { answers, consumer } = await consumeThree(client);
    pushOnConsume = false;
    await waitFor(() => answers.length >= 3 || unexpected.length > 0, 'onAnswer for the three acks whose connection was dropped', WAIT_MS);
    expect(requests.map((r) => r.op).slice(0, 2)).to.deep.equal(['consume', 'acks']);
    expect(answers).to.have.members([1, 2, 3].map((k) => `${idToHex(restoreIdOf(k))}:CLIENT_ERR_UNKNOWN_OUTCOME`));
    expect(unexpected, 'requests the fake node did not expect').to.deep.equal([]);
    await consumer.close();
  });
});
