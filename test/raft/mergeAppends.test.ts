/**
 * mergeAppends: a flush's AppendEntries to one follower that continue each other leave as one.
 * Property: whatever the flush held, each follower that applies the merged messages in order ends
 * with the same log and commit index as one that applied the originals; every message sent keeps
 * its entries contiguous from its prevIndex and within the machine's limits; nothing but
 * AppendEntries is merged, removed or reordered among themselves.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { mergeAppends } from '../../actors/raft/mergeAppends.js';
import { EntryKind, type AppendRequest, type Entry, type NodeId, type RaftMessage } from '../../machines/types.js';

interface Send {
  readonly message: RaftMessage;
  readonly afterDurable: boolean;
}

const limits = { appendBytesMax: 64, appendEntriesMax: 6 };

function entry(index: number, term: number, bytes: number): Entry {
  return { index, term, kind: EntryKind.command, data: new Uint8Array(bytes).fill(index & 0xff) };
}

function append(to: NodeId, term: number, prevIndex: number, prevTerm: number, commit: number, entries: Entry[]): Send {
  return { message: { type: 'append', from: 'n1', to, term, prevIndex, prevTerm, commit, entries }, afterDurable: false };
}

/** A follower's log as Raft's AppendEntries leaves it (conflicting suffix cut, then appended). */
class FollowerLog {
  readonly entries: Entry[] = [];
  commit = 0;
  apply(m: AppendRequest): void {
    const prevOk = m.prevIndex === 0 || this.entries[m.prevIndex - 1]?.term === m.prevTerm;
    if (!prevOk) return;
    for (const e of m.entries) {
      const have = this.entries[e.index - 1];
      if (have !== undefined && have.term === e.term) continue;
      this.entries.length = e.index - 1;
      this.entries.push(e);
    }
    this.commit = Math.max(this.commit, Math.min(m.commit, m.prevIndex + m.entries.length));
  }
}

function replay(sends: readonly Send[], peers: readonly NodeId[], start: Map<NodeId, Entry[]>): Map<NodeId, { log: string; commit: number }> {
  const out = new Map<NodeId, { log: string; commit: number }>();
  for (const p of peers) {
    const f = new FollowerLog();
    f.entries.push(...(start.get(p) ?? []));
    for (const s of sends) if (s.message.type === 'append' && s.message.to === p) f.apply(s.message);
    out.set(p, { log: f.entries.map((e) => `${e.index}.${e.term}.${e.data.length}`).join(','), commit: f.commit });
  }
  return out;
}

const peers: NodeId[] = ['n2', 'n3'];

/**
 * A flush's sends as the leader's machine makes them: per peer, runs of entries that continue the
 * leader's log from where that peer's progress stood (so consecutive ones continue each other),
 * sometimes from an earlier point (a probe after a rejection), a new term, or an entry-less
 * message; heartbeats, answers held until durable and votes in between.
 */
const flushArb = fc
  .array(
    fc.record({
      peer: fc.constantFrom(...peers),
      what: fc.constantFrom('run', 'run', 'run', 'empty', 'back', 'term', 'heartbeat', 'held', 'vote'),
      count: fc.integer({ min: 1, max: 4 }),
      bytes: fc.integer({ min: 0, max: 24 }),
      commitStep: fc.integer({ min: 0, max: 3 }),
    }),
    { maxLength: 14 },
  )
  .map((steps) => {
    // The leader's log, grown as runs are made; each peer's next index.
    const log: Entry[] = [entry(1, 1, 4), entry(2, 1, 4)];
    let term = 1;
    let commit = 0;
    const next = new Map<NodeId, number>(peers.map((p) => [p, 3]));
    const sends: Send[] = [];
    for (const s of steps) {
      commit = Math.min(commit + s.commitStep, log.length);
      const from = next.get(s.peer)!;
      const prevTerm = (i: number): number => (i === 0 ? 0 : log[i - 1]!.term);
      switch (s.what) {
        case 'term':
        case 'run': {
          if (s.what === 'term') term++;
          // Entries past the log's end are appended to it (the leader proposing), in the current term.
          const upTo = from + s.count - 1;
          while (log.length < upTo) log.push(entry(log.length + 1, term, s.bytes));
          sends.push(append(s.peer, term, from - 1, prevTerm(from - 1), commit, log.slice(from - 1, upTo)));
          next.set(s.peer, upTo + 1);
          break;
        }
        case 'empty':
          sends.push(append(s.peer, term, from - 1, prevTerm(from - 1), commit, []));
          break;
        case 'back': {
          // A probe from an earlier point (the peer rejected): it does not continue the last one.
          const at = Math.max(1, from - s.count);
          sends.push(append(s.peer, term, at - 1, prevTerm(at - 1), commit, log.slice(at - 1, Math.min(log.length, at + 1))));
          next.set(s.peer, Math.min(log.length, at + 1) + 1);
          break;
        }
        case 'heartbeat':
          sends.push({ message: { type: 'heartbeat', from: 'n1', to: s.peer, term, commit, readCtx: 0 }, afterDurable: false } as Send);
          break;
        case 'held':
          sends.push({ ...append(s.peer, term, from - 1, prevTerm(from - 1), commit, []), afterDurable: true });
          break;
        case 'vote':
          sends.push({
            message: { type: 'vote', from: 'n1', to: s.peer, term, lastIndex: log.length, lastTerm: prevTerm(log.length), preVote: false, transfer: false },
            afterDurable: true,
          } as Send);
          break;
      }
    }
    return sends;
  });

describe('raft: mergeAppends joins the AppendEntries of a flush that continue each other', () => {
  it('joins two runs to one peer into one message with both runs and the later commit', () => {
    const sends = [
      append('n2', 3, 4, 2, 4, [entry(5, 3, 8), entry(6, 3, 8)]),
      append('n3', 3, 4, 2, 4, [entry(5, 3, 8), entry(6, 3, 8)]),
      append('n2', 3, 6, 3, 5, [entry(7, 3, 8)]),
    ];
    expect(mergeAppends(sends, limits)).to.equal(1);
    expect(sends).to.have.length(2);
    const m = sends[0]!.message as AppendRequest;
    expect([m.to, m.prevIndex, m.prevTerm, m.commit, m.entries.map((e) => e.index)]).to.deep.equal(['n2', 4, 2, 5, [5, 6, 7]]);
    expect((sends[1]!.message as AppendRequest).to).to.equal('n3');
  });

  it('keeps apart what does not continue, another term, and what the limits would not take', () => {
    const gap = [append('n2', 3, 4, 2, 4, [entry(5, 3, 8)]), append('n2', 3, 6, 3, 4, [entry(7, 3, 8)])];
    expect(mergeAppends(gap, limits)).to.equal(0);
    const otherTerm = [append('n2', 3, 4, 2, 4, [entry(5, 3, 8)]), append('n2', 4, 5, 3, 4, [entry(6, 4, 8)])];
    expect(mergeAppends(otherTerm, limits)).to.equal(0);
    const tooLarge = [append('n2', 3, 4, 2, 4, [entry(5, 3, 40)]), append('n2', 3, 5, 3, 4, [entry(6, 3, 40)])];
    expect(mergeAppends(tooLarge, limits)).to.equal(0);
    const tooMany = [
      append(
        'n2',
        3,
        0,
        0,
        0,
        [1, 2, 3, 4].map((i) => entry(i, 3, 1)),
      ),
      append(
        'n2',
        3,
        4,
        3,
        0,
        [5, 6, 7].map((i) => entry(i, 3, 1)),
      ),
    ];
    expect(mergeAppends(tooMany, limits)).to.equal(0);
  });

  it('followers end with the same logs and commit indexes; messages stay contiguous and within limits (property)', () => {
    fc.assert(
      fc.property(flushArb, (original) => {
        const sends = original.slice();
        const merged = mergeAppends(sends, limits);
        expect(sends.length).to.equal(original.length - merged);
        const start = new Map<NodeId, Entry[]>(peers.map((p) => [p, [entry(1, 1, 4), entry(2, 1, 4)]]));
        expect(replay(sends, peers, start)).to.deep.equal(replay(original, peers, start));
        // Everything but AppendEntries sent at once is kept, in its order.
        const others = (xs: readonly Send[]): Send[] => xs.filter((s) => !(s.message.type === 'append' && !s.afterDurable));
        expect(others(sends)).to.deep.equal(others(original));
        for (const s of sends) {
          if (s.message.type !== 'append' || original.includes(s)) continue;
          const m = s.message;
          m.entries.forEach((e, k) => expect(e.index).to.equal(m.prevIndex + 1 + k));
          expect(m.entries.length).to.be.at.most(limits.appendEntriesMax);
          expect(m.entries.reduce((n, e) => n + e.data.byteLength, 0)).to.be.at.most(limits.appendBytesMax);
        }
        // Per peer, the AppendEntries sent at once keep their order (a merged one takes the first's place).
        for (const p of peers) {
          const firsts = (xs: readonly Send[]): number[] =>
            xs.filter((s) => s.message.type === 'append' && !s.afterDurable && s.message.to === p).map((s) => (s.message as AppendRequest).prevIndex);
          const got = firsts(sends);
          expect(got.every((v) => firsts(original).includes(v))).to.equal(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
