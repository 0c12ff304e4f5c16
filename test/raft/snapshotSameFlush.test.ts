/**
 * Review of 2026-12-07 (snapshot install): RaftNode kept one `receivedSnapshot`, overwritten by
 * every snapshot the receiver completed, while Raft asks to install only those above its commit
 * index. A newer snapshot and then an older one completing in the same flush left the install
 * effect naming the newer one and `receivedSnapshot` holding the older: installSnapshot's check
 * failed and the node died (peer input reached an assertion). Now a completed snapshot is kept only
 * if Raft asks to install it (one slot), and a snapshot whose configuration no entry could carry is
 * refused on arrival.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import type { RaftNode } from '../../actors/raft/raftNode.js';
import type { StateMachine } from '../../actors/raft/stateMachine.js';
import type { Membership, NodeId, RaftMessage, SnapshotChunk, SnapshotMeta } from '../../machines/types.js';
import { crc32Bytes } from '../../storage/crc.js';
import { openLogAsync } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, tempDir } from '../storage/helpers.js';
import { raftNodeOnLog } from './nodeOnLog.js';

class Plain implements StateMachine {
  restored: number[] = [];
  apply(entries: readonly unknown[]): readonly unknown[] {
    return entries.map(() => null);
  }
  snapshot(): Uint8Array {
    return new Uint8Array(8);
  }
  restore(meta: SnapshotMeta): void {
    this.restored.push(meta.index);
  }
}

const voters: Membership = { voters: ['n1', 'n2', 'n3'], learners: [] };

function chunk(from: NodeId, term: number, index: number, membership: Membership = voters): SnapshotChunk {
  const data = new Uint8Array(1000).fill(index);
  return {
    type: 'snapshot',
    from,
    to: 'n2',
    term,
    meta: { index, term: 1, membership },
    offset: 0,
    totalBytes: data.length,
    dataCrc: crc32Bytes(data, 0),
    data,
    done: true,
  };
}

const heartbeat = (from: NodeId, term: number): RaftMessage => ({ type: 'heartbeat', from, to: 'n2', term, commit: 0, readCtx: 0 });

interface Outcome {
  error: unknown;
  restored: number[];
  /** After the last flush. */
  memory: ReturnType<RaftNode['memory']>;
  commitIndex: number;
  counters: Map<string, number>;
}

/** n2 receives each turn's messages, then flushes once (what setImmediate gives the node actor). */
async function run(turns: RaftMessage[][]): Promise<Outcome> {
  const t = tempDir('older-snapshot');
  const opened = await openLogAsync(realFs, join(t.dir, 'n2'));
  const sm = new Plain();
  const deferred: (() => void)[] = [];
  const node = raftNodeOnLog(opened, { id: 'n2', membership: voters, stateMachine: sm, defer: (fn) => deferred.push(fn) });
  let error: unknown = null;
  try {
    for (const turn of turns) {
      for (const m of turn) node.receive(m);
      for (const fn of deferred.splice(0)) fn();
    }
  } catch (err) {
    error = err;
  }
  const out = { error, restored: sm.restored, memory: node.memory(), commitIndex: node.status().commitIndex, counters: node.counters };
  node.stop();
  await closeAsync(opened).catch(() => undefined);
  t.cleanup();
  return out;
}

describe('review 2026-12-07: a newer and an older snapshot completing in one flush', () => {
  it('from the same leader (a reordered or repeated chunk): the newer one is installed, no crash', async () => {
    const o = await run([[heartbeat('n1', 1), chunk('n1', 1, 20), chunk('n1', 1, 10)]]);
    expect(o.error, String(o.error)).to.equal(null);
    expect(o.restored).to.deep.equal([20]);
    expect(o.commitIndex).to.equal(20);
  });

  it('across a leader change (the new leader streams its own, older, snapshot): no crash', async () => {
    const o = await run([[heartbeat('n1', 1), chunk('n1', 1, 20), heartbeat('n3', 2), chunk('n3', 2, 10)]]);
    expect(o.error, String(o.error)).to.equal(null);
    expect(o.restored).to.deep.equal([20]);
  });

  it('older first, then newer, in one flush: the newer one is installed', async () => {
    const o = await run([[heartbeat('n1', 1), chunk('n1', 1, 10), chunk('n1', 1, 20)]]);
    expect(o.error, String(o.error)).to.equal(null);
    expect(o.restored).to.deep.equal([20]);
  });

  it('an older snapshot completing in a later flush is acknowledged, and its bytes are not kept', async () => {
    const o = await run([[heartbeat('n1', 1), chunk('n1', 1, 20)], [chunk('n1', 1, 10)]]);
    expect(o.error, String(o.error)).to.equal(null);
    expect(o.restored).to.deep.equal([20]);
    expect(o.memory.snapshotReceiving).to.equal(0);
  });

  it('a snapshot whose configuration no entry could carry is refused on arrival, not installed', async () => {
    const dup = { voters: ['n1', 'n2', 'n2'], learners: [] };
    const o = await run([[heartbeat('n1', 1), chunk('n1', 1, 20, dup)]]);
    expect(o.error, String(o.error)).to.equal(null);
    expect(o.restored).to.deep.equal([]);
    expect(o.commitIndex).to.equal(0);
    expect(o.counters.get('snapshot-membership-invalid')).to.equal(1);
  });
});
