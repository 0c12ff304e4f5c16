/**
 * The benchmark's per-node GC figures (`<id>GcMajorPerSec`, `<id>GcMsPerSec`) read prom-client's
 * GC histogram out of a node's /metrics text: the parser, and that a node's real registry still
 * exposes the histogram under the name and labels the parser expects.
 */
import { expect } from 'chai';
import { HostMetrics } from '../../actors/host/metrics.js';
import { gcRateFields, gcTotalsOf, type GcReading } from './clusterProcs.js';

describe('bench: GC totals from /metrics', () => {
  it('counts full collections and sums every kind of pause', () => {
    const text = [
      '# HELP nodejs_gc_duration_seconds Garbage collection duration by kind.',
      '# TYPE nodejs_gc_duration_seconds histogram',
      'nodejs_gc_duration_seconds_bucket{le="0.001",kind="minor"} 40',
      'nodejs_gc_duration_seconds_sum{kind="minor"} 0.5',
      'nodejs_gc_duration_seconds_count{kind="minor"} 100',
      'nodejs_gc_duration_seconds_sum{kind="incremental"} 0.25',
      'nodejs_gc_duration_seconds_count{kind="incremental"} 7',
      'nodejs_gc_duration_seconds_sum{kind="major"} 0.125',
      'nodejs_gc_duration_seconds_count{kind="major"} 7',
      'nodejs_gc_duration_seconds_count{other="x",kind="major"} 1',
      'nodejs_gc_duration_seconds_count{kind="majorish"} 1000',
      'nodejs_gc_duration_seconds_sum{kind="weakcb"} NaN',
      'nodejs_gc_duration_seconds_count{kind="major"} not-a-number',
      'sessionraft_role{role="leader"} 1',
    ].join('\n');
    const t = gcTotalsOf(text);
    expect(t.majors).to.equal(8);
    expect(t.pauseSeconds).to.be.closeTo(0.875, 1e-9);
  });

  it('finds nothing in a text without the histogram', () => {
    expect(gcTotalsOf('')).to.deep.equal({ majors: 0, pauseSeconds: 0 });
    expect(gcTotalsOf('nodejs_gc_duration_seconds_count 3\n')).to.deep.equal({ majors: 0, pauseSeconds: 0 });
  });

  it('turns two readings into rates per node, and skips a node that restarted or did not answer', () => {
    const r = (pid: number, majors: number, pauseSeconds: number): GcReading => ({ pid, majors, pauseSeconds });
    const g0 = new Map([
      ['n1', r(10, 5, 1.0)],
      ['n2', r(11, 100, 2.0)],
      ['n3', r(12, 7, 0.5)],
      ['n4', r(13, NaN, NaN)],
    ]);
    const g1 = new Map([
      ['n1', r(10, 25, 1.5)], // 20 full collections and 500 ms of pauses in 4 s
      ['n2', r(21, 3, 0.1)], // restarted: counts from zero again
      ['n3', r(12, 7, 0.5)], // nothing happened
      ['n4', r(13, 9, 1.0)], // its first reading failed
      ['n5', r(14, 1, 0.1)], // started during the row
    ]);
    const tag = (id: string): string => (id === 'n1' ? 'n1L' : id);
    expect(gcRateFields(g0, g1, 4, tag)).to.deep.equal({ n1LGcMajorPerSec: 5, n1LGcMsPerSec: 125, n3GcMajorPerSec: 0, n3GcMsPerSec: 0 });
    expect(gcRateFields(g0, g1, 0, tag)).to.deep.equal({});
  });

  it("reads the collections a node's registry records", async () => {
    const m = new HostMetrics(true);
    // Garbage until prom-client has recorded a collection: a scavenge comes within a few MB of
    // young allocation, so 200 rounds of about 1 MB each are far more than enough (a bound, not
    // an expected count); each round yields so that its GC observer runs.
    let body = '';
    let sink = 0;
    for (let round = 0; round < 200; round++) {
      const junk: number[][] = [];
      for (let k = 0; k < 2000; k++) junk.push(new Array<number>(64).fill(k));
      sink += junk.length;
      await new Promise<void>((resolve) => setImmediate(resolve));
      body = (await m.text()).body;
      if (/^nodejs_gc_duration_seconds_sum\{[^}]*kind="/m.test(body)) break;
    }
    expect(sink).to.be.greaterThan(0);
    // A rename of the metric or of its kind label would make every benchmark row report nothing.
    expect(body).to.match(/^nodejs_gc_duration_seconds_sum\{[^}]*kind="(minor|major|incremental)"\} /m);
    const t = gcTotalsOf(body);
    expect(t.pauseSeconds).to.be.greaterThan(0);
    expect(Number.isFinite(t.majors) && t.majors >= 0).to.equal(true);
  });
});
