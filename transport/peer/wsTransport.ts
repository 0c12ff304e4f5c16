/**
 * The WebSocket peer transport (issue 4).
 *
 * Each node runs one server and dials every peer it sends to. Per ordered pair of nodes there are two
 * connections, both dialed by the sender: control (votes, heartbeats, acknowledgements) and data
 * (entry batches, snapshot chunks), so a bulk transfer never sits in front of a heartbeat. A message
 * travels on `channelOf(message.type)`. Connections carry traffic one way: the dialer sends, the
 * acceptor receives (it only answers the handshake).
 *
 *   const t = new WsTransport({ nodeId: 'n1', clusterId: 'c1', peers: { n2: { host, port } } });
 *   const { port } = await t.listen();
 *   t.onMessage = (m) => node.receive(m);
 *   t.send('n2', message);            // never throws, never blocks; drops and counts instead
 *   t.close(() => ...);
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer, type ServerOptions } from 'ws';
import { channelOf, type NodeId, type RaftMessage } from '../../machines/types.js';
import { encodeMessageParts, isNodeId } from './codec.js';
import { CodeCounters } from '../wire/counters.js';
import { CloseCode, TransportDropCode, TransportError, TransportErrorCode, isTransportError } from '../wire/errors.js';
import { InboundConnection, type InboundHost } from './inboundConnection.js';
import { checkSecureAddress, resolveOptions, type ResolvedOptions, type WsTransportOptions } from './options.js';
import { OutboundLink, type LinkHost } from './outboundLink.js';
import { StatusFetchCode, StatusFetchError, fetchPeerStatus } from './statusDial.js';
import { serverTlsOptions } from './tlsIdentity.js';
import type { PeerAddress, PeerStats, Transport, TransportStats } from './types.js';

interface PeerEntry {
  address: PeerAddress | null;
  control: OutboundLink | undefined;
  data: OutboundLink | undefined;
  inboundControl: InboundConnection | undefined;
  inboundData: InboundConnection | undefined;
  helloTerm: number | null;
}

/** Bytes a connection may send before its hello is accepted (a hello is a few hundred bytes; TLS bytes are counted decrypted). */
const PRE_HELLO_BYTES_MAX = 64 * 1024;

export class WsTransport implements Transport, LinkHost, InboundHost {
  onMessage: (message: RaftMessage) => void = () => {};
  readonly opts: ResolvedOptions;

  private readonly peers = new Map<NodeId, PeerEntry>();
  private readonly server: HttpServer;
  private readonly wss: WebSocketServer;
  private readonly sockets = new Set<WebSocket>();
  private readonly inbound = new Set<InboundConnection>();
  private readonly connectionsByAddress = new Map<string, number>();
  private inboundCount = 0;
  private keepAliveTimer: NodeJS.Timeout | undefined;
  private boundAddress: PeerAddress | undefined;
  private closing = false;
  private closeWaiters: Array<() => void> = [];
  private serverClosed = false;

  // Counters.
  private sentCount = 0;
  private receivedCount = 0;
  private framesSentCount = 0;
  private framesReceivedCount = 0;
  private bytesSentCount = 0;
  private bytesReceivedCount = 0;
  private outboundHandshakeCount = 0;
  private inboundHandshakeCount = 0;
  /** Strangers accepted as peers through `admitPeer`. */
  private admittedCount = 0;
  private readonly rejected = new CodeCounters();
  private readonly drops = new CodeCounters();
  private readonly peerCloses = new CodeCounters();

  /** Validates options (throws TransportError TRANSPORT_ERR_CONFIG or _INSECURE_BIND); call listen() next. */
  constructor(options: WsTransportOptions) {
    this.opts = resolveOptions(options);
    for (const [id, address] of Object.entries(this.opts.peers)) this.addPeerEntry(id, address);

    const timeoutMs = this.opts.handshakeTimeoutMs;
    const serverOptions = {
      headersTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(timeoutMs / 2))),
      maxHeaderSize: 8 * 1024,
    };
    this.server = this.opts.tls ? createHttpsServer({ ...serverOptions, ...serverTlsOptions(this.opts.tls, timeoutMs) }) : createHttpServer(serverOptions);
    const wsServerOptions = {
      noServer: true,
      // How long a closing handshake may take before ws destroys the socket (ws default: 30 s).
      closeTimeout: this.opts.closeTimeoutMs,
      maxPayload: this.opts.frameBytesMax,
      maxFragments: this.opts.fragmentsPerFrameMax,
      maxBufferedChunks: this.opts.bufferedChunksMax,
      perMessageDeflate: false,
      clientTracking: false,
    };
    // ws 8.23 honours closeTimeout (and maxFragments, maxBufferedChunks); @types/ws lacks closeTimeout.
    this.wss = new WebSocketServer(wsServerOptions as ServerOptions);
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(req, socket, head));
    this.server.on('request', (_req, res) => {
      this.countReject(TransportErrorCode.http);
      res.writeHead(426, { connection: 'close' }).end();
    });
    this.server.on('clientError', (_err, socket: Duplex) => {
      this.countReject(TransportErrorCode.http);
      socket.destroy();
    });
    this.server.on('tlsClientError', (err: Error & { code?: string }, socket: Duplex) => {
      this.countReject(TransportErrorCode.tls);
      this.opts.logger?.debug({ code: err.code, err: err.message }, 'transport: TLS handshake refused');
      socket.destroy();
    });
    this.server.on('error', (err) => {
      this.opts.logger?.error({ err }, 'transport: server error');
    });
    this.wss.on('error', (err) => {
      this.opts.logger?.error({ err }, 'transport: websocket server error');
    });
    // Keep-alive runs for the transport's life; unref'd so that it never holds a process open.
    this.keepAliveTimer = setInterval(() => this.keepAlive(), this.opts.keepAliveIntervalMs);
    this.keepAliveTimer.unref();
  }

  /** Starts the server and resolves with the bound address (the real port when port 0 was asked). */
  listen(): Promise<PeerAddress> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.removeListener('error', onError);
        const info = this.server.address() as AddressInfo;
        this.boundAddress = { host: this.opts.host, port: info.port };
        resolve(this.boundAddress);
      });
    });
  }

  /** Creates a transport and waits until it listens. */
  static async start(options: WsTransportOptions): Promise<WsTransport> {
    const t = new WsTransport(options);
    await t.listen();
    return t;
  }

  /** The bound address (after listen()). */
  get address(): PeerAddress {
    if (!this.boundAddress) throw new TransportError(TransportErrorCode.config, 'not listening yet');
    return this.boundAddress;
  }

  /**
   * Adds or updates a peer. With an address, messages to it are sent there; with null, the peer may
   * connect to us but we do not dial it. Only configured peers are accepted in handshakes.
   */
  setPeer(id: NodeId, address: PeerAddress | null): void {
    if (!isNodeId(id)) throw new TransportError(TransportErrorCode.config, `invalid peer ID ${JSON.stringify(id)}`);
    if (id === this.opts.nodeId) throw new TransportError(TransportErrorCode.config, 'a node is not its own peer');
    if (address) checkSecureAddress(address.host, `peer ${id} address`, this.opts.tls !== undefined, this.opts.insecure);
    const entry = this.peers.get(id);
    if (!entry) {
      this.addPeerEntry(id, address);
      return;
    }
    entry.address = address;
    for (const link of [entry.control, entry.data]) {
      if (!link) continue;
      if (address) link.setAddress(address);
    }
    if (!address) {
      entry.control?.close();
      entry.data?.close();
      entry.control = undefined;
      entry.data = undefined;
    }
  }

  /** Forgets a peer: its links close and its inbound connections are refused from now on. */
  removePeer(id: NodeId): void {
    const entry = this.peers.get(id);
    if (!entry) return;
    this.peers.delete(id);
    entry.control?.close();
    entry.data?.close();
    entry.inboundControl?.close(CloseCode.goingAway, 'peer removed');
    entry.inboundData?.close(CloseCode.goingAway, 'peer removed');
  }

  send(to: NodeId, message: RaftMessage): void {
    if (this.closing) {
      this.countDrop(TransportDropCode.closed, 1);
      return;
    }
    const entry = this.peers.get(to);
    if (!entry || !entry.address || message.to !== to || message.from !== this.opts.nodeId) {
      this.countDrop(TransportDropCode.unknownPeer, 1);
      return;
    }
    let body: Uint8Array[];
    try {
      body = encodeMessageParts(message);
    } catch (err) {
      this.countDrop(TransportDropCode.encode, 1);
      this.opts.logger?.error({ peerId: to, type: message.type, err: isTransportError(err) ? err.message : err }, 'transport: cannot encode');
      return;
    }
    const channel = channelOf(message.type);
    let link = channel === 'control' ? entry.control : entry.data;
    if (!link) {
      link = new OutboundLink(this, to, channel, entry.address);
      if (channel === 'control') entry.control = link;
      else entry.data = link;
    }
    let bytes = 0;
    for (let i = 0; i < body.length; i++) bytes += body[i]!.length;
    link.enqueue(body, bytes);
  }

  /**
   * `peerId`'s status document over the status channel (statusDial.ts): authenticated as the Raft
   * links are, within `timeoutMs` and `bytesMax`. Rejects with a StatusFetchError (code
   * TRANSPORT_ERR_STATUS_UNSUPPORTED from a peer that does not serve it, e.g. an older version).
   */
  fetchStatus(peerId: NodeId, timeoutMs: number, bytesMax: number): Promise<Uint8Array> {
    const address = this.peers.get(peerId)?.address ?? null;
    if (this.closing) return Promise.reject(new StatusFetchError(StatusFetchCode.failed, 'the transport is closing'));
    if (address === null) return Promise.reject(new StatusFetchError(StatusFetchCode.failed, `no raft address known for ${peerId}`));
    return fetchPeerStatus(this, peerId, address, timeoutMs, bytesMax);
  }

  stats(): TransportStats {
    const peers: Record<NodeId, PeerStats> = {};
    for (const [id, e] of this.peers) {
      peers[id] = {
        control: e.control?.state ?? 'idle',
        data: e.data?.state ?? 'idle',
        inboundControl: e.inboundControl !== undefined,
        inboundData: e.inboundData !== undefined,
        helloTerm: e.helloTerm,
      };
    }
    return {
      sent: this.sentCount,
      received: this.receivedCount,
      dropped: this.drops.total,
      framesSent: this.framesSentCount,
      framesReceived: this.framesReceivedCount,
      bytesSent: this.bytesSentCount,
      bytesReceived: this.bytesReceivedCount,
      rejected: this.rejected.snapshot(),
      rejectedTotal: this.rejected.total,
      drops: this.drops.snapshot(),
      peerCloseCodes: this.peerCloses.snapshot(),
      outboundHandshakes: this.outboundHandshakeCount,
      inboundHandshakes: this.inboundHandshakeCount,
      admittedPeers: this.admittedCount,
      peers,
    };
  }

  /**
   * Stops accepting, closes every link and connection (1001), terminates those that do not finish
   * their closing handshake within `closeTimeoutMs`, and calls `cb` once everything is closed.
   */
  close(cb: () => void): void {
    this.closeWaiters.push(cb);
    if (this.closing) {
      this.maybeClosed();
      return;
    }
    this.closing = true;
    if (this.keepAliveTimer) clearInterval(this.keepAliveTimer);
    for (const entry of this.peers.values()) {
      entry.control?.close();
      entry.data?.close();
    }
    for (const conn of this.inbound) conn.close(CloseCode.goingAway, 'transport closing');
    const killer = setTimeout(() => {
      for (const ws of this.sockets) ws.terminate();
      this.server.closeAllConnections();
    }, this.opts.closeTimeoutMs);
    killer.unref();
    this.wss.close();
    const finish = (): void => {
      clearTimeout(killer);
      this.serverClosed = true;
      this.maybeClosed();
    };
    if (this.server.listening) this.server.close(finish);
    else finish();
    this.server.closeIdleConnections();
  }

  // --- LinkHost and InboundHost ---

  countSent(messages: number, bytes: number): void {
    this.sentCount += messages;
    this.framesSentCount++;
    this.bytesSentCount += bytes;
  }

  countDrop(code: TransportDropCode, messages: number): void {
    this.drops.add(code, messages);
  }

  countReject(code: TransportErrorCode): void {
    this.rejected.add(code);
  }

  countPeerClose(code: number): void {
    this.peerCloses.add(code);
  }

  countOutboundHandshake(): void {
    this.outboundHandshakeCount++;
  }

  countReceivedFrame(bytes: number): void {
    this.framesReceivedCount++;
    this.bytesReceivedCount += bytes;
  }

  trackSocket(ws: WebSocket): void {
    this.sockets.add(ws);
  }

  untrackSocket(ws: WebSocket): void {
    this.sockets.delete(ws);
    this.maybeClosed();
  }

  isKnownPeer(id: NodeId): boolean {
    return this.peers.has(id);
  }

  admitPeer(id: NodeId, address: string): boolean {
    if (this.closing || !this.opts.admitPeer(id, address)) return false;
    if (!this.peers.has(id)) throw new Error(`admitPeer accepted ${id} without setPeer`);
    this.admittedCount++;
    return true;
  }

  accept(conn: InboundConnection, term: number): void {
    const entry = this.peers.get(conn.peer!);
    if (!entry || this.closing) {
      conn.close(CloseCode.goingAway, 'not accepting');
      return;
    }
    this.inboundHandshakeCount++;
    entry.helloTerm = term;
    const old = conn.channel === 'control' ? entry.inboundControl : entry.inboundData;
    if (conn.channel === 'control') entry.inboundControl = conn;
    else entry.inboundData = conn;
    if (old && old !== conn) old.close(CloseCode.replaced, 'replaced by a newer connection');
  }

  release(conn: InboundConnection): void {
    this.inbound.delete(conn);
    if (conn.peer !== undefined) {
      const entry = this.peers.get(conn.peer);
      if (entry?.inboundControl === conn) entry.inboundControl = undefined;
      if (entry?.inboundData === conn) entry.inboundData = undefined;
    }
  }

  statusDocument(): Uint8Array | null {
    return this.opts.statusDocument?.() ?? null;
  }

  deliver(message: RaftMessage): void {
    this.receivedCount++;
    try {
      this.onMessage(message);
    } catch (err) {
      this.countReject(TransportErrorCode.handler);
      this.opts.logger?.error({ peerId: message.from, type: message.type, err }, 'transport: onMessage threw');
    }
  }

  // --- internals ---

  private addPeerEntry(id: NodeId, address: PeerAddress | null): void {
    this.peers.set(id, { address, control: undefined, data: undefined, inboundControl: undefined, inboundData: undefined, helloTerm: null });
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {}); // errors on a socket being refused or upgraded are not ours to throw
    const address = (socket as Socket).remoteAddress ?? 'unknown';
    const perAddress = this.connectionsByAddress.get(address) ?? 0;
    if (this.closing || perAddress >= this.opts.connectionsPerAddressMax || this.inboundCount >= this.opts.inboundConnectionsMax) {
      if (!this.closing) this.countReject(TransportErrorCode.connectionLimit);
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      socket.destroy();
      return;
    }
    this.connectionsByAddress.set(address, perAddress + 1);
    this.inboundCount++;
    // Until its hello is accepted a connection may send PRE_HELLO_BYTES_MAX: a hello takes a few
    // hundred bytes, and a stranger's frame could otherwise be frameBytesMax (4 MiB) held for the
    // handshake timeout, on each of inboundConnectionsMax connections (a review, 2026-12-07).
    let preHelloBytes = head.length;
    const boundPreHello = (chunk: Buffer): void => {
      preHelloBytes += chunk.length;
      if (preHelloBytes <= PRE_HELLO_BYTES_MAX) return;
      socket.off('data', boundPreHello);
      this.countReject(TransportErrorCode.frameTooLarge);
      socket.destroy();
    };
    socket.on('data', boundPreHello);
    socket.once('close', () => {
      const n = (this.connectionsByAddress.get(address) ?? 1) - 1;
      if (n <= 0) this.connectionsByAddress.delete(address);
      else this.connectionsByAddress.set(address, n);
      this.inboundCount--;
    });
    try {
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        if (this.closing) {
          ws.terminate();
          return;
        }
        this.sockets.add(ws);
        ws.once('close', () => this.untrackSocket(ws));
        const conn = new InboundConnection(this, ws, req, () => socket.off('data', boundPreHello));
        this.inbound.add(conn);
      });
    } catch (err) {
      this.countReject(TransportErrorCode.http);
      this.opts.logger?.debug({ err }, 'transport: upgrade failed');
      socket.destroy();
    }
  }

  private keepAlive(): void {
    const now = Date.now();
    for (const entry of this.peers.values()) {
      entry.control?.keepAlive(now);
      entry.data?.keepAlive(now);
    }
  }

  private maybeClosed(): void {
    if (!this.closing || !this.serverClosed || this.sockets.size > 0) return;
    const waiters = this.closeWaiters;
    this.closeWaiters = [];
    for (const cb of waiters) cb();
  }
}
