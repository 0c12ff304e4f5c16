import { expect } from 'chai';
import { DueTimer } from '../../actors/host/dueTimer.js';

/** Resolves when `wake` was called `n` times; rejects after `ms` (a timer of a few ms that never fired). */
function wakes(n: number, ms: number): { wake: () => void; done: Promise<void>; count: () => number } {
  let k = 0;
  let resolve!: () => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    setTimeout(() => rej(new Error(`woken ${k} times of ${n} within ${ms} ms`)), ms).unref();
  });
  return {
    wake: () => {
      k++;
      if (k === n) resolve();
    },
    done,
    count: () => k,
  };
}

describe('host: DueTimer (the leader wakes its replay scheduler at the next due time)', () => {
  it('fires once at the requested time; a later request than the armed one is ignored, an earlier one replaces it', async () => {
    let now = 1_000;
    const w = wakes(1, 5_000);
    const t = new DueTimer(() => now, w.wake);
    t.request(now + 60_000);
    t.request(now + 70_000); // later: ignored
    expect(t.counters.armed).to.equal(1);
    t.request(now + 2); // earlier: replaces
    expect(t.counters.armed).to.equal(2);
    // 5 s: the timer asked for 2 ms; a loaded CI box may run it late, never this late.
    await w.done;
    expect(t.counters.fired).to.equal(1);
    // Once fired, any request arms again.
    now += 10;
    t.request(now + 60_000);
    expect(t.counters.armed).to.equal(3);
    t.stop();
  });

  it('arms a due time already past at 1 ms (no busy loop), and ignores null and non-finite times', async () => {
    const w = wakes(1, 5_000);
    const t = new DueTimer(() => 10_000, w.wake);
    t.request(null);
    t.request(Number.NaN);
    t.request(Number.POSITIVE_INFINITY);
    expect(t.counters.armed).to.equal(0);
    t.request(5_000);
    expect(t.counters.armed).to.equal(1);
    await w.done;
    t.stop();
  });

  it('never fires after stop, and refuses requests once stopped', async () => {
    const w = wakes(1, 50);
    const t = new DueTimer(() => 0, w.wake);
    t.request(1);
    t.stop();
    t.request(1);
    expect(t.counters.armed).to.equal(1);
    // 50 ms: forty times the 1 ms it was armed for; it must not have fired.
    let err: unknown = null;
    await w.done.catch((e: unknown) => (err = e));
    expect(String(err)).to.match(/woken 0 times/);
    expect(w.count()).to.equal(0);
  });
});
