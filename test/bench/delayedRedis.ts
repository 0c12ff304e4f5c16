/**
 * The delayed-delivery benchmark's Redis: Debian's `redis-server`, started by the benchmark on
 * 127.0.0.1 with a free port and a temporary directory, as durable as one Redis node gets
 * (`appendonly yes`, `appendfsync always`: the AOF is written and fsynced before each reply) and
 * `maxmemory-policy noeviction` (what BullMQ requires). No RDB snapshots (`save ""`): the AOF is the
 * durability. Stopped (and killed for the recovery row) by its pid.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts, sampleProc, waitFor, type ProcSample } from './clusterProcs.js';

/** The path of `redis-server` on PATH, or null (the BullMQ rows are then skipped). */
export function findRedisServer(): string | null {
  const r = spawnSync('/bin/sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  const path = r.status === 0 ? r.stdout.trim() : '';
  return path.length > 0 ? path : null;
}

export const redisMissingMessage =
  'redis-server is not on PATH: the BullMQ rows are skipped (Debian/Ubuntu: `sudo apt-get install -y redis-server`; the benchmark starts and stops its own instance)';

/** Sends one inline command and resolves with the raw reply (enough for PING and INFO). */
function rawCommand(port: number, command: string, timeoutMs = 1000): Promise<string> {
  return new Promise((res, rej) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    const timer = setTimeout(() => sock.destroy(new Error(`${command}: no reply in ${timeoutMs} ms`)), timeoutMs);
    sock.on('connect', () => sock.write(`${command}\r\n`));
    sock.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      // A simple string (+PONG), an error, or a bulk string ($<len>\r\n<body>\r\n) complete.
      const m = /^\$(\d+)\r\n/.exec(buf);
      if (buf.startsWith('+') || buf.startsWith('-') || (m !== null && Buffer.byteLength(buf) >= m[0].length + Number(m[1]) + 2)) {
        clearTimeout(timer);
        sock.end();
        res(buf);
      }
    });
    sock.on('error', (err) => {
      clearTimeout(timer);
      rej(err);
    });
  });
}

export class RedisProc {
  readonly dir: string;
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    private readonly bin: string,
    readonly port: number,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), 'sessionraft-bench-redis-'));
  }

  static async start(bin: string): Promise<RedisProc> {
    const [port] = await freePorts(1);
    const r = new RedisProc(bin, port!);
    live.add(r);
    await r.spawn();
    return r;
  }

  get pid(): number | null {
    return this.running() ? this.child!.pid! : null;
  }

  running(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Starts (or restarts, on the same directory: the AOF is replayed) and waits for PONG. */
  async spawn(): Promise<void> {
    const args = [
      '--bind',
      '127.0.0.1',
      '--port',
      String(this.port),
      '--dir',
      this.dir,
      '--appendonly',
      'yes',
      '--appendfsync',
      'always',
      '--maxmemory-policy',
      'noeviction',
      '--save',
      '',
      '--daemonize',
      'no',
      '--protected-mode',
      'yes',
      '--logfile',
      join(this.dir, 'redis.log'),
    ];
    const child = spawn(this.bin, args, { stdio: 'ignore' });
    this.child = child;
    this.exited = new Promise<void>((r) => child.once('exit', () => r()));
    await waitFor(
      `redis-server on port ${this.port} to answer PING (log: ${join(this.dir, 'redis.log')})`,
      async () => {
        if (!this.running()) throw new Error(`redis-server exited (${String(child.exitCode ?? child.signalCode)})`);
        return (await rawCommand(this.port, 'PING', 500)).startsWith('+PONG') ? true : null;
      },
      60_000,
      20,
    );
  }

  /** kill -9 by pid; resolves once it exited. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running()) return;
    process.kill(this.child!.pid!, signal);
    await this.exited;
  }

  sample(): ProcSample | null {
    return this.pid === null ? null : sampleProc(this.pid);
  }

  /** INFO memory's used_memory and used_memory_rss, in MB. */
  async memory(): Promise<{ usedMemoryMb: number; usedMemoryRssMb: number }> {
    const info = await rawCommand(this.port, 'INFO memory', 2000);
    const field = (k: string): number => Number(new RegExp(`^${k}:(\\d+)`, 'm').exec(info)?.[1] ?? 0) / (1024 * 1024);
    return { usedMemoryMb: field('used_memory'), usedMemoryRssMb: field('used_memory_rss') };
  }

  async stop(): Promise<void> {
    await this.kill('SIGKILL');
    live.delete(this);
    rmSync(this.dir, { recursive: true, force: true });
  }

  killNow(): void {
    if (this.running()) {
      try {
        process.kill(this.child!.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Instances not stopped yet: killed by pid if the benchmark process exits first. */
const live = new Set<RedisProc>();
process.once('exit', () => {
  for (const r of live) r.killNow();
});
