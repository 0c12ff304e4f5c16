/**
 * Feature flags (docs/sessions.md, "Feature flags"): what a leader may put in the log that a node of
 * an older version would apply differently (a restore planned ahead, an ack that removes its
 * session) waits for a FeatureEnable entry. A new cluster turns every flag on by itself; a cluster
 * started with `featuresOnNewCluster: false` (`--features-off`, as one upgraded from an older
 * version) keeps them off until `feature enable`. In-process 3-node clusters on 127.0.0.1.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { FEATURES_NATIVE_FILE, markFeaturesNative } from '../../actors/host/nodeHost.js';
import { ClientError, type SessionraftClient } from '../../transport/client/client.js';
import { commandKindNames } from '../../transport/commands/codec.js';
import { ALL_FEATURE_NAMES } from '../support/featureNames.js';
import { httpGet, useInProcessCluster, waitFor } from './helpers.js';

/** A 200 ms replay, a tick (10 ms) and a few commit rounds per step; 10 s covers a loaded machine. */
const SETTLE_MS = 10_000;
const BOTH = ALL_FEATURE_NAMES;

/** The code of a rejected promise (fails the test if it resolves). */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(ClientError);
    return (err as ClientError).code;
  }
  throw new Error('expected a refusal');
}

describe('node: feature flags on a new cluster', function () {
  this.timeout(60_000);
  const suite = useInProcessCluster(3);

  it("the first leader turns every flag on (the log's first command); every node shows them; enable is idempotent; an unknown name is refused", async () => {
    const c = suite.client();
    await waitFor(
      'every node has applied the FeatureEnable',
      () => suite.cluster.hosts.every((h) => h.status().features.enabled.length === BOTH.length),
      SETTLE_MS,
    );
    for (const h of suite.cluster.hosts) expect(h.status().features).to.deep.equal({ supported: BOTH, enabled: BOTH });
    const leader = suite.cluster.leader()!;
    // By kind, then its data read back if the node dropped them (applied by every node).
    const raft = leader.node.raft;
    let firstCommand = 0;
    for (let i = raft.log.lastIndex(); i >= raft.log.firstIndex(); i--) if (raft.log.kind(i) === 1) firstCommand = i;
    expect(firstCommand).to.be.greaterThan(0);
    expect(commandKindNames[raft.entryAt(firstCommand).data[1]!]).to.equal('FeatureEnable');
    expect(await c.features()).to.deep.equal({ supported: BOTH, enabled: BOTH });
    const r = await c.enableFeature('all');
    expect(r.index).to.be.greaterThan(0);
    expect(await c.features()).to.deep.equal({ supported: BOTH, enabled: BOTH });
    expect(await codeOf(c.enableFeature('warp-drive'))).to.equal('CLIENT_ERR_FEATURE_UNKNOWN');
    expect(await codeOf(c.enableFeature('Restore-Ahead'))).to.equal('CLIENT_ERR_FEATURE_UNKNOWN');
  });
});

describe('node: feature flags on a cluster that keeps them off (an upgraded one)', function () {
  this.timeout(60_000);
  // A 1 s lead over the 200 ms class: with the flag on, every session is restored once stored.
  const suite = useInProcessCluster(3, { restoreLeadMs: 1000, featuresOnNewCluster: false });
  const client = (): SessionraftClient => suite.client();

  it('restores wait for their due time and remove-on-ack is refused until `feature enable`; then both work', async () => {
    const c = client();
    expect(await c.features()).to.deep.equal({ supported: BOTH, enabled: [] });
    const flagsOn = async (): Promise<string[]> => {
      const m = await httpGet(`http://127.0.0.1:${suite.cluster.hosts[0]!.addresses.admin.port}/metrics`);
      return [...m.body.matchAll(/^sessionraft_feature_enabled\{feature="([a-z-]+)"\} (\d)$/gm)].map((x) => `${x[1]}=${x[2]}`);
    };
    expect(await flagsOn()).to.deep.equal([
      'restore-ahead=0',
      'remove-on-ack=0',
      'due-floor-per-file=0',
      'clients-per-user=0',
      'last-admin=0',
      'replay-continues=0',
      'remove-own-restore=0',
      'first-user-admin=0',
    ]);
    await c.createGroup('up', 'g');
    // Refused at attach, before anything reaches the log.
    expect(await codeOf(client().consume('up', 'g', () => undefined, { removeOnAck: true }))).to.equal('CLIENT_ERR_FEATURE_DISABLED');
    const got: string[] = [];
    const consumer = await client().consume('up', 'g', (m) => void got.push(m.session));
    const leader = suite.cluster.leader()!;
    const heldBefore = leader.node.dispatcher.counters.held;
    await c.schedule('up', 'before', { replay: '200ms' });
    await waitFor('the first delivery', () => got.length === 1, SETTLE_MS);
    // Restored at its due time, not a second ahead: nothing was held.
    expect(leader.node.dispatcher.counters.held - heldBefore).to.equal(0);
    const r = await c.enableFeature('all');
    expect(r.index).to.be.greaterThan(0);
    await waitFor('every node has every flag on', () => suite.cluster.hosts.every((h) => h.status().features.enabled.length === BOTH.length), SETTLE_MS);
    expect(await flagsOn()).to.deep.equal([
      'restore-ahead=1',
      'remove-on-ack=1',
      'due-floor-per-file=1',
      'clients-per-user=1',
      'last-admin=1',
      'replay-continues=1',
      'remove-own-restore=1',
      'first-user-admin=1',
    ]);
    await c.schedule('up', 'after', { replay: '200ms' });
    await waitFor('the second delivery', () => got.length === 2, SETTLE_MS);
    expect(leader.node.dispatcher.counters.held - heldBefore, 'deliveries held until due once restore-ahead is on').to.equal(1);
    await consumer.close();
    // And a consumer whose acks remove their sessions is admitted now.
    const removing = await client().consume('up', 'g', () => undefined, { removeOnAck: true });
    await removing.close();
  });
});

describe('node: which storage may turn the flags on', () => {
  it('storage a bootstrapping node of this version created empty is marked; storage an older version created, a joining node and --features-off are not', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sessionraft-features-'));
    try {
      const empty = { hardState: { term: 0, vote: null }, entries: [], snapshot: null } as unknown as Parameters<typeof markFeaturesNative>[1];
      const used = { hardState: { term: 3, vote: 'n1' }, entries: [], snapshot: null } as unknown as Parameters<typeof markFeaturesNative>[1];
      expect(markFeaturesNative(dir, used, true), 'an older cluster node').to.equal(false);
      expect(existsSync(join(dir, FEATURES_NATIVE_FILE))).to.equal(false);
      // Empty storage of a node that joins, or of a new cluster started with --features-off: no marker.
      expect(markFeaturesNative(dir, empty, false), 'joining, or --features-off').to.equal(false);
      expect(existsSync(join(dir, FEATURES_NATIVE_FILE))).to.equal(false);
      expect(markFeaturesNative(dir, empty, true), 'new storage of a bootstrapping node').to.equal(true);
      // Restarted later on the same (now used) storage, with or without the flags: still this version's.
      expect(markFeaturesNative(dir, used, true)).to.equal(true);
      expect(markFeaturesNative(dir, used, false)).to.equal(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
