/**
 * Recovery's decisions, as a pure function of what was read: which entries are trusted, what is
 * reported, and which repairs must be made durable before the log is handed to the node.
 */
import type { Entry, HardState, SnapshotMeta } from '../machines/types.js';
import type { HardStateRead } from './hardState.js';
import { SEGMENT_HEADER_RECORD_BYTES, type DamageCode, type DamageMark } from './records.js';
import type { DamageFound, ScannedSegment, ScanResult, TornTail } from './scan.js';
import type { Corruption } from './types.js';

interface RecoveryInput {
  readonly scan: ScanResult;
  readonly snapshot: SnapshotMeta | null;
  /** Snapshot files that load() had to skip. */
  readonly snapshotErrors: number;
  readonly hardState: HardStateRead;
}

export interface RecoveryPlan {
  readonly entries: Entry[];
  readonly hardState: HardState;
  readonly corruption: Corruption | null;
  /** The hard state was damaged, or missing while the log has terms (issue 15: the terms voted in are unknown). */
  readonly hardStateLost: boolean;
  /** The torn tail to cut (never together with damage: damage quarantines the whole tail). */
  readonly torn: TornTail | null;
  /** Damage to quarantine: the bad segment is cut at the bad record, every later segment set aside. */
  readonly damage: DamageFound | null;
  /** Segments that stay in the log, oldest first. */
  readonly keptSegments: ScannedSegment[];
  /** The new active segment every open starts, and the records it begins with. */
  readonly fresh: {
    readonly no: number;
    readonly prevNo: number;
    readonly mark: DamageMark | null;
    readonly truncateFrom: number | null;
    readonly baseIndex: number | null;
  };
  readonly nextIndex: number;
  readonly floorIndex: number;
}

export function planRecovery(input: RecoveryInput): RecoveryPlan {
  const { scan, snapshot } = input;
  const b = scan.builder;
  const snapIndex = snapshot?.index ?? 0;
  const snapTerm = snapshot?.term ?? 0;
  let entries = b.entries;
  // Where the on-disk record stream continues (0: it holds no position at all).
  const streamNext = b.nextIndex;

  let gap = false;
  let diverged = false;
  if (entries.length > 0) {
    const first = entries[0]!.index;
    const last = entries[entries.length - 1]!.index;
    if (first > snapIndex + 1) {
      gap = true;
    } else if (snapIndex >= first && snapIndex <= last && entries[snapIndex - first]!.term !== snapTerm) {
      // The log disagrees with the snapshot at its last index: Raft discards the whole log.
      diverged = true;
    }
    if (gap || diverged) entries = [];
    else if (snapIndex >= first) entries = entries.slice(snapIndex - first + 1);
  } else if (streamNext > snapIndex + 1) {
    gap = true;
  }
  const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : snapIndex;

  let mark: DamageMark | null = b.pending;
  let fresh: DamageMark | null = null;
  let message = '';
  if (scan.damage !== null) {
    fresh = { code: scan.damage.code, firstBadIndex: lastIndex + 1, lastIndexSeen: scan.damage.lastIndexSeen };
    message = `log damaged: ${scan.damage.message}`;
  }
  if (diverged) {
    // Raft discards a log that disagrees with the snapshot at its index. The node never writes
    // one (an install voids every entry it replaces), so entries after it may have been
    // acknowledged: do not trust this node's vote until they are re-replicated.
    const seen = Math.max(b.lastIndex(), fresh?.lastIndexSeen ?? 0);
    if (seen > lastIndex) {
      fresh = { code: fresh?.code ?? 'log-gap', firstBadIndex: lastIndex + 1, lastIndexSeen: seen };
      message = `${message}${message ? '; ' : ''}the log disagrees with the snapshot at ${snapIndex}`;
    }
  }
  if (gap) {
    const code: DamageCode = input.snapshotErrors > 0 ? 'snapshot-checksum' : 'log-gap';
    const seen = Math.max(b.lastIndex(), fresh?.lastIndexSeen ?? 0, lastIndex + 1);
    fresh = { code: fresh?.code ?? code, firstBadIndex: lastIndex + 1, lastIndexSeen: seen };
    message = `${message}${message ? '; ' : ''}the log does not continue the snapshot at ${snapIndex}`;
  }
  if (fresh !== null) {
    mark = mark === null || fresh.lastIndexSeen >= mark.lastIndexSeen ? fresh : { ...fresh, lastIndexSeen: mark.lastIndexSeen };
  } else if (mark !== null) {
    message = `log repair pending from an earlier recovery: entries through ${mark.lastIndexSeen} must be re-replicated`;
  }
  // A snapshot through the damaged indices repairs them: the committed prefix is the same everywhere.
  if (mark !== null && lastIndex >= mark.lastIndexSeen) mark = null;

  let corruption: Corruption | null = mark === null ? null : { code: mark.code, message, firstBadIndex: lastIndex + 1, lastIndexSeen: mark.lastIndexSeen };

  const lastTerm = entries.length > 0 ? entries[entries.length - 1]!.term : snapTerm;
  let hardState: HardState = { term: 0, vote: null };
  let hardStateLost = false;
  const hs = input.hardState;
  if (hs.status === 'ok') {
    hardState = hs.hardState;
  } else {
    // The best lower bound on the lost term; the node must not vote with it (corruption is set).
    hardState = { term: lastTerm, vote: null };
    // The last live entry's term (-1: live but below the entries kept, its term not read; then a segment exists).
    const rawLast = b.lastLiveTerm();
    // Issue 15: open writes a hard state on a fresh directory before its first segment, so a
    // segment without one means the file was lost (even with no entry yet: a vote may have been).
    const anyTerm = lastTerm > 0 || rawLast !== 0 || input.scan.segments.length > 0;
    const hsCode = hs.status === 'damaged' ? 'hardstate-checksum' : anyTerm ? 'hardstate-missing' : null;
    if (hsCode !== null) {
      hardStateLost = true;
      const why = hs.status === 'damaged' ? hs.reason : 'hard state file missing while the log has entries';
      corruption =
        corruption === null
          ? { code: hsCode, message: why, firstBadIndex: 0, lastIndexSeen: lastIndex }
          : { ...corruption, message: `${corruption.message}; also ${why}` };
    }
  }

  // Segments that stay: up to the damaged one (kept only if its header survives), or all but a
  // torn last segment that lost its header.
  const segs = scan.segments;
  let keptSegments: ScannedSegment[];
  const damage = scan.damage;
  const torn = damage === null ? scan.torn : null;
  if (damage !== null) {
    keptSegments = segs.slice(0, damage.segmentPos + (damage.offset >= SEGMENT_HEADER_RECORD_BYTES ? 1 : 0));
  } else if (torn !== null && torn.offset < SEGMENT_HEADER_RECORD_BYTES) {
    keptSegments = segs.slice(0, torn.segmentPos);
  } else {
    keptSegments = segs.slice();
  }
  const lastKept = keptSegments.length > 0 ? keptSegments[keptSegments.length - 1]!.no : 0;
  // After damage the later segments still exist until quarantined, so the fresh one goes past them all;
  // a torn segment without a header is simply rewritten under its own number.
  const maxNo = segs.length > 0 ? segs[segs.length - 1]!.no : 0;
  const freshNo = damage !== null ? maxNo + 1 : lastKept + 1;

  // The record stream on disk must continue exactly at lastIndex + 1 on the next recovery too.
  let truncateFrom: number | null = null;
  let baseIndex: number | null = null;
  if (diverged) {
    // Void every entry, then say that the snapshot covers the log through its index.
    truncateFrom = b.firstLiveIndex();
    baseIndex = snapIndex;
  } else if (gap) {
    truncateFrom = lastIndex + 1;
  } else if (lastIndex > 0 && (streamNext === 0 || streamNext < lastIndex + 1)) {
    baseIndex = lastIndex;
  }

  return {
    entries,
    hardState,
    corruption,
    hardStateLost,
    torn,
    damage,
    keptSegments,
    fresh: { no: freshNo, prevNo: lastKept, mark, truncateFrom, baseIndex },
    nextIndex: lastIndex + 1,
    floorIndex: snapIndex,
  };
}
