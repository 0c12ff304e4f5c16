/**
 * Consumer groups (issue 16, durable consumers): the replicated table of groups, of the restores
 * each group has not settled yet, and of each group's dead letters. Part of the session store's
 * state (apply, snapshot, digest); pure and deterministic: every time in it (a delivery's ack
 * deadline, a nack's ready time) came in an entry, decided once by the leader (dispatcher.ts).
 *
 * A restore of a non-void record on a topic becomes one *item* in each group of that topic that
 * exists when the restore applies (a group created later starts from its creation point). An item
 * is ready (never delivered, nacked, or its ack deadline passed) or in flight (delivered to a named
 * consumer, with a deadline). It leaves the group when acknowledged (GroupAck); after
 * `maxDeliveries` it becomes one of the group's *dead letters* (GroupDeadLetter), which keeps
 * holding the restore, so that DeadLetterReplay can make it ready again (for maxDeliveries more deliveries); it
 * leaves for good by DeadLetterDelete, by the dead-letter bound (the oldest go first) or with its
 * group. A restore is *settled* when it left every group it entered (dead letters included), and
 * only then may the scheduler commit it (SessionCommit consumes its record in the data file, which
 * is where a delivery reads the session from until then: a dead letter costs memory for its
 * metadata only, its record stays on disk).
 */
import { CommandErrorCode, idHexOfParts } from '../../transport/commands/codec.js';
import { ByteReader, ByteWriter } from './binary.js';
import { ResultCode } from './errors.js';
import type { CommandResult } from './types.js';

/**
 * The dead-letter bound per group: at most this many dead letters, holding at most
 * DEAD_LETTER_BYTES_MAX bytes of records uncommitted in the data files. A GroupDeadLetter that
 * would pass either first deletes the group's oldest dead letters (as DeadLetterDelete would: their
 * restores may be committed) until the new one fits; they are counted in `deadDropped`. Decided in
 * apply, in log order, from the entries alone: every replica drops the same ones.
 */
export const DEAD_LETTERS_MAX = 1000;
export const DEAD_LETTER_BYTES_MAX = 64 * 1024 * 1024;
/** Format of the encoded table: 2 since dead letters hold their restores (manifest version 5); 1 before. */
const TABLE_FORMAT = 2;

/** A restored session that some group has not settled: where its record is. */
export interface PendingRestore {
  readonly high: number;
  readonly low: number;
  readonly topic: string;
  readonly sessionHigh: number;
  readonly sessionLow: number;
  readonly fileHigh: number;
  readonly fileLow: number;
  readonly offset: number;
  readonly length: number;
  /** Groups it is still an item of. */
  holds: number;
}

/**
 * Never delivered, not in flight, not held back: a fresh item needs only a consumer with room.
 * Items are kept in restore order and change in place, so fresh ones are mostly at the end.
 */
export function isFresh(it: GroupItem): boolean {
  return it.deliveries === 0 && !it.inFlight && it.readyAtMs === 0;
}

/**
 * The item's deliveries before its current round: 0, or with the `replay-continues` flag, those of
 * the rounds that ended in a dead letter before a replay. Derived, not stored (the snapshot format
 * stays): a round ends in a dead letter at exactly maxDeliveries of its own (the dispatcher's rule),
 * a replay starts the next one at a multiple of maxDeliveries, and a replayed item not delivered
 * since is the one ready item without a consumer that was delivered before. Without the flag every
 * item has at most maxDeliveries deliveries, and this is 0, as older versions apply.
 */
export function roundBase(it: Pick<GroupItem, 'deliveries' | 'inFlight' | 'consumer'>, maxDeliveries: number): number {
  if (it.deliveries === 0) return 0;
  if (!it.inFlight && it.consumer === '') return it.deliveries;
  return it.deliveries - (((it.deliveries - 1) % maxDeliveries) + 1);
}

/** The highest delivery number an entry carries (u32). */
const DELIVERY_MAX = 0xffff_ffff;

/**
 * Replaced, never changed in place (Map.set keeps the item's place in restore order): a snapshot
 * captures the items as an array of these objects and encodes them in later turns
 * (GroupTable.capture), while apply goes on.
 */
interface GroupItem {
  readonly restore: PendingRestore;
  /** Deliveries so far (0: never delivered). */
  readonly deliveries: number;
  readonly inFlight: boolean;
  /** The consumer of the last delivery ('' before the first). */
  readonly consumer: string;
  /** In flight: the leader's time after which it is redelivered. */
  readonly deadlineMs: number;
  /** Ready: not before this time (a nack with a delay). */
  readonly readyAtMs: number;
  /** Log index of the last delivery (a consumer attached after it did not receive it). */
  readonly deliveredIndex: number;
}

interface DeadLetter {
  /** The restore it still holds (its record uncommitted); null once consumed (format 1 tables, a commit of a held record). */
  restore: PendingRestore | null;
  readonly restoreHigh: number;
  readonly restoreLow: number;
  readonly sessionHigh: number;
  readonly sessionLow: number;
  readonly deliveries: number;
  /** Index of the GroupDeadLetter entry. */
  readonly index: number;
}

export class ConsumerGroup {
  /** Items by restore index, oldest restore first (insertion order is log order). */
  readonly items = new Map<number, GroupItem>();
  /** Dead letters by restore index, oldest dead letter first. */
  readonly dead = new Map<number, DeadLetter>();
  /** Dead-lettered in all (replayed or deleted ones included). */
  deadTotal = 0;
  /** Dead letters deleted by the bound (not by DeadLetterDelete). */
  deadDropped = 0;
  /** Record bytes the dead letters hold uncommitted (not part of the encoding: derived). */
  deadBytes = 0;
  /**
   * Items that are not fresh (isFresh), derived like deadBytes: once the dispatcher has seen this
   * many in a look and no consumer has room, the rest are fresh items it cannot deliver either.
   */
  touched = 0;

  constructor(
    readonly high: number,
    readonly low: number,
    readonly topic: string,
    readonly name: string,
    readonly ackWaitMs: number,
    readonly maxDeliveries: number,
    readonly maxAckPending: number,
  ) {}
}

/** Counts for listings (`sessionraft client groups`). */
export interface GroupCounts {
  readonly id: Uint8Array;
  readonly topic: string;
  readonly name: string;
  readonly ready: number;
  readonly inFlight: number;
  /** Pending items delivered more than once. */
  readonly redelivered: number;
  /** Dead-lettered in all (a counter). */
  readonly deadLettered: number;
  /** Dead letters now (replayable or deletable). */
  readonly deadLetters: number;
  /** Dead letters deleted by the bound (DEAD_LETTERS_MAX, DEAD_LETTER_BYTES_MAX), oldest first. */
  readonly deadDropped: number;
  readonly ackWaitMs: number;
  readonly maxDeliveries: number;
  readonly maxAckPending: number;
}

/** A dead letter as listings show it (IDs in hex). */
export interface DeadLetterView {
  readonly restoreId: string;
  readonly session: string;
  readonly deliveries: number;
  /** Index of the GroupDeadLetter entry. */
  readonly index: number;
  /** Whether DeadLetterReplay can deliver it again (its record is uncommitted). */
  readonly replayable: boolean;
}

/**
 * What `groups` / `pending` show beyond the counts (issue 16, visibility), at the caller's `nowMs`:
 * ready items split into ready now and waiting for a nack's delay, the oldest pending restore
 * (its record, hence its due time, is read by the store), the redelivered items in flight, and the
 * most recent dead letters.
 */
interface GroupDetail {
  /** Ready items whose nack delay has not passed yet. */
  readonly waiting: number;
  /** In flight with their ack deadline passed (redelivered at the dispatcher's next tick). */
  readonly expired: number;
  /** The oldest pending item's restore (restore order), or null when none is pending. */
  readonly oldest: PendingRestore | null;
  /** Up to `deadMax` most recent dead letters, newest last. */
  readonly dead: DeadLetterView[];
}

const OK: CommandResult = Object.freeze({ ok: true, code: ResultCode.ok, value: null });
const ALREADY: CommandResult = Object.freeze({ ok: true, code: ResultCode.okAlreadySettled, value: null });

function fail(code: ResultCode): CommandResult {
  return { ok: false, code, value: null };
}

/**
 * Pending restores by their record's position (file, offset): a map per file keyed by offset, so
 * that no key string is built per restore, lookup and release (a string key per restored record
 * was the largest function of a follower's profile at 128 producers).
 */
class ByPosition {
  private readonly files = new Map<number, Map<number, PendingRestore>>();

  get(fileLow: number, offset: number): PendingRestore | undefined {
    return this.files.get(fileLow)?.get(offset);
  }

  set(p: PendingRestore): void {
    let m = this.files.get(p.fileLow);
    if (m === undefined) this.files.set(p.fileLow, (m = new Map()));
    m.set(p.offset, p);
  }

  delete(fileLow: number, offset: number): void {
    const m = this.files.get(fileLow);
    if (m === undefined) return;
    m.delete(offset);
    if (m.size === 0) this.files.delete(fileLow);
  }

  clear(): void {
    this.files.clear();
  }
}

export class GroupTable {
  /** By the GroupCreate's index. */
  private readonly groups = new Map<number, ConsumerGroup>();
  private readonly byName = new Map<string, ConsumerGroup>();
  private readonly restores = new Map<number, PendingRestore>();
  private readonly byPosition = new ByPosition();

  get size(): number {
    return this.groups.size;
  }

  all(): IterableIterator<ConsumerGroup> {
    return this.groups.values();
  }

  get(high: number, low: number): ConsumerGroup | undefined {
    const g = this.groups.get(low);
    return g !== undefined && g.high === high ? g : undefined;
  }

  /** The group whose ID's low half is `low` (unique: it is the index of the GroupCreate's entry). */
  byLow(low: number): ConsumerGroup | undefined {
    return this.groups.get(low);
  }

  byTopicName(topic: string, name: string): ConsumerGroup | undefined {
    return this.byName.get(`${topic}\u0000${name}`);
  }

  restore(high: number, low: number): PendingRestore | undefined {
    const r = this.restores.get(low);
    return r !== undefined && r.high === high ? r : undefined;
  }

  /** Whether the restored record at (file, offset) is still an item of some group: not committable. */
  holds(fileHigh: number, fileLow: number, offset: number): boolean {
    const r = this.byPosition.get(fileLow, offset);
    return r !== undefined && r.fileHigh === fileHigh;
  }

  hasGroups(topic: string): boolean {
    if (this.groups.size === 0) return false;
    for (const g of this.groups.values()) if (g.topic === topic) return true;
    return false;
  }

  // ---- apply (one method per command; results equal on every replica) -----------------------

  create(
    term: number,
    index: number,
    topic: string,
    name: string,
    ackWaitMs: number,
    maxDeliveries: number,
    maxAckPending: number,
    id: Uint8Array,
  ): CommandResult {
    const key = `${topic}\u0000${name}`;
    if (this.byName.has(key)) return fail(ResultCode.groupExists);
    const g = new ConsumerGroup(term, index, topic, name, ackWaitMs, maxDeliveries, maxAckPending);
    this.groups.set(index, g);
    this.byName.set(key, g);
    return { ok: true, code: ResultCode.ok, value: id };
  }

  delete(high: number, low: number): CommandResult {
    const g = this.get(high, low);
    if (g === undefined) return fail(ResultCode.groupUnknown);
    for (const it of g.items.values()) this.release(it.restore);
    g.items.clear();
    g.touched = 0;
    for (const d of g.dead.values()) if (d.restore !== null) this.release(d.restore);
    g.dead.clear();
    g.deadBytes = 0;
    this.groups.delete(low);
    this.byName.delete(`${g.topic}\u0000${g.name}`);
    return OK;
  }

  /** A non-void record was restored: an item in every group of its topic. */
  restored(r: Omit<PendingRestore, 'holds'>): void {
    let p: PendingRestore | null = null;
    for (const g of this.groups.values()) {
      if (g.topic !== r.topic) continue;
      // Fields listed, not spread: one object shape for every pending restore.
      p ??= {
        high: r.high,
        low: r.low,
        topic: r.topic,
        sessionHigh: r.sessionHigh,
        sessionLow: r.sessionLow,
        fileHigh: r.fileHigh,
        fileLow: r.fileLow,
        offset: r.offset,
        length: r.length,
        holds: 0,
      };
      p.holds++;
      g.items.set(r.low, { restore: p, deliveries: 0, inFlight: false, consumer: '', deadlineMs: 0, readyAtMs: 0, deliveredIndex: 0 });
    }
    if (p !== null) {
      this.restores.set(p.low, p);
      this.byPosition.set(p);
    }
  }

  private item(gh: number, gl: number, rh: number, rl: number): { g: ConsumerGroup; it: GroupItem } | CommandResult {
    const g = this.get(gh, gl);
    if (g === undefined) return fail(ResultCode.groupUnknown);
    const it = g.items.get(rl);
    if (it === undefined || it.restore.high !== rh) return ALREADY;
    return { g, it };
  }

  deliver(gh: number, gl: number, rh: number, rl: number, delivery: number, deadlineMs: number, consumer: string, index: number): CommandResult {
    const f = this.item(gh, gl, rh, rl);
    if (!('g' in f)) return f === ALREADY ? fail(ResultCode.deliveryStale) : f;
    const it = f.it;
    if (delivery !== it.deliveries + 1) return fail(ResultCode.deliveryStale);
    if (isFresh(it)) f.g.touched++;
    f.g.items.set(rl, { restore: it.restore, deliveries: delivery, inFlight: true, consumer, deadlineMs, readyAtMs: 0, deliveredIndex: index });
    return OK;
  }

  /** Whether the group holds the restore as an item whose session is (sh, sl): what a removing ack may remove. */
  holdsSession(gh: number, gl: number, rh: number, rl: number, sh: number, sl: number): boolean {
    const it = this.get(gh, gl)?.items.get(rl);
    return it !== undefined && it.restore.high === rh && it.restore.sessionHigh === sh && it.restore.sessionLow === sl;
  }

  /**
   * An ack of any delivery made so far settles the item; a second ack is harmless (OK_ALREADY_SETTLED).
   * One of a delivery of an item that became a dead letter meanwhile settles nothing and says so
   * (DEAD_LETTERED: the dead letter stays; not "already settled", which it is not).
   */
  ack(gh: number, gl: number, rh: number, rl: number, delivery: number): CommandResult {
    const f = this.item(gh, gl, rh, rl);
    if (!('g' in f)) {
      const d = f === ALREADY ? this.get(gh, gl)?.dead.get(rl) : undefined;
      if (d !== undefined && d.restoreHigh === rh && delivery <= d.deliveries) return fail(ResultCode.deadLettered);
      return f;
    }
    if (delivery > f.it.deliveries) return fail(ResultCode.deliveryStale);
    // A delivery of a round before a replay (replay-continues): its work ended in a dead letter,
    // and the replayed item is the new round's to settle. (With base 0, as without the flag, the
    // rule is the older versions'.)
    const base = roundBase(f.it, f.g.maxDeliveries);
    if (base > 0 && delivery <= base) return fail(ResultCode.deliveryStale);
    if (!isFresh(f.it)) f.g.touched--;
    f.g.items.delete(rl);
    this.release(f.it.restore);
    return OK;
  }

  /** Only the current delivery can be nacked: ready again at `readyAtMs`. */
  nack(gh: number, gl: number, rh: number, rl: number, delivery: number, readyAtMs: number): CommandResult {
    const f = this.item(gh, gl, rh, rl);
    if (!('g' in f)) return f;
    const was = f.it;
    if (!was.inFlight || delivery !== was.deliveries) return fail(ResultCode.deliveryStale);
    // Fields listed, not spread: one object shape for every item.
    const it: GroupItem = {
      restore: was.restore,
      deliveries: was.deliveries,
      inFlight: false,
      consumer: was.consumer,
      deadlineMs: was.deadlineMs,
      readyAtMs,
      deliveredIndex: was.deliveredIndex,
    };
    f.g.items.set(rl, it);
    // Only an item of a hand-made table (delivery 0 in flight) becomes fresh here.
    if (isFresh(it)) f.g.touched--;
    return OK;
  }

  deadLetter(gh: number, gl: number, rh: number, rl: number, delivery: number, index: number): CommandResult {
    const f = this.item(gh, gl, rh, rl);
    if (!('g' in f)) return f;
    if (delivery !== f.it.deliveries) return fail(ResultCode.deliveryStale);
    // The last delivery of a round before a replay (replay-continues: the replayed item keeps that
    // count until its first delivery, and then its round starts above it): the leader's dead letter
    // of that round, late in the log, must not end the new round (simulator seed 184).
    const base = roundBase(f.it, f.g.maxDeliveries);
    if (base > 0 && delivery <= base) return fail(ResultCode.deliveryStale);
    const { g, it } = f;
    if (!isFresh(it)) g.touched--;
    g.items.delete(rl);
    // The bound: the oldest dead letters go first, until the new one fits.
    for (const old of g.dead.values()) {
      if (g.dead.size < DEAD_LETTERS_MAX && g.deadBytes + it.restore.length <= DEAD_LETTER_BYTES_MAX) break;
      this.dropDead(g, old);
      g.deadDropped++;
    }
    // The item's hold on the restore passes to the dead letter: the record stays uncommitted.
    g.dead.set(rl, {
      restore: it.restore,
      restoreHigh: rh,
      restoreLow: rl,
      sessionHigh: it.restore.sessionHigh,
      sessionLow: it.restore.sessionLow,
      deliveries: it.deliveries,
      index,
    });
    g.deadBytes += it.restore.length;
    g.deadTotal++;
    return OK;
  }

  private deadOf(gh: number, gl: number, rh: number, rl: number): { g: ConsumerGroup; d: DeadLetter } | CommandResult {
    const g = this.get(gh, gl);
    if (g === undefined) return fail(ResultCode.groupUnknown);
    const d = g.dead.get(rl);
    if (d === undefined || d.restoreHigh !== rh) return fail(ResultCode.deadLetterNotFound);
    return { g, d };
  }

  /**
   * DeadLetterReplay: the dead letter is a ready item again (its hold passes back to the item), with
   * maxDeliveries deliveries of a new round. With `continues` (the replay-continues flag) their
   * numbers continue the item's, from the next multiple of maxDeliveries, so that an ack or nack of
   * a delivery of the rounds before is stale; without it the count starts again at 0 (older
   * versions: a late answer of delivery n of the round before was taken as one of the new round's).
   */
  replayDead(gh: number, gl: number, rh: number, rl: number, continues = false): CommandResult {
    const f = this.deadOf(gh, gl, rh, rl);
    if (!('g' in f)) return f;
    const { g, d } = f;
    if (d.restore === null) return fail(ResultCode.deadLetterConsumed);
    const max = g.maxDeliveries;
    const deliveries = continues ? Math.ceil(d.deliveries / max) * max : 0;
    // 65,536 replays of a group with maxDeliveries 65,535: no number left for its next round.
    if (deliveries + max > DELIVERY_MAX) return fail(CommandErrorCode.number);
    g.dead.delete(rl);
    g.deadBytes -= d.restore.length;
    const it: GroupItem = { restore: d.restore, deliveries, inFlight: false, consumer: '', deadlineMs: 0, readyAtMs: 0, deliveredIndex: 0 };
    if (!isFresh(it)) g.touched++;
    g.items.set(rl, it);
    return OK;
  }

  /** DeadLetterDelete: the group settled the restore for good (committable once every group did). */
  deleteDead(gh: number, gl: number, rh: number, rl: number): CommandResult {
    const f = this.deadOf(gh, gl, rh, rl);
    if (!('g' in f)) return f;
    this.dropDead(f.g, f.d);
    return OK;
  }

  private dropDead(g: ConsumerGroup, d: DeadLetter): void {
    g.dead.delete(d.restoreLow);
    if (d.restore === null) return;
    g.deadBytes -= d.restore.length;
    this.release(d.restore);
  }

  /**
   * A SessionCommit consumed the record at (file, offset) although a group held it (only a broken
   * scheduler, or a log written before dead letters held their records, does that): dead letters
   * of it can no longer be replayed, and stop holding it. Items are left as they are (the store
   * counts the commit in commitsOfHeldRestores).
   */
  consumedWhileHeld(fileHigh: number, fileLow: number, offset: number): void {
    const r = this.byPosition.get(fileLow, offset);
    if (r === undefined || r.fileHigh !== fileHigh) return;
    for (const g of this.groups.values()) {
      const d = g.dead.get(r.low);
      if (d === undefined || d.restore !== r) continue;
      d.restore = null;
      g.deadBytes -= r.length;
      this.release(r);
    }
  }

  private release(r: PendingRestore): void {
    r.holds--;
    if (r.holds > 0) return;
    this.restores.delete(r.low);
    this.byPosition.delete(r.fileLow, r.offset);
  }

  counts(g: ConsumerGroup, id: Uint8Array): GroupCounts {
    let ready = 0;
    let inFlight = 0;
    let redelivered = 0;
    for (const it of g.items.values()) {
      if (it.inFlight) inFlight++;
      else ready++;
      if (it.deliveries - roundBase(it, g.maxDeliveries) > 1) redelivered++;
    }
    return {
      id,
      topic: g.topic,
      name: g.name,
      ready,
      inFlight,
      redelivered,
      deadLettered: g.deadTotal,
      deadLetters: g.dead.size,
      deadDropped: g.deadDropped,
      ackWaitMs: g.ackWaitMs,
      maxDeliveries: g.maxDeliveries,
      maxAckPending: g.maxAckPending,
    };
  }

  /** Details for visibility (cost: one pass over the group's pending items, bounded by the restored window). */
  detail(g: ConsumerGroup, nowMs: number, deadMax: number): GroupDetail {
    let waiting = 0;
    let expired = 0;
    let oldest: PendingRestore | null = null;
    for (const it of g.items.values()) {
      // Items are in restore order except replayed dead letters (at the end): the smallest index.
      if (oldest === null || it.restore.low < oldest.low) oldest = it.restore;
      if (!it.inFlight && it.readyAtMs > nowMs) waiting++;
      if (it.inFlight && it.deadlineMs <= nowMs) expired++;
    }
    const dead: DeadLetterView[] = [];
    let skip = g.dead.size - deadMax;
    for (const d of g.dead.values()) {
      if (skip-- > 0) continue;
      dead.push({
        restoreId: idHexOfParts(d.restoreHigh, d.restoreLow),
        session: idHexOfParts(d.sessionHigh, d.sessionLow),
        deliveries: d.deliveries,
        index: d.index,
        replayable: d.restore !== null,
      });
    }
    return { waiting, expired, oldest, dead };
  }

  // ---- snapshot ------------------------------------------------------------------------------

  /**
   * Format 2 (manifest version 5):
   *   u32 n | (restore 2*u64, topic str, session 2*u64, file 2*u64, offset u64, length u32)*
   *   u32 n | (group 2*u64, topic str, name str, ackWaitMs u32, maxDeliveries u16, maxAckPending u16,
   *            deadTotal u64, deadDropped u64, u32 n | (restore low u64, deliveries u32, inFlight u8, consumer str,
   *            deadlineMs u64, readyAtMs u64, deliveredIndex u64)*,
   *            u32 n | (restore 2*u64, session 2*u64, deliveries u32, index u64, holds u8)*)*
   * A dead letter with holds 1 holds its restore (listed above); 0: its record was consumed.
   * Format 1 (manifest versions 3 and 4) had no deadDropped and no holds byte: its dead letters had
   * released their restores (the records were committed), so they load as not replayable.
   */
  /** The table's encoding (the snapshot manifest's groups section; format TABLE_FORMAT). */
  encode(): Uint8Array {
    const enc = this.capture().encoder();
    for (;;) {
      const r = enc.next();
      if (r.done === true) return r.value;
    }
  }

  /**
   * What `encode()` would return now, to be encoded later (2026-12-07 night): captured here as arrays of
   * the pending restores and items (neither is changed in place: a restore's encoded fields are
   * readonly, an item is replaced) and the groups' counters and dead letters (at most
   * DEAD_LETTERS_MAX a group) encoded now. With 90,000 ready items this whole table took 20-35 ms
   * of an idle core to encode and up to 200 ms under load, in one piece at every snapshot (the
   * delayed benchmark's backlog row); a capture is an array copy per map.
   */
  capture(): GroupTableCapture {
    const groups: CapturedGroup[] = [];
    for (const g of this.groups.values()) {
      const dead = new ByteWriter(4 + g.dead.size * 45);
      dead.u32(g.dead.size);
      for (const d of g.dead.values()) {
        dead.u64(d.restoreHigh);
        dead.u64(d.restoreLow);
        dead.u64(d.sessionHigh);
        dead.u64(d.sessionLow);
        dead.u32(d.deliveries);
        dead.u64(d.index);
        dead.u8(d.restore !== null ? 1 : 0);
      }
      groups.push({ g, deadTotal: g.deadTotal, deadDropped: g.deadDropped, items: Array.from(g.items.values()), dead: dead.view() });
    }
    return new GroupTableCapture(Array.from(this.restores.values()), groups);
  }

  /** Replace the table with an encoded one of `format` (throws ManifestFormatError or RangeError on bad bytes). */
  load(bytes: Uint8Array | null, format = TABLE_FORMAT): void {
    const restores = new Map<number, PendingRestore>();
    const groups = new Map<number, ConsumerGroup>();
    if (bytes !== null && bytes.length > 0) {
      const r = new ByteReader(bytes);
      const nr = r.count(44);
      for (let k = 0; k < nr; k++) {
        const high = r.u64();
        const low = r.u64();
        const topic = r.str();
        restores.set(low, {
          high,
          low,
          topic,
          sessionHigh: r.u64(),
          sessionLow: r.u64(),
          fileHigh: r.u64(),
          fileLow: r.u64(),
          offset: r.u64(),
          length: r.u32(),
          holds: 0,
        });
      }
      const ng = r.count(40);
      for (let k = 0; k < ng; k++) {
        const g = new ConsumerGroup(r.u64(), r.u64(), r.str(), r.str(), r.u32(), r.u16(), r.u16());
        // As the codec refuses in a GroupCreate: a maxDeliveries of 0 made every item's round NaN, never dead-lettered.
        if (g.ackWaitMs < 1 || g.maxDeliveries < 1 || g.maxAckPending < 1) throw new RangeError(`group ${g.name}: a limit of 0`);
        g.deadTotal = r.u64();
        if (format >= 2) g.deadDropped = r.u64();
        const ni = r.count(30);
        for (let j = 0; j < ni; j++) {
          const low = r.u64();
          const p = restores.get(low);
          if (p === undefined) throw new RangeError(`group item of unknown restore ${low}`);
          p.holds++;
          const deliveries = r.u32();
          const inFlight = r.u8() === 1;
          const it: GroupItem = { restore: p, deliveries, inFlight, consumer: r.str(), deadlineMs: r.u64(), readyAtMs: r.u64(), deliveredIndex: r.u64() };
          g.items.set(low, it);
          if (!isFresh(it)) g.touched++;
        }
        const nd = r.count(format >= 2 ? 45 : 44);
        for (let j = 0; j < nd; j++) {
          const restoreHigh = r.u64();
          const restoreLow = r.u64();
          const d: DeadLetter = { restore: null, restoreHigh, restoreLow, sessionHigh: r.u64(), sessionLow: r.u64(), deliveries: r.u32(), index: r.u64() };
          if (format >= 2 && r.u8() === 1) {
            const p = restores.get(restoreLow);
            if (p === undefined || p.high !== restoreHigh) throw new RangeError(`dead letter of unknown restore ${restoreLow}`);
            p.holds++;
            d.restore = p;
            g.deadBytes += p.length;
          }
          if (g.dead.has(restoreLow)) throw new RangeError(`dead letter of restore ${restoreLow} listed twice`);
          g.dead.set(restoreLow, d);
        }
        groups.set(g.low, g);
      }
      if (!r.done()) throw new RangeError('trailing bytes in the group table');
    }
    this.groups.clear();
    this.byName.clear();
    this.restores.clear();
    this.byPosition.clear();
    for (const [low, p] of restores) {
      if (p.holds === 0) continue;
      this.restores.set(low, p);
      this.byPosition.set(p);
    }
    for (const g of groups.values()) {
      this.groups.set(g.low, g);
      this.byName.set(`${g.topic}\u0000${g.name}`, g);
    }
  }
}

/** A group table encoded in format 1 (manifest versions 3 and 4), re-encoded in the current format. */
export function upgradeGroupTable(bytes: Uint8Array): Uint8Array {
  const t = new GroupTable();
  t.load(bytes, 1);
  return t.encode();
}

interface CapturedGroup {
  readonly g: ConsumerGroup;
  readonly deadTotal: number;
  readonly deadDropped: number;
  readonly items: readonly GroupItem[];
  /** The dead-letter section, encoded at the capture. */
  readonly dead: Uint8Array;
}

/** Pending restores or items encoded between two yields of GroupTableCapture.encoder. */
const ENCODE_SLICE_ROWS = 8192;

/** A group table as GroupTable.capture() saw it, encoded in slices. */
export class GroupTableCapture {
  constructor(
    private readonly restores: readonly PendingRestore[],
    private readonly groups: readonly CapturedGroup[],
  ) {}

  /**
   * Yields after about every ENCODE_SLICE_ROWS rows (a restore, an item, a group's header, 45
   * bytes of a group's dead letters), counted across the whole table: many groups of a few items
   * each are cut too. Returns the encoding.
   */
  *encoder(): Generator<void, Uint8Array, void> {
    let items = 0;
    let dead = 0;
    for (const c of this.groups) {
      items += c.items.length;
      dead += c.dead.length;
    }
    // What the usual names take (it grows past that): not ~20 doublings and copies of a large table.
    const w = new ByteWriter(8 + this.restores.length * 80 + items * 48 + dead + this.groups.length * 256);
    let rows = 0;
    w.u32(this.restores.length);
    for (let k = 0; k < this.restores.length; k++) {
      if (++rows >= ENCODE_SLICE_ROWS) {
        rows = 0;
        yield;
      }
      const r = this.restores[k]!;
      w.u64(r.high);
      w.u64(r.low);
      w.str(r.topic);
      w.u64(r.sessionHigh);
      w.u64(r.sessionLow);
      w.u64(r.fileHigh);
      w.u64(r.fileLow);
      w.u64(r.offset);
      w.u32(r.length);
    }
    w.u32(this.groups.length);
    for (const c of this.groups) {
      rows += 1 + Math.floor(c.dead.length / 45);
      if (rows >= ENCODE_SLICE_ROWS) {
        rows = 0;
        yield;
      }
      const g = c.g;
      w.u64(g.high);
      w.u64(g.low);
      w.str(g.topic);
      w.str(g.name);
      w.u32(g.ackWaitMs);
      w.u16(g.maxDeliveries);
      w.u16(g.maxAckPending);
      w.u64(c.deadTotal);
      w.u64(c.deadDropped);
      w.u32(c.items.length);
      for (let k = 0; k < c.items.length; k++) {
        if (++rows >= ENCODE_SLICE_ROWS) {
          rows = 0;
          yield;
        }
        const it = c.items[k]!;
        w.u64(it.restore.low);
        w.u32(it.deliveries);
        w.u8(it.inFlight ? 1 : 0);
        w.str(it.consumer);
        w.u64(it.deadlineMs);
        w.u64(it.readyAtMs);
        w.u64(it.deliveredIndex);
      }
      w.raw(c.dead);
    }
    return w.finish();
  }
}
