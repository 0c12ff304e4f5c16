/**
 * The lincheck CLI: output lines, exit status, --json, --final, and the entry point as a process.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { exitCode, main } from './cli.js';
import { HistoryRecorder } from './recorder.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const repoRoot = path.resolve(here, '../../..');
const corpusDir = path.resolve(repoRoot, 'test/lincheck/corpus/register');
const linFile = path.join(corpusDir, 'etcd_005.jsonl'); // linearizable
const nonLinFile = path.join(corpusDir, 'etcd_003.jsonl'); // not linearizable

function run(args: string[]): { code: number; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const code = main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('lincheck: CLI', function () {
  let dir: string;
  before(function () {
    dir = mkdtempSync(path.join(tmpdir(), 'lincheck-cli-'));
  });
  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints one line per file with the verdict and time, and exits 1 on a violation', function () {
    const r = run(['--model', 'register', linFile, nonLinFile]);
    assert.equal(r.code, exitCode.violation);
    assert.equal(r.out.length, 2);
    assert.match(r.out[0]!, /^.*etcd_005\.jsonl: linearizable \(\d+(\.\d)? ms\)$/);
    assert.match(r.out[1]!, /^.*etcd_003\.jsonl: not-linearizable \(\d+(\.\d)? ms\)$/);
    assert.match(r.err.join('\n'), /2 file\(s\): 1 linearizable, 1 not-linearizable/);
  });

  it('exits 0 when every history is linearizable; register is the default model', function () {
    assert.equal(run([linFile]).code, exitCode.ok);
  });

  it('--verbose explains a violation', function () {
    const r = run(['--verbose', nonLinFile]);
    assert.match(r.out.join('\n'), /cannot be linearized next: #\d+/);
  });

  it('--json prints one object per file', function () {
    const r = run(['--json', linFile]);
    const o = JSON.parse(r.out[0]!) as { verdict: string; ms: number; operations: number };
    assert.equal(o.verdict, 'linearizable');
    assert.equal(typeof o.ms, 'number');
  });

  it('a budget that runs out gives unknown and exit 3', function () {
    const r = run(['--steps-max', '5', path.join(corpusDir, 'etcd_099.jsonl')]);
    assert.equal(r.code, exitCode.unknown);
    assert.match(r.out[0]!, /: unknown \(.* ms, steps\)$/);
  });

  it('input errors: unknown model, missing file, malformed history (exit 2)', function () {
    assert.equal(run(['--model', 'nope', linFile]).code, exitCode.input);
    assert.equal(run([]).code, exitCode.input);
    const missing = run([path.join(dir, 'missing.jsonl')]);
    assert.equal(missing.code, exitCode.input);
    assert.match(missing.out[0]!, /error ENOENT/);
    const bad = path.join(dir, 'bad.jsonl');
    writeFileSync(bad, '{"process":0,"type":"ok","f":"read","value":null}\n');
    assert.match(run([bad]).out[0]!, /error HISTORY_UNPAIRED/);
  });

  it('--model sessions with --final runs the queue checker too', function () {
    const h = new HistoryRecorder();
    h.invoke(0, 'create', 't');
    h.ok(0, 't', 's1');
    h.invoke(0, 'append', 'a', 's1');
    h.ok(0);
    h.invoke(1, 'read', null, 's1');
    h.ok(1, ['a']);
    const hist = path.join(dir, 'sessions.jsonl');
    writeFileSync(hist, h.toJsonl());
    const good = path.join(dir, 'final-good.json');
    writeFileSync(good, JSON.stringify({ nodes: [{ node: 'n1', sessions: { s1: { topic: 't', records: ['a'] } } }] }));
    const r = run(['--model', 'sessions', '--final', good, hist]);
    assert.equal(r.code, exitCode.ok, r.out.join('\n'));
    assert.match(r.out[0]!, /sessions\.jsonl: linearizable/);
    assert.match(r.out[1]!, /^queue: ok/);

    const lost = path.join(dir, 'final-lost.json');
    writeFileSync(lost, JSON.stringify({ nodes: [{ node: 'n1', sessions: { s1: { topic: 't', records: [] } } }] }));
    const bad = run(['--model', 'sessions', '--final', lost, hist]);
    assert.equal(bad.code, exitCode.violation);
    assert.match(bad.out.join('\n'), /lost 1/);

    assert.equal(run(['--final', good, hist]).code, exitCode.input); // register model: no queue check
  });

  it('runs as a process (the npm run lincheck entry point)', function () {
    const cli = path.join(here, 'cli.js');
    const out = execFileSync(process.execPath, [cli, '--model', 'register', linFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.match(out, /etcd_005\.jsonl: linearizable/);
    try {
      execFileSync(process.execPath, [cli, nonLinFile], { stdio: 'ignore' });
      assert.fail('expected a non-zero exit');
    } catch (e) {
      assert.equal((e as { status: number }).status, exitCode.violation);
    }
  });
});
