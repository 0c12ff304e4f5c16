/**
 * The replication commands of seed 000 as log-entry bytes: a hand-written, bounded binary codec with
 * strict validation. Pure: no node:*, no clock, no randomness.
 *
 * Every command's ID is the ID of the log entry that carries it: the uint128 (term << 64 | index),
 * which is not repeated in the payload. Commands that name a session, a client or a data file carry
 * that object's ID (the ID of the entry that created it) as 16 big-endian bytes. All such IDs have
 * both 64-bit halves below 2^53 (a term and a log index), so the fast path keeps them as two numbers.
 *
 * Layout (big-endian):
 *
 *   0  u8   format version (2; format 1, before client secrets, is retired: SESSIONS_ERR_FORMAT_RETIRED)
 *   1  u8   kind (CommandKind)
 *   2  u8   flags: bit 0 = a client envelope follows; other bits must be 0
 *   3  [envelope: client ID 16 | client secret 16 | seq u64 | ackedBelowSeq u64]   (client kinds only)
 *      payload, by kind:
 *        sessionCreate   topicLen u16 | topic (UTF-8)
 *        sessionAppend   session 16 | record bytes (the rest of the entry)
 *        sessionRewrite  session 16 | record bytes (the rest of the entry)
 *        sessionStore    session 16 | class u8 | dueMs u64 | file 16 | offset u64 | length u32
 *        sessionDestroy  session 16
 *        sessionRestore  class u8 | file 16 | length u32
 *                        [holdMs u32]   (restore ahead, issue 20: the leader restored it this long before
 *                        its due time; each replica hands it to its subscribers that long after its own
 *                        apply, never before the due time by the leader's clock; at most RESTORE_HOLD_MS_MAX;
 *                        absent (0) when restored at or after its due time, and in older entries)
 *        sessionCommit   class u8 | file 16 | length u32
 *        dataCreate      class u8
 *        dataDelete      class u8 | file 16
 *        clientRegister  secret 16 (drawn by the leader; every replica stores it in its client table)
 *                        [ownerLen u8 | owner]   (issue 17: the user who registered; absent in older entries: '')
 *        groupCreate     topicLen u16 | topic | nameLen u8 | name | ackWaitMs u32 | maxDeliveries u16 | maxAckPending u16
 *        groupDelete     group 16
 *        groupDeliver    group 16 | restore 16 | delivery u32 | deadlineMs u64 | consumerLen u8 | consumer
 *        groupAck        group 16 | restore 16 | delivery u32
 *                        [session 16 | userLen u8 | user]   (remove on ack, 2026-12-04: the delivered session,
 *                        removed as a SessionDestroy would when this ack settles the item, and the user
 *                        whose write permission on its topic apply checks (0: none, auth was off at the
 *                        port); absent in plain acks and in older entries)
 *        groupNack       group 16 | restore 16 | delivery u32 | readyAtMs u64
 *        groupDeadLetter group 16 | restore 16 | delivery u32
 *        userPut         userLen u8 | user | hashLen u8 | password hash (0: certificate only; else access.ts's 52 bytes)
 *        userDelete      userLen u8 | user
 *        userGrant       userLen u8 | user | roleLen u8 | role          (the user holds the role)
 *        userRevoke      userLen u8 | user | roleLen u8 | role
 *        rolePut         roleLen u8 | role
 *        roleDelete      roleLen u8 | role
 *        roleGrant       roleLen u8 | role | action u8 | prefixLen u16 | prefix | groupLen u8 | group
 *        roleRevoke      roleLen u8 | role | action u8 | prefixLen u16 | prefix | groupLen u8 | group
 *        deadLetterReplay  group 16 | restore 16   (the group's dead letter is ready again: count 0, or with replay-continues the next multiple of maxDeliveries)
 *        deadLetterDelete  group 16 | restore 16   (the group's dead letter is dropped: the group settled it)
 *        featureEnable   features u32   (feature flags, 2026-12-05: bits of FEATURES to turn on for the whole
 *                        cluster, at least one, none unknown to this version; never turned off)
 *
 * The auth kinds (issue 17) carry users, roles and permissions (transport/commands/access.ts); a
 * password arrives hashed (scrypt, salted, computed once by the leader): no replica sees a plaintext
 * or draws randomness.
 *
 * The group kinds (issue 16, durable consumers) name a consumer group by the ID of its GroupCreate
 * entry and a restored session by the ID of its SessionRestore entry; every time in them (a
 * delivery's deadline, a nack's ready time) is the leader's, decided once (docs/sessions.md).
 *
 * The envelope's secret is the client's proof that it owns its ID (IDs are guessable: term << 64 |
 * index): every replica compares it, in constant time, with the secret its client table holds for
 * that ID, and a mismatch changes nothing (SESSIONS_ERR_CLIENT_AUTH).
 *
 * Confirm (kind 0) is the follower's acknowledgement, carried by Raft's successful AppendResponse
 * (machines/types.ts); it never appears in the log, and decoding it from an entry is an error.
 */

import { zeroedBytes } from './zeroedBytes.js';
import { utf8Text } from './utf8Decode.js';
import { utf8Of } from './utf8Cache.js';
import { ACTIONS, decodePasswordHash, isAuthName, isClusterAction, isPrefix, type Action, type Grant } from './access.js';

const COMMAND_FORMAT_VERSION = 2;
/** The format before client secrets (issue 14): its entries are refused with SESSIONS_ERR_FORMAT_RETIRED. */
const COMMAND_FORMAT_RETIRED = 1;
const COMMAND_HEADER_BYTES = 3;
export const ID_BYTES = 16;
/** A client's secret: 16 random bytes drawn by the leader at ClientRegister. */
export const SECRET_BYTES = 16;
const ENVELOPE_BYTES = ID_BYTES + SECRET_BYTES + 8 + 8;

/** SessionRestore's hold at most (ms): the host's restore lead is at most this (actors/host/config.ts). */
export const RESTORE_HOLD_MS_MAX = 1_000;

/** Hard ceiling on replay classes: a class is one byte on the wire; 16 keeps directories few. */
export const REPLAY_CLASSES_MAX = 16;

const TWO_32 = 0x1_0000_0000;
/** hi word limit so that hi * 2^32 + lo <= 2^53 - 1. */
const HI_SAFE_MAX = 0x1f_ffff;

export const CommandKind = {
  confirm: 0,
  sessionCreate: 1,
  sessionAppend: 2,
  sessionRewrite: 3,
  sessionStore: 4,
  sessionDestroy: 5,
  sessionRestore: 6,
  sessionCommit: 7,
  dataCreate: 8,
  dataDelete: 9,
  clientRegister: 10,
  groupCreate: 11,
  groupDelete: 12,
  groupDeliver: 13,
  groupAck: 14,
  groupNack: 15,
  groupDeadLetter: 16,
  userPut: 17,
  userDelete: 18,
  userGrant: 19,
  userRevoke: 20,
  rolePut: 21,
  roleDelete: 22,
  roleGrant: 23,
  roleRevoke: 24,
  deadLetterReplay: 25,
  deadLetterDelete: 26,
  featureEnable: 27,
} as const;
export type CommandKind = (typeof CommandKind)[keyof typeof CommandKind];
const KIND_MAX = 27;

export const commandKindNames: readonly string[] = [
  'Confirm',
  'SessionCreate',
  'SessionAppend',
  'SessionRewrite',
  'SessionStore',
  'SessionDestroy',
  'SessionRestore',
  'SessionCommit',
  'DataCreate',
  'DataDelete',
  'ClientRegister',
  'GroupCreate',
  'GroupDelete',
  'GroupDeliver',
  'GroupAck',
  'GroupNack',
  'GroupDeadLetter',
  'UserPut',
  'UserDelete',
  'UserGrant',
  'UserRevoke',
  'RolePut',
  'RoleDelete',
  'RoleGrant',
  'RoleRevoke',
  'DeadLetterReplay',
  'DeadLetterDelete',
  'FeatureEnable',
];

/**
 * Feature flags (2026-12-05): what a leader may put in the log that a node of an older version
 * would apply differently. A FeatureEnable entry turns them on for the cluster; until then the
 * leader keeps to what every version applies alike (docs/sessions.md, "Feature flags").
 */
export const FEATURES = {
  /** SessionRestore's hold: restores planned ahead of their due time (scheduler.ts). */
  restoreAhead: 1,
  /** GroupAck's session: an ack that removes the delivered session. */
  removeOnAck: 2,
  /**
   * A replay class's due floor holds per data file (2026-12-07): a DataCreate starts the new file's
   * floor at 0, and the leader starts a new file when its clock reads well behind the newest file's
   * last due time, rather than give every later store that due time (planner.ts, dueFor).
   */
  dueFloorPerFile: 4,
  /**
   * ClientRegister by a user at clientsPerUserMax evicts that user's own least recently active
   * client, not the table's (2026-12-07; clientTable.ts): one user cannot evict the others' clients.
   */
  clientsPerUser: 8,
  /**
   * UserDelete, and UserRevoke of the role `admin`, of the last user holding that role are refused
   * at apply (CLIENT_ERR_LAST_ADMIN; 2026-12-07; authTable.ts): two removals that each passed a
   * port's check (on two leaders, across a leader change) no longer leave the cluster without an
   * admin. An older node would apply the second one.
   */
  lastAdmin: 16,
  /**
   * DeadLetterReplay keeps the item's delivery count, so the replayed round's deliveries continue
   * its numbers (and it gets maxDeliveries more): a late ack or nack of the round before the dead
   * letter names a number below the round's and changes nothing (2026-12-07; consumerGroups.ts).
   */
  replayContinues: 32,
  /**
   * An active session remembers the SessionRestore that made it active, and a GroupAck that removes
   * its session removes it only when the item it settles is of that restore (2026-12-07;
   * store.ts ackRemoving): an ack of an earlier restore no longer removes the session once it was
   * stored and restored again. The snapshot carries the restores (manifest.ts). An older node would
   * remove it.
   */
  removeOwnRestore: 64,
  /**
   * A UserPut that creates the first user of a table with none also grants it the admin role, in
   * the same entry (2026-12-07; authTable.ts putUser). The port did it in two entries (UserPut, then
   * UserGrant): a leader change between them left a user and no admin, with logins already required.
   * An older node would create the user without the role.
   */
  firstUserAdmin: 128,
} as const;
export type FeatureName = keyof typeof FEATURES;
/** Every flag this version knows: a FeatureEnable with any other bit is refused. */
export const FEATURES_KNOWN =
  FEATURES.restoreAhead |
  FEATURES.removeOnAck |
  FEATURES.dueFloorPerFile |
  FEATURES.clientsPerUser |
  FEATURES.lastAdmin |
  FEATURES.replayContinues |
  FEATURES.removeOwnRestore |
  FEATURES.firstUserAdmin;
/** The flags' names as operators write them (and `status` shows them), by bit. */
export const featureNames: Readonly<Record<FeatureName, string>> = {
  restoreAhead: 'restore-ahead',
  removeOnAck: 'remove-on-ack',
  dueFloorPerFile: 'due-floor-per-file',
  clientsPerUser: 'clients-per-user',
  lastAdmin: 'last-admin',
  replayContinues: 'replay-continues',
  removeOwnRestore: 'remove-own-restore',
  firstUserAdmin: 'first-user-admin',
};

/** A consumer group's or a consumer's name: 1..NAME_BYTES_MAX UTF-8 bytes, no C0 control or DEL. */
const NAME_BYTES_MAX = 64;

/**
 * The longest delay a nack may ask for: as long as the longest ack wait (GroupCreate's u32 of ms,
 * about 49.7 days). A longer one is refused with a stable code; before 2026-12-07 one past 2^53 ms
 * from now failed to encode (CLIENT_ERR_INTERNAL) and one that fitted parked its item for centuries.
 */
export const NACK_DELAY_MS_MAX = 0xffff_ffff;

/** Kinds a client may send, so the only ones that may carry an envelope. */
function isClientKind(kind: number): boolean {
  return kind >= CommandKind.sessionCreate && kind <= CommandKind.sessionDestroy;
}

const FLAG_ENVELOPE = 1;

/** Stable codes of commands rejected by the codec (also used as results of entries that fail to decode). */
export const CommandErrorCode = {
  truncated: 'SESSIONS_ERR_TRUNCATED',
  version: 'SESSIONS_ERR_VERSION',
  /** Format 1 (before client secrets): its envelopes carry no proof, so they are not applied. */
  formatRetired: 'SESSIONS_ERR_FORMAT_RETIRED',
  kind: 'SESSIONS_ERR_KIND',
  confirmInLog: 'SESSIONS_ERR_CONFIRM_IN_LOG',
  flags: 'SESSIONS_ERR_FLAGS',
  trailing: 'SESSIONS_ERR_TRAILING_BYTES',
  id: 'SESSIONS_ERR_ID',
  number: 'SESSIONS_ERR_NUMBER_RANGE',
  envelope: 'SESSIONS_ERR_ENVELOPE',
  topicEmpty: 'SESSIONS_ERR_TOPIC_EMPTY',
  topicTooLong: 'SESSIONS_ERR_TOPIC_TOO_LONG',
  topicInvalid: 'SESSIONS_ERR_TOPIC_INVALID',
  recordTooLarge: 'SESSIONS_ERR_RECORD_TOO_LARGE',
  replayClass: 'SESSIONS_ERR_REPLAY_CLASS',
  length: 'SESSIONS_ERR_LENGTH',
  /** A group or consumer name that is empty, longer than NAME_BYTES_MAX, or not printable UTF-8. */
  name: 'SESSIONS_ERR_NAME',
  /** An auth command with a user or role name that is not 1..64 of [A-Za-z0-9_.@-], an unknown action, a bad password hash, or a permission on the literal prefix `*`. */
  auth: 'SESSIONS_ERR_AUTH_FIELD',
  /** A FeatureEnable naming no flag, or one this version does not know (a newer node's). */
  feature: 'SESSIONS_ERR_FEATURE_UNKNOWN',
} as const;
export type CommandErrorCode = (typeof CommandErrorCode)[keyof typeof CommandErrorCode];

export class CommandError extends Error {
  constructor(
    readonly code: CommandErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
    this.name = 'CommandError';
  }
}

/** Limits the codec enforces (the same on every node: they decide which entries are rejected). */
export interface CodecLimits {
  /** Topic length in UTF-8 bytes. */
  readonly topicBytesMax: number;
  /** One appended or rewritten record. */
  readonly recordBytesMax: number;
  /** A stored session record (SessionStore / SessionRestore / SessionCommit length). */
  readonly storedRecordBytesMax: number;
}

export const defaultCodecLimits: CodecLimits = {
  topicBytesMax: 256,
  recordBytesMax: 64 * 1024,
  storedRecordBytesMax: 64 * 1024 * 1024,
};

/** A command's client envelope (Raft dissertation 6.3): who sent it and its number. */
export interface Envelope {
  /** The client's ID: the ID of the ClientRegister entry that created it. */
  readonly client: Uint8Array;
  /** The client's secret (SECRET_BYTES), from ClientRegister's result: the proof that it owns `client`. */
  readonly secret: Uint8Array;
  /** 1, 2, 3, ...: the client's number for this command; a retry reuses it. */
  readonly seq: number;
  /** The client holds the responses of every seq below this; the store may forget them. 0..seq. */
  readonly ackedBelowSeq: number;
}

export type Command =
  | { readonly kind: typeof CommandKind.sessionCreate; readonly topic: string; readonly envelope: Envelope | null }
  | { readonly kind: typeof CommandKind.sessionAppend; readonly session: Uint8Array; readonly bytes: Uint8Array; readonly envelope: Envelope | null }
  | { readonly kind: typeof CommandKind.sessionRewrite; readonly session: Uint8Array; readonly bytes: Uint8Array; readonly envelope: Envelope | null }
  | {
      readonly kind: typeof CommandKind.sessionStore;
      readonly session: Uint8Array;
      readonly replayClass: number;
      readonly dueMs: number;
      readonly file: Uint8Array;
      readonly offset: number;
      readonly length: number;
      readonly envelope: Envelope | null;
    }
  | { readonly kind: typeof CommandKind.sessionDestroy; readonly session: Uint8Array; readonly envelope: Envelope | null }
  | {
      readonly kind: typeof CommandKind.sessionRestore;
      readonly replayClass: number;
      readonly file: Uint8Array;
      readonly length: number;
      /** Restore ahead: how long before its due time the leader restored it (ms, 1..RESTORE_HOLD_MS_MAX; absent: 0). */
      readonly holdMs?: number;
    }
  | { readonly kind: typeof CommandKind.sessionCommit; readonly replayClass: number; readonly file: Uint8Array; readonly length: number }
  | { readonly kind: typeof CommandKind.dataCreate; readonly replayClass: number }
  | { readonly kind: typeof CommandKind.dataDelete; readonly replayClass: number; readonly file: Uint8Array }
  | { readonly kind: typeof CommandKind.clientRegister; readonly secret: Uint8Array; readonly owner?: string }
  | {
      readonly kind: typeof CommandKind.groupCreate;
      readonly topic: string;
      readonly name: string;
      readonly ackWaitMs: number;
      readonly maxDeliveries: number;
      readonly maxAckPending: number;
    }
  | { readonly kind: typeof CommandKind.groupDelete; readonly group: Uint8Array }
  | {
      readonly kind: typeof CommandKind.groupDeliver;
      readonly group: Uint8Array;
      readonly restore: Uint8Array;
      readonly delivery: number;
      readonly deadlineMs: number;
      readonly consumer: string;
    }
  | {
      readonly kind: typeof CommandKind.groupAck;
      readonly group: Uint8Array;
      readonly restore: Uint8Array;
      readonly delivery: number;
      /**
       * Remove on ack: `session` (the delivered one) is removed, as by SessionDestroy, when this ack
       * settles the item; `user` ('' when the port had no login) needs write on its topic at apply.
       */
      readonly remove?: { readonly session: Uint8Array; readonly user: string };
    }
  | {
      readonly kind: typeof CommandKind.groupNack;
      readonly group: Uint8Array;
      readonly restore: Uint8Array;
      readonly delivery: number;
      readonly readyAtMs: number;
    }
  | { readonly kind: typeof CommandKind.groupDeadLetter; readonly group: Uint8Array; readonly restore: Uint8Array; readonly delivery: number }
  | { readonly kind: typeof CommandKind.userPut; readonly user: string; readonly passwordHash: Uint8Array | null }
  | { readonly kind: typeof CommandKind.userDelete; readonly user: string }
  | { readonly kind: typeof CommandKind.userGrant; readonly user: string; readonly role: string }
  | { readonly kind: typeof CommandKind.userRevoke; readonly user: string; readonly role: string }
  | { readonly kind: typeof CommandKind.rolePut; readonly role: string }
  | { readonly kind: typeof CommandKind.roleDelete; readonly role: string }
  | { readonly kind: typeof CommandKind.roleGrant; readonly role: string; readonly grant: Grant }
  | { readonly kind: typeof CommandKind.roleRevoke; readonly role: string; readonly grant: Grant }
  | { readonly kind: typeof CommandKind.deadLetterReplay | typeof CommandKind.deadLetterDelete; readonly group: Uint8Array; readonly restore: Uint8Array }
  | { readonly kind: typeof CommandKind.featureEnable; readonly features: number };

// ---- IDs ------------------------------------------------------------------------------------

/** The ID of the entry at (term, index): term in the high 64 bits, index in the low 64 bits. */
/** Whether `id` is 16 bytes naming an entry: both halves below 2^53, the low half (an index) at least 1. */
export function isCommandId(id: Uint8Array): boolean {
  return id.length === ID_BYTES && validId(readU64(id, 0), readU64(id, 8));
}

export function commandId(term: number, index: number): Uint8Array {
  const out = new Uint8Array(ID_BYTES);
  writeIdParts(out, 0, term, index);
  return out;
}

/** Lower-case hex of a 16-byte ID (file names, logs, map keys outside hot paths). */
function idHex(id: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ID_BYTES; i++) s += (id[i]! < 16 ? '0' : '') + id[i]!.toString(16);
  return s;
}

export function idHexOfParts(high: number, low: number): string {
  return idHex(commandId(high, low));
}

/** The data file's name relative to the store directory: `data/<class>/<id-hex>.dat`. */
export function dataFileName(replayClass: number, fileHigh: number, fileLow: number): string {
  return `data/${replayClass}/${idHexOfParts(fileHigh, fileLow)}.dat`;
}

function writeU64(buf: Uint8Array, at: number, value: number): void {
  const hi = Math.floor(value / TWO_32);
  const lo = value >>> 0;
  buf[at] = hi >>> 24;
  buf[at + 1] = (hi >>> 16) & 0xff;
  buf[at + 2] = (hi >>> 8) & 0xff;
  buf[at + 3] = hi & 0xff;
  buf[at + 4] = lo >>> 24;
  buf[at + 5] = (lo >>> 16) & 0xff;
  buf[at + 6] = (lo >>> 8) & 0xff;
  buf[at + 7] = lo & 0xff;
}

function writeU32(buf: Uint8Array, at: number, value: number): void {
  buf[at] = value >>> 24;
  buf[at + 1] = (value >>> 16) & 0xff;
  buf[at + 2] = (value >>> 8) & 0xff;
  buf[at + 3] = value & 0xff;
}

function readU32(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** A u64 as a number, or -1 when it exceeds 2^53 - 1. */
function readU64(buf: Uint8Array, at: number): number {
  const hi = readU32(buf, at);
  if (hi > HI_SAFE_MAX) return -1;
  return hi * TWO_32 + readU32(buf, at + 4);
}

function writeIdParts(buf: Uint8Array, at: number, high: number, low: number): void {
  writeU64(buf, at, high);
  writeU64(buf, at + 8, low);
}

/** An ID no entry has (no entry is of term 0): what a command holds before the leader binds it. */
export const UNBOUND_SESSION_HIGH = 0;
export const UNBOUND_SESSION_LOW = 1;

/**
 * Writes the session of an encoded SessionAppend or SessionStore in place. The leader binds a
 * schedule's append and store to its create's ID once it knows where the create lands in the log
 * (Planner.bind, just before the batch is appended); replicas only ever see the bound bytes.
 */
export function writeSessionOf(data: Uint8Array, high: number, low: number): void {
  const kind = data[1];
  if (kind !== CommandKind.sessionAppend && kind !== CommandKind.sessionStore)
    throw new RangeError(`no session field to bind in a command of kind ${String(kind)}`);
  writeIdParts(data, 3 + ((data[2]! & FLAG_ENVELOPE) !== 0 ? ENVELOPE_BYTES : 0), high, low);
}

function writeId(buf: Uint8Array, at: number, id: Uint8Array): void {
  if (id.length !== ID_BYTES) throw new RangeError(`an ID is ${ID_BYTES} bytes, got ${id.length}`);
  buf.set(id, at);
}

function writeSecret(buf: Uint8Array, at: number, secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length !== SECRET_BYTES)
    throw new RangeError(`a client secret is ${SECRET_BYTES} bytes, got ${(secret as Uint8Array | undefined)?.length}`);
  buf.set(secret, at);
}

/**
 * Whether `data[at, at + SECRET_BYTES)` equals `secret`, in time that does not depend on where they
 * differ (no early exit), and without allocating: the apply loop calls it for every enveloped entry.
 */
export function secretEquals(secret: Uint8Array, data: Uint8Array, at: number): boolean {
  if (secret.length !== SECRET_BYTES || at < 0 || at + SECRET_BYTES > data.length) return false;
  let diff = 0;
  for (let i = 0; i < SECRET_BYTES; i++) diff |= secret[i]! ^ data[at + i]!;
  return diff === 0;
}

/** The seqs one schedule request (client op 24, issue 20) numbers: seq (create), seq + 1 (append), seq + 2 (store). */
export const SCHEDULE_SEQS = 3;

export { readU32 as readU32BE, readU64 as readU64BE, writeU32 as writeU32BE, writeU64 as writeU64BE };

// ---- the fast, allocation-free view ---------------------------------------------------------

/**
 * The fields of one decoded command, filled in place by `parseCommand` (one reusable instance per
 * store: the apply loop allocates nothing per entry to decode). IDs are (high, low) number pairs;
 * byte fields are [start, end) offsets into the entry's data.
 */
export class CommandView {
  kind = 0;
  hasEnvelope = false;
  clientHigh = 0;
  clientLow = 0;
  /** Envelope (client kinds) or ClientRegister: where the secret's SECRET_BYTES start in the entry's data. */
  secretAt = 0;
  seq = 0;
  ackedBelowSeq = 0;
  /** Session (append, rewrite, store, destroy). */
  sessionHigh = 0;
  sessionLow = 0;
  /** Topic (create) or record bytes (append, rewrite). */
  bytesStart = 0;
  bytesEnd = 0;
  replayClass = 0;
  dueMs = 0;
  fileHigh = 0;
  fileLow = 0;
  offset = 0;
  length = 0;
  /** Create, GroupCreate: the decoded topic. */
  topic = '';
  /** Group kinds: the group (its GroupCreate's ID) and the restore (its SessionRestore's ID). */
  groupHigh = 0;
  groupLow = 0;
  restoreHigh = 0;
  restoreLow = 0;
  /** Group kinds: the delivery number (1 for the first delivery of a restore to the group). */
  delivery = 0;
  /** GroupCreate: the group's name; GroupDeliver: the consumer's. */
  name = '';
  ackWaitMs = 0;
  maxDeliveries = 0;
  maxAckPending = 0;
  /** SessionRestore: how long before its due time the leader restored it (0: not ahead). */
  holdMs = 0;
  /** FeatureEnable: the flags (FEATURES bits). */
  features = 0;
  /** Auth kinds: the user (ClientRegister: its owner, '' when none) and the role. */
  user = '';
  role = '';
  /** RoleGrant/RoleRevoke: the permission. */
  action: Action = 'read';
  prefix = '';
  groupName = '';
  /** UserPut: where the password hash starts in the entry's data, and its length (0: none). */
  hashAt = 0;
  hashLen = 0;
}

/** A user or role name (u8 length, then the bytes) at `at`; returns the offset after, or an error code. */
function parseAuthName(data: Uint8Array, at: number, set: (s: string) => void): number | CommandErrorCode {
  if (data.length < at + 1) return CommandErrorCode.truncated;
  const len = data[at]!;
  if (data.length < at + 1 + len) return CommandErrorCode.truncated;
  let s: string;
  try {
    s = utf8.decode(data.subarray(at + 1, at + 1 + len));
  } catch {
    return CommandErrorCode.auth;
  }
  if (!isAuthName(s)) return CommandErrorCode.auth;
  set(s);
  return at + 1 + len;
}

/** RoleGrant/RoleRevoke's permission at `at`: action u8 | prefixLen u16 | prefix | groupLen u8 | group. */
function parseGrantFields(v: CommandView, data: Uint8Array, at: number, limits: CodecLimits): number | CommandErrorCode {
  const n = data.length;
  if (n < at + 3) return CommandErrorCode.truncated;
  const action = ACTIONS[data[at]!];
  if (action === undefined) return CommandErrorCode.auth;
  v.action = action;
  const plen = (data[at + 1]! << 8) | data[at + 2]!;
  at += 3;
  if (plen > limits.topicBytesMax) return CommandErrorCode.topicTooLong;
  if (n < at + plen + 1) return CommandErrorCode.truncated;
  for (let i = at; i < at + plen; i++) {
    const c = data[i]!;
    if (c < 0x20 || c === 0x7f) return CommandErrorCode.topicInvalid;
  }
  try {
    v.prefix = utf8.decode(data.subarray(at, at + plen));
  } catch {
    return CommandErrorCode.topicInvalid;
  }
  // The lone '*' is every topic in the text form the snapshot keeps grants in (access.ts isPrefix).
  if (v.prefix === '*') return CommandErrorCode.auth;
  at += plen;
  const glen = data[at++]!;
  if (n < at + glen) return CommandErrorCode.truncated;
  if (glen === 0) v.groupName = '';
  else {
    try {
      v.groupName = utf8.decode(data.subarray(at, at + glen));
    } catch {
      return CommandErrorCode.auth;
    }
    if (!isAuthName(v.groupName)) return CommandErrorCode.auth;
  }
  // A cluster-wide action has no prefix; only consume names a group.
  if ((isClusterAction(action) && v.prefix !== '') || (action !== 'consume' && glen > 0)) return CommandErrorCode.auth;
  return at + glen;
}

/**
 * Whether `name` can be a group's or a consumer's name in an entry: 1..NAME_BYTES_MAX UTF-8 bytes,
 * no C0 control or DEL, and the same string once decoded (a lone surrogate is not). Null when valid.
 */
export function nameError(name: string): CommandErrorCode | null {
  const b = utf8Encoder.encode(name);
  const v = new CommandView();
  if (parseName(v, b, 0, b.length) !== null || v.name !== name) return CommandErrorCode.name;
  return null;
}

/** A name (group, consumer) at `at` of `len` bytes into `v.name`; null when valid. */
function parseName(v: CommandView, data: Uint8Array, at: number, len: number): CommandErrorCode | null {
  if (len === 0 || len > NAME_BYTES_MAX) return CommandErrorCode.name;
  if (data.length < at + len) return CommandErrorCode.truncated;
  for (let i = at; i < at + len; i++) {
    const c = data[i]!;
    if (c < 0x20 || c === 0x7f) return CommandErrorCode.name;
  }
  try {
    v.name = utf8Text(data, at, len);
  } catch {
    return CommandErrorCode.name;
  }
  return null;
}

/** group 16 | restore 16 | delivery u32 at `at`; returns the offset after, or an error code. */
function parseGroupRef(v: CommandView, data: Uint8Array, at: number, withRestore: boolean, withDelivery = withRestore): number | CommandErrorCode {
  const need = ID_BYTES + (withRestore ? ID_BYTES : 0) + (withDelivery ? 4 : 0);
  if (data.length < at + need) return CommandErrorCode.truncated;
  v.groupHigh = readU64(data, at);
  v.groupLow = readU64(data, at + 8);
  if (!validId(v.groupHigh, v.groupLow)) return CommandErrorCode.id;
  at += ID_BYTES;
  if (!withRestore) return at;
  v.restoreHigh = readU64(data, at);
  v.restoreLow = readU64(data, at + 8);
  if (!validId(v.restoreHigh, v.restoreLow)) return CommandErrorCode.id;
  at += ID_BYTES;
  if (!withDelivery) return at;
  v.delivery = readU32(data, at);
  if (v.delivery < 1) return CommandErrorCode.number;
  return at + 4;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** An ID's halves must be below 2^53, and its low half (a log index) at least 1. */
function validId(high: number, low: number): boolean {
  return high >= 0 && low >= 1;
}

/**
 * Decode and validate `data` into `v`. Returns null when valid, else the stable error code. Never
 * throws on any input. The kind is known in `v.kind` as soon as the header was readable.
 */
export function parseCommand(v: CommandView, data: Uint8Array, limits: CodecLimits): CommandErrorCode | null {
  const n = data.length;
  v.kind = -1;
  if (n < COMMAND_HEADER_BYTES) return CommandErrorCode.truncated;
  if (data[0] !== COMMAND_FORMAT_VERSION) return data[0] === COMMAND_FORMAT_RETIRED ? CommandErrorCode.formatRetired : CommandErrorCode.version;
  const kind = data[1]!;
  if (kind === CommandKind.confirm) return CommandErrorCode.confirmInLog;
  if (kind > KIND_MAX) return CommandErrorCode.kind;
  v.kind = kind;
  const flags = data[2]!;
  if ((flags & ~FLAG_ENVELOPE) !== 0) return CommandErrorCode.flags;
  let at = COMMAND_HEADER_BYTES;
  v.hasEnvelope = (flags & FLAG_ENVELOPE) !== 0;
  if (v.hasEnvelope) {
    if (!isClientKind(kind)) return CommandErrorCode.flags;
    if (n < at + ENVELOPE_BYTES) return CommandErrorCode.truncated;
    v.clientHigh = readU64(data, at);
    v.clientLow = readU64(data, at + 8);
    if (!validId(v.clientHigh, v.clientLow)) return CommandErrorCode.id;
    v.secretAt = at + ID_BYTES;
    const seq = readU64(data, at + ID_BYTES + SECRET_BYTES);
    const acked = readU64(data, at + ID_BYTES + SECRET_BYTES + 8);
    if (seq < 1 || acked < 0 || acked > seq) return CommandErrorCode.envelope;
    v.seq = seq;
    v.ackedBelowSeq = acked;
    at += ENVELOPE_BYTES;
  }
  switch (kind) {
    case CommandKind.sessionCreate: {
      if (n < at + 2) return CommandErrorCode.truncated;
      const len = (data[at]! << 8) | data[at + 1]!;
      at += 2;
      if (len === 0) return CommandErrorCode.topicEmpty;
      if (len > limits.topicBytesMax) return CommandErrorCode.topicTooLong;
      if (n < at + len) return CommandErrorCode.truncated;
      if (n > at + len) return CommandErrorCode.trailing;
      for (let i = at; i < at + len; i++) {
        const c = data[i]!;
        if (c < 0x20 || c === 0x7f) return CommandErrorCode.topicInvalid;
      }
      try {
        v.topic = utf8Text(data, at, len);
      } catch {
        return CommandErrorCode.topicInvalid;
      }
      v.bytesStart = at;
      v.bytesEnd = at + len;
      return null;
    }
    case CommandKind.sessionAppend:
    case CommandKind.sessionRewrite: {
      if (n < at + ID_BYTES) return CommandErrorCode.truncated;
      v.sessionHigh = readU64(data, at);
      v.sessionLow = readU64(data, at + 8);
      if (!validId(v.sessionHigh, v.sessionLow)) return CommandErrorCode.id;
      at += ID_BYTES;
      if (n - at > limits.recordBytesMax) return CommandErrorCode.recordTooLarge;
      v.bytesStart = at;
      v.bytesEnd = n;
      return null;
    }
    case CommandKind.sessionDestroy: {
      if (n < at + ID_BYTES) return CommandErrorCode.truncated;
      v.sessionHigh = readU64(data, at);
      v.sessionLow = readU64(data, at + 8);
      if (!validId(v.sessionHigh, v.sessionLow)) return CommandErrorCode.id;
      at += ID_BYTES;
      return n > at ? CommandErrorCode.trailing : null;
    }
    case CommandKind.sessionStore: {
      if (n < at + ID_BYTES + 1 + 8 + ID_BYTES + 8 + 4) return CommandErrorCode.truncated;
      v.sessionHigh = readU64(data, at);
      v.sessionLow = readU64(data, at + 8);
      if (!validId(v.sessionHigh, v.sessionLow)) return CommandErrorCode.id;
      at += ID_BYTES;
      v.replayClass = data[at++]!;
      if (v.replayClass >= REPLAY_CLASSES_MAX) return CommandErrorCode.replayClass;
      v.dueMs = readU64(data, at);
      if (v.dueMs < 0) return CommandErrorCode.number;
      at += 8;
      v.fileHigh = readU64(data, at);
      v.fileLow = readU64(data, at + 8);
      if (!validId(v.fileHigh, v.fileLow)) return CommandErrorCode.id;
      at += ID_BYTES;
      v.offset = readU64(data, at);
      if (v.offset < 0) return CommandErrorCode.number;
      at += 8;
      v.length = readU32(data, at);
      at += 4;
      if (v.length < STORED_RECORD_HEADER_BYTES || v.length > limits.storedRecordBytesMax) return CommandErrorCode.length;
      return n > at ? CommandErrorCode.trailing : null;
    }
    case CommandKind.sessionRestore:
    case CommandKind.sessionCommit: {
      if (n < at + 1 + ID_BYTES + 4) return CommandErrorCode.truncated;
      v.replayClass = data[at++]!;
      if (v.replayClass >= REPLAY_CLASSES_MAX) return CommandErrorCode.replayClass;
      v.fileHigh = readU64(data, at);
      v.fileLow = readU64(data, at + 8);
      if (!validId(v.fileHigh, v.fileLow)) return CommandErrorCode.id;
      at += ID_BYTES;
      v.length = readU32(data, at);
      at += 4;
      if (v.length < STORED_RECORD_HEADER_BYTES || v.length > limits.storedRecordBytesMax) return CommandErrorCode.length;
      v.holdMs = 0;
      if (kind === CommandKind.sessionRestore && n > at) {
        // Restore ahead: the hold follows, or nothing (older entries, restores at the due time).
        if (n < at + 4) return CommandErrorCode.truncated;
        v.holdMs = readU32(data, at);
        at += 4;
        if (v.holdMs < 1 || v.holdMs > RESTORE_HOLD_MS_MAX) return CommandErrorCode.number;
      }
      return n > at ? CommandErrorCode.trailing : null;
    }
    case CommandKind.featureEnable: {
      if (n < at + 4) return CommandErrorCode.truncated;
      v.features = readU32(data, at);
      if (v.features === 0 || (v.features & ~FEATURES_KNOWN) !== 0) return CommandErrorCode.feature;
      return n > at + 4 ? CommandErrorCode.trailing : null;
    }
    case CommandKind.dataCreate: {
      if (n < at + 1) return CommandErrorCode.truncated;
      v.replayClass = data[at++]!;
      if (v.replayClass >= REPLAY_CLASSES_MAX) return CommandErrorCode.replayClass;
      return n > at ? CommandErrorCode.trailing : null;
    }
    case CommandKind.dataDelete: {
      if (n < at + 1 + ID_BYTES) return CommandErrorCode.truncated;
      v.replayClass = data[at++]!;
      if (v.replayClass >= REPLAY_CLASSES_MAX) return CommandErrorCode.replayClass;
      v.fileHigh = readU64(data, at);
      v.fileLow = readU64(data, at + 8);
      if (!validId(v.fileHigh, v.fileLow)) return CommandErrorCode.id;
      at += ID_BYTES;
      return n > at ? CommandErrorCode.trailing : null;
    }
    case CommandKind.clientRegister: {
      if (n < at + SECRET_BYTES) return CommandErrorCode.truncated;
      v.secretAt = at;
      v.user = '';
      if (n === at + SECRET_BYTES) return null;
      const after = parseAuthName(data, at + SECRET_BYTES, (s) => (v.user = s));
      if (typeof after === 'string') return after;
      return n > after ? CommandErrorCode.trailing : null;
    }
    case CommandKind.userPut: {
      const after = parseAuthName(data, at, (s) => (v.user = s));
      if (typeof after === 'string') return after;
      if (n < after + 1) return CommandErrorCode.truncated;
      const hlen = data[after]!;
      if (n < after + 1 + hlen) return CommandErrorCode.truncated;
      v.hashAt = after + 1;
      v.hashLen = hlen;
      if (hlen !== 0 && decodePasswordHash(data.subarray(v.hashAt, v.hashAt + hlen)) === null) return CommandErrorCode.auth;
      return n > after + 1 + hlen ? CommandErrorCode.trailing : null;
    }
    case CommandKind.userDelete: {
      const after = parseAuthName(data, at, (s) => (v.user = s));
      if (typeof after === 'string') return after;
      return n > after ? CommandErrorCode.trailing : null;
    }
    case CommandKind.userGrant:
    case CommandKind.userRevoke: {
      const a1 = parseAuthName(data, at, (s) => (v.user = s));
      if (typeof a1 === 'string') return a1;
      const a2 = parseAuthName(data, a1, (s) => (v.role = s));
      if (typeof a2 === 'string') return a2;
      return n > a2 ? CommandErrorCode.trailing : null;
    }
    case CommandKind.rolePut:
    case CommandKind.roleDelete: {
      const after = parseAuthName(data, at, (s) => (v.role = s));
      if (typeof after === 'string') return after;
      return n > after ? CommandErrorCode.trailing : null;
    }
    case CommandKind.roleGrant:
    case CommandKind.roleRevoke: {
      const a1 = parseAuthName(data, at, (s) => (v.role = s));
      if (typeof a1 === 'string') return a1;
      const a2 = parseGrantFields(v, data, a1, limits);
      if (typeof a2 === 'string') return a2;
      return n > a2 ? CommandErrorCode.trailing : null;
    }
    case CommandKind.groupCreate: {
      if (n < at + 2) return CommandErrorCode.truncated;
      const len = (data[at]! << 8) | data[at + 1]!;
      at += 2;
      if (len === 0) return CommandErrorCode.topicEmpty;
      if (len > limits.topicBytesMax) return CommandErrorCode.topicTooLong;
      if (n < at + len) return CommandErrorCode.truncated;
      for (let i = at; i < at + len; i++) {
        const c = data[i]!;
        if (c < 0x20 || c === 0x7f) return CommandErrorCode.topicInvalid;
      }
      try {
        v.topic = utf8Text(data, at, len);
      } catch {
        return CommandErrorCode.topicInvalid;
      }
      at += len;
      if (n < at + 1) return CommandErrorCode.truncated;
      const nameLen = data[at++]!;
      const bad = parseName(v, data, at, nameLen);
      if (bad !== null) return bad;
      at += nameLen;
      if (n < at + 8) return CommandErrorCode.truncated;
      v.ackWaitMs = readU32(data, at);
      v.maxDeliveries = (data[at + 4]! << 8) | data[at + 5]!;
      v.maxAckPending = (data[at + 6]! << 8) | data[at + 7]!;
      at += 8;
      if (v.ackWaitMs < 1 || v.maxDeliveries < 1 || v.maxAckPending < 1) return CommandErrorCode.number;
      return n > at ? CommandErrorCode.trailing : null;
    }
    case CommandKind.groupDelete: {
      const after = parseGroupRef(v, data, at, false);
      if (typeof after === 'string') return after;
      return n > after ? CommandErrorCode.trailing : null;
    }
    case CommandKind.groupAck: {
      const after = parseGroupRef(v, data, at, true);
      if (typeof after === 'string') return after;
      // Remove on ack: the session and the user follow, or nothing (sessionLow 0: a plain ack).
      v.sessionHigh = 0;
      v.sessionLow = 0;
      v.user = '';
      if (n === after) return null;
      if (n < after + ID_BYTES + 1) return CommandErrorCode.truncated;
      v.sessionHigh = readU64(data, after);
      v.sessionLow = readU64(data, after + 8);
      if (!validId(v.sessionHigh, v.sessionLow)) return CommandErrorCode.id;
      const u = after + ID_BYTES;
      if (data[u] === 0) return n > u + 1 ? CommandErrorCode.trailing : null;
      const end = parseAuthName(data, u, (s) => (v.user = s));
      if (typeof end === 'string') return end;
      return n > end ? CommandErrorCode.trailing : null;
    }
    case CommandKind.groupDeadLetter: {
      const after = parseGroupRef(v, data, at, true);
      if (typeof after === 'string') return after;
      return n > after ? CommandErrorCode.trailing : null;
    }
    case CommandKind.deadLetterReplay:
    case CommandKind.deadLetterDelete: {
      const after = parseGroupRef(v, data, at, true, false);
      if (typeof after === 'string') return after;
      return n > after ? CommandErrorCode.trailing : null;
    }
    case CommandKind.groupNack: {
      const after = parseGroupRef(v, data, at, true);
      if (typeof after === 'string') return after;
      if (n < after + 8) return CommandErrorCode.truncated;
      v.dueMs = readU64(data, after);
      if (v.dueMs < 0) return CommandErrorCode.number;
      return n > after + 8 ? CommandErrorCode.trailing : null;
    }
    case CommandKind.groupDeliver: {
      let after = parseGroupRef(v, data, at, true);
      if (typeof after === 'string') return after;
      if (n < after + 9) return CommandErrorCode.truncated;
      v.dueMs = readU64(data, after);
      if (v.dueMs < 0) return CommandErrorCode.number;
      after += 8;
      const nameLen = data[after++]!;
      const bad = parseName(v, data, after, nameLen);
      if (bad !== null) return bad;
      return n > after + nameLen ? CommandErrorCode.trailing : null;
    }
  }
  return CommandErrorCode.kind;
}

/**
 * The fixed header of a stored session record in a data file (actors/sessions/record.ts writes
 * it). Here because the codec bounds SessionStore/Restore/Commit lengths from below by it.
 */
export const STORED_RECORD_HEADER_BYTES = 40;

// ---- typed decode / encode (tests, planner, tools) -----------------------------------------

function idOf(high: number, low: number): Uint8Array {
  return commandId(high, low);
}

/** Decode and validate; throws CommandError with a stable code. */
export function decodeCommand(data: Uint8Array, limits: CodecLimits = defaultCodecLimits): Command {
  const v = new CommandView();
  const err = parseCommand(v, data, limits);
  if (err === CommandErrorCode.formatRetired) {
    throw new CommandError(
      err,
      `command format ${COMMAND_FORMAT_RETIRED} is retired: since format ${COMMAND_FORMAT_VERSION} envelopes carry the client's secret (docs/sessions.md); this log was written by an older sessionraft`,
    );
  }
  if (err !== null) throw new CommandError(err, `cannot decode a ${commandKindNames[v.kind] ?? 'command'} of ${data.length} bytes`);
  const envelope: Envelope | null = v.hasEnvelope
    ? { client: idOf(v.clientHigh, v.clientLow), secret: data.slice(v.secretAt, v.secretAt + SECRET_BYTES), seq: v.seq, ackedBelowSeq: v.ackedBelowSeq }
    : null;
  switch (v.kind) {
    case CommandKind.sessionCreate:
      return { kind: CommandKind.sessionCreate, topic: v.topic, envelope };
    case CommandKind.sessionAppend:
    case CommandKind.sessionRewrite:
      return { kind: v.kind, session: idOf(v.sessionHigh, v.sessionLow), bytes: data.slice(v.bytesStart, v.bytesEnd), envelope };
    case CommandKind.sessionStore:
      return {
        kind: CommandKind.sessionStore,
        session: idOf(v.sessionHigh, v.sessionLow),
        replayClass: v.replayClass,
        dueMs: v.dueMs,
        file: idOf(v.fileHigh, v.fileLow),
        offset: v.offset,
        length: v.length,
        envelope,
      };
    case CommandKind.sessionDestroy:
      return { kind: CommandKind.sessionDestroy, session: idOf(v.sessionHigh, v.sessionLow), envelope };
    case CommandKind.sessionRestore:
      return {
        kind: CommandKind.sessionRestore,
        replayClass: v.replayClass,
        file: idOf(v.fileHigh, v.fileLow),
        length: v.length,
        ...(v.holdMs > 0 ? { holdMs: v.holdMs } : {}),
      };
    case CommandKind.sessionCommit:
      return { kind: CommandKind.sessionCommit, replayClass: v.replayClass, file: idOf(v.fileHigh, v.fileLow), length: v.length };
    case CommandKind.dataCreate:
      return { kind: CommandKind.dataCreate, replayClass: v.replayClass };
    case CommandKind.featureEnable:
      return { kind: CommandKind.featureEnable, features: v.features };
    case CommandKind.dataDelete:
      return { kind: CommandKind.dataDelete, replayClass: v.replayClass, file: idOf(v.fileHigh, v.fileLow) };
    case CommandKind.clientRegister:
      return { kind: CommandKind.clientRegister, secret: data.slice(v.secretAt, v.secretAt + SECRET_BYTES), ...(v.user !== '' ? { owner: v.user } : {}) };
    case CommandKind.userPut:
      return { kind: CommandKind.userPut, user: v.user, passwordHash: v.hashLen === 0 ? null : data.slice(v.hashAt, v.hashAt + v.hashLen) };
    case CommandKind.userDelete:
      return { kind: CommandKind.userDelete, user: v.user };
    case CommandKind.userGrant:
    case CommandKind.userRevoke:
      return { kind: v.kind, user: v.user, role: v.role };
    case CommandKind.rolePut:
    case CommandKind.roleDelete:
      return { kind: v.kind, role: v.role };
    case CommandKind.roleGrant:
    case CommandKind.roleRevoke:
      return { kind: v.kind, role: v.role, grant: { action: v.action, prefix: v.prefix, group: v.groupName } };
    case CommandKind.groupCreate:
      return {
        kind: CommandKind.groupCreate,
        topic: v.topic,
        name: v.name,
        ackWaitMs: v.ackWaitMs,
        maxDeliveries: v.maxDeliveries,
        maxAckPending: v.maxAckPending,
      };
    case CommandKind.groupDelete:
      return { kind: CommandKind.groupDelete, group: idOf(v.groupHigh, v.groupLow) };
    case CommandKind.groupDeliver:
      return {
        kind: CommandKind.groupDeliver,
        group: idOf(v.groupHigh, v.groupLow),
        restore: idOf(v.restoreHigh, v.restoreLow),
        delivery: v.delivery,
        deadlineMs: v.dueMs,
        consumer: v.name,
      };
    case CommandKind.groupAck:
      return {
        kind: CommandKind.groupAck,
        group: idOf(v.groupHigh, v.groupLow),
        restore: idOf(v.restoreHigh, v.restoreLow),
        delivery: v.delivery,
        ...(v.sessionLow > 0 ? { remove: { session: idOf(v.sessionHigh, v.sessionLow), user: v.user } } : {}),
      };
    case CommandKind.groupDeadLetter:
      return { kind: v.kind, group: idOf(v.groupHigh, v.groupLow), restore: idOf(v.restoreHigh, v.restoreLow), delivery: v.delivery };
    case CommandKind.groupNack:
      return {
        kind: CommandKind.groupNack,
        group: idOf(v.groupHigh, v.groupLow),
        restore: idOf(v.restoreHigh, v.restoreLow),
        delivery: v.delivery,
        readyAtMs: v.dueMs,
      };
    case CommandKind.deadLetterReplay:
    case CommandKind.deadLetterDelete:
      return { kind: v.kind, group: idOf(v.groupHigh, v.groupLow), restore: idOf(v.restoreHigh, v.restoreLow) };
  }
  throw new CommandError(CommandErrorCode.kind, `unknown kind ${v.kind}`);
}

const utf8Encoder = new TextEncoder();

function encodedSize(c: Command, topicBytes: Uint8Array | null, nameBytes: Uint8Array | null): number {
  const env = 'envelope' in c && c.envelope !== null ? ENVELOPE_BYTES : 0;
  const base = COMMAND_HEADER_BYTES + env;
  switch (c.kind) {
    case CommandKind.sessionCreate:
      return base + 2 + topicBytes!.length;
    case CommandKind.sessionAppend:
    case CommandKind.sessionRewrite:
      return base + ID_BYTES + c.bytes.length;
    case CommandKind.sessionStore:
      return base + ID_BYTES + 1 + 8 + ID_BYTES + 8 + 4;
    case CommandKind.sessionDestroy:
      return base + ID_BYTES;
    case CommandKind.sessionRestore:
      return base + 1 + ID_BYTES + 4 + (c.holdMs !== undefined && c.holdMs > 0 ? 4 : 0);
    case CommandKind.sessionCommit:
      return base + 1 + ID_BYTES + 4;
    case CommandKind.dataCreate:
      return base + 1;
    case CommandKind.featureEnable:
      return base + 4;
    case CommandKind.dataDelete:
      return base + 1 + ID_BYTES;
    case CommandKind.clientRegister:
      return base + SECRET_BYTES + (c.owner !== undefined && c.owner !== '' ? 1 + utf8Encoder.encode(c.owner).length : 0);
    case CommandKind.userPut:
      return base + 1 + c.user.length + 1 + (c.passwordHash?.length ?? 0);
    case CommandKind.userDelete:
      return base + 1 + c.user.length;
    case CommandKind.userGrant:
    case CommandKind.userRevoke:
      return base + 2 + c.user.length + c.role.length;
    case CommandKind.rolePut:
    case CommandKind.roleDelete:
      return base + 1 + c.role.length;
    case CommandKind.roleGrant:
    case CommandKind.roleRevoke:
      return base + 1 + c.role.length + 3 + utf8Encoder.encode(c.grant.prefix).length + 1 + c.grant.group.length;
    case CommandKind.groupCreate:
      return base + 2 + topicBytes!.length + 1 + nameBytes!.length + 8;
    case CommandKind.groupDelete:
      return base + ID_BYTES;
    case CommandKind.groupAck:
      return base + 2 * ID_BYTES + 4 + (c.remove !== undefined ? ID_BYTES + 1 + c.remove.user.length : 0);
    case CommandKind.groupDeadLetter:
      return base + 2 * ID_BYTES + 4;
    case CommandKind.groupNack:
      return base + 2 * ID_BYTES + 4 + 8;
    case CommandKind.groupDeliver:
      return base + 2 * ID_BYTES + 4 + 8 + 1 + nameBytes!.length;
    case CommandKind.deadLetterReplay:
    case CommandKind.deadLetterDelete:
      return base + 2 * ID_BYTES;
  }
}

/** A user or role name (ASCII by isAuthName) as u8 length and bytes at `at`; returns the offset after. */
function writeAuthName(out: Uint8Array, at: number, name: string): number {
  if (!isAuthName(name)) throw new RangeError(`a user or role name is 1..64 of [A-Za-z0-9_.@-], got ${JSON.stringify(name)}`);
  out[at] = name.length;
  for (let i = 0; i < name.length; i++) out[at + 1 + i] = name.charCodeAt(i);
  return at + 1 + name.length;
}

function checkName(b: Uint8Array): void {
  if (b.length < 1 || b.length > NAME_BYTES_MAX) throw new RangeError(`a name is 1..${NAME_BYTES_MAX} bytes, got ${b.length}`);
}

function checkU(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${what} must be an integer 0..${max}, got ${value}`);
}

function checkU64(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a safe non-negative integer, got ${value}`);
}

function checkClass(c: number): void {
  if (!Number.isInteger(c) || c < 0 || c >= REPLAY_CLASSES_MAX) throw new RangeError(`replay class must be 0..${REPLAY_CLASSES_MAX - 1}, got ${c}`);
}

/**
 * Encode a command. Throws RangeError on values the format cannot carry (a caller bug); limits
 * that depend on configuration (topic and record sizes) are checked on decode, where they bind.
 */
export function encodeCommand(c: Command): Uint8Array {
  // Shared arrays (utf8Cache.ts): only copied into `out` below.
  const topicBytes = c.kind === CommandKind.sessionCreate || c.kind === CommandKind.groupCreate ? utf8Of(c.topic) : null;
  if (topicBytes !== null && topicBytes.length > 0xffff) throw new RangeError('topic longer than 65535 bytes');
  const nameBytes = c.kind === CommandKind.groupCreate ? utf8Of(c.name) : c.kind === CommandKind.groupDeliver ? utf8Of(c.consumer) : null;
  if (nameBytes !== null) checkName(nameBytes);
  const out = zeroedBytes(encodedSize(c, topicBytes, nameBytes));
  out[0] = COMMAND_FORMAT_VERSION;
  out[1] = c.kind;
  let at = COMMAND_HEADER_BYTES;
  const env = 'envelope' in c ? c.envelope : null;
  if (env !== null) {
    out[2] = FLAG_ENVELOPE;
    writeId(out, at, env.client);
    writeSecret(out, at + ID_BYTES, env.secret);
    checkU64(env.seq, 'seq');
    checkU64(env.ackedBelowSeq, 'ackedBelowSeq');
    writeU64(out, at + ID_BYTES + SECRET_BYTES, env.seq);
    writeU64(out, at + ID_BYTES + SECRET_BYTES + 8, env.ackedBelowSeq);
    at += ENVELOPE_BYTES;
  }
  switch (c.kind) {
    case CommandKind.sessionCreate:
      out[at] = topicBytes!.length >>> 8;
      out[at + 1] = topicBytes!.length & 0xff;
      out.set(topicBytes!, at + 2);
      break;
    case CommandKind.sessionAppend:
    case CommandKind.sessionRewrite:
      writeId(out, at, c.session);
      out.set(c.bytes, at + ID_BYTES);
      break;
    case CommandKind.sessionStore:
      writeId(out, at, c.session);
      at += ID_BYTES;
      checkClass(c.replayClass);
      out[at++] = c.replayClass;
      checkU64(c.dueMs, 'dueMs');
      writeU64(out, at, c.dueMs);
      at += 8;
      writeId(out, at, c.file);
      at += ID_BYTES;
      checkU64(c.offset, 'offset');
      writeU64(out, at, c.offset);
      at += 8;
      if (!Number.isInteger(c.length) || c.length < 0 || c.length > 0xffffffff) throw new RangeError(`length out of range: ${c.length}`);
      writeU32(out, at, c.length);
      break;
    case CommandKind.sessionDestroy:
      writeId(out, at, c.session);
      break;
    case CommandKind.sessionRestore:
    case CommandKind.sessionCommit:
      checkClass(c.replayClass);
      out[at] = c.replayClass;
      writeId(out, at + 1, c.file);
      if (!Number.isInteger(c.length) || c.length < 0 || c.length > 0xffffffff) throw new RangeError(`length out of range: ${c.length}`);
      writeU32(out, at + 1 + ID_BYTES, c.length);
      if (c.kind === CommandKind.sessionRestore && c.holdMs !== undefined && c.holdMs > 0) {
        if (!Number.isInteger(c.holdMs) || c.holdMs > RESTORE_HOLD_MS_MAX) throw new RangeError(`holdMs out of range: ${c.holdMs}`);
        writeU32(out, at + 1 + ID_BYTES + 4, c.holdMs);
      }
      break;
    case CommandKind.dataCreate:
      checkClass(c.replayClass);
      out[at] = c.replayClass;
      break;
    case CommandKind.featureEnable:
      if (!Number.isInteger(c.features) || c.features <= 0 || (c.features & ~FEATURES_KNOWN) !== 0)
        throw new RangeError(`features out of range: ${c.features}`);
      writeU32(out, at, c.features);
      break;
    case CommandKind.dataDelete:
      checkClass(c.replayClass);
      out[at] = c.replayClass;
      writeId(out, at + 1, c.file);
      break;
    case CommandKind.clientRegister:
      writeSecret(out, at, c.secret);
      if (c.owner !== undefined && c.owner !== '') writeAuthName(out, at + SECRET_BYTES, c.owner);
      break;
    case CommandKind.userPut: {
      at = writeAuthName(out, at, c.user);
      const h = c.passwordHash;
      if (h !== null && decodePasswordHash(h) === null) throw new RangeError('not a password hash (access.ts encodePasswordHash)');
      out[at] = h?.length ?? 0;
      if (h !== null) out.set(h, at + 1);
      break;
    }
    case CommandKind.userDelete:
      writeAuthName(out, at, c.user);
      break;
    case CommandKind.userGrant:
    case CommandKind.userRevoke:
      writeAuthName(out, writeAuthName(out, at, c.user), c.role);
      break;
    case CommandKind.rolePut:
    case CommandKind.roleDelete:
      writeAuthName(out, at, c.role);
      break;
    case CommandKind.roleGrant:
    case CommandKind.roleRevoke: {
      at = writeAuthName(out, at, c.role);
      const g = c.grant;
      const action = ACTIONS.indexOf(g.action);
      const prefix = utf8Encoder.encode(g.prefix);
      if (
        action < 0 ||
        !isPrefix(g.prefix) ||
        (g.group !== '' && (!isAuthName(g.group) || g.action !== 'consume')) ||
        (isClusterAction(g.action) && g.prefix !== '')
      )
        throw new RangeError(`not a permission: ${JSON.stringify(g)}`);
      out[at] = action;
      out[at + 1] = prefix.length >>> 8;
      out[at + 2] = prefix.length & 0xff;
      out.set(prefix, at + 3);
      at += 3 + prefix.length;
      out[at] = g.group.length;
      out.set(utf8Encoder.encode(g.group), at + 1);
      break;
    }
    case CommandKind.groupCreate:
      out[at] = topicBytes!.length >>> 8;
      out[at + 1] = topicBytes!.length & 0xff;
      out.set(topicBytes!, at + 2);
      at += 2 + topicBytes!.length;
      out[at++] = nameBytes!.length;
      out.set(nameBytes!, at);
      at += nameBytes!.length;
      checkU(c.ackWaitMs, 0xffffffff, 'ackWaitMs');
      checkU(c.maxDeliveries, 0xffff, 'maxDeliveries');
      checkU(c.maxAckPending, 0xffff, 'maxAckPending');
      writeU32(out, at, c.ackWaitMs);
      out[at + 4] = c.maxDeliveries >>> 8;
      out[at + 5] = c.maxDeliveries & 0xff;
      out[at + 6] = c.maxAckPending >>> 8;
      out[at + 7] = c.maxAckPending & 0xff;
      break;
    case CommandKind.groupDelete:
      writeId(out, at, c.group);
      break;
    case CommandKind.groupAck:
    case CommandKind.groupDeadLetter:
    case CommandKind.groupNack:
    case CommandKind.groupDeliver:
      writeId(out, at, c.group);
      writeId(out, at + ID_BYTES, c.restore);
      at += 2 * ID_BYTES;
      checkU(c.delivery, 0xffffffff, 'delivery');
      writeU32(out, at, c.delivery);
      at += 4;
      if (c.kind === CommandKind.groupNack) {
        checkU64(c.readyAtMs, 'readyAtMs');
        writeU64(out, at, c.readyAtMs);
      } else if (c.kind === CommandKind.groupDeliver) {
        checkU64(c.deadlineMs, 'deadlineMs');
        writeU64(out, at, c.deadlineMs);
        out[at + 8] = nameBytes!.length;
        out.set(nameBytes!, at + 9);
      } else if (c.kind === CommandKind.groupAck && c.remove !== undefined) {
        writeId(out, at, c.remove.session);
        if (c.remove.user !== '') writeAuthName(out, at + ID_BYTES, c.remove.user);
      }
      break;
    case CommandKind.deadLetterReplay:
    case CommandKind.deadLetterDelete:
      writeId(out, at, c.group);
      writeId(out, at + ID_BYTES, c.restore);
      break;
  }
  return out;
}

/** The encoded length of a SessionAppend of `recordBytes`, with or without an envelope. */
export function encodedAppendBytes(withEnvelope: boolean, recordBytes: number): number {
  return COMMAND_HEADER_BYTES + (withEnvelope ? ENVELOPE_BYTES : 0) + ID_BYTES + recordBytes;
}

/**
 * The hot path's encoder: a SessionAppend without an envelope, written with no intermediate
 * objects. `session` is the 16-byte session ID.
 */
export function encodeAppend(session: Uint8Array, record: Uint8Array): Uint8Array {
  const out = zeroedBytes(COMMAND_HEADER_BYTES + ID_BYTES + record.length);
  out[0] = COMMAND_FORMAT_VERSION;
  out[1] = CommandKind.sessionAppend;
  writeId(out, COMMAND_HEADER_BYTES, session);
  out.set(record, COMMAND_HEADER_BYTES + ID_BYTES);
  return out;
}
