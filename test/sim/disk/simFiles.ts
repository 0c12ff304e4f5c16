/**
 * The simulated disk's data model: growable file bytes, the volatile operations on files and
 * directories, and path helpers. Pure data; test/sim/disk/simDisk.ts decides when operations happen.
 */
export type FileOp =
  | { readonly seq: number; readonly kind: 'write'; readonly position: number; readonly data: Uint8Array }
  | { readonly seq: number; readonly kind: 'truncate'; readonly length: number };

export type DirOp =
  | { readonly seq: number; readonly kind: 'link'; readonly path: string; readonly inode: number }
  | { readonly seq: number; readonly kind: 'unlink'; readonly path: string }
  | { readonly seq: number; readonly kind: 'rename'; readonly from: string; readonly to: string };

export interface Inode {
  readonly id: number;
  durable: Bytes;
  visible: Bytes;
  volatile: FileOp[];
}

export function simError(code: string, message: string): Error {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

export function dirOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function normalize(path: string): string {
  let p = path.replace(/\/+/g, '/');
  if (p.length > 1 && p.endsWith('/')) p = p.slice(0, -1);
  return p;
}

/** A file's bytes with room to grow, so appends cost amortized O(bytes appended). */
export class Bytes {
  private buf: Uint8Array;
  length: number;

  constructor(init: Uint8Array = new Uint8Array(0)) {
    this.buf = new Uint8Array(Math.max(64, init.length));
    this.buf.set(init);
    this.length = init.length;
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  copy(): Bytes {
    return new Bytes(this.view());
  }

  apply(op: FileOp): void {
    if (op.kind === 'truncate') this.resize(op.length);
    else {
      const end = op.position + op.data.length;
      if (end > this.length) this.resize(end);
      this.buf.set(op.data, op.position);
    }
  }

  private resize(length: number): void {
    if (length < this.length) {
      // Bytes past the end must read as zero if the file grows again.
      this.buf.fill(0, length, this.length);
    } else if (length > this.buf.length) {
      let cap = this.buf.length * 2;
      while (cap < length) cap *= 2;
      const next = new Uint8Array(cap);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.length = length;
  }
}

export function applyAll(base: Bytes, ops: readonly FileOp[]): Bytes {
  const out = base.copy();
  for (const op of ops) out.apply(op);
  return out;
}

export function applyDirOp(names: Map<string, number>, op: DirOp): void {
  if (op.kind === 'link') names.set(op.path, op.inode);
  else if (op.kind === 'unlink') names.delete(op.path);
  else {
    const id = names.get(op.from);
    if (id === undefined) return; // the link it depended on was not kept: nothing to rename
    names.delete(op.from);
    names.set(op.to, id);
  }
}
