/**
 * After damage, recovery's salvage pass (storage/scan.ts, salvageMaxIndex) looks for records past
 * the damage at every offset, to learn the highest index the node may have acknowledged. A review
 * (2026-12-07) showed it quadratic: a segment holding a header with a valid header checksum every
 * 16 bytes, each declaring a payload to the end of the file, had every payload checksummed (9.7 s
 * for 1 MiB, hours for 32 MiB). Now only payloads of a size the log writes are checksummed, within
 * a budget of a few times the file's size; a record it cannot check counts as seen (conservative).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32Range } from '../../storage/crc.js';
import { writeU32 } from '../../storage/frame.js';
import { realFs } from '../../storage/realFs.js';
import { BatchBuffer, encodeSegmentPrefix, SEGMENT_PREFIX_BYTES_MAX } from '../../storage/records.js';
import { salvageWork, scanSegments, segmentFile } from '../../storage/scan.js';
import { closeAsync, entries, entry, openAsync, tempDir, writeDurable } from './helpers.js';

/** Headers with valid header checksums every 16 bytes, each declaring an entry payload to the end of the file. */
function crafted(bytes: number): Uint8Array {
  const buf = new Uint8Array(bytes);
  for (let at = 0; at + 16 <= bytes; at += 16) {
    writeU32(buf, at + 4, bytes - at - 16);
    buf[at + 8] = 2; // entry
    writeU32(buf, at + 12, 0x12345678); // a payload checksum that does not match
    writeU32(buf, at, crc32Range(buf, at + 4, at + 16, 0));
  }
  return buf;
}

/** A segment `no` (following `prevNo`) holding these entries. */
function segmentBytes(no: number, prevNo: number, from: number, count: number, dataBytes = 16): Uint8Array {
  const b = new BatchBuffer(0);
  for (let i = 0; i < count; i++) b.appendEntry(entry(from + i, 1, dataBytes));
  const start = encodeSegmentPrefix(b.buf, SEGMENT_PREFIX_BYTES_MAX, no, prevNo, null);
  return Uint8Array.from(b.buf.subarray(start, b.length));
}

describe('storage: the salvage pass after damage is bounded and stays conservative', function () {
  this.timeout(60_000);

  // The salvage pass's work, counted (offsets tried, payload bytes checksummed): linear in the
  // file's size whatever the machine's speed. Until 2026-12-07 these cases timed the pass (< 2 s),
  // which a loaded box could exceed; before the fix the 1 MiB file had ~32 GiB checksummed.
  const work = (): { offsetsTried: number; crcBytes: number } => ({ ...salvageWork });
  /** At most one try per byte, and the checksum budget: 4 times the file plus 1 MiB (storage/scan.ts). */
  const assertLinear = (before: { offsetsTried: number; crcBytes: number }, fileBytes: number): void => {
    const tried = salvageWork.offsetsTried - before.offsetsTried;
    const crc = salvageWork.crcBytes - before.crcBytes;
    assert.ok(tried > 0 && tried <= fileBytes, `${tried} offsets tried in ${fileBytes} bytes`);
    assert.ok(crc <= 4 * fileBytes + 1024 * 1024, `${crc} bytes checksummed for ${fileBytes}`);
  };

  it('opening a log whose last segment is a 1 MiB crafted file does linear work (was 9.7 s)', async () => {
    const { dir, cleanup } = tempDir('salvage');
    try {
      const o = await openAsync(realFs, dir);
      await writeDurable(o, { entries: entries(1, 5, 1), hardState: { term: 1, vote: 'a' } });
      await closeAsync(o);
      writeFileSync(join(dir, 'wal', '00000000000000000009.wal'), crafted(1024 * 1024));
      const before = work();
      const again = await openAsync(realFs, dir);
      await closeAsync(again);
      assert.ok(again.recovered.corruption !== null);
      assertLinear(before, 1024 * 1024);
    } finally {
      cleanup();
    }
  });

  it('the scan of a 4 MiB crafted segment is linear (counted work), and its unchecked headers only raise lastIndexSeen', () => {
    const s1 = segmentBytes(1, 0, 1, 5);
    const bad = crafted(4 * 1024 * 1024);
    const before = work();
    const r = scanSegments([segmentFile(1, 's1', () => s1), segmentFile(2, 's2', () => bad)], 0, { entryPayloadBytesMax: 17 + 1024 });
    assertLinear(before, bad.length);
    assert.notEqual(r.damage, null);
    assert.ok(r.damage!.lastIndexSeen >= 6);
  });

  it('entries after the damage still raise lastIndexSeen, in the damaged segment and in later ones', () => {
    const s1 = segmentBytes(1, 0, 1, 5);
    const s2 = segmentBytes(2, 1, 6, 20);
    const s3 = segmentBytes(3, 2, 26, 10, 300);
    const flipped = Uint8Array.from(s2);
    flipped[48 + 16 + 20] = flipped[48 + 16 + 20]! ^ 0x01; // inside the first entry's payload: from index 6 on nothing is trusted
    const bounds = { entryPayloadBytesMax: 17 + 1024 };
    const r = scanSegments([segmentFile(1, 's1', () => s1), segmentFile(2, 's2', () => flipped), segmentFile(3, 's3', () => s3)], 0, bounds);
    assert.equal(r.damage?.firstBadIndex, 6);
    assert.equal(r.damage?.lastIndexSeen, 35);
    // Entries larger than the current entryDataBytesMax (written under a larger one) are not
    // checksummed but still count: never lower than what the node may have acknowledged.
    const small = scanSegments([segmentFile(1, 's1', () => s1), segmentFile(2, 's2', () => flipped), segmentFile(3, 's3', () => s3)], 0, {
      entryPayloadBytesMax: 17 + 100,
    });
    assert.equal(small.damage?.lastIndexSeen, 35);
  });
});
