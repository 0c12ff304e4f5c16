/**
 * RaftNode's `onTransition` hook (the console's recorder since 2026-12-03): called once at start and
 * after every event that changed the machine's state value or term, with that event. It replaced
 * XState inspection for the recorder (inspection builds objects for every event, action and
 * microstep), so it must record exactly what inspection would: both are attached to one node here
 * and their recorders compared.
 */
import { expect } from 'chai';
import type { InspectionEvent } from 'xstate';
import { ConsoleRecorder } from '../../actors/host/console/recorder.js';
import { RaftNode } from '../../actors/raft/raftNode.js';
import type { StateMachine } from '../../actors/raft/stateMachine.js';
import { type NodeId, type SnapshotMeta } from '../../machines/types.js';
import { openLogAsync, type OpenedLog } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, tempDir } from '../storage/helpers.js';
import { loopTransport, raftNodeOnLog } from './nodeOnLog.js';
import { join } from 'node:path';

class Nothing implements StateMachine {
  apply(entries: readonly { data: Uint8Array }[]): readonly unknown[] {
    return entries.map(() => null);
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(_meta: SnapshotMeta, _data: Uint8Array): void {}
}

describe('raft: onTransition reports what XState inspection reports, without inspection', function () {
  this.timeout(20_000);
  const ids: NodeId[] = ['n1', 'n2', 'n3'];
  const t = tempDir('raft-transitions');
  const nodes = new Map<NodeId, RaftNode>();
  const logs: OpenedLog[] = [];
  const byHook = new Map<NodeId, ConsoleRecorder>();
  const byInspection = new Map<NodeId, ConsoleRecorder>();
  let ticker: NodeJS.Timeout | null = null;

  after(async function () {
    if (ticker) clearInterval(ticker);
    for (const n of nodes.values()) n.stop();
    for (const o of logs) await closeAsync(o).catch(() => undefined);
    t.cleanup();
  });

  it('records the same transitions, events and peers on every node of a three-node election and a leader change', async function () {
    let clock = 0;
    for (const id of ids) {
      const opened = await openLogAsync(realFs, join(t.dir, id));
      logs.push(opened);
      const hook = new ConsoleRecorder(() => clock);
      const inspected = new ConsoleRecorder(() => clock);
      byHook.set(id, hook);
      byInspection.set(id, inspected);
      nodes.set(
        id,
        raftNodeOnLog(opened, {
          id,
          membership: { voters: ids, learners: [] },
          transport: loopTransport((to, m) => nodes.get(to)?.receive(m)),
          stateMachine: new Nothing(),
          onTransition: (value, term, event) => hook.transition(value, term, event),
          inspect: (ev: InspectionEvent) => inspected.inspect(ev),
        }),
      );
    }
    ticker = setInterval(() => {
      clock++;
      for (const n of nodes.values()) n.tick();
    }, 5);
    const leader = async (): Promise<RaftNode> => {
      // Bounded: elections take tens of ticks of 5 ms; 10 s is far more than any needs.
      const deadline = Date.now() + 10_000;
      for (;;) {
        const l = [...nodes.values()].find((n) => n.role() === 'leader' && !n.isStopped());
        if (l !== undefined) return l;
        if (Date.now() > deadline) throw new Error('no leader within 10 s');
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const first = await leader();
    // A second election: the first leader steps out of the way.
    first.stop();
    const second = await leader();
    expect(second.id).to.not.equal(first.id);
    for (const id of ids) {
      const hooked = byHook.get(id)!.recentTransitions(1000);
      expect(hooked[0], `${id}'s first record`).to.include({ from: null, to: 'follower', event: 'xstate.init', term: 0 });
      expect(hooked, `${id}: the hook and inspection recorded the same`).to.deep.equal(byInspection.get(id)!.recentTransitions(1000));
    }
    const all = ids.flatMap((id) => byHook.get(id)!.recentTransitions(1000));
    expect(all.filter((r) => r.to === 'leader').map((r) => r.term)).to.have.length.of.at.least(2);
    expect(
      all.some((r) => r.peer !== undefined),
      'a transition caused by a peer message names the peer',
    ).to.equal(true);
  });
});
