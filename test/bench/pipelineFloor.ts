/**
 * The machine's floor for a write at 1 in flight, measured instead of added up (issue 20): the
 * path a SessionAppend takes, with none of the work. Four bare Node.js processes over loopback TCP
 * (Nagle off, 200-byte messages, no WebSocket, CBOR, Raft or sessions):
 *
 *   this process (the client) -> leader -> both followers at once; each follower writes 4 KiB with
 *   O_DSYNC on its event loop (as sessionraft's followers do), then answers; the leader writes its
 *   own 4 KiB through the libuv thread pool (as sessionraft's leader does) and answers the client
 *   once its own write and the first follower's answer are in.
 *
 * The files are written over preallocated bytes, as the WAL's segments are, in `dir` (the file
 * system the benchmark's nodes write to). The sum the closing table prints beside it (three
 * writers at once + two hops) leaves out what this includes: the wake-ups of four processes on
 * the machine's cores, one after the other.
 *
 * Bounded: at most `timeoutMs`; the three child processes are killed by their pids and the
 * directory removed, whatever happens.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { percentile } from './clusterLoad.js';

const messageBytes = 200;
const recordBytes = 4096;
/** Records per file: the writes cycle over them (over existing bytes). */
const slots = 64;

/**
 * One script for both roles: `follower DIR NAME` or `leader DIR NAME PORT1 PORT2`. Each listens on
 * a free port of 127.0.0.1 and prints it as its first line of output; it exits when its parent's
 * connection or its stdin pipe closes, or when the parent kills it.
 */
const roleScript = `
const net = require('node:net'), fs = require('node:fs'), path = require('node:path');
const [role, dir, name, p1, p2] = process.argv.slice(1);
const MSG = ${messageBytes}, REC = ${recordBytes}, SLOTS = ${slots};
const file = path.join(dir, name);
const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_DSYNC);
fs.writeSync(fd, Buffer.alloc(REC * SLOTS));
const rec = Buffer.alloc(REC, 0x5a);
let slot = 0;
// The parent holds our stdin: when it is gone, so are we (even if it died before killing us).
process.stdin.on('data', () => {});
process.stdin.on('end', () => process.exit(0));
/** A message of MSG bytes carrying the write's number in its first 4 (a fresh buffer: sockets may hold it). */
function message(seq) { const m = Buffer.alloc(MSG, 0x5a); m.writeUInt32BE(seq, 0); return m; }
/** Calls onMessage(seq) for each whole message, however the stream splits them. */
function framed(sock, onMessage) {
  const cur = Buffer.alloc(MSG);
  let have = 0;
  sock.on('data', (d) => {
    for (let at = 0; at < d.length; ) {
      const n = Math.min(MSG - have, d.length - at);
      d.copy(cur, have, at, at + n);
      have += n; at += n;
      if (have === MSG) { have = 0; onMessage(cur.readUInt32BE(0)); }
    }
  });
  sock.on('error', () => process.exit(0));
}
let server;
if (role === 'follower') {
  server = net.createServer((c) => {
    c.setNoDelay(true);
    framed(c, (seq) => { fs.writeSync(fd, rec, 0, REC, (slot++ % SLOTS) * REC); c.write(message(seq)); });
    c.on('close', () => process.exit(0));
  });
} else {
  const fs1 = net.connect(Number(p1), '127.0.0.1'), fs2 = net.connect(Number(p2), '127.0.0.1');
  fs1.setNoDelay(true); fs2.setNoDelay(true);
  // Only answers for the write in flight count: the slower follower's answer to the previous write
  // may arrive after the next write went out.
  let client = null, current = -1, acks = 0, own = false, answered = true;
  const maybeAnswer = () => { if (!answered && own && acks >= 1) { answered = true; client.write(message(current)); } };
  const onAck = (seq) => { if (seq === current) { acks++; maybeAnswer(); } };
  framed(fs1, onAck); framed(fs2, onAck);
  server = net.createServer((c) => {
    client = c;
    c.setNoDelay(true);
    framed(c, (seq) => {
      current = seq; acks = 0; own = false; answered = false;
      fs1.write(message(seq)); fs2.write(message(seq));
      fs.write(fd, rec, 0, REC, (slot++ % SLOTS) * REC, (err) => { if (err) process.exit(1); if (seq === current) { own = true; maybeAnswer(); } });
    });
    c.on('close', () => process.exit(0));
  });
}
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

export interface PipelineFloor {
  readonly pipelineP50Ms: number;
  readonly pipelineP99Ms: number;
}

export interface PipelineFloorOptions {
  readonly writes?: number;
  readonly warmup?: number;
  readonly timeoutMs?: number;
  /** The file system to write in (default: the OS temporary directory, where the benchmark's nodes write). */
  readonly dir?: string;
  /** Told each child's pid once it is started (a test checks that they are gone afterwards). */
  readonly onChild?: (pid: number) => void;
}

/** The port a role process prints as its first line. */
function portOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString('utf8');
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(Number(out.slice(0, nl)));
    });
    child.once('exit', (code, signal) => reject(new Error(`pipeline floor: a role process exited (${signal ?? code}) before listening`)));
  });
}

export async function pipelineFloor(opts: PipelineFloorOptions = {}): Promise<PipelineFloor> {
  // Long enough for the four processes' code to be optimized: 1,000 writes after 100 measured
  // 0.61-0.82 ms at p50 where 3,000 after 300 measured 0.54-0.55 in the same minutes.
  const writes = opts.writes ?? 2000;
  const warmup = opts.warmup ?? 500;
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const dir = mkdtempSync(join(opts.dir ?? tmpdir(), 'sessionraft-pipeline-'));
  const children: ChildProcess[] = [];
  // Set when the measurement ends, in time or not: nothing is started after that.
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let sock: Socket | null = null;
  // Rejected by the time limit, or by a role process exiting while the measurement runs.
  let childFailed: (e: Error) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    childFailed = reject;
    timer = setTimeout(() => reject(new Error(`pipeline floor: ${writes} writes did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  const start = (args: string[]): ChildProcess => {
    if (stopped) throw new Error('pipeline floor: stopped');
    const c = spawn(process.execPath, ['-e', roleScript, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(c);
    if (c.pid !== undefined) opts.onChild?.(c.pid);
    // What a role process says on stderr (a crash) goes into the error; at most the last 2 KB.
    let err = '';
    c.stderr!.on('data', (d: Buffer) => (err = (err + d.toString('utf8')).slice(-2048)));
    c.once('exit', (code, signal) => {
      if (!stopped)
        childFailed(
          new Error(`pipeline floor: the ${args[0]} process exited (${signal ?? code}) during the measurement${err === '' ? '' : `: ${err.trim()}`}`),
        );
    });
    return c;
  };
  /** Starts the three processes, then times `writes` writes after `warmup`: their latencies in ms. */
  const measure = async (): Promise<number[]> => {
    const [f1, f2] = await Promise.all([portOf(start(['follower', dir, 'f1'])), portOf(start(['follower', dir, 'f2']))]);
    const leaderPort = await portOf(start(['leader', dir, 'leader', String(f1), String(f2)]));
    return new Promise<number[]>((done, fail) => {
      const s = connect(leaderPort, '127.0.0.1');
      sock = s;
      s.setNoDelay(true);
      const out: number[] = [];
      const answer = Buffer.alloc(messageBytes);
      let have = 0;
      let seq = 0;
      let sentAt = 0n;
      const send = (): void => {
        // Each write numbered: the leader counts only its followers' answers to this one.
        const m = Buffer.alloc(messageBytes, 0x5a);
        m.writeUInt32BE(seq, 0);
        sentAt = process.hrtime.bigint();
        s.write(m);
      };
      const onAnswer = (): void => {
        const us = Number(process.hrtime.bigint() - sentAt) / 1e6;
        if (answer.readUInt32BE(0) !== seq) return fail(new Error(`pipeline floor: answer to write ${answer.readUInt32BE(0)}, expected ${seq}`));
        if (seq++ >= warmup) out.push(us);
        if (out.length >= writes) done(out);
        else send();
      };
      s.on('data', (d: Buffer) => {
        for (let at = 0; at < d.length;) {
          const n = Math.min(messageBytes - have, d.length - at);
          d.copy(answer, have, at, at + n);
          have += n;
          at += n;
          if (have === messageBytes) {
            have = 0;
            onAnswer();
          }
        }
      });
      s.on('error', (e) => fail(new Error(`pipeline floor: the connection to the leader failed: ${e.message}`)));
      s.on('close', () => fail(new Error('pipeline floor: the leader closed the connection')));
      s.on('connect', send);
    });
  };
  try {
    const ms = await Promise.race([measure(), failed]);
    ms.sort((a, b) => a - b);
    const at = (p: number): number => Number(percentile(ms, p).toFixed(3));
    return { pipelineP50Ms: at(50), pipelineP99Ms: at(99) };
  } finally {
    stopped = true;
    clearTimeout(timer);
    (sock as Socket | null)?.destroy();
    for (const c of children) if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // A leftover temporary directory must not hide the measurement's own result or error.
    }
  }
}
