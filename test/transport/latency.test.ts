/**
 * A heartbeat crosses the control channel without waiting behind the data while a 64 MiB snapshot transfer
 * (64 chunks of 1 MiB, a window of 8 chunks in flight, acknowledged chunk by chunk as a Raft leader
 * would) runs on the data channel between the same two nodes.
 *
 * Both transports share one process and one event loop, so the figure includes the time the loop
 * spends encoding and decoding 1 MiB frames: it is an upper bound on what two processes would see.
 * The measured delays are printed; the assertion counts the chunks that arrive while a heartbeat
 * crosses (until 2026-12-07 it bounded the delay at 200 ms, a time a loaded box could exceed).
 */
import assert from 'node:assert/strict';
import type { RaftMessage } from '../../machines/types.js';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import { closeTransport, waitFor } from './helpers.js';

const MiB = 1024 * 1024;
const CHUNKS = 64;
const CHUNK_BYTES = MiB;
const WINDOW = 8;
const HEARTBEAT_EVERY_MS = 5;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

describe('transport: control channel vs a bulk transfer', function () {
  this.timeout(30_000);

  let leader: WsTransport;
  let follower: WsTransport;

  before(async function () {
    leader = new WsTransport({ nodeId: 'L', clusterId: 'c1', peers: { F: null } });
    follower = new WsTransport({ nodeId: 'F', clusterId: 'c1', peers: { L: null } });
    const [la, fa] = await Promise.all([leader.listen(), follower.listen()]);
    leader.setPeer('F', fa);
    follower.setPeer('L', la);
  });

  after(async function () {
    await Promise.all([closeTransport(leader), closeTransport(follower)]);
  });

  it('heartbeats overtake the chunks in flight while 64 MiB of snapshot chunks cross the data channel', async function () {
    const chunk = (i: number): RaftMessage => ({
      type: 'snapshot',
      from: 'L',
      to: 'F',
      term: 1,
      meta: { index: 1000, term: 1, membership: { voters: ['L', 'F'], learners: [] } },
      offset: i * CHUNK_BYTES,
      totalBytes: CHUNKS * CHUNK_BYTES,
      dataCrc: 0,
      data: Buffer.alloc(CHUNK_BYTES, i & 0xff),
      done: i === CHUNKS - 1,
    });

    const sentAt = new Map<number, number>();
    const delays: number[] = [];
    /** Chunks received by the time each heartbeat was sent, and then how many arrived before it. */
    const chunksAtSend = new Map<number, number>();
    const overtaken: number[] = [];
    let chunksReceived = 0;
    let bytesReceived = 0;
    let corrupt = 0;
    let nextChunk = 0;
    let acked = 0;

    follower.onMessage = (m) => {
      if (m.type === 'heartbeat') {
        const t0 = sentAt.get(m.readCtx);
        if (t0 !== undefined) delays.push(performance.now() - t0);
        const c0 = chunksAtSend.get(m.readCtx);
        if (c0 !== undefined) overtaken.push(chunksReceived - c0);
      } else if (m.type === 'snapshot') {
        const i = m.offset / CHUNK_BYTES;
        if (m.data.length !== CHUNK_BYTES || m.data[0] !== (i & 0xff) || m.data[CHUNK_BYTES - 1] !== (i & 0xff)) corrupt++;
        chunksReceived++;
        bytesReceived += m.data.length;
        follower.send('L', { type: 'snapshotResp', from: 'F', to: 'L', term: 1, index: 1000, offset: m.offset + m.data.length, done: m.done, reject: false });
      }
    };
    const pump = (): void => {
      while (nextChunk < CHUNKS && nextChunk - acked < WINDOW) leader.send('F', chunk(nextChunk++));
    };
    leader.onMessage = (m) => {
      if (m.type === 'snapshotResp') {
        acked++;
        pump();
      }
    };

    // Warm up both links so that connection setup is not measured as heartbeat delay.
    leader.send('F', { type: 'heartbeat', from: 'L', to: 'F', term: 1, commit: 0, readCtx: 0 });
    await waitFor(() => leader.stats().peers['F']?.control === 'open', 'the control link');

    let hb = 0;
    const started = performance.now();
    const ticker = setInterval(() => {
      hb++;
      sentAt.set(hb, performance.now());
      chunksAtSend.set(hb, chunksReceived);
      leader.send('F', { type: 'heartbeat', from: 'L', to: 'F', term: 1, commit: 0, readCtx: hb });
    }, HEARTBEAT_EVERY_MS);
    try {
      pump();
      // 64 MiB over loopback takes well under a second here; 20 s only detects a stall.
      await waitFor(() => chunksReceived === CHUNKS, 'all 64 chunks', 20_000);
    } finally {
      clearInterval(ticker);
    }
    const elapsedMs = performance.now() - started;
    await waitFor(() => delays.length >= hb, 'the last heartbeats');

    const sorted = [...delays].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    const max = sorted[sorted.length - 1]!;
    console.log(
      `      64 MiB in ${elapsedMs.toFixed(0)} ms (${((CHUNKS * CHUNK_BYTES) / MiB / (elapsedMs / 1000)).toFixed(0)} MiB/s); ` +
        `${delays.length} heartbeats during it: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms, max ${max.toFixed(2)} ms`,
    );
    assert.equal(corrupt, 0);
    assert.equal(bytesReceived, CHUNKS * CHUNK_BYTES);
    assert.equal(leader.stats().dropped, 0, 'the window keeps the data link under its buffer cap');
    assert.ok(delays.length >= 1, 'heartbeats were sent during the transfer');
    // Counted, not timed: how many chunks arrived between a heartbeat's send and its arrival. On its
    // own channel a heartbeat overtakes the window in flight (0-3 chunks measured); queued behind
    // the data it waits for most of a window (5-8 measured with heartbeats put on the data
    // channel, which still passed the old 200 ms bound: 31 ms at most). Until 2026-12-07 the test
    // asserted that time bound, which a loaded box could exceed.
    const ov = [...overtaken].sort((a, b) => a - b);
    const p50Overtaken = percentile(ov, 50);
    console.log(`      chunks that arrived while a heartbeat crossed: p50 ${p50Overtaken}, max ${ov[ov.length - 1]!} (window ${WINDOW})`);
    assert.equal(overtaken.length, delays.length);
    assert.ok(p50Overtaken < WINDOW / 2, `half the heartbeats waited behind ${p50Overtaken} or more chunks: queued behind the data?`);
  });
});
