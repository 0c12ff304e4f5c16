/**
 * The tidy test (issue 13): the layering, the purity of machines/ and dead exports, checked on the
 * repository's real sources (see rules.ts for the rules), and each rule shown to have teeth by
 * planting a violation into the real sources in memory.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkTidy, deadExports, formatViolations, type Rule, type Sources, type Violation } from './rules.js';

/** From dist/test/tidy/ back to the repository (the sources are read, not the compiled output). */
const repoRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const ROOTS = ['machines', 'storage', 'transport', 'actors', 'bin', 'test'];
const SKIP_DIRS = new Set(['node_modules', 'dist']);

/**
 * Dead exports in folders this test's owner may not edit (actors/host/, bin/): tolerated for now,
 * each by (file, exported name). TODO(issue 13): drop the `export` (or the code) and the entry here.
 * An entry that no longer matches a violation fails the test, so the list only shrinks.
 */
const DEAD_EXPORT_ALLOWLIST: readonly (readonly [file: string, name: string])[] = [];

function readSources(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(repoRoot, rel), { withFileTypes: true })) {
      const r = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(e.name)) walk(r);
      } else if (e.isFile() && e.name.endsWith('.ts')) {
        out.set(r, readFileSync(path.join(repoRoot, r), 'utf8'));
      }
    }
  };
  for (const r of ROOTS) walk(r);
  return out;
}

/** The exported name a dead-export violation is about. */
function deadName(v: Violation): string | undefined {
  return v.rule === 'dead-export' ? /^'([^']+)'/.exec(v.detail)?.[1] : undefined;
}

function allowed(v: Violation): boolean {
  const name = deadName(v);
  return name !== undefined && DEAD_EXPORT_ALLOWLIST.some(([f, n]) => f === v.file && n === name);
}

/** The violations the allowlist does not cover. */
function check(sources: Sources): Violation[] {
  return checkTidy(sources).filter((v) => !allowed(v));
}

/** A copy of `sources` with `file` changed by `change`. */
function planted(sources: Sources, file: string, change: (text: string) => string): Map<string, string> {
  const text = sources.get(file);
  assert.ok(text !== undefined, `${file} is not among the sources`);
  return new Map(sources).set(file, change(text));
}

function lineCount(text: string): number {
  return text.split('\n').length;
}

/** Exactly these violations (rule, file, line, and a detail matching the pattern), in this order. */
function expectExactly(actual: readonly Violation[], expected: readonly { rule: Rule; file: string; line: number; detail: RegExp }[]): void {
  const shown = `got:\n${formatViolations(actual) || '  (none)'}`;
  assert.equal(actual.length, expected.length, shown);
  expected.forEach((e, i) => {
    const a = actual[i]!;
    assert.deepEqual({ rule: a.rule, file: a.file, line: a.line }, { rule: e.rule, file: e.file, line: e.line }, shown);
    assert.match(a.detail, e.detail, shown);
  });
}

describe('tidy: layers, a pure machines/, no dead exports (issue 13)', function () {
  // The first check parses ~1.7 MB of TypeScript while the compiler warms up: about a second on an
  // idle box, 7.5 s measured at load 16 on two cores (a 10 s limit failed there once). 60 s bounds it.
  this.timeout(60_000);
  let sources: Map<string, string>;

  before(function () {
    sources = readSources();
  });

  it('reads the repository sources', function () {
    for (const f of ['machines/raftMachine.ts', 'storage/wal.ts', 'transport/client/client.ts', 'actors/host/nodeHost.ts', 'bin/sessionraft.ts']) {
      assert.ok(sources.has(f), `${f} not found under ${repoRoot}`);
    }
    assert.ok(sources.size > 100, `only ${sources.size} files read`);
  });

  it('the repository has no violations', function () {
    const started = performance.now();
    const vs = check(sources);
    const ms = performance.now() - started;
    assert.ok(vs.length === 0, `${vs.length} tidy violations (issue 13; rules in test/tidy/rules.ts):\n${formatViolations(vs)}`);
    if (ms > 1000) console.log(`      (tidy check over ${sources.size} files took ${ms.toFixed(0)} ms)`);
  });

  it('every dead-export allowlist entry is still needed', function () {
    const dead = new Set(checkTidy(sources).map((v) => `${v.file} ${deadName(v) ?? ''}`));
    const stale = DEAD_EXPORT_ALLOWLIST.filter(([f, n]) => !dead.has(`${f} ${n}`));
    assert.deepEqual(stale, [], 'these exports are used or gone now: remove them from DEAD_EXPORT_ALLOWLIST in test/tidy/tidy.test.ts');
  });

  describe('each rule has teeth', function () {
    it('upward-import: storage/ importing actors/host/', function () {
      const s = planted(sources, 'storage/wal.ts', (t) => `import { NodeHost } from '../actors/host/nodeHost.js';\n${t}`);
      expectExactly(check(s), [
        {
          rule: 'upward-import',
          file: 'storage/wal.ts',
          line: 1,
          detail: /'\.\.\/actors\/host\/nodeHost\.js'.*upward from storage\/ \(rank 1\) to actors\/host\/ \(rank 4\)/,
        },
      ]);
    });

    it('upward-import: sideways from transport/peer/ to transport/client/', function () {
      const s = planted(sources, 'transport/peer/codec.ts', (t) => `import { ClientError } from '../client/errors.js';\n${t}`);
      expectExactly(check(s), [
        {
          rule: 'upward-import',
          file: 'transport/peer/codec.ts',
          line: 1,
          detail: /sideways from transport\/peer\/ \(rank 1\) to transport\/client\/ \(rank 1\)/,
        },
      ]);
    });

    it('upward-import: type-only imports, import() types and imports from test/ count', function () {
      let s = planted(sources, 'transport/peer/types.ts', (t) => `import type { NodeStatus } from '../../actors/raft/raftNode.js';\n${t}`);
      s = planted(s, 'machines/quorum.ts', (t) => `${t}\nexport type Planted = import('../storage/types.js').LogWrite;\n`);
      s = planted(s, 'actors/sessions/binary.ts', (t) => `import { Rng } from '../../test/sim/rng.js';\n${t}`);
      // the planted `export type Planted` is itself a dead export, with the import() type on its line
      const quorumLine = lineCount(sources.get('machines/quorum.ts')!) + 1;
      expectExactly(check(s), [
        { rule: 'upward-import', file: 'actors/sessions/binary.ts', line: 1, detail: /product code imports from test\// },
        { rule: 'dead-export', file: 'machines/quorum.ts', line: quorumLine, detail: /'Planted'/ },
        {
          rule: 'upward-import',
          file: 'machines/quorum.ts',
          line: quorumLine,
          detail: /import-type of '\.\.\/storage\/types\.js': upward from machines\/ \(rank 0\) to storage\/ \(rank 1\)/,
        },
        { rule: 'upward-import', file: 'transport/peer/types.ts', line: 1, detail: /upward from transport\/peer\/ \(rank 1\) to actors\/raft\/ \(rank 2\)/ },
      ]);
    });

    it('machines-impure: Date.now() and node:fs in machines/', function () {
      const file = 'machines/quorum.ts';
      const s = planted(
        sources,
        file,
        (t) => `import { readFileSync } from 'node:fs';\n${t}\nfunction plantedNow(): number {\n  return Date.now() + readFileSync('x').length;\n}\n`,
      );
      const dateLine = lineCount(sources.get(file)!) + 3;
      expectExactly(check(s), [
        { rule: 'machines-impure', file, line: 1, detail: /'node:fs'/ },
        { rule: 'machines-impure', file, line: dateLine, detail: /uses Date$/ },
      ]);
    });

    it('machines-impure: Math.random, timers, process and packages other than xstate; not comments, strings or property names', function () {
      const file = 'machines/quorum.ts';
      const at = lineCount(sources.get(file)!);
      const s = planted(sources, file, (t) =>
        [
          `import { pino } from 'pino';`,
          `import { setup } from 'xstate';`,
          t,
          `// Date.now(), setTimeout and process.env in a comment are fine`,
          `const plantedText = 'Math.random() performance.now() crypto';`,
          `const plantedObject = { process: plantedText, setTimeout: setup, Date: pino };`,
          `function plantedDice(): number {`,
          `  return Math.random() + Math.floor(plantedObject.process.length);`,
          `}`,
          `function plantedTimer(): void {`,
          `  setTimeout(() => queueMicrotask(() => process.exit()), 1);`,
          `}`,
        ].join('\n'),
      );
      expectExactly(check(s), [
        { rule: 'machines-impure', file, line: 1, detail: /'pino'/ },
        { rule: 'machines-impure', file, line: at + 7, detail: /uses Math\.random$/ },
        { rule: 'machines-impure', file, line: at + 10, detail: /uses process$/ },
        { rule: 'machines-impure', file, line: at + 10, detail: /uses queueMicrotask$/ },
        { rule: 'machines-impure', file, line: at + 10, detail: /uses setTimeout$/ },
      ]);
    });

    it('dead-export: a new export nobody imports', function () {
      const file = 'storage/crc.ts';
      const s = planted(sources, file, (t) => `${t}\nexport function unusedThing() {}\n`);
      expectExactly(check(s), [
        { rule: 'dead-export', file, line: lineCount(sources.get(file)!) + 1, detail: /'unusedThing' is exported but no other module imports it/ },
      ]);
    });

    it('dead-export: re-exports, export *, import * as ns, import() and new URL() pass uses on', function () {
      const s: Sources = new Map([
        ['machines/a.ts', `export const x = 1;\nexport const y = 2;\nexport type T = number;\nexport default 3;`],
        ['machines/b.ts', `export const u = 1;\nexport const v = 2;`],
        ['machines/c.ts', `export const w = 1;`],
        ['storage/barrel.ts', `export * from '../machines/a.js';\nexport { u as renamed, v } from '../machines/b.js';\nexport type * from '../machines/c.js';`],
        ['storage/lazy.ts', `export const lazy = 1;`],
        ['storage/url.ts', `export const viaUrl = 1;`],
        [
          'test/user.ts',
          [
            `import * as ns from '../storage/barrel.js';`,
            `import type { T } from '../storage/barrel.js';`,
            `export const used: T = ns.x + ns.renamed;`,
            `await import('../storage/lazy.js');`,
            `new URL('../storage/url.js', import.meta.url);`,
          ].join('\n'),
        ],
      ]);
      expectExactly(deadExports(s, []), [
        { rule: 'dead-export', file: 'machines/a.ts', line: 2, detail: /'y'/ },
        { rule: 'dead-export', file: 'machines/a.ts', line: 4, detail: /'default'/ },
        { rule: 'dead-export', file: 'machines/b.ts', line: 2, detail: /'v'/ },
        { rule: 'dead-export', file: 'machines/c.ts', line: 1, detail: /'w'/ },
        { rule: 'dead-export', file: 'storage/barrel.ts', line: 2, detail: /'v' is re-exported/ },
        { rule: 'dead-export', file: 'storage/barrel.ts', line: 3, detail: /export \* from '\.\.\/machines\/c\.js'/ },
      ]);
      // an entry point's exports, and what it re-exports, are used
      expectExactly(deadExports(s, ['storage/barrel.ts']), [{ rule: 'dead-export', file: 'machines/a.ts', line: 4, detail: /'default'/ }]);
    });
  });
});
