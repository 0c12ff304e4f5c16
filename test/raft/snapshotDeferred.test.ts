/**
 * A snapshot whose durability work is left to the state machine (`snapshotPartsDeferred`, issue 16:
 * the session store's data-file fsyncs off the event loop): Raft saves it only once `durable` calls
 * back, and a failure there stops the node (fail-stop, as a failed snapshot write does). Also the
 * real file system's `syncLater`, which does that work.
 */
import { expect } from 'chai';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NodeSessionFs } from '../../actors/sessions/fs.js';
import type { StateMachine } from '../../actors/raft/stateMachine.js';
import { EntryKind, type SnapshotMeta } from '../../machines/types.js';
import { openLogAsync } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, tempDir } from '../storage/helpers.js';
import { raftNodeOnLog, until } from './nodeOnLog.js';

class Deferred implements StateMachine {
  readonly waiting: ((err: Error | null) => void)[] = [];
  /** apply throws this (once) when set: what a data file's failed write throws. */
  failApply: Error | null = null;
  applied = 0;
  apply(entries: readonly { data: Uint8Array }[]): readonly unknown[] {
    const err = this.failApply;
    if (err !== null) {
      this.failApply = null;
      throw err;
    }
    this.applied += entries.length;
    return entries.map(() => null);
  }
  snapshot(): Uint8Array {
    return new Uint8Array(1024);
  }
  snapshotPartsDeferred(): { parts: readonly Uint8Array[]; durable(cb: (err: Error | null) => void): void } {
    return { parts: [new Uint8Array(1024)], durable: (cb) => this.waiting.push(cb) };
  }
  restore(_meta: SnapshotMeta, _data: Uint8Array): void {}
}

async function withNode(fn: (node: ReturnType<typeof raftNodeOnLog>, sm: Deferred, fatal: Error[]) => Promise<void>): Promise<void> {
  const t = tempDir('snapshot-deferred');
  const opened = await openLogAsync(realFs, join(t.dir, 'n1'));
  const sm = new Deferred();
  const fatal: Error[] = [];
  const node = raftNodeOnLog(opened, {
    id: 'n1',
    membership: { voters: ['n1'], learners: [] },
    stateMachine: sm,
    snapshotEntries: 5,
    compactMarginEntries: 1,
    onFatal: (err) => fatal.push(err),
  });
  const ticker = setInterval(() => node.tick(), 2);
  try {
    // A lone voter elects itself within its election timeout (tens of 2 ms ticks); 10 s on a loaded box.
    await until('the lone voter leads', () => node.role() === 'leader', 10_000);
    await fn(node, sm, fatal);
  } finally {
    clearInterval(ticker);
    node.stop();
    await closeAsync(opened).catch(() => undefined);
    t.cleanup();
  }
}

function propose(node: ReturnType<typeof raftNodeOnLog>, k: number): Promise<void> {
  return new Promise((resolve, reject) =>
    node.propose({ kind: EntryKind.command, data: new Uint8Array(64).fill(k) }, (err) => (err ? reject(err) : resolve())),
  );
}

describe('raft: a snapshot saved once the state machine made it durable (snapshotPartsDeferred)', function () {
  this.timeout(30_000);

  it('is saved only after durable() calls back, and counted then', async () => {
    await withNode(async (node, sm) => {
      for (let k = 0; k < 8; k++) await propose(node, k);
      await until('the snapshot asks for durability', () => sm.waiting.length === 1, 5_000);
      expect(node.savingSnapshot).to.equal(true);
      expect(node.counters.get('snapshot-taken') ?? 0).to.equal(0);
      sm.waiting[0]!(null);
      // The save itself (a file write and fsync) follows; 5 s bounds it on a loaded box.
      await until('the snapshot is saved', () => (node.counters.get('snapshot-taken') ?? 0) === 1, 5_000);
    });
  });

  it("a disk error from the state machine's apply (a data file's write: ENOSPC) stops the node (fail-stop); its proposal's outcome is unknown", async () => {
    await withNode(async (node, sm, fatal) => {
      await propose(node, 1);
      const before = sm.applied;
      sm.failApply = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      const outcome = await propose(node, 2).then(
        () => 'ok',
        (err: { code?: string }) => err.code,
      );
      expect(outcome).to.equal('node-stopped');
      expect(node.isStopped()).to.equal(true);
      expect(node.counters.get('disk-fatal')).to.equal(1);
      expect(fatal.map((e) => (e as { code?: string }).code)).to.deep.equal(['ENOSPC']);
      expect(sm.applied).to.equal(before, 'nothing more applied');
    });
  });

  it('a failure to make it durable stops the node (fail-stop), and nothing is saved', async () => {
    await withNode(async (node, sm) => {
      for (let k = 0; k < 8; k++) await propose(node, k);
      await until('the snapshot asks for durability', () => sm.waiting.length === 1, 5_000);
      sm.waiting[0]!(Object.assign(new Error('fdatasync failed'), { code: 'EIO' }));
      expect(node.isStopped()).to.equal(true);
      expect(node.counters.get('snapshot-taken') ?? 0).to.equal(0);
    });
  });
});

describe('sessions: NodeSessionFs.syncLater (data-file fsyncs off the event loop)', () => {
  const openFds = (): number => readdirSync('/proc/self/fd').length;

  it('syncs files and directories, ignores a directory that does not exist, and closes what it opened', async () => {
    const t = tempDir('sync-later');
    try {
      mkdirSync(join(t.dir, 'data', '0'), { recursive: true });
      writeFileSync(join(t.dir, 'data', '0', 'a'), 'x');
      writeFileSync(join(t.dir, 'data', '0', 'b'), 'y');
      const fs = new NodeSessionFs(t.dir);
      const before = openFds();
      const err = await new Promise<Error | null>((resolve) => fs.syncLater(['data/0/a', 'data/0/b'], ['data/0', 'data', 'trash', ''], resolve));
      expect(err).to.equal(null);
      expect(openFds()).to.equal(before);
    } finally {
      t.cleanup();
    }
  });

  it('answers a missing file with its error, asynchronously, and leaks no descriptor', async () => {
    const t = tempDir('sync-later');
    try {
      writeFileSync(join(t.dir, 'a'), 'x');
      const fs = new NodeSessionFs(t.dir);
      const before = openFds();
      let inCall = true;
      let calledInCall: boolean | null = null;
      const err = await new Promise<Error | null>((resolve) => {
        fs.syncLater(['a', 'missing'], [''], (e) => {
          calledInCall = inCall;
          resolve(e);
        });
        inCall = false;
      });
      expect(calledInCall).to.equal(false);
      expect((err as NodeJS.ErrnoException | null)?.code).to.equal('ENOENT');
      expect(openFds()).to.equal(before);
    } finally {
      t.cleanup();
    }
  });
});
