/**
 * Users, roles and permissions (issue 17): the pure model that the replicated auth table
 * (actors/sessions/authTable.ts), the client port's checks (transport/client/server.ts) and the CLI
 * share. Pure: no node:*, no clock, no randomness (the password hash is computed by the leader,
 * transport/client/password.ts, and arrives here as bytes).
 *
 * A permission is an action on a topic prefix: `write` (create, append, rewrite, destroy), `read`
 * (get, list, subscribe), `store` (store for replay), `consume` (a consumer group, by name or any),
 * `monitor` (status, groups, member list) and `admin` (membership, users, roles). Monitor and admin
 * are cluster-wide: their prefix is always ''. A prefix '' covers every topic. Users hold roles;
 * roles hold permissions; the built-in role `admin` holds every permission on every topic and cannot
 * be changed or deleted.
 *
 * Text forms (the CLI's): `write:orders/`, `read:*` (every topic), `consume:orders/:billing` (one
 * group), `consume:orders/` (any group), `monitor`, `admin`.
 */

export const ACTIONS = ['write', 'read', 'store', 'consume', 'monitor', 'admin'] as const;
export type Action = (typeof ACTIONS)[number];

/** The built-in role: every action on every topic (like etcd's root). */
export const ADMIN_ROLE = 'admin';

/** User, role and consumer group names: 1..64 bytes of [A-Za-z0-9_.@-]. */
const NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
/** A topic prefix: up to 256 bytes (the default topicBytesMax), no C0 control or DEL. */
const PREFIX_BYTES_MAX = 256;

export function isAuthName(s: unknown): s is string {
  return typeof s === 'string' && NAME.test(s);
}

export interface Grant {
  readonly action: Action;
  /** Topic prefix; '' covers every topic (always '' for monitor and admin). */
  readonly prefix: string;
  /** consume only: the group's name; '' = any group. */
  readonly group: string;
}

/** Whether `action` is one without a topic (cluster-wide). */
export function isClusterAction(action: Action): boolean {
  return action === 'monitor' || action === 'admin';
}

const utf8 = new TextEncoder();

/**
 * A prefix the codec can carry: printable UTF-8 up to PREFIX_BYTES_MAX bytes, but not the lone `*`,
 * which the text form (the snapshot's, the CLI's) reads as every topic: a grant on it would widen to
 * every topic on a replica restored from a snapshot (2026-12-07, a review).
 */
export function isPrefix(s: unknown): s is string {
  if (typeof s !== 'string' || s === '*') return false;
  if (utf8.encode(s).length > PREFIX_BYTES_MAX) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

export class GrantSyntaxError extends Error {
  readonly code = 'AUTH_ERR_GRANT_SYNTAX';
  constructor(message: string) {
    super(`AUTH_ERR_GRANT_SYNTAX: ${message}`);
    this.name = 'GrantSyntaxError';
  }
}

/**
 * A permission in text form to a Grant; throws GrantSyntaxError. `action[:prefix[:group]]`, the
 * prefix `*` (or nothing) meaning every topic; a group only for consume.
 */
export function parseGrant(text: string): Grant {
  if (typeof text !== 'string' || text.length === 0 || text.length > 400) throw new GrantSyntaxError('a permission is action[:prefix[:group]]');
  const first = text.indexOf(':');
  const actionText = first < 0 ? text : text.slice(0, first);
  const action = ACTIONS.find((a) => a === actionText);
  if (action === undefined) throw new GrantSyntaxError(`unknown action ${JSON.stringify(actionText)}: one of ${ACTIONS.join(', ')}`);
  let rest = first < 0 ? '' : text.slice(first + 1);
  let group = '';
  if (action === 'consume') {
    // The group is after the last ':' (group names hold no ':'; a prefix with ':' then needs an explicit group, `*` for any).
    const last = rest.lastIndexOf(':');
    if (last >= 0) {
      group = rest.slice(last + 1);
      rest = rest.slice(0, last);
      if (group !== '*' && group !== '' && !isAuthName(group)) throw new GrantSyntaxError(`group ${JSON.stringify(group)}: 1..64 of [A-Za-z0-9_.@-], or *`);
      if (group === '*') group = '';
    }
  }
  const prefix = rest === '*' ? '' : rest;
  if (isClusterAction(action) && prefix !== '') throw new GrantSyntaxError(`${action} is cluster-wide: it takes no topic prefix`);
  if (!isPrefix(prefix)) throw new GrantSyntaxError(`prefix ${JSON.stringify(prefix)}: at most ${PREFIX_BYTES_MAX} bytes, no control characters`);
  return { action, prefix, group };
}

export function formatGrant(g: Grant): string {
  if (isClusterAction(g.action)) return g.action;
  const p = g.prefix === '' ? '*' : g.prefix;
  if (g.action !== 'consume') return `${g.action}:${p}`;
  // A prefix with ':' needs its group written, `*` for any: parseGrant reads the group after the
  // last ':' (before 2026-12-07, consume on prefix 'orders:' and any group came back as prefix
  // 'orders', wider, from a snapshot or through the client library: a review found it).
  if (g.group !== '') return `consume:${p}:${g.group}`;
  return p.includes(':') ? `consume:${p}:*` : `consume:${p}`;
}

export function sameGrant(a: Grant, b: Grant): boolean {
  return a.action === b.action && a.prefix === b.prefix && a.group === b.group;
}

/** Whether `g` allows `action` on `topic` (and, for consume, `group`). Admin implies every action. */
export function grantAllows(g: Grant, action: Action, topic: string, group: string): boolean {
  if (g.action === 'admin') return true;
  if (g.action !== action) return false;
  if (isClusterAction(action)) return true;
  if (!topic.startsWith(g.prefix)) return false;
  return action !== 'consume' || g.group === '' || g.group === group;
}

/**
 * A password's stored form: scrypt's parameters with the salt and the derived key, so that a
 * change of the defaults never invalidates stored hashes.
 *
 *   format u8 (1) | log2 N u8 | r u8 | p u8 | salt 16 | key 32      (52 bytes)
 */
interface PasswordHash {
  readonly logN: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Uint8Array;
  readonly key: Uint8Array;
}

const HASH_FORMAT = 1;
export const PASSWORD_SALT_BYTES = 16;
export const PASSWORD_KEY_BYTES = 32;
const PASSWORD_HASH_BYTES = 4 + PASSWORD_SALT_BYTES + PASSWORD_KEY_BYTES;
/** Bounds on stored parameters: a hash from the log must never make a node spend unbounded memory or time. */
const LOG_N_MIN = 10;
const LOG_N_MAX = 20;
const R_MAX = 32;
const P_MAX = 16;

export function encodePasswordHash(h: PasswordHash): Uint8Array {
  if (!validParams(h.logN, h.r, h.p)) throw new RangeError(`scrypt parameters out of range: logN ${h.logN}, r ${h.r}, p ${h.p}`);
  if (h.salt.length !== PASSWORD_SALT_BYTES || h.key.length !== PASSWORD_KEY_BYTES) throw new RangeError('salt is 16 bytes and key 32');
  const out = new Uint8Array(PASSWORD_HASH_BYTES);
  out[0] = HASH_FORMAT;
  out[1] = h.logN;
  out[2] = h.r;
  out[3] = h.p;
  out.set(h.salt, 4);
  out.set(h.key, 4 + PASSWORD_SALT_BYTES);
  return out;
}

function validParams(logN: number, r: number, p: number): boolean {
  return (
    Number.isInteger(logN) &&
    logN >= LOG_N_MIN &&
    logN <= LOG_N_MAX &&
    Number.isInteger(r) &&
    r >= 1 &&
    r <= R_MAX &&
    Number.isInteger(p) &&
    p >= 1 &&
    p <= P_MAX
  );
}

/** The stored form back; null when it is not one (wrong length, format or parameters). */
export function decodePasswordHash(b: Uint8Array): PasswordHash | null {
  if (!(b instanceof Uint8Array) || b.length !== PASSWORD_HASH_BYTES || b[0] !== HASH_FORMAT) return null;
  const logN = b[1]!;
  const r = b[2]!;
  const p = b[3]!;
  if (!validParams(logN, r, p)) return null;
  return { logN, r, p, salt: b.slice(4, 4 + PASSWORD_SALT_BYTES), key: b.slice(4 + PASSWORD_SALT_BYTES) };
}

/** One user as the auth table holds it. */
export interface UserRecord {
  readonly name: string;
  /** The password's stored form (PASSWORD_HASH_BYTES), or null: certificate only. */
  readonly passwordHash: Uint8Array | null;
  /** The log index of the user's last UserPut: a password change ends sessions authenticated before it. */
  readonly version: number;
  readonly roles: readonly string[];
}

/**
 * What the client port reads of the replicated auth table (the node's applied state): a change
 * applied on a node is in force on that node's next request, without a restart.
 */
export interface AccessView {
  /** Whether any user exists (then every client must authenticate). */
  hasUsers(): boolean;
  user(name: string): UserRecord | null;
  /** The user's version (UserRecord.version), -1 when there is no such user: the hot path's check, without allocating. */
  userVersion(name: string): number;
  /** Whether `user` may do `action` on `topic` (group: consume's group name). */
  allows(user: string, action: Action, topic: string, group: string): boolean;
  /** Bumped by every applied auth command: cached decisions are valid while it is unchanged. */
  readonly version: number;
  users(): UserRecord[];
  roles(): { readonly name: string; readonly grants: readonly Grant[]; readonly builtin: boolean }[];
}
