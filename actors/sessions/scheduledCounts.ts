/**
 * Scheduled (stored, not yet restored) sessions per replay class and topic, for visibility (issue
 * 16): derived from the data files, never part of the replicated state or the digest, and never
 * a copy per session (one counter per class and topic).
 *
 * Nothing is counted until someone asks (`start`). Then the unread part of every data file is
 * scanned, headers only, a bounded number of bytes per `advance` call (the node calls it every
 * tick; a view call advances it too), so that a node holding a million scheduled sessions (a
 * gigabyte of data files) never blocks its event loop on it. Meanwhile apply keeps the counts
 * exact: a store or a restore is counted by apply exactly when the scan has already passed (or
 * will never reach) its record:
 *
 * - a file the scan finished: everything later in it is counted by apply;
 * - the file being scanned: a restore below the scan offset is uncounted by apply; records at or
 *   above it are left to the scan, which starts from the file's read cursor when that is ahead;
 * - a file not reached yet: left to the scan.
 *
 * A restored snapshot replaces the files: the counts start over (`reset`).
 */
import { STORED_RECORD_HEADER_BYTES } from '../../transport/commands/codec.js';
import type { DataFile } from './dataFiles.js';
import { parseRecordHeader } from './record.js';

// The mark kept, as the codec and the restore's parse keep it: a leading U+FEFF is part of the
// topic, and a count under the topic without it was never taken back by the restore's.
const topicDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

interface FilesReader {
  all(): DataFile[];
  read(f: DataFile, offset: number, length: number): Uint8Array;
}

export class ScheduledCounts {
  /** Per class: topic -> scheduled non-void records. */
  private counts: Map<string, number>[] = [];
  private started = false;
  /** Files whose whole unread part was scanned (by creation index). */
  private readonly done = new Set<number>();
  /** Files partly scanned: how far (a new file of a lower class can come first in the next call). */
  private readonly partly = new Map<number, number>();
  private complete = false;

  constructor(private readonly files: FilesReader) {}

  get isComplete(): boolean {
    return this.complete;
  }

  get isStarted(): boolean {
    return this.started;
  }

  start(): void {
    this.started = true;
  }

  reset(): void {
    this.counts = [];
    this.started = false;
    this.done.clear();
    this.partly.clear();
    this.complete = false;
  }

  /** Per class, the count of `topic` (or of every topic); classes without any are absent. */
  of(topic: string | undefined): { replayClass: number; sessions: number }[] {
    const out: { replayClass: number; sessions: number }[] = [];
    for (let c = 0; c < this.counts.length; c++) {
      const m = this.counts[c];
      if (m === undefined) continue;
      let n = 0;
      if (topic === undefined) for (const k of m.values()) n += k;
      else n = m.get(topic) ?? 0;
      if (n > 0) out.push({ replayClass: c, sessions: n });
    }
    return out;
  }

  /** Apply stored a non-void record of `topic` at `offset` of `f`. */
  stored(f: DataFile, topic: string): void {
    if (this.started && (this.complete || this.done.has(f.low))) this.add(f.replayClass, topic, 1);
  }

  /** Apply restored the non-void record at `offset` of `f`. */
  restored(f: DataFile, offset: number, topic: string): void {
    if (!this.started) return;
    if (this.complete || this.done.has(f.low) || offset < (this.partly.get(f.low) ?? 0)) {
      this.add(f.replayClass, topic, -1);
    }
  }

  /** Scans up to `bytesMax` bytes of headers (whole reads of at most that size). */
  advance(bytesMax: number): void {
    if (!this.started || this.complete) return;
    let budget = bytesMax;
    for (const f of this.files.all()) {
      if (this.done.has(f.low)) continue;
      let at = Math.max(this.partly.get(f.low) ?? 0, f.readCursor);
      while (at < f.size && budget > 0) {
        const len = Math.min(Math.max(budget, 4096), f.size - at);
        const buf = this.files.read(f, at, len);
        budget -= len;
        let p = 0;
        while (p + STORED_RECORD_HEADER_BYTES <= buf.length) {
          const h = parseRecordHeader(buf.subarray(p), `${f.name}@${at + p}`);
          if (!h.isVoid) {
            if (p + STORED_RECORD_HEADER_BYTES + h.topicBytes > buf.length) break;
            this.add(f.replayClass, topicDecoder.decode(buf.subarray(p + STORED_RECORD_HEADER_BYTES, p + STORED_RECORD_HEADER_BYTES + h.topicBytes)), 1);
          }
          p += h.length;
        }
        // A header that does not fit in the read is read again next time, from its start.
        if (p === 0) budget = 0;
        at += p;
      }
      if (at < f.size) {
        this.partly.set(f.low, at);
        return;
      }
      this.partly.delete(f.low);
      this.done.add(f.low);
    }
    this.complete = true;
    this.done.clear();
    this.partly.clear();
  }

  private add(replayClass: number, topic: string, n: number): void {
    const m = (this.counts[replayClass] ??= new Map());
    const k = (m.get(topic) ?? 0) + n;
    if (k <= 0) m.delete(topic);
    else m.set(topic, k);
  }
}
