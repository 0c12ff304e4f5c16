/**
 * Files on disk are outside input (a review, 2026-12-07): a segment or hard state file far larger
 * than anything the log writes was read whole at open — an allocation as large as the file, and
 * past 2 GiB a raw RangeError from node:fs. Now a segment past `segmentFileBytesMax` is damage that
 * is not read (moved aside whole), and a hard state longer than a valid one is damaged unread.
 * The large files are sparse: no test writes them.
 */
import assert from 'node:assert/strict';
import { closeSync, existsSync, ftruncateSync, openSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { HARD_STATE_BYTES_MAX } from '../../storage/hardState.js';
import { segmentFileBytesMax } from '../../storage/openLog.js';
import { walLimits } from '../../storage/options.js';
import { realFs } from '../../storage/realFs.js';
import { INDEX_UNKNOWN } from '../../storage/scan.js';
import type { FileSystem } from '../../storage/types.js';
import { closeAsync, entries, openAsync, tempDir, writeDurable } from './helpers.js';

const MiB = 1024 * 1024;

function sparse(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
}

/** realFs without `stat` (as the simulator's disk), recording the largest buffer readFile returned. */
function measuring(): { fs: FileSystem; biggest: () => number } {
  let biggest = 0;
  const fs: FileSystem = {
    mkdirp: (d) => realFs.mkdirp(d),
    readdir: (d) => realFs.readdir(d),
    exists: (p) => realFs.exists(p),
    readFile: (p) => {
      const b = realFs.readFile(p);
      if (b.length > biggest) biggest = b.length;
      return b;
    },
    rename: (a, b) => realFs.rename(a, b),
    unlink: (p) => realFs.unlink(p),
    syncDir: (d, cb) => realFs.syncDir(d, cb),
    open: (p, f) => realFs.open(p, f),
  };
  return { fs, biggest: () => biggest };
}

async function logWithEntries(tag: string, options = {}): Promise<{ dir: string; cleanup: () => void }> {
  const t = tempDir(tag);
  const o = await openAsync(realFs, t.dir, options);
  await writeDurable(o, { entries: entries(1, 5, 1), hardState: { term: 1, vote: 'a' } });
  await closeAsync(o);
  return t;
}

describe('storage: oversized files in the log directory', function () {
  this.timeout(30_000);

  it('the bound: at least 64 MiB plus a batch, and one past it is oversized whatever segmentBytesMax', () => {
    const small = segmentFileBytesMax(walLimits({ segmentBytesMax: 1 * MiB }));
    assert.ok(small >= 64 * MiB + 256 * MiB, `${small}`);
    assert.ok(small < 512 * MiB, `${small}`);
    assert.ok(segmentFileBytesMax(walLimits({ segmentBytesMax: 1024 * MiB })) > 1024 * MiB);
  });

  it('a segment larger than any the log writes is damage, moved aside unread; the node may not vote until its data is replaced', async () => {
    const opts = { segmentBytesMax: 1 * MiB };
    const { dir, cleanup } = await logWithEntries('oversize', opts);
    try {
      const name = '00000000000000000005.wal';
      sparse(join(dir, 'wal', name), 512 * MiB);
      const m = measuring();
      const o = await openAsync(m.fs, dir, opts);
      await closeAsync(o);
      assert.ok(m.biggest() <= 64 * MiB, `open read a ${m.biggest() / MiB} MiB file into one buffer (segmentBytesMax 1 MiB)`);
      // The entries before it are kept; what it held cannot be known.
      assert.equal(o.recovered.entries.length, 5);
      assert.equal(o.recovered.corruption?.code, 'log-framing');
      assert.equal(o.recovered.corruption?.lastIndexSeen, INDEX_UNKNOWN);
      assert.match(o.recovered.corruption!.message, /00000000000000000005\.wal is 536870912 bytes, more than any segment this log writes/);
      assert.deepEqual(o.keptAside, [join('wal', `${name}.damaged`)]);
      // The mark stays durable: the next open (real stat this time) reports the repair still pending.
      const again = await openAsync(realFs, dir, opts);
      await closeAsync(again);
      assert.equal(again.recovered.entries.length, 5);
      assert.equal(again.recovered.corruption?.lastIndexSeen, INDEX_UNKNOWN);
      // Moved aside whole (renamed, not copied), once.
      assert.equal(statSync(join(dir, 'wal', `${name}.damaged`)).size, 512 * MiB);
      assert.ok(!existsSync(join(dir, 'wal', name)));
      assert.ok(!existsSync(join(dir, 'wal', `${name}.damaged.1`)));
    } finally {
      cleanup();
    }
  });

  it('a hard state file longer than a valid one is damaged and not read whole', async () => {
    const { dir, cleanup } = await logWithEntries('oversize-hs');
    try {
      sparse(join(dir, 'hardstate'), 512 * MiB);
      const m = measuring();
      const o = await openAsync(m.fs, dir);
      await closeAsync(o);
      assert.ok(m.biggest() <= 64 * MiB, `open read a ${m.biggest() / MiB} MiB hard state into one buffer`);
      assert.equal(o.recovered.corruption?.code, 'hardstate-checksum');
      assert.match(o.recovered.corruption!.message, new RegExp(`longer than any valid one \\(${HARD_STATE_BYTES_MAX}\\)`));
      assert.equal(o.recovered.termUnknown, true);
    } finally {
      cleanup();
    }
  });

  it('a hard state one byte past the valid maximum is damaged; mayHaveVoted says so without reading it', async () => {
    const { mayHaveVoted } = await import('../../storage/hardState.js');
    const { dir, cleanup } = await logWithEntries('oversize-hs-1');
    try {
      sparse(join(dir, 'hardstate'), HARD_STATE_BYTES_MAX + 1);
      const m = measuring();
      assert.equal(mayHaveVoted(m.fs, dir), true);
      assert.equal(m.biggest(), 0);
      sparse(join(dir, 'hardstate'), 3 * 1024 * MiB);
      assert.equal(mayHaveVoted(realFs, dir), true);
    } finally {
      cleanup();
    }
  });

  it('a segment file over 2 GiB: a recovery, not a raw RangeError', async () => {
    const { dir, cleanup } = await logWithEntries('oversize-2g');
    try {
      sparse(join(dir, 'wal', '00000000000000000005.wal'), 3 * 1024 * MiB);
      const o = await openAsync(realFs, dir);
      await closeAsync(o);
      assert.equal(o.recovered.entries.length, 5);
      assert.equal(o.recovered.corruption?.lastIndexSeen, INDEX_UNKNOWN);
    } finally {
      cleanup();
    }
  });

  it('a segment that cannot be read is a typed STORAGE_FAILED naming it, not a raw errno', async () => {
    const { dir, cleanup } = await logWithEntries('unreadable');
    try {
      const fs: FileSystem = {
        ...measuring().fs,
        readFile: (p) => {
          if (p.endsWith('.wal')) throw Object.assign(new Error('EIO: i/o error, read (simulated)'), { code: 'EIO' });
          return realFs.readFile(p);
        },
      };
      let err: unknown = null;
      try {
        await closeAsync(await openAsync(fs, dir));
      } catch (e) {
        err = e;
      }
      assert.equal((err as Error | null)?.name, 'StorageError');
      assert.equal((err as { code?: string }).code, 'STORAGE_FAILED');
      assert.match((err as Error).message, /cannot read .*\.wal: EIO/);
    } finally {
      cleanup();
    }
  });
});
