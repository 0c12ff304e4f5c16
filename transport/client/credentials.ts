/**
 * A client's credentials (issue 17): a user and password from the options, from a credentials file,
 * or from the environment (SESSIONRAFT_USER and SESSIONRAFT_PASSWORD, or SESSIONRAFT_CREDENTIALS_FILE),
 * in that order; never from a command line (a password there is visible to every user of the
 * machine in the process list). A client certificate naming a user needs none of these.
 *
 * The credentials file is text, one `key=value` (or `key: value`) per line, `#` comments and blank
 * lines ignored, keys `user` and `password`; a value is the rest of the line after the separator and
 * optional spaces, trailing spaces and a CR removed (a password may hold spaces, `=` or `#` inside).
 */
import { readFileSync } from 'node:fs';
import { isAuthName } from '../commands/access.js';
import { ClientError, ClientErrorCode } from './errors.js';

export interface Credentials {
  readonly user: string;
  readonly password: string;
}

/** A credentials file is small: larger is a mistake (a wrong path). */
const CREDENTIALS_FILE_BYTES_MAX = 16 * 1024;
const PASSWORD_BYTES_MAX = 1024;

function bad(detail: string): never {
  throw new ClientError(ClientErrorCode.badArgument, `credentials: ${detail}`);
}

/** Checks a user and password (throws CLIENT_ERR_BAD_ARGUMENT, never naming the password). */
export function checkCredentials(user: unknown, password: unknown): Credentials {
  if (!isAuthName(user)) bad('the user is 1..64 of [A-Za-z0-9_.@-]');
  if (typeof password !== 'string' || password.length === 0 || Buffer.byteLength(password, 'utf8') > PASSWORD_BYTES_MAX)
    bad(`the password is 1..${PASSWORD_BYTES_MAX} bytes`);
  return { user, password };
}

/**
 * A password file's password: its first line (without its CR LF or LF), as `--password-file`
 * reads it. Before 2026-12-07 the bootstrap administrator's file was read whole less one trailing
 * newline, so a blank line (or a comment) after the password became part of it.
 */
export function firstLine(text: string): string {
  return text.split(/\r?\n/, 1)[0]!;
}

/** The text of a credentials file to credentials; throws CLIENT_ERR_BAD_ARGUMENT (never echoing a password). */
export function parseCredentials(text: string): Credentials {
  if (typeof text !== 'string' || text.length > CREDENTIALS_FILE_BYTES_MAX) bad(`a credentials file is at most ${CREDENTIALS_FILE_BYTES_MAX} bytes`);
  let user: string | undefined;
  let password: string | undefined;
  const lines = text.split('\n');
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k]!.replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const m = /^\s*([A-Za-z_]+)\s*[=:]\s?(.*)$/.exec(line);
    if (m === null) bad(`line ${k + 1} is not key=value`);
    const key = m[1]!.toLowerCase();
    const value = m[2]!.replace(/[ \t]+$/, '');
    if (key === 'user' || key === 'username') {
      if (user !== undefined) bad(`line ${k + 1}: user given twice`);
      user = value.trim();
    } else if (key === 'password') {
      if (password !== undefined) bad(`line ${k + 1}: password given twice`);
      password = value;
    } else bad(`line ${k + 1}: unknown key ${JSON.stringify(key)} (user, password)`);
  }
  if (user === undefined || password === undefined) bad('the file needs a user line and a password line');
  return checkCredentials(user, password);
}

function readCredentialsFile(path: string): Credentials {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    bad(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseCredentials(text);
}

/**
 * The credentials a client uses: the options' user and password, else the options' file, else
 * SESSIONRAFT_USER and SESSIONRAFT_PASSWORD, else SESSIONRAFT_CREDENTIALS_FILE; null: none (no login,
 * or the client certificate's user).
 */
export function resolveCredentials(
  opts: { readonly user?: string; readonly password?: string; readonly credentialsFile?: string },
  env: NodeJS.ProcessEnv = process.env,
): Credentials | null {
  if (opts.user !== undefined || opts.password !== undefined) return checkCredentials(opts.user, opts.password);
  if (opts.credentialsFile !== undefined) return readCredentialsFile(opts.credentialsFile);
  if (env.SESSIONRAFT_USER !== undefined && env.SESSIONRAFT_USER !== '') return checkCredentials(env.SESSIONRAFT_USER, env.SESSIONRAFT_PASSWORD);
  if (env.SESSIONRAFT_CREDENTIALS_FILE !== undefined && env.SESSIONRAFT_CREDENTIALS_FILE !== '') return readCredentialsFile(env.SESSIONRAFT_CREDENTIALS_FILE);
  return null;
}
