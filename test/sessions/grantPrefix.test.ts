/**
 * A permission's literal `*` prefix (2026-12-07, a review). In the text form `*` is every topic
 * (parseGrant reads it as the prefix ''), so no client request makes a grant whose prefix is the
 * one character `*`. A RoleGrant entry carries its prefix as bytes, though, and the codec took a
 * lone `*` there: a replica that applied it held "topics starting with *", and the snapshot, which
 * stores grants in their text form, turned it into every topic on a replica restored from it. The
 * codec now refuses that entry on every replica (SESSIONS_ERR_AUTH_FIELD), so no table holds it.
 */
import { expect } from 'chai';
import { CommandErrorCode, CommandKind, encodeCommand, type Command } from '../../transport/commands/codec.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { TestLog } from './helpers.js';

const newStore = (): SessionsStore => new SessionsStore({ fs: new MemorySessionFs(), defer: (fn) => fn() });

/** A RoleGrant of write on the prefix `*` as a leader of any version could write it: encoded with '+' and the byte replaced. */
function literalStarGrant(role: string): Uint8Array {
  const cmd: Command = { kind: CommandKind.roleGrant, role, grant: { action: 'write', prefix: '+', group: '' } };
  const data = encodeCommand(cmd);
  const at = data.lastIndexOf(0x2b);
  data[at] = 0x2a;
  return data;
}

describe('sessions: a grant on the literal prefix * (2026-12-07)', () => {
  it('is refused at apply on every replica, so a replica restored from a snapshot holds what the others hold', () => {
    const log = new TestLog();
    log.push({ kind: CommandKind.rolePut, role: 'r' });
    const grant = log.push(literalStarGrant('r'));
    log.push({ kind: CommandKind.userPut, user: 'u', passwordHash: null });
    log.push({ kind: CommandKind.userGrant, user: 'u', role: 'r' });
    const a = newStore();
    const results = a.apply(log.entries) as CommandResult[];
    const b = newStore();
    b.restore(log.meta(a.appliedIndex), a.snapshot());
    // Before the fix: a held write on topics starting with '*', b (from the snapshot) on every topic.
    expect(b.access.allows('u', 'write', 'orders', '')).to.equal(a.access.allows('u', 'write', 'orders', ''));
    expect(b.access.roles()).to.deep.equal(a.access.roles());
    expect(a.access.allows('u', 'write', 'orders', '')).to.equal(false);
    expect(results[grant.index - 1]!.code).to.equal(CommandErrorCode.auth);
  });

  it('cannot be encoded, while `*` inside a prefix and the every-topic grant still can', () => {
    expect(() => literalStarGrantEncoded('*')).to.throw(RangeError);
    for (const prefix of ['', '*/', 'a*', '**']) expect(() => literalStarGrantEncoded(prefix)).to.not.throw();
  });
});

function literalStarGrantEncoded(prefix: string): Uint8Array {
  return encodeCommand({ kind: CommandKind.roleGrant, role: 'r', grant: { action: 'write', prefix, group: '' } });
}
