/**
 * Issue 18: what a restarting node's log costs in memory, without the rest of the node.
 *
 *   node dist/test/bench/logMemory.js write <dir> <entries> <bytes> [snapshotAt]
 *                                                                   write a log of that many entries; with
 *                                                                   snapshotAt, then a snapshot at that index and
 *                                                                   the WAL's compaction (it keeps --log-retain-bytes
 *                                                                   of covered segments), as a node's data directory
 *   node dist/test/bench/logMemory.js open <dir>                      open it, build the in-memory log, walk every entry as apply does
 *   node dist/test/bench/logMemory.js hot                             the leader's hot path on the log alone: CPU per entry
 *
 * `open` prints one JSON line: the times of each phase and the process's peak RSS (VmHWM); run it in
 * a fresh process for each measurement.
 */
import { readFileSync } from 'node:fs';
import { RaftLog } from '../../machines/raftLog.js';
import { EntryKind, type Entry } from '../../machines/types.js';
import { openLog, type OpenedLog } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';

const peakRssMb = (): number => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const open = (dir: string): Promise<OpenedLog> => new Promise((resolve, reject) => openLog(realFs, dir, {}, (err, o) => (err ? reject(err) : resolve(o!))));

async function write(dir: string, count: number, bytes: number, snapshotAt: number): Promise<void> {
  const o = await open(dir);
  const data = new Uint8Array(bytes).map((_, i) => (i * 7) & 0xff);
  await new Promise<void>((resolve, reject) => {
    let last = 0;
    let next = 1;
    o.log.onFatal = reject;
    o.log.onDurable = (seq) => {
      if (seq === last && next > count) resolve();
    };
    o.log.write({ entries: [], hardState: { term: 1, vote: null } });
    while (next <= count) {
      const n = Math.min(1000, count - next + 1);
      const batch: Entry[] = [];
      for (let k = 0; k < n; k++) batch.push({ index: next + k, term: 1, kind: EntryKind.command, data });
      next += n;
      last = o.log.write({ entries: batch });
    }
  });
  if (snapshotAt > 0) {
    await new Promise<void>((resolve, reject) =>
      o.snapshots.save({ index: snapshotAt, term: 1, membership: { voters: ['n1'], learners: [] } }, new Uint8Array(64), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    o.log.compact(snapshotAt);
  }
  await new Promise<void>((r) => o.log.close(() => r()));
}

async function openAndApply(dir: string): Promise<void> {
  const t0 = performance.now();
  let o: OpenedLog | null = await open(dir);
  const tOpen = performance.now();
  const log = RaftLog.recover(o.recovered.snapshot, o.recovered.entries);
  const n = o.recovered.entries.length;
  o = null;
  const tLog = performance.now();
  let sum = 0;
  // As RaftNode.applyThrough: batches of 8,192.
  for (let from = log.firstIndex(); from <= log.lastIndex(); from += 8192) {
    for (const e of log.range(from, Math.min(log.lastIndex(), from + 8191))) sum += e.data.length;
  }
  const tApply = performance.now();
  const ms = (a: number, b: number): number => Math.round(b - a);
  console.log(
    JSON.stringify({
      entries: n,
      openMs: ms(t0, tOpen),
      logMs: ms(tOpen, tLog),
      applyMs: ms(tLog, tApply),
      peakRssMb: Math.round(peakRssMb()),
      logMemoryMb: Math.round(log.memoryBytes() / 2 ** 20),
      dataBytes: sum,
    }),
  );
}

/**
 * The leader's use of the log, 1,024,000 entries: append batches of 128 (fresh data each, as
 * requests bring), slice each for two followers, range it for apply, compact every 10,000 keeping
 * 1,000. Prints CPU microseconds per entry for 147-byte and 4 KiB entries (after a warm-up run).
 */
function hot(): void {
  const run = (size: number): string => {
    const log = new RaftLog();
    const data = new Uint8Array(size).fill(7);
    let next = 1;
    let sum = 0;
    const t0 = process.cpuUsage();
    for (let b = 0; b < 8000; b++) {
      const batch: Entry[] = [];
      for (let k = 0; k < 128; k++) batch.push({ index: next + k, term: 1, kind: EntryKind.command, data: new Uint8Array(data) });
      log.append(batch);
      for (let f = 0; f < 2; f++) sum += log.slice(next, next + 127, 1 << 20, 1024).length;
      sum += log.range(next, next + 127).length;
      next += 128;
      log.persistedIndex = log.lastIndex();
      if (log.lastIndex() - log.snapshotIndex > 11_000) log.compact(log.lastIndex() - 1000);
    }
    const u = process.cpuUsage(t0);
    if (sum !== 3 * 1_024_000) throw new Error('hot: wrong slice lengths');
    return ((u.user + u.system) / 1_024_000).toFixed(2);
  };
  const out: Record<string, string> = {};
  for (const size of [147, 4096]) {
    run(size);
    out[`us${size}`] = run(size);
  }
  console.log(JSON.stringify(out));
}

const [cmd, dir, count, bytes, snapshotAt] = process.argv.slice(2);
if (cmd === 'hot') hot();
else if (cmd === 'write' && dir !== undefined) await write(dir, Number(count ?? 1_000_000), Number(bytes ?? 147), Number(snapshotAt ?? 0));
else if (cmd === 'open' && dir !== undefined) await openAndApply(dir);
else {
  console.error('usage: logMemory.js write <dir> <entries> <bytes> [snapshotAt] | open <dir> | hot');
  process.exitCode = 2;
}
