/**
 * The follower's snapshot receiver (actors/raft/snapshotTransfer.ts), fed chunks straight from a
 * peer: the chunks are outside input. Issue 18: the buffer grows with what arrives, so a declared
 * size reserves nothing; any sequence of chunks (duplicated, reordered, lying about the size, from
 * another leader) neither throws nor holds more than twice what arrived, and chunks sent in order
 * assemble exactly the snapshot.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { SnapshotReceiver } from '../../actors/raft/snapshotTransfer.js';
import type { SnapshotChunk, SnapshotMeta } from '../../machines/types.js';
import { crc32Bytes } from '../../storage/crc.js';

const opts = { chunkBytes: 1024, windowChunks: 4, ackTimeoutTicks: 10, snapshotBytesMax: 1024 * 1024 * 1024 };
const meta: SnapshotMeta = { index: 10, term: 2, membership: { voters: ['n1', 'n2'], learners: [] } } as unknown as SnapshotMeta;

function chunk(offset: number, data: Uint8Array, totalBytes: number, from = 'n1', m: SnapshotMeta = meta, dataCrc = 0): SnapshotChunk {
  return {
    type: 'snapshot',
    from,
    to: 'n2',
    term: 2,
    meta: m,
    offset,
    totalBytes,
    dataCrc,
    data,
    done: offset + data.byteLength >= totalBytes,
  } as SnapshotChunk;
}

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (seed + i * 31) & 0xff;
  return b;
}

describe('raft: the snapshot receiver (issue 18: memory grows with what arrives)', function () {
  it('a peer that declares 1 GiB and sends one chunk makes the node hold 64 KiB, not 1 GiB', function () {
    const r = new SnapshotReceiver('n2', opts);
    const out = r.onChunk(2, chunk(0, bytes(1024, 1), 1024 * 1024 * 1024));
    expect(out.kind).to.equal('ack');
    expect(r.bufferedBytes()).to.equal(64 * 1024);
  });

  it('a snapshot over the 1 GiB bound is refused before anything is held', function () {
    const r = new SnapshotReceiver('n2', opts);
    const out = r.onChunk(2, chunk(0, bytes(10, 1), 1024 * 1024 * 1024 + 1));
    expect(out.response.reject).to.equal(true);
    expect(r.bufferedBytes()).to.equal(0);
  });

  it('chunks in order assemble exactly the snapshot; the buffer stays within twice what arrived', function () {
    const total = 300_000;
    const data = bytes(total, 7);
    const r = new SnapshotReceiver('n2', opts);
    let done: Uint8Array | null = null;
    for (let at = 0; at < total; at += 1024) {
      const out = r.onChunk(2, chunk(at, data.subarray(at, Math.min(total, at + 1024)), total, 'n1', meta, crc32Bytes(data, 0)));
      if (out.kind === 'complete') done = out.data;
      else expect(r.bufferedBytes()).to.be.at.most(Math.max(64 * 1024, 2 * out.response.offset));
    }
    expect(done).to.not.equal(null);
    expect(Buffer.from(done!).equals(Buffer.from(data))).to.equal(true);
    expect(r.bufferedBytes()).to.equal(0);
  });

  it('an empty snapshot completes at its first chunk', function () {
    const r = new SnapshotReceiver('n2', opts);
    const out = r.onChunk(2, chunk(0, new Uint8Array(0), 0, 'n1', meta, crc32Bytes(new Uint8Array(0), 0)));
    expect(out.kind).to.equal('complete');
  });

  it('a snapshot whose bytes do not match its declared CRC is refused, not installed, and nothing is held', function () {
    const data = bytes(3000, 5);
    const damaged = data.slice();
    damaged[2000] = damaged[2000]! ^ 0x10;
    const r = new SnapshotReceiver('n2', opts);
    const crc = crc32Bytes(data, 0);
    let last = r.onChunk(2, chunk(0, damaged.subarray(0, 1024), 3000, 'n1', meta, crc));
    last = r.onChunk(2, chunk(1024, damaged.subarray(1024, 2048), 3000, 'n1', meta, crc));
    last = r.onChunk(2, chunk(2048, damaged.subarray(2048), 3000, 'n1', meta, crc));
    expect(last.kind).to.equal('corrupt');
    expect(last.response.reject).to.equal(true);
    expect(r.bufferedBytes()).to.equal(0);
    // Sent again intact, the same snapshot completes.
    for (let at = 0; at < 3000; at += 1024) last = r.onChunk(2, chunk(at, data.subarray(at, Math.min(3000, at + 1024)), 3000, 'n1', meta, crc));
    expect(last.kind).to.equal('complete');
  });

  it('property: any chunk sequence never throws, never holds more than max(64 KiB, 2 x received) or the declared size, and completes only with the bytes sent in order and their declared CRC', function () {
    const chunkArb = fc.record({
      offset: fc.oneof(fc.constant(0), fc.nat(200_000)),
      length: fc.nat(5000),
      totalBytes: fc.oneof(fc.constant(20_000), fc.nat(300_000), fc.constant(2 ** 31)),
      from: fc.constantFrom('n1', 'n3'),
      index: fc.constantFrom(10, 11),
      // Mostly the CRC of an empty snapshot (0), so that some sequences complete.
      dataCrc: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff })),
    });
    fc.assert(
      fc.property(fc.array(chunkArb, { maxLength: 60 }), (chunks) => {
        const r = new SnapshotReceiver('n2', opts);
        let ackedMax = 0;
        for (const c of chunks) {
          const m = { ...meta, index: c.index } as SnapshotMeta;
          const out = r.onChunk(2, chunk(c.offset, bytes(c.length, c.offset), c.totalBytes, c.from, m, c.dataCrc));
          if (out.kind === 'corrupt') {
            // Complete but not the declared bytes: refused, and nothing held.
            expect(out.response.reject).to.equal(true);
            expect(r.bufferedBytes()).to.equal(0);
          } else if (out.kind === 'complete') {
            expect(crc32Bytes(out.data, 0)).to.equal(c.dataCrc);
            expect(out.data.byteLength).to.equal(c.totalBytes);
            // The final chunk's bytes are where it said, when they fit the declared size (a chunk
            // running past it is not written: an empty snapshot completes at any first chunk).
            if (c.offset + c.length <= c.totalBytes) {
              const tail = out.data.subarray(c.offset, c.offset + c.length);
              expect(Buffer.from(tail).equals(Buffer.from(bytes(c.length, c.offset)))).to.equal(true);
            }
          } else {
            // The stream being received reported its progress in an acknowledgement: what is held is
            // at most twice the most any acknowledgement reported (or the first 64 KiB).
            ackedMax = Math.max(ackedMax, out.response.offset);
            expect(r.bufferedBytes()).to.be.at.most(Math.max(64 * 1024, 2 * ackedMax));
          }
        }
      }),
      { numRuns: 1000 },
    );
  });
});
