/**
 * Apply throughput of the session store, per command kind, on one node: entries are prepared first
 * (encoding is not measured), then applied in batches of 256 (what Raft hands over after a commit),
 * on real files in a temporary directory. SessionAppend is the hot path: the system's target of
 * 20,000 appends/s leaves the state machine well under 10 us per append.
 */
import { performance } from 'node:perf_hooks';
import { CommandKind, commandId, encodeAppend, encodeCommand, type Command } from '../../transport/commands/codec.js';
import { EntryKind, type Entry } from '../../machines/types.js';
import { NodeSessionFs } from '../../actors/sessions/fs.js';
import { storedRecordLength } from '../../actors/sessions/record.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import { removeDir, tempDir } from '../sessions/helpers.js';
import type { BenchContext } from './cli.js';

const BATCH = 256;

class Feed {
  index = 0;
  readonly term = 1;
  entry(data: Uint8Array): Entry {
    return { index: ++this.index, term: this.term, kind: EntryKind.command, data };
  }
  cmd(c: Command): Entry {
    return this.entry(encodeCommand(c));
  }
}

/** Apply all entries in batches; returns ns per entry. Every result must be OK. */
function timeApply(store: SessionsStore, entries: Entry[]): number {
  const t0 = performance.now();
  for (let k = 0; k < entries.length; k += BATCH) {
    const results = store.apply(entries.slice(k, k + BATCH));
    for (const r of results) {
      const res = r as CommandResult;
      if (!res.ok) throw new Error(`bench entry failed: ${res.code}`);
    }
  }
  return ((performance.now() - t0) * 1e6) / entries.length;
}

function apply(store: SessionsStore, entries: Entry[]): CommandResult[] {
  const out: CommandResult[] = [];
  for (let k = 0; k < entries.length; k += BATCH) out.push(...(store.apply(entries.slice(k, k + BATCH)) as CommandResult[]));
  return out;
}

export async function run(ctx: BenchContext): Promise<void> {
  const scale = ctx.quick ? 0.1 : 1;
  const n = (x: number): number => Math.max(100, Math.round(x * scale));
  const dir = tempDir('bench-apply-');
  const store = new SessionsStore({ fs: new NodeSessionFs(dir) });
  const feed = new Feed();
  const report = (command: string, payloadBytes: number, nsPerOp: number, count: number): void =>
    ctx.report({ scenario: 'apply', command, payloadBytes, count, opsPerSec: Math.round(1e9 / nsPerOp), nsPerOp: Math.round(nsPerOp) });
  try {
    // ClientRegister
    const clientsN = n(5_000);
    // Each with its secret (the leader draws 16 random bytes; any bytes do here).
    const secretOf = (k: number): Uint8Array => Uint8Array.from({ length: 16 }, (_, i) => (k * 7 + i) & 0xff);
    const reg = Array.from({ length: clientsN }, (_, k) => feed.cmd({ kind: CommandKind.clientRegister, secret: secretOf(k) }));
    report('ClientRegister', 0, timeApply(store, reg), clientsN);
    const client = commandId(1, reg[reg.length - 1]!.index);
    const secret = secretOf(clientsN - 1);

    // SessionCreate
    const sessionsN = n(20_000);
    const creates = Array.from({ length: sessionsN }, (_, k) => feed.cmd({ kind: CommandKind.sessionCreate, topic: `topic-${k % 100}`, envelope: null }));
    report('SessionCreate', 8, timeApply(store, creates), sessionsN);
    const ids = creates.map((e) => commandId(e.term, e.index));
    // Five disjoint groups of sessions: appends, enveloped appends, rewrites, stores, destroys.
    const g = Math.floor(sessionsN / 5);
    const group = (k: number): Uint8Array[] => ids.slice(k * g, (k + 1) * g);
    const [plain, enveloped, rewritten, stored, destroyed] = [0, 1, 2, 3, 4].map(group) as [
      Uint8Array[],
      Uint8Array[],
      Uint8Array[],
      Uint8Array[],
      Uint8Array[],
    ];

    // SessionAppend, the hot path: 128 B, and 1 KiB; round-robin over a group of sessions.
    for (const size of [128, 1024]) {
      const count = n(size === 128 ? 300_000 : 60_000);
      const record = new Uint8Array(size).fill(0x61);
      const appends = Array.from({ length: count }, (_, k) => feed.entry(encodeAppend(plain[k % plain.length]!, record)));
      // Warm up the JIT on a slice, then measure the rest.
      const warm = Math.min(appends.length >> 3, 20_000);
      timeApply(store, appends.slice(0, warm));
      report('SessionAppend', size, timeApply(store, appends.slice(warm)), count - warm);
    }
    // SessionAppend in a client envelope (exactly-once bookkeeping included).
    {
      const count = n(100_000);
      const record = new Uint8Array(128).fill(0x62);
      const appends = Array.from({ length: count }, (_, k) =>
        feed.cmd({
          kind: CommandKind.sessionAppend,
          session: enveloped[k % enveloped.length]!,
          bytes: record,
          envelope: { client, secret, seq: k + 1, ackedBelowSeq: Math.max(0, k - 16) },
        }),
      );
      report('SessionAppend+envelope', 128, timeApply(store, appends), count);
    }

    // SessionRewrite, 128 B.
    {
      const count = n(100_000);
      const record = new Uint8Array(128).fill(0x63);
      const rewrites = Array.from({ length: count }, (_, k) =>
        feed.cmd({ kind: CommandKind.sessionRewrite, session: rewritten[k % rewritten.length]!, bytes: record, envelope: null }),
      );
      report('SessionRewrite', 128, timeApply(store, rewrites), count);
    }

    // SessionStore: sessions of 8 records of 128 B (1,124 B stored each), into class 1.
    const storeIds = stored;
    const storeN = storeIds.length;
    {
      const record = new Uint8Array(128).fill(0x64);
      const prep: Entry[] = [];
      for (const id of storeIds) for (let r = 0; r < 8; r++) prep.push(feed.entry(encodeAppend(id, record)));
      apply(store, prep);
      const dc = feed.cmd({ kind: CommandKind.dataCreate, replayClass: 1 });
      apply(store, [dc]);
      const file = commandId(dc.term, dc.index);
      const length = storedRecordLength(new TextEncoder().encode('topic-0').length, 8, 8 * 128);
      const stores: Entry[] = [];
      let offset = 0;
      for (const id of storeIds) {
        const view = store.getSession(id)!;
        const len = storedRecordLength(new TextEncoder().encode(view.topic).length, 8, 8 * 128);
        stores.push(
          feed.cmd({ kind: CommandKind.sessionStore, session: id, replayClass: 1, dueMs: 1_000 + offset, file, offset, length: len, envelope: null }),
        );
        offset += len;
      }
      report('SessionStore', length, timeApply(store, stores), storeN);
      // SessionRestore, then SessionCommit, of the same records.
      const lens = stores.map((e) => new DataView(e.data.buffer, e.data.byteOffset).getUint32(e.data.length - 4));
      // The first half without consumer groups; then a group on every topic (issue 16), and the
      // second half restored into it, delivered and acknowledged.
      const half = lens.length >> 1;
      const restores = lens.slice(0, half).map((len) => feed.cmd({ kind: CommandKind.sessionRestore, replayClass: 1, file, length: len }));
      report('SessionRestore', length, timeApply(store, restores), half);
      const groupCreates = Array.from({ length: 100 }, (_, k) =>
        feed.cmd({ kind: CommandKind.groupCreate, topic: `topic-${k}`, name: 'g', ackWaitMs: 30_000, maxDeliveries: 5, maxAckPending: 100 }),
      );
      report('GroupCreate', 0, timeApply(store, groupCreates), groupCreates.length);
      const grouped = lens.slice(half).map((len) => feed.cmd({ kind: CommandKind.sessionRestore, replayClass: 1, file, length: len }));
      report('SessionRestore, 1 group', length, timeApply(store, grouped), grouped.length);
      // Each restore is an item of its topic's group: find it (outside the measured apply).
      const groupIds = new Map<number, Uint8Array>();
      for (const g of store.consumerGroups()) for (const low of g.items.keys()) groupIds.set(low, commandId(g.high, g.low));
      const groupOf = (e: Entry): Uint8Array => groupIds.get(e.index)!;
      const delivers = grouped.map((e) =>
        feed.cmd({
          kind: CommandKind.groupDeliver,
          group: groupOf(e),
          restore: commandId(e.term, e.index),
          delivery: 1,
          deadlineMs: 1_700_000_000_000,
          consumer: 'bench',
        }),
      );
      report('GroupDeliver', 0, timeApply(store, delivers), delivers.length);
      const acks = grouped.map((e) => feed.cmd({ kind: CommandKind.groupAck, group: groupOf(e), restore: commandId(e.term, e.index), delivery: 1 }));
      report('GroupAck', 0, timeApply(store, acks), acks.length);
      const commits = lens.map((len) => feed.cmd({ kind: CommandKind.sessionCommit, replayClass: 1, file, length: len }));
      report('SessionCommit', length, timeApply(store, commits), storeN);
    }

    // SessionDestroy.
    {
      const destroys = destroyed.map((id) => feed.cmd({ kind: CommandKind.sessionDestroy, session: id, envelope: null }));
      report('SessionDestroy', 0, timeApply(store, destroys), destroys.length);
    }

    // DataCreate (each seals the previous file), then DataDelete of every sealed, empty (so consumed) file.
    {
      const count = n(2_000);
      const creates2 = Array.from({ length: count }, () => feed.cmd({ kind: CommandKind.dataCreate, replayClass: 2 }));
      report('DataCreate', 0, timeApply(store, creates2), count);
      const deletes = creates2.slice(0, -1).map((e) => feed.cmd({ kind: CommandKind.dataDelete, replayClass: 2, file: commandId(e.term, e.index) }));
      report('DataDelete', 0, timeApply(store, deletes), deletes.length);
    }

    // Snapshot and digest of what is left (sessions in memory, files on disk).
    {
      const t0 = performance.now();
      const snap = store.snapshot();
      const ms = performance.now() - t0;
      ctx.report({
        scenario: 'apply',
        command: 'snapshot()',
        activeSessions: store.stats().activeSessions,
        snapshotBytes: snap.length,
        ms: Math.round(ms * 10) / 10,
      });
    }
  } finally {
    store.close();
    removeDir(dir);
  }
}
