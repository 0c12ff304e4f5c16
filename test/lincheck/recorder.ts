/**
 * Records a history in the documented JSON-lines format, for workloads (the fault harness) and tests.
 * Events are kept in the order the recorder is called, which must be real-time order: call
 * `invoke` just before sending a request and `ok`/`fail`/`info` just after its answer (or timeout).
 */
import { HistoryError, pairOperations, type EventType, type HistoryEvent, type Json, type Operation } from './history.js';

export class HistoryRecorder {
  private readonly events: HistoryEvent[] = [];
  private readonly open = new Map<number | string, HistoryEvent>();

  /** Start an operation. `key` is the session id (omit it for create, and for the single register). */
  invoke(process: number | string, f: string, value: Json = null, key?: string | number): void {
    if (this.open.has(process)) {
      throw new HistoryError('HISTORY_DOUBLE_INVOKE', 0, `process ${process} already has an open operation`);
    }
    const ev = this.event(process, 'invoke', f, value, key, undefined);
    this.open.set(process, ev);
    this.events.push(ev);
  }

  /** Completed. `value` defaults to the invocation's value; `key` defaults to its key (create: pass the new id). */
  ok(process: number | string, value?: Json, key?: string | number): void {
    this.complete(process, 'ok', value, key, undefined);
  }

  /** Completed without effect; `error: 'not-found'` is the session store's definite "no such session". */
  fail(process: number | string, error?: string, value?: Json): void {
    this.complete(process, 'fail', value, undefined, error);
  }

  /** Outcome unknown (timeout, lost connection): it may or may not take effect. */
  info(process: number | string, reason = 'timeout', key?: string | number): void {
    this.complete(process, 'info', reason, key, undefined);
  }

  /** Processes with an open operation. */
  openProcesses(): (number | string)[] {
    return [...this.open.keys()];
  }

  history(): readonly HistoryEvent[] {
    return this.events;
  }

  operations(): Operation[] {
    return pairOperations(this.events);
  }

  toJsonl(): string {
    return this.events.map((e) => `${JSON.stringify(e)}\n`).join('');
  }

  private complete(process: number | string, type: EventType, value: Json | undefined, key: string | number | undefined, error: string | undefined): void {
    const inv = this.open.get(process);
    if (inv === undefined) throw new HistoryError('HISTORY_UNPAIRED', 0, `process ${process} has no open operation`);
    this.open.delete(process);
    this.events.push(this.event(process, type, inv.f, value === undefined ? inv.value : value, key ?? inv.key, error));
  }

  private event(process: number | string, type: EventType, f: string, value: Json, key: string | number | undefined, error: string | undefined): HistoryEvent {
    const ev: { process: number | string; type: EventType; f: string; value: Json; key?: string | number; error?: string } = { process, type, f, value };
    if (key !== undefined) ev.key = key;
    if (error !== undefined) ev.error = error;
    return ev;
  }
}
