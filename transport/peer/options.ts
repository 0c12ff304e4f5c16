/**
 * Options of the WebSocket transport, their safe defaults, and their validation.
 * Every limit is an option; sizes end in `Bytes`, durations in `Ms`, counts in `Max`.
 */
import type { Logger } from 'pino';
import type { NodeId } from '../../machines/types.js';
import { DEFAULT_DECODE_LIMITS, isNodeId, type DecodeLimits } from './codec.js';
import { TransportError, TransportErrorCode } from '../wire/errors.js';
import { isLoopbackHost } from '../wire/address.js';
import { SECRET_BYTES_MAX, SECRET_BYTES_MIN } from './peerAuth.js';
import type { PeerAddress } from './types.js';

/** PEM strings or buffers, as Node's tls module takes them. */
export interface TlsOptions {
  readonly cert: string | Buffer;
  readonly key: string | Buffer;
  /** The cluster CA(s). Only peers whose certificates chain to it are accepted. */
  readonly ca: string | Buffer | ReadonlyArray<string | Buffer>;
}

export interface WsTransportOptions {
  readonly nodeId: NodeId;
  /** The cluster (configuration) ID: both ends of every connection must agree. */
  readonly clusterId: string;
  /** Address to bind. Default 127.0.0.1. Anything but loopback needs `tls` or `insecure: true`. */
  readonly host?: string;
  /** Port to bind; 0 picks a free one (see `listen()`'s result). Default 0. */
  readonly port?: number;
  /** Peers to accept and dial. More can be set later with `setPeer`. */
  readonly peers?: Readonly<Record<NodeId, PeerAddress | null>>;
  /** The node's current term, sent in every hello. Default: always 0. */
  readonly currentTerm?: () => number;
  /**
   * Where this node listens (`host:raftPort:clientPort:adminPort`), sent in every hello so that a
   * peer that does not know this node yet can admit it (see `admitPeer`). Default: none sent.
   */
  readonly advertisedAddress?: () => string | null;
  /**
   * A hello from a node that is not a peer, with the address it sent: return true to accept it
   * (after calling `setPeer` for it), false to refuse it (TRANSPORT_ERR_UNKNOWN_PEER). Called only
   * once the cluster ID and the receiver have been checked and the sender proved its ID: the hello
   * carries a valid proof of `clusterSecret`, or (with TLS) the client certificate names it. A
   * transport with neither never admits a stranger. Default: refuse.
   */
  readonly admitPeer?: (id: NodeId, address: string) => boolean;
  /** Mutual TLS (wss, TLS 1.3 only). Without it, only loopback is allowed unless `insecure`. */
  readonly tls?: TlsOptions;
  /**
   * The cluster secret (16 to 1024 bytes; `sessionraft cluster` generates 32 random ones): every
   * hello must prove it (HMAC-SHA256 over this connection's challenge, see peerAuth.ts), else the
   * connection is refused with TRANSPORT_ERR_AUTH (4009), and every welcome must prove it back.
   * It never travels. Without it (and without TLS) a peer's node ID is only a claim.
   */
  readonly clusterSecret?: Uint8Array;
  /** Allow plain ws on a non-loopback address (an explicit operator decision). */
  readonly insecure?: boolean;
  /** Largest WebSocket message accepted or sent (ws maxPayload). Default 4 MiB. */
  readonly frameBytesMax?: number;
  /** WebSocket fragments in one message (ws maxFragments); large byte fields travel as fragments. Default 1024. */
  readonly fragmentsPerFrameMax?: number;
  /** TCP chunks ws may buffer for one message (ws maxBufferedChunks). Default 65536. */
  readonly bufferedChunksMax?: number;
  /** Cap on bytes queued plus buffered in the socket, per outbound connection. Default 16 MiB. */
  readonly bufferedBytesMax?: number;
  /** Time for TCP+TLS+HTTP upgrade and the hello/welcome exchange. Default 2000 ms. */
  readonly handshakeTimeoutMs?: number;
  /** Concurrent inbound connections from one remote address. Default 32 (a loopback cluster shares one). */
  readonly connectionsPerAddressMax?: number;
  /** Concurrent inbound connections in total. Default 256. */
  readonly inboundConnectionsMax?: number;
  /** Bad frames tolerated on one authenticated connection before it is closed (4007). Default 16. */
  readonly badFramesMax?: number;
  /** Reconnect backoff: first delay and cap, jittered in [delay/2, delay]. Default 10 ms and 100 ms. */
  readonly reconnectDelayMsMin?: number;
  readonly reconnectDelayMsMax?: number;
  /** Ping period on outbound links, and the silence after which a link is dropped. Default 1000 / 5000 ms. */
  readonly keepAliveIntervalMs?: number;
  readonly keepAliveTimeoutMs?: number;
  /**
   * How long a WebSocket closing handshake may take (ws closeTimeout, both sides), and how long
   * `close()` waits before terminating sockets. Default 500 ms.
   */
  readonly closeTimeoutMs?: number;
  /** Messages packed into one frame at most (same-tick sends coalesce). Default 1024. */
  readonly batchMessagesMax?: number;
  /** Copy received byte fields out of the frame (else they are views into it). Default false. */
  readonly copyBuffers?: boolean;
  /**
   * Mask client frames with a random key (RFC 6455). Masking protects HTTP intermediaries from
   * browser-chosen payloads; between cluster nodes it only costs a copy, so the default is an
   * all-zero mask, which ws sends and receives without the XOR pass. Default false.
   */
  readonly maskFrames?: boolean;
  readonly decodeLimits?: DecodeLimits;
  /** Random source for backoff jitter. Default Math.random. */
  readonly random?: () => number;
  readonly logger?: Logger;
  /**
   * This node's status document (bytes), answered to a known peer that proved its ID and asks on
   * the status channel (`fetchStatus`; the console's view of its peers); null while it has none
   * (starting): an empty reply. Default: none, and the status channel is refused (TRANSPORT_ERR_HANDSHAKE).
   */
  readonly statusDocument?: () => Uint8Array | null;
}

export type ResolvedOptions = Required<Omit<WsTransportOptions, 'tls' | 'logger' | 'peers' | 'clusterSecret' | 'statusDocument'>> & {
  readonly statusDocument: (() => Uint8Array | null) | undefined;
  readonly tls: TlsOptions | undefined;
  readonly clusterSecret: Uint8Array | undefined;
  readonly logger: Logger | undefined;
  readonly peers: Readonly<Record<NodeId, PeerAddress | null>>;
};

const MiB = 1024 * 1024;

const DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  frameBytesMax: 4 * MiB,
  fragmentsPerFrameMax: 1024,
  bufferedChunksMax: 65536,
  bufferedBytesMax: 16 * MiB,
  handshakeTimeoutMs: 2000,
  connectionsPerAddressMax: 32,
  inboundConnectionsMax: 256,
  badFramesMax: 16,
  reconnectDelayMsMin: 10,
  reconnectDelayMsMax: 100,
  keepAliveIntervalMs: 1000,
  keepAliveTimeoutMs: 5000,
  closeTimeoutMs: 500,
  batchMessagesMax: 1024,
} as const;

function configFail(message: string): never {
  throw new TransportError(TransportErrorCode.config, message);
}

function positiveInt(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value <= 0) configFail(`${name} must be a positive integer, got ${value}`);
  return value;
}

/** Throws TRANSPORT_ERR_INSECURE_BIND for a non-loopback address without TLS or `insecure`. */
export function checkSecureAddress(host: string, what: string, tls: boolean, insecure: boolean): void {
  if (!tls && !insecure && !isLoopbackHost(host)) {
    throw new TransportError(TransportErrorCode.insecureBind, `${what} ${host} is not a loopback address: configure tls, or pass insecure: true explicitly`);
  }
}

export function resolveOptions(o: WsTransportOptions): ResolvedOptions {
  if (!isNodeId(o.nodeId)) configFail(`nodeId must match [A-Za-z0-9_.-]{1,64}`);
  if (!isNodeId(o.clusterId)) configFail(`clusterId must match [A-Za-z0-9_.-]{1,64}`);
  const r: ResolvedOptions = {
    nodeId: o.nodeId,
    clusterId: o.clusterId,
    host: o.host ?? DEFAULTS.host,
    port: o.port ?? DEFAULTS.port,
    peers: o.peers ?? {},
    currentTerm: o.currentTerm ?? (() => 0),
    advertisedAddress: o.advertisedAddress ?? (() => null),
    admitPeer: o.admitPeer ?? (() => false),
    tls: o.tls,
    clusterSecret: o.clusterSecret === undefined ? undefined : Uint8Array.from(o.clusterSecret),
    statusDocument: o.statusDocument,
    insecure: o.insecure ?? false,
    frameBytesMax: positiveInt(o.frameBytesMax ?? DEFAULTS.frameBytesMax, 'frameBytesMax'),
    fragmentsPerFrameMax: positiveInt(o.fragmentsPerFrameMax ?? DEFAULTS.fragmentsPerFrameMax, 'fragmentsPerFrameMax'),
    bufferedChunksMax: positiveInt(o.bufferedChunksMax ?? DEFAULTS.bufferedChunksMax, 'bufferedChunksMax'),
    bufferedBytesMax: positiveInt(o.bufferedBytesMax ?? DEFAULTS.bufferedBytesMax, 'bufferedBytesMax'),
    handshakeTimeoutMs: positiveInt(o.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs, 'handshakeTimeoutMs'),
    connectionsPerAddressMax: positiveInt(o.connectionsPerAddressMax ?? DEFAULTS.connectionsPerAddressMax, 'connectionsPerAddressMax'),
    inboundConnectionsMax: positiveInt(o.inboundConnectionsMax ?? DEFAULTS.inboundConnectionsMax, 'inboundConnectionsMax'),
    badFramesMax: positiveInt(o.badFramesMax ?? DEFAULTS.badFramesMax, 'badFramesMax'),
    reconnectDelayMsMin: positiveInt(o.reconnectDelayMsMin ?? DEFAULTS.reconnectDelayMsMin, 'reconnectDelayMsMin'),
    reconnectDelayMsMax: positiveInt(o.reconnectDelayMsMax ?? DEFAULTS.reconnectDelayMsMax, 'reconnectDelayMsMax'),
    keepAliveIntervalMs: positiveInt(o.keepAliveIntervalMs ?? DEFAULTS.keepAliveIntervalMs, 'keepAliveIntervalMs'),
    keepAliveTimeoutMs: positiveInt(o.keepAliveTimeoutMs ?? DEFAULTS.keepAliveTimeoutMs, 'keepAliveTimeoutMs'),
    closeTimeoutMs: positiveInt(o.closeTimeoutMs ?? DEFAULTS.closeTimeoutMs, 'closeTimeoutMs'),
    batchMessagesMax: positiveInt(o.batchMessagesMax ?? DEFAULTS.batchMessagesMax, 'batchMessagesMax'),
    copyBuffers: o.copyBuffers ?? false,
    maskFrames: o.maskFrames ?? false,
    decodeLimits: o.decodeLimits ?? DEFAULT_DECODE_LIMITS,
    random: o.random ?? Math.random,
    logger: o.logger,
  };
  if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) configFail(`port out of range: ${r.port}`);
  if (r.reconnectDelayMsMin > r.reconnectDelayMsMax) configFail('reconnectDelayMsMin > reconnectDelayMsMax');
  if (r.bufferedBytesMax < r.frameBytesMax) configFail('bufferedBytesMax must be at least frameBytesMax');
  if (r.tls && (!r.tls.cert || !r.tls.key || !r.tls.ca)) configFail('tls needs cert, key and ca');
  if (
    o.clusterSecret !== undefined &&
    (!(o.clusterSecret instanceof Uint8Array) || o.clusterSecret.length < SECRET_BYTES_MIN || o.clusterSecret.length > SECRET_BYTES_MAX)
  ) {
    configFail(`clusterSecret must be ${SECRET_BYTES_MIN} to ${SECRET_BYTES_MAX} bytes`);
  }
  checkSecureAddress(r.host, 'bind address', r.tls !== undefined, r.insecure);
  for (const [id, addr] of Object.entries(r.peers)) {
    if (!isNodeId(id)) configFail(`peer ID ${JSON.stringify(id)} is not a valid node ID`);
    if (id === r.nodeId) configFail('a node is not its own peer');
    if (addr) checkSecureAddress(addr.host, `peer ${id} address`, r.tls !== undefined, r.insecure);
  }
  return r;
}
