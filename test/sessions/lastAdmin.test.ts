/**
 * The last-admin rule at apply (the `last-admin` flag, 2026-12-07). The leader's port refuses to
 * delete the last admin or revoke its role (CLIENT_ERR_LAST_ADMIN), but it checks its own applied
 * table and the requests in flight on that node only: a removal proposed by a leader before a
 * leader change, still in the log and not applied on the new leader, is not seen there, and a
 * second removal passed the new leader's check. Both applied, and no user held the admin role. With
 * the flag every replica refuses, in log order, the one that would remove the last admin.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { CommandKind, FEATURES_KNOWN, type Command } from '../../transport/commands/codec.js';
import { ADMIN_ROLE } from '../../transport/commands/access.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { TestLog } from './helpers.js';

function newStore(): SessionsStore {
  return new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() });
}

const admins = (s: SessionsStore): string[] =>
  s.access
    .users()
    .filter((u) => u.roles.includes(ADMIN_ROLE))
    .map((u) => u.name);

/** Two admins, `admin` and `admin2`, after a FeatureEnable of `features` (0: none, an upgraded cluster). */
function twoAdmins(log: TestLog, features: number): void {
  if (features !== 0) log.push({ kind: CommandKind.featureEnable, features });
  for (const user of ['admin', 'admin2']) {
    log.push({ kind: CommandKind.userPut, user, passwordHash: null });
    log.push({ kind: CommandKind.userGrant, user, role: ADMIN_ROLE });
  }
}

describe('sessions: the last admin is kept at apply (2026-12-07)', () => {
  for (const [what, second] of [
    ['two deletes', { kind: CommandKind.userDelete, user: 'admin2' }],
    ['a delete and a revoke', { kind: CommandKind.userRevoke, user: 'admin2', role: ADMIN_ROLE }],
  ] as const) {
    it(`${what} that each passed a port's check: the later one is refused on every replica`, () => {
      const log = new TestLog();
      twoAdmins(log, FEATURES_KNOWN);
      log.push({ kind: CommandKind.userDelete, user: 'admin' });
      const later = log.push(second as Command);
      const [a, b] = [newStore(), newStore()];
      const ra = a.apply(log.entries) as CommandResult[];
      const rb = b.apply(log.entries) as CommandResult[];
      expect(ra[later.index - 1]!.code).to.equal('CLIENT_ERR_LAST_ADMIN');
      expect(rb.map((r) => r?.code)).to.deep.equal(ra.map((r) => r?.code));
      expect(admins(a)).to.deep.equal(['admin2']);
      expect(a.digest().overall).to.equal(b.digest().overall);
    });
  }

  it('without the flag (a cluster upgraded from an older version) both apply, as older nodes apply them', () => {
    const log = new TestLog();
    twoAdmins(log, 0);
    log.push({ kind: CommandKind.userDelete, user: 'admin' });
    log.push({ kind: CommandKind.userDelete, user: 'admin2' });
    const s = newStore();
    s.apply(log.entries);
    expect(admins(s)).to.deep.equal([]);
  });

  it('a revoke of another role, a delete of a user without admin, and a second admin granted first are not refused', () => {
    const log = new TestLog();
    log.push({ kind: CommandKind.featureEnable, features: FEATURES_KNOWN });
    log.push({ kind: CommandKind.rolePut, role: 'r' });
    log.push({ kind: CommandKind.userPut, user: 'admin', passwordHash: null });
    log.push({ kind: CommandKind.userGrant, user: 'admin', role: ADMIN_ROLE });
    log.push({ kind: CommandKind.userGrant, user: 'admin', role: 'r' });
    log.push({ kind: CommandKind.userPut, user: 'bob', passwordHash: null });
    const results = (): string[] => (newStore().apply(log.entries) as CommandResult[]).slice(-3).map((r) => r.code);
    log.push({ kind: CommandKind.userRevoke, user: 'admin', role: 'r' });
    log.push({ kind: CommandKind.userDelete, user: 'bob' });
    log.push({ kind: CommandKind.userRevoke, user: 'admin', role: ADMIN_ROLE });
    expect(results()).to.deep.equal(['OK', 'OK', 'CLIENT_ERR_LAST_ADMIN']);
    log.push({ kind: CommandKind.userPut, user: 'carol', passwordHash: null });
    log.push({ kind: CommandKind.userGrant, user: 'carol', role: ADMIN_ROLE });
    log.push({ kind: CommandKind.userDelete, user: 'admin' });
    expect(results()).to.deep.equal(['OK', 'OK', 'OK']);
  });

  it('property: once an admin exists, some user holds admin at every index; replicas and a replica restored from a snapshot agree', () => {
    const users = ['a', 'b', 'c'];
    const change = fc.record({ op: fc.constantFrom('put', 'delete', 'grant', 'revoke'), user: fc.constantFrom(...users) });
    fc.assert(
      fc.property(fc.array(change, { maxLength: 40 }), fc.integer({ min: 0, max: 45 }), (changes, cut) => {
        const log = new TestLog();
        log.push({ kind: CommandKind.featureEnable, features: FEATURES_KNOWN });
        log.push({ kind: CommandKind.userPut, user: 'a', passwordHash: null });
        log.push({ kind: CommandKind.userGrant, user: 'a', role: ADMIN_ROLE });
        for (const { op, user } of changes) {
          if (op === 'put') log.push({ kind: CommandKind.userPut, user, passwordHash: null });
          else if (op === 'delete') log.push({ kind: CommandKind.userDelete, user });
          else log.push({ kind: op === 'grant' ? CommandKind.userGrant : CommandKind.userRevoke, user, role: ADMIN_ROLE });
        }
        const a = newStore();
        for (const e of log.entries) {
          a.apply([e]);
          if (e.index >= 3) expect(admins(a), `after entry ${e.index}`).to.not.deep.equal([]);
        }
        const b = newStore();
        const at = Math.min(cut, log.entries.length);
        b.apply(log.entries.slice(0, at));
        const c = newStore();
        c.restore(log.meta(b.appliedIndex), b.snapshot());
        c.apply(log.entries.slice(at));
        expect(c.access.users()).to.deep.equal(a.access.users());
      }),
      { numRuns: 300 },
    );
  });
});
