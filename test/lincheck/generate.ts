/**
 * Histories generated from reference implementations, linearizable by construction: for property
 * tests, benchmarks of the checker, and self-tests of a workload.
 *
 * Generation: a schedule of steps, each naming a client slot. An idle client invokes its next
 * operation; an invoked one reaches its linearization point (applied atomically to the reference
 * state); an applied one completes. A step may instead crash the client (`info`, before or after the
 * point: the operation may or may not have taken effect) or fail it before the point (a definite
 * failure). A crashed client is replaced by a fresh process id, as in Jepsen.
 */
import { pairOperations, type HistoryEvent, type Json, type Operation } from './history.js';
import { HistoryRecorder } from './recorder.js';
import { notFound } from './sessionsModel.js';

export interface Step {
  /** Which client slot acts (0 .. processes-1). */
  readonly p: number;
  readonly f: number;
  readonly a: number;
  readonly b: number;
  /** 0: crash (info); 1: definite failure before the linearization point; otherwise normal. */
  readonly fault: number;
}

/** A reference implementation: decide an operation at its linearization point. */
export interface Reference<Op> {
  /** The operation a process invokes (f, value, key), from the step that invokes it. */
  choose(step: Step): Op;
  invoke(h: HistoryRecorder, p: number, op: Op): void;
  /** Apply at the linearization point; returns how it completes. */
  apply(op: Op): { type: 'ok' | 'fail'; value?: Json; key?: string; error?: string };
  /** Whether `fail` may mean "did not take effect" (not for cas, whose fail says "expected did not hold"). */
  mayFailWithoutEffect(op: Op): boolean;
  /** A create completed with this id: from now on clients may name it. */
  learn?(key: string): void;
}

type Phase = 'idle' | 'invoked' | 'applied';

/**
 * Run a schedule against a reference: a history whose every operation took effect (if at all) at a
 * point inside its interval, so it is linearizable by construction. `sequential`: each step runs one
 * whole operation (invoke, apply, complete) on a single client.
 */
export function generate<Op>(ref: Reference<Op>, schedule: readonly Step[], sequential: boolean, processesMax = 4): HistoryRecorder {
  const h = new HistoryRecorder();
  let nextProcess = processesMax;
  const pid = Array.from({ length: processesMax }, (_, i) => i);
  const phase: Phase[] = Array<Phase>(processesMax).fill('idle');
  const pending: (Op | null)[] = Array<Op | null>(processesMax).fill(null);
  const result: ({ type: 'ok' | 'fail'; value?: Json; key?: string; error?: string } | null)[] = Array(processesMax).fill(null);
  const crash = (s: number): void => {
    h.info(pid[s]!);
    pid[s] = nextProcess++;
    phase[s] = 'idle';
  };
  for (const step of schedule) {
    const s = sequential ? 0 : step.p;
    const p = pid[s]!;
    if (phase[s] === 'idle') {
      const op = ref.choose(step);
      ref.invoke(h, p, op);
      pending[s] = op;
      phase[s] = 'invoked';
      if (!sequential) continue;
    }
    if (phase[s] === 'invoked') {
      if (step.fault === 0 || (step.fault === 1 && !ref.mayFailWithoutEffect(pending[s]!))) {
        crash(s);
        continue;
      }
      if (step.fault === 1) {
        h.fail(p, 'unavailable');
        phase[s] = 'idle';
        continue;
      }
      result[s] = ref.apply(pending[s]!);
      phase[s] = 'applied';
      if (!sequential) continue;
    }
    // applied: complete
    if (step.fault === 0 && !sequential) {
      crash(s);
      continue;
    }
    const r = result[s]!;
    if (r.type === 'ok') h.ok(p, r.value, r.key);
    else h.fail(p, r.error, r.value);
    if (r.type === 'ok' && r.key !== undefined) ref.learn?.(r.key);
    phase[s] = 'idle';
  }
  return h;
}

/** Insert a read on a fresh process, invoked before event `i` and answered before event `j`. */
export function plantRead(events: readonly HistoryEvent[], i: number, j: number, value: Json, key?: string): Operation[] {
  const lo = Math.min(i % (events.length + 1), j % (events.length + 1));
  const hi = Math.max(i % (events.length + 1), j % (events.length + 1));
  const p = 'planted';
  const inv: HistoryEvent =
    key === undefined ? { process: p, type: 'invoke', f: 'read', value: null } : { process: p, type: 'invoke', f: 'read', value: null, key };
  const ok: HistoryEvent = { ...inv, type: 'ok', value };
  const out = [...events.slice(0, lo), inv, ...events.slice(lo, hi), ok, ...events.slice(hi)];
  return pairOperations(out);
}

// ---- register -------------------------------------------------------------------------------------

export type RegOp = { f: 'read' | 'write' | 'cas'; value: Json };

export function registerReference(): Reference<RegOp> {
  let value: Json = null;
  return {
    choose: (s) => (s.f <= 1 ? { f: 'read', value: null } : s.f <= 3 ? { f: 'write', value: s.a } : { f: 'cas', value: [s.a, s.b] }),
    invoke: (h, p, op) => h.invoke(p, op.f, op.value),
    mayFailWithoutEffect: (op) => op.f !== 'cas',
    apply(op) {
      if (op.f === 'read') return { type: 'ok', value };
      if (op.f === 'write') {
        value = op.value;
        return { type: 'ok' };
      }
      const [expected, next] = op.value as [number, number];
      if (value !== expected) return { type: 'fail' };
      value = next;
      return { type: 'ok' };
    },
  };
}

// ---- sessions -------------------------------------------------------------------------------------

export type SesOp = { f: 'create' | 'append' | 'rewrite' | 'destroy' | 'read'; value: Json; key?: string };

/** `sessionsMax`: once that many sessions were created, creates turn into appends (long sessions). */
export function sessionsReference(sessionsMax = Number.POSITIVE_INFINITY): Reference<SesOp> & { known: string[] } {
  const sessions = new Map<string, Json[] | 'destroyed'>();
  const known: string[] = []; // ids that clients have learned (from a completed create, never earlier)
  let created = 0;
  let unique = 0;
  const pickKey = (a: number): string => (known.length === 0 || a % 5 === 4 ? 'ghost' : known[a % known.length]!);
  return {
    known,
    choose(s) {
      switch (s.f) {
        case 0:
          if (created < sessionsMax) return { f: 'create', value: `topic${s.a}` };
          return { f: 'append', value: `v${unique++}`, key: pickKey(s.a) };
        case 1:
          return { f: 'append', value: `v${unique++}`, key: pickKey(s.a) };
        case 2:
          return s.b === 0 ? { f: 'destroy', value: null, key: pickKey(s.a) } : { f: 'rewrite', value: `v${unique++}`, key: pickKey(s.a) };
        default:
          return { f: 'read', value: null, key: pickKey(s.a) };
      }
    },
    invoke: (h, p, op) => h.invoke(p, op.f, op.value, op.key),
    learn: (key) => known.push(key),
    mayFailWithoutEffect: () => true,
    apply(op) {
      if (op.f === 'create') {
        const id = `s${created++}`;
        sessions.set(id, []);
        return { type: 'ok', key: id };
      }
      const s = sessions.get(op.key!);
      const live = Array.isArray(s) ? s : null;
      if (op.f === 'read') return { type: 'ok', value: live === null ? null : [...live] };
      if (live === null) return { type: 'fail', error: notFound };
      if (op.f === 'append') live.push(op.value);
      else if (op.f === 'rewrite') sessions.set(op.key!, [op.value]);
      else sessions.set(op.key!, 'destroyed');
      return { type: 'ok' };
    },
  };
}

/** A deterministic schedule from a seed (xorshift32), for benchmarks and reproducible runs. */
export function randomSchedule(seed: number, length: number, options: { processes?: number; valuesMax?: number; faultOneIn?: number } = {}): Step[] {
  const processes = options.processes ?? 4;
  const valuesMax = options.valuesMax ?? 5;
  const faultOneIn = options.faultOneIn ?? 25;
  let x = seed >>> 0 || 1;
  const next = (n: number): number => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x % n;
  };
  const steps: Step[] = [];
  for (let i = 0; i < length; i++) {
    steps.push({ p: next(processes), f: next(5), a: next(valuesMax), b: next(valuesMax), fault: next(faultOneIn) });
  }
  return steps;
}
