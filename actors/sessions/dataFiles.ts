/**
 * Data files: per replay class, append-only files of stored sessions, each a small actor with its
 * size, read cursor, consumed offset, sealed flag and range digests. The newest file of a class
 * receives SessionStore records; DataCreate seals it and opens the next; DataDelete moves a sealed,
 * fully consumed file to `trash/` (see docs/sessions.md for why not unlink at once).
 *
 * Writes go to explicit offsets (pwrite), batched per apply call per file. Range digests (seed 004)
 * cover whole records: a range takes records while it holds fewer than rangeRecordsMax of them and
 * stays within rangeBytesMax, so boundaries depend only on the records and the limits. The last
 * range of a file keeps an incremental SHA-256 (rebuilt from disk, and checked against the known
 * digest, after a restore).
 */
import { createHash, type Hash } from 'node:crypto';
import { assert } from '../../machines/assert.js';
import { REPLAY_CLASSES_MAX, dataFileName, idHexOfParts } from '../../transport/commands/codec.js';
import { SessionsError, SessionsErrorCode } from './errors.js';
import type { SessionFs } from './fs.js';
import { bytesToHex } from './manifest.js';
import type { StoreLimits } from './options.js';
import { ReadWindows } from './readWindows.js';
import type { ClassMeta, FileMeta, RangeDigest } from './types.js';

interface MutableRange {
  readonly start: number;
  end: number;
  count: number;
  /** Known digest (hex); null while the last range changed since it was computed. */
  hash: string | null;
}

export class DataFile {
  readonly name: string;
  size = 0;
  readCursor = 0;
  consumed = 0;
  sealed = false;
  /** Lengths of the records in [consumed, readCursor), oldest first. */
  restoredLengths: number[] = [];
  readonly ranges: MutableRange[] = [];
  openHash: Hash | null = null;
  handle = -1;
  pending: Uint8Array[] = [];
  pendingFrom = 0;
  unsynced = false;

  constructor(
    readonly replayClass: number,
    readonly high: number,
    readonly low: number,
  ) {
    this.name = dataFileName(replayClass, high, low);
  }

  get trashName(): string {
    return trashNameOf(this.replayClass, this.high, this.low);
  }
}

/** A data file's name in trash/: `<class>-<id as 32 hex digits>.dat` (trashNameOf). */
const TRASH_DATA_NAME = /^(0|[1-9][0-9]{0,2})-[0-9a-f]{32}\.dat$/;

/**
 * Whether `name` (in trash/) is one the store gives a data file: the form above, and a replay class
 * the codec admits (below REPLAY_CLASSES_MAX). Until 2026-12-07 (a review) any class of 1 to 3
 * digits passed, so a file from data/16/ to data/999/, where the store never writes, was unlinked.
 */
function isTrashDataName(name: string): boolean {
  const m = TRASH_DATA_NAME.exec(name);
  return m !== null && Number(m[1]) < REPLAY_CLASSES_MAX;
}

export function trashNameOf(replayClass: number, high: number, low: number): string {
  return `trash/${replayClass}-${idHexOfParts(high, low)}.dat`;
}

/** `data/<c>/<hex>.dat` -> `trash/<c>-<hex>.dat` */
function trashNameOfPath(path: string): string {
  const parts = path.split('/');
  return `trash/${parts.slice(1).join('-')}`;
}

class ReplayClass {
  /** Oldest first; the last one is the newest (unsealed) file. */
  readonly files: DataFile[] = [];
  /** The due floor: the last due time stored in the class (with the `due-floor-per-file` flag, in its newest file). */
  lastDueMs = 0;
  constructor(readonly replayClass: number) {}

  newest(): DataFile | undefined {
    return this.files[this.files.length - 1];
  }
}

function digestHex(h: Hash): string {
  return bytesToHex(h.copy().digest().subarray(0, 16));
}

export function rangeHashOf(bytes: Uint8Array): string {
  return bytesToHex(createHash('sha256').update(bytes).digest().subarray(0, 16));
}

/** Errors of an open for writing or a rename whose target is there but is not a regular file. */
const TARGET_NOT_A_FILE = new Set(['EISDIR', 'ENOTDIR', 'ENOTEMPTY', 'EEXIST']);

/** StoreOptions.readWindowBytes's default: one pread covers about 60 records of 1 KiB. */
const READ_WINDOW_BYTES_DEFAULT = 64 * 1024;
/** Windows kept at once (the scheduler's cursor, the restores' and the deliveries' positions, one spare). */
const READ_WINDOWS_MAX = 4;

export class DataFiles {
  private readonly classes: (ReplayClass | undefined)[] = new Array<ReplayClass | undefined>(REPLAY_CLASSES_MAX);
  private readonly byLow = new Map<number, DataFile>();
  private readonly withPending: DataFile[] = [];
  /** Files with an open handle, least recently used first. */
  private readonly open = new Set<DataFile>();
  private lastUsed: DataFile | null = null;
  private readonly dirtyDirs = new Set<string>();
  /** Counters for stats and tests. */
  readonly counters = {
    writes: 0,
    bytesWritten: 0,
    reads: 0,
    fsyncs: 0,
    dirSyncs: 0,
    trashed: 0,
    /** Entries of trash/ that are not regular files (left there by the last purge). */
    trashForeign: 0,
    /** Foreign entries moved into trash/ under a name of their own (`setAside`): a directory where a data file belongs... */
    setAside: 0,
  };
  /** Read-ahead windows (readWindows.ts): one pread serves the next records' reads. */
  readonly windows: ReadWindows;

  /**
   * Data files (by data name) found in data/ or trash/ when this process opened the store, not yet
   * confirmed by a restore: their bytes may be in the page cache only. After an fsync that failed in
   * an earlier process, Linux may have marked them clean without writing them, and no later fsync
   * writes them again; so range sync never counts them as held (`readHeld`) and fetches them. A
   * restore confirms the files its snapshot lists: the node's own durable snapshot, or one whose
   * ranges were all fetched or held by files already confirmed. A file created again is confirmed.
   */
  private readonly inherited = new Set<string>();

  constructor(
    private readonly fs: SessionFs,
    private readonly limits: StoreLimits,
    private readonly openFilesMax: number,
    readWindowBytes = READ_WINDOW_BYTES_DEFAULT,
  ) {
    this.windows = new ReadWindows(readWindowBytes, READ_WINDOWS_MAX);
    // Files on disk are outside input: `data` or `trash` that is not a directory is refused with a
    // typed error here (every later mkdir, rename and list in them would fail with a raw one).
    for (const top of ['data', 'trash']) {
      if (fs.fileSize(top) >= 0 || this.listDir(top) === null) {
        throw new SessionsError(SessionsErrorCode.dataCorrupt, `${top} is not a directory: move it out of the store's directory`);
      }
    }
    for (const d of fs.list('data')) {
      // A regular file (or anything else) where a class directory belongs goes to trash at
      // reconcile; nothing to list.
      if (fs.fileSize(`data/${d}`) >= 0) continue;
      for (const name of this.listDir(`data/${d}`) ?? []) this.inherited.add(`data/${d}/${name}`);
    }
    for (const name of fs.list('trash')) {
      const dash = name.indexOf('-');
      if (dash > 0) this.inherited.add(`data/${name.slice(0, dash)}/${name.slice(dash + 1)}`);
    }
  }

  /** `fs.list(dir)`, or null when `dir` is there but is not a directory (a file, a FIFO...). */
  private listDir(dir: string): string[] | null {
    try {
      return this.fs.list(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
      throw err;
    }
  }

  // ---- lookup -------------------------------------------------------------------------------

  get(high: number, low: number): DataFile | undefined {
    const f = this.byLow.get(low);
    return f !== undefined && f.high === high ? f : undefined;
  }

  byName(name: string): DataFile | undefined {
    for (const f of this.byLow.values()) if (f.name === name) return f;
    return undefined;
  }

  classOf(replayClass: number): ReplayClass | undefined {
    return this.classes[replayClass];
  }

  newest(replayClass: number): DataFile | undefined {
    return this.classes[replayClass]?.newest();
  }

  /** Every file, by class, oldest first. */
  all(): DataFile[] {
    const out: DataFile[] = [];
    for (const c of this.classes) if (c !== undefined) for (const f of c.files) out.push(f);
    return out;
  }

  get count(): number {
    return this.byLow.size;
  }

  // ---- handles ------------------------------------------------------------------------------

  private handleOf(f: DataFile): number {
    if (f.handle >= 0) {
      // Re-insert only when it is not already the most recent (V8 sets are slow at re-adding a key).
      if (this.lastUsed !== f) {
        this.open.delete(f);
        this.open.add(f);
        this.lastUsed = f;
      }
      return f.handle;
    }
    this.lastUsed = f;
    f.handle = this.fs.open(f.name, 'existing');
    this.open.add(f);
    while (this.open.size > this.openFilesMax) {
      const lru = this.open.values().next().value as DataFile;
      if (lru === f) break;
      this.closeHandle(lru);
    }
    return f.handle;
  }

  private closeHandle(f: DataFile): void {
    if (f.handle < 0) return;
    this.fs.close(f.handle);
    f.handle = -1;
    this.open.delete(f);
  }

  closeAll(): void {
    for (const f of [...this.open]) this.closeHandle(f);
  }

  // ---- commands -----------------------------------------------------------------------------

  /** DataCreate: a new (empty) newest file for the class; the previous newest is sealed. */
  create(replayClass: number, high: number, low: number): DataFile {
    assert(!this.byLow.has(low), `data file ${high}.${low} created twice`);
    const dir = `data/${replayClass}`;
    this.fs.mkdirp(dir);
    this.dirtyDirs.add('').add('data').add(dir);
    const c = (this.classes[replayClass] ??= new ReplayClass(replayClass));
    const prev = c.newest();
    if (prev !== undefined) {
      this.flush(prev);
      prev.sealed = true;
    }
    const f = new DataFile(replayClass, high, low);
    // 'create' truncates: a replay after a crash rewrites the file from empty. Not a file range
    // sync wrote since the last restore: its bytes are the ones this file's entries write (a file's
    // bytes depend on its entries alone), the install being received needs them, and apply writes
    // them again at the same offsets.
    const keep = this.rangeWrittenSinceRestore.has(f.name) && this.fs.fileSize(f.name) >= 0;
    f.handle = this.overForeign(f.name, () => this.fs.open(f.name, keep ? 'existing' : 'create'));
    this.inherited.delete(f.name);
    this.open.add(f);
    this.lastUsed = f;
    f.unsynced = true;
    c.files.push(f);
    this.byLow.set(low, f);
    while (this.open.size > this.openFilesMax) {
      const lru = this.open.values().next().value as DataFile;
      if (lru === f) break;
      this.closeHandle(lru);
    }
    return f;
  }

  /** Queue a record at the end of `f` (written by `flushAll`), and extend the range digests. */
  append(f: DataFile, bytes: Uint8Array): void {
    if (f.sealed) assert(false, `appending to sealed ${f.name}`);
    const at = f.size;
    const last = f.ranges[f.ranges.length - 1];
    if (last !== undefined && last.count < this.limits.rangeRecordsMax && last.end - last.start + bytes.length <= this.limits.rangeBytesMax) {
      this.openHashOf(f).update(bytes);
      last.end += bytes.length;
      last.count++;
      last.hash = null;
    } else {
      if (last !== undefined) this.rangeHash(f, f.ranges.length - 1);
      f.ranges.push({ start: at, end: at + bytes.length, count: 1, hash: null });
      f.openHash = createHash('sha256').update(bytes);
    }
    if (f.pending.length === 0) {
      f.pendingFrom = at;
      this.withPending.push(f);
    }
    f.pending.push(bytes);
    f.size += bytes.length;
  }

  private flush(f: DataFile): void {
    if (f.pending.length === 0) return;
    let n = 0;
    for (const b of f.pending) n += b.length;
    this.fs.pwritev(this.handleOf(f), f.pending, f.pendingFrom);
    this.counters.writes++;
    this.counters.bytesWritten += n;
    f.pending = [];
    f.unsynced = true;
  }

  /** Write every queued record: one pwritev per file per apply call. */
  flushAll(): void {
    for (const f of this.withPending) this.flush(f);
    this.withPending.length = 0;
  }

  /** Bytes [offset, offset + length) of `f` (within its applied size), from a read window when one holds them: read-only (readWindows.ts). */
  read(f: DataFile, offset: number, length: number): Uint8Array {
    if (offset + length > f.size) assert(false, `reading ${f.name} past its size`);
    const hit = this.windows.get(f, offset, length);
    if (hit !== null) return hit;
    this.flush(f);
    this.counters.reads++;
    const span = this.windows.spanOf(offset, length, f.size);
    const bytes = this.fs.pread(this.handleOf(f), offset, span);
    if (span === length) return bytes;
    this.windows.keep(f, offset, bytes, length);
    return bytes.slice(0, length);
  }

  /** DataDelete: the file leaves the state; its bytes move to trash until a snapshot no longer needs them. */
  remove(f: DataFile): void {
    const c = this.classes[f.replayClass];
    assert(c !== undefined && f.sealed, `removing ${f.name}, which is not sealed`);
    this.flush(f);
    this.windows.forget(f);
    this.closeHandle(f);
    this.fs.mkdirp('trash');
    if (this.fs.fileSize(f.name) >= 0) {
      this.overForeign(f.trashName, () => this.fs.rename(f.name, f.trashName));
      this.moves++;
    }
    this.counters.trashed++;
    this.dirtyDirs.add('').add(`data/${f.replayClass}`).add('trash');
    const k = c.files.indexOf(f);
    assert(k >= 0, `${f.name} not in its class`);
    c.files.splice(k, 1);
    this.byLow.delete(f.low);
    const pos = this.withPending.indexOf(f);
    if (pos >= 0) this.withPending.splice(pos, 1);
  }

  /** Files written by range sync before they were part of the state (made durable by `syncAll`). */
  private readonly rangeWritten = new Set<string>();
  /**
   * Files range sync wrote since the last restore (`load`): the install under way needs their
   * bytes, so neither a DataCreate applied meanwhile (which truncates) nor the first apply's
   * reconcile (which sets aside what the state does not list) may touch them. Not `rangeWritten`,
   * which every snapshot clears.
   */
  private readonly rangeWrittenSinceRestore = new Set<string>();
  /** Renames between data/ and trash/ so far (`syncAllLater` checks whether one ran during its fsyncs). */
  private moves = 0;

  /**
   * Make every written byte and every name change durable (before a snapshot is reported taken).
   * `everything`: fsync every file of the state, whatever this process wrote (after a restore, the
   * bytes on disk may come from a replay or range sync that this state's file objects never saw).
   */
  syncAll(everything = false): void {
    const { files, dirs } = this.takeUnsynced(everything);
    for (const f of files) this.fs.fsync(this.handleOf(f));
    for (const d of dirs) this.fs.syncDir(d);
  }

  /**
   * `syncAll()` off the event loop when the file system can (`SessionFs.syncLater`): the bytes
   * written so far and the name changes so far are made durable, then `cb`. Files count as synced
   * from now: a later write marks them again, and a failure is fatal to the caller. Without
   * `syncLater` it is `syncAll()` and `cb` at once.
   */
  syncAllLater(cb: (err: Error | null) => void): void {
    if (this.fs.syncLater === undefined) {
      try {
        this.syncAll();
      } catch (err) {
        return cb(err as Error);
      }
      return cb(null);
    }
    const { files, dirs } = this.takeUnsynced(false);
    // trash/ after the class directories, always: a DataDelete applied while these fsyncs run
    // renames a file the snapshot lists from data/<c>/ to trash/; a later fsync of data/<c> makes
    // its removal durable, and trash/ must then be synced after it (or the file is in neither
    // directory after a power loss). Class directories sort before `trash` (longer names).
    if (dirs.some((d) => d.startsWith('data/')) && !dirs.includes('trash')) {
      dirs.push('trash');
      dirs.sort((a, b) => b.length - a.length);
      this.counters.dirSyncs++;
    }
    const movesBefore = this.moves;
    this.fs.syncLater(
      files.map((f) => f.name),
      dirs,
      (err) => {
        if (err !== null || this.moves === movesBefore) return cb(err);
        // A file moved between data/ and trash/ while the fsyncs ran (a DataDelete, or range sync
        // bringing one back from trash/): the list above may have synced its old directory after
        // the move and not its new one. Sync the directories changed since, here, before the
        // snapshot is reported durable (rare: a few directory fsyncs on the event loop).
        try {
          for (const d of this.takeDirtyDirs()) this.fs.syncDir(d);
        } catch (e) {
          return cb(e as Error);
        }
        cb(null);
      },
    );
  }

  /** The directories whose entries changed since they were last taken, children first (and counted). */
  private takeDirtyDirs(): string[] {
    const dirs = [...this.dirtyDirs].sort((a, b) => b.length - a.length);
    this.counters.dirSyncs += dirs.length;
    this.dirtyDirs.clear();
    return dirs;
  }

  /** Writes what is queued, then takes (and counts) the files with unsynced bytes and the directories to sync, children first. */
  private takeUnsynced(everything: boolean): { files: DataFile[]; dirs: string[] } {
    this.flushAll();
    for (const f of this.byLow.values()) if (everything || this.rangeWritten.has(f.name)) f.unsynced = true;
    if (everything) {
      this.dirtyDirs.add('').add('data').add('trash');
      for (const f of this.byLow.values()) this.dirtyDirs.add(`data/${f.replayClass}`);
    }
    this.rangeWritten.clear();
    const files: DataFile[] = [];
    for (const f of this.byLow.values()) {
      if (!f.unsynced) continue;
      files.push(f);
      f.unsynced = false;
      this.counters.fsyncs++;
    }
    // Children before parents.
    return { files, dirs: this.takeDirtyDirs() };
  }

  // ---- range digests ------------------------------------------------------------------------

  private openHashOf(f: DataFile): Hash {
    if (f.openHash !== null) return f.openHash;
    const last = f.ranges[f.ranges.length - 1]!;
    const bytes = this.read(f, last.start, last.end - last.start);
    const h = createHash('sha256').update(bytes);
    if (last.hash !== null && digestHex(h) !== last.hash) {
      throw new SessionsError(SessionsErrorCode.dataCorrupt, `${f.name}: bytes ${last.start}..${last.end} do not match their digest`);
    }
    f.openHash = h;
    return h;
  }

  rangeHash(f: DataFile, k: number): string {
    const r = f.ranges[k]!;
    if (r.hash === null) {
      assert(k === f.ranges.length - 1, `${f.name}: range ${k} without a digest`);
      r.hash = digestHex(this.openHashOf(f));
    }
    return r.hash;
  }

  rangeDigests(f: DataFile): RangeDigest[] {
    const out: RangeDigest[] = [];
    for (let k = 0; k < f.ranges.length; k++) {
      const r = f.ranges[k]!;
      out.push({ start: r.start, end: r.end, count: r.count, hash: this.rangeHash(f, k) });
    }
    return out;
  }

  /** Digest of one file: SHA-256 over its range list (boundaries, counts and hashes). */
  fileDigest(f: DataFile): string {
    const h = createHash('sha256');
    h.update(f.name);
    for (let k = 0; k < f.ranges.length; k++) {
      const r = f.ranges[k]!;
      h.update(`|${r.start},${r.end},${r.count},${this.rangeHash(f, k)}`);
    }
    return h.digest('hex');
  }

  /** Re-read every file and compare each range with its digest; returns the ranges that differ. */
  verify(): { name: string; start: number; end: number }[] {
    const bad: { name: string; start: number; end: number }[] = [];
    for (const f of this.byLow.values()) {
      for (let k = 0; k < f.ranges.length; k++) {
        const r = f.ranges[k]!;
        let ok = false;
        try {
          ok = rangeHashOf(this.read(f, r.start, r.end - r.start)) === this.rangeHash(f, k);
        } catch (err) {
          if (!(err instanceof SessionsError) && (err as NodeJS.ErrnoException).code !== 'ESHORT') throw err;
        }
        if (!ok) bad.push({ name: f.name, start: r.start, end: r.end });
      }
    }
    return bad;
  }

  // ---- snapshots ----------------------------------------------------------------------------

  classesMeta(): ClassMeta[] {
    const out: ClassMeta[] = [];
    for (const c of this.classes) if (c !== undefined) out.push({ replayClass: c.replayClass, lastDueMs: c.lastDueMs });
    return out;
  }

  filesMeta(): FileMeta[] {
    return this.all().map((f) => ({
      replayClass: f.replayClass,
      fileHigh: f.high,
      fileLow: f.low,
      name: f.name,
      size: f.size,
      readCursor: f.readCursor,
      consumed: f.consumed,
      sealed: f.sealed,
      restoredLengths: f.restoredLengths.slice(),
      ranges: this.rangeDigests(f),
    }));
  }

  /** The first listed file whose bytes are not all on disk (in data/ or trash/), or null. Changes nothing. */
  firstMissing(files: readonly FileMeta[]): string | null {
    for (const m of files) {
      const inData = this.fs.fileSize(m.name);
      const size = inData >= 0 ? inData : this.fs.fileSize(trashNameOf(m.replayClass, m.fileHigh, m.fileLow));
      if (size < m.size && !(size < 0 && m.size === 0)) return `${m.name}: ${Math.max(size, 0)} bytes on disk, the snapshot lists ${m.size}`;
    }
    return null;
  }

  /**
   * Why a manifest's file list cannot be loaded (a file ID listed twice, a sealed newest file or an
   * unsealed older one), or null. Changes nothing: `restore` asks before it replaces anything.
   */
  static refusal(files: readonly FileMeta[]): SessionsError | null {
    const lows = new Set<number>();
    const byClass = new Map<number, FileMeta[]>();
    for (const m of files) {
      if (lows.has(m.fileLow)) return new SessionsError(SessionsErrorCode.snapshotCorrupt, `file ${m.name} listed twice`);
      lows.add(m.fileLow);
      const list = byClass.get(m.replayClass) ?? [];
      list.push(m);
      byClass.set(m.replayClass, list);
    }
    for (const [replayClass, list] of byClass) {
      for (let k = 0; k < list.length; k++) {
        if (list[k]!.sealed !== k < list.length - 1) {
          return new SessionsError(SessionsErrorCode.snapshotCorrupt, `class ${replayClass}: only the newest file may be unsealed`);
        }
      }
    }
    return null;
  }

  /** Replace the in-memory state with a manifest's, then make the directory match it. */
  load(classes: readonly ClassMeta[], files: readonly FileMeta[]): void {
    const refused = DataFiles.refusal(files);
    if (refused !== null) throw refused;
    this.closeAll();
    this.windows.clear();
    this.byLow.clear();
    this.withPending.length = 0;
    this.classes.fill(undefined);
    for (const c of classes) (this.classes[c.replayClass] = new ReplayClass(c.replayClass)).lastDueMs = c.lastDueMs;
    for (const m of files) {
      const c = (this.classes[m.replayClass] ??= new ReplayClass(m.replayClass));
      const f = new DataFile(m.replayClass, m.fileHigh, m.fileLow);
      f.size = m.size;
      f.readCursor = m.readCursor;
      f.consumed = m.consumed;
      f.sealed = m.sealed;
      f.restoredLengths = m.restoredLengths.slice();
      for (const r of m.ranges) f.ranges.push({ start: r.start, end: r.end, count: r.count, hash: r.hash });
      c.files.push(f);
      this.byLow.set(f.low, f);
    }
    // What range sync wrote is now listed (or was for an install given up, and may go to trash).
    this.rangeWrittenSinceRestore.clear();
    this.reconcile();
    // Confirmed: the snapshot's files hold its bytes durably (its own, synced before it was saved)
    // or are fetched, or held by files already confirmed (range sync reads only those).
    for (const f of this.byLow.values()) this.inherited.delete(f.name);
  }

  /**
   * Make `data/` hold exactly the files of the state: unknown files go to trash, listed files come
   * back from trash, longer files are cut to their size (bytes past it came from entries after the
   * snapshot and will be rewritten identically by the replay). A listed file shorter than its size
   * means lost data: SESSIONS_ERR_DATA_MISSING.
   */
  reconcile(): void {
    const listed = new Set<string>();
    for (const f of this.byLow.values()) listed.add(f.name);
    for (const d of this.fs.list('data')) {
      const dir = `data/${d}`;
      const names = this.fs.fileSize(dir) >= 0 ? null : this.listDir(dir);
      if (names === null) {
        this.setAside(dir);
        continue;
      }
      for (const name of names) {
        const path = `${dir}/${name}`;
        // Not a regular file (a directory...), listed or not: never a data file, and not under a
        // data file's trash name either, which a later DataDelete would find taken.
        if (this.fs.fileSize(path) < 0) this.setAside(path);
        // Not a file range sync wrote for the install under way (a follower with no snapshot that
        // applies its first entries while the ranges arrive): the install needs it where it is.
        else if (!listed.has(path) && !this.rangeWrittenSinceRestore.has(path)) {
          const to = trashNameOfPath(path);
          this.overForeign(to, () => this.toTrash(path, to));
        }
      }
    }
    for (const f of this.byLow.values()) {
      const dir = `data/${f.replayClass}`;
      let size = this.fs.fileSize(f.name);
      if (size < 0 && this.fs.fileSize(f.trashName) >= 0) {
        this.fs.mkdirp(dir);
        this.fs.rename(f.trashName, f.name);
        this.moves++;
        this.dirtyDirs.add('').add('data').add(dir).add('trash');
        size = this.fs.fileSize(f.name);
      }
      if (size < 0 && f.size === 0) {
        this.fs.mkdirp(dir);
        this.fs.close(this.fs.open(f.name, 'create'));
        this.dirtyDirs.add('').add('data').add(dir);
        size = 0;
      }
      if (size < f.size) {
        throw new SessionsError(SessionsErrorCode.dataMissing, `${f.name}: ${Math.max(size, 0)} bytes on disk, the state says ${f.size}`);
      }
      if (size > f.size) {
        this.fs.truncate(this.handleOf(f), f.size);
        f.unsynced = true;
      }
    }
  }

  /**
   * Files on disk are outside input (2026-12-07): `op` creates `path` or renames a file to it; when
   * that fails because `path` holds something other than a regular file (a directory), the entry is
   * set aside and `op` runs once more. Nothing more on the usual path.
   */
  private overForeign<T>(path: string, op: () => T): T {
    try {
      return op();
    } catch (err) {
      if (!TARGET_NOT_A_FILE.has((err as NodeJS.ErrnoException).code ?? '') || !this.holdsForeign(path)) throw err;
      this.setAside(path);
      return op();
    }
  }

  /** Whether `path` is there and is not a regular file. */
  private holdsForeign(path: string): boolean {
    const k = path.lastIndexOf('/');
    try {
      return this.fs.fileSize(path) < 0 && this.fs.list(path.slice(0, k)).includes(path.slice(k + 1));
    } catch {
      return false; // a parent is not a directory either: the caller's error stands
    }
  }

  /**
   * Move `path`, which no state lists, into trash/ under a name no data file's trash name
   * (`<class>-<id>.dat`) can take: `-` and its path below data/ or trash/ with `-` for `/`, and `.k`
   * while that is taken, so it neither replaces anything nor is in the way of a later DataDelete.
   * The purge leaves it there if it is not a regular file (`trashForeign`).
   */
  private setAside(path: string): void {
    const taken = new Set(this.fs.list('trash'));
    const flat = path.slice(path.indexOf('/') + 1).replaceAll('/', '-');
    let name = `-${flat}`;
    for (let k = 1; taken.has(name); k++) name = `-${flat}.${k}`;
    this.toTrash(path, `trash/${name}`);
    this.counters.setAside++;
  }

  private toTrash(path: string, trashPath: string): void {
    this.fs.mkdirp('trash');
    this.fs.rename(path, trashPath);
    this.moves++;
    this.dirtyDirs
      .add('')
      .add(path.slice(0, path.lastIndexOf('/')) || '')
      .add('trash');
    this.counters.trashed++;
  }

  // ---- raw file access for range sync -------------------------------------------------------

  /**
   * For the receiver of range sync: bytes [start, end) of the copy a restore would use (data/ when
   * the file is there, else trash/: `reconcile`, `firstMissing`, `writeAny`), never the other one
   * (a trash copy that holds the range does not help a shorter file in data/: simulator seed 51744);
   * null for a file this process inherited and no restore confirmed (its bytes may not be on disk,
   * see `inherited`), so that it is fetched again.
   */
  readHeld(name: string, trashName: string, start: number, end: number): Uint8Array | null {
    if (this.inherited.has(name)) return null;
    const f = this.byName(name);
    if (f !== undefined) this.flush(f);
    return this.readFrom(this.fs.fileSize(name) >= 0 ? name : trashName, start, end);
  }

  /** Bytes [start, end) of the named file, from the state, data/ or trash/; null when unavailable. */
  readAny(name: string, trashName: string, start: number, end: number): Uint8Array | null {
    const f = this.byName(name);
    if (f !== undefined) this.flush(f);
    return this.readFrom(name, start, end) ?? this.readFrom(trashName, start, end);
  }

  /** Bytes [start, end) of the file at `path`; null when it is missing or shorter. */
  private readFrom(path: string, start: number, end: number): Uint8Array | null {
    if (this.fs.fileSize(path) < end) return null;
    const h = this.fs.open(path, 'existing');
    try {
      return this.fs.pread(h, start, end - start);
    } finally {
      this.fs.close(h);
    }
  }

  /** Write bytes at `start` of the named data file, bringing it back from trash or creating it. */
  writeAny(name: string, trashName: string, start: number, bytes: Uint8Array): void {
    // Remembered by name: a restore replaces the file objects, and must still sync these bytes.
    this.rangeWritten.add(name);
    this.rangeWrittenSinceRestore.add(name);
    const f = this.byName(name);
    if (f !== undefined) {
      this.flush(f);
      this.windows.forget(f);
      this.fs.pwritev(this.handleOf(f), [bytes], start);
      f.unsynced = true;
      return;
    }
    const dir = name.slice(0, name.lastIndexOf('/'));
    this.fs.mkdirp(dir);
    if (this.fs.fileSize(name) < 0 && this.fs.fileSize(trashName) >= 0) {
      this.overForeign(name, () => this.fs.rename(trashName, name));
      this.moves++;
    }
    const h = this.overForeign(name, () => this.fs.open(name, this.fs.fileSize(name) >= 0 ? 'existing' : 'create'));
    try {
      this.fs.pwritev(h, [bytes], start);
    } finally {
      this.fs.close(h);
    }
    this.dirtyDirs.add('').add('data').add(dir);
  }

  /**
   * Unlink trash files whose data name is not in `keep`. Entries that are not regular files (a
   * directory found where a data file belongs, set aside by `reconcile`), and regular files whose
   * name is not a data file's trash name (`<class>-<32 hex>.dat`, isTrashDataName: a file of someone else's set
   * aside, or moved from data/ under a name the store never writes), are left there and counted
   * (`counters.trashForeign`): the store removes nothing it did not write. Until 2026-12-07 such a
   * regular file was unlinked at the next purge.
   */
  purgeTrash(keep: ReadonlySet<string>): number {
    let n = 0;
    let foreign = 0;
    for (const name of this.fs.list('trash')) {
      const dash = name.indexOf('-');
      const dataName = dash > 0 ? `data/${name.slice(0, dash)}/${name.slice(dash + 1)}` : '';
      if (keep.has(dataName)) continue;
      if (!isTrashDataName(name) || this.fs.fileSize(`trash/${name}`) < 0) {
        foreign++;
        continue;
      }
      if (this.fs.unlink(`trash/${name}`)) n++;
    }
    this.counters.trashForeign = foreign;
    return n;
  }
}
