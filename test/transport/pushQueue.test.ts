/**
 * The per-connection delivery queue of the client port (transport/client/pushQueue.ts, issue 14
 * finding 7) against a fake socket and a fake timer: deliveries are written while the socket is
 * below its mark and wait for 'drain' otherwise, in order across subscriptions; the queue's bounds
 * (deliveries, bytes) answer 'full'; a delivery larger than the mark still goes through; only a
 * reader that stays behind (bytes) without progress (time) is declared stalled, with one timer.
 */
import assert from 'node:assert/strict';
import { PushQueue, type PushQueueLimits } from '../../transport/client/pushQueue.js';

const KiB = 1024;

/** A socket whose buffer the test fills (writes) and empties (the reader reads). */
class FakeSocket {
  buffered = 0;
  readonly sent: string[] = [];
  bufferedAmount(): number {
    return this.buffered;
  }
  send(frame: Uint8Array): void {
    this.buffered += frame.length;
    this.sent.push(Buffer.from(frame.subarray(0, 8)).toString('utf8').replace(/\0+$/, ''));
  }
  /** The reader took `n` bytes (all by default). */
  read(n = this.buffered): void {
    this.buffered = Math.max(0, this.buffered - n);
  }
}

/** A fake clock: timers run only when the test advances time. */
class FakeTimers {
  now = 0;
  private next = 1;
  readonly pending = new Map<number, { at: number; fn: () => void }>();
  set = (fn: () => void, ms: number): unknown => {
    const h = this.next++;
    this.pending.set(h, { at: this.now + ms, fn });
    return h;
  };
  clear = (h: unknown): void => {
    this.pending.delete(h as number);
  };
  advance(ms: number): void {
    const until = this.now + ms;
    for (;;) {
      let first: [number, { at: number; fn: () => void }] | null = null;
      for (const e of this.pending) if (e[1].at <= until && (first === null || e[1].at < first[1].at)) first = e;
      if (first === null) break;
      this.pending.delete(first[0]);
      this.now = first[1].at;
      first[1].fn();
    }
    this.now = until;
  }
}

/** A delivery of `bytes` bytes whose frame starts with its name (so the order is visible). */
interface Item {
  readonly name: string;
  readonly bytes: number;
}

const limits: PushQueueLimits = {
  bufferedBytesHigh: 1024 * KiB,
  queueBytesMax: 32 * 1024 * KiB,
  queueDeliveriesMax: 16,
  behindBytesMax: 2 * 1024 * KiB,
  behindMsMax: 1000,
};

function setup(l: Partial<PushQueueLimits> = {}) {
  const sock = new FakeSocket();
  const timers = new FakeTimers();
  const stalls: string[] = [];
  const q = new PushQueue<Item>(
    sock,
    (subId, it) => {
      const f = new Uint8Array(it.bytes);
      f.set(Buffer.from(`${subId}${it.name}`.slice(0, 8)));
      return f;
    },
    { ...limits, ...l },
    (d) => stalls.push(d),
    timers,
  );
  const push = (subId: number, name: string, bytes: number) => q.push(subId, bytes, { name, bytes });
  return { sock, timers, stalls, q, push };
}

describe('client port: per-connection push queue', () => {
  it('writes at once while the socket is below its mark, without a timer (the hot path)', () => {
    const { sock, timers, q, push } = setup();
    for (let k = 0; k < 100; k++) {
      assert.equal(push(1, `a${k}`, 1000), 'sent');
      sock.read();
    }
    assert.equal(sock.sent.length, 100);
    assert.equal(q.queued, 0);
    assert.equal(q.lagging, false);
    assert.equal(timers.pending.size, 0);
  });

  it('a burst of 12 deliveries of 960 KiB is paced by drains, in order, and all arrive', () => {
    const { sock, timers, stalls, q, push } = setup();
    const outcomes = Array.from({ length: 12 }, (_, k) => push(1, `s${String(k).padStart(2, '0')}`, 960 * KiB));
    // 0 B < 1 MiB: written; 960 KiB < 1 MiB: written; 1.9 MiB: the rest wait.
    assert.deepEqual(outcomes, ['sent', 'sent', ...Array<string>(10).fill('queued')]);
    assert.equal(q.queued, 10);
    assert.equal(q.queuedBytes, 10 * 960 * KiB);
    assert.equal(q.lagging, true);
    assert.equal(timers.pending.size, 1, 'one timer for the lagging connection');
    let drains = 0;
    while (q.queued > 0) {
      sock.read();
      q.pump(); // the socket's 'drain'
      drains++;
      assert.ok(drains < 100);
    }
    assert.deepEqual(
      sock.sent,
      Array.from({ length: 12 }, (_, k) => `1s${String(k).padStart(2, '0')}`),
    );
    assert.equal(q.lagging, false, 'nothing waits: no timer');
    assert.equal(timers.pending.size, 0);
    assert.deepEqual(stalls, []);
  });

  it('a queued delivery waits as its frame: its value (views of a read window) is not kept', () => {
    const sock = new FakeSocket();
    const encoded: string[] = [];
    const q = new PushQueue<{ records: Uint8Array }>(
      sock,
      (subId, v) => {
        encoded.push(Buffer.from(v.records).toString('utf8'));
        return Buffer.from(`${subId}${Buffer.from(v.records).toString('utf8')}`);
      },
      limits,
      () => undefined,
      new FakeTimers(),
    );
    sock.buffered = 2 * 1024 * KiB; // above the mark: it queues
    const window = Buffer.from('abcdefgh');
    assert.equal(q.push(1, 4, { records: window.subarray(0, 4) }), 'queued');
    assert.deepEqual(encoded, ['abcd'], 'encoded when queued');
    // The window's bytes change after (in the product they never do; here it shows no view is kept).
    window.fill(0x7a);
    sock.read();
    q.pump();
    assert.deepEqual(sock.sent, ['1abcd']);
    assert.equal(encoded.length, 1, 'encoded once');
  });

  it('keeps the order across subscriptions of the connection, and drop() forgets one subscription', () => {
    const { sock, q, push } = setup();
    sock.buffered = 2 * 1024 * KiB; // above the mark: everything queues
    assert.equal(push(1, 'a1', 100), 'queued');
    assert.equal(push(2, 'b1', 200), 'queued');
    assert.equal(push(1, 'a2', 100), 'queued');
    assert.equal(push(3, 'c1', 300), 'queued');
    assert.equal(push(2, 'b2', 200), 'queued');
    q.drop(2);
    assert.equal(q.queued, 3);
    assert.equal(q.queuedBytes, 500);
    sock.read();
    q.pump();
    assert.deepEqual(sock.sent, ['1a1', '1a2', '3c1']);
  });

  it('is bounded in deliveries and in bytes; an empty queue admits one delivery of any size', () => {
    const byCount = setup({ queueDeliveriesMax: 3 });
    byCount.sock.buffered = 2 * 1024 * KiB;
    assert.deepEqual(
      [1, 2, 3, 4].map((k) => byCount.push(1, `x${k}`, 10)),
      ['queued', 'queued', 'queued', 'full'],
    );
    assert.equal(byCount.q.queued, 3);

    const byBytes = setup({ queueBytesMax: 1000 });
    byBytes.sock.buffered = 2 * 1024 * KiB;
    assert.equal(byBytes.push(1, 'huge', 5000), 'queued', 'alone, larger than the bound: admitted');
    assert.equal(byBytes.push(1, 'one', 1), 'full');
    byBytes.sock.read();
    byBytes.q.pump();
    assert.deepEqual(byBytes.sock.sent, ['1huge']);
    assert.equal(byBytes.push(1, 'a', 600), 'sent');
    assert.equal(byBytes.push(1, 'b', 600), 'sent', 'the socket still has room (1200 B < 1 MiB)');
  });

  it('a delivery larger than the socket mark is written whole to a socket below the mark', () => {
    const { sock, q, push } = setup({ bufferedBytesHigh: 64 * KiB });
    assert.equal(push(1, 'big', 4 * 1024 * KiB), 'sent');
    assert.equal(push(1, 'next', 10), 'queued');
    sock.read(4 * 1024 * KiB - 1);
    q.pump();
    assert.equal(sock.sent.length, 2, 'one byte left in the socket is below the mark');
  });

  it('a reader that keeps reading, however slowly, is never declared stalled', () => {
    const { sock, timers, stalls, q, push } = setup();
    for (let k = 0; k < 10; k++) push(1, `s${k}`, 960 * KiB);
    // 10 s: the reader takes 64 KiB every 100 ms (the socket never drains in that time).
    for (let t = 0; t < 100; t++) {
      sock.read(64 * KiB);
      timers.advance(100);
    }
    assert.deepEqual(stalls, []);
    assert.equal(q.lagging, true);
    assert.equal(timers.pending.size, 1, 'still one timer');
  });

  it('a reader that stops reading is declared stalled after behindMsMax, once and with one timer', () => {
    const { sock, timers, stalls, q, push } = setup();
    for (let k = 0; k < 10; k++) push(1, `s${k}`, 960 * KiB);
    assert.equal(q.checkEveryMs, 250);
    timers.advance(750);
    assert.deepEqual(stalls, [], 'not before behindMsMax');
    timers.advance(250);
    assert.equal(stalls.length, 1, 'at behindMsMax (four checks of 250 ms without progress)');
    assert.match(stalls[0]!, /no progress for 1000 ms with \d+ bytes behind \(8 deliveries queued/);
    assert.equal(q.queued, 0, 'the queue is emptied');
    assert.equal(q.lagging, false);
    assert.equal(timers.pending.size, 0);
    timers.advance(10_000);
    assert.equal(stalls.length, 1);
    assert.equal(sock.sent.length, 2);
  });

  it('progress restarts the stall clock; a stalled reader within behindBytesMax is left alone until it is further behind', () => {
    const { sock, timers, stalls, push } = setup();
    for (let k = 0; k < 4; k++) push(1, `s${k}`, 960 * KiB);
    timers.advance(750);
    sock.read(1); // progress, seen by the check at 1000 ms
    timers.advance(250);
    assert.deepEqual(stalls, [], 'at 1000 ms: the clock restarted at the progress');
    timers.advance(750);
    assert.deepEqual(stalls, []);
    timers.advance(250);
    assert.equal(stalls.length, 1, 'behindMsMax after the last progress');

    const small = setup();
    small.sock.buffered = 1024 * KiB;
    small.push(1, 'a', 100);
    small.timers.advance(5000);
    assert.deepEqual(small.stalls, [], 'behind 1 MiB + 100 B, within 2 MiB: kept');
    small.push(1, 'b', 1024 * KiB);
    small.timers.advance(250);
    assert.equal(small.stalls.length, 1, 'further behind than 2 MiB with no progress for long: stalled');
    assert.equal(small.q.queued, 0);
  });

  it('a missed drain does not stall a reader that read: the lag check pumps', () => {
    const { sock, timers, stalls, q, push } = setup();
    for (let k = 0; k < 5; k++) push(1, `s${k}`, 960 * KiB);
    sock.read();
    timers.advance(250); // no pump() by the test: the check writes
    assert.equal(sock.sent.length, 4);
    assert.deepEqual(stalls, []);
    assert.equal(q.queued, 1);
  });

  it('close() forgets everything and stops the timer; later pushes are refused', () => {
    const { sock, timers, q, push } = setup();
    sock.buffered = 2 * 1024 * KiB;
    push(1, 'a', 10);
    assert.equal(timers.pending.size, 1);
    q.close();
    assert.equal(timers.pending.size, 0);
    assert.equal(q.queued, 0);
    assert.equal(push(1, 'b', 10), 'full');
  });
});
