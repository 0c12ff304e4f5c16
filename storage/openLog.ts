/**
 * Opening a log: read everything, decide (recoveryPlan.ts), make the repairs durable, then hand
 * over a `Wal` whose recovered state is entirely durable.
 *
 * Layout under `dir`:
 *   hardstate                 term and vote (hardState.ts)
 *   wal/<20-digit no>.wal     segments; each starts with a segment header naming itself and the one before
 *   wal/<name>.damaged        a damaged segment's original bytes, and every segment after it
 *   torn/<name>-<offset>.bin  bytes cut from a torn tail
 *   snap/snap-<index>-<term>.snap
 *
 * The callback fires only after every repair is durable, and after the last segment and the
 * directories were synced: entries that a crashed process had written but not yet synced may still
 * be in the page cache, and must be on disk before the node treats them as its durable log.
 */
import { dirname, join } from 'node:path';
import type { SnapshotMeta } from '../machines/types.js';
import { ioError, StorageError } from './errors.js';
import { badDir, fileInfo, readWhole } from './fileInfo.js';
import { FRAME_HEADER_BYTES } from './frame.js';
import { readHardState, TERM_UNKNOWN_FILE, writeHardState } from './hardState.js';
import { batchBytesBound, walLimits, type WalLimits, type WalOptions } from './options.js';
import { planRecovery, type RecoveryPlan } from './recoveryPlan.js';
import { BatchBuffer, encodeSegmentPrefix, ENTRY_FIELDS_BYTES, INDEX_PAYLOAD_BYTES, SEGMENT_PREFIX_BYTES_MAX } from './records.js';
import { emptySegment, scanSegments, segmentFile, type ScannedSegment, type SegmentFile } from './scan.js';
import { FileSnapshotStore } from './snapshotStore.js';
import { joinAll, runSteps, type Step } from './steps.js';
import type { FileHandle, FileSystem, Recovered } from './types.js';
import { SEGMENT_NAME, segmentFileName, Wal } from './wal.js';

export interface OpenedLog {
  readonly log: Wal;
  readonly recovered: Recovered;
  readonly snapshots: FileSnapshotStore;
  /** The newest valid snapshot (its meta is `recovered.snapshot`). */
  readonly snapshot: { readonly meta: SnapshotMeta; readonly data: Uint8Array } | null;
  /** Files (relative to dir) where this open kept cut or damaged bytes: for the node's log. */
  readonly keptAside: readonly string[];
  /**
   * Entries (relative to dir) that look like the log's own but that it cannot have written, left
   * alone: a segment name whose number is out of range, a directory named like a leftover of a
   * rewrite or a snapshot save. For the node's log (an operator may want to remove them).
   */
  readonly foreign: readonly string[];
}

export type OpenCallback = (err: Error | null, opened?: OpenedLog) => void;

export function openLogAsync(fs: FileSystem, dir: string, options: WalOptions = {}): Promise<OpenedLog> {
  return new Promise((resolve, reject) => openLog(fs, dir, options, (err, opened) => (err ? reject(err) : resolve(opened!))));
}

/**
 * Recovers the log in `dir` (created if missing) and calls back once the result is durable.
 * Bad options throw; I/O errors go to the callback.
 */
export function openLog(fs: FileSystem, dir: string, options: WalOptions, cb: OpenCallback): void {
  const limits = walLimits(options);
  let state: ReadState;
  try {
    state = readAll(fs, dir, limits);
  } catch (e) {
    // Files on disk are outside input: whatever reading them threw reaches the caller typed.
    cb(e instanceof StorageError ? e : new StorageError('STORAGE_FAILED', `cannot read the log in ${dir}: ${(e as Error).message}`, { cause: e }));
    return;
  }
  const { walDir, files, plan, snapshots, snapshot, foreign } = state;
  const keptAside: string[] = [];
  let fresh: FileHandle | null = null;
  let freshBytes = 0;
  const steps: Step[] = [];
  const syncDir =
    (d: string, what: string): Step =>
    (next) =>
      fs.syncDir(d, (err) => next(err && ioError(what, err)));

  const writeFresh: Step = (next) => {
    const f = plan.fresh;
    const buf = new BatchBuffer(0);
    if (f.truncateFrom !== null) buf.appendTruncate(f.truncateFrom);
    if (f.baseIndex !== null) buf.appendBase(f.baseIndex);
    const start = encodeSegmentPrefix(buf.buf, SEGMENT_PREFIX_BYTES_MAX, f.no, f.prevNo, f.mark);
    const bytes = buf.buf.subarray(start, buf.length);
    const handle = fs.open(join(walDir, segmentFileName(f.no)), 'create');
    fresh = handle;
    freshBytes = bytes.length;
    runSteps(
      [
        (n) => handle.write(bytes, 0, (err) => n(err && ioError('segment write', err))),
        (n) => handle.sync((err) => n(err && ioError('segment fdatasync', err))),
        syncDir(walDir, 'wal directory fsync'),
      ],
      next,
    );
  };

  // Issue 15: a lost hard state is recorded durably before anything else, and stays recorded
  // (whatever valid hard state is written later) until the node learned its term again.
  const termUnknownPath = join(dir, TERM_UNKNOWN_FILE);
  const termUnknown = plan.hardStateLost || fs.exists(termUnknownPath);
  if (plan.hardStateLost && !fs.exists(termUnknownPath)) {
    const text = new TextEncoder().encode(`hard state lost: ${plan.corruption?.message ?? ''}\n`);
    steps.push(writeCopy(fs, termUnknownPath, text), syncDir(dir, 'directory fsync'));
  }

  // A fresh directory gets a hard state (term 0, no vote) before its first segment: from then on a
  // missing hard state is a lost one (issue 15: a node that voted before writing any entry).
  if (files.length === 0 && !fs.exists(join(dir, 'hardstate')) && plan.hardState.term === 0 && plan.hardState.vote === null) {
    steps.unshift((next) => writeHardState(fs, dir, { term: 0, vote: null }, limits.plantSkipFsync, (err) => next(err)));
  }

  const damage = plan.damage;
  const torn = plan.torn;
  if (damage !== null) {
    // Order matters: the new segment with the damage mark is durable before any evidence is moved,
    // so a crash in between finds the same damage again (never a tail that merely looks torn).
    steps.push(writeFresh);
    const bad = files[damage.segmentPos]!;
    // A segment too large to read is moved aside whole, with the ones after it.
    const movedFrom = damage.unread === true ? damage.segmentPos : damage.segmentPos + 1;
    if (damage.unread !== true) {
      const copyName = uniqueName(fs, walDir, `${bad.name}.damaged`);
      keptAside.push(join('wal', copyName));
      steps.push(writeCopy(fs, join(walDir, copyName), bad.bytes()));
    }
    steps.push((next) => {
      for (const later of files.slice(movedFrom)) {
        const to = uniqueName(fs, walDir, `${later.name}.damaged`);
        fs.rename(join(walDir, later.name), join(walDir, to));
        keptAside.push(join('wal', to));
      }
      next(null);
    });
    steps.push(syncDir(walDir, 'wal directory fsync'));
    const keepsBad = plan.keptSegments.some((s) => s.no === bad.no);
    if (keepsBad) steps.push(keepSegmentPrefix(fs, walDir, bad.name, () => bad.bytes().subarray(0, damage.offset)));
    else if (damage.unread !== true)
      steps.push(
        (next) => {
          fs.unlink(join(walDir, bad.name));
          next(null);
        },
        syncDir(walDir, 'wal directory fsync'),
      );
  } else {
    let lastSynced = false;
    if (torn !== null) {
      const seg = files[torn.segmentPos]!;
      if (torn.bytes > 0) {
        const tornDir = join(dir, 'torn');
        fs.mkdirp(tornDir);
        const name = uniqueName(fs, tornDir, `${seg.name}-${torn.offset}.bin`);
        keptAside.push(join('torn', name));
        const cut = seg.bytes().subarray(torn.offset, torn.offset + Math.min(torn.bytes, limits.tornCopyBytesMax));
        steps.push(writeCopy(fs, join(tornDir, name), cut), syncDir(tornDir, 'torn directory fsync'));
      }
      const kept = plan.keptSegments.some((s) => s.no === seg.no);
      if (kept) {
        steps.push(keepSegmentPrefix(fs, walDir, seg.name, () => seg.bytes().subarray(0, torn.offset)));
        lastSynced = true;
      } else if (seg.no !== plan.fresh.no) {
        steps.push(
          (next) => {
            fs.unlink(join(walDir, seg.name));
            next(null);
          },
          syncDir(walDir, 'wal directory fsync'),
        );
      }
      // else: the fresh segment is created over it under the same name
    }
    const last = plan.keptSegments[plan.keptSegments.length - 1];
    const lastFile = last === undefined ? undefined : files.find((f) => f.no === last.no);
    if (lastFile !== undefined && !lastSynced) steps.push(keepSegmentPrefix(fs, walDir, lastFile.name, () => lastFile.bytes()));
    steps.push(writeFresh);
  }
  steps.push((next) => {
    // The data directory's own entry too: on a first start it was just created, and losing it
    // would lose everything in it.
    const all = joinAll(3, next);
    fs.syncDir(dirname(dir), (err) => all(err && ioError('parent directory fsync', err)));
    fs.syncDir(dir, (err) => all(err && ioError('directory fsync', err)));
    fs.syncDir(snapshots.dir, (err) => all(err && ioError('snapshot directory fsync', err)));
  });

  runSteps(steps, (err) => {
    if (err !== null) {
      if (fresh !== null) (fresh as FileHandle).close();
      cb(err);
      return;
    }
    // A segment cut at its torn tail (or at its zeros), or at its damage, now ends there.
    const cut =
      damage !== null
        ? { no: files[damage.segmentPos]!.no, bytes: damage.offset }
        : torn !== null
          ? { no: files[torn.segmentPos]!.no, bytes: torn.offset }
          : null;
    const segments: ScannedSegment[] = plan.keptSegments.map((s) => (cut !== null && s.no === cut.no ? { ...s, sizeBytes: cut.bytes } : { ...s }));
    const freshSeg = emptySegment(plan.fresh.no, segmentFileName(plan.fresh.no), freshBytes);
    if (plan.fresh.truncateFrom !== null) freshSeg.voidMin = plan.fresh.truncateFrom;
    if (plan.fresh.baseIndex !== null) freshSeg.baseMax = plan.fresh.baseIndex;
    segments.push(freshSeg);
    const log = new Wal({
      fs,
      dir,
      walDir,
      limits,
      active: { no: plan.fresh.no, handle: fresh!, sizeBytes: freshBytes },
      segments,
      nextIndex: plan.nextIndex,
      floorIndex: plan.floorIndex,
      pendingMark: plan.fresh.mark,
      hardState: plan.hardState,
    });
    const recovered: Recovered = {
      hardState: plan.hardState,
      snapshot: snapshot?.meta ?? null,
      entries: plan.entries,
      tornBytes: torn?.bytes ?? 0,
      corruption: plan.corruption,
      termUnknown,
    };
    cb(null, { log, recovered, snapshots, snapshot, keptAside, foreign });
  });
}

interface ReadState {
  readonly walDir: string;
  readonly files: SegmentFile[];
  readonly plan: RecoveryPlan;
  readonly snapshots: FileSnapshotStore;
  readonly snapshot: { meta: SnapshotMeta; data: Uint8Array } | null;
  readonly foreign: string[];
}

/** Segment numbers the log can have written: a new segment is numbered one past the highest, still a safe integer. */
function validSegmentNo(no: number): boolean {
  return Number.isSafeInteger(no) && no >= 1 && no < Number.MAX_SAFE_INTEGER;
}

/** The segments' size under a higher default before 2026-12-03, and a floor of the bound below. */
const LEGACY_SEGMENT_BYTES_MAX = 64 * 1024 * 1024;

/**
 * The largest segment file this log can have written: a segment takes a batch while it stays
 * within segmentBytesMax (preallocated zeros too), and an empty one takes one batch whatever its
 * size after its prefix (and recovery's truncate and base records). A batch holds up to
 * `batchBytesBound` of records: batchBytesMax, or one larger write up to one record of the
 * format's largest size (256 MiB); a larger write is split into batches. 64 MiB stands for segmentBytesMax at most: the default before
 * 2026-12-03. A larger segment is damage and is not read (docs/storage.md).
 */
export function segmentFileBytesMax(limits: WalLimits): number {
  return (
    Math.max(limits.segmentBytesMax, LEGACY_SEGMENT_BYTES_MAX) +
    SEGMENT_PREFIX_BYTES_MAX +
    2 * (FRAME_HEADER_BYTES + INDEX_PAYLOAD_BYTES) +
    batchBytesBound(limits)
  );
}

/** A `.rewrite` file keepSegmentPrefix writes (a leftover is removed). */
const REWRITE_NAME = /^(\d{20})\.wal\.rewrite$/;

function readAll(fs: FileSystem, dir: string, limits: WalLimits): ReadState {
  const walDir = join(dir, 'wal');
  fs.mkdirp(walDir);
  const snapshots = new FileSnapshotStore(fs, join(dir, 'snap'), {
    snapshotsKept: limits.snapshotsKept,
    plantSkipFsync: limits.plantSkipFsync,
  });
  const snapshot = snapshots.load();
  const hardState = readHardState(fs, dir);
  const files: SegmentFile[] = [];
  const foreign = snapshots.foreign.map((name) => join('snap', name));
  // Files on disk are outside input (a review, 2026-12-07): a name is checked before it is read or
  // unlinked. What the log cannot have written is left alone and reported; a name the log must use
  // that holds something it cannot use is STORAGE_BAD_DIR (docs/storage.md).
  for (const name of fs.readdir(walDir)) {
    const path = join(walDir, name);
    const m = SEGMENT_NAME.exec(name);
    if (m === null) {
      if (!name.endsWith('.wal.rewrite')) continue;
      // A segment's copy that a crash left before its rename (keepSegmentPrefix): never read.
      const info = fileInfo(fs, path);
      if (info.kind === 'file') fs.unlink(path);
      else if (info.kind === 'other') {
        const r = REWRITE_NAME.exec(name);
        if (r !== null && validSegmentNo(Number(r[1])))
          throw badDir(`${path} is not a regular file; a segment is rewritten through that name: move it out of the directory`);
        foreign.push(join('wal', name));
      }
      continue;
    }
    const no = Number(m[1]);
    if (!validSegmentNo(no)) {
      // 20 digits allow numbers past 2^53 (and 0): never a segment this log wrote.
      foreign.push(join('wal', name));
      continue;
    }
    const info = fileInfo(fs, path);
    if (info.kind === 'missing') continue;
    if (info.kind === 'other') throw badDir(`${path} is not a regular file; the log keeps a segment under that name: move it out of the directory`);
    // Read when the scan reaches it (issue 18), unless larger than any segment the log writes. A
    // plain view: entries are sliced out of it a million times, and Buffer's subarray costs more.
    files.push(
      segmentFile(
        no,
        name,
        () => {
          const b = readWhole(fs, path);
          return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
        },
        info.size,
      ),
    );
  }
  files.sort((a, b) => a.no - b.no);
  const scan = scanSegments(files, snapshot?.meta.index ?? 0, {
    segmentFileBytesMax: segmentFileBytesMax(limits),
    entryPayloadBytesMax: ENTRY_FIELDS_BYTES + limits.entryDataBytesMax,
  });
  const plan = planRecovery({ scan, snapshot: snapshot?.meta ?? null, snapshotErrors: snapshots.lastLoadErrors.length, hardState });
  return { walDir, files, plan, snapshots, snapshot, foreign };
}

/** Writes a new file with these bytes and syncs it (its directory is synced by a later step). */
function writeCopy(fs: FileSystem, path: string, bytes: Uint8Array, what = 'copy'): Step {
  return (next) => {
    const h = fs.open(path, 'create');
    runSteps(
      [
        // A write of no bytes is refused by the real file system: an empty copy is only created and synced.
        (n) => (bytes.length === 0 ? n(null) : h.write(bytes, 0, (err) => n(err && ioError(`${what} write`, err)))),
        (n) => h.sync((err) => n(err && ioError(`${what} fdatasync`, err))),
      ],
      (err) => {
        h.close();
        next(err);
      },
    );
  };
}

/**
 * Makes a segment durably hold `prefix()` (the bytes recovery read and trusts, from offset 0) and
 * nothing after it: the bytes are written to `<segment>.rewrite`, fdatasynced, renamed over the
 * segment, and the directory is fsynced. Writing them again is what makes them durable even if an
 * earlier process's fdatasync failed: after an fsync error the kernel may mark the pages it covered
 * clean without writing them, so the page cache shows bytes the disk does not hold and a later
 * fdatasync alone does not write them (the simulated disk's model: a failed sync forgets what it
 * covered). Such a process stops at once (fail-stop), but the next start reads what the page cache
 * shows; without the rewrite it would report those entries durable, and a power loss would take
 * them away (or bring back a tail it had cut: simulator seed 36146). A new file and a rename, not
 * an overwrite in place: a power loss during the write then never touches the segment's durable
 * sectors, only the temporary file, which the next start writes anew. One write of at most one
 * segment per start.
 */
function keepSegmentPrefix(fs: FileSystem, walDir: string, name: string, prefix: () => Uint8Array): Step {
  return (next) => {
    const temp = join(walDir, `${name}.rewrite`);
    runSteps(
      [
        writeCopy(fs, temp, prefix(), 'segment rewrite'),
        (n) => {
          fs.rename(temp, join(walDir, name));
          fs.syncDir(walDir, (err) => n(err && ioError('wal directory fsync', err)));
        },
      ],
      next,
    );
  };
}

/** `base`, or `base.<k>` for the first k that is free: never overwrite bytes kept aside earlier. */
function uniqueName(fs: FileSystem, dir: string, base: string): string {
  if (!fs.exists(join(dir, base))) return base;
  for (let k = 1; k < 100_000; k++) {
    const name = `${base}.${k}`;
    if (!fs.exists(join(dir, name))) return name;
  }
  throw new Error(`no free name for ${base} in ${dir}`);
}
