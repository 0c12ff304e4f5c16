/**
 * A node-wide bound on the bytes held for client connections (connectionsHeldBytesMax, 2026-12-07).
 * Until then each connection was bounded on its own only (sendBufferedBytesMax in its socket,
 * pushQueueBytesMax queued, requests in flight), and connectionsMax connections multiplied that:
 * four raw clients with their sockets paused, each asking for 12 answers of 960 KiB (11.25 MiB,
 * within its own 16 MiB), made the node hold ~45 MiB. Now, once the connections together hold more
 * than connectionsHeldBytesMax (12 MiB here), the one holding the most is cut (CLIENT_ERR_NODE_BUSY,
 * counted) until they fit, and a client that reads is served throughout.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import { decodeServerFrame, encodeRequest, idFromHex } from '../../transport/client/protocol.js';
import { join } from 'node:path';
import { resolveHostConfig } from '../../actors/host/config.js';
import { NodeHost } from '../../actors/host/nodeHost.js';
import { KiB, MiB, metric, pausedReader, peeksInOneWrite, sessionOf960KiB, socketOf } from './slowReaders.js';
import { clusterSecretFile, fastTiming, quietLogger, removeDir, startInProcessCluster, tempDir, waitFor, type InProcessCluster } from './helpers.js';

const HELD_BYTES_MAX = 12 * MiB;
const READERS_PAUSED = 4;
const PEEKS_EACH = 12;

describe('node: the client connections together hold at most connectionsHeldBytesMax', function () {
  this.timeout(30_000);
  let cluster: InProcessCluster;
  let c: SessionraftClient | null = null;
  const raws: WebSocket[] = [];

  before(async () => {
    cluster = await startInProcessCluster(1, { clientLimits: { sendBufferedBytesMax: 16 * MiB, connectionsHeldBytesMax: HELD_BYTES_MAX } });
    await waitFor('a leader', () => cluster.leader(), 5000);
  });
  after(async () => {
    for (const ws of raws) ws.terminate();
    await c?.close();
    await cluster?.stop();
  });

  it('cuts the connections holding the most (CLIENT_ERR_NODE_BUSY, counted) and serves a client that reads', async () => {
    const host = cluster.leader()!;
    const adminPort = host.addresses.admin.port;
    c = createClient({ endpoints: cluster.endpoints(), clusterId: 'test' });
    const id = await sessionOf960KiB(c, 'big');
    expect((await c.get(id))!.records).to.have.length(15);
    const peeksBefore = await metric(adminPort, 'sessionraft_client_requests_total', 'op="peek"');

    const session = idFromHex(id);
    for (let k = 0; k < READERS_PAUSED; k++) {
      const ws = await pausedReader(host.clientEndpoint(), raws);
      // 12 answers of 960 KiB (11.25 MiB: within this connection's own sendBufferedBytesMax and,
      // alone, within the node's bound), asked for in one write, none read.
      peeksInOneWrite(ws, session, PEEKS_EACH);
    }
    // Peeks are answered at once when they arrive (this node's state); 10 s is generous on a loaded box.
    await waitFor(
      'the node to take every peek',
      async () => (await metric(adminPort, 'sessionraft_client_requests_total', 'op="peek"')) >= peeksBefore + READERS_PAUSED * PEEKS_EACH,
      10_000,
      50,
    );
    const cut = await metric(adminPort, 'sessionraft_rejected_total', 'source="client"', 'code="CLIENT_ERR_NODE_BUSY"');
    // 45 MiB asked for; a paused socket's kernel buffers take a few MiB at most, so at least one is cut.
    expect(cut).to.be.at.least(1);
    // Each connection was within its own limit: none was cut for that.
    expect(await metric(adminPort, 'sessionraft_rejected_total', 'source="client"', 'code="CLIENT_ERR_SLOW_READER"')).to.equal(0);
    expect(await metric(adminPort, 'sessionraft_client_held_bytes')).to.be.at.most(HELD_BYTES_MAX);
    expect(await metric(adminPort, 'sessionraft_client_connections')).to.equal(1 + READERS_PAUSED - cut);
    // The reading client is served, with its answers of 960 KiB.
    for (let k = 0; k < 3; k++) expect((await c.get(id))!.records).to.have.length(15);
    expect(await metric(adminPort, 'sessionraft_client_held_bytes')).to.be.at.most(HELD_BYTES_MAX);
  });
});

describe('node: a request of the connection holding the most is refused at connectionsHeldBytesMax', function () {
  this.timeout(30_000);
  let cluster: InProcessCluster;
  let c: SessionraftClient | null = null;
  const raws: WebSocket[] = [];
  const REQUEST_BYTES_MAX = 6 * MiB;

  before(async () => {
    cluster = await startInProcessCluster(1, {
      clientLimits: { sendBufferedBytesMax: 16 * MiB, connectionsHeldBytesMax: HELD_BYTES_MAX, requestBytesMax: REQUEST_BYTES_MAX },
    });
    await waitFor('a leader', () => cluster.leader(), 5000);
  });
  after(async () => {
    for (const ws of raws) ws.terminate();
    await c?.close();
    await cluster?.stop();
  });

  it('answers CLIENT_ERR_NODE_BUSY (counted), keeps the connection and what it holds', async () => {
    const host = cluster.leader()!;
    const adminPort = host.addresses.admin.port;
    c = createClient({ endpoints: cluster.endpoints(), clusterId: 'test' });
    const id = await sessionOf960KiB(c, 'big');
    const session = idFromHex(id);
    const peeksBefore = await metric(adminPort, 'sessionraft_client_requests_total', 'op="peek"');
    const ws = await pausedReader(host.clientEndpoint(), raws);
    const frames: ReturnType<typeof decodeServerFrame>[] = [];
    ws.on('message', (d) => frames.push(decodeServerFrame(d as Buffer)));
    peeksInOneWrite(ws, session, PEEKS_EACH);
    await waitFor(
      'the node to take every peek',
      async () => (await metric(adminPort, 'sessionraft_client_requests_total', 'op="peek"')) >= peeksBefore + PEEKS_EACH,
      10_000,
      50,
    );
    // It holds 7 to 11.25 MiB (a paused socket's kernel buffers take a few MiB at most): a request of
    // ~6 MiB more does not fit within 12 MiB, and this connection holds the most.
    const big = new Uint8Array(REQUEST_BYTES_MAX - 4 * KiB);
    ws.send(encodeRequest({ op: 'schedule', reqId: 100, envelope: null, topic: 'big', bytes: big, replay: { mode: 'class', value: 0 } }));
    await waitFor(
      'the node to refuse the request',
      async () => (await metric(adminPort, 'sessionraft_rejected_total', 'source="client"', 'code="CLIENT_ERR_NODE_BUSY"')) === 1,
      10_000,
      50,
    );
    // Not cut: it still holds its answers, within the bound.
    expect(await metric(adminPort, 'sessionraft_client_connections')).to.equal(2);
    expect(await metric(adminPort, 'sessionraft_client_held_bytes')).to.be.at.most(HELD_BYTES_MAX);
    // Once it reads, it gets every answer, then the typed refusal.
    socketOf(ws).resume();
    await waitFor('the answers and the refusal', () => frames.length >= PEEKS_EACH + 1, 10_000);
    const refusal = frames.find((f) => (f.kind === 'error' || f.kind === 'result') && f.reqId === 100);
    expect(refusal?.kind === 'error' && refusal.code).to.equal('CLIENT_ERR_NODE_BUSY');
    expect(frames.filter((f) => f.kind === 'result')).to.have.length(PEEKS_EACH);
  });
});

describe('node: at connectionsHeldBytesMax the connection cut is the one whose reader lags, not one with requests in flight', function () {
  this.timeout(40_000);
  /** Every fsync reported this much later (the harness's slow disk): a write stays in flight that long. */
  const FSYNC_DELAY_MS = 1500;
  const APPENDS_IN_FLIGHT = 140;
  const dir = tempDir('held');
  let host: NodeHost | null = null;
  let c: SessionraftClient | null = null;
  const raws: WebSocket[] = [];

  after(async () => {
    for (const ws of raws) ws.terminate();
    await c?.close();
    await host?.stop({ transfer: false });
    removeDir(dir);
  });

  it('a client that reads everything, with 8.75 MiB of appends waiting for the disk, keeps its connection; the paused reader is cut', async () => {
    const cfg = resolveHostConfig({
      ...fastTiming,
      clusterId: 'test',
      nodes: { n1: { host: '127.0.0.1', raftPort: 0, clientPort: 0, adminPort: 0 } },
      dataDir: join(dir, 'n1'),
      clusterSecretFile: clusterSecretFile(dir),
      bootstrap: true,
      id: 'n1',
      clientLimits: { sendBufferedBytesMax: 16 * MiB, connectionsHeldBytesMax: HELD_BYTES_MAX },
    });
    host = await NodeHost.start(cfg, { logger: quietLogger, testing: { fsyncDelayMs: FSYNC_DELAY_MS } });
    // An election and its durable vote, each write 1.5 s late: 15 s bounds a loaded box.
    await waitFor('a leader', () => host!.node.raft.role() === 'leader', 15_000);
    const adminPort = host.addresses.admin.port;
    c = createClient({ endpoints: [host.clientEndpoint()], clusterId: 'test', operationTimeoutMs: 20_000 });
    const { id } = await c.createSession('big');
    // 15 records of 64 KiB in one round: a session of 960 KiB to peek at.
    await Promise.all(Array.from({ length: 15 }, (_, j) => c!.append(id, new Uint8Array(64 * KiB).fill(j))));
    const session = idFromHex(id);

    // The writer: a raw connection that reads every answer; 140 appends of 64 KiB wait for the disk.
    const writer = new WebSocket(`ws://${host.clientEndpoint()}/`, { perMessageDeflate: false });
    raws.push(writer);
    const answers: ReturnType<typeof decodeServerFrame>[] = [];
    await new Promise<void>((res, rej) => {
      writer.once('message', () => res());
      writer.once('error', rej);
    });
    let writerClosed = false;
    writer.on('close', () => (writerClosed = true));
    writer.on('message', (d) => answers.push(decodeServerFrame(d as Buffer)));
    const record = new Uint8Array(64 * KiB - 64).fill(7);
    for (let r = 1; r <= APPENDS_IN_FLIGHT; r++) writer.send(encodeRequest({ op: 'append', reqId: r, envelope: null, session, bytes: record }));
    await waitFor(
      'the node to take every append',
      async () => (await metric(adminPort, 'sessionraft_client_held_bytes')) >= APPENDS_IN_FLIGHT * record.length,
      10_000,
      20,
    );

    // The paused reader asks for 12 answers of 960 KiB: the connections together pass 12 MiB.
    const ws = await pausedReader(host.clientEndpoint(), raws);
    peeksInOneWrite(ws, session, PEEKS_EACH);
    await waitFor(
      'a connection cut for the budget',
      async () => (await metric(adminPort, 'sessionraft_rejected_total', 'source="client"', 'code="CLIENT_ERR_NODE_BUSY"')) >= 1,
      10_000,
      20,
    );
    // Until 2026-12-07 the writer was cut (it held the most, all of it requests in flight): its
    // appends then had an unknown outcome. Now the paused reader goes, and every append is answered.
    expect(writerClosed, 'the writer cut').to.equal(false);
    await waitFor('every append answered', () => answers.length >= APPENDS_IN_FLIGHT, 20_000);
    expect(answers.filter((a) => a.kind === 'result')).to.have.length(APPENDS_IN_FLIGHT);
    expect(await metric(adminPort, 'sessionraft_client_connections')).to.equal(2);
  });
});
