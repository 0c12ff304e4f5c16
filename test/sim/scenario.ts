/**
 * One seeded scenario: a randomized cluster configuration, a client workload, a period of faults
 * (network, partitions, crashes, leadership transfers), then healing and the liveness check: a
 * leader is elected and a new proposal commits within 10 election timeouts, and every node
 * converges on the same state.
 */
import { defaultRaftConfig, type RaftConfig } from '../../machines/config.js';
import type { PlantedBug } from '../../machines/core.js';
import type { RaftNode } from '../../actors/raft/raftNode.js';
import type { CommandCallback } from '../../actors/sessions/sessionNode.js';
import { CommandKind, type Command } from '../../transport/commands/codec.js';
import { EntryKind, type Entry, type NodeId } from '../../machines/types.js';
import { decodeMembership, holdsMember } from '../../machines/membership.js';
import { SimCluster } from './cluster.js';
import { GroupsWorkload } from './groups.js';
import type { GroupsStats } from './groupsChecker.js';
import { SecurityWorkload, USERS } from './security.js';
import type { SecurityStats } from './securityChecker.js';
import { calmNetwork } from './network.js';
import { Rng } from './rng.js';
import type { Violation } from './checker.js';
import { LivenessWindow } from './liveness.js';

export const faultKinds = [
  'drop',
  'duplicate',
  'delay',
  'isolate',
  'isolate-leader',
  'split',
  'one-way',
  'crash',
  'crash-leader',
  'crash-all',
  'churn',
  'figure8',
  'flip-bit',
  'disk-error',
  'add-learner',
  'promote',
  'remove',
  'transfer',
] as const;
export type FaultKind = (typeof faultKinds)[number];

export interface ScenarioOptions {
  readonly seed: number;
  /** 3 or 5; when absent the seed chooses. */
  readonly nodeCount?: number;
  readonly bugs: ReadonlySet<PlantedBug>;
  readonly faults: readonly FaultKind[];
  readonly chaosMs: number;
  /** The real write-ahead log on the simulated faulty disk, with torn writes, bit flips and I/O errors. */
  readonly diskFaults?: boolean;
  /** Membership changes (add learners, promote, remove, replace) mixed with the other faults. */
  readonly membership?: boolean;
  /** Run the session store with a workload of session commands (create, append, rewrite, store, destroy). */
  readonly sessions?: boolean;
  /**
   * With diskFaults: half the crashes kill the process only (the machine and its page cache
   * survive), a node that stops itself restarts as a new process, and a sync fault also fails the
   * session store's next fsync (a failed fsync forgets what it covered). Its own random stream.
   */
  readonly processKills?: boolean;
  /** Issue 17, with `sessions` (on unless false): users, roles, permissions, and session commands that carry a principal (security.ts). */
  readonly security?: boolean;
  /**
   * A `logWindowBytesMax` of a few entries on every node (its own random stream): snapshots by
   * bytes, and a leader that releases its applied entries' data past the window, so that a
   * follower behind reads them back from the WAL (with diskFaults) or gets a snapshot.
   */
  readonly logWindow?: boolean;
  /**
   * With `sessions`: each node's clock as its planner, scheduler and dispatcher read it is off by up
   * to CLOCK_SKEW_MS_MAX either way, changed now and then during the chaos (its own random stream),
   * and true again at the heal (a clock ahead steps back): due times decided on clocks that
   * disagree, and the due floor per data file.
   */
  readonly clockSkew?: boolean;
}

/** --clock-skew: how far a node's clock may be off. The checker allows deliveries this early by the true clock. */
const CLOCK_SKEW_MS_MAX = 2000;

export interface ScheduleStats {
  sent: number;
  /** Answered OK: created, appended and stored. */
  ok: number;
  /** Answered with a result that is not OK (a step refused at apply, or by a port). */
  refused: number;
  /** Answered with an error (not leader, unknown outcome...). */
  failed: number;
  /** How the ones not answered OK ended: result or error code -> count. */
  codes: Record<string, number>;
}

export interface ScenarioResult {
  readonly seed: number;
  readonly nodeCount: number;
  readonly violations: readonly Violation[];
  readonly trace: readonly string[];
  readonly stats: {
    readonly simMs: number;
    readonly steps: number;
    readonly acked: number;
    readonly committed: number;
    readonly maxTerm: number;
    readonly faults: number;
    readonly snapshotsSent: number;
    /** Issue 15: linearizable reads checked, disks wiped, good windows that made progress. */
    readonly reads: number;
    readonly wipes: number;
    readonly liveWindows: number;
    /** Turns RaftNode cut into batches (proposalEntriesMax), and cuts moved back off a tied proposal (live nodes' counters). */
    readonly batchCuts: number;
    readonly batchCutsAtTie: number;
    /** --log-window: times a leader released applied data a follower behind still lacked (live nodes' counters). */
    readonly releasedPastWindow: number;
    /** --clock-skew: data files leaders started for a clock far behind the due floor. */
    readonly dueFloorFiles?: number;
    /** --process-kills: processes killed (the machine surviving), and the session store's fsyncs failed. */
    readonly kills?: number;
    readonly sessionFsyncsFailed?: number;
  };
  /** --sessions: the schedule requests (issue 20) and how each ended. */
  readonly schedules?: ScheduleStats;
  /** --sessions: the consumer groups' deliveries (issue 16). */
  readonly groups?: GroupsStats;
  /** --sessions with security (issue 17): permissions checked in log order. */
  readonly security?: SecurityStats;
}

const tickMs = 10;

function raftConfigFor(rng: Rng): RaftConfig {
  const appendEntriesMax = rng.pick([1, 1, 2, 3, 8, 64]);
  const appendBytesMax = rng.pick([64, 256, 4096]);
  // Keep the pipeline able to carry the workload (about 125 proposals/s against round trips of up
  // to ~30 ms with slow disks): at least 8 entries in flight per follower. Entries here are about
  // 35-60 bytes with their overhead.
  const entriesPerMessage = Math.max(1, Math.min(appendEntriesMax, Math.floor(appendBytesMax / 60)));
  const inflightAppendsMax = Math.max(rng.pick([1, 2, 4, 16]), Math.ceil(8 / entriesPerMessage));
  return {
    ...defaultRaftConfig,
    electionTimeoutTicksMin: 10,
    heartbeatIntervalTicks: rng.pick([1, 2, 3]),
    preVote: rng.chance(0.85),
    checkQuorum: rng.chance(0.85),
    inflightAppendsMax,
    appendEntriesMax,
    appendBytesMax,
    inflightBytesMax: rng.pick([1024, 4096, 1 << 20]),
    // Flow control: the leader refuses proposals beyond this backlog instead of queueing forever.
    uncommittedBytesMax: rng.pick([2048, 8192, 1 << 20]),
  };
}

export function runScenario(opts: ScenarioOptions): ScenarioResult {
  const rng = new Rng(opts.seed ^ 0x5eed);
  // Drawn from its own stream, so that naming the count (--nodes) replays the same run.
  const nodeCount = opts.nodeCount ?? new Rng(opts.seed ^ 0xc0de).pick([3, 5]);
  const drawn = raftConfigFor(rng);
  // With the session store: now and then a batch limit of a few entries, so that RaftNode cuts a
  // turn's proposals into chunks, between a schedule's tied commands never inside them. Its own
  // stream, so that the other draws replay as before.
  const raft = opts.sessions ? { ...drawn, proposalEntriesMax: new Rng(opts.seed ^ 0xc07).pick([3, 4, 7, drawn.proposalEntriesMax]) } : drawn;
  const electionTimeoutMs = raft.electionTimeoutTicksMin * tickMs;
  const cluster = new SimCluster({
    seed: opts.seed,
    nodeCount,
    bugs: opts.bugs,
    raft,
    tickMs,
    diskLatency: { syncMsMin: 0, syncMsMax: rng.pick([1, 2, 5, 20]) },
    snapshotEntries: rng.pick([10, 30, 100, 1000]),
    compactMarginEntries: rng.pick([0, 2, 10]),
    ...(opts.logWindow === true ? { logWindowBytesMax: new Rng(opts.seed ^ 0x1096).pick([256, 1024, 4096]) } : {}),
    ...(opts.diskFaults ? { diskFaults: true } : {}),
    ...(opts.diskFaults && opts.processKills ? { processKills: true } : {}),
    ...(opts.membership ? { spareCount: 3 } : {}),
    ...(opts.sessions ? { sessions: { replayDelaysMs: [30, 150, 600], dataFileBytesMax: rng.pick([2048, 8192, 65536]) } } : {}),
  });
  const sched = cluster.scheduler;
  if (opts.sessions && opts.clockSkew === true) cluster.clockSkewMsMax = CLOCK_SKEW_MS_MAX;
  const faultRng = rng.fork();
  // Issue 15's hard-state damage: its own stream, so that runs it does not touch replay as before.
  const hardStateRng = new Rng(opts.seed ^ 0x15);
  // Issue 15's other faults and the reads, each on its own stream for the same reason.
  const wipeRng = new Rng(opts.seed ^ 0x3170);
  const barredRng = new Rng(opts.seed ^ 0xba4);
  const readRng = new Rng(opts.seed ^ 0x4ead);
  const killRng = new Rng(opts.seed ^ 0x4b11);
  const workRng = rng.fork();
  let wipes = 0;
  // Issue 15: liveness whenever a majority of voters has been up and connected for 10 election
  // timeouts (the bound the heal check uses), not only after the heal (test/sim/liveness.ts).
  const liveWindow = new LivenessWindow(cluster, 10 * electionTimeoutMs);
  let faultCount = 0;
  let healed = false;
  let acked = 0;
  let nextValue = 1;
  let ackedAfterHealMs = -1;
  let healMs = 0;
  let proposing = true;

  // The client: proposes unique values to the node that leads (as a client following redirects
  // would), sometimes to a random node (which refuses).
  const onAck = (entry: Entry | undefined, proposedAt: number): void => {
    if (entry === undefined) return;
    acked++;
    cluster.checker.onAck(entry.index, entry.term);
    liveWindow.onAck(proposedAt);
    if (healed && proposedAt >= healMs && ackedAfterHealMs < 0) ackedAfterHealMs = sched.nowMs;
  };

  // Mostly the newest leader; sometimes any node that believes it leads (a stale leader too) or
  // any node at all (which refuses), as clients with stale views do.
  const pickTarget = (): RaftNode | null => {
    const leaders = cluster.liveNodes().filter((n) => n.role() === 'leader');
    const r = workRng.next();
    const target = r < 0.7 ? cluster.leader() : r < 0.9 && leaders.length > 0 ? workRng.pick(leaders) : cluster.node(workRng.pick(cluster.everStarted()));
    return target !== null && !target.isStopped() ? target : null;
  };

  // The hash-chain workload: unique values.
  const proposeValue = (target: RaftNode): void => {
    const value = nextValue++;
    const data = new Uint8Array(8);
    new DataView(data.buffer).setFloat64(0, value);
    const proposedAt = sched.nowMs;
    target.propose({ kind: EntryKind.command, data }, (err, _result, entry) => !err && onAck(entry, proposedAt));
  };

  // The session workload: sessions on a few topics, appended to, rewritten, stored for replay,
  // destroyed; restored ones come back through the scheduler.
  const sessions: Uint8Array[] = [];
  const topics = ['orders', 'carts', 'chats'];
  const schedules: ScheduleStats = { sent: 0, ok: 0, refused: 0, failed: 0, codes: {} };
  // Issue 16: consumer groups on those topics, their consumers and the delivery checker (groups.ts).
  const secured = opts.sessions && opts.security !== false;
  const groups = opts.sessions ? new GroupsWorkload(cluster, { seed: opts.seed, chaosMs: opts.chaosMs, topics, users: secured ? USERS : [] }) : null;
  // Issue 17: users and permissions; every session command as a user, through a port's check (security.ts).
  const security = secured ? new SecurityWorkload(cluster, { seed: opts.seed, chaosMs: opts.chaosMs, topics }) : null;
  const proposeSessionCommand = (target: RaftNode): void => {
    const host = cluster.host(target.id);
    if (host === null) return;
    const proposedAt = sched.nowMs;
    const done: CommandCallback = (err, result, entry) => {
      if (err || result === undefined) return;
      onAck(entry, proposedAt);
      if (result.ok && result.value !== null && entry !== undefined && sessions.length < 64) {
        const kind = host.store.getSession(result.value) !== null ? 'session' : 'other';
        if (kind === 'session' && !sessions.some((x) => sameId(x, result.value!))) sessions.push(result.value);
      }
    };
    // With security, as one of the workload's users (its client's envelope) after a port's check.
    const submit = (cmd: Command): boolean => (security !== null ? security.send(host, cmd, done) : (host.submit(cmd, done), true));
    // Restored sessions, and creates whose answer was lost, stay active; at the store's limit
    // (activeSessionsMax, 256 here) restores wait for room, for good once the run drains (seed
    // 120597 --process-kills ended with two stored sessions never restored). Past three quarters of
    // it the workload destroys the oldest active session instead; runs that never get there draw
    // as before.
    if (host.store.stats().activeSessions >= 192) {
      const oldest = host.store.listSessions()[0];
      if (oldest !== undefined) submit({ kind: CommandKind.sessionDestroy, session: oldest.id, envelope: null });
      return;
    }
    const r = workRng.next();
    const value = new TextEncoder().encode(`v${nextValue++}`);
    if (sessions.length === 0 || r < 0.15) {
      const topic = workRng.pick(topics);
      // Issue 20: a third of the creates are schedules (create + append + store in one request).
      if (r < 0.05) {
        const replayClass = nextValue % 3;
        let answered = false;
        const counted: CommandCallback = (err, result, entry) => {
          if (answered) {
            cluster.checker.violations.push({
              property: 'schedule-answered-twice',
              node: host.id,
              timeMs: sched.nowMs,
              detail: `a schedule on ${topic} was answered twice`,
            });
            return;
          }
          answered = true;
          if (err !== null) schedules.failed++;
          else if (result?.ok === true) schedules.ok++;
          else schedules.refused++;
          const code = err?.code ?? (result?.ok === true ? null : (result?.code ?? 'none'));
          if (code !== null) schedules.codes[code] = (schedules.codes[code] ?? 0) + 1;
          done(err, result, entry);
        };
        schedules.sent++;
        if (security === null) host.scheduleSession(topic, value, replayClass, null, counted);
        else if (!security.schedule(host, topic, value, replayClass, counted)) schedules.sent--;
      } else submit({ kind: CommandKind.sessionCreate, topic, envelope: null });
      return;
    }
    const k = workRng.int(0, sessions.length - 1);
    const session = sessions[k]!;
    if (r < 0.6) submit({ kind: CommandKind.sessionAppend, session, bytes: value, envelope: null });
    else if (r < 0.7) submit({ kind: CommandKind.sessionRewrite, session, bytes: value, envelope: null });
    else if (r < 0.9) {
      const replayClass = workRng.int(0, 2);
      // (Kept in the list when a port refused it: nothing was sent.)
      if (security === null || security.store(host, session, replayClass, done)) sessions.splice(k, 1);
      if (security === null) host.storeSession(session, replayClass, null, done);
    } else if (submit({ kind: CommandKind.sessionDestroy, session, envelope: null })) sessions.splice(k, 1);
  };

  const propose = (): void => {
    if (!proposing) return;
    const target = pickTarget();
    if (target !== null) {
      if (opts.sessions) proposeSessionCommand(target);
      else proposeValue(target);
    }
    sched.schedule(workRng.int(1, 15), propose);
  };

  // Issue 15: linearizable reads through the product's ReadIndex path (the session node's read in
  // --sessions runs), mostly on the newest leader; each is checked against the committed history.
  const read = (): void => {
    if (!proposing) return;
    const leaders = cluster.liveNodes().filter((n) => n.role() === 'leader');
    const r = readRng.next();
    const target = r < 0.8 ? cluster.leader() : leaders.length > 0 ? readRng.pick(leaders) : null;
    if (target !== null && !target.isStopped()) {
      const started = cluster.checker.readStarted();
      const done = (err: unknown): void => {
        if (err === null && !target.isStopped()) cluster.checker.onRead(target, started, target.status().appliedIndex);
      };
      const host = cluster.host(target.id);
      if (host !== null) host.read(done);
      else target.read(done);
    }
    sched.schedule(readRng.int(5, 40), read);
  };

  const sampleLiveness = (): void => {
    if (!proposing) return;
    const detail = liveWindow.sample(sched.nowMs);
    if (detail !== null && cluster.error === null) cluster.checker.violations.push({ property: 'liveness', node: null, timeMs: sched.nowMs, detail });
    sched.schedule(2 * tickMs, sampleLiveness);
  };

  // Issue 15: nodes that are barred or whose terms are unknown are restarted too (the bar and the
  // term-unknown marker must outlive any number of restarts).
  const restartBarred = (): void => {
    if (healed) return;
    const barred = cluster.liveNodes().filter((n) => n.status().votingBarred || n.termUnknown());
    if (barred.length > 0 && barredRng.chance(0.4)) {
      const victim = barredRng.pick(barred).id;
      const downMs = barredRng.int(20, 4 * electionTimeoutMs);
      cluster.crash(victim);
      cluster.trace.note(sched.nowMs, `fault restart-barred: crash ${victim} (barred or terms unknown), restart after ${downMs}ms`);
      faultCount++;
      sched.schedule(downMs, () => !healed && cluster.restart(victim));
    }
    sched.schedule(barredRng.int(2, 6) * electionTimeoutMs, restartBarred);
  };

  // Issue 15 (--membership): a node whose disk was wiped re-joins as an operator re-adds it:
  // removed while it is a barred voter, added back as a learner (its bar lifts once the
  // configuration holds it as one), promoted once it no longer is barred.
  const rejoining = new Set<NodeId>();
  /**
   * Issue 15: `node`'s removal is committed (applied on `leader`): the checker keeps its entry, the
   * newest configuration entry of the leader's log without `node` whose predecessor held it (a
   * later change may have been appended since the removal committed).
   */
  const noteRemoval = (leader: RaftNode, node: NodeId): void => {
    const log = leader.core.log;
    const holds = (e: Entry | null): boolean => holdsMember(e === null ? leader.core.baseMembership : decodeMembership(e.data), node);
    for (let e = log.lastConfigEntry(); e !== null;) {
      const prev = log.configEntryAt(e.index - 1);
      if (prev !== null && prev.index >= e.index) break; // compacted past: the predecessor is unknown
      if (!holds(e) && holds(prev)) {
        cluster.checker.removed.set(node, { index: e.index, term: e.term });
        return;
      }
      e = prev;
    }
    throw new Error(`the removal of ${node} applied on ${leader.id} is not among its configuration entries`);
  };
  let rejoinBusy = false;
  const rejoinStep = (): void => {
    if (healed) return;
    sched.schedule(electionTimeoutMs, rejoinStep);
    const leader = cluster.leader();
    if (leader === null || rejoinBusy) return;
    for (const w of rejoining) {
      const m = leader.core.membership;
      const n = cluster.node(w);
      const st = n === null || n.isStopped() ? null : n.status();
      const change = (what: 'remove' | 'addLearner' | 'promote'): void => {
        rejoinBusy = true;
        if (what === 'addLearner') cluster.checker.removed.delete(w);
        cluster.trace.note(sched.nowMs, `rejoin ${w}: ${what}`);
        cluster.guard(() =>
          leader.changeMembership({ type: what, node: w }, (err) => {
            rejoinBusy = false;
            cluster.trace.note(sched.nowMs, `rejoin ${w}: ${what} ${err ? err.message : 'applied'}`);
            if (err === null && what === 'remove') noteRemoval(leader, w);
          }),
        );
      };
      if (m.voters.includes(w)) {
        if (st !== null && !st.votingBarred && !n!.termUnknown()) {
          rejoining.delete(w);
          cluster.trace.note(sched.nowMs, `rejoin ${w}: a voter again`);
        } else if (st !== null && st.votingBarred && m.voters.length >= 3) change('remove');
      } else if (m.learners.includes(w)) {
        if (st !== null && !st.votingBarred) change('promote');
      } else if (st !== null) change('addLearner');
      return;
    }
  };

  const heal = (): void => {
    cluster.network.heal();
    cluster.network.faults = { ...calmNetwork };
    for (const disk of cluster.simDisks.values()) disk.clearFaults();
    for (const id of cluster.everStarted()) cluster.sessionDisk(id)?.clearFaults();
    for (const id of cluster.everStarted()) cluster.restart(id);
    // --clock-skew: every clock true again (one that was ahead steps back).
    cluster.clockSkewMs.clear();
    healed = true;
    healMs = sched.nowMs;
    cluster.trace.note(sched.nowMs, 'heal: network healed, every node up');
    // Issue 15 (seed 676 --disk-faults): a disk error injected just before the heal can stop a node
    // after it; an operator restarts a fail-stopped node, so the simulator does too. Its own
    // timer: the runs' random streams are untouched.
    // Seed 70930 (--disk-faults --sessions): a node whose start was under way at the heal (so the
    // heal's restart left it alone) can fail it on a fault armed before; it is down, not stopped,
    // and is restarted the same way.
    const restartStopped = (): void => {
      for (const id of cluster.everStarted()) {
        const n = cluster.node(id);
        if (n !== null && n.isStopped()) {
          cluster.trace.note(sched.nowMs, `${id} stopped after the heal: restart it`);
          cluster.restart(id);
        } else if (n === null && !cluster.isBooting(id)) {
          cluster.trace.note(sched.nowMs, `${id} down after the heal (its start failed): restart it`);
          cluster.restart(id);
        }
      }
      sched.schedule(electionTimeoutMs, restartStopped);
    };
    sched.schedule(electionTimeoutMs, restartStopped);
  };

  // The node whose storage was damaged on purpose, until it was repaired.
  let damaged: NodeId | null = null;
  let damagedAtMs = 0;
  const refreshDamaged = (): void => {
    if (damaged === null) return;
    const n = cluster.node(damaged);
    // Repaired: it booted after the damage, and it no longer reports corruption.
    if (
      n !== null &&
      !n.isStopped() &&
      cluster.bootedAtMs(damaged) > damagedAtMs &&
      !n.status().corrupt &&
      !n.termUnknown() &&
      !n.status().votingBarred &&
      !rejoining.has(damaged)
    )
      damaged = null;
  };

  const injectFault = (): void => {
    if (healed) return;
    // With --membership, membership changes are two in five faults (else they would be rare).
    const membershipKinds = opts.faults.filter((k) => k === 'add-learner' || k === 'promote' || k === 'remove');
    const kind = opts.membership && membershipKinds.length > 0 && faultRng.chance(0.4) ? faultRng.pick(membershipKinds) : faultRng.pick(opts.faults);
    const durationMs = faultRng.int(20, 8 * electionTimeoutMs);
    const note = (text: string): void => cluster.trace.note(sched.nowMs, `fault ${kind}: ${text} for ${durationMs}ms`);
    const later = (fn: () => void): void => sched.schedule(durationMs, () => !healed && fn());
    faultCount++;
    const net = cluster.network;
    const ids = cluster.everStarted();
    const leaderId = (): NodeId => cluster.leader()?.id ?? faultRng.pick(ids);
    switch (kind) {
      case 'drop': {
        net.faults = { ...net.faults, dropRate: faultRng.pick([0.05, 0.2, 0.5]) };
        note(`drop ${net.faults.dropRate}`);
        later(() => (net.faults = { ...net.faults, dropRate: 0 }));
        break;
      }
      case 'duplicate': {
        net.faults = { ...net.faults, duplicateRate: faultRng.pick([0.1, 0.3]) };
        note('duplicate');
        later(() => (net.faults = { ...net.faults, duplicateRate: 0 }));
        break;
      }
      case 'delay': {
        net.faults = { ...net.faults, delayMsMax: faultRng.pick([5, 20, 60]), slowRate: 0.1, slowDelayMsMax: faultRng.pick([50, 200, 500]), reorder: true };
        note(`delay up to ${net.faults.delayMsMax}ms, slow ${net.faults.slowDelayMsMax}ms (reorders)`);
        later(() => (net.faults = { ...net.faults, delayMsMax: calmNetwork.delayMsMax, slowRate: 0, reorder: false }));
        break;
      }
      case 'isolate':
      case 'isolate-leader': {
        const victim = kind === 'isolate' ? faultRng.pick(ids) : leaderId();
        net.partition(
          [victim],
          ids.filter((x) => x !== victim),
        );
        note(`isolate ${victim}`);
        later(() => net.heal());
        break;
      }
      case 'split': {
        const shuffled = [...ids].sort(() => faultRng.next() - 0.5);
        const minority = shuffled.slice(0, Math.floor(ids.length / 2));
        net.partition(minority, shuffled.slice(minority.length));
        note(`split ${minority.join(',')} | ${shuffled.slice(minority.length).join(',')}`);
        later(() => net.heal());
        break;
      }
      case 'one-way': {
        const from = faultRng.chance(0.5) ? leaderId() : faultRng.pick(ids);
        const others = ids.filter((x) => x !== from);
        const count = faultRng.int(1, others.length);
        const cut = others.sort(() => faultRng.next() - 0.5).slice(0, count);
        const inbound = faultRng.chance(0.5);
        for (const x of cut) {
          if (inbound) net.cutLink(x, from);
          else net.cutLink(from, x);
        }
        note(`one-way ${inbound ? `${cut.join(',')} -/-> ${from}` : `${from} -/-> ${cut.join(',')}`}`);
        later(() => net.heal());
        break;
      }
      case 'crash':
      case 'crash-leader': {
        const victim = kind === 'crash' ? faultRng.pick(ids) : leaderId();
        if (opts.diskFaults && opts.processKills && killRng.chance(0.5)) {
          // The process dies; the machine, its disk and page cache do not.
          cluster.kill(victim);
          note(`kill ${victim} (process only)`);
          later(() => cluster.restart(victim));
          break;
        }
        cluster.crash(victim);
        note(`crash ${victim}`);
        // Issue 15: sometimes the disk is wiped (one damaged node at a time). The node restarts on
        // empty storage without --bootstrap: barred, its terms unknown; with --membership it
        // re-joins (removed, added as a learner, promoted).
        refreshDamaged();
        if (damaged === null && wipeRng.chance(0.12)) {
          cluster.wipe(victim);
          wipes++;
          damaged = victim;
          damagedAtMs = sched.nowMs;
          if (opts.membership) rejoining.add(victim);
          note('and wipe its disk');
          later(() => cluster.restart(victim));
          break;
        }
        // Issue 15: with --disk-faults, the crash sometimes damages the node's hard state (a flipped
        // bit, a truncated file, a lost file). Drawn from its own stream: runs without it stay the
        // same as before. One damaged node at a time.
        refreshDamaged();
        const disk = cluster.simDisks.get(victim);
        const hsPath = `data/${victim}/hardstate`;
        if (opts.diskFaults && damaged === null && disk !== undefined && disk.paths().includes(hsPath) && hardStateRng.chance(0.3)) {
          const how = hardStateRng.pick(['flip', 'truncate', 'lose'] as const);
          if (how === 'flip') disk.flipBit(hsPath);
          else if (how === 'truncate') disk.truncateFile(hsPath, Math.floor(hardStateRng.next() * 20));
          else disk.loseFile(hsPath);
          cluster.hardStateDamaged(victim);
          damaged = victim;
          damagedAtMs = sched.nowMs;
          note(`and ${how} its hard state`);
        }
        later(() => cluster.restart(victim));
        break;
      }
      case 'crash-all': {
        // A power loss of the whole cluster: only what each node made durable survives.
        for (const id of ids) cluster.crash(id);
        note('crash every node');
        later(() => ids.forEach((id) => cluster.restart(id)));
        break;
      }
      case 'churn': {
        // Every new leader loses its links a few messages into its term (or crashes soon after
        // its election), then comes back: the partial replications of Raft's Figure 8.
        note('cut off each new leader a few messages into its term');
        const until = sched.nowMs + durationMs;
        cluster.onNewLeader = (n) => {
          if (sched.nowMs > until || healed) return;
          const victim = n.id;
          // Long enough, mostly, for the cut-off leader to step down before its links return.
          const downMs = faultRng.chance(0.2) ? faultRng.int(5, electionTimeoutMs) : faultRng.int(2 * electionTimeoutMs, 5 * electionTimeoutMs);
          if (faultRng.chance(0.25)) {
            sched.schedule(faultRng.int(0, 20), () => {
              if (healed) return;
              cluster.crash(victim);
              sched.schedule(downMs, () => !healed && cluster.restart(victim));
            });
            return;
          }
          const budgets: string[] = [];
          for (const x of ids) {
            if (x === victim) continue;
            const messages = faultRng.pick([0, 0, 0, 1, 2, 2, 3]);
            budgets.push(`${x}:${messages}`);
            net.breakAfter(victim, x, messages, downMs);
          }
          cluster.trace.note(sched.nowMs, `churn: ${victim}'s links break after ${budgets.join(' ')} messages, for ${downMs}ms`);
        };
        later(() => (cluster.onNewLeader = null));
        break;
      }
      case 'figure8': {
        // An adversarial schedule after Raft's Figure 8: (1) the leader loses its outbound links
        // and keeps appending (a tail nobody else has); (2) the next leader is cut off the moment
        // it is elected (a conflicting tail of a higher term); (3) the leader after that reaches
        // its followers only for a few messages (partial replication of old-term entries), and is
        // cut off for longer than (2), so that (2) can come back and win.
        const first = cluster.leader();
        if (first === null) break;
        const holdMs = 6 * electionTimeoutMs;
        for (const x of ids) if (x !== first.id) net.breakAfter(first.id, x, 0, holdMs);
        note(`cut ${first.id}'s outbound links`);
        let second: string | null = null;
        cluster.onNewLeader = (n) => {
          if (healed) return;
          if (second === null && n.id !== first.id) {
            second = n.id;
            for (const x of ids) if (x !== n.id) net.breakAfter(n.id, x, 0, holdMs);
            for (const x of ids) if (x !== first.id) net.uncutLink(first.id, x);
            cluster.trace.note(sched.nowMs, `figure8: cut ${n.id} at once; restore ${first.id}`);
            return;
          }
          if (second !== null && n.id !== second) {
            const budgets: string[] = [];
            for (const x of ids) {
              if (x === n.id) continue;
              const m = faultRng.pick([0, 1, 2, 3]);
              budgets.push(`${x}:${m}`);
              net.breakAfter(n.id, x, m, 2 * holdMs);
            }
            cluster.trace.note(sched.nowMs, `figure8: ${n.id}'s links break after ${budgets.join(' ')} messages`);
            cluster.onNewLeader = null;
          }
        };
        sched.schedule(3 * holdMs, () => {
          if (cluster.onNewLeader !== null) cluster.onNewLeader = null;
        });
        break;
      }
      case 'flip-bit': {
        // A bit rots in a node's stored log or snapshot; the node finds out when it restarts.
        // One damaged node at a time: losing the same entries on a majority is beyond Raft.
        if (!opts.diskFaults) break;
        refreshDamaged();
        if (damaged !== null) break;
        const victim = faultRng.pick(ids);
        const disk = cluster.simDisks.get(victim);
        const files = disk?.paths().filter((p) => /\/(wal\/[0-9]+\.wal|snap\/snap-[0-9]+-[0-9]+\.snap)$/.test(p)) ?? [];
        if (disk === undefined || files.length === 0) break;
        const flip = disk.flipBit(faultRng.pick(files));
        if (flip === null) break;
        damaged = victim;
        damagedAtMs = sched.nowMs;
        note(`flip bit ${flip.bit} at ${flip.path}:${flip.offset}, then restart ${victim}`);
        cluster.crash(victim);
        later(() => cluster.restart(victim));
        break;
      }
      case 'disk-error': {
        // The next write or fsync fails (EIO, or ENOSPC): the node must stop, never retry.
        if (!opts.diskFaults) break;
        const victim = faultRng.pick(ids);
        const disk = cluster.simDisks.get(victim);
        if (disk === undefined || !cluster.isUp(victim)) break;
        const op = faultRng.pick(['write', 'sync'] as const);
        const code = faultRng.pick(['EIO', 'ENOSPC'] as const);
        disk.failNext(op, code);
        // --process-kills: the session store's next fsync too (its data files, at a snapshot).
        if (opts.processKills && op === 'sync') cluster.sessionDisk(victim)?.failNextFsync();
        note(`next ${op} of ${victim} fails with ${code}; restart it afterwards`);
        later(() => cluster.restart(victim));
        break;
      }
      case 'add-learner': {
        // A new node (a fresh identity, never used before) joins as a learner.
        if (!opts.membership) break;
        const leader = cluster.leader();
        const spare = cluster.ids.find((id) => !cluster.everStarted().includes(id));
        if (leader === null || spare === undefined) break;
        const m = leader.core.membership;
        note(`add ${spare} as a learner`);
        cluster.join(spare, { voters: m.voters, learners: [...m.learners, spare] });
        cluster.guard(() =>
          leader.changeMembership({ type: 'addLearner', node: spare }, (err) =>
            cluster.trace.note(sched.nowMs, `add ${spare}: ${err ? err.message : 'applied'}`),
          ),
        );
        break;
      }
      case 'promote': {
        if (!opts.membership) break;
        const leader = cluster.leader();
        if (leader === null || leader.core.membership.learners.length === 0) break;
        const node = faultRng.pick(leader.core.membership.learners);
        note(`promote ${node}`);
        cluster.guard(() =>
          leader.changeMembership({ type: 'promote', node }, (err) => cluster.trace.note(sched.nowMs, `promote ${node}: ${err ? err.message : 'applied'}`)),
        );
        break;
      }
      case 'remove': {
        // Remove a member (a voter only while at least three stay); the leader hands over first.
        if (!opts.membership) break;
        const leader = cluster.leader();
        if (leader === null) break;
        const m = leader.core.membership;
        const candidates = [...(m.voters.length > 3 ? m.voters : []), ...m.learners];
        if (candidates.length === 0) break;
        const node = faultRng.pick(candidates);
        if (node === leader.id) {
          const to = faultRng.pick(m.voters.filter((x) => x !== leader.id));
          note(`remove the leader ${node}: transfer to ${to} first`);
          cluster.guard(() => leader.transferLeadership(to));
          break;
        }
        note(`remove ${node}`);
        cluster.guard(() =>
          leader.changeMembership({ type: 'remove', node }, (err) => {
            cluster.trace.note(sched.nowMs, `remove ${node}: ${err ? err.message : 'applied'}`);
            // Issue 15: its removal is committed: it must never move the term of a member holding it.
            if (err === null) noteRemoval(leader, node);
          }),
        );
        break;
      }
      case 'transfer': {
        const leader = cluster.leader();
        if (leader !== null) {
          const to = faultRng.pick(ids.filter((x) => x !== leader.id));
          note(`transfer ${leader.id} -> ${to}`);
          cluster.guard(() => leader.transferLeadership(to));
        }
        break;
      }
    }
    sched.schedule(faultRng.int(20, 4 * electionTimeoutMs), injectFault);
  };

  cluster.start();
  groups?.start();
  security?.start();
  sched.schedule(electionTimeoutMs, propose);
  sched.schedule(electionTimeoutMs, read);
  sched.schedule(electionTimeoutMs, sampleLiveness);
  sched.schedule(barredRng.int(2, 6) * electionTimeoutMs, restartBarred);
  if (opts.membership) sched.schedule(electionTimeoutMs, rejoinStep);
  if (cluster.clockSkewMsMax > 0) {
    const skewRng = new Rng(opts.seed ^ 0x5cee);
    const skewClock = (): void => {
      if (healed) return;
      const id = skewRng.pick(cluster.everStarted());
      const r = skewRng.next();
      const ms = r < 0.3 ? 0 : r < 0.65 ? skewRng.int(50, CLOCK_SKEW_MS_MAX) : -skewRng.int(50, CLOCK_SKEW_MS_MAX);
      cluster.clockSkewMs.set(id, ms);
      cluster.trace.note(sched.nowMs, `clock of ${id} off by ${ms} ms`);
      sched.schedule(skewRng.int(100, 1000), skewClock);
    };
    sched.schedule(electionTimeoutMs, skewClock);
  }
  if (opts.faults.length > 0) sched.schedule(faultRng.int(electionTimeoutMs, 4 * electionTimeoutMs), injectFault);
  sched.schedule(opts.chaosMs, heal);
  cluster.runUntil(opts.chaosMs);

  // Liveness: within 10 election timeouts of healing, a leader and a new acknowledged proposal.
  const livenessDeadlineMs = opts.chaosMs + 10 * electionTimeoutMs;
  cluster.runUntil(livenessDeadlineMs, () => ackedAfterHealMs >= 0);
  const failed = (): boolean => cluster.error !== null || cluster.checker.violations.length > 0;
  if (!failed() && ackedAfterHealMs < 0) {
    cluster.checker.violations.push({
      property: 'liveness',
      node: null,
      timeMs: sched.nowMs,
      detail: `no proposal made after healing was acknowledged within ${10 * electionTimeoutMs}ms (leader: ${cluster.leader()?.id ?? 'none'})`,
    });
  }
  // Convergence: every node applies the same history.
  // The members at the end: the leader's configuration (removed nodes may still run; they are out).
  const finalMembers = (): NodeId[] => {
    const m = cluster.leader()?.core.membership;
    return m === undefined ? cluster.everStarted() : [...m.voters, ...m.learners];
  };
  const converged = (): boolean => {
    const members = finalMembers();
    const target = cluster.checker.maxCommittedIndex;
    return members.every((id) => {
      const n = cluster.node(id);
      return n !== null && !n.isStopped() && n.status().appliedIndex >= target;
    });
  };
  // Issue 16: the workload stops and the consumers acknowledge what they get, until every stored
  // session was restored, delivered to each group, settled and committed (checked in finish).
  if (groups !== null && !failed()) {
    proposing = false;
    groups.drain(sched.nowMs + 8000, 1000);
  }
  if (!failed()) {
    const convergeDeadlineMs = sched.nowMs + 20 * electionTimeoutMs;
    // Stop proposing so that the committed index stops moving.
    proposing = false;
    cluster.runUntil(convergeDeadlineMs, () => sched.nowMs > ackedAfterHealMs + electionTimeoutMs && converged());
    if (!failed() && !converged()) {
      const s = finalMembers()
        .map((id) => `${id}:${cluster.node(id)?.status().appliedIndex ?? 'down'}`)
        .join(' ');
      cluster.checker.violations.push({
        property: 'convergence',
        node: null,
        timeMs: sched.nowMs,
        detail: `nodes did not all apply through ${cluster.checker.maxCommittedIndex} (${s})`,
      });
    }
  }
  if (!failed()) {
    const members = finalMembers();
    cluster.checker.checkAcked(members.map((id) => cluster.node(id)!));
    // Every member's state machine holds the same state (the store's digest, or the hash chain's).
    const digests = new Set(members.map((id) => cluster.digest(id)));
    if (digests.size > 1) {
      cluster.checker.violations.push({
        property: 'state-digest',
        node: null,
        timeMs: sched.nowMs,
        detail: `state digests differ after healing: ${[...digests].join(' ')}`,
      });
    }
    groups?.finish(members);
    security?.checker.finish(members.flatMap((id) => (cluster.host(id) === null ? [] : [{ id, store: cluster.host(id)!.store }])));
  }
  const violations: Violation[] = [...cluster.checker.violations];
  if (cluster.error !== null) {
    violations.unshift({ property: 'invariant', node: null, timeMs: sched.nowMs, detail: cluster.error.stack ?? cluster.error.message });
  }
  let maxTerm = 0;
  let snapshotsSent = 0;
  let batchCuts = 0;
  let batchCutsAtTie = 0;
  let releasedPastWindow = 0;
  for (const n of cluster.liveNodes()) {
    maxTerm = Math.max(maxTerm, n.term());
    snapshotsSent += n.counters.get('snapshot-sent') ?? 0;
    batchCuts += n.counters.get('proposal-batch-cut') ?? 0;
    batchCutsAtTie += n.counters.get('proposal-batch-cut-at-tie') ?? 0;
    releasedPastWindow += n.counters.get('applied-released-past-window') ?? 0;
  }
  return {
    seed: opts.seed,
    nodeCount,
    violations,
    trace: violations.length > 0 ? cluster.trace.lines() : [],
    stats: {
      simMs: sched.nowMs,
      steps: sched.steps,
      acked,
      committed: cluster.checker.maxCommittedIndex,
      maxTerm,
      faults: faultCount,
      snapshotsSent,
      reads: cluster.checker.readsChecked,
      wipes,
      liveWindows: liveWindow.progressCount,
      batchCuts,
      batchCutsAtTie,
      releasedPastWindow,
      ...(cluster.clockSkewMsMax > 0 ? { dueFloorFiles: cluster.dueFloorFilesAll() } : {}),
      ...(opts.processKills ? { kills: cluster.kills, sessionFsyncsFailed: cluster.sessionFsyncsFailed() } : {}),
    },
    ...(opts.sessions ? { schedules } : {}),
    ...(groups !== null ? { groups: groups.stats } : {}),
    ...(security !== null ? { security: security.stats } : {}),
  };
}

function sameId(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}
