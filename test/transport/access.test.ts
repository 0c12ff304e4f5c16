/**
 * Issue 17's parsers at the edge, property-based: permissions in text form (parseGrant), the
 * credentials file (parseCredentials), the client protocol's auth, user and role requests
 * (decodeRequest), the auth commands of the log (parseCommand) and the stored password form
 * (decodePasswordHash). Each round-trips what it produced and, on arbitrary input, either parses or
 * fails with its own typed error, never anything else. Plus the auth table's snapshot form, scrypt
 * hashing and the failed-login throttle.
 */
import { expect } from 'chai';
import fc from 'fast-check';
import {
  ACTIONS,
  decodePasswordHash,
  encodePasswordHash,
  formatGrant,
  grantAllows,
  GrantSyntaxError,
  isAuthName,
  parseGrant,
  type Grant,
} from '../../transport/commands/access.js';
import { CommandKind, CommandView, decodeCommand, defaultCodecLimits, encodeCommand, parseCommand, type Command } from '../../transport/commands/codec.js';
import { AuthThrottle, throttledAddress, throttledNetwork } from '../../transport/client/authThrottle.js';
import { parseCredentials } from '../../transport/client/credentials.js';
import { ClientError } from '../../transport/client/errors.js';
import { hashPassword, verifyPassword } from '../../transport/client/password.js';
import { decodeRequest, encodeRequest } from '../../transport/client/protocol.js';
import { AuthTable } from '../../actors/sessions/authTable.js';

const nameArb = fc.stringMatching(/^[A-Za-z0-9_.@-]{1,64}$/);
/** Printable prefixes, without ':' (a consume prefix with ':' needs an explicit group; tested apart). */
// Any printable prefix, ':' included (until 2026-12-07 it was left out, and consume grants on a
// prefix with ':' did not round-trip), but the lone '*', which is how every topic is written.
const prefixArb = fc.stringMatching(/^[ -~]{0,40}$/).filter((p) => p !== '*');
const grantArb: fc.Arbitrary<Grant> = fc.oneof(
  fc.record({ action: fc.constantFrom('write' as const, 'read' as const, 'store' as const), prefix: prefixArb, group: fc.constant('') }),
  fc.record({ action: fc.constant('consume' as const), prefix: prefixArb, group: fc.oneof(fc.constant(''), nameArb) }),
  fc.record({ action: fc.constantFrom('monitor' as const, 'admin' as const), prefix: fc.constant(''), group: fc.constant('') }),
);

describe('issue 17: permissions, credentials and auth requests at the edge', function () {
  describe('parseGrant / formatGrant', function () {
    it('round-trips every permission it formats (property)', function () {
      fc.assert(
        fc.property(grantArb, (g) => {
          expect(parseGrant(formatGrant(g))).to.deep.equal(g);
        }),
        { numRuns: 500 },
      );
    });

    it('on arbitrary text parses or throws GrantSyntaxError, never anything else (property)', function () {
      fc.assert(
        fc.property(fc.string({ maxLength: 80 }), (s) => {
          try {
            const g = parseGrant(s);
            expect(ACTIONS).to.include(g.action);
          } catch (err) {
            expect(err).to.be.instanceOf(GrantSyntaxError);
          }
        }),
        { numRuns: 1000 },
      );
    });

    it('examples: every topic, one group, cluster-wide actions, and a prefix', function () {
      expect(parseGrant('read:*')).to.deep.equal({ action: 'read', prefix: '', group: '' });
      expect(parseGrant('consume:orders/:billing')).to.deep.equal({ action: 'consume', prefix: 'orders/', group: 'billing' });
      expect(parseGrant('consume:a:b:*')).to.deep.equal({ action: 'consume', prefix: 'a:b', group: '' });
      expect(() => parseGrant('admin:orders/')).to.throw(GrantSyntaxError);
      expect(() => parseGrant('delete:x')).to.throw(GrantSyntaxError);
      const w = parseGrant('write:orders/');
      expect(grantAllows(w, 'write', 'orders/1', '')).to.equal(true);
      expect(grantAllows(w, 'write', 'ordersX', '')).to.equal(false);
      expect(grantAllows(w, 'read', 'orders/1', '')).to.equal(false);
      expect(grantAllows(parseGrant('admin'), 'store', 'anything', '')).to.equal(true);
      expect(grantAllows(parseGrant('consume:o/:g1'), 'consume', 'o/x', 'g2')).to.equal(false);
    });
  });

  describe('parseCredentials', function () {
    const passwordArb = fc.stringMatching(/^[!-~][ -~]{0,60}[!-~]$|^[!-~]$/);

    it('round-trips a user and any printable password, in either separator and with comments (property)', function () {
      fc.assert(
        fc.property(nameArb, passwordArb, fc.constantFrom('=', ': ', ' = '), fc.boolean(), (user, password, sep, crlf) => {
          const nl = crlf ? '\r\n' : '\n';
          const text = `# sessionraft credentials${nl}user${sep}${user}${nl}${nl}password${sep}${password}${nl}`;
          expect(parseCredentials(text)).to.deep.equal({ user, password });
        }),
        { numRuns: 500 },
      );
    });

    it('on arbitrary text parses or throws CLIENT_ERR_BAD_ARGUMENT without the text in the message (property)', function () {
      fc.assert(
        fc.property(fc.string({ maxLength: 200 }), (s) => {
          try {
            const c = parseCredentials(s);
            expect(isAuthName(c.user)).to.equal(true);
          } catch (err) {
            expect(err).to.be.instanceOf(ClientError);
            expect((err as ClientError).code).to.equal('CLIENT_ERR_BAD_ARGUMENT');
          }
        }),
        { numRuns: 1000 },
      );
    });

    it('never echoes a password in its errors', function () {
      try {
        parseCredentials('user=alice\npassword=hunter2 secret\npassword=again\n');
        expect.fail('a second password line must be refused');
      } catch (err) {
        expect((err as Error).message).to.not.include('hunter2');
      }
    });
  });

  describe('client protocol: auth, user and role requests', function () {
    const reqArb = fc.oneof(
      fc.record({ op: fc.constant('auth' as const), user: nameArb, password: fc.string({ minLength: 1, maxLength: 100 }) }),
      fc.record({
        op: fc.constant('user' as const),
        action: fc.constantFrom('add' as const, 'passwd' as const),
        user: nameArb,
        password: fc.string({ minLength: 1, maxLength: 100 }),
        role: fc.constant(''),
      }),
      fc.record({
        op: fc.constant('user' as const),
        action: fc.constantFrom('grant' as const, 'revoke' as const),
        user: nameArb,
        password: fc.constant(''),
        role: nameArb,
      }),
      fc.record({ op: fc.constant('role' as const), action: fc.constantFrom('grant' as const, 'revoke' as const), role: nameArb, grant: grantArb }),
    );

    it('round-trips every request it encodes (property)', function () {
      fc.assert(
        fc.property(reqArb, fc.integer({ min: 1, max: 1_000_000 }), (r, reqId) => {
          const req = { ...r, reqId } as Parameters<typeof encodeRequest>[0];
          expect(decodeRequest(encodeRequest(req))).to.deep.equal(req);
        }),
        { numRuns: 500 },
      );
    });

    it('mutated frames decode or fail with a ClientError, never anything else (property)', function () {
      fc.assert(
        fc.property(reqArb, fc.integer({ min: 1, max: 1000 }), fc.nat(), fc.integer({ min: 0, max: 255 }), (r, reqId, at, byte) => {
          const frame = encodeRequest({ ...r, reqId } as Parameters<typeof encodeRequest>[0]);
          const bad = frame.slice();
          bad[at % bad.length] = byte;
          try {
            decodeRequest(bad);
          } catch (err) {
            expect(err).to.be.instanceOf(ClientError);
          }
        }),
        { numRuns: 1000 },
      );
    });
  });

  describe('auth commands in the log', function () {
    const hash = encodePasswordHash({ logN: 15, r: 8, p: 1, salt: new Uint8Array(16).fill(7), key: new Uint8Array(32).fill(9) });
    const cmdArb: fc.Arbitrary<Command> = fc.oneof(
      fc.record({ kind: fc.constant(CommandKind.userPut), user: nameArb, passwordHash: fc.constantFrom(null, hash) }),
      fc.record({ kind: fc.constant(CommandKind.userDelete), user: nameArb }),
      fc.record({ kind: fc.constantFrom(CommandKind.userGrant, CommandKind.userRevoke), user: nameArb, role: nameArb }),
      fc.record({ kind: fc.constantFrom(CommandKind.rolePut, CommandKind.roleDelete), role: nameArb }),
      fc.record({ kind: fc.constantFrom(CommandKind.roleGrant, CommandKind.roleRevoke), role: nameArb, grant: grantArb }),
      fc.record({ kind: fc.constant(CommandKind.clientRegister), secret: fc.uint8Array({ minLength: 16, maxLength: 16 }), owner: nameArb }),
    ) as fc.Arbitrary<Command>;

    it('round-trip through the codec (property)', function () {
      fc.assert(
        fc.property(cmdArb, (c) => {
          expect(decodeCommand(encodeCommand(c))).to.deep.equal(c);
        }),
        { numRuns: 500 },
      );
    });

    it('mutated entries parse or give a stable code, never throw (property)', function () {
      const v = new CommandView();
      fc.assert(
        fc.property(cmdArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (c, at, byte, cut) => {
          const data = encodeCommand(c).slice();
          if (cut) {
            const r = parseCommand(v, data.subarray(0, at % data.length), defaultCodecLimits);
            expect(r === null || r.startsWith('SESSIONS_ERR_')).to.equal(true);
          } else {
            data[at % data.length] = byte;
            const r = parseCommand(v, data, defaultCodecLimits);
            expect(r === null || r.startsWith('SESSIONS_ERR_')).to.equal(true);
          }
        }),
        { numRuns: 2000 },
      );
    });

    it('the stored password form: what decodes re-encodes to the same bytes (property)', function () {
      fc.assert(
        fc.property(fc.uint8Array({ minLength: 0, maxLength: 60 }), (b) => {
          const h = decodePasswordHash(b);
          if (h !== null) expect(Buffer.from(encodePasswordHash(h)).equals(Buffer.from(b))).to.equal(true);
        }),
        { numRuns: 1000 },
      );
      expect(decodePasswordHash(hash)).to.not.equal(null);
    });
  });

  describe('the auth table', function () {
    it('its snapshot form loads into an equal table (property over random command sequences)', function () {
      const stepArb = fc.oneof(
        fc.record({ t: fc.constant('put' as const), user: fc.constantFrom('a', 'b', 'c') }),
        fc.record({ t: fc.constant('del' as const), user: fc.constantFrom('a', 'b', 'c') }),
        fc.record({ t: fc.constant('role' as const), role: fc.constantFrom('r1', 'r2', 'admin') }),
        fc.record({ t: fc.constant('delrole' as const), role: fc.constantFrom('r1', 'r2') }),
        fc.record({ t: fc.constant('grant' as const), user: fc.constantFrom('a', 'b', 'c'), role: fc.constantFrom('r1', 'r2', 'admin') }),
        fc.record({ t: fc.constant('perm' as const), role: fc.constantFrom('r1', 'r2'), grant: grantArb }),
      );
      fc.assert(
        fc.property(fc.array(stepArb, { maxLength: 40 }), (steps) => {
          const t = new AuthTable();
          steps.forEach((s, k) => {
            if (s.t === 'put') t.putUser(s.user, null, k + 1, false);
            else if (s.t === 'del') t.deleteUser(s.user, false);
            else if (s.t === 'role') t.putRole(s.role);
            else if (s.t === 'delrole') t.deleteRole(s.role);
            else if (s.t === 'grant') t.grantRole(s.user, s.role);
            else t.grantPermission(s.role, s.grant);
          });
          const copy = new AuthTable();
          copy.load(t.encode());
          expect(Buffer.from(copy.encode()).equals(Buffer.from(t.encode()))).to.equal(true);
          expect(copy.users()).to.deep.equal(t.users());
          expect(copy.roles()).to.deep.equal(t.roles());
        }),
        { numRuns: 300 },
      );
    });
  });

  describe('passwords and failed logins', function () {
    it('scrypt: the right password verifies, a wrong one does not, and two hashes of one password differ (salt)', async function () {
      this.timeout(10_000);
      const params = { logN: 10, r: 8, p: 1 };
      const a = await hashPassword('pässword', params);
      const b = await hashPassword('pässword', params);
      expect(Buffer.from(a).equals(Buffer.from(b))).to.equal(false);
      expect(await verifyPassword('pässword', a)).to.equal(true);
      expect(await verifyPassword('password', a)).to.equal(false);
      expect(await verifyPassword('pässword', new Uint8Array(52))).to.equal(false);
    });

    it('the throttle delays each failure more, blocks after failuresMax of a name from an address in the window, and forgets after it', function () {
      let now = 0;
      const t = new AuthThrottle({ failuresMax: 3, addressFailuresMax: 5, windowMs: 1000, delayMsMin: 100, delayMsMax: 250, addressesMax: 2 }, () => now);
      expect(t.blocked('a', 'u')).to.equal(false);
      expect([t.failed('a', 'u'), t.failed('a', 'u'), t.failed('a', 'u')]).to.deep.equal([100, 200, 250]);
      expect(t.blocked('a', 'u')).to.equal(true);
      expect(t.blocked('b', 'u'), 'per address').to.equal(false);
      expect(t.blocked('a', 'v'), 'per name').to.equal(false);
      now = 1000;
      expect(t.blocked('a', 'u'), 'after the window').to.equal(false);
      t.failed('b', 'u');
      t.failed('c', 'u');
      t.failed('d', 'u');
      expect(t.size, 'bounded').to.equal(2);
    });

    it('counts one machine or one site as one address: any loopback address, IPv4-mapped as IPv4, IPv6 by its /64 (2026-12-07)', function () {
      expect(['127.0.0.1', '127.9.8.7', '::1', '::ffff:127.0.0.5'].map(throttledAddress)).to.deep.equal(['loopback', 'loopback', 'loopback', 'loopback']);
      expect(throttledAddress('::ffff:10.1.2.3')).to.equal('10.1.2.3');
      expect(throttledAddress('10.1.2.3')).to.equal('10.1.2.3');
      expect(throttledAddress('2001:db8:0:1::5')).to.equal(throttledAddress('2001:0db8:0000:0001:ffff:1:2:3'));
      expect(throttledAddress('2001:db8:0:1::5')).to.not.equal(throttledAddress('2001:db8:0:2::5'));
      const t = new AuthThrottle({ failuresMax: 2, addressFailuresMax: 100, windowMs: 1000, delayMsMin: 1, delayMsMax: 1, addressesMax: 10 }, () => 0);
      t.failed('127.0.0.2', 'admin');
      t.failed('127.0.0.3', 'admin');
      expect(t.blocked('127.0.0.4', 'admin'), 'another loopback source address').to.equal(true);
    });

    it('throttledAddress never throws and gives one key to the addresses of one IPv6 /64 (property)', function () {
      const group = fc.integer({ min: 0, max: 0xffff }).map((n) => n.toString(16));
      fc.assert(
        fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), fc.array(group, { minLength: 4, maxLength: 4 }), (a, low) => {
          const full = a.join(':');
          const sameSite = [...a.slice(0, 4), ...low].join(':');
          expect(throttledAddress(full)).to.equal(throttledAddress(sameSite));
        }),
      );
      fc.assert(fc.property(fc.string({ maxLength: 60 }), (s) => void throttledAddress(s)));
    });

    it('counts failures per network too (IPv6 /48, IPv4 /24): many /64s of one site share networkFailuresMax (2026-12-07)', function () {
      expect(throttledNetwork('2001:db8:7:1::5')).to.equal('2001:db8:7::/48');
      expect(throttledNetwork('2001:db8:7:ffff:1:2:3:4')).to.equal(throttledNetwork('2001:0db8:0007:0001::9'));
      expect(throttledNetwork('2001:db8:8:1::5')).to.not.equal(throttledNetwork('2001:db8:7:1::5'));
      expect(throttledNetwork('10.1.2.3')).to.equal('10.1.2.0/24');
      expect(throttledNetwork('::ffff:10.1.2.99')).to.equal('10.1.2.0/24');
      expect(throttledNetwork('127.0.0.9')).to.equal('loopback');
      const t = new AuthThrottle(
        { failuresMax: 10, addressFailuresMax: 100, windowMs: 1000, delayMsMin: 1, delayMsMax: 1, addressesMax: 1000, networkFailuresMax: 20 },
        () => 0,
      );
      // One failure from each of 20 /64s of one /48: each /64 is far below its own limits.
      for (let k = 0; k < 20; k++) t.failed(`2001:db8:7:${k.toString(16)}::1`, `user${k}`);
      expect(t.blocked('2001:db8:7:ff::1', 'fresh'), 'another /64 of that /48, another name').to.equal(true);
      expect(t.blocked('2001:db8:8:ff::1', 'fresh'), 'another /48').to.equal(false);
      fc.assert(fc.property(fc.string({ maxLength: 60 }), (s) => void throttledNetwork(s)));
    });

    it("a success clears its own name's failures only; many names from one address are blocked at addressFailuresMax (2026-12-07)", function () {
      let now = 0;
      const t = new AuthThrottle({ failuresMax: 3, addressFailuresMax: 5, windowMs: 1000, delayMsMin: 1, delayMsMax: 1, addressesMax: 100 }, () => now);
      // Guesses at admin, with one's own successful login between them: admin's count stays.
      t.failed('a', 'admin');
      t.failed('a', 'admin');
      t.succeeded('a', 'mallory');
      t.failed('a', 'admin');
      expect(t.blocked('a', 'admin')).to.equal(true);
      expect(t.blocked('a', 'mallory'), 'another name from the address').to.equal(false);
      // A user who mistyped, then logged in: its own count is cleared.
      t.failed('a', 'carol');
      t.succeeded('a', 'carol');
      expect(t.blocked('a', 'carol')).to.equal(false);
      // Five failures from the address, whatever the names: every name is refused.
      t.failed('a', 'x');
      expect(t.blocked('a', 'y')).to.equal(true);
      now = 1000;
      expect(t.blocked('a', 'y')).to.equal(false);
    });
  });
});
