/**
 * Issue 15 in the simulator: finding 4 (the node actor dropped the vote requests of authenticated
 * nodes missing from its configuration) and the two stalls reported for finding 3 (seeds 722 and
 * 178 with --disk-faults --membership). Each failed before the fix.
 */
import { expect } from 'chai';
import { defaultRaftConfig } from '../../machines/config.js';
import type { RaftMessage } from '../../machines/types.js';
import { describe as describeResult, runSeeds, type SimArgs } from './cli.js';
import { SimCluster } from './cluster.js';
import { faultKinds } from './scenario.js';

describe('issue 15 in the simulator (each failed before its fix)', function () {
  this.timeout(120_000);

  it('finding 4: a vote request from an authenticated node outside the configuration is judged by its log, not dropped', () => {
    const c = new SimCluster({
      seed: 15,
      nodeCount: 3,
      spareCount: 1,
      bugs: new Set(),
      raft: { ...defaultRaftConfig, electionTimeoutTicksMin: 10, heartbeatIntervalTicks: 2 },
      tickMs: 10,
      diskLatency: { syncMsMin: 0, syncMsMax: 1 },
      snapshotEntries: 100_000,
      compactMarginEntries: 0,
    });
    const sent: RaftMessage[] = [];
    const onSend = c.network.onSend;
    c.network.onSend = (m) => {
      sent.push(m);
      onSend?.(m);
    };
    c.start();
    c.runUntil(2000, () => c.leader() !== null);
    const leader = c.leader()!;
    const follower = c.ids.slice(0, 3).find((id) => id !== leader.id)!;
    const node = c.node(follower)!;
    // n4 (a voter of a newer configuration this node has not seen) asks for a vote, with a longer log.
    node.receive({ type: 'vote', from: 'n4', to: follower, term: node.term() + 1, lastIndex: 1000, lastTerm: node.term() + 1, preVote: true, transfer: false });
    c.runUntil(c.scheduler.nowMs + 50);
    expect(node.counters.get('vote-from-non-member') ?? 0).to.equal(0);
    expect(sent.filter((m) => m.type === 'voteResp' && m.from === follower && m.to === 'n4').length).to.equal(1);
  });

  const args = (seed: number, nodeCount: number): SimArgs => ({
    seeds: [seed],
    nodeCount,
    bugs: [],
    faults: [...faultKinds],
    chaosMs: 4000,
    workers: 1,
    quiet: true,
    stopAtFirst: false,
    sessions: false,
    diskFaults: true,
    membership: true,
  });
  /** Every seed ran without a violation; the failing ones' descriptions otherwise. */
  const expectNoViolation = (results: Awaited<ReturnType<typeof runSeeds>>): void => {
    expect(
      results
        .map((r) => describeResult(r))
        .filter((_, k) => results[k]!.violations.length > 0)
        .join('\n'),
    ).to.equal('');
  };

  // Each seed failed before its fix (docs/raft.md tells each story); the simulator replays it exactly.
  const seeds: { seed: number; nodes: 3 | 5; mode: Partial<SimArgs>; what: string }[] = [
    { seed: 1336, nodes: 3, mode: {}, what: 'converges: a learner still barred is not promoted (it would stay a barred voter beside a wiped one)' },
    // Read-back (issue 18) fed a wiped follower from index 1, one entry a message and eight in
    // flight, after a leader elected late. Since seed 2459's election rule this seed's run differs,
    // so the four-window bound is asserted on the machine (test/machines/readBack.test.ts).
    { seed: 4190, nodes: 3, mode: { membership: false }, what: 'converges (a wiped follower far behind the snapshot)' },
    // n2 wiped; n1 (log 190/8) and n3 (190/7) timed out together round after round, and each of
    // n3's campaigns turned n1 back into a follower with a fresh timer.
    { seed: 2459, nodes: 3, mode: {}, what: "elects: a stale candidate without pre-vote does not restart the better one's timer" },
    {
      seed: 30,
      nodes: 3,
      mode: { diskFaults: false },
      what: 'converges: a rejoining node of unknown terms in a two-voter configuration learns them from the other voter',
    },
    { seed: 722, nodes: 3, mode: {}, what: 'converges (finding 3: a promoted learner votes)' },
    { seed: 178, nodes: 5, mode: {}, what: 'converges (finding 3: a promoted learner votes)' },
    // --sessions: a recovery's cut of a torn tail whose fdatasync failed; the next start read the cut
    // length and wrote on, a power loss brought the tail back as damage beside a wiped node, and no
    // leader could be elected after the heal (storage/openLog.ts now makes the length it read durable).
    {
      seed: 36146,
      nodes: 3,
      mode: { membership: false, sessions: true },
      what: 'elects after the heal (--sessions): a cut whose fdatasync failed is made durable by the next start',
    },
    // --sessions: a node whose start was under way at the heal failed it on a sync fault armed
    // before; it was down (not stopped), never restarted, and with a second node's hard state
    // damaged no leader could be elected (the simulator now restarts a node whose start failed).
    {
      seed: 70930,
      nodes: 3,
      mode: { membership: false, sessions: true },
      what: 'elects after the heal (--sessions): a node whose start failed at the heal is restarted',
    },
    // --sessions: a range held only by a full copy in trash/ counted as held while data/ had a
    // shorter copy; the install's restore threw SESSIONS_ERR_DATA_MISSING (DataFiles.readHeld).
    {
      seed: 51744,
      nodes: 3,
      mode: { membership: false, sessions: true },
      what: 'installs a snapshot (--sessions): range sync reads the copy a restore uses',
    },
    // --sessions --process-kills: a restore refused at apply (the active table full) with restores of
    // the same file behind it; the leader's scheduler read a record header at a position inside a
    // record and threw SESSIONS_ERR_DATA_CORRUPT (the planner's restoreEnd now holds it back).
    {
      seed: 120597,
      nodes: 3,
      mode: { sessions: true, processKills: true },
      what: 'restores everything (--sessions --process-kills): no restore planned on a position a refusal made wrong',
    },
    // Pre-vote off, four voters (one damaged, so it may not vote): n2 (the worse log) and n1 timed out
    // together round after round and split the vote past the liveness bound. A candidate refusing a
    // same-term one whose log is ahead now campaigns a whole range later (machines/election.ts).
    {
      seed: 120018,
      nodes: 5,
      mode: { sessions: true },
      what: 'elects after the heal (pre-vote off): the candidate with the worse log backs off',
    },
    // Pre-vote off, four voters (n4 removed), two of them behind (n1, n5): after every split round
    // the four timers restarted within 20 ms, the two behind campaigned with the two ahead (n2, n3),
    // and five rounds split (1,383-2,129 ms) before n3 won, past the liveness bound. A node that
    // hears a candidate whose log is ahead of its own, granted or not, now campaigns a whole range
    // later (machines/election.ts).
    {
      seed: 34461,
      nodes: 5,
      mode: { sessions: true },
      what: 'elects after the heal (pre-vote off): the nodes behind let the nodes ahead campaign first',
    },
    // Pre-vote off, voters n2, n3, n4 and n5 (n5's log damaged: it may not vote): n3 and n4 lost
    // each round on the same answers, drew their next rounds from that instant, and campaigned
    // within 20 ms of each other six rounds in a row. A lost campaign now keeps the round it drew
    // (machines/raftMachine.ts). It passed before seed 34461's rule, which moved its timings.
    {
      seed: 66302,
      nodes: 5,
      mode: {},
      what: 'elects after the heal (pre-vote off): candidates that lose together do not redraw together',
    },
    // Pre-vote off, a slow disk, every node crashed at once: four leaders were each deposed within 5 ms
    // by a node that had refused their RequestVote (its log ahead) and whose round ended before
    // their first AppendEntries reached it. A node refusing a candidate whose log is behind now
    // draws a round ending past half a minimum timeout after the refusal (machines/election.ts;
    // here it acts first in term 3 and the run takes another history: docs/raft.md).
    {
      seed: 26292,
      nodes: 5,
      mode: { membership: false, sessions: true },
      what: 'elects after a crash of every node (pre-vote off, slow disk): a refusing node lets the refused campaign conclude',
    },
    // Pre-vote off: n5, removed without learning it, campaigned every round; n1, a member that had
    // not received the removal either, granted it and took each of its terms, and n1's refusals in
    // those newer terms deposed every campaign of n3, the node that could win. A candidate refused
    // as a non-member by a voter holding its removal now campaigns with a pre-vote
    // (machines/raftMachine.ts, RaftContext.preVoteLearned; here the rule acts early and the run
    // takes another history: docs/raft.md).
    {
      seed: 60264,
      nodes: 5,
      mode: { sessions: true, processKills: true },
      what: 'elects after the heal (pre-vote off): a removed node that missed its removal stops raising terms',
    },
    // A leader cut off, deposed and then removed held an auth change it had taken into its log: it
    // could never learn its fate, never answered, and the workload's auth changes (one at a time)
    // waited on it until the end, so no proposal was made after the heal. A former leader now answers
    // such proposals leader-changed after ten minimum election timeouts (actors/raft/raftNode.ts).
    {
      seed: 64996,
      nodes: 5,
      mode: { sessions: true, processKills: true },
      what: 'answers every request after the heal: a removed former leader answers what it can no longer learn the fate of',
    },
  ];
  for (const { seed, nodes, mode, what } of seeds) {
    const flags = `${mode.diskFaults === false ? '' : ' --disk-faults'}${mode.membership === false ? '' : ' --membership'}${mode.processKills === true ? ' --process-kills' : ''}`;
    it(`seed ${seed}${flags} --nodes ${nodes} ${what}`, async () => {
      expectNoViolation(await runSeeds({ ...args(seed, nodes), ...mode }));
    });
  }
});
