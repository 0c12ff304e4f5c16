/**
 * The metrics token file (--metrics-token-file) at the edge (a review, 2026-12-07): an empty or
 * blank file made /metrics unreachable with no word (no bearer token matches ''), and a missing one
 * failed the start with a raw ENOENT. Both are now a ConfigError (the CLI exits 2).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError } from '../../actors/host/config.js';
import { readMetricsToken } from '../../actors/host/nodeHost.js';
import { removeDir, tempDir } from '../node/helpers.js';

describe('host: the metrics token file (2026-12-07)', () => {
  let dir = '';
  before(() => {
    dir = tempDir('metrics-token-');
  });
  after(() => removeDir(dir));

  it('an empty, blank, short or missing file is a ConfigError; a token is read trimmed', () => {
    const file = join(dir, 'token');
    for (const text of ['', '   \n', 'short\n']) {
      writeFileSync(file, text);
      expect(() => readMetricsToken(file), JSON.stringify(text)).to.throw(ConfigError, /at least 16 characters/);
    }
    expect(() => readMetricsToken(join(dir, 'absent'))).to.throw(ConfigError, /ENOENT/);
    writeFileSync(file, '  scrape-token-0123456789\n');
    expect(readMetricsToken(file)).to.equal('scrape-token-0123456789');
  });

  it('property: any file content gives a token of 16 characters or more, or a ConfigError, never anything else', () => {
    const file = join(dir, 'any');
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (text) => {
        writeFileSync(file, text);
        try {
          const t = readMetricsToken(file);
          expect(t.length).to.be.at.least(16);
          expect(t).to.equal(text.trim());
        } catch (err) {
          expect(err).to.be.instanceOf(ConfigError);
        }
      }),
      { numRuns: 300 },
    );
  });
});
