/**
 * Issue 16: consumer groups in the simulator's `--sessions` mode. Beside the session workload
 * (scenario.ts), each run creates 1-3 consumer groups on the workload's topics at seeded times
 * (most after sessions were stored), and runs simulated consumers that attach on the leader through
 * its dispatcher (SessionNode.consume; the dispatcher runs on the simulated clock and scheduler),
 * and that ack, nack with a delay, go silent (redelivery after ackWaitMs), throw, crash and
 * reattach, ack twice, and reattach to each new leader. Some runs use a small maxDeliveries, so
 * that dead letters happen. Dead letters are replayed or deleted (a seeded choice per dead letter):
 * before the heal now and then, under the faults; after the heal every one. After the heal every
 * consumer acknowledges what it gets, and the run drains: every stored session must be restored, delivered to each group,
 * settled and committed.
 * groupsChecker.ts judges. Every draw comes from the run's seed (its own stream): a seed replays
 * exactly.
 */
import type { GroupDelivery } from '../../actors/sessions/dispatcher.js';
import type { SessionNode } from '../../actors/sessions/sessionNode.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import type { NodeId } from '../../machines/types.js';
import type { SimCluster } from './cluster.js';
import { simEpochMs } from './cluster.js';
import { FEATURES_KNOWN, commandId, readU64BE } from '../../transport/commands/codec.js';
import { GroupsChecker, type GroupsStats } from './groupsChecker.js';
import { Rng } from './rng.js';
import { ResultCode } from '../../actors/sessions/errors.js';

interface GroupPlan {
  readonly topic: string;
  readonly name: string;
  readonly ackWaitMs: number;
  readonly maxDeliveries: number;
  readonly maxAckPending: number;
  readonly createAtMs: number;
  readonly consumers: number;
}

/** How consumers answer a delivery before the heal (after it they acknowledge everything). */
interface Behaviour {
  readonly crash: number;
  readonly throws: number;
  readonly silent: number;
  readonly nack: number;
  readonly doubleAck: number;
}

type Handle = ReturnType<SessionNode['consume']>;

export interface GroupsWorkloadOptions {
  readonly seed: number;
  readonly chaosMs: number;
  readonly topics: readonly string[];
  /** With security: the users whose write permission a removing ack names (in turn); none: '' (no login). */
  readonly users?: readonly string[];
}

/** A simulated subscriber's queue: large, so that a slow run does not end it (what it checks is timing). */
const SUBSCRIBER_QUEUE_MAX = 1 << 16;

export class GroupsWorkload {
  readonly checker: GroupsChecker;
  private readonly rng: Rng;
  private readonly plans: GroupPlan[] = [];
  private readonly behaviour: Behaviour;
  private readonly consumers: SimConsumer[] = [];
  /** Per dead letter (group:restore): replay or delete (drawn once), and when a request went out (-1: none). */
  private readonly deadPlan = new Map<string, { action: 'replay' | 'delete'; outAtMs: number }>();
  /** Before the heal, the chance per dead letter and 30 ms step that it is acted on (a run's draw: 0 in some runs). */
  private readonly deadEarly: number;
  /** Before the heal, restores whose index is a multiple of this are poison: every consumer nacks them (0: none), so dead letters happen. */
  private readonly poisonEvery: number;
  private readonly deadRng: Rng;

  /** Who removing acks name (GroupsWorkloadOptions.users). */
  get users(): readonly string[] {
    return this.opts.users ?? [];
  }

  constructor(
    private readonly cluster: SimCluster,
    private readonly opts: GroupsWorkloadOptions,
  ) {
    const sched = cluster.scheduler;
    this.checker = new GroupsChecker(
      cluster.checker.violations,
      () => simEpochMs + sched.nowMs,
      () => sched.nowMs,
      cluster.restoreLeadMs,
      cluster.clockSkewMsMax,
    );
    // The checker hears every apply first (before the node's own planner, scheduler and dispatcher).
    cluster.onSessionStore = (id, store) => {
      this.checker.observe(id, store);
      // A subscriber of every topic on every node (issue 20, restore ahead: a node hands a restore
      // to its subscribers the restore's hold after its own apply, never before the due time).
      for (const topic of new Set(opts.topics)) {
        store.subscribe(topic, (d) => this.checker.subscriberReceived(id, d), { queueMax: SUBSCRIBER_QUEUE_MAX, onError: () => undefined });
      }
    };
    // Its own stream: the session workload's draws stay as they were.
    const rng = new Rng(opts.seed ^ 0x16016);
    this.rng = rng;
    // Its own stream too: the draws above and the consumers' stay as they were.
    this.deadRng = new Rng(opts.seed ^ 0x16dead);
    this.deadEarly = this.deadRng.pick([0, 0.02, 0.1]);
    this.poisonEvery = this.deadRng.pick([0, 3, 7]);
    const small = rng.chance(0.4);
    const count = rng.int(1, 3);
    for (let k = 0; k < count; k++) {
      this.plans.push({
        topic: rng.pick(opts.topics),
        name: `g${k + 1}`,
        ackWaitMs: rng.pick([60, 150, 400]),
        maxDeliveries: small ? rng.pick([1, 2, 3]) : rng.pick([5, 10]),
        maxAckPending: rng.pick([1, 2, 4, 100]),
        // The first group early (sessions stored before it exist anyway); the others any time.
        createAtMs: k === 0 ? rng.int(0, opts.chaosMs / 4) : rng.int(0, (opts.chaosMs * 3) / 4),
        consumers: rng.int(1, 3),
      });
    }
    this.behaviour = {
      crash: rng.pick([0, 0.01, 0.04]),
      throws: rng.pick([0, 0.01]),
      silent: rng.pick([0, 0.05, 0.15]),
      nack: rng.pick([0, 0.05, 0.15]),
      doubleAck: rng.pick([0, 0.05]),
    };
  }

  get stats(): GroupsStats {
    return this.checker.stats;
  }

  /** Schedule the groups' creation (their consumers start once a group is in the committed history). */
  start(): void {
    for (const p of this.plans) this.cluster.scheduler.schedule(p.createAtMs, () => this.create(p, 0));
    this.cluster.scheduler.schedule(30, () => this.tendDeadLetters());
    // An upgraded cluster: the operator turns the flags on at a time of the run's draw (its own stream).
    if (!this.cluster.featuresOnNewCluster)
      this.cluster.scheduler.schedule(new Rng(this.opts.seed ^ 0xfea7).int(0, this.opts.chaosMs), () => this.enableFeatures());
  }

  /** FeatureEnable of every flag through the leader, every 50 ms until the committed history has them. */
  private enableFeatures(): void {
    if (this.checker.features === FEATURES_KNOWN) return;
    const host = this.leaderHost();
    const sched = this.cluster.scheduler;
    if (host !== null) {
      this.cluster.guard(() =>
        host.enableFeatures(FEATURES_KNOWN, (err, r) => this.cluster.trace.note(sched.nowMs, `FeatureEnable: ${err ? err.message : r?.code}`)),
      );
    }
    sched.schedule(50, () => this.enableFeatures());
  }

  /**
   * Every 30 ms: each dead letter the model holds is replayed or deleted through the leader, before
   * the heal with the run's small chance, after it always (retried after a failure, a leader change
   * or a request with no answer for a second, until the model sees it gone).
   */
  private tendDeadLetters(): void {
    const sched = this.cluster.scheduler;
    const healed = sched.nowMs >= this.opts.chaosMs;
    const host = this.leaderHost();
    const held = this.checker.heldDeadLetters();
    for (const { group, restore } of held) {
      const key = `${group}:${restore}`;
      let p = this.deadPlan.get(key);
      if (p === undefined) this.deadPlan.set(key, (p = { action: this.deadRng.chance(0.5) ? 'replay' : 'delete', outAtMs: -1 }));
      if ((p.outAtMs >= 0 && sched.nowMs - p.outAtMs < 1000) || host === null) continue;
      if (!healed && !this.deadRng.chance(this.deadEarly)) continue;
      const g = [...host.store.consumerGroups()].find((x) => x.low === group);
      const d = g?.dead.get(restore);
      if (g === undefined || d === undefined) continue; // not applied on this leader yet
      const plan = p;
      const at = sched.nowMs;
      plan.outAtMs = at;
      this.cluster.guard(() =>
        host.deadLetter(plan.action, g.topic, g.name, commandId(d.restoreHigh, d.restoreLow), (err, r) => {
          if (plan.outAtMs === at) plan.outAtMs = -1;
          this.cluster.trace.note(sched.nowMs, `DeadLetter ${plan.action} ${g.name} restore ${restore}: ${err ? err.message : r?.code}`);
        }),
      );
    }
    // A replayed one dead-lettered again gets a fresh draw.
    for (const key of [...this.deadPlan.keys()]) if (!held.some((h) => `${h.group}:${h.restore}` === key)) this.deadPlan.delete(key);
    sched.schedule(30, () => this.tendDeadLetters());
  }

  private create(p: GroupPlan, attempt: number): void {
    const sched = this.cluster.scheduler;
    if (this.checker.hasGroup(p.topic, p.name)) {
      this.cluster.trace.note(sched.nowMs, `group ${p.name} on ${p.topic} exists: start ${p.consumers} consumer(s)`);
      for (let k = 0; k < p.consumers; k++) {
        const c = new SimConsumer(this, p, `${p.name}-c${k + 1}`, this.rng.fork());
        this.consumers.push(c);
        c.attach();
      }
      return;
    }
    const host = this.leaderHost();
    if (host !== null && attempt % 5 === 0) {
      this.cluster.guard(() =>
        host.createGroup(p.topic, p.name, { ackWaitMs: p.ackWaitMs, maxDeliveries: p.maxDeliveries, maxAckPending: p.maxAckPending }, (err, r) =>
          this.cluster.trace.note(sched.nowMs, `GroupCreate ${p.name} on ${p.topic}: ${err ? err.message : r?.code}`),
        ),
      );
    }
    sched.schedule(40, () => this.create(p, attempt + 1));
  }

  /** The session node that leads (applied its leadership), if any. */
  leaderHost(): SessionNode | null {
    const leader = this.cluster.leader();
    const host = leader === null ? null : this.cluster.host(leader.id);
    return host !== null && host.planner.isLeader && !host.raft.isStopped() ? host : null;
  }

  /**
   * After the heal, with the session workload stopped: run until everything settled, with nothing
   * left in the leader's log that was not applied, for longer than the longest replay delay (a
   * store still in flight when the workload stopped is in the log, or planned, by then).
   */
  drain(deadlineMs: number, quietMs: number): void {
    const sched = this.cluster.scheduler;
    let since = -1;
    this.cluster.runUntil(deadlineMs, () => {
      const leader = this.cluster.leader();
      const idle = this.checker.settled() && leader !== null && leader.log.lastIndex() <= this.checker.lastIndex && this.consumers.every((c) => c.quiet());
      if (!idle) since = -1;
      else if (since < 0) since = sched.nowMs;
      return since >= 0 && sched.nowMs - since >= quietMs;
    });
  }

  /** The end checks, over the final members. */
  finish(members: readonly NodeId[]): void {
    const stores = members.flatMap((id) => {
      const h = this.cluster.host(id);
      return h === null ? [] : [{ id, store: h.store }];
    });
    this.checker.finish(stores);
  }

  /** What a consumer does with a delivery of restore `restoreLow` now: after the heal, always ack. */
  decide(rng: Rng, restoreLow: number): 'crash' | 'throw' | 'silent' | 'nack' | 'ack' {
    if (this.cluster.scheduler.nowMs >= this.opts.chaosMs) return 'ack';
    const b = this.behaviour;
    let r = rng.next();
    if (this.poisonEvery > 0 && restoreLow % this.poisonEvery === 0) return 'nack';
    if ((r -= b.crash) < 0) return 'crash';
    if ((r -= b.throws) < 0) return 'throw';
    if ((r -= b.silent) < 0) return 'silent';
    if ((r -= b.nack) < 0) return 'nack';
    return 'ack';
  }

  get doubleAck(): number {
    return this.behaviour.doubleAck;
  }

  get sim(): SimCluster {
    return this.cluster;
  }
}

/**
 * One consumer of a group, named for its whole life (a reattach under the same name gets what was
 * in flight to it at once). `life` counts crashes: a crashed consumer forgets what it was doing.
 */
class SimConsumer {
  private handle: Handle | null = null;
  private life = 0;
  private attachment = 0;
  private retrying = false;
  /** Answers scheduled and not yet sent. */
  private busy = 0;

  constructor(
    private readonly w: GroupsWorkload,
    private readonly plan: GroupPlan,
    private readonly name: string,
    private readonly rng: Rng,
  ) {}

  quiet(): boolean {
    return this.busy === 0;
  }

  private note(text: string): void {
    this.w.sim.trace.note(this.w.sim.scheduler.nowMs, `consumer ${this.name}: ${text}`);
  }

  /** Attach on the leader now, or retry soon. */
  attach(): void {
    this.retrying = false;
    if (this.handle !== null) return;
    const host = this.w.leaderHost();
    if (host !== null) {
      const attachment = ++this.attachment;
      const life = this.life;
      try {
        this.handle = host.consume(this.plan.topic, this.plan.name, this.name, (d) => this.delivered(d, host.id, life), {
          onEnd: (code) => {
            if (attachment !== this.attachment) return;
            this.note(`ended by ${host.id}: ${code}`);
            this.handle = null;
            this.retry(this.rng.int(5, 40));
          },
        });
        this.note(`attached on ${host.id}`);
        return;
      } catch (err) {
        this.note(`cannot attach on ${host.id}: ${(err as Error).message}`);
      }
    }
    this.retry(this.rng.int(10, 40));
  }

  private retry(ms: number): void {
    if (this.retrying) return;
    this.retrying = true;
    this.w.sim.scheduler.schedule(ms, () => this.attach());
  }

  private delivered(d: GroupDelivery, node: NodeId, life: number): void {
    this.w.checker.received(this.name, node, d);
    if (life !== this.life) return;
    const action = this.w.decide(this.rng, readU64BE(d.restoreId, 8));
    const sched = this.w.sim.scheduler;
    switch (action) {
      case 'crash': {
        // The process dies: it never answers what it holds, and comes back later under its name.
        this.note(`crashes holding delivery ${d.delivery} of restore ${hexLow(d.restoreId)}`);
        this.life++;
        this.attachment++;
        this.handle?.close();
        this.handle = null;
        this.retrying = true;
        sched.schedule(this.rng.int(20, 400), () => this.attach());
        return;
      }
      case 'throw':
        // The dispatcher detaches a consumer that throws and tells it (onEnd: CONSUMER_FAILED).
        throw new Error('simulated consumer failure');
      case 'silent':
        return;
      case 'nack': {
        const delayMs = this.rng.pick([0, 30, 200]);
        this.answer(this.rng.int(0, 30), life, (h) => h.nack(d, delayMs));
        return;
      }
      case 'ack': {
        const twice = this.rng.chance(this.w.doubleAck);
        // Remove on ack for half of the restores (even indices: no draw, the streams stay as they
        // were), as each user in turn; refused for want of write permission, a plain ack follows.
        const low = readU64BE(d.restoreId, 8);
        const users = this.w.users;
        const remove = low % 2 === 0 ? { session: d.session, user: users.length === 0 ? '' : users[(low / 2) % users.length]! } : undefined;
        const plain = (h: Handle): void => h.ack(d, (err, r) => !err && r !== undefined && this.acked(d, r));
        const ack = (h: Handle): void =>
          h.ack(
            d,
            (err, r) => {
              if (err || r === undefined) return;
              if (r.code === ResultCode.permissionDenied || r.code === ResultCode.authRequired) this.answer(this.rng.int(0, 40), life, plain);
              else this.acked(d, r);
            },
            remove,
          );
        this.answer(this.rng.int(0, 40), life, ack);
        if (twice) this.answer(this.rng.int(0, 80), life, ack);
        return;
      }
    }
  }

  private acked(d: GroupDelivery, r: CommandResult): void {
    this.w.checker.ackResult(this.name, d, r);
  }

  /** Answer after `ms` through the attachment of that moment (possibly a newer leader); lost if it crashed. */
  private answer(ms: number, life: number, fn: (h: Handle) => void): void {
    this.busy++;
    this.w.sim.scheduler.schedule(ms, () => {
      this.busy--;
      if (life !== this.life || this.handle === null) return;
      const h = this.handle;
      this.w.sim.guard(() => fn(h));
    });
  }
}

function hexLow(id: Uint8Array): string {
  return Buffer.from(id.subarray(8)).toString('hex').replace(/^0+/, '');
}
