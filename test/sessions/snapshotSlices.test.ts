/**
 * A snapshot's manifest encoded in slices (StoreOptions.encodeTurn, 2026-12-07): a node with 90,000
 * active sessions of 1 KiB held its event loop 150-250 ms (up to 650 ms under load) to encode and
 * checksum its manifest, past the election timeout, and its followers elected another leader at
 * every snapshot. Now what is read from live state is encoded at once and the sessions and the
 * checksum in later turns. Checked here: the bytes are those of an encoding done at once at the
 * same moment, whatever is applied between the slices; the CRC handed to the snapshot store is the
 * data's; the snapshot restores to the same state; and no turn does more than a slice.
 */
import { expect } from 'chai';
import { crc32 } from 'node:zlib';
import { CommandKind } from '../../transport/commands/codec.js';
import { NodeSessionFs } from '../../actors/sessions/fs.js';
import { encodeManifestParts } from '../../actors/sessions/manifest.js';
import { SessionsStore } from '../../actors/sessions/store.js';
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
      for (let k = 0; k < 5_000; k++) ids.push(h.createSession(k % 2 === 0 ? 't' : 'u', [k % 3 === 0 ? 'x'.repeat(300) : `r${k}`]));
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
        h.client({ kind: CommandKind.sessionAppend, session: ids[k]!, bytes: bytes(`later ${k}`), envelope: null });
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
