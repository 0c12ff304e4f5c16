/**
 * Moving a snapshot between nodes in chunks over the data channel (InstallSnapshot): the leader's
 * sender with a bounded window of unacknowledged chunks and a per-chunk acknowledgement deadline,
 * and the follower's receiver that assembles and hands a complete snapshot to Raft. The deadline
 * covers chunks only: once the last chunk is acknowledged, installing takes as long as it takes.
 *
 * Issue 18: the sender reads each chunk from the snapshot's file as the window allows (a node no
 * longer keeps its latest snapshot in memory), and every chunk carries the CRC-32 of the whole
 * data, which the receiver checks on what it assembled: a damaged file is refused, not installed.
 */
import type { NodeId, RaftMessage, SnapshotChunk, SnapshotMeta, SnapshotResponse } from '../../machines/types.js';
import { crc32Bytes } from '../../storage/crc.js';
import type { SnapshotReader } from '../../storage/types.js';

export interface SnapshotTransferOptions {
  readonly chunkBytes: number;
  readonly windowChunks: number;
  /** Give up a stream when no chunk is acknowledged for this many ticks. */
  readonly ackTimeoutTicks: number;
  /** The receiver refuses snapshots larger than this. */
  readonly snapshotBytesMax: number;
}

interface OutStream {
  readonly term: number;
  readonly meta: SnapshotMeta;
  /** Closed when the stream ends, whichever way. */
  readonly source: SnapshotReader;
  nextOffset: number;
  ackedOffset: number;
  sentAll: boolean;
  idleTicks: number;
  retries: number;
  /** The offset last resent early (after a duplicate acknowledgement). */
  fastResendAt: number;
}

/** Resend rounds after an acknowledgement timeout before a stream fails. */
const retriesMax = 3;

/**
 * `readFailed`: the snapshot's file could not be read (the stream ended there); `refused`: the
 * receiver refused the snapshot (its bytes did not match their CRC, or it was too large for it).
 */
export type StreamOutcome = { readonly to: NodeId; readonly index: number; readonly ok: boolean; readonly readFailed?: boolean; readonly refused?: boolean };

export class SnapshotSender {
  private readonly streams = new Map<NodeId, OutStream>();

  constructor(
    private readonly self: NodeId,
    private readonly opts: SnapshotTransferOptions,
    private readonly send: (m: RaftMessage) => void,
  ) {}

  isStreaming(to: NodeId): boolean {
    return this.streams.has(to);
  }

  /** Start streaming `source` (the sender closes it); returns the outcome if it ended at once. */
  start(to: NodeId, term: number, meta: SnapshotMeta, source: SnapshotReader): StreamOutcome | null {
    this.end(to);
    this.streams.set(to, { term, meta, source, nextOffset: 0, ackedOffset: 0, sentAll: false, idleTicks: 0, retries: 0, fastResendAt: -1 });
    return this.pump(to);
  }

  private end(to: NodeId): void {
    const s = this.streams.get(to);
    if (s === undefined) return;
    this.streams.delete(to);
    s.source.close();
  }

  /** Send what the window allows; a failed read ends the stream (its outcome is returned). */
  private pump(to: NodeId): StreamOutcome | null {
    const s = this.streams.get(to);
    if (s === undefined) return null;
    const total = s.source.byteLength;
    const windowBytes = this.opts.chunkBytes * this.opts.windowChunks;
    // Bounded by the window; an empty snapshot still goes out as one (empty, final) chunk.
    while (!s.sentAll && s.nextOffset - s.ackedOffset < windowBytes) {
      const end = Math.min(total, s.nextOffset + this.opts.chunkBytes);
      let data: Uint8Array;
      try {
        data = s.source.read(s.nextOffset, end - s.nextOffset);
      } catch {
        this.end(to);
        return { to, index: s.meta.index, ok: false, readFailed: true };
      }
      const chunk: SnapshotChunk = {
        type: 'snapshot',
        from: this.self,
        to,
        term: s.term,
        meta: s.meta,
        offset: s.nextOffset,
        totalBytes: total,
        dataCrc: s.source.dataCrc,
        data,
        done: end === total,
      };
      this.send(chunk);
      s.nextOffset = end;
      if (end === total) s.sentAll = true;
    }
    return null;
  }

  /** A follower's chunk acknowledgement; returns the outcome when the stream ended. */
  onResponse(msg: SnapshotResponse): StreamOutcome | null {
    const s = this.streams.get(msg.from);
    if (s === undefined || msg.index !== s.meta.index) return null;
    if (msg.reject) {
      this.end(msg.from);
      return { to: msg.from, index: s.meta.index, ok: false, refused: true };
    }
    const total = s.source.byteLength;
    if (msg.offset > s.ackedOffset) {
      s.ackedOffset = msg.offset;
      s.idleTicks = 0;
      s.retries = 0;
    } else if (msg.offset === s.ackedOffset && s.nextOffset > s.ackedOffset && !msg.done && s.fastResendAt !== s.ackedOffset) {
      // The receiver is still at the acknowledged offset although we sent past it: the chunk there
      // was lost or overtaken (it takes chunks in order). Resend from there now rather than after
      // the acknowledgement timeout, once per offset (duplicated answers must not multiply sends).
      s.fastResendAt = s.ackedOffset;
      s.nextOffset = s.ackedOffset;
      s.sentAll = false;
    } else if (msg.offset === 0 && s.ackedOffset > 0) {
      // The receiver started over (it restarted): resend from the beginning. Any other lower
      // offset is a duplicated or reordered acknowledgement and means nothing; a lost chunk is
      // resent after the acknowledgement timeout (see tick).
      s.ackedOffset = 0;
      s.nextOffset = 0;
      s.sentAll = false;
    }
    if (s.ackedOffset >= total && (msg.done || msg.offset >= total)) {
      this.end(msg.from);
      return { to: msg.from, index: s.meta.index, ok: true };
    }
    if (s.nextOffset < s.ackedOffset) s.nextOffset = s.ackedOffset;
    return this.pump(msg.from);
  }

  /**
   * Count a tick. A stream with no acknowledgement for `ackTimeoutTicks` resends from the last
   * acknowledged offset (a chunk was lost); after `retriesMax` such rounds it fails.
   * Returns the streams that failed.
   */
  tick(): StreamOutcome[] {
    const out: StreamOutcome[] = [];
    for (const [to, s] of [...this.streams]) {
      if (++s.idleTicks < this.opts.ackTimeoutTicks) continue;
      if (++s.retries > retriesMax) {
        this.end(to);
        out.push({ to, index: s.meta.index, ok: false });
        continue;
      }
      s.idleTicks = 0;
      s.nextOffset = s.ackedOffset;
      s.sentAll = false;
      const failed = this.pump(to);
      if (failed !== null) out.push(failed);
    }
    return out;
  }

  cancelAll(): void {
    for (const to of [...this.streams.keys()]) this.end(to);
  }
}

interface InStream {
  readonly from: NodeId;
  readonly meta: SnapshotMeta;
  /** The snapshot's declared size. */
  readonly totalBytes: number;
  /** The declared CRC-32 of the whole snapshot, checked once it is complete. */
  readonly dataCrc: number;
  /** Grown as chunks arrive (doubling, capped at totalBytes): a declared size reserves nothing. */
  buf: Uint8Array;
  received: number;
}

/** The receive buffer's first allocation (grown by doubling as chunks arrive). */
const RECEIVE_BUFFER_BYTES_MIN = 64 * 1024;

type ChunkOutcome =
  | { readonly kind: 'ack'; readonly response: SnapshotResponse }
  /** The snapshot was complete but not what its sender declared: refused (counted as `snapshot-checksum`). */
  | { readonly kind: 'corrupt'; readonly response: SnapshotResponse }
  | { readonly kind: 'complete'; readonly response: SnapshotResponse; readonly meta: SnapshotMeta; readonly data: Uint8Array };

export class SnapshotReceiver {
  private current: InStream | null = null;

  /** Bytes held for the snapshot being received: at most twice what arrived, never above its declared size. */
  bufferedBytes(): number {
    return this.current === null ? 0 : this.current.buf.byteLength;
  }

  constructor(
    private readonly self: NodeId,
    private readonly opts: SnapshotTransferOptions,
  ) {}

  onChunk(term: number, chunk: SnapshotChunk): ChunkOutcome {
    const respond = (offset: number, reject: boolean): SnapshotResponse => ({
      type: 'snapshotResp',
      from: this.self,
      to: chunk.from,
      term,
      index: chunk.meta.index,
      offset,
      done: false,
      reject,
    });
    if (chunk.totalBytes > this.opts.snapshotBytesMax) return { kind: 'ack', response: respond(0, true) };
    let s = this.current;
    const other = (x: InStream): boolean =>
      x.from !== chunk.from || x.meta.index !== chunk.meta.index || x.meta.term !== chunk.meta.term || x.dataCrc !== chunk.dataCrc;
    if (chunk.offset === 0 && (s === null || other(s))) {
      // Issue 18: not the declared size at once (a peer announcing 1 GiB and sending little would
      // hold it); the buffer grows with what arrives.
      const first = Math.min(chunk.totalBytes, Math.max(RECEIVE_BUFFER_BYTES_MIN, chunk.data.byteLength));
      s = this.current = { from: chunk.from, meta: chunk.meta, totalBytes: chunk.totalBytes, dataCrc: chunk.dataCrc, buf: new Uint8Array(first), received: 0 };
    }
    if (s === null || other(s)) {
      return { kind: 'ack', response: respond(0, false) };
    }
    const end = chunk.offset + chunk.data.byteLength;
    if (chunk.offset === s.received && end <= s.totalBytes && chunk.totalBytes === s.totalBytes) {
      if (end > s.buf.byteLength) {
        // Bounded: each growth at least doubles, up to totalBytes.
        const grown = new Uint8Array(Math.min(s.totalBytes, Math.max(end, 2 * s.buf.byteLength)));
        grown.set(s.buf.subarray(0, s.received));
        s.buf = grown;
      }
      s.buf.set(chunk.data, chunk.offset);
      s.received = end;
    }
    if (s.received === s.totalBytes) {
      this.current = null;
      const data = s.buf.subarray(0, s.received);
      if (crc32Bytes(data, 0) !== s.dataCrc) return { kind: 'corrupt', response: respond(0, true) };
      return { kind: 'complete', response: respond(s.received, false), meta: s.meta, data };
    }
    return { kind: 'ack', response: respond(s.received, false) };
  }
}
