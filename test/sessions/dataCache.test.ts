/**
 * The data files' write cache (issue 20): records read back soon after they were written come from
 * memory, every read still returns the bytes on disk, the budget holds, and what checks the disk
 * against the digests reads the disk.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { DataFiles } from '../../actors/sessions/dataFiles.js';
import { defaultStoreLimits } from '../../actors/sessions/options.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';

/** What a cached record costs besides its bytes (dataFiles.ts CACHE_CHUNK_OVERHEAD_BYTES). */
const OVERHEAD = 160;

function record(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

describe('data files: write cache', () => {
  it('answers a read of a record just written from memory, and a read past the budget from the disk', () => {
    const fs = new MemorySessionFs();
    // Room for two 1,000-byte records and their overhead, not three.
    const files = new DataFiles(fs, defaultStoreLimits, 8, 2 * (1000 + OVERHEAD) + 10);
    const f = files.create(0, 1, 1);
    const a = record(1000, 1);
    const b = record(1000, 2);
    const c = record(1000, 3);
    files.append(f, a);
    files.append(f, b);
    expect(files.cachedBytes).to.equal(2 * (1000 + OVERHEAD));
    expect(files.read(f, 1000, 1000)).to.deep.equal(b);
    expect(files.read(f, 10, 20)).to.deep.equal(a.subarray(10, 30));
    expect(files.counters).to.include({ cacheHits: 2, reads: 0 });
    files.append(f, c);
    // `a` was evicted: its bytes come from the disk now, the same bytes.
    expect(files.cachedBytes).to.equal(2 * (1000 + OVERHEAD));
    expect(files.read(f, 0, 1000)).to.deep.equal(a);
    expect(files.counters).to.include({ cacheHits: 2, reads: 1 });
    // A span over two records is read from the disk too.
    expect(files.read(f, 1990, 20)).to.deep.equal(new Uint8Array([...b.subarray(990), ...c.subarray(0, 10)]));
    expect(files.counters.reads).to.equal(2);
  });

  it('with a budget of 0 reads everything from the disk', () => {
    const files = new DataFiles(new MemorySessionFs(), defaultStoreLimits, 8, 0);
    const f = files.create(0, 1, 1);
    files.append(f, record(100, 1));
    expect(files.read(f, 0, 100)).to.deep.equal(record(100, 1));
    expect(files.counters).to.include({ cacheHits: 0, reads: 1 });
    expect(files.cachedBytes).to.equal(0);
  });

  it('verify() reads the disk: a byte changed on disk is found although the cache holds the record', () => {
    const fs = new MemorySessionFs();
    const files = new DataFiles(fs, defaultStoreLimits, 8, 1 << 20);
    const f = files.create(0, 1, 1);
    files.append(f, record(500, 1));
    files.flushAll();
    expect(files.verify()).to.deep.equal([]);
    const h = fs.open(f.name, 'existing');
    fs.pwritev(h, [new Uint8Array([0xee])], 7);
    fs.close(h);
    expect(files.read(f, 0, 500)).to.deep.equal(record(500, 1)); // the cache: what was written
    expect(files.verify()).to.deep.equal([{ name: f.name, start: 0, end: 500 }]);
  });

  it('a removed file and a load leave nothing cached', () => {
    const fs = new MemorySessionFs();
    const files = new DataFiles(fs, defaultStoreLimits, 8, 1 << 20);
    const f1 = files.create(0, 1, 1);
    files.append(f1, record(300, 1));
    const f2 = files.create(0, 1, 2); // seals f1
    files.append(f2, record(200, 2));
    f1.readCursor = f1.consumed = f1.size;
    files.remove(f1);
    expect(files.cachedBytes).to.equal(200 + OVERHEAD);
    files.syncAll();
    const meta = files.filesMeta();
    files.load(files.classesMeta(), meta);
    expect(files.cachedBytes).to.equal(0);
    const g = files.get(1, 2)!;
    expect(files.read(g, 0, 200)).to.deep.equal(record(200, 2));
    expect(files.counters.cacheHits).to.equal(0);
  });

  it('property: every read returns the bytes written there, and the cache stays within its budget', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('append' as const), cls: fc.integer({ min: 0, max: 1 }), len: fc.integer({ min: 1, max: 700 }) }),
      fc.record({
        kind: fc.constant('read' as const),
        cls: fc.integer({ min: 0, max: 1 }),
        pick: fc.nat(),
        at: fc.nat(),
        len: fc.integer({ min: 1, max: 900 }),
      }),
      fc.record({ kind: fc.constant('newFile' as const), cls: fc.integer({ min: 0, max: 1 }) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4000 }), fc.array(op, { maxLength: 80 }), (budget, ops) => {
        const files = new DataFiles(new MemorySessionFs(), defaultStoreLimits, 4, budget);
        const model = new Map<number, number[]>(); // file low -> its bytes
        const newest = [0, 0];
        let low = 0;
        const open = (cls: number): void => {
          low++;
          files.create(cls, 1, low);
          model.set(low, []);
          newest[cls] = low;
        };
        open(0);
        open(1);
        let seed = 0;
        for (const o of ops) {
          // Appends go to the class's newest file; reads to any file (sealed ones included).
          const lows = [...model.keys()];
          const f = files.get(1, o.kind === 'read' ? lows[o.pick % lows.length]! : newest[o.cls]!)!;
          const bytes = model.get(f.low)!;
          if (o.kind === 'newFile') open(o.cls);
          else if (o.kind === 'append') {
            const r = record(o.len, ++seed);
            files.append(f, r);
            for (const x of r) bytes.push(x);
          } else if (bytes.length > 0) {
            const at = o.at % bytes.length;
            const len = Math.min(o.len, bytes.length - at);
            expect(Array.from(files.read(f, at, len))).to.deep.equal(bytes.slice(at, at + len));
          }
          expect(files.cachedBytes).to.be.at.most(budget);
          expect(files.cachedBytes).to.be.at.least(0);
        }
      }),
      { numRuns: 200 },
    );
  });
});
