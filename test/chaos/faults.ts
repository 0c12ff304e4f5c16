/**
 * The faults of the harness. Each runs inside a run's fault window, while the workload goes on, and
 * leaves the cluster healed (every link healthy, every node running and resumed) when it returns.
 *
 * Durations are in election timeouts (`et` = the longest election timeout, 2 × electionTicks ×
 * tickMs), so they scale with the node timing: a partition or pause lasts several election
 * timeouts (long enough for the majority to elect and commit without the cut node), a kill stays
 * down for a few, and every fault is applied `rounds` times per window.
 */
import { createClient } from '../../transport/client/client.js';
import { waitFor } from '../node/helpers.js';
import type { ChaosCluster } from './cluster.js';

export interface FaultContext {
  readonly cluster: ChaosCluster;
  readonly random: () => number;
  /** The longest election timeout, ms. */
  readonly electionMs: number;
  /** Records a fault event in the run's timeline (and progress output). */
  log(what: string): void;
  /** Records a failure of something the fault demonstrates (the run fails; the fault goes on). */
  fail(what: string): void;
  /** Holds a fault for `ms` (the fault's duration, not a wait for a condition). */
  hold(ms: number): Promise<void>;
  /** Resolves at the next acknowledged append (faults timed on acknowledgements). */
  nextAck(timeoutMs: number): Promise<boolean>;
  /** True once the run asked the fault to finish early. */
  readonly aborted: () => boolean;
  /** How many times a fault is applied in its window (1 in the short campaign of npm test). */
  readonly rounds: number;
}

export interface Fault {
  readonly name: string;
  readonly description: string;
  /** Smallest cluster it makes sense on. */
  readonly nodesMin: number;
  /** Spare nodes the fault spawns (ports and proxies set up at cluster start), by rounds. */
  readonly spares?: (rounds: number) => number;
  /** Per node extra flags (clock skew); called once per node at cluster start. */
  readonly nodeArgs?: (id: string, index: number, random: () => number, tickMs: number) => string[];
  run(ctx: FaultContext): Promise<void>;
}

function pick<T>(xs: readonly T[], random: () => number): T {
  return xs[Math.floor(random() * xs.length)]!;
}

function shuffle<T>(xs: readonly T[], random: () => number): T[] {
  const a = [...xs];
  for (let k = a.length - 1; k > 0; k--) {
    const j = Math.floor(random() * (k + 1));
    [a[k], a[j]] = [a[j]!, a[k]!];
  }
  return a;
}

/** The leader if one is known soon (a node that believes it leads), else a random live node. */
async function leaderOrAny(ctx: FaultContext): Promise<string> {
  const t0 = Date.now();
  while (Date.now() - t0 < 4 * ctx.electionMs) {
    const l = await ctx.cluster.currentLeader();
    if (l !== null) return l;
    await ctx.hold(ctx.electionMs / 4);
  }
  return pick(ctx.cluster.live(), ctx.random);
}

async function followerOf(ctx: FaultContext): Promise<string> {
  const l = await leaderOrAny(ctx);
  return pick(
    ctx.cluster.live().filter((id) => id !== l),
    ctx.random,
  );
}

/**
 * Every fsync completes 20 ms late (hidden node flag --fsync-delay-ms): a slow disk. Crashes then
 * catch work waiting in the group-commit queue (written to no file yet), which a kill -9 on a fast
 * disk rarely does since the page cache survives a process crash: what a correct node has
 * acknowledged is durable either way, and a node that acknowledges before persisting
 * (ack-before-persist) loses it.
 */
function slowDisk(): string[] {
  return ['--fsync-delay-ms', '20'];
}

/** kill -9 the chosen node, keep it down for a few election timeouts, restart it. */
function killFault(name: string, description: string, choose: (ctx: FaultContext) => Promise<string>): Fault {
  return {
    name,
    description,
    nodesMin: 3,
    async run(ctx) {
      for (let k = 0; k < ctx.rounds && !ctx.aborted(); k++) {
        const id = await choose(ctx);
        await ctx.cluster.kill(id, 'SIGKILL');
        ctx.log(`kill -9 ${id}`);
        await ctx.hold(3 * ctx.electionMs);
        ctx.cluster.restart(id);
        ctx.log(`restart ${id}`);
        await ctx.hold(3 * ctx.electionMs);
      }
    },
  };
}

/**
 * Cut links for a while, then heal. `plan` returns the directed links to cut, a label, and
 * optionally a group that must elect a leader of its own while cut (evidence that the cut works:
 * e.g. the majority without an isolated leader).
 */
function networkFault(
  name: string,
  description: string,
  nodesMin: number,
  plan: (ctx: FaultContext) => Promise<{ cut: [string, string][]; label: string; electsLeader?: readonly string[] }>,
): Fault {
  return {
    name,
    description,
    nodesMin,
    async run(ctx) {
      for (let k = 0; k < ctx.rounds && !ctx.aborted(); k++) {
        const p = await plan(ctx);
        const mode = ctx.random() < 0.5 ? 'reset' : 'blackhole';
        const t0 = Date.now();
        ctx.cluster.cut(p.cut, mode);
        if (p.electsLeader !== undefined) {
          // The group's election timeouts (at most 1 et, plus pre-vote and vote rounds): 10 et bound.
          const group = p.electsLeader;
          const l = await waitFor(
            `a leader elected among ${group.join(',')} (cut from the others: ${p.label})`,
            async () => {
              const st = await Promise.all(group.map((id) => ctx.cluster.status(id, false, 500)));
              const leader = st.find((x) => x !== null && x.role === 'leader');
              return leader === undefined ? null : (leader!.node as string);
            },
            10 * ctx.electionMs,
            20,
          );
          ctx.log(`${l} elected among ${group.join(',')} ${Date.now() - t0} ms after the cut`);
        }
        // 5 to 15 election timeouts: sometimes past the clients' operation timeout (10), so some
        // operations end with an unknown outcome (info) and are retried by nobody.
        const holdMs = Math.round((5 + 10 * ctx.random()) * ctx.electionMs);
        ctx.log(`${p.label} (${mode}, ${holdMs} ms)`);
        await ctx.hold(holdMs);
        ctx.cluster.healNetwork();
        ctx.log('heal');
        await ctx.hold(3 * ctx.electionMs);
      }
    },
  };
}

/** Every directed link between a and b. */
function between(a: readonly string[], b: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const x of a) for (const y of b) if (x !== y) out.push([x, y], [y, x]);
  return out;
}

function isolate(ids: readonly string[], id: string): [string, string][] {
  return between(
    [id],
    ids.filter((o) => o !== id),
  );
}

/** Leader and term when every running member answers and agrees on both, else null. */
async function membersLeaderTerm(c: ChaosCluster): Promise<{ leader: string; term: number } | null> {
  const st = await Promise.all(c.live().map((id) => c.status(id, false, 500)));
  if (st.length === 0 || st.some((s) => s === null)) return null;
  const leader = st[0]!.leader as string | null;
  const term = st[0]!.term as number;
  if (leader === null || !st.every((s) => s!.leader === leader && s!.term === term)) return null;
  return { leader, term };
}

/**
 * The removed node comes back (its log still makes it a voter of the old configuration; --nodes
 * lists it and the members) while the members go on, for 5 election timeouts after it answers
 * (its election timer fires several times), then it is killed again and stays down.
 *
 * It must not disturb them. A node disturbs a Raft cluster only through a higher term in its
 * messages (members adopt it and lose their leader), so the run fails if the removed node raises
 * its term (pre-vote forbids it), believes it leads, or the members end up in a term the removed
 * node ever held. The members' leader and term are also watched and recorded: they normally stay
 * the same; a re-election at a term the removed node never had is not its doing (one was seen
 * while its process was still starting, before it could dial anyone, on 2 busy cores) and is
 * recorded, not failed (docs/chaos.md).
 */
async function removedCannotDisturb(ctx: FaultContext, removed: string): Promise<void> {
  const c = ctx.cluster;
  // The change was just applied on the leader; the followers hear of it within a heartbeat or two.
  const before = await waitFor('the members agreeing on a leader and term', () => membersLeaderTerm(c), 10 * ctx.electionMs, 20);
  const rejected = async (): Promise<number> => {
    const st = await Promise.all(c.live().map((id) => c.status(id, false, 500)));
    return st.reduce((n, s) => n + Number(s?.transport?.rejectedTotal ?? 0), 0);
  };
  const rejected0 = await rejected();
  c.restart(removed);
  ctx.log(`restart removed ${removed} (its log still names it a voter)`);
  // Process start: 0.5-1.5 s on 2 busy cores; 15 s bound.
  const s0 = await waitFor(`removed ${removed} answering /status`, () => c.status(removed, false, 500), 15_000, 50);
  const changes: string[] = [];
  let last = `${before.leader}@${before.term}`;
  let removedTermMax = s0.term as number;
  let removedLed = false;
  let removedRole = String(s0.role);
  const t0 = Date.now();
  while (Date.now() - t0 < 5 * ctx.electionMs) {
    const [now, r] = await Promise.all([membersLeaderTerm(c), c.status(removed, false, 500)]);
    if (now !== null && `${now.leader}@${now.term}` !== last) changes.push((last = `${now.leader}@${now.term}`));
    if (r !== null) {
      removedTermMax = Math.max(removedTermMax, r.term as number);
      removedLed ||= r.role === 'leader';
      removedRole = String(r.role);
    }
    await ctx.hold(ctx.electionMs / 4);
  }
  const ranMs = Date.now() - t0;
  const after = await waitFor('the members agreeing on a leader and term', () => membersLeaderTerm(c), 10 * ctx.electionMs, 20);
  if (`${after.leader}@${after.term}` !== last) changes.push(`${after.leader}@${after.term}`);
  const refused = (await rejected()) - rejected0;
  await c.kill(removed, 'SIGKILL');
  const kept = changes.length === 0;
  c.removedWatch.push({
    node: removed,
    ranMs,
    termBefore: s0.term as number,
    termMax: removedTermMax,
    membersBefore: `${before.leader}@${before.term}`,
    membersAfter: `${after.leader}@${after.term}`,
    kept,
    refused,
  });
  ctx.log(
    `removed ${removed} ran ${ranMs} ms after answering: its term ${s0.term} -> ${removedTermMax} (${removedRole}); ` +
      `members ${kept ? `kept ${before.leader}@${before.term}` : `${before.leader}@${before.term} -> ${changes.join(' -> ')} (a term it never had)`}, ` +
      `connections refused by the members +${refused}; kill -9 ${removed}, it stays down`,
  );
  if (removedTermMax > (s0.term as number)) ctx.fail(`removed ${removed} raised its term ${s0.term} -> ${removedTermMax}`);
  if (removedLed) ctx.fail(`removed ${removed} believed it leads`);
  if (!kept && after.term <= removedTermMax)
    ctx.fail(`the members moved to term ${after.term}, which removed ${removed} held (${before.leader}@${before.term} -> ${changes.join(' -> ')})`);
}

/**
 * Replace a voter under load: kill -9 one (the leader half the time) and keep it down; spawn a
 * spare under a new ID with --join; add it with the client library (a learner, promoted once caught
 * up); remove the dead one; adopt the configuration read from the leader as the harness's nodes.
 * Then the removed node is restarted for a while to show it cannot disturb the members, and
 * killed for good.
 */
const replace: Fault = {
  name: 'replace',
  description:
    'kill -9 a voter (the leader half the time), a spare joins under a new ID and replaces it (replaceMember: added, promoted, the dead one removed)',
  nodesMin: 3,
  spares: (rounds) => rounds,
  async run(ctx) {
    const c = ctx.cluster;
    for (let k = 0; k < ctx.rounds && !ctx.aborted(); k++) {
      // Membership changes go to the leader through the client library: it follows redirects and
      // retries while there is no leader, the previous change is uncommitted, or a new leader has
      // not committed in its term. A new client per round: the members change.
      const admin = createClient({ ...c.clientAccess(), endpoints: c.endpoints(), clusterId: c.clusterId, requestTimeoutMs: 1000, operationTimeoutMs: 10_000 });
      try {
        const leader = await leaderOrAny(ctx);
        const victim =
          ctx.random() < 0.5
            ? leader
            : pick(
                c.live().filter((id) => id !== leader),
                ctx.random,
              );
        await c.kill(victim, 'SIGKILL');
        ctx.log(`kill -9 ${victim}${victim === leader ? ' (the leader)' : ''}; it stays down`);
        const spare = c.spawnSpare();
        ctx.log(`spawn ${spare} --join (--nodes ${[...c.ids, spare].join(',')}; own data dir, ports and proxy)`);
        const t0 = Date.now();
        // Its start (0.5-1.5 s here), an election if the leader died, catch-up (often a snapshot
        // install: snapshots every 300 entries): a few seconds; 20 s bound for the catch-up.
        // `replaceMember`: add as a learner, promote once caught up, remove the dead one.
        const r = await admin.replaceMember(victim, spare, c.advertisedAddress(spare), { timeoutMs: 20_000 });
        c.removed.push(victim);
        ctx.log(
          `replaceMember ${victim} by ${spare}: addLearner ${spare} ${c.advertisedAddress(spare)} at entry ${r.added.index || 'already'}, ` +
            `promoted once caught up at entry ${r.promoted?.index || 'already'}, removeMember ${victim} at entry ${r.removed.index || 'already'} (${Date.now() - t0} ms after the spawn)`,
        );
        const m = await admin.members();
        const members = [...m.voters, ...m.learners];
        ctx.log(
          `configuration from leader ${m.leader} (term ${m.term}): voters ${m.voters.join(',')}${m.learners.length > 0 ? `, learners ${m.learners.join(',')}` : ''}`,
        );
        if (!m.voters.includes(spare) || members.includes(victim)) {
          throw new Error(
            `the configuration from the leader (voters ${m.voters.join(',')}, learners ${m.learners.join(',')}) should have voter ${spare} and not ${victim}`,
          );
        }
        c.setMembers(members);
      } finally {
        await admin.close();
      }
      await removedCannotDisturb(ctx, c.removed[c.removed.length - 1]!);
      await ctx.hold(2 * ctx.electionMs);
    }
  },
};

export const faults: readonly Fault[] = [
  killFault('kill-leader', 'kill -9 the leader, restart it after 3 election timeouts', leaderOrAny),
  killFault('kill-follower', 'kill -9 a follower, restart it after 3 election timeouts', followerOf),
  killFault('kill-random', 'kill -9 a random node, restart it after 3 election timeouts', async (ctx) => pick(ctx.cluster.live(), ctx.random)),
  {
    name: 'kill-majority',
    description: 'kill -9 a majority including the leader right after an acknowledged append, restart them (slow disks)',
    nodesMin: 3,
    nodeArgs: slowDisk,
    async run(ctx) {
      const ids = ctx.cluster.ids;
      const majority = Math.floor(ids.length / 2) + 1;
      for (let k = 0; k < ctx.rounds + 1 && !ctx.aborted(); k++) {
        const l = await leaderOrAny(ctx);
        const victims = [
          l,
          ...shuffle(
            ids.filter((id) => id !== l),
            ctx.random,
          ).slice(0, majority - 1),
        ];
        const acked = await ctx.nextAck(10 * ctx.electionMs);
        await ctx.cluster.killAll(victims);
        ctx.log(`kill -9 ${victims.join(',')}${acked ? ' right after an acknowledgement' : ''}`);
        await ctx.hold(2 * ctx.electionMs);
        for (const id of victims) ctx.cluster.restart(id);
        ctx.log(`restart ${victims.join(',')}`);
        await ctx.hold(4 * ctx.electionMs);
      }
    },
  },
  {
    name: 'kill-all',
    description: 'kill -9 every node at once right after an acknowledged append (a power failure), restart them (slow disks)',
    nodesMin: 3,
    nodeArgs: slowDisk,
    async run(ctx) {
      for (let k = 0; k < ctx.rounds + 1 && !ctx.aborted(); k++) {
        await leaderOrAny(ctx);
        const acked = await ctx.nextAck(10 * ctx.electionMs);
        await ctx.cluster.killAll(ctx.cluster.ids);
        ctx.log(`kill -9 every node${acked ? ' right after an acknowledgement' : ''}`);
        await ctx.hold(ctx.electionMs);
        for (const id of ctx.cluster.ids) ctx.cluster.restart(id);
        ctx.log('restart every node');
        await ctx.cluster.waitLeader('after restarting every node', 30_000);
        await ctx.hold(2 * ctx.electionMs);
      }
    },
  },
  {
    name: 'pause-leader',
    description: 'SIGSTOP the leader for 5 election timeouts (the others elect), then SIGCONT',
    nodesMin: 3,
    async run(ctx) {
      for (let k = 0; k < ctx.rounds && !ctx.aborted(); k++) {
        const l = await leaderOrAny(ctx);
        ctx.cluster.pause(l);
        ctx.log(`SIGSTOP ${l}`);
        await ctx.hold(5 * ctx.electionMs);
        ctx.cluster.resume(l);
        ctx.log(`SIGCONT ${l}`);
        await ctx.hold(3 * ctx.electionMs);
      }
    },
  },
  networkFault('isolate-one', 'a random node cut from all others (both directions)', 3, async (ctx) => {
    const id = pick(ctx.cluster.ids, ctx.random);
    return { cut: isolate(ctx.cluster.ids, id), label: `isolate ${id}` };
  }),
  networkFault('isolate-leader', 'the leader cut from all others (both directions); the others elect a new one', 3, async (ctx) => {
    const id = await leaderOrAny(ctx);
    return { cut: isolate(ctx.cluster.ids, id), label: `isolate leader ${id}`, electsLeader: ctx.cluster.ids.filter((o) => o !== id) };
  }),
  networkFault('isolate-follower', 'a follower cut from all others (it keeps serving clients)', 3, async (ctx) => {
    const id = await followerOf(ctx);
    return { cut: isolate(ctx.cluster.ids, id), label: `isolate follower ${id}` };
  }),
  networkFault('majority-minority', 'a random split into a majority and a minority (the leader on either side)', 3, async (ctx) => {
    const ids = shuffle(ctx.cluster.ids, ctx.random);
    const minority = ids.slice(0, Math.max(1, Math.floor((ids.length - 1) / 2)));
    const majority = ids.filter((id) => !minority.includes(id));
    return { cut: between(majority, minority), label: `partition ${majority.join(',')} | ${minority.join(',')}`, electsLeader: majority };
  }),
  networkFault('one-way', "one direction only: a node's outbound or inbound links (the leader half the time)", 3, async (ctx) => {
    const id = ctx.random() < 0.5 ? await leaderOrAny(ctx) : pick(ctx.cluster.ids, ctx.random);
    const others = ctx.cluster.ids.filter((o) => o !== id);
    const outbound = ctx.random() < 0.5;
    return {
      cut: others.map((o): [string, string] => (outbound ? [id, o] : [o, id])),
      label: `${id} ${outbound ? 'cannot send' : 'cannot receive'}`,
    };
  }),
  networkFault('ring', 'majorities ring: each node hears only its two ring neighbours (every node sees a majority, no two the same)', 5, async (ctx) => {
    const ids = shuffle(ctx.cluster.ids, ctx.random);
    const n = ids.length;
    const cut: [string, string][] = [];
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) {
        const d = Math.min((a - b + n) % n, (b - a + n) % n);
        if (d > 1) cut.push([ids[a]!, ids[b]!]);
      }
    }
    return { cut, label: `ring ${ids.join('-')}` };
  }),
  networkFault('bridge', 'two halves that only a bridge node joins; the bridge is a follower, the leader in a half', 5, async (ctx) => {
    // The bridge is never the leader. With the leader as the bridge the cut links are links Raft
    // does not use: followers never send to each other, and the transport dials a link only when it
    // has something to send, so after a start where only the leader campaigned those links had no
    // connection, nothing was dialed while cut, and the cut stopped nothing (0 connections cut in 2
    // of 12 runs with the leader made the bridge, which a random bridge is 1 time in 5: the campaign
    // test's evidence check failed). With the leader in a half, its heartbeats to the far half cross
    // cut links for the whole hold, and the far half hears it only through the bridge.
    const leader = await leaderOrAny(ctx);
    const bridge = pick(
      ctx.cluster.ids.filter((id) => id !== leader),
      ctx.random,
    );
    const ids = shuffle(
      ctx.cluster.ids.filter((id) => id !== bridge),
      ctx.random,
    );
    const half = Math.floor(ids.length / 2);
    const left = ids.slice(0, half);
    const right = ids.slice(half);
    return { cut: between(left, right), label: `bridge ${left.join(',')} <${bridge}> ${right.join(',')}, leader ${leader}` };
  }),
  {
    name: 'delay',
    description: 'every link delayed (20-50 ms each way, plus up to 30 ms jitter), then a slow leader link',
    nodesMin: 3,
    async run(ctx) {
      const d = 20 + Math.floor(ctx.random() * 31);
      ctx.cluster.setAll({ delayMs: d, jitterMs: 30 });
      ctx.log(`delay ${d}+0..30 ms on every link`);
      await ctx.hold(8 * ctx.electionMs);
      ctx.cluster.healNetwork();
      const l = await leaderOrAny(ctx);
      for (const o of ctx.cluster.ids) if (o !== l) ctx.cluster.setLink(l, o, { delayMs: ctx.electionMs / 2, jitterMs: ctx.electionMs / 2 });
      ctx.log(`delay ${ctx.electionMs / 2}..${ctx.electionMs} ms on ${l}'s outbound links`);
      await ctx.hold(5 * ctx.electionMs);
      ctx.cluster.healNetwork();
      ctx.log('heal');
      await ctx.hold(3 * ctx.electionMs);
    },
  },
  {
    name: 'loss',
    description: 'every link drops 10-25% of messages, then 50% to and from the leader',
    nodesMin: 3,
    async run(ctx) {
      const p = 0.1 + ctx.random() * 0.15;
      ctx.cluster.setAll({ lossRate: p });
      ctx.log(`loss ${(p * 100).toFixed(0)}% on every link`);
      await ctx.hold(8 * ctx.electionMs);
      ctx.cluster.healNetwork();
      const l = await leaderOrAny(ctx);
      for (const o of ctx.cluster.ids) {
        if (o === l) continue;
        ctx.cluster.setLink(l, o, { lossRate: 0.5 });
        ctx.cluster.setLink(o, l, { lossRate: 0.5 });
      }
      ctx.log(`loss 50% to and from ${l}`);
      await ctx.hold(5 * ctx.electionMs);
      ctx.cluster.healNetwork();
      ctx.log('heal');
      await ctx.hold(3 * ctx.electionMs);
    },
  },
  {
    name: 'torn-tail',
    description: 'kill -9 a follower (a minority), tear the tail of its last WAL segment, restart it',
    nodesMin: 3,
    async run(ctx) {
      for (let k = 0; k < ctx.rounds && !ctx.aborted(); k++) {
        // Every round tears a tail: the evidence check (a torn tail cut at recovery) must not depend on
        // a race. A follower whose newest segment holds a whole record is chosen (one that just rolled
        // to a fresh segment holds none); the workload keeps writing, so one soon does (bounded tries).
        let torn = false;
        for (let attempt = 0; attempt < 20 && !torn && !ctx.aborted(); attempt++) {
          const l = await leaderOrAny(ctx);
          for (const id of shuffle(
            ctx.cluster.live().filter((o) => o !== l),
            ctx.random,
          )) {
            if (!ctx.cluster.hasTearableTail(id)) continue;
            await ctx.cluster.kill(id, 'SIGKILL');
            const what = ctx.cluster.tearTail(id, ctx.random);
            ctx.log(`kill -9 ${id}; ${what ?? 'nothing to tear in its last segment'}`);
            ctx.cluster.restart(id);
            ctx.log(`restart ${id}`);
            torn = what !== null;
            break;
          }
          if (!torn) await ctx.hold(ctx.electionMs);
        }
        if (!torn) ctx.log('no follower had a record to tear in 20 tries');
        await ctx.hold(4 * ctx.electionMs);
      }
    },
  },
  {
    name: 'bit-flip',
    description: 'kill -9 a minority of followers, flip a bit in the newest WAL segment of each, restart them',
    nodesMin: 3,
    async run(ctx) {
      for (let k = 0; k < ctx.rounds && !ctx.aborted(); k++) {
        const l = await leaderOrAny(ctx);
        const minority = Math.floor((ctx.cluster.ids.length - 1) / 2);
        const victims = shuffle(
          ctx.cluster.ids.filter((id) => id !== l),
          ctx.random,
        ).slice(0, minority);
        await ctx.cluster.killAll(victims);
        for (const id of victims) ctx.log(`kill -9 ${id}; ${ctx.cluster.flipBit(id, ctx.random) ?? 'no WAL yet'}`);
        for (const id of victims) ctx.cluster.restart(id);
        ctx.log(`restart ${victims.join(',')}`);
        // The damage stays on a minority only if the next round waits for this one's repair: two
        // damaged nodes of three refuse to vote, and nothing can elect a leader to repair them.
        // Restart, an election at most, and re-replication: a few seconds at most; 20 s bound.
        await ctx.cluster.waitRepaired(victims, 20_000);
        ctx.log(`${victims.join(',')} repaired`);
        await ctx.hold(2 * ctx.electionMs);
      }
    },
  },
  {
    name: 'clock-skew',
    description: 'nodes run with skewed wall clocks (due times) and tick rates; leadership moves among them (kill -9 the leader)',
    nodesMin: 3,
    // Offsets up to ±1.5 s on the clock the leader uses for due times and replay; tick rates from
    // 0.7x to 1.4x the configured tick (Raft's timeouts run on ticks).
    nodeArgs: (_id, index, random, tickMs) => {
      const offset = index === 0 ? 0 : Math.round((random() * 2 - 1) * 1500);
      return ['--clock-offset-ms', String(offset), '--tick-ms', String(Math.max(5, Math.round([1, 0.7, 1.4, 0.85, 1.2][index % 5]! * tickMs)))];
    },
    async run(ctx) {
      for (let k = 0; k < ctx.rounds + 1 && !ctx.aborted(); k++) {
        const l = await leaderOrAny(ctx);
        await ctx.cluster.kill(l, 'SIGKILL');
        ctx.log(`kill -9 leader ${l} (leadership moves to another clock)`);
        await ctx.hold(3 * ctx.electionMs);
        ctx.cluster.restart(l);
        ctx.log(`restart ${l}`);
        await ctx.hold(3 * ctx.electionMs);
      }
    },
  },
  replace,
];

export function faultByName(name: string): Fault | undefined {
  return faults.find((f) => f.name === name);
}
