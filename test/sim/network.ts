/**
 * The simulator's in-memory transport: it drops, delays, duplicates and reorders messages and
 * partitions the cluster (any set of directed links can be cut), all from one seeded random source.
 */
import { channelOf, type NodeId, type RaftMessage } from '../../machines/types.js';
import type { Transport } from '../../transport/peer/types.js';
import type { Rng } from './rng.js';
import type { Scheduler } from './scheduler.js';

export interface NetworkFaults {
  /** Probability that a message is lost. */
  dropRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Usual one-way delay range. */
  delayMsMin: number;
  delayMsMax: number;
  /** Probability of a much longer delay (which reorders messages). */
  slowRate: number;
  slowDelayMsMax: number;
  /**
   * Let messages overtake each other. Without it each link is FIFO per channel, like the real
   * transport (one WebSocket per channel); with it, every message has its own delay.
   */
  reorder: boolean;
}

export const calmNetwork: NetworkFaults = {
  dropRate: 0,
  duplicateRate: 0,
  delayMsMin: 1,
  delayMsMax: 3,
  slowRate: 0,
  slowDelayMsMax: 0,
  reorder: false,
};

export class SimNetwork {
  private faultsNow: NetworkFaults = { ...calmNetwork };
  /** When the network faults last changed (issue 15: liveness windows need a calm network). */
  faultsChangedMs = 0;
  get faults(): NetworkFaults {
    return this.faultsNow;
  }
  set faults(f: NetworkFaults) {
    this.faultsNow = f;
    this.faultsChangedMs = this.scheduler.nowMs;
  }
  /** When each directed link ("from>to") was last cut or restored (issue 15: liveness windows). */
  private readonly linkChanged = new Map<string, number>();
  /** The link from -> to is up and has been since `sinceMs` or earlier. */
  linkUpSince(from: NodeId, to: NodeId, sinceMs: number): boolean {
    const key = `${from}>${to}`;
    return !this.cut.has(key) && !this.budgets.has(key) && (this.linkChanged.get(key) ?? 0) <= sinceMs;
  }
  /** Both links between the two nodes are cut, and have been since `sinceMs` or earlier. */
  cutBothSince(a: NodeId, b: NodeId, sinceMs: number): boolean {
    return (
      this.cut.has(`${a}>${b}`) &&
      this.cut.has(`${b}>${a}`) &&
      (this.linkChanged.get(`${a}>${b}`) ?? 0) <= sinceMs &&
      (this.linkChanged.get(`${b}>${a}`) ?? 0) <= sinceMs
    );
  }
  private cutKey(key: string): void {
    if (!this.cut.has(key)) this.linkChanged.set(key, this.scheduler.nowMs);
    this.cut.add(key);
  }
  private uncutKey(key: string): void {
    if (this.cut.has(key)) this.linkChanged.set(key, this.scheduler.nowMs);
    this.cut.delete(key);
  }
  /** Cut directed links, as "from>to". */
  private readonly cut = new Set<string>();
  private readonly receivers = new Map<NodeId, (m: RaftMessage) => void>();
  /** Watches every message handed to the network (the checker records votes here). */
  onSend: ((m: RaftMessage) => void) | null = null;
  delivered = 0;
  dropped = 0;
  /** Per link and channel: when its last message is delivered (FIFO lanes). */
  private readonly laneTail = new Map<string, number>();

  constructor(
    private readonly scheduler: Scheduler,
    private readonly rng: Rng,
  ) {}

  /** The transport a node uses; delivery goes to whatever receiver is attached at that time. */
  endpoint(id: NodeId): Transport {
    return {
      send: (to, message) => this.send(id, to, message),
      onMessage: () => undefined,
      close: (cb) => cb(),
    };
  }

  attach(id: NodeId, receive: (m: RaftMessage) => void): void {
    this.receivers.set(id, receive);
  }

  detach(id: NodeId): void {
    this.receivers.delete(id);
  }

  cutLink(from: NodeId, to: NodeId): void {
    this.cutKey(`${from}>${to}`);
  }

  /**
   * The link from -> to delivers `messages` more messages, then breaks for `cutMs` (a connection
   * dying mid-stream): replication that reaches a follower only partly.
   */
  breakAfter(from: NodeId, to: NodeId, messages: number, cutMs: number): void {
    const key = `${from}>${to}`;
    if (messages <= 0) {
      this.cutKey(key);
      this.scheduler.schedule(cutMs, () => this.uncutKey(key));
      return;
    }
    this.budgets.set(key, { left: messages, cutMs });
  }

  private readonly budgets = new Map<string, { left: number; cutMs: number }>();

  uncutLink(from: NodeId, to: NodeId): void {
    this.uncutKey(`${from}>${to}`);
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return this.cut.has(`${from}>${to}`);
  }

  /** Cut every link between the two groups, both ways. */
  partition(a: readonly NodeId[], b: readonly NodeId[]): void {
    for (const x of a) {
      for (const y of b) {
        this.cutLink(x, y);
        this.cutLink(y, x);
      }
    }
  }

  heal(): void {
    for (const key of [...this.cut]) this.uncutKey(key);
    this.budgets.clear();
  }

  private send(from: NodeId, to: NodeId, message: RaftMessage): void {
    this.onSend?.(message);
    if (this.cut.has(`${from}>${to}`) || this.rng.chance(this.faults.dropRate)) {
      this.dropped++;
      return;
    }
    const copies = this.rng.chance(this.faults.duplicateRate) ? 2 : 1;
    for (let k = 0; k < copies; k++) {
      const f = this.faults;
      let delay = this.rng.chance(f.slowRate) ? this.rng.int(f.delayMsMax, Math.max(f.delayMsMax, f.slowDelayMsMax)) : this.rng.int(f.delayMsMin, f.delayMsMax);
      if (!f.reorder) {
        const lane = `${from}>${to}:${channelOf(message.type)}`;
        const at = Math.max(this.scheduler.nowMs + delay, this.laneTail.get(lane) ?? 0);
        this.laneTail.set(lane, at);
        delay = at - this.scheduler.nowMs;
      }
      this.scheduler.schedule(delay, () => {
        // A link cut while the message was in flight loses it too.
        if (this.cut.has(`${from}>${to}`)) {
          this.dropped++;
          return;
        }
        const budget = this.budgets.get(`${from}>${to}`);
        if (budget !== undefined && --budget.left <= 0) {
          this.budgets.delete(`${from}>${to}`);
          this.cutKey(`${from}>${to}`);
          this.scheduler.schedule(budget.cutMs, () => this.uncutKey(`${from}>${to}`));
        }
        const receive = this.receivers.get(to);
        if (receive === undefined) {
          this.dropped++;
          return;
        }
        this.delivered++;
        receive(message);
      });
    }
  }
}
