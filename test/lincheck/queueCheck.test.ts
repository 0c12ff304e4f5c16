/**
 * The queue checker: a clean run, then each anomaly planted on its own, and the input gateway.
 */
import assert from 'node:assert/strict';
import type { Json, Operation } from './history.js';
import { checkQueue, formatQueueReport, parseFinalState, QueueInputError, type FinalState, type NodeState, type QueueCounts } from './queueCheck.js';
import { HistoryRecorder } from './recorder.js';
import { notFound } from './sessionsModel.js';

/**
 * Two sessions: s1 gets a1, a2 from client 0 and b1 from client 1 (after a2); s2 gets c1, then is
 * rewritten to r1 and appended c2; one append fails (f1), one times out (i1, it did land), and a third
 * session s3 is created and destroyed.
 */
function history(): Operation[] {
  const h = new HistoryRecorder();
  const run = (p: number, f: string, value: Json, key: string | undefined, out: 'ok' | 'fail' | 'info' | 'create'): void => {
    h.invoke(p, f, value, key);
    if (out === 'create') h.ok(p, value, key === undefined ? undefined : key);
    else if (out === 'ok') h.ok(p);
    else if (out === 'fail') h.fail(p, 'not-leader');
    else h.info(p);
  };
  h.invoke(0, 'create', 'topic-a');
  h.ok(0, 'topic-a', 's1');
  h.invoke(1, 'create', 'topic-b');
  h.ok(1, 'topic-b', 's2');
  run(0, 'append', 'a1', 's1', 'ok');
  run(0, 'append', 'a2', 's1', 'ok');
  run(1, 'append', 'b1', 's1', 'ok');
  run(1, 'append', 'c1', 's2', 'ok');
  run(1, 'rewrite', 'r1', 's2', 'ok');
  run(1, 'append', 'c2', 's2', 'ok');
  run(0, 'append', 'f1', 's1', 'fail');
  run(0, 'append', 'i1', 's1', 'info');
  h.invoke(2, 'create', 'topic-c');
  h.ok(2, 'topic-c', 's3');
  run(2, 'destroy', null, 's3', 'ok');
  h.invoke(2, 'append', 'z1', 's3');
  h.fail(2, notFound);
  return h.operations();
}

function node(name: string, s1: Json[] = ['a1', 'a2', 'b1', 'i1'], s2: Json[] = ['r1', 'c2']): NodeState {
  return { node: name, sessions: { s1: { topic: 'topic-a', records: s1 }, s2: { topic: 'topic-b', records: s2 } } };
}

function clean(): NodeState[] {
  return [node('n1'), node('n2'), node('n3')];
}

const zero: QueueCounts = {
  lost: 0,
  duplicated: 0,
  reordered: 0,
  reorderedSameProcess: 0,
  failedVisible: 0,
  phantom: 0,
  lostSessions: 0,
  divergent: 0,
};

function counts(nodes: NodeState[]): QueueCounts {
  return checkQueue(history(), { nodes }).counts;
}

describe('lincheck: queue checker', function () {
  it('a clean run has no anomaly', function () {
    const r = checkQueue(history(), { nodes: clean() });
    assert.equal(r.ok, true, formatQueueReport(r));
    assert.deepEqual(r.counts, zero);
    assert.equal(r.stats.appendsOkCount, 5);
    assert.equal(r.stats.appendsFailCount, 2);
    assert.equal(r.stats.appendsInfoCount, 1);
    assert.equal(r.stats.sessionsCount, 2);
  });

  it('an info append may be absent', function () {
    const nodes = [node('n1', ['a1', 'a2', 'b1']), node('n2', ['a1', 'a2', 'b1']), node('n3', ['a1', 'a2', 'b1'])];
    assert.deepEqual(counts(nodes), zero);
  });

  it('lost: an acknowledged append missing (on every node)', function () {
    const nodes = ['n1', 'n2', 'n3'].map((n) => node(n, ['a1', 'b1', 'i1']));
    const r = checkQueue(history(), { nodes });
    assert.deepEqual(r.counts, { ...zero, lost: 1 });
    assert.equal(r.examples.lost[0]!.value, 'a2');
    assert.deepEqual(r.examples.lost[0]!.nodes, ['n1', 'n2', 'n3']);
  });

  it('lost: records erased by a rewrite are not lost, but the rewrite value and what follows are kept', function () {
    // c1 was rewritten away: fine. r1 missing: lost.
    const nodes = ['n1', 'n2', 'n3'].map((n) => node(n, undefined, ['c2']));
    const r = checkQueue(history(), { nodes });
    assert.deepEqual(r.counts, { ...zero, lost: 1 });
    assert.equal(r.examples.lost[0]!.value, 'r1');
  });

  it('lost session: a created, never destroyed session is gone on one node (which also diverges)', function () {
    const nodes = clean();
    nodes[2] = { node: 'n3', sessions: { s1: node('n3').sessions.s1! } };
    const r = checkQueue(history(), { nodes });
    assert.equal(r.counts.lostSessions, 1);
    assert.equal(r.counts.lost, 2); // r1 and c2
    assert.equal(r.counts.divergent, 1);
    assert.deepEqual(r.examples.lostSessions[0]!.nodes, ['n3']);
    assert.equal(r.examples.divergent[0]!.key, 's2');
  });

  it('duplicated: a value present twice (same session, or two sessions)', function () {
    const twice = ['n1', 'n2', 'n3'].map((n) => node(n, ['a1', 'a2', 'a2', 'b1', 'i1']));
    assert.deepEqual(counts(twice), { ...zero, duplicated: 1 });
    const across = ['n1', 'n2', 'n3'].map((n) => node(n, undefined, ['r1', 'c2', 'a1']));
    assert.deepEqual(counts(across), { ...zero, duplicated: 1 });
  });

  it("reordered: one client's acknowledged appends in the wrong order", function () {
    const nodes = ['n1', 'n2', 'n3'].map((n) => node(n, ['a2', 'a1', 'b1', 'i1']));
    const r = checkQueue(history(), { nodes });
    assert.deepEqual(r.counts, { ...zero, reordered: 1, reorderedSameProcess: 1 });
    const e = r.examples.reordered[0]!;
    assert.equal(e.first.input, 'a1');
    assert.equal(e.second.input, 'a2');
    assert.equal(e.sameProcess, true);
    assert.deepEqual(e.nodes, ['n1', 'n2', 'n3']);
  });

  it('reordered: across clients, an append invoked after another completed must come after it', function () {
    const nodes = ['n1', 'n2', 'n3'].map((n) => node(n, ['a1', 'b1', 'a2', 'i1']));
    const r = checkQueue(history(), { nodes });
    assert.deepEqual(r.counts, { ...zero, reordered: 1 });
    assert.equal(r.examples.reordered[0]!.sameProcess, false);
  });

  it('failed-visible: a failed append whose value is present', function () {
    const nodes = ['n1', 'n2', 'n3'].map((n) => node(n, ['a1', 'a2', 'b1', 'f1', 'i1']));
    const r = checkQueue(history(), { nodes });
    assert.deepEqual(r.counts, { ...zero, failedVisible: 1 });
    assert.equal(r.examples.failedVisible[0]!.value, 'f1');
  });

  it('phantom: a value that no operation wrote', function () {
    const nodes = ['n1', 'n2', 'n3'].map((n) => node(n, ['a1', 'a2', 'b1', 'i1', 'zzz']));
    assert.deepEqual(counts(nodes), { ...zero, phantom: 1 });
  });

  it('divergence: one node has an extra record (an info append that only it applied)', function () {
    const nodes = [node('n1'), node('n2'), node('n3', ['a1', 'a2', 'b1'])];
    const r = checkQueue(history(), { nodes });
    assert.deepEqual(r.counts, { ...zero, divergent: 1 });
    const d = r.examples.divergent[0]!;
    assert.equal(d.key, 's1');
    assert.deepEqual(
      d.nodes.map((n) => n.records),
      [4, 4, 3],
    );
    assert.equal(d.firstDifferenceIndex, 3);
  });

  it('divergence: a destroyed session still held by one node, or a different topic', function () {
    const zombie = clean();
    zombie[1] = { node: 'n2', sessions: { ...zombie[1]!.sessions, s3: { topic: 'topic-c', records: [] } } };
    assert.deepEqual(counts(zombie), { ...zero, divergent: 1 });
    const topic = clean();
    topic[0] = { node: 'n1', sessions: { ...topic[0]!.sessions, s2: { topic: 'other', records: ['r1', 'c2'] } } };
    const r = checkQueue(history(), { nodes: topic });
    assert.equal(r.counts.divergent, 1);
    assert.equal(r.examples.divergent[0]!.firstDifferenceIndex, -1);
  });

  it('counts every anomaly, keeps at most examplesMax examples', function () {
    const h = new HistoryRecorder();
    h.invoke(0, 'create', 't');
    h.ok(0, 't', 's');
    for (let i = 0; i < 30; i++) {
      h.invoke(0, 'append', i, 's');
      h.ok(0);
    }
    const r = checkQueue(h.operations(), { nodes: [{ node: 'n1', sessions: { s: { records: [] } } }] }, { examplesMax: 5 });
    assert.equal(r.counts.lost, 30);
    assert.equal(r.examples.lost.length, 5);
    assert.match(formatQueueReport(r), /lost 30/);
  });

  describe('input', function () {
    it('parses a JSON document, a single node, or JSON lines', function () {
      const n1 = { node: 'n1', sessions: { s: { topic: 't', records: ['a'] } } };
      const n2 = { node: 'n2', sessions: {} };
      const doc: FinalState = parseFinalState(JSON.stringify({ nodes: [n1, n2] }));
      assert.equal(doc.nodes.length, 2);
      assert.equal(parseFinalState(JSON.stringify(n1)).nodes.length, 1);
      const lines = parseFinalState(`${JSON.stringify(n1)}\n\n${JSON.stringify(n2)}\n`);
      assert.deepEqual(lines, doc);
    });

    it('rejects malformed final states and reused values with typed errors', function () {
      const bad: [() => unknown, string][] = [
        [() => parseFinalState('{"node":"n1"}'), 'QUEUE_FIELD'],
        [() => parseFinalState('{"node":"n1","sessions":{"s":{"records":1}}}'), 'QUEUE_FIELD'],
        [() => parseFinalState('{"node":"n1","sessions":{}}\nnope'), 'QUEUE_JSON'],
        [() => checkQueue([], { nodes: [] }), 'QUEUE_NO_NODES'],
        [
          () => {
            const h = new HistoryRecorder();
            h.invoke(0, 'append', 'x', 's');
            h.ok(0);
            h.invoke(0, 'append', 'x', 's');
            h.ok(0);
            return checkQueue(h.operations(), { nodes: clean() });
          },
          'QUEUE_VALUE_REUSED',
        ],
      ];
      for (const [f, code] of bad) {
        assert.throws(f, (e: unknown) => e instanceof QueueInputError && e.code === code, code);
      }
    });
  });
});
