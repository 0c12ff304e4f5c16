/**
 * A latency histogram by label values (by default one label, the client op), observed as things
 * happen on the leader (once per command; once per restore and per first delivery for the lateness
 * histograms), exposed through a prom-client Registry exactly as prom-client's own Histogram would
 * expose it (a test compares the two texts). prom-client's `labels(...).observe` builds the labels'
 * hash string and a labels object for every observation: about 2 % of a leader's CPU at 128
 * appends in flight, and its largest source of garbage in the metrics. Here an observation is a
 * bucket search and three additions into counters made once per series; a caller that observes by
 * something other than a string (a group) keeps the series (`series`) and observes into it. With no
 * label names it is an unlabelled histogram (`unlabelled()`): the raft log's fsync and append
 * latencies, observed once per durable write on every node, where prom-client's `observe` took
 * about 2 % of a follower's CPU at 16 producers (its label handling runs even without labels).
 */
import type { Registry } from 'prom-client';

interface OpCounts {
  /** The label values, in the order of the histogram's label names. */
  readonly values: readonly string[];
  /** Per bucket, not cumulative; the last slot counts values above every bound. */
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/** One series of a histogram (a set of label values): observe into it without a lookup. */
export interface HistogramSeries {
  observe(seconds: number): void;
}

interface ValuePair {
  readonly labels: Record<string, string | number>;
  readonly sharedLabels: Record<string, string>;
  readonly value: number;
  readonly metricName: string;
}

/** At most this many series by default (the client protocol has fewer ops): others are counted in one series labelled 'other'. */
const SERIES_MAX = 64;
/** The key of the shared series past the limit (no op or joined key is this). */
const OTHER_KEY = '\u0000other';

export class OpHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly byOp = new Map<string, OpCounts>();
  private readonly bounds: Float64Array;

  constructor(
    readonly name: string,
    readonly help: string,
    buckets: readonly number[],
    registers: readonly Registry[],
    /** The label names (each series has one value per name); `observe(op, s)` is for one label. */
    private readonly labelNames: readonly string[] = ['op'],
    private readonly seriesMax = SERIES_MAX,
  ) {
    this.bounds = Float64Array.from([...buckets].sort((a, b) => a - b));
    // Without labels, the one series is exposed from the start (zeros), as prom-client's Histogram does.
    if (labelNames.length === 0) this.counts('', []);
    // prom-client calls get(), reset() and reads name, help, type and aggregator: the Metric shape.
    for (const r of registers) r.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  /** Observe into the series of one label's value (a histogram with one label name). */
  observe(op: string, seconds: number): void {
    let c = this.byOp.get(op);
    if (c === undefined) {
      if (this.labelNames.length !== 1) throw new Error(`${this.name}: observe(op) needs one label name; use series()`);
      c = this.counts(op, [op]);
    }
    this.add(c, seconds);
  }

  /**
   * The series of these label values (one per label name), made on first sight; `key` names it
   * (the values joined, say). Past `seriesMax` series, new ones share one whose values are all
   * 'other'. The handle finds its series by key on each observation (a map lookup, no
   * allocation), so it counts on after reset() (the registry's resetMetrics) as a new series.
   */
  series(key: string, values: readonly string[]): HistogramSeries {
    if (values.length !== this.labelNames.length) throw new Error(`${this.name}: ${this.labelNames.length} label values expected, got ${values.length}`);
    const own = [...values];
    return { observe: (seconds) => this.add(this.byOp.get(key) ?? this.counts(key, own), seconds) };
  }

  /** The series past the bound, labelled 'other' (the one new series share once the bound is reached). */
  otherSeries(): HistogramSeries {
    return this.series(
      OTHER_KEY,
      this.labelNames.map(() => 'other'),
    );
  }

  /** Drops the series of `key` (a group that was deleted): gone from the exposition, its place free. */
  remove(key: string): void {
    this.byOp.delete(key);
  }

  private add(c: OpCounts, seconds: number): void {
    if (!Number.isFinite(seconds)) return;
    const b = this.bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    c.buckets[i]!++;
    c.sum += seconds;
    c.count++;
  }

  private counts(key: string, values: readonly string[]): OpCounts {
    const full = this.byOp.size >= this.seriesMax;
    const k = full ? OTHER_KEY : key;
    let c = this.byOp.get(k);
    if (c === undefined) {
      c = { values: full ? this.labelNames.map(() => 'other') : [...values], buckets: new Float64Array(this.bounds.length + 1), sum: 0, count: 0 };
      this.byOp.set(k, c);
    }
    return c;
  }

  reset(): void {
    // Without labels too, the series is gone until the next value, as with prom-client's Histogram.
    this.byOp.clear();
  }

  /** The one series of a histogram without labels (`labelNames` []): what prom-client's unlabelled `observe` does, without its per-call label handling. */
  unlabelled(): HistogramSeries {
    if (this.labelNames.length !== 0) throw new Error(`${this.name}: unlabelled() needs no label names`);
    return this.series('', []);
  }

  /** As prom-client's get(): each value's labels with the op merged in (getMetricsAsJSON). */
  get(): {
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: { value: number; metricName: string; labels: Record<string, string | number> }[];
  } {
    const m = this.getForPromString();
    return { ...m, values: m.values.map((v) => ({ value: v.value, metricName: v.metricName, labels: { ...v.labels, ...v.sharedLabels } })) };
  }

  /** What the registry's text exposition reads (the op as a shared label, `le` last as prom-client writes it). */
  getForPromString(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: ValuePair[] } {
    const values: ValuePair[] = [];
    const bucketName = `${this.name}_bucket`;
    for (const c of this.byOp.values()) {
      const shared: Record<string, string> = {};
      for (let k = 0; k < this.labelNames.length; k++) shared[this.labelNames[k]!] = c.values[k]!;
      let acc = 0;
      for (let i = 0; i < this.bounds.length; i++) {
        acc += c.buckets[i]!;
        values.push({ labels: { le: this.bounds[i]! }, sharedLabels: shared, value: acc, metricName: bucketName });
      }
      values.push({ labels: { le: '+Inf' }, sharedLabels: shared, value: c.count, metricName: bucketName });
      values.push({ labels: {}, sharedLabels: shared, value: c.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: shared, value: c.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
