/**
 * An in-memory `SessionFs` with a crash model, for tests and the simulator: written bytes survive
 * `crash()` only if the file was fsynced afterwards, and a created, renamed or unlinked name only if
 * its directory was synced afterwards (what POSIX promises, and no more). Directories themselves
 * are durable once made (the store makes them before anything depends on them and syncs parents).
 *
 * `failNextFsync()`: the next fsync throws EIO and forgets what it covered, as Linux may after a
 * writeback error (the dirty pages are marked clean without being written): the bytes stay readable
 * (the page cache), a later fsync that succeeds does not make them durable, and a crash takes them
 * away. Only bytes written (or cut by a truncation) after the failure reach the disk again.
 */
import type { SessionFs } from '../../../actors/sessions/fs.js';

interface FileNode {
  data: Uint8Array;
  length: number;
  /** The content as of the last fsync (null: never synced, so empty after a crash). */
  synced: Uint8Array | null;
  /**
   * Set by a failed fsync: the ranges written or cut since (end exclusive; Infinity for a cut). A
   * later fsync makes durable only those; every other byte keeps its durable value (zero past it).
   */
  rewritten?: Array<[number, number]>;
}

function parentOf(path: string): string {
  const k = path.lastIndexOf('/');
  return k < 0 ? '' : path.slice(0, k);
}

function enoent(path: string): Error {
  return Object.assign(new Error(`ENOENT: no such file: ${path}`), { code: 'ENOENT' });
}

export class MemorySessionFs implements SessionFs {
  private live = new Map<string, FileNode>();
  private durable = new Map<string, FileNode>();
  private readonly dirs = new Set<string>(['']);
  private handles = new Map<number, FileNode>();
  private nextHandle = 1;
  /** Counters for tests: fsyncs of files and directories. */
  readonly stats = { fsyncs: 0, dirSyncs: 0, writes: 0, fsyncsFailed: 0 };
  private fsyncFaults = 0;

  /** The next fsync fails with EIO and forgets the file's unsynced bytes (see the class comment). */
  failNextFsync(): void {
    this.fsyncFaults++;
  }

  /** Forget every armed fault (the simulator heals the cluster). */
  clearFaults(): void {
    this.fsyncFaults = 0;
  }

  mkdirp(dir: string): void {
    let d = dir;
    while (d !== '' && !this.dirs.has(d)) {
      this.dirs.add(d);
      d = parentOf(d);
    }
  }

  list(dir: string): string[] {
    if (!this.dirs.has(dir)) return [];
    const prefix = dir === '' ? '' : dir + '/';
    const names = new Set<string>();
    for (const p of this.live.keys()) if (parentOf(p) === dir) names.add(p.slice(prefix.length));
    for (const d of this.dirs) if (d !== '' && d !== dir && parentOf(d) === dir) names.add(d.slice(prefix.length));
    return [...names].sort();
  }

  fileSize(path: string): number {
    const f = this.live.get(path);
    return f === undefined ? -1 : f.length;
  }

  open(path: string, mode: 'create' | 'existing'): number {
    let f = this.live.get(path);
    if (mode === 'existing') {
      if (f === undefined) throw enoent(path);
    } else {
      if (!this.dirs.has(parentOf(path))) throw enoent(parentOf(path));
      if (f === undefined) {
        f = { data: new Uint8Array(0), length: 0, synced: null };
        this.live.set(path, f);
      } else {
        f.length = 0;
        f.rewritten?.push([0, Infinity]);
      }
    }
    const h = this.nextHandle++;
    this.handles.set(h, f);
    return h;
  }

  private node(h: number): FileNode {
    const f = this.handles.get(h);
    if (f === undefined) throw Object.assign(new Error(`EBADF: handle ${h}`), { code: 'EBADF' });
    return f;
  }

  close(handle: number): void {
    this.handles.delete(handle);
  }

  pwritev(handle: number, chunks: readonly Uint8Array[], position: number): void {
    const f = this.node(handle);
    let total = 0;
    for (const c of chunks) total += c.length;
    const end = position + total;
    if (end > f.data.length) {
      const grown = new Uint8Array(Math.max(end, f.data.length * 2, 4096));
      grown.set(f.data.subarray(0, f.length));
      f.data = grown;
    }
    if (position > f.length) f.data.fill(0, f.length, position);
    let at = position;
    for (const c of chunks) {
      f.data.set(c, at);
      at += c.length;
    }
    if (end > f.length) f.length = end;
    f.rewritten?.push([position, end]);
    this.stats.writes++;
  }

  pread(handle: number, position: number, length: number): Uint8Array {
    const f = this.node(handle);
    if (position + length > f.length) {
      throw Object.assign(new Error(`short read: ${length} bytes at ${position} of ${f.length}`), { code: 'ESHORT' });
    }
    return f.data.slice(position, position + length);
  }

  size(handle: number): number {
    return this.node(handle).length;
  }

  truncate(handle: number, length: number): void {
    const f = this.node(handle);
    if (length > f.length) {
      if (length > f.data.length) {
        const grown = new Uint8Array(length);
        grown.set(f.data.subarray(0, f.length));
        f.data = grown;
      }
      f.data.fill(0, f.length, length);
    }
    f.rewritten?.push([Math.min(length, f.length), Infinity]);
    f.length = length;
  }

  fsync(handle: number): void {
    const f = this.node(handle);
    if (this.fsyncFaults > 0) {
      this.fsyncFaults--;
      this.stats.fsyncsFailed++;
      // Marked clean, never written: from now on only what is written again reaches the disk.
      f.rewritten = [];
      throw Object.assign(new Error('EIO: fsync failed (simulated)'), { code: 'EIO' });
    }
    const now = f.data.slice(0, f.length);
    if (f.rewritten !== undefined) {
      const durable = f.synced ?? new Uint8Array(0);
      const fresh = new Uint8Array(now.length);
      for (const [from, to] of f.rewritten) fresh.fill(1, Math.min(from, now.length), Math.min(to, now.length));
      for (let i = 0; i < now.length; i++) if (fresh[i] === 0) now[i] = i < durable.length ? durable[i]! : 0;
      delete f.rewritten;
    }
    f.synced = now;
    this.stats.fsyncs++;
  }

  rename(from: string, to: string): void {
    const f = this.live.get(from);
    if (f === undefined) throw enoent(from);
    if (!this.dirs.has(parentOf(to))) throw enoent(parentOf(to));
    this.live.delete(from);
    this.live.set(to, f);
  }

  unlink(path: string): boolean {
    return this.live.delete(path);
  }

  syncDir(dir: string): void {
    this.stats.dirSyncs++;
    for (const [p, f] of this.live) if (parentOf(p) === dir) this.durable.set(p, f);
    for (const p of [...this.durable.keys()]) if (parentOf(p) === dir && !this.live.has(p)) this.durable.delete(p);
  }

  /** Lose everything not made durable: names since the last directory sync, bytes since the last fsync. */
  crash(): void {
    this.handles = new Map();
    const next = new Map<string, FileNode>();
    const fresh = new Map<FileNode, FileNode>();
    for (const [p, f] of this.durable) {
      let g = fresh.get(f);
      if (g === undefined) {
        const data = f.synced === null ? new Uint8Array(0) : f.synced.slice();
        g = { data, length: data.length, synced: f.synced === null ? null : f.synced.slice() };
        fresh.set(f, g);
      }
      next.set(p, g);
    }
    this.live = next;
    this.durable = new Map(next);
  }

  /** Every live file's bytes, by path (for comparing directories in tests). */
  files(under = ''): Map<string, Uint8Array> {
    const out = new Map<string, Uint8Array>();
    for (const [p, f] of [...this.live].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
      if (under === '' || p.startsWith(under + '/')) out.set(p, f.data.slice(0, f.length));
    }
    return out;
  }
}
