import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { crc32Bytes, crc32Range, crc32Span } from '../../storage/crc.js';
import { FRAME_HEADER_BYTES, FrameStatus, newFrameCursor, readFrame, readU64, RecordType, writeU64 } from '../../storage/frame.js';
import { LogBuilder } from '../../storage/logBuilder.js';
import { BatchBuffer, encodeSegmentPrefix, SEGMENT_PREFIX_BYTES_MAX } from '../../storage/records.js';
import { scanSegments, segmentFile, type SegmentFile } from '../../storage/scan.js';
import { assertHas, entry } from './helpers.js';

/** One segment file holding these entries (as the WAL would write it). */
function segment(no: number, prev: number, build: (b: BatchBuffer) => void): SegmentFile {
  const b = new BatchBuffer(0);
  build(b);
  const start = encodeSegmentPrefix(b.buf, SEGMENT_PREFIX_BYTES_MAX, no, prev, null);
  const bytes = b.buf.slice(start, b.length);
  return segmentFile(no, `${no}.wal`, () => bytes);
}

/** The same segment with other bytes. */
function withBytes(f: SegmentFile, bytes: Uint8Array): SegmentFile {
  return segmentFile(f.no, f.name, () => bytes);
}

describe('storage framing', () => {
  it('computes the same CRC-32 as zlib, also when a range is continued natively', () => {
    const buf = Buffer.from('the quick brown fox jumps over the lazy dog, 0123456789');
    assert.equal(crc32Range(buf, 0, buf.length, 0), crc32(buf));
    assert.equal(crc32Bytes(buf.subarray(10), crc32Range(buf, 0, 10, 0)), crc32(buf));
    assert.equal(crc32Bytes(new Uint8Array(0), 1234), 1234);
    // Slicing-by-8 and the byte loop, short and long (zlib) paths, any split point, any alignment.
    const big = Uint8Array.from({ length: 2000 }, (_, i) => (i * 131 + (i >> 3)) & 0xff);
    for (const len of [0, 1, 7, 8, 9, 15, 17, 147, 511, 512, 513, 1999]) {
      for (const start of [0, 1, 3, 8]) {
        const end = Math.min(big.length, start + len);
        const want = crc32(big.subarray(start, end));
        assert.equal(crc32Range(big, start, end, 0), want, `range ${start}..${end}`);
        assert.equal(crc32Span(big, start, end, 0), want, `span ${start}..${end}`);
        assert.equal(crc32Bytes(big.subarray(start, end), 0), want, `bytes ${start}..${end}`);
        const mid = start + ((end - start) >> 1);
        assert.equal(crc32Span(big, mid, end, crc32Range(big, start, mid, 0)), want, `continued at ${mid}`);
      }
    }
  });

  it('keeps u64 values up to 2^53 - 1 and rejects larger ones on read', () => {
    const b = new Uint8Array(8);
    for (const v of [0, 1, 0xffffffff, 0x1_0000_0000, Number.MAX_SAFE_INTEGER]) {
      writeU64(b, 0, v);
      assert.equal(readU64(b, 0), v);
    }
    b.fill(0xff);
    assert.equal(readU64(b, 0), -1);
  });

  it('reads back an encoded entry record and reports each way a frame can be incomplete or bad', () => {
    const b = new BatchBuffer(0);
    b.appendEntry(entry(7, 3, 20));
    const rec = b.buf.subarray(SEGMENT_PREFIX_BYTES_MAX, b.length);
    const cur = newFrameCursor();
    assert.equal(readFrame(rec, 0, rec.length, cur), FrameStatus.ok);
    assert.equal(cur.type, RecordType.entry);
    assert.equal(cur.payloadBytes, 17 + 20);
    assert.equal(cur.next, rec.length);
    assert.equal(readFrame(rec, rec.length, rec.length, cur), FrameStatus.end);
    const table: Array<[string, (r: Uint8Array) => Uint8Array, FrameStatus]> = [
      ['fewer bytes than a header', (r) => r.subarray(0, FRAME_HEADER_BYTES - 1), FrameStatus.shortHeader],
      ['payload cut short', (r) => r.subarray(0, r.length - 1), FrameStatus.pastEnd],
      ['flipped length bit', (r) => flip(r, 4, 0), FrameStatus.headerChecksum],
      ['flipped type bit', (r) => flip(r, 8, 1), FrameStatus.headerChecksum],
      ['flipped payload CRC', (r) => flip(r, 12, 5), FrameStatus.headerChecksum],
      ['flipped header CRC', (r) => flip(r, 0, 7), FrameStatus.headerChecksum],
    ];
    for (const [name, mutate, want] of table) {
      const r = mutate(rec);
      assert.equal(readFrame(r, 0, r.length, cur), want, name);
    }
  });

  it('replays entries, truncations, bases and damage marks like the writer intends', () => {
    const b = new LogBuilder();
    assert.equal(b.applyEntry(entry(5, 1)), 'ok'); // a compacted log may start anywhere
    assert.equal(b.applyEntry(entry(6, 1)), 'ok');
    assert.equal(b.applyEntry(entry(8, 1)), 'gap');
    assert.equal(b.applyTruncate(6), 'ok');
    assert.deepEqual(
      b.entries.map((e) => e.index),
      [5],
    );
    assert.equal(b.applyTruncate(9), 'gap');
    assert.equal(b.applyEntry(entry(6, 2)), 'ok');
    b.applyDamage({ code: 'log-checksum', firstBadIndex: 7, lastIndexSeen: 9 });
    assert.equal(b.applyEntry(entry(7, 2)), 'ok');
    assert.notEqual(b.pending, null);
    assert.equal(b.applyBase(20), 'ok'); // a snapshot past the end: the log continues at 21
    assert.equal(b.pending, null);
    assert.equal(b.entries.length, 0);
    assert.equal(b.nextIndex, 21);
    assert.equal(b.applyBase(10), 'ok'); // an older base changes nothing
    assert.equal(b.nextIndex, 21);
  });

  it('classifies damage by where it is: torn only at the end of the last segment', () => {
    const s1 = segment(1, 0, (b) => [1, 2, 3].forEach((i) => b.appendEntry(entry(i, 1))));
    const s2 = segment(2, 1, (b) => [4, 5, 6].forEach((i) => b.appendEntry(entry(i, 1))));
    const ok = scanSegments([s1, s2], 0);
    assert.equal(ok.torn, null);
    assert.equal(ok.damage, null);
    assert.deepEqual(
      ok.builder.entries.map((e) => e.index),
      [1, 2, 3, 4, 5, 6],
    );

    const cut = (f: SegmentFile, drop: number): SegmentFile => withBytes(f, f.bytes().subarray(0, f.bytes().length - drop));
    const tornLast = scanSegments([s1, cut(s2, 3)], 0);
    assertHas(tornLast.torn, { segmentPos: 1 });
    assert.deepEqual(
      tornLast.builder.entries.map((e) => e.index),
      [1, 2, 3, 4, 5],
    );

    const cutFirst = scanSegments([cut(s1, 3), s2], 0);
    assertHas(cutFirst.damage, { segmentPos: 0, code: 'log-framing', firstBadIndex: 3, lastIndexSeen: 6 });

    const zeroTail = withBytes(s2, Buffer.concat([s2.bytes(), Buffer.alloc(100)]));
    // Zeros were never written (a file that grew without its data, or preallocation): nothing torn.
    assertHas(scanSegments([s1, zeroTail], 0).torn, { segmentPos: 1, bytes: 0 });

    const lastFlipped = withBytes(s2, flip(s2.bytes(), s2.bytes().length - 1, 0));
    const flipped = scanSegments([s1, lastFlipped], 0);
    assert.equal(flipped.torn, null);
    assertHas(flipped.damage, { code: 'log-checksum', firstBadIndex: 6, lastIndexSeen: 6 });

    const s3 = segment(3, 1, (b) => b.appendEntry(entry(7, 1)));
    const missing = scanSegments([s1, s3], 0);
    assertHas(missing.damage, { segmentPos: 1, code: 'log-gap', firstBadIndex: 4 });
    // The same break behind a snapshot that covers it: a compaction that a crash partly undid.
    const s5 = segment(5, 4, (b) => [2, 3, 4].forEach((i) => b.appendEntry(entry(i, 1))));
    const covered = scanSegments([s1, s5], 3);
    assert.equal(covered.damage, null);
    // Live from 2; kept from the snapshot's index (3), whose term recovery compares with the snapshot's.
    assert.equal(covered.builder.firstLiveIndex(), 2);
    assert.deepEqual(
      covered.builder.entries.map((e) => e.index),
      [3, 4],
    );
  });

  it('issue 18: keeps only entries from the snapshot index on, and releases each segment wholly below it once scanned', () => {
    const reads = new Map<number, number>();
    const counted = (f: SegmentFile): SegmentFile & { held: () => boolean } => {
      let held = false;
      return {
        no: f.no,
        name: f.name,
        bytes: () => {
          if (!held) reads.set(f.no, (reads.get(f.no) ?? 0) + 1);
          held = true;
          return f.bytes();
        },
        release: () => {
          held = false;
        },
        held: () => held,
      };
    };
    const s1 = counted(segment(1, 0, (b) => [1, 2, 3].forEach((i) => b.appendEntry(entry(i, 1)))));
    const s2 = counted(segment(2, 1, (b) => [4, 5, 6].forEach((i) => b.appendEntry(entry(i, 2)))));
    const s3 = counted(segment(3, 2, (b) => [7, 8].forEach((i) => b.appendEntry(entry(i, 2)))));
    const r = scanSegments([s1, s2, s3], 5);
    assert.deepEqual(
      r.builder.entries.map((e) => e.index),
      [5, 6, 7, 8],
    );
    assert.deepEqual([s1.held(), s2.held(), s3.held()], [false, true, true], 'segment 1 (entries 1-3, all below 5) released');
    assert.deepEqual([...reads.values()], [1, 1, 1], 'each read once');
    assert.equal(r.builder.firstLiveIndex(), 1);
    assert.equal(r.builder.lastLiveTerm(), 2);
    assert.deepEqual(
      r.segments.map((g) => g.sizeBytes),
      [s1.bytes().length, s2.bytes().length, s3.bytes().length],
    );
    // A truncation into the entries not kept: the live log ends below them, nothing is kept.
    const t = segment(4, 3, (b) => b.appendTruncate(3));
    const cutBelow = scanSegments([s1, s2, s3, t], 5);
    assert.deepEqual(cutBelow.builder.entries, []);
    assert.equal(cutBelow.builder.nextIndex, 3);
    assert.equal(cutBelow.builder.firstLiveIndex(), 1);
    assert.equal(cutBelow.builder.lastLiveTerm(), -1, 'the last live entry (2) is below the entries kept');
  });
});

describe('storage framing: a preallocated segment (zeros written ahead of its records)', () => {
  // Records of 1,500 bytes of data: each spans sector boundaries (512 bytes).
  const s1 = segment(1, 0, (b) => [1, 2].forEach((i) => b.appendEntry(entry(i, 1, 1500))));
  const full = segment(2, 1, (b) => [3, 4, 5].forEach((i) => b.appendEntry(entry(i, 1, 1500))));
  const size = full.bytes().length;
  const prealloc = (bytes: Uint8Array, extra = 8192): SegmentFile => withBytes(full, Buffer.concat([bytes, Buffer.alloc(extra)]));
  /** Offset of the last record (entry 5) in the segment. */
  const lastStart = size - (FRAME_HEADER_BYTES + 17 + 1500);

  it('ends cleanly at its zeros: nothing torn, every entry kept', () => {
    const r = scanSegments([s1, prealloc(full.bytes())], 0);
    assert.equal(r.damage, null);
    assertHas(r.torn, { segmentPos: 1, offset: size, bytes: 0 });
    assert.deepEqual(
      r.builder.entries.map((e) => e.index),
      [1, 2, 3, 4, 5],
    );
  });

  it('is torn where a write was cut short at any sector boundary inside its last record, header included', () => {
    const first = Math.ceil((lastStart + 1) / 512) * 512;
    let cases = 0;
    for (let s = first; s < size; s += 512) {
      const bytes = Uint8Array.from(full.bytes());
      bytes.fill(0, s);
      const r = scanSegments([s1, prealloc(bytes)], 0);
      assert.equal(r.damage, null, `cut at ${s}`);
      assertHas(r.torn, { segmentPos: 1, offset: lastStart, bytes: s - lastStart });
      assert.deepEqual(
        r.builder.entries.map((e) => e.index),
        [1, 2, 3, 4],
        `cut at ${s}`,
      );
      cases++;
    }
    assert.ok(cases >= 2, `${cases} sector boundaries inside the last record`);
    // The batch filled the zeroed range exactly: the record ends the file, no zeros after it.
    const exact = Uint8Array.from(full.bytes());
    exact.fill(0, first);
    assertHas(scanSegments([s1, withBytes(full, exact)], 0).torn, { segmentPos: 1, offset: lastStart });
    // A boundary inside the last record's header: the header itself is bad.
    const headerCut = Uint8Array.from(full.bytes());
    const h = Math.ceil(lastStart / 512) * 512;
    if (h > lastStart && h < lastStart + FRAME_HEADER_BYTES) {
      headerCut.fill(0, h);
      assertHas(scanSegments([s1, prealloc(headerCut)], 0).torn, { offset: lastStart });
    }
  });

  it('is damage when a bit flipped in a record before the zeros, or in a segment another follows', () => {
    // A flipped bit in the last record, its bytes all there, zeros after it.
    const flipped = prealloc(flip(full.bytes(), lastStart + 900, 3));
    const r = scanSegments([s1, flipped], 0);
    assert.equal(r.torn, null);
    assertHas(r.damage, { code: 'log-checksum', firstBadIndex: 5 });
    // The same cut short in a segment that is not the last.
    const cut = Uint8Array.from(full.bytes());
    cut.fill(0, Math.ceil((lastStart + 600) / 512) * 512);
    const s3 = segment(3, 2, (b) => b.appendEntry(entry(6, 1)));
    assert.notEqual(scanSegments([s1, prealloc(cut), s3], 0).damage, null);
  });
});

function flip(r: Uint8Array, at: number, bit: number): Uint8Array {
  const c = Uint8Array.from(r);
  c[at]! ^= 1 << bit;
  return c;
}
