/**
 * Issue 15, finding 2: a lost hard state is remembered durably. Before the fix, the next valid hard
 * state (written at the next term adoption) hid the loss, and the following start voted again.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, entries, openAsync, tempDir, writeDurable } from './helpers.js';

const termUnknown = (o: { recovered: object }): boolean => (o.recovered as { termUnknown?: boolean }).termUnknown === true;

describe('storage: a lost hard state stays recorded until the node learned its term (issue 15)', () => {
  it('finding 2: the term-unknown mark survives a valid hard state written later, and restarts, until markTermKnown', async () => {
    const { dir, cleanup } = tempDir('term-unknown');
    try {
      let o = await openAsync(realFs, dir);
      assert.equal(termUnknown(o), false);
      await writeDurable(o, { entries: entries(1, 3, 1), hardState: { term: 2, vote: 'n2' } });
      await closeAsync(o);
      // One bit of the hard state flips.
      const path = join(dir, 'hardstate');
      const bytes = readFileSync(path);
      bytes[bytes.length - 1]! ^= 1;
      writeFileSync(path, bytes);
      o = await openAsync(realFs, dir);
      assert.equal(o.recovered.corruption?.code, 'hardstate-checksum');
      assert.equal(termUnknown(o), true);
      // The node adopts a newer term: a valid hard state again.
      await writeDurable(o, { entries: [], hardState: { term: 3, vote: null } });
      await closeAsync(o);
      for (let k = 0; k < 2; k++) {
        o = await openAsync(realFs, dir);
        assert.equal(o.recovered.corruption, null, 'the hard state is valid again');
        assert.equal(termUnknown(o), true, `still unknown at restart ${k + 1}`);
        await closeAsync(o);
      }
      o = await openAsync(realFs, dir);
      (o.log as unknown as { markTermKnown(): void }).markTermKnown();
      await new Promise((r) => setTimeout(r, 50));
      await closeAsync(o);
      assert.equal(existsSync(join(dir, 'term-unknown')), false);
      o = await openAsync(realFs, dir);
      assert.equal(termUnknown(o), false);
      await closeAsync(o);
    } finally {
      cleanup();
    }
  });
});
