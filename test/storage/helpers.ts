/** Shared helpers for the storage tests: temp dirs, entries, wrapped file systems, a sim clock. */
import { deepStrictEqual as assertDeepEqual } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry, EntryKind } from '../../machines/types.js';
import { openLog, type OpenedLog } from '../../storage/openLog.js';
import type { WalOptions } from '../../storage/options.js';
import { realFs } from '../../storage/realFs.js';
import type { FileHandle, FileSystem, LogWrite } from '../../storage/types.js';

export function tempDir(tag: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `sessionraft-${tag}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Entry data that encodes its own index and term, so a mixed-up entry is visible in a diff. */
export function entry(index: number, term: number, dataBytes = 16, kind: EntryKind = 1): Entry {
  const data = new Uint8Array(dataBytes);
  for (let i = 0; i < dataBytes; i++) data[i] = (index * 31 + term * 7 + i) & 0xff;
  return { index, term, kind, data };
}

export function entries(from: number, count: number, term: number, dataBytes = 16): Entry[] {
  return Array.from({ length: count }, (_, i) => entry(from + i, term, dataBytes));
}

export function sameEntry(a: Entry, b: Entry): boolean {
  return a.index === b.index && a.term === b.term && a.kind === b.kind && Buffer.compare(a.data, b.data) === 0;
}

export function openAsync(fs: FileSystem, dir: string, options: WalOptions = {}): Promise<OpenedLog> {
  return new Promise((resolve, reject) => openLog(fs, dir, options, (err, o) => (err ? reject(err) : resolve(o!))));
}

export function closeAsync(o: OpenedLog): Promise<void> {
  return new Promise((resolve, reject) => o.log.close((err) => (err ? reject(err) : resolve())));
}

/** Writes and resolves once that write is reported durable (or rejects on fatal). */
export function writeDurable(o: OpenedLog, w: LogWrite): Promise<number> {
  return new Promise((resolve, reject) => {
    const seq = o.log.write(w);
    const prevDurable = o.log.onDurable;
    const prevFatal = o.log.onFatal;
    o.log.onDurable = (s) => {
      prevDurable(s);
      if (s >= seq) {
        o.log.onDurable = prevDurable;
        o.log.onFatal = prevFatal;
        resolve(seq);
      }
    };
    o.log.onFatal = (err) => {
      prevFatal(err);
      reject(err);
    };
  });
}

/** Real files, directory operations passed through: a subclass says how files are opened (and may override syncDir). */
export abstract class RealFsPassThrough implements FileSystem {
  mkdirp = (d: string): void => realFs.mkdirp(d);
  readdir = (d: string): string[] => realFs.readdir(d);
  exists = (p: string): boolean => realFs.exists(p);
  readFile = (p: string): Uint8Array => realFs.readFile(p);
  rename = (a: string, b: string): void => realFs.rename(a, b);
  unlink = (p: string): void => realFs.unlink(p);
  syncDir(d: string, cb: (err: Error | null) => void): void {
    realFs.syncDir(d, cb);
  }
  abstract open(path: string, flags: 'create' | 'existing'): FileHandle;
}

/** Counts operations and can fail writes past a byte budget (a full disk). */
export class WrappedFs implements FileSystem {
  syncs = 0;
  dirSyncs = 0;
  writes = 0;
  bytesWritten = 0;
  /** Writes that would take the total past this fail with ENOSPC (and write nothing). */
  bytesBudget = Infinity;
  /** The next N fdatasyncs fail with EIO. */
  failSyncs = 0;

  constructor(private readonly inner: FileSystem) {}

  mkdirp(dir: string): void {
    this.inner.mkdirp(dir);
  }
  readdir(dir: string): string[] {
    return this.inner.readdir(dir);
  }
  exists(path: string): boolean {
    return this.inner.exists(path);
  }
  readFile(path: string): Uint8Array {
    return this.inner.readFile(path);
  }
  rename(from: string, to: string): void {
    this.inner.rename(from, to);
  }
  unlink(path: string): void {
    this.inner.unlink(path);
  }
  syncDir(dir: string, cb: (err: Error | null) => void): void {
    this.dirSyncs++;
    this.inner.syncDir(dir, cb);
  }
  open(path: string, flags: 'create' | 'existing'): FileHandle {
    const h = this.inner.open(path, flags);
    const outer = this;
    return {
      size: () => h.size(),
      readSync: (p, l) => h.readSync(p, l),
      close: () => h.close(),
      truncate: (l, cb) => h.truncate(l, cb),
      write(data, position, cb) {
        outer.writes++;
        if (outer.bytesWritten + data.length > outer.bytesBudget) {
          setImmediate(() => cb(Object.assign(new Error('ENOSPC: no space left on device (simulated)'), { code: 'ENOSPC' })));
          return;
        }
        outer.bytesWritten += data.length;
        h.write(data, position, cb);
      },
      sync(cb) {
        outer.syncs++;
        if (outer.failSyncs > 0) {
          outer.failSyncs--;
          setImmediate(() => cb(Object.assign(new Error('EIO: i/o error (simulated)'), { code: 'EIO' })));
          return;
        }
        h.sync(cb);
      },
    };
  }
}

/** A deterministic event queue for SimDisk tests: time-ordered, ties in scheduling order. */
export class SimClock {
  nowMs = 0;
  private seq = 0;
  private queue: Array<{ at: number; seq: number; fn: () => void }> = [];

  schedule(delayMs: number, fn: () => void): void {
    this.queue.push({ at: this.nowMs + delayMs, seq: this.seq++, fn });
  }

  pending(): number {
    return this.queue.length;
  }

  /** Runs the earliest event; false when there is none. */
  step(): boolean {
    if (this.queue.length === 0) return false;
    let best = 0;
    for (let i = 1; i < this.queue.length; i++) {
      const a = this.queue[i]!;
      const b = this.queue[best]!;
      if (a.at < b.at || (a.at === b.at && a.seq < b.seq)) best = i;
    }
    const ev = this.queue.splice(best, 1)[0]!;
    this.nowMs = ev.at;
    ev.fn();
    return true;
  }

  /** Runs events until `until()` holds or the queue empties; more than stepsMax events is a bug. */
  run(until: () => boolean = () => false, stepsMax = 1_000_000): void {
    for (let steps = 0; steps < stepsMax; steps++) {
      if (until() || !this.step()) return;
    }
    throw new Error(`SimClock.run: more than ${stepsMax} events`);
  }

  /** Runs at most `count` events. */
  runSome(count: number): void {
    for (let k = 0; k < count && this.step(); k++);
  }

  /** Forgets every pending event (the machine lost power). */
  clear(): void {
    this.queue = [];
  }
}

/** mulberry32: a small seeded generator in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Asserts that `actual` has (at least) the given fields with these values. */
export function assertHas(actual: unknown, fields: Record<string, unknown>, message?: string): void {
  if (typeof actual !== 'object' || actual === null) {
    throw new Error(`${message ?? 'value'}: expected an object with ${JSON.stringify(fields)}, got ${String(actual)}`);
  }
  const picked: Record<string, unknown> = {};
  for (const k of Object.keys(fields)) picked[k] = (actual as Record<string, unknown>)[k];
  assertDeepEqual(picked, fields, message);
}
