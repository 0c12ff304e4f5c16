/**
 * Histories in the JSON-lines format of `test/lincheck/corpus/README.md`: one event per line, in
 * real-time order, `{ process, type: invoke|ok|fail|info, f, value, key?, error? }`.
 *
 * `parseEvents` validates each line (input from outside: typed, coded errors, never asserts);
 * `pairOperations` turns the event stream into operations, each with a call time and a return time
 * (line indices; +Infinity when the outcome is unknown).
 */

export type EventType = 'invoke' | 'ok' | 'fail' | 'info';
export type Outcome = 'ok' | 'fail' | 'info';
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** One line of a history file. */
export interface HistoryEvent {
  readonly process: number | string;
  readonly type: EventType;
  readonly f: string;
  readonly value: Json;
  /** Partition key (the session id for the session store; absent for the single register). */
  readonly key?: string | number;
  /** On a completion: why it failed (`not-found`, ...) or any client error code. */
  readonly error?: string;
}

/** One operation: an invocation paired with its completion. */
export interface Operation {
  /** Index in invocation order, 0-based, unique within the history. */
  readonly id: number;
  readonly process: number | string;
  readonly f: string;
  /** The partition key as a string (from the invocation, or the completion when only it has one). */
  readonly key: string | null;
  /** `value` at the invocation. */
  readonly input: Json;
  /** `value` at the completion (`null` when the operation never completed or the outcome is `info`). */
  readonly output: Json;
  readonly outcome: Outcome;
  /** `error` at the completion, if any. */
  readonly error: string | null;
  /** Line index (0-based) of the invocation. */
  readonly call: number;
  /** Line index of the completion; +Infinity when the outcome is unknown (`info` or never completed). */
  readonly ret: number;
}

export type HistoryErrorCode = 'HISTORY_JSON' | 'HISTORY_FIELD' | 'HISTORY_UNPAIRED' | 'HISTORY_DOUBLE_INVOKE' | 'HISTORY_MISMATCH' | 'HISTORY_UNSUPPORTED';

/** Bad input: a history that is not in the documented format. `line` is 1-based (0 when not tied to one). */
export class HistoryError extends Error {
  readonly code: HistoryErrorCode;
  readonly line: number;
  constructor(code: HistoryErrorCode, line: number, message: string) {
    super(line > 0 ? `line ${line}: ${message}` : message);
    this.name = 'HistoryError';
    this.code = code;
    this.line = line;
  }
}

const eventTypes: ReadonlySet<string> = new Set(['invoke', 'ok', 'fail', 'info']);

/** Normalize a partition key: strings stay, numbers become their decimal text. */
export function keyString(key: string | number): string {
  return typeof key === 'string' ? key : String(key);
}

/** Validate one decoded line. */
export function toEvent(raw: unknown, line: number): HistoryEvent {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new HistoryError('HISTORY_FIELD', line, 'an event must be a JSON object');
  }
  const o = raw as Record<string, unknown>;
  const p = o.process;
  if (!((typeof p === 'number' && Number.isFinite(p)) || typeof p === 'string')) {
    throw new HistoryError('HISTORY_FIELD', line, '`process` must be a number or a string');
  }
  if (typeof o.type !== 'string' || !eventTypes.has(o.type)) {
    throw new HistoryError('HISTORY_FIELD', line, '`type` must be invoke, ok, fail or info');
  }
  if (typeof o.f !== 'string' || o.f.length === 0) {
    throw new HistoryError('HISTORY_FIELD', line, '`f` must be a non-empty string');
  }
  const k = o.key;
  if (k !== undefined && k !== null && !(typeof k === 'string' || (typeof k === 'number' && Number.isFinite(k)))) {
    throw new HistoryError('HISTORY_FIELD', line, '`key` must be a string or a number');
  }
  const e = o.error;
  if (e !== undefined && e !== null && typeof e !== 'string') {
    throw new HistoryError('HISTORY_FIELD', line, '`error` must be a string');
  }
  const event: {
    process: number | string;
    type: EventType;
    f: string;
    value: Json;
    key?: string | number;
    error?: string;
  } = { process: p, type: o.type as EventType, f: o.f, value: (o.value ?? null) as Json };
  if (k !== undefined && k !== null) event.key = k as string | number;
  if (typeof e === 'string') event.error = e;
  return event;
}

/** Parse a JSON-lines history. Blank lines are skipped (they still count for line numbers). */
export function parseEvents(text: string): HistoryEvent[] {
  const events: HistoryEvent[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i]!.trim();
    if (s.length === 0) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(s);
    } catch (err) {
      throw new HistoryError('HISTORY_JSON', i + 1, `not JSON: ${(err as Error).message}`);
    }
    events.push(toEvent(raw, i + 1));
  }
  return events;
}

/**
 * Pair each invocation with the next completion of the same process. An invocation with no
 * completion by the end of the history is treated as `info` (outcome unknown). Times are event
 * indices (0-based), so every call and every definite return has a distinct time.
 */
export function pairOperations(events: readonly HistoryEvent[]): Operation[] {
  type Open = { id: number; ev: HistoryEvent; call: number };
  const open = new Map<number | string, Open>();
  const ops: (Operation | undefined)[] = [];
  const close = (o: Open, done: HistoryEvent | null, at: number, line: number): void => {
    let key: string | null = o.ev.key !== undefined ? keyString(o.ev.key) : null;
    if (done !== null && done.key !== undefined) {
      const k2 = keyString(done.key);
      if (key !== null && key !== k2) {
        throw new HistoryError('HISTORY_MISMATCH', line, `completion key ${k2} differs from invocation key ${key}`);
      }
      key = k2;
    }
    const outcome: Outcome = done === null ? 'info' : (done.type as Outcome);
    ops[o.id] = {
      id: o.id,
      process: o.ev.process,
      f: o.ev.f,
      key,
      input: o.ev.value,
      output: done !== null && outcome !== 'info' ? done.value : null,
      outcome,
      error: done?.error ?? null,
      call: o.call,
      ret: outcome === 'info' ? Number.POSITIVE_INFINITY : at,
    };
  };
  let nextId = 0;
  for (let i = 0; i < events.length; i++) {
    const ev = events[i]!;
    const line = i + 1;
    if (ev.type === 'invoke') {
      if (open.has(ev.process)) {
        throw new HistoryError('HISTORY_DOUBLE_INVOKE', line, `process ${ev.process} invoked while an operation is open`);
      }
      open.set(ev.process, { id: nextId++, ev, call: i });
      continue;
    }
    const o = open.get(ev.process);
    if (o === undefined) {
      throw new HistoryError('HISTORY_UNPAIRED', line, `${ev.type} of process ${ev.process} without an open invocation`);
    }
    if (o.ev.f !== ev.f) {
      throw new HistoryError('HISTORY_MISMATCH', line, `completion f=${ev.f} differs from invocation f=${o.ev.f}`);
    }
    open.delete(ev.process);
    close(o, ev, i, line);
  }
  for (const o of open.values()) close(o, null, Number.POSITIVE_INFINITY, 0);
  return ops as Operation[];
}

/** Parse a JSON-lines history into operations. */
export function parseHistory(text: string): Operation[] {
  return pairOperations(parseEvents(text));
}

/** Group operations by key (P-compositionality); operations without a key form the group `null`. */
export function partitionByKey(ops: readonly Operation[]): Operation[][] {
  const groups = new Map<string | null, Operation[]>();
  for (const op of ops) {
    let g = groups.get(op.key);
    if (g === undefined) {
      g = [];
      groups.set(op.key, g);
    }
    g.push(op);
  }
  return [...groups.values()];
}

/** A short human description of an operation, for reports. */
export function describeOperation(op: Operation): string {
  const key = op.key === null ? '' : ` key=${op.key}`;
  const out = op.outcome === 'info' ? '?' : JSON.stringify(op.output);
  const err = op.error === null ? '' : ` error=${op.error}`;
  const ret = Number.isFinite(op.ret) ? String(op.ret + 1) : 'end';
  return `#${op.id} p${op.process} ${op.f}${key} ${JSON.stringify(op.input)} -> ${op.outcome} ${out}${err} [events ${op.call + 1}..${ret}]`;
}
