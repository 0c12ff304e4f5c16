/**
 * A node's Prometheus metrics (prom-client, one Registry per node so that in-process clusters keep
 * them apart). Gauges and counters read the node's own counters when scraped (nothing is counted
 * twice on the hot path); the three latency histograms are observed as things happen.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { OpHistogram, type HistogramSeries } from './opHistogram.js';
import type { NodeStatus } from '../raft/raftNode.js';
import type { StoreStats } from '../sessions/index.js';
import type { GroupView } from '../sessions/store.js';
import type { TransportStats } from '../../transport/peer/types.js';
import type { ClientServerStats } from '../../transport/client/server.js';

/** One replay class's figures in a group's view. */
type ScheduledClass = GroupView['scheduled'][number];

interface MetricsSources {
  readonly status: () => NodeStatus;
  readonly raftCounters: () => ReadonlyMap<string, number>;
  readonly transport: () => TransportStats;
  readonly wal: () => {
    readonly batches: number;
    readonly fdatasyncs: number;
    readonly writes: number;
    readonly bytes: number;
    readonly preallocations: number;
  };
  readonly store: () => StoreStats;
  readonly client: () => ClientServerStats;
  /** Admin port requests refused, by code. */
  readonly admin: () => Readonly<Record<string, number>>;
  /** Bytes by part (statusViews.ts memoryView, issue 18). */
  readonly memory?: () => Readonly<Record<string, number>>;
  /** Consumer groups with their counts (issue 16). */
  readonly groups?: () => readonly GroupView[];
  /** The leader's dispatcher: deliveries held until their due time (issue 20, restore ahead). */
  readonly dispatcher?: () => { readonly held: number };
  /** The leader's planner: DataCreates it proposed because the clock read far behind the newest file's due floor. */
  readonly planner?: () => { readonly dueFloorFiles: number };
  /** Feature flags: those this version knows and those on in the cluster as applied here. */
  readonly features?: () => { readonly supported: readonly string[]; readonly enabled: readonly string[] };
}

/** Raft node counters that are rejected peer input (the rest are events). */
const NODE_REJECTIONS = new Set([
  'wrong-receiver',
  'message-from-non-member',
  'timeout-now-refused',
  'foreign-leader',
  'term-out-of-range',
  'stale-term',
  'range-request-refused',
  'range-chunk-unexpected',
  'range-chunk-refused',
  'snapshot-manifest-refused',
  'append-resp-past-log',
  'snapshot-membership-invalid',
  'append-entry-terms-invalid',
  'range-request-too-large',
]);
const ROLES = ['follower', 'preCandidate', 'candidate', 'leader'] as const;

const fastBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const commandBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** Lateness after a due time: from on time (the leader's clock has whole milliseconds) to minutes behind. */
const latenessBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];
/**
 * Groups with series of their own (the delivery lateness histogram, the group gauges); the rest share
 * one labelled OTHER_GROUP. Groups are made by users (any number, named by them): unbounded labels.
 */
const GROUP_SERIES_MAX = 256;
/** The shared series' topic and group: no group is named so (names are [A-Za-z0-9_.@-]), so it is never a real group's series too. */
const OTHER_GROUP = '(other)';
/** Replay classes with a series of their own in the restore lateness histogram. */
const CLASS_SERIES_MAX = 64;

export class HostMetrics {
  readonly registry = new Registry();
  /** fdatasync / directory fsync of the raft log (seconds). */
  readonly fsync: HistogramSeries;
  /** A log write from issue to durable (encoding, group commit, fsync). */
  readonly append: HistogramSeries;
  /** A client command on the leader from request to result: proposed, replicated to a quorum, committed and applied. */
  /** Observed once per command: a histogram of our own, exposed as prom-client's would be. */
  readonly commit: OpHistogram;
  /** On the leader: a stored session planned for restore, seconds after its due time, by replay class. */
  readonly restoreLateness: OpHistogram;
  /** On the leader: a restore's first delivery handed to a consumer attached here, seconds after its due time, by topic and group. */
  readonly deliveryLateness: OpHistogram;
  private readonly classSeries: HistogramSeries[] = [];
  /** Per group (by its ID's low half), its series; at most GROUP_SERIES_MAX, deleted groups swept out when full. */
  private readonly groupSeries = new Map<number, { readonly series: HistogramSeries; readonly key: string }>();
  /** Groups past the bound share this series (made on first need). */
  private groupOverflow: HistogramSeries | null = null;
  /** Observations before the full map of group series is swept again for deleted groups. */
  private groupSweepIn = 0;
  private sources: MetricsSources | null = null;

  constructor(defaultMetrics = true) {
    const registers = [this.registry];
    this.fsync = new OpHistogram('sessionraft_fsync_seconds', 'fdatasync and directory fsync latency of the raft log', fastBuckets, registers, []).unlabelled();
    this.append = new OpHistogram('sessionraft_append_seconds', 'raft log write latency, from issue to durable', fastBuckets, registers, []).unlabelled();
    this.commit = new OpHistogram(
      'sessionraft_commit_seconds',
      'client command latency on the leader, from request to committed and applied result',
      commandBuckets,
      registers,
    );
    this.restoreLateness = new OpHistogram(
      'sessionraft_restore_lateness_seconds',
      'on the leader: how long after its due time a stored session was planned for restore, by replay class (ms resolution)',
      latenessBuckets,
      registers,
      ['class'],
      CLASS_SERIES_MAX,
    );
    this.deliveryLateness = new OpHistogram(
      'sessionraft_delivery_lateness_seconds',
      "on the leader: how long after its due time a restored session's first delivery to a group was handed to a consumer attached here (ms resolution)",
      latenessBuckets,
      registers,
      ['topic', 'group'],
      // Room for the kept groups and the shared series: the histogram's own bound never takes a kept group's observations.
      GROUP_SERIES_MAX + 1,
    );
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
    const self = this;
    const src = (): MetricsSources | null => self.sources;

    new Gauge({
      name: 'sessionraft_role',
      help: 'this node role (1 for the current one)',
      labelNames: ['role'],
      registers,
      collect() {
        const s = src();
        if (s === null) return;
        const role = s.status().role;
        for (const r of ROLES) this.set({ role: r }, r === role ? 1 : 0);
      },
    });
    /** A gauge read from the node when scraped. */
    const gauge = (name: string, help: string, read: (s: MetricsSources) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const s = src();
          if (s !== null) this.set(read(s));
        },
      });
    };
    gauge('sessionraft_is_leader', '1 when this node is the leader', (s) => (s.status().role === 'leader' ? 1 : 0));
    gauge('sessionraft_term', 'current raft term', (s) => s.status().term);
    gauge('sessionraft_commit_index', 'highest log index known committed', (s) => s.status().commitIndex);
    gauge('sessionraft_applied_index', 'highest log index applied to the session store', (s) => s.status().appliedIndex);
    gauge('sessionraft_last_index', 'last index in the log', (s) => s.status().lastIndex);
    gauge('sessionraft_persisted_index', 'last index durable in the log', (s) => s.status().persistedIndex);
    gauge('sessionraft_snapshot_index', 'index of the latest snapshot', (s) => s.status().snapshotIndex);
    gauge('sessionraft_storage_damaged', '1 while damaged storage keeps this node from voting or leading (until the leader repairs it)', (s) =>
      s.status().corrupt ? 1 : 0,
    );
    gauge('sessionraft_voting_barred', '1 while this node may not vote: it started on empty storage (remove it, add it again, promote it)', (s) =>
      s.status().votingBarred ? 1 : 0,
    );
    new Gauge({
      name: 'sessionraft_feature_enabled',
      help: 'feature flags this version knows: 1 once the cluster turned one on as applied here, 0 while off (an upgraded cluster waiting for `sessionraft client feature enable`)',
      labelNames: ['feature'],
      registers,
      collect() {
        this.reset();
        const f = src()?.features?.();
        if (f === undefined) return;
        for (const feature of f.supported) this.set({ feature }, f.enabled.includes(feature) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'sessionraft_memory_bytes',
      help: 'bytes by part: raftLog (of which raftLogEntries), snapshot, snapshotReceiving, sessions, subscriberQueues, clients; heapUsed, external, rss (issue 18)',
      labelNames: ['part'],
      registers,
      collect() {
        this.reset();
        const parts = src()?.memory?.();
        if (parts === undefined) return;
        for (const [part, bytes] of Object.entries(parts)) this.set({ part }, bytes);
      },
    });
    new Gauge({
      name: 'sessionraft_peer_lag_entries',
      help: 'on the leader: entries each follower lacks (last index - match index)',
      labelNames: ['peer'],
      registers,
      collect() {
        this.reset();
        const s = src();
        if (s === null) return;
        const st = s.status();
        if (st.role !== 'leader') return;
        for (const [peer, p] of Object.entries(st.progress)) if (peer !== st.id) this.set({ peer }, Math.max(0, st.lastIndex - p.match));
      },
    });
    new Gauge({
      name: 'sessionraft_peer_match_index',
      help: 'on the leader: the highest index known replicated on each follower',
      labelNames: ['peer'],
      registers,
      collect() {
        this.reset();
        const s = src();
        if (s === null) return;
        const st = s.status();
        if (st.role !== 'leader') return;
        for (const [peer, p] of Object.entries(st.progress)) if (peer !== st.id) this.set({ peer }, p.match);
      },
    });
    new Gauge({
      name: 'sessionraft_peer_link_open',
      help: 'outbound peer links open (1) or not (0), by channel',
      labelNames: ['peer', 'channel'],
      registers,
      collect() {
        this.reset();
        const s = src();
        if (s === null) return;
        for (const [peer, p] of Object.entries(s.transport().peers)) {
          this.set({ peer, channel: 'control' }, p.control === 'open' ? 1 : 0);
          this.set({ peer, channel: 'data' }, p.data === 'open' ? 1 : 0);
        }
      },
    });
    /** A counter with labels, refilled from the node's own counters when scraped. */
    const labelledCounter = <L extends string>(
      name: string,
      help: string,
      labelNames: readonly L[],
      fill: (s: MetricsSources, inc: (labels: Record<L, string>, n: number) => void) => void,
    ): void => {
      new Counter({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          const s = src();
          if (s !== null) fill(s, (labels, n) => this.inc(labels, n));
        },
      });
    };
    labelledCounter(
      'sessionraft_rejected_total',
      'rejected inputs by source (transport: peer input; node: raft; client: client port; store: commands applied with an error result; admin: admin HTTP port) and stable code',
      ['source', 'code'],
      (s, inc) => {
        for (const [code, n] of Object.entries(s.transport().rejected)) inc({ source: 'transport', code }, n);
        for (const [code, n] of s.raftCounters()) if (NODE_REJECTIONS.has(code)) inc({ source: 'node', code }, n);
        for (const [code, n] of Object.entries(s.client().rejected)) inc({ source: 'client', code }, n);
        for (const [code, n] of Object.entries(s.store().rejectedByCode)) inc({ source: 'store', code }, n);
        for (const [code, n] of Object.entries(s.admin())) inc({ source: 'admin', code }, n);
      },
    );
    labelledCounter('sessionraft_node_events_total', 'notable raft node events by code (snapshots taken, sent, installed; range sync)', ['code'], (s, inc) => {
      for (const [code, n] of s.raftCounters()) if (!NODE_REJECTIONS.has(code)) inc({ code }, n);
    });
    labelledCounter('sessionraft_transport_dropped_total', 'peer messages dropped instead of sent, by code', ['code'], (s, inc) => {
      for (const [code, n] of Object.entries(s.transport().drops)) inc({ code }, n);
    });
    const counter = (name: string, help: string, read: (s: MetricsSources) => number): void => labelledCounter(name, help, [], (s, inc) => inc({}, read(s)));
    counter('sessionraft_transport_messages_sent_total', 'peer messages handed to a socket', (s) => s.transport().sent);
    counter('sessionraft_transport_messages_received_total', 'peer messages delivered to raft', (s) => s.transport().received);
    counter('sessionraft_transport_bytes_sent_total', 'peer bytes sent', (s) => s.transport().bytesSent);
    counter('sessionraft_transport_bytes_received_total', 'peer bytes received', (s) => s.transport().bytesReceived);
    counter('sessionraft_wal_fdatasyncs_total', 'fdatasync calls of the raft log', (s) => s.wal().fdatasyncs);
    counter('sessionraft_wal_batches_total', 'group-commit batches of the raft log', (s) => s.wal().batches);
    counter('sessionraft_wal_bytes_total', 'bytes written to the raft log', (s) => s.wal().bytes);
    counter('sessionraft_wal_preallocations_total', 'ranges of zeros written ahead of the raft log (--log-preallocate-bytes)', (s) => s.wal().preallocations);
    counter('sessionraft_client_deliveries_total', 'restored sessions pushed to subscribers', (s) => s.client().deliveries);
    counter('sessionraft_client_batches_received_total', 'client messages that were batches of requests (client/batch.ts)', (s) => s.client().batchesReceived);
    counter('sessionraft_client_batched_requests_total', 'requests that came in batches', (s) => s.client().batchedRequests);
    counter('sessionraft_client_batches_sent_total', 'client messages sent as batches of replies and deliveries', (s) => s.client().batchesSent);
    counter('sessionraft_client_batched_replies_total', 'replies and deliveries that left in batches', (s) => s.client().batchedReplies);
    counter(
      'sessionraft_group_deliveries_held_total',
      'group deliveries applied on this leader before their due time and held until it (restore ahead, --restore-lead-ms)',
      (s) => s.dispatcher?.().held ?? 0,
    );
    counter(
      'sessionraft_due_floor_files_total',
      "data files this node started while leader because its clock + the class delay read more than 100 ms behind the newest file's due floor (a clock stepped back, or one that read far ahead before)",
      (s) => s.planner?.().dueFloorFiles ?? 0,
    );
    counter(
      'sessionraft_subscriber_deliveries_held_total',
      "restored sessions a subscriber here waited for, the restore's hold after this node applied it (restore ahead)",
      (s) => s.store().subscriptions.held,
    );
    labelledCounter('sessionraft_client_requests_total', 'client requests by op', ['op'], (s, inc) => {
      for (const [op, n] of Object.entries(s.client().requests)) inc({ op }, n);
    });
    gauge('sessionraft_active_sessions', 'active sessions', (s) => s.store().activeSessions);
    gauge('sessionraft_active_bytes', 'record bytes of active sessions', (s) => s.store().activeBytes);
    gauge('sessionraft_data_files', 'data files of stored sessions', (s) => s.store().dataFiles);
    gauge('sessionraft_clients', 'registered clients remembered for exactly-once', (s) => s.store().clients);
    labelledCounter(
      'sessionraft_clients_evicted_total',
      "clients the exactly-once table forgot, by reason: lru (at clientsMax), bytes (at clientTableBytesMax), idle (clientIdleEntriesMax), user (a user at clientsPerUserMax replaced its own; the clients-per-user flag); a retry of a forgotten client's command is an unknown outcome",
      ['reason'],
      (s, inc) => {
        for (const [reason, n] of Object.entries(s.store().clientsEvicted)) inc({ reason }, n);
      },
    );
    gauge('sessionraft_client_connections', 'open client connections', (s) => s.client().connections);
    gauge('sessionraft_client_subscriptions', 'open subscriptions', (s) => s.client().subscriptions);
    gauge('sessionraft_client_push_queued_bytes', 'bytes of deliveries waiting in push queues for client sockets to drain', (s) => s.client().pushQueuedBytes);
    gauge(
      'sessionraft_client_held_bytes',
      'bytes held for all client connections (answers and deliveries not yet read, push queues, requests in flight), against connectionsHeldBytesMax',
      (s) => s.client().heldBytes,
    );
    gauge(
      'sessionraft_client_lagging_connections',
      'client connections with deliveries waiting for their socket to drain',
      (s) => s.client().laggingConnections,
    );
    // Consumer groups (issue 16), per topic and group: one read of the group table per scrape.
    let groupsRead: { at: number; groups: readonly GroupView[] } | null = null;
    const groupsNow = (s: MetricsSources): readonly GroupView[] => {
      if (s.groups === undefined) return [];
      const now = Date.now();
      if (groupsRead === null || now - groupsRead.at > 100) groupsRead = { at: now, groups: s.groups() };
      return groupsRead.groups;
    };
    const other = { topic: OTHER_GROUP, group: OTHER_GROUP };
    /** The first GROUP_SERIES_MAX groups get series of their own; the rest are folded into one series (`fold`: sum, or max for an age). */
    const groupGauge = (name: string, help: string, read: (g: GroupView) => number | null, fold: (a: number, b: number) => number = (a, b) => a + b): void => {
      new Gauge({
        name,
        help,
        labelNames: ['topic', 'group'],
        registers,
        collect() {
          this.reset();
          const s = src();
          if (s === null) return;
          const groups = groupsNow(s);
          let rest: number | null = null;
          for (let k = 0; k < groups.length; k++) {
            const g = groups[k]!;
            const v = read(g);
            if (v === null) continue;
            if (k < GROUP_SERIES_MAX) this.set({ topic: g.topic, group: g.name }, v);
            else rest = rest === null ? v : fold(rest, v);
          }
          if (rest !== null) this.set(other, rest);
        },
      });
    };
    groupGauge(
      'sessionraft_group_ready',
      'restored sessions ready for a consumer group (never delivered, nacked, or back after an expired deadline)',
      (g) => g.ready,
    );
    groupGauge('sessionraft_group_waiting', 'ready sessions of a group waiting for a nack delay', (g) => g.waiting);
    groupGauge('sessionraft_group_in_flight', 'sessions delivered to a consumer of the group and not acknowledged yet', (g) => g.inFlight);
    groupGauge('sessionraft_group_redelivered', 'pending sessions of the group delivered more than once', (g) => g.redelivered);
    groupGauge('sessionraft_group_dead_lettered', 'sessions the group dead-lettered, in all (a total; it never falls)', (g) => g.deadLettered);
    groupGauge('sessionraft_group_dead_letters', "the group's dead letters now (each holds its record until replayed or deleted)", (g) => g.deadLetters);
    groupGauge('sessionraft_group_dead_dropped', 'dead letters the per-group bound deleted, oldest first (a total)', (g) => g.deadDropped);
    groupGauge(
      'sessionraft_group_oldest_pending_age_seconds',
      "age of the group's oldest pending session since its due time",
      (g) => (g.oldestPendingAgeMs === null ? null : g.oldestPendingAgeMs / 1000),
      Math.max,
    );
    // Per replay class of a group's topic: one series per class that holds the topic's sessions.
    // Past GROUP_SERIES_MAX groups, the rest's topics (each once) are folded into one series per class.
    const classGauge = (name: string, help: string, value: (c: ScheduledClass) => number | null, fold: (a: number, b: number) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['topic', 'group', 'class'],
        registers,
        collect() {
          this.reset();
          const s = src();
          if (s === null) return;
          const groups = groupsNow(s);
          const rest = new Map<number, number>();
          const restTopics = new Set<string>();
          for (let k = 0; k < groups.length; k++) {
            const g = groups[k]!;
            const kept = k < GROUP_SERIES_MAX;
            if (!kept && restTopics.has(g.topic)) continue;
            if (!kept) restTopics.add(g.topic);
            for (const c of g.scheduled) {
              const v = value(c);
              if (v === null) continue;
              if (kept) this.set({ topic: g.topic, group: g.name, class: String(c.replayClass) }, v);
              else {
                const r = rest.get(c.replayClass);
                rest.set(c.replayClass, r === undefined ? v : fold(r, v));
              }
            }
          }
          for (const [replayClass, v] of rest) this.set({ ...other, class: String(replayClass) }, v);
        },
      });
    };
    classGauge(
      'sessionraft_group_scheduled',
      "sessions of a group's topic still scheduled (stored, not yet due and restored), per replay class",
      (c) => c.sessions,
      (a, b) => a + b,
    );
    classGauge(
      'sessionraft_group_scheduled_next_due_seconds',
      "due time (unix seconds) of the next stored session of each replay class that holds sessions of a group's topic",
      (c) => (c.nextDueMs === null ? null : c.nextDueMs / 1000),
      Math.min,
    );
    gauge(
      'sessionraft_commits_of_held_restores',
      'SessionCommits applied while a consumer group held the restore (0 unless the scheduler is broken)',
      (s) => s.store().commitsOfHeldRestores,
    );
  }

  /** Observes one command's latency on the leader (`sessionraft_commit_seconds{op}`). */
  observeCommit(op: string, seconds: number): void {
    this.commit.observe(op, seconds);
  }

  /** A stored session of `replayClass` planned for restore `lateMs` after its due time (on the leader). */
  observeRestoreLateness(replayClass: number, lateMs: number): void {
    if (!Number.isInteger(replayClass) || replayClass < 0 || replayClass >= CLASS_SERIES_MAX) return;
    let s = this.classSeries[replayClass];
    if (s === undefined) this.classSeries[replayClass] = s = this.restoreLateness.series(String(replayClass), [String(replayClass)]);
    s.observe(lateMs / 1000);
  }

  /**
   * A restore's first delivery to the group whose ID's low half is `groupLow` handed to its
   * consumer `lateMs` after its due time (on the leader). `groupOf` names a group by its low half:
   * asked once per group, and for every kept group when the kept ones are at the bound (a sweep for
   * deleted groups, at most once per GROUP_SERIES_MAX observations of groups not kept).
   */
  observeDeliveryLateness(groupLow: number, lateMs: number, groupOf: (low: number) => { readonly topic: string; readonly name: string } | undefined): void {
    const s = this.groupSeries.get(groupLow)?.series ?? this.newGroupSeries(groupLow, groupOf);
    s?.observe(lateMs / 1000);
  }

  private newGroupSeries(
    groupLow: number,
    groupOf: (low: number) => { readonly topic: string; readonly name: string } | undefined,
  ): HistogramSeries | undefined {
    const g = groupOf(groupLow);
    if (g === undefined) return undefined;
    // Full: drop the series of deleted groups (at most once per GROUP_SERIES_MAX observations).
    if (this.groupSeries.size >= GROUP_SERIES_MAX && this.groupSweepIn-- <= 0) {
      this.groupSweepIn = GROUP_SERIES_MAX;
      for (const [low, kept] of this.groupSeries) {
        if (groupOf(low) !== undefined) continue;
        this.groupSeries.delete(low);
        // A group of the same topic and name made since shares the key: its series stays.
        if (![...this.groupSeries.values()].some((o) => o.key === kept.key)) this.deliveryLateness.remove(kept.key);
      }
    }
    if (this.groupSeries.size >= GROUP_SERIES_MAX) return (this.groupOverflow ??= this.deliveryLateness.series(OTHER_GROUP, [OTHER_GROUP, OTHER_GROUP]));
    const key = `${g.topic}\u0000${g.name}`;
    const series = this.deliveryLateness.series(key, [g.topic, g.name]);
    this.groupSeries.set(groupLow, { series, key });
    return series;
  }

  /** Connects the scrape-time sources (once the node is running). */
  attach(sources: MetricsSources): void {
    this.sources = sources;
  }

  async text(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
