/**
 * The leader's lateness histograms (issue 20, actors/host/metrics.ts): a series per replay class and
 * per consumer group, bounded, with groups deleted since swept out when the bound is reached.
 */
import { expect } from 'chai';
import { HostMetrics } from '../../actors/host/metrics.js';

const GROUP_SERIES_MAX = 256;

describe('host metrics: lateness after due time', function () {
  it('counts restores per replay class and first deliveries per topic and group, in seconds', async function () {
    const m = new HostMetrics(false);
    const groups = new Map([[7, { topic: 'orders', name: 'billing' }]]);
    m.observeRestoreLateness(0, 3);
    m.observeRestoreLateness(0, 0);
    m.observeRestoreLateness(2, 1500);
    m.observeDeliveryLateness(7, 12, (low) => groups.get(low));
    // A group that is gone by the time it is named counts nowhere.
    m.observeDeliveryLateness(8, 12, (low) => groups.get(low));
    const text = (await m.text()).body;
    expect(text).to.contain('sessionraft_restore_lateness_seconds_count{class="0"} 2');
    expect(text).to.contain('sessionraft_restore_lateness_seconds_bucket{le="0.001",class="0"} 1');
    expect(text).to.contain('sessionraft_restore_lateness_seconds_bucket{le="2.5",class="2"} 1');
    expect(text).to.contain('sessionraft_restore_lateness_seconds_bucket{le="1",class="2"} 0');
    expect(text).to.contain('sessionraft_delivery_lateness_seconds_sum{topic="orders",group="billing"} 0.012');
    expect(text).to.contain('sessionraft_delivery_lateness_seconds_count{topic="orders",group="billing"} 1');
    expect(text).not.to.contain('group="(other)"');
  });

  it(`keeps at most ${GROUP_SERIES_MAX} group series; past that, others share '(other)' until deleted groups are swept out`, async function () {
    const m = new HostMetrics(false);
    const groups = new Map<number, { topic: string; name: string }>();
    for (let low = 1; low <= GROUP_SERIES_MAX + 10; low++) groups.set(low, { topic: 't', name: `g${low}` });
    let lookups = 0;
    const groupOf = (low: number): { topic: string; name: string } | undefined => {
      lookups++;
      return groups.get(low);
    };
    for (let low = 1; low <= GROUP_SERIES_MAX + 10; low++) m.observeDeliveryLateness(low, 1, groupOf);
    let text = (await m.text()).body;
    expect(text).to.contain(`sessionraft_delivery_lateness_seconds_count{topic="t",group="g${GROUP_SERIES_MAX}"} 1`);
    expect(text).not.to.contain(`group="g${GROUP_SERIES_MAX + 1}"`);
    expect(text).to.contain('sessionraft_delivery_lateness_seconds_count{topic="(other)",group="(other)"} 10');
    // A kept group costs no lookup per observation.
    lookups = 0;
    for (let k = 0; k < 100; k++) m.observeDeliveryLateness(5, 1, groupOf);
    expect(lookups).to.equal(0);
    // Ten groups deleted: a new group gets its own series at the next sweep (within GROUP_SERIES_MAX observations).
    for (let low = 1; low <= 10; low++) groups.delete(low);
    groups.set(1000, { topic: 't', name: 'new' });
    for (let k = 0; k <= GROUP_SERIES_MAX + 1; k++) m.observeDeliveryLateness(1000, 1, groupOf);
    text = (await m.text()).body;
    expect(text).to.match(/sessionraft_delivery_lateness_seconds_count\{topic="t",group="new"\} [1-9]\d*/);
  });
});
