/**
 * The session store as a sequential specification, one independent object per session id (the
 * history is partitioned by `key`, the session id). A session is `absent` (never created), `live`
 * (with an ordered list of records) or `destroyed`; ids are never reused, so create only succeeds on
 * an absent id.
 *
 * | f       | invoke value | ok                                   | fail `error:"not-found"`     |
 * |---------|--------------|--------------------------------------|------------------------------|
 * | create  | topic        | `key` = the new id; absent -> live [] | (any fail: dropped)          |
 * | append  | record       | live; records += record              | session not live             |
 * | rewrite | record       | live; records := [record]            | session not live             |
 * | destroy | null         | live -> destroyed                    | session not live             |
 * | read    | null         | value = records (live) or null       | session not live (as null)   |
 *
 * Any other `fail` is a definite "did not take effect" and is dropped (so if its effect shows up
 * anyway, nothing can explain it and the history is not linearizable). `info` reads are dropped;
 * `info` creates without a `key` are dropped (nobody can name the session they may have created); so
 * are `info` appends and rewrites whose record no read returned (see `simplify`). Other `info`
 * operations may take effect at any point after their call.
 */
import { HistoryError, partitionByKey, type Operation } from './history.js';
import { canonical, fnv1a, fnvInit, type Model } from './model.js';

export const sessionPhase = { absent: 0, live: 1, destroyed: 2 } as const;
export type SessionPhase = (typeof sessionPhase)[keyof typeof sessionPhase];

export interface SessionState {
  readonly phase: SessionPhase;
  /** Canonical JSON text of each record, in order. */
  readonly records: readonly string[];
  /** FNV-1a of the records' texts, each preceded by a newline (extended on append). */
  readonly h: number;
}

export const sessionOps: ReadonlySet<string> = new Set(['create', 'append', 'rewrite', 'destroy', 'read']);
export const notFound = 'not-found';

interface SessionOp extends Operation {
  /** append/rewrite: the record's canonical text; read ok: the records' texts or null. */
  readonly rec: string;
  readonly seen: readonly string[] | null;
}

const absent: SessionState = { phase: sessionPhase.absent, records: [], h: fnvInit };
const destroyed: SessionState = { phase: sessionPhase.destroyed, records: [], h: fnvInit };
const empty: SessionState = { phase: sessionPhase.live, records: [], h: fnvInit };

function sameRecords(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export const sessionsModel: Model<SessionState> = {
  name: 'sessions',
  init: () => absent,
  prepare(op) {
    if (!sessionOps.has(op.f)) {
      throw new HistoryError('HISTORY_UNSUPPORTED', 0, `operation #${op.id}: the session store has no operation f=${op.f}`);
    }
    if (op.key === null) {
      if (op.f === 'create' && op.outcome !== 'ok') return null;
      throw new HistoryError('HISTORY_FIELD', 0, `operation #${op.id}: ${op.f} ${op.outcome} needs a key (the session id)`);
    }
    if (op.outcome === 'fail' && (op.error !== notFound || op.f === 'create')) return null;
    if (op.outcome === 'info' && op.f === 'read') return null;
    let rec = '';
    let seen: string[] | null = null;
    if (op.f === 'append' || op.f === 'rewrite') rec = canonical(op.input);
    if (op.f === 'read' && op.outcome === 'ok') {
      const v = op.output;
      if (v !== null && !Array.isArray(v)) {
        throw new HistoryError('HISTORY_FIELD', 0, `operation #${op.id}: read value must be a list of records or null`);
      }
      seen = v === null ? null : v.map(canonical);
    }
    const c: SessionOp = { ...op, rec, seen };
    return c;
  },
  step(s, o) {
    const op = o as SessionOp;
    const live = s.phase === sessionPhase.live;
    if (op.outcome === 'fail') return [!live, s]; // not-found
    switch (op.f) {
      case 'create':
        return s.phase === sessionPhase.absent ? [true, empty] : [false, s];
      case 'append':
        if (!live) return [false, s];
        return [true, { phase: sessionPhase.live, records: [...s.records, op.rec], h: fnv1a(op.rec, fnv1a('\n', s.h)) }];
      case 'rewrite':
        if (!live) return [false, s];
        return [true, { phase: sessionPhase.live, records: [op.rec], h: fnv1a(op.rec, fnv1a('\n', fnvInit)) }];
      case 'destroy':
        return live ? [true, destroyed] : [false, s];
      default: // read (ok)
        return [op.seen === null ? !live : live && sameRecords(op.seen, s.records), s];
    }
  },
  equal: (a, b) => a.phase === b.phase && a.h === b.h && sameRecords(a.records, b.records),
  hash: (s) => (s.h ^ Math.imul(s.phase + 1, 0x9e3779b1)) >>> 0,
  // An `info` append or rewrite whose record no read ever returned can be left out: if some
  // linearization has it take effect, no read lies between it and the next rewrite or destroy (that
  // read would show the record), and no other operation depends on a session's records, only on
  // whether it is live; so the same linearization without it is valid too. Dropping these matters:
  // each such operation stays open to the end and would multiply the states the search visits.
  simplify(ops) {
    const seen = new Set<string>();
    for (const o of ops) {
      const op = o as SessionOp;
      if (op.seen !== null) for (const r of op.seen) seen.add(`${op.key}\n${r}`);
    }
    return ops.filter((o) => {
      const op = o as SessionOp;
      return !(op.outcome === 'info' && (op.f === 'append' || op.f === 'rewrite') && !seen.has(`${op.key}\n${op.rec}`));
    });
  },
  partition: (ops) => partitionByKey(ops),
  describe(s) {
    if (s.phase === sessionPhase.absent) return 'absent';
    if (s.phase === sessionPhase.destroyed) return 'destroyed';
    return `[${s.records.join(',')}]`;
  },
};
