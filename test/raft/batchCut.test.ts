/**
 * A turn's proposals beyond `proposalEntriesMax`: RaftNode cuts them into chunks the leader takes
 * (it refuses a larger batch whole, 'batch-too-large', which refused every client's commands in it),
 * never between proposals tied with `withPrevious` (a schedule's append and store with their create),
 * and shows `onProposing` the whole turn once. Once a chunk is refused, the rest are refused with it
 * and never stepped, so that nothing lands where an earlier chunk was bound.
 */
import { expect } from 'chai';
import type { StateMachine } from '../../actors/raft/stateMachine.js';
import type { ProposalError } from '../../actors/raft/proposals.js';
import { defaultRaftConfig, type RaftConfig } from '../../machines/config.js';
import { entryOverheadBytes } from '../../machines/raftLog.js';
import { EntryKind, type Entry, type SnapshotMeta } from '../../machines/types.js';
import { openLogAsync } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, tempDir } from '../storage/helpers.js';
import { raftNodeOnLog, until } from './nodeOnLog.js';
import { SimCluster } from '../sim/cluster.js';
import { join } from 'node:path';

class Recording implements StateMachine {
  readonly applied: number[] = [];
  apply(entries: readonly { data: Uint8Array }[]): readonly unknown[] {
    for (const e of entries) this.applied.push(e.data[0]!);
    return entries.map(() => null);
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(_meta: SnapshotMeta, _data: Uint8Array): void {}
}

interface Seen {
  proposing: { firstIndex: number; count: number }[];
  appended: number[][];
  refusedHooks: number;
  /** Called from onProposing after it is recorded. */
  onProposing?: () => void;
}

type Node = ReturnType<typeof raftNodeOnLog>;

async function withLeader(raft: Partial<RaftConfig>, fn: (node: Node, sm: Recording, seen: Seen) => Promise<void>): Promise<void> {
  const t = tempDir('batch-cut');
  const opened = await openLogAsync(realFs, join(t.dir, 'n1'));
  const sm = new Recording();
  const seen: Seen = { proposing: [], appended: [], refusedHooks: 0 };
  const node = raftNodeOnLog(opened, {
    id: 'n1',
    membership: { voters: ['n1'], learners: [] },
    stateMachine: sm,
    raft: { ...defaultRaftConfig, ...raft },
    hooks: {
      onProposing: (firstIndex, _term, count) => {
        seen.proposing.push({ firstIndex, count });
        seen.onProposing?.();
      },
      onLeaderAppended: (entries: readonly Entry[]) => seen.appended.push(entries.map((e) => e.data[0]!)),
      onProposalsRefused: () => seen.refusedHooks++,
    },
  });
  const ticker = setInterval(() => node.tick(), 2);
  try {
    // A lone voter elects itself within its election timeout (tens of 2 ms ticks); 10 s on a loaded box.
    await until('the lone voter leads', () => node.role() === 'leader', 10_000);
    // Its first entry (the leader's no-op) committed: nothing uncommitted before the test's batch.
    await until('the no-op is applied', () => node.status().appliedIndex >= node.status().lastIndex, 10_000);
    await fn(node, sm, seen);
  } finally {
    clearInterval(ticker);
    node.stop();
    await closeAsync(opened).catch(() => undefined);
    t.cleanup();
  }
}

/** Proposes `count` one-byte-tagged commands in one turn (`tied`: positions proposed withPrevious); resolves with each outcome. */
function proposeTurn(node: Node, count: number, tied: ReadonlySet<number>, dataBytes = 16): Promise<(number | string)[]> {
  return new Promise((resolve) => {
    const out: (number | string)[] = new Array(count);
    let left = count;
    for (let k = 0; k < count; k++) {
      node.propose(
        { kind: EntryKind.command, data: new Uint8Array(dataBytes).fill(k) },
        (err, _r, entry) => {
          out[k] = err === null ? entry!.index : (err as ProposalError).code;
          if (--left === 0) resolve(out);
        },
        tied.has(k),
      );
    }
  });
}

describe('raft: a turn of proposals beyond proposalEntriesMax is cut, never between tied ones', function () {
  this.timeout(30_000);

  it('20 proposals with a limit of 8: chunks of 6, 8 and 6 (the cut at 8 moved before a tied run), all appended in order', async () => {
    await withLeader({ proposalEntriesMax: 8 }, async (node, sm, seen) => {
      const first = node.status().lastIndex + 1;
      // 6, 7 and 8 go together (7 and 8 tied to the one before), as a schedule's create, append and store.
      const out = await proposeTurn(node, 20, new Set([7, 8]));
      expect(out).to.deep.equal(Array.from({ length: 20 }, (_, k) => first + k));
      expect(seen.proposing).to.deep.equal([{ firstIndex: first, count: 20 }]);
      expect(seen.appended.map((a) => a.length)).to.deep.equal([6, 8, 6]);
      expect(seen.appended.flat()).to.deep.equal(Array.from({ length: 20 }, (_, k) => k));
      expect(sm.applied.slice(-20)).to.deep.equal(Array.from({ length: 20 }, (_, k) => k));
      expect(node.counters.get('proposal-batch-cut')).to.equal(1);
      expect(node.counters.get('proposal-batch-cut-at-tie'), 'the cut at 8 moved back to 6').to.equal(1);
      expect(seen.refusedHooks).to.equal(0);
    });
  });

  it('a turn within the limit is one step, uncut', async () => {
    await withLeader({ proposalEntriesMax: 8 }, async (node, _sm, seen) => {
      const first = node.status().lastIndex + 1;
      const out = await proposeTurn(node, 8, new Set([1, 2]));
      expect(out).to.deep.equal(Array.from({ length: 8 }, (_, k) => first + k));
      expect(seen.appended.map((a) => a.length)).to.deep.equal([8]);
      expect(node.counters.get('proposal-batch-cut') ?? 0).to.equal(0);
    });
  });

  it('a refused chunk takes every later one with it, unstepped; the earlier chunk stays appended', async () => {
    // Room for the first chunk of 6 only: the second (8) finds 6 uncommitted entries and is refused.
    const entryBytes = 16 + entryOverheadBytes;
    await withLeader({ proposalEntriesMax: 8, uncommittedBytesMax: 6 * entryBytes + 1 }, async (node, sm, seen) => {
      const first = node.status().lastIndex + 1;
      const out = await proposeTurn(node, 20, new Set([7, 8]));
      expect(out.slice(0, 6)).to.deep.equal(Array.from({ length: 6 }, (_, k) => first + k));
      expect(out.slice(6)).to.deep.equal(new Array(14).fill('too-many-uncommitted'));
      expect(seen.appended.map((a) => a.length)).to.deep.equal([6]);
      expect(seen.refusedHooks).to.equal(1);
      expect(sm.applied.slice(-6)).to.deep.equal([0, 1, 2, 3, 4, 5]);
      expect(node.status().lastIndex).to.equal(first + 5);
      // And the node goes on: the next turn is taken.
      const next = await proposeTurn(node, 3, new Set());
      expect(next).to.deep.equal([first + 6, first + 7, first + 8]);
    });
  });

  it('a tied run longer than the limit goes as one chunk, refused whole (batch-too-large), and every later chunk with it, unstepped', async () => {
    await withLeader({ proposalEntriesMax: 2 }, async (node, _sm, seen) => {
      const first = node.status().lastIndex + 1;
      // Chunks [0, 1], [2, 3, 4] (tied: a run of 3 against a limit of 2) and [5]. The last one fits,
      // but stepped after the refusal it would land at the index bound for 2 (the node asserts).
      const out = await proposeTurn(node, 6, new Set([3, 4]));
      expect(out).to.deep.equal([first, first + 1, 'batch-too-large', 'batch-too-large', 'batch-too-large', 'batch-too-large']);
      expect(seen.proposing).to.deep.equal([{ firstIndex: first, count: 6 }]);
      expect(seen.appended).to.deep.equal([[0, 1]]);
      expect(node.status().lastIndex).to.equal(first + 1);
      expect(node.isStopped()).to.equal(false);
    });
  });

  it('a stop while a cut turn is stepped answers every proposal of it once', async () => {
    await withLeader({ proposalEntriesMax: 8 }, async (node, _sm, seen) => {
      const answers: string[] = [];
      // Stopped as the turn is bound, before any of its three chunks is stepped.
      seen.onProposing = () => node.stop();
      for (let k = 0; k < 20; k++) {
        node.propose({ kind: EntryKind.command, data: new Uint8Array(16).fill(k) }, (err) => answers.push(err === null ? 'ok' : (err as ProposalError).code));
      }
      node.flush();
      expect(answers).to.have.length(20);
      expect(new Set(answers)).to.deep.equal(new Set(['node-stopped']));
    });
  });

  it("a session node refuses a limit below a schedule's three tied commands (every schedule would be refused)", () => {
    const cluster = (proposalEntriesMax: number): SimCluster =>
      new SimCluster({
        seed: 1,
        nodeCount: 1,
        bugs: new Set(),
        raft: { ...defaultRaftConfig, proposalEntriesMax },
        tickMs: 10,
        diskLatency: { syncMsMin: 0, syncMsMax: 1 },
        snapshotEntries: 1000,
        compactMarginEntries: 2,
        sessions: { replayDelaysMs: [30], dataFileBytesMax: 65536 },
      });
    expect(() => cluster(2).start()).to.throw(RangeError, /proposalEntriesMax must be at least 3/);
    expect(() => cluster(3).start()).not.to.throw();
  });
});
