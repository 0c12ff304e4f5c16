/**
 * The measured no-work floor of a write at 1 in flight (issue 20): four bare processes, the same
 * hops and durable writes as a SessionAppend. Speed is the benchmark's business; checked here: every
 * answer is the leader's answer to the write in flight (the measurement fails otherwise), the three
 * child processes are gone and the files removed afterwards, whether the measurement finished, ran
 * out of time or lost a process.
 */
import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pidAlive as alive, waitFor } from '../node/helpers.js';
import { pipelineFloor } from './pipelineFloor.js';

describe('bench: pipeline floor', () => {
  let dir = '';
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sessionraft-pipeline-test-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Every role process gone (SIGKILL is asynchronous: 5 s is far beyond a reap on a loaded 2-core box), and no file left. */
  async function cleanedUp(pids: number[]): Promise<void> {
    for (const pid of pids) await waitFor(`role process ${pid} gone`, () => !alive(pid), 5000);
    expect(readdirSync(dir)).to.deep.equal([]);
  }

  it('times writes through a leader and two followers, then stops all three', async () => {
    const pids: number[] = [];
    const f = await pipelineFloor({ writes: 100, warmup: 10, dir, onChild: (p) => pids.push(p) });
    expect(pids).to.have.length(3);
    // A write crosses four hops and two durable writes: not below 10 µs on any machine.
    expect(f.pipelineP50Ms).to.be.greaterThan(0.01);
    expect(f.pipelineP99Ms).to.be.a('number');
    await cleanedUp(pids);
  });

  it('gives up after its time limit before the processes listen', async () => {
    const pids: number[] = [];
    // 1 ms cannot hold even the children's start: the measurement must fail, not hang.
    const err = await pipelineFloor({ writes: 1_000_000, timeoutMs: 1, dir, onChild: (p) => pids.push(p) }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/did not finish within 1 ms/);
    expect(pids.length).to.be.greaterThan(0);
    await cleanedUp(pids);
  });

  it('gives up after its time limit in the middle of the writes and stops all three', async () => {
    const pids: number[] = [];
    // Ten million writes take far longer than 10 s (each is a durable write, about 0.5 ms); the three
    // processes must be up by then. Until 2026-12-07 the limit was 3 s, which three node starts on a
    // loaded 2-core box can take, and the limit then fell before the writes (fewer than 3 pids).
    const err = await pipelineFloor({ writes: 10_000_000, timeoutMs: 10_000, dir, onChild: (p) => pids.push(p) }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/did not finish within 10000 ms/);
    expect(pids).to.have.length(3);
    await cleanedUp(pids);
  });

  it('fails at once, not at its time limit, when a process dies during the writes', async () => {
    const pids: number[] = [];
    const err = await pipelineFloor({
      writes: 10_000_000,
      timeoutMs: 30_000,
      dir,
      // The leader is started last; a follower killed right after cannot answer it.
      onChild: (p) => {
        pids.push(p);
        if (pids.length === 3) setImmediate(() => process.kill(pids[0]!, 'SIGKILL'));
      },
    }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/exited .*during the measurement|connection to the leader failed|closed the connection/);
    // From the exit, not the 30 s limit: that would fail with "did not finish within". Until
    // 2026-12-07 this also asserted the failure came within 20 s, a speed claim a loaded box could break.
    expect(err?.message).to.not.match(/did not finish within/);
    await cleanedUp(pids);
  });
});
