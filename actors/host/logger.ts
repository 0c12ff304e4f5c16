/**
 * Node logs: pino, JSON lines by default, pretty (pino-pretty, in-process and synchronous) when the
 * output is a terminal. Stable keys: `node`, `term`, `index`, `peer`, `code` (plus `role`,
 * `leader`, `op` where they apply). Disabled levels cost nothing.
 *
 * Rejections (bad client or peer input) can come in floods; `RejectionLog` logs the first few per
 * code in each window and then one summary line with the number suppressed.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

interface LoggerOptions {
  readonly node: string;
  readonly level?: LevelWithSilent;
  /** true: pretty; false: JSON; undefined: pretty when the destination is a terminal. */
  readonly pretty?: boolean;
  /** A file descriptor to write to (default 1, stdout). */
  readonly fd?: number;
}

export function createLogger(opts: LoggerOptions): Logger {
  const fd = opts.fd ?? 1;
  const isTty = fd === 1 ? process.stdout.isTTY === true : fd === 2 ? process.stderr.isTTY === true : false;
  const usePretty = opts.pretty ?? isTty;
  const base = { node: opts.node };
  const level = opts.level ?? 'info';
  if (usePretty) {
    const stream = pretty({
      colorize: isTty,
      sync: true,
      destination: fd,
      translateTime: 'HH:MM:ss.l',
      singleLine: true,
      messageFormat: '[{node}] {msg}',
      ignore: 'pid,hostname,node',
    });
    return pino({ level, base }, stream);
  }
  return pino({ level, base, timestamp: pino.stdTimeFunctions.isoTime }, pino.destination({ fd, sync: false }));
}

/** Logs at most `perWindowMax` rejections per code per `windowMs`, then a summary of the rest. */
export class RejectionLog {
  private readonly windows = new Map<string, { start: number; logged: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly perWindowMax = 5,
    private readonly windowMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  note(code: string, fields: Record<string, unknown>, msg: string, level: 'warn' | 'error' = 'warn'): void {
    if (!this.logger.isLevelEnabled('warn')) return;
    const t = this.now();
    let w = this.windows.get(code);
    if (w === undefined || t - w.start >= this.windowMs) {
      if (w !== undefined && w.suppressed > 0) {
        this.logger.warn({ code, suppressed: w.suppressed, windowMs: this.windowMs }, 'rejections suppressed');
      }
      w = { start: t, logged: 0, suppressed: 0 };
      this.windows.set(code, w);
    }
    if (w.logged < this.perWindowMax) {
      w.logged++;
      this.logger[level]({ code, ...fields }, msg);
    } else {
      w.suppressed++;
    }
  }
}
