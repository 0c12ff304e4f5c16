/**
 * A tiny deterministic harness for the Raft machines, in the spirit of etcd's transcript tests:
 * pure nodes stepped with XState's `transition()` (no actor, no timers, no simulator), each step's
 * effects collected by type, and a hand-driven network ("campaign n1", "deliver", "stabilize").
 *
 * Durability is explicit, as in the node actor: a step's `persist` effects make the node "dirty";
 * messages sent with `afterDurable` are held until `sync()`, which releases them and then steps
 * `storage.durable` through the node's last entry. Nothing is durable unless a test says so.
 */
import { initialTransition, transition } from 'xstate';
import { defaultRaftConfig, type RaftConfig } from '../../machines/config.js';
import { createRaftCore, type PlantedBug, type RaftContext, type RaftCore, type RaftInput } from '../../machines/core.js';
import { Ready, type PersistParams } from '../../machines/effects.js';
import type { Proposal, RaftEvent } from '../../machines/events.js';
import { RaftLog } from '../../machines/raftLog.js';
import { createRaftMachine, type RaftMachine } from '../../machines/raftMachine.js';
import type { Entry, Membership, NodeId, RaftMessage, SnapshotMeta } from '../../machines/types.js';
import { EntryKind } from '../../machines/types.js';

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';
type Snapshot = ReturnType<typeof initialTransition<RaftMachine>>[0];

/** A config for tests: small timeouts (min 10 ticks, heartbeat every 2), everything else default. */
export function testConfig(over: Partial<RaftConfig> = {}): RaftConfig {
  return { ...defaultRaftConfig, electionTimeoutTicksMin: 10, heartbeatIntervalTicks: 2, ...over };
}

/** Entries from compact "index@term" notation: `ents(1, [1, 1, 2])` is 1@1 2@1 3@2. */
export function ents(first: number, terms: readonly number[], dataBytes = 0): Entry[] {
  return terms.map((term, k) => ({ index: first + k, term, kind: EntryKind.command, data: new Uint8Array(dataBytes) }));
}

export function cmd(bytes = 0): Proposal {
  return { kind: EntryKind.command, data: new Uint8Array(bytes) };
}

/** An action as `transition()` returns it: type, params, and (unexecuted) exec. */
export interface RawAction {
  readonly type: string;
  readonly params?: unknown;
  readonly exec?: ((...args: any[]) => unknown) | undefined;
  readonly info?: unknown;
}

/**
 * The effects of one step: the `Ready` the node actor would execute (machines/effects.ts, sorted by
 * its one collector), plus every action in order and the actions that are not effects.
 */
export class Effects extends Ready {
  readonly all: RawAction[] = [];
  /** Actions that are not effects (e.g. the `twoLeadersInOneTerm` invariant), unexecuted, with exec. */
  readonly other: RawAction[] = [];

  add(action: RawAction): void {
    // The term rule handing a message on to the roles (`current.*`): part of the step, not an effect.
    if (action.type === 'xstate.raise') return;
    this.all.push(action);
    if (!this.collect(action)) this.other.push(action);
  }

  merge(o: Effects): this {
    for (const a of o.all) this.add(a);
    return this;
  }

  get messages(): RaftMessage[] {
    return this.sends.map((s) => s.message);
  }

  /** Sends as transcript lines, with " (after durable)" on those held until durable. */
  get msgs(): string[] {
    return this.sends.map((s) => fmtMsg(s.message) + (s.afterDurable ? ' (after durable)' : ''));
  }

  /** Persists as transcript lines. */
  get writes(): string[] {
    return this.persist.map(fmtPersist);
  }

  /** Effect types in order, e.g. ['persist', 'send', 'send']. */
  get types(): string[] {
    return this.all.map((a) => a.type);
  }

  get empty(): boolean {
    return this.all.length === 0;
  }
}

function fmtEntries(es: readonly Entry[]): string {
  return es.map((e) => `${e.index}@${e.term}`).join(' ');
}

export function fmtPersist(p: PersistParams): string {
  const parts: string[] = [];
  if (p.hardState !== undefined) parts.push(`hardState(term ${p.hardState.term}, vote ${p.hardState.vote ?? '-'})`);
  if (p.truncateFrom !== undefined) parts.push(`truncateFrom ${p.truncateFrom}`);
  if (p.entries.length > 0) parts.push(`entries ${fmtEntries(p.entries)}`);
  return parts.length === 0 ? 'nothing' : parts.join(' ');
}

/** One message as a transcript line: `n1->n2 append t1 prev 0@0 commit 0 [1@1]`. */
export function fmtMsg(m: RaftMessage): string {
  const head = `${m.from}->${m.to} ${m.type} t${m.term}`;
  switch (m.type) {
    case 'vote':
      return `${head}${m.preVote ? ' pre' : ''}${m.transfer ? ' transfer' : ''} last ${m.lastIndex}@${m.lastTerm}`;
    case 'voteResp':
      return `${head}${m.preVote ? ' pre' : ''} ${m.granted ? 'granted' : 'rejected'}${m.nonMember === true ? ' non-member' : ''}`;
    case 'append':
      return `${head} prev ${m.prevIndex}@${m.prevTerm} commit ${m.commit} [${fmtEntries(m.entries)}]`;
    case 'appendResp':
      return m.success ? `${head} ok ${m.index}` : `${head} reject ${m.index} hint ${m.hintIndex}@${m.hintTerm}`;
    case 'heartbeat':
      return `${head} commit ${m.commit} ctx ${m.readCtx}`;
    case 'heartbeatResp':
      return `${head} ctx ${m.readCtx}`;
    case 'timeoutNow':
      return head;
    case 'snapshot':
      return `${head} snap ${m.meta.index}@${m.meta.term} offset ${m.offset}${m.done ? ' done' : ''}`;
    case 'snapshotResp':
      return `${head} index ${m.index} offset ${m.offset}${m.done ? ' done' : ''}${m.reject ? ' reject' : ''}`;
    default:
      return head; // messages the actor handles outside the machine (range sync)
  }
}

/** The event a message becomes at its receiver. */
export function eventOf(m: RaftMessage): RaftEvent {
  switch (m.type) {
    case 'vote':
      return { type: 'rpc.vote', msg: m };
    case 'voteResp':
      return { type: 'rpc.voteResp', msg: m };
    case 'append':
      return { type: 'rpc.append', msg: m };
    case 'appendResp':
      return { type: 'rpc.appendResp', msg: m };
    case 'heartbeat':
      return { type: 'rpc.heartbeat', msg: m };
    case 'heartbeatResp':
      return { type: 'rpc.heartbeatResp', msg: m };
    case 'timeoutNow':
      return { type: 'rpc.timeoutNow', msg: m };
    case 'snapshot':
      return { type: 'rpc.snapshot', msg: m };
    case 'snapshotResp':
      return { type: 'rpc.snapshotResp', msg: m };
  }
  throw new Error(`not a machine event: ${m.type}`);
}

export interface NodeOptions {
  readonly voters?: readonly NodeId[];
  readonly learners?: readonly NodeId[];
  readonly config?: Partial<RaftConfig>;
  readonly bugs?: readonly PlantedBug[];
  /** Random source; default 0.5 (timeout = 1.5 * min). A number array is used in turn, then repeats its last. */
  readonly random?: number | readonly number[];
  /** Recovered state: durable log (snapshot + entries) and hard state. */
  readonly snapshot?: SnapshotMeta | null;
  readonly entries?: readonly Entry[];
  readonly term?: number;
  readonly vote?: NodeId | null;
  readonly commitIndex?: number;
  readonly corrupt?: boolean;
  readonly repairThroughIndex?: number;
  readonly votingBarred?: boolean;
  /** Recovered without a trustworthy hard state (issue 15): the terms it voted in are unknown. */
  readonly termUnknown?: boolean;
}

/** One Raft node driven purely through `transition()`. */
export class PureNode {
  readonly core: RaftCore;
  readonly machine: RaftMachine;
  private snap: Snapshot;
  /** Messages released to the network and not yet delivered. */
  readonly outbox: RaftMessage[] = [];
  /** Messages held until the writes issued before them are durable. */
  readonly held: RaftMessage[] = [];
  /** A persist (or a snapshot install) happened since the last sync. */
  dirty = false;
  /** Everything this node ever produced, for whole-transcript assertions. */
  readonly history = new Effects();

  constructor(
    readonly id: NodeId,
    opts: NodeOptions = {},
  ) {
    const voters = opts.voters ?? ['n1', 'n2', 'n3'];
    const membership: Membership = { voters: [...voters], learners: [...(opts.learners ?? [])] };
    const r = opts.random ?? 0.5;
    let k = 0;
    const random = typeof r === 'number' ? () => r : () => r[Math.min(k++, r.length - 1)]!;
    this.core = createRaftCore({
      id,
      config: testConfig(opts.config),
      log: RaftLog.recover(opts.snapshot ?? null, opts.entries ?? []),
      random,
      membership: opts.snapshot?.membership ?? membership,
      bugs: new Set(opts.bugs ?? []),
    });
    this.machine = createRaftMachine(this.core);
    const input: RaftInput = {
      term: opts.term ?? 0,
      vote: opts.vote ?? null,
      commitIndex: opts.commitIndex ?? opts.snapshot?.index ?? 0,
      corrupt: opts.corrupt ?? false,
      repairThroughIndex: opts.repairThroughIndex ?? 0,
      votingBarred: opts.votingBarred ?? false,
      // Cast: RaftInput gained termUnknown in issue 15 (the regression tests also build without it).
      ...({ termUnknown: opts.termUnknown ?? false } as object),
    };
    const [snap, actions] = initialTransition(this.machine, input);
    this.snap = snap;
    this.collect(actions as never);
  }

  get log(): RaftLog {
    return this.core.log;
  }

  get ctx(): RaftContext {
    return this.snap.context;
  }

  get role(): Role {
    return this.snap.value as Role;
  }

  get status(): string {
    return this.snap.status;
  }

  get term(): number {
    return this.snap.context.term;
  }

  /** The leader's progress for a peer (throws when not leader). */
  progress(peer: NodeId) {
    const st = this.core.leader;
    if (st === null) throw new Error(`${this.id} is not leader`);
    const pr = st.progress.get(peer);
    if (pr === undefined) throw new Error(`no progress for ${peer}`);
    return pr;
  }

  /** Step one event; return its effects. Snapshots are used linearly (the log is shared state). */
  step(event: RaftEvent): Effects {
    const [next, actions] = transition(this.machine, this.snap, event);
    this.snap = next;
    return this.collect(actions as never);
  }

  private collect(actions: readonly RawAction[]): Effects {
    const fx = new Effects();
    for (const a of actions) fx.add(a);
    // A persist, or a snapshot to install (the actor saves it before acknowledging anything after it).
    if (fx.persist.length > 0 || fx.installSnapshot.length > 0) this.dirty = true;
    for (const s of fx.sends) {
      // As the node actor: an afterDurable message waits for every write issued so far.
      if (s.afterDurable && this.dirty) this.held.push(s.message);
      else this.outbox.push(s.message);
    }
    this.history.merge(fx);
    return fx;
  }

  tick(n = 1): Effects {
    const all = new Effects();
    for (let k = 0; k < n; k++) all.merge(this.step({ type: 'tick' }));
    return all;
  }

  /**
   * Every write issued so far completed: release the held messages, then report the log durable
   * through its last entry (the actor's order).
   */
  sync(): Effects {
    this.outbox.push(...this.held.splice(0));
    if (!this.dirty) return new Effects();
    this.dirty = false;
    return this.step({ type: 'storage.durable', index: this.log.lastIndex(), term: this.log.lastTerm() });
  }

  /** Take (and forget) the released messages. */
  drain(): RaftMessage[] {
    return this.outbox.splice(0);
  }

  campaign(): Effects {
    return this.step({ type: 'admin.campaign' });
  }

  propose(tag: number, proposals: readonly Proposal[]): Effects {
    return this.step({ type: 'client.propose', tag, proposals });
  }

  read(ctx: number): Effects {
    return this.step({ type: 'client.read', ctx });
  }

  receive(m: RaftMessage): Effects {
    return this.step(eventOf(m));
  }
}

/** Several pure nodes and a hand-driven network between them. */
export class Cluster {
  readonly nodes = new Map<NodeId, PureNode>();
  /** Delivered messages, as transcript lines, in order. */
  readonly transcript: string[] = [];

  constructor(ids: readonly NodeId[], opts: NodeOptions | ((id: NodeId) => NodeOptions) = {}) {
    for (const id of ids) {
      const o = typeof opts === 'function' ? opts(id) : opts;
      this.nodes.set(id, new PureNode(id, { voters: ids, ...o }));
    }
  }

  n(id: NodeId): PureNode {
    const node = this.nodes.get(id);
    if (node === undefined) throw new Error(`no node ${id}`);
    return node;
  }

  /** Replace a node (a restart with what it recovered from disk). */
  restart(id: NodeId, opts: NodeOptions): PureNode {
    const voters = this.n(id).core.membership.voters;
    const node = new PureNode(id, { voters, ...opts });
    this.nodes.set(id, node);
    return node;
  }

  /** Messages released and not yet delivered, as transcript lines. */
  pending(): string[] {
    const out: string[] = [];
    for (const node of this.nodes.values()) for (const m of node.outbox) out.push(fmtMsg(m));
    return out;
  }

  /** Make every node's writes durable (releasing what they hold). */
  syncAll(): void {
    for (const node of this.nodes.values()) node.sync();
  }

  /**
   * Deliver the messages released so far (not the ones their delivery produces) that pass
   * `filter`; the others stay in flight. Returns the delivered lines.
   */
  deliver(filter: (m: RaftMessage) => boolean = () => true): string[] {
    const batch: RaftMessage[] = [];
    for (const node of this.nodes.values()) {
      for (const m of node.drain()) {
        if (filter(m)) batch.push(m);
        else node.outbox.push(m);
      }
    }
    const lines: string[] = [];
    for (const m of batch) {
      const to = this.nodes.get(m.to);
      if (to === undefined) continue;
      lines.push(fmtMsg(m));
      to.receive(m);
    }
    this.transcript.push(...lines);
    return lines;
  }

  /** Drop the released messages that pass `filter` (a lossy or partitioned link). Returns their lines. */
  drop(filter: (m: RaftMessage) => boolean): string[] {
    const lines: string[] = [];
    for (const node of this.nodes.values()) {
      for (const m of node.drain()) {
        if (filter(m)) lines.push(fmtMsg(m));
        else node.outbox.push(m);
      }
    }
    return lines;
  }

  /**
   * Let `ticks` ticks pass on every node; after each, sync and deliver until quiet, dropping what
   * `lost` selects (a partition). Returns the delivered lines.
   */
  run(ticks: number, lost: (m: RaftMessage) => boolean = () => false): string[] {
    const lines: string[] = [];
    for (let t = 0; t < ticks; t++) {
      for (const node of this.nodes.values()) node.tick();
      for (let round = 0; ; round++) {
        if (round > 100) throw new Error('not quiet after 100 rounds');
        this.syncAll();
        this.drop(lost);
        const delivered = this.deliver();
        if (delivered.length === 0) break;
        lines.push(...delivered);
      }
    }
    return lines;
  }

  /** Sync and deliver until no message is left (etcd's `stabilize`). Returns the delivered lines. */
  stabilize(roundsMax = 100): string[] {
    const lines: string[] = [];
    for (let round = 0; round < roundsMax; round++) {
      this.syncAll();
      const delivered = this.deliver();
      if (delivered.length === 0) return lines;
      lines.push(...delivered);
    }
    throw new Error(`not stable after ${roundsMax} rounds`);
  }

  /** Campaign `id` (skipping pre-vote and timers) and stabilize: it becomes leader. */
  elect(id: NodeId): PureNode {
    this.n(id).campaign();
    this.stabilize();
    const node = this.n(id);
    if (node.role !== 'leader') throw new Error(`${id} did not become leader (${node.role})`);
    return node;
  }

  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.role === 'leader').map((n) => n.id);
  }
}

/** Only messages of these types (for `deliver`). */
export function ofType(...types: RaftMessage['type'][]): (m: RaftMessage) => boolean {
  return (m) => types.includes(m.type);
}

/** Only messages to or from `id`. */
export function involving(id: NodeId): (m: RaftMessage) => boolean {
  return (m) => m.from === id || m.to === id;
}
