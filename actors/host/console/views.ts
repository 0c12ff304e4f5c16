/**
 * The console's documents, built from the node's parts on request (read-only, bounded):
 *
 *   nodeView     this node's /status with its recent transitions and per-second samples
 *   topicsView   the applied store: per replay class the scheduled sessions and their next due
 *                times, restores in flight; active sessions per topic
 *   sessionView  one active session by ID (this node's applied copy, no read barrier)
 */
import type { SessionsStore } from '../../sessions/index.js';
import { roundBase, type GroupCounts } from '../../sessions/consumerGroups.js';
import type { HostStatus } from '../statusViews.js';
import type { ConsoleRecorder, Sample, TransitionRecord } from './recorder.js';

/** Record headers read per replay class to count scheduled sessions (beyond: "at least"). */
export const scheduledCountMax = 1000;
/** Next due times listed per replay class. */
const nextDueShown = 5;
/** Topics listed (most sessions first). */
const topicsShown = 50;
/** Sessions walked to group by topic (beyond: the listing says it is partial). */
const sessionsWalkedMax = 100_000;
/** Records shown of a looked-up session, and bytes shown of each. */
const recordsShown = 8;
const recordBytesShown = 256;

export interface ConsoleNodeView {
  readonly node: string;
  readonly at: number;
  readonly status: HostStatus;
  readonly transitions: readonly TransitionRecord[];
  readonly samples: readonly Sample[];
}

export function nodeView(status: HostStatus, recorder: ConsoleRecorder, now: number): ConsoleNodeView {
  return { node: status.node, at: now, status, transitions: recorder.recentTransitions(50), samples: recorder.recentSamples() };
}

interface ReplayClassView {
  readonly replayClass: number;
  readonly delayMs: number | null;
  readonly dataFiles: number;
  /** Stored sessions waiting for their due time (void records not counted). */
  readonly scheduled: number;
  /** True when more than `scheduledCountMax` records wait: `scheduled` is a lower bound. */
  readonly scheduledAtLeast: boolean;
  readonly scheduledBytes: number;
  /** Due times (ms since the epoch) of the next sessions to come back, soonest first. */
  readonly nextDueMs: readonly number[];
  /** Restored (handed to subscribers) and not yet committed as consumed. */
  readonly inFlight: number;
  /** Records of this class pending in a consumer group and delivered more than once (each group counts). */
  readonly redelivered: number;
  /** Records of this class held by a consumer group's dead letters (each group counts). */
  readonly deadLettered: number;
}

/** A consumer group as the listing shows it: its applied counts (those of `sessionraft client groups`). */
type TopicsGroupView = Pick<GroupCounts, 'topic' | 'name' | 'ready' | 'inFlight' | 'redelivered' | 'deadLettered' | 'deadLetters'>;

export interface TopicsView {
  readonly node: string;
  readonly at: number;
  readonly appliedIndex: number;
  readonly replayClasses: readonly ReplayClassView[];
  readonly topics: readonly { readonly topic: string; readonly sessions: number; readonly bytes: number }[];
  readonly topicsTotal: number;
  /** Fewer sessions were walked than are active. */
  readonly partial: boolean;
  /**
   * Every consumer group of the applied store, by topic and name (until 2026-12-07 always empty,
   * from before consumer groups landed; a review found it empty while groups existed).
   */
  readonly consumerGroups: readonly TopicsGroupView[];
  readonly error?: string;
}

type StoreReader = Pick<SessionsStore, 'dataFiles' | 'recordHeaderAt' | 'listSessions' | 'stats' | 'getSession' | 'consumerGroups' | 'groupCounts'>;

export function topicsView(node: string, store: StoreReader, replayDelaysMs: readonly number[], now: number): TopicsView {
  const appliedIndex = store.stats().appliedIndex;
  const classes = new Map<number, { files: number; scheduled: number; atLeast: boolean; bytes: number; due: number[]; inFlight: number }>();
  for (let c = 0; c < replayDelaysMs.length; c++) classes.set(c, { files: 0, scheduled: 0, atLeast: false, bytes: 0, due: [], inFlight: 0 });
  let error: string | undefined;
  for (const f of store.dataFiles()) {
    let c = classes.get(f.replayClass);
    if (c === undefined) classes.set(f.replayClass, (c = { files: 0, scheduled: 0, atLeast: false, bytes: 0, due: [], inFlight: 0 }));
    c.files++;
    c.inFlight += f.restoredLengths.length;
    c.bytes += Math.max(0, f.size - f.readCursor);
    // Records of a class are appended in due order: walk from the read cursor, bounded.
    let offset = f.readCursor;
    while (offset < f.size) {
      if (c.scheduled >= scheduledCountMax) {
        c.atLeast = true;
        break;
      }
      let h;
      try {
        h = store.recordHeaderAt(f, offset);
      } catch (err) {
        error = `${f.name}@${offset}: ${(err as Error).message}`;
        break;
      }
      if (h.length <= 0) break;
      if (!h.isVoid) {
        c.scheduled++;
        if (c.due.length < nextDueShown) c.due.push(h.dueMs);
      }
      offset += h.length;
    }
  }
  // Consumer groups: their counts, and per replay class the records they redelivered or dead-lettered
  // (a held record's data file names its class). One walk of every group's items, as their counts take.
  const classOfFile = new Map<string, number>();
  for (const f of store.dataFiles()) classOfFile.set(`${f.high}.${f.low}`, f.replayClass);
  const perClass = new Map<number, { redelivered: number; deadLettered: number }>();
  const count = (r: { fileHigh: number; fileLow: number }, what: 'redelivered' | 'deadLettered'): void => {
    const k = classOfFile.get(`${r.fileHigh}.${r.fileLow}`);
    if (k === undefined) return;
    let c = perClass.get(k);
    if (c === undefined) perClass.set(k, (c = { redelivered: 0, deadLettered: 0 }));
    c[what]++;
  };
  const consumerGroups: TopicsGroupView[] = [];
  for (const g of store.consumerGroups()) {
    for (const it of g.items.values()) if (it.deliveries - roundBase(it, g.maxDeliveries) > 1) count(it.restore, 'redelivered');
    for (const d of g.dead.values()) if (d.restore !== null) count(d.restore, 'deadLettered');
    const n = store.groupCounts(g);
    consumerGroups.push({
      topic: n.topic,
      name: n.name,
      ready: n.ready,
      inFlight: n.inFlight,
      redelivered: n.redelivered,
      deadLettered: n.deadLettered,
      deadLetters: n.deadLetters,
    });
  }
  consumerGroups.sort((a, b) => a.topic.localeCompare(b.topic) || a.name.localeCompare(b.name));
  const replayClasses: ReplayClassView[] = [...classes.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([k, c]) => ({
      replayClass: k,
      delayMs: replayDelaysMs[k] ?? null,
      dataFiles: c.files,
      scheduled: c.scheduled,
      scheduledAtLeast: c.atLeast,
      scheduledBytes: c.bytes,
      nextDueMs: c.due,
      inFlight: c.inFlight,
      redelivered: perClass.get(k)?.redelivered ?? 0,
      deadLettered: perClass.get(k)?.deadLettered ?? 0,
    }));
  const byTopic = new Map<string, { sessions: number; bytes: number }>();
  const sessions = store.listSessions();
  const walked = Math.min(sessions.length, sessionsWalkedMax);
  for (let k = 0; k < walked; k++) {
    const s = sessions[k]!;
    const t = byTopic.get(s.topic) ?? { sessions: 0, bytes: 0 };
    t.sessions++;
    t.bytes += s.bytes;
    byTopic.set(s.topic, t);
  }
  const topics = [...byTopic.entries()]
    .map(([topic, t]) => ({ topic, sessions: t.sessions, bytes: t.bytes }))
    .sort((a, b) => b.sessions - a.sessions || a.topic.localeCompare(b.topic))
    .slice(0, topicsShown);
  return {
    node,
    at: now,
    appliedIndex,
    replayClasses,
    topics,
    topicsTotal: byTopic.size,
    partial: walked < sessions.length,
    consumerGroups,
    ...(error !== undefined ? { error } : {}),
  };
}

const SESSION_ID = /^[0-9a-fA-F]{32}$/;

type SessionLookup =
  | { readonly status: 200; readonly body: { node: string; appliedIndex: number; session: SessionShown | null } }
  | { readonly status: 400; readonly body: { error: 'ADMIN_ERR_BAD_REQUEST'; message: string } };

interface SessionShown {
  readonly id: string;
  readonly topic: string;
  readonly bytes: number;
  readonly recordCount: number;
  /** The first records: UTF-8 text when they are, else base64; each cut to `recordBytesShown`. */
  readonly records: readonly { readonly text?: string; readonly base64?: string; readonly bytes: number; readonly cut: boolean }[];
  /** Present (true) when the viewer may not read the topic: `records` is empty, the counts stand. */
  readonly recordsHidden?: true;
}

// The mark kept: a record that starts with U+FEFF is shown as it is.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function shown(r: Uint8Array): SessionShown['records'][number] {
  const cut = r.length > recordBytesShown;
  const b = r.subarray(0, recordBytesShown);
  try {
    return { text: utf8.decode(b), bytes: r.length, cut };
  } catch {
    return { base64: Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64'), bytes: r.length, cut };
  }
}

/** One session by its 32-hex-digit ID, as this node applied it. */
/**
 * `mayRead(topic)`: whether the viewer may see the records (the read permission on the topic; the
 * console's login needs only monitor: until 2026-12-07 a monitor-only user, or the metrics token,
 * read what the client port refused them, found by a review).
 */
export function sessionView(node: string, store: StoreReader, id: string | null, mayRead: (topic: string) => boolean): SessionLookup {
  if (id === null || !SESSION_ID.test(id))
    return { status: 400, body: { error: 'ADMIN_ERR_BAD_REQUEST', message: 'id: a session ID of 32 hexadecimal digits' } };
  const s = store.getSession(Uint8Array.from(Buffer.from(id, 'hex')));
  const appliedIndex = store.stats().appliedIndex;
  if (s === null) return { status: 200, body: { node, appliedIndex, session: null } };
  return {
    status: 200,
    body: {
      node,
      appliedIndex,
      session: mayRead(s.topic)
        ? { id: id.toLowerCase(), topic: s.topic, bytes: s.bytes, recordCount: s.records.length, records: s.records.slice(0, recordsShown).map(shown) }
        : { id: id.toLowerCase(), topic: s.topic, bytes: s.bytes, recordCount: s.records.length, records: [], recordsHidden: true },
    },
  };
}
