/**
 * A small in-memory reference model of the session store, written from the spec (docs/sessions.md)
 * without the store's code, and a runner that feeds the same random command sequences to the real
 * store (on a real directory or on MemorySessionFs with its crash model) and to the model, with
 * crashes and restarts at random points, comparing every result and the observable state.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  CommandError,
  CommandKind,
  STORED_RECORD_HEADER_BYTES,
  commandId,
  commandKindNames,
  dataFileName,
  decodeCommand,
  type Command,
  type Envelope,
} from '../../transport/commands/codec.js';
import type { Entry } from '../../machines/types.js';
import { NodeSessionFs, type SessionFs } from '../../actors/sessions/fs.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { codecLimitsOf, resolveLimits, type StoreLimits } from '../../actors/sessions/options.js';
import { parseStoredSession } from '../../actors/sessions/record.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult, Delivery } from '../../actors/sessions/types.js';
import { TestLog, dirFiles, removeDir, sameFiles, tempDir, testSecret } from './helpers.js';

export const modelLimits: Partial<StoreLimits> = {
  topicBytesMax: 8,
  recordBytesMax: 32,
  sessionBytesMax: 64,
  sessionRecordsMax: 6,
  activeSessionsMax: 6,
  activeBytesMax: 200,
  clientsMax: 3,
  clientResultsMax: 4,
  rangeRecordsMax: 3,
  rangeBytesMax: 300,
};
const L = resolveLimits(modelLimits);
const codec = codecLimitsOf(L);
export const TOPICS = ['a', 'b', 'c', 'toolongtopic'];
const enc = new TextEncoder();

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const idParts = (id: Uint8Array): [number, number] => {
  const b = Buffer.from(id);
  return [Number(b.readBigUInt64BE(0)), Number(b.readBigUInt64BE(8))];
};

// ---- the reference model --------------------------------------------------------------------

interface MSession {
  readonly id: string;
  readonly topic: string;
  records: Uint8Array[];
}
interface MRecord {
  readonly session: string;
  readonly topic: string;
  readonly records: Uint8Array[];
  readonly dueMs: number;
  readonly isVoid: boolean;
  readonly length: number;
}
interface MFile {
  readonly id: string;
  readonly cls: number;
  readonly name: string;
  readonly records: MRecord[];
  readIdx: number;
  consumedIdx: number;
  sealed: boolean;
}
interface MClient {
  readonly id: string;
  /** Hex of the secret its ClientRegister carried: an envelope must carry the same. */
  readonly secret: string;
  acked: number;
  readonly results: Map<number, Res>;
}
export interface Res {
  readonly ok: boolean;
  readonly code: string;
  readonly value: string | null;
  readonly duplicate?: true;
}
export interface MDelivery {
  readonly restoreId: string;
  readonly session: string;
  readonly topic: string;
  readonly records: string[];
}

const ok = (value: string | null = null): Res => ({ ok: true, code: 'OK', value });
const err = (code: string): Res => ({ ok: false, code, value: null });

export class RefModel {
  readonly sessions = new Map<string, MSession>();
  readonly classes = new Map<number, { files: MFile[]; lastDue: number }>();
  /** Least recently active first. */
  readonly clients = new Map<string, MClient>();
  readonly deliveries: MDelivery[] = [];

  activeBytes(): number {
    let n = 0;
    for (const s of this.sessions.values()) for (const r of s.records) n += r.length;
    return n;
  }

  file(id: string, cls: number): MFile | undefined {
    const c = this.classes.get(cls);
    return c?.files.find((f) => f.id === id);
  }

  newest(cls: number): MFile | undefined {
    const c = this.classes.get(cls);
    return c === undefined ? undefined : c.files[c.files.length - 1];
  }

  size(f: MFile): number {
    return f.records.reduce((n, r) => n + r.length, 0);
  }

  cursor(f: MFile, idx: number): number {
    return f.records.slice(0, idx).reduce((n, r) => n + r.length, 0);
  }

  static recordLength(s: MSession): number {
    return STORED_RECORD_HEADER_BYTES + enc.encode(s.topic).length + s.records.reduce((n, r) => n + 4 + r.length, 0);
  }

  apply(e: Entry): Res {
    let c: Command;
    try {
      c = decodeCommand(e.data, codec);
    } catch (x) {
      return err((x as CommandError).code);
    }
    const env = 'envelope' in c ? c.envelope : null;
    if (env === null) return this.exec(c, e);
    const key = hex(env.client);
    const cl = this.clients.get(key);
    if (cl === undefined) {
      if (c.kind === CommandKind.sessionStore) this.store(c, e, false);
      return err('SESSIONS_ERR_CLIENT_UNKNOWN');
    }
    // Not the client's secret: refused before anything about the client changes (docs/sessions.md).
    if (hex(env.secret) !== cl.secret) {
      if (c.kind === CommandKind.sessionStore) this.store(c, e, false);
      return err('SESSIONS_ERR_CLIENT_AUTH');
    }
    this.clients.delete(key);
    this.clients.set(key, cl);
    if (env.ackedBelowSeq > cl.acked) {
      cl.acked = env.ackedBelowSeq;
      for (const s of [...cl.results.keys()]) if (s < cl.acked) cl.results.delete(s);
    }
    let verdict: Res | null = null;
    if (env.seq < cl.acked) verdict = err('SESSIONS_ERR_SEQ_STALE');
    else if (cl.results.has(env.seq)) verdict = { ...cl.results.get(env.seq)!, duplicate: true };
    else if (cl.results.size >= L.clientResultsMax) verdict = err('SESSIONS_ERR_CLIENT_WINDOW');
    if (verdict !== null) {
      if (c.kind === CommandKind.sessionStore) this.store(c, e, false);
      return verdict;
    }
    const r = this.exec(c, e);
    cl.results.set(env.seq, r);
    return r;
  }

  private exec(c: Command, e: Entry): Res {
    switch (c.kind) {
      case CommandKind.sessionCreate: {
        if (this.sessions.size >= L.activeSessionsMax) return err('SESSIONS_ERR_TOO_MANY_SESSIONS');
        const id = hex(commandId(e.term, e.index));
        this.sessions.set(id, { id, topic: c.topic, records: [] });
        return ok(id);
      }
      case CommandKind.sessionAppend: {
        const s = this.sessions.get(hex(c.session));
        if (s === undefined) return err('SESSIONS_ERR_SESSION_UNKNOWN');
        const bytes = s.records.reduce((n, r) => n + r.length, 0);
        if (s.records.length >= L.sessionRecordsMax) return err('SESSIONS_ERR_SESSION_TOO_MANY_RECORDS');
        if (bytes + c.bytes.length > L.sessionBytesMax) return err('SESSIONS_ERR_SESSION_TOO_LARGE');
        if (this.activeBytes() + c.bytes.length > L.activeBytesMax) return err('SESSIONS_ERR_STORE_FULL');
        s.records.push(c.bytes);
        return ok();
      }
      case CommandKind.sessionRewrite: {
        const s = this.sessions.get(hex(c.session));
        if (s === undefined) return err('SESSIONS_ERR_SESSION_UNKNOWN');
        const bytes = s.records.reduce((n, r) => n + r.length, 0);
        if (this.activeBytes() - bytes + c.bytes.length > L.activeBytesMax) return err('SESSIONS_ERR_STORE_FULL');
        s.records = [c.bytes];
        return ok();
      }
      case CommandKind.sessionDestroy: {
        if (!this.sessions.delete(hex(c.session))) return err('SESSIONS_ERR_SESSION_UNKNOWN');
        return ok();
      }
      case CommandKind.sessionStore:
        return this.store(c, e, true);
      case CommandKind.sessionRestore: {
        const f = this.file(hex(c.file), c.replayClass);
        if (f === undefined) return err('SESSIONS_ERR_FILE_UNKNOWN');
        const cur = this.cursor(f, f.readIdx);
        if (cur + c.length > this.size(f)) return err('SESSIONS_ERR_NOTHING_TO_RESTORE');
        const rec = f.records[f.readIdx]!;
        if (rec.length !== c.length) return err('SESSIONS_ERR_RECORD_LENGTH');
        if (!rec.isVoid) {
          if (this.sessions.size >= L.activeSessionsMax) return err('SESSIONS_ERR_TOO_MANY_SESSIONS');
          const bytes = rec.records.reduce((n, r) => n + r.length, 0);
          if (this.activeBytes() + bytes > L.activeBytesMax) return err('SESSIONS_ERR_STORE_FULL');
          expect(this.sessions.has(rec.session), 'restoring an active session').to.equal(false);
          this.sessions.set(rec.session, { id: rec.session, topic: rec.topic, records: rec.records.slice() });
          this.deliveries.push({ restoreId: hex(commandId(e.term, e.index)), session: rec.session, topic: rec.topic, records: rec.records.map(hex) });
        }
        f.readIdx++;
        return { ok: true, code: rec.isVoid ? 'OK_VOID_RECORD' : 'OK', value: rec.session };
      }
      case CommandKind.sessionCommit: {
        const f = this.file(hex(c.file), c.replayClass);
        if (f === undefined) return err('SESSIONS_ERR_FILE_UNKNOWN');
        if (f.consumedIdx >= f.readIdx) return err('SESSIONS_ERR_NOTHING_TO_COMMIT');
        // One commit consumes the oldest restored record, or the first k whose lengths sum to its length.
        let k = f.consumedIdx;
        let sum = 0;
        while (k < f.readIdx && sum < c.length) sum += f.records[k++]!.length;
        if (sum !== c.length) return err('SESSIONS_ERR_RECORD_LENGTH');
        f.consumedIdx = k;
        return ok();
      }
      case CommandKind.dataCreate: {
        let cls = this.classes.get(c.replayClass);
        if (cls === undefined) this.classes.set(c.replayClass, (cls = { files: [], lastDue: 0 }));
        const prev = cls.files[cls.files.length - 1];
        if (prev !== undefined) prev.sealed = true;
        const id = hex(commandId(e.term, e.index));
        cls.files.push({ id, cls: c.replayClass, name: dataFileName(c.replayClass, e.term, e.index), records: [], readIdx: 0, consumedIdx: 0, sealed: false });
        return ok(id);
      }
      case CommandKind.dataDelete: {
        const f = this.file(hex(c.file), c.replayClass);
        if (f === undefined) return err('SESSIONS_ERR_FILE_UNKNOWN');
        if (!f.sealed || f.consumedIdx !== f.records.length) return err('SESSIONS_ERR_FILE_NOT_CONSUMED');
        const cls = this.classes.get(c.replayClass)!;
        cls.files.splice(cls.files.indexOf(f), 1);
        return ok();
      }
      case CommandKind.clientRegister: {
        while (this.clients.size >= L.clientsMax) this.clients.delete(this.clients.keys().next().value as string);
        const id = hex(commandId(e.term, e.index));
        this.clients.set(id, { id, secret: hex(c.secret), acked: 0, results: new Map() });
        return ok(id + hex(c.secret));
      }
    }
    throw new Error('unreachable');
  }

  private store(c: Extract<Command, { kind: 4 }>, _e: Entry, apply: boolean): Res {
    const cls = this.classes.get(c.replayClass)!;
    const f = cls.files[cls.files.length - 1]!;
    expect(f.id).to.equal(hex(c.file));
    expect(this.size(f)).to.equal(c.offset);
    cls.lastDue = c.dueMs;
    const s = apply ? this.sessions.get(hex(c.session)) : undefined;
    if (s !== undefined) {
      expect(RefModel.recordLength(s)).to.equal(c.length);
      this.sessions.delete(s.id);
      f.records.push({ session: s.id, topic: s.topic, records: s.records, dueMs: c.dueMs, isVoid: false, length: c.length });
      return ok();
    }
    f.records.push({ session: hex(c.session), topic: '', records: [], dueMs: c.dueMs, isVoid: true, length: c.length });
    return err('SESSIONS_ERR_SESSION_UNKNOWN');
  }
}

// ---- random operations ------------------------------------------------------------------------

export type Op =
  | { readonly t: 'create'; readonly topic: number; readonly env: number }
  | { readonly t: 'append' | 'rewrite'; readonly pick: number; readonly len: number; readonly env: number }
  | { readonly t: 'destroy'; readonly pick: number; readonly env: number }
  | { readonly t: 'store'; readonly pick: number; readonly cls: number; readonly due: number; readonly ghost: boolean; readonly env: number }
  | { readonly t: 'restore' | 'commit'; readonly cls: number; readonly pick: number; readonly wrong: boolean }
  | { readonly t: 'dataCreate'; readonly cls: number }
  | { readonly t: 'dataDelete'; readonly cls: number; readonly pick: number }
  | { readonly t: 'register' }
  /** What the scheduler does: restore and commit every record of a class, seal, delete consumed files. */
  | { readonly t: 'drain'; readonly cls: number }
  | { readonly t: 'garbage'; readonly bytes: Uint8Array }
  | { readonly t: 'apply' | 'snapshot' | 'crash' | 'noop' | 'newTerm' };

const pick = fc.nat(50);
/**
 * env: 0 none; 1..12: which client (mod registered), odd = retry the client's last seq; 13..18: a
 * forgery in that client's name (its ID, another secret) with a future seq, a seq it used, or a
 * raised ackedBelowSeq.
 */
const env = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 2, arbitrary: fc.integer({ min: 1, max: 12 }) },
  { weight: 1, arbitrary: fc.integer({ min: 13, max: 18 }) },
);
const cls = fc.integer({ min: 0, max: 2 });

export const arbOp: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ t: fc.constant('create' as const), topic: fc.integer({ min: 0, max: 3 }), env }) },
  { weight: 8, arbitrary: fc.record({ t: fc.constant('append' as const), pick, len: fc.integer({ min: 0, max: 36 }), env }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('rewrite' as const), pick, len: fc.integer({ min: 0, max: 36 }), env }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('destroy' as const), pick, env }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('store' as const), pick, cls, due: fc.integer({ min: 0, max: 1000 }), ghost: fc.boolean(), env }) },
  { weight: 5, arbitrary: fc.record({ t: fc.constant('restore' as const), cls, pick, wrong: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ t: fc.constant('commit' as const), cls, pick, wrong: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('dataCreate' as const), cls }) },
  { weight: 2, arbitrary: fc.record({ t: fc.constant('dataDelete' as const), cls, pick }) },
  { weight: 1, arbitrary: fc.constant({ t: 'register' as const }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('drain' as const), cls }) },
  { weight: 1, arbitrary: fc.record({ t: fc.constant('garbage' as const), bytes: fc.uint8Array({ maxLength: 24 }) }) },
  { weight: 3, arbitrary: fc.constant({ t: 'apply' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'snapshot' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'noop' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'newTerm' as const }) },
);

// ---- the runner -------------------------------------------------------------------------------

/** Builds concrete entries from operations, using the model (the planner's role in these tests). */
class Builder {
  readonly log = new TestLog();
  readonly expected: Res[] = [];
  /** `<kind>:<code>` -> how many entries had that outcome (to check the generator reaches every path). */
  readonly outcomes = new Map<string, number>();
  readonly model = new RefModel();
  private readonly seqs = new Map<string, { seq: number; acked: number }>();
  private readonly registered: string[] = [];

  private envelope(n: number): Envelope | null {
    if (n === 0 || this.registered.length === 0) return null;
    // A registered client's credential: ID (32 hex digits) then secret (32 hex digits).
    const credential = this.registered[Math.floor(n / 2) % this.registered.length]!;
    const client = credential.slice(0, 32);
    const secret = Buffer.from(credential.slice(32), 'hex');
    let st = this.seqs.get(client);
    if (st === undefined) this.seqs.set(client, (st = { seq: 0, acked: 0 }));
    if (n >= 13) {
      // The forger knows the ID (they are guessable), not the secret; it never moves the client's own seqs.
      const wrong = secret.map((b, i) => (i === n % 16 ? b ^ 0x5a : b));
      const seq = n % 3 === 0 ? st.seq + 1 + (n % 2) : n % 3 === 1 ? Math.max(1, st.seq) : st.seq + 50;
      return { client: Buffer.from(client, 'hex'), secret: wrong, seq, ackedBelowSeq: n % 3 === 2 ? seq : 0 };
    }
    if (n % 2 === 0 || st.seq === 0) {
      st.seq++;
      if (n % 4 === 0) st.acked = st.seq - 1;
    }
    return { client: Buffer.from(client, 'hex'), secret, seq: st.seq, ackedBelowSeq: st.acked };
  }

  private session(pickN: number): Uint8Array {
    const ids = [...this.model.sessions.keys()];
    if (ids.length === 0 || pickN % 13 === 12) return commandId(1, 1_000_000 + pickN);
    return Buffer.from(ids[pickN % ids.length]!, 'hex');
  }

  private push(cmd: Command | Uint8Array): void {
    const e = this.log.push(cmd);
    this.expected.push(this.model.apply(e));
    const r = this.expected[this.expected.length - 1]!;
    const kind = cmd instanceof Uint8Array ? 'Garbage' : commandKindNames[(cmd as Command).kind]!;
    const key = `${kind}:${r.code}${r.duplicate ? ':dup' : ''}`;
    this.outcomes.set(key, (this.outcomes.get(key) ?? 0) + 1);
    if (cmd instanceof Uint8Array === false && (cmd as Command).kind === CommandKind.clientRegister && r.ok) this.registered.push(r.value!);
  }

  /** Returns false for operations that are not log entries. */
  build(op: Op): boolean {
    const m = this.model;
    switch (op.t) {
      case 'create':
        this.push({ kind: CommandKind.sessionCreate, topic: TOPICS[op.topic]!, envelope: this.envelope(op.env) });
        return true;
      case 'append':
      case 'rewrite':
        this.push({
          kind: op.t === 'append' ? CommandKind.sessionAppend : CommandKind.sessionRewrite,
          session: this.session(op.pick),
          bytes: Uint8Array.from({ length: op.len }, (_, i) => (op.pick * 31 + i + this.log.lastIndex) & 0xff),
          envelope: this.envelope(op.env),
        });
        return true;
      case 'destroy':
        this.push({ kind: CommandKind.sessionDestroy, session: this.session(op.pick), envelope: this.envelope(op.env) });
        return true;
      case 'store': {
        if (m.newest(op.cls) === undefined) this.push({ kind: CommandKind.dataCreate, replayClass: op.cls });
        const f = m.newest(op.cls)!;
        const session = op.ghost && op.pick % 3 === 0 ? commandId(2, 2_000_000 + op.pick) : this.session(op.pick);
        const s = m.sessions.get(hex(session));
        const length = s === undefined ? STORED_RECORD_HEADER_BYTES + (op.pick % 9) : RefModel.recordLength(s);
        const dueMs = m.classes.get(op.cls)!.lastDue + op.due;
        const [fh, fl] = idParts(Buffer.from(f.id, 'hex'));
        this.push({
          kind: CommandKind.sessionStore,
          session,
          replayClass: op.cls,
          dueMs,
          file: commandId(fh, fl),
          offset: m.size(f),
          length,
          envelope: this.envelope(op.env),
        });
        return true;
      }
      case 'restore':
      case 'commit': {
        const all = m.classes.get(op.cls)?.files ?? [];
        // Mostly a file with something to do, in any class (the scheduler's choice); sometimes any file of the class, or an unknown one.
        const busy = [...m.classes.values()]
          .flatMap((c) => c.files)
          .filter((f) => (op.t === 'restore' ? f.readIdx < f.records.length : f.consumedIdx < f.readIdx));
        const files = busy.length > 0 && op.pick % 4 !== 3 ? busy : all;
        const f = files.length === 0 || op.pick % 9 === 8 ? undefined : files[op.pick % files.length];
        const file = f === undefined ? commandId(3, 3_000_000 + op.pick) : Buffer.from(f.id, 'hex');
        const idx = f === undefined ? 0 : op.t === 'restore' ? f.readIdx : f.consumedIdx;
        const rec = f?.records[idx];
        const length = rec === undefined || op.wrong ? STORED_RECORD_HEADER_BYTES + (op.pick % 50) : rec.length;
        this.push({ kind: op.t === 'restore' ? CommandKind.sessionRestore : CommandKind.sessionCommit, replayClass: f?.cls ?? op.cls, file, length });
        return true;
      }
      case 'dataCreate':
        this.push({ kind: CommandKind.dataCreate, replayClass: op.cls });
        return true;
      case 'dataDelete': {
        const all = m.classes.get(op.cls)?.files ?? [];
        const done = all.filter((f) => f.sealed && f.consumedIdx === f.records.length);
        const files = done.length > 0 && op.pick % 4 !== 3 ? done : all;
        const f = files.length === 0 || op.pick % 9 === 8 ? undefined : files[op.pick % files.length];
        this.push({ kind: CommandKind.dataDelete, replayClass: op.cls, file: f === undefined ? commandId(3, 3_000_000 + op.pick) : Buffer.from(f.id, 'hex') });
        return true;
      }
      case 'register':
        // The leader's draw, made reproducible: a secret from the entry's index.
        this.push({ kind: CommandKind.clientRegister, secret: testSecret(this.log.lastIndex + 1) });
        return true;
      case 'drain': {
        const c = m.classes.get(op.cls);
        if (c === undefined) return true;
        for (const f of c.files.slice()) {
          const file = Buffer.from(f.id, 'hex');
          while (f.readIdx < f.records.length) {
            const before = f.readIdx;
            this.push({ kind: CommandKind.sessionRestore, replayClass: op.cls, file, length: f.records[f.readIdx]!.length });
            if (f.readIdx === before) break; // the active table is full
          }
          while (f.consumedIdx < f.readIdx) this.push({ kind: CommandKind.sessionCommit, replayClass: op.cls, file, length: f.records[f.consumedIdx]!.length });
        }
        this.push({ kind: CommandKind.dataCreate, replayClass: op.cls });
        for (const f of c.files.slice()) {
          if (f.sealed && f.consumedIdx === f.records.length) this.push({ kind: CommandKind.dataDelete, replayClass: op.cls, file: Buffer.from(f.id, 'hex') });
        }
        return true;
      }
      case 'garbage':
        this.push(op.bytes);
        return true;
      case 'noop':
        this.log.noop();
        this.expected.push(null as unknown as Res);
        return true;
      case 'newTerm':
        this.log.term++;
        return true;
      default:
        return false;
    }
  }
}

function resOf(r: CommandResult | null): Res | null {
  if (r === null) return null;
  return { ok: r.ok, code: r.code, value: r.value === null ? null : hex(r.value), ...(r.duplicate ? { duplicate: true as const } : {}) };
}

export interface RunOptions {
  /** 'real': NodeSessionFs on a temp dir (a crash drops the store); 'memory': MemorySessionFs, whose crash loses unsynced bytes. */
  readonly fs: 'real' | 'memory';
  /** Also feed a second store that never crashes, and compare directories and digests at the end. */
  readonly twin?: boolean;
}

interface Node {
  store: SessionsStore;
  fs: SessionFs;
  memory: MemorySessionFs | null;
  dir: string | null;
  snapshot: { index: number; data: Uint8Array } | null;
  delivered: Map<string, MDelivery>;
  crashes: number;
}

function openStore(node: Node): SessionsStore {
  const store = new SessionsStore({ fs: node.fs, limits: modelLimits, defer: (fn) => fn(), openFilesMax: 4 });
  for (const t of TOPICS) {
    store.subscribe(t, (d: Delivery) => {
      const key = hex(d.restoreId);
      const seen: MDelivery = { restoreId: key, session: hex(d.session), topic: d.topic, records: d.records.map(hex) };
      const before = node.delivered.get(key);
      if (before !== undefined) expect(seen, 'a redelivery carries the same session').to.deep.equal(before);
      else node.delivered.set(key, seen);
    });
  }
  return store;
}

function makeNode(kind: 'real' | 'memory'): Node {
  const dir = kind === 'real' ? tempDir('sessions-model-') : null;
  const memory = kind === 'memory' ? new MemorySessionFs() : null;
  const fs: SessionFs = dir !== null ? new NodeSessionFs(dir) : memory!;
  const node: Node = { store: null as unknown as SessionsStore, fs, memory, dir, snapshot: null, delivered: new Map(), crashes: 0 };
  node.store = openStore(node);
  return node;
}

function catchUpChecked(node: Node, b: Builder, chunk: number): void {
  while (node.store.appliedIndex < b.log.lastIndex) {
    const from = node.store.appliedIndex;
    const to = Math.min(b.log.lastIndex, from + chunk);
    const results = node.store.apply(b.log.slice(from, to));
    for (let k = 0; k < results.length; k++) {
      expect(resOf(results[k] as CommandResult | null), `result of entry ${from + k + 1}`).to.deep.equal(b.expected[from + k] ?? null);
    }
  }
}

function restart(node: Node, b: Builder, chunk: number): void {
  node.store.close();
  node.memory?.crash();
  node.crashes++;
  node.store = openStore(node);
  if (node.snapshot !== null) node.store.restore(b.log.meta(node.snapshot.index), node.snapshot.data);
  catchUpChecked(node, b, chunk);
}

/** Compare the store with the model: sessions, files (records in order, cursors, sealed), deliveries. */
function compare(node: Node, b: Builder): void {
  const m = b.model;
  const store = node.store;
  expect(store.appliedIndex).to.equal(b.log.lastIndex);
  const active = store.listSessions().map((s) => ({ id: hex(s.id), topic: s.topic, records: s.records.map(hex) }));
  const want = [...m.sessions.values()].map((s) => ({ id: s.id, topic: s.topic, records: s.records.map(hex) }));
  expect(active).to.deep.equal(want);
  const files = store.dataFiles();
  const wantFiles = [...m.classes.entries()].sort((x, y) => x[0] - y[0]).flatMap(([, c]) => c.files);
  expect(files.map((f) => f.name)).to.deep.equal(wantFiles.map((f) => f.name));
  for (let k = 0; k < files.length; k++) {
    const f = files[k]!;
    const w = wantFiles[k]!;
    expect({ size: f.size, read: f.readCursor, consumed: f.consumed, sealed: f.sealed }, f.name).to.deep.equal({
      size: m.size(w),
      read: m.cursor(w, w.readIdx),
      consumed: m.cursor(w, w.consumedIdx),
      sealed: w.sealed,
    });
    // The stored sessions, in order, as the bytes on disk say.
    const h = node.fs.open(f.name, 'existing');
    const all = node.fs.pread(h, 0, f.size);
    node.fs.close(h);
    let at = 0;
    for (const rec of w.records) {
      const got = parseStoredSession(all.subarray(at, at + rec.length), f.name);
      expect({
        s: hex(commandId(got.sessionHigh, got.sessionLow)),
        v: got.isVoid,
        due: got.dueMs,
        topic: got.topic,
        records: got.records.map(hex),
      }).to.deep.equal({
        s: rec.session,
        v: rec.isVoid,
        due: rec.dueMs,
        topic: rec.topic,
        records: rec.records.map(hex),
      });
      at += rec.length;
    }
  }
  // data/ holds exactly the state's files.
  const onDisk = node.memory !== null ? [...node.memory.files('data').keys()] : [...dirFiles(node.dir!).keys()];
  expect(onDisk.sort()).to.deep.equal(files.map((f) => f.name).sort());
  // Every restore delivered once at least, with the right session; nothing else.
  const got = [...node.delivered.values()].sort((x, y) => (x.restoreId < y.restoreId ? -1 : 1));
  const wantD = m.deliveries.slice().sort((x, y) => (x.restoreId < y.restoreId ? -1 : 1));
  expect(got).to.deep.equal(wantD);
  expect(store.verifyFiles()).to.deep.equal([]);
}

export function runModel(ops: readonly Op[], opts: RunOptions): { crashes: number; entries: number; outcomes: Map<string, number> } {
  const b = new Builder();
  const node = makeNode(opts.fs);
  const twin = opts.twin === true ? makeNode(opts.fs) : null;
  try {
    let chunk = 1;
    for (const op of ops) {
      if (b.build(op)) continue;
      switch (op.t) {
        case 'apply':
          chunk = (chunk % 7) + 1;
          catchUpChecked(node, b, chunk);
          break;
        case 'snapshot': {
          const data = node.store.snapshot();
          node.snapshot = { index: node.store.appliedIndex, data };
          // Saved at once (the test's snapshot store is synchronous): trash not listed can go.
          node.store.snapshotSaved(node.store.appliedIndex);
          break;
        }
        case 'crash':
          restart(node, b, chunk + 2);
          break;
      }
    }
    // A last crash and replay, then compare.
    restart(node, b, 5);
    compare(node, b);
    if (twin !== null) {
      catchUpChecked(twin, b, 1000);
      compare(twin, b);
      expect(node.store.digest()).to.deep.equal(twin.store.digest());
      const a = node.memory !== null ? node.memory.files('data') : dirFiles(node.dir!);
      const c = twin.memory !== null ? twin.memory.files('data') : dirFiles(twin.dir!);
      expect(sameFiles(a, c)).to.equal(null);
    }
    return { crashes: node.crashes, entries: b.log.lastIndex, outcomes: b.outcomes };
  } finally {
    node.store.close();
    twin?.store.close();
    if (node.dir !== null) removeDir(node.dir);
    if (twin?.dir) removeDir(twin.dir);
  }
}
