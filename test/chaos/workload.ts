/**
 * The fault harness's workload: concurrent clients with unique values, recorded as a session-store
 * history (docs/checkers.md) for the linearizability and queue checkers, plus a replay workload
 * (stored sessions that must come back) kept out of that history.
 *
 * Each worker is one process of the history with its own `createClient` (all endpoints, a
 * different first endpoint per worker) for commands, and reads through reader clients, one per
 * node, each listing that node first: a read goes to a reader chosen at random. A correct node
 * redirects a read to the leader (the reader then stays with the leader until it fails), so reads
 * enter the cluster at every node after each leader change; a node that answers reads from its own
 * state (the planted bug stale-read) keeps its reader, and a partitioned or lagging follower then
 * answers stale reads that the checkers catch. (A reader that knew only its node would stall for
 * the whole time that node is down or cut off.)
 *
 * Operations (per worker, one at a time): append to a hot session (most), read one, create a new
 * one while there are few, rewrite one that grew long (keeps record lists short, and so the
 * checker's states small), destroy one now and then. Every value is unique (`w<worker>-<k>`).
 * Outcomes: ok; `fail` for a definite "not applied" (SESSIONS_ERR_* answers: not-found for
 * SESSION_UNKNOWN); `info` for anything whose outcome is unknown (timeouts, no leader, a lost
 * connection, the client closed at the end). After an `info` the worker continues as a new
 * process number (the open operation may still take effect at any time: Jepsen's convention).
 */
import { createClient, isClientError, type SessionraftClient } from '../../transport/client/client.js';
import type { ClientAccess } from './cluster.js';
import { HistoryRecorder } from '../lincheck/index.js';

export interface WorkloadOptions {
  readonly endpoints: readonly string[];
  readonly clusterId: string;
  /** TLS and login of every client (ChaosCluster.clientAccess; issue 17). */
  readonly access?: ClientAccess;
  readonly workers: number;
  readonly random: () => number;
  /** Hot sessions kept live (created while fewer). */
  readonly hotSessions: number;
  /** A session is rewritten once it has about this many records. */
  readonly recordsMax: number;
  /** Client timeouts: one attempt, and one operation over all its attempts (then `info`). */
  readonly requestTimeoutMs: number;
  readonly operationTimeoutMs: number;
  /** The replay workload: stores into these classes (indices). Empty: none. */
  readonly replayClasses: readonly number[];
  /** Replay sessions made "poison" (their values start with `rp-`: the consumers throw on them), 0..1. */
  readonly replayPoisonRate?: number;
  /** Replay clients storing sessions concurrently (default 1). */
  readonly replayers?: number;
}

export interface WorkloadCounts {
  invoked: number;
  ok: number;
  fail: number;
  info: number;
  byF: Record<string, { ok: number; fail: number; info: number }>;
}

/** A session of the replay workload: what was acknowledged and what may have been written. */
export interface ReplaySession {
  readonly id: string;
  /** Appends acknowledged, in order. */
  readonly acked: string[];
  /** Appends sent (acknowledged or unknown), in order. */
  readonly sent: string[];
  /** 'ok' | 'info' | 'fail' | null (not stored yet). */
  store: 'ok' | 'info' | 'fail' | null;
  storedAt: number;
  /** The replay class it was stored into (-1 before the store). */
  replayClass: number;
  /** The consumers throw on it (its values start with `rp-`): it must end dead-lettered, never acknowledged. */
  readonly poison: boolean;
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');

/** The outcome class of a client error. */
export function outcomeOf(err: unknown): { kind: 'fail' | 'info'; error: string } {
  const code = isClientError(err) ? err.code : ((err as { code?: string })?.code ?? 'ERROR');
  if (code === 'SESSIONS_ERR_SESSION_UNKNOWN') return { kind: 'fail', error: 'not-found' };
  // The cluster applied the command and rejected it, or a gateway check refused it: no effect.
  if (code.startsWith('SESSIONS_ERR_')) return { kind: 'fail', error: code };
  return { kind: 'info', error: code };
}

export class Workload {
  readonly recorder = new HistoryRecorder();
  readonly counts: WorkloadCounts = { invoked: 0, ok: 0, fail: 0, info: 0, byF: {} };
  readonly replay: ReplaySession[] = [];
  /** Called after every acknowledged append (the harness times some faults on acknowledgements). */
  onAppendOk: (() => void) | null = null;
  private readonly clients: SessionraftClient[] = [];
  private readonly readers: SessionraftClient[] = [];
  private readonly hot: string[] = [];
  /** Records acknowledged per hot session since its last rewrite (an estimate for rewrites). */
  private readonly sizes = new Map<string, number>();
  private stopping = false;
  private loops: Promise<void>[] = [];
  private nextValue = 0;
  private readonly opts: WorkloadOptions;
  private readonly rand: () => number;

  constructor(opts: WorkloadOptions) {
    this.opts = opts;
    this.rand = opts.random;
  }

  private client(first: number, endpoints: readonly string[]): SessionraftClient {
    const rotated = endpoints.map((_, k) => endpoints[(first + k) % endpoints.length]!);
    return createClient({
      endpoints: rotated,
      clusterId: this.opts.clusterId,
      requestTimeoutMs: this.opts.requestTimeoutMs,
      operationTimeoutMs: this.opts.operationTimeoutMs,
      connectTimeoutMs: Math.min(1000, this.opts.requestTimeoutMs),
      // Secured: TLS and a login take longer to connect (ChaosCluster.clientAccess).
      ...this.opts.access,
    });
  }

  start(): void {
    const eps = this.opts.endpoints;
    eps.forEach((_, k) => this.readers.push(this.client(k, eps)));
    for (let w = 0; w < this.opts.workers; w++) {
      const c = this.client(w, eps);
      this.clients.push(c);
      this.loops.push(this.worker(w, c));
    }
    for (let r = 0; this.opts.replayClasses.length > 0 && r < (this.opts.replayers ?? 1); r++) {
      const c = this.client(this.opts.workers + r, eps);
      this.clients.push(c);
      this.loops.push(this.replayer(c));
    }
  }

  /** Asks every worker to stop after its current operation and waits (bounded by the operation timeout). */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.loops);
  }

  /** Closes every client (after stop). */
  async close(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.clients, ...this.readers].map((c) => c.close()));
  }

  private count(f: string, kind: 'ok' | 'fail' | 'info'): void {
    this.counts[kind]++;
    const b = (this.counts.byF[f] ??= { ok: 0, fail: 0, info: 0 });
    b[kind]++;
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.rand() * xs.length)]!;
  }

  private async worker(w: number, c: SessionraftClient): Promise<void> {
    const W = this.opts.workers;
    let gen = 0;
    const rec = this.recorder;
    // One operation: invoke, run (it records ok itself); a fail or info is recorded here, and after
    // an info the worker continues as a new process number.
    const op = async (f: string, value: string | null, key: string | undefined, run: () => Promise<unknown>): Promise<unknown> => {
      const p = w + W * gen;
      rec.invoke(p, f, value, key);
      this.counts.invoked++;
      try {
        const out = await run();
        return out;
      } catch (err) {
        const o = outcomeOf(err);
        if (o.kind === 'fail') {
          rec.fail(p, o.error);
          this.count(f, 'fail');
          if (o.error === 'not-found' && key !== undefined) this.forget(key);
        } else {
          rec.info(p, o.error);
          this.count(f, 'info');
          gen++;
        }
        return undefined;
      }
    };
    while (!this.stopping) {
      const r = this.rand();
      const p = (): number => w + W * gen;
      if (this.hot.length < this.opts.hotSessions && (this.hot.length === 0 || r < 0.1)) {
        const topic = `t${w}`;
        await op('create', topic, undefined, async () => {
          const out = await c.createSession(topic);
          rec.ok(p(), topic, out.id);
          this.count('create', 'ok');
          this.hot.push(out.id);
          this.sizes.set(out.id, 0);
        });
        continue;
      }
      if (this.hot.length === 0) continue;
      const key = this.pick(this.hot);
      if (r < 0.6) {
        const v = `w${w}-${this.nextValue++}`;
        await op('append', v, key, async () => {
          await c.append(key, v);
          rec.ok(p());
          this.count('append', 'ok');
          this.sizes.set(key, (this.sizes.get(key) ?? 0) + 1);
          this.onAppendOk?.();
        });
      } else if (r < 0.92) {
        const reader = this.pick(this.readers);
        await op('read', null, key, async () => {
          const s = await reader.get(key);
          rec.ok(p(), s === null ? null : s.records.map(text));
          this.count('read', 'ok');
          if (s === null) this.forget(key);
        });
      } else if (r < 0.985) {
        if ((this.sizes.get(key) ?? 0) < this.opts.recordsMax) continue;
        const v = `w${w}-${this.nextValue++}`;
        await op('rewrite', v, key, async () => {
          await c.rewrite(key, v);
          rec.ok(p());
          this.count('rewrite', 'ok');
          this.sizes.set(key, 1);
        });
      } else {
        if (this.hot.length < this.opts.hotSessions) continue;
        this.forget(key);
        await op('destroy', null, key, async () => {
          await c.destroy(key);
          rec.ok(p());
          this.count('destroy', 'ok');
        });
      }
    }
  }

  private forget(key: string): void {
    const k = this.hot.indexOf(key);
    if (k >= 0) this.hot.splice(k, 1);
  }

  /**
   * Stored sessions that must come back: create on topic `replay`, append two unique values, store
   * for replay in one of the classes. Not part of the checked history (the sessions model has no
   * store); replay.ts checks these sessions at the end.
   */
  private async replayer(c: SessionraftClient): Promise<void> {
    let k = 0;
    while (!this.stopping) {
      let id: string;
      try {
        id = (await c.createSession('replay')).id;
      } catch {
        continue;
      }
      const poison = this.rand() < (this.opts.replayPoisonRate ?? 0);
      const s: ReplaySession = { id, acked: [], sent: [], store: null, storedAt: 0, replayClass: -1, poison };
      this.replay.push(s);
      let unknown = false;
      for (let j = 0; j < 2 && !this.stopping; j++) {
        const v = `${poison ? 'rp' : 'r'}-${k++}`;
        s.sent.push(v);
        try {
          await c.append(id, v);
          s.acked.push(v);
        } catch {
          unknown = true;
          break;
        }
      }
      if (unknown || this.stopping) continue;
      const cls = this.pick(this.opts.replayClasses);
      s.replayClass = cls;
      s.storedAt = Date.now();
      try {
        await c.store(id, { replay: cls });
        s.store = 'ok';
      } catch (err) {
        s.store = outcomeOf(err).kind;
      }
    }
  }
}
