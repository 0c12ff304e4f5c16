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
import WebSocket from 'ws';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import { idFromHex } from '../../transport/client/protocol.js';
import { startInProcessCluster, waitFor, type InProcessCluster } from './helpers.js';
import { MiB, metric, pausedReader, peeksInOneWrite, sessionOf960KiB } from './slowReaders.js';

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
    const id = await sessionOf960KiB(c, 'big');
    // A client that reads still gets a whole answer well above the limit's share.
    expect((await c.get(id))!.records).to.have.length(15);

    const ws = await pausedReader(host.clientEndpoint(), raws);
    // 64 answers of 960 KiB (~60 MiB), asked for in one write, none read.
    peeksInOneWrite(ws, idFromHex(id), 64);
    // Answered at once (peek reads this node's state); 5 s is generous on a loaded box.
    await waitFor('the node to cut the connection that does not read', async () => (await metric(adminPort, 'sessionraft_client_connections')) === 1, 5000, 50);
    expect(await metric(adminPort, 'sessionraft_rejected_total', 'source="client"', 'code="CLIENT_ERR_SLOW_READER"')).to.equal(1);
    // The reading client is untouched.
    expect((await c.get(id))!.records).to.have.length(15);
  });
});
