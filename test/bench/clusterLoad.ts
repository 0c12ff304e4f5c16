/**
 * Closed-loop load for the cluster benchmark: `concurrency` workers, each issuing its next
 * operation as soon as the previous one is acknowledged, for a duration or a count of operations.
 * Latencies are kept per operation (one number each) and summarized as percentiles.
 */

export interface Latencies {
  /** Milliseconds, one per acknowledged operation, in completion order. */
  readonly ms: number[];
}

export interface LoadSummary {
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly firstError: string | null;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

/** Values over several runs: how many, their median (nearest rank: with an even count, the upper middle), least and most. */
export interface Spread {
  readonly runs: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** The spread of at least one value (the input is not changed). */
export function spreadOf(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  return { runs: sorted.length, median: percentile(sorted, 50), min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** `--repeat=N` of a benchmark: how many runs, 1 to `max` (default 1). */
export function repeatOf(args: readonly string[], max: number): number {
  const arg = args.find((a) => a.startsWith('--repeat='));
  const n = arg === undefined ? 1 : Number(arg.slice('--repeat='.length));
  if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--repeat: expected an integer from 1 to ${max}, got ${JSON.stringify(arg)}`);
  return n;
}

export function summarize(latenciesMs: readonly number[], seconds: number, errors: number, firstError: string | null): LoadSummary {
  const sorted = Float64Array.from(latenciesMs).sort();
  const arr = Array.from(sorted);
  return {
    ops: latenciesMs.length,
    errors,
    seconds,
    opsPerSec: latenciesMs.length / seconds,
    p50Ms: percentile(arr, 50),
    p99Ms: percentile(arr, 99),
    maxMs: arr.length > 0 ? arr[arr.length - 1]! : 0,
    firstError,
  };
}

export interface LoadOptions {
  readonly concurrency: number;
  /** Stop issuing after this long (ms) ... */
  readonly durationMs?: number;
  /** ... or after this many operations in total (whichever comes first). */
  readonly opsMax?: number;
  /**
   * One operation of worker `w`. Returns whether it counts (false: housekeeping such as a session
   * rewrite, not timed). Throws on failure (counted as an error; the worker goes on).
   */
  readonly op: (worker: number, seq: number) => Promise<boolean>;
  /** Called about once a second with the operations so far. */
  readonly onProgress?: (ops: number, elapsedMs: number) => void;
  /** Called with each acknowledged timed operation's completion time (performance.now()). */
  readonly onAck?: (at: number, ms: number) => void;
}

/** Runs the closed loop; resolves once every worker finished its last operation. */
export async function closedLoop(o: LoadOptions): Promise<LoadSummary> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | null = null;
  let issued = 0;
  const opsMax = o.opsMax ?? Number.POSITIVE_INFINITY;
  const t0 = performance.now();
  const until = o.durationMs !== undefined ? t0 + o.durationMs : Number.POSITIVE_INFINITY;
  const progress = o.onProgress !== undefined ? setInterval(() => o.onProgress!(latencies.length, performance.now() - t0), 1000) : null;
  const worker = async (w: number): Promise<void> => {
    let seq = 0;
    while (issued < opsMax && performance.now() < until) {
      issued++;
      const s = performance.now();
      try {
        const timed = await o.op(w, seq++);
        const now = performance.now();
        if (timed) {
          latencies.push(now - s);
          o.onAck?.(now, now - s);
        } else issued--;
      } catch (err) {
        errors++;
        firstError ??= String(err instanceof Error ? err.message : err);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)));
  } finally {
    if (progress !== null) clearInterval(progress);
  }
  return summarize(latencies, (performance.now() - t0) / 1000, errors, firstError);
}
