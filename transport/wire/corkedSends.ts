/**
 * Write coalescing for a WebSocket: the frames sent during one turn of the event loop leave in one
 * `writev` instead of one system call each.
 *
 * On loopback every socket write runs the receiver's TCP path inside the sender's system call and
 * wakes the receiver once per segment: at 128 requests in flight that was the largest single cost
 * of a node (15 % of the leader's CPU in `writev`, one call per reply). Corking the underlying
 * socket on the first send of a turn and uncorking it when the turn ends (a microtask on the node,
 * whose replies are all produced by one synchronous apply; `setImmediate` in the client library,
 * whose requests come from many promise continuations) costs one flag check per frame and delays
 * no frame past the end of the turn that produced it. ws's own per-frame cork/uncork nests inside.
 *
 * With batches on (`batchFrames`, the client port's batches: transport/client/batch.ts) the frames
 * of a turn are held and leave at its end as few WebSocket messages as fit `bytesMax` each: one
 * message, one ws frame and one stream write instead of one per frame. A run of one frame, or a
 * frame larger than `frameBytesMax` (a copy of it costs more than the message it would save),
 * leaves as itself.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

type TurnScheduler = (fn: () => void) => void;
type SendCallback = (err?: Error) => void;

export interface BatchFraming {
  /** The largest batch message, in bytes. */
  readonly bytesMax: number;
  /** Frames in one batch at most. */
  readonly framesMax: number;
  /** Frames larger than this leave alone: copying them into a batch costs more than the message it saves. */
  readonly frameBytesMax: number;
  /** Bytes a frame of `frameBytes` adds to a batch, and the batch's own head at most. */
  readonly itemBytes: (frameBytes: number) => number;
  readonly headBytesMax: number;
  /** Encodes frames[from, to) as one message. */
  readonly encode: (frames: readonly Uint8Array[], from: number, to: number) => Uint8Array;
}

/** ws's readyState OPEN. */
const OPEN = 1;

export class CorkedSends {
  private corked: Socket | null = null;
  private framing: BatchFraming | null = null;
  private held: Uint8Array[] = [];
  private heldCallbacks: (SendCallback | undefined)[] = [];
  private heldBytesNow = 0;
  private flushScheduled = false;
  /** Batch messages sent, and the frames they carried (the connection's counters). */
  batchesSent = 0;
  batchedFrames = 0;
  private readonly uncork = (): void => {
    const s = this.corked;
    this.corked = null;
    if (s !== null && !s.destroyed) s.uncork();
  };
  private readonly flushTurn = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  constructor(
    private readonly ws: WebSocket,
    private readonly schedule: TurnScheduler,
  ) {}

  /** From now on, hold each turn's frames and send them in batches (null: one message per frame again, after a flush). */
  batchFrames(framing: BatchFraming | null): void {
    this.flush();
    this.framing = framing;
  }

  /** Bytes of frames held for the end of this turn (a sender that paces itself on `bufferedAmount` adds them). */
  get heldBytes(): number {
    return this.heldBytesNow;
  }

  /** Sends one binary frame; it leaves with every other frame of this turn. */
  send(frame: Uint8Array, cb?: SendCallback): void {
    if (this.framing !== null && this.ws.readyState === OPEN) {
      this.held.push(frame);
      this.heldCallbacks.push(cb);
      this.heldBytesNow += frame.length;
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        this.schedule(this.flushTurn);
      }
      return;
    }
    this.corkTurn();
    this.sendOne(frame, cb);
  }

  /** Sends the held frames now (before a close: what was answered leaves first). */
  flush(): void {
    const frames = this.held;
    const n = frames.length;
    if (n === 0) return;
    const cbs = this.heldCallbacks;
    this.held = [];
    this.heldCallbacks = [];
    this.heldBytesNow = 0;
    const f = this.framing!;
    this.corkTurn();
    let from = 0;
    while (from < n) {
      if (!this.batchable(frames[from]!)) {
        this.sendOne(frames[from]!, cbs[from]);
        from++;
        continue;
      }
      // The longest run of batchable frames from `from` that fits one batch.
      let bytes = f.headBytesMax + f.itemBytes(frames[from]!.length);
      let to = from + 1;
      while (to < n && to - from < f.framesMax && this.batchable(frames[to]!)) {
        const next = bytes + f.itemBytes(frames[to]!.length);
        if (next > f.bytesMax) break;
        bytes = next;
        to++;
      }
      if (to - from === 1) this.sendOne(frames[from]!, cbs[from]);
      else {
        // Counted only when it can leave (ws answers a send on a closing socket with an error).
        if (this.ws.readyState === OPEN) {
          this.batchesSent++;
          this.batchedFrames += to - from;
        }
        this.sendOne(f.encode(frames, from, to), callbacksOf(cbs, from, to));
      }
      from = to;
    }
    this.uncork();
  }

  private batchable(frame: Uint8Array): boolean {
    const f = this.framing!;
    return frame.length <= f.frameBytesMax && f.headBytesMax + f.itemBytes(frame.length) <= f.bytesMax;
  }

  private sendOne(message: Uint8Array, cb: SendCallback | undefined): void {
    if (cb === undefined) this.ws.send(message);
    else this.ws.send(message, cb);
  }

  private corkTurn(): void {
    if (this.corked !== null) return;
    // `_socket` is ws's net.Socket (present once open); without it, send uncorked.
    const s = (this.ws as unknown as { _socket?: Socket })._socket;
    if (s !== undefined && !s.destroyed && s.writable) {
      s.cork();
      this.corked = s;
      this.schedule(this.uncork);
    }
  }
}

/** One callback for a batch: each frame's own, with the batch's outcome; undefined if none has one. */
function callbacksOf(cbs: readonly (SendCallback | undefined)[], from: number, to: number): SendCallback | undefined {
  let any = false;
  for (let k = from; k < to && !any; k++) any = cbs[k] !== undefined;
  if (!any) return undefined;
  const mine = cbs.slice(from, to);
  return (err) => {
    for (const cb of mine) cb?.(err);
  };
}
