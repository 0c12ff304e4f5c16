/**
 * Configuration values that were accepted and then ignored or read another way (a review,
 * 2026-12-07): each is now either taken as given or refused with CONFIG_ERR (exit 2), never turned
 * silently into something else (auth off, client certificates no longer required) or left to fail
 * at start with a raw TypeError or a bind error.
 */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { constants as bufferConstants } from 'node:buffer';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { clientTlsLayer, ConfigError, configFromEnv, parseNodesSpec, resolveHostConfig, type HostConfig } from '../../actors/host/config.js';

/** dist/bin/sessionraft.js (tests run from dist/test/host). */
const binPath = resolve(dirname(fileURLToPath(import.meta.url)), '../../bin/sessionraft.js');

const base = {
  id: 'n1',
  dataDir: 'd',
  nodes: parseNodesSpec('n1=127.0.0.1:7001:7101:7201,n2=127.0.0.1:7002:7102:7202'),
  clusterSecretFile: 'secret',
};

/** `f()`'s ConfigError, failing the test when it returns or throws anything else. */
function configError(f: () => unknown): ConfigError {
  try {
    f();
  } catch (err) {
    expect(err, (err as Error).stack).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  expect.fail('accepted');
}

/** Outcome of `f`: its value, or undefined after a ConfigError; anything else thrown fails the property. */
function valueOrConfigError<T>(f: () => T): { ok: true; value: T } | { ok: false } {
  try {
    return { ok: true, value: f() };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false };
    throw err;
  }
}

/** `sessionraft node --config <file holding config> ...args` in a temporary directory: its exit code and stderr. */
async function runNode(config: Record<string, unknown>, args: string[] = []): Promise<{ code: number; stderr: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'sessionraft-configreview-'));
  try {
    const file = join(dir, 'n1.json');
    writeFileSync(file, JSON.stringify({ ...config, dataDir: join(dir, 'data') }));
    return await new Promise((res) => {
      execFile(process.execPath, [binPath, 'node', '--config', file, ...args], { timeout: 20_000, env: { PATH: process.env.PATH } }, (err, _stdout, stderr) =>
        res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
      );
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const boolVars = { SESSIONRAFT_AUTH: 'auth', SESSIONRAFT_INSECURE: 'insecure', SESSIONRAFT_BOOTSTRAP: 'bootstrap', SESSIONRAFT_JOIN: 'join' } as const;

describe('host: configuration values are taken as given or refused (review 2026-12-07)', function () {
  it('SESSIONRAFT_AUTH, _INSECURE, _BOOTSTRAP and _JOIN take 1, true, 0 or false, as SESSIONRAFT_FEATURES_OFF does', () => {
    expect(() => configFromEnv({ SESSIONRAFT_FEATURES_OFF: 'yes' })).to.throw(ConfigError, /SESSIONRAFT_FEATURES_OFF must be 1, true, 0 or false, got "yes"/);
    for (const [name, key] of Object.entries(boolVars)) {
      // `yes` read as auth off, without a word, was the fault.
      for (const v of ['yes', 'on', 'TRUE', 'True', '2', ' true', 'true ', 'no', 'off']) {
        expect(configError(() => configFromEnv({ [name]: v })).message).to.match(new RegExp(`${name} must be 1, true, 0 or false, got ${JSON.stringify(v)}`));
      }
      for (const [v, want] of [
        ['1', true],
        ['true', true],
        ['0', false],
        ['false', false],
      ] as const) {
        expect(configFromEnv({ [name]: v })[key], `${name}=${v}`).to.equal(want);
      }
      expect(configFromEnv({ [name]: '' })[key], `${name} empty is unset`).to.equal(undefined);
    }
    expect(resolveHostConfig(base, configFromEnv({ SESSIONRAFT_AUTH: 'true' })).auth).to.equal(true);
    expect(resolveHostConfig(base, configFromEnv({ SESSIONRAFT_AUTH: '0' })).auth).to.equal(false);
  });

  it('property: any string in a boolean SESSIONRAFT_* variable is a ConfigError or the boolean it spells, never anything else', () => {
    const spelled: Record<string, boolean | undefined> = { '1': true, true: true, '0': false, false: false, '': undefined };
    fc.assert(
      fc.property(
        fc.constantFrom(...(Object.keys(boolVars) as (keyof typeof boolVars)[]), 'SESSIONRAFT_FEATURES_OFF' as const),
        fc.oneof(fc.string(), fc.constantFrom('1', 'true', '0', 'false', '', 'yes', 'TRUE')),
        (name, v) => {
          const r = valueOrConfigError(() => configFromEnv({ [name]: v }));
          if (!Object.prototype.hasOwnProperty.call(spelled, v)) {
            expect(r.ok, `${name}=${JSON.stringify(v)} accepted`).to.equal(false);
            return;
          }
          expect(r.ok).to.equal(true);
          if (!r.ok) return;
          const key = name === 'SESSIONRAFT_FEATURES_OFF' ? 'featuresOnNewCluster' : boolVars[name];
          const want = spelled[v];
          expect(r.value[key]).to.equal(want === undefined || name !== 'SESSIONRAFT_FEATURES_OFF' ? want : !want);
          // The whole configuration resolves or is refused with CONFIG_ERR (--join needs other voters, which base has).
          valueOrConfigError(() => resolveHostConfig(base, r.value));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('auth, insecure, bootstrap and join in a config file must be JSON booleans ("auth": "true" was read as false)', () => {
    for (const key of Object.values(boolVars)) {
      for (const v of ['true', 'false', 1, 0, null, {}, []]) {
        expect(configError(() => resolveHostConfig({ ...base, [key]: v })).message).to.include(`${key} must be true or false, got ${JSON.stringify(v)}`);
      }
      expect(resolveHostConfig({ ...base, [key]: true })[key as keyof HostConfig], `${key}: true`).to.equal(true);
      expect(resolveHostConfig({ ...base, [key]: false })[key as keyof HostConfig], `${key}: false`).to.equal(false);
    }
    // Later layers still win.
    expect(resolveHostConfig({ ...base, auth: false }, configFromEnv({ SESSIONRAFT_AUTH: '1' })).auth).to.equal(true);
  });

  it('property: any JSON value of a boolean key in a config file is a ConfigError or that boolean', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.values(boolVars)), fc.jsonValue(), (key, v) => {
        const r = valueOrConfigError(() => resolveHostConfig({ ...base, [key]: v }));
        if (typeof v !== 'boolean') expect(r.ok, `${key}: ${JSON.stringify(v)} accepted`).to.equal(false);
        else if (r.ok) expect(r.value[key]).to.equal(v);
      }),
      { numRuns: 500 },
    );
  });

  it('SESSIONRAFT_CLIENT_TLS_CA on its own adds the peer CA to the client TLS the file gives', () => {
    const file = { ...base, clientTls: { certFile: 'c.pem', keyFile: 'k.pem' } };
    const cfg = resolveHostConfig(file, configFromEnv({ SESSIONRAFT_CLIENT_TLS_CA: 'ca.pem' }));
    expect(cfg.clientTls).to.deep.equal({ certFile: 'c.pem', keyFile: 'k.pem', peerCaFile: 'ca.pem' });
    // Without a certificate anywhere it is refused, as the other client TLS variables are.
    expect(configError(() => resolveHostConfig(base, configFromEnv({ SESSIONRAFT_CLIENT_TLS_CA: 'ca.pem' }))).message).to.match(
      /clientTls needs certFile and keyFile/,
    );
  });

  it("a certificate given by environment or flag keeps the file's clientCaFile, clientCrlFile, peerCaFile and reloadPollMs (client certificates stay required)", () => {
    const file = {
      ...base,
      clientTls: {
        certFile: 'old.pem',
        keyFile: 'old.key',
        clientCaFile: 'clients-ca.pem',
        clientCrlFile: 'clients.crl',
        peerCaFile: 'nodes-ca.pem',
        reloadPollMs: 500,
      },
    };
    const env = configFromEnv({ SESSIONRAFT_CLIENT_TLS_CERT: 'new.pem', SESSIONRAFT_CLIENT_TLS_KEY: 'new.key' });
    const kept = { clientCaFile: 'clients-ca.pem', clientCrlFile: 'clients.crl', peerCaFile: 'nodes-ca.pem', reloadPollMs: 500 };
    expect(resolveHostConfig(file, env).clientTls).to.deep.equal({ certFile: 'new.pem', keyFile: 'new.key', ...kept });
    // The flags' layer (bin/sessionraft.ts) is merged the same way, and a key it leaves out stays.
    const flags = { clientTls: clientTlsLayer({ certFile: 'flag.pem', keyFile: 'flag.key', clientCaFile: undefined }) };
    expect(resolveHostConfig(file, {}, flags).clientTls).to.deep.equal({ certFile: 'flag.pem', keyFile: 'flag.key', ...kept });
    // Key by key, file < environment < flags.
    const cfg = resolveHostConfig(
      file,
      configFromEnv({ SESSIONRAFT_CLIENT_TLS_CERT: 'env.pem', SESSIONRAFT_CLIENT_CA_FILE: 'env-ca.pem', SESSIONRAFT_CLIENT_CRL_FILE: 'env.crl' }),
      { clientTls: { clientCaFile: 'flag-ca.pem' } },
    );
    expect(cfg.clientTls).to.deep.equal({
      certFile: 'env.pem',
      keyFile: 'old.key',
      clientCaFile: 'flag-ca.pem',
      clientCrlFile: 'env.crl',
      peerCaFile: 'nodes-ca.pem',
      reloadPollMs: 500,
    });
    // A malformed value in any layer is still refused.
    expect(configError(() => resolveHostConfig(file, { clientTls: { clientCaFile: '' } })).message).to.match(/clientCaFile must be a path/);
    expect(configError(() => resolveHostConfig({ ...base, clientTls: null }, env)).message).to.match(/clientTls must be an object/);
  });

  it("sessionraft node merges --client-tls-cert/--client-tls-key over the config file's clientTls (the file's keys are kept and checked)", async function () {
    this.timeout(30_000);
    // reloadPollMs 0 in the file is refused only if the file's clientTls survives the flags: before, the
    // flags replaced it whole and the node went on to start without the file's client CA.
    const r = await runNode({ ...base, clientTls: { certFile: 'old.pem', keyFile: 'old.key', clientCaFile: 'clients-ca.pem', reloadPollMs: 0 } }, [
      '--client-tls-cert',
      'new.pem',
      '--client-tls-key',
      'new.key',
    ]);
    expect(r.stderr).to.match(/CONFIG_ERR: clientTls.reloadPollMs must be a positive integer, got 0/);
    expect(r.code).to.equal(2);
  });

  it('a peer "tls" in a config file needs three non-empty paths: null, {} or a partial one is a ConfigError, not a TypeError at start', () => {
    for (const tls of [null, {}, { certFile: 'c' }, { certFile: 'c', keyFile: 'k' }, { certFile: 'c', keyFile: 'k', caFile: '' }, 'tls.pem', [], 1]) {
      expect(configError(() => resolveHostConfig({ ...base, tls })).message, JSON.stringify(tls)).to.match(
        /tls needs certFile, keyFile and caFile.*--tls-cert, --tls-key and --tls-ca/,
      );
    }
    expect(resolveHostConfig({ ...base, tls: { certFile: 'c', keyFile: 'k', caFile: 'a', extra: 1 } }).tls).to.deep.equal({
      certFile: 'c',
      keyFile: 'k',
      caFile: 'a',
    });
  });

  it('sessionraft node exits 2 with CONFIG_ERR on a config file whose "tls" is null (it exited 1 with a TypeError)', async function () {
    this.timeout(30_000);
    const r = await runNode({ ...base, tls: null });
    expect(r.stderr).to.match(/CONFIG_ERR: tls needs certFile, keyFile and caFile/);
    expect(r.code).to.equal(2);
  });

  it('a number with a unit in a SESSIONRAFT_* variable is refused naming the variable and the value given ("got null" before)', () => {
    const e = configError(() => resolveHostConfig(base, configFromEnv({ SESSIONRAFT_TICK_MS: '20ms' })));
    expect(e.message).to.match(/SESSIONRAFT_TICK_MS must be a non-negative integer, got "20ms"/);
    for (const [name, v] of [
      ['SESSIONRAFT_SNAPSHOT_BYTES', '1GiB'],
      ['SESSIONRAFT_LOG_PREALLOCATE_BYTES', ' '],
      ['SESSIONRAFT_RESTORE_LEAD_MS', '1.5'],
      ['SESSIONRAFT_ELECTION_TICKS', '-3'],
      ['SESSIONRAFT_SHUTDOWN_TRANSFER_MS', '1e400'],
    ] as const) {
      expect(configError(() => configFromEnv({ [name]: v })).message, name).to.include(`${name} must be a non-negative integer, got ${JSON.stringify(v)}`);
    }
    expect(configFromEnv({ SESSIONRAFT_TICK_MS: '30' }).tickMs).to.equal(30);
    expect(configFromEnv({ SESSIONRAFT_LOG_PREALLOCATE_BYTES: '0' }).logPreallocateBytes).to.equal(0);
  });

  it("snapshotBytesMax past what one array holds (4 GiB on Node.js 20) is refused: a leader's snapshot that large failed as it arrived with a raw RangeError", () => {
    const max = bufferConstants.MAX_LENGTH;
    const e = configError(() => resolveHostConfig({ ...base, snapshotBytesMax: max + 1 }));
    expect(e.message).to.match(/snapshotBytesMax \(\d+\) must be at most \d+/);
    expect(resolveHostConfig({ ...base, snapshotBytesMax: max }).snapshotBytesMax).to.equal(max);
    configError(() => resolveHostConfig(base, configFromEnv({ SESSIONRAFT_SNAPSHOT_BYTES: String(8 * 1024 ** 3) })));
  });

  it('property: any string in a numeric SESSIONRAFT_* variable is a ConfigError or a non-negative integer, and the configuration resolves or is a ConfigError', () => {
    const numVars = {
      SESSIONRAFT_TICK_MS: 'tickMs',
      SESSIONRAFT_ELECTION_TICKS: 'electionTimeoutTicksMin',
      SESSIONRAFT_HEARTBEAT_TICKS: 'heartbeatIntervalTicks',
      SESSIONRAFT_SNAPSHOT_ENTRIES: 'snapshotEntries',
      SESSIONRAFT_SNAPSHOT_LOG_PERCENT: 'snapshotLogPercent',
      SESSIONRAFT_COMPACT_MARGIN: 'compactMarginEntries',
      SESSIONRAFT_LOG_WINDOW_BYTES: 'logWindowBytesMax',
      SESSIONRAFT_LOG_RETAIN_BYTES: 'logRetainBytesMax',
      SESSIONRAFT_LOG_PREALLOCATE_BYTES: 'logPreallocateBytes',
      SESSIONRAFT_RESTORE_LEAD_MS: 'restoreLeadMs',
      SESSIONRAFT_SNAPSHOT_BYTES: 'snapshotBytesMax',
      SESSIONRAFT_SHUTDOWN_TRANSFER_MS: 'shutdownTransferMs',
    } as const;
    const edge = fc.oneof(
      fc.string(),
      fc.nat().map(String),
      fc.constantFrom('0', '-0', '00', '1e3', '0x10', '1.5', '-1', ' ', '\t7', 'NaN', 'Infinity', '9007199254740993', '20ms', '1_000'),
      fc.tuple(fc.nat(100_000), fc.constantFrom('ms', 's', ' ', 'e', '.0', 'x')).map(([n, u]) => `${n}${u}`),
    );
    fc.assert(
      fc.property(fc.constantFrom(...(Object.keys(numVars) as (keyof typeof numVars)[])), edge, (name, v) => {
        const layer = valueOrConfigError(() => configFromEnv({ [name]: v }));
        if (!layer.ok) return;
        const key = numVars[name];
        if (v === '') {
          expect(layer.value[key]).to.equal(undefined);
          return;
        }
        const n = layer.value[key];
        expect(Number.isSafeInteger(n) && (n as number) >= 0, `${name}=${JSON.stringify(v)} gave ${String(n)}`).to.equal(true);
        expect(n).to.equal(Number(v));
        const cfg = valueOrConfigError(() => resolveHostConfig(base, layer.value));
        if (cfg.ok) expect(cfg.value[key]).to.equal(n);
      }),
      { numRuns: 2000 },
    );
  });

  it('--nodes and SESSIONRAFT_NODES take a bracketed IPv6 host ([::1]) as the address, without the brackets', () => {
    // The loopback check took [::1] and the node then failed to bind with ENOTFOUND [::1].
    expect(parseNodesSpec('n1=[::1]:7001:7101:7201').n1).to.deep.equal({ host: '::1', raftPort: 7001, clientPort: 7101, adminPort: 7201 });
    expect(parseNodesSpec('n1=::1:7001:7101:7201').n1!.host).to.equal('::1');
    const cfg = resolveHostConfig({ ...base, nodes: undefined }, configFromEnv({ SESSIONRAFT_NODES: 'n1=[::1]:7001:7101:7201,n2=[fe80::1]:7002:7102:7202' }));
    expect(cfg.nodes.n1!.host).to.equal('::1');
    expect(cfg.nodes.n2!.host).to.equal('fe80::1');
    // A config file's "host": "[::1]" is the same address.
    expect(resolveHostConfig({ ...base, nodes: { n1: { host: '[::1]', raftPort: 1, clientPort: 2, adminPort: 3 } } }).nodes.n1!.host).to.equal('::1');
    // Brackets around anything but an IPv6 address, or unbalanced, are refused.
    for (const spec of ['n1=[127.0.0.1]:1:2:3', 'n1=[::1:1:2:3', 'n1=::1]:1:2:3', 'n1=[]:1:2:3', 'n1=[localhost]:1:2:3']) {
      expect(configError(() => parseNodesSpec(spec)).message, spec).to.match(/host/);
    }
  });
});
