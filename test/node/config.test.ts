/**
 * Node configuration (file < environment < flags, defaults, validation with clear messages), and
 * `sessionraft cluster --once`: what `npm start` runs, on a block of free ports and a temporary
 * data root, brings up three real node processes with one leader and stops them.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, configFromEnv, configFromFile, hostDefaults, parseNodesSpec, resolveHostConfig } from '../../actors/host/config.js';
import { binPath, freeClusterBasePort, removeDir, tempDir } from './helpers.js';
import { closeAsync, openAsync } from '../storage/helpers.js';
import { realFs } from '../../storage/realFs.js';

const nodes = 'n1=127.0.0.1:7001:7101:7201,n2=127.0.0.1:7002:7102:7202,n3=127.0.0.1:7003:7103:7203';

describe('node: configuration', () => {
  it('has the documented defaults', () => {
    const c = resolveHostConfig({ id: 'n1', dataDir: 'd', nodes: parseNodesSpec(nodes), clusterSecretFile: 'secret' });
    expect(c).to.include({
      tickMs: 20,
      electionTimeoutTicksMin: 10,
      heartbeatIntervalTicks: 2,
      snapshotEntries: 10_000,
      snapshotLogPercent: 50,
      compactMarginEntries: 1_000,
      shutdownTransferMs: 2000,
      snapshotBytesMax: 1024 * 1024 * 1024,
      walFollowerWritesInline: true,
    });
    expect(c.replayDelaysMs).to.deep.equal([1000, 10_000, 60_000, 600_000]);
    expect(c.clusterId).to.equal(hostDefaults.clusterId);
    expect(c.nodes.n2).to.deep.equal({ host: '127.0.0.1', raftPort: 7002, clientPort: 7102, adminPort: 7202 });
  });

  it('layers a JSON file, SESSIONRAFT_* environment and flags, later ones winning', () => {
    const dir = tempDir('config');
    try {
      const file = join(dir, 'n1.json');
      writeFileSync(file, JSON.stringify({ id: 'n1', dataDir: 'from-file', nodes: parseNodesSpec(nodes), tickMs: 50, clusterId: 'file' }));
      const env = configFromEnv({
        SESSIONRAFT_TICK_MS: '30',
        SESSIONRAFT_REPLAY_DELAYS: '200ms,1s',
        SESSIONRAFT_CLUSTER_ID: 'env',
        SESSIONRAFT_CLUSTER_SECRET_FILE: '/env/secret',
      });
      const c = resolveHostConfig(configFromFile(file), env, { clusterId: 'flag' });
      expect(c.clusterSecretFile).to.equal('/env/secret');
      expect(c.dataDir).to.equal('from-file');
      expect(c.tickMs).to.equal(30);
      expect(c.replayDelaysMs).to.deep.equal([200, 1000]);
      expect(c.clusterId).to.equal('flag');
    } finally {
      removeDir(dir);
    }
  });

  it('refuses bad configurations with a message that names the setting', () => {
    const base = { id: 'n1', dataDir: 'd', nodes: parseNodesSpec(nodes), clusterSecretFile: 'secret' };
    const cases: [Record<string, unknown>, RegExp][] = [
      // Issue 14: peers authenticate by default; without a secret or TLS a node needs --insecure.
      [{ ...base, clusterSecretFile: undefined }, /peers would not be authenticated: .*--cluster-secret-file.*--insecure/],
      [{ ...base, clusterSecretFile: '' }, /clusterSecretFile must be a path/],
      [{ ...base, id: undefined }, /id must match/],
      [{ ...base, id: 'n9' }, /nodes must include this node \(n9\)/],
      [{ ...base, dataDir: '' }, /dataDir is required/],
      [{ ...base, nodes: undefined }, /nodes is required/],
      [{ ...base, tickMs: 0 }, /tickMs must be a positive integer/],
      [{ ...base, snapshotLogPercent: -1 }, /snapshotLogPercent must be an integer 0..10000/],
      [{ ...base, snapshotLogPercent: 0.5 }, /snapshotLogPercent must be an integer 0..10000/],
      [{ ...base, heartbeatIntervalTicks: 10 }, /heartbeatIntervalTicks must be smaller/],
      [{ ...base, replayDelaysMs: [] }, /replayDelaysMs/],
      [{ ...base, learners: ['n1', 'n2', 'n3'] }, /at least one node must be a voter/],
      [{ ...base, logLevel: 'loud' }, /logLevel must be one of/],
      [{ ...base, walFollowerWritesInline: 'pool' }, /walFollowerWritesInline must be true or false/],
      // Issue 18: a snapshot carries the active sessions; a smaller bound would refuse the one a lagging follower needs.
      // Defaults: 256 MiB + 100,000 x (256 + 48) + 32 MiB = 332,389,888.
      [{ ...base, snapshotBytesMax: 332_389_887 }, /snapshotBytesMax \(332389887\) must be at least 332389888: .*--snapshot-bytes/],
      [{ ...base, snapshotBytesMax: 100_000_000, storeLimits: { activeBytesMax: 100_000_000 } }, /snapshotBytesMax .* must be at least/],
      [{ ...base, nodes: parseNodesSpec('n1=10.0.0.1:1:2:3') }, /not loopback.*--insecure/],
      [{ ...base, clientLimits: { subscriberBehindMsMax: 0 } }, /clientLimits: .*subscriberBehindMsMax must be a positive integer/],
      [{ ...base, clientLimits: { pushBufferedBytesMax: 1000 } }, /clientLimits: .*pushBufferedBytesMax must be at least 65536/],
      [
        { ...base, clientLimits: { subscriberBehindBytesMax: 64 * 1024 * 1024 } },
        /clientLimits: .*subscriberBehindBytesMax .* must be at most pushQueueBytesMax/,
      ],
      // 2026-12-07: the node-wide bound must hold one answer of the largest size (replyBytesMax, 8 MiB).
      [
        { ...base, clientLimits: { connectionsHeldBytesMax: 4 * 1024 * 1024 } },
        /clientLimits: .*connectionsHeldBytesMax \(4194304\) must be at least replyBytesMax/,
      ],
      [{ ...base, clientLimits: { connectionsHeldBytesMax: 0 } }, /clientLimits: .*connectionsHeldBytesMax must be a positive integer/],
    ];
    for (const [layer, re] of cases) expect(() => resolveHostConfig(layer), String(re)).to.throw(ConfigError, re);
    expect(() => parseNodesSpec('n1=127.0.0.1:7001')).to.throw(ConfigError, /id=host:raftPort:clientPort:adminPort/);
    expect(resolveHostConfig({ ...base, snapshotBytesMax: 332_389_888 }).snapshotBytesMax).to.equal(332_389_888);
    const small = { activeBytesMax: 64 * 1024 * 1024, activeSessionsMax: 10_000, clientTableBytesMax: 8 * 1024 * 1024 };
    expect(resolveHostConfig({ ...base, snapshotBytesMax: 96 * 1024 * 1024, storeLimits: small }).snapshotBytesMax).to.equal(96 * 1024 * 1024);
    expect(configFromEnv({ SESSIONRAFT_SNAPSHOT_BYTES: '200000000' }).snapshotBytesMax).to.equal(200_000_000);
    // Issue 20: --wal-follower-writes / SESSIONRAFT_WAL_FOLLOWER_WRITES take inline or pool, nothing else.
    expect(resolveHostConfig(base, configFromEnv({ SESSIONRAFT_WAL_FOLLOWER_WRITES: 'pool' })).walFollowerWritesInline).to.equal(false);
    expect(resolveHostConfig(base, configFromEnv({ SESSIONRAFT_WAL_FOLLOWER_WRITES: 'inline' })).walFollowerWritesInline).to.equal(true);
    expect(() => configFromEnv({ SESSIONRAFT_WAL_FOLLOWER_WRITES: 'sync' })).to.throw(ConfigError, /must be inline or pool.*SESSIONRAFT_WAL_FOLLOWER_WRITES/);
    expect(resolveHostConfig({ ...base, nodes: parseNodesSpec('n1=10.0.0.1:1:2:3'), insecure: true }).insecure).to.equal(true);
    expect(resolveHostConfig({ ...base, clusterSecretFile: undefined, insecure: true }).clusterSecretFile).to.equal(undefined);
    expect(resolveHostConfig({ ...base, clusterSecretFile: undefined, tls: { certFile: 'c', keyFile: 'k', caFile: 'a' } }).tls).to.not.equal(undefined);
  });
});

/** `sessionraft cluster --once` on `dir`: it prints the table once a leader is up, then stops the cluster (leader first). */
async function clusterOnce(dir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = await freeClusterBasePort();
  return new Promise((res) => {
    execFile(process.execPath, [binPath, 'cluster', '--once', '--data', dir, '--base-port', String(base)], { timeout: 45_000 }, (err, stdout, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('node: sessionraft cluster (npm start)', function () {
  this.timeout(60_000);

  it('starts three node processes, shows one leader in the table, and stops them', async () => {
    const dir = tempDir('cluster');
    try {
      const t0 = Date.now();
      const out = await clusterOnce(dir);
      const ms = Date.now() - t0;
      expect(out.code, out.stderr + out.stdout).to.equal(0);
      expect(out.stdout).to.match(/leader elected in \d+ ms/);
      const rows = out.stdout.split('\n').filter((l) => /^n\d\s/.test(l));
      expect(rows).to.have.length(3);
      expect(rows.filter((r) => /\sleader\s/.test(r))).to.have.length(1);
      expect(out.stdout).to.contain('stopped');
      for (const id of ['n1', 'n2', 'n3']) expect(existsSync(join(dir, id, 'node.log')), `${id} log`).to.equal(true);
      process.stdout.write(
        `      (cluster up with a leader and stopped again in ${ms} ms; ${/leader elected in (\d+) ms/.exec(out.stdout)![1]} ms from spawn to leader)\n`,
      );
    } finally {
      removeDir(dir);
    }
  });

  it('starts as a new cluster when its nodes stopped before their first vote was durable (term-0 hard states)', async () => {
    // What a node leaves when it is killed after opening its storage and before its first vote is
    // on disk: a hard state file at term 0, no vote, empty WAL segments. Before 2026-12-07 the
    // supervisor took the file for Raft state, started every node without --bootstrap, and each
    // one barred itself from voting (NODE_VOTING_BARRED): no leader, ever.
    const dir = tempDir('cluster');
    try {
      for (const id of ['n1', 'n2', 'n3']) await closeAsync(await openAsync(realFs, join(dir, id, 'raft')));
      expect(existsSync(join(dir, 'n1', 'raft', 'hardstate'))).to.equal(true);
      const out = await clusterOnce(dir);
      expect(out.code, out.stderr + out.stdout).to.equal(0);
      expect(out.stdout).to.match(/leader elected in \d+ ms/);
      for (const id of ['n1', 'n2', 'n3']) expect(existsSync(join(dir, id, 'voting-barred')), `${id} barred`).to.equal(false);
    } finally {
      removeDir(dir);
    }
  });
});

describe('node: the built CLI is a program (npx sessionraft)', function () {
  it('runs by its own path, as npx and npm link run it: executable, with its shebang', async () => {
    // npm's build sets the mode (package.json "build"); tsc alone writes 0644, and `npx sessionraft`
    // in a fresh clone then failed with "Permission denied".
    const out = await new Promise<string>((resolve, reject) =>
      execFile(binPath, ['--version'], { timeout: 15_000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    expect(out.trim()).to.match(/^\d+\.\d+\.\d+/);
  });
});
