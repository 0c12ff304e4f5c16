/**
 * What the client server needs from a node, declared here so that the client port depends on an
 * interface and not on the node's implementation (actors/host/clientNode.ts adapts the session
 * node to it). Nothing in transport/ imports actors/: the layers only import downwards.
 */
import type { MembershipChange } from '../../machines/membership.js';
import type { Entry, NodeId } from '../../machines/types.js';
import type { CodecLimits, Command, Envelope } from '../commands/codec.js';
import type { AccessView } from '../commands/access.js';

/** Why a request failed inside the node: NOT_LEADER, UNKNOWN_OUTCOME, BUSY, BAD_REQUEST, INTERNAL or a store code. */
export interface NodeRequestError {
  readonly code: string;
  readonly message: string;
  readonly leader?: NodeId | null;
}

/** The result of one applied command. */
export interface NodeCommandResult {
  readonly ok: boolean;
  readonly code: string;
  /** SessionCreate, SessionRestore: the session ID; ClientRegister: the client's credential (ID 16 bytes, secret 16 bytes); else null. */
  readonly value: Uint8Array | null;
  /** Answered from the client table (the command was not applied again). */
  readonly duplicate?: true;
}

export type NodeCommandCallback = (err: NodeRequestError | null, result?: NodeCommandResult, entry?: Entry) => void;

/** A restored session pushed to a subscriber. */
export interface NodeDelivery {
  readonly topic: string;
  readonly session: Uint8Array;
  readonly records: readonly Uint8Array[];
  readonly restoreId: Uint8Array;
  readonly index: number;
}

export interface NodeSubscription {
  close(): void;
}

interface NodeSubscribeOptions {
  /** Deliveries queued for this subscriber before it overflows. */
  readonly queueMax: number;
  /** The subscription ended or failed; `code` is stable. */
  readonly onError: (err: { readonly code: string; readonly message: string }) => void;
}

/** A consumer group's delivery (issue 16): answer it with the consumer's ack or nack. */
interface NodeGroupDelivery {
  readonly topic: string;
  readonly session: Uint8Array;
  readonly records: readonly Uint8Array[];
  readonly restoreId: Uint8Array;
  /** 1 for the first delivery of this restore to the group, then 2, 3, ... */
  readonly delivery: number;
}

/** A consumer attached on the leader. */
export interface NodeConsumer extends NodeSubscription {
  /** `remove`: the session this ack also removes when it settles the item (remove on ack), and the user whose write permission apply checks. */
  ack(restoreId: Uint8Array, delivery: number, cb: NodeCommandCallback, remove?: { readonly session: Uint8Array; readonly user: string }): void;
  nack(restoreId: Uint8Array, delivery: number, delayMs: number, cb: NodeCommandCallback): void;
}

/** One session as listed and read by clients. */
interface NodeSession {
  readonly id: Uint8Array;
  readonly topic: string;
  readonly bytes: number;
  readonly records: readonly Uint8Array[];
}

export interface ClientNode {
  /** The node stopped (or is stopping): requests are refused, in-flight outcomes are unknown. */
  isStopped(): boolean;
  /** The leader this node knows of and its term. */
  leadership(): { readonly leader: NodeId | null; readonly term: number };
  /** The command codec's limits, for validation at the gateway. */
  codecLimits(): CodecLimits;
  /**
   * How many more commands the Raft batch forming on this node now can take in one step
   * (RaftNode.proposalRoom): a request whose commands do not fit (all of an `acks`, three of a
   * `schedule`, one otherwise) is refused with BUSY, nothing proposed, so that one turn's client
   * commands stay within one step.
   */
  proposalRoom(): number;
  readonly topicBytesMax: number;
  /**
   * Proposes an already validated command; `data` is its encoding (reused, not encoded again).
   * `user` (issue 17, with authentication): an envelope whose client another user registered is
   * refused (SESSIONS_ERR_CLIENT_OWNER) before the log.
   */
  submit(cmd: Command, data: Uint8Array, cb: NodeCommandCallback, user?: string): void;
  /** ClientRegister: the leader draws the client's secret; the result's value is the credential (ID, secret). `owner`: the user registering. */
  registerClient(cb: NodeCommandCallback, owner?: string): void;
  storeSession(session: Uint8Array, replayClass: number, envelope: Envelope | null, cb: NodeCommandCallback, user?: string): void;
  /**
   * Creates a session on `topic` with the record `bytes` and stores it in `replayClass` (issue 20):
   * the envelope's seq, seq + 1 and seq + 2 number its create, append and store. The result is the
   * store's, its value the session's ID.
   */
  scheduleSession(topic: string, bytes: Uint8Array, replayClass: number, envelope: Envelope | null, cb: NodeCommandCallback, user?: string): void;
  /** The topic of an active session on this node (its applied state), or null: permissions are per topic. */
  sessionTopic(id: Uint8Array): string | null;
  /**
   * The applied result the client table remembers for this envelope's client and seq, when the
   * secret matches and `user` owns the client (answered as a duplicate), else null.
   */
  rememberedResult(envelope: Envelope, user: string): NodeCommandResult | null;
  /** Users, roles and permissions as applied on this node (issue 17). */
  access(): AccessView;
  /** An auth command (UserPut ... RoleRevoke) on the leader; a UserPut's password is already hashed. */
  submitAuth(cmd: Command, cb: NodeCommandCallback): void;
  changeMembership(change: MembershipChange, cb: (err: NodeRequestError | null, entry?: Entry) => void): void;
  /** A linearizable read barrier (ReadIndex): `cb(null)` once this node has applied up to it. */
  read(cb: (err: NodeRequestError | null) => void): void;
  listSessions(): Iterable<NodeSession>;
  getSession(id: Uint8Array): NodeSession | null;
  appliedIndex(): number;
  subscribe(topic: string, onDelivery: (d: NodeDelivery) => void, opts: NodeSubscribeOptions): NodeSubscription;
  /** Consumer groups (issue 16), leader only: 0 for a limit means the default. */
  createGroup(topic: string, name: string, opts: { ackWaitMs: number; maxDeliveries: number; maxAckPending: number }, cb: NodeCommandCallback): void;
  deleteGroup(topic: string, name: string, cb: NodeCommandCallback): void;
  /** DeadLetterReplay / DeadLetterDelete of a group's dead letter by its restore ID (leader only). */
  deadLetter(action: 'replay' | 'delete', topic: string, group: string, restoreId: Uint8Array, cb: NodeCommandCallback): void;
  /** Feature flags on in the cluster, as applied on this node (codec.ts FEATURES bits). */
  features(): number;
  /** FeatureEnable of `bits` (FEATURES bits this version knows), leader only. */
  enableFeatures(bits: number, cb: NodeCommandCallback): void;
  /** This node's applied group table, with counts (JSON-ready). */
  groups(): readonly Record<string, unknown>[];
  /** Attach a consumer (leader only; else NOT_LEADER). maxAckPending 0: the group's. */
  consume(
    topic: string,
    group: string,
    consumer: string,
    maxAckPending: number,
    onDelivery: (d: NodeGroupDelivery) => void,
    onEnd: (code: string, message: string) => void,
    cb: (err: NodeRequestError | null, consumer?: NodeConsumer) => void,
  ): void;
}
