/**
 * Stable error codes and WebSocket close codes of the peer transport.
 *
 * Every rejection of peer input is a `TransportError` with one of these codes; callers and tests
 * switch on `code`, never on the message text. The transport counts rejections by code in `stats()`.
 */

export const TransportErrorCode = {
  // --- Frame bytes (pre-scan and cbor-x) ---
  /** Malformed CBOR: truncated item, reserved additional info, trailing bytes, bad simple value. */
  cbor: 'TRANSPORT_ERR_CBOR',
  /** Arrays nested deeper than the wire format ever needs. */
  depth: 'TRANSPORT_ERR_DEPTH',
  /** A declared length (string, bytes, array) larger than the bytes that remain, or over a cap. */
  length: 'TRANSPORT_ERR_LENGTH',
  /** A CBOR item the wire format never uses: map, tag, negative integer, indefinite length. */
  forbiddenItem: 'TRANSPORT_ERR_FORBIDDEN_ITEM',
  // --- Schema ---
  /** Well-formed CBOR that does not match the schema of its frame or message type. */
  schema: 'TRANSPORT_ERR_SCHEMA',
  /** A message type tag this protocol version does not define. */
  unknownType: 'TRANSPORT_ERR_UNKNOWN_TYPE',
  /** A frame kind that is not valid here (e.g. a hello after the handshake). */
  frameKind: 'TRANSPORT_ERR_FRAME_KIND',
  /** A term (of a message, an entry, a log position or a handshake) above TERM_MAX (2^53 - 2^20). */
  term: 'TRANSPORT_ERR_TERM',
  // --- Handshake ---
  version: 'TRANSPORT_ERR_VERSION',
  cluster: 'TRANSPORT_ERR_CLUSTER',
  /** The handshake names a sender that is not a configured peer, or a receiver that is not us. */
  unknownPeer: 'TRANSPORT_ERR_UNKNOWN_PEER',
  /** The first frame is not a valid handshake (or the handshake's channel is wrong). */
  handshake: 'TRANSPORT_ERR_HANDSHAKE',
  handshakeTimeout: 'TRANSPORT_ERR_HANDSHAKE_TIMEOUT',
  /** With TLS: the peer certificate names neither in its CN nor in a DNS SAN the claimed node ID. */
  certIdentity: 'TRANSPORT_ERR_CERT_IDENTITY',
  /**
   * With a cluster secret: the hello (on the acceptor) or the welcome (on the dialer) does not carry
   * a valid proof of the secret for this connection's challenge (missing, wrong length or wrong MAC).
   */
  auth: 'TRANSPORT_ERR_AUTH',
  // --- After the handshake ---
  /** A frame whose `from` is not the authenticated peer. */
  sender: 'TRANSPORT_ERR_SENDER',
  /** A frame whose `to` is not this node. */
  receiver: 'TRANSPORT_ERR_RECEIVER',
  /** A message on the wrong channel (e.g. an append on the control channel). */
  channel: 'TRANSPORT_ERR_CHANNEL',
  /** A text WebSocket frame: the protocol is binary only. */
  textFrame: 'TRANSPORT_ERR_TEXT_FRAME',
  /** One connection sent more bad frames than `badFramesMax`. */
  tooManyBadFrames: 'TRANSPORT_ERR_TOO_MANY_BAD_FRAMES',
  /** A frame larger than `frameBytesMax` (ws closes with 1009). */
  frameTooLarge: 'TRANSPORT_ERR_FRAME_TOO_LARGE',
  /** Any other WebSocket protocol violation reported by ws (WS_ERR_*). */
  wsProtocol: 'TRANSPORT_ERR_WS_PROTOCOL',
  // --- Connection level ---
  /** Too many connections from one remote address, or in total. */
  connectionLimit: 'TRANSPORT_ERR_CONNECTION_LIMIT',
  /** TLS handshake failed (no client certificate, unknown CA, wrong version...). */
  tls: 'TRANSPORT_ERR_TLS',
  /** A plain HTTP request or a malformed HTTP upgrade. */
  http: 'TRANSPORT_ERR_HTTP',
  /** An outbound link got no pong for `keepAliveTimeoutMs`. */
  peerUnresponsive: 'TRANSPORT_ERR_PEER_UNRESPONSIVE',
  /** The `onMessage` callback threw (an application bug, logged and counted, never rethrown). */
  handler: 'TRANSPORT_ERR_HANDLER',
  // --- Local configuration and encoding ---
  /** Binding a non-loopback address without TLS and without `insecure: true`. */
  insecureBind: 'TRANSPORT_ERR_INSECURE_BIND',
  /** Invalid transport options. */
  config: 'TRANSPORT_ERR_CONFIG',
  /** A local message that cannot be encoded (a bug in the caller). */
  encode: 'TRANSPORT_ERR_ENCODE',
} as const;
export type TransportErrorCode = (typeof TransportErrorCode)[keyof typeof TransportErrorCode];

/** Why an outbound message was dropped instead of sent (Raft retransmits). */
export const TransportDropCode = {
  /** The per-connection buffer cap (`bufferedBytesMax`) would be exceeded. */
  backpressure: 'TRANSPORT_DROP_BACKPRESSURE',
  /** No address is known for the destination. */
  unknownPeer: 'TRANSPORT_DROP_UNKNOWN_PEER',
  /** Queued while connecting, and the connection attempt failed. */
  peerDown: 'TRANSPORT_DROP_PEER_DOWN',
  /** The encoded message alone exceeds `frameBytesMax`. */
  tooLarge: 'TRANSPORT_DROP_TOO_LARGE',
  /** The message could not be encoded (see TRANSPORT_ERR_ENCODE). */
  encode: 'TRANSPORT_DROP_ENCODE',
  /** The transport is closed. */
  closed: 'TRANSPORT_DROP_CLOSED',
} as const;
export type TransportDropCode = (typeof TransportDropCode)[keyof typeof TransportDropCode];

/**
 * WebSocket close codes the transport sends (4000-4999 is the private-use range of RFC 6455).
 * 1009 (message too big) and 1002 (protocol error) are sent by ws itself.
 */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  policyViolation: 1008,
  messageTooBig: 1009,
  version: 4001,
  cluster: 4002,
  unknownPeer: 4003,
  handshake: 4004,
  certIdentity: 4005,
  sender: 4006,
  tooManyBadFrames: 4007,
  /** A newer authenticated connection from the same peer on the same channel replaced this one. */
  replaced: 4008,
  /** The hello (or welcome) does not prove the cluster secret. */
  auth: 4009,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The close code a handshake rejection uses. */
export function closeCodeOf(code: TransportErrorCode): CloseCode {
  switch (code) {
    case TransportErrorCode.version:
      return CloseCode.version;
    case TransportErrorCode.cluster:
      return CloseCode.cluster;
    case TransportErrorCode.unknownPeer:
      return CloseCode.unknownPeer;
    case TransportErrorCode.certIdentity:
      return CloseCode.certIdentity;
    case TransportErrorCode.auth:
      return CloseCode.auth;
    case TransportErrorCode.sender:
    case TransportErrorCode.receiver:
      return CloseCode.sender;
    case TransportErrorCode.tooManyBadFrames:
      return CloseCode.tooManyBadFrames;
    default:
      return CloseCode.handshake;
  }
}

export class TransportError extends Error {
  readonly code: TransportErrorCode;
  constructor(code: TransportErrorCode, message: string) {
    super(`${code}: ${message}`);
    this.name = 'TransportError';
    this.code = code;
  }
}

export function isTransportError(err: unknown): err is TransportError {
  return err instanceof TransportError;
}
