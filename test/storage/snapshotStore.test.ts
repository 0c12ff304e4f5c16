import assert from 'node:assert/strict';
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Membership, SnapshotMeta } from '../../machines/types.js';
import { crc32Bytes } from '../../storage/crc.js';
import { realFs } from '../../storage/realFs.js';
import { FileSnapshotStore } from '../../storage/snapshotStore.js';
import { WrappedFs, closeAsync, entries, openAsync, tempDir, writeDurable } from './helpers.js';

const membership = { voters: ['a', 'b', 'c'], learners: ['d'] };
const meta = (index: number, term: number): SnapshotMeta => ({ index, term, membership });

function save(store: FileSnapshotStore, m: SnapshotMeta, data: Uint8Array | Uint8Array[]): Promise<void> {
  return new Promise((resolve, reject) => store.save(m, data, (err) => (err ? reject(err) : resolve())));
}

describe('storage snapshot store', () => {
  let t: { dir: string; cleanup: () => void };
  beforeEach(() => {
    t = tempDir('snap');
  });
  afterEach(() => t.cleanup());

  it('keeps the newest two and loads the newest', async () => {
    const store = new FileSnapshotStore(realFs, t.dir);
    assert.equal(store.load(), null);
    await save(store, meta(10, 1), new Uint8Array([1]));
    await save(store, meta(20, 2), new Uint8Array([2, 2]));
    await save(store, meta(30, 2), new Uint8Array(100_000).fill(3));
    assert.equal(readdirSync(t.dir).length, 2);
    const got = store.load()!;
    assert.deepEqual(got.meta, meta(30, 2));
    assert.equal(got.data.length, 100_000);
    assert.deepEqual(store.lastLoadErrors, []);
  });

  it('skips a damaged newest snapshot, reports it, and removes leftover temporary files on open', async () => {
    const store = new FileSnapshotStore(realFs, t.dir);
    await save(store, meta(10, 1), new Uint8Array([1, 2, 3]));
    await save(store, meta(20, 1), new Uint8Array([4, 5, 6]));
    const newest = join(t.dir, readdirSync(t.dir).sort().reverse()[0]!);
    for (const at of [0, 5, 40, -1]) {
      const bytes = readFileSync(newest);
      const pos = at < 0 ? bytes.length + at : at;
      bytes[pos]! ^= 0x10;
      writeFileSync(newest, bytes);
      const copy = new FileSnapshotStore(realFs, t.dir);
      const got = copy.load()!;
      assert.deepEqual(got.meta, meta(10, 1), `flip at ${pos}`);
      assert.equal(copy.lastLoadErrors.length, 1);
      assert.equal(copy.lastLoadErrors[0]!.code, 'snapshot-checksum');
      bytes[pos]! ^= 0x10;
      writeFileSync(newest, bytes);
    }
    writeFileSync(join(t.dir, 'snap-0000000000000030-0000000000000001.snap.tmp'), 'partial');
    new FileSnapshotStore(realFs, t.dir);
    assert.ok(!readdirSync(t.dir).some((n) => n.endsWith('.tmp')));
  });

  it('skips a snapshot whose configuration no configuration entry could carry (review of 2026-12-07)', async () => {
    // Written whole, checksums right: only the configuration is wrong.
    const bad: Membership[] = [
      { voters: ['a', 'b', 'b'], learners: [] },
      { voters: [], learners: ['a'] },
      { voters: ['a'], learners: Array.from({ length: 300 }, (_, k) => `l${k}`) },
    ];
    for (const [k, membership] of bad.entries()) {
      const dir = join(t.dir, `bad${k}`);
      const one = new FileSnapshotStore(realFs, dir);
      await save(one, meta(10, 1), new Uint8Array([1]));
      await save(one, { index: 20, term: 1, membership }, new Uint8Array([2]));
      const copy = new FileSnapshotStore(realFs, dir);
      assert.deepEqual(copy.load()?.meta, meta(10, 1), JSON.stringify(membership).slice(0, 80));
      assert.deepEqual(
        copy.lastLoadErrors.map((e) => e.message),
        ['meta fields invalid'],
      );
      assert.equal(copy.openData({ index: 20, term: 1, membership }), null);
    }
  });

  it('saves parts (small ones gathered into 1 MiB writes, large ones as they are) as their concatenation', async () => {
    const store = new FileSnapshotStore(realFs, t.dir);
    const parts: Uint8Array[] = [];
    for (let k = 0; k < 3000; k++) parts.push(new Uint8Array(700).fill(k & 0xff));
    parts.push(new Uint8Array(2 * 1024 * 1024).fill(0xab));
    for (let k = 0; k < 10; k++) parts.push(new Uint8Array(k).fill(k));
    parts.push(new Uint8Array(1024 * 1024).fill(0xcd));
    const whole = Buffer.concat(parts);
    await save(store, meta(10, 1), parts);
    const got = store.load()!;
    assert.ok(Buffer.from(got.data).equals(whole));
    assert.equal(store.openData(meta(10, 1))!.dataCrc, crc32Bytes(whole, 0));
  });

  it('a file that cannot be created fails that save through its callback; the next save still runs', async () => {
    const fs = new WrappedFs(realFs);
    const store = new FileSnapshotStore(fs, t.dir);
    const open = fs.open.bind(fs);
    let failOpens = 1;
    fs.open = (path, flags) => {
      if (flags === 'create' && failOpens-- > 0) throw Object.assign(new Error('EMFILE: too many open files (simulated)'), { code: 'EMFILE' });
      return open(path, flags);
    };
    await assert.rejects(save(store, meta(10, 1), new Uint8Array([1])), (e: NodeJS.ErrnoException) => e.code === 'EMFILE');
    await save(store, meta(20, 1), new Uint8Array([2]));
    assert.deepEqual(store.load()!.meta, meta(20, 1));
  });

  it('openData reads a saved snapshot in pieces with its CRC, still after a newer save unlinks it (issue 18)', async () => {
    const store = new FileSnapshotStore(realFs, t.dir, { snapshotsKept: 1 });
    const data = new Uint8Array(300_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7) & 0xff;
    await save(store, meta(10, 1), data);
    const reader = store.openData(meta(10, 1))!;
    assert.equal(reader.byteLength, data.length);
    assert.equal(reader.dataCrc, crc32Bytes(data, 0));
    await save(store, meta(20, 1), new Uint8Array([9]));
    assert.deepEqual(readdirSync(t.dir), ['snap-0000000000000020-0000000000000001.snap']);
    const back = new Uint8Array(data.length);
    for (let at = 0; at < data.length; at += 65_536) back.set(reader.read(at, Math.min(65_536, data.length - at)), at);
    assert.deepEqual(Buffer.from(back), Buffer.from(data));
    reader.close();
    // Neither a snapshot that is gone nor another term of the same index opens.
    assert.equal(store.openData(meta(10, 1)), null);
    assert.equal(store.openData(meta(20, 2)), null);
    assert.equal(store.openData(meta(20, 1))!.dataCrc, crc32Bytes(new Uint8Array([9]), 0));
  });

  it('openData refuses a damaged header or meta and a file of the wrong length; a read that comes back short throws', async () => {
    const store = new FileSnapshotStore(realFs, t.dir);
    await save(store, meta(10, 1), new Uint8Array(1000).fill(4));
    const file = join(t.dir, readdirSync(t.dir)[0]!);
    const good = readFileSync(file);
    for (const at of [0, 5, 12, 20, 40]) {
      const bytes = Buffer.from(good);
      bytes[at]! ^= 0x01;
      writeFileSync(file, bytes);
      assert.equal(store.openData(meta(10, 1)), null, `flip at ${at}`);
    }
    writeFileSync(file, good.subarray(0, good.length - 1));
    assert.equal(store.openData(meta(10, 1)), null, 'one byte short');
    writeFileSync(file, good);
    const reader = store.openData(meta(10, 1))!;
    assert.equal(reader.read(0, 1000).length, 1000);
    truncateSync(file, good.length - 10);
    assert.throws(() => reader.read(0, 1000), /short read/);
    reader.close();
  });

  it('makes the log report a gap when the only snapshot covering compacted entries is damaged', async () => {
    const o = await openAsync(realFs, t.dir, { segmentBytesMax: 512, retainBytesMax: 1 });
    await writeDurable(o, { entries: entries(1, 40, 1), hardState: { term: 1, vote: null } });
    for (let i = 41; i <= 80; i += 4) await writeDurable(o, { entries: entries(i, 4, 1) });
    await save(o.snapshots, meta(60, 1), new Uint8Array([9]));
    o.log.compact(60);
    await closeAsync(o);
    const snapDir = join(t.dir, 'snap');
    const file = join(snapDir, readdirSync(snapDir)[0]!);
    const bytes = readFileSync(file);
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(file, bytes);
    const again = await openAsync(realFs, t.dir, { segmentBytesMax: 512 });
    assert.equal(again.recovered.snapshot, null);
    assert.equal(again.recovered.corruption?.code, 'snapshot-checksum');
    assert.equal(again.recovered.corruption?.firstBadIndex, 1);
    assert.equal(again.recovered.corruption?.lastIndexSeen, 80);
    assert.deepEqual(again.recovered.entries, []);
    assert.equal(again.snapshots.lastLoadErrors.length, 1);
    await closeAsync(again);
  });
});
