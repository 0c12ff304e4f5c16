/**
 * Property-based tests (fast-check): histories generated from a reference implementation, with real
 * linearization points inside each operation's interval, are always linearizable; planting a read of
 * a value that was never written always makes them not linearizable.
 *
 * Generation: a schedule of steps, each naming a process. An idle process invokes its next operation;
 * an invoked one reaches its linearization point (applied atomically to the reference state); an
 * applied one completes. A step may instead crash the process (`info`, before or after the point:
 * the operation may or may not have taken effect) or fail it before the point (a definite failure).
 * A crashed process is replaced by a fresh process id, as in Jepsen.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkOperations, type CheckResult } from './checker.js';
import type { HistoryEvent, Json, Operation } from './history.js';
import { pairOperations } from './history.js';
import type { Model } from './model.js';
import { HistoryRecorder } from './recorder.js';
import { registerModel } from './registerModel.js';
import { notFound, sessionsModel } from './sessionsModel.js';

interface Step {
  readonly p: number;
  readonly f: number;
  readonly a: number;
  readonly b: number;
  /** 0: crash (info); 1: definite failure before the linearization point; otherwise normal. */
  readonly fault: number;
}

const processesMax = 4;
const stepArb: fc.Arbitrary<Step> = fc.record({
  p: fc.nat({ max: processesMax - 1 }),
  f: fc.nat({ max: 4 }),
  a: fc.nat({ max: 4 }),
  b: fc.nat({ max: 4 }),
  fault: fc.nat({ max: 24 }),
});
const scheduleArb = fc.array(stepArb, { maxLength: 120, size: 'max' });
const runs = { numRuns: Number(process.env.LINCHECK_RUNS ?? 150) };

/** A reference implementation: decide an operation at its linearization point. */
interface Reference<Op> {
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

function generate<Op>(ref: Reference<Op>, schedule: readonly Step[], sequential: boolean): HistoryRecorder {
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
function plantRead(events: readonly HistoryEvent[], i: number, j: number, value: Json, key?: string): Operation[] {
  const lo = Math.min(i % (events.length + 1), j % (events.length + 1));
  const hi = Math.max(i % (events.length + 1), j % (events.length + 1));
  const p = 'planted';
  const inv: HistoryEvent = key === undefined ? { process: p, type: 'invoke', f: 'read', value: null } : { process: p, type: 'invoke', f: 'read', value: null, key };
  const ok: HistoryEvent = { ...inv, type: 'ok', value };
  const out = [...events.slice(0, lo), inv, ...events.slice(lo, hi), ok, ...events.slice(hi)];
  return pairOperations(out);
}

function check<S>(model: Model<S>, ops: Operation[]): CheckResult {
  return checkOperations(model, ops, { timeoutMs: 5000 });
}

// ---- register -------------------------------------------------------------------------------------

type RegOp = { f: 'read' | 'write' | 'cas'; value: Json };

function registerReference(): Reference<RegOp> {
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

type SesOp = { f: 'create' | 'append' | 'rewrite' | 'destroy' | 'read'; value: Json; key?: string };

function sessionsReference(): Reference<SesOp> & { known: string[] } {
  const sessions = new Map<string, Json[] | 'destroyed'>();
  const known: string[] = []; // ids that clients have learned (from a completed create, never earlier)
  let created = 0;
  let unique = 0;
  const pickKey = (a: number): string => (known.length === 0 || a === 4 ? 'ghost' : known[a % known.length]!);
  return {
    known,
    choose(s) {
      switch (s.f) {
        case 0:
          return { f: 'create', value: `topic${s.a}` };
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

describe('lincheck: properties (fast-check)', function () {
  this.timeout(20_000);

  describe('register', function () {
    it('a sequential history generated from the model is linearizable', function () {
      fc.assert(
        fc.property(scheduleArb, (schedule) => {
          const r = check(registerModel, generate(registerReference(), schedule, true).operations());
          assert.equal(r.verdict, 'linearizable');
        }),
        runs,
      );
    });

    it('a concurrent history with real linearization points (and crashes, failures) is linearizable', function () {
      fc.assert(
        fc.property(scheduleArb, (schedule) => {
          const r = check(registerModel, generate(registerReference(), schedule, false).operations());
          assert.equal(r.verdict, 'linearizable');
        }),
        runs,
      );
    });

    it('planting a read of a value never written makes it not linearizable', function () {
      fc.assert(
        fc.property(scheduleArb, fc.nat(), fc.nat(), (schedule, i, j) => {
          const events = generate(registerReference(), schedule, false).history();
          const r = check(registerModel, plantRead(events, i, j, 99));
          assert.equal(r.verdict, 'not-linearizable');
        }),
        runs,
      );
    });
  });

  describe('sessions', function () {
    it('a sequential history generated from the model is linearizable', function () {
      fc.assert(
        fc.property(scheduleArb, (schedule) => {
          const r = check(sessionsModel, generate(sessionsReference(), schedule, true).operations());
          assert.equal(r.verdict, 'linearizable');
        }),
        runs,
      );
    });

    it('a concurrent history with real linearization points (and crashes, failures) is linearizable', function () {
      fc.assert(
        fc.property(scheduleArb, (schedule) => {
          const r = check(sessionsModel, generate(sessionsReference(), schedule, false).operations());
          assert.equal(r.verdict, 'linearizable');
        }),
        runs,
      );
    });

    it('planting a read of a record never appended makes it not linearizable', function () {
      fc.assert(
        fc.property(scheduleArb, fc.nat(), fc.nat(), fc.nat(), (schedule, i, j, k) => {
          const ref = sessionsReference();
          const events = generate(ref, schedule, false).history();
          const key = ref.known.length === 0 ? 'ghost' : ref.known[k % ref.known.length]!;
          const r = check(sessionsModel, plantRead(events, i, j, ['never'], key));
          assert.equal(r.verdict, 'not-linearizable');
        }),
        runs,
      );
    });
  });
});
