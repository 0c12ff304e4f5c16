/**
 * The client protocol: CBOR over WebSocket on each node's client port (issue 6).
 *
 * Every WebSocket message is one binary frame holding one CBOR array, first item the protocol
 * version (1). No maps, tags, negative integers or nulls (the same structural pre-scan as the peer
 * transport, transport/wire/cborScan.ts, runs before cbor-x); an absent value is an empty byte string or
 * text. IDs (client, session, restore) are 16-byte big-endian byte strings.
 *
 * Requests (client -> node), `reqId` a positive integer unique among the connection's requests in
 * flight:
 *
 *   [1, reqId, 1]                                                register      -> command result (value: client ID 16 | secret 16)
 *   [1, reqId, 2, client, secret, seq, acked, topic]             create        -> command result
 *   [1, reqId, 3, client, secret, seq, acked, session, bytes]    append        -> command result
 *   [1, reqId, 4, client, secret, seq, acked, session, bytes]    rewrite       -> command result
 *   [1, reqId, 5, client, secret, seq, acked, session, mode, value]  store (mode 0: value is the replay class; 1: a delay in ms)
 *   [1, reqId, 6, client, secret, seq, acked, session]           destroy       -> command result
 *   [1, reqId, 7, session]                                       get (linearizable: ReadIndex)
 *   [1, reqId, 8, topic, limit]                                  list (linearizable; topic '' = all)
 *   [1, reqId, 9, topic]                                         subscribe     -> [subId]
 *   [1, reqId, 10, subId]                                        unsubscribe   -> []
 *   [1, reqId, 11, withDigest]                                   status        -> [json bytes]
 *   [1, reqId, 12, session]                                      peek (this node's applied state, may be stale)
 *   [1, reqId, 13, action, nodeId, address]                      member (leader only): action 0 list (nodeId, address ''),
 *                                                                1 add a learner (address host:raftPort:clientPort:adminPort),
 *                                                                2 promote a learner, 3 remove (address '')
 *   [1, reqId, 14, topic, name, ackWaitMs, maxDeliveries, maxAckPending]  groupCreate (leader; 0 = default) -> command result (value: group ID)
 *   [1, reqId, 15, topic, name]                                  groupDelete (leader) -> command result
 *   [1, reqId, 16]                                               groups        -> [json bytes] (this node's applied group table with counts)
 *   [1, reqId, 17, topic, group, consumer, maxAckPending]        consume (leader; 0 = the group's) -> [subId]; ended by unsubscribe
 *   [1, reqId, 17, topic, group, consumer, maxAckPending, true]  consume whose acks remove their sessions (needs
 *                                                                write on the topic too) -> [subId]
 *   [1, reqId, 18, subId, restoreId, delivery]                   ack           -> command result
 *   [1, reqId, 18, subId, restoreId, delivery, session]          ack that also removes `session` (remove on ack;
 *                                                                needs write on its topic) -> command result
 *   [1, reqId, 19, subId, restoreId, delivery, delayMs]          nack          -> command result
 *   [1, reqId, 26, subId, remove, restoreId, delivery, [session,] ...]  acks (2026-12-05): 1..ACKS_PER_REQUEST_MAX acks of
 *                                                                one consumer in one request, each as `ack` says; with
 *                                                                remove true each carries its session (remove on ack)
 *                                                                -> [status, code, ...]: per ack, in order; status 1 taken,
 *                                                                0 refused (code: as its own ack's answer), 2 failed as a
 *                                                                request would (code: the error's, e.g. unknown outcome)
 *   [1, reqId, 20, user, password]                               auth (issue 17) -> [user]; user and password '' = the
 *                                                                client certificate's user. Sent first, before any other request.
 *   [1, reqId, 21, action, user, password, role]                 user (leader): action 0 list (-> [json bytes]), 1 add, 2 delete,
 *                                                                3 passwd, 4 grant (the role), 5 revoke -> command result
 *   [1, reqId, 22, action, role, permission]                     role (leader): action 0 list (-> [json bytes]), 1 add, 2 delete,
 *                                                                3 grant, 4 revoke (permission: access.ts's text form) -> command result
 *   [1, reqId, 23, action, topic, group, restoreId]              deadLetter (leader; issue 16): action 0 replay, 1 delete -> command result
 *   [1, reqId, 24, client, secret, seq, acked, topic, bytes, mode, value]  schedule (leader; issue 20): create a session on topic
 *                                                                with one record and store it (mode and value as store's) ->
 *                                                                command result (value: the session's ID; index and term: the
 *                                                                store's entry). Its three commands take seq, seq + 1, seq + 2.
 *   [1, 0, 27, frame, ...]                                       a batch (to a node whose welcome said so): requests,
 *                                                                each a byte string, handled in order as if each came
 *                                                                alone (client/batch.ts)
 *   [1, reqId, 25, action, name]                                 feature (feature flags, 2026-12-05): action 0 list (name '')
 *                                                                -> [json bytes] (this node's view: what it supports, what is
 *                                                                on); 1 enable (leader; name a flag's or 'all') -> command result
 *
 * `client, secret, seq, acked` is the exactly-once envelope (dissertation 6.3): the client ID and
 * secret from register (the secret proves the ID is this client's: IDs are guessable), the
 * command's number (a retry reuses it), and "I hold the answers of every seq below this". An empty
 * client and secret (and seq = acked = 0) send the command without an envelope.
 *
 * Node -> client:
 *
 *   [1, 0, reqId, ...result]                                     a result (shape by the request's op)
 *   [1, 1, reqId, code, message, leaderId, leaderEndpoint]       an error (leader fields '' when unknown; reqId 0: not tied to a request)
 *   [1, 2, subId, topic, session, [records], restoreId, index]   a delivery: a session restored on a subscribed topic
 *   [1, 3, clusterId, nodeId, requestBytesMax, inflightMax]      welcome: the node's first frame on a connection
 *   [1, 3, clusterId, nodeId, requestBytesMax, inflightMax, 1]   welcome to a client that asked for batches (`?batch=N`):
 *                                                                the node takes and sends them (client/batch.ts)
 *   [1, 6, frame, ...]                                           a batch: frames of the kinds above, each a byte string
 *   [1, 4, subId, code, message]                                 the subscription ended (e.g. overflow)
 *   [1, 5, subId, topic, session, [records], restoreId, delivery]  a consumer group's delivery (answer with ack or nack)
 *
 * Results: command `[ok, code, value, index, term, duplicate]` (value: the new session's ID, or
 * register's client credential (ID 16 bytes then secret 16 bytes), else empty; index and term of the entry, 0 for a retry answered from the client
 * table); get/peek `[found, topic, [records], appliedIndex]`; list `[[id, topic, bytes, records, ...], truncated]`;
 * member list `[json bytes]` (the configuration in force with each member's progress), a member change
 * `[index, term]` (the configuration entry, applied when answered).
 */
import { Decoder, Encoder } from 'cbor-x';
import { CBOR_OPTIONS } from '../wire/cborOptions.js';
import { scanCbor } from '../wire/cborScan.js';
import { BATCH_WELCOME_ON, REPLY_BATCH_BYTES_DEFAULT } from './batch.js';
import {
  encodeAppendRequest,
  encodeCommandResultFast,
  encodeGroupDeliveryFast,
  encodeScheduleRequest,
  tryDecodeAppendRequest,
  tryDecodeCommandResult,
  tryDecodeScheduleRequest,
} from './fastPath.js';
import { utf8Of } from '../commands/utf8Cache.js';
import { REPLAY_CLASSES_MAX } from '../commands/codec.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { isTransportError } from '../wire/errors.js';
import { parseMemberAddress } from '../wire/address.js';
import { isNodeId } from '../wire/nodeId.js';
import { formatGrant, isAuthName, parseGrant, type Grant } from '../commands/access.js';
import { SCHEDULE_SEQS } from '../commands/codec.js';
import { FEATURE_NAME } from './features.js';

const CLIENT_PROTOCOL_VERSION = 1;
const ID_BYTES = 16;
const SECRET_BYTES = 16;

const Op = {
  register: 1,
  create: 2,
  append: 3,
  rewrite: 4,
  store: 5,
  destroy: 6,
  get: 7,
  list: 8,
  subscribe: 9,
  unsubscribe: 10,
  status: 11,
  peek: 12,
  member: 13,
  groupCreate: 14,
  groupDelete: 15,
  groups: 16,
  consume: 17,
  ack: 18,
  nack: 19,
  auth: 20,
  user: 21,
  role: 22,
  deadLetter: 23,
  schedule: 24,
  feature: 25,
  acks: 26,
} as const;
type OpName = keyof typeof Op;
const OP_NAMES: readonly (OpName | undefined)[] = [
  undefined,
  'register',
  'create',
  'append',
  'rewrite',
  'store',
  'destroy',
  'get',
  'list',
  'subscribe',
  'unsubscribe',
  'status',
  'peek',
  'member',
  'groupCreate',
  'groupDelete',
  'groups',
  'consume',
  'ack',
  'nack',
  'auth',
  'user',
  'role',
  'deadLetter',
  'schedule',
  'feature',
  'acks',
];

/** Acks one `acks` request carries at most (a consumer's window is at most 65,535; its acks of one turn go in requests of this many). */
export const ACKS_PER_REQUEST_MAX = 256;

/** The `user` and `role` ops' actions (issue 17), by their wire number. */
const USER_ACTIONS = ['list', 'add', 'delete', 'passwd', 'grant', 'revoke'] as const;
type UserActionName = (typeof USER_ACTIONS)[number];
const ROLE_ACTIONS = ['list', 'add', 'delete', 'grant', 'revoke'] as const;
type RoleActionName = (typeof ROLE_ACTIONS)[number];
/** A password: 1..PASSWORD_BYTES_MAX UTF-8 bytes (scrypt reads all of it; a bound keeps a request's cost bounded). */
const PASSWORD_BYTES_MAX = 1024;

/** The `feature` op's actions, by their wire number. */
const FEATURE_ACTIONS = ['list', 'enable'] as const;

/** The `deadLetter` op's actions (issue 16), by their wire number. */
const DEAD_LETTER_ACTIONS = ['replay', 'delete'] as const;

/** The `member` op's actions, by their wire number. */
const MemberAction = { list: 0, add: 1, promote: 2, remove: 3 } as const;
type MemberActionName = keyof typeof MemberAction;
const MEMBER_ACTIONS: readonly MemberActionName[] = ['list', 'add', 'promote', 'remove'];

const ReplyKind = { result: 0, error: 1, delivery: 2, welcome: 3, subscriptionEnded: 4, groupDelivery: 5 } as const;

/** Limits of the client port; each has a safe default and is an option of the node. */
export interface ClientProtocolLimits {
  /** Largest request frame a node accepts (ws maxPayload on the node). */
  readonly requestBytesMax: number;
  /** Largest frame a client accepts (ws maxPayload on the client): a get of the largest session fits. */
  readonly replyBytesMax: number;
  /** Requests in flight per connection. */
  readonly inflightRequestsMax: number;
  /** Subscriptions per connection. */
  readonly subscriptionsMax: number;
  /** Client connections per node. */
  readonly connectionsMax: number;
  /**
   * Bytes held for all client connections together (client/heldBytes.ts): answers and deliveries
   * not yet read (sockets, push queues) and requests in flight. A hold past it cuts the connection
   * holding the most (CLIENT_ERR_NODE_BUSY, counted), or refuses the request of a connection that
   * itself holds the most (CLIENT_ERR_NODE_BUSY). At least replyBytesMax and requestBytesMax.
   */
  readonly connectionsHeldBytesMax: number;
  /**
   * Connections logged in as one user on this node: a login beyond is refused
   * (CLIENT_ERR_TOO_MANY_CONNECTIONS, counted), so that one user cannot take all of connectionsMax.
   */
  readonly connectionsPerUserMax: number;
  /**
   * While the node requires logins: a connection with no login (and no client certificate) this
   * long after it opened is closed (4008), as RabbitMQ's handshake_timeout and NATS's auth timeout
   * do, so that idle anonymous sockets cannot hold the port's connections.
   */
  readonly loginTimeoutMs: number;
  /**
   * While the node requires logins: connections from one address (throttledAddress: loopback as
   * one, IPv6 by its /64) not logged in yet at most; one more is refused at the upgrade (HTTP 503,
   * CLIENT_ERR_TOO_MANY_CONNECTIONS).
   */
  readonly loginsPendingPerAddressMax: number;
  /** Malformed frames tolerated on one connection before it is closed (4007). */
  readonly badFramesMax: number;
  /** Sessions one list answer carries at most. */
  readonly listSessionsMax: number;
  /**
   * Bytes a connection's socket may hold (ws `bufferedAmount`) for deliveries to be written to it;
   * above this mark deliveries wait in the connection's push queue until the socket drains. At
   * least 64 KiB (a socket signals 'drain' only once it was above its own mark).
   */
  readonly pushBufferedBytesMax: number;
  /** Bytes of deliveries a connection's push queue holds; beyond, the subscription ends (SUBSCRIBER_OVERFLOW). */
  readonly pushQueueBytesMax: number;
  /** Deliveries a connection's push queue holds; beyond, the subscription ends (SUBSCRIBER_OVERFLOW). */
  readonly pushQueueDeliveriesMax: number;
  /**
   * A connection with more than this many bytes behind (queued + in its socket) that made no
   * progress for `subscriberBehindMsMax` has its subscriptions ended (SUBSCRIBER_STALLED). At most
   * pushQueueBytesMax (else the queue overflows first).
   */
  readonly subscriberBehindBytesMax: number;
  /** Milliseconds without progress after which a connection that far behind is ended. */
  readonly subscriberBehindMsMax: number;
  /**
   * Bytes a connection's socket may hold (ws `bufferedAmount`: answers, group deliveries, the
   * deliveries written below pushBufferedBytesMax) before the node cuts it (CLIENT_ERR_SLOW_READER,
   * counted): a client that pipelines requests and never reads the answers. At least
   * pushBufferedBytesMax (deliveries are written up to that mark).
   */
  readonly sendBufferedBytesMax: number;
  /** Deliveries queued per subscription in the store before it overflows. */
  readonly subscriptionQueueMax: number;
  /**
   * The largest batch of replies and deliveries (client/batch.ts) sent to a client that asks for
   * batches (never more than the client says it reads); 0 sends none and takes none.
   */
  readonly replyBatchBytesMax: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const defaultClientProtocolLimits: ClientProtocolLimits = {
  requestBytesMax: 256 * KiB,
  replyBytesMax: 8 * MiB,
  inflightRequestsMax: 256,
  subscriptionsMax: 64,
  connectionsMax: 1024,
  // Within the client connections' share of a node's documented expected memory (docs/performance.md,
  // "Budget per part"): that sum counted one subscribing connection, 33 MiB of push queue and 64 MiB
  // of requests in flight (97 MiB), while until 2026-12-07 each of 1,024 connections could hold as
  // much, and its answers not read besides. Now all of them together hold at most that.
  connectionsHeldBytesMax: 96 * MiB,
  // A quarter of connectionsMax: until 2026-12-07 one user (a leaked credential, a runaway pool)
  // could hold all 1,024 and lock every other user, the administrator included, out of the node.
  connectionsPerUserMax: 256,
  loginTimeoutMs: 10_000,
  loginsPendingPerAddressMax: 32,
  badFramesMax: 16,
  listSessionsMax: 1000,
  pushBufferedBytesMax: 1 * MiB,
  pushQueueBytesMax: 32 * MiB,
  pushQueueDeliveriesMax: 4096,
  subscriberBehindBytesMax: 8 * MiB,
  subscriberBehindMsMax: 30_000,
  sendBufferedBytesMax: 64 * MiB,
  subscriptionQueueMax: 1024,
  replyBatchBytesMax: REPLY_BATCH_BYTES_DEFAULT,
};

/** The smallest pushBufferedBytesMax: a socket's own high-water mark is 16 KiB (Node 20) or 64 KiB (Node 22). */
const PUSH_BUFFERED_BYTES_MIN = 64 * KiB;

/** Checks the client port's limits; throws RangeError naming the limit. */
export function validateClientProtocolLimits(l: ClientProtocolLimits): void {
  for (const [k, v] of Object.entries(l)) {
    if (k === 'replyBatchBytesMax' && v === 0) continue; // batches off
    if (!Number.isSafeInteger(v) || (v as number) < 1) throw new RangeError(`client port limit ${k} must be a positive integer, got ${v}`);
  }
  if (l.pushBufferedBytesMax < PUSH_BUFFERED_BYTES_MIN) {
    throw new RangeError(`client port limit pushBufferedBytesMax must be at least ${PUSH_BUFFERED_BYTES_MIN}, got ${l.pushBufferedBytesMax}`);
  }
  if (l.sendBufferedBytesMax < l.pushBufferedBytesMax) {
    throw new RangeError(
      `client port limit sendBufferedBytesMax (${l.sendBufferedBytesMax}) must be at least pushBufferedBytesMax (${l.pushBufferedBytesMax})`,
    );
  }
  // One answer of the largest size (a get of the largest session) and one request must each fit.
  const heldMin = Math.max(l.replyBytesMax, l.requestBytesMax);
  if (l.connectionsHeldBytesMax < heldMin) {
    throw new RangeError(
      `client port limit connectionsHeldBytesMax (${l.connectionsHeldBytesMax}) must be at least replyBytesMax and requestBytesMax (${heldMin})`,
    );
  }
  if (l.subscriberBehindBytesMax > l.pushQueueBytesMax) {
    throw new RangeError(
      `client port limit subscriberBehindBytesMax (${l.subscriberBehindBytesMax}) must be at most pushQueueBytesMax (${l.pushQueueBytesMax})`,
    );
  }
}

/** WebSocket close codes of the client port. */
export const ClientCloseCode = {
  normal: 1000,
  goingAway: 1001,
  messageTooBig: 1009,
  tooManyBadFrames: 4007,
  /** No login within loginTimeoutMs while the node requires one. */
  loginTimeout: 4008,
  /** More than sendBufferedBytesMax waited in the socket for the client to read (CLIENT_ERR_SLOW_READER). */
  slowReader: 4009,
} as const;

const encoder = new Encoder(CBOR_OPTIONS);
const decoder = new Decoder(CBOR_OPTIONS);
const EMPTY = new Uint8Array(0);

// ---- types -------------------------------------------------------------------------------------

export interface WireEnvelope {
  readonly client: Uint8Array;
  /** The client's secret from register (16 bytes). */
  readonly secret: Uint8Array;
  readonly seq: number;
  readonly ackedBelowSeq: number;
}

type ReplaySpec = { readonly mode: 'class'; readonly value: number } | { readonly mode: 'delayMs'; readonly value: number };

/** A request without its reqId (the connection numbers it). */
export type RequestBody = Request extends infer R ? (R extends { reqId: number } ? Omit<R, 'reqId'> : never) : never;

export type Request =
  | { readonly op: 'register'; readonly reqId: number }
  | { readonly op: 'create'; readonly reqId: number; readonly envelope: WireEnvelope | null; readonly topic: string }
  | {
      readonly op: 'append' | 'rewrite';
      readonly reqId: number;
      readonly envelope: WireEnvelope | null;
      readonly session: Uint8Array;
      readonly bytes: Uint8Array;
    }
  | { readonly op: 'store'; readonly reqId: number; readonly envelope: WireEnvelope | null; readonly session: Uint8Array; readonly replay: ReplaySpec }
  | {
      readonly op: 'schedule';
      readonly reqId: number;
      readonly envelope: WireEnvelope | null;
      readonly topic: string;
      readonly bytes: Uint8Array;
      readonly replay: ReplaySpec;
    }
  | { readonly op: 'destroy'; readonly reqId: number; readonly envelope: WireEnvelope | null; readonly session: Uint8Array }
  | { readonly op: 'get' | 'peek'; readonly reqId: number; readonly session: Uint8Array }
  | { readonly op: 'list'; readonly reqId: number; readonly topic: string; readonly limit: number }
  | { readonly op: 'subscribe'; readonly reqId: number; readonly topic: string }
  | { readonly op: 'unsubscribe'; readonly reqId: number; readonly subId: number }
  | { readonly op: 'status'; readonly reqId: number; readonly withDigest: boolean }
  | { readonly op: 'member'; readonly reqId: number; readonly action: MemberActionName; readonly node: string; readonly address: string }
  | {
      readonly op: 'groupCreate';
      readonly reqId: number;
      readonly topic: string;
      readonly name: string;
      readonly ackWaitMs: number;
      readonly maxDeliveries: number;
      readonly maxAckPending: number;
    }
  | { readonly op: 'groupDelete'; readonly reqId: number; readonly topic: string; readonly name: string }
  | { readonly op: 'groups'; readonly reqId: number }
  | {
      readonly op: 'consume';
      readonly reqId: number;
      readonly topic: string;
      readonly group: string;
      readonly consumer: string;
      readonly maxAckPending: number;
      /** The consumer's acks will remove their sessions: the port checks write on the topic at attach too. */
      readonly removeOnAck?: boolean;
    }
  | {
      readonly op: 'ack';
      readonly reqId: number;
      readonly subId: number;
      readonly restoreId: Uint8Array;
      readonly delivery: number;
      /** Remove on ack: the session (the delivered one) this ack also removes. */
      readonly remove?: Uint8Array;
    }
  | { readonly op: 'acks'; readonly reqId: number; readonly subId: number; readonly acks: readonly AckItem[] }
  | {
      readonly op: 'nack';
      readonly reqId: number;
      readonly subId: number;
      readonly restoreId: Uint8Array;
      readonly delivery: number;
      readonly delayMs: number;
    }
  | { readonly op: 'auth'; readonly reqId: number; readonly user: string; readonly password: string }
  | {
      readonly op: 'user';
      readonly reqId: number;
      readonly action: UserActionName;
      readonly user: string;
      readonly password: string;
      readonly role: string;
    }
  | { readonly op: 'role'; readonly reqId: number; readonly action: RoleActionName; readonly role: string; readonly grant: Grant | null }
  | {
      readonly op: 'deadLetter';
      readonly reqId: number;
      readonly action: (typeof DEAD_LETTER_ACTIONS)[number];
      readonly topic: string;
      readonly group: string;
      readonly restoreId: Uint8Array;
    }
  | { readonly op: 'feature'; readonly reqId: number; readonly action: (typeof FEATURE_ACTIONS)[number]; readonly name: string };

/** One ack of an `acks` request: all of one request remove their sessions, or none does. */
interface AckItem {
  readonly restoreId: Uint8Array;
  readonly delivery: number;
  /** Remove on ack: the session (the delivered one) this ack also removes. */
  readonly remove?: Uint8Array;
}

export interface CommandReply {
  readonly ok: boolean;
  readonly code: string;
  readonly value: Uint8Array | null;
  readonly index: number;
  readonly term: number;
  readonly duplicate: boolean;
}

interface SessionReply {
  readonly found: boolean;
  readonly topic: string;
  readonly records: Uint8Array[];
  readonly appliedIndex: number;
}

export interface ListedSession {
  readonly id: Uint8Array;
  readonly topic: string;
  readonly bytes: number;
  readonly records: number;
}

interface ListReply {
  readonly sessions: ListedSession[];
  readonly truncated: boolean;
}

export interface DeliveryFrame {
  readonly kind: 'delivery';
  readonly subId: number;
  readonly topic: string;
  readonly session: Uint8Array;
  readonly records: Uint8Array[];
  readonly restoreId: Uint8Array;
  readonly index: number;
}

export interface GroupDeliveryFrame {
  readonly kind: 'groupDelivery';
  readonly subId: number;
  readonly topic: string;
  readonly session: Uint8Array;
  readonly records: Uint8Array[];
  readonly restoreId: Uint8Array;
  readonly delivery: number;
}

type ServerFrame =
  | GroupDeliveryFrame
  | { readonly kind: 'result'; readonly reqId: number; readonly body: readonly unknown[] }
  | {
      readonly kind: 'error';
      readonly reqId: number;
      readonly code: string;
      readonly message: string;
      readonly leader: string | null;
      readonly leaderEndpoint: string | null;
    }
  | DeliveryFrame
  | {
      readonly kind: 'welcome';
      readonly clusterId: string;
      readonly nodeId: string;
      readonly requestBytesMax: number;
      readonly inflightMax: number;
      /** The node takes and sends batches (client/batch.ts): a seventh item 1, sent only to a client that asked. */
      readonly batches: boolean;
    }
  | { readonly kind: 'subscriptionEnded'; readonly subId: number; readonly code: string; readonly message: string };

// ---- validation helpers --------------------------------------------------------------------------

function malformed(detail: string): never {
  throw new ClientError(ClientErrorCode.malformed, detail);
}

function uint(a: readonly unknown[], i: number, what: string): number {
  const v = a[i];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) malformed(`${what} must be a safe non-negative integer`);
  return v;
}

function bool(a: readonly unknown[], i: number, what: string): boolean {
  const v = a[i];
  if (typeof v !== 'boolean') malformed(`${what} must be a boolean`);
  return v;
}

function bytes(a: readonly unknown[], i: number, what: string): Uint8Array {
  const v = a[i];
  if (!(v instanceof Uint8Array)) malformed(`${what} must be a byte string`);
  return v;
}

function id(a: readonly unknown[], i: number, what: string): Uint8Array {
  const v = bytes(a, i, what);
  if (v.length !== ID_BYTES) malformed(`${what} must be ${ID_BYTES} bytes, got ${v.length}`);
  return v;
}

function text(a: readonly unknown[], i: number, what: string): string {
  const v = a[i];
  if (typeof v !== 'string') malformed(`${what} must be a text string`);
  return v;
}

function arity(a: readonly unknown[], n: number, what: string): void {
  if (a.length !== n) malformed(`${what} must have ${n} items, got ${a.length}`);
}

/** The envelope's four items from `at`: client, secret, seq, acked. */
function envelope(a: readonly unknown[], at: number): WireEnvelope | null {
  const client = bytes(a, at, 'client');
  const secret = bytes(a, at + 1, 'secret');
  const seq = uint(a, at + 2, 'seq');
  const acked = uint(a, at + 3, 'ackedBelowSeq');
  if (client.length === 0) {
    if (secret.length !== 0 || seq !== 0 || acked !== 0) malformed('secret, seq and ackedBelowSeq must be empty and 0 without a client ID');
    return null;
  }
  if (client.length !== ID_BYTES) malformed(`client must be ${ID_BYTES} bytes, got ${client.length}`);
  if (secret.length !== SECRET_BYTES) malformed(`secret must be ${SECRET_BYTES} bytes (from register), got ${secret.length}`);
  if (seq < 1) malformed('seq must be at least 1');
  if (acked > seq) malformed('ackedBelowSeq must not exceed seq');
  return { client, secret, seq, ackedBelowSeq: acked };
}

function scan(bytesIn: Uint8Array, depthMax: number): unknown[] {
  try {
    scanCbor(bytesIn, { depthMax, arrayLengthMax: 1_000_000, textBytesMax: 64 * KiB });
  } catch (err) {
    if (isTransportError(err)) malformed(`bad CBOR (${err.code}): ${err.message}`);
    throw err;
  }
  let w: unknown;
  try {
    w = decoder.decode(bytesIn);
  } catch (err) {
    malformed(`cbor-x: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(w) || w.length < 2) malformed('a frame must be an array [version, ...]');
  if (w[0] !== CLIENT_PROTOCOL_VERSION) {
    throw new ClientError(ClientErrorCode.version, `protocol version ${String(w[0])}, this side speaks ${CLIENT_PROTOCOL_VERSION}`);
  }
  return w;
}

/**
 * The reqId of a frame that failed to decode, if one can be read (to answer the error to it): the
 * second item of the top-level array, read from the CBOR heads alone, so a frame whose later fields
 * are oversized or malformed still gets its error on the right request.
 */
export function peekReqId(bytes: Uint8Array): number {
  if (bytes.length < 1) return 0;
  const b0 = bytes[0]!;
  if (b0 >> 5 !== 4) return 0; // not an array
  const pos = 1 + headExtraBytes(b0 & 0x1f);
  if (pos < 1 || pos > bytes.length) return 0;
  const version = readUintHead(bytes, pos);
  if (version === null) return 0;
  const reqId = readUintHead(bytes, version.next);
  return reqId !== null && reqId.value > 0 ? reqId.value : 0;
}

/** Bytes after the initial byte for CBOR additional info `ai` (-2 for indefinite or reserved). */
function headExtraBytes(ai: number): number {
  if (ai < 24) return 0;
  if (ai <= 27) return 1 << (ai - 24);
  return -2;
}

/** An unsigned integer item at `pos` (major type 0) as a safe integer, with the position after it. */
function readUintHead(bytes: Uint8Array, pos: number): { value: number; next: number } | null {
  if (pos >= bytes.length) return null;
  const b = bytes[pos]!;
  if (b >> 5 !== 0) return null;
  const n = headExtraBytes(b & 0x1f);
  if (n < 0 || pos + 1 + n > bytes.length) return null;
  if (n === 0) return { value: b & 0x1f, next: pos + 1 };
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 256 + bytes[pos + 1 + i]!;
  return Number.isSafeInteger(v) ? { value: v, next: pos + 1 + n } : null;
}

// ---- requests ------------------------------------------------------------------------------------

function wireEnvelope(e: WireEnvelope | null): unknown[] {
  return e === null ? [EMPTY, EMPTY, 0, 0] : [e.client, e.secret, e.seq, e.ackedBelowSeq];
}

/**
 * A request's frame. `reqId` overrides the request's own (the connection numbers a body without
 * one: a spread `{ ...body, reqId }` per request was most of the client's own time per append).
 */
export function encodeRequest(r: Request | RequestBody, reqId = (r as Request).reqId): Uint8Array {
  const head = [CLIENT_PROTOCOL_VERSION, reqId, Op[r.op]];
  switch (r.op) {
    case 'register':
      return encoder.encode(head);
    case 'create':
      return encoder.encode([...head, ...wireEnvelope(r.envelope), r.topic]);
    case 'append':
    case 'rewrite': {
      const e = r.envelope;
      return encodeAppendRequest(
        reqId,
        Op[r.op],
        e === null ? EMPTY : e.client,
        e === null ? EMPTY : e.secret,
        e === null ? 0 : e.seq,
        e === null ? 0 : e.ackedBelowSeq,
        r.session,
        r.bytes,
      );
    }
    case 'store':
      return encoder.encode([...head, ...wireEnvelope(r.envelope), r.session, r.replay.mode === 'class' ? 0 : 1, r.replay.value]);
    case 'schedule': {
      // By hand (fastPath.ts): the same bytes as cbor-x writes for the array (property-tested).
      const e = r.envelope;
      return encodeScheduleRequest(
        reqId,
        e === null ? EMPTY : e.client,
        e === null ? EMPTY : e.secret,
        e === null ? 0 : e.seq,
        e === null ? 0 : e.ackedBelowSeq,
        utf8Of(r.topic),
        r.bytes,
        r.replay.mode === 'class' ? 0 : 1,
        r.replay.value,
      );
    }
    case 'destroy':
      return encoder.encode([...head, ...wireEnvelope(r.envelope), r.session]);
    case 'get':
    case 'peek':
      return encoder.encode([...head, r.session]);
    case 'list':
      return encoder.encode([...head, r.topic, r.limit]);
    case 'subscribe':
      return encoder.encode([...head, r.topic]);
    case 'unsubscribe':
      return encoder.encode([...head, r.subId]);
    case 'status':
      return encoder.encode([...head, r.withDigest]);
    case 'member':
      return encoder.encode([...head, MemberAction[r.action], r.node, r.address]);
    case 'groupCreate':
      return encoder.encode([...head, r.topic, r.name, r.ackWaitMs, r.maxDeliveries, r.maxAckPending]);
    case 'groupDelete':
      return encoder.encode([...head, r.topic, r.name]);
    case 'groups':
      return encoder.encode(head);
    case 'consume':
      return encoder.encode(
        r.removeOnAck === true ? [...head, r.topic, r.group, r.consumer, r.maxAckPending, true] : [...head, r.topic, r.group, r.consumer, r.maxAckPending],
      );
    case 'ack':
      return encoder.encode(r.remove === undefined ? [...head, r.subId, r.restoreId, r.delivery] : [...head, r.subId, r.restoreId, r.delivery, r.remove]);
    case 'acks': {
      const remove = r.acks.length > 0 && r.acks[0]!.remove !== undefined;
      const a: unknown[] = [...head, r.subId, remove];
      for (const k of r.acks) {
        if ((k.remove !== undefined) !== remove) throw new RangeError('the acks of one request all remove their sessions, or none does');
        if (remove) a.push(k.restoreId, k.delivery, k.remove);
        else a.push(k.restoreId, k.delivery);
      }
      return encoder.encode(a);
    }
    case 'nack':
      return encoder.encode([...head, r.subId, r.restoreId, r.delivery, r.delayMs]);
    case 'auth':
      return encoder.encode([...head, r.user, r.password]);
    case 'user':
      return encoder.encode([...head, USER_ACTIONS.indexOf(r.action), r.user, r.password, r.role]);
    case 'role':
      return encoder.encode([...head, ROLE_ACTIONS.indexOf(r.action), r.role, r.grant === null ? '' : formatGrant(r.grant)]);
    case 'deadLetter':
      return encoder.encode([...head, DEAD_LETTER_ACTIONS.indexOf(r.action), r.topic, r.group, r.restoreId]);
    case 'feature':
      return encoder.encode([...head, FEATURE_ACTIONS.indexOf(r.action), r.name]);
  }
}

/** A replay given as [mode, value] at `i`: mode 0 is a replay class, 1 a delay in ms. */
function replaySpec(a: readonly unknown[], i: number): ReplaySpec {
  const mode = uint(a, i, 'replay mode');
  if (mode > 1) malformed('replay mode must be 0 (class) or 1 (delay in ms)');
  return { mode: mode === 0 ? 'class' : 'delayMs', value: uint(a, i + 1, 'replay') };
}

/** A password field: '' or 1..PASSWORD_BYTES_MAX bytes. */
function password(a: readonly unknown[], i: number): string {
  const p = text(a, i, 'password');
  if (Buffer.byteLength(p, 'utf8') > PASSWORD_BYTES_MAX) malformed(`password longer than ${PASSWORD_BYTES_MAX} bytes`);
  return p;
}

function authName(a: readonly unknown[], i: number, what: string): string {
  const s = text(a, i, what);
  if (!isAuthName(s)) malformed(`${what} must be 1..64 of [A-Za-z0-9_.@-]`);
  return s;
}

/** The auth, user and role ops (issue 17). */
function decodeAuthRequest(w: readonly unknown[], reqId: number, op: 'auth' | 'user' | 'role'): Request {
  switch (op) {
    case 'auth': {
      arity(w, 5, op);
      const user = text(w, 3, 'user');
      const pw = password(w, 4);
      if (user === '' ? pw !== '' : !isAuthName(user)) malformed(user === '' ? 'a certificate login has no password' : 'user must be 1..64 of [A-Za-z0-9_.@-]');
      if (user !== '' && pw === '') malformed('a password login needs a password');
      return { op, reqId, user, password: pw };
    }
    case 'user': {
      arity(w, 7, op);
      const action = USER_ACTIONS[uint(w, 3, 'user action')];
      if (action === undefined) malformed('user action must be 0 (list), 1 (add), 2 (delete), 3 (passwd), 4 (grant) or 5 (revoke)');
      const user = action === 'list' ? text(w, 4, 'user') : authName(w, 4, 'user');
      const pw = password(w, 5);
      const role = action === 'grant' || action === 'revoke' ? authName(w, 6, 'role') : text(w, 6, 'role');
      if (action === 'list' && user !== '') malformed('user list takes no user');
      if ((action !== 'add' && action !== 'passwd' && pw !== '') || (action === 'passwd' && pw === '')) malformed(`user ${action}: password`);
      if (action !== 'grant' && action !== 'revoke' && role !== '') malformed(`user ${action} takes no role`);
      return { op, reqId, action, user, password: pw, role };
    }
    case 'role': {
      arity(w, 6, op);
      const action = ROLE_ACTIONS[uint(w, 3, 'role action')];
      if (action === undefined) malformed('role action must be 0 (list), 1 (add), 2 (delete), 3 (grant) or 4 (revoke)');
      const role = action === 'list' ? text(w, 4, 'role') : authName(w, 4, 'role');
      if (action === 'list' && role !== '') malformed('role list takes no role');
      const perm = text(w, 5, 'permission');
      if (action !== 'grant' && action !== 'revoke') {
        if (perm !== '') malformed(`role ${action} takes no permission`);
        return { op, reqId, action, role, grant: null };
      }
      try {
        return { op, reqId, action, role, grant: parseGrant(perm) };
      } catch (err) {
        malformed((err as Error).message);
      }
    }
  }
}

/** Decodes and validates a request. Throws ClientError (MALFORMED or VERSION); never anything else. */
export function decodeRequest(frame: Uint8Array): Request {
  // Appends and rewrites in their canonical shape are read by hand (clientFastPath.ts).
  return tryDecodeAppendRequest(frame) ?? tryDecodeScheduleRequest(frame) ?? decodeRequestGeneral(frame);
}

/** decodeRequest without the hand-written fast path (the reference it is tested against). */
export function decodeRequestGeneral(frame: Uint8Array): Request {
  const w = scan(frame, 1);
  if (w.length < 3) malformed('a request is [version, reqId, op, ...]');
  const reqId = uint(w, 1, 'reqId');
  if (reqId < 1) malformed('reqId must be at least 1');
  const opCode = uint(w, 2, 'op');
  const op = OP_NAMES[opCode];
  if (op === undefined) malformed(`unknown op ${opCode}`);
  switch (op) {
    case 'register':
      arity(w, 3, 'register');
      return { op, reqId };
    case 'create':
      arity(w, 8, 'create');
      return { op, reqId, envelope: envelope(w, 3), topic: text(w, 7, 'topic') };
    case 'append':
    case 'rewrite':
      arity(w, 9, op);
      return { op, reqId, envelope: envelope(w, 3), session: id(w, 7, 'session'), bytes: bytes(w, 8, 'bytes') };
    case 'store': {
      arity(w, 10, 'store');
      return { op, reqId, envelope: envelope(w, 3), session: id(w, 7, 'session'), replay: replaySpec(w, 8) };
    }
    case 'schedule': {
      arity(w, 11, 'schedule');
      const env = envelope(w, 3);
      // Three commands, numbered seq .. seq + SCHEDULE_SEQS - 1: the last must still be a safe integer.
      if (env !== null && !Number.isSafeInteger(env.seq + (SCHEDULE_SEQS - 1))) malformed(`schedule seq + ${SCHEDULE_SEQS - 1} must be a safe integer`);
      return { op, reqId, envelope: env, topic: text(w, 7, 'topic'), bytes: bytes(w, 8, 'bytes'), replay: replaySpec(w, 9) };
    }
    case 'destroy':
      arity(w, 8, 'destroy');
      return { op, reqId, envelope: envelope(w, 3), session: id(w, 7, 'session') };
    case 'get':
    case 'peek':
      arity(w, 4, op);
      return { op, reqId, session: id(w, 3, 'session') };
    case 'list':
      arity(w, 5, 'list');
      return { op, reqId, topic: text(w, 3, 'topic'), limit: uint(w, 4, 'limit') };
    case 'subscribe':
      arity(w, 4, 'subscribe');
      return { op, reqId, topic: text(w, 3, 'topic') };
    case 'unsubscribe':
      arity(w, 4, 'unsubscribe');
      return { op, reqId, subId: uint(w, 3, 'subId') };
    case 'status':
      arity(w, 4, 'status');
      return { op, reqId, withDigest: bool(w, 3, 'withDigest') };
    case 'member': {
      arity(w, 6, 'member');
      const action = MEMBER_ACTIONS[uint(w, 3, 'member action')];
      if (action === undefined) malformed('member action must be 0 (list), 1 (add), 2 (promote) or 3 (remove)');
      const node = text(w, 4, 'node');
      const address = text(w, 5, 'address');
      // isNodeId, as the peer codec: a member named `constructor` or `__proto__` was taken here, and
      // every follower's codec then refused the appends carrying its configuration entry (TRANSPORT_ERR_SCHEMA):
      // nothing committed after it while that leader led.
      if (action === 'list' ? node !== '' : !isNodeId(node))
        malformed(action === 'list' ? 'member list takes no node' : 'node must match [A-Za-z0-9_.-]{1,64} and not be a name of Object.prototype');
      if (action === 'add' ? parseMemberAddress(address) === null : address !== '') {
        malformed(action === 'add' ? 'address must be host:raftPort:clientPort:adminPort' : `member ${action} takes no address`);
      }
      return { op, reqId, action, node, address };
    }
    case 'groupCreate':
      arity(w, 8, op);
      return {
        op,
        reqId,
        topic: text(w, 3, 'topic'),
        name: text(w, 4, 'name'),
        ackWaitMs: uint(w, 5, 'ackWaitMs'),
        maxDeliveries: uint(w, 6, 'maxDeliveries'),
        maxAckPending: uint(w, 7, 'maxAckPending'),
      };
    case 'groupDelete':
      arity(w, 5, op);
      return { op, reqId, topic: text(w, 3, 'topic'), name: text(w, 4, 'name') };
    case 'groups':
      arity(w, 3, op);
      return { op, reqId };
    case 'consume': {
      if (w.length !== 8) arity(w, 7, op);
      const consume = {
        op,
        reqId,
        topic: text(w, 3, 'topic'),
        group: text(w, 4, 'group'),
        consumer: text(w, 5, 'consumer'),
        maxAckPending: uint(w, 6, 'maxAckPending'),
      } as const;
      if (w.length === 7) return consume;
      if (!bool(w, 7, 'removeOnAck')) malformed('removeOnAck is true or absent');
      return { ...consume, removeOnAck: true };
    }
    case 'ack': {
      if (w.length !== 7) arity(w, 6, op);
      const ack = { op, reqId, subId: uint(w, 3, 'subId'), restoreId: id(w, 4, 'restoreId'), delivery: uint(w, 5, 'delivery') } as const;
      return w.length === 7 ? { ...ack, remove: id(w, 6, 'session') } : ack;
    }
    case 'acks': {
      if (w.length < 5) malformed('acks is [1, reqId, 26, subId, remove, restoreId, delivery, ...]');
      const subId = uint(w, 3, 'subId');
      const remove = bool(w, 4, 'remove');
      const stride = remove ? 3 : 2;
      const n = (w.length - 5) / stride;
      if (!Number.isInteger(n) || n < 1 || n > ACKS_PER_REQUEST_MAX)
        malformed(`acks carries 1..${ACKS_PER_REQUEST_MAX} acks of ${stride} items each, got ${w.length - 5} items`);
      const acks: AckItem[] = [];
      for (let i = 5; i < w.length; i += stride) {
        const restoreId = id(w, i, 'restoreId');
        const delivery = uint(w, i + 1, 'delivery');
        acks.push(remove ? { restoreId, delivery, remove: id(w, i + 2, 'session') } : { restoreId, delivery });
      }
      return { op, reqId, subId, acks };
    }
    case 'nack':
      arity(w, 7, op);
      return { op, reqId, subId: uint(w, 3, 'subId'), restoreId: id(w, 4, 'restoreId'), delivery: uint(w, 5, 'delivery'), delayMs: uint(w, 6, 'delayMs') };
    case 'auth':
    case 'user':
    case 'role':
      return decodeAuthRequest(w, reqId, op);
    case 'deadLetter': {
      arity(w, 7, op);
      const action = DEAD_LETTER_ACTIONS[uint(w, 3, 'deadLetter action')];
      if (action === undefined) malformed('deadLetter action must be 0 (replay) or 1 (delete)');
      return { op, reqId, action, topic: text(w, 4, 'topic'), group: text(w, 5, 'group'), restoreId: id(w, 6, 'restoreId') };
    }
    case 'feature': {
      arity(w, 5, op);
      const action = FEATURE_ACTIONS[uint(w, 3, 'feature action')];
      if (action === undefined) malformed('feature action must be 0 (list) or 1 (enable)');
      const name = text(w, 4, 'name');
      if (action === 'list' ? name !== '' : !FEATURE_NAME.test(name))
        malformed(action === 'list' ? 'feature list takes no name' : 'feature name must match [a-z][a-z0-9-]{0,63}');
      return { op, reqId, action, name };
    }
  }
}

// ---- node -> client ------------------------------------------------------------------------------

const V = CLIENT_PROTOCOL_VERSION;

export function encodeCommandResult(reqId: number, r: CommandReply): Uint8Array {
  const fast = encodeCommandResultFast(reqId, r.ok, r.code, r.value ?? EMPTY, r.index, r.term, r.duplicate);
  if (fast !== null) return fast;
  return encoder.encode([V, ReplyKind.result, reqId, r.ok, r.code, r.value ?? EMPTY, r.index, r.term, r.duplicate]);
}

export function encodeSessionResult(reqId: number, r: SessionReply): Uint8Array {
  return encoder.encode([V, ReplyKind.result, reqId, r.found, r.topic, r.records, r.appliedIndex]);
}

export function encodeListResult(reqId: number, r: ListReply): Uint8Array {
  const flat: unknown[] = [];
  for (const s of r.sessions) flat.push(s.id, s.topic, s.bytes, s.records);
  return encoder.encode([V, ReplyKind.result, reqId, flat, r.truncated]);
}

export function encodeResult(reqId: number, body: readonly unknown[]): Uint8Array {
  return encoder.encode([V, ReplyKind.result, reqId, ...body]);
}

export function encodeError(reqId: number, code: string, message: string, leader: string | null = null, leaderEndpoint: string | null = null): Uint8Array {
  return encoder.encode([V, ReplyKind.error, reqId, code, message, leader ?? '', leaderEndpoint ?? '']);
}

/** By hand (fastPath.ts): the same bytes as cbor-x writes for the array (property-tested). */
export function encodeGroupDelivery(d: Omit<GroupDeliveryFrame, 'kind'>): Uint8Array {
  return encodeGroupDeliveryFast(ReplyKind.groupDelivery, d.subId, utf8Of(d.topic), d.session, d.records, d.restoreId, d.delivery);
}

/** The general encoder's bytes for a group delivery (what encodeGroupDelivery must equal; tests). */
export function encodeGroupDeliveryGeneral(d: Omit<GroupDeliveryFrame, 'kind'>): Uint8Array {
  return encoder.encode([V, ReplyKind.groupDelivery, d.subId, d.topic, d.session, d.records, d.restoreId, d.delivery]);
}

export function encodeDelivery(d: Omit<DeliveryFrame, 'kind'>): Uint8Array {
  return encoder.encode([V, ReplyKind.delivery, d.subId, d.topic, d.session, d.records, d.restoreId, d.index]);
}

/** The welcome; with `batches` (only to a client that asked for them: an older one takes six items) a seventh item, 1. */
export function encodeWelcome(clusterId: string, nodeId: string, requestBytesMax: number, inflightMax: number, batches = false): Uint8Array {
  const w: unknown[] = [V, ReplyKind.welcome, clusterId, nodeId, requestBytesMax, inflightMax];
  if (batches) w.push(BATCH_WELCOME_ON);
  return encoder.encode(w);
}

export function encodeSubscriptionEnded(subId: number, code: string, message: string): Uint8Array {
  return encoder.encode([V, ReplyKind.subscriptionEnded, subId, code, message]);
}

function recordList(a: readonly unknown[], i: number, what: string): Uint8Array[] {
  const v = a[i];
  if (!Array.isArray(v)) malformed(`${what} must be an array`);
  for (let k = 0; k < v.length; k++) if (!(v[k] instanceof Uint8Array)) malformed(`${what}[${k}] must be a byte string`);
  return v as Uint8Array[];
}

/** Decodes a frame from a node. Throws ClientError (MALFORMED or VERSION). */
export function decodeServerFrame(frame: Uint8Array): ServerFrame {
  return tryDecodeCommandResult(frame) ?? decodeServerFrameGeneral(frame);
}

/** decodeServerFrame without the hand-written fast path (the reference it is tested against). */
export function decodeServerFrameGeneral(frame: Uint8Array): ServerFrame {
  const w = scan(frame, 2);
  const kind = uint(w, 1, 'kind');
  switch (kind) {
    case ReplyKind.result:
      if (w.length < 3) malformed('a result is [version, 0, reqId, ...]');
      return { kind: 'result', reqId: uint(w, 2, 'reqId'), body: w.slice(3) };
    case ReplyKind.error: {
      arity(w, 7, 'error');
      const leader = text(w, 5, 'leader');
      const endpoint = text(w, 6, 'leaderEndpoint');
      return {
        kind: 'error',
        reqId: uint(w, 2, 'reqId'),
        code: text(w, 3, 'code'),
        message: text(w, 4, 'message'),
        leader: leader === '' ? null : leader,
        leaderEndpoint: endpoint === '' ? null : endpoint,
      };
    }
    case ReplyKind.delivery:
      arity(w, 8, 'delivery');
      return {
        kind: 'delivery',
        subId: uint(w, 2, 'subId'),
        topic: text(w, 3, 'topic'),
        session: id(w, 4, 'session'),
        records: recordList(w, 5, 'records'),
        restoreId: id(w, 6, 'restoreId'),
        index: uint(w, 7, 'index'),
      };
    case ReplyKind.groupDelivery:
      arity(w, 8, 'groupDelivery');
      return {
        kind: 'groupDelivery',
        subId: uint(w, 2, 'subId'),
        topic: text(w, 3, 'topic'),
        session: id(w, 4, 'session'),
        records: recordList(w, 5, 'records'),
        restoreId: id(w, 6, 'restoreId'),
        delivery: uint(w, 7, 'delivery'),
      };
    case ReplyKind.welcome:
      if (w.length !== 7) arity(w, 6, 'welcome');
      return {
        kind: 'welcome',
        clusterId: text(w, 2, 'clusterId'),
        nodeId: text(w, 3, 'nodeId'),
        requestBytesMax: uint(w, 4, 'requestBytesMax'),
        inflightMax: uint(w, 5, 'inflightMax'),
        batches: w.length === 7 && uint(w, 6, 'batches') === BATCH_WELCOME_ON,
      };
    case ReplyKind.subscriptionEnded:
      arity(w, 5, 'subscriptionEnded');
      return { kind: 'subscriptionEnded', subId: uint(w, 2, 'subId'), code: text(w, 3, 'code'), message: text(w, 4, 'message') };
    default:
      malformed(`unknown frame kind ${kind}`);
  }
}

export function parseCommandReply(body: readonly unknown[]): CommandReply {
  arity(body, 6, 'command result');
  const value = bytes(body, 2, 'value');
  return {
    ok: bool(body, 0, 'ok'),
    code: text(body, 1, 'code'),
    value: value.length === 0 ? null : value,
    index: uint(body, 3, 'index'),
    term: uint(body, 4, 'term'),
    duplicate: bool(body, 5, 'duplicate'),
  };
}

/** One ack's answer in an `acks` answer: applied (taken or refused, as a command result) or failed as a request would. */
export type AckAnswer = { readonly applied: true; readonly ok: boolean; readonly code: string } | { readonly applied: false; readonly code: string };

/** An `acks` answer: per ack, in the request's order (status 1 taken, 0 refused, 2 failed), and its code. */
export function parseAcksReply(body: readonly unknown[], count: number): AckAnswer[] {
  arity(body, 2 * count, 'acks result');
  const out: AckAnswer[] = [];
  for (let i = 0; i < count; i++) {
    const status = uint(body, 2 * i, 'status');
    const code = text(body, 2 * i + 1, 'code');
    if (status > 2) malformed('an ack status is 0 (refused), 1 (taken) or 2 (failed)');
    out.push(status === 2 ? { applied: false, code } : { applied: true, ok: status === 1, code });
  }
  return out;
}

export function parseSessionReply(body: readonly unknown[]): SessionReply {
  arity(body, 4, 'session result');
  return { found: bool(body, 0, 'found'), topic: text(body, 1, 'topic'), records: recordList(body, 2, 'records'), appliedIndex: uint(body, 3, 'appliedIndex') };
}

export function parseListReply(body: readonly unknown[]): ListReply {
  arity(body, 2, 'list result');
  const flat = body[0];
  if (!Array.isArray(flat) || flat.length % 4 !== 0) malformed('list must be a flat array of (id, topic, bytes, records)');
  const sessions: ListedSession[] = [];
  for (let k = 0; k < flat.length; k += 4) {
    sessions.push({ id: id(flat, k, 'id'), topic: text(flat, k + 1, 'topic'), bytes: uint(flat, k + 2, 'bytes'), records: uint(flat, k + 3, 'records') });
  }
  return { sessions, truncated: bool(body, 1, 'truncated') };
}

export function parseUintReply(body: readonly unknown[], what: string): number {
  arity(body, 1, what);
  return uint(body, 0, what);
}

/** A member change's answer: the configuration entry (index, term). */
export function parseMemberChangeReply(body: readonly unknown[]): { index: number; term: number } {
  arity(body, 2, 'member change result');
  return { index: uint(body, 0, 'index'), term: uint(body, 1, 'term') };
}

export function parseJsonReply(body: readonly unknown[]): unknown {
  arity(body, 1, 'status');
  const b = bytes(body, 0, 'status');
  try {
    return JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) as unknown;
  } catch {
    malformed('status is not JSON');
  }
}

// ---- IDs and replay names ------------------------------------------------------------------------

export function idToHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** A 32-hex-digit ID (what the CLI prints) to its 16 bytes; throws CLIENT_ERR_BAD_ARGUMENT. */
export function idFromHex(s: string): Uint8Array {
  if (!/^[0-9a-fA-F]{32}$/.test(s)) throw new ClientError(ClientErrorCode.badArgument, `an ID is 32 hex digits, got ${JSON.stringify(s)}`);
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/**
 * A replay given as a class index (a number, or digits) or a delay name (`200ms`, `10s`, `1m`,
 * `10min`, `1h`). Delay names are resolved by the node against its configured classes.
 */
export function parseReplay(replay: number | string): ReplaySpec {
  if (typeof replay === 'number') {
    // A cluster has at most REPLAY_CLASSES_MAX (16) classes; the node says which it has. A bare
    // number past them is most likely a delay without its unit (2026-12-07: the message said 0..15
    // while 16..255 went through to the node).
    if (!Number.isInteger(replay) || replay < 0 || replay >= REPLAY_CLASSES_MAX)
      throw new ClientError(
        ClientErrorCode.badArgument,
        `a replay class is an integer 0..${REPLAY_CLASSES_MAX - 1}, got ${replay}${Number.isInteger(replay) && replay >= REPLAY_CLASSES_MAX ? ` (a delay needs its unit: ${replay}ms, ${replay}s)` : ''}`,
      );
    return { mode: 'class', value: replay };
  }
  const s = replay.trim();
  if (/^\d+$/.test(s)) return parseReplay(Number(s));
  const ms = parseDurationMs(s);
  if (ms === null)
    throw new ClientError(ClientErrorCode.badArgument, `replay must be a class index or a delay like 1s, 10s, 1m, 10m; got ${JSON.stringify(replay)}`);
  return { mode: 'delayMs', value: ms };
}

/** `250ms`, `1s`, `1.5s`, `1m`, `10min`, `1h` -> milliseconds; null when not a duration. */
export function parseDurationMs(s: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h)$/.exec(s.trim());
  if (m === null) return null;
  const n = Number(m[1]);
  const unit = m[2]!;
  const factor = unit === 'ms' ? 1 : unit === 's' || unit === 'sec' ? 1000 : unit === 'm' || unit === 'min' ? 60_000 : 3_600_000;
  const ms = Math.round(n * factor);
  return Number.isSafeInteger(ms) && ms >= 0 ? ms : null;
}

/** 1000 -> `1s`, 60000 -> `1m`, 250 -> `250ms`. */
export function formatDurationMs(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
