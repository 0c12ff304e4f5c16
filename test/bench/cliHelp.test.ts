/**
 * `npm run bench -- --help` prints the suites and their main options and runs nothing. Before, an
 * unknown flag was ignored and `--help` started every suite in turn (about 20 minutes, with node
 * processes and a data directory).
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const cliPath = resolve(dirname(fileURLToPath(import.meta.url)), 'cli.js');
/** Printing a page takes well under a second; 20 s covers a loaded machine. The child is killed by pid after it. */
const HELP_TIMEOUT_MS = 20_000;

function run(args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), HELP_TIMEOUT_MS);
    child.once('error', rej);
    child.once('exit', (code) => {
      clearTimeout(timer);
      res({ code, out });
    });
  });
}

describe('bench: --help', function () {
  this.timeout(HELP_TIMEOUT_MS + 5_000);

  for (const flag of ['--help', '-h']) {
    it(`${flag} prints every suite and runs none`, async () => {
      const cwd = mkdtempSync(join(tmpdir(), 'sessionraft-bench-help-'));
      try {
        const { code, out } = await run([flag], cwd);
        expect(code).to.equal(0);
        expect(out).to.match(/^usage: npm run bench/);
        for (const suite of ['storage', 'transport', 'cluster', 'apply', 'delayed', 'scheduled', 'groups', 'machine']) {
          expect(out, `the page names ${suite}`).to.match(new RegExp(`^  ${suite} `, 'm'));
        }
        expect(out, 'no suite ran').to.not.include('== ');
        expect(existsSync(join(cwd, 'bench-results')), 'no results directory: nothing ran').to.equal(false);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    });
  }
});
