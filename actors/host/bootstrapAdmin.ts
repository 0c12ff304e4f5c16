/**
 * The first administrator (issue 17): while no user holds the admin role, the leader creates the
 * bootstrap user (default `admin`) with the password in the bootstrap file's first line (`sessionraft
 * cluster` writes `<data>/admin-password`) and grants it the admin role: a UserPut (the password hashed here,
 * on the leader, so the log holds only the hash) then a UserGrant. There is no default remote
 * login: without the file, a node with --auth and no users admits nobody.
 *
 * The same step recovers a cluster whose last administrator was removed: whoever can write the file
 * on a node's machine (and restart it with the flag) can administer the cluster again.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { ADMIN_ROLE } from '../../transport/commands/access.js';
import { CommandKind } from '../../transport/commands/codec.js';
import { hashPassword } from '../../transport/client/password.js';
import { checkCredentials, firstLine } from '../../transport/client/credentials.js';
import type { SessionNode } from '../sessions/sessionNode.js';

/** Attempts after a failure (not leader any more, a busy leader) wait this long. */
const RETRY_MS = 1000;

export class BootstrapAdmin {
  private done = false;
  private inFlight = false;
  private notBeforeMs = 0;

  constructor(
    private readonly node: SessionNode,
    private readonly user: string,
    private readonly passwordFile: string,
    private readonly logger: Logger,
  ) {}

  /** Called every tick: acts only on the leader, once, while no administrator exists. */
  afterTick(nowMs: number): void {
    if (this.done || this.inFlight || nowMs < this.notBeforeMs || !this.node.planner.isLeader) return;
    // Only once this leader has applied an entry of its own term (so every earlier entry): a new
    // leader that has not applied the earlier UserGrant yet must not put the admin again.
    if (this.node.store.appliedTerm !== this.node.raft.term()) return;
    const access = this.node.store.access;
    if (access.users().some((u) => u.roles.includes(ADMIN_ROLE))) {
      this.done = true;
      return;
    }
    let password: string;
    try {
      password = firstLine(readFileSync(this.passwordFile, 'utf8'));
      checkCredentials(this.user, password);
    } catch (err) {
      this.logger.error({ err, file: this.passwordFile, code: 'NODE_ERR_BOOTSTRAP_ADMIN' }, 'cannot read the bootstrap admin password');
      this.done = true;
      return;
    }
    this.inFlight = true;
    const retry = (why: string): void => {
      this.inFlight = false;
      this.notBeforeMs = Date.now() + RETRY_MS;
      this.logger.debug({ why }, 'bootstrap admin: retrying');
    };
    hashPassword(password).then(
      (passwordHash) =>
        this.node.submitAuth({ kind: CommandKind.userPut, user: this.user, passwordHash }, (err, result) => {
          if (err !== null || result?.ok !== true) return retry(err?.code ?? result?.code ?? 'no result');
          this.node.submitAuth({ kind: CommandKind.userGrant, user: this.user, role: ADMIN_ROLE }, (err2, result2) => {
            if (err2 !== null || result2?.ok !== true) return retry(err2?.code ?? result2?.code ?? 'no result');
            this.inFlight = false;
            this.done = true;
            this.logger.info({ user: this.user }, 'bootstrap: created the first administrator');
          });
        }),
      (err: unknown) => retry(String(err)),
    );
  }
}
