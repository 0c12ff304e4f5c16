/**
 * The `first-user-admin` flag at apply (2026-12-07): a UserPut that creates the first user of an
 * empty user table grants it the admin role in the same entry, on every replica alike; any other
 * UserPut creates a user with no role. Without the flag (an upgraded cluster) no UserPut grants a
 * role, as older nodes apply it (the port then proposes a UserGrant after it).
 */
import { expect } from 'chai';
import { SessionsStore } from '../../actors/sessions/store.js';
import { ADMIN_ROLE } from '../../transport/commands/access.js';
import { CommandKind, FEATURES, FEATURES_KNOWN } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { TestLog } from './helpers.js';

function newStore(): SessionsStore {
  return new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() });
}

const rolesOf = (s: SessionsStore): Record<string, readonly string[]> => Object.fromEntries(s.access.users().map((u) => [u.name, u.roles]));

describe('sessions: the first user of an empty table is an admin from its UserPut (first-user-admin)', () => {
  it('with the flag: the first UserPut grants admin, the next do not, a password change keeps the roles (two replicas alike)', () => {
    const log = new TestLog();
    log.push({ kind: CommandKind.featureEnable, features: FEATURES_KNOWN });
    log.push({ kind: CommandKind.userPut, user: 'root', passwordHash: null });
    log.push({ kind: CommandKind.userPut, user: 'eve', passwordHash: null });
    log.push({ kind: CommandKind.userPut, user: 'root', passwordHash: null });
    const [a, b] = [newStore(), newStore()];
    a.apply(log.entries);
    b.apply(log.entries);
    expect(rolesOf(a)).to.deep.equal({ root: [ADMIN_ROLE], eve: [] });
    expect(a.digest().overall).to.equal(b.digest().overall);
  });

  it('once every user is gone (without last-admin, which keeps the last admin) the next first user is an admin again', () => {
    const log = new TestLog();
    log.push({ kind: CommandKind.featureEnable, features: FEATURES_KNOWN & ~FEATURES.lastAdmin });
    log.push({ kind: CommandKind.userPut, user: 'root', passwordHash: null });
    log.push({ kind: CommandKind.userDelete, user: 'root' });
    log.push({ kind: CommandKind.userPut, user: 'next', passwordHash: null });
    const s = newStore();
    s.apply(log.entries);
    expect(rolesOf(s)).to.deep.equal({ next: [ADMIN_ROLE] });
  });

  it('without the flag the first UserPut grants nothing (older versions apply it so)', () => {
    const log = new TestLog();
    log.push({ kind: CommandKind.featureEnable, features: FEATURES_KNOWN & ~FEATURES.firstUserAdmin });
    log.push({ kind: CommandKind.userPut, user: 'root', passwordHash: null });
    const s = newStore();
    s.apply(log.entries);
    expect(rolesOf(s)).to.deep.equal({ root: [] });
  });
});
