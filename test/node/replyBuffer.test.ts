/**
 * The client port's memory against a client that pipelines requests and never reads the answers
 * (review of 2026-12-07): replies went straight into the connection's socket (ws `bufferedAmount`)
 * with no bound, since a request stops counting toward inflightRequestsMax once it is answered, not
 * once its answer left. A raw client with its socket paused that asks for a 960 KiB session 64
 * times made the node hold ~60 MiB for it, and kept it for as long as the socket stayed open.
 * Now a connection whose socket holds more than sendBufferedBytesMax is cut
 * (CLIENT_ERR_SLOW_READER, counted), while a client that reads gets every answer.
 */
import { expect } from 'chai';
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import { encodeRequest, idFromHex } from '../../transport/client/protocol.js';
import { httpGet, startInProcessCluster, waitFor, type InProcessCluster } from './helpers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A metric's value in a node's /metrics (the sum over the lines that contain every part). */
async function metric(adminPort: number, name: string, ...parts: string[]): Promise<number> {
  const m = await httpGet(`http://127.0.0.1:${adminPort}/metrics`);
  let sum = 0;
  for (const line of m.body.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (parts.every((p) => line.includes(p))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

describe('node: a client that never reads its answers is cut at sendBufferedBytesMax', function () {
  this.timeout(30_000);
  let cluster: InProcessCluster;
  let c: SessionraftClient | null = null;
  const raws: WebSocket[] = [];

  before(async () => {
    cluster = await startInProcessCluster(1, { clientLimits: { sendBufferedBytesMax: 8 * MiB } });
    await waitFor('a leader', () => cluster.leader(), 5000);
  });
  after(async () => {
    for (const ws of raws) ws.terminate();
    await c?.close();
    await cluster?.stop();
  });

  it('ends the connection with CLIENT_ERR_SLOW_READER (counted) instead of buffering every answer', async () => {
    const host = cluster.leader()!;
    const adminPort = host.addresses.admin.port;
    c = createClient({ endpoints: cluster.endpoints(), clusterId: 'test' });
    const { id } = await c.createSession('big');
    // 15 records of 64 KiB (recordBytesMax): a session of 960 KiB, within sessionBytesMax.
    for (let j = 0; j < 15; j++) await c.append(id, new Uint8Array(64 * KiB).fill(j));
    // A client that reads still gets a whole answer well above the limit's share.
    expect((await c.get(id))!.records).to.have.length(15);

    const ws = new WebSocket(`ws://${host.clientEndpoint()}/`, { perMessageDeflate: false });
    raws.push(ws);
    await new Promise<void>((res, rej) => {
      ws.once('message', () => res());
      ws.once('error', rej);
    });
    const sock = (ws as unknown as { _socket: Socket })._socket;
    sock.pause();
    const session = idFromHex(id);
    // 64 answers of 960 KiB (~60 MiB), asked for in one write, none read.
    sock.cork();
    for (let r = 1; r <= 64; r++) ws.send(encodeRequest({ op: 'peek', reqId: r, session }));
    sock.uncork();
    // Answered at once (peek reads this node's state); 5 s is generous on a loaded box.
    await waitFor('the node to cut the connection that does not read', async () => (await metric(adminPort, 'sessionraft_client_connections')) === 1, 5000, 50);
    expect(await metric(adminPort, 'sessionraft_rejected_total', 'source="client"', 'code="CLIENT_ERR_SLOW_READER"')).to.equal(1);
    // The reading client is untouched.
    expect((await c.get(id))!.records).to.have.length(15);
  });
});
