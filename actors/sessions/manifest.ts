/**
 * The snapshot manifest's binary form (what `StateMachine.snapshot()` returns): the session table,
 * the client table, each replay class's due floor, and each data file's metadata with its range
 * digests. Data file bytes are not inside: they are on disk, and move between nodes by range sync.
 *
 *   "SRMF" u16 version | fingerprint | appliedTerm u64 | appliedIndex u64
 *   classes: u32 n | (class u8, lastDueMs u64)*
 *   files:   u32 n | (class u8, id 2*u64, size, readCursor, consumed u64, sealed u8,
 *                     u32 n | restored length u32*, u32 n | (start u64, end u64, count u32, hash 16)*)*
 *   sessions: u32 n | (id 2*u64, topic str, u32 n | (u32 len, bytes)*)*
 *   clients:  u32 n | (id 2*u64, secret 16, [owner str (version 4)], lastIndex u64, ackedBelowSeq u64, u32 n | (seq u64, ok u8, code str, value)*)*
 *   groups:   u32 len | the group table (consumerGroups.ts)                    (version 3; its format 2 since version 5)
 *   auth:     u32 len | users, roles, permissions (authTable.ts)              (version 4)
 *   features: u32 the feature flags turned on (codec.ts FEATURES)           (version 6)
 *   restores: u32 n | (session position u32, restore id 2*u64)*   (with remove-own-restore on)
 *   crc32 u32 of everything before
 *
 * Decoding validates everything (a received snapshot is input): any problem is a SessionsError
 * with code SESSIONS_ERR_SNAPSHOT_CORRUPT. Version 2 added each client's secret (issue 14); a
 * version 1 manifest is SESSIONS_ERR_SNAPSHOT_VERSION (its clients could never prove their IDs).
 * Version 4 (issue 17) added each client's owner and the auth table; versions 2 and 3 are read as
 * manifests whose clients belong to no user ('') and with no users. Version 5 (issue 16, dead
 * letters replayable) changed the group table's format: dead letters hold their restores; the
 * group table of versions 3 and 4 is upgraded on decode (its dead letters are not replayable).
 * Version 6 (feature flags, 2026-12-05) added the flags; versions 2 to 5 are read with none on.
 * With the flag remove-own-restore on (2026-12-07), a last section names, for each active session
 * that a SessionRestore made active under the flag, that restore (by the session's position in the
 * list, increasing): an older node refuses the flag's bit before it could misread the section.
 */
import { FEATURES, FEATURES_KNOWN, REPLAY_CLASSES_MAX, SECRET_BYTES, dataFileName, readU32BE } from '../../transport/commands/codec.js';
import { crc32Bytes, crc32Range } from '../../storage/crc.js';
import { ByteReader, ManifestFormatError, SplicingWriter, joinedBytes, type ByteWriter } from './binary.js';
import { ArenaSessionSnapshot, type SessionCapture } from './sessionTable.js';
import { upgradeGroupTable, type GroupTableCapture } from './consumerGroups.js';
import { SessionsError, SessionsErrorCode, type ResultCode } from './errors.js';
import type { ClassMeta, ClientSnapshot, CommandResult, FileMeta, Manifest, RangeDigest } from './types.js';

const MAGIC = [0x53, 0x52, 0x4d, 0x46]; // "SRMF"
const VERSION = 6;
/** Version 5 (before feature flags) is read with no flag on. */
const VERSION_NO_FEATURES = 5;
/** Version 4 (before dead letters held their records) is read with its group table upgraded. */
const VERSION_GROUPS_1 = 4;
/** Version 3 (before users, issue 17) is read as a manifest with no users and clients owned by ''. */
const VERSION_NO_AUTH = 3;
/** Version 2 (before consumer groups) is read as a manifest with no groups. */
const VERSION_NO_GROUPS = 2;

function hexToBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function bytesToHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (b[i]! < 16 ? '0' : '') + b[i]!.toString(16);
  return s;
}

function writeResult(w: ByteWriter, r: CommandResult): void {
  w.u8(r.ok ? 1 : 0);
  w.str(r.code);
  if (r.value === null) w.u8(0);
  else {
    w.u8(1);
    w.bytes(r.value);
  }
}

function readResult(r: ByteReader): CommandResult {
  const ok = r.u8();
  if (ok > 1) throw new ManifestFormatError('bad ok flag');
  const code = r.str() as ResultCode;
  const has = r.u8();
  if (has > 1) throw new ManifestFormatError('bad value flag');
  const value = has === 1 ? r.bytes() : null;
  return { ok: ok === 1, code, value };
}

/** Records of a session spliced in by reference from this size on (smaller ones are copied). */
const SPLICE_BYTES_MIN = 256;

function spliced(part: Uint8Array): boolean {
  return part.length >= SPLICE_BYTES_MIN;
}

/**
 * An upper bound of the bytes the main writer holds, so that it never grows (copies) while
 * encoding: all but the spliced records, the clients (a writer of their own) and the groups and
 * auth tables (spliced).
 */
function sizeBound(m: Manifest): number {
  let n = headBound(m, m.sessions.length);
  for (const s of m.sessions) {
    n += 26 + 3 * s.topic.length;
    if (s instanceof ArenaSessionSnapshot) {
      for (const part of s.parts) if (!spliced(part)) n += part.length;
    } else for (const r of s.records) n += 4 + r.length;
  }
  return n;
}

/** sizeBound without the sessions' own bytes. */
function headBound(m: Manifest, sessions: number): number {
  let n = 64 + 3 * m.fingerprint.length + 9 * m.classes.length;
  for (const f of m.files) n += 64 + 4 * f.restoredLengths.length + 36 * f.ranges.length;
  // Lengths of the groups and auth sections, the features, the restores section, the CRC.
  return n + 16 + 20 * sessions + 8;
}

/** The manifest as one buffer. */
export function encodeManifest(m: Manifest): Uint8Array {
  const parts = encodeManifestParts(m);
  if (parts.length === 1) return parts[0]!;
  // A buffer of its own (Buffer.concat may hand out a slice of Node's shared pool).
  let bytes = 0;
  for (const p of parts) bytes += p.length;
  return joinedBytes(parts, bytes);
}

/**
 * The manifest as parts whose concatenation is `encodeManifest(m)`: each session's records of
 * SPLICE_BYTES_MIN or more are a view of its arena (its bytes never change), not a copy, so a
 * snapshot of 100 MB of active records costs its small fields, not another 100 MB (issue 18).
 */
export function encodeManifestParts(m: Manifest): Uint8Array[] {
  const enc = manifestEncoder(m);
  for (;;) {
    const r = enc.next();
    if (r.done === true) return r.value.parts;
  }
}

/** Sessions encoded, and parts checksummed, between two yields of manifestEncoder. */
const ENCODE_SLICE_SESSIONS = 2048;
const ENCODE_SLICE_PARTS = 8192;

/**
 * encodeManifestParts in steps (2026-12-07): a generator whose first step reads what is live (the
 * header, the data files, the clients; `groups`, a capture of the group table, was taken by the
 * caller at the same point), and whose later steps encode ENCODE_SLICE_SESSIONS sessions, a slice
 * of the group table (GroupTableCapture.encoder), or checksum ENCODE_SLICE_PARTS parts each. It
 * returns the parts and the CRC-32 of all of them (the snapshot file's header carries it:
 * SnapshotStore.save's dataCrc). After its first step only the manifest's sessions, its auth
 * bytes and the capture are read: snapshots whose records are views of bytes that never change,
 * as a snapshot's save already relies on. A node with 90,000 active sessions of 1 KiB spent
 * 150-250 ms in one piece here on an idle machine and up to 650 ms under load, past the election
 * timeout: its followers elected another leader at every snapshot (the delayed benchmark's backlog
 * row). With 90,000 ready items in a group, the group table's encoding and the restores section
 * took another 100-300 ms under load in the first step (2026-12-07 night); they are in the later steps now.
 * Without `live`, `m.sessions` are listed and `m.groups` (bytes) spliced in.
 */
export function* manifestEncoder(m: Manifest, live?: LiveCaptures): Generator<void, { readonly parts: Uint8Array[]; readonly crc: number }, void> {
  // The session capture released however the encoding ends (a throw, or a caller's return()): an
  // open capture makes every rewrite keep the chunks it drops.
  try {
    return yield* encodeSteps(m, live);
  } finally {
    live?.sessions.release();
  }
}

function* encodeSteps(m: Manifest, live?: LiveCaptures): Generator<void, { readonly parts: Uint8Array[]; readonly crc: number }, void> {
  // With captures the sessions' copied records are not counted ahead (that would read every
  // session now): the writer adds buffers for them in the later steps, copying nothing.
  const w = new SplicingWriter(live === undefined ? sizeBound(m) : headBound(m, live.sessions.length) + 40 * live.sessions.length);
  for (const b of MAGIC) w.u8(b);
  // Version 5 while no flag is on (the same information): nodes of the version before flags can
  // still install it during a rolling upgrade, until the operator turns a flag on.
  const features = m.features ?? 0;
  w.u16(features === 0 ? VERSION_NO_FEATURES : VERSION);
  w.str(m.fingerprint);
  w.u64(m.appliedTerm);
  w.u64(m.appliedIndex);
  w.u32(m.classes.length);
  for (const c of m.classes) {
    w.u8(c.replayClass);
    w.u64(c.lastDueMs);
  }
  w.u32(m.files.length);
  for (const f of m.files) {
    w.u8(f.replayClass);
    w.u64(f.fileHigh);
    w.u64(f.fileLow);
    w.u64(f.size);
    w.u64(f.readCursor);
    w.u64(f.consumed);
    w.u8(f.sealed ? 1 : 0);
    w.u32(f.restoredLengths.length);
    for (const len of f.restoredLengths) w.u32(len);
    w.u32(f.ranges.length);
    for (const r of f.ranges) {
      w.u64(r.start);
      w.u64(r.end);
      w.u32(r.count);
      w.raw(hexToBytes(r.hash));
    }
  }
  // The clients section after the sessions, now: it is read from live state.
  const clients = new SplicingWriter(clientsBound(m));
  clients.u32(m.clients.length);
  for (const c of m.clients) {
    clients.u64(c.high);
    clients.u64(c.low);
    clients.raw(c.secret);
    clients.str(c.owner ?? '');
    clients.u64(c.lastIndex);
    clients.u64(c.ackedBelowSeq);
    clients.u32(c.results.length);
    for (const r of c.results) {
      clients.u64(r.seq);
      writeResult(clients, r.result);
    }
  }
  yield;
  const sessionCount = live === undefined ? m.sessions.length : live.sessions.length;
  w.u32(sessionCount);
  for (let k = 0; k < sessionCount; k++) {
    if (k > 0 && k % ENCODE_SLICE_SESSIONS === 0) yield;
    const s = live === undefined ? m.sessions[k]! : live.sessions.at(k);
    w.u64(s.high);
    w.u64(s.low);
    w.str(s.topic);
    if (s instanceof ArenaSessionSnapshot) {
      // The arena's parts are already (u32 len, bytes)*: by reference, or one copy when small.
      w.u32(s.count);
      for (const part of s.parts) {
        if (spliced(part)) w.splice(part);
        else w.raw(part);
      }
    } else {
      w.u32(s.records.length);
      for (const rec of s.records) w.bytes(rec);
    }
  }
  // Read: rewrites from here on keep nothing for it.
  live?.sessions.release();
  for (const part of clients.parts()) w.splice(part);
  let table = m.groups ?? EMPTY;
  if (live !== undefined) {
    const enc = live.groups.encoder();
    for (;;) {
      yield;
      const r = enc.next();
      if (r.done === true) {
        table = r.value;
        break;
      }
    }
  }
  w.u32(table.length);
  w.splice(table);
  const auth = m.auth ?? EMPTY;
  w.u32(auth.length);
  w.splice(auth);
  if (features !== 0) w.u32(features);
  if ((features & FEATURES.removeOwnRestore) !== 0) writeRestores(w, live === undefined ? m.sessions : live.sessions.sessions);
  const parts = w.parts();
  let crc = 0;
  for (let k = 0; k < parts.length; k++) {
    if (k > 0 && k % ENCODE_SLICE_PARTS === 0) yield;
    crc = crc32Bytes(parts[k]!, crc);
  }
  w.u32(crc);
  const out = w.parts();
  // The whole data's CRC: the manifest's, continued over its own four bytes.
  const last = out[out.length - 1]!;
  return { parts: out, crc: crc32Range(last, last.length - 4, last.length, crc) };
}

const EMPTY = new Uint8Array(0);

/**
 * The session and group tables captured (SessionTable.capture, GroupTable.capture) at the
 * manifest's moment, encoded by manifestEncoder in its later steps in place of the manifest's
 * `sessions` and `groups`.
 */
export interface LiveCaptures {
  readonly sessions: SessionCapture;
  readonly groups: GroupTableCapture;
}

/** An upper bound of the clients section's bytes. */
function clientsBound(m: Manifest): number {
  let n = 4;
  for (const c of m.clients) {
    n += 42 + SECRET_BYTES + 3 * (c.owner?.length ?? 0);
    for (const r of c.results) n += 16 + 3 * r.result.code.length + (r.result.value?.length ?? 0);
  }
  return n;
}

/** The restores section: each session that records the restore that made it active, by position. */
function writeRestores(w: ByteWriter, sessions: readonly { readonly restoreHigh?: number; readonly restoreLow?: number }[]): void {
  let n = 0;
  for (const s of sessions) if ((s.restoreLow ?? 0) !== 0) n++;
  w.u32(n);
  for (let k = 0; k < sessions.length; k++) {
    const s = sessions[k]!;
    if ((s.restoreLow ?? 0) === 0) continue;
    w.u32(k);
    w.u64(s.restoreHigh ?? 0);
    w.u64(s.restoreLow!);
  }
}

/** Reads the restores section into the sessions it names (replaced by copies that carry them). */
function readRestores(r: ByteReader, sessions: ArenaSessionSnapshot[]): void {
  const n = r.count(20);
  let next = 0;
  for (let j = 0; j < n; j++) {
    const at = r.u32();
    const restoreHigh = r.u64();
    const restoreLow = r.u64();
    if (at < next || at >= sessions.length) bad(`restore of session position ${at}`);
    // A restore's ID is its entry's (term, index): never index 0.
    if (restoreLow === 0) bad(`restore ${restoreHigh}.0`);
    const s = sessions[at]!;
    sessions[at] = new ArenaSessionSnapshot(s.high, s.low, s.topic, s.parts, s.framedBytes, s.count, restoreHigh, restoreLow);
    next = at + 1;
  }
}

function bad(msg: string): never {
  throw new ManifestFormatError(msg);
}

function readManifest(data: Uint8Array): Manifest {
  if (data.length < 10) bad('too short');
  const body = data.subarray(0, data.length - 4);
  if (readU32BE(data, data.length - 4) !== crc32Bytes(body, 0)) bad('checksum mismatch');
  const r = new ByteReader(body);
  for (const b of MAGIC) if (r.u8() !== b) bad('not a session store manifest');
  const version = r.u16();
  if (version === 1) {
    throw new SessionsError(
      SessionsErrorCode.snapshotVersion,
      `manifest version 1 was written before client secrets (issue 14); this node reads version ${VERSION}: start it on a fresh data directory`,
    );
  }
  if (version !== VERSION && version !== VERSION_NO_FEATURES && version !== VERSION_GROUPS_1 && version !== VERSION_NO_AUTH && version !== VERSION_NO_GROUPS)
    bad(`manifest version ${version}`);
  const fingerprint = r.str();
  const appliedTerm = r.u64();
  const appliedIndex = r.u64();
  const classes: ClassMeta[] = [];
  const nClasses = r.count(9);
  const seenClasses = new Set<number>();
  for (let k = 0; k < nClasses; k++) {
    const replayClass = r.u8();
    if (replayClass >= REPLAY_CLASSES_MAX || seenClasses.has(replayClass)) bad(`class ${replayClass}`);
    seenClasses.add(replayClass);
    classes.push({ replayClass, lastDueMs: r.u64() });
  }
  const files: FileMeta[] = [];
  const nFiles = r.count(50);
  const seenFiles = new Set<string>();
  for (let k = 0; k < nFiles; k++) {
    const replayClass = r.u8();
    if (replayClass >= REPLAY_CLASSES_MAX) bad(`file class ${replayClass}`);
    const fileHigh = r.u64();
    const fileLow = r.u64();
    if (fileLow === 0) bad('file ID');
    const name = dataFileName(replayClass, fileHigh, fileLow);
    if (seenFiles.has(name)) bad(`file ${name} listed twice`);
    seenFiles.add(name);
    const size = r.u64();
    const readCursor = r.u64();
    const consumed = r.u64();
    const sealed = r.u8();
    if (sealed > 1) bad('sealed flag');
    if (!(consumed <= readCursor && readCursor <= size)) bad(`${name}: consumed ${consumed}, cursor ${readCursor}, size ${size}`);
    const restoredLengths: number[] = [];
    const nRestored = r.count(4);
    let sum = 0;
    for (let j = 0; j < nRestored; j++) {
      const len = r.u32();
      restoredLengths.push(len);
      sum += len;
    }
    if (sum !== readCursor - consumed) bad(`${name}: restored lengths do not add up`);
    const ranges: RangeDigest[] = [];
    const nRanges = r.count(36);
    let end = 0;
    for (let j = 0; j < nRanges; j++) {
      const start = r.u64();
      const rangeEnd = r.u64();
      const count = r.u32();
      const hash = bytesToHex(r.raw(16));
      if (start !== end || rangeEnd <= start || count === 0) bad(`${name}: range ${start}..${rangeEnd}`);
      end = rangeEnd;
      ranges.push({ start, end: rangeEnd, count, hash });
    }
    if (end !== size) bad(`${name}: ranges end at ${end}, size ${size}`);
    files.push({ replayClass, fileHigh, fileLow, name, size, readCursor, consumed, sealed: sealed === 1, restoredLengths, ranges });
  }
  const sessions: ArenaSessionSnapshot[] = [];
  const nSessions = r.count(22);
  for (let k = 0; k < nSessions; k++) {
    const high = r.u64();
    const low = r.u64();
    const topic = r.str();
    const n = r.count(4);
    // One view of the session's framed records (a copy each would be a third copy of them all).
    const framed = r.framed(n);
    sessions.push(new ArenaSessionSnapshot(high, low, topic, [framed], framed.length, n));
  }
  const clients: ClientSnapshot[] = [];
  const nClients = r.count(36 + SECRET_BYTES);
  for (let k = 0; k < nClients; k++) {
    const high = r.u64();
    const low = r.u64();
    const secret = r.raw(SECRET_BYTES).slice();
    const owner = version >= VERSION_GROUPS_1 ? r.str() : '';
    const lastIndex = r.u64();
    const ackedBelowSeq = r.u64();
    const n = r.count(12);
    const results: { seq: number; result: CommandResult }[] = [];
    for (let j = 0; j < n; j++) results.push({ seq: r.u64(), result: readResult(r) });
    clients.push({ high, low, secret, owner, lastIndex, ackedBelowSeq, results });
  }
  const groupBytes = version >= VERSION_NO_AUTH ? r.bytes() : new Uint8Array(0);
  const auth = version >= VERSION_GROUPS_1 ? r.bytes() : new Uint8Array(0);
  let groups = groupBytes;
  if (version < VERSION_NO_FEATURES && groupBytes.length > 0) {
    try {
      groups = upgradeGroupTable(groupBytes);
    } catch (err) {
      bad(`group table (format 1): ${(err as Error).message}`);
    }
  }
  const features = version >= VERSION ? r.u32() : 0;
  if ((features & ~FEATURES_KNOWN) !== 0) bad(`feature flags ${features} unknown to this version`);
  // Canonical: with no flag on the encoder writes version 5, so equal states have equal bytes.
  if (version >= VERSION && features === 0) bad('a version 6 manifest with no feature flag on');
  if ((features & FEATURES.removeOwnRestore) !== 0) readRestores(r, sessions);
  if (!r.done()) bad('trailing bytes');
  return { fingerprint, appliedTerm, appliedIndex, classes, files, sessions, clients, groups, auth, features };
}

export function decodeManifest(data: Uint8Array): Manifest {
  try {
    return readManifest(data);
  } catch (err) {
    if (err instanceof ManifestFormatError) throw new SessionsError(SessionsErrorCode.snapshotCorrupt, err.message);
    throw err;
  }
}
