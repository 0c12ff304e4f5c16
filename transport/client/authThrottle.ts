/**
 * Failed logins, per remote address (issue 17): each failure delays the answer to the next login
 * from that address (doubling from `delayMsMin` to `delayMsMax`), and more than `failuresMax`
 * failures within `windowMs` refuse further logins from it (CLIENT_ERR_AUTH_RATE_LIMITED) until the
 * window has passed. A success does not clear them: only the window does (until 2026-12-07 it did,
 * and one's own login between guesses reset the count: a review found that a user with an account
 * guessed other users' passwords without limit). Bounded: at most `addressesMax` addresses are
 * remembered (the oldest failure is forgotten first). The clock is injected (tests drive it).
 */

export interface AuthThrottleLimits {
  readonly failuresMax: number;
  readonly windowMs: number;
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  readonly addressesMax: number;
}

export const defaultAuthThrottleLimits: AuthThrottleLimits = {
  failuresMax: 10,
  windowMs: 60_000,
  delayMsMin: 100,
  delayMsMax: 2_000,
  addressesMax: 10_000,
};

interface Failures {
  count: number;
  firstMs: number;
}

export class AuthThrottle {
  /** Insertion order = order of the first failure in the window (oldest first). */
  private readonly byAddress = new Map<string, Failures>();

  constructor(
    private readonly limits: AuthThrottleLimits,
    private readonly now: () => number,
  ) {}

  private current(address: string): Failures | null {
    const f = this.byAddress.get(address);
    if (f === undefined) return null;
    if (this.now() - f.firstMs >= this.limits.windowMs) {
      this.byAddress.delete(address);
      return null;
    }
    return f;
  }

  /** Whether a login from `address` is refused outright (too many failures in the window). */
  blocked(address: string): boolean {
    const f = this.current(address);
    return f !== null && f.count >= this.limits.failuresMax;
  }

  /** A login from `address` failed: returns how long to wait before answering it (ms). */
  failed(address: string): number {
    let f = this.current(address);
    if (f === null) {
      while (this.byAddress.size >= this.limits.addressesMax) this.byAddress.delete(this.byAddress.keys().next().value!);
      f = { count: 0, firstMs: this.now() };
      this.byAddress.set(address, f);
    }
    f.count++;
    return Math.min(this.limits.delayMsMax, this.limits.delayMsMin * 2 ** Math.min(f.count - 1, 20));
  }

  get size(): number {
    return this.byAddress.size;
  }
}
