/**
 * One node process per data directory (actors/host/dataDirLock.ts): a second node on a directory in
 * use refuses to start with DATA_DIR_IN_USE and touches none of its files; the lock goes with the
 * process that held it, kill -9 included, and with a graceful stop.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DataDirInUseError, dataDirLockName, lockDataDir } from '../../actors/host/dataDirLock.js';
import { NodeHost } from '../../actors/host/nodeHost.js';
import { createClient, type SessionraftClient } from '../../transport/client/client.js';
import { resolveHostConfig } from '../../actors/host/config.js';
import {
  binPath,
  clusterSecretFile,
  fastTiming,
  freePorts,
  killNode,
  quietLogger,
  removeDir,
  spawnNode,
  tempDir,
  waitFor,
  type NodeProcess,
} from './helpers.js';

const linux = process.platform === 'linux';

/** Every file under `dir` with its bytes. */
function filesOf(dir: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(p, readFileSync(p));
    }
  };
  walk(dir);
  return out;
}

/**
 * That nothing in `dir` was removed, added or cut short since `before`, and every file still starts
 * with the bytes it had: the running node may append meanwhile, the refused one must touch nothing.
 */
function expectUntouched(dir: string, before: Map<string, Buffer>): void {
  const now = filesOf(dir);
  expect([...now.keys()].sort(), 'the same files').to.deep.equal([...before.keys()].sort());
  for (const [p, was] of before) {
    const is = now.get(p)!;
    expect(is.length, `${p} not cut`).to.be.at.least(was.length);
    expect(Buffer.compare(is.subarray(0, was.length), was), `${p} keeps its bytes`).to.equal(0);
  }
}

/** Waits (20 s: a node process starting on a loaded machine) until the node on `clientPort` acknowledges a new session; then `then`. */
async function servesWrites(clientPort: number, what: string, then?: (c: SessionraftClient) => Promise<void>): Promise<void> {
  const c = createClient({ endpoints: [`127.0.0.1:${clientPort}`], operationTimeoutMs: 10_000, ignoreEnvironment: true });
  try {
    const created = (): Promise<true | null> =>
      c.createSession('t').then(
        () => true,
        () => null,
      );
    await waitFor(what, created, 20_000);
    await then?.(c);
  } finally {
    await c.close();
  }
}

describe('data directory lock', function () {
  this.timeout(60_000);
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) removeDir(d);
  });

  it('refuses a second hold of one directory, by any path, until the first is released', async function () {
    if (!linux) this.skip(); // no abstract sockets: the node starts unlocked and logs DATA_DIR_NOT_LOCKED
    const dir = tempDir('lock');
    const other = tempDir('lock-other');
    dirs.push(dir, other);
    const first = await lockDataDir(dir);
    expect(first.held).to.equal(true);
    const err = await lockDataDir(dir).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(DataDirInUseError);
    expect((err as DataDirInUseError).code).to.equal('DATA_DIR_IN_USE');
    // The same directory through a symlink: the same lock.
    const link = join(other, 'link');
    symlinkSync(dir, link);
    const viaLink = await lockDataDir(link).then(
      () => 'taken',
      (e: { code?: string }) => e.code,
    );
    expect(viaLink).to.equal('DATA_DIR_IN_USE');
    // Anyone may connect to the name: the connection is closed at once, and the lock stays.
    const probe = connect({ path: dataDirLockName(dir) });
    const ended = await new Promise<string>((r) => {
      probe.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
      probe.once('close', () => r('closed'));
    });
    expect(ended).to.be.oneOf(['closed', 'ECONNRESET']);
    expect(
      await lockDataDir(dir).then(
        () => 'taken',
        (e: { code?: string }) => e.code,
      ),
    ).to.equal('DATA_DIR_IN_USE');
    // Another directory is free.
    const second = await lockDataDir(join(other));
    await second.release();
    await first.release();
    await first.release(); // idempotent
    const again = await lockDataDir(dir);
    expect(again.held).to.equal(true);
    await again.release();
  });

  it('a second node process on a directory in use exits 1 with DATA_DIR_IN_USE and changes none of its files; after kill -9 of the first, a node starts on it', async function () {
    if (!linux) this.skip();
    const dir = tempDir('lock-proc');
    dirs.push(dir);
    const [raft, client, admin, raft2, client2, admin2] = await freePorts(6);
    const spec = { n1: { host: '127.0.0.1', raftPort: raft!, clientPort: client!, adminPort: admin! } };
    const procs: NodeProcess[] = [];
    try {
      const first = spawnNode('n1', spec, join(dir, 'n1'));
      procs.push(first);
      // Elected and writing: a session acknowledged, so the log holds records and a hard state.
      await servesWrites(client!, 'the single node serves', async (c) => {
        await c.append((await c.createSession('t2')).id, new TextEncoder().encode('kept'));
      });
      const before = filesOf(join(dir, 'n1', 'raft'));
      // Other ports, the same directory.
      const second = spawnNode('n1', { n1: { host: '127.0.0.1', raftPort: raft2!, clientPort: client2!, adminPort: admin2! } }, join(dir, 'n1'));
      procs.push(second);
      // 20 s bounds a slow start of a Node.js process on a loaded machine.
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([second.exited, new Promise<string>((r) => (timer = setTimeout(() => r('still running'), 20_000)))]);
      clearTimeout(timer);
      expect(code, second.output()).to.equal(1);
      expect(second.output()).to.contain('DATA_DIR_IN_USE');
      expectUntouched(join(dir, 'n1', 'raft'), before);
      expect(first.child.exitCode, 'the first node still runs').to.equal(null);

      await killNode(first);
      const third = spawnNode('n1', spec, join(dir, 'n1'));
      procs.push(third);
      await servesWrites(client!, 'the node restarted on the directory serves');
    } finally {
      for (const p of procs) await killNode(p);
    }
  });

  it('an in-process node releases the directory when it stops, and a second one on it fails to start until then', async function () {
    if (!linux) this.skip();
    const dir = tempDir('lock-host');
    dirs.push(dir);
    const cfg = resolveHostConfig({
      ...fastTiming,
      id: 'n1',
      clusterId: 'lock',
      nodes: { n1: { host: '127.0.0.1', raftPort: 0, clientPort: 0, adminPort: 0 } },
      dataDir: join(dir, 'n1'),
      bootstrap: true,
      clusterSecretFile: clusterSecretFile(dir),
    });
    const host = await NodeHost.start(cfg, { logger: quietLogger });
    let stopped = false;
    try {
      const err = await NodeHost.start({ ...cfg }, { logger: quietLogger }).then(
        async (h) => {
          await h.stop({ transfer: false });
          return null;
        },
        (e: { code?: string }) => e.code,
      );
      expect(err).to.equal('DATA_DIR_IN_USE');
      await host.stop({ transfer: false });
      stopped = true;
      const again = await NodeHost.start(cfg, { logger: quietLogger });
      await again.stop({ transfer: false });
    } finally {
      if (!stopped) await host.stop({ transfer: false });
    }
  });

  it('`sessionraft cluster` on a --data whose node directory another process holds exits 1 with DATA_DIR_IN_USE and writes nothing there', async function () {
    if (!linux) this.skip();
    const root = tempDir('lock-cluster');
    dirs.push(root);
    const data = join(root, 'data');
    mkdirSync(join(data, 'n2'), { recursive: true });
    const held = await lockDataDir(join(data, 'n2'));
    try {
      const base = (await freePorts(1))[0]!;
      // 30 s bounds the start of a Node.js process on a loaded machine (execFile kills it then).
      const r = await new Promise<{ code: number | null; stderr: string }>((done) =>
        execFile(process.execPath, [binPath, 'cluster', '--data', data, '--base-port', String(base), '--once'], { timeout: 30_000 }, (err, _out, stderr) =>
          done({ code: err === null ? 0 : ((err as { code?: number }).code ?? null), stderr }),
        ),
      );
      expect(r.code, r.stderr).to.equal(1);
      expect(r.stderr).to.match(/^DATA_DIR_IN_USE: data directory .*n2 is in use/);
      expect(readdirSync(data).sort(), 'no secret, password or certificates written').to.deep.equal(['n2']);
    } finally {
      await held.release();
    }
  });
});
