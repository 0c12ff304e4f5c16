/**
 * Measuring storage from the outside, for metrics: a FileSystem wrapper that times every
 * fdatasync and directory fsync, and a DurableLog wrapper that times each write from `write()` to
 * its `onDurable` report (the append latency: encoding, group commit and fsync). Neither changes
 * behaviour; both are optional.
 */
import type { DurableLog, FileHandle, FileSystem, LogWrite } from '../../storage/types.js';

type Observe = (seconds: number) => void;

/** `syncDelayMs` (fault harness only, hidden flag --fsync-delay-ms): every sync reports `syncDelayMs` late, a slow disk. */
export function timedFileSystem(inner: FileSystem, observeFsync: Observe, syncDelayMs = 0): FileSystem {
  const timed = (cb: (err: Error | null) => void): ((err: Error | null) => void) => {
    const t0 = performance.now();
    return (err) => {
      if (err === null) observeFsync((performance.now() - t0) / 1000);
      if (syncDelayMs > 0) setTimeout(() => cb(err), syncDelayMs);
      else cb(err);
    };
  };
  return {
    mkdirp: (d) => inner.mkdirp(d),
    readdir: (d) => inner.readdir(d),
    exists: (p) => inner.exists(p),
    readFile: (p) => inner.readFile(p),
    rename: (a, b) => inner.rename(a, b),
    unlink: (p) => inner.unlink(p),
    syncDir: (d, cb) => inner.syncDir(d, timed(cb)),
    open: (p, flags): FileHandle => {
      const h = inner.open(p, flags);
      return {
        size: () => h.size(),
        write: (data, position, cb) => h.write(data, position, cb),
        sync: (cb) => h.sync(timed(cb)),
        // A durable write is timed as an fsync (it is one, with the write in front).
        ...(h.writeDurable !== undefined
          ? { writeDurable: (data: Uint8Array, position: number, cb: (err: Error | null) => void) => h.writeDurable!(data, position, timed(cb)) }
          : {}),
        // Not with a delay to inject: the WAL then uses writeDurable, which reports the delay.
        ...(h.writeDurableSync !== undefined && syncDelayMs === 0
          ? {
              writeDurableSync: (data: Uint8Array, position: number) => {
                const t0 = performance.now();
                h.writeDurableSync!(data, position);
                observeFsync((performance.now() - t0) / 1000);
              },
            }
          : {}),
        truncate: (length, cb) => h.truncate(length, cb),
        readSync: (position, length) => h.readSync(position, length),
        close: () => h.close(),
      };
    },
  };
}

/** Times each durable-log write from issue to durability. */
export class TimedDurableLog implements DurableLog {
  onDurable: (seq: number) => void = () => {};
  onFatal: (err: Error) => void = () => {};
  private readonly issued: { seq: number; t0: number }[] = [];
  private head = 0;

  constructor(
    readonly inner: DurableLog,
    private readonly observe: Observe,
  ) {
    inner.onDurable = (seq) => {
      const now = performance.now();
      while (this.head < this.issued.length && this.issued[this.head]!.seq <= seq) {
        this.observe((now - this.issued[this.head]!.t0) / 1000);
        this.head++;
      }
      if (this.head > 1024 && this.head * 2 > this.issued.length) {
        this.issued.splice(0, this.head);
        this.head = 0;
      }
      this.onDurable(seq);
    };
    inner.onFatal = (err) => this.onFatal(err);
  }

  write(w: LogWrite): number {
    // t0 before: an inline write (DurableLog.setInlineWrites) is made inside inner.write.
    const t0 = performance.now();
    const seq = this.inner.write(w);
    this.issued.push({ seq, t0 });
    return seq;
  }

  setInlineWrites(on: boolean): void {
    this.inner.setInlineWrites?.(on);
  }

  compact(throughIndex: number): void {
    this.inner.compact(throughIndex);
  }

  /** Issue 15: forwarded, or the term-unknown marker outlived every restart in production. */
  markTermKnown(): void {
    this.inner.markTermKnown?.();
  }

  close(cb: (err: Error | null) => void): void {
    this.inner.close(cb);
  }
}
