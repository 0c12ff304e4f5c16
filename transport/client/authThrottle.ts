/**
 * Failed logins (issue 17), counted per remote address and user name, and per address: each
 * failure delays the answer to it (doubling from `delayMsMin` to `delayMsMax`, by the pair's
 * count), and more than `failuresMax` failures of one pair, or `addressFailuresMax` of one address
 * whatever the names, within `windowMs` refuse further logins (CLIENT_ERR_AUTH_RATE_LIMITED) until
 * the window has passed. A success clears its own pair only.
 *
 * (Until 2026-12-07 failures were counted per address alone and a success cleared the address:
 * one's own login between guesses reset the count, so a user with an account guessed other users'
 * passwords without limit; a review found it. Counting per address alone, with no reset, would let
 * one client with an old password lock out every other client behind the same address.)
 *
 * Bounded: at most `addressesMax` pairs and addresses are remembered (the oldest failure is
 * forgotten first). The clock is injected (tests drive it).
 */

export interface AuthThrottleLimits {
  /** Failures of one user name from one address within the window. */
  readonly failuresMax: number;
  /** Failures from one address within the window, whatever the names (trying many names). */
  readonly addressFailuresMax: number;
  readonly windowMs: number;
  readonly delayMsMin: number;
  readonly delayMsMax: number;
  /** Pairs (address, name) and addresses remembered, each (and networks). */
  readonly addressesMax: number;
  /**
   * Failures from one network within the window, whatever the addresses and names: an IPv6 /48 (a
   * site's usual allocation, 65,536 /64s) or an IPv4 /24 (2026-12-07). Until then each /64 had its
   * own budget, so one site's many /64s multiplied it. Default 1,000.
   */
  readonly networkFailuresMax?: number;
}

export const defaultAuthThrottleLimits: AuthThrottleLimits = {
  failuresMax: 10,
  addressFailuresMax: 100,
  windowMs: 60_000,
  delayMsMin: 100,
  delayMsMax: 2_000,
  addressesMax: 10_000,
  networkFailuresMax: 1_000,
};

interface Failures {
  count: number;
  firstMs: number;
}

/** Counts within a window, per key, at most `max` keys (insertion order = first failure, oldest first). */
class WindowCounts {
  private readonly byKey = new Map<string, Failures>();

  constructor(
    private readonly windowMs: number,
    private readonly max: number,
    private readonly now: () => number,
  ) {}

  count(key: string): number {
    const f = this.byKey.get(key);
    if (f === undefined) return 0;
    if (this.now() - f.firstMs >= this.windowMs) {
      this.byKey.delete(key);
      return 0;
    }
    return f.count;
  }

  add(key: string): number {
    const n = this.count(key);
    if (n === 0) {
      while (this.byKey.size >= this.max) this.byKey.delete(this.byKey.keys().next().value!);
      this.byKey.set(key, { count: 1, firstMs: this.now() });
      return 1;
    }
    const f = this.byKey.get(key)!;
    f.count++;
    return f.count;
  }

  clear(key: string): void {
    this.byKey.delete(key);
  }

  get size(): number {
    return this.byKey.size;
  }
}

export class AuthThrottle {
  private readonly pairs: WindowCounts;
  private readonly addresses: WindowCounts;
  private readonly networks: WindowCounts;
  private readonly networkFailuresMax: number;

  constructor(
    private readonly limits: AuthThrottleLimits,
    now: () => number,
  ) {
    this.pairs = new WindowCounts(limits.windowMs, limits.addressesMax, now);
    this.addresses = new WindowCounts(limits.windowMs, limits.addressesMax, now);
    this.networks = new WindowCounts(limits.windowMs, limits.addressesMax, now);
    this.networkFailuresMax = limits.networkFailuresMax ?? defaultAuthThrottleLimits.networkFailuresMax!;
  }

  /** Whether a login of `user` from `address` is refused outright (too many failures in the window). */
  blocked(address: string, user: string): boolean {
    const a = throttledAddress(address);
    return (
      this.pairs.count(pairKey(a, user)) >= this.limits.failuresMax ||
      this.addresses.count(a) >= this.limits.addressFailuresMax ||
      this.networks.count(throttledNetwork(address)) >= this.networkFailuresMax
    );
  }

  /** A login of `user` from `address` failed: returns how long to wait before answering it (ms). */
  failed(address: string, user: string): number {
    const a = throttledAddress(address);
    this.addresses.add(a);
    this.networks.add(throttledNetwork(address));
    const n = this.pairs.add(pairKey(a, user));
    return Math.min(this.limits.delayMsMax, this.limits.delayMsMin * 2 ** Math.min(n - 1, 20));
  }

  /** A login of `user` from `address` succeeded: that pair's failures are forgotten (the address's stay). */
  succeeded(address: string, user: string): void {
    this.pairs.clear(pairKey(throttledAddress(address), user));
  }

  /** Pairs remembered. */
  get size(): number {
    return this.pairs.size;
  }
}

/**
 * The address failures are counted under: one machine's or one site's addresses count as one (a
 * review, 2026-12-07: an attacker on the host got around the throttle by changing its loopback
 * source address). IPv4 as is, and IPv4-mapped IPv6 as IPv4; any loopback address (127.0.0.0/8,
 * ::1) as 'loopback'; other IPv6 by its /64 (what one site is routed).
 */
export function throttledAddress(address: string): string {
  const v4 = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  if (v4 === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)) return 'loopback';
  if (!v4.includes(':')) return v4;
  // IPv6: expand '::' and keep the first four groups.
  const [head, tail] = v4.split('::', 2) as [string, string | undefined];
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? left : [...left, ...Array.from({ length: Math.max(0, 8 - left.length - right.length) }, () => '0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * The network failures are also counted under (networkFailuresMax): an IPv6 address's /48, an IPv4
 * address's /24, 'loopback' for any loopback address; anything else (not an IP address) as itself.
 */
export function throttledNetwork(address: string): string {
  const a = throttledAddress(address);
  if (a === 'loopback') return a;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.\d{1,3}$/.exec(a);
  if (v4 !== null) return `${v4[1]}.${v4[2]}.${v4[3]}.0/24`;
  if (!a.endsWith('::/64')) return a;
  return `${a.slice(0, -'::/64'.length).split(':').slice(0, 3).join(':')}::/48`;
}

function pairKey(address: string, user: string): string {
  return `${address}\u0000${user}`;
}
