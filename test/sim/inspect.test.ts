/**
 * The Raft machine is inspectable: a running simulated node reports XState inspection events (what
 * the Stately inspector shows: the actor, every event it received, every snapshot with its state),
 * and the machine's definition can be exported as JSON for the visualizer.
 */
import { expect } from 'chai';
import type { InspectionEvent } from 'xstate';
import { defaultRaftConfig } from '../../machines/config.js';
import { createRaftCore } from '../../machines/core.js';
import { createRaftMachine } from '../../machines/raftMachine.js';
import { RaftLog } from '../../machines/raftLog.js';
import { EntryKind } from '../../machines/types.js';
import { SimCluster } from './cluster.js';

describe('Stately inspector: inspection events of a running simulated node', () => {
  it('captures actor, event and snapshot events of the raft machine, with its role states', () => {
    const events: { id: string; ev: InspectionEvent }[] = [];
    const c = new SimCluster({
      seed: 11,
      nodeCount: 3,
      bugs: new Set(),
      raft: defaultRaftConfig,
      tickMs: 10,
      diskLatency: { syncMsMin: 0, syncMsMax: 1 },
      snapshotEntries: 1000,
      compactMarginEntries: 0,
      inspect: (id, ev) => events.push({ id, ev }),
    });
    c.start();
    c.runUntil(2000, () => c.leader() !== null);
    const leader = c.leader()!;
    leader.propose({ kind: EntryKind.command, data: new Uint8Array([1]) }, () => undefined);
    c.runUntil(c.scheduler.nowMs + 200);

    const mine = events.filter((e) => e.id === leader.id).map((e) => e.ev);
    const types = new Set(mine.map((e) => e.type));
    expect([...types]).to.include.members(['@xstate.actor', '@xstate.event', '@xstate.snapshot']);
    const actor = mine.find((e) => e.type === '@xstate.actor')!;
    expect(actor.actorRef.getSnapshot().machine.id).to.equal('raft');
    const states = new Set(mine.filter((e) => e.type === '@xstate.snapshot').map((e) => String((e.snapshot as unknown as { value: unknown }).value)));
    expect([...states]).to.include('leader');
    const eventTypes = new Set(mine.filter((e) => e.type === '@xstate.event').map((e) => (e.event as { type: string }).type));
    expect([...eventTypes]).to.include.members(['tick', 'client.propose', 'storage.durable', 'rpc.appendResp']);
  });

  it('exports the statechart definition as JSON (for the Stately visualizer)', () => {
    const core = createRaftCore({
      id: 'n1',
      config: defaultRaftConfig,
      log: new RaftLog(),
      random: () => 0.5,
      membership: { voters: ['n1', 'n2', 'n3'], learners: [] },
    });
    const json = JSON.parse(JSON.stringify(createRaftMachine(core).toJSON())) as { id: string; states: Record<string, unknown> };
    expect(json.id).to.equal('raft');
    expect(Object.keys(json.states)).to.deep.equal(['follower', 'preCandidate', 'candidate', 'leader']);
  });
});
