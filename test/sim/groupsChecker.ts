/**
 * Issue 16: the delivery checker of the simulator's `--sessions` mode. It keeps its own model of the
 * consumer groups, built from the committed history (every entry the first time any node applies
 * it: first applications come in index order, since a node applies an entry only after the one
 * before it, itself or through a snapshot someone built by applying it), and from what the
 * simulated consumers receive. It fails the run when:
 *
 * - a stored session is never restored, or its restore is never delivered to a group that existed
 *   when it was restored, or never settled (acknowledged or dead-lettered) or committed, once the
 *   cluster healed and had the time (`finish`);
 * - a session is restored (earlier than the leader's restore lead), or delivered (the leader's
 *   decision time carried in GroupDeliver, and the moment a consumer receives it), before the due
 *   time its SessionStore entry carried;
 * - two acknowledgements both changed state for one restore and group ("acknowledged twice as new
 *   work"), in the log or as a consumer saw its results; an item is settled twice; an ack the
 *   product calls already settled while the item is pending (a lost ack);
 * - a delivery count goes backwards or skips (GroupDeliver n after anything but n - 1, a consumer
 *   receiving a lower number than it already received), or passes maxDeliveries, or an item is
 *   dead-lettered before maxDeliveries deliveries;
 * - a SessionCommit consumes the record of a restore that some group has not settled, or holds as
 *   a dead letter (a dead letter keeps its record until DeadLetterDelete: it can be replayed);
 * - a DeadLetterReplay or DeadLetterDelete changes state for an item that is not a dead letter; a
 *   replayed dead letter is an item again (delivered from 1, it must be settled again); a deleted
 *   one is never delivered again;
 * - replicas give one entry different results, or end with different group tables, or a table
 *   that differs from the model.
 */
import { CommandKind, CommandView, FEATURES, commandKindNames, parseCommand, readU64BE, type CodecLimits } from '../../transport/commands/codec.js';
import { ResultCode } from '../../actors/sessions/errors.js';
import { codecLimitsOf } from '../../actors/sessions/options.js';
import type { GroupDelivery } from '../../actors/sessions/dispatcher.js';
import type { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult, Delivery } from '../../actors/sessions/types.js';
import { EntryKind, type Entry, type NodeId } from '../../machines/types.js';
import type { Violation } from './checker.js';

interface ModelGroup {
  readonly low: number;
  readonly topic: string;
  readonly name: string;
  readonly ackWaitMs: number;
  readonly maxDeliveries: number;
  deleted: boolean;
  deadTotal: number;
}

interface ModelRestore {
  readonly low: number;
  readonly sessionLow: number;
  readonly topic: string;
  readonly dueMs: number;
  readonly fileLow: number;
  readonly offset: number;
  /** When its entry was first applied (the checker's clock, as decision times are). */
  readonly appliedAtMs: number;
  /** Groups (by low) that have not settled it. */
  readonly pending: Set<number>;
  committed: boolean;
}

interface ModelItem {
  readonly group: ModelGroup;
  readonly restore: ModelRestore;
  deliveries: number;
  /** Deliveries of the rounds before its last replay (replay-continues: a replay's numbers continue); 0 otherwise. */
  base: number;
  settled: 'ack' | 'dead' | 'deleted' | null;
  /** Dead-lettered and not replayed or deleted since: it still holds its restore. */
  deadHeld: boolean;
  /** The highest delivery number a consumer received, and whether a consumer's ack changed state. */
  receivedMax: number;
  consumerAcked: boolean;
}

export interface GroupsStats {
  /** Sessions stored (SessionStore applied), and restored (non-void SessionRestore). */
  stored: number;
  restored: number;
  /** Items: (restore, group) pairs, one per group of the topic when it was restored. */
  items: number;
  /** Items delivered at least once; GroupDeliver entries after the first; received by consumers. */
  delivered: number;
  /** First deliveries the leader decided before the restore was applied (proposed right behind it: Dispatcher.restorePlanned). */
  deliveredAhead: number;
  /** Restores applied before their session's due time (the leader's restore lead; never delivered before it). */
  restoredAhead: number;
  /** Restored sessions handed to the subscribers every node has on every topic (never before the due time). */
  subscriberReceived: number;
  redelivered: number;
  received: number;
  acked: number;
  /** Acks answered OK_ALREADY_SETTLED (a second ack, harmless). */
  duplicateAcks: number;
  nacked: number;
  deadLettered: number;
  /** Dead letters replayed (DeadLetterReplay) and deleted (DeadLetterDelete). */
  deadReplayed: number;
  deadDeleted: number;
  committed: number;
  /** Items never settled, or stored sessions never restored, at the end (must be 0). */
  lost: number;
}

export function emptyGroupsStats(): GroupsStats {
  return {
    stored: 0,
    restored: 0,
    items: 0,
    delivered: 0,
    deliveredAhead: 0,
    restoredAhead: 0,
    subscriberReceived: 0,
    redelivered: 0,
    received: 0,
    acked: 0,
    duplicateAcks: 0,
    nacked: 0,
    deadLettered: 0,
    deadReplayed: 0,
    deadDeleted: 0,
    committed: 0,
    lost: 0,
  };
}

export function addGroupsStats(a: GroupsStats, b: GroupsStats): GroupsStats {
  const out = { ...a };
  for (const k of Object.keys(out) as (keyof GroupsStats)[]) out[k] += b[k];
  return out;
}

const idLow = (id: Uint8Array): number => readU64BE(id, 8);
const kindName = (kind: number): string => commandKindNames[kind] ?? `kind ${kind}`;

export class GroupsChecker {
  readonly stats: GroupsStats = emptyGroupsStats();
  private readonly view = new CommandView();
  private codec: CodecLimits | null = null;
  /** The last index of the committed history the model applied. */
  private last = 0;
  /** Per index: the result each replica must give (`ok:code`, '' for entries without one). */
  private readonly results: string[] = [];
  private readonly sessions = new Map<number, { topic: string; dueMs: number }>();
  /** Sessions stored and not restored since. */
  private readonly storedPending = new Set<number>();
  private readonly files = new Map<number, { readCursor: number; consumed: number; restoreAt: Map<number, ModelRestore>; restoredLengths: number[] }>();
  private readonly groups = new Map<number, ModelGroup>();
  private readonly restores = new Map<number, ModelRestore>();
  private readonly items = new Map<string, ModelItem>();
  /** Items not settled, restores not committed. */
  private unsettled = 0;
  private uncommitted = 0;
  /** Feature flags on in the committed history (FeatureEnable entries applied OK). */
  features = 0;

  /**
   * @param violations where violations go (the safety checker's list: a violation stops the run)
   * @param now the leaders' clock (ms since the epoch)
   */
  constructor(
    private readonly violations: Violation[],
    private readonly now: () => number,
    private readonly simNow: () => number,
    /** The leader restores this far ahead of due times (restoreLeadMs): a restore may apply that early, a delivery may not. */
    private readonly restoreLeadMs = 0,
    /** --clock-skew: a leader's clock may be this far ahead of the true one, so what it hands over may come this early by the true clock. */
    private readonly clockSkewMsMax = 0,
  ) {}

  private violate(property: string, node: NodeId | null, detail: string): void {
    if (this.violations.length < 20) this.violations.push({ property, node, timeMs: this.simNow(), detail });
  }

  /** A node's store (each incarnation): watch its applies. Call before anything else listens. */
  observe(id: NodeId, store: SessionsStore): void {
    this.codec ??= codecLimitsOf(store.limits);
    store.onApplied((entries, results) => this.applied(id, entries, results));
  }

  private applied(id: NodeId, entries: readonly Entry[], results: readonly (CommandResult | null)[]): void {
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      const r = results[k] ?? null;
      const sig = r === null ? '' : `${r.ok}:${r.code}`;
      if (e.index <= this.last) {
        const want = this.results[e.index];
        if (want !== undefined && want !== sig)
          this.violate('group-results-differ', id, `entry ${e.index} gave ${sig || 'no result'} here, ${want || 'no result'} on another replica`);
        continue;
      }
      if (e.index !== this.last + 1) {
        this.violate('groups-model-gap', id, `applied ${e.index} before anyone applied ${this.last + 1}`);
        return;
      }
      this.last = e.index;
      this.results[e.index] = sig;
      if (e.kind === EntryKind.command && r !== null) this.step(id, e, r);
    }
  }

  /** One entry of the committed history, with its result. */
  private step(id: NodeId, e: Entry, r: CommandResult): void {
    const v = this.view;
    if (parseCommand(v, e.data, this.codec!) !== null) return;
    // Feature flags: what an older node would apply differently never precedes its flag in the log.
    if (v.kind === CommandKind.sessionRestore && v.holdMs > 0 && (this.features & FEATURES.restoreAhead) === 0)
      this.violate('feature-before-flag', id, `SessionRestore ${e.index} holds ${v.holdMs} ms before restore-ahead was turned on`);
    if (v.kind === CommandKind.groupAck && v.sessionLow > 0 && (this.features & FEATURES.removeOnAck) === 0)
      this.violate('feature-before-flag', id, `GroupAck ${e.index} removes its session before remove-on-ack was turned on`);
    switch (v.kind) {
      case CommandKind.featureEnable:
        if (r.ok) this.features |= v.features;
        return;
      case CommandKind.sessionCreate:
        if (r.ok && r.value !== null) this.sessions.set(idLow(r.value), { topic: v.topic, dueMs: 0 });
        return;
      case CommandKind.sessionStore: {
        if (!r.ok) return;
        const s = this.sessions.get(v.sessionLow);
        if (s === undefined) return this.violate('groups-model', id, `SessionStore ${e.index} of a session the model never saw created`);
        s.dueMs = v.dueMs;
        this.storedPending.add(v.sessionLow);
        this.stats.stored++;
        return;
      }
      case CommandKind.sessionRestore:
        return this.restored(id, e, r);
      case CommandKind.sessionCommit: {
        if (!r.ok) return;
        const f = this.file(v.fileLow);
        // One commit consumes the oldest restored record, or several whose lengths sum to its length.
        const end = f.consumed + v.length;
        while (f.consumed < end) {
          const offset = f.consumed;
          const len = f.restoredLengths.shift();
          if (len === undefined) return this.violate('groups-model', id, `SessionCommit ${e.index} consumed past the restored records`);
          f.consumed += len;
          const rs = f.restoreAt.get(offset);
          if (rs === undefined) continue; // a void record
          f.restoreAt.delete(offset);
          rs.committed = true;
          this.uncommitted--;
          this.stats.committed++;
          if (rs.pending.size > 0) {
            const names = [...rs.pending].map((g) => this.groups.get(g)?.name ?? String(g)).join(', ');
            this.violate(
              'consumed-before-settled',
              id,
              `SessionCommit ${e.index} consumed restore ${rs.low} (session ${rs.sessionLow}) before ${names} acknowledged or dead-lettered it`,
            );
          }
        }
        if (f.consumed !== end) this.violate('groups-model', id, `SessionCommit ${e.index} of ${v.length} bytes ends within a restored record`);
        return;
      }
      case CommandKind.dataDelete:
        if (r.ok) this.files.delete(v.fileLow);
        return;
      case CommandKind.groupCreate:
        if (r.ok)
          this.groups.set(e.index, {
            low: e.index,
            topic: v.topic,
            name: v.name,
            ackWaitMs: v.ackWaitMs,
            maxDeliveries: v.maxDeliveries,
            deleted: false,
            deadTotal: 0,
          });
        return;
      case CommandKind.groupDelete: {
        if (!r.ok) return;
        const g = this.groups.get(v.groupLow);
        if (g === undefined) return this.violate('groups-model', id, `GroupDelete ${e.index} of a group the model does not have`);
        g.deleted = true;
        for (const it of this.items.values()) {
          if (it.group !== g) continue;
          it.restore.pending.delete(g.low);
          it.deadHeld = false;
          if (it.settled !== null) continue;
          it.settled = 'deleted';
          this.unsettled--;
        }
        return;
      }
      case CommandKind.groupDeliver:
      case CommandKind.groupAck:
      case CommandKind.groupNack:
      case CommandKind.groupDeadLetter:
        return this.groupStep(id, e, r);
      case CommandKind.deadLetterReplay:
      case CommandKind.deadLetterDelete:
        return this.deadStep(id, e, r);
    }
  }

  private file(low: number): { readCursor: number; consumed: number; restoreAt: Map<number, ModelRestore>; restoredLengths: number[] } {
    let f = this.files.get(low);
    if (f === undefined) this.files.set(low, (f = { readCursor: 0, consumed: 0, restoreAt: new Map(), restoredLengths: [] }));
    return f;
  }

  private restored(id: NodeId, e: Entry, r: CommandResult): void {
    const v = this.view;
    if (!r.ok) return;
    const f = this.file(v.fileLow);
    const offset = f.readCursor;
    f.readCursor += v.length;
    f.restoredLengths.push(v.length);
    if (r.code !== ResultCode.ok || r.value === null) return; // a void record
    const sessionLow = idLow(r.value);
    const s = this.sessions.get(sessionLow);
    if (s === undefined || !this.storedPending.delete(sessionLow)) {
      return this.violate('groups-model', id, `SessionRestore ${e.index} restored session ${sessionLow}, which the model has not stored`);
    }
    this.stats.restored++;
    if (this.now() < s.dueMs) this.stats.restoredAhead++;
    if (this.now() + this.clockSkewMsMax < s.dueMs - this.restoreLeadMs)
      this.violate('delivered-early', id, `session ${sessionLow} restored at ${this.now()}, more than ${this.restoreLeadMs} ms before its due time ${s.dueMs}`);
    const rs: ModelRestore = {
      low: e.index,
      sessionLow,
      topic: s.topic,
      dueMs: s.dueMs,
      fileLow: v.fileLow,
      offset,
      appliedAtMs: this.now(),
      pending: new Set(),
      committed: false,
    };
    this.restores.set(rs.low, rs);
    this.uncommitted++;
    f.restoreAt.set(offset, rs);
    for (const g of this.groups.values()) {
      if (g.deleted || g.topic !== s.topic) continue;
      rs.pending.add(g.low);
      this.items.set(`${g.low}:${rs.low}`, {
        group: g,
        restore: rs,
        deliveries: 0,
        base: 0,
        settled: null,
        deadHeld: false,
        receivedMax: 0,
        consumerAcked: false,
      });
      this.unsettled++;
      this.stats.items++;
    }
  }

  private groupStep(id: NodeId, e: Entry, r: CommandResult): void {
    const v = this.view;
    const it = this.items.get(`${v.groupLow}:${v.restoreLow}`);
    const what = `${e.index} (group ${v.groupLow}, restore ${v.restoreLow}, delivery ${v.delivery})`;
    if (v.kind === CommandKind.groupAck && r.code === ResultCode.okAlreadySettled) {
      this.stats.duplicateAcks++;
      if (it !== undefined && it.settled === null) this.violate('ack-lost', id, `GroupAck ${what} answered already settled while the item is pending`);
      // A dead letter still held is not settled for the consumer: an ack of a delivery it had must
      // say so (2026-12-07). (Deleted, it is settled; as for 'dead-letter-lost' below, the
      // per-group bound on dead letters is not modelled: runs stay far below it.)
      if (it !== undefined && it.settled === 'dead' && it.deadHeld && v.delivery <= it.deliveries) {
        this.violate('ack-of-dead-letter', id, `GroupAck ${what} answered already settled while the item is a dead letter`);
      }
      return;
    }
    if (r.code !== ResultCode.ok) return;
    if (it === undefined) return this.violate('groups-model', id, `${kindName(v.kind)} ${what} applied to an item the model does not have`);
    const g = it.group;
    switch (v.kind) {
      case CommandKind.groupDeliver: {
        if (it.settled !== null) this.violate('delivered-after-settled', id, `GroupDeliver ${what} after the item was settled (${it.settled})`);
        if (v.delivery !== it.deliveries + 1) this.violate('delivery-count', id, `GroupDeliver ${what} after delivery ${it.deliveries}`);
        if (v.delivery - it.base > g.maxDeliveries)
          this.violate('delivered-past-max', id, `GroupDeliver ${what} past maxDeliveries ${g.maxDeliveries} of its round`);
        // The leader's decision time is carried in the entry (deadline = now + ackWaitMs).
        const decidedAt = v.dueMs - g.ackWaitMs;
        // A first delivery waits for the due time on the deciding leader's own clock, skewed or not.
        // A redelivery (the item was delivered once already) does not look at the due time: with
        // --clock-skew a leader whose clock is behind the one that stored the session may decide it
        // before that due time by its own clock, by up to the skew.
        if (decidedAt + (v.delivery - it.base > 1 || it.base > 0 ? this.clockSkewMsMax : 0) < it.restore.dueMs)
          this.violate('delivered-early', id, `GroupDeliver ${what} decided at ${decidedAt}, before the session's due time ${it.restore.dueMs}`);
        if (v.delivery - it.base === 1) this.stats.delivered++;
        else this.stats.redelivered++;
        // Whole ms, as decision times are (the simulated clock has fractions): a lower bound.
        if (v.delivery - it.base === 1 && decidedAt < Math.floor(it.restore.appliedAtMs)) this.stats.deliveredAhead++;
        it.deliveries = Math.max(it.deliveries, v.delivery);
        return;
      }
      case CommandKind.groupAck:
      case CommandKind.groupDeadLetter: {
        const how = v.kind === CommandKind.groupAck ? 'ack' : 'dead';
        if (it.settled !== null) {
          const property = how === 'ack' && it.settled === 'ack' ? 'acked-twice' : 'settled-twice';
          return this.violate(property, id, `${kindName(v.kind)} ${what} changed state, but the item was already settled (${it.settled})`);
        }
        if (v.delivery > it.deliveries) this.violate('ack-undelivered', id, `${kindName(v.kind)} ${what} of a delivery not made (${it.deliveries} so far)`);
        // A late answer of the round before a replay (its work ended in the dead letter) must not settle the new round.
        if (v.delivery <= it.base) this.violate('ack-of-old-round', id, `${kindName(v.kind)} ${what} of a round before the replay (from ${it.base + 1})`);
        if (how === 'dead') {
          if (it.deliveries - it.base < g.maxDeliveries)
            this.violate('dead-letter-early', id, `GroupDeadLetter ${what} after ${it.deliveries} of ${g.maxDeliveries} deliveries`);
          g.deadTotal++;
          this.stats.deadLettered++;
          // A dead letter keeps holding its restore (not committable) until deleted.
          it.deadHeld = true;
        } else {
          this.stats.acked++;
          it.restore.pending.delete(g.low);
        }
        it.settled = how;
        this.unsettled--;
        return;
      }
      case CommandKind.groupNack:
        this.stats.nacked++;
        if (v.delivery <= it.base) this.violate('ack-of-old-round', id, `GroupNack ${what} of a round before the replay (from ${it.base + 1})`);
        return;
    }
  }

  /** DeadLetterReplay / DeadLetterDelete: only a held dead letter changes; NOT_FOUND otherwise. */
  private deadStep(id: NodeId, e: Entry, r: CommandResult): void {
    const v = this.view;
    const it = this.items.get(`${v.groupLow}:${v.restoreLow}`);
    const what = `${kindName(v.kind)} ${e.index} (group ${v.groupLow}, restore ${v.restoreLow})`;
    const held = it !== undefined && it.settled === 'dead' && it.deadHeld;
    if (r.code === ResultCode.deadLetterNotFound) {
      if (held) this.violate('dead-letter-lost', id, `${what} answered NOT_FOUND for a dead letter the model holds`);
      return;
    }
    if (!r.ok) return;
    if (it === undefined || !held) return this.violate('groups-model', id, `${what} changed state, but the model has no such dead letter`);
    it.deadHeld = false;
    if (v.kind === CommandKind.deadLetterDelete) {
      this.stats.deadDeleted++;
      it.restore.pending.delete(it.group.low);
      return;
    }
    // Replayed: an item again, from delivery 1 of a new round; it must be delivered and settled again.
    this.stats.deadReplayed++;
    it.settled = null;
    // With replay-continues the numbers go on from the next multiple of maxDeliveries.
    it.base = (this.features & FEATURES.replayContinues) !== 0 ? Math.ceil(it.deliveries / it.group.maxDeliveries) * it.group.maxDeliveries : 0;
    it.deliveries = it.base;
    it.receivedMax = 0;
    it.consumerAcked = false;
    this.unsettled++;
  }

  /** The dead letters the model holds now (group low, restore low): what the workload replays or deletes after the heal. */
  heldDeadLetters(): { group: number; restore: number }[] {
    const out: { group: number; restore: number }[] = [];
    for (const it of this.items.values()) if (it.deadHeld) out.push({ group: it.group.low, restore: it.restore.low });
    return out;
  }

  // ---- what the simulated consumers see -------------------------------------------------------

  /** A subscriber on `node` got a restored session (handed over after that node applied the restore, and its hold). */
  subscriberReceived(node: NodeId, d: Delivery): void {
    this.stats.subscriberReceived++;
    const rs = this.restores.get(idLow(d.restoreId));
    const what = `subscriber of ${JSON.stringify(d.topic)} on ${node}: restore ${idLow(d.restoreId)}`;
    if (rs === undefined) return this.violate('groups-model', node, `${what}: a restore the committed history does not have`);
    if (idLow(d.session) !== rs.sessionLow) this.violate('delivery-content', node, `${what} carries session ${idLow(d.session)}, not ${rs.sessionLow}`);
    if (this.now() + this.clockSkewMsMax < rs.dueMs)
      this.violate('delivered-early', node, `${what} received at ${this.now()}, before the due time ${rs.dueMs}`);
  }

  /** A consumer received a delivery (pushed when its GroupDeliver applied on the leader it is attached to). */
  received(consumer: string, node: NodeId, d: GroupDelivery): void {
    this.stats.received++;
    const it = this.items.get(`${idLow(d.group)}:${idLow(d.restoreId)}`);
    const what = `${consumer} on ${node}: group ${d.groupName}, restore ${idLow(d.restoreId)}, delivery ${d.delivery}`;
    if (it === undefined) return this.violate('groups-model', node, `${what}: an item the committed history does not have`);
    if (this.now() + this.clockSkewMsMax < it.restore.dueMs)
      this.violate('delivered-early', node, `${what} received at ${this.now()}, before the due time ${it.restore.dueMs}`);
    if (idLow(d.session) !== it.restore.sessionLow)
      this.violate('delivery-content', node, `${what} carries session ${idLow(d.session)}, not ${it.restore.sessionLow}`);
    if (d.delivery > it.deliveries) this.violate('delivery-count', node, `${what}: the committed history has ${it.deliveries} deliveries`);
    if (d.delivery < it.receivedMax) this.violate('delivery-count-backwards', node, `${what} after delivery ${it.receivedMax} was received`);
    it.receivedMax = Math.max(it.receivedMax, d.delivery);
  }

  /** The result of a consumer's ack: OK means it changed state (new work); twice for one item is a violation. */
  ackResult(consumer: string, d: GroupDelivery, r: CommandResult): void {
    if (r.code !== ResultCode.ok) return;
    const it = this.items.get(`${idLow(d.group)}:${idLow(d.restoreId)}`);
    if (it === undefined) return;
    if (it.consumerAcked)
      this.violate('acked-twice', null, `${consumer}: a second ack of restore ${idLow(d.restoreId)} in group ${d.groupName} was applied as new work`);
    it.consumerAcked = true;
  }

  // ---- the end --------------------------------------------------------------------------------

  hasGroup(topic: string, name: string): boolean {
    for (const g of this.groups.values()) if (!g.deleted && g.topic === topic && g.name === name) return true;
    return false;
  }

  /** The last index of the committed history (every entry up to it was applied somewhere). */
  get lastIndex(): number {
    return this.last;
  }

  /** Every stored session restored, every item settled, every restore committed. */
  settled(): boolean {
    return this.storedPending.size === 0 && this.unsettled === 0 && this.uncommitted === 0;
  }

  /** After the heal, the drain and convergence: the liveness checks and the replicas' tables. */
  finish(members: readonly { id: NodeId; store: SessionsStore }[]): void {
    const lost = { 'never-restored': [] as string[], 'never-delivered': [] as string[], 'never-settled': [] as string[] };
    for (const low of this.storedPending) lost['never-restored'].push(`session ${low} (due ${this.sessions.get(low)?.dueMs})`);
    for (const it of this.items.values()) {
      if (it.settled === 'deleted') continue;
      if (it.deliveries === 0) lost['never-delivered'].push(`restore ${it.restore.low} to group ${it.group.name}`);
      else if (it.settled === null) lost['never-settled'].push(`restore ${it.restore.low} in group ${it.group.name} (${it.deliveries} deliveries)`);
    }
    for (const [property, list] of Object.entries(lost)) {
      this.stats.lost += list.length;
      if (list.length > 0) this.violate(property, null, `${list.length} after the heal, at ${Math.round(this.simNow())} ms: ${list.slice(0, 4).join('; ')}`);
    }
    // The workload replays or deletes every dead letter after the heal: one still held was never acted on.
    const stuck = this.heldDeadLetters();
    if (stuck.length > 0)
      this.violate('dead-letter-stuck', null, `${stuck.length} dead letters neither replayed nor deleted after the heal (first: restore ${stuck[0]!.restore})`);
    const uncommitted = [...this.restores.values()].filter((rs) => !rs.committed && rs.pending.size === 0);
    if (uncommitted.length > 0) this.violate('never-committed', null, `${uncommitted.length} settled restores never committed (first: ${uncommitted[0]!.low})`);
    // Every replica holds the same group table, and it is the model's.
    const tables = new Map<string, NodeId[]>();
    for (const m of members) {
      const hex = Buffer.from(m.store.manifest().groups ?? new Uint8Array(0)).toString('hex');
      tables.set(hex, [...(tables.get(hex) ?? []), m.id]);
    }
    if (tables.size > 1) this.violate('groups-diverge', null, `the group tables differ: ${[...tables.values()].map((ids) => ids.join(',')).join(' | ')}`);
    const first = members[0];
    if (first === undefined || first.store.appliedIndex !== this.last) return;
    for (const g of first.store.consumerGroups()) {
      const mg = this.groups.get(g.low);
      if (mg === undefined || mg.deleted) {
        this.violate('groups-model', first.id, `group ${g.name} (${g.low}) is not in the model`);
        continue;
      }
      if (g.deadTotal !== mg.deadTotal) this.violate('groups-model', first.id, `group ${g.name}: ${g.deadTotal} dead letters, the model has ${mg.deadTotal}`);
      for (const [low, item] of g.items) {
        const it = this.items.get(`${g.low}:${low}`);
        if (it === undefined || it.settled !== null || it.deliveries !== item.deliveries)
          this.violate(
            'groups-model',
            first.id,
            `group ${g.name}: item ${low} with ${item.deliveries} deliveries, model: ${it === undefined ? 'none' : `${it.settled ?? 'pending'}, ${it.deliveries}`}`,
          );
      }
    }
  }
}
