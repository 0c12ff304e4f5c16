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
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

type TurnScheduler = (fn: () => void) => void;

export class CorkedSends {
  private corked: Socket | null = null;
  private readonly uncork = (): void => {
    const s = this.corked;
    this.corked = null;
    if (s !== null && !s.destroyed) s.uncork();
  };

  constructor(
    private readonly ws: WebSocket,
    private readonly schedule: TurnScheduler,
  ) {}

  /** Sends one binary frame; it leaves with every other frame of this turn. */
  send(frame: Uint8Array, cb?: (err?: Error) => void): void {
    if (this.corked === null) {
      // `_socket` is ws's net.Socket (present once open); without it, send uncorked.
      const s = (this.ws as unknown as { _socket?: Socket })._socket;
      if (s !== undefined && !s.destroyed && s.writable) {
        s.cork();
        this.corked = s;
        this.schedule(this.uncork);
      }
    }
    if (cb === undefined) this.ws.send(frame);
    else this.ws.send(frame, cb);
  }
}
