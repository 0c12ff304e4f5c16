/**
 * Moving a snapshot between nodes in chunks over the data channel (InstallSnapshot): the leader's
 * sender with a bounded window of unacknowledged chunks and a per-chunk acknowledgement deadline,
 * and the follower's receiver that assembles and hands a complete snapshot to Raft. The deadline
 * covers chunks only: once the last chunk is acknowledged, installing takes as long as it takes.
 */
import type { NodeId, RaftMessage, SnapshotChunk, SnapshotMeta, SnapshotResponse } from '../../machines/types.js';

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
  readonly data: Uint8Array;
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

type StreamOutcome = { readonly to: NodeId; readonly index: number; readonly ok: boolean };

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

  start(to: NodeId, term: number, meta: SnapshotMeta, data: Uint8Array): void {
    this.streams.set(to, { term, meta, data, nextOffset: 0, ackedOffset: 0, sentAll: false, idleTicks: 0, retries: 0, fastResendAt: -1 });
    this.pump(to);
  }

  private pump(to: NodeId): void {
    const s = this.streams.get(to);
    if (s === undefined) return;
    const total = s.data.byteLength;
    const windowBytes = this.opts.chunkBytes * this.opts.windowChunks;
    // Bounded by the window; an empty snapshot still goes out as one (empty, final) chunk.
    while (!s.sentAll && s.nextOffset - s.ackedOffset < windowBytes) {
      const end = Math.min(total, s.nextOffset + this.opts.chunkBytes);
      const chunk: SnapshotChunk = {
        type: 'snapshot',
        from: this.self,
        to,
        term: s.term,
        meta: s.meta,
        offset: s.nextOffset,
        totalBytes: total,
        data: s.data.subarray(s.nextOffset, end),
        done: end === total,
      };
      this.send(chunk);
      s.nextOffset = end;
      if (end === total) s.sentAll = true;
    }
  }

  /** A follower's chunk acknowledgement; returns the outcome when the stream ended. */
  onResponse(msg: SnapshotResponse): StreamOutcome | null {
    const s = this.streams.get(msg.from);
    if (s === undefined || msg.index !== s.meta.index) return null;
    if (msg.reject) {
      this.streams.delete(msg.from);
      return { to: msg.from, index: s.meta.index, ok: false };
    }
    const total = s.data.byteLength;
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
      this.streams.delete(msg.from);
      return { to: msg.from, index: s.meta.index, ok: true };
    }
    if (s.nextOffset < s.ackedOffset) s.nextOffset = s.ackedOffset;
    this.pump(msg.from);
    return null;
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
        this.streams.delete(to);
        out.push({ to, index: s.meta.index, ok: false });
        continue;
      }
      s.idleTicks = 0;
      s.nextOffset = s.ackedOffset;
      s.sentAll = false;
      this.pump(to);
    }
    return out;
  }

  cancelAll(): void {
    this.streams.clear();
  }
}

interface InStream {
  readonly from: NodeId;
  readonly meta: SnapshotMeta;
  /** The snapshot's declared size. */
  readonly totalBytes: number;
  /** Grown as chunks arrive (doubling, capped at totalBytes): a declared size reserves nothing. */
  buf: Uint8Array;
  received: number;
}

/** The receive buffer's first allocation (grown by doubling as chunks arrive). */
const RECEIVE_BUFFER_BYTES_MIN = 64 * 1024;

type ChunkOutcome =
  | { readonly kind: 'ack'; readonly response: SnapshotResponse }
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
    if (chunk.offset === 0 && (s === null || s.from !== chunk.from || s.meta.index !== chunk.meta.index || s.meta.term !== chunk.meta.term)) {
      // Issue 18: not the declared size at once (a peer announcing 1 GiB and sending little would
      // hold it); the buffer grows with what arrives.
      const first = Math.min(chunk.totalBytes, Math.max(RECEIVE_BUFFER_BYTES_MIN, chunk.data.byteLength));
      s = this.current = { from: chunk.from, meta: chunk.meta, totalBytes: chunk.totalBytes, buf: new Uint8Array(first), received: 0 };
    }
    if (s === null || s.from !== chunk.from || s.meta.index !== chunk.meta.index || s.meta.term !== chunk.meta.term) {
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
      return { kind: 'complete', response: respond(s.received, false), meta: s.meta, data: s.buf.subarray(0, s.received) };
    }
    return { kind: 'ack', response: respond(s.received, false) };
  }
}
