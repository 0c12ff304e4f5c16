/**
 * The WAL's inline writes (`DurableLog.setInlineWrites`, issue 20): on real files, batches written
 * on the event loop are reported durable in order, never from inside `write()`, mixed freely with
 * thread-pool batches, and a restart finds every entry; a failing inline write is fatal, as a
 * failing pool write is, and nothing after it is reported durable.
 */
import assert from 'node:assert/strict';
import type { Entry } from '../../machines/types.js';
import { realFs } from '../../storage/realFs.js';
import type { WalOptions } from '../../storage/options.js';
import type { FileHandle } from '../../storage/types.js';
import { readdirSync } from 'node:fs';
import { RealFsPassThrough, closeAsync, entries, openAsync, sameEntry, tempDir } from './helpers.js';

/** realFs, counting each kind of durable write; `failInline` makes writeDurableSync throw EIO. */
class CountingFs extends RealFsPassThrough {
  inline = 0;
  pooled = 0;
  failInline = false;
  open(path: string, flags: 'create' | 'existing'): FileHandle {
    const h = realFs.open(path, flags);
    assert.ok(h.writeDurable !== undefined && h.writeDurableSync !== undefined, 'this platform has O_DSYNC');
    return {
      size: () => h.size(),
      write: (d, pos, cb) => h.write(d, pos, cb),
      sync: (cb) => h.sync(cb),
      writeDurable: (d, pos, cb) => {
        this.pooled++;
        h.writeDurable!(d, pos, cb);
      },
      writeDurableSync: (d, pos) => {
        this.inline++;
        if (this.failInline) throw Object.assign(new Error('EIO (simulated)'), { code: 'EIO' });
        h.writeDurableSync!(d, pos);
      },
      truncate: (n, cb) => h.truncate(n, cb),
      readSync: (pos, n) => h.readSync(pos, n),
      close: () => h.close(),
    };
  }
}

describe('storage: inline WAL writes (a follower writes on its event loop)', () => {
  const layouts: [string, WalOptions][] = [
    ['one segment, no preallocation', { preallocateBytes: 0 }],
    // 40 writes of 5 x 100 B entries are about 26 KiB: 8 KiB segments rotate three times or more.
    ['8 KiB segments zero-filled 4 KiB ahead', { segmentBytesMax: 8 * 1024, preallocateBytes: 4 * 1024 }],
  ];
  for (const [layout, options] of layouts)
    it(`reports batches durable in order, never from inside write(), and a restart finds every entry (${layout})`, async () => {
      const t = tempDir('inline');
      try {
        const fs = new CountingFs();
        const o = await openAsync(fs, t.dir, options);
        const durable: number[] = [];
        let insideWrite = false;
        let reportedInsideWrite = false;
        o.log.onFatal = (err) => assert.fail(`unexpected fatal: ${err.message}`);
        const written: Entry[] = [];
        let next = 1;
        // 40 writes of 5 entries, at most two outstanding (each report issues the next ones, from
        // inside onDurable as a node does), switching between inline and the pool every 7 writes.
        const writesTotal = 40;
        let issued = 0;
        const issueThrough = (target: number): void => {
          while (issued < Math.min(target, writesTotal)) {
            o.log.setInlineWrites!(Math.floor(issued / 7) % 2 === 0);
            const batch = entries(next, 5, 1, 100);
            next += 5;
            written.push(...batch);
            insideWrite = true;
            o.log.write({ entries: batch });
            insideWrite = false;
            issued++;
          }
        };
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('not every write reported durable within 10 s')), 10_000);
          o.log.onDurable = (seq) => {
            if (insideWrite) reportedInsideWrite = true;
            durable.push(seq);
            if (seq === writesTotal) {
              clearTimeout(timer);
              resolve();
            } else issueThrough(seq + 2);
          };
          issueThrough(2);
        });
        assert.equal(reportedInsideWrite, false, 'a write was reported durable from inside write()');
        for (let i = 1; i < durable.length; i++) assert.ok(durable[i]! > durable[i - 1]!, `durable reports out of order: ${durable.join(',')}`);
        assert.ok(fs.inline > 0 && fs.pooled > 0, `inline ${fs.inline}, pooled ${fs.pooled}: both kinds ran`);
        await closeAsync(o);
        const again = await openAsync(realFs, t.dir, options);
        if (options.segmentBytesMax !== undefined) {
          const segments = readdirSync(t.dir, { recursive: true }).filter((n) => String(n).endsWith('.wal'));
          assert.ok(segments.length >= 3, `segments: ${segments.join(', ')}`);
        }
        const got = again.recovered.entries;
        assert.equal(got.length, written.length);
        for (let i = 0; i < written.length; i++) assert.ok(sameEntry(got[i]!, written[i]!), `entry ${written[i]!.index} differs after restart`);
        await closeAsync(again);
      } finally {
        t.cleanup();
      }
    });

  it('a failing inline write is fatal, once, and nothing after it is reported durable', async () => {
    const t = tempDir('inline-fail');
    try {
      const fs = new CountingFs();
      const o = await openAsync(fs, t.dir, { preallocateBytes: 0 });
      o.log.setInlineWrites!(true);
      const durable: number[] = [];
      const fatal: Error[] = [];
      o.log.onDurable = (seq) => durable.push(seq);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no fatal report within 5 s')), 5_000);
        o.log.onFatal = (err) => {
          fatal.push(err);
          clearTimeout(timer);
          // Let any report that would wrongly follow arrive before the checks.
          setImmediate(() => setImmediate(resolve));
        };
        const first = o.log.write({ entries: entries(1, 3, 1) });
        assert.equal(first, 1);
        fs.failInline = true;
        o.log.write({ entries: entries(4, 3, 1) });
        o.log.write({ entries: entries(7, 3, 1) });
      });
      assert.equal(fatal.length, 1);
      assert.match(fatal[0]!.message, /segment write: EIO/);
      assert.ok(
        durable.every((s) => s < 2),
        `reported durable after the failure: ${durable.join(',')}`,
      );
    } finally {
      t.cleanup();
    }
  });
});
