/**
 * `npm run chaos -- [--runs N] [--fault NAME[,NAME...]|all] [--nodes 3|5] [--plant BUG[,BUG]]
 *   [--seed S] [--workers W] [--rounds R] [--tick-ms T] [--results DIR] [--keep] [--quiet] [--insecure]`
 *
 * Runs a campaign of the fault harness (docs/chaos.md): progress on stderr, one line per run and
 * the summary table on stdout, a JSON report per run under the results directory. Exit status 1 if
 * any run failed (a check, liveness, a crash, or the harness itself), 2 on bad arguments.
 */
import { join } from 'node:path';
import { defaultTiming, faultsFor, runCampaign } from './campaign.js';
import { faults, type Fault } from './faults.js';

const plants = ['ack-before-persist', 'stale-read', 'commit-before-ack', 'commit-previous-term', 'vote-ignores-log', 'no-truncate-check', 'skip-fsync'];

function usage(msg: string): never {
  process.stderr.write(`chaos: ${msg}\n`);
  process.stderr.write(
    'usage: npm run chaos -- [--runs N] [--fault NAME[,NAME]|all] [--nodes 3|5] [--plant BUG] [--seed S] [--workers W] [--rounds R] [--tick-ms T] [--results DIR] [--keep] [--quiet] [--insecure]\n' +
      `faults: ${faults.map((f) => `${f.name}${f.nodesMin > 3 ? ` (${f.nodesMin}+ nodes)` : ''}`).join(', ')}\n` +
      `plants: ${plants.join(', ')}\n`,
  );
  process.exit(2);
}

function int(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (v === undefined || !Number.isSafeInteger(n) || n < min) usage(`${name} needs an integer >= ${min}`);
  return n;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let runs: number | undefined;
  let faultSpec = 'all';
  let nodes = 3;
  let plant: string[] = [];
  let seed = Math.floor(Math.random() * 2 ** 31);
  let workers = 6;
  let rounds = 2;
  let tickMs = defaultTiming.tickMs;
  let results = join('chaos-results', new Date().toISOString().replace(/[:.]/g, '-'));
  let keep = false;
  let quiet = false;
  let secure = true;
  for (let k = 0; k < args.length; k++) {
    const a = args[k]!;
    const next = (): string | undefined => args[++k];
    switch (a) {
      case '--runs':
        runs = int(a, next(), 1);
        break;
      case '--fault':
      case '--faults':
        faultSpec = next() ?? usage('--fault needs a name');
        break;
      case '--nodes':
        nodes = int(a, next(), 3);
        if (nodes !== 3 && nodes !== 5) usage('--nodes is 3 or 5');
        break;
      case '--plant':
        plant = (next() ?? usage('--plant needs a bug')).split(',').filter((s) => s.length > 0);
        for (const p of plant) if (!plants.includes(p)) usage(`unknown planted bug ${p}`);
        break;
      case '--seed':
        seed = int(a, next(), 0);
        break;
      case '--workers':
        workers = int(a, next(), 1);
        break;
      case '--rounds':
        rounds = int(a, next(), 1);
        break;
      case '--tick-ms':
        tickMs = int(a, next(), 5);
        break;
      case '--results':
        results = next() ?? usage('--results needs a directory');
        break;
      case '--keep':
        keep = true;
        break;
      case '--quiet':
        quiet = true;
        break;
      case '--insecure':
        // Security is on by default (issue 17: TLS on client/admin ports, --auth, clients log in).
        secure = false;
        break;
      case '--help':
      case '-h':
        usage('help');
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  let chosen: Fault[];
  if (faultSpec === 'all') chosen = faultsFor(nodes);
  else {
    chosen = faultSpec.split(',').map((n) => faults.find((f) => f.name === n) ?? usage(`unknown fault ${n}`));
    for (const f of chosen) if (f.nodesMin > nodes) usage(`fault ${f.name} needs ${f.nodesMin} nodes (--nodes ${f.nodesMin})`);
  }
  process.stderr.write(
    `chaos: ${runs ?? chosen.length} runs on ${nodes} nodes, faults ${chosen.map((f) => f.name).join(',')}, seed ${seed}${plant.length > 0 ? `, plant ${plant.join(',')}` : ''}${secure ? ', TLS and auth on' : ', insecure'}; results in ${results}\n`,
  );
  // Ctrl-C: the run in progress stops its processes in its finally; a second one exits at once.
  let interrupted = 0;
  process.on('SIGINT', () => {
    if (++interrupted > 1) process.exit(130);
    process.stderr.write('chaos: interrupted; stopping after this run (Ctrl-C again to exit now; node processes are killed either way)\n');
  });
  const result = await runCampaign({
    faults: chosen,
    ...(runs !== undefined ? { runs } : {}),
    nodes,
    seed,
    plant,
    workers,
    rounds,
    timing: { ...defaultTiming, tickMs },
    resultsDir: results,
    keep,
    secure,
    progress: quiet ? () => {} : (line) => process.stderr.write(`${line}\n`),
    onRun: (_r, line) => process.stdout.write(`${line}\n`),
    stop: () => interrupted > 0,
  });
  process.stdout.write(`\n${result.table}\n\n`);
  process.stdout.write(
    `${result.pass ? 'PASS' : 'FAIL'}: ${result.runs.length} runs, ${result.runs.filter((r) => !r.pass).length} failed, ${(result.durationMs / 1000).toFixed(1)} s; reports in ${results}\n`,
  );
  process.exit(result.pass ? 0 : 1);
}

main().catch((err: unknown) => {
  process.stderr.write(`chaos: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
