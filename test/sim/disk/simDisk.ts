/**
 * A deterministic simulated disk for the cluster simulator: a `FileSystem` whose every file has
 * durable bytes and a list of volatile (completed but unsynced) operations, and whose directories
 * have durable entries and a list of volatile entry operations (create, rename, unlink).
 *
 * - Callback operations (write, sync, truncate, syncDir) complete later through the injected
 *   scheduler, never synchronously; their latency comes from the injected random source.
 * - `sync` makes durable the file's operations that had completed when it was issued (POSIX
 *   promises no more). `syncDir` does the same for the directory's entry operations.
 * - `crash()`: each file keeps its durable bytes plus a random prefix of its volatile operations,
 *   the last kept write possibly torn (only a prefix of its bytes); each directory keeps a random
 *   prefix of its volatile entry operations. Everything kept becomes durable. Callbacks still
 *   pending belong to the crashed incarnation and never fire; its handles and mounts go stale.
 * - Faults: `flipBit` flips a bit of a file's durable bytes; `failNext` makes the next write, sync,
 *   truncate or syncDir fail with an Error whose `code` is 'EIO' or 'ENOSPC'. A failed sync also
 *   forgets the operations it covered without making them durable (as Linux may, after an fsync
 *   error the dirty pages can be dropped): a crash then loses them.
 *
 * Deterministic for a seed and a call sequence: no clock, no Math.random, and every iteration over
 * files or directories runs in sorted or creation order. Directory creation (mkdirp) is durable at
 * once; a rename must stay within one directory.
 */
import { applyAll, applyDirOp, Bytes, dirOf, normalize, simError, type DirOp, type Inode } from './simFiles.js';
import { SimMount } from './simMount.js';
import type { FileHandle, FileSystem } from '../../../storage/types.js';

export interface SimScheduler {
  schedule(delayMs: number, fn: () => void): void;
}

export interface SimDiskOptions {
  /** Latency of a write or truncate. Default 0.2 ms. */
  readonly writeLatencyMs?: number;
  /** Latency of a sync or syncDir. Default 2 ms. */
  readonly syncLatencyMs?: number;
  /** Extra random latency, uniform in [0, jitter). Default 0.5 ms. */
  readonly latencyJitterMs?: number;
  /** Chance that a crash tears the last write it keeps of a file. Default 0.5. */
  readonly tearProbability?: number;
  /**
   * A torn write keeps its bytes up to a multiple of this in the file (512: whole sectors, as a
   * disk or the page cache tears). Default 1: any byte.
   */
  readonly tearSectorBytes?: number;
}

export type SimOp = 'write' | 'sync' | 'truncate' | 'syncDir';
export type SimErrorCode = 'EIO' | 'ENOSPC';

export interface BitFlip {
  readonly path: string;
  readonly offset: number;
  readonly bit: number;
}

export class SimDisk implements FileSystem {
  private readonly scheduler: SimScheduler;
  private readonly random: () => number;
  private readonly writeLatencyMs: number;
  private readonly syncLatencyMs: number;
  private readonly jitterMs: number;
  private readonly tearProbability: number;
  private readonly tearSectorBytes: number;

  /** Bumped by crash(): operations of an older incarnation never complete. */
  private epoch = 0;
  private opSeq = 0;
  private inodeSeq = 0;
  private readonly inodes = new Map<number, Inode>();
  private readonly dirs = new Set<string>(['/']);
  private visibleNames = new Map<string, number>();
  private durableNames = new Map<string, number>();
  private volatileDirOps: DirOp[] = [];
  private readonly faults: Record<SimOp, SimErrorCode[]> = { write: [], sync: [], truncate: [], syncDir: [] };
  private mountCache: SimMount | null = null;

  readonly stats = { writes: 0, syncs: 0, syncDirs: 0, truncates: 0, crashes: 0, faultsInjected: 0, bitFlips: 0 };

  constructor(scheduler: SimScheduler, random: () => number, options: SimDiskOptions = {}) {
    this.scheduler = scheduler;
    this.random = random;
    this.writeLatencyMs = options.writeLatencyMs ?? 0.2;
    this.syncLatencyMs = options.syncLatencyMs ?? 2;
    this.jitterMs = options.latencyJitterMs ?? 0.5;
    this.tearProbability = options.tearProbability ?? 0.5;
    this.tearSectorBytes = options.tearSectorBytes ?? 1;
  }

  // ---- FileSystem of the current incarnation -------------------------------------------------

  /** A FileSystem bound to the current incarnation: it goes stale (throws ESTALE) at the next crash. */
  mount(): FileSystem {
    if (this.mountCache === null || this.mountCache.epoch !== this.epoch) this.mountCache = new SimMount(this, this.epoch);
    return this.mountCache;
  }

  /** A mount of its own for one process, which `SimMount.kill` ends without a crash. */
  processMount(): SimMount {
    return new SimMount(this, this.epoch);
  }

  mkdirp(dir: string): void {
    this.mount().mkdirp(dir);
  }
  readdir(dir: string): string[] {
    return this.mount().readdir(dir);
  }
  exists(path: string): boolean {
    return this.mount().exists(path);
  }
  readFile(path: string): Uint8Array {
    return this.mount().readFile(path);
  }
  rename(from: string, to: string): void {
    this.mount().rename(from, to);
  }
  unlink(path: string): void {
    this.mount().unlink(path);
  }
  syncDir(dir: string, cb: (err: Error | null) => void): void {
    this.mount().syncDir(dir, cb);
  }
  open(path: string, flags: 'create' | 'existing'): FileHandle {
    return this.mount().open(path, flags);
  }

  // ---- faults and crashes --------------------------------------------------------------------

  /** The next `op` issued fails with `code` (faults queue up in order per operation). */
  failNext(op: SimOp, code: SimErrorCode): void {
    this.faults[op].push(code);
  }

  /** Forget every armed fault (the simulator heals the cluster). */
  clearFaults(): void {
    for (const op of Object.keys(this.faults) as SimOp[]) this.faults[op].length = 0;
  }

  /**
   * Flips one bit of a file's durable bytes (a random file with durable bytes when `path` is not
   * given, a random position unless `offset`/`bit` are). Returns what was flipped, or null if no
   * file has durable bytes.
   */
  flipBit(path?: string, offset?: number, bit?: number): BitFlip | null {
    let target: string | undefined = path === undefined ? undefined : normalize(path);
    if (target === undefined) {
      const candidates = [...this.durableNames.keys()].sort().filter((p) => this.inodes.get(this.durableNames.get(p)!)!.durable.length > 0);
      if (candidates.length === 0) return null;
      target = candidates[Math.floor(this.random() * candidates.length)]!;
    }
    const id = this.durableNames.get(target);
    if (id === undefined) return null;
    const node = this.inodes.get(id)!;
    if (node.durable.length === 0) return null;
    const at = offset ?? Math.floor(this.random() * node.durable.length);
    const b = bit ?? Math.floor(this.random() * 8);
    if (at < 0 || at >= node.durable.length || b < 0 || b > 7) throw new RangeError(`flip outside ${target}`);
    node.durable.view()[at]! ^= 1 << b;
    node.visible = applyAll(node.durable, node.volatile);
    this.stats.bitFlips++;
    return { path: target, offset: at, bit: b };
  }

  /**
   * Cuts a file's durable bytes to `length` (a random shorter length when not given); for a node
   * that is down (issue 15: a truncated hard state). Returns the new length, or null.
   */
  truncateFile(path: string, length?: number): number | null {
    const id = this.durableNames.get(normalize(path));
    if (id === undefined) return null;
    const node = this.inodes.get(id)!;
    const len = length ?? Math.floor(this.random() * node.durable.length);
    node.durable.apply({ seq: this.nextOpSeq(), kind: 'truncate', length: len });
    node.visible = applyAll(node.durable, node.volatile);
    return len;
  }

  /** A file's name is lost (issue 15: a lost hard state); for a node that is down. */
  loseFile(path: string): boolean {
    const p = normalize(path);
    if (!this.durableNames.has(p)) return false;
    this.durableNames.delete(p);
    this.visibleNames.delete(p);
    this.dropUnreachable();
    return true;
  }

  /**
   * Power loss: every file keeps its durable bytes plus a random prefix of its volatile operations
   * (the last kept write maybe torn), every directory a random prefix of its volatile entry
   * operations; all of it becomes durable. Pending callbacks never fire.
   */
  crash(): void {
    this.epoch++;
    this.stats.crashes++;
    for (const id of [...this.inodes.keys()].sort((a, b) => a - b)) {
      const node = this.inodes.get(id)!;
      const ops = node.volatile;
      const keep = Math.floor(this.random() * (ops.length + 1));
      const kept = ops.slice(0, keep);
      const last = kept[kept.length - 1];
      if (last !== undefined && last.kind === 'write' && last.data.length > 0 && this.random() < this.tearProbability) {
        const any = Math.floor(this.random() * last.data.length);
        const sector = this.tearSectorBytes;
        const cut = Math.max(0, Math.floor((last.position + any) / sector) * sector - last.position);
        kept[kept.length - 1] = { ...last, data: last.data.subarray(0, cut) };
      }
      for (const op of kept) node.durable.apply(op);
      node.visible = node.durable.copy();
      node.volatile = [];
    }
    const byDir = new Map<string, DirOp[]>();
    for (const op of this.volatileDirOps) {
      const d = dirOf(op.kind === 'rename' ? op.to : op.path);
      const list = byDir.get(d) ?? [];
      list.push(op);
      byDir.set(d, list);
    }
    const keptSeqs = new Set<number>();
    for (const d of [...byDir.keys()].sort()) {
      const ops = byDir.get(d)!;
      const keep = Math.floor(this.random() * (ops.length + 1));
      for (const op of ops.slice(0, keep)) keptSeqs.add(op.seq);
    }
    // Applied in global order so a rename sees the link it depends on.
    for (const op of this.volatileDirOps) if (keptSeqs.has(op.seq)) applyDirOp(this.durableNames, op);
    this.volatileDirOps = [];
    this.visibleNames = new Map([...this.durableNames.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
    this.dropUnreachable();
  }

  // ---- inspection for tests ------------------------------------------------------------------

  /** Paths of the files visible now, sorted. */
  paths(): string[] {
    return [...this.visibleNames.keys()].sort();
  }

  /** What a reader sees now (null when there is no such file). */
  visibleBytes(path: string): Uint8Array | null {
    const id = this.visibleNames.get(normalize(path));
    return id === undefined ? null : this.inodes.get(id)!.visible.view().slice();
  }

  /** What a crash that keeps nothing volatile would leave (null when the name is not durable). */
  durableBytes(path: string): Uint8Array | null {
    const id = this.durableNames.get(normalize(path));
    return id === undefined ? null : this.inodes.get(id)!.durable.view().slice();
  }

  /** Completed but unsynced operations of a file, and unsynced entry operations of a directory. */
  volatileCounts(path: string): { fileOps: number; dirOps: number } {
    const p = normalize(path);
    const id = this.visibleNames.get(p);
    const fileOps = id === undefined ? 0 : this.inodes.get(id)!.volatile.length;
    const dirOps = this.volatileDirOps.filter((op) => dirOf(op.kind === 'rename' ? op.to : op.path) === p).length;
    return { fileOps, dirOps };
  }

  /** Replaces a file's durable and visible bytes at once (tests building damaged disks). */
  setDurableBytes(path: string, bytes: Uint8Array): void {
    const id = this.durableNames.get(normalize(path));
    if (id === undefined) throw simError('ENOENT', path);
    const node = this.inodes.get(id)!;
    node.durable = new Bytes(bytes);
    node.volatile = [];
    node.visible = new Bytes(bytes);
  }

  // ---- internals used by SimMount and SimHandle ----------------------------------------------

  /** @internal */
  currentEpoch(): number {
    return this.epoch;
  }

  /** @internal Runs `fn` after the operation's latency unless the disk crashed meanwhile. */
  later(kind: 'write' | 'sync', epoch: number, fn: () => void): void {
    const base = kind === 'write' ? this.writeLatencyMs : this.syncLatencyMs;
    const delay = base + this.random() * this.jitterMs;
    this.scheduler.schedule(delay, () => {
      if (this.epoch === epoch) fn();
    });
  }

  /** @internal */
  takeFault(op: SimOp): Error | null {
    const code = this.faults[op].shift();
    if (code === undefined) return null;
    this.stats.faultsInjected++;
    return simError(code, `simulated ${op} failure`);
  }

  /** @internal */
  nextOpSeq(): number {
    return ++this.opSeq;
  }

  /** @internal */
  inode(id: number): Inode {
    const node = this.inodes.get(id);
    if (node === undefined) throw simError('ENOENT', `inode ${id}`);
    return node;
  }

  /** @internal */
  lookup(path: string): number | undefined {
    return this.visibleNames.get(normalize(path));
  }

  /** @internal */
  hasDir(dir: string): boolean {
    return this.dirs.has(normalize(dir));
  }

  /** @internal */
  addDirs(dir: string): void {
    let d = normalize(dir);
    while (!this.dirs.has(d)) {
      this.dirs.add(d);
      d = dirOf(d);
    }
  }

  /** @internal */
  listDir(dir: string): string[] {
    const d = normalize(dir);
    if (!this.dirs.has(d)) throw simError('ENOENT', `no directory ${dir}`);
    const prefix = d === '/' ? '/' : d + '/';
    const names = new Set<string>();
    for (const p of this.visibleNames.keys()) if (dirOf(p) === d) names.add(p.slice(prefix.length));
    for (const sub of this.dirs) if (sub !== d && dirOf(sub) === d) names.add(sub.slice(prefix.length));
    return [...names].sort();
  }

  /** @internal */
  createFile(path: string): number {
    const p = normalize(path);
    const id = ++this.inodeSeq;
    this.inodes.set(id, { id, durable: new Bytes(), visible: new Bytes(), volatile: [] });
    this.dirOp({ seq: this.nextOpSeq(), kind: 'link', path: p, inode: id });
    return id;
  }

  /** @internal */
  dirOp(op: DirOp): void {
    applyDirOp(this.visibleNames, op);
    this.volatileDirOps.push(op);
  }

  /** @internal Makes durable the directory's entry operations up to `upToSeq`. */
  commitDir(dir: string, upToSeq: number): void {
    const rest: DirOp[] = [];
    for (const op of this.volatileDirOps) {
      const d = dirOf(op.kind === 'rename' ? op.to : op.path);
      if (d === dir && op.seq <= upToSeq) applyDirOp(this.durableNames, op);
      else rest.push(op);
    }
    this.volatileDirOps = rest;
  }

  private dropUnreachable(): void {
    const live = new Set<number>([...this.durableNames.values()]);
    for (const id of [...this.inodes.keys()]) if (!live.has(id)) this.inodes.delete(id);
  }
}
