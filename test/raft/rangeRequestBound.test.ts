/**
 * A rangeRequest's size is bounded (a review of how RaftNode takes peer messages, 2026-12-07; fails
 * on the code before). Until then a leader served a rangeRequest whole, synchronously,
 * however much it asks for. The follower's own RangeSyncReceiver asks for at most batchBytes
 * (16 MiB) per request, but the leader does not hold a peer to that: one request that fits in a
 * 4 MiB frame (tens of thousands of ranges, each up to a whole 64 MiB data file, the same range
 * repeated) makes the leader read, hash, CRC and send every byte before its event loop turns again.
 * A member (or any peer the host authenticated) may send it at any time: snapshotIndex is not checked
 * against anything.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import type { StateMachine } from '../../actors/raft/stateMachine.js';
import type { RangeSyncStore } from '../../actors/raft/rangeSync.js';
import type { FileByteRange, RaftMessage, RangeRequest } from '../../machines/types.js';
import { decodeMessage, encodeMessages } from '../../transport/peer/codec.js';
import { openLogAsync } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, tempDir } from '../storage/helpers.js';
import { raftNodeOnLog, until } from '../raft/nodeOnLog.js';

const nothing: StateMachine = {
  apply: (entries) => entries.map(() => null),
  snapshot: () => new Uint8Array(0),
  restore: () => undefined,
};

describe('raft node: a rangeRequest past a batch is refused and counted (2026-12-07)', function () {
  this.timeout(120_000);

  it('one request makes the leader read at most what a follower asks per batch (16 MiB)', async () => {
    const t = tempDir('range-request');
    const opened = await openLogAsync(realFs, join(t.dir, 'n1'));
    const FILE_BYTES = 1024 * 1024; // each range: 1 MiB of a data file (files reach 64 MiB)
    const file = new Uint8Array(FILE_BYTES);
    let bytesRead = 0;
    let sentChunks = 0;
    const store: RangeSyncStore = {
      missingRanges: () => [],
      readRange: (r) => {
        bytesRead += r.end - r.start;
        return file.subarray(r.start, r.end);
      },
      writeRange: () => undefined,
    };
    const node = raftNodeOnLog(opened, {
      id: 'n1',
      membership: { voters: ['n1'], learners: ['n2'] },
      stateMachine: nothing,
      rangeSync: store,
      transport: {
        send: (_to, m: RaftMessage) => {
          if (m.type === 'rangeChunk') sentChunks++;
        },
        onMessage: () => undefined,
        close: (cb) => cb(),
      },
    });
    try {
      for (let i = 0; i < 200 && node.role() !== 'leader'; i++) {
        node.tick();
        await new Promise((r) => setImmediate(r));
      }
      await until('n1 leads', () => node.role() === 'leader', 10_000);
      // The same range, 1,000 times: the frame stays far below frameBytesMax (4 MiB) and within
      // the decode limits (65,536 ranges a request).
      const range: FileByteRange = { name: 'data/0/0000000000000001000000000000000a.dat', start: 0, end: FILE_BYTES, hash: '0123456789abcdef' };
      const req: RangeRequest = { type: 'rangeRequest', from: 'n2', to: 'n1', term: node.term(), snapshotIndex: 12345, ranges: new Array(1000).fill(range) };
      const frame = encodeMessages([req]);
      const decoded = decodeMessage(frame) as RangeRequest;
      expect(decoded.ranges.length).to.equal(1000);
      const started = process.hrtime.bigint();
      node.receive(decoded);
      const blockedMs = Number(process.hrtime.bigint() - started) / 1e6;
      expect(
        bytesRead,
        `one ${frame.length}-byte rangeRequest made the leader read ${(bytesRead / 1048576).toFixed(0)} MiB and emit ${sentChunks} rangeChunk messages in one synchronous call (${blockedMs.toFixed(0)} ms)`,
      ).to.be.at.most(16 * 1024 * 1024);
    } finally {
      node.stop();
      await closeAsync(opened).catch(() => undefined);
      t.cleanup();
    }
  });
});
