/**
 * Who may replay or delete a dead letter (issue 16 with issue 17's permissions): what acking in
 * that group needs, `consume` on the topic for that group (or any group). Anyone else gets
 * CLIENT_ERR_PERMISSION_DENIED and nothing reaches the log; a permitted user's request reaches the
 * store, which answers SESSIONS_ERR_DEAD_LETTER_NOT_FOUND for a restore that is not a dead letter.
 * An in-process 3-node cluster with --auth on 127.0.0.1.
 */
import { expect } from 'chai';
import { commandId } from '../../transport/commands/codec.js';
import { type SessionraftClient } from '../../transport/client/client.js';
import { codeOf, useAuthCluster, waitFor } from './helpers.js';

const ADMIN_PASSWORD = 'dead letters admin password';

describe('dead letters: replay and delete need the consume permission of the group (issue 16, 17)', function () {
  this.timeout(60_000);
  const suite = useAuthCluster(3, 'dead-auth', ADMIN_PASSWORD);
  const client = (user: string, password: string): SessionraftClient => suite.client(user, password);
  const leaderLastIndex = (): number => suite.cluster.leader()!.node.status().lastIndex;

  it('a reader and a consumer of another group are denied before the log; a consumer of the group reaches the store', async () => {
    const admin = client('admin', ADMIN_PASSWORD);
    await admin.createGroup('orders/eu', 'billing');
    await admin.createGroup('orders/eu', 'audit');
    await admin.addRole('reader');
    await admin.grantPermission('reader', 'read:orders/');
    await admin.addRole('billing-worker');
    await admin.grantPermission('billing-worker', 'consume:orders/:billing');
    await admin.addUser('bob', 'bob password 1');
    await admin.grantRole('bob', 'reader');
    await admin.addUser('carol', 'carol password 1');
    await admin.grantRole('carol', 'billing-worker');
    const bob = client('bob', 'bob password 1');
    const carol = client('carol', 'carol password 1');
    // Carol's grant applied on every node before she asks (a port checks its own node's table).
    await waitFor(
      'carol may consume on every node',
      () => suite.cluster.hosts.every((h) => h.node.store.access.allows('carol', 'consume', 'orders/eu', 'billing')),
      10_000,
    );
    const nowhere = commandId(1, 999_999);
    const before = leaderLastIndex();
    expect(await codeOf(bob.replayDeadLetter('orders/eu', 'billing', nowhere))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
    expect(await codeOf(bob.deleteDeadLetter('orders/eu', 'billing', nowhere))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
    expect(await codeOf(carol.deleteDeadLetter('orders/eu', 'audit', nowhere))).to.equal('CLIENT_ERR_PERMISSION_DENIED');
    expect(leaderLastIndex(), 'no denied request reached the log').to.equal(before);
    // Allowed: the command is applied, and the store says there is no such dead letter.
    expect(await codeOf(carol.replayDeadLetter('orders/eu', 'billing', nowhere))).to.equal('SESSIONS_ERR_DEAD_LETTER_NOT_FOUND');
    expect(await codeOf(carol.deleteDeadLetter('orders/eu', 'billing', nowhere))).to.equal('SESSIONS_ERR_DEAD_LETTER_NOT_FOUND');
    expect(leaderLastIndex()).to.be.greaterThan(before);
    // A group that does not exist: the group's code.
    await admin.grantPermission('billing-worker', 'consume:orders/');
    await waitFor(
      'the wider grant on every node',
      () => suite.cluster.hosts.every((h) => h.node.store.access.allows('carol', 'consume', 'orders/eu', 'nope')),
      10_000,
    );
    expect(await codeOf(carol.replayDeadLetter('orders/eu', 'nope', nowhere))).to.equal('SESSIONS_ERR_GROUP_UNKNOWN');
  });
});
