/**
 * A RaftNode on a real, opened WAL for the tests in test/raft: the log's wiring (recovered state,
 * snapshot, durable log, snapshot store), setImmediate for `defer`, and small test sizes; each test
 * gives the rest (identity, membership, transport, state machine) and whatever it overrides.
 */
import { RaftNode, type NodeOptions } from '../../actors/raft/raftNode.js';
import { defaultRaftConfig } from '../../machines/config.js';
import type { NodeId, RaftMessage } from '../../machines/types.js';
import type { OpenedLog } from '../../storage/openLog.js';

type Given = Pick<NodeOptions, 'id' | 'membership' | 'stateMachine'> & Partial<NodeOptions>;

/** A transport that hands each message to `deliver` on a later turn. */
export function loopTransport(deliver: (to: NodeId, m: RaftMessage) => void): NodeOptions['transport'] {
  return { send: (to, m) => setImmediate(() => deliver(to, m)), onMessage: () => undefined, close: (cb) => cb() };
}

export function raftNodeOnLog(opened: OpenedLog, given: Given): RaftNode {
  return new RaftNode({
    raft: defaultRaftConfig,
    transport: { send: () => undefined, onMessage: () => undefined, close: (cb) => cb() },
    random: Math.random,
    defer: (fn) => setImmediate(fn),
    snapshotEntries: 1_000_000,
    compactMarginEntries: 50,
    snapshotTransfer: { chunkBytes: 16 * 1024, windowChunks: 4, ackTimeoutTicks: 50, snapshotBytesMax: 1 << 20 },
    ...given,
    recovered: opened.recovered,
    snapshot: opened.snapshot,
    durableLog: opened.log,
    snapshotStore: given.snapshotStore ?? opened.snapshots,
  });
}

/** Polls `cond` every 2 ms; throws naming `what` after `ms`. */
export async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
