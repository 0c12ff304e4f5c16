/**
 * A throwaway PKI for TLS tests: a CA and leaf certificates made with the openssl CLI in a temporary
 * folder (ECDSA P-256, valid one day). Shared by the peer, client-port and certificate-file tests.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const OPENSSL = '/usr/bin/openssl';
const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export class Pki {
  readonly dir: string;

  constructor(prefix = 'sessionraft-pki-') {
    this.dir = mkdtempSync(join(tmpdir(), prefix));
  }

  private run(...args: string[]): void {
    execFileSync(OPENSSL, args, { cwd: this.dir, stdio: 'pipe' });
  }

  path(file: string): string {
    return join(this.dir, file);
  }

  read(file: string): Buffer {
    return readFileSync(this.path(file));
  }

  /** A self-signed CA: `<name>.crt`, `<name>.key`. */
  ca(name: string): void {
    this.run('req', '-x509', ...EC_KEY, '-days', '1', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.crt`);
  }

  /** A leaf `<file>.crt`/`.key` with subject `/CN=<cn>` (or a full `/…` subject) signed by `ca`; `extensions` are x509v3 lines. */
  leaf(file: string, cn: string, ca: string, extensions: string): void {
    writeFileSync(this.path(`${file}.ext`), `basicConstraints=CA:FALSE\n${extensions}\n`);
    const subject = cn.startsWith('/') ? cn : `/CN=${cn}`;
    this.run('req', ...EC_KEY, '-subj', subject, '-keyout', `${file}.key`, '-out', `${file}.csr`);
    this.run(
      'x509',
      '-req',
      '-in',
      `${file}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-days',
      '1',
      '-out',
      `${file}.crt`,
      '-extfile',
      `${file}.ext`,
    );
  }

  /**
   * Writes `out`, the certificate revocation list of `ca` (PEM, valid one day) listing every
   * certificate given to `revoke` so far (none at first).
   */
  crl(ca: string, out: string): void {
    const db = `${ca}.index`;
    if (!existsSync(this.path(`${ca}.cnf`))) {
      writeFileSync(
        this.path(`${ca}.cnf`),
        `[ ca ]\ndefault_ca = d\n[ d ]\ndatabase = ${db}\ncrlnumber = ${ca}.crlnumber\ndefault_md = sha256\ndefault_crl_days = 1\n`,
      );
      writeFileSync(this.path(db), '');
      writeFileSync(this.path(`${ca}.crlnumber`), '01\n');
    }
    this.run('ca', '-config', `${ca}.cnf`, '-keyfile', `${ca}.key`, '-cert', `${ca}.crt`, '-gencrl', '-out', out);
  }

  /** Marks the leaf `<file>.crt` revoked in `ca`'s database (the next `crl` lists it). */
  revoke(file: string, ca: string): void {
    if (!existsSync(this.path(`${ca}.cnf`))) this.crl(ca, `${ca}.crl`);
    this.run('ca', '-config', `${ca}.cnf`, '-keyfile', `${ca}.key`, '-cert', `${ca}.crt`, '-revoke', `${file}.crt`);
  }

  fingerprint(file: string): string {
    return new X509Certificate(this.read(file)).fingerprint256;
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
