/**
 * One inbound connection, accepted by this node's server from a peer that dialed it.
 *
 * States: handshake -> open -> closed. The acceptor speaks first: a challenge with a fresh nonce.
 * The first frame must be a valid hello for this cluster, naming this node as receiver, proving the
 * cluster secret over the challenge (when the transport has one; TRANSPORT_ERR_AUTH, 4009), with
 * TLS from a sender that the client certificate names, and from a known peer, or from a stranger
 * that proved its ID (secret or certificate) and that the host admits; anything else closes the
 * connection with a stable code. The welcome proves the secret back. After it, every frame must come
 * from that peer, to this node, with messages of that channel only.
 *
 * A bad frame from an authenticated peer is dropped and counted; the connection survives (frames are
 * self-contained, so nothing desynchronizes) until `badFramesMax` bad frames. A forged sender or
 * receiver closes at once. Nothing here throws out of a ws event handler.
 *
 * The status channel (2026-12-07) carries no Raft messages: a known peer that proved its ID (the
 * cluster secret, or a certificate naming it; never on a transport without either) asks for this
 * node's status document and gets it in one reply, then the connection is closed (1000); one that
 * asks nothing within handshakeTimeoutMs of the welcome is closed too. Before (a review,
 * 2026-12-07) every request on the connection was answered and the connection stayed open for
 * good: a peer could make the node build documents in a loop and queue replies it never read.
 */
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type WebSocket from 'ws';
import { channelOf, type NodeId, type RaftMessage } from '../../machines/types.js';
import { decodeFrameParts } from './appendDecode.js';
import { decodeFrame, encodeChallenge, encodeHandshake, encodeStatusReply, type HandshakeChannel } from './codec.js';
import { CloseCode, TransportErrorCode, closeCodeOf, isTransportError } from '../wire/errors.js';
import type { ResolvedOptions } from './options.js';
import { newNonce, verifyHelloProof, welcomeProof, type ProofFields } from './peerAuth.js';
import { fragmentsOf, safeTerm, toBuffer } from './socketUtil.js';
import { certificateNames } from './tlsIdentity.js';

export interface InboundHost {
  readonly opts: ResolvedOptions;
  isKnownPeer(id: NodeId): boolean;
  /** A stranger's hello (cluster, receiver and certificate checked): accept it as a peer? */
  admitPeer(id: NodeId, address: string): boolean;
  /** Registers an authenticated connection (replacing an older one for the same peer and channel). */
  accept(conn: InboundConnection, term: number): void;
  release(conn: InboundConnection): void;
  deliver(message: RaftMessage): void;
  /** This node's status document, for a peer's status request (status channel); null: none served. */
  statusDocument(): Uint8Array | null;
  countReject(code: TransportErrorCode): void;
  countReceivedFrame(bytes: number): void;
}

export class InboundConnection {
  state: 'handshake' | 'open' | 'closed' = 'handshake';
  peer: NodeId | undefined;
  channel: HandshakeChannel | undefined;
  private badFrames = 0;
  private timer: NodeJS.Timeout | undefined;
  /** The challenge's nonce, which the hello's proof must cover. */
  private readonly nonce = newNonce();

  constructor(
    private readonly host: InboundHost,
    readonly ws: WebSocket,
    private readonly req: IncomingMessage,
    /** Told once the hello was accepted (the transport stops bounding the bytes a stranger may send). */
    private readonly onAuthenticated: () => void = () => {},
  ) {
    this.timer = setTimeout(() => {
      if (this.state === 'handshake') this.reject(TransportErrorCode.handshakeTimeout);
    }, host.opts.handshakeTimeoutMs);
    // A binary message arrives as the list of its fragments, not joined: appends are decoded from
    // them where they lie (appendDecode.ts), so ws does not copy every byte into a new buffer.
    ws.binaryType = 'fragments';
    ws.on('message', (data, isBinary) => {
      try {
        this.onFrame(data, isBinary);
      } catch (err) {
        // Unreachable unless there is a bug here: never let it escape into ws.
        host.opts.logger?.error({ peerId: this.peer, err }, 'transport: internal error on an inbound frame');
        ws.terminate();
      }
    });
    ws.on('error', (err: Error & { code?: string }) => {
      const code = err.code ?? '';
      if (code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') host.countReject(TransportErrorCode.frameTooLarge);
      else if (code.startsWith('WS_ERR_')) host.countReject(TransportErrorCode.wsProtocol);
      host.opts.logger?.debug({ peerId: this.peer, code, err: err.message }, 'transport: inbound socket error');
    });
    ws.on('close', () => {
      this.state = 'closed';
      this.clearTimer();
      host.release(this);
    });
    // The challenge goes first, whatever the mode: with a secret the hello must prove it over this nonce.
    ws.send(encodeChallenge(this.nonce));
  }

  /** Closes with a transport close code (e.g. replaced, going away). Nothing it sends from now on is delivered. */
  close(code: number, reason: string): void {
    this.clearTimer();
    // ws goes on emitting messages while the closing handshake runs (up to closeTimeoutMs): a
    // removed or replaced peer's frames were still delivered (a review, 2026-12-07).
    this.state = 'closed';
    this.ws.close(code, reason);
  }

  private reject(code: TransportErrorCode, closeCode: number = closeCodeOf(code)): void {
    this.host.countReject(code);
    this.host.opts.logger?.debug({ peerId: this.peer, code }, 'transport: inbound rejected');
    this.clearTimer();
    this.state = 'closed';
    this.ws.close(closeCode, code);
  }

  /** A dropped frame from an authenticated peer; too many of them close the connection. */
  private badFrame(code: TransportErrorCode): void {
    this.host.countReject(code);
    this.badFrames++;
    if (this.badFrames >= this.host.opts.badFramesMax) this.reject(TransportErrorCode.tooManyBadFrames);
  }

  private onFrame(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.state === 'closed') return;
    const parts = fragmentsOf(data);
    let frameBytes = 0;
    for (let i = 0; i < parts.length; i++) frameBytes += parts[i]!.length;
    this.host.countReceivedFrame(frameBytes);
    if (this.state === 'handshake') {
      this.onHello(toBuffer(data), isBinary);
      return;
    }
    if (!isBinary) return this.badFrame(TransportErrorCode.textFrame);
    const opts = this.host.opts;
    let frame;
    try {
      frame = decodeFrameParts(parts, { limits: opts.decodeLimits, copyBuffers: opts.copyBuffers });
    } catch (err) {
      return this.badFrame(isTransportError(err) ? err.code : TransportErrorCode.schema);
    }
    if (this.channel === 'status') {
      if (frame.kind !== 'statusRequest') return this.badFrame(TransportErrorCode.frameKind);
      // Still a member now, not only at the hello: a peer removed meanwhile is told nothing.
      if (!this.host.isKnownPeer(this.peer!)) return this.reject(TransportErrorCode.unknownPeer);
      // One request, one reply, closed: nothing more is read on this connection.
      this.ws.send(encodeStatusReply(this.host.statusDocument() ?? new Uint8Array(0)));
      this.close(CloseCode.normal, 'done');
      return;
    }
    if (frame.kind !== 'messages') return this.badFrame(TransportErrorCode.frameKind);
    if (frame.from !== this.peer) return this.reject(TransportErrorCode.sender);
    if (frame.to !== opts.nodeId) return this.reject(TransportErrorCode.receiver);
    const messages = frame.messages;
    for (let i = 0; i < messages.length; i++) {
      if (channelOf(messages[i]!.type) !== this.channel) return this.badFrame(TransportErrorCode.channel);
    }
    for (let i = 0; i < messages.length; i++) this.host.deliver(messages[i]!);
  }

  private onHello(bytes: Buffer, isBinary: boolean): void {
    const opts = this.host.opts;
    if (!isBinary) return this.reject(TransportErrorCode.handshake);
    let hello;
    try {
      hello = decodeFrame(bytes, { limits: opts.decodeLimits });
    } catch (err) {
      const code = isTransportError(err) ? err.code : TransportErrorCode.handshake;
      // Only a version mismatch has its own close code; any other bad first frame is a bad handshake.
      return code === TransportErrorCode.version ? this.reject(code) : this.reject(code, CloseCode.handshake);
    }
    if (hello.kind !== 'hello') return this.reject(TransportErrorCode.handshake);
    if (hello.clusterId !== opts.clusterId) return this.reject(TransportErrorCode.cluster);
    if (hello.to !== opts.nodeId) return this.reject(TransportErrorCode.unknownPeer);
    const fields: Omit<ProofFields, 'term' | 'address'> = {
      clusterId: opts.clusterId,
      dialer: hello.from,
      acceptor: opts.nodeId,
      channel: hello.channel,
      acceptorNonce: this.nonce,
      dialerNonce: hello.nonce,
    };
    // Whether the sender proved the ID it claims (not merely named a configured peer).
    let proven = false;
    if (opts.clusterSecret !== undefined) {
      // Before anything about the sender is looked at: who cannot prove the secret learns nothing more.
      if (!verifyHelloProof(opts.clusterSecret, { ...fields, term: hello.term, address: hello.address ?? '' }, hello.proof)) {
        opts.logger?.debug({ claimed: hello.from, code: TransportErrorCode.auth }, 'transport: a hello without a valid proof of the cluster secret: refused');
        return this.reject(TransportErrorCode.auth);
      }
      proven = true;
    }
    if (opts.tls) {
      const socket = this.req.socket as TLSSocket;
      const cert = typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate() : undefined;
      if (!certificateNames(cert, hello.from)) return this.reject(TransportErrorCode.certIdentity);
      proven = true;
    }
    // A node is never its own peer: a hello in its name (a copied data directory, or a holder of the
    // secret) is refused before the host is asked, so it cannot take an admitted-peer slot.
    if (hello.from === opts.nodeId) return this.reject(TransportErrorCode.unknownPeer);
    // The status channel: a member's, proven (a transport without a secret or TLS serves none).
    if (hello.channel === 'status') {
      if (opts.statusDocument === undefined) return this.reject(TransportErrorCode.handshake);
      if (!proven) return this.reject(TransportErrorCode.auth);
      if (!this.host.isKnownPeer(hello.from)) return this.reject(TransportErrorCode.unknownPeer);
    }
    // A node we do not know (say, one added while this node was down) may be admitted only from a
    // hello with its address and a proof of its ID; then the host decides.
    if (!this.host.isKnownPeer(hello.from)) {
      if (hello.address === undefined || !proven || !this.host.admitPeer(hello.from, hello.address)) return this.reject(TransportErrorCode.unknownPeer);
    }
    this.clearTimer();
    this.peer = hello.from;
    this.channel = hello.channel;
    this.state = 'open';
    this.onAuthenticated();
    const term = safeTerm(opts.currentTerm);
    this.ws.send(
      encodeHandshake({
        kind: 'welcome',
        clusterId: opts.clusterId,
        from: opts.nodeId,
        to: hello.from,
        channel: hello.channel,
        term,
        ...(opts.clusterSecret !== undefined ? { proof: welcomeProof(opts.clusterSecret, { ...fields, term }) } : {}),
      }),
    );
    if (hello.channel !== 'status') {
      this.host.accept(this, hello.term);
      return;
    }
    // A status connection is for one request, asked at once: an idle one does not hold its slot.
    this.timer = setTimeout(() => {
      if (this.state === 'open') this.reject(TransportErrorCode.handshakeTimeout);
    }, opts.handshakeTimeoutMs);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
