/**
 * A second fault in a damage mark (a review, 2026-12-07). After damage, the repair's new segment
 * carries the mark `{firstBadIndex, lastIndexSeen}` (docs/storage.md, "Recovery rules"): the node
 * must be re-replicated through lastIndexSeen before it votes. A bit flip in the only copy of that
 * mark, while the repair is partial, is damage again; the repair range it is given must still
 * reach the first mark's lastIndexSeen: the node may have acknowledged every index through it.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FRAME_HEADER_BYTES, FrameStatus, newFrameCursor, readFrame, RecordType } from '../../storage/frame.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, entries, openAsync, tempDir, writeDurable } from './helpers.js';

const OPTS = { segmentBytesMax: 1024 };

/** Offsets of the damage records in a segment file. */
function damageRecordsAt(bytes: Uint8Array): number[] {
  const cur = newFrameCursor();
  const out: number[] = [];
  for (let at = 0; readFrame(bytes, at, bytes.length, cur) === FrameStatus.ok; at = cur.next) {
    if (cur.type === RecordType.damage) out.push(at);
  }
  return out;
}

function segments(dir: string): string[] {
  return readdirSync(join(dir, 'wal'))
    .filter((n) => n.endsWith('.wal'))
    .sort();
}

describe('storage: a damaged copy of a damage mark', function () {
  this.timeout(30_000);

  for (const copy of ['first', 'last'] as const) {
    it(`in its ${copy} copy does not lower the repair range: lastIndexSeen stays that of the first damage`, async () => {
      const t = tempDir('mark');
      try {
        const acked = entries(1, 60, 1, 16);
        const o = await openAsync(realFs, t.dir, OPTS);
        await writeDurable(o, { entries: [], hardState: { term: 1, vote: 'n1' } });
        for (let i = 0; i < acked.length; i += 3) await writeDurable(o, { entries: acked.slice(i, i + 3) });
        await closeAsync(o);
        // First fault: a bit of the first segment's fourth record (an entry) flips.
        const first = join(t.dir, 'wal', segments(t.dir)[0]!);
        const bytes = readFileSync(first);
        const cur = newFrameCursor();
        let at = 0;
        for (let k = 0; k < 3; k++) {
          assert.equal(readFrame(bytes, at, bytes.length, cur), FrameStatus.ok);
          at = cur.next;
        }
        bytes[at + FRAME_HEADER_BYTES + 20]! ^= 0x04;
        writeFileSync(first, bytes);
        const damaged = await openAsync(realFs, t.dir, OPTS);
        const c = damaged.recovered.corruption;
        assert.equal(c?.lastIndexSeen, 60);
        const keep = damaged.recovered.entries.length;
        assert.equal(c?.firstBadIndex, keep + 1);
        // A partial repair: two entries re-replicated, in the one segment that holds the mark.
        await writeDurable(damaged, { entries: acked.slice(keep, keep + 2) });
        await closeAsync(damaged);
        const withMark = segments(t.dir)
          .map((n) => join(t.dir, 'wal', n))
          .filter((p) => damageRecordsAt(readFileSync(p)).length > 0);
        assert.equal(withMark.length, 1, 'one segment holds the mark');
        // Second fault: a bit of one copy's lastIndexSeen flips.
        const seg = readFileSync(withMark[0]!);
        const copies = damageRecordsAt(seg);
        const markAt = copy === 'first' ? copies[0]! : copies[copies.length - 1]!;
        seg[markAt + FRAME_HEADER_BYTES + 16]! ^= 0x01;
        writeFileSync(withMark[0]!, seg);
        const again = await openAsync(realFs, t.dir, OPTS);
        await closeAsync(again);
        const c2 = again.recovered.corruption;
        assert.notEqual(c2, null);
        assert.ok(
          c2!.lastIndexSeen >= 60,
          `repair range lowered to ${c2!.lastIndexSeen} (the node acknowledged through 60; ${copies.length} copies of the mark)`,
        );
      } finally {
        t.cleanup();
      }
    });
  }
});
