/**
 * The node-wide count of bytes held for client connections (transport/client/heldBytes.ts): a
 * holder's count moves when noted; since sockets drain without telling, the total is an upper
 * bound that is counted again only when it says a hold does not fit, so a hold that does fit once
 * the drained bytes are counted is not refused.
 */
import assert from 'node:assert/strict';
import { HeldBytes } from '../../transport/client/heldBytes.js';

describe('transport: HeldBytes, the node-wide count behind connectionsHeldBytesMax', () => {
  it('counts what holders hold, recounts when the upper bound says no', () => {
    const holds = new Map<string, number>([
      ['a', 0],
      ['b', 0],
    ]);
    const held = new HeldBytes<string>(100, (h) => holds.get(h)!);
    holds.set('a', 60);
    held.note('a');
    holds.set('b', 30);
    held.note('b');
    assert.equal(held.total, 90);
    assert.equal(held.fits(10), true);
    assert.equal(held.fits(11), false);
    // 'a' drained 50 bytes without a note: the bound still says 90 until a hold does not fit.
    holds.set('a', 10);
    assert.equal(held.total, 90);
    assert.equal(held.fits(50), true, 'a hold that fits once drained bytes are counted is admitted');
    assert.equal(held.total, 40);
    held.forget('b');
    assert.equal(held.total, 10);
    held.forget('a');
    assert.equal(held.total, 0);
    assert.equal(held.recount(), 0);
  });
});
