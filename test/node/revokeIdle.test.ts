/**
 * A revoked permission ends an idle subscription or consumer at once (a review, 2026-12-07): the
 * client port checked a subscription's permission again only at its next delivery, so one on a
 * quiet topic went on for as long as nothing was delivered to it. Now the port sweeps every
 * subscription and consumer once the auth table changed. In-process node on 127.0.0.1.
 */
import { expect } from 'chai';
import { ClientError } from '../../transport/client/errors.js';
import { useAuthCluster, waitFor } from './helpers.js';

const ADMIN_PASSWORD = 'revoke idle admin password';
/** An election, logins (scrypt) and a few commit rounds; 10 s covers a loaded machine. */
const SETTLE_MS = 10_000;

describe('node: a revoked permission ends idle subscriptions and consumers (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useAuthCluster(1, 'revoke-idle', ADMIN_PASSWORD);

  it('with nothing delivered, the subscription and the consumer end PERMISSION_DENIED once the role is revoked', async () => {
    const admin = suite.client('admin', ADMIN_PASSWORD);
    await admin.addRole('quiet-r');
    await admin.grantPermission('quiet-r', 'read:quiet/');
    await admin.grantPermission('quiet-r', 'consume:quiet/');
    await admin.addUser('reader', 'reader password');
    await admin.grantRole('reader', 'quiet-r');
    await admin.createGroup('quiet/a', 'g');
    const reader = suite.client('reader', 'reader password');
    const errors: string[] = [];
    const onError =
      (who: string) =>
      (err: ClientError): void =>
        void errors.push(`${who} ${err.code}`);
    const sub = await reader.subscribe('quiet/a', () => undefined, { onError: onError('subscription') });
    const consumer = await reader.consume('quiet/a', 'g', () => undefined, { onError: onError('consumer') });
    expect(sub.closed).to.equal(false);
    await admin.revokeRole('reader', 'quiet-r');
    // Nothing is scheduled on the topic: only the sweep can end them.
    await waitFor('the idle subscription and consumer ended by the node', () => sub.closed && consumer.closed, SETTLE_MS);
    // Each told once: the consumer does not try to attach again (it would be refused the same way).
    expect(errors.sort()).to.deep.equal(['consumer CLIENT_ERR_PERMISSION_DENIED', 'subscription CLIENT_ERR_PERMISSION_DENIED']);
  });
});
