/**
 * A chain of proposals in one flush: what the host proposes on hearing that an entry was appended
 * (sessions' schedule proposes the append and the store once the create is appended) is appended
 * in the same flush, written in the same WAL batch and sent in the same AppendEntries per follower
 * (mergeAppends). Before, each link of the chain waited for the next turn: two writes and two
 * messages per follower where one of each does.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import type { RaftNode } from '../../actors/raft/raftNode.js';
import type { StateMachine } from '../../actors/raft/stateMachine.js';
import { EntryKind, type AppendRequest, type Entry, type NodeId, type RaftMessage } from '../../machines/types.js';
import { openLogAsync, type OpenedLog } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, tempDir } from '../storage/helpers.js';
import { raftNodeOnLog } from './nodeOnLog.js';

const ids: NodeId[] = ['n1', 'n2', 'n3'];
const CREATE = 1;
const FOLLOW = 2;

class Applied implements StateMachine {
  readonly data: number[] = [];
  apply(entries: readonly Entry[]): readonly unknown[] {
    for (const e of entries) if (e.kind === EntryKind.command) this.data.push(e.data[0]!);
    return entries.map(() => null);
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(): void {}
}

async function waitFor(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('raft: proposals made on hearing of an append join its flush', function () {
  // Elections on 5 ms ticks and a few durable writes on real disks; each wait is bounded below.
  this.timeout(30_000);
  const t = tempDir('chained-proposals');
  const nodes = new Map<NodeId, RaftNode>();
  const logs = new Map<NodeId, OpenedLog>();
  const machines = new Map<NodeId, Applied>();
  /** AppendEntries with entries that n1 handed to its transport, in order. */
  const sent: AppendRequest[] = [];
  let ticker: NodeJS.Timeout | null = null;

  before(async () => {
    for (const id of ids) {
      const opened = await openLogAsync(realFs, join(t.dir, id), { segmentBytesMax: 64 * 1024, retainBytesMax: 8 * 1024 * 1024 });
      logs.set(id, opened);
      const sm = new Applied();
      machines.set(id, sm);
      nodes.set(
        id,
        raftNodeOnLog(opened, {
          id,
          membership: { voters: ids, learners: [] },
          transport: {
            send: (to: NodeId, m: RaftMessage) => {
              if (id === 'n1' && m.type === 'append' && m.entries.length > 0) sent.push(m);
              setImmediate(() => nodes.get(to)?.receive(m));
            },
            onMessage: () => undefined,
            close: (cb: () => void) => cb(),
          },
          stateMachine: sm,
          hooks: {
            // The host's chain: every CREATE appended by the leader is followed by a FOLLOW.
            onLeaderAppended: (entries) => {
              for (const e of entries) {
                if (e.kind === EntryKind.command && e.data[0] === CREATE)
                  nodes.get(id)!.propose({ kind: EntryKind.command, data: new Uint8Array([FOLLOW]) }, () => undefined);
              }
            },
          },
        }),
      );
    }
    ticker = setInterval(() => {
      for (const n of nodes.values()) n.tick();
    }, 5);
    nodes.get('n1')!.campaign();
    await waitFor('n1 to lead', () => nodes.get('n1')!.role() === 'leader', 10_000);
    // The leader's first entry (its term's empty entry) is applied everywhere before the test.
    await waitFor(
      'the leader to commit its first entry',
      () => ids.every((id) => nodes.get(id)!.status().appliedIndex >= nodes.get('n1')!.status().lastIndex),
      10_000,
    );
  });

  after(async () => {
    if (ticker) clearInterval(ticker);
    for (const n of nodes.values()) n.stop();
    for (const o of logs.values()) await closeAsync(o).catch(() => undefined);
    t.cleanup();
  });

  it('a create and its follow-up: one WAL batch on the leader, one AppendEntries per follower, applied in order everywhere', async () => {
    const leader = nodes.get('n1')!;
    const batchesBefore = logs.get('n1')!.log.stats.batches;
    sent.length = 0;
    const mergedBefore = leader.counters.get('appends-merged') ?? 0;
    leader.propose({ kind: EntryKind.command, data: new Uint8Array([CREATE]) }, () => undefined);
    await waitFor('both entries applied on every node', () => ids.every((id) => machines.get(id)!.data.length >= 2), 10_000);
    for (const id of ids) expect(machines.get(id)!.data, id).to.deep.equal([CREATE, FOLLOW]);
    // One message per follower carried both entries.
    for (const to of ['n2', 'n3']) {
      const toPeer = sent.filter((m) => m.to === to);
      expect(
        toPeer.map((m) => m.entries.map((e) => e.data[0])),
        to,
      ).to.deep.equal([[CREATE, FOLLOW]]);
    }
    expect((leader.counters.get('appends-merged') ?? 0) - mergedBefore).to.equal(2);
    expect(logs.get('n1')!.log.stats.batches - batchesBefore).to.equal(1);
  });
});
