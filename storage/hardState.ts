/**
 * The hard state (current term, vote) in its own small file, replaced atomically:
 * write `hardstate.tmp`, fdatasync it, rename it over `hardstate`, fsync the directory.
 * A crash at any point leaves either the old or the new file under the name `hardstate`.
 *
 *   0  u32 crc     CRC-32 of bytes 4..end
 *   4  "SRHS"
 *   8  u32 version
 *  12  u64 term
 *  20  u32 voteBytes (0: no vote)
 *  24  vote (UTF-8)
 */
import { join } from 'node:path';
import type { HardState } from '../machines/types.js';
import { crc32Range } from './crc.js';
import { invariant, ioError } from './errors.js';
import { badDir, fileInfo } from './fileInfo.js';
import { readU32, readU64, writeU32, writeU64 } from './frame.js';
import { runSteps, type Done } from './steps.js';
import type { FileSystem } from './types.js';

const HARD_STATE_FILE = 'hardstate';
/**
 * Issue 15: `<dir>/term-unknown` is present while the node cannot prove which terms it voted in
 * (its hard state was lost). Written by recovery before anything else, removed by
 * `Wal.markTermKnown` once the node learned its term; a valid hard state never hides it.
 */
export const TERM_UNKNOWN_FILE = 'term-unknown';
const HARD_STATE_TEMP_FILE = 'hardstate.tmp';

const MAGIC = [0x53, 0x52, 0x48, 0x53]; // "SRHS"
const VERSION = 1;
const FIXED_BYTES = 24;
const NODE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
/** The longest valid hard state file (a 64-character vote): a longer file is damaged and never read whole. */
export const HARD_STATE_BYTES_MAX = FIXED_BYTES + 64;

export type HardStateRead =
  { readonly status: 'missing' } | { readonly status: 'ok'; readonly hardState: HardState } | { readonly status: 'damaged'; readonly reason: string };

function isValidHardState(hs: HardState): boolean {
  return Number.isSafeInteger(hs.term) && hs.term >= 0 && (hs.vote === null || NODE_ID.test(hs.vote));
}

function encodeHardState(hs: HardState): Uint8Array {
  invariant(isValidHardState(hs), `invalid hard state ${JSON.stringify(hs)}`);
  const vote = hs.vote === null ? new Uint8Array(0) : Buffer.from(hs.vote, 'utf8');
  const buf = new Uint8Array(FIXED_BYTES + vote.length);
  buf.set(MAGIC, 4);
  writeU32(buf, 8, VERSION);
  writeU64(buf, 12, hs.term);
  writeU32(buf, 20, vote.length);
  buf.set(vote, FIXED_BYTES);
  writeU32(buf, 0, crc32Range(buf, 4, buf.length, 0));
  return buf;
}

/** Decodes and validates; returns the reason when the bytes are not a valid hard state. */
function decodeHardState(buf: Uint8Array): HardState | string {
  if (buf.length < FIXED_BYTES) return `hard state file is ${buf.length} bytes, shorter than ${FIXED_BYTES}`;
  if (readU32(buf, 0) !== crc32Range(buf, 4, buf.length, 0)) return 'hard state checksum mismatch';
  for (let i = 0; i < MAGIC.length; i++) if (buf[4 + i] !== MAGIC[i]) return 'hard state magic mismatch';
  if (readU32(buf, 8) !== VERSION) return `hard state version ${readU32(buf, 8)} unknown`;
  const term = readU64(buf, 12);
  const voteBytes = readU32(buf, 20);
  if (term < 0) return 'hard state term out of range';
  if (FIXED_BYTES + voteBytes !== buf.length) return 'hard state length mismatch';
  const vote = voteBytes === 0 ? null : Buffer.from(buf.buffer, buf.byteOffset + FIXED_BYTES, voteBytes).toString('utf8');
  const hs: HardState = { term, vote };
  return isValidHardState(hs) ? hs : 'hard state vote is not a node id';
}

/**
 * Reads the hard state; a leftover temporary file (a crash mid-replace) is removed, never read.
 * A file longer than HARD_STATE_BYTES_MAX is damaged and not read (files on disk are outside
 * input). `hardstate` or `hardstate.tmp` that is not a regular file (a directory) is STORAGE_BAD_DIR:
 * the log replaces its hard state through those names and could not.
 */
export function readHardState(fs: FileSystem, dir: string): HardStateRead {
  const temp = join(dir, HARD_STATE_TEMP_FILE);
  const tempInfo = fileInfo(fs, temp);
  if (tempInfo.kind === 'other') throw badDir(`${temp} is not a regular file; the hard state is replaced through that name: move it out of the directory`);
  if (tempInfo.kind === 'file') fs.unlink(temp);
  const path = join(dir, HARD_STATE_FILE);
  const info = fileInfo(fs, path);
  if (info.kind === 'missing') return { status: 'missing' };
  if (info.kind === 'other') throw badDir(`${path} is not a regular file; the hard state is kept under that name: move it out of the directory`);
  if (info.size > HARD_STATE_BYTES_MAX)
    return { status: 'damaged', reason: `hard state file is ${info.size} bytes, longer than any valid one (${HARD_STATE_BYTES_MAX})` };
  let bytes: Uint8Array;
  try {
    bytes = fs.readFile(path);
  } catch (e) {
    return { status: 'damaged', reason: `hard state unreadable: ${(e as Error).message}` };
  }
  const hs = decodeHardState(bytes);
  return typeof hs === 'string' ? { status: 'damaged', reason: hs } : { status: 'ok', hardState: hs };
}

/**
 * Whether the Raft directory `dir` holds anything a vote may have left, read-only: a hard state
 * with a term or a vote, or one that cannot be read; the term-unknown marker; a snapshot file. The
 * hard state a node writes when it first opens empty storage (term 0, no vote) is not such a trace,
 * nor are WAL segments (created empty at open): no entry exists unless some leader won a term, and
 * then a majority of the nodes hold that term in their hard state. A node whose directory has no
 * trace never voted, so it may start a new cluster (--bootstrap) again; the node itself bars a
 * node on empty storage started without it (actors/host/votingBar.ts).
 */
export function mayHaveVoted(fs: FileSystem, dir: string): boolean {
  if (fs.exists(join(dir, TERM_UNKNOWN_FILE))) return true;
  const snapDir = join(dir, 'snap');
  if (fs.exists(snapDir) && fs.readdir(snapDir).some((name) => name.endsWith('.snap'))) return true;
  const path = join(dir, HARD_STATE_FILE);
  let bytes: Uint8Array;
  try {
    const info = fileInfo(fs, path);
    if (info.kind === 'missing') return false;
    // Not a regular file, or longer than a valid one: a hard state that cannot be read.
    if (info.kind !== 'file' || info.size > HARD_STATE_BYTES_MAX) return true;
    bytes = fs.readFile(path);
  } catch {
    return true;
  }
  const hs = decodeHardState(bytes);
  return typeof hs === 'string' || hs.term > 0 || hs.vote !== null;
}

/**
 * Replaces the hard state; `done(null)` only once the new one is durable. `skipFsync` is the planted
 * bug for the simulator (acknowledge before the data is on disk); never set it otherwise.
 */
export function writeHardState(fs: FileSystem, dir: string, hs: HardState, skipFsync: boolean, done: Done): void {
  const bytes = encodeHardState(hs);
  const temp = join(dir, HARD_STATE_TEMP_FILE);
  const handle = fs.open(temp, 'create');
  // Closed exactly once: a second close could hit a descriptor number the process reused.
  let open = true;
  const close = (): void => {
    if (open) {
      open = false;
      handle.close();
    }
  };
  runSteps(
    [
      (next) => handle.write(bytes, 0, (err) => next(err && ioError('hard state write', err))),
      (next) => (skipFsync ? next(null) : handle.sync((err) => next(err && ioError('hard state fdatasync', err)))),
      (next) => {
        close();
        fs.rename(temp, join(dir, HARD_STATE_FILE));
        if (skipFsync) next(null);
        else fs.syncDir(dir, (err) => next(err && ioError('hard state directory fsync', err)));
      },
    ],
    (err) => {
      if (err !== null) close();
      done(err);
    },
  );
}
