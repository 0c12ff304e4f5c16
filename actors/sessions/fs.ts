/**
 * The synchronous file operations the session store needs, over node:fs (`NodeSessionFs`) or in
 * memory with a crash model (`MemorySessionFs`, memoryFs.ts).
 *
 * Why not storage/types.ts's `FileSystem`: its writes complete through callbacks (they sit on the
 * WAL's group-commit path), while `StateMachine.apply` is synchronous, returns results that depend
 * on what was written, and a SessionRestore may read back bytes that an earlier entry of the same
 * batch stored. Data-file writes are not on the durability path (the log is: a crash replays the
 * entries after the last snapshot), so a synchronous pwrite into the page cache costs microseconds
 * and keeps apply simple and deterministic. fsync happens only when a snapshot is taken.
 *
 * Paths are relative to the store's root, with '/' separators.
 */
import * as fs from 'node:fs';
import { join } from 'node:path';

export interface SessionFs {
  mkdirp(dir: string): void;
  /** Names in `dir`, sorted; [] when it does not exist. */
  list(dir: string): string[];
  /** A regular file's size, or -1 when it does not exist. */
  fileSize(path: string): number;
  /** Open for reading and writing; 'create' creates or truncates, 'existing' fails when missing. */
  open(path: string, mode: 'create' | 'existing'): number;
  close(handle: number): void;
  /** Write the chunks back to back at `position` (pwritev). */
  pwritev(handle: number, chunks: readonly Uint8Array[], position: number): void;
  /** Exactly `length` bytes at `position`; throws when the file is shorter. */
  pread(handle: number, position: number, length: number): Uint8Array;
  size(handle: number): number;
  truncate(handle: number, length: number): void;
  fsync(handle: number): void;
  /** Atomic replace; durable after syncDir of both parents. */
  rename(from: string, to: string): void;
  /** false when it did not exist. */
  unlink(path: string): boolean;
  syncDir(dir: string): void;
  /**
   * Optional: make these files' bytes written so far, then these directories' entries, durable off
   * the event loop (a thread pool), and call back once all are (or with the first error). Every
   * name is opened before this returns, so a later rename or close changes nothing it syncs.
   * Without it, callers sync in place (the simulator's MemorySessionFs).
   */
  syncLater?(files: readonly string[], dirs: readonly string[], cb: (err: Error | null) => void): void;
}

export class NodeSessionFs implements SessionFs {
  constructor(readonly root: string) {
    fs.mkdirSync(root, { recursive: true });
  }

  private abs(p: string): string {
    return join(this.root, p);
  }

  mkdirp(dir: string): void {
    fs.mkdirSync(this.abs(dir), { recursive: true });
  }

  list(dir: string): string[] {
    try {
      return fs.readdirSync(this.abs(dir)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  }

  fileSize(path: string): number {
    try {
      const st = fs.statSync(this.abs(path));
      return st.isFile() ? st.size : -1;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return -1;
      throw err;
    }
  }

  open(path: string, mode: 'create' | 'existing'): number {
    return fs.openSync(this.abs(path), mode === 'create' ? 'w+' : 'r+');
  }

  close(handle: number): void {
    fs.closeSync(handle);
  }

  pwritev(handle: number, chunks: readonly Uint8Array[], position: number): void {
    let total = 0;
    for (const c of chunks) total += c.length;
    let written = fs.writevSync(handle, chunks as Uint8Array[], position);
    if (written === total) return;
    // Short write (rare): finish it chunk by chunk.
    let pos = position + written;
    let skip = written;
    for (const c of chunks) {
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      let off = skip;
      skip = 0;
      while (off < c.length) {
        const n = fs.writeSync(handle, c, off, c.length - off, pos);
        if (n <= 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
        off += n;
        pos += n;
        written += n;
      }
    }
  }

  pread(handle: number, position: number, length: number): Uint8Array {
    const out = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = fs.readSync(handle, out, got, length - got, position + got);
      if (n === 0) throw Object.assign(new Error(`short read: ${got} of ${length} bytes at ${position}`), { code: 'ESHORT' });
      got += n;
    }
    return out;
  }

  size(handle: number): number {
    return fs.fstatSync(handle).size;
  }

  truncate(handle: number, length: number): void {
    fs.ftruncateSync(handle, length);
  }

  fsync(handle: number): void {
    fs.fdatasyncSync(handle);
  }

  rename(from: string, to: string): void {
    fs.renameSync(this.abs(from), this.abs(to));
  }

  unlink(path: string): boolean {
    try {
      fs.unlinkSync(this.abs(path));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  syncLater(files: readonly string[], dirs: readonly string[], cb: (err: Error | null) => void): void {
    // Opened now: the fds name the inodes, whatever is renamed (to trash) or closed meanwhile.
    const fileFds: number[] = [];
    const dirFds: number[] = [];
    const closeAll = (): void => {
      for (const fd of [...fileFds, ...dirFds]) {
        try {
          fs.closeSync(fd);
        } catch {
          // Already failing or closing: nothing more to learn from it.
        }
      }
    };
    try {
      for (const f of files) fileFds.push(fs.openSync(this.abs(f), 'r'));
      for (const d of dirs) {
        try {
          dirFds.push(fs.openSync(this.abs(d), 'r'));
        } catch (err) {
          // As syncDir: a directory that does not exist has nothing to make durable.
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    } catch (err) {
      closeAll();
      queueMicrotask(() => cb(err as Error));
      return;
    }
    let failed: Error | null = null;
    const done = (): void => {
      closeAll();
      cb(failed);
    };
    // Files in parallel, then directories one at a time, children before parents (the caller's order).
    let pending = fileFds.length;
    const syncDirs = (k: number): void => {
      if (failed !== null || k >= dirFds.length) return done();
      fs.fsync(dirFds[k]!, (err) => {
        if (err) failed = err;
        syncDirs(k + 1);
      });
    };
    if (pending === 0) return syncDirs(0);
    for (const fd of fileFds) {
      fs.fdatasync(fd, (err) => {
        if (err && failed === null) failed = err;
        if (--pending === 0) syncDirs(0);
      });
    }
  }

  syncDir(dir: string): void {
    // A directory that does not exist has no entries to make durable (as in MemorySessionFs):
    // restore() syncs data/ and trash/ even when no file was ever stored or trashed.
    let fd: number;
    try {
      fd = fs.openSync(this.abs(dir), 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }
}
