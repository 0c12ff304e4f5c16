/**
 * Read-ahead windows over the data files (issue 20): the delayed path reads each stored record
 * up to four times in a row, each a `pread` of a few bytes to a few KiB at nearly the same offset
 * (the scheduler's header and topic when the record falls due, the SessionRestore's apply, the
 * group delivery's push), and records fall due in file order. A window is one `pread` of up to
 * `windowBytes` from the requested offset; later reads inside it are copied out of it.
 *
 * Only bytes below a file's applied size are ever read, and those never change while the file is
 * in the state, except through the operations that call `forget` (range sync writing a range in
 * place, a file leaving the state, a snapshot's files replacing the state's), and a window's own
 * bytes are never written after its pread. A read answers a view of the window where the file
 * system's pread answers Buffers, as the real one does (a Buffer's `slice` is a view; the
 * simulator's answers copies): callers only read it, and one kept keeps its window alive (a
 * subscriber's delivery until it is handed over, at most the restore-ahead hold; a connection's
 * push queue keeps deliveries encoded, pushQueue.ts). Copying each read instead cost the delayed
 * benchmark about 7 % of its items a second at 128 producers (2026-12-06, alternating pairs: a
 * backing store per read 3 of 3 behind, slices of Node's pool 5 of 6).
 *
 * Memory: at most `windowsMax` windows of at most `windowBytes` each (named limits, see
 * StoreOptions.readWindowBytes); the least recently used window is dropped first.
 */

interface Window {
  /** The file's identity (its DataFile object): a file created again under the same name is another file. */
  readonly file: object;
  readonly start: number;
  readonly bytes: Uint8Array;
}

export class ReadWindows {
  /** Least recently used first. */
  private readonly windows: Window[] = [];
  readonly counters = { hits: 0, misses: 0 };

  constructor(
    /** The most bytes one window holds (0: no windows, every read goes to the file). */
    readonly windowBytes: number,
    readonly windowsMax: number,
  ) {}

  /** [offset, offset + length) of `file` (read-only: a view of the window, see above), or null when no window holds all of it. */
  get(file: object, offset: number, length: number): Uint8Array | null {
    const ws = this.windows;
    for (let k = ws.length - 1; k >= 0; k--) {
      const w = ws[k]!;
      if (w.file !== file || offset < w.start || offset + length > w.start + w.bytes.length) continue;
      if (k !== ws.length - 1) {
        ws.splice(k, 1);
        ws.push(w);
      }
      this.counters.hits++;
      const at = offset - w.start;
      return w.bytes.slice(at, at + length);
    }
    this.counters.misses++;
    return null;
  }

  /**
   * How many bytes to read from `offset` for a read of `length` in a file of `size` applied bytes:
   * a window's worth when the read is small enough to share one, else just the read.
   */
  spanOf(offset: number, length: number, size: number): number {
    if (this.windowBytes === 0 || this.windowsMax === 0 || length * 4 > this.windowBytes) return length;
    return Math.max(length, Math.min(this.windowBytes, size - offset));
  }

  /** Keep `bytes`, read from `start` of `file`, as the most recent window (when it is one). */
  keep(file: object, start: number, bytes: Uint8Array, length: number): void {
    if (bytes.length <= length || this.windowsMax === 0) return;
    if (this.windows.length >= this.windowsMax) this.windows.shift();
    this.windows.push({ file, start, bytes });
  }

  /** Drop every window of `file` (its bytes may change, or it left the state). */
  forget(file: object): void {
    for (let k = this.windows.length - 1; k >= 0; k--) if (this.windows[k]!.file === file) this.windows.splice(k, 1);
  }

  clear(): void {
    this.windows.length = 0;
  }

  get bytesHeld(): number {
    let n = 0;
    for (const w of this.windows) n += w.bytes.length;
    return n;
  }
}
