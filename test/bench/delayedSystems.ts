/**
 * The two systems of the delayed-delivery benchmark behind one interface: sessionraft (three
 * `sessionraft node` processes, one consumer group acknowledging through the client library) and
 * BullMQ on one local `redis-server` (delayed jobs, one Worker). Each item is 1 KiB of data,
 * scheduled with a delay; the consumer reports when it received an item and when it was done with
 * it (then it acknowledges: for sessionraft the handler resolves and its ack removes the restored
 * session, the consumer's `removeOnAck`, or with `--sessionraft-ack=destroy` the handler destroys it
 * first and then acks; for BullMQ the processor returns, which completes and removes the job:
 * `removeOnComplete`).
 */
import { Queue, Worker, type Job } from 'bullmq';
import { createClient, type ClientConsumer, type SessionraftClient } from '../../transport/client/client.js';
import { BenchCluster, sampleProc, waitFor, type GcReading } from './clusterProcs.js';
import { RedisProc } from './delayedRedis.js';

export type SystemName = 'sessionraft' | 'bullmq';

/** How a sessionraft producer schedules an item: one `schedule` request (issue 20), or `steps`: create, append, store in a row. */
export type ScheduleWay = 'schedule' | 'steps';

export function scheduleWay(v: string): ScheduleWay {
  if (v !== 'schedule' && v !== 'steps') throw new Error(`--sessionraft-schedule: schedule or steps, got ${JSON.stringify(v)}`);
  return v;
}

/** How the sessionraft consumer is done with an item: its ack removes the session (`removeOnAck`), or a destroy request and then the ack. */
export type AckWay = 'remove' | 'destroy';

export function ackWay(v: string): AckWay {
  if (v !== 'remove' && v !== 'destroy') throw new Error(`--sessionraft-ack: remove or destroy, got ${JSON.stringify(v)}`);
  return v;
}

/** One delivery seen by the consumer. */
export interface Received {
  /** The item: sessionraft's session ID, BullMQ's job ID. */
  readonly key: string;
  /** What a consumer deduplicates by: the restore ID (sessionraft), the job ID (BullMQ). */
  readonly dedupKey: string;
  /** 1 for the first delivery, then 2, 3, ... */
  readonly delivery: number;
  /** performance.now() when the consumer got it. */
  readonly at: number;
}

export interface ConsumerHooks {
  onReceive(r: Received): void;
  /** The consumer finished the item (its acknowledgement is on its way). */
  onDone(key: string, at: number): void;
}

/** The delays every system offers: a 1 s one and a long one (items that stay scheduled). */
export type DelayName = '1s' | '2h';
export const delayMs: Record<DelayName, number> = { '1s': 1000, '2h': 7_200_000 };

export interface Stream {
  /**
   * Schedules one item through producer `producer` (an index: the system spreads producers over its
   * connections) and resolves with its key once the system acknowledged it, and when the scheduling
   * command itself was sent (performance.now(): sessionraft's schedule request, or its store after
   * the create and the append with `steps`; BullMQ's add): the item is due `delay` after that (for
   * sessionraft a little later: the leader plans the store once create and append are applied, so
   * its lateness is over- rather than under-stated). `seq` is unique in the stream.
   */
  schedule(producer: number, seq: number, delay: DelayName): Promise<{ key: string; scheduledAt: number }>;
  /** Starts the consumer of a stream opened with `consumerLater` (the backlog row); a no-op when it runs. */
  startConsumer(): Promise<void>;
  /**
   * How many of the stream's items the system holds for a consumer that has not taken them:
   * sessionraft's group on the leader, `ready` (restored, waiting for a consumer); BullMQ's jobs
   * delayed or waiting (with no worker running, BullMQ leaves due jobs in its delayed set: a worker
   * promotes them when it fetches). Null when it could not be read.
   */
  held(): Promise<number | null>;
  close(): Promise<void>;
}

/** Every sessionraft node's GC totals at one moment, and which node leads (the `L` in field names). */
export interface GcSnapshot {
  readonly leader: string | null;
  readonly readings: Map<string, GcReading>;
}

export interface DelayedSystem {
  readonly name: SystemName;
  /** sessionraft: how many nodes (rows report it as `nodes`). */
  readonly nodes?: number;
  /**
   * A fresh topic with one consumer group (sessionraft) or a fresh queue (BullMQ), with its
   * consumer; with `consumerLater`, the group or queue without it until `startConsumer`.
   */
  openStream(name: string, hooks: ConsumerHooks, opts?: { readonly consumerLater?: boolean }): Promise<Stream>;
  /** CPU time (ms) of the system's server processes so far (every sessionraft node, or redis-server). */
  serverCpuMs(): number;
  /** sessionraft: each node's CPU time (ms) so far, by node ID (rows report `<id>UsPerItem`). */
  nodeCpuMs?(): ReadonlyMap<string, number>;
  /**
   * sessionraft: the leader's counters so far (rows report them per item): its commit index (log
   * entries), WAL batches, peer messages sent, client requests; with the leader's ID (a row that
   * saw the leader change reports none). Null when unknown.
   */
  leaderCounters?(): Promise<LeaderCounters | null>;
  /** sessionraft: every node's GC totals now. */
  gcReadings?(): Promise<GcSnapshot>;
  /** Memory fields (MB) for the memory row. */
  memory(): Promise<Record<string, number>>;
  /** kill -9 of the process that matters (the leader, or redis-server); resolves with its name once it exited. */
  crash(): Promise<string>;
  /** Restarts what `crash` killed, on its data, and waits until it serves. */
  restart(): Promise<void>;
  stop(): Promise<void>;
  /** sessionraft: node processes that exited on their own so far (none in a clean run). */
  unexpectedExits?(): number;
  /**
   * sessionraft: where items stand on every running node, for a row that ended with items not done:
   * each node's role, applied index, store counts, consumer groups (ready, in flight, expired,
   * scheduled per class) and client connections, one line each.
   */
  diagnose?(): Promise<string>;
}

export interface LeaderCounters {
  readonly leader: string;
  /** The leader's Raft term: each election (a leader change, or one that elected none) adds one or more. */
  readonly term: number;
  readonly entries: number;
  readonly walBatches: number;
  readonly peerMessages: number;
  readonly peerBytes: number;
  readonly clientRequests: number;
  /** The leader's lateness histograms (all series): seconds summed, and observations. */
  readonly restoreLateSeconds: number;
  readonly restoreLateCount: number;
  readonly deliveryLateSeconds: number;
  readonly deliveryLateCount: number;
  /**
   * The WAL's durable writes under the row's load (`sessionraft_fsync_seconds`), to set beside the
   * machine row's idle fsync floor: the leader's (seconds summed, observations), and each
   * follower's whose /metrics answered, by node ID (one that did not answer is left out, not read
   * as zero).
   */
  readonly leaderFsyncSeconds: number;
  readonly leaderFsyncCount: number;
  readonly followerFsync: ReadonlyMap<string, { readonly seconds: number; readonly count: number }>;
  /** The leader's client commands, request to applied result (`sessionraft_commit_seconds`, all ops). */
  readonly commitSeconds: number;
  readonly commitCount: number;
}

/** Unacknowledged deliveries per consumer (sessionraft's maxAckPending) and BullMQ's worker concurrency: the same. */
export const consumerWindow = 256;
/** Producer connections, for both: four sessionraft clients, four BullMQ Queue instances (each its own connection). */
const producerConnections = 4;

const payload = new Uint8Array(1024).fill(0x70);
/** BullMQ's job data: JSON of about 1 KiB. */
const jobData = { p: 'p'.repeat(1016) };

// ---- sessionraft ---------------------------------------------------------------------------------

export class SessionraftSystem implements DelayedSystem {
  readonly name = 'sessionraft' as const;
  private killed: string | null = null;
  private readonly clients: SessionraftClient[] = [];
  get nodes(): number {
    return this.cluster.nodes.length;
  }

  private constructor(
    readonly cluster: BenchCluster,
    private readonly way: ScheduleWay,
    private readonly ackWay: AckWay,
  ) {}

  /** Replay classes: index 0 is 1 s, index 1 is 2 h (the memory row's items stay scheduled). */
  static async start(opts: {
    cpuProfDir?: string;
    execArgs?: readonly string[];
    schedule?: ScheduleWay;
    ack?: AckWay;
    nodes?: number;
  }): Promise<SessionraftSystem> {
    const cluster = await BenchCluster.start({
      size: opts.nodes ?? 3,
      nodeArgs: ['--replay-delays', '1s,2h'],
      execArgs: opts.execArgs ?? [],
      ...(opts.cpuProfDir !== undefined ? { cpuProfDir: opts.cpuProfDir } : {}),
    });
    await cluster.waitForLeader(120_000);
    const s = new SessionraftSystem(cluster, opts.schedule ?? 'schedule', opts.ack ?? 'remove');
    for (let k = 0; k < producerConnections; k++) s.clients.push(createClient({ endpoints: cluster.endpoints(), inflightCommandsMax: 192 }));
    return s;
  }

  async openStream(name: string, hooks: ConsumerHooks, opts: { readonly consumerLater?: boolean } = {}): Promise<Stream> {
    const topic = `delayed-${name}`;
    const admin = this.clients[0]!;
    await admin.createGroup(topic, 'bench', { maxAckPending: consumerWindow });
    // The consumer has its own connection, as a separate service would.
    const cc = createClient({ endpoints: this.cluster.endpoints(), inflightCommandsMax: 192 });
    const removeOnAck = this.ackWay === 'remove';
    let consumer: ClientConsumer | null = null;
    const startConsumer = async (): Promise<void> => {
      consumer ??= await cc.consume(
        topic,
        'bench',
        async (m) => {
          hooks.onReceive({ key: m.session, dedupKey: m.restoreId, delivery: m.delivery, at: performance.now() });
          // The restored session is active again: the consumer's work is done once it is gone (its
          // ack removes it, or a destroy first).
          if (!removeOnAck) await cc.destroy(m.session).catch(() => undefined); // SESSION_UNKNOWN on a redelivery after a destroy
          hooks.onDone(m.session, performance.now());
        },
        { consumer: `bench-${name}`, maxAckPending: consumerWindow, removeOnAck },
      );
    };
    if (opts.consumerLater !== true) await startConsumer();
    const clients = this.clients;
    const way = this.way;
    const cluster = this.cluster;
    return {
      startConsumer,
      async held() {
        const leader = await cluster.waitForLeader(10_000).catch(() => null);
        if (leader === null) return null;
        const st = await cluster.status(leader, 5000).catch(() => null);
        // Ready (restored, waiting for a consumer), and due but still in its data file (restores
        // leave a reserve of the active table to clients: SessionsStore.hasRoomFor). The
        // scheduled count is null until the node has counted it (a scan of the data files).
        const g = st?.groups?.find((x) => x.topic === topic && x.name === 'bench');
        if (typeof g?.ready !== 'number' || g.scheduledComplete !== true || !Array.isArray(g.scheduled)) return null;
        let stored = 0;
        for (const c of g.scheduled as { sessions?: unknown }[]) stored += typeof c.sessions === 'number' ? c.sessions : 0;
        return g.ready + stored;
      },
      async schedule(producer, _seq, delay) {
        const cl = clients[producer % clients.length]!;
        const replay = delay === '1s' ? 0 : 1;
        if (way === 'schedule') {
          // Due `delay` after the leader plans the store, which follows this request.
          const scheduledAt = performance.now();
          const { id } = await cl.schedule(topic, payload, { replay });
          return { key: id, scheduledAt };
        }
        const { id } = await cl.createSession(topic);
        await cl.append(id, payload);
        const scheduledAt = performance.now();
        await cl.store(id, { replay });
        return { key: id, scheduledAt };
      },
      async close() {
        await consumer?.close();
        await cc.close();
      },
    };
  }

  unexpectedExits(): number {
    return this.cluster.unexpectedExits.length;
  }

  async diagnose(): Promise<string> {
    const lines: string[] = [];
    for (const n of this.cluster.nodes) {
      if (!this.cluster.isRunning(n)) {
        lines.push(`${n.id}: not running`);
        continue;
      }
      try {
        const st = await this.cluster.status(n, 2000);
        const { role, term, leader, commitIndex, appliedIndex, store, groups, client } = st;
        lines.push(`${n.id}: ${JSON.stringify({ role, term, leader, commitIndex, appliedIndex, store, groups, client })}`);
      } catch (err) {
        lines.push(`${n.id}: /status failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return lines.join('\n');
  }

  serverCpuMs(): number {
    let ms = 0;
    for (const n of this.cluster.nodes) ms += this.cluster.sample(n)?.cpuMs ?? 0;
    return ms;
  }

  nodeCpuMs(): ReadonlyMap<string, number> {
    const out = new Map<string, number>();
    for (const n of this.cluster.nodes) out.set(n.id, this.cluster.sample(n)?.cpuMs ?? 0);
    return out;
  }

  async gcReadings(): Promise<GcSnapshot> {
    const leader = await this.cluster.waitForLeader(10_000).then(
      (n) => n.id,
      () => null,
    );
    return { leader, readings: await this.cluster.gcReadings() };
  }

  async leaderCounters(): Promise<LeaderCounters | null> {
    try {
      const leader = await this.cluster.waitForLeader(10_000);
      const followers = this.cluster.nodes.filter((n) => n.id !== leader.id && this.cluster.isRunning(n));
      const [st, m, ...fm] = await Promise.all([
        this.cluster.status(leader),
        this.cluster.metrics(leader),
        ...followers.map((n) => this.cluster.metrics(n).catch(() => null)),
      ]);
      const followerFsync = new Map<string, { seconds: number; count: number }>();
      fm.forEach((f, k) => {
        if (f !== null)
          followerFsync.set(followers[k]!.id, { seconds: f.get('sessionraft_fsync_seconds_sum') ?? 0, count: f.get('sessionraft_fsync_seconds_count') ?? 0 });
      });
      return {
        leader: leader.id,
        term: st.term,
        entries: st.commitIndex,
        walBatches: m.get('sessionraft_wal_batches_total') ?? 0,
        peerMessages: m.get('sessionraft_transport_messages_sent_total') ?? 0,
        peerBytes: m.get('sessionraft_transport_bytes_sent_total') ?? 0,
        clientRequests: m.get('sessionraft_client_requests_total') ?? 0,
        restoreLateSeconds: m.get('sessionraft_restore_lateness_seconds_sum') ?? 0,
        restoreLateCount: m.get('sessionraft_restore_lateness_seconds_count') ?? 0,
        deliveryLateSeconds: m.get('sessionraft_delivery_lateness_seconds_sum') ?? 0,
        deliveryLateCount: m.get('sessionraft_delivery_lateness_seconds_count') ?? 0,
        leaderFsyncSeconds: m.get('sessionraft_fsync_seconds_sum') ?? 0,
        leaderFsyncCount: m.get('sessionraft_fsync_seconds_count') ?? 0,
        followerFsync,
        commitSeconds: m.get('sessionraft_commit_seconds_sum') ?? 0,
        commitCount: m.get('sessionraft_commit_seconds_count') ?? 0,
      };
    } catch {
      return null;
    }
  }

  async memory(): Promise<Record<string, number>> {
    const leader = (await this.cluster.waitForLeader(120_000)).id;
    const out: Record<string, number> = {};
    for (const n of this.cluster.nodes) {
      const s = this.cluster.sample(n);
      if (s === null) continue;
      const tag = n.id === leader ? `${n.id}L` : n.id;
      out[`${tag}RssMb`] = Math.round(s.rssMb);
      out[`${tag}RssPeakMb`] = Math.round(s.hwmMb);
    }
    return out;
  }

  async crash(): Promise<string> {
    const leader = await this.cluster.waitForLeader(120_000);
    await this.cluster.kill(leader, 'SIGKILL');
    this.killed = leader.id;
    return `leader ${leader.id}`;
  }

  async restart(): Promise<void> {
    if (this.killed === null) return;
    const n = this.cluster.node(this.killed);
    this.cluster.spawn(n);
    this.killed = null;
    // Serving: its admin port answers (the items tell the rest). Generous: a loaded box is slow.
    await waitFor(`${n.id} to answer /status after its restart`, async () => ((await this.cluster.status(n, 2000)) ? true : null), 120_000, 50);
  }

  async stop(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.close()));
    await this.cluster.stop();
  }
}

// ---- BullMQ on redis-server ----------------------------------------------------------------------

export class BullmqSystem implements DelayedSystem {
  readonly name = 'bullmq' as const;

  private constructor(readonly redis: RedisProc) {}

  static async start(redisBin: string): Promise<BullmqSystem> {
    return new BullmqSystem(await RedisProc.start(redisBin));
  }

  private connection(): { host: string; port: number; maxRetriesPerRequest: null } {
    return { host: '127.0.0.1', port: this.redis.port, maxRetriesPerRequest: null };
  }

  async openStream(name: string, hooks: ConsumerHooks, opts: { readonly consumerLater?: boolean } = {}): Promise<Stream> {
    const queueName = `delayed-${name}`;
    const queues = Array.from({ length: producerConnections }, () => new Queue(queueName, { connection: this.connection() }));
    await Promise.all(queues.map((q) => q.waitUntilReady()));
    const later = opts.consumerLater === true;
    const worker = new Worker(
      queueName,
      async (job: Job) => {
        hooks.onReceive({ key: job.id!, dedupKey: job.id!, delivery: job.attemptsStarted, at: performance.now() });
        hooks.onDone(job.id!, performance.now());
        return 0;
      },
      // autorun false: the worker fetches nothing until run() (the backlog row's consumer, started late).
      { connection: this.connection(), concurrency: consumerWindow, autorun: !later },
    );
    worker.on('error', () => undefined); // connection errors while redis-server is down (the recovery row)
    for (const q of queues) q.on('error', () => undefined);
    await worker.waitUntilReady();
    let running = !later;
    return {
      async startConsumer() {
        if (running) return;
        running = true;
        // run() resolves when the worker closes: not awaited.
        void worker.run().catch(() => undefined);
      },
      async held() {
        const c = await queues[0]!.getJobCounts('delayed', 'wait', 'prioritized').catch(() => null);
        return c === null ? null : (c.delayed ?? 0) + (c.wait ?? 0) + (c.prioritized ?? 0);
      },
      async schedule(producer, seq, delay) {
        const key = `${name}-${seq}`;
        // A fixed job ID: a retried add of the same item is not a second job.
        const scheduledAt = performance.now();
        await queues[producer % queues.length]!.add('item', jobData, { jobId: key, delay: delayMs[delay], removeOnComplete: true, removeOnFail: false });
        return { key, scheduledAt };
      },
      async close() {
        await worker.close(true);
        await Promise.all(queues.map((q) => q.close()));
      },
    };
  }

  serverCpuMs(): number {
    return this.redis.sample()?.cpuMs ?? 0;
  }

  async memory(): Promise<Record<string, number>> {
    const m = await this.redis.memory();
    const s = this.redis.pid === null ? null : sampleProc(this.redis.pid);
    return {
      redisUsedMemoryMb: Math.round(m.usedMemoryMb),
      redisUsedMemoryRssMb: Math.round(m.usedMemoryRssMb),
      redisRssMb: Math.round(s?.rssMb ?? 0),
      redisRssPeakMb: Math.round(s?.hwmMb ?? 0),
    };
  }

  async crash(): Promise<string> {
    await this.redis.kill('SIGKILL');
    return 'redis-server';
  }

  async restart(): Promise<void> {
    await this.redis.spawn();
  }

  async stop(): Promise<void> {
    await this.redis.stop();
  }
}
