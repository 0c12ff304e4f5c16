/**
 * Files on disk are outside input (a review, 2026-12-07): before recovery reads, unlinks or writes
 * over a name it finds, it checks what the name holds, and a read that fails becomes a typed
 * `StorageError` naming the file, never a raw errno or node:fs's RangeError past 2 GiB.
 */
import { StorageError } from './errors.js';
import type { FileSystem } from './types.js';

type FileInfo = { readonly kind: 'file'; readonly size: number } | { readonly kind: 'other' } | { readonly kind: 'missing' };

const MISSING: FileInfo = { kind: 'missing' };
const OTHER: FileInfo = { kind: 'other' };

/** What `path` holds: a regular file and its size, something else (a directory...), or nothing. */
export function fileInfo(fs: FileSystem, path: string): FileInfo {
  try {
    if (fs.stat !== undefined) {
      const st = fs.stat(path);
      return st === null ? MISSING : st.isFile ? { kind: 'file', size: st.size } : OTHER;
    }
    // A file system without stat (the simulator's): the size of an open handle.
    const h = fs.open(path, 'existing');
    try {
      return { kind: 'file', size: h.size() };
    } finally {
      h.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return MISSING;
    if (code === 'EISDIR') return OTHER;
    throw readFailed(path, e);
  }
}

/** `fs.readFile(path)`, its failure a STORAGE_FAILED naming the file (the errno kept as the cause). */
export function readWhole(fs: FileSystem, path: string): Uint8Array {
  try {
    return fs.readFile(path);
  } catch (e) {
    throw readFailed(path, e);
  }
}

function readFailed(path: string, e: unknown): StorageError {
  const code = (e as NodeJS.ErrnoException).code;
  return new StorageError('STORAGE_FAILED', `cannot read ${path}: ${code !== undefined ? `${code} ` : ''}${(e as Error).message}`, { cause: e });
}

/** A name in the log's directories that the log must use but cannot: the operator has to move it. */
export function badDir(message: string): StorageError {
  return new StorageError('STORAGE_BAD_DIR', message);
}
