/**
 * Users, roles and permissions (issue 17): the replicated table the auth commands (UserPut,
 * UserDelete, UserGrant, UserRevoke, RolePut, RoleDelete, RoleGrant, RoleRevoke) build. Part of the
 * session store's state (apply, snapshot, digest); pure and deterministic: a password arrives hashed
 * in its entry (the leader computed the scrypt hash with its own salt once), so no replica sees a
 * plaintext or draws randomness. The client port reads it through `AccessView` on every request, so
 * a change applied on a node is in force there at once, without a restart.
 *
 * Bounded: at most USERS_MAX users, ROLES_MAX roles, GRANTS_PER_ROLE_MAX permissions per role and
 * ROLES_PER_USER_MAX roles per user; a command beyond a bound is refused with its code (the same on
 * every replica). The built-in role `admin` (every permission) cannot be changed or deleted.
 */
import {
  ADMIN_ROLE,
  decodePasswordHash,
  formatGrant,
  grantAllows,
  isAuthName,
  parseGrant,
  sameGrant,
  type AccessView,
  type Action,
  type Grant,
  type UserRecord,
} from '../../transport/commands/access.js';
import { ByteReader, ByteWriter } from './binary.js';
import { ResultCode } from './errors.js';
import type { CommandResult } from './types.js';

const USERS_MAX = 10_000;
const ROLES_MAX = 1_000;
const GRANTS_PER_ROLE_MAX = 256;
const ROLES_PER_USER_MAX = 64;

interface User {
  passwordHash: Uint8Array | null;
  version: number;
  readonly roles: Set<string>;
}

const OK: CommandResult = Object.freeze({ ok: true, code: ResultCode.ok, value: null });

function refuse(code: ResultCode): CommandResult {
  return { ok: false, code, value: null };
}

const ADMIN_GRANTS: readonly Grant[] = [{ action: 'admin', prefix: '', group: '' }];

export class AuthTable implements AccessView {
  private readonly byName = new Map<string, User>();
  private readonly roleGrants = new Map<string, Grant[]>();
  /** Bumped by every applied auth command (and a load): the client port caches decisions per version. */
  version = 0;

  hasUsers(): boolean {
    return this.byName.size > 0;
  }

  user(name: string): UserRecord | null {
    const u = this.byName.get(name);
    return u === undefined ? null : { name, passwordHash: u.passwordHash, version: u.version, roles: [...u.roles].sort() };
  }

  userVersion(name: string): number {
    return this.byName.get(name)?.version ?? -1;
  }

  allows(user: string, action: Action, topic: string, group: string): boolean {
    const u = this.byName.get(user);
    if (u === undefined) return false;
    for (const role of u.roles) {
      const grants = role === ADMIN_ROLE ? ADMIN_GRANTS : this.roleGrants.get(role);
      if (grants === undefined) continue;
      for (const g of grants) if (grantAllows(g, action, topic, group)) return true;
    }
    return false;
  }

  users(): UserRecord[] {
    return [...this.byName.keys()].sort().map((n) => this.user(n)!);
  }

  roles(): { name: string; grants: readonly Grant[]; builtin: boolean }[] {
    const out = [{ name: ADMIN_ROLE, grants: ADMIN_GRANTS, builtin: true }];
    for (const name of [...this.roleGrants.keys()].sort()) out.push({ name, grants: this.roleGrants.get(name)!, builtin: false });
    return out;
  }

  // ---- apply (the store calls these with validated fields) -----------------------------------

  /**
   * UserPut: create the user, or replace its password (its roles stay); `index` is the entry's.
   * `firstIsAdmin` (the `first-user-admin` flag): the first user of a table with none is created
   * with the admin role, in this one entry.
   */
  putUser(name: string, passwordHash: Uint8Array | null, index: number, firstIsAdmin: boolean): CommandResult {
    this.version++;
    const u = this.byName.get(name);
    if (u !== undefined) {
      u.passwordHash = passwordHash;
      u.version = index;
      return OK;
    }
    if (this.byName.size >= USERS_MAX) return refuse(ResultCode.authFull);
    this.byName.set(name, { passwordHash, version: index, roles: firstIsAdmin && this.byName.size === 0 ? new Set([ADMIN_ROLE]) : new Set() });
    return OK;
  }

  /** `keepAdmin` (the `last-admin` flag): the last user holding the admin role is not deleted. */
  deleteUser(name: string, keepAdmin: boolean): CommandResult {
    this.version++;
    if (keepAdmin && this.lastAdmin(name)) return refuse(ResultCode.lastAdmin);
    return this.byName.delete(name) ? OK : refuse(ResultCode.userUnknown);
  }

  grantRole(user: string, role: string): CommandResult {
    this.version++;
    const u = this.byName.get(user);
    if (u === undefined) return refuse(ResultCode.userUnknown);
    if (role !== ADMIN_ROLE && !this.roleGrants.has(role)) return refuse(ResultCode.roleUnknown);
    if (u.roles.has(role)) return OK;
    if (u.roles.size >= ROLES_PER_USER_MAX) return refuse(ResultCode.authFull);
    u.roles.add(role);
    return OK;
  }

  /** `keepAdmin` (the `last-admin` flag): the admin role of the last user holding it is not revoked. */
  revokeRole(user: string, role: string, keepAdmin: boolean): CommandResult {
    this.version++;
    const u = this.byName.get(user);
    if (u === undefined) return refuse(ResultCode.userUnknown);
    if (keepAdmin && role === ADMIN_ROLE && this.lastAdmin(user)) return refuse(ResultCode.lastAdmin);
    return u.roles.delete(role) ? OK : refuse(ResultCode.roleUnknown);
  }

  /**
   * Whether `user` is the only user holding the admin role. The leader's port refuses such a
   * removal before proposing it, but two removals that each passed a port's check (on two leaders,
   * across a leader change) both reached the log, and left no admin (2026-12-07).
   */
  private lastAdmin(user: string): boolean {
    if (this.byName.get(user)?.roles.has(ADMIN_ROLE) !== true) return false;
    for (const [name, u] of this.byName) if (name !== user && u.roles.has(ADMIN_ROLE)) return false;
    return true;
  }

  putRole(role: string): CommandResult {
    this.version++;
    if (role === ADMIN_ROLE) return refuse(ResultCode.roleBuiltin);
    if (this.roleGrants.has(role)) return OK;
    if (this.roleGrants.size >= ROLES_MAX) return refuse(ResultCode.authFull);
    this.roleGrants.set(role, []);
    return OK;
  }

  /** RoleDelete: the role goes, and every user loses it. */
  deleteRole(role: string): CommandResult {
    this.version++;
    if (role === ADMIN_ROLE) return refuse(ResultCode.roleBuiltin);
    if (!this.roleGrants.delete(role)) return refuse(ResultCode.roleUnknown);
    for (const u of this.byName.values()) u.roles.delete(role);
    return OK;
  }

  grantPermission(role: string, g: Grant): CommandResult {
    this.version++;
    if (role === ADMIN_ROLE) return refuse(ResultCode.roleBuiltin);
    const grants = this.roleGrants.get(role);
    if (grants === undefined) return refuse(ResultCode.roleUnknown);
    if (grants.some((x) => sameGrant(x, g))) return OK;
    if (grants.length >= GRANTS_PER_ROLE_MAX) return refuse(ResultCode.authFull);
    grants.push({ action: g.action, prefix: g.prefix, group: g.group });
    return OK;
  }

  revokePermission(role: string, g: Grant): CommandResult {
    this.version++;
    if (role === ADMIN_ROLE) return refuse(ResultCode.roleBuiltin);
    const grants = this.roleGrants.get(role);
    if (grants === undefined) return refuse(ResultCode.roleUnknown);
    const k = grants.findIndex((x) => sameGrant(x, g));
    if (k < 0) return refuse(ResultCode.permissionUnknown);
    grants.splice(k, 1);
    return OK;
  }

  // ---- snapshot ------------------------------------------------------------------------------

  /**
   * The table's bytes in a manifest (version 4), in name order so that equal tables encode equally:
   *
   *   u32 n | (name str, hashLen u8, hash, version u64, u32 n | role str*)*
   *   u32 n | (role str, u32 n | grant str*)*        (grants in their text form, access.ts formatGrant)
   */
  encode(): Uint8Array {
    const w = new ByteWriter(256);
    const names = [...this.byName.keys()].sort();
    w.u32(names.length);
    for (const name of names) {
      const u = this.byName.get(name)!;
      w.str(name);
      const h = u.passwordHash ?? new Uint8Array(0);
      w.u8(h.length);
      w.raw(h);
      w.u64(u.version);
      const roles = [...u.roles].sort();
      w.u32(roles.length);
      for (const r of roles) w.str(r);
    }
    const roles = [...this.roleGrants.keys()].sort();
    w.u32(roles.length);
    for (const role of roles) {
      const grants = this.roleGrants.get(role)!;
      w.str(role);
      w.u32(grants.length);
      for (const g of grants) w.str(formatGrant(g));
    }
    return w.finish();
  }

  /** Replace the table with an encoded one (empty bytes: no users). Throws on bad bytes (RangeError or ManifestFormatError). */
  load(bytes: Uint8Array): void {
    const users = new Map<string, User>();
    const roleGrants = new Map<string, Grant[]>();
    if (bytes.length > 0) {
      const r = new ByteReader(bytes);
      const nu = r.count(15);
      for (let k = 0; k < nu; k++) {
        const name = r.str();
        if (!isAuthName(name) || users.has(name)) throw new RangeError(`user ${JSON.stringify(name)}`);
        const hlen = r.u8();
        const hash = hlen === 0 ? null : r.raw(hlen);
        if (hash !== null && decodePasswordHash(hash) === null) throw new RangeError(`user ${name}: not a password hash`);
        const version = r.u64();
        const nr = r.count(2);
        if (nr > ROLES_PER_USER_MAX) throw new RangeError(`user ${name}: ${nr} roles`);
        const roles = new Set<string>();
        for (let j = 0; j < nr; j++) roles.add(r.str());
        users.set(name, { passwordHash: hash, version, roles });
      }
      const nroles = r.count(6);
      for (let k = 0; k < nroles; k++) {
        const role = r.str();
        if (!isAuthName(role) || role === ADMIN_ROLE || roleGrants.has(role)) throw new RangeError(`role ${JSON.stringify(role)}`);
        const ng = r.count(2);
        if (ng > GRANTS_PER_ROLE_MAX) throw new RangeError(`role ${role}: ${ng} permissions`);
        const grants: Grant[] = [];
        for (let j = 0; j < ng; j++) grants.push(parseGrant(r.str()));
        roleGrants.set(role, grants);
      }
      if (!r.done()) throw new RangeError('trailing bytes in the auth table');
      for (const [name, u] of users)
        for (const role of u.roles) if (role !== ADMIN_ROLE && !roleGrants.has(role)) throw new RangeError(`user ${name} holds unknown role ${role}`);
    }
    this.byName.clear();
    this.roleGrants.clear();
    for (const [k, v] of users) this.byName.set(k, v);
    for (const [k, v] of roleGrants) this.roleGrants.set(k, v);
    this.version++;
  }
}
