/**
 * The benchmark's per-node GC figures (`<id>GcMajorPerSec`, `<id>GcMsPerSec`) read prom-client's
 * GC histogram out of a node's /metrics text: the parser, and that a node's real registry still
 * exposes the histogram under the name and labels the parser expects.
 */
import { expect } from 'chai';
import { HostMetrics } from '../../actors/host/metrics.js';
import { gcTotalsOf } from './clusterProcs.js';

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

  it("matches what a node's registry exposes", async () => {
    const m = new HostMetrics(true);
    const { body } = await m.text();
    // prom-client declares the histogram with its kind label from the start; a rename would make
    // every benchmark row silently report no collections.
    expect(body).to.match(/^# TYPE nodejs_gc_duration_seconds histogram$/m);
    const t = gcTotalsOf(body);
    expect(Number.isFinite(t.majors) && t.majors >= 0).to.equal(true);
    expect(Number.isFinite(t.pauseSeconds) && t.pauseSeconds >= 0).to.equal(true);
  });
});
