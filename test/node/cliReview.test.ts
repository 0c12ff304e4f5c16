/**
 * CLI faults a review found (2026-12-07), each against a one-node in-process cluster with TLS on the
 * client and admin ports (certificates made with openssl at test time) and logins (--auth), as
 * `npm start`'s cluster has; the CLI runs as `node dist/bin/sessionraft.js` with no SESSIONRAFT_*
 * variable of the environment the tests run in:
 *
 *   - `client topics` reaches the admin port over HTTPS with the CLI's CA and login; failures are typed
 *   - the listing counts consumer groups (topics.json and the table), per group and per replay class
 *   - `--limit` and `--count` take decimal digits, at least 1 (0 and '' listed every session)
 *   - `user add` refuses an empty password from standard input or a file (it made a user without one),
 *     and one ending with a space or tab (a credentials file drops those, so it could never log in)
 *   - `client subscribe` and `client consume` end (exit 1) once the node ended them for good
 *   - a missing --ca-file or --password-file is a bad argument (exit 2); SESSIONRAFT_CA_FILE='' is unset
 */
import { expect } from 'chai';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { topicsListing } from '../../bin/listings.js';
import { topicsTables } from '../../bin/output.js';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import { ClientError } from '../../transport/client/errors.js';
import { Pki } from '../support/pki.js';
import { binPath, removeDir, startAuthCluster, tempDir, waitFor, type InProcessCluster } from './helpers.js';

const ADMIN_PASSWORD = 'review-admin-pw';
/** A CLI process starts in about a second; 15 s bounds a loaded machine. */
const CLI_MS = 15_000;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment the tests run in without its SESSIONRAFT_* variables, plus `env`. */
function cliEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSIONRAFT_')) out[k] = v;
  return { ...out, ...env };
}

/** The JSON error the CLI printed on stderr (its last line). */
function errorOf(r: CliResult): { error?: string; message?: string } {
  const last = r.stderr.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as { error?: string; message?: string };
  } catch {
    return { message: r.stderr };
  }
}

async function codeOf(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (err) {
    expect(err, String(err)).to.be.instanceOf(ClientError);
    return { code: (err as ClientError).code, message: (err as Error).message };
  }
  expect.fail('expected a ClientError');
}

describe('node: CLI review faults (2026-12-07) on a cluster with TLS and logins', function () {
  this.timeout(60_000);
  const pki = new Pki('sessionraft-cli-review-');
  let dir = '';
  let cluster: InProcessCluster;
  const clients: SessionraftClient[] = [];
  const client = (user = 'admin', password = ADMIN_PASSWORD): SessionraftClient => {
    const c = createClient({
      endpoints: cluster.endpoints(),
      tls: { ca: pki.read('ca.crt') },
      user,
      password,
      ignoreEnvironment: true,
      operationTimeoutMs: 5000,
    });
    clients.push(c);
    return c;
  };
  /** `sessionraft <args>` logged in as admin with the CA by default; standard input empty. */
  const cli = (args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> =>
    new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [binPath, ...args],
        {
          timeout: CLI_MS,
          cwd: dir,
          env: cliEnv({
            SESSIONRAFT_ENDPOINTS: cluster.endpoints().join(','),
            SESSIONRAFT_CA_FILE: pki.path('ca.crt'),
            SESSIONRAFT_USER: 'admin',
            SESSIONRAFT_PASSWORD: ADMIN_PASSWORD,
            ...env,
          }),
        },
        (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? -1), stdout, stderr }),
      );
      child.stdin!.end();
    });

  before(async function () {
    pki.ca('ca');
    pki.leaf('server', 'node-1', 'ca', 'keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost');
    dir = tempDir('cli-review');
    cluster = await startAuthCluster(1, dir, ADMIN_PASSWORD, { clientTls: { certFile: pki.path('server.crt'), keyFile: pki.path('server.key') } });
    const admin = client();
    await admin.addRole('reader');
    await admin.grantPermission('reader', 'read:sub');
    await admin.addUser('rd', 'reader-pw-1');
    await admin.grantRole('rd', 'reader');
  });

  after(async function () {
    for (const c of clients) await c.close();
    await cluster?.stop();
    if (dir !== '') removeDir(dir);
    pki.remove();
  });

  describe('client topics', function () {
    it('reads the leader’s listing over HTTPS with the CLI’s CA and login (it got HTTP 426, reported as CLIENT_ERR_INTERNAL)', async function () {
      await client().createSession('listed');
      const r = await cli(['client', '-o', 'json', 'topics']);
      expect(r.code, r.stderr).to.equal(0);
      const v = JSON.parse(r.stdout) as { node: string; topics: { topic: string }[]; replayClasses: unknown[] };
      expect(v.node).to.equal('n1');
      expect(v.topics.map((t) => t.topic)).to.include('listed');
      expect(v.replayClasses).to.have.length(2);
    });

    it('typed failures: plain HTTP to the TLS port, no login, a wrong password, a user without monitor', async function () {
      const c = client();
      const ca = pki.read('ca.crt');
      const plain = await codeOf(topicsListing(c, 5000, { tls: null, credentials: { user: 'admin', password: ADMIN_PASSWORD } }));
      expect(plain.code).to.equal('CLIENT_ERR_TLS');
      expect(plain.message)
        .to.match(/HTTP 426/)
        .and.match(/--ca-file/);
      expect((await codeOf(topicsListing(c, 5000, { tls: { ca }, credentials: null }))).code).to.equal('CLIENT_ERR_AUTH_REQUIRED');
      const wrong = await codeOf(topicsListing(c, 5000, { tls: { ca }, credentials: { user: 'admin', password: 'not-the-password' } }));
      expect(wrong.code).to.equal('CLIENT_ERR_AUTH_FAILED');
      const reader = await codeOf(topicsListing(c, 5000, { tls: { ca }, credentials: { user: 'rd', password: 'reader-pw-1' } }));
      expect(reader.code).to.equal('CLIENT_ERR_PERMISSION_DENIED');
      pki.ca('other-ca');
      const untrusted = await codeOf(topicsListing(c, 5000, { tls: { ca: pki.read('other-ca.crt') }, credentials: null }));
      expect(untrusted.code).to.equal('CLIENT_ERR_TLS');
    });

    it('lists consumer groups, and per replay class the records they redelivered and dead-lettered (it said none)', async function () {
      const c = client();
      // Group "dead": one delivery allowed, the handler fails: a dead letter. Group "again": the first
      // delivery fails, the second is held unacknowledged: redelivered and in flight.
      await c.createGroup('grp', 'dead', { maxDeliveries: 1 });
      await c.createGroup('grp', 'again', { ackWaitMs: 60_000 });
      let release: () => void = () => undefined;
      const held = new Promise<void>((r) => (release = r));
      const dead = await client().consume('grp', 'dead', () => {
        throw new Error('fails');
      });
      const again = await client().consume('grp', 'again', (m) => {
        if (m.delivery === 1) throw new Error('fails once');
        return held;
      });
      try {
        await c.schedule('grp', 'x', { replay: 0 });
        const ca = pki.read('ca.crt');
        type Listing = {
          consumerGroups: Record<string, unknown>[];
          replayClasses: { replayClass: number; redelivered: number | null; deadLettered: number | null }[];
        };
        // The session comes back after 200 ms (class 0); the listing is reused for 2 s: 10 s bounds a slow machine.
        const v = await waitFor(
          'the groups settled in the listing',
          async () => {
            const l = (await topicsListing(c, 5000, { tls: { ca }, credentials: { user: 'admin', password: ADMIN_PASSWORD } })) as Listing;
            const byName = (n: string): Record<string, unknown> | undefined => l.consumerGroups.find((g) => g.name === n);
            return byName('dead')?.deadLetters === 1 && byName('again')?.redelivered === 1 ? l : null;
          },
          10_000,
        );
        expect(v.consumerGroups).to.deep.equal([
          { topic: 'grp', name: 'again', ready: 0, inFlight: 1, redelivered: 1, deadLettered: 0, deadLetters: 0 },
          { topic: 'grp', name: 'dead', ready: 0, inFlight: 0, redelivered: 0, deadLettered: 1, deadLetters: 1 },
        ]);
        expect(v.replayClasses[0]).to.include({ replayClass: 0, redelivered: 1, deadLettered: 1 });
        expect(v.replayClasses[1]).to.include({ replayClass: 1, redelivered: 0, deadLettered: 0 });
        const table = topicsTables(v as never, false);
        expect(table).to.not.include('not in this version');
        expect(table).to.match(/\| grp +\| again +\| 0 +\| 1 +\| 1 +\| 0 +\| 0 +\|/);
        const r = await cli(['client', '-o', 'table', 'topics'], { NO_COLOR: '1' });
        expect(r.code, r.stderr).to.equal(0);
        expect(r.stdout)
          .to.include('| DEAD LETTERS')
          .and.match(/\| grp +\| dead +\|/);
      } finally {
        release();
        await again.close();
        await dead.close();
      }
    });
  });

  describe('bad arguments: exit 2 with CLIENT_ERR_BAD_ARGUMENT', function () {
    it('--limit and --count take decimal digits and at least 1 (--limit 0 and --limit "" listed every session)', async function () {
      const c = client();
      await c.createSession('lim');
      await c.createSession('lim');
      for (const bad of ['0', '', '1e3', '0x10', ' 5 ', '-1']) {
        const r = await cli(['client', '-o', 'json', 'list', 'lim', '--limit', bad]);
        expect(r.code, `--limit ${JSON.stringify(bad)}: ${r.stdout}${r.stderr}`).to.equal(2);
        expect(errorOf(r).error).to.equal('CLIENT_ERR_BAD_ARGUMENT');
      }
      const one = await cli(['client', '-o', 'json', 'list', 'lim', '--limit', '1']);
      expect(one.code, one.stderr).to.equal(0);
      expect((JSON.parse(one.stdout) as { sessions: unknown[] }).sessions).to.have.length(1);
      for (const cmd of [
        ['subscribe', 'lim'],
        ['consume', 'lim', '--group', 'g'],
      ]) {
        const r = await cli(['client', ...cmd, '--count', '0']);
        expect(r.code, `${cmd[0]} --count 0: ${r.stderr}`).to.equal(2);
        expect(errorOf(r).error).to.equal('CLIENT_ERR_BAD_ARGUMENT');
      }
    });

    it('user add refuses an empty password from standard input or a file (it made a user without a password); --no-password makes one', async function () {
      const fromStdin = await cli(['user', 'add', 'nopw1']);
      expect(fromStdin.code, fromStdin.stdout + fromStdin.stderr).to.equal(2);
      expect(errorOf(fromStdin)).to.include({ error: 'CLIENT_ERR_BAD_ARGUMENT' });
      expect(errorOf(fromStdin).message).to.match(/empty/);
      writeFileSync(join(dir, 'empty-pw'), '\n');
      const fromFile = await cli(['user', 'add', 'nopw2', '--password-file', join(dir, 'empty-pw')]);
      expect(fromFile.code, fromFile.stderr).to.equal(2);
      expect(errorOf(fromFile).error).to.equal('CLIENT_ERR_BAD_ARGUMENT');
      const passwd = await cli(['user', 'passwd', 'rd']);
      expect(passwd.code, passwd.stderr).to.equal(2);
      // Trailing spaces: a credentials file drops them, so such a password could never log in from one.
      writeFileSync(join(dir, 'spaced-pw'), 'pass word \n');
      const spaced = await cli(['user', 'add', 'nopw3', '--password-file', join(dir, 'spaced-pw')]);
      expect(spaced.code, spaced.stderr).to.equal(2);
      expect(errorOf(spaced)).to.include({ error: 'CLIENT_ERR_BAD_ARGUMENT' });
      expect(errorOf(spaced).message).to.match(/ends with a space/);
      const users = (await client().users()).map((u) => u.user);
      expect(users).to.not.include('nopw1').and.not.include('nopw2').and.not.include('nopw3');
      const certOnly = await cli(['user', 'add', 'certonly', '--no-password']);
      expect(certOnly.code, certOnly.stderr).to.equal(0);
      expect((await client().users()).find((u) => u.user === 'certonly')).to.include({ password: false });
    });

    it('a missing --ca-file or --password-file is a bad argument (was CLIENT_ERR_INTERNAL, exit 1); SESSIONRAFT_CA_FILE="" is unset', async function () {
      const ca = await cli(['client', 'status', '--ca-file', join(dir, 'no-such-ca.crt')]);
      expect(ca.code, ca.stderr).to.equal(2);
      expect(errorOf(ca)).to.include({ error: 'CLIENT_ERR_BAD_ARGUMENT' });
      expect(errorOf(ca).message).to.include('no-such-ca.crt');
      const pw = await cli(['user', 'add', 'nofile', '--password-file', join(dir, 'no-such-password')]);
      expect(pw.code, pw.stderr).to.equal(2);
      expect(errorOf(pw).error).to.equal('CLIENT_ERR_BAD_ARGUMENT');
      // '' is no CA: the client speaks plain ws to the TLS port and is told to use TLS.
      const empty = await cli(['client', 'get', '0'.repeat(32)], { SESSIONRAFT_CA_FILE: '' });
      expect(empty.code, empty.stderr).to.equal(1);
      expect(errorOf(empty).error).to.equal('CLIENT_ERR_TLS');
    });
  });

  describe('subscribe and consume end once the node ended them for good', function () {
    /** A long-running CLI process, its stderr collected; killed by pid if still running at the end. */
    const running = (args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string; exited: Promise<number | null> } => {
      const child = spawn(process.execPath, [binPath, ...args], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: cliEnv({ SESSIONRAFT_ENDPOINTS: cluster.endpoints().join(','), SESSIONRAFT_CA_FILE: pki.path('ca.crt'), ...env }),
      });
      let err = '';
      child.stderr!.on('data', (b: Buffer) => (err += b.toString('utf8')));
      child.stdout!.resume();
      const exited = new Promise<number | null>((r) => child.once('close', (code) => r(code)));
      return { child, stderr: () => err, exited };
    };
    const stop = async (p: { child: ChildProcess; exited: Promise<number | null> }): Promise<void> => {
      if (p.child.exitCode === null && p.child.signalCode === null) {
        process.kill(p.child.pid!, 'SIGKILL');
        await p.exited;
      }
    };

    /** The command ends by itself (10 s bounds a slow machine), exit 1, its last stderr line the node's PERMISSION_DENIED. */
    const expectEndsDenied = async (p: { child: ChildProcess; stderr: () => string; exited: Promise<number | null> }): Promise<void> => {
      await waitFor('the command to end', () => p.child.exitCode !== null || p.child.signalCode !== null, 10_000).catch((err: Error) => {
        throw new Error(`${err.message}; its stderr: ${p.stderr()}`);
      });
      const code = await p.exited;
      expect(code, p.stderr()).to.equal(1);
      const last = JSON.parse(p.stderr().trim().split('\n').pop()!) as { error: string };
      expect(last.error).to.equal('CLIENT_ERR_PERMISSION_DENIED');
    };

    it('client subscribe exits 1 with the node’s code when its permission is revoked (it kept running)', async function () {
      const admin = client();
      await admin.addRole('subrole');
      await admin.grantPermission('subrole', 'read:subgone');
      await admin.addUser('subber', 'subber-pw-1');
      await admin.grantRole('subber', 'subrole');
      const p = running(['client', 'subscribe', 'subgone'], { SESSIONRAFT_USER: 'subber', SESSIONRAFT_PASSWORD: 'subber-pw-1' });
      try {
        await waitFor('the subscription', () => p.stderr().includes('"subscribed"'), CLI_MS);
        await admin.revokePermission('subrole', 'read:subgone');
        // The node ends the subscription within 250 ms of applying the revoke, nothing delivered.
        await expectEndsDenied(p);
      } finally {
        await stop(p);
      }
    });

    it('client consume exits 1 with the node’s code when its permission is revoked (it kept running)', async function () {
      const admin = client();
      await admin.createGroup('congone', 'g');
      await admin.addRole('conrole');
      await admin.grantPermission('conrole', 'consume:congone');
      await admin.addUser('conner', 'conner-pw-1');
      await admin.grantRole('conner', 'conrole');
      const p = running(['client', 'consume', 'congone', '--group', 'g'], { SESSIONRAFT_USER: 'conner', SESSIONRAFT_PASSWORD: 'conner-pw-1' });
      try {
        await waitFor('the consumer', () => p.stderr().includes('"consuming"'), CLI_MS);
        await admin.revokePermission('conrole', 'consume:congone');
        // The node ends the consumer within 250 ms of applying the revoke; the library ends it for good.
        await expectEndsDenied(p);
      } finally {
        await stop(p);
      }
    });
  });
});
