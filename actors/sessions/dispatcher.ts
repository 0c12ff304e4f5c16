/**
 * The leader's dispatcher of consumer groups (issue 16): it hands each group's ready items to the
 * consumers attached to this node, and decides, once, every time the replicas need: a delivery's
 * ack deadline (GroupDeliver carries `now + ackWaitMs`), a nack's ready time (GroupNack carries
 * `now + delay`), a redelivery (a GroupDeliver with the next delivery number once the deadline
 * passed) and a dead letter (GroupDeadLetter once `maxDeliveries` deliveries went unacknowledged).
 * Replicas never read a clock: they apply what the entries say (consumerGroups.ts).
 *
 * A delivery is pushed to its consumer when the GroupDeliver entry is applied here, reading the
 * session from its data file (it stays there until every group settled it). Consumers attach on
 * the leader only; on a leadership change they are ended and reattach to the new leader, which
 * redelivers what was in flight to them at once (an attach after a delivery means the consumer
 * never got it, or lost it) and everything else when its deadline passes.
 *
 * Pure: clock and proposals are injected (the simulator and the tests drive it).
 */
import {
  CommandErrorCode,
  CommandKind,
  CommandView,
  commandId,
  NACK_DELAY_MS_MAX,
  parseCommand,
  readU64BE,
  type CodecLimits,
  type Command,
} from '../../transport/commands/codec.js';
import { isFresh, roundBase, type ConsumerGroup } from './consumerGroups.js';
import { codecLimitsOf } from './options.js';
import type { SessionsStore } from './store.js';
import type { CommandResult } from './types.js';

/** Remove on ack: the session an ack also removes, and the user whose write permission on its topic apply checks ('' without a login). */
export interface RemoveOnAck {
  readonly session: Uint8Array;
  readonly user: string;
}

/** A restored session handed to one consumer of a group. */
export interface GroupDelivery {
  readonly group: Uint8Array;
  readonly groupName: string;
  readonly topic: string;
  /** The SessionRestore's ID: the idempotency key (exactly once for consumers that deduplicate by it). */
  readonly restoreId: Uint8Array;
  readonly session: Uint8Array;
  readonly records: readonly Uint8Array[];
  /** 1 for the first delivery of this restore to this group, then 2, 3, ... */
  readonly delivery: number;
}

interface ConsumerOptions {
  /** At most this many unacknowledged deliveries to this consumer (and never more than the group's). */
  readonly maxAckPending?: number;
  /** Told once when the consumer is ended by the dispatcher (leadership lost, group deleted). */
  readonly onEnd?: (code: string, message: string) => void;
}

interface ConsumerHandle {
  readonly name: string;
  close(): void;
}

type Submit = (cmd: Command, cb?: (err: { code: string; message: string } | null, result?: CommandResult) => void) => void;

interface DispatcherOptions {
  readonly store: SessionsStore;
  readonly clock: () => number;
  /** Proposes a command on this leader (through the planner); the callback gets its applied result. */
  readonly submit: Submit;
  /** Whether this node leads now. */
  readonly isLeader: () => boolean;
  /** Commands proposed per tick at most (default 256). */
  readonly proposalsPerTickMax?: number;
  /** A proposal whose entry was not applied within this long is proposed again (lost in a refused batch). */
  readonly proposalTimeoutMs?: number;
  /** Runs the tick that follows an apply or an attach (default queueMicrotask; the simulator passes its scheduler). */
  readonly defer?: (fn: () => void) => void;
  /**
   * A restore's first delivery to a group was handed to its consumer here (the delivery lateness
   * metric): the group, and the due time the leader decided when it planned the store.
   */
  readonly onFirstPush?: (groupLow: number, dueMs: number) => void;
  /**
   * Runs `fn` after `delayMs` (the host: an unref'd setTimeout). A delivery applied before its
   * session is due (restored ahead: scheduler.ts, `restoreLeadMs`) is held until then; without a
   * timer, the ticks release what is held.
   */
  readonly after?: (delayMs: number, fn: () => void) => void;
  /** False only for the simulator's planted bug `deliver-before-due`: deliveries are pushed when applied, due or not. */
  readonly holdUntilDue?: boolean;
}

/** A delivery applied before its session's due time: pushed once the leader's clock reaches it. */
interface HeldPush {
  readonly groupLow: number;
  readonly restoreLow: number;
  readonly consumer: string;
  /** The item's delivery number when it was held: another one since (a redelivery) supersedes it. */
  readonly delivery: number;
  readonly dueMs: number;
}

interface LocalConsumer {
  readonly name: string;
  readonly groupHigh: number;
  readonly groupLow: number;
  readonly maxAckPending: number;
  readonly push: (d: GroupDelivery) => void;
  readonly onEnd: ((code: string, message: string) => void) | undefined;
  /** The applied index when it attached: a delivery to its name applied before it never reached it. */
  readonly attachedIndex: number;
  closed: boolean;
}

/** A restore the scheduler planned, as the planner tracks it: its entry's (index, term) once appended. */
export interface PlannedRestore {
  readonly state: 'planned' | 'appended' | 'applied' | 'dropped';
  readonly index: number;
  readonly term: number;
}

/** Restores waiting to be delivered ahead (below) at most: beyond, the ordinary path delivers them. */
const AHEAD_MAX = 1024;

export class Dispatcher {
  private readonly consumers = new Map<number, LocalConsumer[]>();
  /**
   * Per group, per restore: the GroupDeliver or GroupDeadLetter in flight for it (its delivery
   * number and when it was proposed). At most one per item; bounded by the proposals per tick.
   */
  private readonly proposed = new Map<number, Map<number, { delivery: number; atMs: number; consumer: string }>>();
  /**
   * Per group: nothing to do before this time unless something changed (an applied entry of the
   * group, a restore, a consumer attached or gone, an answer): ticks skip the group instead of
   * going through its pending items. Absent: look.
   */
  private readonly idleUntil = new Map<number, number>();
  /**
   * Per group, the restores whose GroupAck this leader proposed and has not yet seen applied or
   * refused. Their items no longer count against their consumer's maxAckPending: a consumer's room
   * comes back when the leader takes its ack, not a commit round later (NATS JetStream's consumer
   * leader frees a pending slot when the ack arrives, then replicates it). Deliveries proposed after
   * the ack come after it in the log, so when one applies the ack has settled its item. Only acks
   * that would settle an item in flight when they are taken are kept here (a stale or made-up ack
   * changes no count), so at most one key per item in flight. The one way past the window: an ack
   * that still settles nothing when it applies (a remove-on-ack refused by a revoke that came first
   * in the log) lets the consumer hold one more delivery than its window until that ack applies.
   * Cleared on the ack's apply or answer and on a leadership change.
   */
  private readonly acking = new Map<number, Set<number>>();
  /**
   * Per group, the restores a DeadLetterReplay made ready again (a new round of deliveries) and no
   * GroupDeliver has named since: their next delivery 1 is not a first delivery, and the lateness
   * report (`onFirstPush`) skips it. Kept on every node from applied entries, so a new leader knows
   * replays applied before its term (not one it missed by installing a snapshot). At most one key
   * per pending item; a group's keys go with the group.
   */
  private readonly replayed = new Map<number, Set<number>>();
  private tickQueued = false;
  /**
   * Groups whose last look left an item for want of a local consumer with room (none attached, or
   * every one at maxAckPending). A new item (a restore, a dead letter replayed) changes nothing for
   * them, so it does not wake them: only what makes room does (an applied deliver, ack, nack or
   * dead letter of the group, an attach or detach, a proposal's failure or timeout, a deadline).
   * Without this, a group with a backlog and no consumer was looked through, all of it, after every
   * applied restore.
   */
  private readonly full = new Set<number>();
  /** Groups looked through, and skipped as idle (for tests and benchmarks). */
  readonly scans = { looked: 0, skipped: 0 };
  private readonly perTick: number;
  private readonly timeoutMs: number;
  private readonly unlisten: () => void;
  private readonly defer: (fn: () => void) => void;
  private rr = 0;
  /** Planned restores of non-void records on topics with a consumer attached here, in plan order, until appended. */
  private ahead: { readonly restore: PlannedRestore; readonly topic: string; readonly dueMs: number }[] = [];
  private readonly view = new CommandView();
  private readonly codec: CodecLimits;
  /**
   * Deliveries applied before their due time, in apply order. Each was a delivery in flight to a
   * consumer attached here when it applied, and leaves by its due time (at most the lead after it
   * was held), so they are bounded by the consumers' maxAckPending windows times maxDeliveries (a
   * redelivery to a consumer that reattached while its delivery was held leaves the first entry
   * until its due time, then drops it as superseded).
   */
  private held: HeldPush[] = [];
  /** When the armed release timer fires (Infinity: none armed). */
  private releaseAtMs = Number.POSITIVE_INFINITY;
  /** The earliest due time among the held deliveries (Infinity: none held). */
  private heldMinDueMs = Number.POSITIVE_INFINITY;
  /** deliveredAhead: first deliveries proposed behind their restore's entry, before it applied (of `delivered`). */
  readonly counters = { delivered: 0, redelivered: 0, deadLettered: 0, pushed: 0, deliveredAhead: 0, held: 0 };

  constructor(private readonly opts: DispatcherOptions) {
    this.perTick = opts.proposalsPerTickMax ?? 256;
    this.timeoutMs = opts.proposalTimeoutMs ?? 5_000;
    this.defer = opts.defer ?? queueMicrotask;
    this.codec = codecLimitsOf(opts.store.limits);
    this.unlisten = opts.store.onApplied((entries, results) => {
      // A held delivery due by now goes out here, between the turn's I/O, rather than at the next
      // timers phase of a busy event loop.
      // (Leader only, and only with something held: the dispatcher decides when to hand over, not
      // what the replicas hold.)
      if (this.held.length > 0 && this.heldMinDueMs <= Math.floor(this.opts.clock())) this.release();
      let tick = false;
      for (let k = 0; k < entries.length; k++) {
        const e = entries[k]!;
        const kind = e.data.length > 1 ? e.data[1]! : -1;
        if (kind < CommandKind.groupCreate || kind > CommandKind.groupDeadLetter) {
          // A restore, or a dead letter made ready again: items to deliver.
          if (kind === CommandKind.sessionRestore || kind === CommandKind.deadLetterReplay) {
            tick = true;
            this.wakeAllButFull();
          }
          if (kind === CommandKind.deadLetterReplay && results[k]?.ok === true && parseCommand(this.view, e.data, this.codec) === null) {
            let set = this.replayed.get(this.view.groupLow);
            if (set === undefined) this.replayed.set(this.view.groupLow, (set = new Set()));
            set.add(this.view.restoreLow);
          }
          continue;
        }
        tick = true;
        if (kind === CommandKind.groupCreate || kind === CommandKind.groupDelete) this.wakeAll();
        const r = results[k];
        if (r === null || r === undefined) continue;
        // A view, not decodeCommand: no objects per applied group entry (one per delivery and ack).
        const cmd = this.view;
        if (parseCommand(cmd, e.data, this.codec) !== null) continue;
        if (cmd.kind === CommandKind.groupDelete && r.ok) {
          this.endGroup(cmd.groupLow, 'GROUP_DELETED', 'the consumer group was deleted');
          this.replayed.delete(cmd.groupLow);
        }
        if (
          cmd.kind !== CommandKind.groupDeliver &&
          cmd.kind !== CommandKind.groupAck &&
          cmd.kind !== CommandKind.groupNack &&
          cmd.kind !== CommandKind.groupDeadLetter
        ) {
          continue;
        }
        const gl = cmd.groupLow;
        this.wake(gl);
        if (cmd.kind === CommandKind.groupAck) this.acked(gl, cmd.restoreLow);
        if (cmd.kind === CommandKind.groupDeliver || cmd.kind === CommandKind.groupDeadLetter) {
          const p = this.proposed.get(gl);
          const rl = cmd.restoreLow;
          if (p?.get(rl)?.delivery === cmd.delivery) p.delete(rl);
        }
        if (cmd.kind === CommandKind.groupDeliver && r.ok) {
          this.push(gl, cmd.restoreLow, cmd.name);
          // Delivered: no longer just replayed (an item leaves a group only once delivered).
          const set = this.replayed.get(gl);
          if (set !== undefined && set.delete(cmd.restoreLow) && set.size === 0) this.replayed.delete(gl);
        }
      }
      if (tick && this.opts.isLeader()) this.defer(() => this.tick());
    });
  }

  dispose(): void {
    this.unlisten();
  }

  /** Whether a consumer is attached here: only then are planned restores worth delivering ahead. */
  get hasConsumers(): boolean {
    return this.consumers.size > 0;
  }

  /**
   * The scheduler planned the restore of a stored session on `topic` (issue 16, lateness): its
   * first delivery is proposed as soon as the restore's entry is appended (`appended`), right
   * behind it in the log, instead of once the restore is applied, a commit round later. Nothing
   * else changes: the GroupDeliver applies after the restore it names (which makes the item), the
   * push still waits for its apply, and one the log refuses (the restore failed, the group went,
   * the consumer's turn passed) leaves the item to the ordinary path.
   */
  restorePlanned(restore: PlannedRestore, topic: string, dueMs: number): void {
    if (this.ahead.length >= AHEAD_MAX || !this.opts.isLeader()) return;
    this.ahead.push({ restore, topic, dueMs });
  }

  /** The leader appended entries: deliver ahead the planned restores now in its log. */
  appended(): void {
    if (this.ahead.length === 0) return;
    if (!this.opts.isLeader()) {
      this.ahead = [];
      return;
    }
    const now = Math.floor(this.opts.clock());
    let k = 0;
    // Per group touched: its open local consumers and their load, built once.
    let loads: Map<number, { local: LocalConsumer[]; load: Map<string, number> }> | null = null;
    for (; k < this.ahead.length; k++) {
      const a = this.ahead[k]!;
      // Plan order is log order: a restore not appended yet holds the ones after it.
      if (a.restore.state === 'planned') break;
      if (a.restore.state !== 'appended') continue;
      for (const g of this.opts.store.consumerGroups()) {
        if (g.topic !== a.topic) continue;
        loads ??= new Map();
        let cs = loads.get(g.low);
        if (cs === undefined) loads.set(g.low, (cs = this.consumersOf(g, now)));
        const { local, load } = cs;
        if (local.length === 0) continue;
        const c = this.pick(local, load);
        if (c === undefined) continue;
        load.set(c.name, load.get(c.name)! + 1);
        // Restored ahead of its due time: the ack wait starts when the consumer gets it, at the due time.
        this.propose(g, a.restore.term, a.restore.index, CommandKind.groupDeliver, 1, Math.max(now, a.dueMs) + g.ackWaitMs, c.name);
        this.counters.delivered++;
        this.counters.deliveredAhead++;
      }
    }
    this.ahead = k === this.ahead.length ? [] : this.ahead.slice(k);
  }

  /** Attach a consumer (on the leader). `name` identifies it across reconnections. */
  attach(group: ConsumerGroup, name: string, push: (d: GroupDelivery) => void, opts: ConsumerOptions = {}): ConsumerHandle {
    const c: LocalConsumer = {
      name,
      groupHigh: group.high,
      groupLow: group.low,
      maxAckPending: Math.max(1, Math.min(group.maxAckPending, opts.maxAckPending ?? group.maxAckPending)),
      push,
      onEnd: opts.onEnd,
      attachedIndex: this.opts.store.appliedIndex,
      closed: false,
    };
    let list = this.consumers.get(group.low);
    if (list === undefined) this.consumers.set(group.low, (list = []));
    list.push(c);
    this.wake(group.low);
    this.defer(() => this.tick());
    return {
      name,
      close: () => this.detach(c),
    };
  }

  /** Consumers attached to this node, per group (for status). */
  attached(): number {
    let n = 0;
    for (const l of this.consumers.values()) n += l.length;
    return n;
  }

  /**
   * Acknowledge a delivery (any delivery number so far; a second ack is harmless). With `remove`
   * (the delivered session, and the user whose write permission apply checks), the ack also removes
   * that session when it settles the item: one entry for an ack and a SessionDestroy.
   */
  ack(group: Uint8Array, restore: Uint8Array, delivery: number, cb?: Parameters<Submit>[1], remove?: RemoveOnAck): void {
    const gl = readU64BE(group, 8);
    const rl = readU64BE(restore, 8);
    // Only an ack that will settle its item when it applies makes room before then: the item is in
    // flight now, under this restore ID, and the ack's number is one it reached (consumerGroups.ts,
    // ack). A stale or made-up ack (a client chooses every number in it) changes no count.
    const g = this.opts.store.group(readU64BE(group, 0), gl);
    const it = g?.items.get(rl);
    const settles =
      g !== undefined &&
      it !== undefined &&
      it.inFlight &&
      it.restore.high === readU64BE(restore, 0) &&
      delivery >= 1 &&
      delivery <= it.deliveries &&
      delivery > roundBase(it, g.maxDeliveries);
    if (settles) {
      let pending = this.acking.get(gl);
      if (pending === undefined) this.acking.set(gl, (pending = new Set()));
      pending.add(rl);
    }
    this.opts.submit(
      remove === undefined ? { kind: CommandKind.groupAck, group, restore, delivery } : { kind: CommandKind.groupAck, group, restore, delivery, remove },
      (err, result) => {
        // Applied or refused: from now on the group's state says whether the item is settled.
        this.acked(gl, rl);
        cb?.(err, result);
      },
    );
    // The consumer has room again: the next look hands it more (the ack is in the log first). Not
    // when the ack was refused at once (its answer already took the item back).
    if (settles && this.acking.get(gl)?.has(rl) === true && this.opts.isLeader()) {
      this.wake(gl);
      this.queueTick();
    }
  }

  /** Acks taken that make room ahead of their apply (for tests). */
  get acksTaken(): number {
    let n = 0;
    for (const pending of this.acking.values()) n += pending.size;
    return n;
  }

  private acked(groupLow: number, restoreLow: number): void {
    const pending = this.acking.get(groupLow);
    if (pending === undefined || !pending.delete(restoreLow)) return;
    if (pending.size === 0) this.acking.delete(groupLow);
    // The item counts again if the ack settled nothing: look at the group.
    this.wake(groupLow);
  }

  /** One tick for every ack taken in this turn (each would look through the group). */
  private queueTick(): void {
    if (this.tickQueued) return;
    this.tickQueued = true;
    this.defer(() => {
      this.tickQueued = false;
      this.tick();
    });
  }

  /** Give a delivery back: ready again after `delayMs` (the leader's clock decides when). */
  nack(group: Uint8Array, restore: Uint8Array, delivery: number, delayMs: number, cb?: Parameters<Submit>[1]): void {
    if (!(delayMs <= NACK_DELAY_MS_MAX)) {
      return cb?.({ code: CommandErrorCode.number, message: `a nack's delay is at most ${NACK_DELAY_MS_MAX} ms, got ${delayMs}` });
    }
    const readyAtMs = Math.floor(this.opts.clock()) + Math.max(0, Math.floor(delayMs));
    this.opts.submit({ kind: CommandKind.groupNack, group, restore, delivery, readyAtMs }, cb);
  }

  /** Leadership was lost or gained: forget proposals in flight; when lost, end every consumer. */
  reset(isLeader: boolean): void {
    this.proposed.clear();
    this.acking.clear();
    this.wakeAll();
    this.ahead = [];
    // Held deliveries are in flight in the log: a consumer that reattaches gets them again (tick).
    this.held = [];
    this.heldMinDueMs = Number.POSITIVE_INFINITY;
    if (isLeader) return;
    for (const low of [...this.consumers.keys()]) this.endGroup(low, 'NOT_LEADER', 'this node is no longer the leader; attach to the new one');
  }

  /**
   * Propose deliveries, redeliveries and dead letters that are due. Returns how many commands.
   * A group is looked through only when something changed since it was last found idle, or when
   * its earliest deadline or nack delay passed; otherwise the tick skips it (O(1) per group).
   */
  tick(): number {
    if (!this.opts.isLeader()) return 0;
    const store = this.opts.store;
    // Whole milliseconds, as the planner's due times: the entries carry u64 ms (a fractional clock
    // made every GroupDeliver fail to encode, so nothing was ever delivered).
    const now = Math.floor(this.opts.clock());
    if (this.held.length > 0) this.release();
    let budget = this.perTick;
    for (const [gl, m] of this.proposed) {
      for (const [rl, p] of m) {
        if (now - p.atMs <= this.timeoutMs) continue;
        m.delete(rl);
        this.wake(gl);
      }
      if (m.size === 0) this.proposed.delete(gl);
    }
    for (const g of store.consumerGroups()) {
      if (budget <= 0) break;
      const idle = this.idleUntil.get(g.low);
      if (idle !== undefined && now < idle) {
        this.scans.skipped++;
        continue;
      }
      this.scans.looked++;
      const { local, load } = this.consumersOf(g, now);
      const inFlight = this.proposed.get(g.low);
      // The earliest time an item held back by time becomes actionable; work left over by the budget keeps the group awake.
      let wakeMs = Number.POSITIVE_INFINITY;
      let leftOver = false;
      let wantsRoom = false;
      /** Items seen that are not fresh: once all of them (g.touched) and no room, the rest need room too. */
      let touchedSeen = 0;
      for (const it of g.items.values()) {
        const fresh = isFresh(it);
        if (!fresh) touchedSeen++;
        else if (wantsRoom && touchedSeen === g.touched) break;
        if (budget <= 0) {
          leftOver = true;
          break;
        }
        const next = it.deliveries + 1;
        const p = inFlight?.get(it.restore.low);
        // Its proposal's apply (or failure, or timeout) wakes the group.
        if (p !== undefined && (p.delivery === next || p.delivery === it.deliveries)) continue;
        let lost = false;
        if (it.inFlight && it.deadlineMs > now) {
          // In flight and not expired: redeliver now only to a consumer of that name that attached after it.
          lost = local.some((c) => c.name === it.consumer && c.attachedIndex >= it.deliveredIndex);
          if (!lost) {
            wakeMs = Math.min(wakeMs, it.deadlineMs);
            continue;
          }
        }
        if (!it.inFlight && it.readyAtMs > now) {
          wakeMs = Math.min(wakeMs, it.readyAtMs);
          continue;
        }
        const inRound = it.deliveries - roundBase(it, g.maxDeliveries);
        if (inRound >= g.maxDeliveries) {
          // Its last allowed delivery, in flight to a consumer that attached again: that delivery
          // may still be acked until its deadline (its work may be done; the library acks it
          // through the new attachment), and there is no next one to hand over. A dead letter at
          // the deadline, as any other (review of 2026-12-07: it was dead-lettered at once).
          if (lost) {
            wakeMs = Math.min(wakeMs, it.deadlineMs);
            continue;
          }
          this.propose(g, it.restore.high, it.restore.low, CommandKind.groupDeadLetter, it.deliveries, now, '');
          this.counters.deadLettered++;
          budget--;
          continue;
        }
        // No consumer with room: an ack, a nack, an attach or a deadline (all wake the group) makes some.
        const c = lost ? newestNamed(local, it.consumer)! : this.pick(local, load);
        if (c === undefined) {
          wantsRoom = true;
          continue;
        }
        if (!lost) load.set(c.name, load.get(c.name)! + 1);
        // An item restored ahead is handed over at its due time (push holds it): its ack wait starts
        // then. A redelivery after a deadline is past it already (no header read); one to a consumer
        // that reattached while its delivery was held is not.
        const fromMs = next === 1 || lost ? Math.max(now, store.restoreDueMs(it.restore)) : now;
        this.propose(g, it.restore.high, it.restore.low, CommandKind.groupDeliver, next, fromMs + g.ackWaitMs, c.name);
        // A replayed dead letter's first delivery (its round's first) is not a redelivery.
        if (inRound > 0) this.counters.redelivered++;
        else this.counters.delivered++;
        budget--;
      }
      if (leftOver) this.wake(g.low);
      else {
        this.idleUntil.set(g.low, wakeMs);
        if (wantsRoom) this.full.add(g.low);
        else this.full.delete(g.low);
      }
    }
    return this.perTick - budget;
  }

  /** Look at the group at the next tick. */
  private wake(groupLow: number): void {
    this.idleUntil.delete(groupLow);
    this.full.delete(groupLow);
  }

  private wakeAll(): void {
    this.idleUntil.clear();
    this.full.clear();
  }

  /** New items: look again at every group but those waiting for room (a new item needs room too). */
  private wakeAllButFull(): void {
    if (this.full.size === 0) {
      this.idleUntil.clear();
      return;
    }
    for (const gl of this.idleUntil.keys()) if (!this.full.has(gl)) this.idleUntil.delete(gl);
  }

  /** The open consumers of `g` attached here, and each one's deliveries in flight and not expired. */
  private consumersOf(g: ConsumerGroup, now: number): { local: LocalConsumer[]; load: Map<string, number> } {
    const local = (this.consumers.get(g.low) ?? []).filter((c) => !c.closed);
    const load = new Map<string, number>();
    if (local.length === 0) return { local, load };
    for (const c of local) load.set(c.name, 0);
    const acking = this.acking.get(g.low);
    // Only items that are not fresh can be in flight: stop once all of them were seen.
    let seen = 0;
    for (const it of g.items.values()) {
      if (seen === g.touched) break;
      if (isFresh(it)) continue;
      seen++;
      if (it.inFlight && it.deadlineMs > now && load.has(it.consumer) && acking?.has(it.restore.low) !== true)
        load.set(it.consumer, load.get(it.consumer)! + 1);
    }
    // Deliveries proposed and not applied yet count too: a look between a proposal and its apply
    // (an ack applied in between wakes the group) must not hand the consumer more than its window.
    const proposed = this.proposed.get(g.low);
    if (proposed !== undefined) {
      for (const [rl, p] of proposed) {
        if (p.consumer === '' || !load.has(p.consumer)) continue;
        // No item yet: delivered ahead of its restore's apply (appended()).
        const it = g.items.get(rl);
        if (it === undefined || it.deliveries < p.delivery) load.set(p.consumer, load.get(p.consumer)! + 1);
      }
    }
    return { local, load };
  }

  private pick(local: readonly LocalConsumer[], load: Map<string, number>): LocalConsumer | undefined {
    for (let k = 0; k < local.length; k++) {
      const c = local[(this.rr + k) % local.length]!;
      if (load.get(c.name)! < c.maxAckPending) {
        this.rr = (this.rr + k + 1) % Math.max(1, local.length);
        return c;
      }
    }
    return undefined;
  }

  private propose(
    g: ConsumerGroup,
    restoreHigh: number,
    restoreLow: number,
    kind: typeof CommandKind.groupDeliver | typeof CommandKind.groupDeadLetter,
    delivery: number,
    deadlineMs: number,
    consumer: string,
  ): void {
    const group = commandId(g.high, g.low);
    const restore = commandId(restoreHigh, restoreLow);
    let m = this.proposed.get(g.low);
    if (m === undefined) this.proposed.set(g.low, (m = new Map()));
    // A tick finds it proposed (also one delivered ahead, before its restore applied) and leaves the item alone.
    const entry = { delivery, atMs: this.opts.clock(), consumer };
    m.set(restoreLow, entry);
    const cmd: Command =
      kind === CommandKind.groupDeliver
        ? { kind: CommandKind.groupDeliver, group, restore, delivery, deadlineMs, consumer }
        : { kind: CommandKind.groupDeadLetter, group, restore, delivery };
    this.opts.submit(cmd, (err) => {
      if (err === null) return;
      if (m.get(restoreLow) === entry) m.delete(restoreLow);
      this.wake(g.low);
    });
  }

  /** `due`: the caller (release) knows the session is due: no header read, no hold. */
  private push(groupLow: number, restoreLow: number, consumer: string, due = false): void {
    const local = this.consumers.get(groupLow);
    if (local === undefined) return;
    // The newest consumer of that name: an older one may be orphaned (a consume request that timed
    // out on the client after the node attached it: nobody reads its deliveries; found by the fault
    // harness, where every delivery went to the orphan until the session was dead-lettered).
    const c = newestNamed(local, consumer);
    if (c === undefined) return;
    const g = this.opts.store.groupByLow(groupLow);
    const it = g?.items.get(restoreLow);
    if (g === undefined || it === undefined) return;
    if (!due && this.opts.holdUntilDue !== false) {
      const dueMs = this.opts.store.restoreDueMs(it.restore);
      if (dueMs > Math.floor(this.opts.clock())) {
        this.hold({ groupLow, restoreLow, consumer, delivery: it.deliveries, dueMs });
        return;
      }
    }
    const s = this.opts.store.readRestored(it.restore);
    this.counters.pushed++;
    if (it.deliveries === 1 && this.replayed.get(groupLow)?.has(restoreLow) !== true) this.opts.onFirstPush?.(groupLow, s.dueMs);
    // Called from apply's listener: a consumer's failure must not reach apply.
    try {
      c.push({
        group: commandId(g.high, g.low),
        groupName: g.name,
        topic: s.topic,
        restoreId: commandId(it.restore.high, it.restore.low),
        session: s.session,
        records: s.records,
        delivery: it.deliveries,
      });
    } catch {
      this.detach(c);
      c.onEnd?.('CONSUMER_FAILED', 'the consumer threw on a delivery');
    }
  }

  private hold(h: HeldPush): void {
    this.held.push(h);
    if (h.dueMs < this.heldMinDueMs) this.heldMinDueMs = h.dueMs;
    this.counters.held++;
    this.armRelease(h.dueMs);
  }

  private armRelease(dueMs: number): void {
    const after = this.opts.after;
    if (after === undefined || dueMs >= this.releaseAtMs) return;
    this.releaseAtMs = dueMs;
    after(Math.max(0, dueMs - this.opts.clock()), () => {
      if (this.releaseAtMs !== dueMs) return;
      this.releaseAtMs = Number.POSITIVE_INFINITY;
      this.release();
    });
  }

  /** Push the held deliveries now due, in the order they were applied; arm the timer for the rest. */
  private release(): void {
    const now = Math.floor(this.opts.clock());
    const due: HeldPush[] = [];
    const later: HeldPush[] = [];
    let minDueMs = Number.POSITIVE_INFINITY;
    for (const h of this.held) {
      if (h.dueMs <= now) due.push(h);
      else {
        later.push(h);
        if (h.dueMs < minDueMs) minDueMs = h.dueMs;
      }
    }
    this.held = later;
    this.heldMinDueMs = minDueMs;
    for (const h of due) {
      // Still that delivery, in flight (not acked, nacked or redelivered since it was held).
      const it = this.opts.store.groupByLow(h.groupLow)?.items.get(h.restoreLow);
      if (it === undefined || !it.inFlight || it.deliveries !== h.delivery || it.consumer !== h.consumer) continue;
      this.push(h.groupLow, h.restoreLow, h.consumer, true);
    }
    if (this.held.length > 0) this.armRelease(this.heldMinDueMs);
  }

  /** Deliveries applied and held until their due time (for tests and status). */
  get heldCount(): number {
    return this.held.length;
  }

  private detach(c: LocalConsumer): void {
    if (c.closed) return;
    c.closed = true;
    this.wake(c.groupLow);
    const list = this.consumers.get(c.groupLow);
    if (list === undefined) return;
    const k = list.indexOf(c);
    if (k >= 0) list.splice(k, 1);
    if (list.length === 0) this.consumers.delete(c.groupLow);
  }

  private endGroup(groupLow: number, code: string, message: string): void {
    const list = this.consumers.get(groupLow);
    if (list === undefined) return;
    this.consumers.delete(groupLow);
    for (const c of list) {
      c.closed = true;
      c.onEnd?.(code, message);
    }
  }
}

/** The most recently attached open consumer of that name. */
function newestNamed(list: readonly LocalConsumer[], name: string): LocalConsumer | undefined {
  for (let k = list.length - 1; k >= 0; k--) if (list[k]!.name === name && !list[k]!.closed) return list[k];
  return undefined;
}
