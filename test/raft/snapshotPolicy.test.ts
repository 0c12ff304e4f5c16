/**
 * When a RaftNode takes a snapshot (issue 20, `snapshotLogRatio`): after `snapshotEntries` entries,
 * and only once those entries weigh `snapshotLogRatio` times the last snapshot's bytes; the
 * `logWindowBytesMax` bound takes one whatever the ratio says. One voter on a real WAL in a
 * temporary directory, a state machine whose snapshot is 64 KiB, entries of 100 bytes.
 */
import { expect } from 'chai';
import type { StateMachine } from '../../actors/raft/stateMachine.js';
import { EntryKind, type SnapshotMeta } from '../../machines/types.js';
import { openLogAsync, type OpenedLog } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, tempDir } from '../storage/helpers.js';
import { raftNodeOnLog } from './nodeOnLog.js';
import { join } from 'node:path';

const snapshotBytes = 64 * 1024;

class Fixed implements StateMachine {
  apply(entries: readonly { data: Uint8Array }[]): readonly unknown[] {
    return entries.map(() => null);
  }
  snapshot(): Uint8Array {
    return new Uint8Array(snapshotBytes);
  }
  restore(_meta: SnapshotMeta, _data: Uint8Array): void {}
}

interface Life {
  readonly ratio?: number;
  readonly windowBytes?: number;
  readonly entries: number;
}

async function run(opts: Life): Promise<{ taken: number }> {
  const t = tempDir('snapshot-policy');
  try {
    return await life(t.dir, opts);
  } finally {
    t.cleanup();
  }
}

/** One life of the node on `dir`: elected, `entries` proposed one at a time, stopped. */
async function life(dir: string, opts: Life): Promise<{ taken: number }> {
  const opened: OpenedLog = await openLogAsync(realFs, join(dir, 'n1'));
  const node = raftNodeOnLog(opened, {
    id: 'n1',
    membership: { voters: ['n1'], learners: [] },
    stateMachine: new Fixed(),
    snapshotEntries: 10,
    compactMarginEntries: 5,
    ...(opts.ratio !== undefined ? { snapshotLogRatio: opts.ratio } : {}),
    ...(opts.windowBytes !== undefined ? { logWindowBytesMax: opts.windowBytes } : {}),
  });
  const ticker = setInterval(() => node.tick(), 2);
  try {
    // Bounded: a lone voter elects itself within its election timeout (tens of ticks of 2 ms).
    const deadline = Date.now() + 10_000;
    while (node.role() !== 'leader') {
      if (Date.now() > deadline) throw new Error('the lone voter did not lead within 10 s');
      await new Promise((r) => setTimeout(r, 2));
    }
    // One at a time, so that every apply is followed by the snapshot check of its flush.
    for (let k = 0; k < opts.entries; k++) {
      await new Promise<void>((resolve, reject) =>
        node.propose({ kind: EntryKind.command, data: new Uint8Array(100).fill(k & 0xff) }, (err) => (err ? reject(err) : resolve())),
      );
    }
    // The last snapshot's save may still be running: counted once it is durable (bounded wait).
    const taken = (): number => node.counters.get('snapshot-taken') ?? 0;
    const settle = Date.now() + 5_000;
    while (node.savingSnapshot && Date.now() < settle) await new Promise((r) => setTimeout(r, 2));
    return { taken: taken() };
  } finally {
    clearInterval(ticker);
    node.stop();
    await closeAsync(opened).catch(() => undefined);
  }
}

describe('raft: when a snapshot is taken (snapshotEntries, snapshotLogRatio, logWindowBytesMax)', function () {
  this.timeout(30_000);

  it('without a ratio, every snapshotEntries entries', async function () {
    const { taken } = await run({ entries: 60 });
    // 60 entries, a snapshot each 10 (fewer when a save is still running at the next tenth).
    expect(taken).to.be.within(3, 6);
  });

  it('with a ratio of 1, only once the entries since the last snapshot weigh its 64 KiB', async function () {
    // Entries are about 100 bytes plus their overhead: the first snapshot comes after 10 entries
    // (there was none before: 0 bytes), the next only after some 500 more.
    const few = await run({ ratio: 1, entries: 300 });
    expect(few.taken, 'one snapshot in 300 entries of ~100 B against 64 KiB').to.equal(1);
    const many = await run({ ratio: 1, entries: 900 });
    expect(many.taken, 'a second one once 64 KiB of entries were applied').to.equal(2);
  });

  it('after a restart, the bytes of the recovered snapshot count: no new one for a few small entries', async function () {
    const t = tempDir('snapshot-policy-restart');
    try {
      const first = await life(t.dir, { ratio: 1, entries: 20 });
      expect(first.taken, 'the first life saved its 64 KiB snapshot').to.equal(1);
      const second = await life(t.dir, { ratio: 1, entries: 300 });
      expect(second.taken, '300 entries of ~100 B against the recovered 64 KiB').to.equal(0);
    } finally {
      t.cleanup();
    }
  });

  it('logWindowBytesMax still takes one whatever the ratio says', async function () {
    const { taken } = await run({ ratio: 100, windowBytes: 8 * 1024, entries: 300 });
    // About 8 KiB of entries (some 70 of ~124 B) between snapshots: 4 or 5 in 300 entries (one
    // every 10 entries, some 30, were the ratio ignored; none after the first, were the window).
    expect(taken).to.be.within(3, 6);
  });
});
