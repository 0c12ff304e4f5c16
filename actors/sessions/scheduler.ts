/**
 * The leader's replay scheduler. On each tick (and after an apply that restored something) it
 * proposes, through the planner, with bounded work:
 *
 * - SessionCommit for the records restored on this node (applied: handed to its subscribers), settled
 *   by every consumer group and not yet committed or being committed: one entry per file consuming
 *   up to `commitRecordsMax` consecutive records;
 * - SessionRestore for each data file whose next unread record is due by the injected clock, at
 *   most `restoresInFlightPerFileMax` per file, never one for a record whose restore is in flight;
 * - DataDelete for each sealed, fully consumed file.
 *
 * It keeps no state of its own besides a header cache: what is in flight comes from the planner
 * (which also knows the previous leader's unapplied entries after `reset`), the rest from the
 * applied store, so a new leader's scheduler is right from its first tick.
 */
import { CommandKind, FEATURES, RESTORE_HOLD_MS_MAX, commandId } from '../../transport/commands/codec.js';
import type { DataFile } from './dataFiles.js';
import type { PlannedRestore } from './dispatcher.js';
import { storedRecordBytesMax } from './options.js';
import type { Planner } from './planner.js';
import type { RecordHeader } from './record.js';
import type { SessionsStore } from './store.js';

/** Records one SessionCommit consumes at most: the batch of a tick stays bounded. */
const COMMIT_RECORDS_MAX = 1024;

interface SchedulerOptions {
  readonly store: SessionsStore;
  readonly planner: Planner;
  /** Milliseconds since the epoch (the same clock the planner computes due times with). */
  readonly clock: () => number;
  /** Commands proposed per tick at most. */
  readonly proposalsPerTickMax?: number;
  readonly restoresInFlightPerFileMax?: number;
  /** Records one SessionCommit consumes at most (default COMMIT_RECORDS_MAX). */
  readonly commitRecordsMax?: number;
  /**
   * False only for the fault harness's planted bug `commit-before-ack` (hidden node flag --plant):
   * commits ignore the consumer groups' holds, so data-file bytes are consumed before an ack.
   */
  readonly holdRestores?: boolean;
  /**
   * Told after each tick on the leader when the earliest record the tick left for later starts a
   * batch (its due time less the trigger lead; null: none seen), so that the host can tick again
   * then rather than at its next clock tick
   * (nodeHost.ts arms a timer; the simulator passes none and its ticks alone drive replay).
   */
  readonly onNextDue?: (dueMs: number | null) => void;
  /** Told of each restore of a non-void record it planned, with the record's place (the dispatcher delivers ahead). */
  readonly onRestorePlanned?: (restore: PlannedRestore, f: DataFile, offset: number, header: RecordHeader) => void;
  /**
   * Restore ahead (default 0: at the due time). A file's next record due within half of this
   * starts a batch: every record due within the whole of it is restored, so that the restores and
   * their first deliveries are committed by the due time, and one round carries half a lead's worth
   * of them. Consumers and subscribers are still handed a session only once it is due (the
   * dispatcher and the subscriptions hold it until then).
   */
  readonly restoreLeadMs?: number;
  /** Planted bug 'ignore-feature-flags' (simulator only): restore ahead whether or not the cluster turned it on. */
  readonly ignoreFeatureFlags?: boolean;
}

export class ReplayScheduler {
  private readonly perTick: number;
  private readonly perFile: number;
  /** Per file (by creation index): the header of the record at `offset`. */
  private readonly headers = new Map<number, { offset: number; header: RecordHeader }>();
  private readonly unlisten: () => void;
  private ticking = false;
  /** A due time passed while entries were in flight: tick after the next apply, whatever it applied. */
  private tickOnApply = false;
  /** Records (commits) and SessionCommit entries (commitEntries: one per file and tick at most). */
  /** `restoresWaitingRefusal`: ticks that left a file alone because a restore in flight on it was refused at apply. */
  readonly counters = { restores: 0, commits: 0, commitEntries: 0, deletes: 0, ticks: 0, restoresWaitingRefusal: 0 };
  private readonly commitRecordsMax: number;
  private readonly commitBytesMax: number;
  /** A batch starts when the next record is due within this (half the lead)... */
  private readonly triggerLeadMs: number;
  /** ...and takes every record due within this. */
  private readonly batchLeadMs: number;

  constructor(private readonly opts: SchedulerOptions) {
    this.perTick = opts.proposalsPerTickMax ?? 256;
    // 256: a 1 s class is one file, and 16 capped restores at 16 per commit round (2-4 ms), which
    // held 1,000/s falling due seconds behind on a loaded box (docs/performance.md).
    this.perFile = opts.restoresInFlightPerFileMax ?? 256;
    this.commitRecordsMax = opts.commitRecordsMax ?? COMMIT_RECORDS_MAX;
    // A restore carries its hold in a u32 the codec bounds (RESTORE_HOLD_MS_MAX).
    this.batchLeadMs = Math.min(RESTORE_HOLD_MS_MAX, Math.max(0, Math.floor(opts.restoreLeadMs ?? 0)));
    this.triggerLeadMs = Math.floor(this.batchLeadMs / 2);
    // A SessionCommit's length is a u32 the codec bounds like a record's.
    this.commitBytesMax = storedRecordBytesMax(opts.store.limits);
    // Commit promptly once a restore was applied (and its subscribers were handed the session).
    this.unlisten = opts.store.onApplied((entries) => {
      if (this.tickOnApply) {
        this.tickOnApply = false;
        this.tick();
        return;
      }
      for (const e of entries) {
        // A restore to hand over, or a group that settled a restore (its commit may be due now).
        const kind = e.data.length > 1 ? e.data[1] : -1;
        if (
          kind === CommandKind.sessionRestore ||
          kind === CommandKind.groupAck ||
          kind === CommandKind.groupDeadLetter ||
          kind === CommandKind.groupDelete ||
          kind === CommandKind.deadLetterDelete ||
          // A flag turned on (restore-ahead): what is due within the lead now goes at once.
          kind === CommandKind.featureEnable
        ) {
          this.tick();
          return;
        }
      }
    });
  }

  dispose(): void {
    this.unlisten();
  }

  /** Tick after the next apply of any entry (the host's due timer fired while a round was in flight). */
  tickOnNextApply(): void {
    this.tickOnApply = true;
  }

  /** Forget cached headers (leadership changed). Nothing else to rebuild. */
  reset(): void {
    this.headers.clear();
  }

  /** Propose what is due; returns how many commands were proposed. */
  tick(): number {
    const planner = this.opts.planner;
    if (!planner.isLeader || this.ticking) return 0;
    this.ticking = true;
    try {
      this.counters.ticks++;
      // The in-flight counts must not include what the store already applied.
      planner.sync();
      const store = this.opts.store;
      const now = this.opts.clock();
      let budget = this.perTick;
      let nextDueMs = Infinity;
      // Restore ahead only once the cluster turned it on (FeatureEnable): a node of an older
      // version refuses a restore with a hold.
      const ahead = this.batchLeadMs > 0 && (this.opts.ignoreFeatureFlags === true || store.featureOn(FEATURES.restoreAhead));
      const triggerLeadMs = ahead ? this.triggerLeadMs : 0;
      const batchLeadMs = ahead ? this.batchLeadMs : 0;
      const seen = new Set<number>();
      for (const f of store.dataFiles()) {
        seen.add(f.low);
        if (budget <= 0) continue;
        const fl = planner.fileInFlight(f);
        const id = commandId(f.high, f.low);
        // 1. Commits of restored records (restoredLengths[k] is the k-th record after `consumed`),
        // past those whose commits are in flight. A record some consumer group has not
        // acknowledged (or dead-lettered) yet waits, and so does every record after it (commits
        // consume a file in order). The settled records found here go in one SessionCommit (its
        // length is the sum of theirs): one entry per file and tick rather than one per record.
        const lens = f.restoredLengths;
        let at = f.consumed;
        let k = 0;
        for (let skipped = 0; skipped < fl.commitBytes && k < lens.length; k++) {
          skipped += lens[k]!;
          at += lens[k]!;
        }
        let commitBytes = 0;
        let records = 0;
        for (; k < lens.length && records < this.commitRecordsMax && commitBytes + lens[k]! <= this.commitBytesMax; k++, records++) {
          if (this.opts.holdRestores !== false && store.restoreHeld(f, at)) break;
          at += lens[k]!;
          commitBytes += lens[k]!;
        }
        if (records > 0) {
          planner.submit({ kind: CommandKind.sessionCommit, replayClass: f.replayClass, file: id, length: commitBytes });
          this.counters.commits += records;
          this.counters.commitEntries++;
          budget--;
        }
        // 2. Restores of due records, in file order: a batch starts once the next one is due
        // within the trigger lead and takes every record due within the batch lead (both 0
        // without a lead: what is due now).
        let cursor = f.readCursor + fl.restoreBytes;
        let horizonMs = now + triggerLeadMs;
        // A restore in flight was refused at apply: the ones behind it will be refused too, and
        // `cursor` is not at a record. Nothing more on this file until they drain (simulator seed 120597).
        // Restores this leader did not plan (taken over from the log after a leader change) have no
        // projected end: wait for them too (2026-12-07, a review: one of them refused made the new
        // leader read a record header inside a record, and apply threw).
        const projected = fl.restores === 0 || (fl.restoreEnd !== 0 && cursor === fl.restoreEnd);
        if (!projected) this.counters.restoresWaitingRefusal++;
        for (let n = fl.restores; projected && n < this.perFile && cursor < f.size && budget > 0; n++, budget--) {
          const h = this.headerAt(f, cursor);
          if (h.dueMs > horizonMs) {
            const wakeMs = h.dueMs - triggerLeadMs;
            if (wakeMs < nextDueMs) nextDueMs = wakeMs;
            break;
          }
          horizonMs = now + batchLeadMs;
          // A full active table would refuse it (counting what the restores in flight will add): wait.
          const pending = planner.restoresActivating();
          if (!store.hasRoomFor(h, pending.sessions, pending.bytes)) break;
          // Ahead of its due time: replicas hold it that long after their apply for their subscribers.
          // A void record's restore too: should a refused restore before it shift the cursor back,
          // this entry restores the earlier record in its place, never before its own due time
          // (2026-12-07, a review: with no hold a subscriber got that record 100 ms early).
          const planned = planner.planRestore(f, h, Math.min(RESTORE_HOLD_MS_MAX, Math.max(0, Math.ceil(h.dueMs - now))));
          if (!h.isVoid) this.opts.onRestorePlanned?.(planned, f, cursor, h);
          this.counters.restores++;
          cursor += h.length;
        }
        // 3. A sealed file whose bytes are all consumed goes.
        const after = planner.fileInFlight(f);
        if (budget > 0 && f.sealed && f.consumed === f.size && after.deletes === 0 && after.restores === 0 && after.commits === 0) {
          planner.submit({ kind: CommandKind.dataDelete, replayClass: f.replayClass, file: id });
          this.counters.deletes++;
          budget--;
        }
      }
      for (const low of this.headers.keys()) if (!seen.has(low)) this.headers.delete(low);
      this.opts.onNextDue?.(nextDueMs === Infinity ? null : nextDueMs);
      return this.perTick - budget;
    } finally {
      this.ticking = false;
    }
  }

  private headerAt(f: DataFile, offset: number): RecordHeader {
    const cached = this.headers.get(f.low);
    if (cached !== undefined && cached.offset === offset) return cached.header;
    const header = this.opts.store.recordHeaderAt(f, offset);
    this.headers.set(f.low, { offset, header });
    return header;
  }
}
