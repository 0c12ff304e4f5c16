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
  /** The node refused the connection: it has too many (connectionsMax), or the login: the user has too many (connectionsPerUserMax). */
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
  /** The node cut the connection: more than sendBufferedBytesMax of its answers waited for it to read. */
  slowReader: 'CLIENT_ERR_SLOW_READER',
  /**
   * The node's client connections together hold connectionsHeldBytesMax (answers not read, queued
   * deliveries, requests in flight): a request of the connection holding the most is refused, or
   * the connection holding the most is cut (counted; it sees a reset). Back off and retry.
   */
  nodeBusy: 'CLIENT_ERR_NODE_BUSY',
  /** A bug in the node (logged there). */
  internal: 'CLIENT_ERR_INTERNAL',
  /**
   * The envelope's secret is not the one the cluster holds for its client ID (a forged or corrupted
   * envelope): refused, nothing changed (the store's SESSIONS_ERR_CLIENT_AUTH).
   */
  clientAuth: 'CLIENT_ERR_AUTH',
  /** Issue 17: the cluster requires authentication and this connection has not authenticated (no credentials given). */
  authRequired: 'CLIENT_ERR_AUTH_REQUIRED',
  /** Issue 17: unknown user, wrong password, a certificate naming no user, or the user was removed or its password changed. */
  authFailed: 'CLIENT_ERR_AUTH_FAILED',
  /** Issue 17: too many failed logins from this address lately: wait before trying again. */
  authRateLimited: 'CLIENT_ERR_AUTH_RATE_LIMITED',
  /** Issue 17: the user has no permission for this request on this topic: refused, nothing reached the log. */
  permissionDenied: 'CLIENT_ERR_PERMISSION_DENIED',
  /** Issue 17: the envelope's client ID was registered by another user: refused, nothing changed. */
  clientOwner: 'CLIENT_ERR_CLIENT_OWNER',
  /** `user add` of a user that exists (use `user passwd` to change a password). */
  userExists: 'CLIENT_ERR_USER_EXISTS',
  /** The change would leave no user holding the admin role (nobody could administer the cluster). */
  lastAdmin: 'CLIENT_ERR_LAST_ADMIN',
  /** `feature enable` of a name this node does not know. */
  featureUnknown: 'CLIENT_ERR_FEATURE_UNKNOWN',
  /** The request needs a feature flag the cluster has not turned on (a rolling upgrade not finished): refused, nothing reached the log. */
  featureDisabled: 'CLIENT_ERR_FEATURE_DISABLED',
  /**
   * An ack or nack (or acks) names a consumer attachment of this connection that has ended (the node
   * ended it, or it was unsubscribed), as one sent while the node ended it: nothing taken. Send it
   * again through the consumer's current attachment (the client library does).
   */
  consumerEnded: 'CLIENT_ERR_CONSUMER_ENDED',
  // --- Raised by the client library ---
  /**
   * No definitive answer within the deadline. For a command the outcome is UNKNOWN: an attempt may
   * have been applied (or may still be); resending it as a new command may apply it twice.
   */
  timeout: 'CLIENT_ERR_TIMEOUT',
  /** None of the endpoints accepted a connection (the command was never sent). */
  unreachable: 'CLIENT_ERR_UNREACHABLE',
  /** The endpoint is not a sessionraft client port (a peer or admin port, another service, another cluster). */
  wrongEndpoint: 'CLIENT_ERR_WRONG_ENDPOINT',
  /**
   * TLS failed: the node's certificate is not trusted by the configured CA (or does not name the
   * host), the node requires TLS and the client spoke plain ws, or the node refused the client's certificate.
   */
  tls: 'CLIENT_ERR_TLS',
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
  CLIENT_ERR_TOO_MANY_CONNECTIONS:
    'the node has too many client connections, or this user has connectionsPerUserMax logged in on it: close idle clients, or use another node',
  CLIENT_ERR_NOT_LEADER: 'this node is not the leader: send the request to the leader endpoint given (the client library follows it)',
  CLIENT_ERR_NO_LEADER: 'no leader is known: wait for the election to end, and check that a majority of the nodes is up',
  CLIENT_ERR_UNKNOWN_OUTCOME: 'the command may or may not have been applied: retry it with the same seq (the client library does)',
  CLIENT_ERR_BUSY: 'the leader is overloaded or handing over leadership: back off and retry',
  CLIENT_ERR_UNAVAILABLE: 'this node is shutting down or stopped: use another endpoint',
  CLIENT_ERR_REPLAY_UNKNOWN: 'use a replay class index or one of the delays the cluster is configured with (see `sessionraft client status`)',
  CLIENT_ERR_SUBSCRIBER_OVERFLOW: 'the subscriber fell too far behind: consume deliveries faster, then subscribe again',
  CLIENT_ERR_SUBSCRIBER_STALLED:
    'the connection stopped reading its deliveries (subscriberBehindMsMax without progress): read the connection, then subscribe again',
  CLIENT_ERR_SLOW_READER: 'the node cut the connection: more than sendBufferedBytesMax of its answers waited for the client to read them; read the socket',
  CLIENT_ERR_NODE_BUSY:
    "the node's client connections together hold connectionsHeldBytesMax of answers not read and requests in flight, this one the most: read your answers, back off and retry (the client library does)",
  CLIENT_ERR_INTERNAL: 'a bug in the node: see its log',
  CLIENT_ERR_AUTH_REQUIRED:
    'the cluster requires a login: give a user and password (options user/password, SESSIONRAFT_USER/SESSIONRAFT_PASSWORD, --credentials-file) or a client certificate naming a user',
  CLIENT_ERR_AUTH_FAILED: 'login refused: check the user and password (or certificate); a removed user, or a changed password, ends earlier logins',
  CLIENT_ERR_AUTH_RATE_LIMITED: 'too many failed logins from this address: wait a few seconds, then log in with the right credentials',
  CLIENT_ERR_PERMISSION_DENIED: 'the user lacks the permission for this request and topic: ask an administrator (sessionraft role grant / user grant)',
  CLIENT_ERR_USER_EXISTS: 'the user exists: change its password with `sessionraft user passwd`',
  CLIENT_ERR_LAST_ADMIN: 'keep at least one user with the admin role: grant it to another user first',
  CLIENT_ERR_FEATURE_UNKNOWN: 'no feature flag of that name on this node: see `sessionraft client feature list`',
  CLIENT_ERR_FEATURE_DISABLED:
    'the cluster has not turned this feature on (an upgraded cluster): once every node runs this version, run `sessionraft client feature enable all`',
  CLIENT_ERR_CONSUMER_ENDED:
    "the consumer's attachment this answer named has ended (the node ended it, e.g. at a leader change): nothing was taken; send it again through the consumer's current attachment (the client library does)",
  CLIENT_ERR_CLIENT_OWNER: 'the client ID belongs to another user: register your own client (the library does so per client)',
  CLIENT_ERR_AUTH: 'the envelope does not carry the secret register gave for this client ID: nothing was applied; use the credential of your own registration',
  CLIENT_ERR_TIMEOUT:
    'no definitive answer in time; for a command the outcome is unknown (it may have been applied): read the state back before sending it again, or raise operationTimeoutMs so the library keeps retrying with the same seq; check that a majority of the nodes is up (sessionraft client status)',
  CLIENT_ERR_UNREACHABLE: 'no endpoint accepted a connection: check the endpoints (host:port of client ports) and that the nodes run',
  CLIENT_ERR_WRONG_ENDPOINT: 'the endpoint is not a sessionraft client port: use the clientPort of each node, not its raft or admin port',
  CLIENT_ERR_TLS:
    "TLS failed: give the CA that signed the node's certificate (tls.ca, --ca-file, SESSIONRAFT_CA_FILE), use wss:// endpoints or the tls option for a node that requires TLS, set tls.servername when the certificate names another host, and a client certificate from the node's --client-ca-file CA if it checks them",
  CLIENT_ERR_CLOSED: 'the client was closed: create a new one',
  CLIENT_ERR_BAD_ARGUMENT: 'fix the argument and call again',
  CLIENT_ERR_CONNECTION_LOST: 'the connection dropped: retry (the client library does)',
  SESSIONS_ERR_SESSION_UNKNOWN: 'no active session has this ID (it was stored, destroyed, or never created): check the ID',
  SESSIONS_ERR_CLIENT_UNKNOWN: 'the cluster forgot this client (evicted): the command was not applied; a new client registers again',
  SESSIONS_ERR_CLIENT_WINDOW: 'too many unacknowledged commands from this client: wait for answers before sending more',
  SESSIONS_ERR_CLIENT_AUTH: 'the envelope does not carry the secret register gave for this client ID: nothing was applied',
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

/**
 * Final codes of a command that was definitely NOT applied and may succeed if sent again as a new
 * command (a new call, so a new seq): the library reports these only when no attempt could have
 * reached a leader that proposed it, or when the cluster refused it before the log.
 */
const safeToResend: ReadonlySet<string> = new Set<string>([
  'CLIENT_ERR_NOT_LEADER',
  'CLIENT_ERR_NO_LEADER',
  'CLIENT_ERR_UNREACHABLE',
  'CLIENT_ERR_UNAVAILABLE',
  'CLIENT_ERR_BUSY',
  'CLIENT_ERR_NODE_BUSY',
  'CLIENT_ERR_TOO_MANY_IN_FLIGHT',
  'CLIENT_ERR_TOO_MANY_CONNECTIONS',
  'CLIENT_ERR_CONNECTION_LOST',
  'SESSIONS_ERR_PLANNER_BUSY',
  'SESSIONS_ERR_CLIENT_WINDOW',
  'SESSIONS_ERR_CLIENT_UNKNOWN',
]);

/** Final codes of a command whose outcome is unknown: it may have been applied, or may still be. */
const unknownOutcome: ReadonlySet<string> = new Set<string>(['CLIENT_ERR_UNKNOWN_OUTCOME', 'CLIENT_ERR_TIMEOUT']);

/**
 * Whether a command that failed with `code` (a ClientError's code, or the error itself) is safe to
 * send again as a NEW command: it was definitely not applied, and the cause is transient (no leader
 * yet, unreachable nodes, load, a forgotten client that the library registers anew). False for an
 * unknown outcome (see `isUnknownOutcome`: sending it again may apply it twice) and for definitive
 * answers (the cluster applied and rejected it, a bad request, a closed client).
 */
export function isRetryable(code: string | ClientError): boolean {
  return safeToResend.has(typeof code === 'string' ? code : code.code);
}

/**
 * Whether a command that failed with `code` may have been applied (CLIENT_ERR_UNKNOWN_OUTCOME,
 * CLIENT_ERR_TIMEOUT). Do not send it again as a new command: read the state back (get), or give
 * the library a longer operationTimeoutMs so that it keeps retrying with the same seq, which the
 * cluster answers from its client table if it was applied.
 */
export function isUnknownOutcome(code: string | ClientError): boolean {
  return unknownOutcome.has(typeof code === 'string' ? code : code.code);
}
