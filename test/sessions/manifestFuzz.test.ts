/**
 * The snapshot manifest is outside input (a leader sends it; a file on disk holds it): its decoder,
 * and a restore from it, either succeed or refuse with a SessionsError, whatever the bytes. The
 * checksum is recomputed after each mutation, so that the parser behind it is what is exercised.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { SessionsError } from '../../actors/sessions/errors.js';
import { decodeManifest, encodeManifest } from '../../actors/sessions/manifest.js';
import { ArenaSessionSnapshot } from '../../actors/sessions/sessionTable.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import { crc32Bytes } from '../../storage/crc.js';
import { CommandKind, FEATURES_KNOWN, writeU32BE } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { TestLog } from './helpers.js';

function newStore(): SessionsStore {
  return new SessionsStore({ fs: new MemorySessionFs(), limits: {}, defer: (fn) => fn() });
}

/**
 * A snapshot of a store with sessions of 0, 1 and several records, small and large (spliced); with
 * `flags`, feature flags on too (a version 6 manifest; version 5 without).
 */
function validSnapshot(flags: boolean): { data: Uint8Array; log: TestLog } {
  const store = newStore();
  const log = new TestLog();
  const apply = (cmd: Parameters<TestLog['push']>[0]) => store.apply([log.push(cmd)])[0] as { value: Uint8Array | null };
  for (let k = 0; k < 4; k++) {
    const id = apply({ kind: CommandKind.sessionCreate, topic: `topic-${k}`, envelope: null }).value!;
    for (let j = 0; j < k; j++) apply({ kind: CommandKind.sessionAppend, session: id, bytes: new Uint8Array(k === 3 ? 300 : 5).fill(j), envelope: null });
  }
  if (flags) apply({ kind: CommandKind.featureEnable, features: FEATURES_KNOWN });
  return { data: store.snapshot(), log };
}

/**
 * With the flags on, sessions 1 and 3 also record the restore that made them active (the
 * remove-own-restore section after the flags): the manifest re-encoded with them.
 */
function withRestores(data: Uint8Array): Uint8Array {
  const m = decodeManifest(data);
  const sessions = m.sessions.map((x, k) => {
    const a = x as ArenaSessionSnapshot;
    return k % 2 === 1 ? new ArenaSessionSnapshot(a.high, a.low, a.topic, a.parts, a.framedBytes, a.count, 2, 100 + k) : a;
  });
  return encodeManifest({ ...m, sessions });
}

/** Sets the trailing CRC-32 to match the bytes before it. */
function reseal(data: Uint8Array): Uint8Array {
  if (data.length >= 4) writeU32BE(data, data.length - 4, crc32Bytes(data.subarray(0, data.length - 4), 0));
  return data;
}

for (const variant of ['version 5', 'version 6, flags on', 'version 6, flags on, sessions with their restores'] as const)
  describe(`sessions: the snapshot manifest as outside input (${variant})`, () => {
    const flags = variant !== 'version 5';
    const made = validSnapshot(flags);
    const log = made.log;
    const data = variant.endsWith('restores') ? withRestores(made.data) : made.data;

    if (variant.endsWith('restores'))
      it("carries each session's restore through a restore; the section's order and IDs are checked", () => {
        const store = newStore();
        store.restore(log.meta(log.lastIndex), data);
        const got = decodeManifest(store.snapshot()).sessions.map((x) => [x.restoreHigh ?? 0, x.restoreLow ?? 0]);
        expect(got).to.deep.equal([
          [0, 0],
          [2, 101],
          [0, 0],
          [2, 103],
        ]);
        // The section is the last before the checksum: n, then (position u32, high u64, low u64) each.
        const at = data.length - 4 - 2 * 20;
        const broken = (edit: (b: Uint8Array) => void): Uint8Array => {
          // A copy (`slice()` of a Buffer is a view).
          const b = Uint8Array.from(data);
          edit(b);
          return reseal(b);
        };
        // Positions out of order (the first names 3, the second 3 again), past the list, and a restore at index 0.
        expect(() => decodeManifest(broken((b) => writeU32BE(b, at, 3)))).to.throw(SessionsError, /restore of session position 3/);
        expect(() => decodeManifest(broken((b) => writeU32BE(b, at + 20, 4)))).to.throw(SessionsError, /restore of session position 4/);
        expect(() => decodeManifest(broken((b) => b.fill(0, at + 20 + 12, at + 20 + 20)))).to.throw(SessionsError, /restore 2\.0/);
      });

    it('the valid snapshot restores', () => {
      const store = newStore();
      store.restore(log.meta(log.lastIndex), data);
      expect(store.appliedIndex).to.equal(log.lastIndex);
      expect(store.features).to.equal(flags ? FEATURES_KNOWN : 0);
      expect(data.subarray(4, 6)).to.deep.equal(Uint8Array.of(0, flags ? 6 : 5));
    });

    it('property: any flips, cuts and insertions (checksum made right) decode or refuse with a SessionsError; a restore too (2,000 cases)', () => {
      const mutation = fc.record({
        flips: fc.array(fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) }), { maxLength: 6 }),
        cut: fc.option(fc.nat(), { nil: undefined }),
        insert: fc.option(fc.record({ at: fc.nat(), bytes: fc.uint8Array({ maxLength: 12 }) }), { nil: undefined }),
      });
      fc.assert(
        fc.property(mutation, (m) => {
          let b = Uint8Array.from(data); // a copy: `slice()` of a Buffer (a snapshot of several parts) is a view
          for (const f of m.flips) b[f.at % (b.length - 4)]! ^= f.xor;
          if (m.insert !== undefined) {
            const at = m.insert.at % (b.length - 4);
            b = Uint8Array.from([...b.subarray(0, at), ...m.insert.bytes, ...b.subarray(at)]);
          }
          if (m.cut !== undefined) b = b.slice(0, (m.cut % b.length) + 4);
          reseal(b);
          const refusedOrOk = (fn: () => unknown): void => {
            try {
              fn();
            } catch (err) {
              expect(err, String(err)).to.be.instanceOf(SessionsError);
            }
          };
          refusedOrOk(() => decodeManifest(b));
          refusedOrOk(() => newStore().restore(log.meta(log.lastIndex), b));
        }),
        { numRuns: 2000 },
      );
    });
  });
