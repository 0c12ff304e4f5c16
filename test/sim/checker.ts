/**
 * Raft's safety properties, checked incrementally after every simulated step (Raft paper, Figure 3):
 * Election Safety, Leader Append-Only, Log Matching, Leader Completeness, State Machine Safety;
 * plus: the commit index never goes back, persisted term and vote never go back, no node votes twice
 * in a term, a node with damaged storage never votes.
 *
 * Logs are compared through prefix hashes: h(i) = mix(h(i-1), i, term, hash(data)), so equal
 * (index, term) must mean equal h(i) (Log Matching), and a committed prefix is one number.
 */
import type { RaftNode } from '../../actors/raft/raftNode.js';
import type { LogObserver, RaftLog } from '../../machines/raftLog.js';
import type { Entry, HardState, NodeId, RaftMessage, SnapshotMeta } from '../../machines/types.js';
import { fnv1a, mix } from './model.js';
import { holdsMember } from '../../machines/membership.js';

export interface Violation {
  readonly property: string;
  readonly node: NodeId | null;
  readonly timeMs: number;
  readonly detail: string;
}

interface NodeTrack {
  /** prefix[i]: the prefix hash of this node's log through index i. */
  prefix: number[];
  lastCommit: number;
  wasLeaderInTerm: number;
  hardState: HardState | null;
  node: RaftNode | null;
}

const unknownHash = -1;

export class SafetyChecker {
  readonly violations: Violation[] = [];
  private readonly leaderOfTerm = new Map<number, NodeId>();
  private readonly votes = new Map<string, NodeId>();
  /** index*2^20 + term -> prefix hash (Log Matching). */
  private readonly byIndexTerm = new Map<number, number>();
  /** Committed prefix hashes by index (from commits and applies on every node). */
  private readonly committed = new Map<number, number>();
  private maxCommitted = 0;
  private readonly tracks = new Map<NodeId, NodeTrack>();
  /** Entries a client saw acknowledged: (index, term). */
  readonly acked: { index: number; term: number }[] = [];

  /**
   * The term of the entry at `index` in a node's durable storage ('snapshot' when a durable
   * snapshot covers it, null when absent), when the disk model can tell; undefined skips the check.
   * `term` is the one the caller looks for: where injected damage lost that entry, the disk model
   * may answer with what the node held before it.
   */
  durableTermAt: ((id: NodeId, index: number, term: number) => number | 'snapshot' | null) | undefined;

  constructor(private readonly now: () => number) {}

  /** The highest term each node proved durable (a granted vote, an acknowledgement). */
  private readonly durableTerms = new Map<NodeId, number>();

  /**
   * Issue 15: nodes whose removal from the configuration was committed (and that were not added
   * again since), with the entry that removed them: their messages must never move the term of a
   * member that holds that entry.
   */
  readonly removed = new Map<NodeId, { readonly index: number; readonly term: number }>();
  /** The newest acknowledged write's index, and the newest index a completed read returned. */
  private maxAckedIndex = 0;
  private maxReadIndex = 0;
  /** Linearizable reads checked (ReadIndex, then the state machine read at its applied index). */
  readsChecked = 0;

  private violate(property: string, node: NodeId | null, detail: string): void {
    if (this.violations.length < 20) this.violations.push({ property, node, timeMs: this.now(), detail });
  }

  private track(id: NodeId): NodeTrack {
    let t = this.tracks.get(id);
    if (t === undefined) {
      t = { prefix: [], lastCommit: 0, wasLeaderInTerm: 0, hardState: null, node: null };
      this.tracks.set(id, t);
    }
    return t;
  }

  /** A node (re)started: index its recovered log and watch every change. */
  attach(node: RaftNode): void {
    // Issue 15: a node that boots below a term it had made durable (its hard state was lost) must
    // know that its terms are unknown.
    const durable = this.durableTerms.get(node.id) ?? 0;
    if (node.term() < durable && !node.termUnknown()) {
      this.violate('lost-term-forgotten', node.id, `booted at term ${node.term()} after term ${durable} was durable, and trusts it`);
    }
    const t = this.track(node.id);
    t.node = node;
    t.lastCommit = 0;
    t.wasLeaderInTerm = 0;
    t.prefix = [];
    const log = node.log;
    t.prefix[log.snapshotIndex] = log.snapshotIndex === 0 ? 0 : (this.committed.get(log.snapshotIndex) ?? unknownHash);
    if (log.lastIndex() > log.snapshotIndex) this.appended(node.id, log, log.firstIndex(), log.range(log.firstIndex(), log.lastIndex()));
    const self = this;
    const observer: LogObserver = {
      appended: (l, first, entries) => self.appended(node.id, l, first, entries),
      truncated: (l, from) => self.truncated(node, l, from),
      restored: (l, meta, kept) => self.restored(node, l, meta, kept),
    };
    log.observer = observer;
  }

  detach(id: NodeId): void {
    const t = this.track(id);
    if (t.node) t.node.log.observer = null;
    t.node = null;
    t.lastCommit = 0;
  }

  private appended(id: NodeId, _log: RaftLog, first: number, entries: readonly Entry[]): void {
    const t = this.track(id);
    let h = t.prefix[first - 1];
    if (h === undefined) {
      this.violate('log-matching', id, `appended at ${first} without a known prefix`);
      h = unknownHash;
    }
    for (const e of entries) {
      h = h === unknownHash ? unknownHash : mix(h, e.index, e.term, fnv1a(e.data) ^ e.kind);
      t.prefix[e.index] = h;
      if (h === unknownHash) continue;
      const key = e.index * 1048576 + e.term;
      const seen = this.byIndexTerm.get(key);
      if (seen === undefined) this.byIndexTerm.set(key, h);
      else if (seen !== h) {
        this.violate('log-matching', id, `entry ${e.index} term ${e.term} has a different prefix than another log's`);
      }
    }
  }

  private truncated(node: RaftNode, _log: RaftLog, from: number): void {
    if (node.core.leader !== null) this.violate('leader-append-only', node.id, `leader truncated its log from ${from}`);
    const t = this.track(node.id);
    if (t.prefix.length > from) t.prefix.length = from;
  }

  private restored(node: RaftNode, _log: RaftLog, meta: SnapshotMeta, kept: boolean): void {
    if (node.core.leader !== null) this.violate('leader-append-only', node.id, `leader replaced its log by a snapshot`);
    const t = this.track(node.id);
    const h = this.committed.get(meta.index);
    if (h === undefined) this.violate('state-machine-safety', node.id, `installed a snapshot at ${meta.index} that nobody applied`);
    if (!kept) t.prefix.length = meta.index + 1;
    else if (h !== undefined && t.prefix[meta.index] !== h) {
      this.violate('log-matching', node.id, `kept a log suffix after a snapshot at ${meta.index} that does not match it`);
    }
    t.prefix[meta.index] = h ?? unknownHash;
  }

  private commitEntry(id: NodeId, index: number, h: number, what: string): void {
    if (h === undefined || h === unknownHash) return;
    const seen = this.committed.get(index);
    if (seen === undefined) {
      this.committed.set(index, h);
      if (index > this.maxCommitted) this.maxCommitted = index;
    } else if (seen !== h) {
      this.violate('state-machine-safety', id, `${what} a different entry at ${index} than another node`);
    }
  }

  /** Entries were applied by a node's state machine. */
  onApply(id: NodeId, entries: readonly Entry[]): void {
    const t = this.track(id);
    for (const e of entries) this.commitEntry(id, e.index, t.prefix[e.index]!, 'applied');
  }

  /** After every step of a node. */
  afterStep(node: RaftNode): void {
    const t = this.track(node.id);
    if (t.node !== node) return; // still booting: attach() indexes it first
    const s = node.status();
    if (s.commitIndex < t.lastCommit) {
      this.violate('commit-monotonic', node.id, `commit index went back from ${t.lastCommit} to ${s.commitIndex}`);
    }
    for (let i = Math.max(t.lastCommit + 1, node.log.snapshotIndex + 1); i <= s.commitIndex; i++) {
      this.commitEntry(node.id, i, t.prefix[i]!, 'committed');
    }
    if (s.role === 'leader' && s.commitIndex > t.lastCommit) this.checkCommitQuorum(node, s.commitIndex);
    t.lastCommit = Math.max(t.lastCommit, s.commitIndex);
    if (s.role === 'leader') {
      const other = this.leaderOfTerm.get(s.term);
      if (other === undefined) this.leaderOfTerm.set(s.term, node.id);
      else if (other !== node.id) this.violate('election-safety', node.id, `second leader in term ${s.term} (first: ${other})`);
      if (t.wasLeaderInTerm !== s.term) {
        t.wasLeaderInTerm = s.term;
        this.checkLeaderCompleteness(node);
        this.checkElectedByVoters(node, s.term);
      }
    }
  }

  /**
   * A leader commits an entry only once a majority of the voters of the configuration in force
   * hold it durably (an entry at an index, with its term, is the same entry everywhere).
   */
  private checkCommitQuorum(node: RaftNode, index: number): void {
    const durable = this.durableTermAt;
    if (durable === undefined || index <= node.log.snapshotIndex) return;
    const term = node.log.term(index);
    const voters = node.core.membership.voters;
    let holders = 0;
    for (const v of voters) {
      const t = durable(v, index, term);
      if (t === 'snapshot' || t === term) holders++;
    }
    if (holders < Math.floor(voters.length / 2) + 1) {
      this.violate('commit-quorum', node.id, `committed ${index} (term ${term}) held durably by ${holders} of ${voters.length} voters`);
    }
  }

  /**
   * Issue 15, learners never vote: a learner may grant a vote (it may have been promoted without
   * knowing it), but a leader is elected by the voters of its own configuration alone. The granted
   * votes seen on the network over-approximate those the candidate counted, so a shortfall here is
   * a vote from a non-voter that counted.
   */
  private checkElectedByVoters(node: RaftNode, term: number): void {
    const voters = node.core.membership.voters;
    let votes = 0;
    for (const v of voters) if (v === node.id || this.votes.get(`${v}:${term}`) === node.id) votes++;
    if (votes < Math.floor(voters.length / 2) + 1) {
      this.violate('learners-never-vote', node.id, `leads term ${term} with the votes of ${votes} of its ${voters.length} voters (${voters.join(',')})`);
    }
  }

  private checkLeaderCompleteness(node: RaftNode): void {
    const c = this.maxCommitted;
    if (c === 0) return;
    const log = node.log;
    const t = this.track(node.id);
    if (log.lastIndex() < c) {
      this.violate('leader-completeness', node.id, `new leader's log ends at ${log.lastIndex()} before committed index ${c}`);
      return;
    }
    if (c < log.snapshotIndex) return;
    if (t.prefix[c] !== this.committed.get(c)) {
      this.violate('leader-completeness', node.id, `new leader's log differs from the committed entry at ${c}`);
    }
  }

  /** Every message a node sends: votes are checked here. */
  onSend(m: RaftMessage): void {
    // Issue 15: a granted vote or an acknowledgement leaves only once its term is durable.
    if ((m.type === 'voteResp' && m.granted && !m.preVote) || (m.type === 'appendResp' && m.success)) {
      if ((this.durableTerms.get(m.from) ?? 0) < m.term) this.durableTerms.set(m.from, m.term);
    }
    // Issue 15: a node whose terms are unknown acknowledges no leader.
    if (m.type === 'appendResp' && m.success && this.track(m.from).node?.termUnknown() === true) {
      this.violate('term-unknown-silent', m.from, `acknowledged entries through ${m.index} of term ${m.term} while its terms are unknown`);
    }
    // Issue 15: learners grant votes, but only voters campaign.
    if (m.type === 'vote' && !m.preVote) {
      const sender = this.track(m.from).node;
      if (sender !== null && !sender.status().membership.voters.includes(m.from))
        this.violate('only-voters-campaign', m.from, `asked for votes in term ${m.term} as a non-voter`);
    }
    if (m.type !== 'voteResp' || !m.granted || m.preVote) return;
    const key = `${m.from}:${m.term}`;
    const prev = this.votes.get(key);
    if (prev === undefined) this.votes.set(key, m.to);
    else if (prev !== m.to) this.violate('vote-once', m.from, `voted for ${prev} and ${m.to} in term ${m.term}`);
    const node = this.track(m.from).node;
    if (node !== null && node.status().corrupt) this.violate('corrupt-never-votes', m.from, `granted a vote in term ${m.term} with damaged storage`);
    // Issue 15: a barred node (a wiped disk, a joining node) and a node whose terms are unknown grant
    // no vote. Both flags only clear within an incarnation, so a grant leaving now was made under them.
    if (node !== null && (node.status().votingBarred || node.termUnknown()))
      this.violate('barred-never-votes', m.from, `granted a vote in term ${m.term} while ${node.termUnknown() ? 'its terms are unknown' : 'barred'}`);
  }

  /**
   * Issue 15: a message was delivered to `receiver`, whose term was `termBefore`. A node whose
   * removal was committed never moves the term of a member that holds the committed removal (its
   * log has that entry, or a snapshot past it) and whose configuration no longer holds the sender.
   */
  onDelivered(m: RaftMessage, receiver: RaftNode, termBefore: number): void {
    const removal = this.removed.get(m.from);
    if (removal === undefined || receiver.isStopped()) return;
    const after = receiver.term();
    if (after <= termBefore) return;
    // A member that has not yet received the removal takes the sender for a voter and learns terms
    // from it as Raft does (etcd too, until its transport learns the removal): not checked.
    const ms = receiver.core.membership;
    if (!holdsMember(ms, receiver.id) || holdsMember(ms, m.from)) return;
    // A member whose configuration lacks the sender through another entry (an uncommitted removal
    // of an older term, to be truncated: seed 54132) lags the removed node's log and grants its
    // vote as Raft does; the removed node still cannot win (a majority holds the committed removal).
    const log = receiver.core.log;
    if (log.snapshotIndex < removal.index && log.term(removal.index) !== removal.term) return;
    this.violate(
      'removed-moved-term',
      receiver.id,
      `removed node ${m.from} moved its term from ${termBefore} to ${after} (${m.type}${m.type === 'vote' && m.preVote ? ' pre-vote' : ''}), though its configuration no longer holds the sender`,
    );
  }

  /** Issue 15: a read (ReadIndex) starts now: what it must return at least. */
  readStarted(): { readonly ackedIndex: number; readonly readIndex: number } {
    return { ackedIndex: this.maxAckedIndex, readIndex: this.maxReadIndex };
  }

  /**
   * Issue 15: a linearizable read completed on `node`, which returned its state machine's state at
   * `index` (everything applied through it). It must be at least as new as every write acknowledged
   * and every read completed before the read started, and what it saw must be committed history.
   */
  onRead(node: RaftNode, started: { readonly ackedIndex: number; readonly readIndex: number }, index: number): void {
    this.readsChecked++;
    if (index < started.ackedIndex) {
      this.violate(
        'linearizable-read',
        node.id,
        `read returned the state at ${index}, older than the write acknowledged at ${started.ackedIndex} before it started`,
      );
    } else if (index < started.readIndex) {
      this.violate(
        'linearizable-read',
        node.id,
        `read returned the state at ${index}, older than a read that completed at ${started.readIndex} before it started`,
      );
    }
    const h = this.track(node.id).prefix[index];
    const c = this.committed.get(index);
    if (index > node.log.snapshotIndex && h !== undefined && h !== unknownHash && c !== h) {
      this.violate('linearizable-read', node.id, `read returned the state at ${index}, which is not the committed history`);
    }
    if (index > this.maxReadIndex) this.maxReadIndex = index;
  }

  /** Issue 15: the node's durable hard state was damaged or wiped on purpose: what follows starts afresh. */
  forgetHardState(id: NodeId): void {
    this.track(id).hardState = null;
  }

  /** The durable hard state of a node changed. */
  onHardState(id: NodeId, hs: HardState): void {
    const t = this.track(id);
    const prev = t.hardState;
    if (prev !== null) {
      if (hs.term < prev.term) this.violate('hardstate-monotonic', id, `durable term went back from ${prev.term} to ${hs.term}`);
      else if (hs.term === prev.term && prev.vote !== null && hs.vote !== prev.vote) {
        this.violate('hardstate-monotonic', id, `durable vote in term ${hs.term} changed from ${prev.vote} to ${hs.vote}`);
      }
    }
    t.hardState = hs;
  }

  /** A client saw this proposal acknowledged (applied on the leader). */
  onAck(index: number, term: number): void {
    this.acked.push({ index, term });
    if (index > this.maxAckedIndex) this.maxAckedIndex = index;
  }

  /** At the end: every acknowledged entry is in the committed history and in every node's log or snapshot. */
  checkAcked(nodes: readonly RaftNode[]): void {
    for (const a of this.acked) {
      const h = this.byIndexTerm.get(a.index * 1048576 + a.term);
      if (h === undefined || this.committed.get(a.index) !== h) {
        this.violate('acked-lost', null, `acknowledged entry ${a.index} (term ${a.term}) is not the committed entry at ${a.index}`);
      }
    }
    for (const node of nodes) {
      const t = this.track(node.id);
      const s = node.status();
      const upTo = Math.min(s.appliedIndex, this.maxCommitted);
      if (upTo > node.log.snapshotIndex && t.prefix[upTo] !== this.committed.get(upTo)) {
        this.violate('state-machine-safety', node.id, `applied history through ${upTo} differs from the committed one`);
      }
    }
  }

  get maxCommittedIndex(): number {
    return this.maxCommitted;
  }
}
