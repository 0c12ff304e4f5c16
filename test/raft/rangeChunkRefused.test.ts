/**
 * A follower's range sync (seed 004) when writing a fetched range fails: bytes the store refuses
 * (not the range's digest: a leader's or the wire's fault) end that sync and the node keeps
 * serving; a disk error stops the node (fail-stop). Either used to escape the node's message
 * handling as an uncaught exception.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import { SessionsError, SessionsErrorCode } from '../../actors/sessions/errors.js';
import type { StateMachine } from '../../actors/raft/stateMachine.js';
import type { RangeSyncStore } from '../../actors/raft/rangeSync.js';
import type { FileByteRange, RaftMessage, SnapshotMeta } from '../../machines/types.js';
import { crc32Bytes } from '../../storage/crc.js';
import { openLogAsync } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, tempDir } from '../storage/helpers.js';
import { raftNodeOnLog, until } from './nodeOnLog.js';

const nothing: StateMachine = {
  apply: (entries) => entries.map(() => null),
  snapshot: () => new Uint8Array(0),
  restore: () => undefined,
};

const range: FileByteRange = { name: 'data/0/0000000000000001000000000000000a.dat', start: 0, end: 4, hash: '00' };

async function followerFetching(writeRangeThrows: Error): Promise<{ counter: (name: string) => number; stopped: boolean; fatal: Error[] }> {
  const t = tempDir('range-chunk');
  const opened = await openLogAsync(realFs, join(t.dir, 'n2'));
  const sent: RaftMessage[] = [];
  const fatal: Error[] = [];
  const store: RangeSyncStore = {
    missingRanges: () => [range],
    readRange: () => {
      throw new Error('not a leader here');
    },
    writeRange: () => {
      throw writeRangeThrows;
    },
  };
  const node = raftNodeOnLog(opened, {
    id: 'n2',
    membership: { voters: ['n1', 'n2', 'n3'], learners: [] },
    stateMachine: nothing,
    rangeSync: store,
    transport: { send: (_to, m) => sent.push(m), onMessage: () => undefined, close: (cb) => cb() },
    onFatal: (err) => fatal.push(err),
  });
  try {
    const manifest = new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]);
    const meta: SnapshotMeta = { index: 10, term: 1, membership: { voters: ['n1', 'n2', 'n3'], learners: [] } };
    node.receive({
      type: 'snapshot',
      from: 'n1',
      to: 'n2',
      term: 1,
      meta,
      offset: 0,
      totalBytes: manifest.length,
      dataCrc: crc32Bytes(manifest, 0),
      data: manifest,
      done: true,
    });
    // The node asks the leader for the range it lacks (a flush on a later turn; 5 s on a loaded box).
    await until('the follower requests the range', () => sent.some((m) => m.type === 'rangeRequest'), 5_000);
    const data = new Uint8Array([9, 9, 9, 9]);
    node.receive({ type: 'rangeChunk', from: 'n1', to: 'n2', term: 1, snapshotIndex: 10, name: range.name, start: 0, data, crc32: crc32Bytes(data, 0) });
    // Whatever the chunk started runs on later turns too (a flush); let them run.
    await new Promise((r) => setImmediate(r));
    return { counter: (name) => node.counters.get(name) ?? 0, stopped: node.isStopped(), fatal };
  } finally {
    node.stop();
    await closeAsync(opened).catch(() => undefined);
    t.cleanup();
  }
}

describe('raft: a follower whose fetched range cannot be written', function () {
  this.timeout(20_000);

  it('refuses bytes that do not match the range digest: counted, the sync ends, the node keeps serving', async () => {
    const r = await followerFetching(new SessionsError(SessionsErrorCode.rangeChecksum, `${range.name} 0..4: hash mismatch`));
    expect(r.counter('range-chunk-refused')).to.equal(1);
    expect(r.counter('disk-fatal')).to.equal(0);
    expect(r.fatal).to.deep.equal([]);
    expect(r.stopped).to.equal(false);
  });

  it('stops on a disk error writing it (fail-stop)', async () => {
    const r = await followerFetching(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }));
    expect(r.counter('disk-fatal')).to.equal(1);
    expect(r.stopped).to.equal(true);
    expect(r.fatal.map((e) => (e as { code?: string }).code)).to.deep.equal(['ENOSPC']);
    expect(r.counter('range-chunk-refused')).to.equal(0);
  });
});
