/** The last events of a simulation, kept cheaply in a ring and formatted only when a check fails. */
import type { RaftMessage } from '../../machines/types.js';

export class Trace {
  private readonly times: number[];
  private readonly items: (string | RaftMessage)[];
  private next = 0;
  private count = 0;

  constructor(private readonly capacity: number) {
    this.times = new Array(capacity).fill(0);
    this.items = new Array(capacity).fill('');
  }

  /** SIM_TRACE=1 prints every note that is not a message as it happens (debugging a seed). */
  private readonly echo = process.env.SIM_TRACE === '1';

  note(timeMs: number, item: string | RaftMessage): void {
    if (this.echo && typeof item === 'string') process.stderr.write(`${timeMs.toFixed(0).padStart(7)}ms ${item}\n`);
    this.times[this.next] = timeMs;
    this.items[this.next] = item;
    this.next = (this.next + 1) % this.capacity;
    if (this.count < this.capacity) this.count++;
  }

  lines(): string[] {
    const out: string[] = [];
    const start = (this.next - this.count + this.capacity) % this.capacity;
    for (let k = 0; k < this.count; k++) {
      const i = (start + k) % this.capacity;
      out.push(`${this.times[i]!.toFixed(0).padStart(7)}ms ${format(this.items[i]!)}`);
    }
    return out;
  }
}

export function format(item: string | RaftMessage): string {
  if (typeof item === 'string') return item;
  const m = item;
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'vote':
      return `${head} last=${m.lastIndex}/${m.lastTerm}${m.preVote ? ' pre' : ''}${m.transfer ? ' transfer' : ''}`;
    case 'voteResp':
      return `${head} ${m.granted ? 'granted' : 'rejected'}${m.preVote ? ' pre' : ''}${m.nonMember === true ? ' non-member' : ''}`;
    case 'append':
      return `${head} prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length} commit=${m.commit}`;
    case 'appendResp':
      return `${head} ${m.success ? 'ok' : 'reject'} index=${m.index}${m.success ? '' : ` hint=${m.hintIndex}/${m.hintTerm}`}`;
    case 'heartbeat':
      return `${head} commit=${m.commit} ctx=${m.readCtx}`;
    case 'heartbeatResp':
      return `${head} ctx=${m.readCtx}`;
    case 'timeoutNow':
      return head;
    case 'snapshot':
      return `${head} snap=${m.meta.index}/${m.meta.term} off=${m.offset}/${m.totalBytes}${m.done ? ' done' : ''}`;
    case 'snapshotResp':
      return `${head} snap=${m.index} off=${m.offset}${m.reject ? ' reject' : ''}`;
    case 'rangeRequest':
      return `${head} snap=${m.snapshotIndex} ranges=${m.ranges.length}`;
    case 'rangeChunk':
      return `${head} snap=${m.snapshotIndex} ${m.name}@${m.start}+${m.data.byteLength}`;
  }
}
