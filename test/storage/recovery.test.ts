/**
 * Recovery on real files: torn tails at many offsets, bit flips at random positions of the durable
 * bytes, damaged hard state. A reference log is built once; each case writes a changed copy of its
 * files into a fresh directory and opens it.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import type { Entry } from '../../machines/types.js';
import { FrameStatus, newFrameCursor, readFrame, readU64, RecordType } from '../../storage/frame.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, entries, openAsync, sameEntry, seededRandom, writeDurable } from './helpers.js';

interface RecordSpan {
  readonly start: number;
  readonly end: number;
  /** The entry index, or 0 for other records. */
  readonly index: number;
}

interface Reference {
  readonly files: Map<string, Uint8Array>;
  /** Segment paths (relative), oldest first. */
  readonly segments: string[];
  readonly layout: Map<string, RecordSpan[]>;
  readonly acked: Entry[];
}

const OPTS = { segmentBytesMax: 1024 };
const DATA_BYTES = 16;

function readTree(root: string): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (d: string): void => {
    for (const name of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, name.name);
      if (name.isDirectory()) walk(p);
      else out.set(relative(root, p), readFileSync(p));
    }
  };
  walk(root);
  return out;
}

function writeTree(root: string, files: Map<string, Uint8Array>): void {
  for (const [rel, bytes] of files) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), bytes);
  }
}

function layoutOf(bytes: Uint8Array): RecordSpan[] {
  const cur = newFrameCursor();
  const spans: RecordSpan[] = [];
  let at = 0;
  while (readFrame(bytes, at, bytes.length, cur) === FrameStatus.ok) {
    spans.push({ start: at, end: cur.next, index: cur.type === RecordType.entry ? readU64(bytes, cur.payloadStart) : 0 });
    at = cur.next;
  }
  assert.equal(at, bytes.length, 'reference segment parses to its end');
  return spans;
}

function assertPrefix(got: readonly Entry[], acked: readonly Entry[], count: number, what: string): void {
  assert.equal(got.length, count, `${what}: ${got.length} entries, want ${count}`);
  for (let i = 0; i < count; i++) assert.ok(sameEntry(got[i]!, acked[i]!), `${what}: entry ${i + 1} differs`);
}

describe('storage recovery on real files', function () {
  this.timeout(60_000);
  let root: string;
  let ref: Reference;
  let caseNo = 0;
  const freshDir = (): string => {
    const d = join(root, `case-${caseNo++}`);
    mkdirSync(d);
    return d;
  };

  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'sessionraft-recovery-'));
    const dir = join(root, 'reference');
    const o = await openAsync(realFs, dir, OPTS);
    const acked = entries(1, 60, 1, DATA_BYTES);
    await writeDurable(o, { entries: [], hardState: { term: 1, vote: 'n1' } });
    for (let i = 0; i < acked.length; i += 3) await writeDurable(o, { entries: acked.slice(i, i + 3) });
    await closeAsync(o);
    const files = readTree(dir);
    const segments = [...files.keys()].filter((p) => p.endsWith('.wal')).sort();
    assert.ok(segments.length >= 3, `${segments.length} segments`);
    const layout = new Map(segments.map((s) => [s, layoutOf(files.get(s)!)]));
    ref = { files, segments, layout, acked };
  });

  after(() => rmSync(root, { recursive: true, force: true }));

  /** Entries in segments before `seg`, plus those in `seg` whose records end at or before `offset`. */
  function entriesBefore(seg: string, offset: number): number {
    let n = 0;
    for (const s of ref.segments) {
      for (const r of ref.layout.get(s)!) {
        if (s === seg && r.end > offset) return n;
        if (r.index > 0) n++;
      }
      if (s === seg) return n;
    }
    return n;
  }

  describe('a torn tail', () => {
    async function cutAt(offset: number, check: { reopen: boolean; append: boolean }): Promise<void> {
      const last = ref.segments[ref.segments.length - 1]!;
      const files = new Map(ref.files);
      files.set(last, ref.files.get(last)!.subarray(0, offset));
      const dir = freshDir();
      writeTree(dir, files);
      const o = await openAsync(realFs, dir, OPTS);
      const keep = entriesBefore(last, offset);
      const spans = ref.layout.get(last)!;
      const cutRecord = spans.find((r) => r.start < offset && offset < r.end);
      const what = `cut at ${last}+${offset}`;
      assert.equal(o.recovered.corruption, null, what);
      assert.equal(o.recovered.tornBytes, cutRecord === undefined ? 0 : offset - cutRecord.start, what);
      assertPrefix(o.recovered.entries, ref.acked, keep, what);
      assert.deepEqual(o.recovered.hardState, { term: 1, vote: 'n1' });
      if (cutRecord !== undefined) {
        const kept = readdirSync(join(dir, 'torn'));
        assert.equal(kept.length, 1, `${what}: torn bytes kept aside`);
        assert.equal(readFileSync(join(dir, 'torn', kept[0]!)).length, offset - cutRecord.start);
      }
      const appended = check.append ? ref.acked.slice(keep, keep + 2) : [];
      if (check.append) await writeDurable(o, { entries: appended });
      await closeAsync(o);
      if (check.reopen) {
        const again = await openAsync(realFs, dir, OPTS);
        assert.equal(again.recovered.corruption, null, `${what}: reopen`);
        assert.equal(again.recovered.tornBytes, 0, `${what}: reopen finds nothing torn`);
        assertPrefix(again.recovered.entries, ref.acked, keep + appended.length, `${what}: reopen`);
        await closeAsync(again);
      }
      rmSync(dir, { recursive: true, force: true });
    }

    it("is cut at every offset inside the last segment's last three records, losing nothing before it", async () => {
      const last = ref.segments[ref.segments.length - 1]!;
      const spans = ref.layout.get(last)!;
      const from = spans[Math.max(0, spans.length - 3)]!.start;
      const end = ref.files.get(last)!.length;
      for (let offset = from; offset < end; offset++) await cutAt(offset, { reopen: offset % 5 === 0, append: offset % 10 === 0 });
    });

    it('is cut at random offsets of the last segment, including inside its header', async () => {
      const last = ref.segments[ref.segments.length - 1]!;
      const rnd = seededRandom(7);
      const size = ref.files.get(last)!.length;
      const offsets = [0, 1, 15, 16, 47, 48, ...Array.from({ length: 12 }, () => Math.floor(rnd() * size))];
      for (const offset of offsets) await cutAt(offset, { reopen: true, append: true });
    });

    it('is a zero-filled extension of the last segment (the file grew, its data never came; or preallocated): cut, nothing kept aside', async () => {
      const last = ref.segments[ref.segments.length - 1]!;
      for (const zeros of [1, 15, 16, 17, 100, 4096]) {
        const files = new Map(ref.files);
        files.set(last, Buffer.concat([ref.files.get(last)!, Buffer.alloc(zeros)]));
        const dir = freshDir();
        writeTree(dir, files);
        const o = await openAsync(realFs, dir, OPTS);
        assert.equal(o.recovered.corruption, null);
        assert.equal(o.recovered.tornBytes, 0, 'zeros were never written: nothing torn');
        assert.equal(existsSync(join(dir, 'torn')) ? readdirSync(join(dir, 'torn')).length : 0, 0, 'no zeros copied aside');
        assertPrefix(o.recovered.entries, ref.acked, ref.acked.length, `${zeros} zeros`);
        await closeAsync(o);
      }
    });
  });

  describe('a flipped bit in the durable bytes', () => {
    it('is always corruption: nothing past the bad record is trusted, nothing before it is lost', async () => {
      const rnd = seededRandom(42);
      const paths = [...ref.files.keys()].sort();
      const totalBytes = paths.reduce((n, p) => n + ref.files.get(p)!.length, 0);
      const trials = 80;
      for (let trial = 0; trial < trials; trial++) {
        // A position uniform over all durable bytes.
        let pos = Math.floor(rnd() * totalBytes);
        let path = paths[0]!;
        for (const p of paths) {
          const n = ref.files.get(p)!.length;
          if (pos < n) {
            path = p;
            break;
          }
          pos -= n;
        }
        const bit = Math.floor(rnd() * 8);
        const files = new Map(ref.files);
        const bytes = Uint8Array.from(ref.files.get(path)!);
        bytes[pos]! ^= 1 << bit;
        files.set(path, bytes);
        const dir = freshDir();
        writeTree(dir, files);
        const what = `trial ${trial}: bit ${bit} of ${path}+${pos}`;
        const o = await openAsync(realFs, dir, OPTS);
        const c = o.recovered.corruption;
        assert.notEqual(c, null, what);
        if (path === 'hardstate') {
          assert.equal(c!.code, 'hardstate-checksum', what);
          assert.equal(c!.firstBadIndex, 0, what);
          assertPrefix(o.recovered.entries, ref.acked, ref.acked.length, what);
          assert.deepEqual(o.recovered.hardState, { term: 1, vote: null }, `${what}: best bound, no vote`);
          await closeAsync(o);
          continue;
        }
        const keep = entriesBefore(path, pos);
        assert.match(c!.code, /^log-(checksum|framing|gap)$/, what);
        assertPrefix(o.recovered.entries, ref.acked, keep, what);
        assert.equal(c!.firstBadIndex, keep + 1, what);
        assert.equal(c!.lastIndexSeen, ref.acked.length, `${what}: every index still visible`);
        assert.equal(o.recovered.tornBytes, 0, what);
        const onDisk = readdirSync(join(dir, 'wal'))
          .filter((n) => n.endsWith('.wal'))
          .reduce((n, name) => n + statSync(join(dir, 'wal', name)).size, 0);
        assert.equal(o.log.segmentBytes(), onDisk, `${what}: segments counted as on disk (a damage cut keeps only its prefix)`);
        // The node runs on as a non-voting follower and gets the rest re-replicated; half the
        // trials get all of it back, the other half only part of it.
        const full = trial % 2 === 0;
        const upTo = full ? ref.acked.length : Math.min(ref.acked.length - 1, keep + 2);
        if (upTo > keep) await writeDurable(o, { entries: ref.acked.slice(keep, upTo) });
        await closeAsync(o);
        const again = await openAsync(realFs, dir, OPTS);
        assertPrefix(again.recovered.entries, ref.acked, Math.max(upTo, keep), `${what}: reopen`);
        if (full) assert.equal(again.recovered.corruption, null, `${what}: repaired`);
        else {
          assert.equal(again.recovered.corruption?.code, c!.code, `${what}: repair still pending`);
          assert.equal(again.recovered.corruption?.lastIndexSeen, ref.acked.length, what);
        }
        assert.ok(
          readdirSync(join(dir, 'wal')).some((n) => n.endsWith('.damaged')),
          `${what}: damaged bytes kept aside`,
        );
        await closeAsync(again);
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('a segment that is not the last', () => {
    it('cut short is corruption, not a torn tail', async () => {
      const middle = ref.segments[1]!;
      const files = new Map(ref.files);
      files.set(middle, ref.files.get(middle)!.subarray(0, ref.files.get(middle)!.length - 5));
      const dir = freshDir();
      writeTree(dir, files);
      const o = await openAsync(realFs, dir, OPTS);
      const keep = entriesBefore(middle, ref.files.get(middle)!.length - 5);
      assert.equal(o.recovered.corruption?.code, 'log-framing');
      assert.equal(o.recovered.tornBytes, 0);
      assertPrefix(o.recovered.entries, ref.acked, keep, 'middle cut');
      await closeAsync(o);
    });

    it('missing from the middle of the chain is a gap', async () => {
      const files = new Map(ref.files);
      files.delete(ref.segments[1]!);
      const dir = freshDir();
      writeTree(dir, files);
      const o = await openAsync(realFs, dir, OPTS);
      assert.equal(o.recovered.corruption?.code, 'log-gap');
      assertPrefix(o.recovered.entries, ref.acked, entriesBefore(ref.segments[1]!, 0), 'missing segment');
      await closeAsync(o);
    });
  });

  describe('the hard state', () => {
    it('truncated at any length is corruption (the node must not vote); the log is intact', async () => {
      const full = ref.files.get('hardstate')!;
      for (const len of [0, 1, 4, 23, full.length - 1]) {
        const files = new Map(ref.files);
        files.set('hardstate', full.subarray(0, len));
        const dir = freshDir();
        writeTree(dir, files);
        const o = await openAsync(realFs, dir, OPTS);
        assert.equal(o.recovered.corruption?.code, 'hardstate-checksum', `length ${len}`);
        assert.equal(o.recovered.corruption?.firstBadIndex, 0);
        assert.equal(o.recovered.hardState.vote, null);
        assertPrefix(o.recovered.entries, ref.acked, ref.acked.length, `length ${len}`);
        await closeAsync(o);
      }
    });

    it('missing while the log has entries is corruption; missing on a fresh directory is term 0', async () => {
      const files = new Map(ref.files);
      files.delete('hardstate');
      const dir = freshDir();
      writeTree(dir, files);
      const o = await openAsync(realFs, dir, OPTS);
      assert.equal(o.recovered.corruption?.code, 'hardstate-missing');
      await closeAsync(o);
    });

    it('ignores and removes a temporary file left by a crash in the middle of a replace', async () => {
      const files = new Map(ref.files);
      files.set('hardstate.tmp', new Uint8Array([1, 2, 3]));
      const dir = freshDir();
      writeTree(dir, files);
      const o = await openAsync(realFs, dir, OPTS);
      assert.equal(o.recovered.corruption, null);
      assert.deepEqual(o.recovered.hardState, { term: 1, vote: 'n1' });
      assert.ok(!existsSync(join(dir, 'hardstate.tmp')));
      await closeAsync(o);
    });
  });
});
