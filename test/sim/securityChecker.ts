/**
 * Issue 17: the security checker of the simulator's `--sessions` mode (security.ts drives the
 * workload). It keeps its own model of users, roles and permissions and of the active sessions,
 * built from the committed history in log order (every entry the first time any node applies it;
 * first applications come in index order, as in groupsChecker.ts), independent of the product's
 * AuthTable. It fails the run when:
 *
 * - (a) `applied-without-permission`: an enveloped session command whose client's user (the owner
 *   its ClientRegister entry names) lacks the permission by the auth commands ordered before it is
 *   applied (any result but CLIENT_ERR_PERMISSION_DENIED); `denied-with-permission`: one that has
 *   the permission is refused with CLIENT_ERR_PERMISSION_DENIED. Log order decides, never a clock;
 * - (b) `auth-state-diverges`: a node's users, roles and permissions after an apply differ from the
 *   model's at the same applied index (so every two nodes at one index agree, and agree with the
 *   log);
 * - (c) `state-without-permission`: at the end, a member's active sessions (IDs, topics, records)
 *   differ from the model's, which applies only what was allowed and succeeded: a denied command
 *   that changed state anyway shows up there.
 */
import { CommandKind, CommandView, FEATURES, parseCommand, readU64BE, type CodecLimits } from '../../transport/commands/codec.js';
import { ADMIN_ROLE, formatGrant, type AccessView, type Action, type Grant } from '../../transport/commands/access.js';
import { ResultCode } from '../../actors/sessions/errors.js';
import { codecLimitsOf } from '../../actors/sessions/options.js';
import type { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import { EntryKind, type Entry, type NodeId } from '../../machines/types.js';
import type { Violation } from './checker.js';

export interface SecurityStats {
  /** Auth commands in the committed history, and those applied with OK. */
  authEntries: number;
  authApplied: number;
  /** Requests the simulated client port refused (nothing proposed), and those it let through unchecked on purpose. */
  deniedAtPort: number;
  unchecked: number;
  /** Enveloped session commands judged in log order: allowed, and denied at apply. */
  judged: number;
  deniedAtApply: number;
  /** Of those denied at apply, the port had allowed (a revoke ordered before the command): the race the apply check closes. */
  deniedAfterPortAllowed: number;
  /** Node auth states compared with the model at an applied index. */
  digestChecks: number;
  /** Remove on ack: acks naming an active session judged, and those that removed it. */
  removingAcks: number;
  removedByAck: number;
}

export function emptySecurityStats(): SecurityStats {
  return {
    authEntries: 0,
    authApplied: 0,
    deniedAtPort: 0,
    unchecked: 0,
    judged: 0,
    deniedAtApply: 0,
    deniedAfterPortAllowed: 0,
    digestChecks: 0,
    removingAcks: 0,
    removedByAck: 0,
  };
}

export function addSecurityStats(a: SecurityStats, b: SecurityStats): SecurityStats {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof SecurityStats)[]) out[k] += b[k];
  return out;
}

interface ModelUser {
  hashHex: string;
  version: number;
  readonly roles: Set<string>;
}

/** Users, roles and permissions as the log orders them (the rules of docs/operations.md, Security). */
class AuthModel {
  private readonly users = new Map<string, ModelUser>();
  private readonly roles = new Map<string, Grant[]>();
  /** The `last-admin` flag is on (a FeatureEnable ordered before): the last admin is neither deleted nor loses the role. */
  keepLastAdmin = false;
  /** The `first-user-admin` flag is on: the first user of an empty table is created with the admin role. */
  firstUserAdmin = false;

  private isLastAdmin(user: string): boolean {
    if (this.users.get(user)?.roles.has(ADMIN_ROLE) !== true) return false;
    for (const [name, u] of this.users) if (name !== user && u.roles.has(ADMIN_ROLE)) return false;
    return true;
  }

  /** One auth command; whether it changed anything is not needed (the digest compares the result). */
  step(v: CommandView, e: Entry): void {
    switch (v.kind) {
      case CommandKind.userPut: {
        const hashHex = Buffer.from(e.data.subarray(v.hashAt, v.hashAt + v.hashLen)).toString('hex');
        const u = this.users.get(v.user);
        if (u !== undefined) {
          u.hashHex = hashHex;
          u.version = e.index;
        } else this.users.set(v.user, { hashHex, version: e.index, roles: new Set(this.firstUserAdmin && this.users.size === 0 ? [ADMIN_ROLE] : []) });
        return;
      }
      case CommandKind.userDelete:
        if (this.keepLastAdmin && this.isLastAdmin(v.user)) return;
        this.users.delete(v.user);
        return;
      case CommandKind.userGrant: {
        const u = this.users.get(v.user);
        if (u !== undefined && (v.role === ADMIN_ROLE || this.roles.has(v.role))) u.roles.add(v.role);
        return;
      }
      case CommandKind.userRevoke:
        if (this.keepLastAdmin && v.role === ADMIN_ROLE && this.isLastAdmin(v.user)) return;
        this.users.get(v.user)?.roles.delete(v.role);
        return;
      case CommandKind.rolePut:
        if (v.role !== ADMIN_ROLE && !this.roles.has(v.role)) this.roles.set(v.role, []);
        return;
      case CommandKind.roleDelete:
        if (v.role === ADMIN_ROLE || !this.roles.delete(v.role)) return;
        for (const u of this.users.values()) u.roles.delete(v.role);
        return;
      case CommandKind.roleGrant:
      case CommandKind.roleRevoke: {
        const grants = v.role === ADMIN_ROLE ? undefined : this.roles.get(v.role);
        if (grants === undefined) return;
        const k = grants.findIndex((g) => g.action === v.action && g.prefix === v.prefix && g.group === v.groupName);
        if (v.kind === CommandKind.roleGrant && k < 0) grants.push({ action: v.action, prefix: v.prefix, group: v.groupName });
        if (v.kind === CommandKind.roleRevoke && k >= 0) grants.splice(k, 1);
        return;
      }
    }
  }

  hasUsers(): boolean {
    return this.users.size > 0;
  }

  allows(user: string, action: Action, topic: string): boolean {
    const u = this.users.get(user);
    if (u === undefined) return false;
    for (const role of u.roles) {
      if (role === ADMIN_ROLE) return true;
      for (const g of this.roles.get(role) ?? []) if (g.action === 'admin' || (g.action === action && topic.startsWith(g.prefix))) return true;
    }
    return false;
  }

  digest(): string {
    const us = [...this.users.keys()].sort().map((n) => {
      const u = this.users.get(n)!;
      return `${n}|${u.hashHex}|${u.version}|${[...u.roles].sort().join(',')}`;
    });
    const rs = [...this.roles.keys()].sort().map((r) => `${r}:${this.roles.get(r)!.map(formatGrant).join(',')}`);
    return `${us.join(';')}#${rs.join(';')}`;
  }
}

/** The same text of a node's applied table (through the AccessView the client port reads). */
function nodeDigest(a: AccessView): string {
  const us = a.users().map((u) => `${u.name}|${Buffer.from(u.passwordHash ?? new Uint8Array(0)).toString('hex')}|${u.version}|${u.roles.join(',')}`);
  const rs = a
    .roles()
    .filter((r) => !r.builtin)
    .map((r) => `${r.name}:${r.grants.map(formatGrant).join(',')}`);
  return `${us.join(';')}#${rs.join(';')}`;
}

/** Results of an enveloped command decided by the client table before any permission (nothing applied). */
const envelopeRefusals: ReadonlySet<string> = new Set([ResultCode.clientUnknown, ResultCode.clientAuth, ResultCode.seqStale, ResultCode.clientWindow]);

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

export class SecurityChecker {
  readonly stats: SecurityStats = emptySecurityStats();
  private readonly view = new CommandView();
  private codec: CodecLimits | null = null;
  private last = 0;
  private readonly auth = new AuthModel();
  /** The model's digest after each change: [index, digest], ascending (the digest in force at i is the last with index <= i). */
  private readonly digests: [number, string][] = [[0, new AuthModel().digest()]];
  /** Client (its ClientRegister index) -> owner. */
  private readonly owners = new Map<number, string>();
  /** Active sessions (by the low half of their ID) and stored ones, with their records (hex). */
  private readonly active = new Map<number, { topic: string; records: string[] }>();
  private readonly stored = new Map<number, { topic: string; records: string[] }>();

  /**
   * @param violations the run's list (a violation stops the run)
   * @param unchecked whether the workload sent (client, seq) past the simulated port's refusal on purpose (then forgets it)
   */
  constructor(
    private readonly violations: Violation[],
    private readonly simNow: () => number,
    private readonly unchecked: (clientLow: number, seq: number) => boolean | undefined,
  ) {}

  private violate(property: string, node: NodeId | null, detail: string): void {
    if (this.violations.length < 20) this.violations.push({ property, node, timeMs: this.simNow(), detail });
  }

  /** A node's store (each incarnation): watch its applies. */
  observe(id: NodeId, store: SessionsStore): void {
    this.codec ??= codecLimitsOf(store.limits);
    store.onApplied((entries, results) => this.applied(id, store, entries, results));
  }

  private applied(id: NodeId, store: SessionsStore, entries: readonly Entry[], results: readonly (CommandResult | null)[]): void {
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index <= this.last) continue;
      // A gap is reported by the groups checker (groups-model-gap); the model stops there.
      if (e.index !== this.last + 1) return;
      this.last = e.index;
      const r = results[k] ?? null;
      if (e.kind === EntryKind.command && r !== null) this.step(id, e, r);
    }
    // (b) This node's table against the model's at the index it applied through.
    const at = entries[entries.length - 1]?.index ?? store.appliedIndex;
    if (at > this.last) return;
    const want = this.digestAt(at);
    const got = nodeDigest(store.access);
    this.stats.digestChecks++;
    if (got !== want) this.violate('auth-state-diverges', id, `at applied index ${at}: users and roles ${got}, the log gives ${want}`);
  }

  private digestAt(index: number): string {
    const d = this.digests;
    let lo = 0;
    let hi = d.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (d[mid]![0] <= index) lo = mid;
      else hi = mid - 1;
    }
    return d[lo]![1];
  }

  private step(id: NodeId, e: Entry, r: CommandResult): void {
    const v = this.view;
    if (parseCommand(v, e.data, this.codec!) !== null) return;
    if (v.kind === CommandKind.featureEnable) {
      if ((v.features & FEATURES.lastAdmin) !== 0) this.auth.keepLastAdmin = true;
      if ((v.features & FEATURES.firstUserAdmin) !== 0) this.auth.firstUserAdmin = true;
      return;
    }
    if (v.kind >= CommandKind.userPut && v.kind <= CommandKind.roleRevoke) {
      this.stats.authEntries++;
      if (r.ok) this.stats.authApplied++;
      this.auth.step(v, e);
      const d = this.auth.digest();
      if (d !== this.digests[this.digests.length - 1]![1]) this.digests.push([e.index, d]);
      return;
    }
    if (v.kind === CommandKind.clientRegister) {
      // Once a user exists (in log order), a registration naming none is refused.
      const anonymousRefused = v.user === '' && this.auth.hasUsers();
      if (anonymousRefused && r.ok) this.violate('applied-without-permission', id, `entry ${e.index}: a client registered without a user while users exist`);
      if (!anonymousRefused && r.code === ResultCode.authRequired)
        this.violate(
          'denied-with-permission',
          id,
          `entry ${e.index}: a registration refused as anonymous, but ${v.user === '' ? 'no user existed' : `it names ${v.user}`}`,
        );
      if (r.ok) this.owners.set(e.index, v.user);
      return;
    }
    if (v.kind === CommandKind.groupAck) {
      if (v.sessionLow > 0) this.judgeRemovingAck(id, e, r);
      return;
    }
    if (v.kind < CommandKind.sessionCreate || v.kind > CommandKind.sessionRestore) return;
    if (v.hasEnvelope && !envelopeRefusals.has(r.code) && r.duplicate !== true) this.judge(id, e, r);
    this.sessionStep(id, e, r);
  }

  /**
   * Remove on ack: the ack's user needs write on the session's topic at this position of the log
   * (none: refused once a user exists), judged while the model has the session active; refused,
   * nothing changed; an ack that settled its item now (OK) removed the session.
   */
  private judgeRemovingAck(id: NodeId, e: Entry, r: CommandResult): void {
    const v = this.view;
    const s = this.active.get(v.sessionLow);
    const denied = r.code === ResultCode.permissionDenied || r.code === ResultCode.authRequired;
    if (s === undefined) {
      if (denied)
        this.violate('denied-with-permission', id, `entry ${e.index}: a removing ack of session ${v.sessionLow}, not active, was refused (${r.code})`);
      return;
    }
    const allowed = v.user === '' ? !this.auth.hasUsers() : this.auth.allows(v.user, 'write', s.topic);
    const what = `entry ${e.index} (a removing ack as ${v.user === '' ? 'no user' : v.user}: write on ${JSON.stringify(s.topic)}, session ${v.sessionLow})`;
    this.stats.judged++;
    this.stats.removingAcks++;
    if (!allowed && !denied)
      this.violate('applied-without-permission', id, `${what} gave ${r.code}: the permissions in force at that position of the log deny it`);
    if (allowed && denied) this.violate('denied-with-permission', id, `${what} was refused, but the permissions in force at that position allow it`);
    if (denied) this.stats.deniedAtApply++;
    if (r.code === ResultCode.ok) {
      this.active.delete(v.sessionLow);
      this.stats.removedByAck++;
    }
  }

  /** (a) The permission in force at this position of the log decides. */
  private judge(id: NodeId, e: Entry, r: CommandResult): void {
    const v = this.view;
    const owner = this.owners.get(v.clientLow);
    const unchecked = this.unchecked(v.clientLow, v.seq);
    if (owner === undefined) return;
    if (owner === '') {
      // A client registered while the cluster was open: refused once a user exists (log order).
      const refused = r.code === ResultCode.authRequired;
      if (this.auth.hasUsers() !== refused)
        this.violate(
          refused ? 'denied-with-permission' : 'applied-without-permission',
          id,
          `entry ${e.index} (a client without a user, seq ${v.seq}) gave ${r.code}, with ${this.auth.hasUsers() ? 'users' : 'no user'} in force`,
        );
      return;
    }
    let topic: string;
    if (v.kind === CommandKind.sessionCreate) topic = v.topic;
    else {
      const s = this.active.get(v.sessionLow);
      // A session that is not active: the command changes nothing whoever sends it.
      if (s === undefined) return;
      topic = s.topic;
    }
    const action: Action = v.kind === CommandKind.sessionStore ? 'store' : 'write';
    const allowed = this.auth.allows(owner, action, topic);
    const denied = r.code === ResultCode.permissionDenied;
    const what = `entry ${e.index} (${owner}: ${action} on ${JSON.stringify(topic)}, client ${v.clientLow} seq ${v.seq}${unchecked ? ', sent past the port unchecked' : ''})`;
    this.stats.judged++;
    if (!allowed && !denied)
      this.violate('applied-without-permission', id, `${what} gave ${r.code}: the permissions in force at that position of the log deny it`);
    if (allowed && denied) this.violate('denied-with-permission', id, `${what} was refused, but the permissions in force at that position allow it`);
    if (denied) {
      this.stats.deniedAtApply++;
      if (unchecked === false) this.stats.deniedAfterPortAllowed++;
    }
  }

  /** The model of active sessions: only what succeeded changes it. */
  private sessionStep(id: NodeId, e: Entry, r: CommandResult): void {
    const v = this.view;
    if (!r.ok) return;
    const records = (): string[] | undefined => this.active.get(v.sessionLow)?.records;
    const missing = (): void =>
      this.violate('security-model', id, `entry ${e.index} (kind ${v.kind}) succeeded on session ${v.sessionLow}, which the model has not active`);
    switch (v.kind) {
      case CommandKind.sessionCreate:
        if (r.value !== null) this.active.set(readU64BE(r.value, 8), { topic: v.topic, records: [] });
        return;
      case CommandKind.sessionAppend:
        return void (records()?.push(hex(e.data.subarray(v.bytesStart, v.bytesEnd))) ?? missing());
      case CommandKind.sessionRewrite: {
        const s = this.active.get(v.sessionLow);
        if (s === undefined) return missing();
        s.records = [hex(e.data.subarray(v.bytesStart, v.bytesEnd))];
        return;
      }
      case CommandKind.sessionDestroy:
        if (!this.active.delete(v.sessionLow)) missing();
        return;
      case CommandKind.sessionStore: {
        const s = this.active.get(v.sessionLow);
        if (s === undefined) return missing();
        this.active.delete(v.sessionLow);
        this.stored.set(v.sessionLow, s);
        return;
      }
      case CommandKind.sessionRestore: {
        if (r.code !== ResultCode.ok || r.value === null) return;
        const low = readU64BE(r.value, 8);
        const s = this.stored.get(low);
        if (s === undefined) return this.violate('security-model', id, `entry ${e.index} restored session ${low}, which the model has not stored`);
        this.stored.delete(low);
        this.active.set(low, s);
        return;
      }
    }
  }

  /** (c) After the heal and convergence: every member's active sessions are the model's. */
  finish(members: readonly { id: NodeId; store: SessionsStore }[]): void {
    for (const m of members) {
      if (m.store.appliedIndex !== this.last) continue;
      const seen = new Set<number>();
      for (const s of m.store.listSessions()) {
        const low = readU64BE(s.id, 8);
        seen.add(low);
        const want = this.active.get(low);
        const got = s.records.map(hex);
        if (want === undefined || want.topic !== s.topic || want.records.join(',') !== got.join(',')) {
          this.violate(
            'state-without-permission',
            m.id,
            `session ${low} on ${JSON.stringify(s.topic)} holds ${got.length} record(s) [${got.join(',').slice(0, 80)}]; what was allowed and applied gives ${want === undefined ? 'no such session' : `${want.records.length} [${want.records.join(',').slice(0, 80)}]`}`,
          );
          return;
        }
      }
      for (const low of this.active.keys()) {
        if (!seen.has(low)) {
          this.violate('state-without-permission', m.id, `session ${low} is missing; what was allowed and applied keeps it active`);
          return;
        }
      }
    }
  }
}
