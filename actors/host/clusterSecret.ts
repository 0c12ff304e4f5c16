/**
 * The cluster secret's file: peers without TLS prove to each other that they hold it (the
 * challenge-response of transport/peer/peerAuth.ts); it never travels.
 *
 * `sessionraft cluster` (and `npm start`) generates one into the data root (`./data/cluster-secret`:
 * 32 random bytes, mode 0600) and gives it to every node with `--cluster-secret-file`; a node run
 * by hand gets the same file by that flag or SESSIONRAFT_CLUSTER_SECRET_FILE. The file holds the
 * raw bytes (16 to 1024 of them), and must not be readable by other users: on the same host they
 * are exactly the attacker it keeps out.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SECRET_BYTES_MAX, SECRET_BYTES_MIN } from '../../transport/peer/peerAuth.js';
import { ConfigError } from './config.js';

/** Bytes of a generated secret. */
const GENERATED_SECRET_BYTES = 32;

/** Reads and checks a secret file. Throws ConfigError (unreadable, wrong size, readable by others). */
export function loadClusterSecret(path: string): Uint8Array {
  let bytes: Buffer;
  try {
    if (process.platform !== 'win32') {
      const mode = statSync(path).mode & 0o777;
      if ((mode & 0o077) !== 0) {
        throw new ConfigError(`cluster secret file ${path} is readable or writable by other users (mode ${mode.toString(8)}): chmod 600 it`);
      }
    }
    bytes = readFileSync(path);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read the cluster secret file ${path}: ${(err as Error).message}`);
  }
  if (bytes.length < SECRET_BYTES_MIN || bytes.length > SECRET_BYTES_MAX) {
    throw new ConfigError(
      `cluster secret file ${path} holds ${bytes.length} bytes: a secret is ${SECRET_BYTES_MIN} to ${SECRET_BYTES_MAX} bytes (generate one: head -c 32 /dev/urandom > ${path}; chmod 600 ${path})`,
    );
  }
  return new Uint8Array(bytes);
}

/**
 * The secret at `path`, generated first when there is none (32 random bytes, mode 0600, created
 * exclusively: two callers never write two different secrets). Returns whether it was generated.
 */
export function ensureClusterSecret(path: string): { readonly secret: Uint8Array; readonly generated: boolean } {
  mkdirSync(dirname(path), { recursive: true });
  let generated = false;
  try {
    writeFileSync(path, randomBytes(GENERATED_SECRET_BYTES), { mode: 0o600, flag: 'wx' });
    generated = true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new ConfigError(`cannot create the cluster secret file ${path}: ${(err as Error).message}`);
  }
  return { secret: loadClusterSecret(path), generated };
}
