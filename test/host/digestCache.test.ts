/** The /status digest's cost bound (issue 14): one computation per applied index, at most one per interval. */
import { expect } from 'chai';
import { DigestCache } from '../../actors/host/digestCache.js';

describe('DigestCache', function () {
  it('computes once per applied index, at most once per interval, and labels what it answers', function () {
    let index = 5;
    let now = 0;
    let computed = 0;
    const cache = new DigestCache(
      () => `d${index}#${++computed}`,
      () => index,
      () => now,
      1000,
    );
    expect(cache.get()).to.deep.equal({ digest: 'd5#1', digestIndex: 5 });
    // 100 requests at one index: one computation.
    for (let k = 0; k < 100; k++) cache.get();
    expect(computed).to.equal(1);
    // The index moves within the interval: the last digest, with the index it is of.
    index = 6;
    now = 500;
    expect(cache.get()).to.deep.equal({ digest: 'd5#1', digestIndex: 5 });
    expect(computed).to.equal(1);
    // After the interval: computed again at the new index.
    now = 1000;
    expect(cache.get()).to.deep.equal({ digest: 'd6#2', digestIndex: 6 });
    // 100 requests while writes move the index every request: at most one computation per interval.
    for (let k = 0; k < 100; k++) {
      index++;
      now += 10;
      cache.get();
    }
    expect(computed).to.equal(3);
  });
});
