/** The shared UTF-8 cache answers what TextEncoder answers, for any string, before and after it fills and starts over. */
import { expect } from 'chai';
import fc from 'fast-check';
import { utf8Of } from '../../transport/commands/utf8Cache.js';

describe('utf8Of (shared UTF-8 of repeated strings)', () => {
  const encoder = new TextEncoder();

  it('equals TextEncoder.encode for any string, asked once or again (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary', maxLength: 300 }), { minLength: 1, maxLength: 600 }), (strings) => {
        for (const s of strings) {
          expect(Buffer.from(utf8Of(s)).equals(encoder.encode(s)), JSON.stringify(s)).to.equal(true);
          expect(Buffer.from(utf8Of(s)).equals(encoder.encode(s))).to.equal(true);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('gives a repeated string the same array (made once)', () => {
    expect(utf8Of('orders')).to.equal(utf8Of('orders'));
  });
});
