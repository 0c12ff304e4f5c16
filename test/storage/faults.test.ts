/** Fail-stop on a full disk and on a failed fdatasync, on real files behind a faulty wrapper. */
import assert from 'node:assert/strict';
import type { Entry } from '../../machines/types.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, entries, openAsync, sameEntry, tempDir, WrappedFs, writeDurable } from './helpers.js';

describe('storage fail-stop', () => {
  let t: { dir: string; cleanup: () => void };
  beforeEach(() => {
    t = tempDir('faults');
  });
  afterEach(() => t.cleanup());

  /** Issues one write per entry, all at once; resolves when the log failed. */
  function runUntilFatal(
    o: Awaited<ReturnType<typeof openAsync>>,
    all: Entry[],
  ): Promise<{ durableSeqs: number[]; fatals: Error[]; seqToEntry: Map<number, number> }> {
    const durableSeqs: number[] = [];
    const fatals: Error[] = [];
    const seqToEntry = new Map<number, number>();
    return new Promise((resolve) => {
      o.log.onDurable = (seq) => durableSeqs.push(seq);
      o.log.onFatal = (err) => {
        fatals.push(err);
        // Writes after the failure still get sequence numbers, and are never reported.
        for (let k = 0; k < 5; k++) o.log.write({ entries: [] });
        o.log.close((closeErr) => {
          assert.equal(closeErr, err, 'close reports the fatal error');
          resolve({ durableSeqs, fatals, seqToEntry });
        });
      };
      for (const e of all) seqToEntry.set(o.log.write({ entries: [e] }), e.index);
    });
  }

  it('on a full disk calls onFatal once, reports nothing more, and keeps every acknowledged entry', async () => {
    const fs = new WrappedFs(realFs);
    const o = await openAsync(fs, t.dir, { batchBytesMax: 4096 });
    await writeDurable(o, { entries: [], hardState: { term: 1, vote: null } });
    const all = entries(1, 400, 1, 128);
    fs.bytesBudget = fs.bytesWritten + 20_000; // room for about 120 of the 161-byte records, 25 a batch
    const { durableSeqs, fatals, seqToEntry } = await runUntilFatal(o, all);
    assert.equal(fatals.length, 1);
    assert.equal((fatals[0] as NodeJS.ErrnoException).code, 'ENOSPC');
    assert.ok(o.log.hasFailed());
    const acked = durableSeqs.length === 0 ? 0 : seqToEntry.get(durableSeqs[durableSeqs.length - 1]!)!;
    assert.ok(acked > 0 && acked < all.length, `${acked} entries acknowledged before the disk filled`);
    const again = await openAsync(realFs, t.dir);
    assert.equal(again.recovered.corruption, null);
    assert.ok(again.recovered.entries.length >= acked, 'no acknowledged entry lost');
    for (let i = 0; i < again.recovered.entries.length; i++) assert.ok(sameEntry(again.recovered.entries[i]!, all[i]!));
    await closeAsync(again);
  });

  it('on a failed fdatasync stops for good: no retry, no report, even for writes already queued', async () => {
    const fs = new WrappedFs(realFs);
    const o = await openAsync(fs, t.dir);
    await writeDurable(o, { entries: [], hardState: { term: 1, vote: null } });
    const all = entries(1, 200, 1, 64);
    let syncsAtFatal = -1;
    const origWrite = o.log.write.bind(o.log);
    let issued = 0;
    o.log.write = (w) => {
      // Fail the sync of the third batch.
      if (++issued === 3) fs.failSyncs = 1;
      return origWrite(w);
    };
    const p = runUntilFatal(o, all);
    const prevFatal = o.log.onFatal;
    o.log.onFatal = (err) => {
      syncsAtFatal = fs.syncs;
      prevFatal(err);
    };
    const { durableSeqs, fatals } = await p;
    assert.equal(fatals.length, 1);
    assert.equal((fatals[0] as NodeJS.ErrnoException).code, 'EIO');
    assert.equal(fs.syncs, syncsAtFatal, 'no fdatasync after the failed one');
    assert.ok(durableSeqs.length <= 2, `reported ${durableSeqs.join(',')}`);
    const again = await openAsync(realFs, t.dir);
    const last = durableSeqs.length === 0 ? 0 : durableSeqs[durableSeqs.length - 1]!;
    assert.ok(again.recovered.entries.length >= last);
    await closeAsync(again);
  });

  it('does not report a vote whose hard state write failed; the old hard state survives', async () => {
    const fs = new WrappedFs(realFs);
    const o = await openAsync(fs, t.dir);
    await new Promise<void>((resolve) => {
      o.log.onDurable = () => resolve();
      o.log.write({ entries: [], hardState: { term: 3, vote: 'a' } });
    });
    fs.bytesBudget = fs.bytesWritten; // the next write of any file fails
    const outcome = await new Promise<string>((resolve) => {
      o.log.onDurable = () => resolve('durable');
      o.log.onFatal = (err) => resolve((err as NodeJS.ErrnoException).code ?? 'no code');
      o.log.write({ entries: [], hardState: { term: 4, vote: 'b' } });
    });
    assert.equal(outcome, 'ENOSPC');
    const again = await openAsync(realFs, t.dir);
    assert.deepEqual(again.recovered.hardState, { term: 3, vote: 'a' });
    await closeAsync(again);
  });
});
