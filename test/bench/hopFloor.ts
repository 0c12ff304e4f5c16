/**
 * The machine's floor for one network hop between two Node.js processes, measured now (issue 20):
 * a child process echoes 200-byte messages back over loopback TCP (Nagle off, as every sessionraft
 * socket), and this process times `roundTrips` round trips after `warmup` unmeasured ones.
 *
 * A SessionAppend at 1 in flight needs at least two such round trips in sequence (client to
 * leader, leader to a follower) around one durable write on the follower, so
 * `fsync p50 + 2 × hop p50` is the row's floor on this machine with no work done at all.
 * Bounded: at most `timeoutMs`, and the child is killed by its pid whatever happens.
 */
import { spawn } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { percentile } from './clusterLoad.js';

const messageBytes = 200;

/** The echo child: connects to the port in argv and writes back every byte it reads. */
const echoScript = `
const s = require('node:net').connect(Number(process.argv[1]), '127.0.0.1', () => s.setNoDelay(true));
s.on('data', (d) => s.write(d));
s.on('error', () => process.exit(0));
s.on('close', () => process.exit(0));
`;

export interface HopFloor {
  readonly hopRttP50Us: number;
  readonly hopRttP99Us: number;
}

export interface HopFloorOptions {
  readonly roundTrips?: number;
  readonly warmup?: number;
  readonly timeoutMs?: number;
  /** Told the echo process's pid once it is started (a test checks that it is gone afterwards). */
  readonly onChild?: (pid: number) => void;
}

export async function hopFloor(opts: HopFloorOptions = {}): Promise<HopFloor> {
  const roundTrips = opts.roundTrips ?? 2000;
  const warmup = opts.warmup ?? 200;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const child = spawn(process.execPath, ['-e', echoScript, String(port)], { stdio: 'ignore' });
  if (child.pid !== undefined) opts.onChild?.(child.pid);
  let timer: NodeJS.Timeout | undefined;
  let accepted: Socket | null = null;
  try {
    const us = await new Promise<number[]>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`hop floor: ${roundTrips} round trips did not finish within ${timeoutMs} ms`)), timeoutMs);
      child.once('exit', (code) => reject(new Error(`hop floor: the echo process exited (${code})`)));
      server.once('connection', (sock: Socket) => {
        accepted = sock;
        sock.setNoDelay(true);
        const msg = Buffer.alloc(messageBytes, 0x5a);
        const out: number[] = [];
        let sentAt = 0n;
        let got = 0;
        let done = 0;
        const send = (): void => {
          sentAt = process.hrtime.bigint();
          sock.write(msg);
        };
        sock.on('data', (d: Buffer) => {
          got += d.length;
          if (got < messageBytes) return;
          got -= messageBytes;
          if (done++ >= warmup) out.push(Number(process.hrtime.bigint() - sentAt) / 1000);
          if (out.length >= roundTrips) resolve(out);
          else send();
        });
        sock.on('error', reject);
        send();
      });
    });
    us.sort((a, b) => a - b);
    return { hopRttP50Us: Math.round(percentile(us, 50)), hopRttP99Us: Math.round(percentile(us, 99)) };
  } finally {
    clearTimeout(timer);
    if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
    (accepted as Socket | null)?.destroy();
    server.close();
  }
}
