/**
 * The replay workload's consumers (issue 16): a consumer group on the replay topic and two
 * consumers of it, each with its own client, that acknowledge what they get, throw on "poison"
 * sessions (nacked until dead-lettered), and now and then crash in the middle of a delivery (their
 * client is closed before the handler answers: the node sees the connection go, the delivery stays
 * in flight until its deadline or until a consumer of that name attaches again). A crashed consumer
 * comes back after a short pause with a fresh client whose first endpoint is a random node (the
 * library finds the leader: consumers attach on the leader only), half the time under the same name
 * (its in-flight deliveries come back at once), half the time under a new one (they come back after
 * ackWaitMs, to whoever is attached). A consumer the library gave up on (a reattach that found no
 * leader within the operation timeout, for instance while every node was down) is restarted the
 * same way. Everything received and every answer is logged for the delivery checker (checks.ts).
 */
import { createClient, isClientError, type ClientConsumer, type GroupMessage, type SessionraftClient } from '../../transport/client/client.js';
import type { ClientAccess } from './cluster.js';

export interface ConsumersOptions {
  readonly endpoints: readonly string[];
  readonly clusterId: string;
  /** TLS and login of every client (ChaosCluster.clientAccess; issue 17). */
  readonly access?: ClientAccess;
  readonly random: () => number;
  readonly topic: string;
  readonly group: string;
  readonly consumers: number;
  readonly ackWaitMs: number;
  readonly maxDeliveries: number;
  /** Probability that a delivery crashes its consumer (client closed before the answer). */
  readonly crashRate: number;
  /** At most this many crashes in a run (the run must also make progress). */
  readonly crashesMax: number;
  readonly requestTimeoutMs: number;
  readonly operationTimeoutMs: number;
  /** Sessions whose first record starts with this are thrown on (nacked until dead-lettered). */
  readonly poisonPrefix: string;
}

/** One delivery as a consumer's handler saw it. */
export interface SeenDelivery {
  readonly consumer: string;
  readonly session: string;
  readonly restoreId: string;
  readonly delivery: number;
  /** Harness clock (Date.now()) when the handler was called. */
  readonly atMs: number;
  readonly records: string[];
}

/** One answer to an ack or nack: the applied result's code, or the client error. */
export interface SeenAnswer {
  readonly consumer: string;
  readonly restoreId: string;
  readonly delivery: number;
  readonly ack: boolean;
  readonly code: string;
}

interface Slot {
  readonly k: number;
  name: string;
  gen: number;
  client: SessionraftClient | null;
  handle: ClientConsumer | null;
  /** Not before this time (after a crash). */
  downUntilMs: number;
  starting: boolean;
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

export class GroupConsumers {
  readonly deliveries: SeenDelivery[] = [];
  readonly answers: SeenAnswer[] = [];
  readonly counts = { crashes: 0, restarts: 0, attachErrors: 0, moved: 0, groupCreateMs: 0 };
  private readonly slots: Slot[] = [];
  private stopping = false;
  private loop: Promise<void> | null = null;
  private admin: SessionraftClient | null = null;

  constructor(private readonly o: ConsumersOptions) {
    for (let k = 0; k < o.consumers; k++) this.slots.push({ k, name: `c${k + 1}`, gen: 0, client: null, handle: null, downUntilMs: 0, starting: false });
  }

  private client(): SessionraftClient {
    const eps = this.o.endpoints;
    const first = Math.floor(this.o.random() * eps.length);
    return createClient({
      endpoints: eps.map((_, j) => eps[(first + j) % eps.length]!),
      clusterId: this.o.clusterId,
      requestTimeoutMs: this.o.requestTimeoutMs,
      operationTimeoutMs: this.o.operationTimeoutMs,
      connectTimeoutMs: Math.min(1000, this.o.requestTimeoutMs),
      // Secured: TLS and a login take longer to connect (ChaosCluster.clientAccess).
      ...this.o.access,
    });
  }

  /** Creates the group (retrying until it exists or `timeoutMs` passed), then starts the consumers' supervisor. */
  async start(timeoutMs: number): Promise<void> {
    const t0 = Date.now();
    this.admin = this.client();
    for (;;) {
      try {
        await this.admin.createGroup(this.o.topic, this.o.group, { ackWaitMs: this.o.ackWaitMs, maxDeliveries: this.o.maxDeliveries });
        break;
      } catch (err) {
        // A retried create whose first attempt applied answers GROUP_EXISTS: the group is there.
        if (isClientError(err) && err.code === 'SESSIONS_ERR_GROUP_EXISTS') break;
        if (Date.now() - t0 > timeoutMs)
          throw new Error(`consumer group ${this.o.group} not created within ${timeoutMs} ms: ${(err as Error).message}`, { cause: err });
      }
    }
    this.counts.groupCreateMs = Date.now() - t0;
    this.loop = this.supervise();
  }

  /** Every 100 ms: (re)start the consumers that are not running. Bounded by `stop()`. */
  private async supervise(): Promise<void> {
    while (!this.stopping) {
      const now = Date.now();
      for (const s of this.slots) {
        if (s.starting || now < s.downUntilMs) continue;
        if (s.handle !== null && !s.handle.closed) continue;
        if (s.handle !== null) this.counts.restarts++;
        void this.startSlot(s);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private async startSlot(s: Slot): Promise<void> {
    s.starting = true;
    s.handle = null;
    const c = s.client ?? this.client();
    s.client = c;
    const gen = s.gen;
    try {
      const h = await c.consume(this.o.topic, this.o.group, (m) => this.handle(s, gen, m), {
        consumer: s.name,
        onError: () => {
          this.counts.moved++;
        },
        onAnswer: (m, ack, out) => {
          this.answers.push({
            consumer: s.name,
            restoreId: m.restoreId,
            delivery: m.delivery,
            ack,
            code: isClientError(out) ? out.code : (out as { code: string }).code,
          });
        },
      });
      if (this.stopping || s.gen !== gen) await h.close();
      else s.handle = h;
    } catch {
      this.counts.attachErrors++;
    } finally {
      s.starting = false;
    }
  }

  private async handle(s: Slot, gen: number, m: GroupMessage): Promise<void> {
    const records = m.records.map(text);
    this.deliveries.push({ consumer: s.name, session: m.session, restoreId: m.restoreId, delivery: m.delivery, atMs: Date.now(), records });
    if (!this.stopping && s.gen === gen && this.counts.crashes < this.o.crashesMax && this.o.random() < this.o.crashRate) {
      // Crash mid-delivery: the client goes before the handler answers (the library then answers nothing).
      await this.crash(s);
      return;
    }
    // A little work, so that deliveries overlap with faults and with each other.
    await new Promise((r) => setTimeout(r, Math.floor(this.o.random() * 20)));
    if (records[0]?.startsWith(this.o.poisonPrefix)) throw new Error('poison session');
  }

  private async crash(s: Slot): Promise<void> {
    this.counts.crashes++;
    s.gen++;
    const c = s.client;
    s.client = null;
    s.handle = null;
    // Back in 100-600 ms; half the time under a new name (its in-flight deliveries then wait for their deadline).
    s.downUntilMs = Date.now() + 100 + Math.floor(this.o.random() * 500);
    if (this.o.random() < 0.5) s.name = `c${s.k + 1}-${s.gen}`;
    await c?.close();
  }

  /** The leader's view of the group (null when it could not be read). */
  async groupView(): Promise<Record<string, unknown> | null> {
    if (this.admin === null) return null;
    try {
      const [g] = await this.admin.pending(this.o.topic, this.o.group);
      return (g as unknown as Record<string, unknown>) ?? null;
    } catch {
      return null;
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.loop;
    for (const s of this.slots) {
      s.gen++;
      await s.handle?.close().catch(() => undefined);
      await s.client?.close();
      s.client = null;
      s.handle = null;
    }
    await this.admin?.close();
  }
}
