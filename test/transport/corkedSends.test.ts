/**
 * CorkedSends with batches on (transport/wire/corkedSends.ts): a turn's frames leave at its end as
 * batches of at most `bytesMax`, in order; a frame above `frameBytesMax` (or too large for any
 * batch) leaves alone between them; a run of one is sent as itself; every frame's callback is
 * called once with its message's outcome. Against a recording stand-in for ws, turns run by hand.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import type { WebSocket } from 'ws';
import { CorkedSends } from '../../transport/wire/corkedSends.js';
import { batchFraming, isBatch, readBatch } from '../../transport/client/batch.js';

interface Sent {
  readonly message: Uint8Array;
  readonly cb: ((err?: Error) => void) | undefined;
}

function setup(bytesMax: number): { out: CorkedSends; sent: Sent[]; endTurn: () => void; ws: { readyState: number } } {
  const sent: Sent[] = [];
  const ws = {
    readyState: 1,
    send(message: Uint8Array, cb?: (err?: Error) => void) {
      sent.push({ message, cb });
    },
  };
  const turn: (() => void)[] = [];
  const out = new CorkedSends(ws as unknown as WebSocket, (fn) => turn.push(fn));
  out.batchFrames(batchFraming('reply', bytesMax));
  const endTurn = (): void => {
    for (const fn of turn.splice(0)) fn();
  };
  return { out, sent, endTurn, ws };
}

/** The frames as they arrive, a batch's one by one. */
function arrived(sent: readonly Sent[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const s of sent) {
    if (isBatch('reply', s.message)) out.push(...readBatch('reply', s.message, 1 << 20)!);
    else out.push(s.message);
  }
  return out;
}

describe('wire: CorkedSends with batches (a turn of frames in few messages)', () => {
  it('holds the frames until the end of the turn, then sends them in order, in batches that fit (300 cases)', () => {
    const sizes = fc.array(
      fc.oneof({ arbitrary: fc.integer({ min: 0, max: 300 }), weight: 6 }, { arbitrary: fc.integer({ min: 1500, max: 5000 }), weight: 1 }),
      {
        minLength: 1,
        maxLength: 60,
      },
    );
    fc.assert(
      fc.property(sizes, fc.integer({ min: 64, max: 4096 }), (lengths, bytesMax) => {
        const { out, sent, endTurn } = setup(bytesMax);
        const frames = lengths.map((n, k) => new Uint8Array(n).fill(k & 0xff));
        for (const f of frames) out.send(f);
        expect(sent).to.have.length(0);
        expect(out.heldBytes).to.equal(lengths.reduce((a, b) => a + b, 0));
        endTurn();
        expect(out.heldBytes).to.equal(0);
        const back = arrived(sent);
        expect(back.length).to.equal(frames.length);
        back.forEach((f, k) => expect(Buffer.from(f).equals(frames[k]!), `frame ${k}`).to.equal(true));
        for (const s of sent) {
          if (isBatch('reply', s.message)) {
            expect(s.message.length).to.be.at.most(bytesMax);
            const inner = readBatch('reply', s.message, 1 << 20)!;
            expect(inner.length).to.be.at.least(2);
            for (const f of inner) expect(f.length).to.be.at.most(2048);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a frame above 2 KiB leaves alone, between the batches before and after it', () => {
    const { out, sent, endTurn } = setup(64 * 1024);
    const small = (k: number): Uint8Array => new Uint8Array(10).fill(k);
    out.send(small(1));
    out.send(small(2));
    out.send(new Uint8Array(4096).fill(3));
    out.send(small(4));
    endTurn();
    expect(sent.map((s) => (isBatch('reply', s.message) ? 'batch' : s.message.length))).to.deep.equal(['batch', 4096, 10]);
    expect(out.batchesSent).to.equal(1);
    expect(out.batchedFrames).to.equal(2);
  });

  it('cuts batches at framesMax frames', () => {
    const sent: Uint8Array[] = [];
    const ws = { readyState: 1, send: (m: Uint8Array) => sent.push(m) };
    const turn: (() => void)[] = [];
    const out = new CorkedSends(ws as unknown as WebSocket, (fn) => turn.push(fn));
    out.batchFrames({ ...batchFraming('reply', 64 * 1024), framesMax: 3 });
    for (let k = 0; k < 10; k++) out.send(new Uint8Array([k]));
    for (const fn of turn.splice(0)) fn();
    expect(sent.map((m) => (isBatch('reply', m) ? readBatch('reply', m, 3)!.length : 'alone'))).to.deep.equal([3, 3, 3, 'alone']);
    expect(arrived(sent.map((message) => ({ message, cb: undefined }))).map((f) => f[0])).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("calls each frame's callback once with its message's outcome", () => {
    const { out, sent, endTurn } = setup(64 * 1024);
    const calls: (string | undefined)[] = [];
    out.send(new Uint8Array(5), (err) => calls.push(`a:${err?.message ?? 'ok'}`));
    out.send(new Uint8Array(5));
    out.send(new Uint8Array(5), (err) => calls.push(`c:${err?.message ?? 'ok'}`));
    endTurn();
    expect(sent).to.have.length(1);
    sent[0]!.cb!(new Error('gone'));
    expect(calls).to.deep.equal(['a:gone', 'c:gone']);
  });

  it('flush() sends what is held at once (before a close); a closed socket is not held for', () => {
    const { out, sent, endTurn, ws } = setup(64 * 1024);
    out.send(new Uint8Array(5));
    out.flush();
    expect(sent).to.have.length(1);
    endTurn();
    expect(sent).to.have.length(1);
    ws.readyState = 2; // closing: ws answers the send itself (an error to its callback)
    out.send(new Uint8Array(5));
    expect(sent).to.have.length(2);
    expect(out.heldBytes).to.equal(0);
  });
});
