/**
 * `npm run bench -- <storage|transport|cluster|apply|delayed|scheduled|groups|machine> [--json] [--quick]`
 * Each suite prints a human table to stderr-free stdout and, with --json, one JSON object per line.
 * Results are also appended to bench-results/<suite>-<timestamp>.jsonl.
 */
import { mkdirSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchResult {
  readonly scenario: string;
  readonly [field: string]: unknown;
}

export interface BenchContext {
  readonly json: boolean;
  readonly quick: boolean;
  readonly args: readonly string[];
  /** Report one result row (printed and recorded). */
  report(result: BenchResult): void;
  /** Show progress on stderr. */
  progress(text: string): void;
}

type Suite = (ctx: BenchContext) => Promise<void>;

/** Each suite is a module next to this file exporting `run(ctx)`. */
const suiteNames = ['storage', 'transport', 'cluster', 'apply', 'delayed', 'scheduled', 'groups', 'machine'] as const;
const suites: Record<string, () => Promise<Suite>> = Object.fromEntries(
  suiteNames.map((name) => [name, async () => ((await import(`./${name}.js`)) as { run: Suite }).run]),
);

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const json = argv.includes('--json');
  const quick = argv.includes('--quick');
  // Options that take their value as the next word (`--scheduled 1000000`); others use `--name=value`.
  const valued = new Set(['--scheduled']);
  const names = argv.filter((a, k) => !a.startsWith('--') && !(k > 0 && valued.has(argv[k - 1]!)));
  const chosen = names.length > 0 ? names.filter((n) => n in suites) : Object.keys(suites);
  const unknown = names.filter((n) => !(n in suites));
  if (unknown.length > 0) {
    process.stderr.write(`unknown bench suite(s): ${unknown.join(', ')}; known: ${Object.keys(suites).join(', ')}\n`);
    process.exit(2);
  }
  const dir = 'bench-results';
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  for (const name of chosen) {
    const file = join(dir, `${name}-${stamp}.jsonl`);
    const ctx: BenchContext = {
      json,
      quick,
      args: argv,
      report(result) {
        const line = JSON.stringify(result);
        appendFileSync(file, line + '\n');
        if (json) process.stdout.write(line + '\n');
        else process.stdout.write(formatRow(result) + '\n');
      },
      progress(text) {
        if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${text}`);
        else process.stderr.write(text + '\n');
      },
    };
    if (!json) process.stdout.write(`\n== ${name} ==\n`);
    const suite = await suites[name]!();
    await suite(ctx);
    if (process.stderr.isTTY) process.stderr.write('\r\x1b[K');
    if (!json) process.stdout.write(`(results also in ${file})\n`);
  }
}

function formatRow(r: BenchResult): string {
  return Object.entries(r)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : String(v)}`)
    .join('  ');
}

function fmt(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toFixed(3);
}

main().catch((err: unknown) => {
  process.stderr.write(String(err instanceof Error ? err.stack : err) + '\n');
  process.exit(1);
});
