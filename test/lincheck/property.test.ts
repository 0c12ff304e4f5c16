/**
 * Property-based tests (fast-check): histories generated from a reference implementation, with real
 * linearization points inside each operation's interval, are always linearizable; planting a read of
 * a value that was never written always makes them not linearizable.
 * The generator (generate.ts) gives every operation a real linearization point inside its interval,
 * with crashes (info) and definite failures, so "always linearizable" really tests the search.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { checkOperations, type CheckResult } from './checker.js';
import { generate, plantRead, registerReference, sessionsReference, type Step } from './generate.js';
import { pairOperations, type Json, type Operation } from './history.js';
import type { Model } from './model.js';
import { registerModel } from './registerModel.js';
import { sessionsModel } from './sessionsModel.js';

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

function check<S>(model: Model<S>, ops: Operation[]): CheckResult {
  return checkOperations(model, ops, { timeoutMs: 5000 });
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

    it('leaving out unobserved info appends never changes the verdict (also on mutated histories)', function () {
      const unsimplified: Model<unknown> = { ...(sessionsModel as Model<unknown>) };
      delete (unsimplified as { simplify?: unknown }).simplify;
      fc.assert(
        fc.property(scheduleArb, fc.nat(), fc.nat({ max: 2 }), (schedule, pick, how) => {
          const events = [...generate(sessionsReference(), schedule, false).history()];
          const reads = events.flatMap((e, i) => (e.type === 'ok' && e.f === 'read' && Array.isArray(e.value) && e.value.length > 0 ? [i] : []));
          if (reads.length > 0) {
            const i = reads[pick % reads.length]!;
            const v = events[i]!.value as Json[];
            const mutated = how === 0 ? v.slice(0, -1) : how === 1 ? [...v].reverse() : v.slice(1);
            events[i] = { ...events[i]!, value: mutated };
          }
          const ops = pairOperations(events);
          assert.equal(check(sessionsModel, ops).verdict, check(unsimplified, ops).verdict);
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
