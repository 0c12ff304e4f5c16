/** Issue 18: entries read back from the WAL's segments (storage/readBack.ts) for a lagging follower. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Entry } from '../../machines/types.js';
import type { OpenedLog } from '../../storage/openLog.js';
import { ReadBackError, type ReadBackCode } from '../../storage/readBack.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, entries, openAsync, sameEntry, tempDir, writeDurable } from './helpers.js';

function assertEntries(got: readonly Entry[], want: readonly Entry[]): void {
  assert.equal(got.length, want.length, `entry count ${got.length}, want ${want.length}`);
  for (let i = 0; i < want.length; i++) assert.ok(sameEntry(got[i]!, want[i]!), `entry ${want[i]!.index} differs`);
}

function readCode(o: OpenedLog, from: number, to: number, bytesMax: number): ReadBackCode {
  try {
    o.log.readEntries(from, to, bytesMax);
  } catch (e) {
    assert.ok(e instanceof ReadBackError, `a typed error, not ${String(e)}`);
    return e.code;
  }
  assert.fail(`reading [${from}, ${to}] did not fail`);
}

/** Writes entries 1..n (term 1 then 2 from index 151) of `dataBytes` in batches of 10. */
async function fill(o: OpenedLog, n: number, dataBytes: number): Promise<Entry[]> {
  const all = [...entries(1, Math.min(n, 150), 1, dataBytes), ...(n > 150 ? entries(151, n - 150, 2, dataBytes) : [])];
  for (let i = 0; i < n; i += 10) await writeDurable(o, { entries: all.slice(i, i + 10), ...(i === 0 ? { hardState: { term: 2, vote: null } } : {}) });
  return all;
}

describe('storage WAL read-back (issue 18)', () => {
  let t: { dir: string; cleanup: () => void };
  beforeEach(() => {
    t = tempDir('readback');
  });
  afterEach(() => t.cleanup());

  it('reads ranges across segments with the previous entry term, bounded in bytes per batch', async () => {
    const o = await openAsync(realFs, t.dir, { segmentBytesMax: 4096 });
    const all = await fill(o, 300, 100);
    const segs = readdirSync(join(t.dir, 'wal')).filter((n) => n.endsWith('.wal')).length;
    assert.ok(segs >= 8, `${segs} segments`);
    assert.equal(o.log.readBackFloor(), 1, 'nothing compacted: from entry 1');
    // The whole log in one batch, across every segment, and the term of entry from - 1.
    const r = o.log.readEntries(1, 300, 1 << 20);
    assert.equal(r.prevTerm, 0);
    assertEntries(r.entries, all);
    const mid = o.log.readEntries(140, 170, 1 << 20);
    assert.equal(mid.prevTerm, 1);
    assertEntries(mid.entries, all.slice(139, 170));
    const at151 = o.log.readEntries(151, 151, 1 << 20);
    assert.equal(at151.prevTerm, 1, 'term of 150');
    assert.equal(at151.entries[0]!.term, 2);
    // The byte bound: 1,000 bytes of data is 10 entries of 100 bytes (plus the previous entry's term).
    const b = o.log.readEntries(50, 300, 1000);
    assert.ok(b.entries.length >= 9 && b.entries.length <= 10, `${b.entries.length} entries in a 1,000-byte batch`);
    assert.ok(b.dataBytes <= 1000 + 100);
    assertEntries(b.entries, all.slice(49, 49 + b.entries.length));
    // At least one entry, whatever its size.
    assert.equal(o.log.readEntries(60, 300, 1).entries.length, 1);
    // Batches that continue each other cover the range exactly.
    let next = 1;
    const got: Entry[] = [];
    for (let k = 0; next <= 300 && k < 1000; k++) {
      const batch = o.log.readEntries(next, 300, 700);
      got.push(...batch.entries);
      next = batch.entries[batch.entries.length - 1]!.index + 1;
    }
    assertEntries(got, all);
    await closeAsync(o);
  });

  it('starts a read at the nearest checkpoint of the sparse index, not at the start of a large segment', async () => {
    const o = await openAsync(realFs, t.dir);
    // 4,000 entries of 1 KiB in one 64 MiB segment: about 4 MiB of records.
    const all = entries(1, 4000, 1, 1024);
    for (let i = 0; i < 4000; i += 200) await writeDurable(o, { entries: all.slice(i, i + 200), ...(i === 0 ? { hardState: { term: 1, vote: null } } : {}) });
    const before = o.log.stats.readBackBytes;
    const r = o.log.readEntries(3900, 3950, 16 * 1024);
    assertEntries(r.entries, all.slice(3899, 3899 + r.entries.length));
    const read = o.log.stats.readBackBytes - before;
    assert.ok(read < 1.5 * 1024 * 1024, `${read} file bytes read for 16 KiB near the end of a 4 MiB segment`);
    await closeAsync(o);
    // The same after a reopen (the index is rebuilt by recovery's scan).
    const again = await openAsync(realFs, t.dir);
    const before2 = again.log.stats.readBackBytes;
    assertEntries(again.log.readEntries(3900, 3950, 16 * 1024).entries, all.slice(3899, 3899 + r.entries.length));
    assert.ok(again.log.stats.readBackBytes - before2 < 1.5 * 1024 * 1024);
    await closeAsync(again);
  });

  it('returns the entries that stand after a truncation (the later record of an index wins)', async () => {
    const o = await openAsync(realFs, t.dir, { segmentBytesMax: 2048 });
    await writeDurable(o, { entries: entries(1, 40, 1, 64), hardState: { term: 2, vote: null } });
    const replacement = entries(21, 30, 2, 64);
    await writeDurable(o, { truncateFrom: 21, entries: replacement.slice(0, 5) });
    await writeDurable(o, { entries: replacement.slice(5) });
    const r = o.log.readEntries(15, 50, 1 << 20);
    assert.equal(r.prevTerm, 1);
    assertEntries(r.entries, [...entries(15, 6, 1, 64), ...replacement]);
    // Read in small batches too: a batch that ends before the truncation is voided and read again.
    const small = o.log.readEntries(18, 50, 200);
    assertEntries(small.entries, [...entries(18, 3, 1, 64), ...replacement].slice(0, small.entries.length));
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir, { segmentBytesMax: 2048 });
    assertEntries(again.log.readEntries(15, 50, 1 << 20).entries, [...entries(15, 6, 1, 64), ...replacement]);
    await closeAsync(again);
  });

  it('continues into the next segment when its truncation voids entries a batch found in an earlier one', async () => {
    // Found by the simulator (--disk-faults seed 59): a batch complete within the segment holding
    // from - 1 was returned although the next segment opened with a truncation of those entries.
    const o = await openAsync(realFs, t.dir, { segmentBytesMax: 2048 });
    await writeDurable(o, { entries: entries(1, 20, 1, 100), hardState: { term: 2, vote: null } }); // one segment, past the limit
    const replacement = entries(15, 11, 2, 100);
    await writeDurable(o, { truncateFrom: 15, entries: replacement }); // rotates: the truncation opens the next segment
    assert.equal(readdirSync(join(t.dir, 'wal')).filter((n) => n.endsWith('.wal')).length, 2);
    const r = o.log.readEntries(12, 18, 1 << 20);
    assert.equal(r.prevTerm, 1);
    assertEntries(r.entries, [...entries(12, 3, 1, 100), ...replacement.slice(0, 4)]);
    await closeAsync(o);
  });

  it('never reads segments before a chain break that recovery accepted (a compaction a crash undid in part)', async () => {
    const opts = { segmentBytesMax: 2048 };
    const o = await openAsync(realFs, t.dir, opts);
    await fill(o, 80, 100);
    await new Promise<void>((resolve, reject) =>
      o.snapshots.save({ index: 70, term: 1, membership: { voters: ['a'], learners: [] } }, new Uint8Array([1]), (err) => (err ? reject(err) : resolve())),
    );
    await closeAsync(o);
    const walDir = join(t.dir, 'wal');
    const names = readdirSync(walDir)
      .filter((n) => n.endsWith('.wal'))
      .sort();
    assert.ok(names.length >= 5, `${names.length} segments`);
    unlinkSync(join(walDir, names[1]!)); // the second segment is gone, the first came back
    const again = await openAsync(realFs, t.dir, opts);
    assert.equal(again.recovered.corruption, null, 'the break is behind the snapshot');
    const floor = again.log.readBackFloor();
    assert.ok(floor > 20, `floor ${floor}: nothing from the first segment`);
    assert.equal(readCode(again, 5, 10, 1 << 20), 'read-below-floor');
    assert.equal(again.log.readEntries(floor, 70, 1 << 20).entries[0]!.index, floor);
    await closeAsync(again);
  });

  it('skips entries a truncation later in the same segment voids, when they come before the range', async () => {
    // Found by the simulator (--disk-faults seeds 13, 51; a read-gap, then a snapshot): the segment
    // holding the rewritten from - 1 starts with older entries past it.
    const o = await openAsync(realFs, t.dir, { segmentBytesMax: 2048 });
    await writeDurable(o, { entries: entries(1, 17, 1, 100), hardState: { term: 2, vote: null } }); // segment 1
    await writeDurable(o, { entries: entries(18, 3, 1, 100) }); // segment 2: 18..20
    const replacement = entries(16, 10, 2, 100);
    await writeDurable(o, { truncateFrom: 16, entries: replacement }); // segment 2 too: truncate, 16..25
    assert.equal(readdirSync(join(t.dir, 'wal')).filter((n) => n.endsWith('.wal')).length, 2);
    const r = o.log.readEntries(18, 25, 1 << 20);
    assert.equal(r.prevTerm, 2, 'the term of the rewritten 17');
    assertEntries(r.entries, replacement.slice(2));
    await closeAsync(o);
  });

  it('keeps covered segments up to retainBytesMax on compaction, reads below the snapshot, and refuses below the floor', async () => {
    const o = await openAsync(realFs, t.dir, { segmentBytesMax: 4096, retainBytesMax: 12 * 1024 });
    const all = await fill(o, 300, 100);
    const segs = (): number => readdirSync(join(t.dir, 'wal')).filter((n) => n.endsWith('.wal')).length;
    const before = segs();
    o.log.compact(280);
    const after = segs();
    assert.ok(after < before && after >= 3, `${before} -> ${after} segments`);
    assert.ok(o.log.segmentBytes() <= 12 * 1024 + 4096, `${o.log.segmentBytes()} bytes kept`);
    const floor = o.log.readBackFloor();
    assert.ok(floor > 1 && floor < 280, `floor ${floor}`);
    const r = o.log.readEntries(floor, 280, 1 << 20);
    assertEntries(r.entries, all.slice(floor - 1, 280));
    assert.equal(readCode(o, floor - 1, 280, 1 << 20), 'read-below-floor');
    assert.equal(readCode(o, 290, 400, 1 << 20), 'read-invalid', 'past the end of the log');
    await closeAsync(o);
    assert.equal(readCode(o, floor, 280, 1 << 20), 'read-closed');
  });

  it('turns a flipped bit in a record it reads into a typed checksum error, and a vanished segment into read-io', async () => {
    const o = await openAsync(realFs, t.dir, { segmentBytesMax: 4096 });
    await fill(o, 100, 100);
    await closeAsync(o);
    const walDir = join(t.dir, 'wal');
    const names = readdirSync(walDir)
      .filter((n) => n.endsWith('.wal'))
      .sort();
    // Open first (recovery would find the damage), then damage the second segment behind its back.
    const again = await openAsync(realFs, t.dir, { segmentBytesMax: 4096 });
    const path = join(walDir, names[1]!);
    const bytes = readFileSync(path);
    bytes[bytes.length - 50]! ^= 0x10;
    writeFileSync(path, bytes);
    const code = readCode(again, 2, 100, 1 << 20);
    assert.ok(code === 'read-checksum', `code ${code}`);
    // A read that stays in the first segment still works.
    assert.equal(again.log.readEntries(2, 5, 1 << 20).entries.length, 4);
    writeFileSync(path, Buffer.alloc(0)); // cut to nothing: a framing error, never a crash
    const cutCode = readCode(again, 2, 100, 1 << 20);
    assert.ok(cutCode === 'read-framing' || cutCode === 'read-gap', `code ${cutCode}`);
    // A segment unlinked under the reader (a compaction racing it): read-io.
    unlinkSync(path);
    assert.equal(readCode(again, 2, 100, 1 << 20), 'read-io');
    await closeAsync(again);
  });

  it('reads across a base record only above it (a snapshot installed past the end), from the entry right after it', async () => {
    const o = await openAsync(realFs, t.dir, { segmentBytesMax: 4096 });
    await writeDurable(o, { entries: entries(1, 20, 1, 64), hardState: { term: 3, vote: null } });
    o.log.compact(100); // a snapshot through 100 installed from the leader: base record
    await writeDurable(o, { entries: entries(101, 20, 3, 64) });
    // 2026-12-07: the floor is the first entry after the base record (it was one above, so that
    // a leader whose data floor sat at that snapshot could release nothing).
    assert.equal(o.log.readBackFloor(), 101);
    assert.equal(readCode(o, 10, 20, 1 << 20), 'read-below-floor');
    assert.equal(readCode(o, 100, 120, 1 << 20), 'read-below-floor');
    // From the floor: no previous term (the base record has none; the caller's snapshot does).
    const first = o.log.readEntries(101, 120, 1 << 20);
    assert.equal(first.prevTerm, -1);
    assertEntries(first.entries, entries(101, 20, 3, 64));
    const r = o.log.readEntries(102, 120, 1 << 20);
    assert.equal(r.prevTerm, 3);
    assertEntries(r.entries, entries(102, 19, 3, 64));
    await closeAsync(o);
  });
});
