/**
 * Storage benchmark: append throughput with group commit (a steady stream of writers) against one
 * fdatasync per entry, for 128 B and 4 KiB entries, and the time to open a log of 1,000,000 entries.
 * Real files in a temporary directory, removed afterwards.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry } from '../../machines/types.js';
import { openLog, type OpenedLog } from '../../storage/openLog.js';
import type { WalOptions } from '../../storage/options.js';
import { realFs } from '../../storage/realFs.js';
import type { BenchContext } from './cli.js';

const MB = 1_000_000;

function open(dir: string, options: WalOptions = {}): Promise<OpenedLog> {
  return new Promise((resolve, reject) => openLog(realFs, dir, options, (err, o) => (err ? reject(err) : resolve(o!))));
}

function close(o: OpenedLog): Promise<void> {
  return new Promise((resolve, reject) => o.log.close((err) => (err ? reject(err) : resolve())));
}

function makeEntry(index: number, data: Uint8Array): Entry {
  return { index, term: 1, kind: 1, data };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/**
 * `writers` writes of one entry each are kept outstanding: every durable report lets the writers
 * whose writes it covered issue their next one (a steady stream, as many clients would produce).
 * With writers = 1 this is "write, wait until durable, write the next": one fdatasync per entry.
 */
async function append(dir: string, payloadBytes: number, count: number, writers: number): Promise<Record<string, number>> {
  const o = await open(dir);
  const data = new Uint8Array(payloadBytes).fill(7);
  await new Promise<void>((resolve, reject) => {
    o.log.onDurable = () => resolve();
    o.log.onFatal = reject;
    o.log.write({ entries: [], hardState: { term: 1, vote: null } });
  });
  const syncsBefore = o.log.stats.fdatasyncs;
  const issuedAt = new Float64Array(count + 2);
  const latenciesMs: number[] = [];
  let nextIndex = 1;
  let firstSeq = 0;
  let acked = 0;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const issue = (): void => {
      const seq = o.log.write({ entries: [makeEntry(nextIndex, data)] });
      if (firstSeq === 0) firstSeq = seq;
      issuedAt[seq - firstSeq] = performance.now();
      nextIndex++;
    };
    o.log.onFatal = reject;
    o.log.onDurable = (seq) => {
      const now = performance.now();
      const upTo = seq - firstSeq + 1;
      for (let k = acked; k < upTo; k++) latenciesMs.push(now - issuedAt[k]!);
      const newly = upTo - acked;
      acked = upTo;
      if (acked >= count) {
        resolve();
        return;
      }
      for (let k = 0; k < newly && nextIndex <= count; k++) issue();
    };
    for (let k = 0; k < writers && nextIndex <= count; k++) issue();
  });
  const seconds = (performance.now() - started) / 1000;
  const fdatasyncs = o.log.stats.fdatasyncs - syncsBefore;
  await close(o);
  latenciesMs.sort((a, b) => a - b);
  return {
    entries: count,
    writers,
    seconds,
    entriesPerSec: count / seconds,
    mbPerSec: (count * payloadBytes) / MB / seconds,
    fdatasyncs,
    entriesPerFdatasync: count / Math.max(1, fdatasyncs),
    latencyMsP50: percentile(latenciesMs, 50),
    latencyMsP99: percentile(latenciesMs, 99),
  };
}

/** Fills a log with `count` entries in large writes, then measures a full open (read, parse, repairs, syncs). */
async function openTime(dir: string, payloadBytes: number, count: number, ctx: BenchContext): Promise<Record<string, number>> {
  const o = await open(dir);
  const data = new Uint8Array(payloadBytes).fill(9);
  const perWrite = 1000;
  let next = 1;
  await new Promise<void>((resolve, reject) => {
    let last = 0;
    o.log.onFatal = reject;
    o.log.onDurable = (seq) => {
      if (seq === last && next > count) resolve();
    };
    o.log.write({ entries: [], hardState: { term: 1, vote: null } });
    while (next <= count) {
      const n = Math.min(perWrite, count - next + 1);
      const batch: Entry[] = new Array(n);
      for (let k = 0; k < n; k++) batch[k] = makeEntry(next + k, data);
      next += n;
      last = o.log.write({ entries: batch });
    }
  });
  await close(o);
  ctx.progress(`storage: wrote ${count} entries, opening in a fresh process`);
  // A restarting node opens its log in a fresh process: measure that first, without this
  // process's heap full of the million entries just written.
  const fresh = openInChild(dir);
  if (fresh.entries !== count) throw new Error(`fresh open recovered ${fresh.entries} of ${count} entries`);
  ctx.progress(`storage: opening in this process`);
  const rssBefore = process.memoryUsage().rss;
  const started = performance.now();
  const again = await open(dir);
  const seconds = (performance.now() - started) / 1000;
  const recovered = again.recovered.entries.length;
  if (recovered !== count || again.recovered.corruption !== null) {
    throw new Error(`open recovered ${recovered} of ${count} entries, corruption ${JSON.stringify(again.recovered.corruption)}`);
  }
  const rssMb = (process.memoryUsage().rss - rssBefore) / MB;
  await close(again);
  return {
    entries: count,
    secondsFreshProcess: fresh.seconds,
    secondsInProcess: seconds,
    entriesPerSec: count / fresh.seconds,
    logMb: (count * (payloadBytes + 33)) / MB,
    rssGrowthMb: rssMb,
  };
}

/** Opens the log in a child process and returns how long openLog took there. */
function openInChild(dir: string): { seconds: number; entries: number } {
  const openLogUrl = new URL('../../storage/openLog.js', import.meta.url).href;
  const realFsUrl = new URL('../../storage/realFs.js', import.meta.url).href;
  const script = `
    const { openLog } = await import(${JSON.stringify(openLogUrl)});
    const { realFs } = await import(${JSON.stringify(realFsUrl)});
    const started = performance.now();
    openLog(realFs, ${JSON.stringify(dir)}, {}, (err, o) => {
      if (err) throw err;
      const seconds = (performance.now() - started) / 1000;
      const entries = o.recovered.entries.length;
      o.log.close(() => process.stdout.write(JSON.stringify({ seconds, entries })));
    });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`child open failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { seconds: number; entries: number };
}

export async function run(ctx: BenchContext): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'sessionraft-bench-storage-'));
  let n = 0;
  const fresh = (): string => join(root, `run-${n++}`);
  try {
    for (const payloadBytes of [128, 4096]) {
      const streamCount = ctx.quick ? (payloadBytes === 128 ? 20_000 : 5_000) : payloadBytes === 128 ? 200_000 : 50_000;
      ctx.progress(`storage: group commit, ${payloadBytes} B`);
      for (const writers of [64, 1024]) {
        ctx.report({ scenario: 'append-group-commit', payloadBytes, ...(await append(fresh(), payloadBytes, streamCount, writers)) });
      }
      ctx.progress(`storage: one fdatasync per entry, ${payloadBytes} B`);
      const singleCount = ctx.quick ? 200 : 2_000;
      ctx.report({ scenario: 'append-fsync-per-entry', payloadBytes, ...(await append(fresh(), payloadBytes, singleCount, 1)) });
    }
    const openCount = ctx.quick ? 100_000 : 1_000_000;
    ctx.progress(`storage: writing ${openCount} entries for the open benchmark`);
    ctx.report({ scenario: 'open', payloadBytes: 128, targetSeconds: 3, ...(await openTime(fresh(), 128, openCount, ctx)) });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
