/**
 * Range sync (seed 004) for snapshot installation: the snapshot stream carries only a manifest (the
 * state machine's tables and, per data file, ranges with (count, hash) digests); the follower
 * compares them with its own files and fetches from the leader only the byte ranges that differ,
 * in checksummed pieces, a bounded batch at a time.
 */
import { crc32 } from 'node:zlib';
import type { FileByteRange, NodeId, RaftMessage, RangeChunk, RangeRequest } from '../../machines/types.js';

/** What the state machine offers for range sync. */
export interface RangeSyncStore {
  /** Follower: the ranges of this manifest that we lack or hold differently. */
  missingRanges(manifest: Uint8Array): FileByteRange[];
  /** Leader: the bytes of a range. Throws when the file or range is gone. */
  readRange(range: FileByteRange): Uint8Array;
  /** Follower: a whole range, verified. */
  writeRange(range: FileByteRange, data: Uint8Array): void;
}

export interface RangeSyncOptions {
  /** Bytes per rangeChunk message. */
  readonly chunkBytes: number;
  /** Bytes requested per rangeRequest (the follower asks for the next batch when one is done). */
  readonly batchBytes: number;
  /** Re-request what is missing after this many ticks without a chunk; give up after `retriesMax`. */
  readonly idleTicksMax: number;
  readonly retriesMax: number;
}

export const defaultRangeSyncOptions: RangeSyncOptions = {
  chunkBytes: 1024 * 1024,
  batchBytes: 16 * 1024 * 1024,
  idleTicksMax: 20,
  retriesMax: 3,
};

interface Pending {
  readonly range: FileByteRange;
  readonly buf: Uint8Array;
  received: number;
}

type SyncOutcome = 'progress' | 'done' | 'failed';

/** The follower's side of one snapshot installation. */
export class RangeSyncReceiver {
  private readonly todo: FileByteRange[];
  private batch: Pending[] = [];
  private idleTicks = 0;
  private retries = 0;
  /** Bytes fetched (what differed), for tests and metrics. */
  bytesFetched = 0;

  constructor(
    private readonly self: NodeId,
    readonly leader: NodeId,
    readonly term: number,
    readonly snapshotIndex: number,
    missing: FileByteRange[],
    private readonly store: RangeSyncStore,
    private readonly opts: RangeSyncOptions,
    private readonly send: (m: RaftMessage) => void,
    private readonly reject: (code: string) => void,
  ) {
    this.todo = missing.slice().reverse();
  }

  /** Ask for the next batch; returns 'done' when nothing is left. */
  start(): SyncOutcome {
    return this.nextBatch();
  }

  private nextBatch(): SyncOutcome {
    if (this.batch.length > 0) return 'progress';
    let bytes = 0;
    while (
      this.todo.length > 0 &&
      (this.batch.length === 0 || bytes + (this.todo[this.todo.length - 1]!.end - this.todo[this.todo.length - 1]!.start) <= this.opts.batchBytes)
    ) {
      const r = this.todo.pop()!;
      bytes += r.end - r.start;
      this.batch.push({ range: r, buf: new Uint8Array(r.end - r.start), received: 0 });
    }
    if (this.batch.length === 0) return 'done';
    this.request();
    return 'progress';
  }

  /** Ask for every range of the batch not yet complete, whole (pieces already here are dropped). */
  private request(): void {
    for (const p of this.batch) p.received = 0;
    const ranges = this.batch.map((p) => p.range);
    const m: RangeRequest = { type: 'rangeRequest', from: this.self, to: this.leader, term: this.term, snapshotIndex: this.snapshotIndex, ranges };
    this.send(m);
  }

  onChunk(c: RangeChunk): SyncOutcome {
    if (c.from !== this.leader || c.snapshotIndex !== this.snapshotIndex) {
      this.reject('range-chunk-unexpected');
      return 'progress';
    }
    const p = this.batch.find((q) => q.range.name === c.name && q.range.start + q.received === c.start);
    if (p === undefined || c.data.byteLength > p.buf.byteLength - p.received || c.data.byteLength === 0) {
      this.reject('range-chunk-unexpected');
      return 'progress';
    }
    if (crc32(c.data) >>> 0 !== c.crc32) {
      this.reject('range-chunk-checksum');
      return 'progress';
    }
    p.buf.set(c.data, p.received);
    p.received += c.data.byteLength;
    this.bytesFetched += c.data.byteLength;
    this.idleTicks = 0;
    this.retries = 0;
    if (p.received === p.buf.byteLength) {
      this.store.writeRange(p.range, p.buf);
      this.batch.splice(this.batch.indexOf(p), 1);
      if (this.batch.length === 0) return this.nextBatch();
    }
    return 'progress';
  }

  tick(): SyncOutcome {
    if (++this.idleTicks < this.opts.idleTicksMax) return 'progress';
    this.idleTicks = 0;
    if (++this.retries > this.opts.retriesMax) return 'failed';
    this.request();
    return 'progress';
  }
}

/** The leader's side: answer a rangeRequest with checksummed pieces of the current files. */
export function serveRangeRequest(
  self: NodeId,
  term: number,
  req: RangeRequest,
  store: RangeSyncStore,
  chunkBytes: number,
  send: (m: RaftMessage) => void,
): boolean {
  for (const r of req.ranges) {
    let bytes: Uint8Array;
    try {
      bytes = store.readRange(r);
    } catch {
      return false;
    }
    for (let off = 0; off < bytes.byteLength; off += chunkBytes) {
      const data = bytes.subarray(off, Math.min(bytes.byteLength, off + chunkBytes));
      send({
        type: 'rangeChunk',
        from: self,
        to: req.from,
        term,
        snapshotIndex: req.snapshotIndex,
        name: r.name,
        start: r.start + off,
        data,
        crc32: crc32(data) >>> 0,
      });
    }
  }
  return true;
}
