/**
 * A snapshot's manifest encoded in slices (StoreOptions.encodeTurn, 2026-12-07): a node with 90,000
 * active sessions of 1 KiB held its event loop 150-250 ms (up to 650 ms under load) to encode and
 * checksum its manifest, past the election timeout, and its followers elected another leader at
 * every snapshot. Now what is read from live state is encoded at once and the sessions and the
 * checksum in later turns. Checked here: the bytes are those of an encoding done at once at the
 * same moment, whatever is applied between the slices; the CRC handed to the snapshot store is the
 * data's; the snapshot restores to the same state; and no turn does more than a slice. Since
 * 2026-12-07 night the group table too (captured at once, encoded in later turns): with 90,000 ready
 * items its encoding took up to 200 ms of the first step under load.
 */
import { expect } from 'chai';
import { crc32 } from 'node:zlib';
import { CommandKind, commandId, readU64BE } from '../../transport/commands/codec.js';
import { NodeSessionFs } from '../../actors/sessions/fs.js';
import { encodeManifestParts } from '../../actors/sessions/manifest.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import { GroupTable } from '../../actors/sessions/consumerGroups.js';
import { Harness, tempDir, removeDir, bytes, testSecret } from './helpers.js';

const concat = (parts: readonly Uint8Array[]): Buffer => Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength)));

describe('sessions: a snapshot manifest encoded in slices (2026-12-07)', function () {
  this.timeout(30_000);

  it('gives the bytes of an encoding at once at the same moment, its CRC, and restores to the same state, while entries apply between slices', async () => {
    const dir = tempDir('snapshot-slices-');
    const turns: (() => void)[] = [];
    try {
      const store = new SessionsStore({ fs: new NodeSessionFs(dir), encodeTurn: (fn) => void turns.push(fn) });
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      h.client({ kind: CommandKind.groupCreate, topic: 't', name: 'g', ackWaitMs: 1_000, maxDeliveries: 5, maxAckPending: 10 });
      // Enough sessions for several slices (2,048 a slice), records spliced (256 bytes or more) and copied.
      const ids: Uint8Array[] = [];
      // Records of 200 bytes are copied into the writer: past what it was sized for, it adds buffers.
      for (let k = 0; k < 5_000; k++)
        ids.push(h.createSession(k % 2 === 0 ? 't' : 'u', [k % 3 === 0 ? 'x'.repeat(300) : k % 5 === 1 ? 'c'.repeat(200) : `r${k}`]));
      // Some in several chunks, the last one partly used (a snapshot of the session table is captured
      // and read in later turns since 2026-12-07 night: appends after the capture land past what it read).
      const append = (k: number, text: string): void => {
        const r = h.client({ kind: CommandKind.sessionAppend, session: ids[k]!, bytes: bytes(text), envelope: null });
        expect(r.ok, r.code).to.equal(true);
      };
      for (let k = 100; k < 5_000; k += 97) for (let j = 0; j < 5; j++) append(k, j % 2 === 0 ? 'y'.repeat(280) : `a${j}`);
      const atOnce = concat(encodeManifestParts(store.manifest()));
      const appliedAt = store.appliedIndex;

      const d = store.snapshotPartsDeferred();
      expect(d.parts, 'filled once durable').to.have.length(0);
      let done: Error | null | undefined;
      d.durable((err) => (done = err));
      // Entries apply between the slices: appends, a destroy, a new session, a client registered.
      // Before the first slice too: what is read from live state (clients, groups, files) was read at once.
      h.client({ kind: CommandKind.clientRegister, secret: testSecret(8) });
      let slices = 0;
      for (let k = 0; turns.length > 0; k++) {
        expect(k, 'bounded').to.be.below(1_000);
        turns.shift()!();
        slices++;
        append(k, `later ${k}`);
        // Rewritten (a rewrite drops a session's chunks: the capture keeps them), ahead of and
        // behind the slice being read, once and twice.
        for (const at of [4_900 - k, 100 + 97 * k, 200 + 97 * (k % 3)]) {
          const r = h.client({ kind: CommandKind.sessionRewrite, session: ids[at]!, bytes: bytes(`rewritten ${k}`), envelope: null });
          expect(r.ok, r.code).to.equal(true);
          append(at, 'z'.repeat(300));
        }
        // Into the chunk the capture read part of, then past it (that chunk moves to the full ones).
        append(100 + 97 * (49 - (k % 8)), 'w'.repeat(260));
        append(100 + 97 * (49 - (k % 8)), 'v'.repeat(300));
        if (k === 1) h.client({ kind: CommandKind.sessionDestroy, session: ids[4_999]!, envelope: null });
        if (k === 2) h.createSession('t', ['new']);
        if (k === 3) h.client({ kind: CommandKind.clientRegister, secret: testSecret(7) });
      }
      // The data files' fsyncs run on the pool: wait for the callback.
      for (let k = 0; k < 500 && done === undefined; k++) await new Promise((r) => setTimeout(r, 10));
      expect(done, 'durable called back without an error').to.equal(null);
      expect(slices, 'sessions and checksum in several turns').to.be.at.least(3);
      const sliced = concat(d.parts);
      expect(sliced.equals(atOnce), 'the same bytes as at once, before the later entries').to.equal(true);
      expect(d.dataCrc).to.equal(crc32(sliced));

      // A store restored from it has the state of that moment.
      const other = new SessionsStore({ fs: new NodeSessionFs(`${dir}-other`) });
      try {
        other.restore({ index: appliedAt, term: store.manifest().appliedTerm, membership: { voters: [], learners: [] } } as never, new Uint8Array(sliced));
        expect(other.appliedIndex).to.equal(appliedAt);
        expect(other.stats().activeSessions).to.equal(5_000);
      } finally {
        removeDir(`${dir}-other`);
      }
    } finally {
      removeDir(dir);
    }
  });

  it('a group table of 20,000 items is encoded in later turns too, as captured at the snapshot while deliveries, nacks, acks and restores apply between slices (2026-12-07 night)', async () => {
    const dir = tempDir('snapshot-groups-');
    const turns: (() => void)[] = [];
    try {
      const store = new SessionsStore({ fs: new NodeSessionFs(dir), encodeTurn: (fn) => void turns.push(fn) });
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      const created = h.client({ kind: CommandKind.groupCreate, topic: 't', name: 'g', ackWaitMs: 1_000, maxDeliveries: 5, maxAckPending: 10 });
      expect(created.ok, created.code).to.equal(true);
      const group = created.value!;
      const store1 = (n: number): void => {
        for (let k = 0; k < n; k++) {
          h.planner.storeSession(h.createSession('t', [`r${k}`]), 0, {});
          if (k % 512 === 511) h.settle();
        }
        h.settle();
        h.now += 1_001;
        h.settle();
      };
      // Past two slices of 8,192 rows in the restores and in the items.
      store1(20_000);
      const g = store.groupByLow(readU64BE(group, 8))!;
      const items = [...g.items.entries()].map(([low, it]) => ({ restore: commandId(it.restore.high, low) }));
      expect(items).to.have.length(20_000);
      const deliver = (k: number, delivery: number): void => {
        const r = h.client({ kind: CommandKind.groupDeliver, group, restore: items[k]!.restore, delivery, deadlineMs: 5_000_000 + k, consumer: `w${k % 3}` });
        expect(r.ok, r.code).to.equal(true);
      };
      for (let k = 0; k < 40; k++) deliver(k, 1);
      const atOnce = concat(encodeManifestParts(store.manifest()));

      const d = store.snapshotPartsDeferred();
      let done: Error | null | undefined;
      d.durable((err) => (done = err));
      let slices = 0;
      for (let k = 0; turns.length > 0; k++) {
        expect(k, 'bounded').to.be.below(1_000);
        turns.shift()!();
        slices++;
        // Items ahead of and behind the slice being encoded change: delivered, nacked, acked, dead-lettered.
        deliver(40 + k, 1);
        deliver(19_999 - k, 1);
        if (k < 10) {
          expect(h.client({ kind: CommandKind.groupNack, group, restore: items[k]!.restore, delivery: 1, readyAtMs: 9_000 }).ok).to.equal(true);
          expect(h.client({ kind: CommandKind.groupAck, group, restore: items[10 + k]!.restore, delivery: 1 }).ok).to.equal(true);
          expect(h.client({ kind: CommandKind.groupDeadLetter, group, restore: items[20 + k]!.restore, delivery: 1 }).ok).to.equal(true);
        }
        if (k === 2) store1(50);
      }
      for (let k = 0; k < 500 && done === undefined; k++) await new Promise((r) => setTimeout(r, 10));
      expect(done, 'durable called back without an error').to.equal(null);
      expect(slices, 'the group table in turns of its own').to.be.at.least(8);
      const sliced = concat(d.parts);
      expect(sliced.equals(atOnce), 'the same bytes as at once, before the later entries').to.equal(true);
      expect(d.dataCrc).to.equal(crc32(sliced));
      expect(concat(encodeManifestParts(store.manifest())).equals(atOnce), 'and the table did change since').to.equal(false);
    } finally {
      removeDir(dir);
    }
  });

  it('the group table is cut across groups: 16 groups of 8,000 items each take several turns, with the bytes of encode()', () => {
    const t = new GroupTable();
    for (let g = 0; g < 16; g++) t.create(1, 10 + g, 't', `g${g}`, 30_000, 5, 256, new Uint8Array(16));
    for (let k = 0; k < 8_000; k++)
      t.restored({ high: 1, low: 100 + k, topic: 't', sessionHigh: 1, sessionLow: 1_000_000 + k, fileHigh: 1, fileLow: 7, offset: k * 1_100, length: 1_100 });
    const enc = t.capture().encoder();
    let turns = 0;
    let bytes: Uint8Array | null = null;
    for (let k = 0; k < 1_000 && bytes === null; k++) {
      const r = enc.next();
      if (r.done === true) bytes = r.value;
      else turns++;
    }
    // 8,000 restores and 128,000 items: at least 16 turns of 8,192 rows.
    expect(turns).to.be.at.least(16);
    expect(Buffer.from(bytes!).equals(Buffer.from(t.encode()))).to.equal(true);
  });

  it('snapshot() and snapshotParts() give the whole manifest at once even with encodeTurn, and leave no capture open', () => {
    const dir = tempDir('snapshot-whole-');
    const turns: (() => void)[] = [];
    try {
      const store = new SessionsStore({ fs: new NodeSessionFs(dir), encodeTurn: (fn) => void turns.push(fn) });
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      const ids: Uint8Array[] = [];
      for (let k = 0; k < 3_000; k++) ids.push(h.createSession('t', [`r${k}`]));
      const whole = Buffer.from(store.snapshot());
      expect(whole.equals(concat(encodeManifestParts(store.manifest())))).to.equal(true);
      expect(turns, 'nothing left for later turns').to.have.length(0);
      // A capture left open would make rewrites keep chunks; the manifest after them is the new state's.
      for (let k = 0; k < 10; k++) h.client({ kind: CommandKind.sessionRewrite, session: ids[k]!, bytes: bytes(`new ${k}`), envelope: null });
      expect(concat(store.snapshotParts()).equals(concat(encodeManifestParts(store.manifest())))).to.equal(true);
    } finally {
      removeDir(dir);
    }
  });

  it('at once without encodeTurn (the simulator): parts and CRC before durable', () => {
    const dir = tempDir('snapshot-once-');
    try {
      const store = new SessionsStore({ fs: new NodeSessionFs(dir) });
      const h = new Harness([store], { replayDelaysMs: [1_000] });
      for (let k = 0; k < 10; k++) h.createSession('t', [`r${k}`]);
      const d = store.snapshotPartsDeferred();
      const whole = concat(d.parts);
      expect(whole.equals(concat(encodeManifestParts(store.manifest())))).to.equal(true);
      expect(d.dataCrc).to.equal(crc32(whole));
    } finally {
      removeDir(dir);
    }
  });
});
