/**
 * The roles take the per-command messages of the current term (append and heartbeat on a follower,
 * their answers on a leader) directly, without the term rule's hand-off as `current.*`; and a step
 * that changes no field assigns nothing. Both must change nothing a node does: two nodes in the same
 * state, one given the message as it arrives (`rpc.*`) and one given it as the term rule would hand
 * it on (`current.*`), must produce the same effects, the same context and the same log, message
 * after message.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import type { RaftEvent } from '../../machines/events.js';
import type { AppendRequest, AppendResponse, Heartbeat, HeartbeatResponse, RaftMessage } from '../../machines/types.js';
import { Cluster, cmd, ents, PureNode, type Effects } from './harness.js';

/** What a step did, comparable across two nodes. */
function outcome(n: PureNode, fx: Effects) {
  return {
    role: n.role,
    ctx: n.ctx,
    lastIndex: n.log.lastIndex(),
    lastTerm: n.log.lastTerm(),
    actions: fx.all.map((a) => ({ type: a.type, params: a.params })),
  };
}

/** The message as the term rule hands it to the roles. */
function asCurrent(m: RaftMessage): RaftEvent {
  return { type: `current.${m.type}`, msg: m } as never;
}

describe('machines: current-term messages taken by the roles directly', () => {
  it('a follower does the same with an append or heartbeat of its term as the term rule would', () => {
    const term = 3;
    // The leader's log; the follower holds its first two entries and an uncommitted entry of term 2
    // that the leader's log replaced.
    const leaderTerms = [1, 1, 2, 3, 3, 3, 3, 3];
    const termAt = (i: number): number => (i === 0 ? 0 : leaderTerms[i - 1]!);
    const msgArb = fc.oneof(
      fc.record({
        kind: fc.constant<'append'>('append'),
        prevIndex: fc.integer({ min: 0, max: leaderTerms.length }),
        count: fc.integer({ min: 0, max: 3 }),
        // A prevTerm the follower's log cannot match: the rejection path and its hint.
        mismatched: fc.boolean(),
        commit: fc.integer({ min: 0, max: leaderTerms.length }),
      }),
      fc.record({
        kind: fc.constant<'heartbeat'>('heartbeat'),
        commit: fc.integer({ min: 0, max: leaderTerms.length }),
        readCtx: fc.integer({ min: 0, max: 2 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(msgArb, { minLength: 1, maxLength: 12 }), (msgs) => {
        const opts = { term, vote: 'n1', entries: ents(1, [1, 1, 2]), commitIndex: 2 };
        const direct = new PureNode('n2', opts);
        const handed = new PureNode('n2', opts);
        for (const m of msgs) {
          let msg: AppendRequest | Heartbeat;
          if (m.kind === 'append') {
            const entries = ents(m.prevIndex + 1, leaderTerms.slice(m.prevIndex, m.prevIndex + m.count));
            const prevTerm = m.mismatched ? 9 : termAt(m.prevIndex);
            msg = { type: 'append', from: 'n1', to: 'n2', term, prevIndex: m.prevIndex, prevTerm, commit: m.commit, entries };
          } else {
            msg = { type: 'heartbeat', from: 'n1', to: 'n2', term, commit: m.commit, readCtx: m.readCtx };
          }
          expect(outcome(direct, direct.receive(msg))).to.deep.equal(outcome(handed, handed.step(asCurrent(msg))));
        }
        expect(direct.log.lastIndex()).to.equal(handed.log.lastIndex());
      }),
      { numRuns: 300 },
    );
  });

  it('a leader does the same with the answers of its term as the term rule would', () => {
    const respArb = fc.oneof(
      fc.record({
        kind: fc.constant<'appendResp'>('appendResp'),
        from: fc.constantFrom('n2', 'n3'),
        success: fc.boolean(),
        index: fc.integer({ min: 0, max: 8 }),
        hintIndex: fc.integer({ min: 0, max: 8 }),
      }),
      fc.record({ kind: fc.constant<'heartbeatResp'>('heartbeatResp'), from: fc.constantFrom('n2', 'n3'), readCtx: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ kind: fc.constant<'propose'>('propose'), count: fc.integer({ min: 1, max: 2 }) }),
      fc.record({ kind: fc.constant<'sync'>('sync') }),
    );
    fc.assert(
      fc.property(fc.array(respArb, { minLength: 1, maxLength: 16 }), (steps) => {
        const leaderOf = (): PureNode => {
          const c = new Cluster(['n1', 'n2', 'n3']);
          return c.elect('n1');
        };
        const direct = leaderOf();
        const handed = leaderOf();
        expect(outcome(direct, direct.sync())).to.deep.equal(outcome(handed, handed.sync()));
        let tag = 0;
        for (const s of steps) {
          const run = (n: PureNode, viaCurrent: boolean): ReturnType<typeof outcome> | string => {
            try {
              const proposals = Array.from({ length: s.kind === 'propose' ? s.count : 0 }, () => cmd(1));
              if (s.kind === 'propose') return outcome(n, n.propose(tag, proposals));
              if (s.kind === 'sync') return outcome(n, n.sync());
              const msg: AppendResponse | HeartbeatResponse =
                s.kind === 'appendResp'
                  ? {
                      type: 'appendResp',
                      from: s.from,
                      to: 'n1',
                      term: n.term,
                      success: s.success,
                      index: Math.min(s.index, n.log.lastIndex()),
                      hintIndex: Math.min(s.hintIndex, s.index),
                      hintTerm: n.term,
                    }
                  : { type: 'heartbeatResp', from: s.from, to: 'n1', term: n.term, readCtx: s.readCtx };
              return outcome(n, viaCurrent ? n.step(asCurrent(msg)) : n.receive(msg));
            } catch (e) {
              return `threw ${(e as Error).message}`;
            }
          };
          tag++;
          const a = run(direct, false);
          const b = run(handed, true);
          expect(a).to.deep.equal(b);
          if (typeof a === 'string') return;
        }
      }),
      { numRuns: 200 },
    );
  });

  it('still hands a message of another term to the term rule', () => {
    const n = new PureNode('n2', { term: 3, vote: 'n1', entries: ents(1, [1, 3]) });
    // A newer term: adopted (the fast path only takes the current term).
    n.receive({ type: 'heartbeat', from: 'n3', to: 'n2', term: 4, commit: 0, readCtx: 0 });
    expect(n.term).to.equal(4);
    expect(n.ctx.leader).to.equal('n3');
    // An older one: answered with ours, and nothing else changes.
    const fx = n.receive({ type: 'append', from: 'n1', to: 'n2', term: 3, prevIndex: 2, prevTerm: 3, commit: 2, entries: [] });
    expect(fx.messages.map((m) => [m.type, m.term, (m as AppendResponse).success])).to.deep.equal([['appendResp', 4, false]]);
    expect(n.ctx.leader).to.equal('n3');
  });
});
