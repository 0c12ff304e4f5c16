/**
 * `mayHaveVoted` (storage/hardState.ts): what `sessionraft cluster`, the test helpers and the bench
 * read to decide whether a node may start a new cluster (--bootstrap). A node killed after it opened
 * its storage but before its first vote was durable has a hard state file at term 0; it never voted,
 * so it is still new (the bench's restart test found a node barred from voting after such a kill).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { mayHaveVoted } from '../../storage/hardState.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, openAsync, tempDir, writeDurable } from './helpers.js';

describe('storage: mayHaveVoted, the trace a vote leaves', () => {
  it('an empty or missing directory, and storage opened but never voted in (term 0), leave none', async () => {
    const { dir, cleanup } = tempDir('may-have-voted');
    try {
      assert.equal(mayHaveVoted(realFs, join(dir, 'absent')), false);
      assert.equal(mayHaveVoted(realFs, dir), false);
      const o = await openAsync(realFs, dir);
      await closeAsync(o);
      assert.equal(realFs.exists(join(dir, 'hardstate')), true, 'opening empty storage writes a term-0 hard state');
      assert.equal(mayHaveVoted(realFs, dir), false);
    } finally {
      cleanup();
    }
  });

  it('a term, a vote, a damaged hard state, the term-unknown marker or a snapshot do', async () => {
    const { dir, cleanup } = tempDir('may-have-voted');
    try {
      let o = await openAsync(realFs, dir);
      await writeDurable(o, { entries: [], hardState: { term: 1, vote: null } });
      await closeAsync(o);
      assert.equal(mayHaveVoted(realFs, dir), true, 'term 1');
      o = await openAsync(realFs, dir);
      await writeDurable(o, { entries: [], hardState: { term: 1, vote: 'n1' } });
      await closeAsync(o);
      assert.equal(mayHaveVoted(realFs, dir), true, 'a vote');
      const path = join(dir, 'hardstate');
      const bytes = readFileSync(path);
      bytes[bytes.length - 1]! ^= 1;
      writeFileSync(path, bytes);
      assert.equal(mayHaveVoted(realFs, dir), true, 'a damaged hard state');
      writeFileSync(path, bytes.subarray(0, 3));
      assert.equal(mayHaveVoted(realFs, dir), true, 'a truncated hard state');
    } finally {
      cleanup();
    }
    for (const trace of ['term-unknown', 'snap/snap-0000000000000005-0000000000000001.snap']) {
      const t = tempDir('may-have-voted');
      try {
        const o = await openAsync(realFs, t.dir);
        await closeAsync(o);
        mkdirSync(join(t.dir, 'snap'), { recursive: true });
        writeFileSync(join(t.dir, trace), 'x');
        assert.equal(mayHaveVoted(realFs, t.dir), true, trace);
      } finally {
        t.cleanup();
      }
    }
  });
});
