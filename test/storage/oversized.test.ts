/**
 * Files on disk are outside input (a review, 2026-12-07): a segment or hard state file far larger
 * than anything the log writes was read whole at open — an allocation as large as the file, and
 * past 2 GiB a raw RangeError from node:fs. Now a segment past `segmentFileBytesMax` is damage that
 * is not read (moved aside whole), and a hard state longer than a valid one is damaged unread.
 * A snapshot file past 2 GiB was skipped as unreadable, a valid one too: now read in chunks. One
 * write past the bound made a segment that large: now split into batches.
 * The large files are sparse: no test writes them.
 */
import assert from 'node:assert/strict';
import { kMaxLength } from 'node:buffer';
import { closeSync, existsSync, ftruncateSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { crc32Bytes, crc32Range } from '../../storage/crc.js';
import { writeU32, writeU64 } from '../../storage/frame.js';
import { HARD_STATE_BYTES_MAX } from '../../storage/hardState.js';
import { segmentFileBytesMax } from '../../storage/openLog.js';
import { walLimits } from '../../storage/options.js';
import { realFs } from '../../storage/realFs.js';
import { INDEX_UNKNOWN } from '../../storage/scan.js';
import { FileSnapshotStore } from '../../storage/snapshotStore.js';
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

describe('storage: one write larger than a segment may hold', function () {
  // 336 MiB written to a temporary directory (no smaller write can pass the bound, whose floor is
  // 320 MiB) and read back once; the entries share one 16 MiB buffer.
  this.timeout(120_000);

  it('a write past segmentFileBytesMax leaves segments the next open reads (before: the one segment was oversized, damage)', async () => {
    const t = tempDir('bigwrite');
    try {
      const data = new Uint8Array(16 * MiB).fill(7);
      const big = Array.from({ length: 21 }, (_, k) => ({ index: k + 1, term: 1, kind: 1 as const, data }));
      const records = big.reduce((n, e) => n + 33 + e.data.length, 0);
      assert.ok(records > segmentFileBytesMax(walLimits()), `${records} record bytes`);
      const o = await openAsync(realFs, t.dir);
      await writeDurable(o, { entries: big, hardState: { term: 1, vote: 'a' } });
      await closeAsync(o);
      for (const name of readdirSync(join(t.dir, 'wal'))) {
        const size = statSync(join(t.dir, 'wal', name)).size;
        assert.ok(size <= segmentFileBytesMax(walLimits()), `${name}: ${size} bytes`);
      }
      const again = await openAsync(realFs, t.dir);
      await closeAsync(again);
      assert.equal(again.recovered.corruption, null);
      assert.equal(again.recovered.entries.length, 21);
      assert.equal(again.recovered.entries[20]!.data[16 * MiB - 1], 7);
    } finally {
      t.cleanup();
    }
  });
});

describe('storage: snapshot files over 2 GiB', function () {
  // Sparse files: nothing is written but a header. A 2 GiB snapshot that loads is 2 GiB of memory
  // for a few seconds (the data is handed to the state machine whole).
  this.timeout(120_000);
  const GiB = 1024 * MiB;
  const membership = { voters: ['a'], learners: [] };

  /** A snapshot file at `path` whose header declares `dataBytes` of zeros with `dataCrc`; the data itself is a hole. */
  function sparseSnapshot(path: string, index: number, dataBytes: number, dataCrc: number): void {
    const meta = Buffer.from(JSON.stringify({ index, term: 1, membership }), 'utf8');
    const head = new Uint8Array(32 + meta.length);
    head.set([0x53, 0x52, 0x53, 0x4e], 4);
    writeU32(head, 8, 1);
    writeU32(head, 12, meta.length);
    writeU64(head, 16, dataBytes);
    writeU32(head, 24, dataCrc);
    head.set(meta, 32);
    writeU32(head, 0, crc32Range(head, 4, head.length, 0));
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, head, 0, head.length, 0);
      ftruncateSync(fd, head.length + dataBytes);
    } finally {
      closeSync(fd);
    }
  }

  function zerosCrc(bytes: number): number {
    const zeros = new Uint8Array(64 * MiB);
    let crc = 0;
    for (let at = 0; at < bytes; at += zeros.length) crc = crc32Bytes(zeros.subarray(0, Math.min(zeros.length, bytes - at)), crc);
    return crc;
  }

  /** A snapshot directory with a valid small snapshot at index 10. */
  async function withOlder(tag: string): Promise<{ dir: string; cleanup: () => void }> {
    const t = tempDir(tag);
    const store = new FileSnapshotStore(realFs, t.dir);
    await new Promise<void>((resolve, reject) => store.save({ index: 10, term: 1, membership }, new Uint8Array([1, 2, 3]), (e) => (e ? reject(e) : resolve())));
    return t;
  }

  /** realFs whose handles record the largest read. */
  function measuringReads(): { fs: FileSystem; biggest: () => number } {
    let biggest = 0;
    const note = (n: number): void => {
      if (n > biggest) biggest = n;
    };
    const fs: FileSystem = {
      ...measuring().fs,
      stat: (p) => realFs.stat!(p),
      readFile: (p) => {
        const b = realFs.readFile(p);
        note(b.length);
        return b;
      },
      open: (p, f) => {
        const h = realFs.open(p, f);
        return {
          size: () => h.size(),
          write: (d, pos, cb) => h.write(d, pos, cb),
          sync: (cb) => h.sync(cb),
          truncate: (n, cb) => h.truncate(n, cb),
          readSync: (pos, n) => {
            const b = h.readSync(pos, n);
            note(b.length);
            return b;
          },
          close: () => h.close(),
        };
      },
    };
    return { fs, biggest: () => biggest };
  }

  it('a valid snapshot past 2 GiB loads (before: node:fs refused it, reported unreadable, the older one used)', async () => {
    const { dir, cleanup } = await withOlder('snap-2g');
    try {
      const dataBytes = 2 * GiB + MiB;
      sparseSnapshot(join(dir, 'snap-0000000000000020-0000000000000001.snap'), 20, dataBytes, zerosCrc(dataBytes));
      const m = measuringReads();
      const store = new FileSnapshotStore(m.fs, dir);
      let got = store.load();
      assert.deepEqual(store.lastLoadErrors, []);
      assert.equal(got?.meta.index, 20);
      assert.equal(got?.data.length, dataBytes);
      got = null;
      assert.ok(m.biggest() <= 64 * MiB, `one read of ${m.biggest() / MiB} MiB`);
    } finally {
      cleanup();
    }
  });

  it('a snapshot larger than one array holds (kMaxLength): snapshot-too-large, not read', async () => {
    const { dir, cleanup } = await withOlder('snap-4g');
    try {
      sparseSnapshot(join(dir, 'snap-0000000000000020-0000000000000001.snap'), 20, kMaxLength, 0);
      const m = measuringReads();
      const store = new FileSnapshotStore(m.fs, dir);
      assert.equal(store.load()?.meta.index, 10);
      assert.deepEqual(
        store.lastLoadErrors.map((e) => e.code),
        ['snapshot-too-large'],
      );
      assert.ok(m.biggest() <= MiB, `read ${m.biggest()} bytes of it`);
    } finally {
      cleanup();
    }
  });

  it('a 3 GiB file named like a snapshot without a valid header: snapshot-checksum, only its header read', async () => {
    const { dir, cleanup } = await withOlder('snap-junk');
    try {
      sparse(join(dir, 'snap-0000000000000020-0000000000000001.snap'), 3 * GiB);
      const m = measuringReads();
      const store = new FileSnapshotStore(m.fs, dir);
      assert.equal(store.load()?.meta.index, 10);
      assert.deepEqual(
        store.lastLoadErrors.map((e) => e.code),
        ['snapshot-checksum'],
      );
      assert.ok(m.biggest() <= MiB, `read ${m.biggest()} bytes of it`);
    } finally {
      cleanup();
    }
  });
});
