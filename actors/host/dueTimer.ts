/**
 * One timer for the leader's next due time (issue 16: lateness after due time). The replay
 * scheduler runs on every clock tick (20 ms by default) and after applies; on a quiet leader a
 * stored session falling due between two ticks waited for the next one, up to a tick late. The
 * scheduler reports the earliest due time it saw not yet due (`onNextDue`); this arms one timer
 * for it, and its expiry runs the scheduler again (`wake`). Only ever one timer: a later request
 * than the armed one is ignored, an earlier one replaces it.
 *
 * The timer decides nothing: the scheduler compares due times with the same clock as on a tick,
 * so a timer that fires early proposes nothing and reports the due time again (re-armed at least
 * 1 ms ahead: no busy loop). A delay is capped at `delayMsMax`, then the scheduler reports again
 * (setTimeout cannot wait more than 24.8 days, and a far timer is not worth keeping exact).
 */
export class DueTimer {
  private timer: NodeJS.Timeout | undefined;
  private armedAtMs = Infinity;
  private stopped = false;
  /** Timers armed, and expiries (for tests and /metrics-free checks). */
  readonly counters = { armed: 0, fired: 0 };

  constructor(
    /** The clock due times are in (the scheduler's). */
    private readonly clock: () => number,
    private readonly wake: () => void,
    private readonly delayMsMax = 60_000,
  ) {}

  /** The earliest due time not yet due, as the scheduler saw it (null: none). */
  request(dueMs: number | null): void {
    if (this.stopped || dueMs === null || !Number.isFinite(dueMs) || dueMs >= this.armedAtMs) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const delayMs = Math.min(this.delayMsMax, Math.max(1, dueMs - this.clock()));
    this.armedAtMs = dueMs;
    this.counters.armed++;
    this.timer = setTimeout(this.fire, delayMs);
    // The node's life does not depend on it (ticks go on): never keep a process alive for it.
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.armedAtMs = Infinity;
  }

  private readonly fire = (): void => {
    this.timer = undefined;
    this.armedAtMs = Infinity;
    this.counters.fired++;
    this.wake();
  };
}
