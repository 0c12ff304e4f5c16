/**
 * The delayed benchmark's `followerFsyncMeanMs`: the followers' mean durable WAL write over a row,
 * from their /metrics read at the row's start and end. Pure: synthetic counters, no systems.
 */
import { expect } from 'chai';
import { followerFsyncMean } from './delayed.js';
import type { LeaderCounters } from './delayedSystems.js';

type Fsync = LeaderCounters['followerFsync'];

function counters(followerFsync: Fsync): LeaderCounters {
  return {
    leader: 'n1',
    term: 1,
    entries: 0,
    walBatches: 0,
    peerMessages: 0,
    peerBytes: 0,
    clientRequests: 0,
    restoreLateSeconds: 0,
    restoreLateCount: 0,
    deliveryLateSeconds: 0,
    deliveryLateCount: 0,
    leaderFsyncSeconds: 0,
    leaderFsyncCount: 0,
    followerFsync,
    commitSeconds: 0,
    commitCount: 0,
  };
}

/** Counters with these followers' fsync totals: `[node, seconds, count]` each. */
const at = (...followers: [string, number, number][]): LeaderCounters => counters(new Map(followers.map(([id, seconds, count]) => [id, { seconds, count }])));

describe('bench: delayed, the followers fsync mean', () => {
  it('is the mean over both followers of what each wrote during the row', () => {
    const start = at(['n2', 1, 100], ['n3', 2, 200]);
    // n2: 0.3 s over 300 writes; n3: 0.5 s over 200 writes: 0.8 s over 500 writes = 1.6 ms.
    const end = at(['n2', 1.3, 400], ['n3', 2.5, 400]);
    expect(followerFsyncMean(start, end)).to.deep.equal({ followerFsyncMeanMs: 1.6 });
  });

  it('leaves out a follower read at only one end, and one whose counters went back (a restart)', () => {
    const start = at(['n2', 1, 100], ['n3', 5, 900]);
    const end = at(['n2', 1.2, 200], ['n3', 0.1, 50], ['n4', 9, 9]);
    expect(followerFsyncMean(start, end)).to.deep.equal({ followerFsyncMeanMs: 2 });
  });

  it('has no field without followers, or when none wrote during the row', () => {
    expect(followerFsyncMean(at(), at())).to.deep.equal({});
    const same = at(['n2', 1, 100]);
    expect(followerFsyncMean(same, same)).to.deep.equal({});
  });
});
