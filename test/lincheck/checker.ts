/**
 * Linearizability checking: the Wing & Gong search with Lowe's memoization (as in the porcupine
 * checker), per partition of the history (P-compositionality).
 *
 * The history is a doubly linked list of call and return entries in time order. The search walks
 * the list from its head: at a call entry it tries to linearize that operation now (the model's
 * step must accept it); on success it lifts the call and its return out of the list, pushes the
 * choice, and starts again from the head. Reaching a return entry means the operation returning
 * there should already have been linearized: backtrack (pop the last choice, put it back, try the
 * next call after it). Lowe's cache remembers every (set of linearized operations, model state)
 * reached; reaching one twice prunes the branch, because what can follow depends only on that pair.
 *
 * Operations with an unknown outcome return at +Infinity: they never block, and the search
 * succeeds as soon as every operation with a definite return is linearized (the rest "did not take
 * effect", or took effect after everything else, which no one observed).
 */
import { performance } from 'node:perf_hooks';
import { describeOperation, parseHistory, type Operation } from './history.js';
import type { Model } from './model.js';

export type Verdict = 'linearizable' | 'not-linearizable' | 'unknown';
export type UnknownReason = 'timeout' | 'steps' | 'memory';

export interface CheckOptions {
  /** Wall-clock budget for the whole history (all partitions), in ms. Default 10 000. */
  readonly timeoutMs?: number;
  /** Search-step budget for the whole history. Default: unbounded. */
  readonly stepsMax?: number;
  /** Memory budget for Lowe's cache (estimated bytes, per partition: a cache dies with its partition). Default 512 MiB. */
  readonly cacheBytesMax?: number;
  /** Stop at the first partition that is not linearizable (default true). */
  readonly stopOnViolation?: boolean;
  /**
   * The monotonic clock (ms) the time budget is read on; default performance.now. A test passes a
   * stepped clock to count, rather than time, how soon the budget stops a search.
   */
  readonly clock?: () => number;
}

export interface Counterexample {
  /** The partition (key) that is not linearizable; null for keyless operations. */
  readonly key: string | null;
  /** The longest linearization the search found, in order. */
  readonly linearized: readonly Operation[];
  /** The model state after `linearized`. */
  readonly state: string;
  /** An operation that had to be linearized next (its return came) but could not be. */
  readonly blocking: Operation;
}

export interface CheckResult {
  readonly verdict: Verdict;
  readonly elapsedMs: number;
  /** Search steps taken (entries visited), over all partitions. */
  readonly steps: number;
  /** Operations in the history, and those the model kept (the others cannot constrain it). */
  readonly operationsCount: number;
  readonly operationsKeptCount: number;
  readonly partitionsCount: number;
  /** Set when `verdict` is `unknown`. */
  readonly unknownReason?: UnknownReason;
  /** Set when `verdict` is `not-linearizable`. */
  readonly counterexample?: Counterexample;
}

const timeoutMsDefault = 10_000;
const cacheBytesMaxDefault = 512 * 1024 * 1024;
/** Estimated bytes of one cache entry besides its bitset: map slot, chain slot, state reference. */
const cacheEntryOverheadBytes = 48;
/** Cache entries the bitset arena starts with (it doubles when full). */
const arenaEntriesInitial = 1024;
/** How often (in steps) the wall clock is consulted. */
export const clockCheckSteps = 1024;

interface Budget {
  readonly clock: () => number;
  readonly deadline: number;
  readonly stepsMax: number;
  readonly cacheBytesMax: number;
  steps: number;
  cacheBytes: number;
  exhausted: UnknownReason | null;
}

interface PartitionResult {
  readonly verdict: Verdict;
  readonly counterexample?: Counterexample;
}

/** Deterministic per-operation random words for incremental (Zobrist) hashing of the linearized set. */
function zobristWords(n: number): Uint32Array {
  const z = new Uint32Array(n);
  let x = 0x2545f491;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    z[i] = x >>> 0;
  }
  return z;
}

function mixHash(a: number, b: number): number {
  let h = (a ^ Math.imul(b, 0x85ebca6b)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h >>> 0;
}

/** Whether the bitset stored at `offset` in `arena` equals `bits`. */
function sameBits(arena: Uint32Array, offset: number, bits: Uint32Array): boolean {
  for (let i = 0; i < bits.length; i++) if (arena[offset + i] !== bits[i]) return false;
  return true;
}

/** Check one partition: operations that may be linearized independently of every other partition. */
function checkPartition<S>(model: Model<S>, ops: readonly Operation[], budget: Budget): PartitionResult {
  const n = ops.length;
  if (n === 0) return { verdict: 'linearizable' };
  budget.cacheBytes = 0;

  // Entries: 0 is the head sentinel; 1..2n are calls and returns sorted by time. A call at time t
  // and a return at time t cannot both exist (times are event indices), except returns at +Infinity,
  // which keep operation order among themselves.
  const order: { t: number; op: number; call: boolean }[] = [];
  for (let i = 0; i < n; i++) {
    order.push({ t: ops[i]!.call, op: i, call: true });
    order.push({ t: ops[i]!.ret, op: i, call: false });
  }
  order.sort((x, y) => (x.t === y.t ? (x.call === y.call ? x.op - y.op : x.call ? -1 : 1) : x.t < y.t ? -1 : 1));
  const size = 2 * n + 1;
  const entOp = new Int32Array(size).fill(-1);
  const isCall = new Uint8Array(size);
  const match = new Int32Array(size).fill(-1);
  const next = new Int32Array(size).fill(-1);
  const prev = new Int32Array(size).fill(-1);
  const callEntry = new Int32Array(n);
  for (let k = 0; k < order.length; k++) {
    const e = k + 1;
    const o = order[k]!;
    entOp[e] = o.op;
    isCall[e] = o.call ? 1 : 0;
    if (o.call) callEntry[o.op] = e;
    else match[callEntry[o.op]!] = e;
    prev[e] = e - 1;
    next[e - 1] = e;
  }
  next[size - 1] = -1;

  const lift = (e: number): void => {
    next[prev[e]!] = next[e]!;
    if (next[e]! !== -1) prev[next[e]!] = prev[e]!;
    const m = match[e]!;
    next[prev[m]!] = next[m]!;
    if (next[m]! !== -1) prev[next[m]!] = prev[m]!;
  };
  const unlift = (e: number): void => {
    const m = match[e]!;
    next[prev[m]!] = m;
    if (next[m]! !== -1) prev[next[m]!] = m;
    next[prev[e]!] = e;
    if (next[e]! !== -1) prev[next[e]!] = e;
  };

  let definiteLeft = 0;
  const definite = new Uint8Array(n);
  for (let k = 0; k < n; k++) {
    if (Number.isFinite(ops[k]!.ret)) {
      definite[k] = 1;
      definiteLeft++;
    }
  }

  const words = Math.ceil(n / 32);
  const bits = new Uint32Array(words);
  const zob = zobristWords(n);
  let bitsHash = 0;
  // Lowe's cache without an allocation per entry: entry k's bitset is arena[k*words .. (k+1)*words),
  // its state cacheState[k]; `cache` maps a hash to its newest entry, `chain[k]` to the one before.
  const cache = new Map<number, number>();
  const chain: number[] = [];
  const cacheState: S[] = [];
  let arena = new Uint32Array(words * arenaEntriesInitial);
  let entries = 0;
  const stackEntry: number[] = [];
  const stackState: S[] = [];
  let state = model.init();
  let bestLength = -1;
  let best: { linearized: number[]; state: S; blocking: number } | null = null;

  let entry = next[0]!;
  while (entry !== -1) {
    budget.steps++;
    if (budget.steps > budget.stepsMax) {
      budget.exhausted = 'steps';
      return { verdict: 'unknown' };
    }
    if (budget.steps % clockCheckSteps === 0 && budget.clock() > budget.deadline) {
      budget.exhausted = 'timeout';
      return { verdict: 'unknown' };
    }
    const i = entOp[entry]!;
    if (isCall[entry] === 1) {
      const [ok, nextState] = model.step(state, ops[i]!);
      if (ok) {
        const w = i >>> 5;
        const bit = 1 << (i & 31);
        bits[w]! |= bit;
        bitsHash ^= zob[i]!;
        const h = mixHash(bitsHash, model.hash(nextState));
        const head = cache.get(h) ?? -1;
        let seen = false;
        for (let k = head; k !== -1; k = chain[k]!) {
          if (sameBits(arena, k * words, bits) && model.equal(cacheState[k]!, nextState)) {
            seen = true;
            break;
          }
        }
        if (!seen) {
          if ((entries + 1) * words > arena.length) {
            const grown = new Uint32Array(arena.length * 2);
            grown.set(arena);
            arena = grown;
          }
          arena.set(bits, entries * words);
          cacheState.push(nextState);
          chain.push(head);
          cache.set(h, entries);
          entries++;
          budget.cacheBytes += words * 4 + cacheEntryOverheadBytes;
          if (budget.cacheBytes > budget.cacheBytesMax) {
            budget.exhausted = 'memory';
            return { verdict: 'unknown' };
          }
          stackEntry.push(entry);
          stackState.push(state);
          state = nextState;
          lift(entry);
          if (definite[i] === 1) definiteLeft--;
          if (definiteLeft === 0) return { verdict: 'linearizable' };
          entry = next[0]!;
          continue;
        }
        bits[w]! &= ~bit;
        bitsHash ^= zob[i]!;
      }
      entry = next[entry]!;
      continue;
    }
    // A return entry: its operation should have been linearized by now.
    if (definite[i] === 0) return { verdict: 'linearizable' };
    if (stackEntry.length > bestLength) {
      bestLength = stackEntry.length;
      best = { linearized: stackEntry.map((e) => entOp[e]!), state, blocking: i };
    }
    if (stackEntry.length === 0) return violation(model, ops, best!);
    const back = stackEntry.pop()!;
    state = stackState.pop()!;
    const j = entOp[back]!;
    bits[j >>> 5]! &= ~(1 << (j & 31));
    bitsHash ^= zob[j]!;
    if (definite[j] === 1) definiteLeft++;
    unlift(back);
    entry = next[back]!;
  }
  // The list only ends after a return entry, so the walk leaves the loop only when it is empty.
  return { verdict: 'linearizable' };
}

function violation<S>(model: Model<S>, ops: readonly Operation[], best: { linearized: number[]; state: S; blocking: number }): PartitionResult {
  return {
    verdict: 'not-linearizable',
    counterexample: {
      key: ops[0]!.key,
      linearized: best.linearized.map((k) => ops[k]!),
      state: model.describe !== undefined ? model.describe(best.state) : JSON.stringify(best.state),
      blocking: ops[best.blocking]!,
    },
  };
}

/** Check a parsed history against a model. */
export function checkOperations<S>(model: Model<S>, history: readonly Operation[], options: CheckOptions = {}): CheckResult {
  const clock = options.clock ?? (() => performance.now());
  const started = clock();
  const budget: Budget = {
    clock,
    deadline: started + (options.timeoutMs ?? timeoutMsDefault),
    stepsMax: options.stepsMax ?? Number.POSITIVE_INFINITY,
    cacheBytesMax: options.cacheBytesMax ?? cacheBytesMaxDefault,
    steps: 0,
    cacheBytes: 0,
    exhausted: null,
  };
  const stopOnViolation = options.stopOnViolation ?? true;
  const kept: Operation[] = [];
  for (const op of history) {
    const p = model.prepare !== undefined ? model.prepare(op) : op;
    if (p !== null) kept.push(p);
  }
  const simplified = model.simplify !== undefined ? model.simplify(kept) : kept;
  const partitions = model.partition !== undefined ? model.partition(simplified) : [simplified];
  let verdict: Verdict = 'linearizable';
  let counterexample: Counterexample | undefined;
  for (const part of partitions) {
    const r = checkPartition(model, part, budget);
    if (r.verdict === 'not-linearizable') {
      verdict = 'not-linearizable';
      counterexample ??= r.counterexample;
      if (stopOnViolation) break;
    } else if (r.verdict === 'unknown') {
      if (verdict === 'linearizable') verdict = 'unknown';
      break; // the budget is shared: nothing is left for the other partitions
    }
  }
  const result: {
    -readonly [K in keyof CheckResult]: CheckResult[K];
  } = {
    verdict,
    elapsedMs: clock() - started,
    steps: budget.steps,
    operationsCount: history.length,
    operationsKeptCount: simplified.length,
    partitionsCount: partitions.length,
  };
  if (verdict === 'unknown' && budget.exhausted !== null) result.unknownReason = budget.exhausted;
  if (counterexample !== undefined) result.counterexample = counterexample;
  return result;
}

/** Parse a JSON-lines history and check it. Throws `HistoryError` on malformed input. */
export function checkHistory<S>(model: Model<S>, text: string, options: CheckOptions = {}): CheckResult {
  return checkOperations(model, parseHistory(text), options);
}

/** A multi-line human explanation of a counterexample. */
export function formatCounterexample(c: Counterexample): string {
  const lines = [`partition key: ${c.key ?? '(none)'}`, `longest linearizable prefix (${c.linearized.length} operations):`];
  for (const op of c.linearized) lines.push(`  ${describeOperation(op)}`);
  lines.push(`state after it: ${c.state}`);
  lines.push(`cannot be linearized next: ${describeOperation(c.blocking)}`);
  return lines.join('\n');
}
