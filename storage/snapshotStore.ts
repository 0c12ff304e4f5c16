/**
 * Snapshot files: `snap-<index>-<term>.snap`, each checksummed, written atomically
 * (temporary file, fdatasync, rename, directory fsync). The newest `snapshotsKept` are kept; loading
 * returns the newest valid one and records every file it had to skip in `lastLoadErrors`.
 *
 *   0  u32 headerCrc   CRC-32 of bytes 4..(32 + metaBytes)
 *   4  "SRSN"
 *   8  u32 version
 *  12  u32 metaBytes
 *  16  u64 dataBytes
 *  24  u32 dataCrc     CRC-32 of the data
 *  28  u32 zero
 *  32  meta (JSON: index, term, membership)
 *  32 + metaBytes: data
 */
import { kMaxLength } from 'node:buffer';
import { join } from 'node:path';
import { validateMembership } from '../machines/membership.js';
import type { Membership, SnapshotMeta } from '../machines/types.js';
import { crc32Bytes, crc32Range } from './crc.js';
import { invariant, ioError } from './errors.js';
import { badDir, fileInfo, readWhole } from './fileInfo.js';
import { readU32, readU64, writeU32, writeU64 } from './frame.js';
import { runSteps, type Done } from './steps.js';
import type { FileHandle, FileSystem, SnapshotBytes, SnapshotReader, SnapshotStore } from './types.js';

const MAGIC = [0x53, 0x52, 0x53, 0x4e]; // "SRSN"
const VERSION = 1;
const HEADER_BYTES = 32;
const META_BYTES_MAX = 1024 * 1024;
const NAME = /^snap-(\d{16})-(\d{16})\.snap$/;
const TEMP_SUFFIX = '.tmp';

interface SnapshotLoadError {
  readonly file: string;
  /**
   * Stable code: 'snapshot-checksum' (bytes damaged), 'snapshot-unreadable' (read failed) or
   * 'snapshot-too-large' (a valid header, but more bytes than one array holds: `kMaxLength`).
   */
  readonly code: 'snapshot-checksum' | 'snapshot-unreadable' | 'snapshot-too-large';
  readonly message: string;
}

/** node:fs's readFile refuses larger files (a RangeError); `load` reads them a chunk at a time. */
const READ_WHOLE_BYTES_MAX = 2 ** 31 - 1;
/** One read of a larger file. */
const READ_CHUNK_BYTES = 64 * 1024 * 1024;

interface SnapshotStoreOptions {
  /** How many snapshot files to keep (the newest ones). Default 2, at least 1. */
  readonly snapshotsKept?: number;
  /** Planted bug for the simulator: skip every fsync. Never set it otherwise. */
  readonly plantSkipFsync?: boolean;
}

function snapshotFileName(meta: SnapshotMeta): string {
  return `snap-${String(meta.index).padStart(16, '0')}-${String(meta.term).padStart(16, '0')}.snap`;
}

/**
 * The snapshot file's header and meta: the file is this followed by `data`. Saving writes the two
 * one after the other instead of copying the data (the state machine's manifest, megabytes) into
 * one buffer first.
 */
function encodeSnapshotHead(meta: SnapshotMeta, parts: readonly Uint8Array[], knownCrc?: number): Uint8Array {
  let dataBytes = 0;
  for (const part of parts) dataBytes += part.length;
  let dataCrc = 0;
  if (knownCrc !== undefined) dataCrc = knownCrc;
  else for (const part of parts) dataCrc = crc32Bytes(part, dataCrc);
  const metaBytes = Buffer.from(JSON.stringify({ index: meta.index, term: meta.term, membership: meta.membership }), 'utf8');
  invariant(metaBytes.length <= META_BYTES_MAX, 'snapshot meta too large');
  const buf = new Uint8Array(HEADER_BYTES + metaBytes.length);
  buf.set(MAGIC, 4);
  writeU32(buf, 8, VERSION);
  writeU32(buf, 12, metaBytes.length);
  writeU64(buf, 16, dataBytes);
  writeU32(buf, 24, dataCrc);
  writeU32(buf, 28, 0);
  buf.set(metaBytes, HEADER_BYTES);
  writeU32(buf, 0, crc32Range(buf, 4, HEADER_BYTES + metaBytes.length, 0));
  return buf;
}

/** Parts smaller than this are copied together into writes of about this size. */
const WRITE_BYTES_TARGET = 1024 * 1024;

/**
 * The file writes for `parts` placed from `position` on: a part of WRITE_BYTES_TARGET or more is
 * written as it is; smaller neighbours are gathered into `scratch()` (WRITE_BYTES_TARGET bytes,
 * reused: the writes are issued one at a time, each after the previous one completed). A fresh
 * buffer per gathered write cost its page faults, 9 ms of an 8 MiB snapshot's save against 0.3 ms
 * for the copy itself (docs/performance.md).
 */
function coalesce(parts: readonly Uint8Array[], position: number, scratch: () => Uint8Array): { position: number; bytes: () => Uint8Array }[] {
  const out: { position: number; bytes: () => Uint8Array }[] = [];
  let k = 0;
  while (k < parts.length) {
    const first = parts[k]!;
    if (first.length >= WRITE_BYTES_TARGET) {
      out.push({ position, bytes: () => first });
      position += first.length;
      k++;
      continue;
    }
    const from = k;
    let bytes = 0;
    while (k < parts.length && parts[k]!.length < WRITE_BYTES_TARGET && bytes + parts[k]!.length <= WRITE_BYTES_TARGET) bytes += parts[k++]!.length;
    const group = parts.slice(from, k);
    out.push({ position, bytes: () => (group.length === 1 ? group[0]! : gather(group, bytes, scratch())) });
    position += bytes;
  }
  return out;
}

/** `group`'s bytes, one after the other, at the start of `into` (which holds `bytes` or more). */
function gather(group: readonly Uint8Array[], bytes: number, into: Uint8Array): Uint8Array {
  invariant(bytes <= into.length, 'gathered snapshot write larger than its buffer');
  let at = 0;
  for (const part of group) {
    into.set(part, at);
    at += part.length;
  }
  return into.subarray(0, bytes);
}

/** Decodes and validates a snapshot file; returns the reason when it is not valid. */
function decodeSnapshot(buf: Uint8Array): { meta: SnapshotMeta; data: Uint8Array } | string {
  if (buf.length < HEADER_BYTES) return 'shorter than a snapshot header';
  const metaBytes = readU32(buf, 12);
  if (metaBytes > META_BYTES_MAX || HEADER_BYTES + metaBytes > buf.length) return 'meta length out of range';
  if (readU32(buf, 0) !== crc32Range(buf, 4, HEADER_BYTES + metaBytes, 0)) return 'header checksum mismatch';
  for (let i = 0; i < MAGIC.length; i++) if (buf[4 + i] !== MAGIC[i]) return 'magic mismatch';
  if (readU32(buf, 8) !== VERSION) return 'unknown version';
  const dataBytes = readU64(buf, 16);
  if (dataBytes < 0 || HEADER_BYTES + metaBytes + dataBytes !== buf.length) return 'length mismatch';
  const data = buf.subarray(HEADER_BYTES + metaBytes);
  if (crc32Bytes(data, 0) !== readU32(buf, 24)) return 'data checksum mismatch';
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + HEADER_BYTES, metaBytes).toString('utf8'));
  } catch {
    return 'meta is not JSON';
  }
  const meta = validMeta(parsed);
  return meta === null ? 'meta fields invalid' : { meta, data };
}

function validMeta(v: unknown): SnapshotMeta | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const m = o['membership'] as Record<string, unknown> | undefined;
  const ids = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');
  if (!Number.isSafeInteger(o['index']) || (o['index'] as number) < 0) return null;
  if (!Number.isSafeInteger(o['term']) || (o['term'] as number) < 0) return null;
  if (typeof m !== 'object' || m === null || !ids(m['voters']) || !ids(m['learners'])) return null;
  let membership: Membership = { voters: [...m['voters']], learners: [...m['learners']] };
  // A file is outside input like a peer's snapshot: the configuration Raft takes from it must be one
  // that a configuration entry could carry (a voter, no node twice, at most 256 members, node IDs).
  // The addresses are checked for shape only, as before: they were written from this node's own
  // bootstrap configuration or a decoded entry, and refusing our own file over one would lose it.
  try {
    validateMembership(membership);
  } catch {
    return null;
  }
  const a = m['addresses'];
  if (a !== undefined) {
    if (typeof a !== 'object' || a === null || Array.isArray(a)) return null;
    const addresses: Record<string, string> = {};
    for (const [id, address] of Object.entries(a as Record<string, unknown>)) {
      if (typeof address !== 'string' || id === '__proto__') return null;
      addresses[id] = address;
    }
    membership = { ...membership, addresses };
  }
  return { index: o['index'] as number, term: o['term'] as number, membership };
}

export class FileSnapshotStore implements SnapshotStore {
  /** Files skipped by the last `load()` and why. */
  lastLoadErrors: SnapshotLoadError[] = [];
  /** Entries of the directory that are not the store's and that it left alone (names in `dir`). */
  readonly foreign: string[] = [];
  private readonly kept: number;
  private readonly skipFsync: boolean;
  /** Saves run one at a time, in call order. */
  private readonly queue: Array<() => void> = [];
  private saving = false;
  /** The buffer small parts are gathered into for one write (WRITE_BYTES_TARGET; made on first use, kept). */
  private gatherBuffer: Uint8Array | null = null;

  constructor(
    private readonly fs: FileSystem,
    readonly dir: string,
    options: SnapshotStoreOptions = {},
  ) {
    this.kept = Math.max(1, options.snapshotsKept ?? 2);
    this.skipFsync = options.plantSkipFsync === true;
    fs.mkdirp(dir);
    for (const name of fs.readdir(dir)) {
      const ours = NAME.test(name) || (name.endsWith(TEMP_SUFFIX) && NAME.test(name.slice(0, -TEMP_SUFFIX.length)));
      if (!ours && !name.endsWith(TEMP_SUFFIX)) continue;
      // Files on disk are outside input: what a name the store acts on holds is checked first.
      const info = fileInfo(fs, join(dir, name));
      if (info.kind === 'other') {
        // A directory (or the like) under a name the store writes would fail a later save or its
        // cleanup: the operator must move it. Any other name is left alone and reported.
        if (ours) throw badDir(`${join(dir, name)} is not a regular file; snapshots are saved under that name: move it out of the directory`);
        this.foreign.push(name);
        continue;
      }
      // A temporary file is a save that crashed before its rename: never valid, never read.
      if (info.kind === 'file' && name.endsWith(TEMP_SUFFIX)) fs.unlink(join(dir, name));
    }
  }

  save(meta: SnapshotMeta, data: SnapshotBytes, cb: (err: Error | null) => void, dataCrc?: number): void {
    invariant(Number.isSafeInteger(meta.index) && meta.index >= 0, 'snapshot index invalid');
    invariant(Number.isSafeInteger(meta.term) && meta.term >= 0, 'snapshot term invalid');
    this.queue.push(() =>
      this.saveNow(meta, data, dataCrc, (err) => {
        this.saving = false;
        this.pump();
        cb(err);
      }),
    );
    this.pump();
  }

  private pump(): void {
    if (this.saving) return;
    const job = this.queue.shift();
    if (job === undefined) return;
    this.saving = true;
    job();
  }

  private saveNow(meta: SnapshotMeta, data: SnapshotBytes, dataCrc: number | undefined, done: Done): void {
    const parts: readonly Uint8Array[] = data instanceof Uint8Array ? [data] : data;
    const head = encodeSnapshotHead(meta, parts, dataCrc);
    const writes = coalesce(parts, head.length, () => (this.gatherBuffer ??= new Uint8Array(WRITE_BYTES_TARGET)));
    const name = snapshotFileName(meta);
    const temp = join(this.dir, name + TEMP_SUFFIX);
    let handle: FileHandle;
    try {
      handle = this.fs.open(temp, 'create');
    } catch (err) {
      // Through the callback like any other failure (a throw here would leave the queue stuck).
      done(ioError('snapshot open', err as Error));
      return;
    }
    let open = true;
    const close = (): void => {
      if (open) {
        open = false;
        handle.close();
      }
    };
    runSteps(
      [
        (next) => handle.write(head, 0, (err) => next(err && ioError('snapshot write', err))),
        // One write at a time, in order (a bounded number: a write per WRITE_BYTES_TARGET at most,
        // plus one per large part).
        (next) => {
          let k = 0;
          const one = (err: Error | null): void => {
            if (err) return next(ioError('snapshot write', err));
            if (k === writes.length) return next(null);
            const w = writes[k++]!;
            handle.write(w.bytes(), w.position, one);
          };
          one(null);
        },
        (next) => (this.skipFsync ? next(null) : handle.sync((err) => next(err && ioError('snapshot fdatasync', err)))),
        (next) => {
          close();
          this.fs.rename(temp, join(this.dir, name));
          // Older files go in the same directory sync: a crash keeps the rename whenever it keeps an unlink.
          for (const old of this.names().slice(this.kept)) this.fs.unlink(join(this.dir, old));
          if (this.skipFsync) next(null);
          else this.fs.syncDir(this.dir, (err) => next(err && ioError('snapshot directory fsync', err)));
        },
      ],
      (err) => {
        if (err !== null) close();
        done(err);
      },
    );
  }

  /** Snapshot file names, newest (highest index, then term) first. */
  private names(): string[] {
    return this.fs
      .readdir(this.dir)
      .filter((n) => NAME.test(n))
      .sort()
      .reverse();
  }

  openData(meta: SnapshotMeta): SnapshotReader | null {
    let handle: FileHandle;
    try {
      handle = this.fs.open(join(this.dir, snapshotFileName(meta)), 'existing');
    } catch {
      return null;
    }
    try {
      // The header and meta only (at most META_BYTES_MAX): the data is read as it is sent.
      const fixed = handle.readSync(0, HEADER_BYTES);
      if (fixed.length !== HEADER_BYTES) throw new Error('short header');
      const metaBytes = readU32(fixed, 12);
      if (metaBytes > META_BYTES_MAX) throw new Error('meta length out of range');
      const head = handle.readSync(0, HEADER_BYTES + metaBytes);
      if (head.length !== HEADER_BYTES + metaBytes || readU32(head, 0) !== crc32Range(head, 4, HEADER_BYTES + metaBytes, 0)) throw new Error('header checksum');
      for (let i = 0; i < MAGIC.length; i++) if (head[4 + i] !== MAGIC[i]) throw new Error('magic mismatch');
      if (readU32(head, 8) !== VERSION) throw new Error('unknown version');
      const dataBytes = readU64(head, 16);
      const dataStart = HEADER_BYTES + metaBytes;
      if (handle.size() !== dataStart + dataBytes) throw new Error('length mismatch');
      const parsed = validMeta(JSON.parse(Buffer.from(head.buffer, head.byteOffset + HEADER_BYTES, metaBytes).toString('utf8')));
      if (parsed === null || parsed.index !== meta.index || parsed.term !== meta.term) throw new Error('meta mismatch');
      return new FileSnapshotReader(handle, dataStart, dataBytes, readU32(head, 24));
    } catch {
      handle.close();
      return null;
    }
  }

  load(): { meta: SnapshotMeta; data: Uint8Array } | null {
    const errors: SnapshotLoadError[] = [];
    this.lastLoadErrors = errors;
    for (const name of this.names()) {
      let bytes: Uint8Array | SnapshotLoadError;
      try {
        bytes = readSnapshotFile(this.fs, join(this.dir, name), name);
      } catch (e) {
        errors.push({ file: name, code: 'snapshot-unreadable', message: (e as Error).message });
        continue;
      }
      if (!(bytes instanceof Uint8Array)) {
        errors.push(bytes);
        continue;
      }
      const got = decodeSnapshot(bytes);
      if (typeof got === 'string') {
        errors.push({ file: name, code: 'snapshot-checksum', message: got });
        continue;
      }
      const m = NAME.exec(name)!;
      if (Number(m[1]) !== got.meta.index || Number(m[2]) !== got.meta.term) {
        errors.push({ file: name, code: 'snapshot-checksum', message: 'file name does not match its meta' });
        continue;
      }
      return got;
    }
    return null;
  }
}

/**
 * A snapshot file's bytes, whole: the state machine restores from one array. Past 2 GiB (where
 * node:fs's readFile stops: until 2026-12-07 such a snapshot was reported unreadable and skipped,
 * the older one or none used) the header is checked first, then the file is read a chunk at a
 * time; past `kMaxLength` (4 GiB on Node 20) no array holds it: 'snapshot-too-large', not read.
 */
function readSnapshotFile(fs: FileSystem, path: string, file: string): Uint8Array | SnapshotLoadError {
  const info = fileInfo(fs, path);
  if (info.kind !== 'file') throw new Error('not a regular file');
  if (info.size <= READ_WHOLE_BYTES_MAX) return readWhole(fs, path);
  const handle = fs.open(path, 'existing');
  try {
    const fixed = handle.readSync(0, HEADER_BYTES);
    const metaBytes = fixed.length === HEADER_BYTES ? readU32(fixed, 12) : META_BYTES_MAX + 1;
    const head = metaBytes <= META_BYTES_MAX ? handle.readSync(0, HEADER_BYTES + metaBytes) : fixed;
    if (head.length !== HEADER_BYTES + metaBytes || readU32(head, 0) !== crc32Range(head, 4, head.length, 0)) {
      return { file, code: 'snapshot-checksum', message: 'header checksum mismatch' };
    }
    if (HEADER_BYTES + metaBytes + readU64(head, 16) !== info.size) return { file, code: 'snapshot-checksum', message: 'length mismatch' };
    if (info.size > kMaxLength) {
      return { file, code: 'snapshot-too-large', message: `${info.size} bytes: more than one array holds (${kMaxLength}), so it cannot be restored` };
    }
    const bytes = new Uint8Array(info.size);
    for (let at = 0; at < info.size; at += READ_CHUNK_BYTES) {
      const chunk = handle.readSync(at, Math.min(READ_CHUNK_BYTES, info.size - at));
      if (chunk.length !== Math.min(READ_CHUNK_BYTES, info.size - at)) throw new Error(`short read at ${at}`);
      bytes.set(chunk, at);
    }
    return bytes;
  } finally {
    handle.close();
  }
}

/** Reads one snapshot file's data through an open handle (still readable after a newer save unlinks it). */
class FileSnapshotReader implements SnapshotReader {
  private open = true;

  constructor(
    private readonly handle: FileHandle,
    private readonly dataStart: number,
    readonly byteLength: number,
    readonly dataCrc: number,
  ) {}

  read(offset: number, length: number): Uint8Array {
    invariant(this.open && offset >= 0 && length >= 0 && offset + length <= this.byteLength, 'snapshot read within the data');
    const bytes = this.handle.readSync(this.dataStart + offset, length);
    if (bytes.length !== length) throw ioError('snapshot read', new Error(`short read: ${bytes.length} of ${length} bytes`));
    return bytes;
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.handle.close();
  }
}
