/**
 * Issue 17: security in the simulator's `--sessions` mode (on unless `--no-security`). Users,
 * roles and permissions are proposed on the leader through SessionNode.submitAuth (the call the
 * client port's `user` and `role` requests make): a bootstrap (four users, a role per topic with
 * write and store on it, a role with write on every topic), then, until the heal, a change every
 * 60-400 ms (grant or revoke a permission or a role, delete or re-create a user or a role). Every
 * session command of the workload (scenario.ts) carries a principal: the client ID its user
 * registered (SessionNode.registerClient with the user as owner) in its envelope, and the user for
 * the leader's owner check. The target node first checks the permission against its applied table,
 * as the client port does: a refusal proposes nothing, except that 15% of the refusals are sent
 * anyway ("unchecked"), as a port whose check was skipped would (the apply must refuse them). The
 * port's check can also pass on a table a revoke has not reached yet: the apply's check, in log
 * order, decides. securityChecker.ts judges. Every draw comes from the seed (its own stream).
 */
import { CommandKind, SCHEDULE_SEQS, readU64BE, type Command, type Envelope } from '../../transport/commands/codec.js';
import type { Action, Grant } from '../../transport/commands/access.js';
import type { CommandCallback, SessionNode } from '../../actors/sessions/sessionNode.js';
import type { SimCluster } from './cluster.js';
import { Rng } from './rng.js';
import { SecurityChecker, type SecurityStats } from './securityChecker.js';

export const USERS = ['alice', 'bob', 'carol', 'dave'] as const;
/** Auth changes waiting to be proposed, at most. */
const AUTH_QUEUE_MAX = 8;
/** (client, seq) pairs remembered as unchecked or checked, at most (the oldest go first). */
const SENT_MAX = 4096;
/** The share of port refusals sent anyway (unchecked). */
const UNCHECKED_SHARE = 0.15;

interface SimClient {
  id: Uint8Array | null;
  secret: Uint8Array | null;
  low: number;
  seq: number;
  registering: boolean;
  /**
   * First seqs of its schedules not answered yet. The workload's other commands say "I hold every
   * answer below my seq" (they are never retried), which would make a schedule's later steps
   * stale; a schedule's seqs stay below ackedBelowSeq until it is answered, as a real client's do.
   */
  scheduling: Set<number>;
}

/** A schedule left unanswered this many seqs ago no longer holds ackedBelowSeq back (the table remembers 256). */
const SCHEDULE_HOLD_SEQS_MAX = 128;

export class SecurityWorkload {
  readonly checker: SecurityChecker;
  private readonly rng: Rng;
  private readonly queue: Command[] = [];
  private inFlight = false;
  private readonly clients = new Map<string, SimClient>();
  /** `${clientLow}:${seq}` -> sent unchecked (true) or after the port allowed it (false). */
  private readonly sent = new Map<string, boolean>();
  private readonly roleOf: Record<string, string>;

  constructor(
    private readonly cluster: SimCluster,
    private readonly opts: { readonly seed: number; readonly chaosMs: number; readonly topics: readonly string[] },
  ) {
    const sched = cluster.scheduler;
    this.checker = new SecurityChecker(
      cluster.checker.violations,
      () => sched.nowMs,
      (low, seq) => {
        const key = `${low}:${seq}`;
        const v = this.sent.get(key);
        this.sent.delete(key);
        return v;
      },
    );
    const before = cluster.onSessionStore;
    cluster.onSessionStore = (id, store) => {
      before?.(id, store);
      this.checker.observe(id, store);
    };
    this.rng = new Rng(opts.seed ^ 0x17017);
    this.roleOf = Object.fromEntries(opts.topics.map((t) => [t, `rw-${t}`]));
    for (const u of USERS) this.clients.set(u, { id: null, secret: null, low: 0, seq: 0, registering: false, scheduling: new Set() });
    // The bootstrap, in order: roles, their permissions, users, their roles (dave holds none).
    const q = this.queue;
    for (const t of opts.topics) {
      const role = this.roleOf[t]!;
      q.push({ kind: CommandKind.rolePut, role });
      q.push({ kind: CommandKind.roleGrant, role, grant: { action: 'write', prefix: t, group: '' } });
      q.push({ kind: CommandKind.roleGrant, role, grant: { action: 'store', prefix: t, group: '' } });
    }
    q.push({ kind: CommandKind.rolePut, role: 'writer' });
    q.push({ kind: CommandKind.roleGrant, role: 'writer', grant: { action: 'write', prefix: '', group: '' } });
    for (const u of USERS) q.push({ kind: CommandKind.userPut, user: u, passwordHash: null });
    q.push({ kind: CommandKind.userGrant, user: 'alice', role: this.roleOf[opts.topics[0]!]! });
    q.push({ kind: CommandKind.userGrant, user: 'alice', role: this.roleOf[opts.topics[1]!]! });
    q.push({ kind: CommandKind.userGrant, user: 'bob', role: this.roleOf[opts.topics[2]!]! });
    q.push({ kind: CommandKind.userGrant, user: 'carol', role: 'writer' });
  }

  get stats(): SecurityStats {
    return this.checker.stats;
  }

  start(): void {
    const sched = this.cluster.scheduler;
    const pump = (): void => {
      this.pump();
      sched.schedule(10, pump);
    };
    sched.schedule(10, pump);
    const change = (): void => {
      if (sched.nowMs >= this.opts.chaosMs) return;
      if (this.queue.length < AUTH_QUEUE_MAX) this.queue.push(this.randomChange());
      sched.schedule(this.rng.int(60, 400), change);
    };
    sched.schedule(this.rng.int(300, 600), change);
  }

  /** Propose the next auth change on the leader (one at a time, in order; retried after a refusal of the leader). */
  private pump(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const host = this.leaderHost();
    if (host === null) return;
    const cmd = this.queue[0]!;
    this.inFlight = true;
    const sched = this.cluster.scheduler;
    this.cluster.guard(() =>
      host.submitAuth(cmd, (err, result) => {
        this.inFlight = false;
        // Applied (whatever its result), or refused by the leader: then retried (an unknown outcome may
        // have applied: every change is idempotent or refused harmlessly the second time).
        if (err === null || err.code === 'BAD_REQUEST') this.queue.shift();
        this.cluster.trace.note(sched.nowMs, `auth ${describeAuth(cmd)}: ${err ? err.code : result?.code}`);
      }),
    );
  }

  private randomChange(): Command {
    const rng = this.rng;
    const topics = this.opts.topics;
    const r = rng.next();
    const grant = (action: Action, prefix: string): Grant => ({ action, prefix, group: '' });
    if (r < 0.35) {
      const t = rng.pick(topics);
      const g = grant(rng.pick(['write', 'store'] as const), t);
      return { kind: rng.chance(0.6) ? CommandKind.roleGrant : CommandKind.roleRevoke, role: this.roleOf[t]!, grant: g };
    }
    if (r < 0.65) {
      const role = rng.pick([...topics.map((t) => this.roleOf[t]!), 'writer']);
      return { kind: rng.chance(0.6) ? CommandKind.userGrant : CommandKind.userRevoke, user: rng.pick(USERS), role };
    }
    if (r < 0.75) {
      // write on every topic, or on a prefix of one ("or" covers "orders").
      const g = grant('write', rng.pick(['', topics[0]!.slice(0, 2)]));
      return { kind: rng.chance(0.5) ? CommandKind.roleGrant : CommandKind.roleRevoke, role: 'writer', grant: g };
    }
    if (r < 0.8) {
      const user = rng.pick(USERS);
      return rng.chance(0.5) ? { kind: CommandKind.userDelete, user } : { kind: CommandKind.userPut, user, passwordHash: null };
    }
    if (r < 0.95) {
      const role = rng.pick([...topics.map((t) => this.roleOf[t]!), 'writer']);
      return rng.chance(0.5) ? { kind: CommandKind.roleDelete, role } : { kind: CommandKind.rolePut, role };
    }
    return { kind: rng.chance(0.5) ? CommandKind.userGrant : CommandKind.userRevoke, user: 'carol', role: 'admin' };
  }

  private leaderHost(): SessionNode | null {
    const leader = this.cluster.leader();
    const host = leader === null ? null : this.cluster.host(leader.id);
    return host !== null && host.planner.isLeader && !host.raft.isStopped() ? host : null;
  }

  /** A session command (create, append, rewrite, destroy) as one of the users, through `host`'s port. */
  send(host: SessionNode, cmd: Command, cb: CommandCallback): boolean {
    let topic = '';
    if (cmd.kind === CommandKind.sessionCreate) topic = cmd.topic;
    else if ('session' in cmd) topic = host.store.getSession(cmd.session)?.topic ?? '';
    const p = this.principal(host, 'write', topic, cb);
    if (p !== null) host.submit({ ...cmd, envelope: p.envelope } as Command, p.done, p.user);
    return p !== null;
  }

  /** A SessionStore as one of the users, through `host`'s port; whether it was sent. */
  store(host: SessionNode, session: Uint8Array, replayClass: number, cb: CommandCallback): boolean {
    const p = this.principal(host, 'store', host.store.getSession(session)?.topic ?? '', cb);
    if (p !== null) host.storeSession(session, replayClass, p.envelope, p.done, p.user);
    return p !== null;
  }

  /** A schedule (issue 20: create + append + store, seqs seq..seq + 2) as one of the users, through `host`'s port. */
  schedule(host: SessionNode, topic: string, bytes: Uint8Array, replayClass: number, cb: CommandCallback): boolean {
    const p = this.principal(host, 'write', topic, cb, SCHEDULE_SEQS);
    if (p !== null) host.scheduleSession(topic, bytes, replayClass, p.envelope, p.done, p.user);
    return p !== null;
  }

  /**
   * The user a command goes as, its envelope and callback; null when nothing is sent: the user has
   * no client yet (it registers one), or the port's check on `host`'s applied table refuses (a
   * session the node does not know needs the permission on every topic, as in server.ts), except
   * the unchecked share. A quarter of the commands go as a user drawn at random (dave holds no
   * role at first: mostly refused); the others as the first user, in a random order, whom the
   * port allows (a client with the right credentials), else as a random one.
   */
  private principal(
    host: SessionNode,
    action: Action,
    topic: string,
    cb: CommandCallback,
    seqs = 1,
  ): { user: string; envelope: Envelope; done: CommandCallback } | null {
    const access = host.store.access;
    let user = this.rng.pick(USERS);
    if (this.rng.chance(0.75)) {
      const order = [...USERS].sort(() => this.rng.next() - 0.5);
      user = order.find((u) => access.allows(u, action, topic, '')) ?? user;
    }
    const c = this.clients.get(user)!;
    if (c.id === null || c.secret === null) {
      this.register(host, user, c);
      return null;
    }
    let unchecked = false;
    if (!access.allows(user, action, topic, '')) {
      if (!this.rng.chance(UNCHECKED_SHARE)) {
        this.checker.stats.deniedAtPort++;
        return null;
      }
      unchecked = true;
      this.checker.stats.unchecked++;
    }
    const seq = c.seq + 1;
    c.seq += seqs;
    for (let k = 0; k < seqs; k++) {
      if (this.sent.size >= SENT_MAX) this.sent.delete(this.sent.keys().next().value as string);
      this.sent.set(`${c.low}:${seq + k}`, unchecked);
    }
    let acked = seq;
    for (const first of c.scheduling) {
      if (first < seq - SCHEDULE_HOLD_SEQS_MAX) c.scheduling.delete(first);
      else acked = Math.min(acked, first);
    }
    if (seqs > 1) c.scheduling.add(seq);
    const done: CommandCallback = (err, result, entry) => {
      if (seqs > 1) c.scheduling.delete(seq);
      if (result?.code === 'SESSIONS_ERR_CLIENT_UNKNOWN') c.id = c.secret = null; // forgotten by the cluster: register anew
      cb(err, result, entry);
    };
    return { user, envelope: { client: c.id, secret: c.secret, seq, ackedBelowSeq: acked }, done };
  }

  private register(host: SessionNode, user: string, c: SimClient): void {
    if (c.registering) return;
    c.registering = true;
    host.registerClient((err, result) => {
      c.registering = false;
      if (err !== null || result === undefined || !result.ok || result.value === null) return;
      c.id = result.value.slice(0, 16);
      c.secret = result.value.slice(16, 32);
      c.low = readU64BE(c.id, 8);
      c.seq = 0;
      c.scheduling.clear();
    }, user);
  }
}

function describeAuth(cmd: Command): string {
  switch (cmd.kind) {
    case CommandKind.userPut:
    case CommandKind.userDelete:
      return `${cmd.kind === CommandKind.userPut ? 'UserPut' : 'UserDelete'} ${cmd.user}`;
    case CommandKind.userGrant:
    case CommandKind.userRevoke:
      return `${cmd.kind === CommandKind.userGrant ? 'UserGrant' : 'UserRevoke'} ${cmd.user} ${cmd.role}`;
    case CommandKind.rolePut:
    case CommandKind.roleDelete:
      return `${cmd.kind === CommandKind.rolePut ? 'RolePut' : 'RoleDelete'} ${cmd.role}`;
    case CommandKind.roleGrant:
    case CommandKind.roleRevoke:
      return `${cmd.kind === CommandKind.roleGrant ? 'RoleGrant' : 'RoleRevoke'} ${cmd.role} ${cmd.grant.action}:${cmd.grant.prefix || '*'}`;
    default:
      return `kind ${cmd.kind}`;
  }
}
