/**
 * A peer's status document over the status channel (2026-12-07): one short connection to the
 * peer's raft port, authenticated as the Raft links are (the cluster secret's challenge-response,
 * or the peer certificates), one `statusRequest`, its `statusReply`, closed. The console gathers
 * the other nodes' views this way, because their admin ports may require a client certificate
 * (`--client-ca-file`) that a node does not hold; the raft port is the path it is already a member
 * on. Bounded in time and in the reply's bytes.
 */
import WebSocket from 'ws';
import { CloseCode, TransportErrorCode, isTransportError } from '../wire/errors.js';
import { decodeFrame, encodeStatusRequest } from './codec.js';
import { dialPeer, helloFor, welcomeFault, type HelloNonces } from './dialHandshake.js';
import type { ResolvedOptions } from './options.js';
import { toBuffer } from './socketUtil.js';
import type { PeerAddress } from './types.js';

export const StatusFetchCode = {
  /**
   * The peer closed the handshake as one that does not serve the status channel (4004): a node of
   * an older version, whose hello decoder knows channels 0 and 1 only. Fetch its status another way.
   */
  unsupported: 'TRANSPORT_ERR_STATUS_UNSUPPORTED',
  /** No reply in time, no connection, a refused or bad handshake, a bad frame, a reply over the bound. */
  failed: 'TRANSPORT_ERR_STATUS_FAILED',
} as const;
export type StatusFetchCode = (typeof StatusFetchCode)[keyof typeof StatusFetchCode];

export class StatusFetchError extends Error {
  constructor(
    readonly code: StatusFetchCode,
    message: string,
  ) {
    super(message);
    this.name = 'StatusFetchError';
  }
}

/** What a status dial needs from its transport. */
interface StatusDialHost {
  readonly opts: ResolvedOptions;
  countReject(code: TransportErrorCode): void;
  trackSocket(ws: WebSocket): void;
  untrackSocket(ws: WebSocket): void;
}

/** The bytes a reply frame adds around its body, at most (array head, version, kind, byte string head). */
const REPLY_FRAME_OVERHEAD = 16;

/** `peerId`'s status document, asked at `address`; rejects with a StatusFetchError. */
export function fetchPeerStatus(host: StatusDialHost, peerId: string, address: PeerAddress, timeoutMs: number, bytesMax: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const opts = host.opts;
    let ws: WebSocket;
    try {
      ws = dialPeer(opts, peerId, address, bytesMax + REPLY_FRAME_OVERHEAD);
    } catch (err) {
      reject(new StatusFetchError(StatusFetchCode.failed, `cannot dial ${peerId}: ${(err as Error).message}`));
      return;
    }
    host.trackSocket(ws);
    let settled = false;
    let nonces: HelloNonces | null = null;
    let open = false;
    const finish = (err: StatusFetchError | null, body?: Uint8Array): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (ws.readyState === WebSocket.OPEN) ws.close(CloseCode.normal, 'done');
      else ws.terminate();
      if (err !== null) reject(err);
      else resolve(body!);
    };
    const fail = (message: string): void => finish(new StatusFetchError(StatusFetchCode.failed, message));
    const timer = setTimeout(() => fail(`no status from ${peerId} within ${timeoutMs} ms`), timeoutMs);
    timer.unref();
    ws.on('message', (data, isBinary) => {
      if (settled) return;
      try {
        if (!isBinary) return fail(`${peerId} sent a text frame`);
        const frame = decodeFrame(toBuffer(data), { limits: opts.decodeLimits });
        if (nonces === null) {
          if (frame.kind !== 'challenge') return fail(`${peerId} did not open with its challenge`);
          const hello = helloFor(opts, peerId, 'status', Uint8Array.from(frame.nonce));
          nonces = hello.nonces;
          ws.send(hello.frame);
          return;
        }
        if (!open) {
          const code = welcomeFault(opts, peerId, 'status', nonces, frame);
          if (code !== undefined) {
            host.countReject(code);
            return fail(`${peerId}'s welcome: ${code}`);
          }
          open = true;
          ws.send(encodeStatusRequest());
          return;
        }
        if (frame.kind !== 'statusReply') return fail(`${peerId} answered a ${frame.kind} frame`);
        if (frame.body.length === 0) return fail(`${peerId} has no status yet (starting)`);
        // The socket's bound leaves room for the frame's head: the body itself is held to bytesMax.
        if (frame.body.length > bytesMax) return fail(`${peerId}'s status is ${frame.body.length} bytes, over ${bytesMax}`);
        finish(null, frame.body);
      } catch (err) {
        fail(`${peerId}: ${isTransportError(err) ? err.code : TransportErrorCode.handshake}: ${(err as Error).message}`);
      }
    });
    ws.on('error', (err) => fail(`${peerId}: ${err.message}`));
    ws.on('close', (code, reason) => {
      host.untrackSocket(ws);
      if (!open && code === CloseCode.handshake) {
        return finish(
          new StatusFetchError(StatusFetchCode.unsupported, `${peerId} does not serve the status channel (a node of an older version?): ${reason.toString()}`),
        );
      }
      fail(`${peerId} closed the connection (${code}${reason.length > 0 ? ` ${reason.toString()}` : ''})`);
    });
  });
}
