/**
 * Runs callback-style steps one after another and stops at the first error.
 *
 * Storage must also run on the simulator's disk, whose operations complete through its scheduler,
 * so multi-step work (open, atomic replace) is a chain of callbacks, not promises: a simulator that
 * drains its event queue synchronously would never run promise continuations.
 */
import { StorageError } from './errors.js';

export type Done = (err: Error | null) => void;
export type Step = (next: Done) => void;

export function runSteps(steps: readonly Step[], done: Done): void {
  const run = (k: number): void => {
    if (k === steps.length) {
      done(null);
      return;
    }
    let settled = false;
    const next: Done = (err) => {
      if (settled) throw new StorageError('STORAGE_INVARIANT', `step ${k} completed twice`);
      settled = true;
      if (err !== null) done(err);
      else run(k + 1);
    };
    try {
      steps[k]!(next);
    } catch (e) {
      // Errors thrown after the step completed belong to later steps or to `done`: let them go.
      if (settled) throw e;
      settled = true;
      done(e instanceof Error ? e : new Error(String(e)));
    }
  };
  run(0);
}

/** Calls `done` once all parallel operations finished, with the first error. */
export function joinAll(count: number, done: Done): Done {
  let left = count;
  let first: Error | null = null;
  if (count === 0) throw new StorageError('STORAGE_INVARIANT', 'joinAll of nothing');
  return (err) => {
    if (err !== null && first === null) first = err;
    left--;
    if (left === 0) done(first);
    else if (left < 0) throw new StorageError('STORAGE_INVARIANT', 'joinAll called too often');
  };
}
