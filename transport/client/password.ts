/**
 * Passwords (issue 17): scrypt from node:crypto with a per-user random salt, the parameters stored
 * with the derived key (transport/commands/access.ts's 52-byte form), so that raising the defaults
 * later leaves stored hashes valid. Hashing happens once, on the node that takes the request (the
 * leader) before it proposes the UserPut: the log and every replica hold only the hash.
 *
 * scrypt runs on libuv's thread pool (async): a login costs a few tens of milliseconds of one
 * pool thread, never the event loop. Verification compares in constant time.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { PASSWORD_KEY_BYTES, PASSWORD_SALT_BYTES, decodePasswordHash, encodePasswordHash } from '../commands/access.js';

/** The defaults for new hashes: N = 2^15, r = 8, p = 1 (about 32 MiB and 50-100 ms per hash). */
const DEFAULT_PARAMS = { logN: 15, r: 8, p: 1 } as const;

function derive(password: string, salt: Uint8Array, logN: number, r: number, p: number): Promise<Buffer> {
  const N = 2 ** logN;
  return new Promise((resolve, reject) => {
    // maxmem: 128 * N * r bytes plus slack (the parameters are bounded by access.ts).
    scrypt(password.normalize('NFC'), salt, PASSWORD_KEY_BYTES, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** A new stored form for `password`, with a fresh random salt. */
export async function hashPassword(password: string, params: { logN: number; r: number; p: number } = DEFAULT_PARAMS): Promise<Uint8Array> {
  const salt = new Uint8Array(randomBytes(PASSWORD_SALT_BYTES));
  const key = await derive(password, salt, params.logN, params.r, params.p);
  return encodePasswordHash({ ...params, salt, key: new Uint8Array(key) });
}

/** Whether `password` matches the stored form (false for a form that does not decode). */
export async function verifyPassword(password: string, stored: Uint8Array): Promise<boolean> {
  const h = decodePasswordHash(stored);
  if (h === null) return false;
  const key = await derive(password, h.salt, h.logN, h.r, h.p);
  return key.length === h.key.length && timingSafeEqual(key, h.key);
}

/**
 * A stored form that no password matches, hashed with the defaults: an unknown user's login is
 * verified against it so that it costs the same time as a known user's (no user enumeration by timing).
 */
export function decoyHash(): Promise<Uint8Array> {
  return hashPassword(randomBytes(24).toString('base64'));
}
