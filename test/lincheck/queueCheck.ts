/**
 * The queue checker: compares a session-store history (with unique append and rewrite values) with
 * the final state read from every node, and reports what a linearizability check of reads alone can
 * miss: acknowledged writes that were lost, values present twice, records out of order, failed
 * writes that became visible anyway, values nobody wrote, created sessions that vanished, and nodes
 * that disagree.
 *
 * Final state (one JSON document, or JSON lines with one node per line):
 *   {"nodes":[{"node":"n1","sessions":{"<id>":{"topic":"t","records":[...]}}}, ...]}
 * `sessions` lists the sessions the node holds (a destroyed session is absent); `records` in order.
 */
import type { Json, Operation } from './history.js';
import { canonical } from './model.js';

export interface FinalSession {
  readonly topic?: string;
  readonly records: readonly Json[];
}

export interface NodeState {
  readonly node: string;
  /** Session id -> its content. */
  readonly sessions: Readonly<Record<string, FinalSession>>;
}

export interface FinalState {
  readonly nodes: readonly NodeState[];
}

export type QueueInputErrorCode = 'QUEUE_JSON' | 'QUEUE_FIELD' | 'QUEUE_VALUE_REUSED' | 'QUEUE_NO_NODES';

/** Bad input to the queue checker (never an anomaly of the system under test). */
export class QueueInputError extends Error {
  readonly code: QueueInputErrorCode;
  constructor(code: QueueInputErrorCode, message: string) {
    super(message);
    this.name = 'QueueInputError';
    this.code = code;
  }
}

export interface QueueCheckOptions {
  /** Examples kept per anomaly kind (counts are always complete). Default 10. */
  readonly examplesMax?: number;
}

/** An acknowledged append (or rewrite) whose value is missing, with no rewrite or destroy that could have erased it. */
export interface LostExample {
  readonly key: string;
  readonly value: Json;
  readonly op: Operation;
  /** Nodes whose final state lacks the value. */
  readonly nodes: readonly string[];
}

export interface DuplicatedExample {
  readonly value: Json;
  /** Where it appears, per node: session id and position (0-based). */
  readonly places: readonly { readonly node: string; readonly key: string; readonly index: number }[];
}

/** `first` completed before `second` was invoked, yet `first` is stored after `second`. */
export interface ReorderedExample {
  /** Nodes that store the pair in the wrong order (indices are from the first of them). */
  readonly nodes: readonly string[];
  readonly key: string;
  readonly first: Operation;
  readonly second: Operation;
  readonly firstIndex: number;
  readonly secondIndex: number;
  /** Both appends came from one client. */
  readonly sameProcess: boolean;
}

export interface FailedVisibleExample {
  readonly key: string;
  readonly value: Json;
  readonly op: Operation;
  readonly nodes: readonly string[];
}

export interface PhantomExample {
  readonly key: string;
  readonly value: Json;
  readonly nodes: readonly string[];
}

export interface LostSessionExample {
  readonly key: string;
  readonly op: Operation;
  readonly nodes: readonly string[];
}

export interface DivergentExample {
  readonly key: string;
  /** Per node: the number of records, or null when the node does not hold the session. */
  readonly nodes: readonly { readonly node: string; readonly records: number | null; readonly topic: string | null }[];
  /** The first record index at which two nodes that hold the session differ (or -1: only presence or topic differs). */
  readonly firstDifferenceIndex: number;
}

export interface QueueCounts {
  /** Distinct acknowledged values lost (on at least one node). */
  readonly lost: number;
  /** Distinct values present more than once (on at least one node). */
  readonly duplicated: number;
  /** Distinct records stored before a record whose append completed before theirs was invoked; `reorderedSameProcess` of them within one client. */
  readonly reordered: number;
  readonly reorderedSameProcess: number;
  /** Distinct failed writes whose value is present. */
  readonly failedVisible: number;
  /** Distinct values present that no append or rewrite in the history carried. */
  readonly phantom: number;
  /** Sessions created (ok) and never destroyed that a node does not hold. */
  readonly lostSessions: number;
  /** Session ids on which the nodes' final states differ. */
  readonly divergent: number;
}

export interface QueueReport {
  /** No anomaly of any kind. */
  readonly ok: boolean;
  readonly counts: QueueCounts;
  readonly examples: {
    readonly lost: readonly LostExample[];
    readonly duplicated: readonly DuplicatedExample[];
    readonly reordered: readonly ReorderedExample[];
    readonly failedVisible: readonly FailedVisibleExample[];
    readonly phantom: readonly PhantomExample[];
    readonly lostSessions: readonly LostSessionExample[];
    readonly divergent: readonly DivergentExample[];
  };
  readonly stats: {
    readonly nodesCount: number;
    readonly sessionsCount: number;
    readonly appendsOkCount: number;
    readonly appendsFailCount: number;
    readonly appendsInfoCount: number;
    readonly rewritesOkCount: number;
  };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function toNodeState(raw: unknown, where: string): NodeState {
  if (!isRecord(raw)) throw new QueueInputError('QUEUE_FIELD', `${where}: a node must be an object`);
  if (typeof raw.node !== 'string' && typeof raw.node !== 'number') {
    throw new QueueInputError('QUEUE_FIELD', `${where}: \`node\` must be a string`);
  }
  if (!isRecord(raw.sessions)) throw new QueueInputError('QUEUE_FIELD', `${where}: \`sessions\` must be an object`);
  const sessions: Record<string, FinalSession> = {};
  for (const [id, s] of Object.entries(raw.sessions)) {
    if (!isRecord(s) || !Array.isArray(s.records)) {
      throw new QueueInputError('QUEUE_FIELD', `${where}: session ${id} must be {topic?, records: [...]}`);
    }
    if (s.topic !== undefined && s.topic !== null && typeof s.topic !== 'string') {
      throw new QueueInputError('QUEUE_FIELD', `${where}: session ${id}: \`topic\` must be a string`);
    }
    sessions[id] = typeof s.topic === 'string' ? { topic: s.topic, records: s.records as Json[] } : { records: s.records as Json[] };
  }
  return { node: String(raw.node), sessions };
}

/** Parse a final state: `{"nodes":[...]}`, a single node object, or JSON lines of node objects. */
export function parseFinalState(text: string): FinalState {
  let whole: unknown;
  let isWhole = true;
  try {
    whole = JSON.parse(text);
  } catch {
    isWhole = false;
  }
  if (isWhole) {
    if (isRecord(whole) && Array.isArray(whole.nodes)) {
      return { nodes: whole.nodes.map((n, i) => toNodeState(n, `nodes[${i}]`)) };
    }
    return { nodes: [toNodeState(whole, 'node')] };
  }
  const nodes: NodeState[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const s = lines[i]!.trim();
    if (s.length === 0) continue;
    let raw: unknown;
    try {
      raw = JSON.parse(s);
    } catch (err) {
      throw new QueueInputError('QUEUE_JSON', `line ${i + 1}: not JSON: ${(err as Error).message}`);
    }
    nodes.push(toNodeState(raw, `line ${i + 1}`));
  }
  return { nodes };
}

/** Append to a list kept in a map. */
function pushTo<K, V>(m: Map<K, V[]>, k: K, v: V): void {
  const l = m.get(k);
  if (l === undefined) m.set(k, [v]);
  else l.push(v);
}

/** Check a session-store history against the final state of every node. */
export function checkQueue(history: readonly Operation[], final: FinalState, options: QueueCheckOptions = {}): QueueReport {
  const examplesMax = options.examplesMax ?? 10;
  if (final.nodes.length === 0) throw new QueueInputError('QUEUE_NO_NODES', 'the final state lists no node');

  // Every value written (append or rewrite, any outcome), by its canonical text.
  const writeOf = new Map<string, Operation>();
  // Per session: rewrites and destroys that may have taken effect (they can erase earlier records).
  const erasers = new Map<string, Operation[]>();
  const destroyedMaybe = new Set<string>();
  const createdOk: Operation[] = [];
  let appendsOkCount = 0;
  let appendsFailCount = 0;
  let appendsInfoCount = 0;
  let rewritesOkCount = 0;
  for (const op of history) {
    if (op.f === 'append' || op.f === 'rewrite') {
      const c = canonical(op.input);
      const other = writeOf.get(c);
      if (other !== undefined) {
        throw new QueueInputError('QUEUE_VALUE_REUSED', `value ${c} is written by operations #${other.id} and #${op.id}; values must be unique`);
      }
      writeOf.set(c, op);
      if (op.f === 'append') {
        if (op.outcome === 'ok') appendsOkCount++;
        else if (op.outcome === 'fail') appendsFailCount++;
        else appendsInfoCount++;
      } else if (op.outcome === 'ok') rewritesOkCount++;
    }
    if (op.key === null) continue;
    if ((op.f === 'rewrite' || op.f === 'destroy') && op.outcome !== 'fail') pushTo(erasers, op.key, op);
    if (op.f === 'destroy' && op.outcome !== 'fail') destroyedMaybe.add(op.key);
    if (op.f === 'create' && op.outcome === 'ok') createdOk.push(op);
  }

  // Where each value is, per node: canonical text -> places.
  type Place = { node: string; key: string; index: number };
  const places = new Map<string, Place[]>();
  const sessionIds = new Set<string>();
  for (const n of final.nodes) {
    for (const [key, s] of Object.entries(n.sessions)) {
      sessionIds.add(key);
      s.records.forEach((r, index) => pushTo(places, canonical(r), { node: n.node, key, index }));
    }
  }

  const lost = new Map<string, LostExample>();
  const duplicated: DuplicatedExample[] = [];
  const failedVisible: FailedVisibleExample[] = [];
  const phantom: PhantomExample[] = [];
  const lostSessions: LostSessionExample[] = [];
  const divergent: DivergentExample[] = [];
  const reordered = new Map<Operation, ReorderedExample & { nodes: string[] }>();

  for (const [c, where] of places) {
    const byNode = new Map<string, number>();
    for (const p of where) byNode.set(p.node, (byNode.get(p.node) ?? 0) + 1);
    if ([...byNode.values()].some((k) => k > 1)) duplicated.push({ value: JSON.parse(c) as Json, places: where });
    const nodes = [...byNode.keys()];
    const op = writeOf.get(c);
    if (op === undefined) {
      phantom.push({ key: where[0]!.key, value: JSON.parse(c) as Json, nodes });
    } else if (op.outcome === 'fail') {
      failedVisible.push({ key: op.key ?? where[0]!.key, value: op.input, op, nodes });
    }
  }

  // Lost: an acknowledged write, no rewrite or destroy that could be linearized after it, and the
  // value is not in its session on some node.
  for (const [c, op] of writeOf) {
    if (op.outcome !== 'ok' || op.key === null) continue;
    const key = op.key;
    const mayErase = (erasers.get(key) ?? []).some((e) => e !== op && e.ret > op.call);
    if (mayErase) continue;
    const where = places.get(c) ?? [];
    const missing = final.nodes.filter((n) => !where.some((p) => p.node === n.node && p.key === key)).map((n) => n.node);
    if (missing.length > 0) lost.set(c, { key, value: op.input, op, nodes: missing });
  }

  for (const op of createdOk) {
    const key = op.key!;
    if (destroyedMaybe.has(key)) continue;
    const missing = final.nodes.filter((n) => n.sessions[key] === undefined).map((n) => n.node);
    if (missing.length > 0) lostSessions.push({ key, op, nodes: missing });
  }

  // Reordered: in each node's session, a record whose append was invoked after another record's
  // append completed must come after it. Scan from the end keeping the earliest completion seen.
  for (const n of final.nodes) {
    for (const [key, s] of Object.entries(n.sessions)) {
      let minRet = Number.POSITIVE_INFINITY;
      let minOp: Operation | null = null;
      let minIndex = -1;
      for (let index = s.records.length - 1; index >= 0; index--) {
        const op = writeOf.get(canonical(s.records[index]!));
        if (op === undefined || op.f !== 'append' || op.outcome === 'fail' || op.key !== key) continue;
        if (minOp !== null && minRet < op.call) {
          const seen = reordered.get(op);
          if (seen !== undefined) seen.nodes.push(n.node);
          else {
            const sameProcess = minOp.process === op.process;
            reordered.set(op, { nodes: [n.node], key, first: minOp, second: op, firstIndex: minIndex, secondIndex: index, sameProcess });
          }
        }
        if (op.ret < minRet) {
          minRet = op.ret;
          minOp = op;
          minIndex = index;
        }
      }
    }
  }

  // Divergence: every node must hold the same sessions with the same topics and records.
  for (const key of [...sessionIds].sort()) {
    const texts = final.nodes.map((n) => {
      const s = n.sessions[key];
      return s === undefined ? null : s.records.map(canonical);
    });
    const topics = final.nodes.map((n) => n.sessions[key]?.topic ?? null);
    const ref = texts[0]!;
    const same = texts.every((t, i) => {
      if ((t === null) !== (ref === null) || topics[i] !== topics[0]) return false;
      return t === null || ref === null || (t.length === ref.length && t.every((x, j) => x === ref[j]));
    });
    if (same) continue;
    let firstDifferenceIndex = -1;
    const held = texts.filter((t): t is string[] => t !== null);
    const longest = Math.max(0, ...held.map((t) => t.length));
    for (let j = 0; j < longest && firstDifferenceIndex < 0; j++) {
      if (held.some((t) => t[j] !== held[0]![j])) firstDifferenceIndex = j;
    }
    divergent.push({
      key,
      nodes: final.nodes.map((n, i) => ({ node: n.node, records: texts[i]?.length ?? null, topic: topics[i] ?? null })),
      firstDifferenceIndex,
    });
  }

  const counts: QueueCounts = {
    lost: lost.size,
    duplicated: duplicated.length,
    reordered: reordered.size,
    reorderedSameProcess: [...reordered.values()].filter((x) => x.sameProcess).length,
    failedVisible: failedVisible.length,
    phantom: phantom.length,
    lostSessions: lostSessions.length,
    divergent: divergent.length,
  };
  const some = <T>(l: Iterable<T>): T[] => [...l].slice(0, examplesMax);
  return {
    ok: counts.lost + counts.duplicated + counts.reordered + counts.failedVisible + counts.phantom + counts.lostSessions + counts.divergent === 0,
    counts,
    examples: {
      lost: some(lost.values()),
      duplicated: some(duplicated),
      reordered: some(reordered.values()),
      failedVisible: some(failedVisible),
      phantom: some(phantom),
      lostSessions: some(lostSessions),
      divergent: some(divergent),
    },
    stats: {
      nodesCount: final.nodes.length,
      sessionsCount: sessionIds.size,
      appendsOkCount,
      appendsFailCount,
      appendsInfoCount,
      rewritesOkCount,
    },
  };
}

/** A human summary: one line of counts, then the examples. */
export function formatQueueReport(r: QueueReport): string {
  const c = r.counts;
  const lines = [
    `queue: ${r.ok ? 'ok' : 'ANOMALIES'}: lost ${c.lost}, duplicated ${c.duplicated}, reordered ${c.reordered} ` +
      `(same client ${c.reorderedSameProcess}), failed-visible ${c.failedVisible}, phantom ${c.phantom}, ` +
      `lost-sessions ${c.lostSessions}, divergent ${c.divergent} ` +
      `(nodes ${r.stats.nodesCount}, sessions ${r.stats.sessionsCount}, appends ok/fail/info ` +
      `${r.stats.appendsOkCount}/${r.stats.appendsFailCount}/${r.stats.appendsInfoCount})`,
  ];
  const e = r.examples;
  for (const x of e.lost)
    lines.push(`  lost: session ${x.key} value ${JSON.stringify(x.value)} (op #${x.op.id}, p${x.op.process}) missing on ${x.nodes.join(',')}`);
  for (const x of e.duplicated) {
    lines.push(`  duplicated: value ${JSON.stringify(x.value)} at ${x.places.map((p) => `${p.node}:${p.key}[${p.index}]`).join(' ')}`);
  }
  for (const x of e.reordered) {
    lines.push(
      `  reordered: session ${x.key} on ${x.nodes.join(',')}: ${JSON.stringify(x.first.input)} (op #${x.first.id}) at [${x.firstIndex}] after ` +
        `${JSON.stringify(x.second.input)} (op #${x.second.id}) at [${x.secondIndex}]${x.sameProcess ? ', same client' : ''}`,
    );
  }
  for (const x of e.failedVisible) lines.push(`  failed-visible: session ${x.key} value ${JSON.stringify(x.value)} (op #${x.op.id}) on ${x.nodes.join(',')}`);
  for (const x of e.phantom) lines.push(`  phantom: session ${x.key} value ${JSON.stringify(x.value)} on ${x.nodes.join(',')}`);
  for (const x of e.lostSessions) lines.push(`  lost-session: ${x.key} (created by op #${x.op.id}) missing on ${x.nodes.join(',')}`);
  for (const x of e.divergent) {
    lines.push(
      `  divergent: session ${x.key}: ${x.nodes.map((n) => `${n.node}=${n.records ?? 'absent'}`).join(' ')}` +
        (x.firstDifferenceIndex >= 0 ? `, first difference at [${x.firstDifferenceIndex}]` : ''),
    );
  }
  return lines.join('\n');
}
