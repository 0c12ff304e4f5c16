/**
 * Transport benchmark (`npm run bench -- transport [--quick]`).
 *
 *   codec.*     encode and decode cost per entry of 64-entry append batches (128 B and 4 KiB
 *               entries), and per heartbeat; pure CPU, no sockets.
 *   loopback.*  entry batches per second and MB/s from a leader transport (main thread) to a
 *               follower transport (a worker thread, so each has its own event loop) over
 *               127.0.0.1. The leader keeps `window` batches in flight; the follower answers every
 *               batch with an appendResp on the control channel, as Raft would.
 *   snapshot.*  1 MiB snapshot chunks, same setup.
 *   mask.*      the same 4 KiB run with RFC 6455 random masking on, to justify the zero-mask default.
 *   burst.*     1,000 heartbeats sent in one tick and answered one by one: with same-tick coalescing
 *               (default) and without it (batchMessagesMax 1: one frame per message); both
 *               transports in the main thread.
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Entry, RaftMessage } from '../../machines/types.js';
import { decodeFrame, encodeMessageParts, encodeMessages, encodeMessagesFrameParts, encodeMessagesPrefix } from '../../transport/peer/codec.js';
import { WsTransport } from '../../transport/peer/wsTransport.js';
import type { PeerAddress } from '../../transport/peer/types.js';
import type { BenchContext } from './cli.js';

const CLUSTER = 'bench';

interface FollowerData {
  readonly role: 'transport-bench-follower';
  readonly leader: PeerAddress;
  readonly maskFrames: boolean;
  readonly batchMessagesMax: number;
}

// ------------------------------------------------------------------------------------------------
// Follower (worker thread)
// ------------------------------------------------------------------------------------------------

async function follower(data: FollowerData): Promise<void> {
  const t = new WsTransport({
    nodeId: 'F',
    clusterId: CLUSTER,
    peers: { L: data.leader },
    maskFrames: data.maskFrames,
    batchMessagesMax: data.batchMessagesMax,
  });
  const addr = await t.listen();
  t.onMessage = (m) => {
    if (m.type === 'append') {
      t.send('L', { type: 'appendResp', from: 'F', to: 'L', term: m.term, success: true, index: m.prevIndex + m.entries.length, hintIndex: 0, hintTerm: 0 });
    } else if (m.type === 'snapshot') {
      t.send('L', {
        type: 'snapshotResp',
        from: 'F',
        to: 'L',
        term: m.term,
        index: m.meta.index,
        offset: m.offset + m.data.length,
        done: m.done,
        reject: false,
      });
    } else if (m.type === 'heartbeat') {
      t.send('L', { type: 'heartbeatResp', from: 'F', to: 'L', term: m.term, readCtx: m.readCtx });
    }
  };
  parentPort!.postMessage({ port: addr.port });
  parentPort!.once('message', () => {
    t.close(() => process.exit(0));
  });
}

if (!isMainThread && (workerData as FollowerData | undefined)?.role === 'transport-bench-follower') {
  void follower(workerData as FollowerData);
}

// ------------------------------------------------------------------------------------------------
// Leader side (main thread)
// ------------------------------------------------------------------------------------------------

function entries(prevIndex: number, count: number, entryBytes: number): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < count; i++) out.push({ index: prevIndex + 1 + i, term: 7, kind: 1, data: new Uint8Array(entryBytes).fill(i & 0xff) });
  return out;
}

function append(prevIndex: number, es: Entry[]): RaftMessage {
  return { type: 'append', from: 'L', to: 'F', term: 7, prevIndex, prevTerm: 7, commit: prevIndex, entries: es };
}

function nsPer(ms: number, n: number): number {
  return (ms * 1e6) / n;
}

function codecBench(ctx: BenchContext): void {
  const iterations = ctx.quick ? 2_000 : 20_000;
  const prefix = encodeMessagesPrefix('L', 'F');
  for (const entryBytes of [128, 4096]) {
    const batch = append(1000, entries(1000, 64, entryBytes));
    // The same entries as other Entry objects: the codec keeps the entries section of the last
    // append it encoded (the leader sends the same new entries to every follower), so alternating
    // between the two measures a first encoding every time; `encodeAgainNsPerEntry` is the second
    // follower's (the same Entry objects again).
    const twin = append(1000, batch.type === 'append' ? batch.entries.map((e) => ({ ...e })) : []);
    const iters = entryBytes > 1024 ? Math.max(200, iterations / 8) : iterations;
    for (let i = 0; i < 200; i++) encodeMessagesFrameParts(prefix, [encodeMessageParts(i % 2 === 0 ? batch : twin)]); // warm-up
    let t0 = performance.now();
    let bytes = 0;
    for (let i = 0; i < iters; i++) {
      const frags = encodeMessagesFrameParts(prefix, [encodeMessageParts(i % 2 === 0 ? batch : twin)]);
      bytes = frags.reduce((n, f) => n + f.length, 0);
    }
    const encodeMs = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < iters; i++) encodeMessagesFrameParts(prefix, [encodeMessageParts(batch)]);
    const encodeAgainMs = performance.now() - t0;
    const frame = encodeMessages([batch]);
    for (let i = 0; i < 200; i++) decodeFrame(frame);
    t0 = performance.now();
    for (let i = 0; i < iters; i++) decodeFrame(frame);
    const decodeMs = performance.now() - t0;
    ctx.report({
      scenario: `codec.append64x${entryBytes}B`,
      frameBytes: bytes,
      encodeNsPerEntry: nsPer(encodeMs, iters * 64),
      encodeAgainNsPerEntry: nsPer(encodeAgainMs, iters * 64),
      decodeNsPerEntry: nsPer(decodeMs, iters * 64),
      encodeMBps: (bytes * iters) / 1e6 / (encodeMs / 1000),
      decodeMBps: (bytes * iters) / 1e6 / (decodeMs / 1000),
    });
  }
  const hb: RaftMessage = { type: 'heartbeat', from: 'L', to: 'F', term: 7, commit: 123456, readCtx: 42 };
  const n = iterations * 10;
  let t0 = performance.now();
  for (let i = 0; i < n; i++) encodeMessagesFrameParts(prefix, [encodeMessageParts(hb)]);
  const encodeMs = performance.now() - t0;
  const frame = encodeMessages([hb]);
  t0 = performance.now();
  for (let i = 0; i < n; i++) decodeFrame(frame);
  const decodeMs = performance.now() - t0;
  ctx.report({ scenario: 'codec.heartbeat', frameBytes: frame.length, encodeNsPerMessage: nsPer(encodeMs, n), decodeNsPerMessage: nsPer(decodeMs, n) });
}

interface Pair {
  leader: WsTransport;
  stop(): Promise<void>;
}

async function startPair(maskFrames: boolean): Promise<Pair> {
  const batchMessagesMax = 1024;
  const leader = new WsTransport({ nodeId: 'L', clusterId: CLUSTER, peers: { F: null }, maskFrames, batchMessagesMax });
  const laddr = await leader.listen();
  const worker = new Worker(new URL(import.meta.url), {
    workerData: { role: 'transport-bench-follower', leader: laddr, maskFrames, batchMessagesMax } satisfies FollowerData,
  });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (m: { port: number }) => resolve(m.port));
    worker.once('error', reject);
  });
  leader.setPeer('F', { host: '127.0.0.1', port });
  return {
    leader,
    async stop() {
      const exited = new Promise((r) => worker.once('exit', r));
      worker.postMessage('close');
      await exited;
      await new Promise<void>((r) => leader.close(r));
    },
  };
}

/** Sends `total` messages made by `make(i)`, keeping `window` unacknowledged; resolves with elapsed ms. */
function windowed(leader: WsTransport, total: number, window: number, make: (i: number) => RaftMessage, isAck: (m: RaftMessage) => boolean): Promise<number> {
  return new Promise((resolve) => {
    let sent = 0;
    let acked = 0;
    const t0 = performance.now();
    const pump = (): void => {
      while (sent < total && sent - acked < window) leader.send('F', make(sent++));
    };
    leader.onMessage = (m) => {
      if (!isAck(m)) return;
      acked++;
      if (acked === total) resolve(performance.now() - t0);
      else pump();
    };
    pump();
  });
}

async function loopbackBench(ctx: BenchContext, maskFrames: boolean, prefix: string, sizes: number[]): Promise<void> {
  const pair = await startPair(maskFrames);
  try {
    const window = 32;
    // Warm up the links (connect, handshake, JIT).
    await windowed(
      pair.leader,
      200,
      window,
      (i) => append(i * 64, entries(i * 64, 64, 128)),
      (m) => m.type === 'appendResp',
    );
    for (const entryBytes of sizes) {
      const total = ctx.quick ? (entryBytes > 1024 ? 300 : 2000) : entryBytes > 1024 ? 3000 : 20000;
      // Pre-build the batches so that the measurement is the transport, not the test's allocation.
      const pool = Array.from({ length: 64 }, (_, k) => entries(k * 64, 64, entryBytes));
      const make = (i: number): RaftMessage => {
        const es = pool[i % pool.length]!.map((e, j) => ({ ...e, index: i * 64 + 1 + j }));
        return append(i * 64, es);
      };
      ctx.progress(`${prefix} ${total} batches of 64 x ${entryBytes} B`);
      const ms = await windowed(pair.leader, total, window, make, (m) => m.type === 'appendResp');
      const payloadBytes = total * 64 * entryBytes;
      ctx.report({
        scenario: `${prefix}.append64x${entryBytes}B`,
        batches: total,
        window,
        batchesPerSec: total / (ms / 1000),
        entriesPerSec: (total * 64) / (ms / 1000),
        payloadMBps: payloadBytes / 1e6 / (ms / 1000),
        usPerBatch: (ms * 1000) / total,
      });
    }
    if (!maskFrames) {
      const chunks = ctx.quick ? 32 : 256;
      const MiB = 1024 * 1024;
      const pool = Array.from({ length: 8 }, (_, k) => Buffer.alloc(MiB, k));
      ctx.progress(`${prefix} ${chunks} snapshot chunks of 1 MiB`);
      const ms = await windowed(
        pair.leader,
        chunks,
        8,
        (i) => ({
          type: 'snapshot',
          from: 'L',
          to: 'F',
          term: 7,
          meta: { index: 9, term: 7, membership: { voters: ['L', 'F'], learners: [] } },
          offset: i * MiB,
          totalBytes: chunks * MiB,
          dataCrc: 0,
          data: pool[i % 8]!,
          done: i === chunks - 1,
        }),
        (m) => m.type === 'snapshotResp',
      );
      ctx.report({ scenario: `snapshot.chunks1MiB`, chunks, window: 8, MBps: (chunks * MiB) / 1e6 / (ms / 1000), msPerChunk: ms / chunks });

      // Round trip of a lone heartbeat on an idle control channel.
      const n = ctx.quick ? 500 : 5000;
      const rtts: number[] = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await windowed(
          pair.leader,
          1,
          1,
          () => ({ type: 'heartbeat', from: 'L', to: 'F', term: 7, commit: 0, readCtx: i }),
          (m) => m.type === 'heartbeatResp',
        );
        rtts.push(performance.now() - t0);
      }
      rtts.sort((a, b) => a - b);
      ctx.report({ scenario: 'heartbeat.rtt', samples: n, p50Us: rtts[Math.floor(n / 2)]! * 1000, p99Us: rtts[Math.floor(n * 0.99)]! * 1000 });
    }
  } finally {
    await pair.stop();
  }
}

/**
 * `bursts` rounds of 1,000 heartbeats sent in one tick; each round ends when all 1,000 answers are
 * back. Both transports run in this thread: a round trip between threads on a busy machine is
 * dominated by scheduling, which would hide what coalescing changes.
 */
async function burstBench(ctx: BenchContext, batchMessagesMax: number, name: string): Promise<void> {
  const leader = new WsTransport({ nodeId: 'L', clusterId: CLUSTER, peers: { F: null }, batchMessagesMax });
  const follower = new WsTransport({ nodeId: 'F', clusterId: CLUSTER, peers: { L: null }, batchMessagesMax });
  const [la, fa] = await Promise.all([leader.listen(), follower.listen()]);
  leader.setPeer('F', fa);
  follower.setPeer('L', la);
  follower.onMessage = (m) => {
    if (m.type === 'heartbeat') follower.send('L', { type: 'heartbeatResp', from: 'F', to: 'L', term: m.term, readCtx: m.readCtx });
  };
  try {
    const perBurst = 1000;
    const bursts = ctx.quick ? 20 : 200;
    const round = (): Promise<void> =>
      new Promise((resolve) => {
        let answers = 0;
        leader.onMessage = (m) => {
          if (m.type === 'heartbeatResp' && ++answers === perBurst) resolve();
        };
        for (let i = 0; i < perBurst; i++) leader.send('F', { type: 'heartbeat', from: 'L', to: 'F', term: 7, commit: i, readCtx: i });
      });
    for (let i = 0; i < 3; i++) await round(); // warm-up
    const before = leader.stats();
    const t0 = performance.now();
    for (let i = 0; i < bursts; i++) await round();
    const ms = performance.now() - t0;
    const after = leader.stats();
    ctx.report({
      scenario: `burst.${name}`,
      messages: bursts * perBurst,
      messagesPerSec: (bursts * perBurst) / (ms / 1000),
      messagesPerFrame: (after.sent - before.sent) / (after.framesSent - before.framesSent),
      dropped: after.dropped - before.dropped,
    });
  } finally {
    await Promise.all([new Promise<void>((r) => leader.close(r)), new Promise<void>((r) => follower.close(r))]);
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  codecBench(ctx);
  await burstBench(ctx, 1024, 'coalesced');
  await burstBench(ctx, 1, 'frameEach');
  await loopbackBench(ctx, false, 'loopback', [128, 4096]);
  await loopbackBench(ctx, true, 'mask', [4096]);
}
