/**
 * Read-ahead windows over the data files (readWindows.ts): whatever the sequence of appends,
 * reads, in-place range writes (range sync), removals and loads, a read answers the bytes a read
 * without windows answers, the windows stay within their byte budget, and sequential reads of
 * small records cost one pread per window.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { DataFiles, type DataFile } from '../../actors/sessions/dataFiles.js';
import { defaultStoreLimits } from '../../actors/sessions/options.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';

const WINDOW_BYTES = 64;

type Op =
  | { readonly op: 'append'; readonly bytes: Uint8Array }
  | { readonly op: 'read'; readonly at: number; readonly len: number }
  | { readonly op: 'rewrite'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'next' }
  | { readonly op: 'remove' }
  | { readonly op: 'reload' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 40 }) }) },
  {
    weight: 6,
    arbitrary: fc.record({ op: fc.constant('read' as const), at: fc.nat(), len: fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 90 })) }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('rewrite' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 20 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'next' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'remove' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reload' as const }) },
);

/** Two sets of data files driven alike, one with windows and one without. */
class Pair {
  readonly withWindows = new DataFiles(new MemorySessionFs(), defaultStoreLimits, 8, WINDOW_BYTES);
  readonly without = new DataFiles(new MemorySessionFs(), defaultStoreLimits, 8, 0);
  private low = 1;

  constructor() {
    this.create();
  }

  /** The live files of both, in the same order. */
  files(): [DataFile, DataFile][] {
    const a = this.withWindows.all();
    const b = this.without.all();
    expect(a.map((f) => f.name)).to.deep.equal(b.map((f) => f.name));
    return a.map((f, k) => [f, b[k]!]);
  }

  create(): void {
    const low = this.low++;
    this.withWindows.create(1, 1, low);
    this.without.create(1, 1, low);
  }

  apply(o: Op): void {
    const files = this.files();
    const newest = files[files.length - 1];
    switch (o.op) {
      case 'append':
        if (newest === undefined) return;
        this.withWindows.append(newest[0], o.bytes);
        this.without.append(newest[1], o.bytes);
        if (o.bytes[0]! % 2 === 0) {
          this.withWindows.flushAll();
          this.without.flushAll();
        }
        return;
      case 'read':
        for (const [a, b] of files) {
          if (a.size === 0) continue;
          const at = o.at % a.size;
          const len = Math.min(o.len, a.size - at);
          expect(Buffer.from(this.withWindows.read(a, at, len)).toString('hex'), `${a.name} ${at}+${len}`).to.equal(
            Buffer.from(this.without.read(b, at, len)).toString('hex'),
          );
        }
        return;
      case 'rewrite':
        // Range sync writes a range in place (here other bytes, so that a stale window would show;
        // only in sealed files, whose digests a reload does not recompute).
        for (const [a, b] of files) {
          if (a.size === 0 || !a.sealed) continue;
          const at = o.at % a.size;
          const bytes = o.bytes.subarray(0, a.size - at);
          this.withWindows.writeAny(a.name, a.trashName, at, bytes);
          this.without.writeAny(b.name, b.trashName, at, bytes);
        }
        return;
      case 'next':
        this.create();
        return;
      case 'remove': {
        // The oldest sealed file leaves the state (DataDelete).
        const oldest = files[0];
        if (oldest === undefined || !oldest[0].sealed) return;
        this.withWindows.remove(oldest[0]);
        this.without.remove(oldest[1]);
        return;
      }
      case 'reload':
        // A snapshot's files replace the state's (the same metadata here: new DataFile objects).
        this.withWindows.flushAll();
        this.without.flushAll();
        this.withWindows.load(this.withWindows.classesMeta(), this.withWindows.filesMeta());
        this.without.load(this.without.classesMeta(), this.without.filesMeta());
        return;
    }
  }
}

describe('data files: read-ahead windows', () => {
  it('answer what a read without windows answers, and hold at most four windows (property)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 120 }), (ops) => {
        const p = new Pair();
        for (const o of ops) {
          p.apply(o);
          expect(p.withWindows.windows.bytesHeld).to.be.at.most(4 * WINDOW_BYTES);
        }
        p.apply({ op: 'read', at: 0, len: 90 });
      }),
      { numRuns: 300 },
    );
  });

  it('sequential reads of small records cost one pread per window, not one per read', () => {
    const files = new DataFiles(new MemorySessionFs(), defaultStoreLimits, 8, 1024);
    const f = files.create(1, 1, 1);
    for (let k = 0; k < 100; k++) files.append(f, new Uint8Array(32).fill(k));
    files.flushAll();
    for (let k = 0; k < 100; k++) {
      // Header, then the record: as the scheduler and the restore read it.
      expect(files.read(f, k * 32, 4)[0]).to.equal(k);
      expect(files.read(f, k * 32, 32)[31]).to.equal(k);
    }
    // 3,200 bytes in windows of 1,024: four preads for 200 reads.
    expect(files.counters.reads).to.equal(4);
    expect(files.windows.counters.hits).to.equal(196);
  });

  it('a read too large to share a window goes to the file and keeps no window', () => {
    const files = new DataFiles(new MemorySessionFs(), defaultStoreLimits, 8, 1024);
    const f = files.create(1, 1, 1);
    files.append(f, new Uint8Array(600).fill(7));
    files.flushAll();
    expect(files.read(f, 0, 600)[599]).to.equal(7);
    expect(files.windows.bytesHeld).to.equal(0);
    expect(files.counters.reads).to.equal(1);
  });

  it("with a file system whose pread copies (the simulator's), changing what a read returned changes no later read", () => {
    const files = new DataFiles(new MemorySessionFs(), defaultStoreLimits, 8, 1024);
    const f = files.create(1, 1, 1);
    files.append(f, new Uint8Array(100).fill(3));
    files.flushAll();
    files.read(f, 0, 10).fill(9);
    expect([...files.read(f, 0, 10)]).to.deep.equal(new Array(10).fill(3));
  });
});
