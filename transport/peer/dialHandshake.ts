/**
 * The dialer's side of the peer handshake, shared by the Raft links (outboundLink.ts) and the
 * status channel (statusDial.ts): the WebSocket to dial, the hello that answers the acceptor's
 * challenge (with, given a cluster secret, its proof over both nonces), and the check of the
 * acceptor's welcome (cluster, node, channel, and the proof back).
 */
import WebSocket from 'ws';
import { hostForUrl, parseMemberAddress } from '../wire/address.js';
import { TransportErrorCode } from '../wire/errors.js';
import { encodeHandshake, type Frame, type HandshakeChannel } from './codec.js';
import type { ResolvedOptions } from './options.js';
import { helloProof, newNonce, verifyWelcomeProof } from './peerAuth.js';
import { safeTerm } from './socketUtil.js';
import { clientTlsOptions } from './tlsIdentity.js';
import type { PeerAddress } from './types.js';

const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

/** A WebSocket to `peerId` at `address` (wss:// with the transport's TLS); `maxPayload`: the largest message taken. */
export function dialPeer(opts: ResolvedOptions, peerId: string, address: PeerAddress, maxPayload: number = opts.frameBytesMax): WebSocket {
  const scheme = opts.tls ? 'wss' : 'ws';
  const url = `${scheme}://${hostForUrl(address.host)}:${address.port}/`;
  const clientOptions = {
    perMessageDeflate: false,
    maxPayload,
    maxFragments: opts.fragmentsPerFrameMax,
    maxBufferedChunks: opts.bufferedChunksMax,
    handshakeTimeout: opts.handshakeTimeoutMs,
    closeTimeout: opts.closeTimeoutMs,
    followRedirects: false,
    ...(opts.maskFrames ? {} : { generateMask: zeroMask }),
    // ws hands these to tls.connect as they are; @types/ws types checkServerIdentity wrongly.
    ...(opts.tls ? clientTlsOptions(opts.tls, peerId) : {}),
  };
  return new WebSocket(url, clientOptions as unknown as WebSocket.ClientOptions);
}

/** The nonces of a hello sent on one connection, which the welcome's proof covers. */
export interface HelloNonces {
  readonly acceptorNonce: Uint8Array;
  readonly dialerNonce: Uint8Array;
}

/** Our hello answering the acceptor's challenge (its nonce), and the nonces to check the welcome with. */
export function helloFor(
  opts: ResolvedOptions,
  peerId: string,
  channel: HandshakeChannel,
  acceptorNonce: Uint8Array,
): { readonly frame: Buffer; readonly nonces: HelloNonces } {
  const dialerNonce = newNonce();
  const term = safeTerm(opts.currentTerm);
  const address = advertised(opts.advertisedAddress);
  const proof =
    opts.clusterSecret === undefined
      ? undefined
      : helloProof(opts.clusterSecret, {
          clusterId: opts.clusterId,
          dialer: opts.nodeId,
          acceptor: peerId,
          channel,
          acceptorNonce,
          dialerNonce,
          term,
          address: address.address ?? '',
        });
  const frame = encodeHandshake({
    kind: 'hello',
    clusterId: opts.clusterId,
    from: opts.nodeId,
    to: peerId,
    channel,
    term,
    nonce: dialerNonce,
    ...(proof !== undefined ? { proof } : {}),
    ...address,
  });
  return { frame, nonces: { acceptorNonce, dialerNonce } };
}

/** Why `frame` is not the welcome this hello waits for; undefined when it is. */
export function welcomeFault(
  opts: ResolvedOptions,
  peerId: string,
  channel: HandshakeChannel,
  nonces: HelloNonces,
  frame: Frame,
): TransportErrorCode | undefined {
  if (frame.kind !== 'welcome') return TransportErrorCode.handshake;
  if (frame.clusterId !== opts.clusterId) return TransportErrorCode.cluster;
  if (frame.from !== peerId || frame.to !== opts.nodeId) return TransportErrorCode.unknownPeer;
  if (frame.channel !== channel) return TransportErrorCode.handshake;
  const secret = opts.clusterSecret;
  if (
    secret !== undefined &&
    !verifyWelcomeProof(secret, { clusterId: opts.clusterId, dialer: opts.nodeId, acceptor: peerId, channel, ...nonces, term: frame.term }, frame.proof)
  ) {
    // Whoever answers at this address does not hold the cluster secret: send it nothing.
    return TransportErrorCode.auth;
  }
  return undefined;
}

/** The hello's optional address field: none when the node advertises none (or a bad one). */
function advertised(get: () => string | null): { address?: string } {
  const a = get();
  return a !== null && parseMemberAddress(a) !== null ? { address: a } : {};
}
