/**
 * The etcd register corpus (test/lincheck/corpus, MIT, see its LICENSE.md and README.md): the checker must give exactly the verdict of verdicts.txt on every history,
 * each well under a second. The real times are printed; the assertion bounds the search's steps
 * (ten times the most any history needs), not its time, so a slow CI machine cannot make it fail. (Assertions use node:assert: chai 6 ships no types and
 * the project adds no @types/chai.)
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkHistory } from './checker.js';
import { registerModel } from './registerModel.js';

const repoRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const corpusDir = path.resolve(repoRoot, 'test/lincheck/corpus/register');
/**
 * The search-step budget per history: ten times the most any history takes (etcd_099, about 301,000
 * steps on 2026-12-07). Until 2026-12-07 the bound was 5 s of wall clock per history, which a loaded
 * box could exceed; steps count the search's work whatever the machine's speed.
 */
const fileStepsMax = 3_000_000;

function expectedVerdicts(): [name: string, verdict: string][] {
  const file = path.join(corpusDir, 'verdicts.txt');
  if (!existsSync(file)) throw new Error(`corpus not found at ${corpusDir} (test/lincheck/corpus/register in the repository)`);
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.length > 0)
    .map((l) => l.split(/\s+/) as [string, string]);
}

describe('lincheck: the etcd register corpus', function () {
  const times: { name: string; ms: number; verdict: string }[] = [];

  after(function () {
    if (times.length === 0) return;
    times.sort((a, b) => b.ms - a.ms);
    const total = times.reduce((s, t) => s + t.ms, 0);
    const slowest = times
      .slice(0, 5)
      .map((t) => `${t.name} ${t.ms.toFixed(1)} ms`)
      .join(', ');
    console.log(`\n    corpus: ${times.length} histories, total ${total.toFixed(1)} ms, max ${times[0]!.ms.toFixed(1)} ms (slowest: ${slowest})`);
  });

  it('lists 52 histories with a verdict each', function () {
    assert.equal(expectedVerdicts().length, 52);
  });

  for (const [name, verdict] of existsSync(path.join(corpusDir, 'verdicts.txt')) ? expectedVerdicts() : []) {
    it(`${name} is ${verdict}`, function () {
      const text = readFileSync(path.join(corpusDir, `${name}.jsonl`), 'utf8');
      // The step budget decides (a search over it ends as "unknown"); the time budget, far past
      // the test's own timeout, never does.
      const r = checkHistory(registerModel, text, { stepsMax: fileStepsMax, timeoutMs: 3_600_000 });
      times.push({ name, ms: r.elapsedMs, verdict: r.verdict });
      assert.equal(r.verdict, verdict, `${name} (${r.steps} steps${r.unknownReason !== undefined ? `, ${r.unknownReason}` : ''})`);
      assert.ok(r.steps <= fileStepsMax, `${name} took ${r.steps} steps`);
    });
  }
});
