/**
 * `npm run bench -- groups [--quick]`: the leader's consumer-group dispatcher with a backlog, on
 * one in-memory store driven synchronously (the session tests' harness: planner, scheduler and
 * dispatcher, no Raft, no disk). Two rows:
 *
 * - `noConsumer`: sessions fall due in batches of 100 while no consumer is attached; the time to
 *   store and restore them all, and how often the dispatcher looked through the group.
 * - `consumerFull`: one consumer at maxAckPending 100 with the rest of the backlog waiting; it acks
 *   one delivery at a time (each ack applied, then the dispatcher's tick): leader work per ack.
 *
 * What it shows is the dispatcher's cost as the backlog grows (docs/performance.md, 2026-12-03).
 */
import { performance } from 'node:perf_hooks';
import { Dispatcher, type GroupDelivery } from '../../actors/sessions/dispatcher.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import { CommandKind } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { Harness } from '../sessions/helpers.js';
import type { BenchContext } from './cli.js';

function setUp(maxAckPending: number): { h: Harness; d: Dispatcher; store: SessionsStore } {
  const store = new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn(), limits: { activeSessionsMax: 1_000_000 } });
  const h = new Harness([store], { replayDelaysMs: [1_000] });
  const d = new Dispatcher({ store, clock: () => h.now, isLeader: () => true, submit: (cmd) => void h.planner.submit(cmd, null), defer: (fn) => fn() });
  const r = h.client({ kind: CommandKind.groupCreate, topic: 't', name: 'g', ackWaitMs: 3_600_000, maxDeliveries: 5, maxAckPending });
  if (!r.ok) throw new Error(`group create: ${r.code}`);
  return { h, d, store };
}

/** Store `n` one-record sessions on topic t (in batches of `batch`), then let them fall due and restore them. */
function fallDue(h: Harness, n: number, batch: number): void {
  for (let done = 0; done < n; done += batch) {
    for (let k = 0; k < batch; k++) h.planner.storeSession(h.createSession('t', ['x']), 0, {});
    h.settle();
    h.now += 1_001;
    h.settle();
  }
}

export async function run(ctx: BenchContext): Promise<void> {
  const sizes = ctx.quick ? [10_000] : [20_000, 100_000];
  for (const backlog of sizes) {
    ctx.progress(`groups: ${backlog} falling due, no consumer`);
    const a = setUp(100);
    const t0 = performance.now();
    fallDue(a.h, backlog, 100);
    const ms = performance.now() - t0;
    ctx.report({ scenario: 'groups.noConsumer', backlog, batches: backlog / 100, ms: Math.round(ms), looks: a.d.scans.looked });
    a.d.dispose();

    ctx.progress(`groups: ${backlog} waiting, one consumer at maxAckPending`);
    const b = setUp(100);
    fallDue(b.h, backlog, 1_000);
    const g = b.store.groupByName('t', 'g')!;
    const got: GroupDelivery[] = [];
    b.d.attach(g, 'c', (x) => void got.push(x));
    b.d.tick();
    b.h.settle();
    const acks = ctx.quick ? 500 : 2_000;
    const t1 = performance.now();
    for (let k = 0; k < acks; k++) {
      const x = got.shift();
      if (x === undefined) throw new Error('no delivery to ack');
      b.d.ack(x.group, x.restoreId, x.delivery);
      b.h.settle();
      b.d.tick();
      b.h.settle();
    }
    const perAck = (performance.now() - t1) / acks;
    ctx.report({ scenario: 'groups.consumerFull', backlog: b.store.groupCounts(g).ready, acks, msPerAck: Number(perAck.toFixed(3)) });
    b.d.dispose();
  }
}
