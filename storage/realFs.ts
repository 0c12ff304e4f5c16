/**
 * `FileSystem` over node:fs. Metadata and reads are synchronous (recovery and small files);
 * write, fdatasync, ftruncate and directory fsync go through callbacks on libuv's thread pool.
 *
 * `open(path, 'create')` creates the file or truncates an existing one (O_CREAT|O_TRUNC);
 * `open(path, 'existing')` opens it for reading and writing and fails when it is missing.
 */
import * as fs from 'node:fs';
import type { FileHandle, FileSystem } from './types.js';

export class RealFileSystem implements FileSystem {
  mkdirp(dir: string): void {
    fs.mkdirSync(dir, { recursive: true });
  }

  readdir(dir: string): string[] {
    // Sorted: callers must not depend on the order the kernel returns.
    return fs.readdirSync(dir).sort();
  }

  exists(path: string): boolean {
    return fs.existsSync(path);
  }

  readFile(path: string): Uint8Array {
    return fs.readFileSync(path);
  }

  stat(path: string): { readonly isFile: boolean; readonly size: number } | null {
    const st = fs.statSync(path, { throwIfNoEntry: false });
    return st === undefined ? null : { isFile: st.isFile(), size: st.size };
  }

  rename(from: string, to: string): void {
    fs.renameSync(from, to);
  }

  unlink(path: string): void {
    fs.unlinkSync(path);
  }

  syncDir(dir: string, cb: (err: Error | null) => void): void {
    fs.open(dir, 'r', (err, fd) => {
      if (err) {
        cb(err);
        return;
      }
      fs.fsync(fd, (syncErr) => {
        fs.close(fd, (closeErr) => cb(syncErr ?? closeErr ?? null));
      });
    });
  }

  open(path: string, flags: 'create' | 'existing'): FileHandle {
    return new RealFileHandle(fs.openSync(path, flags === 'create' ? 'w+' : 'r+'), path);
  }
}

/** O_DSYNC where the platform has it (Linux, macOS); without it the WAL uses write + fdatasync. */
const O_DSYNC: number | undefined = fs.constants.O_DSYNC;

class RealFileHandle implements FileHandle {
  private closed = false;
  /** A second descriptor of the same file opened O_DSYNC, for writeDurable (opened on first use). */
  private dsyncFd = -1;
  readonly writeDurable: FileHandle['writeDurable'];
  readonly writeDurableSync: FileHandle['writeDurableSync'];

  constructor(
    private readonly fd: number,
    private readonly path: string,
  ) {
    this.writeDurable = O_DSYNC === undefined ? undefined : (data, position, cb) => this.writeDsync(data, position, cb);
    this.writeDurableSync = O_DSYNC === undefined ? undefined : (data, position) => this.writeDsyncNow(data, position);
  }

  private dsync(): number {
    if (this.dsyncFd < 0) this.dsyncFd = fs.openSync(this.path, fs.constants.O_WRONLY | O_DSYNC!);
    return this.dsyncFd;
  }

  /** writeDsync on this thread: pwrite on the O_DSYNC descriptor until every byte is written. */
  private writeDsyncNow(data: Uint8Array, position: number): void {
    const fd = this.dsync();
    if (data.length === 0) {
      fs.fdatasyncSync(this.fd);
      return;
    }
    let offset = 0;
    while (offset < data.length) {
      const written = fs.writeSync(fd, data, offset, data.length - offset, position + offset);
      if (written === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
      offset += written;
    }
  }

  /**
   * Each pwrite on an O_DSYNC descriptor returns once its bytes and the metadata needed to read them
   * (the file size) are durable: fdatasync's guarantee for the bytes written. Every write to the
   * file goes through this object (segments are written by one WAL), and an fdatasync of earlier
   * writes through `fd` was already waited for, so "every earlier completed write" holds too.
   */
  private writeDsync(data: Uint8Array, position: number, cb: (err: Error | null) => void): void {
    let fd: number;
    try {
      fd = this.dsync();
    } catch (err) {
      queueMicrotask(() => cb(err as Error));
      return;
    }
    const step = (offset: number): void => {
      fs.write(fd, data, offset, data.length - offset, position + offset, (err, written) => {
        if (err) cb(err);
        else if (offset + written >= data.length) cb(null);
        else if (written === 0) cb(Object.assign(new Error('write made no progress'), { code: 'EIO' }));
        else step(offset + written);
      });
    };
    if (data.length === 0) this.sync(cb);
    else step(0);
  }

  size(): number {
    return fs.fstatSync(this.fd).size;
  }

  write(data: Uint8Array, position: number, cb: (err: Error | null) => void): void {
    // fs.write may write less than asked; continue until all bytes are written.
    const step = (offset: number): void => {
      fs.write(this.fd, data, offset, data.length - offset, position + offset, (err, written) => {
        if (err) cb(err);
        else if (offset + written >= data.length) cb(null);
        else if (written === 0) cb(Object.assign(new Error('write made no progress'), { code: 'EIO' }));
        else step(offset + written);
      });
    };
    if (data.length === 0) queueMicrotask(() => cb(null));
    else step(0);
  }

  sync(cb: (err: Error | null) => void): void {
    fs.fdatasync(this.fd, (err) => cb(err ?? null));
  }

  truncate(length: number, cb: (err: Error | null) => void): void {
    fs.ftruncate(this.fd, length, (err) => cb(err ?? null));
  }

  readSync(position: number, length: number): Uint8Array {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const n = fs.readSync(this.fd, buf, done, length - done, position + done);
      if (n === 0) break;
      done += n;
    }
    return buf.subarray(0, done);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.dsyncFd >= 0) fs.closeSync(this.dsyncFd);
    fs.closeSync(this.fd);
  }
}

export const realFs: FileSystem = new RealFileSystem();
