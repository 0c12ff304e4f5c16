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

/** `--help`: without it an unknown flag is ignored and every suite runs (tens of minutes). */
const USAGE = `usage: npm run bench -- [suite ...] [--json] [--quick] [suite options]
With no suite named, every suite runs in turn (about 20 minutes). Suites:
  storage    the WAL: group commit, one fdatasync per entry, opening a large log
  transport  the peer codec and loopback links
  cluster    3 node processes: writes at 1, 16 and 128 in flight, reads, the machine's fsync floor
             [--only=append,...] [--repeat=N] [--profile=DIR] [--secure[=both]]
  apply      the session store's apply path, in process
  delayed    delayed delivery against BullMQ on a local Redis (redis-server; skipped without it)
             [--systems=sessionraft,bullmq] [--only=throughput,lateness,recovery,memory]
             [--producers=16,128] [--rates=1000,5000] [--seconds=S] [--repeat=N] [--profile=DIR]
  scheduled  memory of scheduled sessions, in process [--scheduled N]
  groups     the consumer-group dispatcher with a backlog, in process
  machine    what one event costs in the Raft machine (CPU only)
Results are printed and appended to bench-results/<suite>-<time>.jsonl; --json prints them as JSON
lines. Each suite's method and options: docs/performance.md and the header of test/bench/<suite>.ts.
`;

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
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
