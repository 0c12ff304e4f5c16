/**
 * Subscribers of a topic receive the sessions restored on it. Apply only enqueues (it never waits
 * for a subscriber); deliveries run after apply through the injected `defer`, in log order, one at
 * a time per subscriber (an async callback's promise is awaited before the next delivery). Each
 * subscriber has a bounded queue: when it overflows, the subscription ends with
 * SESSIONS_ERR_SUBSCRIBER_OVERFLOW (reported to `onError`) and delivers nothing more, so a slow
 * subscriber costs a bounded amount of memory and never slows apply.
 */
import { SessionsError, SessionsErrorCode } from './errors.js';
import type { Delivery } from './types.js';

export type DeliveryCallback = (delivery: Delivery) => void | Promise<void>;

export interface SubscribeOptions {
  /** Deliveries queued for this subscriber before it overflows. */
  readonly queueMax?: number;
  /** The subscription ended (overflow) or a callback threw / rejected (the subscription continues). */
  readonly onError?: (err: SessionsError) => void;
}

export interface Subscription {
  readonly topic: string;
  /** Deliveries waiting. */
  readonly queued: number;
  readonly delivered: number;
  readonly closed: boolean;
  close(): void;
}

class Subscriber implements Subscription {
  readonly queue: Delivery[] = [];
  /**
   * Per queued delivery (same positions): when it may be handed over by the clock (0: at once). A
   * delivery queued during apply holds its hold here as a negative number until the next pump
   * stamps it (apply reads no clock); those are always the last `unstamped` ones.
   */
  readonly releaseAtMs: number[] = [];
  unstamped = 0;
  head = 0;
  busy = false;
  /** The head is held until this time, and a release is armed for it (0: none armed). */
  heldUntilMs = 0;
  delivered = 0;
  closed = false;

  constructor(
    readonly topic: string,
    readonly callback: DeliveryCallback,
    readonly queueMax: number,
    readonly onError: ((err: SessionsError) => void) | undefined,
    private readonly owner: Subscriptions,
  ) {}

  get queued(): number {
    return this.queue.length - this.head;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.releaseAtMs.length = 0;
    this.unstamped = 0;
    this.head = 0;
    this.owner.remove(this);
  }
}

export class Subscriptions {
  private readonly byTopic = new Map<string, Subscriber[]>();
  private readonly ready = new Set<Subscriber>();
  private scheduled = false;
  readonly counters = { published: 0, delivered: 0, overflows: 0, callbackErrors: 0, held: 0 };

  constructor(
    private readonly defer: (fn: () => void) => void,
    private readonly queueMaxDefault: number,
    /**
     * A session restored ahead of its due time (the leader's `restoreLeadMs`) reaches subscribers
     * the entry's hold after this node applied it, by `clock` (never before the due time by the
     * leader's clock, whatever this node's clock says: the leader planned it that long before, and
     * this apply came after); `after` runs the release. Without, at once.
     */
    private readonly hold?: { readonly clock: () => number; readonly after: (delayMs: number, fn: () => void) => void },
  ) {}

  subscribe(topic: string, callback: DeliveryCallback, opts: SubscribeOptions = {}): Subscription {
    const queueMax = opts.queueMax ?? this.queueMaxDefault;
    if (!Number.isSafeInteger(queueMax) || queueMax < 1) throw new SessionsError(SessionsErrorCode.options, 'queueMax must be a positive integer');
    const s = new Subscriber(topic, callback, queueMax, opts.onError, this);
    const list = this.byTopic.get(topic);
    if (list === undefined) this.byTopic.set(topic, [s]);
    else list.push(s);
    return s;
  }

  remove(s: Subscriber): void {
    const list = this.byTopic.get(s.topic);
    if (list === undefined) return;
    const k = list.indexOf(s);
    if (k >= 0) list.splice(k, 1);
    if (list.length === 0) this.byTopic.delete(s.topic);
    this.ready.delete(s);
  }

  hasSubscribers(topic: string): boolean {
    return this.byTopic.has(topic);
  }

  /** During apply: queue the delivery for every subscriber of its topic, to be handed over `holdMs` from now. */
  publish(d: Delivery, holdMs = 0): void {
    const list = this.byTopic.get(d.topic);
    if (list === undefined) return;
    this.counters.published++;
    // Relative until the next pump stamps it: apply reads no clock.
    const hold = holdMs > 0 && this.hold !== undefined ? -holdMs : 0;
    for (const s of list.slice()) {
      if (s.queued >= s.queueMax) {
        this.counters.overflows++;
        s.close();
        s.onError?.(new SessionsError(SessionsErrorCode.subscriberOverflow, `subscriber of ${JSON.stringify(s.topic)} fell ${s.queueMax} deliveries behind`));
        continue;
      }
      s.queue.push(d);
      s.releaseAtMs.push(hold);
      s.unstamped++;
      this.ready.add(s);
    }
  }

  /** After apply: run deliveries soon. */
  schedule(): void {
    if (this.scheduled || this.ready.size === 0) return;
    this.scheduled = true;
    this.defer(() => {
      this.scheduled = false;
      this.drain();
    });
  }

  private drain(): void {
    for (const s of [...this.ready]) this.pump(s);
  }

  private pump(s: Subscriber): void {
    // Right after the apply that queued them (deferred), or later: a hold counted from then is
    // never shorter than from the apply.
    if (s.unstamped > 0) this.stamp(s);
    while (!s.busy && !s.closed && s.head < s.queue.length) {
      // In log order: a head still held holds the ones behind it (restored within the same lead).
      const releaseAtMs = s.releaseAtMs[s.head]!;
      if (releaseAtMs > 0 && this.hold !== undefined) {
        const now = this.hold.clock();
        if (releaseAtMs > now) {
          if (s.heldUntilMs !== releaseAtMs) {
            s.heldUntilMs = releaseAtMs;
            this.counters.held++;
            this.hold.after(Math.ceil(releaseAtMs - now), () => {
              if (s.heldUntilMs !== releaseAtMs) return;
              s.heldUntilMs = 0;
              if (!s.closed) this.pump(s);
            });
          }
          return;
        }
      }
      const d = s.queue[s.head++]!;
      if (s.head > 1024 && s.head * 2 > s.queue.length) {
        s.queue.splice(0, s.head);
        s.releaseAtMs.splice(0, s.head);
        s.head = 0;
      }
      let out: void | Promise<void>;
      try {
        out = s.callback(d);
      } catch (err) {
        this.fail(s, err);
        continue;
      }
      s.delivered++;
      this.counters.delivered++;
      if (out !== undefined && typeof (out as Promise<void>).then === 'function') {
        s.busy = true;
        (out as Promise<void>).then(
          () => this.resume(s),
          (err: unknown) => {
            this.fail(s, err);
            this.resume(s);
          },
        );
      }
    }
    if (s.head >= s.queue.length) {
      s.queue.length = 0;
      s.releaseAtMs.length = 0;
      s.unstamped = 0;
      s.head = 0;
      this.ready.delete(s);
    }
  }

  /** Turn the holds of the deliveries queued since the last pump into times by the clock. */
  private stamp(s: Subscriber): void {
    const now = this.hold?.clock() ?? 0;
    const at = s.releaseAtMs;
    for (let k = at.length - s.unstamped; k < at.length; k++) if (at[k]! < 0) at[k] = now - at[k]!;
    s.unstamped = 0;
  }

  private resume(s: Subscriber): void {
    s.busy = false;
    if (!s.closed) this.pump(s);
  }

  private fail(s: Subscriber, err: unknown): void {
    this.counters.callbackErrors++;
    s.onError?.(new SessionsError(SessionsErrorCode.subscriberFailed, `subscriber of ${JSON.stringify(s.topic)} failed: ${String(err)}`));
  }
}
