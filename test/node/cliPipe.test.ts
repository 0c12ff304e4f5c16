/**
 * A reader that goes away (`sessionraft client subscribe t | head -1`), review of 2026-12-07: the
 * CLI ends quietly with exit 0 (it threw EPIPE with a stack trace, exit 1), and `client consume`
 * leaves the sessions it could not print pending (nacked or in flight), not acknowledged. Against a
 * one-node in-process cluster without logins (replay class 0: 200 ms).
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import { binPath, removeDir, startInProcessCluster, tempDir, waitFor, type InProcessCluster } from './helpers.js';

/** A CLI process starts in about a second, deliveries come 200 ms after a schedule: 15 s bounds a loaded machine. */
const STEP_MS = 15_000;

interface Run {
  readonly child: ChildProcess;
  readonly firstLine: Promise<string>;
  readonly exited: Promise<number | null>;
  stderr: string;
}

describe('node: CLI output to a reader that went away (review 2026-12-07)', function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;
  let dir = '';
  let lib: SessionraftClient;
  const running: ChildProcess[] = [];

  /** `sessionraft client <args>` with stdout a pipe this test closes after the first line. */
  const start = (args: string[]): Run => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSIONRAFT_')) env[k] = v;
    const child = spawn(process.execPath, [binPath, 'client', ...args], {
      cwd: dir,
      env: { ...env, SESSIONRAFT_ENDPOINTS: cluster.endpoints().join(',') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.push(child);
    const run: Run = {
      child,
      stderr: '',
      firstLine: new Promise((resolve) => {
        let out = '';
        child.stdout!.on('data', (d: Buffer) => {
          out += d.toString('utf8');
          const nl = out.indexOf('\n');
          // The reader goes away after one line, as `head -1` does.
          if (nl >= 0) {
            child.stdout!.destroy();
            resolve(out.slice(0, nl));
          }
        });
      }),
      exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
    };
    child.stderr!.on('data', (d: Buffer) => (run.stderr += d.toString('utf8')));
    return run;
  };

  /** Schedules on `topic` (class 0, 200 ms) until the run exits: each delivery after the first line meets the closed pipe. */
  const feedUntilExit = async (run: Run, topic: string): Promise<number | null> => {
    let exited = false;
    void run.exited.then(() => (exited = true));
    await waitFor('the CLI attached', () => run.stderr.includes('"subscribed"') || run.stderr.includes('"consuming"'), STEP_MS);
    await lib.schedule(topic, 'first', { replay: 0 });
    await waitFor('the first line', () => run.firstLine, STEP_MS);
    await waitFor(
      'the CLI ended',
      async () => {
        if (!exited) await lib.schedule(topic, 'after the reader left', { replay: 0 });
        return exited;
      },
      STEP_MS,
      100,
    );
    return run.exited;
  };

  before(async function () {
    dir = tempDir('cli-pipe');
    cluster = await startInProcessCluster(1);
    lib = createClient({ endpoints: cluster.endpoints(), ignoreEnvironment: true, operationTimeoutMs: 5000 });
  });

  after(async function () {
    for (const c of running) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await lib?.close();
    await cluster?.stop();
    if (dir !== '') removeDir(dir);
  });

  it('`subscribe` exits 0 without a stack trace once its reader went away', async function () {
    const run = start(['subscribe', 'piped']);
    const code = await feedUntilExit(run, 'piped');
    expect(run.stderr).to.not.include('EPIPE').and.not.include('    at ');
    expect(code, run.stderr).to.equal(0);
  });

  it('`consume` exits 0 and leaves what it could not print pending (not acknowledged)', async function () {
    await lib.createGroup('piped-group', 'g', { ackWaitMs: 60_000 });
    const run = start(['consume', 'piped-group', '--group', 'g']);
    const code = await feedUntilExit(run, 'piped-group');
    expect(run.stderr).to.not.include('EPIPE').and.not.include('    at ');
    expect(code, run.stderr).to.equal(0);
    // One line was printed and acknowledged; every other scheduled session is still the group's to deliver.
    const scheduled = (await lib.list({ topic: 'piped-group' })).sessions.length;
    const [g] = await lib.pending('piped-group', 'g');
    expect(g!.ready + g!.inFlight, JSON.stringify(g)).to.be.at.least(1);
    expect(g!.ready + g!.inFlight + 1, JSON.stringify(g)).to.be.at.least(scheduled);
  });
});
