/**
 * The hop floor the benchmarks print beside the fsync floor (issue 20): a real echo process on
 * loopback. Only the shape of the figures is checked (speed is the benchmark's business), and that
 * the echo process is gone afterwards, whether the measurement finished or ran out of time.
 */
import { expect } from 'chai';
import { pidAlive as alive, waitFor } from '../node/helpers.js';
import { hopFloor } from './hopFloor.js';

describe('bench: hop floor', () => {
  it('measures round trips to a child process and stops it', async () => {
    let pid = 0;
    const f = await hopFloor({ roundTrips: 200, warmup: 20, onChild: (p) => (pid = p) });
    expect(pid).to.be.greaterThan(0);
    expect(Number.isInteger(f.hopRttP50Us)).to.equal(true);
    expect(f.hopRttP50Us).to.be.greaterThan(0);
    expect(f.hopRttP99Us).to.be.at.least(f.hopRttP50Us);
    // SIGKILL is asynchronous; 5 s is far beyond a reap on a loaded 2-core box.
    await waitFor(`echo process ${pid} gone`, () => !alive(pid), 5000);
  });

  it('gives up after its time limit and still stops the child', async () => {
    let pid = 0;
    // 1 ms cannot hold even the child's start: the measurement must fail, not hang.
    const err = await hopFloor({ roundTrips: 1_000_000, timeoutMs: 1, onChild: (p) => (pid = p) }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/did not finish within 1 ms/);
    expect(pid).to.be.greaterThan(0);
    await waitFor(`echo process ${pid} gone`, () => !alive(pid), 5000);
  });
});
