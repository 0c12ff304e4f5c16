/**
 * The client library and a password in clear beyond loopback (2026-12-07, a review). A node
 * refuses to serve plain ws beyond loopback unless it runs with --insecure, and the console does
 * not forward a login over plain HTTP beyond loopback; but the library sent its password (the auth
 * request's plaintext) over ws:// to whatever host it was given or redirected to: a client set up
 * without `tls` against a remote cluster handed the password to anyone on the path, or to whoever
 * answered at that address. It now refuses to (CLIENT_ERR_TLS, the hint says what to do) unless
 * told `insecure: true` (a trusted network, the nodes' --insecure). No server is needed: the
 * refusal comes before any connection (TEST-NET-1 addresses are never reached).
 */
import { expect } from 'chai';
import { createClient } from '../../transport/client/client.js';
import { ClientError, ClientErrorCode } from '../../transport/client/errors.js';
import { plainLoginRefusal } from '../../transport/client/connection.js';

const login = { user: 'alice', password: 'alice password' };

function codeOfSync(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(ClientError);
    return (err as ClientError).code;
  }
  return 'no error';
}

describe('client: no password in clear beyond loopback (2026-12-07)', function () {
  it('createClient refuses credentials with a plain endpoint beyond loopback', function () {
    const code = codeOfSync(() => createClient({ endpoints: ['192.0.2.1:7101'], ...login, ignoreEnvironment: true }));
    expect(code).to.equal(ClientErrorCode.tls);
  });

  it('takes it with TLS, on loopback, without credentials, or when told insecure', async function () {
    const fine = [
      { endpoints: ['wss://192.0.2.1:7101'], ...login },
      { endpoints: ['192.0.2.1:7101'], tls: {}, ...login },
      { endpoints: ['127.0.0.1:7101', 'localhost:7102', '[::1]:7103'], ...login },
      { endpoints: ['192.0.2.1:7101'] },
      { endpoints: ['192.0.2.1:7101'], ...login, insecure: true },
    ];
    for (const o of fine) await createClient({ ...o, ignoreEnvironment: true }).close();
  });

  it('the check a connection makes before its login (also for an endpoint a redirect named)', function () {
    expect(plainLoginRefusal('192.0.2.1:7101', null, login, false)).to.match(/in clear/);
    expect(plainLoginRefusal('db1.example:7101', null, login, false)).to.match(/in clear/);
    expect(plainLoginRefusal('192.0.2.1:7101', {}, login, false)).to.equal(null);
    expect(plainLoginRefusal('127.0.0.5:7101', null, login, false)).to.equal(null);
    expect(plainLoginRefusal('[::1]:7101', null, login, false)).to.equal(null);
    expect(plainLoginRefusal('192.0.2.1:7101', null, null, false)).to.equal(null);
    expect(plainLoginRefusal('192.0.2.1:7101', null, login, true)).to.equal(null);
  });
});
