/** The simulated disk's semantics, and the WAL on it through random crashes and bit flips. */
import assert from 'node:assert/strict';
import type { Entry, HardState } from '../../machines/types.js';
import { openLog, type OpenedLog } from '../../storage/openLog.js';
import type { FileHandle, LogWrite } from '../../storage/types.js';
import { SimDisk } from '../sim/disk/simDisk.js';
import { entry, sameEntry, seededRandom, SimClock, WrappedFs } from './helpers.js';

function bytes(...v: number[]): Uint8Array {
  return Uint8Array.from(v);
}

function isPrefix(short: Uint8Array, long: Uint8Array): boolean {
  return short.length <= long.length && short.every((b, i) => b === long[i]);
}

describe('storage SimDisk semantics', () => {
  it('completes callbacks through the scheduler only, never synchronously', () => {
    const clock = new SimClock();
    const disk = new SimDisk(clock, seededRandom(1));
    disk.mkdirp('/d');
    const h = disk.open('/d/f', 'create');
    let calls = 0;
    h.write(bytes(1, 2, 3), 0, () => calls++);
    h.sync(() => calls++);
    h.truncate(1, () => calls++);
    disk.syncDir('/d', () => calls++);
    assert.equal(calls, 0);
    clock.run();
    assert.equal(calls, 4);
  });

  it('makes durable only what completed before a sync was issued', () => {
    const clock = new SimClock();
    const disk = new SimDisk(clock, seededRandom(2));
    disk.mkdirp('/d');
    const h = disk.open('/d/f', 'create');
    h.write(bytes(1, 2), 0, () => {
      h.sync(() => undefined);
      h.write(bytes(3), 2, () => undefined); // completes after the sync was issued
    });
    clock.run();
    assert.deepEqual(disk.visibleBytes('/d/f'), bytes(1, 2, 3));
    assert.equal(disk.durableBytes('/d/f'), null, 'the name is not durable before syncDir');
    disk.syncDir('/d', () => undefined);
    clock.run();
    assert.deepEqual(disk.durableBytes('/d/f'), bytes(1, 2));
  });

  it('keeps a prefix of unsynced writes on a crash, the last one maybe torn, and stays deterministic', () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 200; seed++) {
      const run = (): Uint8Array => {
        const clock = new SimClock();
        const disk = new SimDisk(clock, seededRandom(seed));
        disk.mkdirp('/d');
        const h = disk.open('/d/f', 'create');
        h.write(bytes(1, 1), 0, () => undefined);
        clock.run();
        h.sync(() => undefined);
        disk.syncDir('/d', () => undefined);
        clock.run();
        h.write(bytes(2, 2, 2), 2, () => h.write(bytes(3, 3, 3), 5, () => h.write(bytes(4, 4), 8, () => undefined)));
        clock.run();
        disk.crash();
        return disk.readFile('/d/f');
      };
      const got = run();
      assert.ok(isPrefix(got, bytes(1, 1, 2, 2, 2, 3, 3, 3, 4, 4)), `seed ${seed}: ${got.join(',')}`);
      assert.ok(got.length >= 2, `seed ${seed}: synced bytes kept`);
      assert.deepEqual(run(), got, `seed ${seed}: same seed, same outcome`);
      outcomes.add(got.join(','));
    }
    assert.ok(outcomes.size >= 8, `${outcomes.size} distinct crash outcomes`);
  });

  it('keeps a prefix of directory operations, and pending callbacks never fire after a crash', () => {
    let sawRenameWithoutUnlink = false;
    let sawNeither = false;
    for (let seed = 1; seed <= 100; seed++) {
      const clock = new SimClock();
      const disk = new SimDisk(clock, seededRandom(seed));
      disk.mkdirp('/d');
      for (const name of ['a', 'b']) {
        const h = disk.open(`/d/${name}`, 'create');
        h.write(bytes(name.charCodeAt(0)), 0, () => h.sync(() => undefined));
      }
      disk.syncDir('/d', () => undefined);
      clock.run();
      disk.rename('/d/a', '/d/c');
      disk.unlink('/d/b');
      let fired = false;
      const stale = disk.open('/d/c', 'existing');
      stale.sync(() => {
        fired = true;
      });
      disk.crash();
      clock.run();
      assert.equal(fired, false, 'a callback of the crashed incarnation fired');
      assert.throws(() => stale.size(), { code: 'ESTALE' });
      const names = disk.readdir('/d').join(',');
      assert.ok(['a,b', 'b,c', 'c'].includes(names), `seed ${seed}: ${names}`);
      sawRenameWithoutUnlink ||= names === 'b,c';
      sawNeither ||= names === 'a,b';
    }
    assert.ok(sawRenameWithoutUnlink && sawNeither);
  });

  it('injects faults: a failed write changes nothing, a failed sync loses what it covered, a bit flips', () => {
    const clock = new SimClock();
    const disk = new SimDisk(clock, seededRandom(3), { tearProbability: 0 });
    disk.mkdirp('/d');
    const h = disk.open('/d/f', 'create');
    const errs: Array<string | null> = [];
    const code = (e: Error | null): string | null => (e === null ? null : ((e as NodeJS.ErrnoException).code ?? '?'));
    disk.failNext('write', 'ENOSPC');
    h.write(bytes(9), 0, (e) => errs.push(code(e)));
    clock.run();
    assert.deepEqual([...errs], ['ENOSPC']);
    assert.equal(disk.visibleBytes('/d/f')!.length, 0);
    h.write(bytes(1, 2, 3, 4), 0, (e) => errs.push(code(e)));
    clock.run();
    disk.failNext('sync', 'EIO');
    h.sync((e) => errs.push(code(e)));
    clock.run();
    disk.syncDir('/d', (e) => errs.push(code(e)));
    clock.run();
    assert.deepEqual([...errs], ['ENOSPC', null, 'EIO', null]);
    assert.deepEqual(disk.visibleBytes('/d/f'), bytes(1, 2, 3, 4), 'still visible until the crash');
    assert.equal(disk.volatileCounts('/d/f').fileOps, 0, 'the failed sync dropped the dirty data');
    h.write(bytes(5, 6, 7, 8), 0, () => h.sync(() => undefined));
    clock.run();
    const flip = disk.flipBit('/d/f', 2, 0)!;
    assert.deepEqual(flip, { path: '/d/f', offset: 2, bit: 0 });
    assert.deepEqual(disk.durableBytes('/d/f'), bytes(5, 6, 6, 8));
    disk.crash();
    assert.deepEqual(disk.readFile('/d/f'), bytes(5, 6, 6, 8));
  });
});

function openOnDisk(disk: SimDisk, clock: SimClock, segmentBytesMax: number, preallocateBytes = 0): OpenedLog {
  let opened: OpenedLog | null = null;
  let failed: Error | null = null;
  openLog(disk.mount(), '/node', { segmentBytesMax, batchBytesMax: 2048, preallocateBytes }, (err, o) => {
    failed = err;
    opened = o ?? null;
  });
  clock.run(() => opened !== null || failed !== null);
  if (failed !== null) throw failed;
  assert.ok(opened !== null, 'open never called back');
  return opened;
}

/** What a log reported: the highest sequence number reported durable, and its fatal error. */
function watch(o: OpenedLog): { acked: number; fatal: Error | null } {
  const seen: { acked: number; fatal: Error | null } = { acked: 0, fatal: null };
  o.log.onDurable = (seq) => {
    seen.acked = seq;
  };
  o.log.onFatal = (err) => {
    seen.fatal = err;
  };
  return seen;
}

function sameLog(a: readonly Entry[], b: readonly Entry[]): boolean {
  return a.length === b.length && a.every((e, i) => sameEntry(e, b[i]!));
}

function isLogPrefix(short: readonly Entry[], long: readonly Entry[]): boolean {
  return short.length <= long.length && short.every((e, i) => sameEntry(e, long[i]!));
}

interface Issued {
  readonly w: LogWrite;
  readonly logAfter: Entry[];
  readonly hsAfter: HardState;
}

/**
 * The logs a crash may leave: the state after any write from the last acknowledged one on, or
 * such a state with a part of the next write's records (a torn batch keeps a prefix of records).
 */
function candidates(baseline: Entry[], issued: Issued[], ackedSeq: number): Entry[][] {
  const out: Entry[][] = [];
  for (let s = ackedSeq; s <= issued.length; s++) {
    const st = s === 0 ? baseline : issued[s - 1]!.logAfter;
    out.push(st);
    const next = issued[s];
    if (next === undefined) continue;
    const f = next.w.truncateFrom;
    const cut = f === undefined ? st : st.filter((e) => e.index < f);
    for (let k = 0; k < next.w.entries.length; k++) out.push(cut.concat(next.w.entries.slice(0, k)));
  }
  return out;
}

/**
 * The simulated disk with one race set up on purpose (once `armed`): the fdatasync that follows the
 * WAL's zero-fill ahead of its records (storage/wal.ts, extendAhead) is held until the next write
 * of records completes, then issued, failing with EIO, just before that write's own fdatasync. The
 * failed sync forgets the records' write along with the zeros (a failed sync forgets what it
 * covered), and the records' own sync, which then covers nothing, succeeds.
 */
class ZeroFillSyncRaceFs extends WrappedFs {
  armed = false;
  raced = false;

  constructor(private readonly disk: SimDisk) {
    super(disk.mount());
  }
  override open(path: string, flags: 'create' | 'existing'): FileHandle {
    const h = super.open(path, flags);
    let inZeroCallback = false;
    let heldZeroSync: ((err: Error | null) => void) | null = null;
    return {
      size: () => h.size(),
      readSync: (p, l) => h.readSync(p, l),
      truncate: (l, cb) => h.truncate(l, cb),
      close: () => h.close(),
      write: (d, pos, cb) => {
        const zeros = d.length > 0 && d.every((b) => b === 0);
        h.write(d, pos, (err) => {
          if (zeros) {
            inZeroCallback = true;
            try {
              cb(err);
            } finally {
              inZeroCallback = false;
            }
            return;
          }
          const held = heldZeroSync;
          if (held !== null) {
            // The records' write has completed: the zero-fill's sync goes now, fails, and covers it.
            heldZeroSync = null;
            this.raced = true;
            this.disk.failNext('sync', 'EIO');
            h.sync(held);
          }
          cb(err);
        });
      },
      sync: (cb) => {
        if (this.armed && !this.raced && inZeroCallback && heldZeroSync === null) heldZeroSync = cb;
        else h.sync(cb);
      },
    };
  }
}

describe('storage WAL on SimDisk through crashes', function () {
  this.timeout(60_000);

  it('entries whose fdatasync failed are made durable by the next start that reports them (a failed sync forgets what it covered)', () => {
    for (const prealloc of [0, 4096]) {
      const clock = new SimClock();
      const disk = new SimDisk(clock, seededRandom(7), { tearProbability: 0 });
      const a = openOnDisk(disk, clock, 4096, prealloc);
      const seen = watch(a);
      const first = a.log.write({ entries: [entry(1, 1, 100), entry(2, 1, 100)] });
      clock.run(() => seen.acked >= first);
      // The next batch's fdatasync fails: the process stops (fail-stop), the machine does not.
      disk.failNext('sync', 'EIO');
      a.log.write({ entries: [entry(3, 1, 100), entry(4, 1, 100)] });
      clock.run(() => seen.fatal !== null);
      assert.equal(seen.acked, first, 'the failed batch was never reported durable');
      // The next start reads what the page cache shows, entries 3 and 4 included, and reports them
      // durable: so they must be, by the time open calls back.
      const b = openOnDisk(disk, clock, 4096, prealloc);
      assert.deepEqual(
        b.recovered.entries.map((e) => e.index),
        [1, 2, 3, 4],
      );
      disk.crash();
      const c = openOnDisk(disk, clock, 4096, prealloc);
      assert.equal(c.recovered.corruption, null, `prealloc ${prealloc}: ${JSON.stringify(c.recovered.corruption)}`);
      assert.deepEqual(
        c.recovered.entries.map((e) => e.index),
        [1, 2, 3, 4],
        `prealloc ${prealloc}: what the second start reported durable survives a power loss`,
      );
    }
  });

  it('a cut whose fdatasync failed is made durable by the next start: no stale tail comes back in the middle of the log (simulator seed 36146)', () => {
    const clock = new SimClock();
    const disk = new SimDisk(clock, seededRandom(36146), { tearProbability: 0 });
    const prealloc = 4096;
    // Start 1: a few entries, durable, in a segment zero-filled ahead (the zeros are durable too).
    const a = openOnDisk(disk, clock, 4096, prealloc);
    let acked = 0;
    a.log.onDurable = (seq) => {
      acked = seq;
    };
    const first = a.log.write({ entries: [entry(1, 1, 100), entry(2, 1, 100), entry(3, 1, 100)] });
    clock.run(() => acked >= first);
    // Power loss: the active segment keeps its records and the zeros after them.
    disk.crash();
    // Start 2 cuts the zeros (a torn tail of no bytes) and dies: the fdatasync of the cut copy
    // fails, which forgets what it covered. The process dies; the machine does not. (Before the
    // fix the cut was a truncate in place, left in the page cache only: seed 36146.)
    disk.failNext('sync', 'EIO');
    let failed: Error | null = null;
    openLog(disk.mount(), '/node', { segmentBytesMax: 4096, batchBytesMax: 2048, preallocateBytes: prealloc }, (err) => {
      failed = err;
    });
    clock.run(() => failed !== null);
    assert.match(String((failed as Error | null)?.message), /segment rewrite fdatasync/, 'the cut is what failed');
    const seg = disk.paths().find((p) => p.endsWith('.wal'))!;
    assert.deepEqual(disk.visibleBytes(seg), disk.durableBytes(seg), 'the segment itself is untouched: what start 3 reads is on disk');
    // Start 3 cuts again, and writes on (in a fresh segment).
    const c = openOnDisk(disk, clock, 4096, prealloc);
    assert.equal(c.recovered.corruption, null);
    assert.deepEqual(
      c.recovered.entries.map((e) => e.index),
      [1, 2, 3],
    );
    assert.deepEqual(disk.durableBytes(seg), disk.visibleBytes(seg), 'start 3 made what it read durable');
    assert.deepEqual(
      disk.paths().filter((p) => p.endsWith('.rewrite')),
      [],
      "start 2's copy is gone",
    );
    acked = 0;
    c.log.onDurable = (seq) => {
      acked = seq;
    };
    const more = c.log.write({ entries: [entry(4, 2, 100), entry(5, 2, 100)] });
    clock.run(() => acked >= more);
    // Power loss again: every acknowledged entry is there, and nothing reads as damage.
    disk.crash();
    const d = openOnDisk(disk, clock, 4096, prealloc);
    assert.equal(d.recovered.corruption, null, JSON.stringify(d.recovered.corruption));
    assert.deepEqual(
      d.recovered.entries.map((e) => e.index),
      [1, 2, 3, 4, 5],
    );
  });

  it('a failed fdatasync of the zero-fill ahead of the records stops the WAL: a batch that sync may have forgotten is never reported durable', () => {
    const clock = new SimClock();
    const disk = new SimDisk(clock, seededRandom(11), { tearProbability: 0, latencyJitterMs: 0 });
    const fs = new ZeroFillSyncRaceFs(disk);
    const opts = { segmentBytesMax: 64 * 1024, batchBytesMax: 2048, preallocateBytes: 4096 };
    let opened: OpenedLog | null = null;
    openLog(fs, '/node', opts, (err, o) => {
      assert.equal(err, null);
      opened = o ?? null;
    });
    clock.run(() => opened !== null);
    const a = opened as unknown as OpenedLog;
    const seen = watch(a);
    fs.armed = true;
    // The batch's write starts the zero-fill ahead of it; its write completes after the zeros'.
    a.log.write({ entries: [entry(1, 1, 100), entry(2, 1, 100)] });
    clock.run();
    assert.ok(fs.raced, 'the race was set up: the zero-fill sync failed after the batch was written');
    assert.equal(seen.acked, 0, 'the batch was never reported durable');
    assert.match(String(seen.fatal?.message), /fdatasync/, 'the WAL stopped on the failed sync');
    // Power loss: the failed sync forgot the batch, so it is not on disk, and nothing said it was.
    disk.crash();
    const b = openOnDisk(disk, clock, opts.segmentBytesMax, opts.preallocateBytes);
    assert.equal(b.recovered.corruption, null, JSON.stringify(b.recovered.corruption));
    assert.deepEqual(
      b.recovered.entries.map((e) => e.index),
      [],
      'the forgotten batch is gone (had it been reported durable, an acknowledged write would be lost)',
    );
  });

  it('never loses an acknowledged entry or vote, and a crash alone is never corruption', () => {
    const seeds = 120;
    let torn = 0;
    let crashesInOpen = 0;
    for (let seed = 1; seed <= seeds; seed++) {
      const r = crashLoop(seed, false);
      torn += r.torn;
      crashesInOpen += r.crashesInOpen;
    }
    assert.ok(torn > 15, `only ${torn} torn tails in ${seeds} seeds: the crashes are too gentle`);
    assert.ok(crashesInOpen > 50, `only ${crashesInOpen} crashes during recovery`);
  });

  it('with preallocated segments and writes torn at sector boundaries: the same, and zeros are never torn bytes', () => {
    let torn = 0;
    let preallocations = 0;
    for (let seed = 2000; seed < 2120; seed++) {
      const r = crashLoop(seed, false, { preallocateBytes: 700, tearSectorBytes: 512 });
      torn += r.torn;
      preallocations += r.preallocations;
    }
    // Most torn writes now leave zeros only (0 torn bytes): a sector boundary falls between records.
    assert.ok(torn >= 3, `only ${torn} torn tails with bytes: the crashes are too gentle`);
    assert.ok(preallocations > 200, `${preallocations} ranges zeroed ahead`);
  });

  it('with bit flips: corruption is reported, and what is returned is exactly what was written', () => {
    let corrupt = 0;
    for (let seed = 1000; seed < 1080; seed++) corrupt += crashLoop(seed, true).corrupt;
    assert.ok(corrupt > 10, `${corrupt} corruptions reported`);
  });
});

function crashLoop(
  seed: number,
  flips: boolean,
  prealloc: { preallocateBytes: number; tearSectorBytes: number } = { preallocateBytes: 0, tearSectorBytes: 1 },
): { torn: number; corrupt: number; crashesInOpen: number; preallocations: number } {
  const rnd = seededRandom(seed);
  const clock = new SimClock();
  const disk = new SimDisk(clock, seededRandom(seed * 7919), { tearSectorBytes: prealloc.tearSectorBytes });
  let baseline: Entry[] = [];
  let baselineHs: HardState = { term: 0, vote: null };
  let issued: Issued[] = [];
  /** Every log state of every incarnation. */
  const history: Entry[][] = [];
  let ackedSeq = 0;
  let torn = 0;
  let corrupt = 0;
  let crashesInOpen = 0;
  let preallocations = 0;
  const rounds = 6;
  for (let round = 0; round < rounds; round++) {
    const what = `seed ${seed} round ${round}`;
    // Sometimes the machine dies again in the middle of recovery's own repairs.
    while (rnd() < 0.3) {
      let done = false;
      openLog(disk.mount(), '/node', { segmentBytesMax: 700, batchBytesMax: 2048, preallocateBytes: prealloc.preallocateBytes }, () => {
        done = true;
      });
      clock.runSome(Math.floor(rnd() * 8));
      clock.clear();
      if (done) break;
      disk.crash();
      crashesInOpen++;
    }
    const o = openOnDisk(disk, clock, 700, prealloc.preallocateBytes);
    const rec = o.recovered;
    assert.equal(rec.snapshot, null);
    if (rec.tornBytes > 0) torn++;
    const acked = ackedSeq === 0 ? baseline : issued[ackedSeq - 1]!.logAfter;
    const ackedHs = ackedSeq === 0 ? baselineHs : issued[ackedSeq - 1]!.hsAfter;
    const cands = candidates(baseline, issued, ackedSeq);
    let leaderLog: Entry[];
    if (rec.corruption === null) {
      const match = cands.find((c) => sameLog(c, rec.entries));
      assert.ok(match !== undefined, `${what}: recovered ${rec.entries.length} entries, not a state the writes could leave`);
      leaderLog = rec.entries;
    } else {
      assert.ok(flips, `${what}: corruption without any bit flip: ${JSON.stringify(rec.corruption)}`);
      corrupt++;
      assert.equal(rec.corruption.firstBadIndex, rec.entries.length + 1, what);
      // The trusted entries are a state the log went through: damage to a later truncation record
      // can bring back an older history, never anything that was not written.
      const match = history.find((c) => isLogPrefix(rec.entries, c)) ?? cands.find((c) => isLogPrefix(rec.entries, c));
      assert.ok(match !== undefined, `${what}: the trusted entries are not a prefix of any state the log went through`);
      // Repair: the leader (which holds what this node acknowledged) overwrites the rest.
      leaderLog = acked;
    }
    assert.ok(rec.hardState.term >= ackedHs.term, `${what}: term went back`);
    if (rec.hardState.term === ackedHs.term && ackedHs.vote !== null) {
      assert.equal(rec.hardState.vote, ackedHs.vote, `${what}: acknowledged vote lost`);
    }

    // A new incarnation: its baseline is what it recovered (plus the repair, issued first).
    baseline = rec.entries;
    baselineHs = rec.hardState;
    issued = [];
    ackedSeq = 0;
    o.log.onDurable = (seq) => {
      ackedSeq = seq;
    };
    o.log.onFatal = (err) => assert.fail(`${what}: fatal ${err.message}`);
    let log = rec.entries.slice();
    let term = rec.hardState.term + 1;
    let hs: HardState = { term, vote: rnd() < 0.5 ? 'n2' : null };
    const issue = (w: LogWrite): void => {
      if (w.truncateFrom !== undefined) log = log.filter((e) => e.index < w.truncateFrom!);
      log = log.concat(w.entries);
      if (w.hardState !== undefined) hs = w.hardState;
      const seq = o.log.write(w);
      issued.push({ w, logAfter: log.slice(), hsAfter: hs });
      history.push(log.slice());
      assert.equal(seq, issued.length);
    };
    let common = 0;
    while (common < Math.min(leaderLog.length, rec.entries.length) && sameEntry(leaderLog[common]!, rec.entries[common]!)) common++;
    const conflict = common < rec.entries.length && common < leaderLog.length;
    issue({
      ...(conflict ? { truncateFrom: common + 1 } : {}),
      entries: leaderLog.slice(Math.max(common, conflict ? common : rec.entries.length)),
      hardState: hs,
    });
    const steps = 8 + Math.floor(rnd() * 12);
    for (let step = 0; step < steps; step++) {
      let truncateFrom: number | undefined;
      let hardState: HardState | undefined;
      if (rnd() < 0.15 && log.length > 2) {
        truncateFrom = log.length - Math.floor(rnd() * 3);
        term++;
        hardState = { term, vote: rnd() < 0.5 ? 'n1' : null };
      }
      const first = truncateFrom ?? log.length + 1;
      const n = 1 + Math.floor(rnd() * 4);
      const batch = Array.from({ length: n }, (_, k) => entry(first + k, term, 10 + Math.floor(rnd() * 60)));
      issue({ entries: batch, ...(truncateFrom !== undefined ? { truncateFrom } : {}), ...(hardState ? { hardState } : {}) });
      if (rnd() < 0.5) clock.runSome(1 + Math.floor(rnd() * 6));
    }
    // Let some of it become durable, then pull the plug (the last round drains everything first).
    if (round === rounds - 1) clock.run();
    else clock.runSome(Math.floor(rnd() * 6));
    clock.clear();
    preallocations += o.log.stats.preallocations;
    disk.crash();
    if (flips && rnd() < 0.5) {
      const segs = disk.paths().filter((p) => p.endsWith('.wal'));
      if (segs.length > 0) disk.flipBit(segs[Math.floor(rnd() * segs.length)]);
    }
  }
  return { torn, corrupt, crashesInOpen, preallocations };
}

describe('storage planted bug skip-fsync', () => {
  /** Writes one entry and a vote, crashes as soon as they are reported durable, reopens. */
  function survives(seed: number, plantSkipFsync: boolean): boolean {
    const clock = new SimClock();
    const disk = new SimDisk(clock, seededRandom(seed));
    let opened: OpenedLog | null = null;
    openLog(disk.mount(), '/n', { plantSkipFsync }, (err, o) => {
      assert.equal(err, null);
      opened = o!;
    });
    clock.run(() => opened !== null);
    const o = opened! as OpenedLog;
    let durable = false;
    o.log.onDurable = () => {
      durable = true;
    };
    o.log.write({ entries: [entry(1, 1)], hardState: { term: 1, vote: 'n1' } });
    clock.run(() => durable);
    clock.clear();
    disk.crash();
    let again: OpenedLog | null = null;
    openLog(disk.mount(), '/n', {}, (err, a) => {
      assert.equal(err, null);
      again = a!;
    });
    clock.run(() => again !== null);
    const rec = (again! as OpenedLog).recovered;
    return rec.entries.length === 1 && rec.hardState.vote === 'n1';
  }

  it('loses acknowledged writes on a crash when planted, never when not', () => {
    let lostPlanted = 0;
    for (let seed = 1; seed <= 60; seed++) {
      assert.ok(survives(seed, false), `seed ${seed}: an acknowledged write was lost without the plant`);
      if (!survives(seed, true)) lostPlanted++;
    }
    assert.ok(lostPlanted > 10, `the planted bug lost only ${lostPlanted} of 60`);
  });
});
