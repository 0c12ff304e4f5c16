/**
 * What the delayed bench prints for a row that ends with items not done (`SessionraftSystem.diagnose`,
 * used by delayed.ts's drain): each node's role and applied index, its store counts and its consumer
 * groups with the sessions still scheduled per replay class, as the node itself reports them. One
 * real node process on loopback.
 */
import { expect } from 'chai';
import { SessionraftSystem } from './delayedSystems.js';
import { waitFor } from './clusterProcs.js';

describe('bench: delayed, where undone items stand', function () {
  // One node start and three schedules; the bound is for a loaded box.
  this.timeout(60_000);
  let sys: SessionraftSystem | null = null;

  afterEach(async () => {
    await sys?.stop();
    sys = null;
  });

  it("names the group of the row's topic with the items still scheduled, from the node's own /status", async () => {
    sys = await SessionraftSystem.start({ nodes: 1 });
    const stream = await sys.openStream('diag', { onReceive: () => undefined, onDone: () => undefined });
    // Due in 2 h: they stay scheduled, as items a row never saw delivered.
    for (let k = 0; k < 3; k++) await stream.schedule(k, k, '2h');
    // The node counts scheduled sessions in steps once first asked (store.ts): wait for the count.
    const text = await waitFor(
      'the node to finish counting its scheduled sessions (a few ticks)',
      async () => {
        const d = await sys!.diagnose();
        return d.includes('"scheduledComplete":true') ? d : null;
      },
      20_000,
      50,
    );
    const line = text.split('\n').find((l) => l.startsWith('n1: '));
    expect(line, text).to.not.equal(undefined);
    const doc = JSON.parse(line!.slice('n1: '.length)) as {
      role: string;
      groups: { topic: string; name: string; ready: number; inFlight: number; scheduled: { replayClass: number; sessions: number }[] }[];
    };
    expect(doc.role).to.equal('leader');
    const g = doc.groups.find((x) => x.topic === 'delayed-diag');
    expect(g, text).to.not.equal(undefined);
    expect(g!.name).to.equal('bench');
    expect(g!.ready + g!.inFlight).to.equal(0);
    // Replay class 1 is the bench's 2 h class.
    expect(g!.scheduled.find((c) => c.replayClass === 1)?.sessions).to.equal(3);
    await stream.close();
  });
});
