/**
 * The contract between the linearizability checker and a sequential specification (a model).
 */
import type { Json, Operation } from './history.js';

export interface Model<S> {
  readonly name: string;
  /** The state before any operation. */
  init(): S;
  /**
   * Apply one operation to a state: whether the operation's observed outcome is possible in `state`,
   * and the next state. For an operation with an unknown outcome (`info`), return the state as if it
   * took effect (the checker may also leave it out entirely: "did not take effect").
   * Must be pure: never mutate `state`.
   */
  step(state: S, op: Operation): [ok: boolean, next: S];
  equal(a: S, b: S): boolean;
  /** A 32-bit hash consistent with `equal`. */
  hash(state: S): number;
  /**
   * Validate an operation and decide whether it constrains the search: return it (possibly with its
   * values canonicalized for a faster `step`), or null to drop it (a definite failure that had no
   * effect, a read whose outcome is unknown, ...). Throw a `HistoryError` for an operation that the
   * model does not understand. Default: keep every operation.
   */
  prepare?(op: Operation): Operation | null;
  /**
   * Drop operations that provably cannot change the verdict (after `prepare`, before `partition`): a
   * history-level reduction, for example an unknown-outcome write that nothing ever observed.
   */
  simplify?(ops: readonly Operation[]): Operation[];
  /** Split the (prepared) history into independent sub-histories (P-compositionality). */
  partition?(ops: readonly Operation[]): Operation[][];
  /** A short text of a state, for counterexamples. */
  describe?(state: S): string;
}

/**
 * Canonical JSON text of a value: object keys sorted, so that two equal values have the same text.
 * Used as the identity of register values and session records.
 */
export function canonical(v: Json): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k]!)}`).join(',')}}`;
}

const fnvOffset = 0x811c9dc5;

/** FNV-1a over the UTF-16 code units of `s`, continuing from `h` (so hashes can be extended). */
export function fnv1a(s: string, h: number = fnvOffset): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export const fnvInit = fnvOffset;
