/**
 * What the console shows over time, kept in the node (bounded rings, nothing on disk):
 *
 * - the Raft machine's recent transitions (RaftNode's `onTransition`, after every event that changed
 *   the state value or term; `inspect` takes the same from XState inspection events), each with the
 *   event that caused it;
 * - one sample per second of throughput and commit latency (entries committed, commands
 *   acknowledged by this node as leader, their mean and largest latency), and of how late after
 *   their due time restored sessions were first handed to consumers attached here (issue 20).
 */
import type { InspectionEvent } from 'xstate';

/** Transitions kept per node (the console shows the newest). */
export const transitionsKept = 200;
/** Samples kept: one a second, five minutes. */
export const samplesKept = 300;

export interface TransitionRecord {
  /** Wall clock, ms since the epoch. */
  readonly at: number;
  readonly from: string | null;
  readonly to: string;
  readonly event: string;
  /** The peer the event came from, for messages. */
  readonly peer?: string;
  readonly term: number;
}

export interface Sample {
  /** The second the sample closes (ms since the epoch). */
  readonly at: number;
  /** Entries committed during that second (commit index delta). */
  readonly committed: number;
  /** Commands acknowledged by this node (as leader) during that second. */
  readonly commands: number;
  /** Their mean and largest latency, ms (null without commands). */
  readonly latencyMeanMs: number | null;
  readonly latencyMaxMs: number | null;
  /** First deliveries of restored sessions handed to consumers attached here (as leader) during that second. */
  readonly deliveries: number;
  /** How late after their due time, mean and largest, ms (null without deliveries). */
  readonly deliveryLateMeanMs: number | null;
  readonly deliveryLateMaxMs: number | null;
}

/** A ring of at most `max` items, oldest first. */
class Ring<T> {
  private readonly items: T[] = [];
  constructor(private readonly max: number) {}
  push(x: T): void {
    this.items.push(x);
    if (this.items.length > this.max) this.items.splice(0, this.items.length - this.max);
  }
  last(n: number): T[] {
    return this.items.slice(Math.max(0, this.items.length - n));
  }
  get length(): number {
    return this.items.length;
  }
}

function valueKey(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v ?? null);
}

export class ConsoleRecorder {
  private readonly transitions = new Ring<TransitionRecord>(transitionsKept);
  private readonly samples = new Ring<Sample>(samplesKept);
  /** The Raft actor's last state and term. */
  private state: string | null = null;
  private term = -1;
  private second = 0;
  private commitAtSecond = -1;
  private commands = 0;
  private latencySumMs = 0;
  private latencyMaxMs = 0;
  private deliveries = 0;
  private lateSumMs = 0;
  private lateMaxMs = 0;

  constructor(private readonly clock: () => number = Date.now) {}

  /** An XState inspection event of the node's Raft actor; cheap for the events that change nothing. */
  inspect(ev: InspectionEvent): void {
    if (ev.type !== '@xstate.snapshot') return;
    if (ev.actorRef.sessionId !== ev.rootId) return;
    const snap = ev.snapshot as { value?: unknown; context?: { term?: unknown } };
    this.transition(snap.value, typeof snap.context?.term === 'number' ? snap.context.term : this.term, ev.event);
  }

  /**
   * The Raft actor's state value and term after `event` (RaftNode's `onTransition`); recorded when
   * either changed.
   */
  transition(value: unknown, term: number, event: unknown): void {
    const to = valueKey(value);
    if (to === this.state && term === this.term) return;
    const e = event as { type?: unknown; msg?: { from?: unknown } } | null;
    const peer = typeof e?.msg?.from === 'string' ? e.msg.from : undefined;
    this.transitions.push({
      at: this.clock(),
      from: this.state,
      to,
      event: typeof e?.type === 'string' ? e.type : 'unknown',
      ...(peer !== undefined ? { peer } : {}),
      term,
    });
    this.state = to;
    this.term = term;
  }

  /** A command this node acknowledged as leader, with its latency in seconds. */
  observeCommit(seconds: number): void {
    this.roll();
    const ms = seconds * 1000;
    this.commands++;
    this.latencySumMs += ms;
    if (ms > this.latencyMaxMs) this.latencyMaxMs = ms;
  }

  /**
   * A restored session's first delivery handed to a consumer here, `lateMs` after its due time.
   * Counted into the sample the next tick closes (no clock read per delivery: one falling in the
   * last tick of a second may count in that second's sample).
   */
  observeDeliveryLate(lateMs: number): void {
    this.deliveries++;
    this.lateSumMs += lateMs;
    if (lateMs > this.lateMaxMs) this.lateMaxMs = lateMs;
  }

  /** Called every tick with the commit index; closes a sample when a second has passed. */
  afterTick(commitIndex: number): void {
    this.roll(commitIndex);
  }

  recentTransitions(n = 50): TransitionRecord[] {
    return this.transitions.last(Math.min(n, transitionsKept));
  }

  recentSamples(n = samplesKept): Sample[] {
    return this.samples.last(Math.min(n, samplesKept));
  }

  private roll(commitIndex?: number): void {
    const now = this.clock();
    const second = Math.floor(now / 1000);
    if (this.second === 0) {
      this.second = second;
      if (commitIndex !== undefined) this.commitAtSecond = commitIndex;
      return;
    }
    if (second === this.second) return;
    // A sample closes only where the commit index is known (ticks); commands alone wait for it.
    if (commitIndex === undefined) return;
    const committed = this.commitAtSecond < 0 ? 0 : Math.max(0, commitIndex - this.commitAtSecond);
    this.samples.push({
      at: second * 1000,
      committed,
      commands: this.commands,
      latencyMeanMs: this.commands > 0 ? round(this.latencySumMs / this.commands) : null,
      latencyMaxMs: this.commands > 0 ? round(this.latencyMaxMs) : null,
      deliveries: this.deliveries,
      deliveryLateMeanMs: this.deliveries > 0 ? round(this.lateSumMs / this.deliveries) : null,
      deliveryLateMaxMs: this.deliveries > 0 ? round(this.lateMaxMs) : null,
    });
    this.second = second;
    this.commitAtSecond = commitIndex;
    this.commands = 0;
    this.latencySumMs = 0;
    this.latencyMaxMs = 0;
    this.deliveries = 0;
    this.lateSumMs = 0;
    this.lateMaxMs = 0;
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
