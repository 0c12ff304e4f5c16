/**
 * Logins on the admin port after a review of the permission fixes (2026-12-07): wrong passwords
 * from an address must not lock the right metrics token out, and the bound on logins verified at
 * once holds also while the decoy hash is being computed, and returns to zero. An AdminHttp on
 * 127.0.0.1 with an auth table of one user.
 */
import { expect } from 'chai';
import { request } from 'node:http';
import { AdminHttp } from '../../actors/host/adminHttp.js';
import { AuthTable } from '../../actors/sessions/authTable.js';
import { hashPassword } from '../../transport/client/password.js';

function get(port: number, path: string, authorization: string | null): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers: authorization !== null ? { authorization } : {}, agent: false }, (r) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end();
  });
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('host: admin port logins (2026-12-07)', function () {
  // scrypt per login (tens of ms each, 8 at once at most) and the throttle's delays (up to 2 s).
  this.timeout(60_000);
  let table: AuthTable;
  let http: AdminHttp;
  let port = 0;

  before(async () => {
    table = new AuthTable();
    table.putUser('mon', await hashPassword('mon password'), 1, false);
    table.grantRole('mon', 'admin');
  });
  beforeEach(async () => {
    http = new AdminHttp({
      host: '127.0.0.1',
      port: 0,
      metrics: async () => ({ contentType: 'text/plain', body: 'm 1\n' }),
      status: () => ({ ok: true }),
      health: () => ({ ok: true }),
      auth: { on: () => true, access: () => table, token: 'the-right-token' },
    });
    port = (await http.listen()).port;
  });
  afterEach((done) => http.close(done));

  it('the right metrics token is let in after ten wrong passwords from its address (it was refused with 429)', async () => {
    for (let round = 0; round < 2; round++) await Promise.all(Array.from({ length: 5 }, (_, k) => get(port, '/status', basic('mon', `wrong ${round} ${k}`))));
    expect((await get(port, '/status', basic('mon', 'wrong again'))).status, "mon's logins from here are blocked").to.equal(429);
    expect((await get(port, '/metrics', 'Bearer the-right-token')).status).to.equal(200);
  });

  it('at most 8 logins are verified at once, also while the decoy is computed, and the count returns to 0', async () => {
    const work = (): number => (http as unknown as { passwordWork: number }).passwordWork;
    let seenMax = 0;
    // Sampled every millisecond while the logins run (bounded by their answers).
    const sampler = setInterval(() => (seenMax = Math.max(seenMax, work())), 1);
    const rs = await Promise.all(Array.from({ length: 12 }, (_, k) => get(port, '/status', basic(`nobody${k}`, 'x'))));
    clearInterval(sampler);
    expect(seenMax, 'logins being verified at once').to.be.at.most(8);
    // Refused as unknown (401) or, past the bound, as busy (503): nothing else.
    expect(rs.map((r) => r.status).filter((s) => s !== 503 && s !== 401)).to.deep.equal([]);
    expect(work()).to.equal(0);
  });
});
