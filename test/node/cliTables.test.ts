/**
 * `-o table` (and a terminal) on the lists that advertise it (review of 2026-12-07): `user list`,
 * `role list`, `client feature`, `client groups`, `client pending`, `client dead` printed JSON
 * whatever `--output` said. Against a one-node in-process cluster without logins; the CLI runs as
 * `node dist/bin/sessionraft.js`, in a pipe, without SESSIONRAFT_* variables.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { binPath, removeDir, startInProcessCluster, tempDir, type InProcessCluster } from './helpers.js';

/** A CLI process starts in about a second; 15 s bounds a loaded machine. */
const CLI_MS = 15_000;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('node: CLI tables of the lists (review 2026-12-07)', function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;
  let dir = '';

  const cli = (args: string[]): Promise<CliResult> => {
    const env: NodeJS.ProcessEnv = { NO_COLOR: '1' };
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSIONRAFT_')) env[k] = v;
    return new Promise((resolve) => {
      const child = execFile(
        process.execPath,
        [binPath, ...args],
        { timeout: CLI_MS, cwd: dir, env: { ...env, SESSIONRAFT_ENDPOINTS: cluster.endpoints().join(',') } },
        (err, stdout, stderr) => resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? -1), stdout, stderr }),
      );
      child.stdin!.end();
    });
  };

  before(async function () {
    dir = tempDir('cli-tables');
    cluster = await startInProcessCluster(1);
  });

  after(async function () {
    await cluster?.stop();
    if (dir !== '') removeDir(dir);
  });

  it('`-o table` prints a table; without it, in a pipe, the JSON as before', async function () {
    expect((await cli(['client', 'group-create', 'orders', 'billing', '--ack-wait', '5000'])).code).to.equal(0);
    const cases: [string[], RegExp][] = [
      [['role', 'list', '-o', 'table'], /\| ROLE +\| BUILTIN +\| PERMISSIONS +\|\n.*\n\| admin +\| true +\| admin +\|/],
      [['client', '-o', 'table', 'feature'], /\| FEATURE +\| ENABLED +\|[^]*\| restore-ahead +\| true +\|/],
      [['client', 'feature', 'list', '-o', 'table'], /\| FEATURE +\| ENABLED +\|/],
      [['client', '-o', 'table', 'groups'], /\| TOPIC +\| NAME +\| READY +\| IN FLIGHT +\|[^]*\| orders +\| billing +\| 0 +\| 0 +\| .*\| 5000 +\|/],
      [['client', '-o', 'table', 'pending', 'orders'], /\| TOPIC +\| NAME +\| READY +\| READY NOW +\|[^]*\| orders +\| billing +\|/],
      [['client', '-o', 'table', 'dead', 'orders', 'billing'], /^\(none\)$/],
      [['user', 'list', '-o', 'table'], /^\(none\)$/],
    ];
    for (const [args, table] of cases) {
      const r = await cli(args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(0);
      expect(r.stdout.trim(), args.join(' ')).to.match(table);
    }
    const json = await cli(['role', 'list']);
    expect(json.code, json.stderr).to.equal(0);
    expect(JSON.parse(json.stdout)).to.deep.equal([{ role: 'admin', builtin: true, permissions: ['admin'] }]);
    const groups = await cli(['client', 'groups']);
    expect((JSON.parse(groups.stdout) as { name: string; ackWaitMs: number }[]).map((g) => [g.name, g.ackWaitMs])).to.deep.equal([['billing', 5000]]);
  });
});
