/**
 * Usage errors of the `sessionraft` command (commander: a missing or extra argument, an unknown
 * option or command, an option value its parser refused, no command given): exit 2 with a stable
 * code, as the CLI's other bad arguments; `--help` and `--version` exit 0.
 *
 * Until 2026-12-07 commander exited 1 with its text alone, the status of a failed operation, so a
 * script could not tell a typo from an unreachable cluster, and a pipe got no JSON error.
 */
import type { Command, CommanderError } from 'commander';

interface ErrStream {
  readonly isTTY?: boolean;
  write(s: string): unknown;
}

const usageExitCode = 2;

/**
 * Makes `program` (and the commands made from it afterwards, which inherit these settings) throw a
 * CommanderError instead of exiting. On a terminal commander's text and help are printed, with the
 * code; elsewhere nothing, and `usageExit` prints one JSON line (or `CONFIG_ERR: …` for commands
 * that run nodes, as their configuration errors print).
 */
export function configureUsage(program: Command, configCommands: ReadonlySet<string>, stderr: ErrStream = process.stderr): (err: CommanderError) => number {
  let code = 'CLIENT_ERR_BAD_ARGUMENT';
  program
    .exitOverride()
    .configureOutput({
      writeErr: (s) => {
        if (stderr.isTTY === true) stderr.write(s);
      },
      outputError: (s, write) => write(s.replace(/^error: /, `error: ${code}: `)),
    })
    // Runs before the subcommand parses its arguments, so an error there carries its code.
    .hook('preSubcommand', (_self, sub) => {
      code = configCommands.has(sub.name()) ? 'CONFIG_ERR' : 'CLIENT_ERR_BAD_ARGUMENT';
    });
  return (err) => {
    if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    if (stderr.isTTY !== true) {
      const message = err.code === 'commander.help' ? 'give a command (`--help` lists them)' : err.message.replace(/^error: /, '');
      stderr.write(code === 'CONFIG_ERR' ? `CONFIG_ERR: ${message}\n` : JSON.stringify({ error: code, message: `${code}: ${message}` }) + '\n');
    }
    return usageExitCode;
  };
}
