import { expect } from 'chai';
import { NodeSessionFs } from '../../actors/sessions/fs.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { decodeManifest } from '../../actors/sessions/manifest.js';
import { SessionsError, SessionsErrorCode } from '../../actors/sessions/errors.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { FileRange, Manifest } from '../../actors/sessions/types.js';
import type { StoreLimits } from '../../actors/sessions/options.js';
import { Harness, dirFiles, removeDir, sameFiles, tempDir } from './helpers.js';

const limits: Partial<StoreLimits> = { rangeRecordsMax: 4, rangeBytesMax: 4096, sessionBytesMax: 1024, recordBytesMax: 512, sessionRecordsMax: 8 };

/** Sync `to` from `from`'s snapshot through the range primitives; returns the bytes transferred. */
function sync(from: SessionsStore, to: SessionsStore, snapshot: Uint8Array, meta: { index: number; term: number }): { bytes: number; ranges: FileRange[] } {
  const ranges = to.missingRanges(snapshot);
  let bytes = 0;
  for (const r of ranges) {
    const chunk = from.readRange(r);
    bytes += chunk.bytes.length;
    to.writeRange(chunk);
  }
  to.restore({ ...meta, membership: { voters: [], learners: [] } }, snapshot);
  return { bytes, ranges };
}

/** Traffic: sessions of a few records stored in two classes, some restored, committed, a file deleted. */
function traffic(h: Harness, n: number, seed: number): void {
  for (let k = 0; k < n; k++) {
    const id = h.createSession(`t${(k + seed) % 3}`, [`rec-${seed}-${k}`, 'x'.repeat((k * 37 + seed) % 200)]);
    h.planner.storeSession(id, (k + seed) % 2);
    h.settle();
  }
}

function fileBytes(m: Manifest): number {
  return m.files.reduce((n, f) => n + f.size, 0);
}

describe('sessions: range sync (seed 004)', () => {
  it('a store with nothing receives every range and ends with the same digest and bytes', () => {
    const dirs = [tempDir(), tempDir()];
    try {
      const [a, b] = dirs.map((d) => new SessionsStore({ fs: new NodeSessionFs(d), limits }));
      const h = new Harness([a!], { dataFileBytesMax: 2 << 20 });
      traffic(h, 40, 1);
      const snap = a!.snapshot();
      const m = decodeManifest(snap);
      expect(m.files.length).to.equal(2);
      expect(m.files.every((f) => f.ranges.length >= 5)).to.equal(true);
      const { bytes } = sync(a!, b!, snap, { index: a!.appliedIndex, term: a!.appliedTerm });
      expect(bytes).to.equal(fileBytes(m));
      expect(b!.digest()).to.deep.equal(a!.digest());
      expect(sameFiles(dirFiles(dirs[0]!), dirFiles(dirs[1]!))).to.equal(null);
      expect(b!.stats().rangeBytesReceived).to.equal(bytes);
      a!.close();
      b!.close();
    } finally {
      dirs.forEach(removeDir);
    }
  });

  it('a lagging store with stale, damaged and trashed files receives only the ranges that differ', () => {
    const fsA = new MemorySessionFs();
    const fsB = new MemorySessionFs();
    const a = new SessionsStore({ fs: fsA, limits });
    const b = new SessionsStore({ fs: fsB, limits });
    // Both apply the first part; then b stops (it lags) while a goes on.
    const h = new Harness([a, b], { dataFileBytesMax: 2000, replayDelaysMs: [1000, 60_000] });
    traffic(h, 30, 2);
    const lagAt = b.appliedIndex;
    const bSizes = new Map(b.dataFiles().map((f) => [f.name, f.size]));
    traffic(h.withFollowers([0]), 30, 3);
    // Restore, commit and delete what is due in class 0 (its old files go away on a).
    h.now += 5_000;
    h.settle([0]);
    expect(a.stats().files.trashed).to.be.greaterThan(0);
    const snap = a.snapshot();
    const m = decodeManifest(snap);
    // Damage one byte in a range that b holds and a lists (b's own digests would not notice).
    const victim = m.files.find((f) => (bSizes.get(f.name) ?? 0) > 0)!;
    const h2 = fsB.open(victim.name, 'existing');
    const byte = fsB.pread(h2, 10, 1);
    fsB.pwritev(h2, [Uint8Array.of(byte[0]! ^ 0xff)], 10);
    fsB.close(h2);
    // Expected transfer: a's ranges that are not entirely inside b's copy, plus the damaged one.
    let expected = 0;
    for (const f of m.files) {
      const have = bSizes.get(f.name) ?? 0;
      for (const r of f.ranges) if (r.end > have || (f.name === victim.name && r.start <= 10 && 10 < r.end)) expected += r.end - r.start;
    }
    const { bytes, ranges } = sync(a, b, snap, { index: a.appliedIndex, term: a.appliedTerm });
    expect(bytes).to.equal(expected);
    expect(bytes).to.be.lessThan(fileBytes(m));
    expect(ranges.some((r) => r.name === victim.name && r.start <= 10)).to.equal(true);
    expect(b.appliedIndex).to.be.greaterThan(lagAt);
    expect(b.digest()).to.deep.equal(a.digest());
    expect(sameFiles(fsA.files('data'), fsB.files('data'))).to.equal(null);
    // b's files that a deleted went to trash, not kept in data/.
    expect([...fsB.files('trash').keys()].length).to.be.greaterThan(0);
    // Both continue identically from the snapshot.
    traffic(h.withFollowers([0, 1]), 10, 4);
    expect(b.digest()).to.deep.equal(a.digest());
    expect(sameFiles(fsA.files('data'), fsB.files('data'))).to.equal(null);
  });

  it('files a restarted store found on disk are fetched again unless its own snapshot lists them', () => {
    const fsA = new MemorySessionFs();
    const fsB = new MemorySessionFs();
    const a = new SessionsStore({ fs: fsA, limits });
    let b = new SessionsStore({ fs: fsB, limits });
    const h = new Harness([a, b]);
    traffic(h, 20, 5);
    const snap = a.snapshot();
    const m = decodeManifest(snap);
    // b restarts without a snapshot: what it finds (set aside to trash by its first apply) may be
    // in the page cache only, so none of it counts as held.
    b.close();
    b = new SessionsStore({ fs: fsB, limits });
    b.apply(h.log.slice(0, 1));
    expect([...fsB.files('data').keys()]).to.deep.equal([]);
    const { bytes } = sync(a, b, snap, { index: a.appliedIndex, term: a.appliedTerm });
    expect(bytes).to.equal(fileBytes(m));
    expect(b.digest()).to.deep.equal(a.digest());
    expect(sameFiles(fsA.files('data'), fsB.files('data'))).to.equal(null);
    // b restarts again, from its own snapshot (what a start loads): the files it lists are
    // confirmed, and a later install fetches only what differs.
    const own = b.snapshot();
    const ownMeta = { index: b.appliedIndex, term: b.appliedTerm, membership: { voters: [], learners: [] } };
    b.close();
    b = new SessionsStore({ fs: fsB, limits });
    b.restore(ownMeta, own);
    traffic(h.withFollowers([0]), 20, 6);
    const snap2 = a.snapshot();
    const again = sync(a, b, snap2, { index: a.appliedIndex, term: a.appliedTerm });
    expect(again.bytes).to.be.greaterThan(0);
    expect(again.bytes).to.be.lessThan(fileBytes(decodeManifest(snap2)));
    expect(b.digest()).to.deep.equal(a.digest());
    expect(sameFiles(fsA.files('data'), fsB.files('data'))).to.equal(null);
    a.close();
    b.close();
  });

  it('bytes an earlier process could not fsync are fetched again, not trusted from the page cache (a failed fsync forgets them)', () => {
    const fsA = new MemorySessionFs();
    const fsB = new MemorySessionFs();
    const a = new SessionsStore({ fs: fsA, limits });
    const h = new Harness([a], { dataFileBytesMax: 2 << 20 });
    traffic(h, 30, 8);
    const snap = a.snapshot();
    const meta = { index: a.appliedIndex, term: a.appliedTerm };
    const m = decodeManifest(snap);
    // b installs a's snapshot; the fsync that would make the fetched bytes durable fails. The
    // process stops (fail-stop); the machine does not, so the bytes stay in its page cache.
    const b = new SessionsStore({ fs: fsB, limits });
    fsB.failNextFsync();
    expect(() => sync(a, b, snap, meta)).to.throw(/EIO/);
    expect(fsB.stats.fsyncsFailed).to.equal(1);
    b.close();
    // The next process installs it again: what the earlier one wrote is fetched again, since a
    // later fsync would not write bytes the failed one marked clean.
    const b2 = new SessionsStore({ fs: fsB, limits });
    const { bytes } = sync(a, b2, snap, meta);
    expect(bytes).to.equal(fileBytes(m));
    expect(b2.digest()).to.deep.equal(a.digest());
    b2.close();
    // Power loss once the install is done (its snapshot saved): every byte it lists is on disk.
    fsB.crash();
    const b3 = new SessionsStore({ fs: fsB, limits });
    b3.restore({ ...meta, membership: { voters: [], learners: [] } }, snap);
    expect(sameFiles(fsA.files('data'), fsB.files('data'))).to.equal(null);
    expect(b3.digest()).to.deep.equal(a.digest());
    b3.close();
  });

  it('a range held only by a copy in trash/ is fetched when data/ has a shorter copy (the one a restore uses; simulator seed 51744)', () => {
    const fsA = new MemorySessionFs();
    const fsB = new MemorySessionFs();
    const a = new SessionsStore({ fs: fsA, limits });
    const b = new SessionsStore({ fs: fsB, limits });
    const h = new Harness([a], { dataFileBytesMax: 2 << 20 });
    traffic(h, 30, 9);
    const snap = a.snapshot();
    const meta = { index: a.appliedIndex, term: a.appliedTerm };
    const m = decodeManifest(snap);
    // b holds a full copy of a file in trash/ and a shorter one in data/ (in the seed: a file set
    // aside, then created again by a replay that had not reached its end).
    const victim = m.files.find((f) => f.size > 200)!;
    const full = fsA.files('data').get(victim.name)!;
    fsB.mkdirp('trash');
    fsB.mkdirp(victim.name.slice(0, victim.name.lastIndexOf('/')));
    const t = fsB.open(`trash/${victim.replayClass}-${victim.name.slice(victim.name.lastIndexOf('/') + 1)}`, 'create');
    fsB.pwritev(t, [full], 0);
    fsB.close(t);
    const d = fsB.open(victim.name, 'create');
    fsB.pwritev(d, [full.subarray(0, 97)], 0);
    fsB.close(d);
    const { ranges } = sync(a, b, snap, meta);
    expect(ranges.some((r) => r.name === victim.name && r.end > 97)).to.equal(true);
    expect(b.digest()).to.deep.equal(a.digest());
    expect(sameFiles(fsA.files('data'), fsB.files('data'))).to.equal(null);
    a.close();
    b.close();
  });

  it('checks every chunk: a flipped bit or a wrong range is refused with a code', () => {
    const a = new SessionsStore({ fs: new MemorySessionFs(), limits });
    const b = new SessionsStore({ fs: new MemorySessionFs(), limits });
    const h = new Harness([a]);
    traffic(h, 5, 6);
    const [r] = b.missingRanges(a.snapshot());
    const chunk = a.readRange(r!);
    const flipped = chunk.bytes.slice();
    flipped[3] = flipped[3]! ^ 1;
    expect(() => b.writeRange({ ...chunk, bytes: flipped }))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.rangeChecksum);
    expect(() => b.writeRange({ ...chunk, bytes: flipped, crc32: 0 }))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.rangeChecksum);
    expect(() => b.writeRange({ ...chunk, range: { ...r!, end: r!.end + 1 } }))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.rangeUnknown);
    expect(() => b.writeRange({ ...chunk, range: { ...r!, name: 'data/0/../../etc/passwd' } }))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.rangeUnknown);
    // A restore before every range arrived is refused, and changes nothing.
    const before = b.digest();
    expect(() => b.restore({ index: a.appliedIndex, term: a.appliedTerm, membership: { voters: [], learners: [] } }, a.snapshot()))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.dataMissing);
    expect(b.digest()).to.deep.equal(before);
  });

  it('the sender serves a range of a file deleted after its snapshot until a newer snapshot is saved', () => {
    const fsA = new MemorySessionFs();
    const a = new SessionsStore({ fs: fsA, limits });
    const h = new Harness([a], { replayDelaysMs: [10, 10], dataFileBytesMax: 1500 });
    traffic(h, 40, 7);
    const old = a.snapshot();
    a.snapshotSaved(a.appliedIndex);
    const ranges = new SessionsStore({ fs: new MemorySessionFs(), limits }).missingRanges(old);
    h.now += 1000;
    h.settle();
    const gone = ranges.filter((r) => a.dataFiles().every((f) => f.name !== r.name));
    expect(gone.length).to.be.greaterThan(0);
    expect(a.readRange(gone[0]!).bytes.length).to.equal(gone[0]!.end - gone[0]!.start);
    a.snapshot();
    expect(a.snapshotSaved(a.appliedIndex)).to.be.greaterThan(0);
    expect(() => a.readRange(gone[0]!))
      .to.throw(SessionsError)
      .with.property('code', SessionsErrorCode.rangeGone);
  });
});
