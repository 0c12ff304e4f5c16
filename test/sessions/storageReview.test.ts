/**
 * The store's durability review (2026-12-07): four faults proved with failing tests, and a fifth
 * suspicion (a refused restore leaving the store half-replaced), each fixed. See docs/sessions.md,
 * "Crashes: why every node's data directory ends byte-identical" and "Snapshots and range sync".
 */
import { expect } from 'chai';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CommandKind, commandId, dataFileName, type Command } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { NodeSessionFs } from '../../actors/sessions/fs.js';
import { SessionsError } from '../../actors/sessions/errors.js';
import { encodeManifestParts } from '../../actors/sessions/manifest.js';
import { storedRecordLength } from '../../actors/sessions/record.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult, Manifest } from '../../actors/sessions/types.js';
import { TestLog, bytes, inTempDir } from './helpers.js';

/**
 * MemorySessionFs (POSIX crash model: a name survives only if its directory was synced) with a
 * `syncLater` like NodeSessionFs's: every file is opened at once; the fsyncs, then the directory
 * fsyncs in the caller's order, run later (the thread pool), one step at a time if the test wants,
 * and see the directories as they are then.
 */
class DeferredSyncFs extends MemorySessionFs {
  private steps: (() => void)[] = [];
  syncLater(files: readonly string[], dirs: readonly string[], cb: (err: Error | null) => void): void {
    const handles = files.map((f) => this.open(f, 'existing'));
    this.steps.push(() => {
      for (const h of handles) {
        this.fsync(h);
        this.close(h);
      }
    });
    for (const d of dirs) this.steps.push(() => this.syncDir(d));
    this.steps.push(() => cb(null));
  }
  /** Run the next queued step (the files' fsyncs, one directory's fsync, or the callback). */
  step(): void {
    this.steps.shift()?.();
  }
  runQueued(): void {
    while (this.steps.length > 0) this.step();
  }
}

function newStore(fs: MemorySessionFs | NodeSessionFs = new MemorySessionFs()): SessionsStore {
  return new SessionsStore({ fs, limits: {}, defer: (fn) => fn() });
}

function run(store: SessionsStore, log: TestLog, cmd: Command): CommandResult {
  return store.apply([log.push(cmd)])[0] as CommandResult;
}

/**
 * On `store`: a data file of class 0 created, one session stored into it, sealed (a newer file
 * created), restored and committed: consumed, so the next entry may delete it. Returns its ID.
 */
function consumedFile(store: SessionsStore, log: TestLog): Uint8Array {
  return consumedFileNamed(store, log).file;
}

function consumedFileNamed(store: SessionsStore, log: TestLog): { file: Uint8Array; name: string } {
  const file = run(store, log, { kind: CommandKind.dataCreate, replayClass: 0 }).value!;
  const name = store.newestFile(0)!.name;
  const id = run(store, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: null }).value!;
  run(store, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('payload'), envelope: null });
  const length = storedRecordLength(1, 1, 7);
  expect(run(store, log, { kind: CommandKind.sessionStore, session: id, replayClass: 0, dueMs: 10, file, offset: 0, length, envelope: null }).code).to.equal(
    'OK',
  );
  run(store, log, { kind: CommandKind.dataCreate, replayClass: 0 });
  expect(run(store, log, { kind: CommandKind.sessionRestore, replayClass: 0, file, length }).ok).to.equal(true);
  expect(run(store, log, { kind: CommandKind.sessionCommit, replayClass: 0, file, length }).code).to.equal('OK');
  return { file, name };
}

function typedOrNone(fn: () => void): string {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return err instanceof SessionsError ? `typed ${err.code}` : `untyped ${(err as NodeJS.ErrnoException).code ?? ''} ${(err as Error).message}`;
  }
}

describe('storage review: deferred snapshot fsyncs vs files moved meanwhile', () => {
  /** A snapshot whose fsyncs are deferred, a DataDelete applied while they run, a power loss: returns the restart. */
  function scenario(fs: MemorySessionFs & { runQueued?: () => void }): () => void {
    const store = newStore(fs);
    const log = new TestLog();
    const file = consumedFile(store, log);
    // Raft takes a snapshot at S: the manifest now, the fsyncs deferred.
    const S = log.lastIndex;
    const d = store.snapshotPartsDeferred();
    const manifest = Buffer.concat(d.parts.map((p) => Buffer.from(p)));
    let saved = false;
    d.durable((err) => {
      expect(err).to.equal(null);
      saved = true; // Raft saves the snapshot file now and compacts its log through (about) S.
      store.snapshotSaved(S);
    });
    // Apply goes on while the fsyncs run: the scheduler's DataDelete of the consumed, sealed file.
    expect(run(store, log, { kind: CommandKind.dataDelete, replayClass: 0, file }).code).to.equal('OK');
    fs.runQueued?.();
    expect(saved).to.equal(true);
    // Power loss before the next snapshot; the node restarts from its own snapshot S.
    fs.crash();
    return () => newStore(fs).restore(log.meta(S), manifest);
  }

  it('control: with fsyncs in place (no syncLater) the node restarts from its snapshot', () => {
    expect(scenario(new MemorySessionFs())).to.not.throw();
  });

  it('a DataDelete during the deferred fsyncs: the node restarts from its saved snapshot (trash/ synced after data/<c>)', () => {
    const restart = scenario(new DeferredSyncFs());
    try {
      restart();
    } catch (err) {
      throw new Error(`restart from the saved snapshot failed: ${(err as Error).message}`, { cause: err });
    }
  });

  it('range sync bringing a file back from trash/ between two directory fsyncs: its new name is durable once the snapshot is', () => {
    const leader = newStore();
    const fs = new DeferredSyncFs();
    const follower = newStore(fs);
    const log = new TestLog();
    const { file, name } = consumedFileNamed(leader, log);
    const older = leader.manifest();
    expect(run(leader, log, { kind: CommandKind.dataDelete, replayClass: 0, file }).code).to.equal('OK');
    // The follower applies everything (the file goes to its trash/) and takes a snapshot S whose
    // fsyncs are deferred: data/0, then trash/, then data, then the root.
    follower.apply(log.slice(0));
    const S = log.lastIndex;
    let saved = false;
    follower.snapshotPartsDeferred().durable((err) => {
      expect(err).to.equal(null);
      saved = true;
      follower.snapshotSaved(S);
    });
    fs.step(); // the files' fsyncs
    fs.step(); // data/0's fsync
    // Range sync writes a range of that file (a manifest that still lists it): it comes back from
    // trash/ to data/0/, after data/0 was synced and before trash/ is.
    const fm = older.files.find((f) => f.name === name)!;
    const r = fm.ranges[0]!;
    const range = { name, replayClass: 0, fileHigh: fm.fileHigh, fileLow: fm.fileLow, start: r.start, end: r.end, count: r.count, hash: r.hash };
    follower.writeRange(leader.readRange(range));
    fs.runQueued();
    expect(saved).to.equal(true);
    fs.crash();
    const trashName = `trash/0-${name.slice('data/0/'.length)}`;
    expect(fs.fileSize(name) >= 0 || fs.fileSize(trashName) >= 0, `${name} is in neither data/ nor trash/ after a power loss`).to.equal(true);
  });
});

describe('storage review: range sync vs a DataCreate applied while the ranges arrive', () => {
  /** A leader's log (a session stored into a new file of class 0) and its manifest at the end. */
  function leaderWithFile(): { leader: SessionsStore; log: TestLog; createIndex: number; X: number; manifest: Uint8Array; name: string } {
    const leader = newStore();
    const log = new TestLog();
    const id = run(leader, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: null }).value!;
    run(leader, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('payload'), envelope: null });
    run(leader, log, { kind: CommandKind.dataCreate, replayClass: 0 });
    const createIndex = log.lastIndex;
    const f = leader.newestFile(0)!;
    const length = storedRecordLength(1, 1, 7);
    expect(
      run(leader, log, {
        kind: CommandKind.sessionStore,
        session: id,
        replayClass: 0,
        dueMs: 10,
        file: commandId(f.high, f.low),
        offset: 0,
        length,
        envelope: null,
      }).code,
    ).to.equal('OK');
    const X = log.lastIndex;
    return { leader, log, createIndex, X, manifest: leader.snapshot(), name: f.name };
  }

  it('the ranges written ahead survive the DataCreate, and the install restores', () => {
    const { leader, log, createIndex, X, manifest, name } = leaderWithFile();
    const follower = newStore();
    // The follower had applied the first entry (its data directory reconciled) when the manifest came.
    follower.apply(log.slice(0, 1));
    const missing = follower.missingRanges(manifest);
    expect(missing.map((r) => r.name)).to.deep.equal([name]);
    for (const r of missing) follower.writeRange(leader.readRange(r));
    // A heartbeat's commit lets the follower apply its own entries through the DataCreate.
    follower.apply(log.slice(1, createIndex));
    try {
      follower.restore(log.meta(X), manifest);
    } catch (err) {
      throw new Error(`install failed: ${(err as Error).message}`, { cause: err });
    }
    expect(follower.digest().overall).to.equal(leader.digest().overall);
  });

  it('a follower with no snapshot whose first apply comes after the ranges: reconcile leaves them in place', () => {
    const { leader, log, createIndex, X, manifest } = leaderWithFile();
    const follower = newStore();
    for (const r of follower.missingRanges(manifest)) follower.writeRange(leader.readRange(r));
    follower.apply(log.slice(0, createIndex));
    try {
      follower.restore(log.meta(X), manifest);
    } catch (err) {
      throw new Error(`install failed: ${(err as Error).message}`, { cause: err });
    }
    expect(follower.digest().overall).to.equal(leader.digest().overall);
  });

  it('without an install, apply goes past the ranges written ahead and ends byte-identical', () => {
    const { leader, log, X, manifest } = leaderWithFile();
    const fs = new MemorySessionFs();
    const follower = newStore(fs);
    for (const r of follower.missingRanges(manifest)) follower.writeRange(leader.readRange(r));
    follower.apply(log.slice(0, X));
    expect(follower.digest().overall).to.equal(leader.digest().overall);
    expect(follower.verifyFiles()).to.deep.equal([]);
  });
});

describe('storage review: a local snapshot saved after a newer one was installed', () => {
  it('does not purge a trashed file the installed snapshot lists', () => {
    const leader = newStore();
    const fs = new MemorySessionFs();
    const follower = newStore(fs);
    const log = new TestLog();
    run(leader, log, { kind: CommandKind.dataCreate, replayClass: 1 });
    // The follower applies that far and takes a local snapshot S1; its save is under way.
    follower.apply(log.slice(0));
    const S1 = log.lastIndex;
    follower.snapshot();
    // The leader goes on: a file F of class 0 created, stored into, sealed, restored and consumed.
    const file = consumedFile(leader, log);
    const X = log.lastIndex;
    const manifest = leader.snapshot();
    // The follower installs X (range sync, then restore) while S1 is still being saved.
    for (const r of follower.missingRanges(manifest)) follower.writeRange(leader.readRange(r));
    follower.restore(log.meta(X), manifest);
    // It applies the next entry: the scheduler's DataDelete of F (to trash/).
    expect(run(leader, log, { kind: CommandKind.dataDelete, replayClass: 0, file }).code).to.equal('OK');
    follower.apply(log.slice(X));
    // S1's save completes (Raft calls onSnapshotSaved(S1)): F stays, X lists it.
    expect(follower.snapshotSaved(S1)).to.equal(0);
    follower.close();
    // The process is killed; the node restarts from its newest snapshot, X.
    try {
      newStore(fs).restore(log.meta(X), manifest);
    } catch (err) {
      throw new Error(`restart from X failed: ${(err as Error).message} (trash: ${JSON.stringify(fs.list('trash'))})`, { cause: err });
    }
  });

  it("X's own save then purges what only older snapshots listed", () => {
    const leader = newStore();
    const follower = newStore();
    const log = new TestLog();
    const file = consumedFile(leader, log);
    follower.apply(log.slice(0));
    const S1 = log.lastIndex;
    follower.snapshot();
    expect(run(leader, log, { kind: CommandKind.dataDelete, replayClass: 0, file }).code).to.equal('OK');
    const X = log.lastIndex;
    const manifest = leader.snapshot();
    follower.restore(log.meta(X), manifest);
    expect(follower.snapshotSaved(S1)).to.equal(0);
    expect(follower.snapshotSaved(X)).to.equal(1);
  });
});

describe('storage review: foreign entries in the data directory', () => {
  it('a directory inside data/<class>/ is set aside and then left in trash/ without a crash', () => {
    inTempDir((dir) => {
      const store = newStore(new NodeSessionFs(dir));
      const log = new TestLog();
      store.apply([log.push({ kind: CommandKind.dataCreate, replayClass: 0 })]);
      const snap = store.snapshot();
      store.close();
      mkdirSync(join(dir, 'data', '0', 'x.dat'));
      const again = newStore(new NodeSessionFs(dir));
      again.restore(log.meta(1), snap);
      again.apply([log.push({ kind: CommandKind.dataCreate, replayClass: 1 })]);
      again.snapshot(); // synced in place; Raft then saves it and calls snapshotSaved
      const outcome = typedOrNone(() => again.snapshotSaved(2));
      const foreign = again.stats().files.trashForeign;
      again.close();
      expect(outcome).to.equal('ok');
      expect(foreign).to.equal(1);
    });
  });

  it('a regular file named data or trash: the store refuses to open with a typed error', () => {
    for (const name of ['data', 'trash']) {
      inTempDir((dir) => {
        writeFileSync(join(dir, name), 'not a directory');
        expect(
          typedOrNone(() => newStore(new NodeSessionFs(dir)).close()),
          name,
        ).to.equal('typed SESSIONS_ERR_DATA_CORRUPT');
      });
    }
  });

  it("regular files the store did not write (where a class directory belongs, or a name no data file has) are set aside and kept: the purge unlinks only data files' trash names", () => {
    inTempDir((dir) => {
      mkdirSync(join(dir, 'data', '0'), { recursive: true });
      writeFileSync(join(dir, 'data', '3'), 'not a directory');
      writeFileSync(join(dir, 'data', '0', 'notes.txt'), 'an operator kept this here');
      // A data file no state lists (from before a snapshot): the store's own, purged.
      const stale = dataFileName(0, 1, 99);
      writeFileSync(join(dir, stale), 'stale');
      const store = newStore(new NodeSessionFs(dir));
      const log = new TestLog();
      store.apply([log.push({ kind: CommandKind.dataCreate, replayClass: 3 })]);
      store.snapshot();
      // Until 2026-12-07 the first two were unlinked here too (3).
      expect(store.snapshotSaved(1)).to.equal(1);
      expect(store.stats().files.trashForeign).to.equal(2);
      store.close();
      expect(readdirSync(join(dir, 'trash')).sort()).to.deep.equal(['-3', '0-notes.txt']);
      expect(readFileSync(join(dir, 'trash', '0-notes.txt'), 'utf8')).to.equal('an operator kept this here');
    });
  });

  it('a file under a class directory no replay class can have (16 and up) is kept, though its name has the form of a data file', () => {
    inTempDir((dir) => {
      // The codec refuses replay classes >= REPLAY_CLASSES_MAX (16): the store never writes under
      // data/16/ or data/250/, so these files are someone else's, named like data files.
      const foreign = [dataFileName(16, 1, 7), dataFileName(250, 1, 8)];
      for (const name of foreign) {
        mkdirSync(join(dir, name, '..'), { recursive: true });
        writeFileSync(join(dir, name), "not the store's");
      }
      const store = newStore(new NodeSessionFs(dir));
      const log = new TestLog();
      store.apply([log.push({ kind: CommandKind.dataCreate, replayClass: 0 })]);
      store.snapshot();
      // Until 2026-12-07 (this review) both were unlinked here: their trash names matched <1-3 digits>-<32 hex>.dat.
      expect(store.snapshotSaved(1)).to.equal(0);
      expect(store.stats().files.trashForeign).to.equal(2);
      store.close();
      expect(readdirSync(join(dir, 'trash')).sort()).to.deep.equal(foreign.map((n) => n.slice('data/'.length).replace('/', '-')).sort());
    });
  });
});

describe('storage review: a directory under a name the store writes (2026-12-07)', () => {
  /** The data file a DataCreate at (term 1, `index`) of class 0 creates, and its name in trash/. */
  function namesAt(index: number): { name: string; trashName: string } {
    const name = dataFileName(0, 1, index);
    return { name, trashName: `trash/0-${name.slice('data/0/'.length)}` };
  }

  /** Entries in trash/ that are not regular files. */
  function trashDirs(dir: string): string[] {
    return readdirSync(join(dir, 'trash')).filter((n) => !statSync(join(dir, 'trash', n)).isFile());
  }

  it('at the name of a listed empty file at restart: set aside, the restore goes on', () => {
    inTempDir((dir) => {
      const store = newStore(new NodeSessionFs(dir));
      const log = new TestLog();
      store.apply([log.push({ kind: CommandKind.dataCreate, replayClass: 0 })]);
      const snap = store.snapshot();
      store.close();
      const { name } = namesAt(1);
      rmSync(join(dir, name));
      mkdirSync(join(dir, name));
      const again = newStore(new NodeSessionFs(dir));
      expect(typedOrNone(() => again.restore(log.meta(1), snap))).to.equal('ok');
      expect(statSync(join(dir, name)).isFile()).to.equal(true);
      expect(trashDirs(dir)).to.deep.equal([`-0-${name.slice('data/0/'.length)}`]);
      expect(again.stats().files.setAside).to.equal(1);
      again.close();
    });
  });

  it('at the name of a file created later: set aside at the first apply, and that file is created and deleted', () => {
    inTempDir((dir) => {
      const { name } = namesAt(2);
      mkdirSync(join(dir, name), { recursive: true });
      const store = newStore(new NodeSessionFs(dir));
      const log = new TestLog();
      run(store, log, { kind: CommandKind.sessionCreate, topic: 'x', envelope: null });
      // The DataCreate at index 2 creates `name`; the file is then sealed, consumed and deleted.
      let outcome = typedOrNone(() => {
        const file = consumedFile(store, log);
        expect(store.dataFiles().some((f) => f.name === name)).to.equal(true);
        expect(run(store, log, { kind: CommandKind.dataDelete, replayClass: 0, file }).code).to.equal('OK');
      });
      expect(outcome).to.equal('ok');
      outcome = typedOrNone(() => store.snapshotSaved(log.lastIndex));
      expect(outcome).to.equal('ok');
      expect(trashDirs(dir)).to.deep.equal([`-0-${name.slice('data/0/'.length)}`]);
      store.close();
    });
  });

  it("in trash/ under a file's trash name: its DataDelete sets the directory aside", () => {
    inTempDir((dir) => {
      const { trashName } = namesAt(1);
      mkdirSync(join(dir, trashName), { recursive: true });
      const store = newStore(new NodeSessionFs(dir));
      const log = new TestLog();
      const outcome = typedOrNone(() => {
        const file = consumedFile(store, log);
        expect(run(store, log, { kind: CommandKind.dataDelete, replayClass: 0, file }).code).to.equal('OK');
      });
      expect(outcome).to.equal('ok');
      expect(statSync(join(dir, trashName)).isFile()).to.equal(true);
      expect(trashDirs(dir)).to.deep.equal([`-${trashName.slice('trash/'.length)}`]);
      store.close();
    });
  });

  it('at the name of a file range sync writes: set aside, the install restores', () => {
    const leader = newStore();
    const log = new TestLog();
    const id = run(leader, log, { kind: CommandKind.sessionCreate, topic: 't', envelope: null }).value!;
    run(leader, log, { kind: CommandKind.sessionAppend, session: id, bytes: bytes('payload'), envelope: null });
    run(leader, log, { kind: CommandKind.dataCreate, replayClass: 0 });
    const f = leader.newestFile(0)!;
    const length = storedRecordLength(1, 1, 7);
    const stored = {
      kind: CommandKind.sessionStore,
      session: id,
      replayClass: 0,
      dueMs: 10,
      file: commandId(f.high, f.low),
      offset: 0,
      length,
      envelope: null,
    };
    expect(run(leader, log, stored).code).to.equal('OK');
    const manifest = leader.snapshot();
    inTempDir((dir) => {
      mkdirSync(join(dir, f.name), { recursive: true });
      const follower = newStore(new NodeSessionFs(dir));
      const outcome = typedOrNone(() => {
        for (const r of follower.missingRanges(manifest)) follower.writeRange(leader.readRange(r));
        follower.restore(log.meta(log.lastIndex), manifest);
      });
      expect(outcome).to.equal('ok');
      expect(follower.digest().overall).to.equal(leader.digest().overall);
      follower.close();
    });
  });

  it('appearing at the name of the next file while the store runs: the DataCreate sets it aside', () => {
    inTempDir((dir) => {
      const store = newStore(new NodeSessionFs(dir));
      const log = new TestLog();
      run(store, log, { kind: CommandKind.sessionCreate, topic: 'x', envelope: null });
      mkdirSync(join(dir, namesAt(2).name), { recursive: true });
      expect(typedOrNone(() => run(store, log, { kind: CommandKind.dataCreate, replayClass: 0 }))).to.equal('ok');
      expect(statSync(join(dir, namesAt(2).name)).isFile()).to.equal(true);
      store.close();
    });
  });
});

describe('storage review: a refused restore leaves the store as it was', () => {
  /** A store with a user, a feature flag and two files of class 0; its manifest before the user and the flag. */
  function setUp(): { store: SessionsStore; log: TestLog; older: Manifest } {
    const store = newStore();
    const log = new TestLog();
    consumedFile(store, log);
    const older = store.manifest();
    run(store, log, { kind: CommandKind.featureEnable, features: 1 });
    run(store, log, { kind: CommandKind.dataCreate, replayClass: 2 });
    return { store, log, older };
  }

  function encode(m: Manifest): Uint8Array {
    return Buffer.concat(encodeManifestParts(m).map((p) => Buffer.from(p)));
  }

  const damages: [string, (m: Manifest) => Manifest][] = [
    ['an older file unsealed', (m) => ({ ...m, files: m.files.map((f, k) => (k === 0 ? { ...f, sealed: false } : f)) })],
    ['a session listed twice', (m) => ({ ...m, sessions: [...m.sessions, ...m.sessions] })],
  ];
  for (const [what, damage] of damages) {
    it(`${what} (CRC valid): SNAPSHOT_CORRUPT, and nothing changed`, () => {
      const { store, log, older } = setUp();
      // A session, so that one can be listed twice.
      run(store, log, { kind: CommandKind.sessionCreate, topic: 'u', envelope: null });
      const m = damage({ ...older, sessions: store.manifest().sessions });
      const before = store.digest().overall;
      const features = store.features;
      const files = store.dataFiles().map((f) => f.name);
      expect(typedOrNone(() => store.restore(log.meta(m.appliedIndex), encode(m)))).to.equal('typed SESSIONS_ERR_SNAPSHOT_CORRUPT');
      expect(store.features).to.equal(features);
      expect(store.dataFiles().map((f) => f.name)).to.deep.equal(files);
      expect(store.digest().overall).to.equal(before);
      // And it goes on applying.
      expect(run(store, log, { kind: CommandKind.dataCreate, replayClass: 3 }).ok).to.equal(true);
    });
  }
});
