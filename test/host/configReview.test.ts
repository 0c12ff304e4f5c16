/**
 * Configuration values that were accepted and then ignored or read another way (a review,
 * 2026-12-07): each is now either taken as given or refused with CONFIG_ERR (exit 2), never turned
 * silently into something else (auth off, client certificates no longer required) or left to fail
 * at start with a raw TypeError or a bind error.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { ConfigError, configFromEnv, parseNodesSpec, resolveHostConfig, type HostConfig } from '../../actors/host/config.js';

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
});
