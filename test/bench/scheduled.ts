/**
 * `npm run bench -- scheduled [--scheduled N] [--quick]`
 *
 * The memory of a node holding N scheduled sessions (issue 16: 1,000,000 of 1 KiB under 200 MB),
 * measured in-process on the parts that hold them: the session store on real files, the leader's
 * planner, replay scheduler and consumer-group dispatcher (no network, no Raft log: the log is
 * compacted by snapshots in a node, and its memory is the transport's and the WAL's, measured by
 * `npm run bench -- delayed`'s memory row with real processes).
 *
 * Each session: SessionCreate on one of 100 topics, one 1 KiB SessionAppend, SessionStore into a
 * 2 h class, applied in batches of 256 as Raft hands them over; a consumer group on one topic. Then:
 * 100 scheduler and dispatcher ticks with nothing due (their cost must not grow with N), the
 * visibility view of the group (the first one scans the data files' headers), and finally the
 * clock moved past every due time with nobody consuming, ticking until the scheduler stops
 * restoring: what stays in memory then is bounded by the restored window, not by N.
 *
 * Rows: RSS and V8 heap after a full GC, before and after, per session; ticks in µs; the view in ms.
 */
import { rmSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Dispatcher } from '../../actors/sessions/dispatcher.js';
import { NodeSessionFs } from '../../actors/sessions/fs.js';
import { Planner, type Proposed } from '../../actors/sessions/planner.js';
import { ReplayScheduler } from '../../actors/sessions/scheduler.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import { EntryKind, type Entry } from '../../machines/types.js';
import { CommandKind, commandId, encodeAppend, encodeCommand } from '../../transport/commands/codec.js';
import { tempDir } from '../sessions/helpers.js';
import type { BenchContext } from './cli.js';

const BATCH = 256;
const TOPICS = 100;
const RECORD_BYTES = 1024;
const DELAY_MS = 2 * 3600_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function memory(): { rssMB: number; heapMB: number; heapTotalMB: number; externalMB: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  const mb = (n: number): number => Math.round((n / 1048576) * 10) / 10;
  return { rssMB: mb(m.rss), heapMB: mb(m.heapUsed), heapTotalMB: mb(m.heapTotal), externalMB: mb(m.external) };
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

export async function run(ctx: BenchContext): Promise<void> {
  const k = ctx.args.indexOf('--scheduled');
  const n = k >= 0 ? Number(ctx.args[k + 1]) : ctx.quick ? 50_000 : 1_000_000;
  if (!Number.isSafeInteger(n) || n < 1) throw new Error('--scheduled needs a positive integer');
  const dir = tempDir('bench-scheduled-');
  const before = memory();
  let now = 1_700_000_000_000;
  const clock = (): number => now;
  const store = new SessionsStore({ fs: new NodeSessionFs(dir) });
  let index = 0;
  let queue: Proposed[] = [];
  const planner = new Planner({ store, replayDelaysMs: [DELAY_MS], clock, propose: (b) => queue.push(...b) });
  planner.reset(store, []);
  const scheduler = new ReplayScheduler({ store, planner, clock });
  const results = new Map<number, (r: CommandResult) => void>();
  const dispatcher = new Dispatcher({
    store,
    clock,
    isLeader: () => true,
    submit: (cmd, cb) => {
      const e = entry(encodeCommand(cmd));
      if (cb !== undefined) results.set(e.index, (r) => cb(null, r));
      applyAll([e]);
    },
  });
  function entry(data: Uint8Array): Entry {
    return { index: ++index, term: 1, kind: EntryKind.command, data };
  }
  function applyAll(entries: Entry[]): CommandResult[] {
    planner.appended(entries);
    const out = store.apply(entries) as CommandResult[];
    entries.forEach((e, j) => {
      results.get(e.index)?.(out[j]!);
      results.delete(e.index);
    });
    return out;
  }
  /** Appends and applies what the planner and scheduler proposed, until nothing more comes. */
  function settle(): number {
    let total = 0;
    for (let round = 0; round < 10_000 && queue.length > 0; round++) {
      const batch = queue;
      queue = [];
      total += batch.length;
      for (let j = 0; j < batch.length; j += BATCH) applyAll(batch.slice(j, j + BATCH).map((p) => entry(p.data)));
    }
    return total;
  }
  const ok = (rs: CommandResult[], what: string): void => {
    for (const r of rs) if (!r.ok) throw new Error(`${what}: ${r.code}`);
  };
  try {
    ok(
      applyAll([entry(encodeCommand({ kind: CommandKind.groupCreate, topic: 't0', name: 'g', ackWaitMs: 30_000, maxDeliveries: 5, maxAckPending: 100 }))]),
      'group',
    );
    const payload = new Uint8Array(RECORD_BYTES).fill(0x61);
    const t0 = performance.now();
    for (let done = 0; done < n;) {
      const m = Math.min(BATCH, n - done);
      const creates = Array.from({ length: m }, (_, j) =>
        entry(encodeCommand({ kind: CommandKind.sessionCreate, topic: `t${(done + j) % TOPICS}`, envelope: null })),
      );
      ok(applyAll(creates), 'create');
      const ids = creates.map((e) => commandId(e.term, e.index));
      ok(applyAll(ids.map((id) => entry(encodeAppend(id, payload)))), 'append');
      for (const id of ids) planner.storeSession(id, 0);
      settle();
      scheduler.tick();
      settle();
      done += m;
      if (done % 50_000 < BATCH) ctx.progress(`scheduled: ${done}/${n} stored, ${Math.round((done * 1000) / (performance.now() - t0))}/s`);
    }
    const storeMs = performance.now() - t0;
    if (store.stats().activeSessions !== 0) throw new Error(`${store.stats().activeSessions} sessions still active after storing`);
    const after = memory();
    const diskBytes = dirBytes(dir);
    ctx.report({
      scenario: 'scheduled',
      row: 'memory',
      sessions: n,
      recordBytes: RECORD_BYTES,
      dataFiles: store.stats().dataFiles,
      diskMB: Math.round(diskBytes / 1048576),
      rssBeforeMB: before.rssMB,
      rssMB: after.rssMB,
      heapMB: after.heapMB,
      heapTotalMB: after.heapTotalMB,
      externalMB: after.externalMB,
      bytesPerSession: Math.round(((after.rssMB - before.rssMB) * 1048576) / n),
      storedPerSec: Math.round((n * 1000) / storeMs),
    });

    // Ticks with nothing due: their cost must not grow with N.
    const ticks = 100;
    let t = performance.now();
    for (let j = 0; j < ticks; j++) {
      scheduler.tick();
      dispatcher.tick();
    }
    const tickUs = ((performance.now() - t) * 1000) / ticks;
    const g = store.groupByName('t0', 'g')!;
    t = performance.now();
    store.groupView(g, now);
    const firstViewMs = performance.now() - t;
    // The count of scheduled sessions goes on in steps of 256 KiB (what a node does per tick).
    t = performance.now();
    let steps = 0;
    let stepMsMax = 0;
    for (; steps < 1_000_000 && !store.groupView(g, now).scheduledComplete; steps++) {
      const s0 = performance.now();
      store.advanceScheduledCount(256 * 1024);
      stepMsMax = Math.max(stepMsMax, performance.now() - s0);
    }
    const countMs = performance.now() - t;
    t = performance.now();
    const v1 = store.groupView(g, now);
    const viewMs = performance.now() - t;
    ctx.report({
      scenario: 'scheduled',
      row: 'idle',
      sessions: n,
      tickUs: Math.round(tickUs * 10) / 10,
      scheduledOfTopic: v1.scheduled.reduce((a, c) => a + c.sessions, 0),
      firstViewMs: Math.round(firstViewMs * 10) / 10,
      countSteps: steps,
      countStepMsMax: Math.round(stepMsMax * 10) / 10,
      countSeconds: Math.round(countMs / 100) / 10,
      viewMs: Math.round(viewMs * 100) / 100,
      rssMB: memory().rssMB,
    });

    // Everything falls due and nobody consumes: the scheduler restores until its window (or the
    // active table) stops it; a group's pending items and the restored sessions stay bounded.
    now += DELAY_MS + 1000;
    t = performance.now();
    let restores = 0;
    for (let j = 0; j < 10_000; j++) {
      const proposed = scheduler.tick();
      dispatcher.tick();
      const applied = settle();
      restores += proposed;
      if (proposed === 0 && applied === 0) break;
    }
    const dueMs = performance.now() - t;
    t = performance.now();
    for (let j = 0; j < ticks; j++) {
      scheduler.tick();
      dispatcher.tick();
    }
    const stuckTickUs = ((performance.now() - t) * 1000) / ticks;
    const v2 = store.groupView(g, now);
    const m2 = memory();
    ctx.report({
      scenario: 'scheduled',
      row: 'due, nobody consuming',
      sessions: n,
      proposed: restores,
      activeSessions: store.stats().activeSessions,
      groupPending: v2.ready + v2.inFlight,
      stillScheduled: store.scheduledOf(undefined, 2 ** 40).classes.reduce((a, c) => a + c.sessions, 0),
      tickUs: Math.round(stuckTickUs * 10) / 10,
      seconds: Math.round(dueMs / 100) / 10,
      rssMB: m2.rssMB,
      heapMB: m2.heapMB,
    });
  } finally {
    dispatcher.dispose();
    scheduler.dispose();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
