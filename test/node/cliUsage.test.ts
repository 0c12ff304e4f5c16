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
 *   - numbers are decimal digits (1e3, 0x10 and '' were taken); `group-create --ack-wait 0` and the
 *     other group limits of 0 are refused (0 meant the default on the wire: 30 s, with no word)
 *   - `cluster --size 0` or ports past 65535 exit 2 before anything is written or spawned
 *   - `cluster` on other ports than the default tells the CLI's endpoints (it said the defaults work)
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '../../transport/client/client.js';
import { ClientError } from '../../transport/client/errors.js';
import { binPath, freeClusterBasePort, freePorts, removeDir, tempDir } from './helpers.js';

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
    // It exited 1 with listen()'s RangeError.
    const inspector = await cli(['inspector', '--port', '99999', '--no-open'], dir);
    expect(inspector.code, inspector.stderr).to.equal(2);
    expect(inspector.stderr.trim()).to.match(/^CONFIG_ERR: .*--port is a port, 1 to 65535$/);
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
    // Pinned to one endpoint, the message names that one (it named the --endpoints list).
    const peek = await cli(
      ['client', '--endpoints', endpoints[0]!, '--timeout-ms', '1000', 'peek', '00000000000000010000000000000003', '--endpoint', endpoints[1]!],
      dir,
    );
    expect(peek.code, peek.stderr).to.equal(1);
    expect(jsonError(peek).message).to.include(`none of ${endpoints[1]!} accepted`);
    // An operation on a closed port: the same code, exit 1, within the deadline (execFile's timeout bounds it).
    const create = await cli(['client', '--endpoints', endpoints[0]!, '--timeout-ms', '1000', 'create', 't'], dir);
    expect(create.code, create.stderr).to.equal(1);
    expect(jsonError(create).error).to.equal('CLIENT_ERR_UNREACHABLE');
  });

  it('numbers are decimal digits; group limits of 0 are refused, not read as the defaults', async function () {
    const closedEp = `127.0.0.1:${closed[0]!}`;
    for (const [args, message] of [
      [['client', '--endpoints', closedEp, '--timeout-ms', '1e3', 'create', 't'], /--timeout-ms/],
      [['client', '--endpoints', closedEp, '--timeout-ms', '', 'create', 't'], /--timeout-ms/],
      [['member', '--endpoints', closedEp, 'promote', 'n4', '--lag-max', '0x10'], /--lag-max/],
      [['client', '--endpoints', closedEp, 'group-create', 'orders', 'g', '--ack-wait', '0'], /--ack-wait is a whole number of at least 1/],
      [['client', '--endpoints', closedEp, 'group-create', 'orders', 'g', '--max-deliveries', '0'], /--max-deliveries/],
      [['client', '--endpoints', closedEp, 'group-create', 'orders', 'g', '--max-ack-pending', '0'], /--max-ack-pending/],
    ] as [string[], RegExp][]) {
      const r = await cli(args, dir);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
      const e = jsonError(r);
      expect(e.error, args.join(' ')).to.equal('CLIENT_ERR_BAD_ARGUMENT');
      expect(e.message, args.join(' ')).to.match(message);
    }
    // The library refuses an explicit 0 before sending anything (no cluster is needed to see it).
    const c = createClient({ endpoints: [closedEp], ignoreEnvironment: true, operationTimeoutMs: 1000 });
    try {
      for (const opts of [{ ackWaitMs: 0 }, { maxDeliveries: 0 }, { maxAckPending: 1.5 }]) {
        const err = await c.createGroup('orders', 'g', opts).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err, JSON.stringify(opts)).to.be.instanceOf(ClientError);
        expect((err as ClientError).code, JSON.stringify(opts)).to.equal('CLIENT_ERR_BAD_ARGUMENT');
      }
    } finally {
      await c.close();
    }
  });

  it('`cluster --size 0` and ports past 65535 exit 2 with CONFIG_ERR, nothing written (they made ./data, spawned, exited 1)', async function () {
    for (const [args, message] of [
      [['cluster', '--size', '0', '--once'], /--size is 1 to 99/],
      [['cluster', '--base-port', '70000', '--once'], /--base-port is 1 to 65332/],
      [['cluster', '--base-port', '65400', '--once'], /--base-port/],
    ] as [string[], RegExp][]) {
      const cwd = join(dir, `cluster-${args.join('-')}`);
      mkdirSync(cwd);
      const r = await cli(args, cwd);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
      expect(r.stderr.trim(), args.join(' '))
        .to.match(/^CONFIG_ERR: /)
        .and.match(message);
      expect(existsSync(join(cwd, 'data')), args.join(' ')).to.equal(false);
    }
  });

  it('`cluster --once` on other ports tells the endpoints to give the CLI (it said the defaults find the cluster)', async function () {
    const base = await freeClusterBasePort();
    const cwd = join(dir, 'cluster-once');
    mkdirSync(cwd);
    // Three node processes, one election, then a stop: 60 s bounds a loaded 2-core box (about 3 s idle).
    const r = await new Promise<CliResult>((resolve) => {
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('SESSIONRAFT_')) env[k] = v;
      execFile(process.execPath, [binPath, 'cluster', '--once', '--base-port', String(base)], { timeout: 60_000, cwd, env }, (err, stdout, stderr) =>
        resolve({ code: err === null ? 0 : Number((err as { code?: number }).code ?? -1), stdout, stderr }),
      );
    });
    expect(r.code, r.stderr).to.equal(0);
    const endpoints = [1, 2, 3].map((k) => `127.0.0.1:${base + 100 + k}`).join(',');
    expect(r.stdout).to.not.include('finds both in ./data by default');
    expect(r.stdout).to.include(`SESSIONRAFT_ENDPOINTS=${endpoints} SESSIONRAFT_USER=admin`);
    expect(r.stdout).to.include(`client --endpoints ${endpoints} create orders`);
  });
});
