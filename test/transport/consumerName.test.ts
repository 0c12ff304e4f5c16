/**
 * Consumer names are checked where they come in (SessionNode.consume, at attach): a name that no
 * GroupDeliver can carry (empty, over 64 bytes, a control character, a lone surrogate that does not
 * survive UTF-8) is refused with SESSIONS_ERR_NAME instead of making every delivery to it fail.
 * `nameError` agrees with the codec for any string (property).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { CommandKind, commandId, decodeCommand, encodeCommand, nameError } from '../../transport/commands/codec.js';

/** What the codec does with `name` as a GroupDeliver's consumer: null when it round-trips. */
function codecVerdict(name: string): string | null {
  let data: Uint8Array;
  try {
    data = encodeCommand({ kind: CommandKind.groupDeliver, group: commandId(1, 2), restore: commandId(1, 3), delivery: 1, deadlineMs: 5, consumer: name });
  } catch {
    return 'encode';
  }
  try {
    const c = decodeCommand(data);
    return c.kind === CommandKind.groupDeliver && c.consumer === name ? null : 'changed';
  } catch {
    return 'decode';
  }
}

describe('transport: consumer names (nameError)', () => {
  it('accepts what the codec carries unchanged and refuses the rest', () => {
    for (const ok of ['c', 'bench-1', 'é'.repeat(32), 'x'.repeat(64)]) expect(nameError(ok), ok).to.equal(null);
    for (const bad of ['', 'x'.repeat(65), 'é'.repeat(33), 'a\nb', 'a\u007fb', '\ud800', 'a\udc00b'])
      expect(nameError(bad), JSON.stringify(bad)).to.equal('SESSIONS_ERR_NAME');
  });

  it('agrees with an encode and decode of a GroupDeliver for any string (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ maxLength: 70 }), fc.string({ unit: 'grapheme', maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 })),
        (name) => {
          expect(nameError(name) === null, JSON.stringify(name)).to.equal(codecVerdict(name) === null);
        },
      ),
      { numRuns: 2000 },
    );
  });
});
