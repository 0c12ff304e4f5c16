/**
 * Files on disk are outside input (a review, 2026-12-07): whatever the log's directories hold, open
 * either recovers (leaving what it cannot have written alone, and reporting it) or fails with a
 * typed StorageError — never a raw errno, an internal invariant or a RangeError.
 */
import assert from 'node:assert/strict';
import { closeSync, cpSync, existsSync, ftruncateSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { segmentFileBytesMax } from '../../storage/openLog.js';
import { walLimits } from '../../storage/options.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, entries, openAsync, sameEntry, tempDir, writeDurable } from './helpers.js';

/** A directory holding a log with entries 1..5 (term 1, vote a), closed. */
async function logWithEntries(tag: string): Promise<{ dir: string; cleanup: () => void }> {
  const t = tempDir(tag);
  const o = await openAsync(realFs, t.dir);
  await writeDurable(o, { entries: entries(1, 5, 1), hardState: { term: 1, vote: 'a' } });
  await closeAsync(o);
  return t;
}

/** The error open failed with, or null after a successful open (and close). */
async function openError(dir: string): Promise<unknown> {
  try {
    const o = await openAsync(realFs, dir);
    await closeAsync(o);
    return null;
  } catch (e) {
    return e;
  }
}

function describeErr(e: unknown): string {
  return e === null ? 'no error' : `${(e as Error).name} ${(e as { code?: string }).code}: ${(e as Error).message}`;
}

describe('storage: foreign files and directories in the log directory', () => {
  // 10^20 - 1, 2^53 + 1 (read as 2^53), 0, 2^53 - 1 (a new segment after it would be 2^53).
  for (const name of ['99999999999999999999.wal', '00009007199254740993.wal', '00000000000000000000.wal', '00009007199254740991.wal']) {
    it(`a garbage file named ${name} (not a segment number the log writes) is left alone and reported`, async () => {
      const { dir, cleanup } = await logWithEntries('foreign-no');
      try {
        writeFileSync(join(dir, 'wal', name), Buffer.alloc(64, 0xab));
        const o = await openAsync(realFs, dir);
        try {
          assert.equal(o.recovered.corruption, null);
          assert.deepEqual(
            o.recovered.entries.map((e) => e.index),
            [1, 2, 3, 4, 5],
          );
          assert.ok(o.recovered.entries.every((e, k) => sameEntry(e, entries(1, 5, 1)[k]!)));
          assert.deepEqual(o.foreign, [join('wal', name)]);
          // The log goes on past it: a write, a close, another open.
          await writeDurable(o, { entries: entries(6, 1, 1) });
        } finally {
          await closeAsync(o);
        }
        const again = await openAsync(realFs, dir);
        await closeAsync(again);
        assert.equal(again.recovered.entries.length, 6);
        assert.ok(existsSync(join(dir, 'wal', name)), 'the foreign file is left where it was');
      } finally {
        cleanup();
      }
    });
  }

  it('a directory named like a segment stops open with STORAGE_BAD_DIR naming it', async () => {
    const { dir, cleanup } = await logWithEntries('foreign-dir-seg');
    try {
      mkdirSync(join(dir, 'wal', '00000000000000000009.wal'));
      const err = await openError(dir);
      assert.equal((err as Error | null)?.name, 'StorageError', describeErr(err));
      assert.equal((err as { code?: string }).code, 'STORAGE_BAD_DIR');
      assert.match((err as Error).message, /00000000000000000009\.wal is not a regular file/);
    } finally {
      cleanup();
    }
  });

  it('a directory named like a leftover segment rewrite: left alone (another name) or STORAGE_BAD_DIR (a segment rewrite name)', async () => {
    const { dir, cleanup } = await logWithEntries('foreign-dir-rewrite');
    try {
      mkdirSync(join(dir, 'wal', 'x.wal.rewrite'));
      const o = await openAsync(realFs, dir);
      await closeAsync(o);
      assert.deepEqual(o.foreign, [join('wal', 'x.wal.rewrite')]);
      assert.equal(o.recovered.entries.length, 5);
      mkdirSync(join(dir, 'wal', '00000000000000000001.wal.rewrite'));
      const err = await openError(dir);
      assert.equal((err as { code?: string } | null)?.code, 'STORAGE_BAD_DIR', describeErr(err));
    } finally {
      cleanup();
    }
  });

  it('a directory named like a leftover snapshot save: left alone (another name) or STORAGE_BAD_DIR (a snapshot name)', async () => {
    const { dir, cleanup } = await logWithEntries('foreign-dir-snap');
    try {
      mkdirSync(join(dir, 'snap', 'x.tmp'));
      const o = await openAsync(realFs, dir);
      await closeAsync(o);
      assert.deepEqual(o.foreign, [join('snap', 'x.tmp')]);
      mkdirSync(join(dir, 'snap', 'snap-0000000000000003-0000000000000001.snap.tmp'));
      const err = await openError(dir);
      assert.equal((err as { code?: string } | null)?.code, 'STORAGE_BAD_DIR', describeErr(err));
    } finally {
      cleanup();
    }
  });

  it('a directory named hardstate.tmp or hardstate stops open with STORAGE_BAD_DIR', async () => {
    for (const name of ['hardstate.tmp', 'hardstate']) {
      const { dir, cleanup } = await logWithEntries('foreign-dir-hs');
      try {
        if (name === 'hardstate') realFs.unlink(join(dir, name));
        mkdirSync(join(dir, name));
        const err = await openError(dir);
        assert.equal((err as { code?: string } | null)?.code, 'STORAGE_BAD_DIR', `${name}: ${describeErr(err)}`);
      } finally {
        cleanup();
      }
    }
  });

  it('the wal or snap directory replaced by a file stops open with a typed StorageError', async () => {
    for (const sub of ['wal', 'snap']) {
      const { dir, cleanup } = await logWithEntries('foreign-sub-file');
      try {
        rmSync(join(dir, sub), { recursive: true, force: true });
        writeFileSync(join(dir, sub), new Uint8Array(10));
        const err = await openError(dir);
        assert.equal((err as Error | null)?.name, 'StorageError', `${sub}: ${describeErr(err)}`);
        assert.notEqual((err as { code?: string }).code, 'STORAGE_INVARIANT', `${sub}: ${describeErr(err)}`);
      } finally {
        cleanup();
      }
    }
  });

  it('property: arbitrary names, kinds and sizes in the log directories: open recovers or fails with a typed StorageError', async function () {
    this.timeout(120_000);
    const limits = walLimits();
    const oversized = segmentFileBytesMax(limits) + 1;
    const segName = fc.oneof(
      fc.bigInt({ min: 0n, max: 10n ** 20n - 1n }).map((n) => `${n.toString().padStart(20, '0')}.wal`),
      fc.integer({ min: 1, max: 12 }).map((n) => `${String(n).padStart(20, '0')}.wal`),
      fc.constantFrom(`${'9'.repeat(20)}.wal`, `${String(Number.MAX_SAFE_INTEGER - 1).padStart(20, '0')}.wal`),
    );
    const walName = fc.oneof(
      segName,
      segName.map((n) => `${n}.rewrite`),
      segName.map((n) => `${n}.damaged`),
      // '.' and '..' are not names a file can have: joined, they are the directory itself or the
      // log's root, and the run would delete what it meant to put a file beside.
      fc.stringMatching(/^[a-z0-9.]{1,12}$/).filter((n) => n !== '.' && n !== '..'),
      fc.stringMatching(/^[a-z0-9]{1,8}\.wal\.rewrite$/),
    );
    const snapName = fc.oneof(
      fc
        .tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 3 }))
        .map(([i, t]) => `snap-${String(i).padStart(16, '0')}-${String(t).padStart(16, '0')}.snap`),
      fc.stringMatching(/^[a-z0-9-]{1,12}\.(tmp|snap)$/),
    );
    const content = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: 'file' as const, bytes: b })),
      fc.constant({ kind: 'sparse' as const }),
      fc.constant({ kind: 'dir' as const }),
    );
    const entry = fc.oneof(
      fc.tuple(fc.constant('wal'), walName, content),
      fc.tuple(fc.constant('snap'), snapName, content),
      fc.tuple(fc.constant('.'), fc.constantFrom('hardstate', 'hardstate.tmp', 'term-unknown'), content),
    );
    const { dir: base, cleanup } = await logWithEntries('foreign-prop');
    let run = 0;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 4 }), async (made) => {
          // Each run in a fresh copy of the log.
          const dir = `${base}-${run++}`;
          cpSync(base, dir, { recursive: true });
          try {
            for (const [sub, name, c] of made) {
              const path = join(dir, sub, name);
              rmSync(path, { recursive: true, force: true });
              if (c.kind === 'dir') mkdirSync(path);
              else if (c.kind === 'file') writeFileSync(path, c.bytes);
              else sparse(path, oversized);
            }
            const err = await openError(dir);
            if (err === null) return;
            assert.equal((err as Error).name, 'StorageError', describeErr(err));
            assert.notEqual((err as { code?: string }).code, 'STORAGE_INVARIANT', describeErr(err));
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        }),
        { numRuns: 60 },
      );
    } finally {
      cleanup();
    }
  });
});

function sparse(path: string, bytes: number): void {
  const fd = openSync(path, 'w');
  ftruncateSync(fd, bytes);
  closeSync(fd);
}
