/**
 * The measured no-work floor of a write at 1 in flight (issue 20): four bare processes, the same
 * hops and durable writes as a SessionAppend. Only the shape of the figures is checked (speed is
 * the benchmark's business), and that the three child processes are gone afterwards, whether the
 * measurement finished or ran out of time.
 */
import { expect } from 'chai';
import { waitFor } from '../node/helpers.js';
import { pipelineFloor } from './pipelineFloor.js';

/** Whether a process with this pid still exists (signal 0 checks without sending anything). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('bench: pipeline floor', () => {
  it('times writes through a leader and two followers, then stops all three', async () => {
    const pids: number[] = [];
    const f = await pipelineFloor({ writes: 100, warmup: 10, onChild: (p) => pids.push(p) });
    expect(pids).to.have.length(3);
    // A write crosses four hops and a durable write: not below 10 µs on any machine.
    expect(f.pipelineP50Ms).to.be.greaterThan(0.01);
    expect(f.pipelineP99Ms).to.be.at.least(f.pipelineP50Ms);
    // SIGKILL is asynchronous; 5 s is far beyond a reap on a loaded 2-core box.
    for (const pid of pids) await waitFor(`role process ${pid} gone`, () => !alive(pid), 5000);
  });

  it('gives up after its time limit and still stops every child', async () => {
    const pids: number[] = [];
    // 1 ms cannot hold even the children's start: the measurement must fail, not hang.
    const err = await pipelineFloor({ writes: 1_000_000, timeoutMs: 1, onChild: (p) => pids.push(p) }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/did not finish within 1 ms/);
    expect(pids.length).to.be.greaterThan(0);
    for (const pid of pids) await waitFor(`role process ${pid} gone`, () => !alive(pid), 5000);
  });
});
