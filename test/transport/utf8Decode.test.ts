/** utf8Text answers what a fatal TextDecoder answers, for any bytes at any offset, decoded once or again. */
import { expect } from 'chai';
import fc from 'fast-check';
import { utf8Text } from '../../transport/commands/utf8Decode.js';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The decoder's answer: the text, or null when it throws. */
function expected(b: Uint8Array): string | null {
  try {
    return decoder.decode(b);
  } catch {
    return null;
  }
}

function got(data: Uint8Array, at: number, len: number): string | null {
  try {
    return utf8Text(data, at, len);
  } catch (err) {
    expect(err).to.be.instanceOf(TypeError);
    return null;
  }
}

describe('utf8Text (recent UTF-8 fields decoded once)', () => {
  // Valid text, arbitrary bytes (often invalid), and long fields past what the ring keeps.
  const field = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 40 }).map((s) => new TextEncoder().encode(s)),
    fc.uint8Array({ maxLength: 40 }),
    fc.uint8Array({ minLength: 250, maxLength: 300 }),
  );

  it('equals the fatal decoder on any field, at any offset, asked once or again (property)', () => {
    fc.assert(
      fc.property(fc.array(field, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { minLength: 1, maxLength: 200 }), fc.nat(8), (fields, picks, pad) => {
        for (const p of picks) {
          const f = fields[p % fields.length]!;
          // The field inside a larger entry, with bytes on both sides that are not its own.
          const entry = new Uint8Array(pad + f.length + 3).fill(0xc3);
          entry.set(f, pad);
          expect(got(entry, pad, f.length), `field ${Buffer.from(f).toString('hex')}`).to.equal(expected(f));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('is not fooled by a field that shares a cached field as its prefix or differs in one byte', () => {
    const a = new TextEncoder().encode('consumer-1');
    expect(utf8Text(a, 0, a.length)).to.equal('consumer-1');
    const b = new TextEncoder().encode('consumer-10');
    expect(utf8Text(b, 0, b.length)).to.equal('consumer-10');
    expect(utf8Text(b, 0, a.length)).to.equal('consumer-1');
    const c = new TextEncoder().encode('consumer-2');
    expect(utf8Text(c, 0, c.length)).to.equal('consumer-2');
    // A cached field's bytes changed in the caller's buffer afterwards: the ring kept its own copy.
    const d = new TextEncoder().encode('orders');
    expect(utf8Text(d, 0, d.length)).to.equal('orders');
    d[0] = 0x4f;
    expect(utf8Text(d, 0, d.length)).to.equal('Orders');
    // The same with a Buffer (whose slice is a view, not a copy), as a data file's read returns.
    const e = Buffer.from('invoices');
    expect(utf8Text(e, 0, e.length)).to.equal('invoices');
    e[0] = 0x49;
    expect(utf8Text(e, 0, e.length)).to.equal('Invoices');
    expect(utf8Text(Buffer.from('invoices'), 0, 8)).to.equal('invoices');
  });
});
