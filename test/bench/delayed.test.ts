/**
 * The delayed-delivery benchmark (issue 20) end to end in its tiny mode: `npm run bench -- delayed
 * --tiny` really starts 3 node processes (and redis-server when it is on PATH), schedules 50 items
 * per row with a 1 s delay, consumes and acknowledges them, and prints its rows. No figure is
 * asserted (speed is the benchmark's business, never a test's); what is checked is that every
 * acknowledged item came back and the rows are there. Without redis-server the BullMQ case is
 * pending (visibly) and a second case checks that the benchmark says so and skips those rows.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findRedisServer } from './delayedRedis.js';

const cliPath = resolve(dirname(fileURLToPath(import.meta.url)), 'cli.js');

type Row = Record<string, unknown>;

/** Runs the benchmark CLI with --json; resolves with its rows and stderr. Killed by pid after `timeoutMs`. */
function runBench(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
  children: Set<ChildProcess>,
): Promise<{ rows: Row[]; stderr: string; code: number | null }> {
  const cwd = mkdtempSync(join(tmpdir(), 'sessionraft-bench-test-'));
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [cliPath, 'delayed', '--json', ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', rej);
    child.once('exit', (code) => {
      clearTimeout(timer);
      children.delete(child);
      rmSync(cwd, { recursive: true, force: true });
      const rows = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Row);
      res({ rows, stderr: err, code });
    });
  });
}

/** A row with items not done: the row, and the end of the bench's stderr (the drain's diagnostics, a node's exit). */
function whyNotDone(row: Row, stderr: string): string {
  return `${JSON.stringify(row)}\n${stderr.slice(-4000)}`;
}

describe('delayed-delivery benchmark, tiny mode (issue 20)', function () {
  // The run itself takes about 10-15 s (two node starts, 1 s delays); the bound is for a loaded box.
  this.timeout(90_000);
  const children = new Set<ChildProcess>();
  const redis = findRedisServer();
  let result: { rows: Row[]; stderr: string; code: number | null };

  before(async () => {
    result = await runBench(['--tiny', '--only=lateness,memory,backlog'], process.env, 80_000, children);
  });

  after(() => {
    for (const c of children) c.kill('SIGKILL');
  });

  const rowsOf = (system: string, scenario: string): Row[] => result.rows.filter((r) => r.system === system && r.scenario === scenario);

  /**
   * The backlog row: every item due while no consumer ran was held for it (sessionraft's group
   * ready count, BullMQ's delayed and waiting jobs), then delivered once the consumer started, each
   * once; `rssKey` matches the memory fields read while they waited.
   */
  function expectBacklog(system: string, rssKey: RegExp, count: number): void {
    const [b] = rowsOf(system, 'delayed.backlog');
    expect(b, result.stderr.slice(-4000)).to.not.equal(undefined);
    expect(b!.scheduled).to.equal(50);
    expect(b!.errors).to.equal(0);
    expect(b!.held, 'held for the consumer before it started').to.equal(50);
    expect(b!.done, whyNotDone(b!, result.stderr)).to.equal(50);
    expect(b!.undelivered).to.equal(0);
    expect(b!.duplicated).to.equal(0);
    expect(b!.receivedUnacknowledged).to.equal(0);
    expect(b!.drainPerSec).to.be.a('number').above(0);
    const waiting = Object.keys(b!).filter((k) => rssKey.test(k));
    expect(waiting, JSON.stringify(b)).to.have.length(count);
    expect(b!.largestRssWaitingMb).to.equal(Math.max(...waiting.filter((k) => k.endsWith('RssWaitingMb')).map((k) => Number(b![k]))));
  }

  it('measures the fsync floor and the load average before and after the rows', () => {
    expect(result.code, result.stderr).to.equal(0);
    const machine = result.rows.filter((r) => r.scenario === 'machine');
    expect(machine).to.have.length(2);
    for (const m of machine) {
      expect(m.fsync4kP50Ms).to.be.a('number').above(0);
      expect(m.loadAvg1).to.be.a('number');
    }
  });

  it('sessionraft: every acknowledged item scheduled with a 1 s delay is delivered to the group and acknowledged', () => {
    const [late] = rowsOf('sessionraft', 'delayed.lateness');
    expect(late, result.stderr).to.not.equal(undefined);
    expect(late!.nodeExitsUnexpected, result.stderr.slice(-4000)).to.equal(undefined);
    expect(late!.items).to.be.a('number').above(0);
    // Items not done: the bench's stderr says where they stood on each node (drain's diagnostics).
    expect(late!.acked, whyNotDone(late!, result.stderr)).to.equal(late!.items);
    expect(late!.undelivered).to.equal(0);
    expect(late!.errors).to.equal(0);
    expect(late!.lateP99Ms).to.be.a('number');
    expect(late!.cpuUsPerItem).to.be.a('number');
    expect(late!.nodes).to.equal(3);
    // The leader's own lateness metrics (present unless the leader changed during the row): its
    // due time is no earlier than the benchmark's and its hand-off no later than the receipt, so
    // its mean is at most the largest lateness seen by the consumer (+1 ms: its clock has whole ms).
    if (late!.entriesPerItem !== undefined) {
      expect(late!.leaderRestoreLateMeanMs).to.be.a('number').at.least(0);
      expect(late!.leaderDeliveryLateMeanMs).to.be.a('number').at.least(0);
      expect(late!.leaderDeliveryLateMeanMs as number).to.be.at.most((late!.lateMaxMs as number) + 1);
      // The WAL's durable writes under the row's load, on the leader and on its two followers, and
      // the leader's commands (the schedules): each node wrote and synced the row's entries.
      expect(late!.leaderFsyncMeanMs).to.be.a('number').above(0);
      expect(late!.followerFsyncMeanMs).to.be.a('number').above(0);
      expect(late!.leaderCommitMeanMs).to.be.a('number').above(0);
    }
    const [mem] = rowsOf('sessionraft', 'delayed.memory');
    expect(mem!.scheduled).to.equal(50);
    expect(Object.keys(mem!).filter((k) => /^n\dL?RssMb$/.test(k))).to.have.length(3);
    // The summary's figure: the largest node's RSS.
    expect(mem!.largestRssMb).to.equal(
      Math.max(
        ...Object.keys(mem!)
          .filter((k) => /^n\dL?RssMb$/.test(k))
          .map((k) => Number(mem![k])),
      ),
    );
  });

  it('sessionraft, backlog: items due while no consumer ran wait in the group, and reach the consumer once it starts, each once', () => {
    expectBacklog('sessionraft', /^n\dL?RssWaitingMb$/, 3);
    // The elections the row went through (the leader's term after less before), read from /status.
    const [b] = rowsOf('sessionraft', 'delayed.backlog');
    expect(b!.leaderTerms, JSON.stringify(b)).to.be.a('number').at.least(0);
  });

  it('--sessionraft-nodes=1: one node (no peers), every item delivered and acknowledged; a size it does not run is refused', async () => {
    const r = await runBench(['--tiny', '--only=lateness', '--systems=sessionraft', '--sessionraft-nodes=1'], process.env, 60_000, children);
    expect(r.code, r.stderr).to.equal(0);
    const late = r.rows.find((x) => x.scenario === 'delayed.lateness');
    expect(late, r.stderr).to.not.equal(undefined);
    expect(late!.nodes).to.equal(1);
    // Its node did not exit on its own (the bench keeps its log and prints its tail to stderr).
    expect(late!.nodeExitsUnexpected, r.stderr.slice(-4000)).to.equal(undefined);
    expect(late!.items).to.be.a('number').above(0);
    // Seen once (2026-12-06 night, a full suite): 26 of 49 acked, 23 never delivered in the 30 s
    // drain, not reproduced in 13 runs; the row and the bench's stderr say where the rest stopped.
    expect(late!.acked, whyNotDone(late!, r.stderr)).to.equal(late!.items);
    expect(late!.undelivered).to.equal(0);
    expect(late!.peerMsgsPerItem).to.equal(0);
    // No followers: no followers' fsync mean, and the node's own is there.
    expect(late!.followerFsyncMeanMs).to.equal(undefined);
    expect(late!.leaderFsyncMeanMs).to.be.a('number').above(0);
    const bad = await runBench(['--tiny', '--only=lateness', '--systems=sessionraft', '--sessionraft-nodes=2'], process.env, 20_000, children);
    expect(bad.code).to.not.equal(0);
    expect(bad.stderr).to.contain('--sessionraft-nodes: 1, 3 or 5');
  });

  it('BullMQ on redis-server: the same rows', function () {
    if (redis === null) {
      // Visible as pending: install redis-server to run this case (README).
      this.skip();
    }
    const [late] = rowsOf('bullmq', 'delayed.lateness');
    expect(late, result.stderr).to.not.equal(undefined);
    expect(late!.items).to.be.a('number').above(0);
    expect(late!.acked).to.equal(late!.items);
    expect(late!.undelivered).to.equal(0);
    const [mem] = rowsOf('bullmq', 'delayed.memory');
    expect(mem!.scheduled).to.equal(50);
    expect(mem!.redisUsedMemoryMb).to.be.a('number');
    expect(mem!.largestRssMb).to.equal(Math.max(Number(mem!.redisRssMb), Number(mem!.redisUsedMemoryRssMb)));
    expectBacklog('bullmq', /^redis(UsedMemory|UsedMemoryRss|Rss)WaitingMb$/, 3);
  });

  it('without redis-server on PATH, the BullMQ rows are skipped with a message saying how to install it', async () => {
    const emptyDir = mkdtempSync(join(tmpdir(), 'sessionraft-empty-path-'));
    try {
      const r = await runBench(['--tiny', '--only=memory', '--systems=bullmq'], { ...process.env, PATH: emptyDir }, 20_000, children);
      expect(r.code, r.stderr).to.equal(0);
      const skipped = r.rows.find((x) => x.scenario === 'delayed.skipped');
      expect(skipped?.system).to.equal('bullmq');
      expect(String(skipped?.reason)).to.contain('apt-get install -y redis-server');
      expect(r.stderr).to.contain('redis-server is not on PATH');
      expect(r.rows.filter((x) => x.system === 'bullmq' && x.scenario !== 'delayed.skipped')).to.have.length(0);
    } finally {
      rmSync(emptyDir, { recursive: true, force: true });
    }
  });
});
