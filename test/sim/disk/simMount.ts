/**
 * The FileSystem and file handles of one incarnation of a SimDisk. Every operation checks the
 * incarnation (epoch): after a crash, old mounts and handles throw ESTALE and their pending
 * callbacks never fire.
 *
 * `kill()`: the process that uses this mount dies and the machine does not (the simulator's
 * `--process-kills`). Its operations still in flight are dropped (a write not applied, a sync that
 * makes nothing durable), its callbacks never fire and its handles throw ESTALE; what completed
 * stays as it is, durable or only in the page cache, for the next process to read.
 */
import type { SimDisk } from './simDisk.js';
import { dirOf, normalize, simError, type FileOp } from './simFiles.js';
import type { FileHandle, FileSystem } from '../../../storage/types.js';

/** The FileSystem of one incarnation. */
/** One process's use of the disk: set when it is killed. */
interface SimProcess {
  killed: boolean;
}

export class SimMount implements FileSystem {
  private readonly process: SimProcess = { killed: false };

  constructor(
    private readonly disk: SimDisk,
    readonly epoch: number,
  ) {}

  /** The process using this mount dies (see the file's comment). */
  kill(): void {
    this.process.killed = true;
  }

  private live(): void {
    if (this.disk.currentEpoch() !== this.epoch) throw simError('ESTALE', 'the disk crashed since this mount was made');
    if (this.process.killed) throw simError('ESTALE', 'the process using this mount was killed');
  }

  mkdirp(dir: string): void {
    this.live();
    this.disk.addDirs(dir);
  }

  readdir(dir: string): string[] {
    this.live();
    return this.disk.listDir(dir);
  }

  exists(path: string): boolean {
    this.live();
    return this.disk.lookup(path) !== undefined || this.disk.hasDir(path);
  }

  readFile(path: string): Uint8Array {
    this.live();
    const id = this.disk.lookup(path);
    if (id === undefined) throw simError('ENOENT', path);
    return this.disk.inode(id).visible.view().slice();
  }

  rename(from: string, to: string): void {
    this.live();
    const f = normalize(from);
    const t = normalize(to);
    if (dirOf(f) !== dirOf(t)) throw simError('EXDEV', `rename across directories: ${from} -> ${to}`);
    if (this.disk.lookup(f) === undefined) throw simError('ENOENT', from);
    this.disk.dirOp({ seq: this.disk.nextOpSeq(), kind: 'rename', from: f, to: t });
  }

  unlink(path: string): void {
    this.live();
    const p = normalize(path);
    if (this.disk.lookup(p) === undefined) throw simError('ENOENT', path);
    this.disk.dirOp({ seq: this.disk.nextOpSeq(), kind: 'unlink', path: p });
  }

  syncDir(dir: string, cb: (err: Error | null) => void): void {
    this.live();
    const d = normalize(dir);
    if (!this.disk.hasDir(d)) throw simError('ENOENT', `no directory ${dir}`);
    const fault = this.disk.takeFault('syncDir');
    const upTo = this.disk.nextOpSeq();
    this.disk.stats.syncDirs++;
    laterIn(this.disk, this.process, 'sync', this.epoch, () => {
      if (fault === null) this.disk.commitDir(d, upTo);
      cb(fault);
    });
  }

  open(path: string, flags: 'create' | 'existing'): FileHandle {
    this.live();
    const p = normalize(path);
    if (!this.disk.hasDir(dirOf(p))) throw simError('ENOENT', `no directory for ${path}`);
    let id = this.disk.lookup(p);
    if (id === undefined) {
      if (flags === 'existing') throw simError('ENOENT', path);
      id = this.disk.createFile(p);
    } else if (flags === 'create') {
      // O_TRUNC: a data change like any other, volatile until the file is synced.
      const node = this.disk.inode(id);
      const op: FileOp = { seq: this.disk.nextOpSeq(), kind: 'truncate', length: 0 };
      node.visible.apply(op);
      node.volatile.push(op);
    }
    return new SimHandle(this.disk, this.epoch, id, this.process);
  }
}

/** `disk.later`, unless the process was killed by then: its operation is dropped. */
function laterIn(disk: SimDisk, process: SimProcess, kind: 'write' | 'sync', epoch: number, fn: () => void): void {
  disk.later(kind, epoch, () => {
    if (!process.killed) fn();
  });
}

class SimHandle implements FileHandle {
  private closed = false;
  constructor(
    private readonly disk: SimDisk,
    private readonly epoch: number,
    private readonly id: number,
    private readonly process: SimProcess,
  ) {}

  private live(): ReturnType<SimDisk['inode']> {
    if (this.disk.currentEpoch() !== this.epoch) throw simError('ESTALE', 'the disk crashed since this file was opened');
    if (this.process.killed) throw simError('ESTALE', 'the process using this file was killed');
    if (this.closed) throw simError('EBADF', 'file handle closed');
    return this.disk.inode(this.id);
  }

  size(): number {
    return this.live().visible.length;
  }

  write(data: Uint8Array, position: number, cb: (err: Error | null) => void): void {
    this.live();
    // Copied now: the caller may reuse its buffer once the callback fired, and the bytes written
    // are those at the time of the call.
    const copy = data.slice();
    const fault = this.disk.takeFault('write');
    this.disk.stats.writes++;
    laterIn(this.disk, this.process, 'write', this.epoch, () => {
      if (fault === null) {
        const node = this.disk.inode(this.id);
        const op: FileOp = { seq: this.disk.nextOpSeq(), kind: 'write', position, data: copy };
        node.visible.apply(op);
        node.volatile.push(op);
      }
      cb(fault);
    });
  }

  sync(cb: (err: Error | null) => void): void {
    this.live();
    const fault = this.disk.takeFault('sync');
    // Only operations completed before the call are covered.
    const upTo = this.disk.nextOpSeq();
    this.disk.stats.syncs++;
    laterIn(this.disk, this.process, 'sync', this.epoch, () => {
      const node = this.disk.inode(this.id);
      const covered = node.volatile.filter((op) => op.seq <= upTo);
      node.volatile = node.volatile.filter((op) => op.seq > upTo);
      if (fault === null) for (const op of covered) node.durable.apply(op);
      cb(fault);
    });
  }

  truncate(length: number, cb: (err: Error | null) => void): void {
    this.live();
    const fault = this.disk.takeFault('truncate');
    this.disk.stats.truncates++;
    laterIn(this.disk, this.process, 'write', this.epoch, () => {
      if (fault === null) {
        const node = this.disk.inode(this.id);
        const op: FileOp = { seq: this.disk.nextOpSeq(), kind: 'truncate', length };
        node.visible.apply(op);
        node.volatile.push(op);
      }
      cb(fault);
    });
  }

  readSync(position: number, length: number): Uint8Array {
    const node = this.live();
    return node.visible.view().slice(position, Math.min(node.visible.length, position + length));
  }

  close(): void {
    if (this.disk.currentEpoch() !== this.epoch) return;
    this.closed = true;
  }
}
