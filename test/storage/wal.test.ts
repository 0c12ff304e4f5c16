import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Entry } from '../../machines/types.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, entries, entry, openAsync, sameEntry, tempDir, WrappedFs, writeDurable } from './helpers.js';

function assertEntries(got: readonly Entry[], want: readonly Entry[]): void {
  assert.equal(got.length, want.length, `entry count ${got.length}, want ${want.length}`);
  for (let i = 0; i < want.length; i++) assert.ok(sameEntry(got[i]!, want[i]!), `entry ${want[i]!.index} differs`);
}

describe('storage WAL on real files', () => {
  let t: { dir: string; cleanup: () => void };
  beforeEach(() => {
    t = tempDir('wal');
  });
  afterEach(() => t.cleanup());

  it('opens empty, then gets back every entry and the hard state it made durable', async () => {
    const o = await openAsync(realFs, t.dir);
    assert.deepEqual(o.recovered, { hardState: { term: 0, vote: null }, snapshot: null, entries: [], tornBytes: 0, corruption: null, termUnknown: false });
    const want = entries(1, 10, 2, 100);
    await writeDurable(o, { entries: want.slice(0, 4), hardState: { term: 2, vote: 'n1' } });
    await writeDurable(o, { entries: want.slice(4) });
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir);
    assert.deepEqual(again.recovered.hardState, { term: 2, vote: 'n1' });
    assert.equal(again.recovered.corruption, null);
    assertEntries(again.recovered.entries, want);
    await closeAsync(again);
  });

  it('reports sequence numbers in order and groups writes issued during a sync into fewer fdatasyncs', async () => {
    const fs = new WrappedFs(realFs);
    const o = await openAsync(fs, t.dir);
    const syncsBefore = fs.syncs;
    const reported: number[] = [];
    const n = 300;
    const done = new Promise<void>((resolve) => {
      o.log.onDurable = (seq) => {
        reported.push(seq);
        if (seq === n) resolve();
      };
    });
    for (let i = 1; i <= n; i++) assert.equal(o.log.write({ entries: [entry(i, 1, 128)] }), i);
    await done;
    const syncs = fs.syncs - syncsBefore;
    assert.ok(syncs < n / 10, `${syncs} fdatasyncs for ${n} writes`);
    assert.deepEqual(
      [...reported].sort((a, b) => a - b),
      reported,
      'reports in order',
    );
    assert.equal(reported[reported.length - 1], n);
    assert.equal(o.log.stats.fdatasyncs, syncs);
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir);
    assert.equal(again.recovered.entries.length, n);
    await closeAsync(again);
  });

  it('writes batches through the O_DSYNC descriptor (writeDurable) on real files, grouped, and reads them back', async () => {
    const o = await openAsync(realFs, t.dir);
    const n = 300;
    let last = 0;
    const done = new Promise<void>((resolve) => {
      o.log.onDurable = (seq) => {
        assert.ok(seq > last, 'reports in order');
        last = seq;
        if (seq === n) resolve();
      };
    });
    for (let i = 1; i <= n; i++) o.log.write({ entries: [entry(i, 1, 128)] });
    await done;
    // Every batch was one durable write; no separate fdatasync of the segment.
    assert.ok(o.log.stats.fdatasyncs < n / 10, `${o.log.stats.fdatasyncs} durable writes for ${n} writes`);
    assert.equal(o.log.stats.fdatasyncs, o.log.stats.batches);
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir);
    assert.equal(again.recovered.entries.length, n);
    assert.equal(again.recovered.tornBytes, 0);
    await closeAsync(again);
  });

  it('keeps batches within batchBytesMax', async () => {
    const fs = new WrappedFs(realFs);
    const o = await openAsync(fs, t.dir, { batchBytesMax: 2000 });
    let last = 0;
    const done = new Promise<void>((resolve) => {
      o.log.onDurable = (seq) => {
        last = seq;
        if (seq === 60) resolve();
      };
    });
    for (let i = 1; i <= 60; i++) o.log.write({ entries: [entry(i, 1, 200)] }); // 233 bytes a record
    await done;
    assert.equal(last, 60);
    // 60 records of 233 bytes, at most 8 per batch
    assert.ok(o.log.stats.batches >= Math.ceil(60 / 8), `${o.log.stats.batches} batches`);
    await closeAsync(o);
  });

  it('makes a truncation durable with its batch, and the replacement entries win', async () => {
    const o = await openAsync(realFs, t.dir);
    await writeDurable(o, { entries: entries(1, 10, 1), hardState: { term: 1, vote: null } });
    const replacement = entries(6, 3, 2);
    await writeDurable(o, { truncateFrom: 6, entries: replacement, hardState: { term: 2, vote: null } });
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir);
    assertEntries(again.recovered.entries, [...entries(1, 5, 1), ...replacement]);
    await closeAsync(again);
  });

  it('rotates segments at segmentBytesMax, deletes covered ones on compact, and never the active one', async () => {
    // No retention (issue 18): every covered segment may go.
    const opts = { segmentBytesMax: 4096, retainBytesMax: 1 };
    const o = await openAsync(realFs, t.dir, opts);
    const all = entries(1, 200, 1, 100);
    for (let i = 0; i < 200; i += 10) await writeDurable(o, { entries: all.slice(i, i + 10), hardState: i === 0 ? { term: 1, vote: null } : undefined });
    const segs = (): string[] => readdirSync(join(t.dir, 'wal')).filter((n) => n.endsWith('.wal'));
    const before = segs().length;
    assert.ok(before >= 6, `${before} segments`);
    assert.ok(o.log.stats.rotations >= 5);
    o.log.compact(150);
    const after = segs().length;
    assert.ok(after < before && after >= 2, `${before} -> ${after} segments`);
    o.log.compact(1_000); // past the end: everything but the active segment may go
    assert.equal(segs().length, 1);
    await closeAsync(o);
    // Everything through 1000 is "covered" (a snapshot would be), and the log continues at 1001.
    const again = await openAsync(realFs, t.dir, opts);
    assert.equal(again.recovered.corruption?.code, 'log-gap', 'no snapshot covers the base: a gap');
    await closeAsync(again);
  });

  it('continues after a snapshot installed past its end (base record) without a gap', async () => {
    const o = await openAsync(realFs, t.dir);
    await writeDurable(o, { entries: entries(1, 5, 1), hardState: { term: 1, vote: null } });
    const meta = { index: 50, term: 3, membership: { voters: ['a', 'b', 'c'], learners: [] } };
    await new Promise<void>((resolve, reject) => o.snapshots.save(meta, new Uint8Array([1, 2, 3]), (err) => (err ? reject(err) : resolve())));
    // The node writes the entries after the snapshot before it calls compact: both orders work.
    await writeDurable(o, { entries: entries(51, 3, 3), hardState: { term: 3, vote: null } });
    o.log.compact(50);
    await writeDurable(o, { entries: entries(54, 2, 3) });
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir);
    assert.equal(again.recovered.corruption, null);
    assert.deepEqual(again.recovered.snapshot, meta);
    assertEntries(again.recovered.entries, entries(51, 5, 3));
    assert.ok(Buffer.from(again.snapshot!.data).equals(Buffer.from([1, 2, 3])));
    await closeAsync(again);
  });

  it('discards log entries that disagree with the snapshot at its index (Raft), and reports them as damage until re-replicated', async () => {
    const o = await openAsync(realFs, t.dir);
    await writeDurable(o, { entries: entries(1, 20, 1), hardState: { term: 2, vote: null } });
    const meta = { index: 10, term: 2, membership: { voters: ['a'], learners: [] } };
    await new Promise<void>((resolve, reject) => o.snapshots.save(meta, new Uint8Array(0), (err) => (err ? reject(err) : resolve())));
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir);
    // The node never writes such a log (an installed snapshot voids every entry it replaces), so
    // entries 11..20 may have been acknowledged: the node must not vote until they are back.
    assert.deepEqual(again.recovered.corruption && { ...again.recovered.corruption, message: '' }, {
      code: 'log-gap',
      firstBadIndex: 11,
      lastIndexSeen: 20,
      message: '',
    });
    assert.deepEqual(again.recovered.entries, []);
    await writeDurable(again, { entries: entries(11, 2, 2) });
    await closeAsync(again);
    // The stale entries stay void, the new ones follow the snapshot; repair is pending through 20.
    const third = await openAsync(realFs, t.dir);
    assert.equal(third.recovered.corruption?.lastIndexSeen, 20);
    assertEntries(third.recovered.entries, entries(11, 2, 2));
    await writeDurable(third, { entries: entries(13, 8, 2) });
    await closeAsync(third);
    const fourth = await openAsync(realFs, t.dir);
    assert.equal(fourth.recovered.corruption, null);
    assertEntries(fourth.recovered.entries, entries(11, 10, 2));
    await closeAsync(fourth);
  });

  it('one write can void the log an installed snapshot replaces and continue after the snapshot', async () => {
    const o = await openAsync(realFs, t.dir);
    await writeDurable(o, { entries: entries(1, 20, 1), hardState: { term: 1, vote: null } });
    // The node installed a snapshot through 30 (term 2): every entry is voided and the next ones
    // continue at 31, in the same write (a truncation, then a base record, then the entries).
    await writeDurable(o, { truncateFrom: 1, entries: entries(31, 5, 2), hardState: { term: 2, vote: null } });
    const meta = { index: 30, term: 2, membership: { voters: ['a'], learners: [] } };
    await new Promise<void>((resolve, reject) => o.snapshots.save(meta, new Uint8Array([9]), (err) => (err ? reject(err) : resolve())));
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir);
    assert.equal(again.recovered.corruption, null);
    assertEntries(again.recovered.entries, entries(31, 5, 2));
    await closeAsync(again);
  });

  it('a crash before that snapshot is durable leaves a gap: reported as damage (those entries were never acknowledged)', async () => {
    const o = await openAsync(realFs, t.dir);
    await writeDurable(o, { entries: entries(1, 20, 1), hardState: { term: 1, vote: null } });
    await writeDurable(o, { truncateFrom: 1, entries: entries(31, 5, 2), hardState: { term: 2, vote: null } });
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir);
    assert.equal(again.recovered.corruption?.code, 'log-gap');
    assert.deepEqual(again.recovered.entries, []);
    await closeAsync(again);
  });

  it('throws on a broken contract: a gap, a vote changed within a term, a term going back', async () => {
    const o = await openAsync(realFs, t.dir);
    await writeDurable(o, { entries: entries(1, 3, 1), hardState: { term: 1, vote: 'a' } });
    assert.throws(() => o.log.write({ entries: [entry(3, 1)] }), { code: 'STORAGE_INVARIANT' });
    assert.throws(() => o.log.write({ entries: [], hardState: { term: 1, vote: 'b' } }), { code: 'STORAGE_INVARIANT' });
    assert.throws(() => o.log.write({ entries: [], hardState: { term: 0, vote: null } }), { code: 'STORAGE_INVARIANT' });
    assert.throws(() => o.log.write({ truncateFrom: 0, entries: [] }), { code: 'STORAGE_INVARIANT' });
    await closeAsync(o);
    assert.throws(() => o.log.write({ entries: [] }), { code: 'STORAGE_INVARIANT' });
  });

  it('reports a vote durable only after the hard state file is replaced and its directory synced', async () => {
    const fs = new WrappedFs(realFs);
    const o = await openAsync(fs, t.dir);
    const dirSyncs = fs.dirSyncs;
    await writeDurable(o, { entries: [], hardState: { term: 5, vote: 'n2' } });
    assert.equal(fs.dirSyncs, dirSyncs + 1, 'one directory fsync for the rename');
    assert.ok(!readdirSync(t.dir).includes('hardstate.tmp'));
    await closeAsync(o);
    const again = await openAsync(realFs, t.dir);
    assert.deepEqual(again.recovered.hardState, { term: 5, vote: 'n2' });
    await closeAsync(again);
  });
});
