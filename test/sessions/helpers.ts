/** Shared helpers for the session store tests: a log to feed stores, temp directories, directory dumps. */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CommandKind,
  CommandView,
  FEATURES_KNOWN,
  defaultCodecLimits,
  encodeCommand,
  parseCommand,
  type Command,
  type Envelope,
} from '../../transport/commands/codec.js';
import { Planner, type PlanOutcome, type Proposed } from '../../actors/sessions/planner.js';
import { ReplayScheduler } from '../../actors/sessions/scheduler.js';
import type { CommandResult, Delivery } from '../../actors/sessions/types.js';
import { EntryKind, type Entry, type SnapshotMeta } from '../../machines/types.js';
import type { SessionsStore } from '../../actors/sessions/store.js';

export function tempDir(prefix = 'sessions-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Runs `fn` in a fresh temporary directory, removed afterwards whatever `fn` did. */
export function inTempDir(fn: (dir: string) => void): void {
  const dir = tempDir();
  try {
    fn(dir);
  } finally {
    removeDir(dir);
  }
}

/** Every file under `root/sub`, path (relative to root) -> bytes, sorted by path. */
export function dirFiles(root: string, sub = 'data'): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(root, rel)).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const p = `${rel}/${n}`;
      if (statSync(join(root, p)).isDirectory()) walk(p);
      else out.set(p, new Uint8Array(readFileSync(join(root, p))));
    }
  };
  walk(sub);
  return out;
}

export function sameFiles(a: Map<string, Uint8Array>, b: Map<string, Uint8Array>): string | null {
  const names = new Set([...a.keys(), ...b.keys()]);
  for (const n of [...names].sort()) {
    const x = a.get(n);
    const y = b.get(n);
    if (x === undefined || y === undefined) return `${n} only on ${x === undefined ? 'the second' : 'the first'}`;
    if (x.length !== y.length) return `${n}: ${x.length} vs ${y.length} bytes`;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `${n}: differs at byte ${i}`;
  }
  return null;
}

/** A replicated log for tests: entries with increasing index, in the current term. */
export class TestLog {
  readonly entries: Entry[] = [];
  term = 1;

  get lastIndex(): number {
    return this.entries.length;
  }

  push(cmd: Command | Uint8Array): Entry {
    const data = cmd instanceof Uint8Array ? cmd : encodeCommand(cmd);
    const e: Entry = { index: this.entries.length + 1, term: this.term, kind: EntryKind.command, data };
    this.entries.push(e);
    return e;
  }

  noop(): Entry {
    const e: Entry = { index: this.entries.length + 1, term: this.term, kind: EntryKind.noop, data: new Uint8Array(0) };
    this.entries.push(e);
    return e;
  }

  /** Entries (from, to], 1-based indexes. */
  slice(fromIndex: number, toIndex = this.entries.length): Entry[] {
    return this.entries.slice(fromIndex, toIndex);
  }

  meta(index: number): SnapshotMeta {
    return { index, term: index === 0 ? 0 : this.entries[index - 1]!.term, membership: { voters: ['n1'], learners: [] } };
  }
}

/** Apply every entry of `log` the store has not applied yet. */
export function catchUp(store: SessionsStore, log: TestLog): unknown[] {
  const from = store.appliedIndex;
  if (from >= log.lastIndex) return [];
  return [...store.apply(log.slice(from))];
}

/** A client secret for tests (the leader draws 16 random bytes; tests need them reproducible). */
export function testSecret(seed: number): Uint8Array {
  return Uint8Array.from({ length: 16 }, (_, i) => (seed * 73 + i * 31 + 5) & 0xff);
}

/** A registered client as tests use it: its ID, its secret, and its envelopes. */
export interface TestClient {
  readonly client: Uint8Array;
  readonly secret: Uint8Array;
  env(seq: number, ackedBelowSeq?: number): Envelope;
}

/** The client of a ClientRegister result (its value is the credential: ID 16 bytes, secret 16 bytes). */
export function clientOf(result: { readonly value: Uint8Array | null }): TestClient {
  const v = result.value!;
  if (v.length !== 32) throw new Error(`a register result's value is 32 bytes, got ${v.length}`);
  const client = v.slice(0, 16);
  const secret = v.slice(16);
  return { client, secret, env: (seq, ackedBelowSeq = 0) => ({ client, secret, seq, ackedBelowSeq }) };
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}

// ---- a leader with its planner and scheduler, and followers, on one log -----------------------

export interface HarnessOptions {
  readonly replayDelaysMs?: readonly number[];
  readonly dataFileBytesMax?: number;
  readonly proposalsPerTickMax?: number;
  readonly restoresInFlightPerFileMax?: number;
  /** The scheduler's report after each tick: the earliest due time not due yet (null: none). */
  readonly onNextDue?: (dueMs: number | null) => void;
  /**
   * The scheduler's restore lead (scheduler.ts, restoreLeadMs; default 0). With a lead the harness
   * first applies a FeatureEnable of every flag (a new cluster's first command), unless `featuresOff`.
   */
  readonly restoreLeadMs?: number;
  /** With a lead: leave the feature flags off (a cluster upgraded from an older version). */
  readonly featuresOff?: boolean;
  /** Apply a FeatureEnable of every flag first, lead or not (a new cluster's first command). */
  readonly featuresOn?: boolean;
  /** Each command the leader's planner proposes, with the harness's clock when it did. */
  readonly onProposed?: (data: Uint8Array, nowMs: number) => void;
}

/**
 * Raft reduced to what the state machine sees: proposals are appended to one log in order
 * (`flush`), then committed and applied on every store (`commit`). Store 0 is the leader; its planner
 * and scheduler propose through `propose`. A leader change picks another store as leader, builds a new
 * planner from its applied state and the log's unapplied entries.
 */
export class Harness {
  readonly log = new TestLog();
  now = 1_700_000_000_000;
  leaderIndex = 0;
  planner: Planner;
  scheduler: ReplayScheduler;
  private queue: Proposed[] = [];
  /** Result of each entry index once applied on the leader. */
  readonly results = new Map<number, CommandResult | null>();
  readonly contexts = new Map<number, unknown>();
  readonly outcomes: { context: unknown; outcome: PlanOutcome }[] = [];
  readonly delivered: Delivery[] = [];
  /** The stores that receive commits (the others are down or partitioned). */
  active: number[];

  constructor(
    readonly stores: SessionsStore[],
    private readonly opts: HarnessOptions = {},
  ) {
    this.active = stores.map((_, k) => k);
    [this.planner, this.scheduler] = this.lead(0);
    if (opts.featuresOn === true || ((opts.restoreLeadMs ?? 0) > 0 && opts.featuresOff !== true)) {
      this.planner.submit({ kind: CommandKind.featureEnable, features: FEATURES_KNOWN }, null);
      this.settle();
    }
  }

  /** From now on only these stores apply committed entries. */
  withFollowers(which: readonly number[]): this {
    this.active = which.slice();
    return this;
  }

  get leader(): SessionsStore {
    return this.stores[this.leaderIndex]!;
  }

  private lead(k: number): [Planner, ReplayScheduler] {
    this.leaderIndex = k;
    const store = this.stores[k]!;
    const planner = new Planner({
      store,
      replayDelaysMs: this.opts.replayDelaysMs ?? [1_000, 10_000, 60_000],
      ...(this.opts.dataFileBytesMax !== undefined ? { dataFileBytesMax: this.opts.dataFileBytesMax } : {}),
      clock: () => this.now,
      propose: (batch) => {
        if (this.opts.onProposed !== undefined) for (const p of batch) this.opts.onProposed(p.data, this.now);
        this.queue.push(...batch);
      },
      onOutcome: (context, outcome) => this.outcomes.push({ context, outcome }),
    });
    planner.reset(store, this.log.slice(store.appliedIndex));
    const scheduler = new ReplayScheduler({
      store,
      planner,
      clock: () => this.now,
      ...(this.opts.proposalsPerTickMax !== undefined ? { proposalsPerTickMax: this.opts.proposalsPerTickMax } : {}),
      ...(this.opts.restoresInFlightPerFileMax !== undefined ? { restoresInFlightPerFileMax: this.opts.restoresInFlightPerFileMax } : {}),
      ...(this.opts.onNextDue !== undefined ? { onNextDue: this.opts.onNextDue } : {}),
      ...(this.opts.restoreLeadMs !== undefined ? { restoreLeadMs: this.opts.restoreLeadMs } : {}),
    });
    return [planner, scheduler];
  }

  /** Leadership moves to store k (which may be behind): the old planner's unappended proposals are lost. */
  changeLeader(k: number): void {
    this.planner.dispose();
    this.scheduler.dispose();
    this.queue = [];
    this.log.term++;
    this.log.noop();
    [this.planner, this.scheduler] = this.lead(k);
  }

  /** Append every queued proposal to the log (the leader's log), telling the planner (first `bind`, as RaftNode's onProposing). */
  flush(): Entry[] {
    const batch = this.queue;
    this.queue = [];
    if (batch.length > 0) this.planner.bind(this.log.lastIndex + 1, this.log.term, batch.length);
    const entries = batch.map((p) => {
      const e = this.log.push(p.data);
      if (p.context !== null) this.contexts.set(e.index, p.context);
      return e;
    });
    this.planner.appended(entries);
    return entries;
  }

  /** For each queued proposal: whether the host must keep it with the one before it (Proposed.tied). */
  queuedTied(): boolean[] {
    return this.queue.map((p) => p.tied);
  }

  /** A proposal the planner does not track (one queued in a refusal's callback, after which refused() forgot it). */
  queueUntracked(cmd: Parameters<Planner['submit']>[0]): void {
    this.queue.push({ data: encodeCommand(cmd), context: null, tied: false });
  }

  /** Raft refused the queued batch (as RaftNode's onProposalsRefused): nothing of it is appended. */
  refuse(): void {
    this.queue = [];
    this.planner.refused();
  }

  /** Commit through `toIndex` (default: everything) on the given stores (default: all). */
  commit(toIndex = this.log.lastIndex, which: readonly number[] = this.active): void {
    for (const k of which) {
      const s = this.stores[k]!;
      if (s.appliedIndex >= toIndex) continue;
      const entries = this.log.slice(s.appliedIndex, toIndex);
      const results = s.apply(entries);
      if (k === this.leaderIndex) for (let j = 0; j < entries.length; j++) this.results.set(entries[j]!.index, results[j] as CommandResult | null);
    }
  }

  /** Flush and commit until nothing more is proposed (each round also ticks the scheduler). */
  settle(which?: readonly number[], roundsMax = 1000): void {
    for (let round = 0; round < roundsMax; round++) {
      this.flush();
      this.commit(undefined, which);
      this.scheduler.tick();
      if (this.queue.length === 0) return;
    }
    throw new Error('did not settle');
  }

  /** Propose, append and apply one client command; returns its result. */
  client(cmd: Parameters<Planner['submit']>[0]): CommandResult {
    this.planner.submit(cmd, 'client');
    const entries = this.flush();
    this.commit();
    return this.results.get(entries[entries.length - 1]!.index) as CommandResult;
  }

  createSession(topic: string, records: string[] = []): Uint8Array {
    const id = this.client({ kind: CommandKind.sessionCreate, topic, envelope: null }).value!;
    for (const r of records) this.client({ kind: CommandKind.sessionAppend, session: id, bytes: bytes(r), envelope: null });
    return id;
  }
}

/** Timers run by hand: `fire()` runs those whose time came by `now`, in order. */
export class ManualTimers {
  private readonly pending: { atMs: number; fn: () => void }[] = [];
  constructor(private readonly now: () => number) {}
  readonly after = (delayMs: number, fn: () => void): void => {
    this.pending.push({ atMs: this.now() + delayMs, fn });
  };
  get count(): number {
    return this.pending.length;
  }
  fire(): void {
    // Bounded: a timer may arm another, at most a few per call here.
    for (let round = 0; round < 10; round++) {
      const k = this.pending.findIndex((t) => t.atMs <= this.now());
      if (k < 0) return;
      const [t] = this.pending.splice(k, 1);
      t!.fn();
    }
  }
}

/**
 * For HarnessOptions.onProposed: the SessionStore `data` as text when it is planned due more than
 * `slackMs` after `nowMs + delayMs` (a floor an old clock reading set), else null.
 */
export function storeDueLate(view: CommandView, data: Uint8Array, nowMs: number, delayMs: number, slackMs = 100): string | null {
  if (parseCommand(view, data, defaultCodecLimits) !== null || view.kind !== CommandKind.sessionStore) return null;
  return view.dueMs > nowMs + delayMs + slackMs ? `due ${view.dueMs} planned at ${nowMs}` : null;
}
