/**
 * The CLI as a user meets it (review of 2026-12-07), without a cluster: the CLI runs as
 * `node dist/bin/sessionraft.js` in a pipe (stderr not a terminal), with no SESSIONRAFT_* variable
 * of the environment the tests run in and endpoints on closed ports.
 *
 *   - usage errors (a missing or extra argument, an unknown option or command, a refused option
 *     value, no command) exit 2 with a JSON error on stderr (they exited 1 with commander's text)
 *   - a subcommand's --help lists the options of the commands above it
 *   - an endpoint's port out of 1..65535 is a bad argument (it was CLIENT_ERR_INTERNAL, exit 1)
 *   - `client status` with no endpoint answering exits 1 (it exited 0)
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { createClient } from '../../transport/client/client.js';
import { ClientError } from '../../transport/client/errors.js';
import { binPath, freePorts, removeDir, tempDir } from './helpers.js';

/** A CLI process starts in about a second; 15 s bounds a loaded machine. */
const CLI_MS = 15_000;

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** `sessionraft <args>` in `cwd` (no ./data there), its standard input empty, without SESSIONRAFT_* variables. */
function cli(args: string[], cwd: string): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSIONRAFT_')) env[k] = v;
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [binPath, ...args], { timeout: CLI_MS, cwd, env }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? -1), stdout, stderr }),
    );
    child.stdin!.end();
  });
}

/** The JSON error on stderr: the whole of it, one line. */
function jsonError(r: CliResult): { error: string; message: string } {
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).to.have.length(1);
  return JSON.parse(lines[0]!) as { error: string; message: string };
}

describe('node: CLI usage, endpoints and exit codes (review 2026-12-07)', function () {
  this.timeout(120_000);
  let dir = '';
  let closed: number[] = [];

  before(async function () {
    dir = tempDir('cli-usage');
    // Free a moment ago; nothing in this test listens on them.
    closed = await freePorts(2);
  });

  after(function () {
    if (dir !== '') removeDir(dir);
  });

  it('usage errors exit 2 with CLIENT_ERR_BAD_ARGUMENT as JSON on stderr, naming the fault (they exited 1 with text)', async function () {
    const cases: [string[], RegExp][] = [
      [['client', 'create'], /missing required argument 'topic'/],
      [['client', 'create', 'a', 'b'], /too many arguments/],
      [['client', '--bogus', 'status'], /unknown option '--bogus'/],
      [['member', 'list', '--bogus'], /unknown option '--bogus'/],
      [['bogus'], /unknown command 'bogus'/],
      [['client', '--timeout-ms', 'abc', 'status'], /--timeout-ms must be a non-negative integer/],
      [['client', '-o', 'yaml', 'status'], /Allowed choices are table, json/],
      [['role', 'grant', 'r'], /missing required argument 'permission'/],
      [['user'], /give a command/],
    ];
    for (const [args, message] of cases) {
      const r = await cli(args, dir);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
      const e = jsonError(r);
      expect(e.error, args.join(' ')).to.equal('CLIENT_ERR_BAD_ARGUMENT');
      expect(e.message, args.join(' ')).to.match(message);
      expect(r.stdout, args.join(' ')).to.equal('');
    }
  });

  it('a usage error of `node` exits 2 with CONFIG_ERR, as its other configuration errors; --help and --version exit 0', async function () {
    const r = await cli(['node', '--tick-ms', 'x'], dir);
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr.trim()).to.match(/^CONFIG_ERR: .*--tick-ms must be a non-negative integer$/);
    expect((await cli(['--version'], dir)).code).to.equal(0);
    const help = await cli(['client', 'create', '--help'], dir);
    expect(help.code, help.stderr).to.equal(0);
    // The options that `client create` takes from `client` (they were not listed).
    expect(help.stdout).to.include('--endpoints <list>').and.include('--timeout-ms <ms>').and.include('--ca-file <file>');
  });

  it('an endpoint port out of 1..65535 is a bad argument, exit 2 at once (it was CLIENT_ERR_INTERNAL, or a wait for the deadline)', async function () {
    for (const ep of ['127.0.0.1:99999', '127.0.0.1:65536', '127.0.0.1:0', '[::1:7101']) {
      const r = await cli(['client', '--endpoints', ep, 'create', 't'], dir);
      expect(r.code, `${ep}: ${r.stderr}`).to.equal(2);
      const e = jsonError(r);
      expect(e.error, ep).to.equal('CLIENT_ERR_BAD_ARGUMENT');
      expect(e.message, ep).to.include(JSON.stringify(ep));
    }
    // The library refuses it when the client is made.
    expect(() => createClient({ endpoints: ['127.0.0.1:70000'], ignoreEnvironment: true }))
      .to.throw(ClientError)
      .with.property('code', 'CLIENT_ERR_BAD_ARGUMENT');
  });

  it('`client status` exits 1 when no endpoint answered, its rows printed; a closed port fails within the deadline', async function () {
    const endpoints = closed.map((p) => `127.0.0.1:${p}`);
    const r = await cli(['client', '--endpoints', endpoints.join(','), '--timeout-ms', '1000', 'status'], dir);
    expect(r.code, r.stderr).to.equal(1);
    const e = jsonError(r);
    expect(e.error).to.equal('CLIENT_ERR_UNREACHABLE');
    expect(e.message).to.include(endpoints[0]).and.include(endpoints[1]);
    const rows = JSON.parse(r.stdout) as Record<string, { error: string }>;
    expect(Object.keys(rows).sort()).to.deep.equal([...endpoints].sort());
    for (const ep of endpoints) expect(rows[ep]!.error).to.equal('CLIENT_ERR_UNREACHABLE');
    // An operation on a closed port: the same code, exit 1, within the deadline (execFile's timeout bounds it).
    const create = await cli(['client', '--endpoints', endpoints[0]!, '--timeout-ms', '1000', 'create', 't'], dir);
    expect(create.code, create.stderr).to.equal(1);
    expect(jsonError(create).error).to.equal('CLIENT_ERR_UNREACHABLE');
  });
});
