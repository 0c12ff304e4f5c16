/**
 * The sessionraft client library.
 *
 *   const c = createClient({ endpoints: ['127.0.0.1:7101', '127.0.0.1:7102', '127.0.0.1:7103'] });
 *   const { id } = await c.createSession('orders');
 *   await c.append(id, 'first');
 *   await c.store(id, { replay: '10s' });
 *   const sub = await c.subscribe('orders', (d) => console.log(d.session, d.records));
 *   await c.close();
 *
 * It finds the leader (any endpoint answers NOT_LEADER with the leader's endpoint), follows
 * redirects, and retries with jittered backoff across endpoints until the operation's deadline.
 *
 * Exactly-once (Raft dissertation 6.3): the client registers once (ClientRegister gives its ID and
 * its secret, which every envelope carries as the proof that the ID is this client's), numbers
 * every command (seq 1, 2, ...) and sends it with `ackedBelowSeq`, the lowest seq still waiting for
 * an answer. A timeout, a lost connection, a leader change or UNKNOWN_OUTCOME is an unknown outcome:
 * the client sends the SAME command with the SAME seq again, and the cluster answers a retry of an
 * applied command from its client table without applying it twice. It never guesses an outcome.
 * When the cluster has forgotten the client (SESSIONS_ERR_CLIENT_UNKNOWN) on a command's only
 * attempt, the command is known not to have been applied; the error is returned and the next command
 * registers a new client.
 *
 * Honest failures (issue 14): once an attempt of a command may have reached a leader (it was written
 * to an open connection and not answered with a refusal that says it was not proposed), the command
 * can only fail with CLIENT_ERR_TIMEOUT (its deadline passed) or CLIENT_ERR_UNKNOWN_OUTCOME, never
 * with a code that reads as "not applied" (NO_LEADER, UNREACHABLE...). `isRetryable(code)` says which
 * final codes are safe to send again as a new command, `isUnknownOutcome(code)` which may have been
 * applied.
 */
import { isNodeId } from '../wire/nodeId.js';
import type { Logger } from 'pino';
import { formatMemberAddress, parseMemberAddress, type MemberAddress } from '../wire/address.js';
import { backoffDelayMs } from '../wire/backoff.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { FEATURE_NAME } from './features.js';
import { Connection, plainLoginRefusal, wasUnsent, type ClientTlsOptions, type RequestBody } from './connection.js';
import { checkCredentials, resolveCredentials, type Credentials } from './credentials.js';
import { GrantSyntaxError, isAuthName, parseGrant, type Grant } from '../commands/access.js';
import { NACK_DELAY_MS_MAX, SCHEDULE_SEQS } from '../commands/codec.js';
import {
  ACKS_PER_REQUEST_MAX,
  defaultClientProtocolLimits,
  idFromHex,
  idToHex,
  parseAcksReply,
  type AckAnswer,
  parseCommandReply,
  parseJsonReply,
  parseListReply,
  parseMemberChangeReply,
  parseReplay,
  parseSessionReply,
  parseUintReply,
  type CommandReply,
  type DeliveryFrame,
  type GroupDeliveryFrame,
  type WireEnvelope,
} from './protocol.js';

export { ClientError, ClientErrorCode, isClientError, isRetryable, isUnknownOutcome } from './errors.js';
export type { ClientTlsOptions } from './connection.js';

export interface ClientOptions {
  /**
   * Client endpoints of the cluster's nodes: `host:port` (or `ws://host:port`). At least one.
   * `wss://host:port` connects with TLS (as does the `tls` option, for every endpoint).
   */
  readonly endpoints: readonly string[];
  /** TLS (wss://) to every node: the CA of the nodes' certificates, a client certificate if asked. */
  readonly tls?: ClientTlsOptions;
  /**
   * Log in as this user with this password (issue 17) on every connection, before any request.
   * Without them: `credentialsFile`, else the environment (SESSIONRAFT_USER and SESSIONRAFT_PASSWORD,
   * or SESSIONRAFT_CREDENTIALS_FILE), else no login (an open cluster, or a client certificate naming the user).
   */
  readonly user?: string;
  readonly password?: string;
  /** A file with `user=NAME` and `password=SECRET` lines (transport/client/credentials.ts). */
  readonly credentialsFile?: string;
  /** Do not read credentials from the environment (tests, embedded clients). */
  readonly ignoreEnvironment?: boolean;
  /**
   * Send the password over plain ws:// to hosts beyond loopback (a trusted network, nodes run with
   * --insecure). Without it such a client is refused at creation (CLIENT_ERR_TLS), and a redirect to
   * such a host is not logged in to (since 2026-12-07). Default false.
   */
  readonly insecure?: boolean;
  /** When set, a node of another cluster counts as a wrong endpoint. */
  readonly clusterId?: string;
  /** One attempt's deadline: no answer by then is an unknown outcome, retried. Default 2,000 ms. */
  readonly requestTimeoutMs?: number;
  /** An operation's deadline over all its attempts. Default 30,000 ms. */
  readonly operationTimeoutMs?: number;
  /** WebSocket connect (and welcome) deadline. Default 2,000 ms. */
  readonly connectTimeoutMs?: number;
  /** Backoff between attempts: first delay and cap, jittered in [d/2, d]. Default 10 and 100 ms. */
  readonly backoffMsMin?: number;
  readonly backoffMsMax?: number;
  /** Commands in flight at once (pipelining window; the cluster remembers 256 per client). Default 128, at most 192. */
  readonly inflightCommandsMax?: number;
  /** Largest frame accepted from a node. Default 8 MiB. */
  readonly replyBytesMax?: number;
  /** Random RFC 6455 masks on request frames. Default false: an all-zero mask, no XOR pass (see clientConnection.ts). */
  readonly maskFrames?: boolean;
  /**
   * Batches (client/batch.ts): the requests of one turn go to a node in one WebSocket message, and
   * its replies come likewise. Default true; a node of an older version ignores the ask.
   */
  readonly batches?: boolean;
  readonly logger?: Logger;
  readonly random?: () => number;
}

export type SessionId = string;
export type Bytes = Uint8Array | string;

export interface CommandOutcome {
  /** The log entry the command became (0 when answered from the client table as a retry). */
  readonly index: number;
  readonly term: number;
  /** A retry answered from the client table (the command had been applied before). */
  readonly duplicate: boolean;
  /** How many attempts it took (1: no retry). */
  readonly attempts: number;
}

export interface CreatedSession extends CommandOutcome {
  readonly id: SessionId;
}

export interface SessionState {
  readonly id: SessionId;
  readonly topic: string;
  readonly records: Uint8Array[];
  /** The answering node's applied index when it read. */
  readonly appliedIndex: number;
}

export interface Delivery {
  readonly topic: string;
  readonly session: SessionId;
  readonly records: Uint8Array[];
  /** The SessionRestore's command ID: the idempotency key (a replay after a crash may deliver again). */
  readonly restoreId: string;
  readonly index: number;
  /** The node that delivered it. */
  readonly node: string | null;
}

/**
 * Refusals of an ack or nack (or acks) that took nothing because the attachment it went on cannot
 * take answers any more, and the consumer is moving on: the attachment ended (CONSUMER_ENDED), its
 * node is stopping (UNAVAILABLE: a graceful stop drains the port before it hands leadership over
 * and ends its consumers) or no longer leads (NOT_LEADER, NO_LEADER). Each goes again through the
 * consumer's next attachment (answerAgain).
 */
const ANSWER_MOVES: ReadonlySet<string> = new Set([
  ClientErrorCode.consumerEnded,
  ClientErrorCode.unavailable,
  ClientErrorCode.notLeader,
  ClientErrorCode.noLeader,
]);

/**
 * Refusals of an ack or nack that took nothing because the leader could not take a proposal just
 * then: a leadership transfer in progress (`member remove` of the leader, a graceful stop), a full
 * batch or too many entries uncommitted (BUSY), or the connection's requests in flight. Each goes
 * again after a backoff (backoffMsMin to backoffMsMax), through the consumer's attachment of that
 * time, for up to operationTimeoutMs from the first refusal, as other commands are retried
 * (2026-12-07: before, reported as final, and done work came back after its ack wait).
 */
const ANSWER_BUSY: ReadonlySet<string> = new Set([
  ClientErrorCode.busy,
  ClientErrorCode.nodeBusy,
  ClientErrorCode.tooManyInFlight,
  'SESSIONS_ERR_PLANNER_BUSY',
]);

/** Codes with which a node ends a consumer that attaching again could not cure: it ends for good. */
const ENDED_FOR_GOOD: ReadonlySet<string> = new Set([ClientErrorCode.permissionDenied, ClientErrorCode.authFailed, ClientErrorCode.authRequired]);

export interface SubscribeOptions {
  /** Subscribe on this endpoint only (else on any, moving on failure). */
  readonly endpoint?: string;
  /** The subscription ended (overflow) or moved to another node after a failure. */
  readonly onError?: (err: ClientError) => void;
}

/** A consumer group's delivery (issue 16). */
export interface GroupMessage {
  readonly topic: string;
  readonly group: string;
  readonly session: SessionId;
  readonly records: Uint8Array[];
  /** The SessionRestore's ID: the same on every delivery of this session; deduplicate by it for exactly once. */
  readonly restoreId: string;
  /** 1 for the first delivery to this group, then 2, 3, ... (redeliveries); a replayed dead letter's continue the count (with the replay-continues flag). */
  readonly delivery: number;
}

export interface ConsumeOptions {
  /** This consumer's name (1..64 bytes), the same across reconnections; default a random one. */
  readonly consumer?: string;
  /** At most this many unacknowledged deliveries to this consumer (default: the group's, 100). */
  readonly maxAckPending?: number;
  /**
   * When the handler throws, the session is redelivered after this delay (default 0; at most
   * NACK_DELAY_MS_MAX, 2^32 - 1 ms: consume() refuses a longer one, CLIENT_ERR_BAD_ARGUMENT).
   */
  readonly nackDelayMs?: number;
  /**
   * Remove on ack (BullMQ's `removeOnComplete`): when the handler resolves, the ack that settles the
   * delivery also removes the restored session, in the same log entry, as `destroy(m.session)` would
   * (a second ack, or a session not active, removes nothing). One request and one entry less per
   * message than destroy + ack. Needs `write` on the topic besides `consume`: without it `consume()`
   * is refused (CLIENT_ERR_PERMISSION_DENIED). Default false: the restored session stays active for
   * the handler's further appends or stores.
   */
  readonly removeOnAck?: boolean;
  /** The consumer moved to another node (leader change, lost connection), or could not. */
  readonly onError?: (err: ClientError) => void;
  /**
   * The node's answer to each ack (`ack` true) or nack: the applied result's code (`OK`, or
   * `OK_ALREADY_SETTLED` for a delivery already settled, `SESSIONS_ERR_DELIVERY_STALE`, ...) or an
   * error. CLIENT_ERR_UNKNOWN_OUTCOME (or CLIENT_ERR_TIMEOUT): it was sent and may have been taken
   * (the connection was lost or the client closed with it in flight, the answer could not be read);
   * if it was not, the session comes back after ackWaitMs. Any other error: not taken (never sent,
   * or refused before the log), and the session comes back after ackWaitMs. An answer refused
   * because its attachment could not take it any more (CLIENT_ERR_CONSUMER_ENDED, _UNAVAILABLE,
   * _NOT_LEADER, _NO_LEADER: the consumer is moving) is sent again through the next attachment, and
   * only that outcome is reported; one refused CLIENT_ERR_BUSY (a leadership transfer, a full batch;
   * also _TOO_MANY_IN_FLIGHT, SESSIONS_ERR_PLANNER_BUSY) is sent again after a backoff, for up to
   * operationTimeoutMs, and reported only then. For consumers that account for their work (the fault harness's
   * delivery checker).
   */
  readonly onAnswer?: (m: GroupMessage, ack: boolean, outcome: { readonly ok: boolean; readonly code: string } | ClientError) => void;
}

export interface ClientConsumer {
  readonly topic: string;
  readonly group: string;
  readonly consumer: string;
  /** True once closed, by `close()` or for good after a failed reattach (see ConsumeOptions.onError). */
  readonly closed: boolean;
  close(): Promise<void>;
}

/** A consumer group as `groups()` / `pending()` show it (issue 16): the leader's applied table, ages by its clock. */
export interface GroupPending {
  /** The group's ID (hex). */
  readonly id: string;
  readonly topic: string;
  readonly name: string;
  /** Restored and not delivered, nacked, or back after an expired deadline. */
  readonly ready: number;
  /** Of those, deliverable now (the rest wait for a nack's delay: `waiting`). */
  readonly readyNow: number;
  readonly waiting: number;
  readonly inFlight: number;
  /** In flight past the ack deadline: redelivered at the next tick. */
  readonly expired: number;
  /** Pending items delivered more than once. */
  readonly redelivered: number;
  /** Dead-lettered in all (a counter; replayed and deleted ones included). */
  readonly deadLettered: number;
  /** Dead letters now (the group keeps at most 1,000, the oldest dropped beyond: `deadDropped`); `dead` shows the newest 100. */
  readonly deadLetters: number;
  readonly deadDropped: number;
  readonly oldestPendingDueMs: number | null;
  readonly oldestPendingAgeMs: number | null;
  /** Sessions of the topic still scheduled, per replay class, with the class's next due time. */
  readonly scheduled: readonly { readonly replayClass: number; readonly sessions: number; readonly nextDueMs: number | null }[];
  /** False while the node is still counting the scheduled sessions (the first view starts it; a large store takes a while). */
  readonly scheduledComplete: boolean;
  readonly dead: readonly {
    readonly restoreId: string;
    readonly session: string;
    readonly deliveries: number;
    readonly index: number;
    /** False for a dead letter whose record was consumed (written before dead letters kept them): delete it. */
    readonly replayable: boolean;
  }[];
  readonly ackWaitMs: number;
  readonly maxDeliveries: number;
  readonly maxAckPending: number;
}

export interface GroupOptions {
  /** Redelivered after this long unacknowledged (default 30 s). */
  readonly ackWaitMs?: number;
  /** Dead-lettered after this many deliveries (default 5). */
  readonly maxDeliveries?: number;
  /** Unacknowledged deliveries per consumer (default 100). */
  readonly maxAckPending?: number;
}

export interface ClientSubscription {
  readonly topic: string;
  /** The endpoint it currently lives on. */
  readonly endpoint: string | null;
  /**
   * True once closed, by `close()` or for good: the node ended it (SubscribeOptions.onError gets
   * why), or subscribing again after a lost connection failed. While false, an onError is a move.
   */
  readonly closed: boolean;
  close(): Promise<void>;
}

/** The configuration in force, from the leader (`member list`). */
export interface MembersList {
  /** The node that answered (the leader). */
  readonly node: string;
  readonly leader: string | null;
  readonly term: number;
  readonly commitIndex: number;
  readonly lastIndex: number;
  readonly voters: string[];
  readonly learners: string[];
  /** Each member's address (host:raftPort:clientPort:adminPort) and its replication progress on the leader (lag = lastIndex - match). */
  readonly members: Record<
    string,
    { voter: boolean; address: string | null; self?: true; match?: number; next?: number; lag?: number; state?: string; recentActive?: boolean }
  >;
}

export interface MemberChangeOutcome {
  /** The configuration entry (0 when `alreadyApplied`). */
  readonly index: number;
  readonly term: number;
  /** A retry after an attempt of unknown outcome found the change already made. */
  readonly alreadyApplied: boolean;
  readonly attempts: number;
}

/** `replaceMember`: each of its steps (`promoted` absent when the old node was a learner). */
export interface MemberReplaceOutcome {
  readonly added: MemberChangeOutcome;
  readonly promoted?: MemberChangeOutcome;
  readonly removed: MemberChangeOutcome;
}

export interface CatchUpOptions {
  /** Promote once the learner's lag on the leader is at most this. Default 1,000 (the leader checks its own limit too). */
  readonly lagEntriesMax?: number;
  /** And once it holds at least this index (default: the commit index when the wait starts): caught up once. */
  readonly sinceIndex?: number;
  /** Give up (CLIENT_ERR_TIMEOUT, with the last match and lag) after this long. Default 60,000 ms. */
  readonly timeoutMs?: number;
  /** Poll the leader's progress this often. Default 100 ms. */
  readonly pollMs?: number;
}

/** A user as `users()` lists it (issue 17). */
export interface UserInfo {
  readonly user: string;
  /** Whether it has a password (else it logs in with a client certificate only). */
  readonly password: boolean;
  readonly roles: string[];
}

/** A role as `roles()` lists it: its permissions in text form (`write:orders/`, `read:*`, `admin`...). */
export interface RoleInfo {
  readonly role: string;
  readonly builtin: boolean;
  readonly permissions: string[];
}

export interface SessionraftClient {
  /** This client's ID (32 hex digits) once registered. */
  readonly clientId: string | null;
  /** The user this client logs in as (null: none, or a client certificate's). */
  readonly user: string | null;
  /** Users (issue 17; admin permission): list, add (no password: certificate only), delete, set a password, grant and revoke roles. */
  users(): Promise<UserInfo[]>;
  addUser(user: string, password?: string): Promise<CommandOutcome>;
  deleteUser(user: string): Promise<CommandOutcome>;
  /** Any user may change its own password; an admin anyone's. */
  setPassword(user: string, password: string): Promise<CommandOutcome>;
  grantRole(user: string, role: string): Promise<CommandOutcome>;
  revokeRole(user: string, role: string): Promise<CommandOutcome>;
  /** Roles and their permissions (`action[:prefix[:group]]`, access.ts). */
  roles(): Promise<RoleInfo[]>;
  addRole(role: string): Promise<CommandOutcome>;
  deleteRole(role: string): Promise<CommandOutcome>;
  grantPermission(role: string, permission: string): Promise<CommandOutcome>;
  revokePermission(role: string, permission: string): Promise<CommandOutcome>;
  createSession(topic: string): Promise<CreatedSession>;
  append(id: SessionId | Uint8Array, bytes: Bytes): Promise<CommandOutcome>;
  rewrite(id: SessionId | Uint8Array, bytes: Bytes): Promise<CommandOutcome>;
  /** Store the session for replay: a class index or a delay name the cluster has (`1s`, `10s`, `1m`...). */
  store(id: SessionId | Uint8Array, opts: { replay: number | string }): Promise<CommandOutcome>;
  /** createSession + append + store in one request (three commands, exactly once): the delayed-delivery job. */
  schedule(topic: string, bytes: Bytes, opts: { replay: number | string }): Promise<CreatedSession>;
  destroy(id: SessionId | Uint8Array): Promise<CommandOutcome>;
  /** A linearizable read (ReadIndex on the leader): null when no active session has this ID. */
  get(id: SessionId | Uint8Array): Promise<SessionState | null>;
  /** Active sessions (linearizable), optionally of one topic. */
  list(opts?: {
    topic?: string;
    limit?: number;
  }): Promise<{ sessions: { id: SessionId; topic: string; bytes: number; records: number }[]; truncated: boolean }>;
  /** One node's applied state of a session, without a read barrier (may be stale): for debugging and checks. */
  peek(id: SessionId | Uint8Array, opts: { endpoint: string }): Promise<SessionState | null>;
  subscribe(topic: string, handler: (d: Delivery) => void, opts?: SubscribeOptions): Promise<ClientSubscription>;
  /** Consumer groups (issue 16): a handler's resolve acks, a throw nacks. */
  consume(topic: string, group: string, handler: (m: GroupMessage) => unknown, opts?: ConsumeOptions): Promise<ClientConsumer>;
  createGroup(topic: string, name: string, opts?: GroupOptions): Promise<CommandOutcome>;
  deleteGroup(topic: string, name: string): Promise<void>;
  groups(): Promise<Record<string, unknown>[]>;
  pending(topic?: string, group?: string): Promise<GroupPending[]>;
  deadLetters(topic: string, group: string): Promise<GroupPending['dead']>;
  /** Feature flags: those the leader's version knows, and those on in the cluster (docs/sessions.md, "Feature flags"). */
  features(): Promise<{ supported: string[]; enabled: string[] }>;
  /** Turn a feature flag on for the whole cluster (`restore-ahead`, `remove-on-ack`, `due-floor-per-file`, `clients-per-user`, `last-admin`, `replay-continues`, `remove-own-restore`, `first-user-admin` or `all`); admin only; never turned off. */
  enableFeature(name: string): Promise<CommandOutcome>;
  /** A dead letter delivered again (maxDeliveries more times) to the group's consumers (DeadLetterReplay). */
  replayDeadLetter(topic: string, group: string, restoreId: SessionId | Uint8Array): Promise<CommandOutcome>;
  /** A dead letter dropped: the group settled it, SessionCommit follows once every group did (DeadLetterDelete). */
  deleteDeadLetter(topic: string, group: string, restoreId: SessionId | Uint8Array): Promise<CommandOutcome>;
  /** A node's status (its view of every node): of `endpoint`, or of whichever node answers. */
  status(opts?: { endpoint?: string; digest?: boolean }): Promise<unknown>;
  /** The configuration in force with each member's address and progress (from the leader). */
  members(): Promise<MembersList>;
  /**
   * Adds a node as a learner (it receives the log, does not vote) at `address`
   * (`host:raftPort:clientPort:adminPort`); with `promoteWhenCaughtUp`, promotes it once caught up.
   */
  addLearner(
    id: string,
    address: string | MemberAddress,
    opts?: { promoteWhenCaughtUp?: boolean | CatchUpOptions },
  ): Promise<MemberChangeOutcome & { promoted?: MemberChangeOutcome }>;
  /** Makes a learner a voter (the leader refuses MEMBERSHIP_LEARNER_BEHIND while it lags). */
  promote(id: string): Promise<MemberChangeOutcome>;
  /** Waits until a learner caught up (polling the leader's progress), then promotes it. */
  promoteWhenCaughtUp(id: string, opts?: CatchUpOptions): Promise<MemberChangeOutcome>;
  /** Removes a voter or a learner; removing the leader moves leadership first and retries at the new leader. */
  removeMember(id: string): Promise<MemberChangeOutcome>;
  /**
   * Replaces member `oldId` by a new node `newId` at `address`, one single-server change at a time,
   * so that a majority of every configuration on the way stays up even with `oldId` dead: adds
   * `newId` as a learner, promotes it once caught up (when `oldId` is a voter), then removes
   * `oldId` (the leader hands leadership over first if it is `oldId`). Each step that a retry
   * finds made already counts as done, so running it again after a failure finishes the job.
   */
  replaceMember(oldId: string, newId: string, address: string | MemberAddress, opts?: CatchUpOptions): Promise<MemberReplaceOutcome>;
  close(): Promise<void>;
}

export function createClient(opts: ClientOptions): SessionraftClient {
  return new Client(opts);
}

const utf8 = new TextEncoder();

/** Seqs from the oldest unanswered to the next one, at most (the cluster remembers 256 per client). */
const SEQ_SPAN_MAX = 192;

function toBytes(b: Bytes): Uint8Array {
  return typeof b === 'string' ? utf8.encode(b) : b;
}

/** A permission in text form (`write:orders/`, `consume:orders/:billing`, `admin`) to a Grant; CLIENT_ERR_BAD_ARGUMENT when it is not one. */
function grantOf(text: string): Grant {
  try {
    return parseGrant(text);
  } catch (err) {
    if (err instanceof GrantSyntaxError) throw new ClientError(ClientErrorCode.badArgument, err.message);
    throw err;
  }
}

function toId(id: SessionId | Uint8Array): Uint8Array {
  if (typeof id === 'string') return idFromHex(id);
  if (!(id instanceof Uint8Array) || id.length !== 16) throw new ClientError(ClientErrorCode.badArgument, 'a session ID is 16 bytes or 32 hex digits');
  return id;
}

export function normalizeEndpoint(e: string): string {
  const s = e
    .trim()
    .replace(/^wss?:\/\//, '')
    .replace(/\/+$/, '');
  // The port 1..65535 and a host a URL takes: until 2026-12-07 `h:0` waited for the whole deadline
  // and `h:99999` or `[::1:5` failed later as CLIENT_ERR_INTERNAL (exit 1; new URL threw).
  const port = /:(\d{1,5})$/.exec(s)?.[1];
  if (!/^[^\s/]+:\d{1,5}$/.test(s) || Number(port) < 1 || Number(port) > 65535 || !URL.canParse(`ws://${s}/`)) {
    throw new ClientError(ClientErrorCode.badArgument, `an endpoint is host:port (port 1-65535), got ${JSON.stringify(e)}`);
  }
  return s;
}

interface Registration {
  readonly id: Uint8Array;
  /** The secret the leader drew at register: every envelope carries it (the proof that `id` is ours). */
  readonly secret: Uint8Array;
  nextSeq: number;
  readonly outstanding: Set<number>;
  /** No seq below this is outstanding (seqs are issued in increasing order). */
  low: number;
}

/** The lowest seq still waiting for an answer (every answer below it is held by the client). */
function ackedBelowSeq(reg: Registration): number {
  // Amortized O(1): `low` only moves up, past seqs that were answered.
  while (reg.low < reg.nextSeq && !reg.outstanding.has(reg.low)) reg.low++;
  return reg.low;
}

interface ConsumerState {
  readonly topic: string;
  readonly group: string;
  readonly consumer: string;
  readonly handler: (m: GroupMessage) => unknown;
  readonly opts: ConsumeOptions;
  conn: Connection | null;
  subId: number;
  closed: boolean;
  /** Acks of this turn, sent together when it ends (queueAck). */
  acks: AckQueue | null;
  /** `acks` requests not answered yet (with their resends, for a node that refuses them): close() waits for them. */
  readonly ackRequests: Set<Promise<void>>;
  /** Answers of handlers that finished while the consumer had no attachment: sent once it attaches again (at most parkedAnswersMax). */
  readonly parked: (() => void)[];
  /** Answers waiting out a backoff after a BUSY refusal: run (as not sent) and their timers cleared at close. */
  readonly backingOff: Map<NodeJS.Timeout, () => void>;
  /**
   * Armed while answers the node refused on the current attachment wait for its end (answerAgain):
   * if the end has not come when it fires, the library ends that attachment itself and attaches again.
   */
  endOverdue: NodeJS.Timeout | null;
}

/**
 * Answers a consumer holds while it attaches again: one per delivery whose handler finished
 * meanwhile, so at most its deliveries in flight (maxAckPending, at most 65,535 per attachment);
 * past the bound an answer is reported as not sent (the item comes back at its deadline).
 */
const parkedAnswersMax = 65_536;

/** The consumer's endOverdue timer, cleared (a new attachment, or the consumer closed). */
function disarmEndOverdue(st: ConsumerState): void {
  if (st.endOverdue !== null) clearTimeout(st.endOverdue);
  st.endOverdue = null;
}

/** An ack waiting for the end of its turn. */
interface PendingAck {
  readonly m: GroupMessage;
  readonly restoreId: Uint8Array;
  readonly delivery: number;
  readonly session: Uint8Array;
  /** Answers it again through the consumer's attachment of that time (the one it went on had ended: CLIENT_ERR_CONSUMER_ENDED). */
  readonly again: () => void;
  /** Answers it again after a backoff (refused BUSY: ANSWER_BUSY), or reports `err` once operationTimeoutMs passed. */
  readonly busy: (err: ClientError) => void;
}

interface AckQueue {
  readonly conn: Connection;
  readonly subId: number;
  readonly items: PendingAck[];
}

/** Bytes of one ack in an `acks` frame at most (restore ID and session as 16-byte strings, a delivery number), and of its head. */
const ACK_BYTES_MAX = 2 * (2 + 16) + 9;
const ACKS_HEAD_BYTES_MAX = 32;

/**
 * Whether a connection's node takes `acks`: unknown until its first answer to one, and only one
 * is in flight until then (a node of an older version counts each as a bad frame, and closes the
 * connection after `badFramesMax`); 'probing' while it is. A node that says `unknown op` is
 * older: its acks go one by one from then on.
 */
const acksSupport = new WeakMap<Connection, 'probing' | 'yes' | 'no'>();

interface SubState {
  readonly topic: string;
  readonly handler: (d: Delivery) => void;
  readonly opts: SubscribeOptions;
  conn: Connection | null;
  subId: number;
  closed: boolean;
}

interface RunOptions {
  /** Only this endpoint (no redirects, no rotation). */
  readonly endpoint?: string;
  /** The request must reach the leader (follow NOT_LEADER). */
  readonly leader: boolean;
  /**
   * A replicated command (it changes the store): once an attempt may have reached a leader,
   * `uncertain` is set and no failure of the run may read as "not applied".
   */
  readonly command?: { uncertain: boolean };
  /** Told of every failed attempt (member changes: was an earlier outcome unknown?). */
  readonly onAttemptError?: (err: ClientError) => void;
  /**
   * Nothing the request does needs telling apart from not done: a read, or ClientRegister (a
   * spare registration is never used and ages out). Its run may end with a node's admission
   * refusal (REFUSED_AT_ADMISSION) as it is.
   */
  readonly noEffect?: true;
}

/** After an attempt of unknown outcome, the refusal a retry gets when the change was made. */
const ALREADY_MADE = { add: 'MEMBERSHIP_ALREADY_MEMBER', promote: 'MEMBERSHIP_ALREADY_VOTER', remove: 'MEMBERSHIP_NOT_MEMBER' } as const;

class Client implements SessionraftClient {
  private readonly endpoints: string[];
  private readonly requestTimeoutMs: number;
  private readonly operationTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly backoffMin: number;
  private readonly backoffMax: number;
  private readonly inflightCommandsMax: number;
  private readonly replyBytesMax: number;
  private readonly maskFrames: boolean;
  private readonly batches: boolean;
  private readonly clusterId: string | null;
  /** wss:// with these settings (the tls option, or {} when an endpoint says wss://); null: ws://. */
  private readonly tls: ClientTlsOptions | null;
  private readonly logger: Logger | undefined;
  private readonly random: () => number;
  /** The login of every connection (issue 17), or null. */
  private readonly credentials: Credentials | null;
  /** The login may go over plain ws:// beyond loopback (ClientOptions.insecure). */
  private readonly insecure: boolean;

  private readonly conns = new Map<string, Connection>();
  /** Where requests for the leader go: the last leader seen, or the next endpoint in rotation. */
  private target: string;
  private rotation = 0;
  private closed = false;
  /** Pending backoff sleeps: close() ends them at once. */
  private readonly sleeps = new Map<NodeJS.Timeout, () => void>();

  /** The registered client: its ID, its next seq, and its seqs waiting for an answer. */
  private reg: Registration | null = null;
  private registering: Promise<Registration> | null = null;
  private commandsInFlight = 0;
  /**
   * Commands holding a slot that have not taken their seq yet (the slot and the seq are taken in
   * different turns). The span check counts them: several waiters released by one answer would
   * otherwise each pass it against the same next seq and together run past the span (seen as
   * SESSIONS_ERR_CLIENT_WINDOW under overload, issue 16; test/transport/clientSeqSpan.test.ts).
   */
  private seqsUnnumbered = 0;
  private readonly commandWaiters: (() => void)[] = [];
  private readonly subs = new Set<SubState>();
  private readonly consumers = new Set<ConsumerState>();

  constructor(opts: ClientOptions) {
    if (!Array.isArray(opts.endpoints) || opts.endpoints.length === 0)
      throw new ClientError(ClientErrorCode.badArgument, 'endpoints must list at least one host:port');
    this.endpoints = [...new Set(opts.endpoints.map(normalizeEndpoint))];
    const num = (v: number | undefined, d: number, name: string): number => {
      const x = v ?? d;
      if (!Number.isSafeInteger(x) || x < 1) throw new ClientError(ClientErrorCode.badArgument, `${name} must be a positive integer, got ${x}`);
      return x;
    };
    this.requestTimeoutMs = num(opts.requestTimeoutMs, 2000, 'requestTimeoutMs');
    this.operationTimeoutMs = num(opts.operationTimeoutMs, 30_000, 'operationTimeoutMs');
    this.connectTimeoutMs = num(opts.connectTimeoutMs, 2000, 'connectTimeoutMs');
    this.backoffMin = num(opts.backoffMsMin, 10, 'backoffMsMin');
    this.backoffMax = num(opts.backoffMsMax, 100, 'backoffMsMax');
    this.inflightCommandsMax = Math.min(num(opts.inflightCommandsMax, 128, 'inflightCommandsMax'), SEQ_SPAN_MAX);
    this.replyBytesMax = num(opts.replyBytesMax, defaultClientProtocolLimits.replyBytesMax, 'replyBytesMax');
    this.clusterId = opts.clusterId ?? null;
    this.tls = opts.tls ?? (opts.endpoints.some((e) => /^\s*wss:\/\//.test(e)) ? {} : null);
    this.maskFrames = opts.maskFrames === true;
    this.batches = opts.batches !== false;
    this.logger = opts.logger;
    this.random = opts.random ?? Math.random;
    this.target = this.endpoints[0]!;
    this.credentials = resolveCredentials(opts, opts.ignoreEnvironment === true ? {} : process.env);
    this.insecure = opts.insecure === true;
    for (const e of this.endpoints) {
      const inClear = plainLoginRefusal(e, this.tls, this.credentials, this.insecure);
      if (inClear !== null) throw new ClientError(ClientErrorCode.tls, inClear);
    }
  }

  get user(): string | null {
    return this.credentials?.user ?? null;
  }

  // ---- users and roles (issue 17) ----------------------------------------------------------------

  async users(): Promise<UserInfo[]> {
    return (await this.run(() => ({ op: 'user', action: 'list', user: '', password: '', role: '' }), parseJsonReply, { leader: true })) as UserInfo[];
  }

  addUser(user: string, password = ''): Promise<CommandOutcome> {
    if (password !== '') checkCredentials(user, password);
    return this.authCommand({ op: 'user', action: 'add', user, password, role: '' });
  }

  deleteUser(user: string): Promise<CommandOutcome> {
    return this.authCommand({ op: 'user', action: 'delete', user, password: '', role: '' });
  }

  setPassword(user: string, password: string): Promise<CommandOutcome> {
    checkCredentials(user, password);
    return this.authCommand({ op: 'user', action: 'passwd', user, password, role: '' });
  }

  grantRole(user: string, role: string): Promise<CommandOutcome> {
    return this.authCommand({ op: 'user', action: 'grant', user, password: '', role });
  }

  revokeRole(user: string, role: string): Promise<CommandOutcome> {
    return this.authCommand({ op: 'user', action: 'revoke', user, password: '', role });
  }

  async roles(): Promise<RoleInfo[]> {
    return (await this.run(() => ({ op: 'role', action: 'list', role: '', grant: null }), parseJsonReply, { leader: true })) as RoleInfo[];
  }

  addRole(role: string): Promise<CommandOutcome> {
    return this.authCommand({ op: 'role', action: 'add', role, grant: null });
  }

  deleteRole(role: string): Promise<CommandOutcome> {
    return this.authCommand({ op: 'role', action: 'delete', role, grant: null });
  }

  grantPermission(role: string, permission: string): Promise<CommandOutcome> {
    return this.authCommand({ op: 'role', action: 'grant', role, grant: grantOf(permission) });
  }

  revokePermission(role: string, permission: string): Promise<CommandOutcome> {
    return this.authCommand({ op: 'role', action: 'revoke', role, grant: grantOf(permission) });
  }

  /**
   * One user or role change on the leader. These are idempotent in effect (a retry of a grant finds
   * it granted), so a retry after an unknown outcome is harmless; a refusal is thrown with its code.
   */
  private async authCommand(body: RequestBody): Promise<CommandOutcome> {
    if (body.op === 'user' && !isAuthName(body.user)) throw new ClientError(ClientErrorCode.badArgument, 'a user is 1..64 of [A-Za-z0-9_.@-]');
    if (body.op === 'user' && body.role !== '' && !isAuthName(body.role))
      throw new ClientError(ClientErrorCode.badArgument, 'a role is 1..64 of [A-Za-z0-9_.@-]');
    if (body.op === 'role' && !isAuthName(body.role)) throw new ClientError(ClientErrorCode.badArgument, 'a role is 1..64 of [A-Za-z0-9_.@-]');
    let attempts = 0;
    // After an attempt of unknown outcome (a password hash under load can outlast requestTimeoutMs),
    // the refusal a retry gets when the change was made counts as done (as for member changes).
    let uncertain = false;
    const action = 'action' in body ? String(body.action) : '';
    const alreadyMade = (
      body.op === 'user'
        ? { add: ClientErrorCode.userExists, delete: 'SESSIONS_ERR_USER_UNKNOWN', revoke: 'SESSIONS_ERR_ROLE_UNKNOWN' }
        : { delete: 'SESSIONS_ERR_ROLE_UNKNOWN', revoke: 'SESSIONS_ERR_PERMISSION_UNKNOWN' }
    )[action as 'delete'];
    const onAttemptError = (err: ClientError): void => {
      if (err.code === ClientErrorCode.unknownOutcome || err.code === ClientErrorCode.timeout || err.code === ClientErrorCode.connectionLost) uncertain = true;
    };
    let reply: CommandReply;
    try {
      reply = await this.run(
        () => {
          attempts++;
          return body;
        },
        parseCommandReply,
        { leader: true, onAttemptError },
      );
    } catch (err) {
      if (uncertain && err instanceof ClientError && err.code === alreadyMade) return { index: 0, term: 0, duplicate: true, attempts };
      throw err;
    }
    if (!reply.ok && uncertain && reply.code === alreadyMade) return { index: reply.index, term: reply.term, duplicate: true, attempts };
    if (!reply.ok) throw new ClientError(reply.code, `the cluster refused the change (entry ${reply.index})`);
    return { index: reply.index, term: reply.term, duplicate: reply.duplicate, attempts };
  }

  get clientId(): string | null {
    return this.reg === null ? null : idToHex(this.reg.id);
  }

  // ---- commands ---------------------------------------------------------------------------------

  async createSession(topic: string): Promise<CreatedSession> {
    if (typeof topic !== 'string' || topic.length === 0) throw new ClientError(ClientErrorCode.badArgument, 'a topic is a non-empty string');
    const { reply, attempts } = await this.command((envelope) => ({ op: 'create', envelope, topic }));
    return { id: idToHex(reply.value!), index: reply.index, term: reply.term, duplicate: reply.duplicate, attempts };
  }

  async append(id: SessionId | Uint8Array, bytes: Bytes): Promise<CommandOutcome> {
    const session = toId(id);
    const data = toBytes(bytes);
    return this.outcome(await this.command((envelope) => ({ op: 'append', envelope, session, bytes: data })));
  }

  async rewrite(id: SessionId | Uint8Array, bytes: Bytes): Promise<CommandOutcome> {
    const session = toId(id);
    const data = toBytes(bytes);
    return this.outcome(await this.command((envelope) => ({ op: 'rewrite', envelope, session, bytes: data })));
  }

  async store(id: SessionId | Uint8Array, opts: { replay: number | string }): Promise<CommandOutcome> {
    const session = toId(id);
    const replay = parseReplay(opts.replay);
    return this.outcome(await this.command((envelope) => ({ op: 'store', envelope, session, replay })));
  }

  /**
   * Creates a session on `topic` holding `bytes` and stores it for replay, in one request (three
   * commands: SessionCreate, SessionAppend, SessionStore; the leader proposes the append as soon as
   * the create is in its log). Resolves with the session's ID and the store's entry; a retry
   * finishes what an earlier attempt started, exactly once. When the append or the store is refused
   * after the create was applied, the error's message names the session, which stays active.
   */
  async schedule(topic: string, bytes: Bytes, opts: { replay: number | string }): Promise<CreatedSession> {
    if (typeof topic !== 'string' || topic.length === 0) throw new ClientError(ClientErrorCode.badArgument, 'a topic is a non-empty string');
    const data = toBytes(bytes);
    const replay = parseReplay(opts.replay);
    const { reply, attempts } = await this.command(
      (envelope) => ({ op: 'schedule', envelope, topic, bytes: data, replay }),
      SCHEDULE_SEQS,
      'the cluster refused a step of the schedule',
    );
    if (reply.value === null || reply.value.length !== 16)
      throw new ClientError(
        ClientErrorCode.version,
        `schedule answered a value of ${reply.value?.length ?? 0} bytes, not a session ID: a node of another version`,
      );
    return { id: idToHex(reply.value), index: reply.index, term: reply.term, duplicate: reply.duplicate, attempts };
  }

  async destroy(id: SessionId | Uint8Array): Promise<CommandOutcome> {
    const session = toId(id);
    return this.outcome(await this.command((envelope) => ({ op: 'destroy', envelope, session })));
  }

  private outcome(r: { reply: CommandReply; attempts: number }): CommandOutcome {
    return { index: r.reply.index, term: r.reply.term, duplicate: r.reply.duplicate, attempts: r.attempts };
  }

  /**
   * Registers (once), numbers the command, and runs it to a definitive outcome with one seq (`seqs`
   * in a row for a request of several commands: schedule's three; the envelope carries the first).
   */
  private async command(
    build: (envelope: WireEnvelope) => RequestBody,
    seqs = 1,
    refused = 'the cluster applied the command and rejected it',
  ): Promise<{ reply: CommandReply; attempts: number }> {
    // Fast paths without an extra promise hop: a free slot, an existing registration.
    if (!this.takeCommandSlot(seqs)) await this.commandSlot(seqs, Date.now() + this.operationTimeoutMs);
    let numbered = false;
    try {
      const reg = this.reg ?? (await this.register());
      const seq = reg.nextSeq;
      reg.nextSeq += seqs;
      for (let k = 0; k < seqs; k++) reg.outstanding.add(seq + k);
      this.seqsUnnumbered -= seqs;
      numbered = true;
      try {
        let attempts = 0;
        const state = { uncertain: false };
        const reply = await this.run(
          () => {
            attempts++;
            // Every attempt carries the same client, secret and seq; ackedBelowSeq may only have grown.
            return build({ client: reg.id, secret: reg.secret, seq, ackedBelowSeq: ackedBelowSeq(reg) });
          },
          parseCommandReply,
          { leader: true, command: state },
        );
        if (!reply.ok) {
          // Forgotten by the cluster (evicted): the next command registers anew.
          if (reply.code === 'SESSIONS_ERR_CLIENT_UNKNOWN' && this.reg === reg) {
            this.reg = null;
            this.registering = null;
          }
          // These two are decided before the client table records anything: this attempt was not
          // applied, but an earlier one of unknown outcome may have been (before the client was
          // forgotten), or may still be (a copy still on its way to a leader, for the window).
          if (state.uncertain && (reply.code === 'SESSIONS_ERR_CLIENT_UNKNOWN' || reply.code === 'SESSIONS_ERR_CLIENT_WINDOW')) {
            throw new ClientError(
              ClientErrorCode.unknownOutcome,
              `attempt ${attempts} was refused with ${reply.code}, and an earlier attempt may have been applied`,
            );
          }
          const made = reply.value !== null && reply.value.length === 16 ? `; session ${idToHex(reply.value)} was created and stays active` : '';
          throw new ClientError(reply.code, `${refused} (entry ${reply.index})${made}`);
        }
        return { reply, attempts };
      } finally {
        for (let k = 0; k < seqs; k++) reg.outstanding.delete(seq + k);
      }
    } finally {
      if (!numbered) this.seqsUnnumbered -= seqs;
      this.commandsInFlight--;
      // Every waiter checks its condition again (the seq span may have moved for all of them).
      if (this.commandWaiters.length > 0) for (const w of this.commandWaiters.splice(0)) w();
    }
  }

  /**
   * Waits for a pipelining slot. Two bounds: commands in flight, and the span of seqs the cluster
   * must remember for this client (from the oldest unanswered seq to the newest): one command stuck
   * in retries must not let the others run past the cluster's per-client window
   * (clientResultsMax, 256), which would refuse them with SESSIONS_ERR_CLIENT_WINDOW.
   */
  private async commandSlot(seqs: number, deadlineMs: number): Promise<void> {
    while (!this.takeCommandSlot(seqs)) {
      const leftMs = deadlineMs - Date.now();
      // Never sent: certainly not applied, and safe to send again (isRetryable). Until 2026-12-07 a
      // command waited for a slot without a deadline, then ran for a whole operationTimeoutMs of
      // its own, and could end as an unknown outcome long after its deadline (a review).
      if (leftMs <= 0) {
        throw new ClientError(
          ClientErrorCode.tooManyInFlight,
          `no pipelining slot freed up within operationTimeoutMs (${this.operationTimeoutMs} ms; inflightCommandsMax ${this.inflightCommandsMax}): the command was not sent`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, leftMs);
        this.commandWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (this.closed) throw new ClientError(ClientErrorCode.closed, 'the client was closed');
    }
  }

  /** Takes a pipelining slot for a command of `seqs` seqs if both bounds allow it now. */
  private takeCommandSlot(seqs: number): boolean {
    // The span counts the seqs not numbered yet also before registering (commands wait for it
    // unnumbered): with three-seq schedules, inflightCommandsMax alone let 384 seqs past the
    // cluster's window of 256 results on a fresh client (found in review).
    const numberedSpan = this.reg === null ? 0 : this.reg.nextSeq - ackedBelowSeq(this.reg);
    if (this.commandsInFlight >= this.inflightCommandsMax || numberedSpan + this.seqsUnnumbered + seqs > SEQ_SPAN_MAX) return false;
    this.commandsInFlight++;
    this.seqsUnnumbered += seqs;
    return true;
  }

  private register(): Promise<Registration> {
    if (this.reg !== null) return Promise.resolve(this.reg);
    if (this.registering === null) {
      // A retried ClientRegister may register twice: the spare client is never used and ages out.
      const p = this.run(() => ({ op: 'register' }) as RequestBody, parseCommandReply, { leader: true, noEffect: true }).then((reply) => {
        if (!reply.ok || reply.value === null) throw new ClientError(reply.code, 'ClientRegister was rejected');
        // The credential: the client ID (16 bytes) and the secret the leader drew (16 bytes).
        if (reply.value.length !== 32)
          throw new ClientError(
            ClientErrorCode.version,
            `register answered ${reply.value.length} bytes, not a client ID and secret (32): a node of another version`,
          );
        const reg: Registration = { id: reply.value.slice(0, 16), secret: reply.value.slice(16, 32), nextSeq: 1, outstanding: new Set(), low: 1 };
        this.reg = reg;
        this.logger?.debug({ client: idToHex(reg.id), index: reply.index }, 'client registered');
        return reg;
      });
      this.registering = p;
      p.catch(() => {
        if (this.registering === p) this.registering = null;
      });
    }
    return this.registering;
  }

  // ---- reads ------------------------------------------------------------------------------------

  async get(id: SessionId | Uint8Array): Promise<SessionState | null> {
    const session = toId(id);
    const r = await this.run(() => ({ op: 'get', session }), parseSessionReply, { leader: true, noEffect: true });
    return r.found ? { id: idToHex(session), topic: r.topic, records: r.records, appliedIndex: r.appliedIndex } : null;
  }

  async peek(id: SessionId | Uint8Array, opts: { endpoint: string }): Promise<SessionState | null> {
    const session = toId(id);
    const r = await this.run(() => ({ op: 'peek', session }), parseSessionReply, { leader: false, endpoint: normalizeEndpoint(opts.endpoint), noEffect: true });
    return r.found ? { id: idToHex(session), topic: r.topic, records: r.records, appliedIndex: r.appliedIndex } : null;
  }

  async list(
    opts: { topic?: string; limit?: number } = {},
  ): Promise<{ sessions: { id: SessionId; topic: string; bytes: number; records: number }[]; truncated: boolean }> {
    const topic = opts.topic ?? '';
    const limit = opts.limit ?? 0;
    const r = await this.run(() => ({ op: 'list', topic, limit }), parseListReply, { leader: true, noEffect: true });
    return { sessions: r.sessions.map((s) => ({ id: idToHex(s.id), topic: s.topic, bytes: s.bytes, records: s.records })), truncated: r.truncated };
  }

  async status(opts: { endpoint?: string; digest?: boolean } = {}): Promise<unknown> {
    const withDigest = opts.digest === true;
    return this.run(() => ({ op: 'status', withDigest }), parseJsonReply, {
      leader: false,
      ...(opts.endpoint !== undefined ? { endpoint: normalizeEndpoint(opts.endpoint) } : {}),
    });
  }

  // ---- membership -------------------------------------------------------------------------------

  async members(): Promise<MembersList> {
    return (await this.run(() => ({ op: 'member', action: 'list', node: '', address: '' }), parseJsonReply, { leader: true })) as MembersList;
  }

  async addLearner(
    id: string,
    address: string | MemberAddress,
    opts: { promoteWhenCaughtUp?: boolean | CatchUpOptions } = {},
  ): Promise<MemberChangeOutcome & { promoted?: MemberChangeOutcome }> {
    const text = typeof address === 'string' ? address : formatMemberAddress(address);
    if (parseMemberAddress(text) === null)
      throw new ClientError(ClientErrorCode.badArgument, `an address is host:raftPort:clientPort:adminPort, got ${JSON.stringify(text)}`);
    const added = await this.memberChange('add', id, text);
    const w = opts.promoteWhenCaughtUp;
    if (w === undefined || w === false) return added;
    // Caught up once: it holds at least the configuration entry that added it.
    const catchUp = w === true ? {} : w;
    const promoted = await this.promoteWhenCaughtUp(id, { ...(added.index > 0 ? { sinceIndex: added.index } : {}), ...catchUp });
    return { ...added, promoted };
  }

  promote(id: string): Promise<MemberChangeOutcome> {
    return this.memberChange('promote', id, '');
  }

  removeMember(id: string): Promise<MemberChangeOutcome> {
    return this.memberChange('remove', id, '');
  }

  async replaceMember(oldId: string, newId: string, address: string | MemberAddress, opts: CatchUpOptions = {}): Promise<MemberReplaceOutcome> {
    if (oldId === newId)
      throw new ClientError(
        ClientErrorCode.badArgument,
        `a node is replaced by a node with another ID (a node that lost its disk rejoins under a new identity), got ${JSON.stringify(oldId)} twice`,
      );
    const m = await this.members();
    const old = m.members[oldId];
    const done: MemberChangeOutcome = { index: 0, term: 0, alreadyApplied: true, attempts: 0 };
    if (old === undefined) {
      // Finished before (a retry after a failure in the last step) or a mistake.
      if (m.members[newId] !== undefined) return { added: done, removed: done };
      throw new ClientError('MEMBERSHIP_NOT_MEMBER', `${oldId} is not a member: nothing to replace`);
    }
    // Resumes where an earlier run stopped: the new node may be a learner or a voter already.
    const already = m.members[newId];
    if (already !== undefined && already.address !== null) {
      const want = typeof address === 'string' ? address : formatMemberAddress(address);
      if (already.address !== want) throw new ClientError(ClientErrorCode.badArgument, `${newId} is a member at ${already.address}, not ${want}`);
    }
    const added = already === undefined ? await this.addLearner(newId, address) : done;
    const sinceIndex = added.index > 0 ? { sinceIndex: added.index } : {};
    const promoted = old.voter && already?.voter !== true ? await this.promoteWhenCaughtUp(newId, { ...sinceIndex, ...opts }) : undefined;
    const removed = await this.removeMember(oldId);
    return { added, ...(promoted !== undefined ? { promoted } : {}), removed };
  }

  async promoteWhenCaughtUp(id: string, opts: CatchUpOptions = {}): Promise<MemberChangeOutcome> {
    const lagMax = opts.lagEntriesMax ?? 1000;
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const pollMs = opts.pollMs ?? 100;
    const deadline = Date.now() + timeoutMs;
    let since = opts.sinceIndex ?? null;
    let seen = 'no progress seen yet';
    for (;;) {
      if (this.closed) throw new ClientError(ClientErrorCode.closed, 'the client was closed');
      const m = await this.members();
      const p = m.members[id];
      if (p === undefined) throw new ClientError('MEMBERSHIP_NOT_MEMBER', `${id} is not a member (add it as a learner first)`);
      if (p.voter) return { index: 0, term: 0, alreadyApplied: true, attempts: 0 };
      since ??= m.commitIndex;
      if (p.match !== undefined && p.lag !== undefined) {
        seen = `match ${p.match} (needs ${since}), lag ${p.lag} (at most ${lagMax})`;
        if (p.match >= since && p.lag <= lagMax) {
          try {
            return await this.promote(id);
          } catch (err) {
            // The leader measures the lag itself; it may have grown since we looked.
            if (!(err instanceof ClientError) || err.code !== 'MEMBERSHIP_LEARNER_BEHIND') throw err;
            seen = err.detail;
          }
        }
      }
      if (Date.now() + pollMs > deadline) throw new ClientError(ClientErrorCode.timeout, `${id} did not catch up within ${timeoutMs} ms (${seen})`);
      await this.sleep(pollMs);
    }
  }

  /** One membership change, retried until a definitive answer; a retry that finds it made is a success. */
  private async memberChange(action: 'add' | 'promote' | 'remove', node: string, address: string): Promise<MemberChangeOutcome> {
    if (!isNodeId(node))
      throw new ClientError(
        ClientErrorCode.badArgument,
        `a node ID matches [A-Za-z0-9_.-]{1,64} and is not a name of Object.prototype (constructor, __proto__, ...), got ${JSON.stringify(node)}`,
      );
    let attempts = 0;
    let uncertain = false;
    const onAttemptError = (err: ClientError): void => {
      if (err.code === ClientErrorCode.unknownOutcome || err.code === ClientErrorCode.timeout || err.code === ClientErrorCode.connectionLost) uncertain = true;
    };
    try {
      const r = await this.run(
        () => {
          attempts++;
          return { op: 'member', action, node, address };
        },
        parseMemberChangeReply,
        { leader: true, onAttemptError },
      );
      return { index: r.index, term: r.term, alreadyApplied: false, attempts };
    } catch (err) {
      if (uncertain && err instanceof ClientError && err.code === ALREADY_MADE[action]) return { index: 0, term: 0, alreadyApplied: true, attempts };
      throw err;
    }
  }

  // ---- subscriptions ----------------------------------------------------------------------------

  async subscribe(topic: string, handler: (d: Delivery) => void, opts: SubscribeOptions = {}): Promise<ClientSubscription> {
    if (typeof topic !== 'string' || topic.length === 0) throw new ClientError(ClientErrorCode.badArgument, 'a topic is a non-empty string');
    const pinned = opts.endpoint !== undefined ? normalizeEndpoint(opts.endpoint) : undefined;
    const st: SubState = { topic, handler, opts: pinned !== undefined ? { ...opts, endpoint: pinned } : opts, conn: null, subId: 0, closed: false };
    await this.attach(st);
    // Ended by the node before the answer was read (attach told onError): nothing to keep.
    if (!st.closed) this.subs.add(st);
    return {
      topic,
      get endpoint() {
        return st.conn?.endpoint ?? null;
      },
      get closed() {
        return st.closed;
      },
      close: async () => {
        if (st.closed) return;
        st.closed = true;
        this.subs.delete(st);
        const conn = st.conn;
        st.conn = null;
        conn?.release(st.subId);
        if (conn !== null && !conn.closed) await conn.request({ op: 'unsubscribe', subId: st.subId }, this.requestTimeoutMs).catch(() => undefined);
      },
    };
  }

  // ---- consumer groups (issue 16) ------------------------------------------------------------------

  /** Create a consumer group on `topic` (leader); a group gets every session restored after it. */
  async createGroup(topic: string, name: string, opts: GroupOptions = {}): Promise<CommandOutcome> {
    // On the wire 0 means "the default": until 2026-12-07 an explicit 0 (`--ack-wait 0`) was sent as
    // such and the group got 30 s (5 deliveries, 100 pending) with no word.
    for (const [k, v] of Object.entries({ ackWaitMs: opts.ackWaitMs, maxDeliveries: opts.maxDeliveries, maxAckPending: opts.maxAckPending })) {
      // Whole numbers of at least 1 here; the node checks the upper bounds (SESSIONS_ERR_NUMBER_RANGE).
      if (v !== undefined && !(Number.isSafeInteger(v) && v >= 1)) {
        throw new ClientError(ClientErrorCode.badArgument, `${k} is a whole number of at least 1 (leave it out for the default), got ${v}`);
      }
    }
    const reply = await this.run(
      () => ({
        op: 'groupCreate',
        topic,
        name,
        ackWaitMs: opts.ackWaitMs ?? 0,
        maxDeliveries: opts.maxDeliveries ?? 0,
        maxAckPending: opts.maxAckPending ?? 0,
      }),
      parseCommandReply,
      { leader: true },
    );
    if (!reply.ok) throw new ClientError(reply.code, `group ${name} on ${topic}: ${reply.code}`);
    return { index: reply.index, term: reply.term, duplicate: reply.duplicate, attempts: 1 };
  }

  async deleteGroup(topic: string, name: string): Promise<void> {
    const reply = await this.run(() => ({ op: 'groupDelete', topic, name }), parseCommandReply, { leader: true });
    if (!reply.ok) throw new ClientError(reply.code, `group ${name} on ${topic}: ${reply.code}`);
  }

  /** Every group with its ready / in flight / redelivered / dead-lettered counts (the leader's applied table). */
  async groups(): Promise<Record<string, unknown>[]> {
    return (await this.run(() => ({ op: 'groups' }), parseJsonReply, { leader: true })) as Record<string, unknown>[];
  }

  /** Each group's pending work (`groups()` typed), of one topic and group when given. */
  async pending(topic?: string, group?: string): Promise<GroupPending[]> {
    const all = (await this.groups()) as unknown as GroupPending[];
    return all.filter((g) => (topic === undefined || g.topic === topic) && (group === undefined || g.name === group));
  }

  /** A group's most recent dead letters (newest last; at most 100). */
  async deadLetters(topic: string, group: string): Promise<GroupPending['dead']> {
    const [g] = await this.pending(topic, group);
    if (g === undefined) throw new ClientError('SESSIONS_ERR_GROUP_UNKNOWN', `no group ${group} on topic ${topic}`);
    return g.dead ?? [];
  }

  async replayDeadLetter(topic: string, group: string, restoreId: SessionId | Uint8Array): Promise<CommandOutcome> {
    return this.deadLetter('replay', topic, group, restoreId);
  }

  async deleteDeadLetter(topic: string, group: string, restoreId: SessionId | Uint8Array): Promise<CommandOutcome> {
    return this.deadLetter('delete', topic, group, restoreId);
  }

  /**
   * Feature flags (docs/sessions.md, "Feature flags"): those the leader's version knows and those on
   * in the cluster, as the leader applied them.
   */
  async features(): Promise<{ supported: string[]; enabled: string[] }> {
    return (await this.run(() => ({ op: 'feature', action: 'list', name: '' }), parseJsonReply, { leader: true })) as unknown as {
      supported: string[];
      enabled: string[];
    };
  }

  /**
   * Turn a feature flag on for the whole cluster (`restore-ahead`, `remove-on-ack`, `due-floor-per-file`, `clients-per-user`, `last-admin`, `replay-continues`, `remove-own-restore`, `first-user-admin`, or `all`), once
   * every node runs a version that knows it: a flag is never turned off. Needs the admin role.
   * Turning on a flag that is on changes nothing.
   */
  async enableFeature(name: string): Promise<CommandOutcome> {
    if (!FEATURE_NAME.test(name)) throw new ClientError(ClientErrorCode.featureUnknown, `no feature ${JSON.stringify(name)}`);
    const reply = await this.run(() => ({ op: 'feature', action: 'enable', name }), parseCommandReply, { leader: true });
    if (!reply.ok) throw new ClientError(reply.code, `feature ${name}: ${reply.code}`);
    return { index: reply.index, term: reply.term, duplicate: reply.duplicate, attempts: 1 };
  }

  /** A missing dead letter is SESSIONS_ERR_DEAD_LETTER_NOT_FOUND (a retry after a lost answer may get it: the first one applied). */
  private async deadLetter(action: 'replay' | 'delete', topic: string, group: string, restoreId: SessionId | Uint8Array): Promise<CommandOutcome> {
    const id = toId(restoreId);
    const reply = await this.run(() => ({ op: 'deadLetter', action, topic, group, restoreId: id }), parseCommandReply, { leader: true });
    if (!reply.ok) throw new ClientError(reply.code, `dead letter ${Buffer.from(id).toString('hex')} of group ${group} on ${topic}: ${reply.code}`);
    return { index: reply.index, term: reply.term, duplicate: reply.duplicate, attempts: 1 };
  }

  /**
   * Consume `topic` as a member of `group`: the handler's resolve acknowledges the session, a throw
   * (or a rejection) gives it back (nack) for redelivery. Survives leader changes and lost
   * connections by attaching again (what was in flight to this consumer's name comes back at once).
   */
  async consume(topic: string, group: string, handler: (m: GroupMessage) => unknown, opts: ConsumeOptions = {}): Promise<ClientConsumer> {
    const consumer = opts.consumer ?? `c-${Math.random().toString(36).slice(2, 12)}`;
    if (opts.nackDelayMs !== undefined && !(opts.nackDelayMs >= 0 && opts.nackDelayMs <= NACK_DELAY_MS_MAX)) {
      throw new ClientError(ClientErrorCode.badArgument, `nackDelayMs must be 0 to ${NACK_DELAY_MS_MAX}, got ${opts.nackDelayMs}`);
    }
    const st: ConsumerState = {
      topic,
      group,
      consumer,
      handler,
      opts,
      conn: null,
      subId: 0,
      closed: false,
      acks: null,
      ackRequests: new Set(),
      parked: [],
      endOverdue: null,
      backingOff: new Map(),
    };
    await this.attachConsumer(st);
    if (!st.closed) this.consumers.add(st);
    return {
      topic,
      group,
      consumer,
      get closed() {
        return st.closed;
      },
      close: async () => {
        if (st.closed) return;
        // Acks of this turn leave first, ahead of the unsubscribe on the same connection.
        const q = st.acks;
        st.acks = null;
        if (q !== null) this.flushAcks(st, q, true);
        st.closed = true;
        this.consumers.delete(st);
        this.dropParked(st);
        const conn = st.conn;
        // An `acks` still unanswered goes ahead of the unsubscribe: refused by an older node, its
        // acks are sent again one by one, and they must reach the node while the consumer is there.
        // Each request ends by its own deadline at the latest.
        if (st.ackRequests.size > 0) await Promise.allSettled([...st.ackRequests]);
        st.conn = null;
        conn?.release(st.subId);
        if (conn !== null && !conn.closed) await conn.request({ op: 'unsubscribe', subId: st.subId }, this.requestTimeoutMs).catch(() => undefined);
      },
    };
  }

  private async attachConsumer(st: ConsumerState): Promise<void> {
    let conn: Connection | null = null;
    const subId = await this.run(
      () => ({
        op: 'consume',
        topic: st.topic,
        group: st.group,
        consumer: st.consumer,
        maxAckPending: st.opts.maxAckPending ?? 0,
        ...(st.opts.removeOnAck === true ? { removeOnAck: true } : {}),
      }),
      (body) => parseUintReply(body, 'subId'),
      { leader: true },
      (c) => {
        conn = c;
      },
    );
    const c = conn as Connection | null;
    // Closed while it attached (close() found no attachment to end): end this one at the node, or
    // it would hold deliveries that nobody handles until their deadlines (a review, 2026-12-07).
    if (st.closed) return this.unsubscribeLate(c, subId);
    st.conn = c;
    st.subId = subId;
    const ended =
      c?.claim(subId, (d) => {
        if (d.kind === 'groupDelivery') this.consumeOne(st, c, subId, d);
      }) ?? null;
    if (ended !== null) return this.consumerEnded(st, ended);
    // Answers of handlers that finished while it had no attachment go through this one.
    disarmEndOverdue(st);
    for (const f of st.parked.splice(0)) f();
  }

  /** An attachment made for a subscription or consumer closed meanwhile: the node ends it (best effort). */
  private unsubscribeLate(c: Connection | null, subId: number): void {
    if (c !== null && !c.closed) void c.request({ op: 'unsubscribe', subId }, this.requestTimeoutMs).catch(() => undefined);
  }

  /**
   * The node ended consumer `st`'s attachment: it attaches again (leadership moved), unless the end
   * is one attaching again cannot cure (a permission lost), when it ends for good, as a subscription does.
   */
  private consumerEnded(st: ConsumerState, err: ClientError): void {
    if (ENDED_FOR_GOOD.has(err.code)) {
      st.conn = null;
      st.closed = true;
      this.consumers.delete(st);
      this.dropParked(st);
      st.opts.onError?.(err);
      return;
    }
    this.reattachConsumer(st, err);
  }

  /** The node ended subscription `st`: it ends for good, and says why. */
  private subscriptionEnded(st: SubState, err: ClientError): void {
    st.conn = null;
    st.closed = true;
    this.subs.delete(st);
    st.opts.onError?.(err);
  }

  private consumeOne(st: ConsumerState, conn: Connection, subId: number, d: GroupDeliveryFrame): void {
    if (st.closed) return;
    const m: GroupMessage = {
      topic: d.topic,
      group: st.group,
      session: idToHex(d.session),
      records: d.records,
      restoreId: idToHex(d.restoreId),
      delivery: d.delivery,
    };
    const answer = (ok: boolean): void => {
      if (st.closed) return this.tellAnswer(st, m, ok, new ClientError(ClientErrorCode.closed, 'the consumer was closed before its answer was sent'));
      // Answered through the consumer's attachment now, which may not be the one the delivery came
      // on (the node ended it, or the connection dropped, and the consumer attached again): an ack
      // of any delivery made so far settles the item, a stale nack changes nothing, and a last
      // allowed delivery stays acknowledgeable until its deadline. While it has none, the answer
      // waits for the next one (2026-12-07; before, such answers were dropped).
      const now = st.conn;
      if (now === null || now.closed) {
        if (st.parked.length >= parkedAnswersMax) {
          return this.tellAnswer(
            st,
            m,
            ok,
            new ClientError(ClientErrorCode.connectionLost, 'the consumer had no connection and too many answers waiting for one'),
          );
        }
        st.parked.push(() => answer(ok));
        return;
      }
      const sub = st.subId;
      const again = (): void => answer(ok);
      const busy = (err: ClientError): void => busyAgain(ok, err);
      if (ok) return this.queueAck(st, now, sub, { m, restoreId: d.restoreId, delivery: d.delivery, session: d.session, again, busy });
      this.sendAnswer(
        st,
        now,
        m,
        false,
        {
          op: 'nack',
          subId: sub,
          restoreId: d.restoreId,
          delivery: d.delivery,
          delayMs: st.opts.nackDelayMs ?? 0,
        },
        again,
        busy,
      );
    };
    // Refused BUSY (nothing taken): again after a backoff, within operationTimeoutMs of the first refusal.
    let busyTries = 0;
    let busySinceMs = 0;
    const busyAgain = (ok: boolean, err: ClientError): void => {
      const nowMs = Date.now();
      if (busyTries === 0) busySinceMs = nowMs;
      if (st.closed || nowMs - busySinceMs >= this.operationTimeoutMs) return this.tellAnswer(st, m, ok, err);
      const again = (): void => answer(ok);
      const timer = setTimeout(
        () => {
          st.backingOff.delete(timer);
          again();
        },
        backoffDelayMs(busyTries++, this.backoffMin, this.backoffMax, this.random),
      );
      st.backingOff.set(timer, again);
    };
    Promise.resolve()
      .then(() => st.handler(m))
      .then(
        () => answer(true),
        (err: unknown) => {
          this.logger?.warn({ err, topic: d.topic }, 'consumer handler threw: nack');
          answer(false);
        },
      );
  }

  /**
   * One ack or nack in a request of its own; its answer goes to `onAnswer`, but for a refusal that
   * says the attachment it named had ended (it crossed the end on the wire): then `again` answers
   * through the consumer's attachment of that time.
   */
  private sendAnswer(
    st: ConsumerState,
    conn: Connection,
    m: GroupMessage,
    ok: boolean,
    req: RequestBody & { subId: number },
    again: () => void,
    busy: (err: ClientError) => void,
  ): void {
    conn.request(req, this.requestTimeoutMs).then(
      (body) => {
        if (st.opts.onAnswer === undefined) return;
        let r: CommandReply;
        try {
          r = parseCommandReply(body);
        } catch (err) {
          this.warn({ err, topic: m.topic }, 'ack or nack answer not understood');
          return this.tellAnswer(st, m, ok, unreadableAnswer(err));
        }
        this.tellAnswer(st, m, ok, { ok: r.ok, code: r.code });
      },
      (err: unknown) => {
        if (err instanceof ClientError && ANSWER_MOVES.has(err.code)) return this.answerAgain(st, conn, req.subId, m, ok, again);
        if (err instanceof ClientError && ANSWER_BUSY.has(err.code)) return busy(err);
        this.warn({ err, topic: m.topic }, 'ack or nack failed');
        this.tellAnswer(st, m, ok, answerFailure(err));
      },
    );
  }

  /**
   * The node took nothing of an answer sent on attachment (conn, subId) because that attachment
   * cannot take answers any more (ANSWER_MOVES: it ended while the answer was on its way, as at a
   * leader change, or its node is stopping or no longer leads). It goes again through the
   * consumer's attachment now; through none while that is still the refused one (its end is still
   * on its way) or there is none: it waits for the next one, as the answers of handlers that finish
   * without an attachment do. An ack of any delivery made so
   * far settles its item and a second one settles nothing more, so a resent ack is never counted
   * twice; a stale nack changes nothing (docs/sessions.md, Consumer groups).
   */
  private answerAgain(st: ConsumerState, conn: Connection, subId: number, m: GroupMessage, ok: boolean, again: () => void): void {
    if (st.closed || st.conn !== conn || st.subId !== subId) return again();
    if (st.parked.length >= parkedAnswersMax) {
      return this.tellAnswer(st, m, ok, new ClientError(ClientErrorCode.consumerEnded, 'the attachment ended and too many answers wait for the next one'));
    }
    st.parked.push(again);
    if (st.endOverdue === null) st.endOverdue = setTimeout(() => this.endOverdue(st, conn, subId), this.requestTimeoutMs);
  }

  /**
   * The node refused answers on attachment (conn, subId) as one that cannot take them, and its end
   * did not follow within requestTimeoutMs: the library ends it (unsubscribe, best effort) and
   * attaches again, and the answers waiting go through the new attachment. Until 2026-12-07 they
   * waited for that end for good: a node that no longer led but kept the attachment (a review)
   * held them, and their items came back at their deadlines though the work was done.
   */
  private endOverdue(st: ConsumerState, conn: Connection, subId: number): void {
    st.endOverdue = null;
    if (st.closed || st.conn !== conn || st.subId !== subId) return;
    conn.release(subId);
    this.unsubscribeLate(conn, subId);
    this.reattachConsumer(
      st,
      new ClientError(
        ClientErrorCode.consumerEnded,
        `the node refused answers on consumer ${subId} and did not end it within ${this.requestTimeoutMs} ms: attaching again`,
      ),
    );
  }

  /**
   * A consumer that closed (or could not attach again): the answers it held, parked or waiting out
   * a backoff, were never sent, and say so now (their timers cleared, so none keeps the process up).
   */
  private dropParked(st: ConsumerState): void {
    disarmEndOverdue(st);
    // Each one, run now that the consumer is closed, reports itself as not sent.
    for (const f of st.parked.splice(0)) f();
    for (const [timer, f] of st.backingOff) {
      clearTimeout(timer);
      f();
    }
    st.backingOff.clear();
  }

  /** An ack's or nack's outcome to the consumer's `onAnswer`, which must not break the caller by throwing. */

  private tellAnswer(st: ConsumerState, m: GroupMessage, ok: boolean, outcome: { ok: boolean; code: string } | ClientError): void {
    try {
      st.opts.onAnswer?.(m, ok, outcome);
    } catch (err) {
      this.warn({ err, topic: m.topic }, 'onAnswer threw');
    }
  }

  /** A warning from the consumer's answer paths: a logger that throws must not cost an ack its report. */
  private warn(obj: Record<string, unknown>, msg: string): void {
    try {
      this.logger?.warn(obj, msg);
    } catch {
      // The report matters more than the log line.
    }
  }

  /**
   * Acks of one consumer made together (the handlers of the deliveries of one read) leave together, in `acks` requests of
   * up to ACKS_PER_REQUEST_MAX (2026-12-05): one request, one answer and one frame each way for a
   * turn's acks instead of one per delivery. A lone ack goes as `ack`, as before.
   */
  private queueAck(st: ConsumerState, conn: Connection, subId: number, a: PendingAck): void {
    let q = st.acks;
    if (q === null || q.conn !== conn || q.subId !== subId) {
      if (q !== null) this.flushAcks(st, q);
      q = st.acks = { conn, subId, items: [] };
      const queued = q;
      // A microtask: behind the answers already queued (the handlers of one read's deliveries run
      // in step), and ahead of the end of the turn, so the acks leave with the turn's other frames.
      queueMicrotask(() => {
        if (st.acks === queued) st.acks = null;
        this.flushAcks(st, queued);
      });
    }
    q.items.push(a);
  }

  /**
   * Sends a queue's acks. `closing`: an unsubscribe follows at once on the same connection, so
   * unless the node is known to take `acks`, they go one by one (a probe refused by an older node
   * would be answered after the unsubscribe, too late to resend them).
   */
  private flushAcks(st: ConsumerState, q: AckQueue, closing = false): void {
    const items = q.items.splice(0);
    if (items.length === 0) return;
    if ((st.closed && !closing) || q.conn.closed || st.conn !== q.conn) {
      // Never sent: certainly not taken (the sessions come back after ackWaitMs); still reported.
      const e = st.closed
        ? new ClientError(ClientErrorCode.closed, 'the consumer was closed before its ack was sent')
        : new ClientError(ClientErrorCode.connectionLost, "the consumer's connection was lost before its ack was sent");
      for (const a of items) this.tellAnswer(st, a.m, true, e);
      return;
    }
    const remove = st.opts.removeOnAck === true;
    const conn = q.conn;
    const single = (a: PendingAck): void =>
      this.sendAnswer(
        st,
        conn,
        a.m,
        true,
        remove
          ? { op: 'ack', subId: q.subId, restoreId: a.restoreId, delivery: a.delivery, remove: a.session }
          : { op: 'ack', subId: q.subId, restoreId: a.restoreId, delivery: a.delivery },
        a.again,
        a.busy,
      );
    const support = acksSupport.get(conn);
    if (items.length === 1 || (support !== 'yes' && (closing || support !== undefined))) return items.forEach(single);
    const tell = (a: PendingAck, outcome: { ok: boolean; code: string } | ClientError): void => this.tellAnswer(st, a.m, true, outcome);
    // Cut to the node's request limit: an ack is at most ACK_BYTES_MAX of the frame.
    const perRequest = Math.min(ACKS_PER_REQUEST_MAX, Math.floor((conn.requestBytesMax - ACKS_HEAD_BYTES_MAX) / ACK_BYTES_MAX));
    if (perRequest < 2) return items.forEach(single);
    for (let from = 0; from < items.length; from += perRequest) {
      const chunk = items.slice(from, from + perRequest);
      if (acksSupport.get(conn) === undefined) acksSupport.set(conn, 'probing');
      else if (acksSupport.get(conn) !== 'yes') {
        chunk.forEach(single);
        continue;
      }
      const acks = chunk.map((a) =>
        remove ? { restoreId: a.restoreId, delivery: a.delivery, remove: a.session } : { restoreId: a.restoreId, delivery: a.delivery },
      );
      const answered: Promise<void> = conn.request({ op: 'acks', subId: q.subId, acks }, this.requestTimeoutMs).then(
        (body) => {
          acksSupport.set(conn, 'yes');
          let answers: AckAnswer[];
          try {
            answers = parseAcksReply(body, chunk.length);
          } catch (err) {
            this.warn({ err, topic: st.topic }, 'acks answer not understood');
            const e = unreadableAnswer(err);
            for (const a of chunk) tell(a, e);
            return;
          }
          chunk.forEach((a, i) => {
            const r = answers[i]!;
            // A failed ack is reported as a lone ack's failure is: as the error (an unknown outcome is not a refusal).
            if (!r.applied && ANSWER_MOVES.has(r.code)) return this.answerAgain(st, conn, q.subId, a.m, true, a.again);
            if (!r.applied && ANSWER_BUSY.has(r.code)) return a.busy(new ClientError(r.code, 'the ack was refused in an acks request, nothing taken'));
            tell(a, r.applied ? { ok: r.ok, code: r.code } : new ClientError(r.code, 'the ack failed in an acks request'));
          });
        },
        (err: unknown) => {
          // The attachment cannot take them (none taken): again through the consumer's next one. A
          // node that answers so knows `acks` (an older one answers it MALFORMED before anything else).
          if (err instanceof ClientError && ANSWER_MOVES.has(err.code)) {
            acksSupport.set(conn, 'yes');
            for (const a of chunk) this.answerAgain(st, conn, q.subId, a.m, true, a.again);
            return;
          }
          // The leader could not take them just then (none taken): again after a backoff.
          if (err instanceof ClientError && ANSWER_BUSY.has(err.code)) {
            acksSupport.set(conn, 'yes');
            for (const a of chunk) a.busy(err);
            return;
          }
          // MALFORMED takes none of them: each goes on its own (an ack taken twice is harmless).
          // A node of an older version does not know `acks`: so from now on over this connection.
          if (err instanceof ClientError && err.code === ClientErrorCode.malformed && !conn.closed) {
            acksSupport.set(conn, err.detail.startsWith('unknown op') ? 'no' : 'yes');
            return chunk.forEach(single);
          }
          if (acksSupport.get(conn) === 'probing') acksSupport.delete(conn);
          this.warn({ err, topic: st.topic, acks: chunk.length }, 'acks failed');
          const e = answerFailure(err);
          for (const a of chunk) tell(a, e);
        },
      );
      st.ackRequests.add(answered);
      void answered.then(() => st.ackRequests.delete(answered));
    }
  }

  private reattachConsumer(st: ConsumerState, err: ClientError): void {
    st.conn = null;
    st.opts.onError?.(err);
    this.attachConsumer(st).catch((e: unknown) => {
      st.closed = true;
      this.consumers.delete(st);
      this.dropParked(st);
      st.opts.onError?.(e instanceof ClientError ? e : new ClientError(ClientErrorCode.internal, String(e)));
    });
  }

  /** Subscribes `st` on its endpoint (or any), retrying until the operation deadline. */
  private async attach(st: SubState): Promise<void> {
    let conn: Connection | null = null;
    const subId = await this.run(
      () => ({ op: 'subscribe', topic: st.topic }),
      (body) => parseUintReply(body, 'subId'),
      { leader: false, ...(st.opts.endpoint !== undefined ? { endpoint: st.opts.endpoint } : {}) },
      (c) => {
        conn = c;
      },
    );
    const c = conn as Connection | null;
    if (st.closed) return this.unsubscribeLate(c, subId);
    st.conn = c;
    st.subId = subId;
    const ended =
      c?.claim(subId, (d) => {
        if (d.kind === 'delivery') this.deliver(st, c, d);
      }) ?? null;
    if (ended !== null) this.subscriptionEnded(st, ended);
  }

  private deliver(st: SubState, conn: Connection, d: DeliveryFrame): void {
    if (st.closed) return;
    try {
      st.handler({ topic: d.topic, session: idToHex(d.session), records: d.records, restoreId: idToHex(d.restoreId), index: d.index, node: conn.nodeId });
    } catch (err) {
      this.logger?.warn({ err, topic: d.topic }, 'subscription handler threw');
    }
  }

  private onSubscriptionEnded(conn: Connection, subId: number, err: ClientError): void {
    // A consumer ended by its node (leadership moved) attaches again, on the leader.
    for (const st of this.consumers) {
      if (st.conn !== conn || st.subId !== subId || st.closed) continue;
      conn.release(subId);
      this.consumerEnded(st, err);
    }
    for (const st of this.subs) {
      if (st.conn !== conn || st.subId !== subId) continue;
      // Its delivery handler goes too (it stayed for the connection's life: a review, 2026-12-07).
      conn.release(subId);
      this.subscriptionEnded(st, err);
    }
  }

  /** The connection under some subscriptions dropped: subscribe them again (elsewhere unless pinned). */
  private onConnectionClosed(conn: Connection): void {
    if (this.conns.get(conn.endpoint) === conn) this.conns.delete(conn.endpoint);
    if (this.closed) return;
    for (const st of this.consumers) {
      if (st.conn !== conn || st.closed) continue;
      this.reattachConsumer(st, new ClientError(ClientErrorCode.connectionLost, `consumer on ${conn.endpoint} lost its connection; attaching again`));
    }
    for (const st of this.subs) {
      if (st.conn !== conn || st.closed) continue;
      st.conn = null;
      if (st.opts.endpoint === undefined && this.target === conn.endpoint) this.rotate();
      st.opts.onError?.(new ClientError(ClientErrorCode.connectionLost, `subscription on ${conn.endpoint} lost its connection; subscribing again`));
      this.attach(st).catch((err: unknown) => {
        st.closed = true;
        this.subs.delete(st);
        st.opts.onError?.(err instanceof ClientError ? err : new ClientError(ClientErrorCode.internal, String(err)));
      });
    }
  }

  // ---- the retry loop ---------------------------------------------------------------------------

  private connection(endpoint: string): Connection {
    let c = this.conns.get(endpoint);
    if (c !== undefined && !c.closed) return c;
    c = new Connection(endpoint, {
      connectTimeoutMs: this.connectTimeoutMs,
      replyBytesMax: this.replyBytesMax,
      clusterId: this.clusterId,
      maskFrames: this.maskFrames,
      batches: this.batches,
      tls: this.tls,
      login: this.credentials,
      insecure: this.insecure,
    });
    const conn = c;
    conn.onSubscriptionEnded = (subId, err) => this.onSubscriptionEnded(conn, subId, err);
    conn.onClose = () => this.onConnectionClosed(conn);
    this.conns.set(endpoint, conn);
    return conn;
  }

  private rotate(): void {
    this.rotation = (this.rotation + 1) % this.endpoints.length;
    this.target = this.endpoints[this.rotation]!;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.sleeps.delete(t);
        resolve();
      }, ms);
      this.sleeps.set(t, resolve);
    });
  }

  /**
   * Runs one request until it gets a definitive answer or the operation deadline passes. `build`
   * is called for each attempt (commands return the same envelope every time).
   */
  private async run<T>(build: () => RequestBody, parse: (body: readonly unknown[]) => T, ro: RunOptions, onConn?: (c: Connection) => void): Promise<T> {
    const deadline = Date.now() + this.operationTimeoutMs;
    /** Endpoints that are not this cluster's client ports (made on the first such answer). */
    let wrong: Map<string, ClientError> | null = null;
    let last: ClientError | null = null;
    let failures = 0;
    let redirects = 0;
    /** Some endpoint accepted a connection during this run (so "none accepted one" would be false). */
    let connected = false;
    const cmd = ro.command;
    for (;;) {
      if (this.closed) throw honest(cmd, new ClientError(ClientErrorCode.closed, 'the client was closed'));
      const left = deadline - Date.now();
      if (left <= 0) throw this.deadlineError(last, connected, cmd, ro.endpoint, ro.noEffect === true);
      const endpoint = ro.endpoint ?? this.target;
      let retryNow = false;
      let sent = false;
      try {
        const conn = this.connection(endpoint);
        if (!conn.isOpen) await withTimeout(conn.ready, left, () => new ClientError(ClientErrorCode.timeout, `connecting to ${endpoint}`));
        connected = true;
        wrong?.delete(endpoint);
        sent = true;
        const body = await conn.request(build(), Math.min(this.requestTimeoutMs, Math.max(1, deadline - Date.now())));
        let out: T;
        try {
          out = parse(body);
        } catch (e) {
          // The node answered and the answer cannot be read: it took the attempt, and what it did
          // is unknown (2026-12-07, a review: reported as MALFORMED, "not applied"). Retried: a
          // command's retry is answered from the client table.
          if (cmd === undefined || (e instanceof ClientError && e.code !== ClientErrorCode.malformed)) throw e;
          throw new ClientError(ClientErrorCode.unknownOutcome, `the node's answer could not be read: ${e instanceof Error ? e.message : String(e)}`);
        }
        onConn?.(conn);
        return out;
      } catch (err) {
        if (!(err instanceof ClientError)) throw err;
        // Written to an open connection and not answered with a refusal that says the node did not
        // propose it: the attempt may be in a leader's log, so the command may yet be applied. So
        // also when the client was closed with it in flight (2026-12-07, a review: CLIENT_ERR_CLOSED).
        if (cmd !== undefined && sent && !wasUnsent(err) && (mayHaveBeenProposed(err.code) || err.code === ClientErrorCode.closed)) cmd.uncertain = true;
        // An attempt that the operation's own deadline cut short does not hide the refusal before
        // it, where there is no outcome to be unsure of: the node refused every attempt it answered,
        // and the request has no effect (noEffect) or is a tracked command none of whose attempts,
        // this one included, may have been proposed (a connect cut short: 2026-12-07).
        const cutShort = err.code === ClientErrorCode.timeout && deadline - Date.now() <= 0;
        const nothingInDoubt = ro.noEffect === true || (cmd !== undefined && !cmd.uncertain);
        if (!(nothingInDoubt && cutShort && last !== null && REFUSED_AT_ADMISSION.has(last.code))) last = err;
        ro.onAttemptError?.(err);
        switch (err.code) {
          case ClientErrorCode.notLeader:
            if (ro.endpoint === undefined && err.leaderEndpoint !== null && redirects < 3) {
              this.logger?.debug({ from: endpoint, to: err.leaderEndpoint, peer: err.leader }, 'redirected to the leader');
              this.target = normalizeEndpointSafe(err.leaderEndpoint) ?? this.target;
              redirects++;
              retryNow = true;
            } else if (ro.endpoint === undefined) this.rotate();
            break;
          case ClientErrorCode.wrongEndpoint:
          case ClientErrorCode.tls:
            (wrong ??= new Map()).set(endpoint, err);
            if (ro.endpoint !== undefined || this.endpoints.every((e) => wrong!.has(e))) throw honest(cmd, err);
            this.rotate();
            break;
          case ClientErrorCode.unreachable:
          case ClientErrorCode.connectionLost:
          case ClientErrorCode.unavailable:
          case ClientErrorCode.noLeader:
          case ClientErrorCode.tooManyConnections:
          case ClientErrorCode.timeout:
            // The node may be down, partitioned or between leaders: try the next one.
            if (ro.endpoint === undefined) this.rotate();
            break;
          case ClientErrorCode.unknownOutcome:
          case ClientErrorCode.busy:
          case ClientErrorCode.nodeBusy:
          case ClientErrorCode.tooManyInFlight:
          case 'SESSIONS_ERR_PLANNER_BUSY':
          // falls through: membership allows one change at a time, a new leader's first entry, a leadership transfer.
          case 'MEMBERSHIP_CONFIG_CHANGE_PENDING':
          case 'MEMBERSHIP_CONFIG_CHANGE_TOO_EARLY':
          case 'MEMBERSHIP_TRANSFER_IN_PROGRESS':
            break;
          default:
            throw honest(cmd, err); // definitive: malformed, a limit, a rejected command, a closed client
        }
      }
      if (!retryNow) {
        redirects = 0;
        await this.sleep(backoffDelayMs(failures++, this.backoffMin, this.backoffMax, this.random));
      }
    }
  }

  /**
   * The failure when the operation's deadline passes. A command that may have reached a leader
   * fails with TIMEOUT, whose outcome is unknown; UNREACHABLE only when no endpoint accepted a
   * connection during the whole operation.
   */
  private deadlineError(last: ClientError | null, connected: boolean, cmd: { uncertain: boolean } | undefined, pinned?: string, noEffect = false): ClientError {
    const ms = this.operationTimeoutMs;
    if (last === null) return new ClientError(ClientErrorCode.timeout, `no attempt finished within ${ms} ms`);
    if (cmd?.uncertain === true) {
      return new ClientError(
        ClientErrorCode.timeout,
        `no definitive answer within ${ms} ms, and an attempt reached a node that may have proposed it: the command may have been applied (last: ${last.code}: ${last.detail})`,
      );
    }
    if (last.code === ClientErrorCode.unreachable && !connected) {
      // A request pinned to one endpoint (peek, status, subscribe --endpoint) tried that one only:
      // until 2026-12-07 the message named the client's whole list.
      const tried = pinned !== undefined ? [pinned] : this.endpoints;
      return new ClientError(ClientErrorCode.unreachable, `none of ${tried.join(', ')} accepted a connection within ${ms} ms (last: ${last.detail})`);
    }
    if (last.code === ClientErrorCode.unreachable) {
      return new ClientError(ClientErrorCode.noLeader, `no leader answered within ${ms} ms (last: ${last.detail})`);
    }
    if (last.code === ClientErrorCode.noLeader || last.code === ClientErrorCode.notLeader) {
      return new ClientError(ClientErrorCode.noLeader, `no leader answered within ${ms} ms (last: ${last.detail})`);
    }
    // The last attempt was refused at the node's door, and no attempt may have been proposed (a
    // session command's attempts are tracked) or the request has no effect to be unsure of (a
    // read, a registration): that refusal is the outcome, not an unknown one (TIMEOUT tells the
    // caller it may have been applied). Until 2026-12-07 a user beyond connectionsPerUserMax got
    // TIMEOUT. Commands whose attempts are not tracked (groups, users, members, flags) keep it.
    if (REFUSED_AT_ADMISSION.has(last.code) && ((cmd !== undefined && !cmd.uncertain) || noEffect))
      return new ClientError(last.code, `${last.detail} (still so after ${ms} ms of retries)`);
    return new ClientError(ClientErrorCode.timeout, `no definitive answer within ${ms} ms (last: ${last.code}: ${last.detail})`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const [t, wake] of this.sleeps) {
      clearTimeout(t);
      wake();
    }
    this.sleeps.clear();
    for (const w of this.commandWaiters.splice(0)) w();
    for (const st of this.subs) st.closed = true;
    this.subs.clear();
    // Consumers end too: an answer a handler gives from now on, or one parked waiting for an
    // attachment, is told as not sent (CLIENT_ERR_CLOSED) rather than held for good (a review, 2026-12-07).
    for (const st of this.consumers) {
      const q = st.acks;
      st.acks = null;
      if (q !== null) this.flushAcks(st, q, true);
      st.closed = true;
      this.dropParked(st);
    }
    this.consumers.clear();
    for (const c of this.conns.values()) c.close();
    this.conns.clear();
  }
}

/**
 * Whether an attempt that failed with `code` may have been proposed by a leader: no answer in time,
 * a connection lost with the request written, an outcome the node itself does not know, a failure
 * inside the node. Every other answer from a node is a refusal before its log (NOT_LEADER, NO_LEADER,
 * BUSY, UNAVAILABLE, a limit, a bad request).
 */
function mayHaveBeenProposed(code: string): boolean {
  return (
    code === ClientErrorCode.timeout || code === ClientErrorCode.connectionLost || code === ClientErrorCode.unknownOutcome || code === ClientErrorCode.internal
  );
}

/**
 * What a failed ack or nack request tells the consumer (`onAnswer`): the error as it came when the
 * request was never written or the node refused it before its log (certainly not taken: the
 * session comes back after ackWaitMs); CLIENT_ERR_UNKNOWN_OUTCOME when it was written and nothing
 * says what became of it (the connection lost or the client closed with it in flight, a failure
 * inside the node): it may have been taken. A timeout is an unknown outcome already.
 */
function answerFailure(err: unknown): ClientError {
  const e = err instanceof ClientError ? err : new ClientError(ClientErrorCode.internal, String(err));
  if (wasUnsent(e) || e.code === ClientErrorCode.unknownOutcome || e.code === ClientErrorCode.timeout) return e;
  if (!mayHaveBeenProposed(e.code) && e.code !== ClientErrorCode.closed) return e;
  return new ClientError(ClientErrorCode.unknownOutcome, `sent, and no answer says whether it was taken (${e.code}: ${e.detail})`);
}

/** The node answered an ack, nack or acks request in a form this library cannot read: it processed it, so each may have been taken. */
function unreadableAnswer(err: unknown): ClientError {
  return new ClientError(ClientErrorCode.unknownOutcome, `the node's answer could not be read, so each ack may have been taken: ${String(err)}`);
}

/**
 * Refusals a node gives before a request can reach the log (a connection or node limit): retried
 * until the deadline, then reported as they are for a tracked command none of whose attempts was
 * uncertain, or a request with no effect (RunOptions.noEffect); other commands end with TIMEOUT.
 */
const REFUSED_AT_ADMISSION: ReadonlySet<string> = new Set([ClientErrorCode.tooManyConnections, ClientErrorCode.nodeBusy, ClientErrorCode.tooManyInFlight]);

/**
 * A command's failure, told honestly: once an attempt may have been applied, a later refusal or a
 * closed client does not make it "not applied" (CLIENT_ERR_UNKNOWN_OUTCOME, the refusal in the detail).
 */
function honest(cmd: { uncertain: boolean } | undefined, err: ClientError): ClientError {
  if (cmd?.uncertain !== true || err.code === ClientErrorCode.unknownOutcome || err.code === ClientErrorCode.timeout) return err;
  return new ClientError(ClientErrorCode.unknownOutcome, `an earlier attempt may have been applied; then ${err.code}: ${err.detail}`);
}

function normalizeEndpointSafe(e: string): string | null {
  try {
    return normalizeEndpoint(e);
  } catch {
    return null;
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, err: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(err()), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
