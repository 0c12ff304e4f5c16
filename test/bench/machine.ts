/**
 * Raft machine benchmark (`npm run bench -- machine [--quick]`): what one event costs in the XState
 * machine of a node, with the effects left unexecuted (the placeholders of `createRaftMachine`).
 * Pure CPU in one thread: no log writes, no sockets. The per-command events of a write:
 *
 *   follower.heartbeat  a heartbeat of the current term that changes nothing;
 *   follower.append     an AppendEntries of the current term carrying one 128-byte entry;
 *   leader.propose      a batch of one proposal (appended, broadcast to two followers);
 *   leader.durable      the leader's own write of that entry reported durable;
 *   leader.appendResp1  the first follower's acknowledgement (commits the entry);
 *   leader.appendResp2  the second one (changes nothing: already committed);
 *   tick                a tick of the follower's election timer.
 *
 * Each row: microseconds per event, the median of `rounds` rounds of `events` events each
 * (`--events=N`). The run fails if the follower did not append every entry or the leader did not
 * commit every command.
 */
import { createActor } from 'xstate';
import { defaultRaftConfig } from '../../machines/config.js';
import { createRaftCore } from '../../machines/core.js';
import type { RaftEvent } from '../../machines/events.js';
import { RaftLog } from '../../machines/raftLog.js';
import { createRaftMachine } from '../../machines/raftMachine.js';
import { EntryKind, type Entry, type NodeId } from '../../machines/types.js';
import type { BenchContext } from './cli.js';
import { spreadOf } from './clusterLoad.js';

const voters: readonly NodeId[] = ['n1', 'n2', 'n3'];
const payloadBytes = 128;

function node(id: NodeId) {
  const log = new RaftLog();
  const core = createRaftCore({ id, config: defaultRaftConfig, log, random: () => 0.5, membership: { voters, learners: [] } });
  const actor = createActor(createRaftMachine(core), { input: { term: 1, vote: null, commitIndex: 0, corrupt: false, repairThroughIndex: 0 } });
  actor.start();
  return { log, actor };
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new Error(`machine bench: ${what}`);
}

function median(xs: readonly number[]): number {
  return spreadOf(xs).median;
}

/** Median microseconds per call of `one` over `rounds` rounds of `events` calls. */
function measure(events: number, rounds: number, one: () => void): number {
  const perRound: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < events; k++) one();
    perRound.push(Number(process.hrtime.bigint() - t0) / 1000 / events);
  }
  return median(perRound);
}

/** `--events=N`: events per round (default 100,000; 20,000 with --quick). */
function eventsOf(ctx: BenchContext): number {
  const arg = ctx.args.find((a) => a.startsWith('--events='));
  const n = arg === undefined ? (ctx.quick ? 20_000 : 100_000) : Number(arg.slice('--events='.length));
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--events: expected a positive integer, got ${JSON.stringify(arg)}`);
  return n;
}

export async function run(ctx: BenchContext): Promise<void> {
  const events = eventsOf(ctx);
  const rounds = ctx.quick ? 3 : 5;
  const data = new Uint8Array(payloadBytes);
  const report = (scenario: string, us: number): void =>
    ctx.report({ scenario: `machine.${scenario}`, events, rounds, usPerEvent: Math.round(us * 100) / 100 });

  // A follower of n1 in term 1.
  {
    const f = node('n2');
    const hb: RaftEvent = { type: 'rpc.heartbeat', msg: { type: 'heartbeat', from: 'n1', to: 'n2', term: 1, commit: 0, readCtx: 0 } };
    f.actor.send(hb);
    report(
      'follower.heartbeat',
      measure(events, rounds, () => f.actor.send(hb)),
    );
    let last = 0;
    report(
      'follower.append',
      measure(events, rounds, () => {
        const e: Entry = { index: last + 1, term: 1, kind: EntryKind.command, data };
        f.actor.send({
          type: 'rpc.append',
          msg: { type: 'append', from: 'n1', to: 'n2', term: 1, prevIndex: last, prevTerm: last === 0 ? 0 : 1, commit: 0, entries: [e] },
        });
        last++;
      }),
    );
    check(f.log.lastIndex() === last, `follower appended ${f.log.lastIndex()} of ${last} entries`);
    check(f.actor.getSnapshot().value === 'follower', 'the follower left its role');
    report(
      'tick',
      measure(events, rounds, () => f.actor.send({ type: 'tick' })),
    );
  }

  // A leader of term 2 (n1, elected by n2's vote), one command per round, as at one write in flight.
  {
    const l = node('n1');
    l.actor.send({ type: 'admin.campaign' });
    const term = l.actor.getSnapshot().context.term;
    l.actor.send({ type: 'rpc.voteResp', msg: { type: 'voteResp', from: 'n2', to: 'n1', term, granted: true, preVote: false } });
    check(l.actor.getSnapshot().value === 'leader', `n1 is ${String(l.actor.getSnapshot().value)}, not leader`);
    const proposals = [{ kind: EntryKind.command, data }];
    const durable = (): RaftEvent => ({ type: 'storage.durable', index: l.log.lastIndex(), term });
    const ack = (from: NodeId): RaftEvent => ({
      type: 'rpc.appendResp',
      msg: { type: 'appendResp', from, to: 'n1', term, success: true, index: l.log.lastIndex(), hintIndex: 0, hintTerm: 0 },
    });
    // The no-op entry of the new term, committed.
    l.actor.send(durable());
    l.actor.send(ack('n2'));
    l.actor.send(ack('n3'));
    const sums = { propose: 0, durable: 0, resp1: 0, resp2: 0 };
    let tag = 0;
    const t = (): number => Number(process.hrtime.bigint());
    const perRound: number[][] = [[], [], [], []];
    for (let r = 0; r < rounds; r++) {
      sums.propose = sums.durable = sums.resp1 = sums.resp2 = 0;
      for (let k = 0; k < events; k++) {
        const t0 = t();
        l.actor.send({ type: 'client.propose', tag: ++tag, proposals });
        const t1 = t();
        l.actor.send(durable());
        const t2 = t();
        l.actor.send(ack('n2'));
        const t3 = t();
        l.actor.send(ack('n3'));
        sums.propose += t1 - t0;
        sums.durable += t2 - t1;
        sums.resp1 += t3 - t2;
        sums.resp2 += t() - t3;
      }
      perRound[0]!.push(sums.propose / 1000 / events);
      perRound[1]!.push(sums.durable / 1000 / events);
      perRound[2]!.push(sums.resp1 / 1000 / events);
      perRound[3]!.push(sums.resp2 / 1000 / events);
    }
    const snap = l.actor.getSnapshot();
    check(snap.value === 'leader' && snap.context.commitIndex === l.log.lastIndex(), `leader committed ${snap.context.commitIndex} of ${l.log.lastIndex()}`);
    report('leader.propose', median(perRound[0]!));
    report('leader.durable', median(perRound[1]!));
    report('leader.appendResp1', median(perRound[2]!));
    report('leader.appendResp2', median(perRound[3]!));
  }
}
