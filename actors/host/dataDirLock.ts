/**
 * One node process per data directory. Two processes on one directory (a second `sessionraft node
 * --data-dir` or `npm start` on the same folder, by mistake) would both recover and write the same
 * files: the second's recovery may cut the tail the first is writing into, and both then write
 * records and hard state at offsets the other does not know of; acknowledged entries can be lost.
 * A node therefore holds the directory's lock from before it opens anything in it until it stops,
 * and a second one refuses to start (DATA_DIR_IN_USE) without touching a file.
 *
 * The lock is a listening Unix socket in Linux's abstract namespace, named after the directory's
 * device and inode (the same directory by any path, symlink or bind mount on this machine): the
 * kernel refuses a second bind of the name (EADDRINUSE) and releases it when the process ends, by
 * any signal, kill -9 included, so a crash leaves no stale lock to clear by hand. Abstract names
 * belong to a network namespace: two containers with their own networks that share a volume do not
 * see each other's locks, and any local process may bind a directory's name first (it then keeps
 * the node from starting, with DATA_DIR_IN_USE; it can change nothing in the directory). Other
 * platforms have no abstract names; there the node starts without the lock and says so in its log
 * (`held` false).
 */
import { statSync } from 'node:fs';
import { createServer, type Server } from 'node:net';

/** Another process holds the data directory's lock. */
export class DataDirInUseError extends Error {
  readonly code = 'DATA_DIR_IN_USE';
}

export interface DataDirLock {
  /** False where the platform has no abstract sockets (not Linux): nothing is held. */
  readonly held: boolean;
  /** Releases the lock (idempotent); resolves once another process could take it. */
  release(): Promise<void>;
}

/** The lock's abstract socket name for a directory that exists: its device and inode. */
export function dataDirLockName(dir: string): string {
  const st = statSync(dir, { bigint: true });
  return `\0sessionraft-data-${st.dev}-${st.ino}`;
}

/** Takes the lock of `dir` (which must exist); rejects with DataDirInUseError when another process (or this one) holds it. */
export function lockDataDir(dir: string): Promise<DataDirLock> {
  if (process.platform !== 'linux') return Promise.resolve({ held: false, release: () => Promise.resolve() });
  const name = dataDirLockName(dir);
  return new Promise((resolve, reject) => {
    const server: Server = createServer((s) => s.destroy());
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(new DataDirInUseError(`data directory ${dir} is in use by another sessionraft node process on this machine: stop it first`));
      } else reject(err);
    });
    // Any local process may connect to an abstract name: Node closes every connection at once.
    server.maxConnections = 0;
    server.listen({ path: name, exclusive: true }, () => {
      // The lock never keeps the process alive on its own, and nothing that happens to its socket
      // later (a failed accept when the process is out of descriptors) may stop the node: the lock
      // is the bound name, and it stays bound.
      server.unref();
      server.on('error', () => undefined);
      let released: Promise<void> | null = null;
      resolve({
        held: true,
        release: () => (released ??= new Promise<void>((done) => server.close(() => done()))),
      });
    });
  });
}
