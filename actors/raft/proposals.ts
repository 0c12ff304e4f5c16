/**
 * Matches client proposals to their fate: refused, or accepted at (index, term) and then either
 * applied with that term (success, with the state machine's result) or replaced by another entry
 * (lost: the outcome is known not to have happened at that index; clients retry).
 */
import type { RefusalCode } from '../../machines/effects.js';
import type { Entry } from '../../machines/types.js';

/** On success: the state machine's result and the entry the command became. */
export type ProposalCallback = (err: ProposalError | null, result?: unknown, entry?: Entry) => void;

export class ProposalError extends Error {
  constructor(
    readonly code: RefusalCode | 'proposal-lost' | 'node-stopped',
    readonly leader: string | null,
    readonly detail?: string,
    /** With `membership-invalid`: the broken rule's code (MEMBERSHIP_ALREADY_MEMBER, …). */
    readonly membershipCode?: string,
  ) {
    super(`proposal ${code}${detail ? `: ${detail}` : ''}${leader ? ` (leader: ${leader})` : ''}`);
    this.name = 'ProposalError';
  }
}

interface Accepted {
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly term: number;
  readonly callbacks: ProposalCallback[];
}

export class ProposalTracker {
  private readonly byTag = new Map<number, ProposalCallback[]>();
  /**
   * Accepted batches in index order; those before `head` are answered and cleared (null), so that
   * their callbacks (and the requests they hold: bytes, envelope, secret) are garbage at once, not
   * when the prefix is next spliced off (issue 18: 1,024 answered batches of up to 128 callbacks,
   * about 40-50 MB on a leader at 128 writes in flight).
   */
  private readonly accepted: (Accepted | null)[] = [];
  private head = 0;

  register(tag: number, callbacks: ProposalCallback[]): void {
    this.byTag.set(tag, callbacks);
  }

  accept(tag: number, firstIndex: number, lastIndex: number, term: number): void {
    const callbacks = this.byTag.get(tag);
    if (callbacks === undefined) return;
    this.byTag.delete(tag);
    this.overwrittenFrom(firstIndex);
    this.accepted.push({ firstIndex, lastIndex, term, callbacks });
  }

  /**
   * This node accepted a batch at `firstIndex` while batches it accepted before reach that far: it
   * lost leadership, its log was cut back to below them (entries that were never committed, or they
   * could not have been cut) and it leads again. Their entries from `firstIndex` on are gone: lost,
   * answered now. Without this, the stale batch at the head kept the new ones waiting, and `applied`
   * then passed over them (indexes below the stale head) without ever calling their callbacks.
   */
  private overwrittenFrom(firstIndex: number): void {
    const acc = this.accepted;
    while (acc.length > this.head && acc[acc.length - 1]!.lastIndex >= firstIndex) {
      const b = acc[acc.length - 1]!;
      const keep = Math.max(0, firstIndex - b.firstIndex);
      const lost = b.callbacks.slice(keep);
      if (keep === 0) acc.pop();
      else acc[acc.length - 1] = { firstIndex: b.firstIndex, lastIndex: firstIndex - 1, term: b.term, callbacks: b.callbacks.slice(0, keep) };
      for (const cb of lost) cb(new ProposalError('proposal-lost', null));
      if (keep > 0) break;
    }
  }

  refuse(tag: number, err: ProposalError): void {
    const callbacks = this.byTag.get(tag);
    if (callbacks === undefined) return;
    this.byTag.delete(tag);
    for (const cb of callbacks) cb(err);
  }

  /** Entries were applied with these results. */
  applied(entries: readonly Entry[], results: readonly unknown[]): void {
    if (this.head >= this.accepted.length || entries.length === 0) return;
    const lastApplied = entries[entries.length - 1]!.index;
    const firstApplied = entries[0]!.index;
    while (this.head < this.accepted.length) {
      const a = this.accepted[this.head]!;
      if (a.firstIndex > lastApplied) break;
      for (let i = Math.max(a.firstIndex, firstApplied); i <= Math.min(a.lastIndex, lastApplied); i++) {
        const e = entries[i - firstApplied]!;
        const cb = a.callbacks[i - a.firstIndex]!;
        if (e.term === a.term) cb(null, results[i - firstApplied], e);
        else cb(new ProposalError('proposal-lost', null));
      }
      if (a.lastIndex > lastApplied) {
        // Partly applied: keep the rest (replace with the unapplied tail).
        this.accepted[this.head] = {
          firstIndex: lastApplied + 1,
          lastIndex: a.lastIndex,
          term: a.term,
          callbacks: a.callbacks.slice(lastApplied + 1 - a.firstIndex),
        };
        break;
      }
      this.accepted[this.head++] = null;
    }
    if (this.head > 1024 && this.head * 2 > this.accepted.length) {
      this.accepted.splice(0, this.head);
      this.head = 0;
    }
  }

  /** A snapshot replaced the log through `index`: proposals in it have unknown fate here. */
  skippedThrough(index: number): void {
    while (this.head < this.accepted.length && this.accepted[this.head]!.firstIndex <= index) {
      const a = this.accepted[this.head]!;
      this.accepted[this.head++] = null;
      for (const cb of a.callbacks) cb(new ProposalError('proposal-lost', null));
    }
  }

  failAll(err: ProposalError): void {
    for (const cbs of this.byTag.values()) for (const cb of cbs) cb(err);
    this.byTag.clear();
    for (let k = this.head; k < this.accepted.length; k++) for (const cb of this.accepted[k]!.callbacks) cb(err);
    this.accepted.length = 0;
    this.head = 0;
  }

  /** Whether any proposal waits for its answer (cheap: no walk over the batches). */
  hasPending(): boolean {
    return this.byTag.size > 0 || this.head < this.accepted.length;
  }

  pendingCount(): number {
    let n = 0;
    for (const cbs of this.byTag.values()) n += cbs.length;
    for (let k = this.head; k < this.accepted.length; k++) n += this.accepted[k]!.callbacks.length;
    return n;
  }
}
