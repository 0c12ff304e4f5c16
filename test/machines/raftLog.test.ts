/**
 * The packed in-memory log (issue 18) against a plain model (an array of entries, what the log
 * used to be): random appends, truncations, compactions, snapshot installs and reads, on entries
 * small enough for the arena and large enough for chunks of their own, and recovered entries that
 * point into one large buffer. Every read answers as the model does, the byte accounting follows
 * the entries, and compaction gives the chunks back. Entries whose data were released (a follower's
 * applied ones) keep their terms and kinds, refuse a read of their data, and give their chunks back.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { entrySizeBytes, RaftLog } from '../../machines/raftLog.js';
import { EntryKind, type Entry, type SnapshotMeta } from '../../machines/types.js';

const membership = { voters: ['n1'], learners: [] };

function dataOf(index: number, term: number, len: number): Uint8Array {
  const d = new Uint8Array(len);
  for (let k = 0; k < len; k++) d[k] = (index * 31 + term * 7 + k) & 0xff;
  return d;
}

function entry(index: number, term: number, len: number, kind: EntryKind = EntryKind.command): Entry {
  return { index, term, kind, data: dataOf(index, term, len) };
}

/** The model: what the log must answer. */
interface Model {
  snapIndex: number;
  snapTerm: number;
  entries: Entry[];
  /** Entries through this index have no data in the log (releaseDataThrough). */
  floor: number;
}

function expectSame(log: RaftLog, m: Model): void {
  expect(log.snapshotIndex).to.equal(m.snapIndex);
  expect(log.lastIndex()).to.equal(m.snapIndex + m.entries.length);
  expect(log.lastTerm()).to.equal(m.entries.length > 0 ? m.entries[m.entries.length - 1]!.term : m.snapTerm);
  expect(log.term(m.snapIndex)).to.equal(m.snapTerm);
  expect(log.term(log.lastIndex() + 1)).to.equal(-1);
  let bytes = 0;
  const floor = Math.max(m.floor, m.snapIndex);
  expect(log.dataFloor).to.equal(floor);
  for (const e of m.entries) {
    expect(log.term(e.index)).to.equal(e.term);
    expect(log.kind(e.index)).to.equal(e.kind);
    if (e.index <= floor) {
      expect(() => log.entry(e.index)).to.throw(/no data|with its data/);
      continue;
    }
    bytes += entrySizeBytes(e);
    const got = log.entry(e.index);
    expect(got.index).to.equal(e.index);
    expect(got.kind).to.equal(e.kind);
    expect(Buffer.from(got.data).equals(Buffer.from(e.data)), `data of ${e.index}`).to.equal(true);
  }
  expect(log.entryBytes()).to.equal(bytes);
  // The configuration in force, released or not, compacted or not.
  const configs = m.entries.filter((e) => e.kind === EntryKind.config);
  const lastConfig = log.lastConfigEntry();
  if (configs.length > 0) {
    const want = configs[configs.length - 1]!;
    expect(lastConfig?.index).to.equal(want.index);
    expect(Buffer.from(lastConfig!.data).equals(Buffer.from(want.data))).to.equal(true);
  }
  if (m.entries.length > 0 && log.lastIndex() > floor) {
    const lo = floor + 1;
    const hi = log.lastIndex();
    const held = m.entries.filter((e) => e.index > floor);
    expect(log.range(lo, hi).map((e) => [e.index, e.term])).to.deep.equal(held.map((e) => [e.index, e.term]));
    expect(log.bytesBetween(lo, hi)).to.equal(bytes);
    const s = log.slice(lo, hi, 5000, 7);
    expect(s.length).to.be.within(1, 7);
    expect(log.lastSliceBytes).to.equal(s.reduce((n, e) => n + entrySizeBytes(e), 0));
  }
  expect(log.memoryBytes()).to.be.at.least(0);
}

type Op =
  | { op: 'append'; n: number; len: number; termUp: boolean; config: boolean; framed: boolean }
  | { op: 'truncate'; back: number; n: number; len: number }
  | { op: 'compact'; back: number }
  | { op: 'release'; back: number }
  | { op: 'restore'; ahead: number; keep: boolean };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('append' as const),
      n: fc.integer({ min: 1, max: 40 }),
      len: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 60_000, max: 70_000 })),
      termUp: fc.boolean(),
      config: fc.boolean(),
      // One buffer for the whole batch (a received frame, an encoding slab), long entries between short ones.
      framed: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('truncate' as const),
      back: fc.integer({ min: 0, max: 30 }),
      n: fc.integer({ min: 0, max: 10 }),
      len: fc.integer({ min: 0, max: 5000 }),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('compact' as const), back: fc.integer({ min: 0, max: 50 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('release' as const), back: fc.integer({ min: 0, max: 30 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('restore' as const), ahead: fc.integer({ min: -20, max: 20 }), keep: fc.boolean() }) },
);

describe('RaftLog: the packed in-memory log (issue 18)', function () {
  it('answers every read as a plain array of entries does, through random appends, truncations, compactions and installs', function () {
    this.timeout(60_000);
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), fc.boolean(), (ops, recovered) => {
        const m: Model = { snapIndex: 0, snapTerm: 0, entries: [], floor: 0 };
        let term = 1;
        let log: RaftLog;
        if (recovered) {
          // Entries recovered from a segment: views into one large buffer, referenced in place.
          // 50 entries of about 12 KB fill more than half of it: referenced in place.
          const seg = new Uint8Array(1024 * 1024);
          let at = 0;
          const rec: Entry[] = [];
          for (let i = 1; i <= 50; i++) {
            const e = entry(i, 1, 12_000 + ((i * 13) % 200));
            seg.set(e.data, at);
            rec.push({ index: i, term: 1, kind: e.kind, data: seg.subarray(at, at + e.data.length) });
            at += e.data.length;
          }
          log = RaftLog.recover(null, rec);
          m.entries = rec.map((e) => ({ ...e, data: e.data.slice() }));
          expect(log.memoryBytes()).to.be.at.least(seg.byteLength);
        } else log = new RaftLog();
        for (const o of ops) {
          const last = m.snapIndex + m.entries.length;
          if (o.op === 'append') {
            if (o.termUp) term++;
            const batch: Entry[] = [];
            for (let k = 0; k < o.n; k++) {
              const len = o.framed && k % 2 === 1 ? 5000 + k : o.len;
              batch.push(entry(last + 1 + k, term, len, o.config && k === 0 ? EntryKind.config : EntryKind.command));
            }
            if (o.framed) {
              const frame = new Uint8Array(batch.reduce((n, e) => n + e.data.length, 0));
              let at = 0;
              for (let k = 0; k < batch.length; k++) {
                const e = batch[k]!;
                frame.set(e.data, at);
                batch[k] = { ...e, data: frame.subarray(at, at + e.data.length) };
                at += e.data.length;
              }
            }
            log.append(batch);
            // Short data are copied (the caller's buffer may be reused); long ones (4 KiB or more) are referenced.
            for (const e of batch) m.entries.push({ ...e, data: e.data.slice() });
            for (const e of batch) if (e.data.length < 4096) e.data.fill(0xee);
          } else if (o.op === 'truncate') {
            // Never at or below released entries (they were applied: committed).
            const from = Math.max(m.snapIndex + 1, m.floor + 1, last + 1 - o.back);
            // A read made before the truncation keeps its bytes.
            const before = last >= from ? log.entry(from) : null;
            const beforeBytes = before === null ? null : before.data.slice();
            log.truncateFrom(from);
            m.entries.length = from - m.snapIndex - 1;
            term++;
            const batch: Entry[] = [];
            for (let k = 0; k < o.n; k++) batch.push(entry(from + k, term, o.len));
            log.append(batch);
            for (const e of batch) m.entries.push(e);
            if (before !== null) expect(Buffer.from(before.data).equals(Buffer.from(beforeBytes!))).to.equal(true);
          } else if (o.op === 'compact') {
            log.persistedIndex = log.lastIndex();
            const to = Math.max(m.snapIndex, last - o.back);
            if (to > m.snapIndex) {
              const t = log.term(to);
              const mem = log.memoryBytes();
              log.compact(to);
              expect(log.memoryBytes()).to.be.at.most(mem);
              m.entries = m.entries.slice(to - m.snapIndex);
              m.snapIndex = to;
              m.snapTerm = t;
            }
          } else if (o.op === 'release') {
            log.persistedIndex = log.lastIndex();
            const to = last - o.back;
            const held = to > Math.max(m.floor, m.snapIndex) ? log.entry(to) : null;
            const heldBytes = held === null ? null : held.data.slice();
            const mem = log.memoryBytes();
            log.releaseDataThrough(to);
            expect(log.memoryBytes()).to.be.at.most(mem);
            if (to > m.floor) m.floor = to;
            // A read made before the release keeps its bytes.
            if (held !== null) expect(Buffer.from(held.data).equals(Buffer.from(heldBytes!))).to.equal(true);
          } else {
            const index = Math.max(m.snapIndex, last + o.ahead);
            const inLog = index <= last;
            const t = o.keep && inLog ? log.term(index) : term + 1;
            const meta: SnapshotMeta = { index, term: t, membership };
            if (index === m.snapIndex && !(o.keep && inLog)) continue;
            const kept = log.restore(meta);
            expect(kept).to.equal(o.keep && inLog);
            if (kept) m.entries = m.entries.slice(index - m.snapIndex);
            else {
              m.entries = [];
              m.floor = 0;
              term = t;
            }
            m.snapIndex = index;
            m.snapTerm = t;
          }
          expectSame(log, m);
        }
        // Everything compacted: only the arena chunk being filled (at most) stays.
        log.persistedIndex = log.lastIndex();
        if (log.lastIndex() > log.snapshotIndex) log.compact(log.lastIndex());
        expect(log.entryBytes()).to.equal(0);
        expect(log.memoryBytes()).to.be.below(2 * 1024 * 1024);
      }),
      { numRuns: 60 },
    );
  });

  it('copies recovered entries that use little of their segment buffer (the segment is not kept for them)', function () {
    const seg = new Uint8Array(2 * 1024 * 1024);
    const rec: Entry[] = [];
    for (let i = 1; i <= 10; i++) {
      const e = entry(i, 1, 100);
      seg.set(e.data, i * 100);
      rec.push({ index: i, term: 1, kind: e.kind, data: seg.subarray(i * 100, i * 100 + 100) });
    }
    const log = RaftLog.recover(null, rec);
    expect(log.memoryBytes()).to.be.below(seg.byteLength / 2);
    seg.fill(0);
    expect(Buffer.from(log.entry(3).data).equals(Buffer.from(dataOf(3, 1, 100)))).to.equal(true);
  });

  it('counts a buffer that several chunks view once (long entries of one frame or slab between short ones)', function () {
    // A frame (or zeroedBytes' encoding slab) holding ten 8 KiB entries, each followed by a short
    // entry that the log copies into its arena: ten chunks view the one 256 KiB buffer.
    const shared = new Uint8Array(256 * 1024);
    const log = new RaftLog();
    const batch: Entry[] = [];
    let index = 1;
    for (let k = 0; k < 10; k++) {
      const long = dataOf(index, 1, 8192);
      shared.set(long, k * 8192);
      batch.push({ index: index++, term: 1, kind: EntryKind.command, data: shared.subarray(k * 8192, (k + 1) * 8192) });
      batch.push(entry(index++, 1, 100));
    }
    log.append(batch);
    const held = log.memoryBytes();
    // The shared buffer once, one arena (the short entries resume its tail after each long one), the
    // typed arrays and made entries: not ten times 256 KiB of buffer and ten arenas.
    expect(held).to.be.at.least(shared.byteLength);
    expect(held).to.be.below(shared.byteLength + 256 * 1024 + 64 * 1024);
    // Dropping the first half keeps the buffer (later entries still view it), counted once.
    log.persistedIndex = log.lastIndex();
    log.compact(10);
    expect(log.memoryBytes()).to.be.at.least(shared.byteLength);
    expect(log.memoryBytes()).to.be.at.most(held);
    for (let i = 11; i <= 20; i++) {
      expect(Buffer.from(log.entry(i).data).equals(Buffer.from(dataOf(i, 1, i % 2 === 1 ? 8192 : 100))), `data of ${i}`).to.equal(true);
    }
    // Dropping the rest gives it back.
    log.compact(log.lastIndex());
    expect(log.memoryBytes()).to.be.below(shared.byteLength);
  });

  it('holds about 21 bytes of metadata an entry besides its data (not an object and a buffer each)', function () {
    const log = new RaftLog();
    const n = 100_000;
    const batch: Entry[] = [];
    for (let i = 1; i <= n; i++) batch.push(entry(i, 1, 128));
    log.append(batch);
    const perEntry = log.memoryBytes() / n;
    // 128 B of data, 21 B of typed arrays (grown by doubling), the arena's unused tail, the ring
    // of 4,096 recent entries: well under the ~500 B an entry cost as objects.
    expect(perEntry).to.be.below(200);
    expect(log.entryBytes()).to.equal(n * (128 + 24));
  });
});
