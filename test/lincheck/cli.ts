/**
 * `npm run lincheck -- --model register|sessions [options] FILE...`
 *
 * Prints one line per history file, `FILE: linearizable (12 ms)`, `FILE: not-linearizable (30 ms)`
 * or `FILE: unknown (10000 ms, timeout)`, and a summary on stderr.
 *
 * Options:
 *   --model NAME       register (default) or sessions
 *   --timeout-ms N     budget per file (default 10000); past it the verdict is `unknown`
 *   --steps-max N      search-step budget per file (default unbounded)
 *   --verbose          explain each violation (longest linearizable prefix, the blocking operation)
 *   --json             one JSON object per file instead of the text line
 *   --final FILE       (sessions, one history) also run the queue checker against this final state
 *
 * Exit status: 1 if any history is not linearizable (or the queue checker finds an anomaly);
 * otherwise 2 if an input could not be read or parsed; otherwise 3 if any verdict is unknown;
 * otherwise 0.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { checkOperations, formatCounterexample, type CheckResult } from './checker.js';
import { HistoryError, parseHistory, type Operation } from './history.js';
import type { Model } from './model.js';
import { checkQueue, formatQueueReport, parseFinalState, QueueInputError } from './queueCheck.js';
import { registerModel } from './registerModel.js';
import { sessionsModel } from './sessionsModel.js';

export const models: Readonly<Record<string, Model<any>>> = {
  register: registerModel,
  sessions: sessionsModel,
};

export const exitCode = { ok: 0, violation: 1, input: 2, unknown: 3 } as const;

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

const usage = 'usage: lincheck --model register|sessions [--timeout-ms N] [--steps-max N] [--verbose] [--json] [--final FILE] FILE...';

function formatMs(ms: number): string {
  return ms < 10 ? ms.toFixed(1) : String(Math.round(ms));
}

function positiveNumber(text: string | undefined, name: string): number | undefined {
  if (text === undefined) return undefined;
  const v = Number(text);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
}

/** Run the CLI on `argv` (without node and script); returns the exit status. */
export function main(argv: readonly string[], io: CliIo): number {
  let values: Record<string, string | boolean | undefined>;
  let files: string[];
  let timeoutMs: number | undefined;
  let stepsMax: number | undefined;
  try {
    const parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        model: { type: 'string', default: 'register' },
        'timeout-ms': { type: 'string' },
        'steps-max': { type: 'string' },
        verbose: { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        final: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    });
    values = parsed.values;
    files = parsed.positionals;
    timeoutMs = positiveNumber(values['timeout-ms'] as string | undefined, '--timeout-ms');
    stepsMax = positiveNumber(values['steps-max'] as string | undefined, '--steps-max');
  } catch (err) {
    io.err(`${(err as Error).message}\n${usage}`);
    return exitCode.input;
  }
  if (values.help === true) {
    io.out(usage);
    return exitCode.ok;
  }
  const model = models[values.model as string];
  if (model === undefined) {
    io.err(`unknown model ${String(values.model)}; known: ${Object.keys(models).join(', ')}\n${usage}`);
    return exitCode.input;
  }
  const final = values.final as string | undefined;
  if (files.length === 0 || (final !== undefined && (files.length !== 1 || model !== sessionsModel))) {
    io.err(final !== undefined ? '--final needs --model sessions and exactly one history file' : usage);
    return exitCode.input;
  }

  let violations = 0;
  let inputErrors = 0;
  let unknowns = 0;
  let maxMs = 0;
  let totalMs = 0;
  const counts = { linearizable: 0, 'not-linearizable': 0, unknown: 0 };
  for (const file of files) {
    let ops: Operation[];
    let r: CheckResult;
    try {
      ops = parseHistory(readFileSync(file, 'utf8'));
      r = checkOperations(model, ops, {
        ...(timeoutMs !== undefined ? { timeoutMs } : {}),
        ...(stepsMax !== undefined ? { stepsMax } : {}),
      });
    } catch (err) {
      inputErrors++;
      const code = err instanceof HistoryError ? err.code : ((err as NodeJS.ErrnoException).code ?? 'ERROR');
      io.out(
        values.json === true ? JSON.stringify({ file, error: code, message: (err as Error).message }) : `${file}: error ${code}: ${(err as Error).message}`,
      );
      continue;
    }
    counts[r.verdict]++;
    maxMs = Math.max(maxMs, r.elapsedMs);
    totalMs += r.elapsedMs;
    if (r.verdict === 'not-linearizable') violations++;
    if (r.verdict === 'unknown') unknowns++;
    if (values.json === true) {
      io.out(
        JSON.stringify({
          file,
          verdict: r.verdict,
          ms: Number(r.elapsedMs.toFixed(2)),
          steps: r.steps,
          operations: r.operationsCount,
          partitions: r.partitionsCount,
          ...(r.unknownReason !== undefined ? { unknownReason: r.unknownReason } : {}),
        }),
      );
    } else {
      const why = r.unknownReason !== undefined ? `, ${r.unknownReason}` : '';
      io.out(`${file}: ${r.verdict} (${formatMs(r.elapsedMs)} ms${why})`);
      if (values.verbose === true && r.counterexample !== undefined) {
        io.out(formatCounterexample(r.counterexample).replace(/^/gm, '    '));
      }
    }
    if (final !== undefined) {
      try {
        const report = checkQueue(ops, parseFinalState(readFileSync(final, 'utf8')));
        if (!report.ok) violations++;
        io.out(values.json === true ? JSON.stringify({ file, final, queue: report.counts, ok: report.ok }) : formatQueueReport(report));
      } catch (err) {
        inputErrors++;
        const code = err instanceof QueueInputError ? err.code : ((err as NodeJS.ErrnoException).code ?? 'ERROR');
        io.out(`${final}: error ${code}: ${(err as Error).message}`);
      }
    }
  }
  io.err(
    `${files.length} file(s): ${counts.linearizable} linearizable, ${counts['not-linearizable']} not-linearizable, ` +
      `${counts.unknown} unknown, ${inputErrors} error(s); max ${formatMs(maxMs)} ms, total ${formatMs(totalMs)} ms`,
  );
  if (violations > 0) return exitCode.violation;
  if (inputErrors > 0) return exitCode.input;
  if (unknowns > 0) return exitCode.unknown;
  return exitCode.ok;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.exitCode = main(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  });
}
