/**
 * Issue 18: the leader's reads of entries back from the durable log, for followers behind the
 * in-memory log (the machine's `readEntries` effect, answered by a `log.readBack` event).
 *
 * Off the step loop: a read runs in its own deferred turn, never inside a flush. At most one read
 * per follower is out, and at most one more waits behind it (a newer request replaces an older
 * waiting one: it comes from a newer term, the older one's answer would be dropped anyway); each
 * read returns at most `batchBytesMax` of entry data. A failed read, whatever the error, becomes a
 * `log.readBack` without entries: the follower gets a snapshot, the leader never crashes.
 */
import type { ReadEntriesParams } from '../../machines/effects.js';
import type { RaftEvent } from '../../machines/events.js';
import type { NodeId } from '../../machines/types.js';
import { ReadBackError, type LogReader } from '../../storage/readBack.js';

/**
 * The durable log's read-back, when it has one (the WAL does; test doubles may not). A wrapper
 * (the host's TimedDurableLog) exposes the log it wraps as `inner`; followed a few levels at most.
 */
export function logReaderOf(log: object): LogReader | null {
  let cur: object | undefined = log;
  for (let depth = 0; depth < 4 && cur !== undefined && cur !== null; depth++) {
    const r = cur as Partial<LogReader> & { inner?: object };
    if (typeof r.readEntries === 'function' && typeof r.readBackFloor === 'function') return cur as LogReader;
    cur = r.inner;
  }
  return null;
}

export class ReadBackQueue {
  private readonly inflight = new Set<NodeId>();
  private readonly waiting = new Map<NodeId, ReadEntriesParams>();
  private stopped = false;

  constructor(
    private readonly reader: LogReader,
    private readonly batchBytesMax: number,
    private readonly defer: (fn: () => void) => void,
    private readonly deliver: (event: Extract<RaftEvent, { type: 'log.readBack' }>) => void,
    private readonly count: (code: string, n?: number) => void,
  ) {}

  /** Reads requested and not answered yet (in flight or waiting). */
  pending(): number {
    return this.inflight.size + this.waiting.size;
  }

  request(p: ReadEntriesParams): void {
    if (this.stopped) return;
    if (this.inflight.has(p.to)) {
      this.waiting.set(p.to, p);
      return;
    }
    this.start(p);
  }

  stop(): void {
    this.stopped = true;
    this.waiting.clear();
  }

  private start(p: ReadEntriesParams): void {
    this.inflight.add(p.to);
    this.defer(() => {
      this.inflight.delete(p.to);
      if (this.stopped) return;
      this.deliver(this.read(p));
      const next = this.waiting.get(p.to);
      if (next !== undefined) {
        this.waiting.delete(p.to);
        this.start(next);
      }
    });
  }

  private read(p: ReadEntriesParams): Extract<RaftEvent, { type: 'log.readBack' }> {
    const base = { type: 'log.readBack' as const, to: p.to, term: p.term, from: p.from };
    try {
      const r = this.reader.readEntries(p.from, p.toIndex, Math.min(p.bytesMax, this.batchBytesMax));
      this.count('read-back-batches');
      this.count('entries-read-back', r.entries.length);
      return { ...base, prevTerm: r.prevTerm, entries: r.entries };
    } catch (e) {
      this.count(e instanceof ReadBackError ? `read-back-${e.code}` : 'read-back-error');
      return { ...base, prevTerm: -1, entries: null };
    }
  }
}
