/**
 * The three-node cluster of the read-back tests (test/raft/readBack*.test.ts): RaftNodes in one
 * process on real WALs in a temporary directory, a network that can cut a node off, a 64 KiB log
 * window, 5 ms ticks, and snapshot saves that can be made slow.
 */
import { RaftNode } from '../../actors/raft/raftNode.js';
import type { StateMachine } from '../../actors/raft/stateMachine.js';
import { defaultRaftConfig, type RaftConfig } from '../../machines/config.js';
import { EntryKind, type NodeId, type RaftMessage, type SnapshotMeta } from '../../machines/types.js';
import { openLogAsync, type OpenedLog } from '../../storage/openLog.js';
import type { SnapshotStore } from '../../storage/types.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, tempDir } from '../storage/helpers.js';
import { raftNodeOnLog } from './nodeOnLog.js';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ids: NodeId[] = ['n1', 'n2', 'n3'];
export const windowBytes = 64 * 1024;

/** Counts applied entries and their bytes; a snapshot is that count (so catch-up is checkable). */
export class Counter implements StateMachine {
  applied = 0;
  apply(entries: readonly { data: Uint8Array }[]): readonly unknown[] {
    this.applied += entries.length;
    return entries.map(() => null);
  }
  snapshot(): Uint8Array {
    return new TextEncoder().encode(String(this.applied));
  }
  restore(_meta: SnapshotMeta, data: Uint8Array): void {
    this.applied = Number(new TextDecoder().decode(data));
  }
}

/** What a test changes in the cluster: Raft settings, and snapshot saves made slow. */
export interface ClusterOptions {
  readonly raft?: Partial<RaftConfig>;
  /** Each of n1's snapshot saves reports done this much later (a large state on a slow disk). */
  readonly leaderSaveDelayMs?: number;
  /** Every node's saves are that slow, not only n1's. */
  readonly allSlow?: boolean;
}

/** A snapshot store whose saves report `delayMs` late (the file is written at once). */
function slowSaves(store: SnapshotStore, delayMs: number): SnapshotStore {
  return {
    save: (meta, data, cb) => store.save(meta, data, (err) => setTimeout(() => cb(err), delayMs)),
    load: () => store.load(),
    openData: (meta) => store.openData(meta),
  };
}

export class Cluster {
  constructor(private readonly options: ClusterOptions = {}) {}
  readonly nodes = new Map<NodeId, RaftNode>();
  readonly logs = new Map<NodeId, OpenedLog>();
  /** Nodes cut off from everyone (messages to and from them are dropped). */
  readonly cut = new Set<NodeId>();
  private ticker: NodeJS.Timeout | null = null;
  private readonly t = tempDir('readback-raft');
  /** The cluster's data directory (a directory per node). */
  readonly dir = this.t.dir;

  async start(): Promise<void> {
    for (const id of ids) await this.open(id);
    this.ticker = setInterval(() => {
      for (const n of this.nodes.values()) n.tick();
    }, 5);
  }

  /** Stops `id` and starts it again on its WAL and snapshot (what it saved is what it has). */
  async restart(id: NodeId): Promise<void> {
    this.n(id).stop();
    this.nodes.delete(id);
    await closeAsync(this.logs.get(id)!);
    this.logs.delete(id);
    await this.open(id);
  }

  private async open(id: NodeId): Promise<void> {
    const opened = await openLogAsync(realFs, join(this.t.dir, id), { segmentBytesMax: 64 * 1024, retainBytesMax: 8 * 1024 * 1024 });
    this.logs.set(id, opened);
    const delayMs = id === 'n1' || this.options.allSlow === true ? this.options.leaderSaveDelayMs : undefined;
    const node = raftNodeOnLog(opened, {
      ...(delayMs === undefined ? {} : { snapshotStore: slowSaves(opened.snapshots, delayMs) }),
      id,
      membership: { voters: ids, learners: [] },
      raft: { ...defaultRaftConfig, appendBytesMax: 256 * 1024, ...this.options.raft },
      transport: {
        send: (to: NodeId, m: RaftMessage) => {
          if (this.cut.has(id) || this.cut.has(to)) return;
          setImmediate(() => this.nodes.get(to)?.receive(m));
        },
        onMessage: () => undefined,
        close: (cb: () => void) => cb(),
      },
      stateMachine: new Counter(),
      logWindowBytesMax: windowBytes,
      readBackBatchBytesMax: 32 * 1024,
    });
    this.nodes.set(id, node);
  }

  n(id: NodeId): RaftNode {
    return this.nodes.get(id)!;
  }

  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    for (const n of this.nodes.values()) n.stop();
    for (const o of this.logs.values()) await closeAsync(o).catch(() => undefined);
    this.t.cleanup();
  }

  /** Proposes `bytes` of data through `via` (n1 unless said); resolves once applied there. */
  propose(bytes: number, via: NodeId = 'n1'): Promise<void> {
    return new Promise((resolve, reject) =>
      this.n(via).propose({ kind: EntryKind.command, data: new Uint8Array(bytes).fill(7) }, (err) => (err ? reject(err) : resolve())),
    );
  }
}

/** Polls `ok` every 5 ms until it holds; fails after `timeoutMs` with `what`. */
export async function waitFor(what: string, ok: () => boolean, timeoutMs: number, each?: () => void): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    each?.();
    if (ok()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Cuts n3 off once it holds what n1 committed, then writes `rounds` x 20 entries of 1 KiB through
 * n1 (20 in flight). Returns n3's last index when it was cut off.
 */
export async function cutN3AndWrite(c: Cluster, rounds: number): Promise<number> {
  await c.propose(100);
  await waitFor('n3 to follow', () => c.n('n3').status().appliedIndex >= c.n('n1').status().commitIndex, 10_000);
  c.cut.add('n3');
  const behind = c.n('n3').status().lastIndex;
  for (let k = 0; k < rounds; k++) await Promise.all(Array.from({ length: 20 }, () => c.propose(1024)));
  return behind;
}

/** A started cluster led by n1 for each test of the suite (stopped after it). */
export function clusterPerTest(suite: Mocha.Suite, options: ClusterOptions = {}): () => Cluster {
  // Elections and 600 KiB of appends on real disks; the waits below are bounded on their own.
  suite.timeout(60_000);
  let c: Cluster;
  beforeEach(async () => {
    c = new Cluster(options);
    await c.start();
    c.n('n1').campaign();
    // A few election timeouts of 5 ms ticks: generous on a loaded machine.
    await waitFor('n1 to lead', () => c.n('n1').role() === 'leader', 10_000);
  });
  afterEach(async () => {
    await c.stop();
  });
  return () => c;
}

/** Damages every entry record of n1's WAL segments but the newest, behind the WAL's back. */
export function damageOlderSegments(c: Cluster): void {
  const walDir = join(c.dir, 'n1', 'wal');
  const names = readdirSync(walDir)
    .filter((n) => n.endsWith('.wal'))
    .sort();
  for (const name of names.slice(0, -1)) {
    const p = join(walDir, name);
    const b = readFileSync(p);
    for (let i = 200; i < b.length; i += 512) b[i]! ^= 0x40;
    writeFileSync(p, b);
  }
}
