/** Counters by code, cheap to bump, copied out by `snapshot()`. */
export class CodeCounters {
  private readonly counts = new Map<string, number>();
  private sum = 0;

  add(code: string | number, n = 1): void {
    const key = String(code);
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
    this.sum += n;
  }

  get total(): number {
    return this.sum;
  }

  get(code: string): number {
    return this.counts.get(code) ?? 0;
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.counts);
  }
}
