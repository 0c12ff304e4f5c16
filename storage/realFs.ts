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
    return new RealFileHandle(fs.openSync(path, flags === 'create' ? 'w+' : 'r+'));
  }
}

class RealFileHandle implements FileHandle {
  private closed = false;
  constructor(private readonly fd: number) {}

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
    fs.closeSync(this.fd);
  }
}

export const realFs: FileSystem = new RealFileSystem();
