/**
 * The bootstrap administrator's password file (2026-12-07, a review of passwords at the edges).
 * The docs, `--password-file` and the CLI's own reading say "its first line", but the node took the
 * whole file less one trailing newline: a file with a blank line after the password (an editor's),
 * or a second line, made a password with a newline in it, which no CLI login (first line) and no
 * terminal prompt could give. One in-process node with --auth on 127.0.0.1.
 */
import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '../../transport/client/client.js';
import { removeDir, startInProcessCluster, tempDir, waitFor, type InProcessCluster } from './helpers.js';

describe('node: the bootstrap password is the first line of its file (2026-12-07)', function () {
  this.timeout(30_000);
  let cluster: InProcessCluster | undefined;
  let dir = '';
  after(async () => {
    await cluster?.stop();
    if (dir !== '') removeDir(dir);
  });

  it('a file with a blank line and a comment after the password: the admin logs in with the first line', async function () {
    dir = tempDir('bootstrap-password');
    const file = join(dir, 'admin-password');
    writeFileSync(file, 'first line secret\r\n\r\n# written by hand\n', { mode: 0o600 });
    cluster = await startInProcessCluster(1, { auth: true, bootstrapAdminPasswordFile: file });
    const host = cluster.hosts[0]!;
    await waitFor('the bootstrap administrator', () => host.node.store.access.user('admin')?.roles.includes('admin') === true, 20_000);
    const admin = createClient({
      endpoints: [host.clientEndpoint()],
      operationTimeoutMs: 5000,
      ignoreEnvironment: true,
      user: 'admin',
      password: 'first line secret',
    });
    try {
      // Before the fix: CLIENT_ERR_AUTH_FAILED (the stored password ended with "\r\n\r\n# written by hand").
      const users = await admin.users();
      expect(users.map((u) => u.user)).to.deep.equal(['admin']);
    } finally {
      await admin.close();
    }
  });
});
