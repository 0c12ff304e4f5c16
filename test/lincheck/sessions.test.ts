/**
 * The session-store model on small hand-written histories: create, append, rewrite, destroy, read,
 * with concurrency, unknown outcomes and the definite `not-found`.
 */
import assert from 'node:assert/strict';
import { checkHistory, checkOperations, type Verdict } from './checker.js';
import { HistoryError, type Json } from './history.js';
import { HistoryRecorder } from './recorder.js';
import { notFound, sessionsModel } from './sessionsModel.js';

function verdict(h: HistoryRecorder): Verdict {
  return checkOperations(sessionsModel, h.operations()).verdict;
}

/** A tiny script for one client at a time: each call runs one operation to completion. */
class Client {
  constructor(
    private readonly h: HistoryRecorder,
    private readonly p: number,
  ) {}
  create(id: string, topic = 't'): this {
    this.h.invoke(this.p, 'create', topic);
    this.h.ok(this.p, topic, id);
    return this;
  }
  append(id: string, v: Json, out: 'ok' | 'not-found' | 'fail' | 'info' = 'ok'): this {
    return this.write('append', id, v, out);
  }
  rewrite(id: string, v: Json, out: 'ok' | 'not-found' | 'info' = 'ok'): this {
    return this.write('rewrite', id, v, out);
  }
  destroy(id: string, out: 'ok' | 'not-found' | 'info' = 'ok'): this {
    return this.write('destroy', id, null, out);
  }
  read(id: string, seen: Json[] | null): this {
    this.h.invoke(this.p, 'read', null, id);
    this.h.ok(this.p, seen);
    return this;
  }
  private write(f: string, id: string, v: Json, out: string): this {
    this.h.invoke(this.p, f, v, id);
    if (out === 'ok') this.h.ok(this.p);
    else if (out === 'not-found') this.h.fail(this.p, notFound);
    else if (out === 'fail') this.h.fail(this.p, 'not-leader');
    else this.h.info(this.p);
    return this;
  }
}

describe('lincheck: sessions model', function () {
  it('records come back in append order', function () {
    const h = new HistoryRecorder();
    new Client(h, 0).create('s1').append('s1', 'a').append('s1', 'b');
    new Client(h, 1).read('s1', ['a', 'b']);
    assert.equal(verdict(h), 'linearizable');
    new Client(h, 1).read('s1', ['b', 'a']);
    assert.equal(verdict(h), 'not-linearizable');
  });

  it('a session that does not exist reads as null; a created one as []', function () {
    const h = new HistoryRecorder();
    new Client(h, 1).read('s1', null);
    new Client(h, 0).create('s1');
    new Client(h, 1).read('s1', []);
    assert.equal(verdict(h), 'linearizable');
    new Client(h, 1).read('s1', null);
    assert.equal(verdict(h), 'not-linearizable');
  });

  it('a read concurrent with the create may see either null or []', function () {
    for (const seen of [null, []]) {
      const h = new HistoryRecorder();
      h.invoke(0, 'create', 't');
      h.invoke(1, 'read', null, 's1');
      h.ok(1, seen);
      h.ok(0, 't', 's1');
      assert.equal(verdict(h), 'linearizable', JSON.stringify(seen));
    }
  });

  it('rewrite replaces the content with one record; appends follow it', function () {
    const h = new HistoryRecorder();
    new Client(h, 0).create('s1').append('s1', 'a').append('s1', 'b').rewrite('s1', 'c').append('s1', 'd');
    new Client(h, 1).read('s1', ['c', 'd']);
    assert.equal(verdict(h), 'linearizable');
    new Client(h, 1).read('s1', ['a', 'b', 'c', 'd']);
    assert.equal(verdict(h), 'not-linearizable');
  });

  it('destroy: later reads see null and later writes fail with not-found', function () {
    const h = new HistoryRecorder();
    new Client(h, 0).create('s1').append('s1', 'a').destroy('s1');
    new Client(h, 1).read('s1', null).append('s1', 'b', 'not-found').destroy('s1', 'not-found').rewrite('s1', 'c', 'not-found');
    assert.equal(verdict(h), 'linearizable');

    const zombie = new HistoryRecorder();
    new Client(zombie, 0).create('s1').append('s1', 'a').destroy('s1');
    new Client(zombie, 1).read('s1', ['a']);
    assert.equal(verdict(zombie), 'not-linearizable');

    const appendAfter = new HistoryRecorder();
    new Client(appendAfter, 0).create('s1').destroy('s1').append('s1', 'x');
    assert.equal(verdict(appendAfter), 'not-linearizable');
  });

  it('a read may answer not-found instead of null', function () {
    const h = new HistoryRecorder();
    h.invoke(1, 'read', null, 's1');
    h.fail(1, notFound);
    new Client(h, 0).create('s1');
    assert.equal(verdict(h), 'linearizable');
    h.invoke(1, 'read', null, 's1');
    h.fail(1, notFound);
    assert.equal(verdict(h), 'not-linearizable');
  });

  it('not-found on a live session is a violation (a definite answer, checked)', function () {
    const h = new HistoryRecorder();
    new Client(h, 0).create('s1').append('s1', 'a', 'not-found');
    assert.equal(verdict(h), 'not-linearizable');
  });

  it('ids are never reused: a second create of one id is a violation', function () {
    const h = new HistoryRecorder();
    new Client(h, 0).create('s1').destroy('s1').create('s1');
    assert.equal(verdict(h), 'not-linearizable');
  });

  it('a failed append (other than not-found) did not take effect', function () {
    const h = new HistoryRecorder();
    new Client(h, 0).create('s1').append('s1', 'a', 'fail');
    new Client(h, 1).read('s1', []);
    assert.equal(verdict(h), 'linearizable');
    new Client(h, 1).read('s1', ['a']);
    assert.equal(verdict(h), 'not-linearizable');
  });

  it('an info append may show up late, but never disappear once seen', function () {
    const h = new HistoryRecorder();
    new Client(h, 0).create('s1').append('s1', 'a', 'info');
    new Client(h, 1).read('s1', []).read('s1', ['a']);
    assert.equal(verdict(h), 'linearizable');
    new Client(h, 1).read('s1', []);
    assert.equal(verdict(h), 'not-linearizable');
  });

  it('concurrent appends land in some order, the same for every later read', function () {
    const mk = (reads: Json[][]): HistoryRecorder => {
      const h = new HistoryRecorder();
      new Client(h, 0).create('s1');
      h.invoke(0, 'append', 'a', 's1');
      h.invoke(1, 'append', 'b', 's1');
      h.ok(1);
      h.ok(0);
      for (const r of reads) new Client(h, 2).read('s1', r);
      return h;
    };
    assert.equal(verdict(mk([['a', 'b']])), 'linearizable');
    assert.equal(
      verdict(
        mk([
          ['b', 'a'],
          ['b', 'a'],
        ]),
      ),
      'linearizable',
    );
    assert.equal(
      verdict(
        mk([
          ['b', 'a'],
          ['a', 'b'],
        ]),
      ),
      'not-linearizable',
    );
    assert.equal(verdict(mk([['a']])), 'not-linearizable');
  });

  it('a stale read of an older content is a violation', function () {
    const h = new HistoryRecorder();
    new Client(h, 0).create('s1').append('s1', 'a').append('s1', 'b');
    new Client(h, 1).read('s1', ['a']);
    assert.equal(verdict(h), 'not-linearizable');
  });

  it('sessions are checked independently (partitioned by id)', function () {
    const h = new HistoryRecorder();
    const c0 = new Client(h, 0);
    const c1 = new Client(h, 1);
    c0.create('s1');
    c1.create('s2');
    c0.append('s1', 1);
    c1.append('s2', 2);
    c0.read('s2', [2]);
    c1.read('s1', [1]);
    const r = checkOperations(sessionsModel, h.operations());
    assert.equal(r.verdict, 'linearizable');
    assert.equal(r.partitionsCount, 2);
    c1.read('s1', [2]);
    const bad = checkOperations(sessionsModel, h.operations());
    assert.equal(bad.verdict, 'not-linearizable');
    assert.equal(bad.counterexample?.key, 's1');
  });

  it('an info create without a key is dropped; with a key it may or may not have happened', function () {
    const h = new HistoryRecorder();
    h.invoke(0, 'create', 't');
    h.info(0);
    new Client(h, 1).read('s9', null);
    assert.equal(checkOperations(sessionsModel, h.operations()).operationsKeptCount, 1);
    assert.equal(verdict(h), 'linearizable');

    const k = new HistoryRecorder();
    k.invoke(0, 'create', 't');
    k.info(0, 'timeout', 's1');
    new Client(k, 1).read('s1', null).read('s1', []);
    assert.equal(verdict(k), 'linearizable');
  });

  it('an info append that no read returned is left out; one that a read returned is kept', function () {
    const h = new HistoryRecorder();
    new Client(h, 0).create('s1').append('s1', 'a', 'info');
    new Client(h, 1).append('s1', 'b', 'info');
    new Client(h, 2).read('s1', ['b']);
    const r = checkOperations(sessionsModel, h.operations());
    assert.equal(r.verdict, 'linearizable');
    assert.equal(r.operationsCount, 4);
    assert.equal(r.operationsKeptCount, 3);
  });

  it('numeric and string ids are the same partition key', function () {
    const text = [
      '{"process":0,"type":"invoke","f":"create","value":"t"}',
      '{"process":0,"type":"ok","f":"create","value":"t","key":7}',
      '{"process":0,"type":"invoke","f":"append","value":"x","key":"7"}',
      '{"process":0,"type":"ok","f":"append","value":"x","key":"7"}',
      '{"process":1,"type":"invoke","f":"read","value":null,"key":7}',
      '{"process":1,"type":"ok","f":"read","value":["x"],"key":7}',
    ].join('\n');
    assert.equal(checkHistory(sessionsModel, text).verdict, 'linearizable');
  });

  it('rejects unknown operations, keyless operations and malformed reads with typed errors', function () {
    const bad: [string, string][] = [
      ['{"process":0,"type":"invoke","f":"store","value":null,"key":"s"}', 'HISTORY_UNSUPPORTED'],
      ['{"process":0,"type":"invoke","f":"append","value":"a"}\n{"process":0,"type":"ok","f":"append","value":"a"}', 'HISTORY_FIELD'],
      ['{"process":0,"type":"invoke","f":"create","value":"t"}\n{"process":0,"type":"ok","f":"create","value":"t"}', 'HISTORY_FIELD'],
      ['{"process":0,"type":"invoke","f":"read","value":null,"key":"s"}\n{"process":0,"type":"ok","f":"read","value":"a","key":"s"}', 'HISTORY_FIELD'],
      ['{"process":0,"type":"invoke","f":"read","value":null,"key":"s"}\n{"process":0,"type":"ok","f":"read","value":null,"key":"t"}', 'HISTORY_MISMATCH'],
    ];
    for (const [text, code] of bad) {
      assert.throws(
        () => checkHistory(sessionsModel, text),
        (e: unknown) => e instanceof HistoryError && e.code === code,
        text,
      );
    }
  });
});
