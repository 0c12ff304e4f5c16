/**
 * Issue 14 at the machine level: a message never changes a term it should not, and no message
 * makes the machine crash unless it proves the protocol broke.
 *
 * - TimeoutNow is obeyed only from the leader of the node's current term: one from another member,
 *   from a node outside the configuration, of an older or a newer term, or to a node that knows no
 *   leader, starts no election and changes no term.
 * - A second leader of the leader's own term that is not a member of the configuration (a forgery:
 *   Election Safety cannot produce it) is ignored; one that is a member stays fail-stop
 *   (twoLeadersInOneTerm, safety.test.ts).
 */
import { expect } from 'chai';
import type { RaftEvent } from '../../machines/events.js';
import { Cluster } from './harness.js';

function steady(): Cluster {
  const c = new Cluster(['n1', 'n2', 'n3']);
  c.elect('n1');
  c.stabilize();
  return c;
}

const timeoutNow = (from: string, to: string, term: number): RaftEvent => ({ type: 'rpc.timeoutNow', msg: { type: 'timeoutNow', from, to, term } });

describe('issue 14: TimeoutNow is obeyed only from the leader of the current term', () => {
  it('from the leader of the current term: the target campaigns (a transfer)', () => {
    const c = steady();
    const n2 = c.n('n2');
    expect(n2.ctx.leader).to.equal('n1');
    n2.step(timeoutNow('n1', 'n2', 1));
    expect(n2.role).to.equal('candidate');
    expect(n2.term).to.equal(2);
  });

  it('from another member, a non-member, an older or a newer term: no election, no term change, no effect', () => {
    const cases: Array<[string, number]> = [
      ['n3', 1], // a follower of the same term
      ['x9', 1], // a node outside the configuration
      ['__stranger', 1],
      ['n1', 0], // the leader, an older term
      ['n1', 2], // "the leader" of a newer term: a leader sends TimeoutNow only in its target's term
      ['n3', 2],
      ['x9', 2 ** 40], // a huge term
    ];
    for (const [from, term] of cases) {
      const c = steady();
      const n2 = c.n('n2');
      const fx = n2.step(timeoutNow(from, 'n2', term));
      expect(n2.role, `${from} t${term}`).to.equal('follower');
      expect(n2.term, `${from} t${term}`).to.equal(1);
      expect(n2.ctx.leader).to.equal('n1');
      expect(
        fx.all.map((a) => a.type).filter((t) => t !== 'xstate.assign'),
        `${from} t${term}`,
      ).to.deep.equal([]);
    }
  });

  it('to a follower that knows no leader of its term: ignored', () => {
    const c = new Cluster(['n1', 'n2', 'n3']);
    const n2 = c.n('n2');
    expect(n2.ctx.leader).to.equal(null);
    n2.step(timeoutNow('n1', 'n2', 0));
    expect(n2.role).to.equal('follower');
    expect(n2.term).to.equal(0);
  });

  it('to a candidate, a pre-candidate or a leader: ignored, whatever its term', () => {
    const c = steady();
    const n1 = c.n('n1');
    for (const term of [1, 2, 100]) {
      const fx = n1.step(timeoutNow('n2', 'n1', term));
      expect(n1.role).to.equal('leader');
      expect(n1.term).to.equal(1);
      expect(fx.persist).to.deep.equal([]);
    }
  });
});

describe('issue 14: a second leader of the same term that is not a member is ignored, not a crash', () => {
  const intruders = (from: string, term: number): RaftEvent[] => [
    { type: 'rpc.append', msg: { type: 'append', from, to: 'n1', term, prevIndex: 0, prevTerm: 0, commit: 0, entries: [] } },
    { type: 'rpc.heartbeat', msg: { type: 'heartbeat', from, to: 'n1', term, commit: 99, readCtx: 0 } },
    {
      type: 'rpc.snapshot',
      msg: {
        type: 'snapshot',
        from,
        to: 'n1',
        term,
        meta: { index: 5, term: 1, membership: { voters: ['n1'], learners: [] } },
        offset: 0,
        totalBytes: 1,
        dataCrc: 0,
        data: new Uint8Array(1),
        done: true,
      },
    },
  ];

  it('from a non-member: no effect, no invariant action, still the leader of its term', () => {
    for (const event of intruders('x9', 1)) {
      const c = steady();
      const n1 = c.n('n1');
      const fx = n1.step(event);
      expect(
        fx.other.map((a) => a.type).filter((t) => t !== 'xstate.assign'),
        event.type,
      ).to.deep.equal([]);
      expect(fx.persist).to.deep.equal([]);
      expect(fx.sends).to.deep.equal([]);
      expect(n1.role).to.equal('leader');
      expect(n1.term).to.equal(1);
      expect(n1.status).to.equal('active');
    }
  });

  it('from a member: still twoLeadersInOneTerm (fail-stop: the invariant broke, or a member credential leaked)', () => {
    for (const event of intruders('n3', 1)) {
      const c = steady();
      const fx = c.n('n1').step(event);
      expect(fx.types, event.type).to.deep.equal(['twoLeadersInOneTerm']);
    }
  });
});
