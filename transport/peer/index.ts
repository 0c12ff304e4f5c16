/** The peer transport's public surface (issue 4). */
export type { Transport, TransportStats, PeerStats, PeerAddress, LinkState } from './types.js';
export { WsTransport } from './wsTransport.js';
export { DEFAULTS as TRANSPORT_DEFAULTS, type WsTransportOptions, type TlsOptions } from './options.js';
export { TransportError, TransportErrorCode, TransportDropCode, CloseCode, isTransportError } from '../wire/errors.js';
export {
  PROTOCOL_VERSION,
  decodeFrame,
  decodeMessage,
  encodeMessage,
  encodeMessages,
  isNodeId,
  type Channel,
  type DecodeLimits,
  type Frame,
} from './codec.js';
export { isUint128, uint128ToBytes, uint128FromBytes, uint128FromParts, uint128Parts, compareUint128, uint128ToHex, UINT128_BYTES, UINT128_MAX } from '../wire/uint128.js';
