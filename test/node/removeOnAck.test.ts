/**
 * Remove on ack (issue 20; BullMQ's removeOnComplete): a consumer with `removeOnAck` acknowledges
 * each delivery and removes its restored session in one GroupAck entry. The removal is a destroy,
 * so it needs `write` on the topic besides `consume`: without it the consumer is refused at attach,
 * and once write is revoked its acks are refused at the port (CLIENT_ERR_PERMISSION_DENIED, nothing
 * reaches the log: the delivery stays in flight). Apply checks the permission again at the ack's
 * position in the log (the simulator's security checker judges that). An in-process 3-node cluster
 * with --auth on 127.0.0.1.
 */
import { expect } from 'chai';
import { commandKindNames } from '../../transport/commands/codec.js';
import { ClientError, type GroupMessage, type SessionraftClient } from '../../transport/client/client.js';
import { useAuthCluster, waitFor } from './helpers.js';

const ADMIN_PASSWORD = 'remove on ack admin password';
/** A 200 ms replay, a tick (10 ms) and a few commit rounds per step; 10 s covers a loaded machine. */
const SETTLE_MS = 10_000;

describe('remove on ack: the ack removes the restored session in the same entry, with the write permission (issue 20)', function () {
  this.timeout(60_000);
  const suite = useAuthCluster(3, 'remove-on-ack', ADMIN_PASSWORD);
  const client = (user: string, password: string): SessionraftClient => suite.client(user, password);
  /** Kinds of the entries every node applied, by node. */
  const kinds = new Map<string, string[]>();

  before(() => {
    for (const h of suite.cluster.hosts) {
      const seen: string[] = [];
      kinds.set(h.id, seen);
      h.node.store.onApplied((es) => {
        for (const e of es) if (e.data.length > 1) seen.push(commandKindNames[e.data[1]!] ?? '?');
      });
    }
  });

  it('consume alone: refused at attach; consume and write: one GroupAck settles each delivery and removes its session on every node; write revoked: the ack is refused at the port', async () => {
    const admin = client('admin', ADMIN_PASSWORD);
    await admin.createGroup('jobs', 'workers', { ackWaitMs: 60_000 });
    await admin.addRole('consumer');
    await admin.grantPermission('consumer', 'consume:jobs:workers');
    await admin.addRole('worker');
    await admin.grantPermission('worker', 'consume:jobs:workers');
    await admin.grantPermission('worker', 'write:jobs');
    await admin.addUser('carol', 'carol password 1');
    await admin.grantRole('carol', 'consumer');
    await admin.addUser('dave', 'dave password 1');
    await admin.grantRole('dave', 'worker');
    // The grants applied on every node before anyone asks (a port checks its own node's table).
    await waitFor(
      'carol may consume and dave may consume and write, on every node',
      () =>
        suite.cluster.hosts.every(
          (h) =>
            h.node.store.access.allows('carol', 'consume', 'jobs', 'workers') &&
            h.node.store.access.allows('dave', 'consume', 'jobs', 'workers') &&
            h.node.store.access.allows('dave', 'write', 'jobs', ''),
        ),
      10_000,
    );

    // Carol may consume but not destroy: a consumer whose acks would remove is refused at attach.
    const carol = client('carol', 'carol password 1');
    const refused = await carol
      .consume('jobs', 'workers', () => undefined, { consumer: 'carol', removeOnAck: true })
      .then(
        (h) => h.close().then(() => null),
        (e: { code?: string }) => e.code ?? String(e),
      );
    expect(refused).to.equal('CLIENT_ERR_PERMISSION_DENIED');

    // Dave may: his ack settles the delivery and removes its session, in one GroupAck.
    for (const seen of kinds.values()) seen.length = 0;
    const { id: first } = await admin.schedule('jobs', 'first', { replay: '200ms' });
    const daveGot: GroupMessage[] = [];
    const daveAnswers: string[] = [];
    const dave = await client('dave', 'dave password 1').consume('jobs', 'workers', (m) => void daveGot.push(m), {
      consumer: 'dave',
      removeOnAck: true,
      onAnswer: (m, _ack, outcome) => daveAnswers.push(`${m.session}:${outcome instanceof ClientError ? outcome.code : outcome.code}`),
    });
    await waitFor("dave's ack of the first session answered", () => daveAnswers.length === 1, SETTLE_MS);
    expect(daveGot.map((m) => m.session)).to.deep.equal([first]);
    expect(daveAnswers).to.deep.equal([`${first}:OK`]);
    expect(await admin.get(first), 'the acked session is removed').to.equal(null);
    await waitFor(
      'the removing ack applied on every node',
      () => suite.cluster.hosts.every((h) => h.node.store.getSession(Buffer.from(first, 'hex')) === null),
      SETTLE_MS,
    );
    for (const [node, seen] of kinds) {
      expect(seen, node).to.include('GroupAck');
      expect(seen, `${node}: no SessionDestroy, the ack removed the session`).to.not.include('SessionDestroy');
    }

    // Write revoked while dave consumes: his next ack is refused at the port, the session stays
    // active and the delivery in flight (it comes back after ackWaitMs, to be dead-lettered in the end).
    await admin.revokePermission('worker', 'write:jobs');
    await waitFor('the revoke on every node', () => suite.cluster.hosts.every((h) => !h.node.store.access.allows('dave', 'write', 'jobs', '')), 10_000);
    const acksBefore = [...kinds.values()].map((seen) => seen.filter((k) => k === 'GroupAck').length);
    const { id: second } = await admin.schedule('jobs', 'second', { replay: '200ms' });
    await waitFor("dave's ack of the second session answered", () => daveAnswers.length === 2, SETTLE_MS);
    expect(daveAnswers[1]).to.equal(`${second}:CLIENT_ERR_PERMISSION_DENIED`);
    // Refused at the port: no GroupAck reached the log (the mutation audit of 2026-12-07 found this
    // unchecked; the apply-time check would refuse it too, but only after an entry, applied on the
    // leader before its answer). Every node had applied the first ack above, so the counts are settled.
    expect([...kinds.values()].map((seen) => seen.filter((k) => k === 'GroupAck').length)).to.deep.equal(acksBefore);
    expect(await admin.get(second), 'the session is still active').to.not.equal(null);
    const g = (await admin.groups()).find((x) => x.topic === 'jobs' && x.name === 'workers')!;
    expect(g).to.include({ inFlight: 1 });
    await dave.close();
  });
});
