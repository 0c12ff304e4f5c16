/**
 * A register with read, write and compare-and-set, starting empty (`null`): the model of the Jepsen
 * etcd corpus in `test/lincheck/corpus/register/`. Operations with a `key` are partitioned by key (one
 * independent register per key); the corpus has no key (a single register).
 *
 * Which operations constrain the search:
 * | f     | ok                         | fail                                | info (unknown)           |
 * |-------|----------------------------|-------------------------------------|--------------------------|
 * | read  | register == value read     | dropped (no effect, nothing seen)   | dropped (nothing seen)   |
 * | write | register := value          | dropped (definitely no effect)      | may take effect, any time after its call |
 * | cas   | register == expected; := new | register != expected (definite)   | may take effect, any time after its call |
 */
import { HistoryError, partitionByKey, type Operation } from './history.js';
import { canonical, fnv1a, type Model } from './model.js';

/** The register's value as canonical JSON text (`'null'` when empty). */
export type RegisterState = string;

interface RegisterOp extends Operation {
  /** Canonical values: read -> the value read; write -> the value; cas -> [expected, new]. */
  readonly a: string;
  readonly b: string;
}

function compile(op: Operation): RegisterOp {
  switch (op.f) {
    case 'read':
      return { ...op, a: canonical(op.output), b: '' };
    case 'write':
      return { ...op, a: canonical(op.input), b: '' };
    case 'cas': {
      const v = op.input;
      if (!Array.isArray(v) || v.length !== 2) {
        throw new HistoryError('HISTORY_FIELD', 0, `operation #${op.id}: cas value must be [expected, new]`);
      }
      return { ...op, a: canonical(v[0]!), b: canonical(v[1]!) };
    }
    default:
      throw new HistoryError('HISTORY_UNSUPPORTED', 0, `operation #${op.id}: register has no operation f=${op.f}`);
  }
}

export const registerModel: Model<RegisterState> = {
  name: 'register',
  init: () => 'null',
  prepare(op) {
    const c = compile(op);
    if (op.outcome === 'fail' && op.f !== 'cas') return null;
    if (op.outcome === 'info' && op.f === 'read') return null;
    return c;
  },
  step(state, o) {
    const op = o as RegisterOp;
    switch (op.f) {
      case 'read':
        return [state === op.a, state];
      case 'write':
        return [true, op.a];
      default: // cas
        if (op.outcome === 'ok') return state === op.a ? [true, op.b] : [false, state];
        if (op.outcome === 'fail') return [state !== op.a, state];
        // Unknown outcome: linearized here only if it takes effect; "no effect" is the same as never
        // linearizing it, which an open operation (return at +Infinity) is always allowed.
        return state === op.a ? [true, op.b] : [false, state];
    }
  },
  equal: (a, b) => a === b,
  hash: (s) => fnv1a(s),
  partition: (ops) => partitionByKey(ops),
  describe: (s) => s,
};
