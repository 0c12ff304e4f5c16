/**
 * The host's copy of the voting bar follows Raft's (2026-12-07, a review of membership and
 * snapshots). Before, the host lifted its copy, and removed the `voting-barred` marker, as soon as
 * any configuration held the node as a learner, a snapshot's included, while Raft still refused
 * every vote: /status said "not barred", and after a restart the marker was gone. It also lifted the
 * bar at start when the log's configuration held the node as a learner, which may be one from before
 * the node lost its disk. Real files in a temporary directory.
 */
import { expect } from 'chai';
import { existsSync, writeFileSync } from 'node:fs';
import pino from 'pino';
import { VotingBar } from '../../actors/host/votingBar.js';
import { encodeMembership } from '../../machines/membership.js';
import { EntryKind, type Entry } from '../../machines/types.js';
import { realFs } from '../../storage/realFs.js';
import type { Recovered } from '../../storage/types.js';
import { removeDir, tempDir } from '../node/helpers.js';

const logger = pino({ level: 'silent' });

function recovered(entries: Entry[]): Recovered {
  return { hardState: { term: 2, vote: null }, snapshot: null, entries, tornBytes: 0, corruption: null };
}

async function waitUntil(what: string, cond: () => boolean): Promise<void> {
  // The marker's removal is an unlink and a directory fsync: a few event-loop turns.
  for (let k = 0; k < 200 && !cond(); k++) await new Promise((r) => setImmediate(r));
  expect(cond(), what).to.equal(true);
}

describe('host: the voting bar follows Raft (2026-12-07)', () => {
  let dir = '';
  beforeEach(() => {
    dir = tempDir('voting-bar-');
  });
  afterEach(() => removeDir(dir));

  it('a marker stays in force at start although the log holds the node as a learner (only Raft lifts it)', async () => {
    writeFileSync(`${dir}/voting-barred`, 'lost its disk\n');
    const bar = new VotingBar(realFs, dir, logger);
    const learner: Entry = { index: 1, term: 1, kind: EntryKind.config, data: encodeMembership({ voters: ['n1', 'n2'], learners: ['n3'] }) };
    await bar.decideAtStart({ id: 'n3', address: '127.0.0.1:1', bootstrap: false, join: false, recovered: recovered([learner]) });
    expect(bar.barred).to.equal(true);
    expect(existsSync(bar.markerPath)).to.equal(true);
  });

  it("the host's copy lifts only once Raft's has, and the marker goes once the log through the lift is durable (not a later entry: none may come)", async () => {
    const bar = new VotingBar(realFs, dir, logger);
    await bar.decideAtStart({
      id: 'n3',
      address: '127.0.0.1:1',
      bootstrap: false,
      join: true,
      recovered: { ...recovered([]), hardState: { term: 0, vote: null } },
    });
    expect(bar.barred).to.equal(true);
    expect(existsSync(bar.markerPath)).to.equal(true);
    // Raft still barred (a snapshot holding the node as a learner installed, no append yet): nothing moves.
    bar.followRaft(true, 7);
    bar.afterPersisted(100);
    expect(bar.barred).to.equal(true);
    expect(existsSync(bar.markerPath)).to.equal(true);
    // Raft lifted it with the log through 9; the marker stays until 9 is durable.
    bar.followRaft(false, 9);
    expect(bar.barred).to.equal(false);
    bar.afterPersisted(8);
    expect(existsSync(bar.markerPath)).to.equal(true);
    bar.afterPersisted(9);
    await waitUntil('the marker removed', () => !existsSync(bar.markerPath));
  });
});
