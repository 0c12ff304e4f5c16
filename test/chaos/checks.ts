/**
 * What the harness checks after a run, once the cluster is healed and every node restarted:
 * convergence (one leader, every node applied the same index), liveness (a final write commits),
 * each node's final state (read from the node itself with `peek`, no read barrier) in the queue
 * checker's format, the store digests, the linearizability of the history, the queue checks,
 * stale reads counted directly, and the replay sessions.
 */
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import {
  checkOperations,
  checkQueue,
  formatCounterexample,
  sessionsModel,
  type CheckResult,
  type FinalState,
  type NodeState,
  type Operation,
  type QueueReport,
} from '../lincheck/index.js';
import { waitFor } from '../node/helpers.js';
import type { ChaosCluster, Status } from './cluster.js';
import type { SeenAnswer, SeenDelivery } from './consumers.js';
import type { ReplaySession } from './workload.js';

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/**
 * Waits until every node (every member: `cluster.ids`) runs, one leads, all applied the leader's
 * last index, and each one's configuration in force (voters and learners) is exactly the members.
 * Returns the statuses (with digests).
 */
export async function waitConverged(cluster: ChaosCluster, timeoutMs: number): Promise<Status[]> {
  const members = [...cluster.ids].sort().join(',');
  return waitFor(
    `every node (${members}) applied the same index under one leader, with those members in force`,
    async () => {
      const st = await Promise.all(cluster.ids.map((id) => cluster.status(id, true)));
      if (st.some((s) => s === null)) return null;
      const leaders = st.filter((s) => s!.role === 'leader');
      if (leaders.length !== 1) return null;
      const l = leaders[0]!;
      if (!st.every((s) => s!.leader === l.node && s!.appliedIndex === l.lastIndex && s!.commitIndex === l.lastIndex)) return null;
      // The digests must be of that index (a node recomputes its digest at most once a second).
      if (!st.every((s) => (s!.store as { digestIndex?: number } | undefined)?.digestIndex === s!.appliedIndex)) return null;
      if (!st.every((s) => [...(s!.voters as string[]), ...(s!.learners as string[])].sort().join(',') === members)) return null;
      return st as Status[];
    },
    timeoutMs,
    100,
  );
}

export function statusClient(cluster: ChaosCluster, clusterId: string): SessionraftClient {
  // A certificate login: the checks' and the final write's client must not wait for a password hash on a loaded node.
  return createClient({
    ...cluster.clientAccess('certificate'),
    endpoints: cluster.endpoints(),
    clusterId,
    requestTimeoutMs: 1000,
    operationTimeoutMs: 10_000,
  });
}

/**
 * Every node's own copy of every session: the ids from a linearizable `list` on the leader, then
 * `peek` on each node (its applied state). Sessions on `excludeTopics` are left out.
 */
export async function finalState(
  cluster: ChaosCluster,
  c: SessionraftClient,
  excludeTopics: ReadonlySet<string>,
): Promise<FinalState & { truncated: boolean }> {
  const listed = await c.list({});
  const ids = listed.sessions.filter((s) => !excludeTopics.has(s.topic)).map((s) => s.id);
  const nodes: NodeState[] = [];
  for (const node of cluster.ids) {
    const ep = cluster.endpoint(node);
    const sessions: Record<string, { topic: string; records: string[] }> = {};
    for (let k = 0; k < ids.length; k += 32) {
      const part = ids.slice(k, k + 32);
      const got = await Promise.all(part.map((id) => c.peek(id, { endpoint: ep })));
      got.forEach((s, j) => {
        if (s !== null) sessions[part[j]!] = { topic: s.topic, records: s.records.map(text) };
      });
    }
    nodes.push({ node, sessions });
  }
  return { nodes, truncated: listed.truncated };
}

/**
 * Reads that are certainly stale (each alone is a linearizability violation), counted directly so
 * that the summary can say how many: a read (ok) of session k misses a value v although
 * - the append of v completed before the read was invoked, or an earlier read (completed before
 *   this one was invoked) returned v, and
 * - no rewrite or destroy of k (ok or info) could lie between them: none was invoked before the
 *   read returned and returned (or may return) after v's append or read was invoked.
 * A read that returns null for a session created (ok) before it, with no destroy that could
 * precede it, is stale too. The linearizability checker is the verdict; this is the count.
 */
export function countStaleReads(ops: readonly Operation[]): { count: number; examples: string[] } {
  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    if (op.key === null) continue;
    let l = byKey.get(op.key);
    if (l === undefined) byKey.set(op.key, (l = []));
    l.push(op);
  }
  let count = 0;
  const examples: string[] = [];
  for (const [key, list] of byKey) {
    const erasers = list.filter((o) => (o.f === 'rewrite' || o.f === 'destroy') && (o.outcome === 'ok' || o.outcome === 'info'));
    // Evidence that v is in the session from time `since` (the call of the op proving it) on.
    const evidence: { v: string; since: number; done: number }[] = [];
    for (const o of list) {
      if (o.outcome !== 'ok') continue;
      if (o.f === 'append' || o.f === 'rewrite') evidence.push({ v: String(o.input), since: o.call, done: o.ret });
      if (o.f === 'read' && Array.isArray(o.output)) for (const v of o.output) evidence.push({ v: String(v), since: o.call, done: o.ret });
      if (o.f === 'create') evidence.push({ v: '\u0000created', since: o.call, done: o.ret });
    }
    const destroys = list.filter((o) => o.f === 'destroy' && (o.outcome === 'ok' || o.outcome === 'info'));
    for (const r of list) {
      if (r.f !== 'read' || r.outcome !== 'ok') continue;
      const seen = new Set(Array.isArray(r.output) ? r.output.map(String) : []);
      let stale: string | null = null;
      for (const e of evidence) {
        if (e.done >= r.call) continue; // not known before this read started
        if (e.v === '\u0000created') {
          if (r.output === null && !destroys.some((d) => d.call < r.ret)) stale = 'null for a live session';
        } else if (!seen.has(e.v) && !erasers.some((x) => x.call < r.ret && x.ret > e.since)) {
          stale = `missing ${e.v}`;
        }
        if (stale !== null) break;
      }
      if (stale !== null) {
        count++;
        if (examples.length < 5) examples.push(`read #${r.id} (p${r.process}) of ${key}: ${stale}`);
      }
    }
  }
  return { count, examples };
}

export interface LincheckSummary {
  readonly verdict: CheckResult['verdict'];
  readonly elapsedMs: number;
  readonly operations: number;
  readonly partitions: number;
  readonly unknownReason?: string;
  readonly counterexample?: string;
}

export function lincheck(ops: readonly Operation[], timeoutMs: number): LincheckSummary {
  const r = checkOperations(sessionsModel, ops, { timeoutMs });
  return {
    verdict: r.verdict,
    elapsedMs: Math.round(r.elapsedMs),
    operations: r.operationsCount,
    partitions: r.partitionsCount,
    ...(r.unknownReason !== undefined ? { unknownReason: r.unknownReason } : {}),
    ...(r.counterexample !== undefined ? { counterexample: formatCounterexample(r.counterexample) } : {}),
  };
}

export function queueCheck(ops: readonly Operation[], final: FinalState): QueueReport {
  return checkQueue(ops, final);
}

export interface ReplayReport {
  /** Sessions of the replay workload (created ok). */
  readonly sessions: number;
  /** Stores acknowledged. */
  readonly storedOk: number;
  /** Acknowledged stores whose session came back (active again with its records). */
  readonly restored: number;
  /** Problems: a session missing, wrong records, nodes that disagree. */
  readonly problems: string[];
}

/**
 * Every replay session must end active on every node with its acknowledged records (a stored one
 * after its replay; an unstored one never left): records are the sent values in order, containing
 * every acknowledged one, each at most once. Waits (bounded) for stores still due.
 */
export async function checkReplay(cluster: ChaosCluster, c: SessionraftClient, sessions: readonly ReplaySession[], dueWithinMs: number): Promise<ReplayReport> {
  const problems: string[] = [];
  const want = sessions;
  // Stored sessions come back when due by the leader's clock: wait until all are active (bounded).
  try {
    await waitFor(
      `${want.length} replay sessions active again`,
      async () => {
        for (const s of want) if ((await c.get(s.id)) === null) return false;
        return true;
      },
      dueWithinMs,
      200,
    );
  } catch (err) {
    problems.push((err as Error).message);
  }
  let restored = 0;
  for (const s of want) {
    const copies = await Promise.all(cluster.ids.map((id) => c.peek(s.id, { endpoint: cluster.endpoint(id) })));
    const texts = copies.map((x) => (x === null ? null : JSON.stringify(x.records.map(text))));
    if (new Set(texts).size !== 1) problems.push(`replay session ${s.id}: nodes differ: ${texts.join(' | ')}`);
    const got = copies[0] === null ? null : copies[0]!.records.map(text);
    if (got === null) {
      problems.push(`replay session ${s.id} (store ${s.store}) is not active`);
      continue;
    }
    let at = -1;
    for (const v of got) {
      const k = s.sent.indexOf(v);
      if (k <= at) {
        problems.push(`replay session ${s.id}: records ${JSON.stringify(got)} are not the sent ${JSON.stringify(s.sent)} in order, once each`);
        break;
      }
      at = k;
    }
    for (const v of s.acked) if (!got.includes(v)) problems.push(`replay session ${s.id}: acknowledged ${v} missing (records ${JSON.stringify(got)})`);
    if (s.store === 'ok') restored++;
  }
  return { sessions: want.length, storedOk: want.filter((s) => s.store === 'ok').length, restored, problems: problems.slice(0, 20) };
}

export interface DeliveryReport {
  /** Replay sessions stored (acknowledged stores), of which poison. */
  readonly stored: number;
  readonly poison: number;
  /** Distinct restores the consumers received (any store outcome), deliveries in all, of which redeliveries (number > 1). */
  readonly delivered: number;
  readonly deliveries: number;
  readonly redelivered: number;
  /** Acks answered OK (first settlement), nacks sent, the group's dead letters. */
  readonly acked: number;
  readonly nacks: number;
  readonly deadLettered: number;
  /**
   * Stored sessions never delivered to the group nor dead-lettered, dead-lettered without a consumer
   * ever receiving them (poison sessions excepted), or still pending at the end.
   */
  readonly lost: number;
  readonly early: number;
  readonly doubleNew: number;
  /** SessionCommits applied while a group held the restore, summed over the nodes (each node counts its own apply). */
  readonly commitsBeforeAck: number;
  readonly crashes: number;
  readonly problems: string[];
}

/**
 * The delivery checker (issue 16): the replay workload's consumer group must get every stored
 * session, not before it is due, settle each one once, and no node may consume a record's bytes
 * (SessionCommit) while the group still holds it. After the run (healed, restarted, converged):
 *
 * 1. waits (bounded) until the group has nothing pending (every item acknowledged or dead-lettered,
 *    read from the leader);
 * 2. lost: a session whose store was acknowledged that the consumers never received and that is
 *    not among the group's dead letters (an item can be dead-lettered unseen, after deliveries to
 *    consumers that crashed before receiving them), or anything still pending;
 * 3. early: a delivery received before the store was invoked + the class delay - `skewMs` (the
 *    largest difference between two nodes' clocks; due times are decided by a leader's clock);
 * 4. acknowledged twice as new work: a session received under two restore IDs (restored twice),
 *    or two acks of one restore answered `OK` (each is a first settlement in the log); a poison
 *    session acknowledged, or one that is not dead-lettered;
 * 5. commits before acks: `store.commitsOfHeldRestores` in every node's /status (counted on apply).
 */
export async function checkDeliveries(
  cluster: ChaosCluster,
  sessions: readonly ReplaySession[],
  consumers: {
    deliveries: readonly SeenDelivery[];
    answers: readonly SeenAnswer[];
    counts: { crashes: number };
    groupView(): Promise<Record<string, unknown> | null>;
  },
  o: { delaysMs: readonly number[]; skewMs: number; drainTimeoutMs: number },
): Promise<DeliveryReport> {
  const problems: string[] = [];
  let view: Record<string, unknown> | null = null;
  try {
    view = await waitFor(
      'the consumer group has nothing pending (every restore acknowledged or dead-lettered)',
      async () => {
        const v = await consumers.groupView();
        return v !== null && v.ready === 0 && v.inFlight === 0 ? v : null;
      },
      o.drainTimeoutMs,
      200,
    );
  } catch (err) {
    problems.push((err as Error).message);
    view = await consumers.groupView();
  }
  const dead = new Set(((view?.dead as { restoreId: string; session: string }[] | undefined) ?? []).map((d) => d.session));
  const deadTotal = Number(view?.deadLettered ?? 0);
  const bySession = new Map<string, SeenDelivery[]>();
  for (const d of consumers.deliveries) {
    let l = bySession.get(d.session);
    if (l === undefined) bySession.set(d.session, (l = []));
    l.push(d);
  }
  let lost = 0;
  let early = 0;
  let doubleNew = 0;
  const stored = sessions.filter((s) => s.store === 'ok');
  for (const s of sessions) {
    const seen = bySession.get(s.id) ?? [];
    if (s.store === 'ok' && seen.length === 0 && !dead.has(s.id)) {
      lost++;
      if (problems.length < 20)
        problems.push(`session ${s.id} (class ${s.replayClass}, stored at ${s.storedAt}) never delivered to the group nor dead-lettered`);
    }
    // Dead-lettered after maxDeliveries deliveries that no consumer received: never delivered, in effect.
    if (s.store === 'ok' && !s.poison && seen.length === 0 && dead.has(s.id)) {
      lost++;
      if (problems.length < 20) problems.push(`session ${s.id} dead-lettered although no consumer ever received it`);
    }
    if (seen.length === 0) continue;
    const restores = new Set(seen.map((d) => d.restoreId));
    if (restores.size > 1) {
      doubleNew++;
      problems.push(`session ${s.id} delivered under ${restores.size} restore IDs (${[...restores].join(', ')}): processed twice as new work`);
    }
    const dueMs = s.storedAt + (o.delaysMs[s.replayClass] ?? 0) - o.skewMs;
    for (const d of seen) {
      if (s.storedAt > 0 && s.replayClass >= 0 && d.atMs < dueMs) {
        early++;
        if (problems.length < 20)
          problems.push(
            `session ${s.id}: delivery ${d.delivery} to ${d.consumer} at ${d.atMs}, ${dueMs - d.atMs} ms before it was due (stored at ${s.storedAt}, class ${s.replayClass})`,
          );
      }
      const want = s.sent.filter((v) => d.records.includes(v));
      if (JSON.stringify(want) !== JSON.stringify(d.records))
        problems.push(`session ${s.id}: delivered records ${JSON.stringify(d.records)} are not the sent ${JSON.stringify(s.sent)}`);
    }
    if (s.poison && s.store === 'ok' && !dead.has(s.id)) problems.push(`poison session ${s.id} was not dead-lettered`);
  }
  const okAcks = new Map<string, number>();
  for (const a of consumers.answers) if (a.ack && a.code === 'OK') okAcks.set(a.restoreId, (okAcks.get(a.restoreId) ?? 0) + 1);
  for (const [r, n] of okAcks) {
    if (n > 1) {
      doubleNew++;
      problems.push(`restore ${r} acknowledged as new work ${n} times (OK, not OK_ALREADY_SETTLED)`);
    }
  }
  const poisonRestores = new Set(consumers.deliveries.filter((d) => d.records[0]?.startsWith('rp-')).map((d) => d.restoreId));
  for (const r of poisonRestores) if (okAcks.has(r)) problems.push(`poison restore ${r} was acknowledged`);
  if (view !== null && (view.ready !== 0 || view.inFlight !== 0)) {
    lost += Number(view.ready) + Number(view.inFlight);
    problems.push(`still pending at the end: ${JSON.stringify({ ready: view.ready, inFlight: view.inFlight, oldestPendingAgeMs: view.oldestPendingAgeMs })}`);
  }
  let commitsBeforeAck = 0;
  for (const id of cluster.ids) {
    const st = await cluster.status(id, false);
    const n = Number((st?.store as { commitsOfHeldRestores?: number } | undefined)?.commitsOfHeldRestores ?? NaN);
    if (!Number.isFinite(n)) problems.push(`node ${id}: no store.commitsOfHeldRestores in /status`);
    else commitsBeforeAck += n;
  }
  if (commitsBeforeAck > 0)
    problems.push(`${commitsBeforeAck} SessionCommits applied while the group held the restore (data-file bytes consumed before the ack)`);
  if (early > 0) problems.push(`${early} deliveries before their due time`);
  return {
    stored: stored.length,
    poison: stored.filter((s) => s.poison).length,
    delivered: new Set(consumers.deliveries.map((d) => d.restoreId)).size,
    deliveries: consumers.deliveries.length,
    redelivered: consumers.deliveries.filter((d) => d.delivery > 1).length,
    acked: [...okAcks.keys()].length,
    nacks: consumers.answers.filter((a) => !a.ack).length,
    deadLettered: deadTotal,
    lost,
    early,
    doubleNew,
    commitsBeforeAck,
    crashes: consumers.counts.crashes,
    problems: problems.slice(0, 30),
  };
}
