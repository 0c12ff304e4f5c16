/**
 * Stable error codes of the client protocol and the client library, each with a message that says
 * what to do. Callers switch on `code`, never on the message text. Results of commands that the
 * cluster applied and rejected keep the store's own codes (`SESSIONS_ERR_*`, docs/sessions.md).
 */

export const ClientErrorCode = {
  // --- Answered by a node ---
  /** The request frame does not match the protocol's schema (arity, types, sizes). */
  malformed: 'CLIENT_ERR_MALFORMED',
  /** The frame's protocol version is not the one this node speaks. */
  version: 'CLIENT_ERR_VERSION',
  /** A request frame larger than the node accepts (ws closes the connection with 1009). */
  frameTooLarge: 'CLIENT_ERR_FRAME_TOO_LARGE',
  /** More requests in flight on one connection than the node allows. */
  tooManyInFlight: 'CLIENT_ERR_TOO_MANY_IN_FLIGHT',
  /** More subscriptions on one connection than the node allows. */
  tooManySubscriptions: 'CLIENT_ERR_TOO_MANY_SUBSCRIPTIONS',
  /** The node refused the connection: it has too many. */
  tooManyConnections: 'CLIENT_ERR_TOO_MANY_CONNECTIONS',
  /** This node is not the leader; `leader` and `leaderEndpoint` say where to go. */
  notLeader: 'CLIENT_ERR_NOT_LEADER',
  /** No leader is known right now (an election is under way, or no quorum is up). */
  noLeader: 'CLIENT_ERR_NO_LEADER',
  /** The command may or may not have been applied: retry it with the same seq (never guess). */
  unknownOutcome: 'CLIENT_ERR_UNKNOWN_OUTCOME',
  /** The leader is shedding load (too much uncommitted, a transfer in progress): back off and retry. */
  busy: 'CLIENT_ERR_BUSY',
  /** The node is shutting down or has stopped (disk failure): use another endpoint. */
  unavailable: 'CLIENT_ERR_UNAVAILABLE',
  /** store(): the replay class or delay is not one the cluster is configured with. */
  replayUnknown: 'CLIENT_ERR_REPLAY_UNKNOWN',
  /** A subscriber fell too far behind its deliveries and was dropped. */
  subscriberOverflow: 'CLIENT_ERR_SUBSCRIBER_OVERFLOW',
  /** A subscriber's connection stopped reading its deliveries (behind in bytes, no progress for a time) and was dropped. */
  subscriberStalled: 'CLIENT_ERR_SUBSCRIBER_STALLED',
  /** A bug in the node (logged there). */
  internal: 'CLIENT_ERR_INTERNAL',
  // --- Raised by the client library ---
  /** No answer within the operation's deadline. */
  timeout: 'CLIENT_ERR_TIMEOUT',
  /** None of the endpoints accepted a connection. */
  unreachable: 'CLIENT_ERR_UNREACHABLE',
  /** The endpoint is not a sessionraft client port (a peer or admin port, another service, another cluster). */
  wrongEndpoint: 'CLIENT_ERR_WRONG_ENDPOINT',
  /** The client was closed. */
  closed: 'CLIENT_ERR_CLOSED',
  /** An argument the library refuses before sending (bad ID, unknown replay name...). */
  badArgument: 'CLIENT_ERR_BAD_ARGUMENT',
  /** The connection dropped while a request was in flight (retried internally). */
  connectionLost: 'CLIENT_ERR_CONNECTION_LOST',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** What a user should do about each code. */
const clientErrorHints: Readonly<Record<string, string>> = {
  CLIENT_ERR_MALFORMED: 'the request does not match the client protocol: use the sessionraft client library of the same version',
  CLIENT_ERR_VERSION: 'client and node speak different protocol versions: upgrade the older one',
  CLIENT_ERR_FRAME_TOO_LARGE: 'the request is larger than the node accepts (clientRequestBytesMax): send smaller records',
  CLIENT_ERR_TOO_MANY_IN_FLIGHT: 'too many requests in flight on one connection: wait for answers before sending more',
  CLIENT_ERR_TOO_MANY_SUBSCRIPTIONS: 'too many subscriptions on one connection: unsubscribe some, or use another client',
  CLIENT_ERR_TOO_MANY_CONNECTIONS: 'the node has too many client connections: close idle clients, or use another node',
  CLIENT_ERR_NOT_LEADER: 'this node is not the leader: send the request to the leader endpoint given (the client library follows it)',
  CLIENT_ERR_NO_LEADER: 'no leader is known: wait for the election to end, and check that a majority of the nodes is up',
  CLIENT_ERR_UNKNOWN_OUTCOME: 'the command may or may not have been applied: retry it with the same seq (the client library does)',
  CLIENT_ERR_BUSY: 'the leader is overloaded or handing over leadership: back off and retry',
  CLIENT_ERR_UNAVAILABLE: 'this node is shutting down or stopped: use another endpoint',
  CLIENT_ERR_REPLAY_UNKNOWN: 'use a replay class index or one of the delays the cluster is configured with (see `sessionraft client status`)',
  CLIENT_ERR_SUBSCRIBER_OVERFLOW: 'the subscriber fell too far behind: consume deliveries faster, then subscribe again',
  CLIENT_ERR_SUBSCRIBER_STALLED: 'the connection stopped reading its deliveries (subscriberBehindMsMax without progress): read the connection, then subscribe again',
  CLIENT_ERR_INTERNAL: 'a bug in the node: see its log',
  CLIENT_ERR_TIMEOUT: 'no answer in time: check that a majority of the nodes is up (sessionraft client status), or raise the timeout',
  CLIENT_ERR_UNREACHABLE: 'no endpoint accepted a connection: check the endpoints (host:port of client ports) and that the nodes run',
  CLIENT_ERR_WRONG_ENDPOINT: 'the endpoint is not a sessionraft client port: use the clientPort of each node, not its raft or admin port',
  CLIENT_ERR_CLOSED: 'the client was closed: create a new one',
  CLIENT_ERR_BAD_ARGUMENT: 'fix the argument and call again',
  CLIENT_ERR_CONNECTION_LOST: 'the connection dropped: retry (the client library does)',
  SESSIONS_ERR_SESSION_UNKNOWN: 'no active session has this ID (it was stored, destroyed, or never created): check the ID',
  SESSIONS_ERR_CLIENT_UNKNOWN: 'the cluster forgot this client (evicted): the command was not applied; a new client registers again',
  SESSIONS_ERR_CLIENT_WINDOW: 'too many unacknowledged commands from this client: wait for answers before sending more',
  SESSIONS_ERR_TOO_MANY_SESSIONS: 'the active-session limit is reached: store or destroy sessions first',
  SESSIONS_ERR_STORE_FULL: 'the active bytes limit is reached: store or destroy sessions first',
  SESSIONS_ERR_SESSION_TOO_LARGE: 'the session would exceed sessionBytesMax: rewrite it or store it',
  SESSIONS_ERR_SESSION_TOO_MANY_RECORDS: 'the session would exceed sessionRecordsMax: rewrite it or store it',
  SESSIONS_ERR_RECORD_TOO_LARGE: 'one record is larger than recordBytesMax: split it',
  SESSIONS_ERR_TOPIC_TOO_LONG: 'the topic is longer than topicBytesMax (UTF-8 bytes): use a shorter topic',
  SESSIONS_ERR_TOPIC_EMPTY: 'a topic must not be empty',
  SESSIONS_ERR_TOPIC_INVALID: 'a topic must be UTF-8 without control characters',
  SESSIONS_ERR_REPLAY_CLASS: 'the replay class is out of range: see the cluster replay classes (sessionraft client status)',
  SESSIONS_ERR_PLANNER_BUSY: 'the leader has too many stores waiting: back off and retry',
};

function hintOf(code: string): string {
  return clientErrorHints[code] ?? 'see docs/operations.md for this code';
}

/** An error of the client protocol or library, with a stable code and a hint in the message. */
export class ClientError extends Error {
  readonly code: string;
  /** For CLIENT_ERR_NOT_LEADER: the leader's node ID and client endpoint, when known. */
  readonly leader: string | null;
  readonly leaderEndpoint: string | null;
  /** What happened, without the code and the hint. */
  readonly detail: string;
  constructor(code: string, detail: string, leader: string | null = null, leaderEndpoint: string | null = null) {
    super(`${code}: ${detail}${detail.length > 0 ? ' — ' : ''}${hintOf(code)}`);
    this.name = 'ClientError';
    this.code = code;
    this.detail = detail;
    this.leader = leader;
    this.leaderEndpoint = leaderEndpoint;
  }
}

export function isClientError(err: unknown): err is ClientError {
  return err instanceof ClientError;
}

