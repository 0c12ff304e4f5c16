/**
 * Label cardinality of the per-group metrics (actors/host/metrics.ts). Consumer groups are made by
 * users, as many as they like and named as they like: a series per group in each of the ten group
 * gauges grew /metrics without bound (a review, 2026-12-07). At most 256 groups get series of their
 * own; the rest are folded into one series labelled `(other)`, which no group can be named (names
 * are [A-Za-z0-9_.@-]), so a group called `other` on topic `other` is never exposed twice.
 */
import { expect } from 'chai';
import { HostMetrics } from '../../actors/host/metrics.js';
import type { GroupView } from '../../actors/sessions/store.js';
import { parsePromText } from '../support/promText.js';

const GROUP_SERIES_MAX = 256;
const OTHER = '(other)';

/** A group's view with the figures the gauges read. */
function view(topic: string, name: string, n: number): GroupView {
  return {
    topic,
    name,
    ready: n,
    waiting: 1,
    inFlight: 2,
    redelivered: 0,
    deadLettered: 3,
    deadLetters: 1,
    deadDropped: 0,
    oldestPendingAgeMs: n * 1000,
    scheduled: [{ replayClass: 0, sessions: 5, nextDueMs: 1_000_000 + n }],
  } as unknown as GroupView;
}

/** `fields`, and 0 for any other figure read. */
function zeros<T extends object>(fields: T): T {
  return new Proxy(fields, { get: (t, k) => (k in t ? (t as Record<string | symbol, unknown>)[k] : 0) });
}

/** HostMetrics attached to sources that are idle but for `groups`. */
function metricsWith(groups: () => readonly GroupView[]): HostMetrics {
  const m = new HostMetrics(false);
  const none = {};
  m.attach({
    status: () => zeros({ role: 'leader', progress: none, id: 'n1' }),
    raftCounters: () => new Map(),
    transport: () => zeros({ rejected: none, drops: none, peers: none }),
    wal: () => ({ batches: 0, fdatasyncs: 0, writes: 0, bytes: 0, preallocations: 0 }),
    store: () => zeros({ rejectedByCode: none, clientsEvicted: none, subscriptions: { held: 0 } }),
    client: () => zeros({ rejected: none, requests: none }),
    admin: () => none,
    groups,
  } as unknown as Parameters<HostMetrics['attach']>[0]);
  return m;
}

describe('host metrics: per-group series are bounded', function () {
  it(`exposes at most ${GROUP_SERIES_MAX} groups a gauge, the rest folded into one series`, async function () {
    const groups = Array.from({ length: GROUP_SERIES_MAX + 100 }, (_, k) => view(k % 2 === 0 ? 'a' : 'b', `g${k}`, k));
    const families = parsePromText((await metricsWith(() => groups).text()).body);
    const gauges = [...families.values()].filter((f) => f.name.startsWith('sessionraft_group_') && f.type === 'gauge');
    expect(gauges.map((f) => f.name)).to.have.length(10);
    for (const f of gauges) {
      expect(f.samples.length, f.name).to.be.at.most(GROUP_SERIES_MAX + 1);
      expect(f.samples.filter((s) => s.labels.group === OTHER).length, f.name).to.equal(1);
    }
    const of = (name: string, group: string): number | undefined => families.get(name)!.samples.find((s) => s.labels.group === group)?.value;
    // Counts are summed over the folded groups, the oldest age is their largest, and the scheduled
    // sessions count each folded topic once, with the earliest next due time.
    let ready = 0;
    for (let k = GROUP_SERIES_MAX; k < groups.length; k++) ready += k;
    expect(of('sessionraft_group_ready', OTHER)).to.equal(ready);
    expect(of('sessionraft_group_in_flight', OTHER)).to.equal(200);
    expect(of('sessionraft_group_oldest_pending_age_seconds', OTHER)).to.equal(GROUP_SERIES_MAX + 99);
    expect(of('sessionraft_group_scheduled', OTHER)).to.equal(10);
    expect(of('sessionraft_group_scheduled_next_due_seconds', OTHER)).to.equal((1_000_000 + GROUP_SERIES_MAX) / 1000);
    expect(of('sessionraft_group_ready', `g${GROUP_SERIES_MAX - 1}`)).to.equal(GROUP_SERIES_MAX - 1);
    expect(of('sessionraft_group_ready', `g${GROUP_SERIES_MAX}`)).to.equal(undefined);
  });

  it('never exposes the shared series and a group named other twice', async function () {
    // A group `other` on topic `other` is kept; more than the bound observe deliveries.
    const groups = new Map<number, { topic: string; name: string }>([[1, { topic: 'other', name: 'other' }]]);
    for (let low = 2; low <= GROUP_SERIES_MAX + 5; low++) groups.set(low, { topic: 't', name: `g${low}` });
    const views = [...groups.values()].map((g, k) => view(g.topic, g.name, k));
    const m = metricsWith(() => views);
    for (let low = 1; low <= GROUP_SERIES_MAX + 5; low++) m.observeDeliveryLateness(low, 1, (l) => groups.get(l));
    const families = parsePromText((await m.text()).body);
    const lateness = families.get('sessionraft_delivery_lateness_seconds')!.samples.filter((s) => s.name.endsWith('_count'));
    expect(lateness.find((s) => s.labels.group === 'other')?.value).to.equal(1);
    expect(lateness.find((s) => s.labels.group === OTHER)?.value).to.equal(5);
    // Every kept group counts in its own series (the histogram's own bound leaves room for the shared one).
    expect(lateness).to.have.length(GROUP_SERIES_MAX + 1);
  });
});
