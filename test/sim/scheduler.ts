/**
 * One simulated clock and a queue of timed events, ordered by (time, insertion order): the only
 * source of "later" in a simulation. Deterministic for a given sequence of calls.
 */
export class Scheduler {
  nowMs = 0;
  private seq = 0;
  private times: number[] = [];
  private seqs: number[] = [];
  private fns: (() => void)[] = [];
  /** Events run so far. */
  steps = 0;

  schedule(delayMs: number, fn: () => void): void {
    this.push(this.nowMs + Math.max(0, delayMs), this.seq++, fn);
  }

  size(): number {
    return this.fns.length;
  }

  /** Run the next event; returns false when the queue is empty or the next event is after `untilMs`. */
  runNext(untilMs: number): boolean {
    if (this.fns.length === 0 || this.times[0]! > untilMs) return false;
    const [time, fn] = this.pop();
    this.nowMs = time;
    this.steps++;
    fn();
    return true;
  }

  // A binary heap over three parallel arrays.
  private less(i: number, j: number): boolean {
    const ti = this.times[i]!;
    const tj = this.times[j]!;
    return ti < tj || (ti === tj && this.seqs[i]! < this.seqs[j]!);
  }

  private swap(i: number, j: number): void {
    const t = this.times[i]!;
    this.times[i] = this.times[j]!;
    this.times[j] = t;
    const s = this.seqs[i]!;
    this.seqs[i] = this.seqs[j]!;
    this.seqs[j] = s;
    const f = this.fns[i]!;
    this.fns[i] = this.fns[j]!;
    this.fns[j] = f;
  }

  private push(time: number, seq: number, fn: () => void): void {
    this.times.push(time);
    this.seqs.push(seq);
    this.fns.push(fn);
    let i = this.fns.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private pop(): [number, () => void] {
    const time = this.times[0]!;
    const fn = this.fns[0]!;
    const last = this.fns.length - 1;
    this.swap(0, last);
    this.times.pop();
    this.seqs.pop();
    this.fns.pop();
    let i = 0;
    const n = this.fns.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return [time, fn];
  }
}
