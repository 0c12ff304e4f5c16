/**
 * The WAL with `preallocateBytes` on real files: the active segment is zero-filled ahead of its
 * records, a segment another follows ends at its last record, and a restart finds every entry,
 * nothing torn and nothing damaged (storage/wal.ts, extendAhead; storage/scan.ts, zero tails).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Entry } from '../../machines/types.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, entries, openAsync, sameEntry, tempDir, writeDurable } from './helpers.js';

const KiB = 1024;

function assertEntries(got: readonly Entry[], want: readonly Entry[]): void {
  assert.equal(got.length, want.length, `entry count ${got.length}, want ${want.length}`);
  for (let i = 0; i < want.length; i++) assert.ok(sameEntry(got[i]!, want[i]!), `entry ${want[i]!.index} differs`);
}

function segmentPaths(dir: string): string[] {
  return readdirSync(join(dir, 'wal'))
    .filter((n) => n.endsWith('.wal'))
    .sort()
    .map((n) => join(dir, 'wal', n));
}

describe('storage WAL with preallocation on real files', () => {
  let t: { dir: string; cleanup: () => void };
  beforeEach(() => {
    t = tempDir('prealloc');
  });
  afterEach(() => t.cleanup());

  it('writes into zeros ahead of its records; a restart finds every entry, nothing torn or damaged', async () => {
    const o = await openAsync(realFs, t.dir, { preallocateBytes: 256 * KiB });
    const want = entries(1, 200, 1, 300);
    for (let k = 0; k < want.length; k += 10) await writeDurable(o, { entries: want.slice(k, k + 10) });
    assert.ok(o.log.stats.preallocations >= 1, `${o.log.stats.preallocations} ranges zeroed`);
    const [seg] = segmentPaths(t.dir);
    const size = statSync(seg!).size;
    const logical = o.log.segmentBytes();
    assert.ok(size > logical, `file ${size} bytes, records ${logical}: zeros ahead`);
    assert.ok(
      readFileSync(seg!)
        .subarray(logical)
        .every((b) => b === 0),
      'only zeros past the records',
    );
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir, { preallocateBytes: 256 * KiB });
    assert.equal(again.recovered.corruption, null);
    assert.equal(again.recovered.tornBytes, 0, 'zeros are not torn bytes');
    assert.deepEqual(readdirSync(t.dir).includes('torn') ? readdirSync(join(t.dir, 'torn')) : [], [], 'nothing copied aside');
    assertEntries(again.recovered.entries, want);
    // Writing on after the restart (a new segment), and again.
    const more = entries(201, 50, 1, 300);
    await writeDurable(again, { entries: more });
    await closeAsync(again);
    const third = await openAsync(realFs, t.dir);
    assert.equal(third.recovered.corruption, null);
    assertEntries(third.recovered.entries, [...want, ...more]);
    await closeAsync(third);
  });

  it('ends a segment at its last record before the next one starts (no zeros in a segment another follows)', async () => {
    const opts = { preallocateBytes: 64 * KiB, segmentBytesMax: 96 * KiB };
    const o = await openAsync(realFs, t.dir, opts);
    const want = entries(1, 400, 1, 1000);
    for (let k = 0; k < want.length; k += 8) await writeDurable(o, { entries: want.slice(k, k + 8) });
    assert.ok(o.log.stats.rotations >= 3, `${o.log.stats.rotations} rotations`);
    const paths = segmentPaths(t.dir);
    for (const p of paths.slice(0, -1)) {
      const b = readFileSync(p);
      assert.ok(b.length <= opts.segmentBytesMax, `${p}: ${b.length} bytes`);
      // The last record's bytes end the file: its final byte is entry data, never a zero of ours.
      assert.notEqual(b[b.length - 1], 0, `${p} ends in a zero`);
    }
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir, opts);
    assert.equal(again.recovered.corruption, null);
    assert.equal(again.recovered.tornBytes, 0);
    assertEntries(again.recovered.entries, want);
    await closeAsync(again);
  });

  it('after a crash mid-write, a batch cut short at a sector boundary in the zeros is a torn tail: the entries before it stay', async () => {
    const o = await openAsync(realFs, t.dir, { preallocateBytes: 256 * KiB });
    const want = entries(1, 40, 1, 2000);
    for (let k = 0; k < want.length; k += 4) await writeDurable(o, { entries: want.slice(k, k + 4) });
    const logical = o.log.segmentBytes();
    await closeAsync(o);
    // What a crash leaves: the last batch (4 entries) reached the disk only up to a sector boundary.
    const [seg] = segmentPaths(t.dir);
    const bytes = readFileSync(seg!);
    const lastBatchBytes = 4 * (16 + 17 + 2000);
    const cut = Math.ceil((logical - lastBatchBytes + 2500) / 512) * 512;
    bytes.fill(0, cut, logical);
    await import('node:fs').then((fs) => fs.writeFileSync(seg!, bytes));
    const again = await openAsync(realFs, t.dir);
    assert.equal(again.recovered.corruption, null, 'a crash is not damage');
    assert.ok(again.recovered.tornBytes > 0 && again.recovered.tornBytes < lastBatchBytes, `${again.recovered.tornBytes} torn bytes`);
    // The batch's first entry was written whole (2,500 bytes into it), the second cut.
    assertEntries(again.recovered.entries, want.slice(0, 37));
    await closeAsync(again);
  });
});
