/**
 * The disk's floor for a durable write when several writers share it (issue 20). The benchmark's
 * three nodes keep their logs on the same disk, and at 1 in flight the leader's and both
 * followers' durable writes overlap; measured on the 2-core box, concurrent O_DSYNC writes wait
 * for each other (one writer 322 µs at p50, two 660-739, three 722-838). So the row's floor is
 * this figure, not the single writer's.
 *
 * `writers` worker threads each write a file of their own in `dir` (O_DSYNC) and time `writes`
 * writes of 4 KiB, all at once; the result pools every write's latency. Bounded: the workers are
 * terminated after `timeoutMs` whatever happens, and the directory is removed.
 */
import { closeSync, constants, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { percentile } from './clusterLoad.js';

const writerScript = `
const { workerData, parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const block = new Uint8Array(4096).fill(0x5a);
const us = new Float64Array(workerData.writes);
for (let k = 0; k < workerData.writes; k++) {
  const t0 = process.hrtime.bigint();
  fs.writeSync(workerData.fd, block, 0, block.length, k * block.length);
  us[k] = Number(process.hrtime.bigint() - t0) / 1000;
}
parentPort.postMessage(us);
`;

export interface SharedDiskFloor {
  /** Writers measured at once. */
  readonly fsyncWriters: number;
  readonly fsyncSharedP50Ms: number;
  readonly fsyncSharedP99Ms: number;
}

/**
 * `over`: each file is written with zeros and synced first, so that the timed writes overwrite
 * bytes that exist (as the WAL's preallocated segments are written) instead of growing the file.
 */
export async function sharedDiskFloor(writers = 3, writes = 200, dir = tmpdir(), timeoutMs = 30_000, over = false): Promise<SharedDiskFloor> {
  const d = mkdtempSync(join(dir, 'sessionraft-fsync-shared-'));
  const workers: Worker[] = [];
  // Opened here and closed in `finally`: a terminated worker would never close its own.
  const fds: number[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    for (let k = 0; k < writers; k++) {
      if (over) {
        const z = openSync(join(d, `w${k}`), 'w');
        try {
          writeSync(z, new Uint8Array(writes * 4096));
          fdatasyncSync(z);
        } finally {
          closeSync(z);
        }
      }
      fds.push(openSync(join(d, `w${k}`), constants.O_WRONLY | constants.O_CREAT | constants.O_DSYNC));
    }
    const runs = fds.map((fd, k) => {
      const w = new Worker(writerScript, { eval: true, workerData: { fd, writes } });
      workers.push(w);
      return new Promise<Float64Array>((resolve, reject) => {
        w.once('message', (us: Float64Array) => resolve(us));
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`shared disk floor: writer ${k} exited (${code}) before reporting`)));
      });
    });
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`shared disk floor: ${writers} x ${writes} writes did not finish within ${timeoutMs} ms`)), timeoutMs);
    });
    const all = (await Promise.race([Promise.all(runs), timeout])).flatMap((a) => Array.from(a));
    all.sort((a, b) => a - b);
    const at = (p: number): number => Number((percentile(all, p) / 1000).toFixed(3));
    return { fsyncWriters: writers, fsyncSharedP50Ms: at(50), fsyncSharedP99Ms: at(99) };
  } finally {
    clearTimeout(timer);
    await Promise.all(workers.map((w) => w.terminate()));
    for (const fd of fds) closeSync(fd);
    rmSync(d, { recursive: true, force: true });
  }
}
