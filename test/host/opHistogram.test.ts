/**
 * OpHistogram (the leader's per-command latency histogram) against prom-client's own Histogram:
 * the same observations give the same exposition text, byte for byte, for any ops and values.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { Histogram, Registry } from 'prom-client';
import { OpHistogram } from '../../actors/host/opHistogram.js';

const buckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

function pair(): { ours: OpHistogram; theirs: Histogram<'op'>; a: Registry; b: Registry } {
  const a = new Registry();
  const b = new Registry();
  const ours = new OpHistogram('x_seconds', 'help text', buckets, [a]);
  const theirs = new Histogram({ name: 'x_seconds', help: 'help text', labelNames: ['op'], buckets, registers: [b] });
  return { ours, theirs, a, b };
}

describe('OpHistogram: exposed as prom-client exposes a Histogram', function () {
  it('gives the same text for the same observations (property)', async function () {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom('append', 'create', 'store', 'schedule', 'ack'),
            // Exact bounds, values around them, negatives and values past the last bound.
            fc.oneof(fc.constantFrom(...buckets), fc.double({ min: -1, max: 20, noNaN: true })),
          ),
          { maxLength: 200 },
        ),
        async (obs) => {
          const { ours, theirs, a, b } = pair();
          for (const [op, v] of obs) {
            ours.observe(op, v);
            theirs.labels({ op }).observe(v);
          }
          expect(await a.metrics()).to.equal(await b.metrics());
          // The JSON form too, but for prom-client's exemplar slots (always null here: none are recorded).
          const theirsJson = JSON.parse(JSON.stringify(await b.getMetricsAsJSON(), (k, v: unknown) => (k === 'exemplar' ? undefined : v)));
          expect(JSON.parse(JSON.stringify(await a.getMetricsAsJSON()))).to.deep.equal(theirsJson);
          a.resetMetrics();
          b.resetMetrics();
          expect(await a.metrics()).to.equal(await b.metrics());
        },
      ),
      { numRuns: 300 },
    );
  });

  it('counts a value on a bound in that bound, and ignores values that are not finite', async function () {
    const { ours, a } = pair();
    ours.observe('append', 0.001);
    ours.observe('append', Number.NaN);
    ours.observe('append', Number.POSITIVE_INFINITY);
    const text = await a.metrics();
    expect(text).to.contain('x_seconds_bucket{le="0.0005",op="append"} 0');
    expect(text).to.contain('x_seconds_bucket{le="0.001",op="append"} 1');
    expect(text).to.contain('x_seconds_count{op="append"} 1');
  });
});

describe('OpHistogram with other labels: series kept by their holders (the lateness histograms)', function () {
  const names = ['topic', 'group'] as const;

  it('gives the text of a prom-client Histogram with the same label names (property)', async function () {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.tuple(
            fc.constantFrom('orders', 'mail', 'a"b'),
            fc.constantFrom('billing', 'audit', 'x\\y'),
            fc.oneof(fc.constantFrom(...buckets), fc.double({ min: -1, max: 20, noNaN: true })),
          ),
          { maxLength: 200 },
        ),
        async (obs) => {
          const a = new Registry();
          const b = new Registry();
          const ours = new OpHistogram('y_seconds', 'help text', buckets, [a], names);
          const theirs = new Histogram({ name: 'y_seconds', help: 'help text', labelNames: names, buckets, registers: [b] });
          // Handles made once and kept, as the host keeps one per group.
          const held = new Map<string, ReturnType<OpHistogram['series']>>();
          for (const [topic, group, v] of obs) {
            const key = `${topic}\u0000${group}`;
            let s = held.get(key);
            if (s === undefined) held.set(key, (s = ours.series(key, [topic, group])));
            s.observe(v);
            theirs.labels({ topic, group }).observe(v);
          }
          expect(await a.metrics()).to.equal(await b.metrics());
          // A held handle counts on after a reset, as prom-client's labels do.
          a.resetMetrics();
          b.resetMetrics();
          for (const [key, s] of held) {
            s.observe(0.003);
            const [topic, group] = key.split('\u0000') as [string, string];
            theirs.labels({ topic, group }).observe(0.003);
          }
          expect(await a.metrics()).to.equal(await b.metrics());
        },
      ),
      { numRuns: 200 },
    );
  });

  it('past its series bound, new series share one labelled other, and the first ones keep theirs', async function () {
    const a = new Registry();
    const h = new OpHistogram('z_seconds', 'help text', buckets, [a], names, 2);
    h.series('t\u00001', ['t', '1']).observe(0.002);
    h.series('t\u00002', ['t', '2']).observe(0.002);
    h.series('t\u00003', ['t', '3']).observe(0.002);
    h.series('t\u00004', ['t', '4']).observe(20);
    h.series('t\u00001', ['t', '1']).observe(0.002);
    const text = await a.metrics();
    expect(text).to.contain('z_seconds_count{topic="t",group="1"} 2');
    expect(text).to.contain('z_seconds_count{topic="t",group="2"} 1');
    expect(text).to.contain('z_seconds_count{topic="other",group="other"} 2');
    expect(text).to.contain('z_seconds_bucket{le="10",topic="other",group="other"} 1');
    expect(text).not.to.contain('group="3"');
    expect(() => h.series('bad', ['only one'])).to.throw(/2 label values expected/);
  });
});

describe('OpHistogram without labels (the raft log fsync and append latencies)', function () {
  it('gives the text of an unlabelled prom-client Histogram: before any value, after values, after a reset (property)', async function () {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.constantFrom(...buckets), fc.double({ min: -1, max: 20, noNaN: true })), { maxLength: 200 }),
        fc.array(fc.double({ min: 0, max: 20, noNaN: true }), { maxLength: 20 }),
        async (before, after) => {
          const a = new Registry();
          const b = new Registry();
          const ours = new OpHistogram('w_seconds', 'help text', buckets, [a], []).unlabelled();
          const theirs = new Histogram({ name: 'w_seconds', help: 'help text', buckets, registers: [b] });
          expect(await a.metrics()).to.equal(await b.metrics());
          for (const v of before) {
            ours.observe(v);
            theirs.observe(v);
          }
          expect(await a.metrics()).to.equal(await b.metrics());
          a.resetMetrics();
          b.resetMetrics();
          expect(await a.metrics()).to.equal(await b.metrics());
          for (const v of after) {
            ours.observe(v);
            theirs.observe(v);
          }
          expect(await a.metrics()).to.equal(await b.metrics());
        },
      ),
      { numRuns: 200 },
    );
  });

  it('refuses unlabelled() where the histogram has labels', function () {
    const h = new OpHistogram('v_seconds', 'help text', buckets, [new Registry()]);
    expect(() => h.unlabelled()).to.throw(/needs no label names/);
  });
});
