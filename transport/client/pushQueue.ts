/**
 * Flow control of the deliveries pushed on one client connection (issue 14, finding 7).
 *
 * A burst of large deliveries (12 restored sessions of 960 KiB falling due together) used to end a
 * subscriber that read as fast as it could: the node wrote them all into the socket at once and
 * called the subscriber slow when ws's `bufferedAmount` passed a limit. Now deliveries wait here,
 * in order, for the socket:
 *
 * - A delivery is written while the socket holds fewer than `bufferedBytesHigh` bytes not yet
 *   handed to the kernel (ws `bufferedAmount`); otherwise it is queued. One delivery is always
 *   written into a socket below the mark, however large, so a delivery larger than the mark still
 *   goes through to a reader that reads.
 * - Queued deliveries are written when the socket drains (the owner calls `pump()` on the
 *   underlying socket's 'drain', which it emits once its buffer is empty after having been above
 *   its own high-water mark, and `bufferedBytesHigh` is at least that).
 * - The queue is bounded in deliveries and bytes: `push` answers 'full' beyond that (the owner ends
 *   that subscription, SUBSCRIBER_OVERFLOW). An empty queue admits one delivery of any size.
 * - A connection is lagging while deliveries are queued; then, and only then, one timer checks it
 *   every `checkEveryMs`. A check that sees the socket's buffer shrink, or a pump that wrote, is
 *   progress. A connection that made no progress for `behindMsMax` (counted in checks, so a blocked
 *   event loop does not count against the reader) while more than `behindBytesMax` bytes are
 *   behind (queued + in the socket) is stalled: the queue is emptied and `onStalled` is called.
 *
 * No timer and no allocation on the hot path (empty queue, socket below the mark): one comparison,
 * then the write. A queued delivery is encoded when queued and waits as its frame: a copy, so it
 * keeps nothing alive that its value pointed into (the records of a restored session are views of
 * a data file's 64 KiB read window, actors/sessions/readWindows.ts).
 */

/** The bounds of one connection's queue (from the client port limits). */
export interface PushQueueLimits {
  /** pushBufferedBytesMax: deliveries are written while the socket holds fewer bytes than this. */
  readonly bufferedBytesHigh: number;
  /** pushQueueBytesMax: bytes of deliveries queued at most. */
  readonly queueBytesMax: number;
  /** pushQueueDeliveriesMax: deliveries queued at most. */
  readonly queueDeliveriesMax: number;
  /** subscriberBehindBytesMax: queued + buffered bytes beyond which a reader that makes no progress is stalled. */
  readonly behindBytesMax: number;
  /** subscriberBehindMsMax: how long without progress a reader that far behind is given. */
  readonly behindMsMax: number;
}

/** Where the deliveries go: a WebSocket, or a fake in tests. */
interface PushSink {
  /** Bytes handed to the socket and not yet written to the kernel (ws `bufferedAmount`). */
  bufferedAmount(): number;
  send(frame: Uint8Array): void;
}

/** One timer at a time (injected: tests drive a fake clock). */
interface PushTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

interface PushEntry {
  readonly subId: number;
  /** The delivery's size as counted against the queue's byte bound. */
  readonly bytes: number;
  /** The delivery, encoded. */
  readonly frame: Uint8Array;
}

type PushOutcome = 'sent' | 'queued' | 'full';

const realTimers: PushTimers = {
  set: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export class PushQueue<T> {
  private items: (PushEntry | undefined)[] = [];
  private head = 0;
  private bytes = 0;
  private timer: unknown = null;
  /** Milliseconds of checks without progress, while lagging. */
  private stalledMs = 0;
  private lastBuffered = 0;
  private closed = false;
  /** The lag timer's period: a quarter of behindMsMax, between 1 ms and 1 s. */
  readonly checkEveryMs: number;

  constructor(
    private readonly sink: PushSink,
    /** Encodes a delivery: when it is written at once, or when it is queued. */
    private readonly encode: (subId: number, value: T) => Uint8Array,
    private readonly limits: PushQueueLimits,
    /** The reader stalled (see above); the queue is already empty. `detail` says by how much. */
    private readonly onStalled: (detail: string) => void,
    private readonly timers: PushTimers = realTimers,
  ) {
    this.checkEveryMs = Math.max(1, Math.min(1000, Math.floor(limits.behindMsMax / 4)));
  }

  /** Deliveries waiting. */
  get queued(): number {
    return this.items.length - this.head;
  }

  /** Bytes of the deliveries waiting. */
  get queuedBytes(): number {
    return this.bytes;
  }

  /** Deliveries are waiting for the socket (and one timer watches it). */
  get lagging(): boolean {
    return this.timer !== null;
  }

  /** Writes the delivery now if the socket has room and nothing waits; else queues it, or answers 'full'. */
  push(subId: number, bytes: number, value: T): PushOutcome {
    if (this.closed) return 'full';
    if (this.head === this.items.length) {
      if (this.sink.bufferedAmount() < this.limits.bufferedBytesHigh) {
        this.sink.send(this.encode(subId, value));
        return 'sent';
      }
    } else if (this.queued >= this.limits.queueDeliveriesMax || this.bytes + bytes > this.limits.queueBytesMax) {
      return 'full';
    }
    this.items.push({ subId, bytes, frame: this.encode(subId, value) });
    this.bytes += bytes;
    if (this.timer === null) this.startLagging();
    // Order is kept: if the socket drained meanwhile, the oldest go first.
    if (this.queued > 1 && this.sink.bufferedAmount() < this.limits.bufferedBytesHigh) this.pump();
    return 'queued';
  }

  /** The socket drained: write queued deliveries, oldest first, while it stays below the mark. */
  pump(): void {
    let wrote = false;
    while (this.head < this.items.length && !this.closed && this.sink.bufferedAmount() < this.limits.bufferedBytesHigh) {
      const e = this.items[this.head]!;
      this.items[this.head++] = undefined;
      this.bytes -= e.bytes;
      wrote = true;
      this.sink.send(e.frame);
    }
    if (wrote) this.stalledMs = 0;
    this.compact();
  }

  /** Forgets the queued deliveries of one subscription (it ended, or was unsubscribed). */
  drop(subId: number): void {
    if (this.head === this.items.length) return;
    const kept: PushEntry[] = [];
    let bytes = 0;
    for (let k = this.head; k < this.items.length; k++) {
      const e = this.items[k]!;
      if (e.subId === subId) continue;
      kept.push(e);
      bytes += e.bytes;
    }
    this.items = kept;
    this.head = 0;
    this.bytes = bytes;
    this.compact();
  }

  /** The connection closed: forget everything, stop the timer. */
  close(): void {
    this.closed = true;
    this.clear();
  }

  private clear(): void {
    this.items = [];
    this.head = 0;
    this.bytes = 0;
    this.compact();
  }

  /** Drops the consumed head of the array; stops lagging when nothing waits. */
  private compact(): void {
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
      if (this.timer !== null) {
        this.timers.clear(this.timer);
        this.timer = null;
      }
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
  }

  private startLagging(): void {
    this.stalledMs = 0;
    this.lastBuffered = this.sink.bufferedAmount();
    this.timer = this.timers.set(this.check, this.checkEveryMs);
  }

  private readonly check = (): void => {
    this.timer = null;
    if (this.closed || this.head === this.items.length) return;
    const before = this.sink.bufferedAmount();
    if (before < this.lastBuffered) this.stalledMs = 0;
    else this.stalledMs += this.checkEveryMs;
    // A safety net: 'drain' is the signal, but a missed one must not stall a reader that reads.
    this.pump();
    if (this.head === this.items.length) return;
    const buffered = this.sink.bufferedAmount();
    this.lastBuffered = buffered;
    const behind = this.bytes + buffered;
    if (this.stalledMs >= this.limits.behindMsMax && behind > this.limits.behindBytesMax) {
      const detail = `no progress for ${this.stalledMs} ms with ${behind} bytes behind (${this.queued} deliveries queued, ${buffered} bytes in the socket; limits subscriberBehindMsMax ${this.limits.behindMsMax}, subscriberBehindBytesMax ${this.limits.behindBytesMax})`;
      this.clear();
      this.onStalled(detail);
      return;
    }
    this.timer = this.timers.set(this.check, this.checkEveryMs);
  };
}
