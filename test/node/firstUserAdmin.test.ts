/**
 * The first user of an open cluster becomes an administrator. With the `first-user-admin` flag
 * (2026-12-07, on in a new cluster) that is one entry: the UserPut that creates the first user of an
 * empty table grants it the admin role at apply. Before, the port proposed a UserPut and then a
 * UserGrant: a leader change between the two left a user and no admin, with logins already required
 * (only the bootstrap password file could restore one). In-process single-node clusters on 127.0.0.1,
 * with the flag (a new cluster) and without it (`featuresOnNewCluster: false`, an upgraded one).
 */
import { expect } from 'chai';
import { createClient } from '../../transport/client/client.js';
import { ADMIN_ROLE } from '../../transport/commands/access.js';
import { CommandKind } from '../../transport/commands/codec.js';
import type { NodeHost } from '../../actors/host/nodeHost.js';
import { useInProcessCluster, waitFor } from './helpers.js';

/** An election and a few commit rounds on 10 ms ticks; 10 s covers a loaded machine. */
const SETTLE_MS = 10_000;

/** The command kinds (data[1]) of the leader's log entries that carry a command, from index `from` on. */
function commandKinds(h: NodeHost, from: number): number[] {
  const raft = h.node.raft;
  const out: number[] = [];
  for (let i = Math.max(from, raft.log.firstIndex()); i <= raft.log.lastIndex(); i++) if (raft.log.kind(i) === 1) out.push(raft.entryAt(i).data[1]!);
  return out;
}

for (const flag of [true, false]) {
  describe(`node: the first user of an open cluster is an admin (${flag ? 'first-user-admin on: one entry' : 'flag off: UserPut then UserGrant'})`, function () {
    this.timeout(30_000);
    const suite = useInProcessCluster(1, flag ? {} : { featuresOnNewCluster: false });

    it(`user add on the open cluster: the user holds the admin role${flag ? ' from its UserPut alone' : ''}; a second user does not`, async () => {
      const h = suite.cluster.leader()!;
      // A new cluster's first command turns the flags on; until the leader applied it, its port
      // still proposes the two entries (harmless: the grant finds the role there).
      if (flag) await waitFor('the FeatureEnable applied on the leader', () => h.status().features.enabled.includes('first-user-admin'), SETTLE_MS);
      const from = h.node.raft.log.lastIndex() + 1;
      const anon = suite.client();
      await anon.addUser('root', 'root password');
      await waitFor('root applied', () => h.node.store.access.user('root') !== null, SETTLE_MS);
      expect(h.node.store.access.user('root')!.roles).to.deep.equal([ADMIN_ROLE]);
      const kinds = commandKinds(h, from).filter((k) => k === CommandKind.userPut || k === CommandKind.userGrant);
      expect(kinds).to.deep.equal(flag ? [CommandKind.userPut] : [CommandKind.userPut, CommandKind.userGrant]);
      const root = createClient({ endpoints: suite.cluster.endpoints(), clusterId: 'test', user: 'root', password: 'root password' });
      try {
        await root.addUser('eve', 'eve password');
      } finally {
        await root.close();
      }
      await waitFor('eve applied', () => h.node.store.access.user('eve') !== null, SETTLE_MS);
      expect(h.node.store.access.user('eve')!.roles).to.deep.equal([]);
    });
  });
}
