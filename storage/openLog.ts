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
import { ioError } from './errors.js';
import { readHardState, TERM_UNKNOWN_FILE, writeHardState } from './hardState.js';
import { walLimits, type WalLimits, type WalOptions } from './options.js';
import { planRecovery, type RecoveryPlan } from './recoveryPlan.js';
import { BatchBuffer, encodeSegmentPrefix, ENTRY_FIELDS_BYTES, SEGMENT_PREFIX_BYTES_MAX } from './records.js';
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
    cb(e as Error);
    return;
  }
  const { walDir, files, plan, snapshots, snapshot } = state;
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
    const copyName = uniqueName(fs, walDir, `${bad.name}.damaged`);
    keptAside.push(join('wal', copyName));
    steps.push(writeCopy(fs, join(walDir, copyName), bad.bytes()));
    steps.push((next) => {
      for (const later of files.slice(damage.segmentPos + 1)) {
        const to = uniqueName(fs, walDir, `${later.name}.damaged`);
        fs.rename(join(walDir, later.name), join(walDir, to));
        keptAside.push(join('wal', to));
      }
      next(null);
    });
    steps.push(syncDir(walDir, 'wal directory fsync'));
    const keepsBad = plan.keptSegments.some((s) => s.no === bad.no);
    if (keepsBad) steps.push(keepSegmentPrefix(fs, walDir, bad.name, () => bad.bytes().subarray(0, damage.offset)));
    else
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
    cb(null, { log, recovered, snapshots, snapshot, keptAside });
  });
}

interface ReadState {
  readonly walDir: string;
  readonly files: SegmentFile[];
  readonly plan: RecoveryPlan;
  readonly snapshots: FileSnapshotStore;
  readonly snapshot: { meta: SnapshotMeta; data: Uint8Array } | null;
}

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
  for (const name of fs.readdir(walDir)) {
    const m = SEGMENT_NAME.exec(name);
    if (m === null) {
      // A segment's copy that a crash left before its rename (keepSegmentPrefix): never read.
      if (name.endsWith('.wal.rewrite')) fs.unlink(join(walDir, name));
      continue;
    }
    const path = join(walDir, name);
    // Read when the scan reaches it (issue 18). A plain view: entries are sliced out of it a
    // million times, and Buffer's subarray costs more.
    files.push(
      segmentFile(Number(m[1]), name, () => {
        const b = fs.readFile(path);
        return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      }),
    );
  }
  files.sort((a, b) => a.no - b.no);
  const scan = scanSegments(files, snapshot?.meta.index ?? 0, { entryPayloadBytesMax: ENTRY_FIELDS_BYTES + limits.entryDataBytesMax });
  const plan = planRecovery({ scan, snapshot: snapshot?.meta ?? null, snapshotErrors: snapshots.lastLoadErrors.length, hardState });
  return { walDir, files, plan, snapshots, snapshot };
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
