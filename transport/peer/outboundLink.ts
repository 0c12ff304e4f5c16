/**
 * One outbound link: this node -> one peer, on one channel (control or data).
 *
 * States: idle -> connecting -> open -> (socket closed) -> backoff -> connecting ...; closed is final.
 * `connecting` covers TCP, TLS, the HTTP upgrade, the peer's challenge, our hello and the peer's
 * welcome; messages are only written once the welcome proved we reached the right node of the right
 * cluster (with a cluster secret: that the peer holds it too, over our nonce).
 *
 * Messages arrive already encoded (bodies). They queue until the next microtask, so sends made in
 * the same tick coalesce into one frame (up to `batchMessagesMax` messages and `frameBytesMax`
 * bytes). The queue plus the socket's buffer is capped at `bufferedBytesMax`: past it a message is
 * dropped and counted, never queued without bound (Raft retransmits). Messages queued while
 * connecting are dropped if that attempt fails.
 */
import WebSocket from 'ws';
import type { Socket } from 'node:net';
import type { NodeId } from '../../machines/types.js';
import { backoffDelayMs } from '../wire/backoff.js';
import { decodeFrame, encodeMessagesFrameParts, encodeMessagesPrefix, type Channel } from './codec.js';
import { dialPeer, helloFor, welcomeFault, type HelloNonces } from './dialHandshake.js';
import { CloseCode, TransportDropCode, TransportError, TransportErrorCode, closeCodeOf, isTransportError } from '../wire/errors.js';
import type { ResolvedOptions } from './options.js';
import { toBuffer } from './socketUtil.js';
import type { LinkState, PeerAddress } from './types.js';

/** What a link reports to, and needs from, its transport. */
export interface LinkHost {
  readonly opts: ResolvedOptions;
  countSent(messages: number, bytes: number): void;
  countDrop(code: TransportDropCode, messages: number): void;
  countReject(code: TransportErrorCode): void;
  countPeerClose(code: number): void;
  countOutboundHandshake(): void;
  trackSocket(ws: WebSocket): void;
  untrackSocket(ws: WebSocket): void;
}

/** Worst-case bytes of a frame's array header (a 5-byte head covers up to 2^32 items). */
const ARRAY_HEAD_BYTES_MAX = 5;

export class OutboundLink {
  state: LinkState = 'idle';
  private ws: WebSocket | undefined;
  private handshakeDone = false;
  /** The hello sent on the current connection (its nonces and term, which the welcome's proof covers); null before the challenge. */
  private hello: HelloNonces | null = null;
  /** Encoded message bodies (each a list of parts) and their sizes, FIFO from queueHead. */
  private queue: Uint8Array[][] = [];
  private queueSizes: number[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private flushScheduled = false;
  private lastPongMs = 0;
  private readonly prefix: Uint8Array;
  private readonly bodyBytesMax: number;
  private readonly flushTask = (): void => this.flush();

  constructor(
    private readonly host: LinkHost,
    readonly peerId: NodeId,
    readonly channel: Channel,
    private address: PeerAddress,
  ) {
    this.prefix = encodeMessagesPrefix(host.opts.nodeId, peerId);
    this.bodyBytesMax = host.opts.frameBytesMax - ARRAY_HEAD_BYTES_MAX - this.prefix.length;
  }

  /**
   * Queues one encoded message body (its parts, `bytes` long in all). Never throws; a message that
   * cannot be queued is counted as dropped.
   */
  enqueue(body: Uint8Array[], bytes: number): void {
    if (this.state === 'closed') {
      this.host.countDrop(TransportDropCode.closed, 1);
      return;
    }
    if (bytes > this.bodyBytesMax) {
      this.host.countDrop(TransportDropCode.tooLarge, 1);
      return;
    }
    const socketBytes = this.state === 'open' && this.ws ? this.ws.bufferedAmount : 0;
    if (this.queuedBytes + socketBytes + bytes > this.host.opts.bufferedBytesMax) {
      this.host.countDrop(TransportDropCode.backpressure, 1);
      return;
    }
    this.queue.push(body);
    this.queueSizes.push(bytes);
    this.queuedBytes += bytes;
    if (this.state === 'idle') this.connect();
    else if (this.state === 'open') this.scheduleFlush();
  }

  /** Points the link at a new address; an open connection to the old one is closed. */
  setAddress(address: PeerAddress): void {
    if (address.host === this.address.host && address.port === this.address.port) return;
    this.address = address;
    if (this.ws) this.ws.close(CloseCode.goingAway, 'peer address changed');
  }

  /** Called periodically by the transport: pings an open link, drops one that stopped answering. */
  keepAlive(nowMs: number): void {
    if (this.state !== 'open' || !this.ws) return;
    if (nowMs - this.lastPongMs > this.host.opts.keepAliveTimeoutMs) {
      this.host.countReject(TransportErrorCode.peerUnresponsive);
      this.ws.terminate();
      return;
    }
    this.ws.ping();
  }

  /** Closes the link for good (transport close or peer removed). */
  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearTimer();
    this.dropQueue(TransportDropCode.closed);
    const ws = this.ws;
    if (ws) {
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close(CloseCode.goingAway, 'transport closing');
    }
  }

  /** Ends the socket at once (used when close() times out). */
  terminate(): void {
    this.ws?.terminate();
  }

  private connect(): void {
    this.clearTimer();
    this.state = 'connecting';
    this.handshakeDone = false;
    this.hello = null;
    const opts = this.host.opts;
    let ws: WebSocket;
    try {
      ws = dialPeer(opts, this.peerId, this.address);
    } catch (err) {
      // An invalid URL (bad address): count it and retry later; the address may be corrected.
      opts.logger?.warn({ peerId: this.peerId, channel: this.channel, err }, 'transport: cannot dial peer');
      this.dropQueue(TransportDropCode.peerDown);
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.host.trackSocket(ws);
    this.timer = setTimeout(() => {
      this.host.countReject(TransportErrorCode.handshakeTimeout);
      ws.terminate();
    }, opts.handshakeTimeoutMs);

    // The acceptor speaks first (its challenge); the hello answers it (onFrame).
    ws.on('message', (data, isBinary) => {
      try {
        this.onFrame(ws, data, isBinary);
      } catch (err) {
        opts.logger?.error({ peerId: this.peerId, err }, 'transport: internal error on an outbound frame');
        ws.terminate();
      }
    });
    ws.on('pong', () => {
      this.lastPongMs = Date.now();
    });
    ws.on('error', (err: Error & { code?: string }) => {
      const code = classifyClientError(err);
      if (code) this.host.countReject(code);
      opts.logger?.debug({ peerId: this.peerId, channel: this.channel, code: err.code, err: err.message }, 'transport: outbound socket error');
    });
    ws.on('close', (code) => {
      this.host.untrackSocket(ws);
      if (this.ws !== ws) return;
      this.ws = undefined;
      this.clearTimer();
      // After the handshake every close is worth counting; before it, only the peer's verdicts.
      if (this.handshakeDone || code >= 4000) this.host.countPeerClose(code);
      this.handshakeDone = false;
      if (this.state === 'closed') return;
      this.dropQueue(TransportDropCode.peerDown);
      this.scheduleReconnect();
    });
  }

  private onFrame(ws: WebSocket, data: WebSocket.RawData, isBinary: boolean): void {
    if (this.handshakeDone) {
      // The acceptor never sends anything after its welcome.
      this.host.countReject(TransportErrorCode.frameKind);
      return;
    }
    const opts = this.host.opts;
    const awaiting = this.hello === null ? 'challenge' : 'welcome';
    let code: TransportErrorCode | undefined;
    if (!isBinary) code = TransportErrorCode.textFrame;
    else {
      try {
        const frame = decodeFrame(toBuffer(data), { limits: opts.decodeLimits });
        if (this.hello === null) {
          if (frame.kind !== 'challenge') code = TransportErrorCode.handshake;
          else {
            this.sendHello(ws, Uint8Array.from(frame.nonce));
            return;
          }
        } else code = welcomeFault(opts, this.peerId, this.channel, this.hello, frame);
      } catch (err) {
        code = isTransportError(err) ? err.code : TransportErrorCode.handshake;
      }
    }
    if (code !== undefined) {
      this.host.countReject(code);
      opts.logger?.warn({ peerId: this.peerId, channel: this.channel, code }, `transport: bad ${awaiting}`);
      ws.close(closeCodeOf(code), code);
      return;
    }
    this.clearTimer();
    this.handshakeDone = true;
    this.state = 'open';
    this.attempt = 0;
    this.lastPongMs = Date.now();
    this.host.countOutboundHandshake();
    opts.logger?.debug({ peerId: this.peerId, channel: this.channel }, 'transport: link open');
    if (this.queuedBytes > 0 || this.queue.length > this.queueHead) this.scheduleFlush();
  }

  /** Answers the acceptor's challenge with our hello (and, with a secret, its proof over both nonces). */
  private sendHello(ws: WebSocket, acceptorNonce: Uint8Array): void {
    const opts = this.host.opts;
    try {
      const { frame, nonces } = helloFor(opts, this.peerId, this.channel, acceptorNonce);
      this.hello = nonces;
      ws.send(frame);
    } catch (err) {
      opts.logger?.error({ peerId: this.peerId, err }, 'transport: cannot send hello');
      ws.terminate();
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(this.flushTask);
  }

  private flush(): void {
    this.flushScheduled = false;
    const ws = this.ws;
    if (this.state !== 'open' || !ws || ws.readyState !== WebSocket.OPEN) return;
    const opts = this.host.opts;
    const queue = this.queue;
    const sizes = this.queueSizes;
    // Every fragment of every frame of this flush leaves in one writev: ws corks and uncorks per
    // fragment, which made a spliced append (head, entries) two system calls, each running the
    // receiver's loopback TCP path (11% of the leader's profile at 128 in flight).
    const socket = (ws as unknown as { _socket?: Socket })._socket;
    const corked = socket !== undefined && !socket.destroyed;
    if (corked) socket.cork();
    try {
      this.sendQueued(ws, opts, queue, sizes);
    } finally {
      if (corked) socket.uncork();
    }
    this.queue = [];
    this.queueSizes = [];
    this.queueHead = 0;
  }

  private sendQueued(ws: WebSocket, opts: ResolvedOptions, queue: Uint8Array[][], sizes: number[]): void {
    while (this.queueHead < queue.length) {
      let end = this.queueHead;
      let bytes = 0;
      while (end < queue.length && end - this.queueHead < opts.batchMessagesMax && bytes + sizes[end]! <= this.bodyBytesMax) {
        bytes += sizes[end]!;
        end++;
      }
      const bodies = queue.slice(this.queueHead, end);
      for (let i = this.queueHead; i < end; i++) queue[i] = NO_PARTS;
      this.queueHead = end;
      this.queuedBytes -= bytes;
      let fragments = encodeMessagesFrameParts(this.prefix, bodies);
      if (fragments.length > opts.fragmentsPerFrameMax) fragments = [Buffer.concat(fragments)];
      // One WebSocket message; large parts go as their own fragments, so they are never copied.
      let frameBytes = 0;
      const last = fragments.length - 1;
      for (let i = 0; i <= last; i++) {
        frameBytes += fragments[i]!.length;
        ws.send(fragments[i]!, { binary: true, compress: false, fin: i === last });
      }
      this.host.countSent(bodies.length, frameBytes);
    }
  }

  private dropQueue(code: TransportDropCode): void {
    const pending = this.queue.length - this.queueHead;
    if (pending > 0) this.host.countDrop(code, pending);
    this.queue = [];
    this.queueSizes = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
  }

  private scheduleReconnect(): void {
    const opts = this.host.opts;
    const delay = backoffDelayMs(this.attempt, opts.reconnectDelayMsMin, opts.reconnectDelayMsMax, opts.random);
    this.attempt++;
    this.state = 'backoff';
    this.clearTimer();
    this.timer = setTimeout(() => this.connect(), delay);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}

const NO_PARTS: Uint8Array[] = [];

/** Which rejection code, if any, an outbound socket error is. Plain connection failures are not rejections. */
function classifyClientError(err: Error & { code?: string }): TransportErrorCode | undefined {
  const code = err.code ?? '';
  if (code === TransportErrorCode.certIdentity) return TransportErrorCode.certIdentity;
  if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') return TransportErrorCode.frameTooLarge;
  if (code.startsWith('WS_ERR_')) return TransportErrorCode.wsProtocol;
  if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code.includes('CERT') || code.startsWith('UNABLE_TO')) {
    return TransportErrorCode.tls;
  }
  if (err instanceof TransportError) return err.code;
  return undefined;
}
