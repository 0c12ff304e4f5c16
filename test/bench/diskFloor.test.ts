/**
 * The shared-disk fsync floor the benchmarks print (issue 20): real O_DSYNC writes from worker
 * threads. Only the shape of the figures is checked (speed is the benchmark's business), and that
 * its temporary directory and descriptors are gone afterwards.
 */
import { expect } from 'chai';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sharedDiskFloor } from './diskFloor.js';

describe('bench: shared disk floor', () => {
  let dir = '';
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'sessionraft-diskfloor-test-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('times concurrent durable writes and leaves nothing behind', async () => {
    const f = await sharedDiskFloor(3, 20, dir);
    expect(f.fsyncWriters).to.equal(3);
    expect(f.fsyncSharedP50Ms).to.be.greaterThan(0);
    expect(f.fsyncSharedP99Ms).to.be.at.least(f.fsyncSharedP50Ms);
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('times writes over existing bytes too (files zero-filled first), and leaves nothing behind', async () => {
    const f = await sharedDiskFloor(3, 20, dir, 30_000, true);
    expect(f.fsyncSharedP50Ms).to.be.greaterThan(0);
    expect(f.fsyncSharedP99Ms).to.be.at.least(f.fsyncSharedP50Ms);
    expect(readdirSync(dir)).to.deep.equal([]);
  });

  it('gives up after its time limit and still cleans up, descriptors included', async () => {
    const openFds = (): number => (existsSync('/proc/self/fd') ? readdirSync('/proc/self/fd').length : 0);
    const fdsBefore = openFds();
    // 1 ms cannot hold three threads' start and 100,000 durable writes: it must fail, not hang.
    const err = await sharedDiskFloor(3, 100_000, dir, 1).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).to.match(/did not finish within 1 ms/);
    expect(readdirSync(dir)).to.deep.equal([]);
    // The writers' files were opened by the caller, and closed although the writers were terminated.
    expect(openFds()).to.equal(fdsBefore);
  });
});
