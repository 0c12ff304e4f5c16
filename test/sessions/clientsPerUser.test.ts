/**
 * Clients per user (the `clients-per-user` flag, 2026-12-07). Any logged-in user, one with no
 * permission at all included, may register clients; at clientsMax the table evicted its least
 * recently active client, whoever owned it, so one user registering in a loop evicted every other
 * user's exactly-once state (their retries then got CLIENT_UNKNOWN: an unknown outcome). With the
 * flag, a user at clientsPerUserMax replaces its own least recently active client.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { CommandKind, FEATURES, FEATURES_KNOWN, commandId, readU64BE } from '../../transport/commands/codec.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import { resolveLimits, limitsFingerprint, type StoreLimits } from '../../actors/sessions/options.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { TestLog, clientOf, testSecret, type TestClient } from './helpers.js';

function newStore(limits: Partial<StoreLimits>): SessionsStore {
  return new SessionsStore({ fs: new MemorySessionFs(), limits, defer: (fn) => fn() });
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** The owners of the clients in the table, least recently active first. */
function owners(store: SessionsStore): string[] {
  return store.manifest().clients.map((c) => c.owner ?? '');
}

describe('sessions: clients per user (2026-12-07)', () => {
  const limits: Partial<StoreLimits> = { clientsMax: 10, clientsPerUserMax: 4 };

  function register(store: SessionsStore, log: TestLog, owner: string, k: number): { client: TestClient; result: CommandResult } {
    const result = store.apply([log.push({ kind: CommandKind.clientRegister, secret: testSecret(k), owner })])[0] as CommandResult;
    return { client: clientOf(result), result };
  }

  it("with the flag, a user registering in a loop replaces its own clients and leaves the others' alone", () => {
    const store = newStore(limits);
    const log = new TestLog();
    store.apply([log.push({ kind: CommandKind.featureEnable, features: FEATURES_KNOWN })]);
    const alice = [register(store, log, 'alice', 1).client, register(store, log, 'alice', 2).client];
    for (let k = 0; k < 40; k++) register(store, log, 'mallory', 100 + k);
    expect(owners(store).filter((o) => o === 'alice')).to.have.length(2);
    expect(owners(store).filter((o) => o === 'mallory')).to.have.length(4);
    // Alice's clients are still known (a retry of theirs would be answered, not CLIENT_UNKNOWN).
    const known = (c: TestClient): unknown => store.clientResult(readU64BE(c.client, 0), readU64BE(c.client, 8), c.secret, 1, 'alice');
    expect(alice.map(known)).to.deep.equal([undefined, undefined]);
    expect(store.stats().clientsEvicted, 'evictions').to.deep.include({ user: 36, lru: 0 });
  });

  it('without it (a cluster upgraded from an older version) the table evicts its least recently active client, as older versions do', () => {
    const store = newStore(limits);
    const log = new TestLog();
    register(store, log, 'alice', 1);
    register(store, log, 'alice', 2);
    for (let k = 0; k < 40; k++) register(store, log, 'mallory', 100 + k);
    expect(owners(store)).to.deep.equal(new Array<string>(10).fill('mallory'));
  });

  it('clients registered with no login are not counted; the user bound is half of clientsMax unless set, and only a set value enters the fingerprint', () => {
    const store = newStore(limits);
    const log = new TestLog();
    store.apply([log.push({ kind: CommandKind.featureEnable, features: FEATURES.clientsPerUser })]);
    for (let k = 0; k < 8; k++) register(store, log, '', k);
    expect(owners(store)).to.deep.equal(new Array<string>(8).fill(''));
    expect(resolveLimits({ clientsMax: 100 }).clientsPerUserMax).to.equal(50);
    expect(resolveLimits({}).clientsPerUserMax).to.equal(5_000);
    expect(limitsFingerprint(resolveLimits({}))).to.not.include('clientsPerUser');
    expect(limitsFingerprint(resolveLimits({ clientsPerUserMax: 7 }))).to.include('clientsPerUser=7');
    expect(() => resolveLimits({ clientsMax: 10, clientsPerUserMax: 11 })).to.throw(/clientsPerUserMax/);
  });

  it('property: replicas and a replica restored from a snapshot evict alike, and no user ever holds more than its bound', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom('', 'a', 'b', 'c'), { maxLength: 60 }), fc.integer({ min: 0, max: 59 }), (regs, cut) => {
        const log = new TestLog();
        log.push({ kind: CommandKind.featureEnable, features: FEATURES_KNOWN });
        regs.forEach((owner, k) => log.push({ kind: CommandKind.clientRegister, secret: testSecret(k), owner }));
        const a = newStore(limits);
        a.apply(log.entries);
        // b applies up to `cut`, is snapshotted into c, which applies the rest.
        const b = newStore(limits);
        const at = Math.min(cut, log.entries.length);
        b.apply(log.entries.slice(0, at));
        const c = newStore(limits);
        c.restore(log.meta(b.appliedIndex), b.snapshot());
        c.apply(log.entries.slice(at));
        const ids = (s: SessionsStore): string[] => s.manifest().clients.map((x) => `${x.owner}:${hex(commandId(x.high, x.low))}`);
        expect(ids(c)).to.deep.equal(ids(a));
        for (const o of ['a', 'b', 'c']) expect(owners(a).filter((x) => x === o).length).to.be.at.most(4);
        expect(a.manifest().clients.length).to.be.at.most(10);
      }),
      { numRuns: 300 },
    );
  });
});
