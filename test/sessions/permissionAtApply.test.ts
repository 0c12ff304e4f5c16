/**
 * Issue 17: permissions are checked again at apply. The client port checks a request against its
 * node's applied table, but a revoke ordered before the command in the log may not have applied
 * there yet; every replica checks the command's principal (the user who registered its client, in
 * the ClientRegister entry) against the auth table as of the command's position in the log, and
 * refuses with CLIENT_ERR_PERMISSION_DENIED, changing nothing, the same on every replica.
 */
import { expect } from 'chai';
import { CommandKind, commandId, type Command } from '../../transport/commands/codec.js';
import { ResultCode } from '../../actors/sessions/errors.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { TestLog, bytes, clientOf, testSecret, text } from './helpers.js';

const newStore = (plant = false): SessionsStore =>
  new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn(), ...(plant ? { plantSkipPermissionAtApply: true } : {}) });

const writeOrders = { action: 'write', prefix: 'orders', group: '' } as const;

/** alice holds role rw (write on orders); her client is registered with her as owner. Returns the log and her client. */
function setup(log: TestLog): ReturnType<typeof clientOf> {
  const cmds: Command[] = [
    { kind: CommandKind.rolePut, role: 'rw' },
    { kind: CommandKind.roleGrant, role: 'rw', grant: writeOrders },
    { kind: CommandKind.userPut, user: 'alice', passwordHash: null },
    { kind: CommandKind.userGrant, user: 'alice', role: 'rw' },
  ];
  for (const c of cmds) log.push(c);
  const reg = log.push({ kind: CommandKind.clientRegister, secret: testSecret(1), owner: 'alice' });
  const probe = newStore();
  const r = probe.apply(log.entries)[reg.index - 1] as CommandResult;
  return clientOf(r);
}

describe('sessions: permissions checked again at apply (issue 17)', () => {
  it('a command ordered after the revoke of its permission is refused on every replica and changes nothing', () => {
    const log = new TestLog();
    const alice = setup(log);
    const create = log.push({ kind: CommandKind.sessionCreate, topic: 'orders/1', envelope: alice.env(1) });
    // A session's ID is its SessionCreate entry's.
    const session = commandId(create.term, create.index);
    log.push({ kind: CommandKind.sessionAppend, session, bytes: bytes('first'), envelope: alice.env(2) });
    // The port saw the permission; the revoke was ordered before the next two commands.
    log.push({ kind: CommandKind.roleRevoke, role: 'rw', grant: writeOrders });
    const denied = log.push({ kind: CommandKind.sessionAppend, session, bytes: bytes('after the revoke'), envelope: alice.env(3) });
    const deniedCreate = log.push({ kind: CommandKind.sessionCreate, topic: 'orders/2', envelope: alice.env(4) });
    const [a, b] = [newStore(), newStore()];
    const ra = a.apply(log.entries) as CommandResult[];
    const rb = b.apply(log.entries) as CommandResult[];
    expect(ra[create.index - 1]!.ok).to.equal(true);
    expect(ra[create.index]!.ok, 'the append before the revoke').to.equal(true);
    expect(ra[denied.index - 1]!.code).to.equal(ResultCode.permissionDenied);
    expect(ra[deniedCreate.index - 1]!.code).to.equal(ResultCode.permissionDenied);
    expect(rb.map((r) => r?.code)).to.deep.equal(ra.map((r) => r?.code));
    // Nothing of the refused commands: one session, one record.
    expect(a.listSessions().map((s) => [s.topic, s.records.map(text)])).to.deep.equal([['orders/1', ['first']]]);
    expect(a.digest().overall).to.equal(b.digest().overall);
    // A retry of the same seq answers the same refusal (the client table remembers it).
    log.push({ kind: CommandKind.roleGrant, role: 'rw', grant: writeOrders });
    const retry = log.push({ kind: CommandKind.sessionAppend, session, bytes: bytes('after the revoke'), envelope: alice.env(3) });
    const again = a.apply(log.slice(denied.index + 1)) as CommandResult[];
    expect(again[retry.index - deniedCreate.index - 1]!.code).to.equal(ResultCode.permissionDenied);
    expect(again[again.length - 1]!.duplicate).to.equal(true);
  });

  it('a SessionStore refused at apply still writes its planned bytes (a void record), and a deleted user is refused', () => {
    const log = new TestLog();
    const alice = setup(log);
    const create = log.push({ kind: CommandKind.sessionCreate, topic: 'orders/1', envelope: alice.env(1) });
    const session = commandId(create.term, create.index);
    log.push({ kind: CommandKind.userDelete, user: 'alice' });
    const append = log.push({ kind: CommandKind.sessionAppend, session, bytes: bytes('x'), envelope: alice.env(2) });
    const store = newStore();
    const r = store.apply(log.entries) as CommandResult[];
    expect(r[append.index - 1]!.code).to.equal(ResultCode.permissionDenied);
    expect(store.listSessions()[0]!.records).to.have.length(0);
  });

  it('once a user exists, a client without an owner is refused: its registration and its commands (CLIENT_ERR_AUTH_REQUIRED); before, the cluster is open', () => {
    const log = new TestLog();
    // An open cluster: a client registered without a user works.
    const early = log.push({ kind: CommandKind.clientRegister, secret: testSecret(2) });
    const first = newStore();
    const open = clientOf(first.apply(log.entries)[early.index - 1] as CommandResult);
    const byOpen = log.push({ kind: CommandKind.sessionCreate, topic: 'orders/open', envelope: open.env(1) });
    // The first user: from here on (in log order) every client belongs to a user.
    const alice = setup(log);
    // A registration without a user that a port let through (a leader that had not applied alice yet).
    const late = log.push({ kind: CommandKind.clientRegister, secret: testSecret(3) });
    const byOpenAfter = log.push({ kind: CommandKind.sessionCreate, topic: 'orders/a', envelope: open.env(2) });
    log.push({ kind: CommandKind.roleRevoke, role: 'rw', grant: writeOrders });
    const anon = log.push({ kind: CommandKind.sessionCreate, topic: 'orders/b', envelope: null });
    const byAlice = log.push({ kind: CommandKind.sessionCreate, topic: 'orders/c', envelope: alice.env(1) });
    const [a, b] = [newStore(), newStore()];
    const r = a.apply(log.entries) as CommandResult[];
    expect(r[byOpen.index - 1]!.ok, 'open cluster').to.equal(true);
    expect(r[late.index - 1]!.code).to.equal(ResultCode.authRequired);
    expect(r[byOpenAfter.index - 1]!.code).to.equal(ResultCode.authRequired);
    // Without an envelope there is no principal at apply: only the port's check (docs/operations.md).
    expect(r[anon.index - 1]!.ok).to.equal(true);
    expect(r[byAlice.index - 1]!.code).to.equal(ResultCode.permissionDenied);
    expect((b.apply(log.entries) as CommandResult[]).map((x) => x?.code)).to.deep.equal(r.map((x) => x?.code));
    expect(a.listSessions().map((s) => s.topic)).to.deep.equal(['orders/open', 'orders/b']);
    const planted = newStore(true);
    expect((planted.apply(log.entries)[byAlice.index - 1] as CommandResult).ok, 'skip-permission-at-apply').to.equal(true);
  });
});
