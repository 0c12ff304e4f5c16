/**
 * A schedule retried on a session that already holds records (its create applied by an earlier
 * attempt, and someone appended since): the store is not planned ahead past the session limits,
 * scheduleSession never throws, and the answer is the append's refusal. Before the check (found in
 * review) the planner threw a TypeError out of SessionNode.scheduleSession and the client port
 * answered INTERNAL while the append was still applied. And a record over the limit is refused
 * before the create is proposed.
 */
import { expect } from 'chai';
import { CommandKind, type Envelope } from '../../transport/commands/codec.js';
import type { CommandResult } from '../../actors/sessions/types.js';
import type { NodeHost } from '../../actors/host/nodeHost.js';
import { useInProcessCluster, waitFor } from './helpers.js';

type Outcome = { err: { code: string; message: string } | null; result?: CommandResult };

describe('node: a schedule retried on a session that already holds records', function () {
  this.timeout(60_000);
  // storedRecordBytesMax = 40 + 16 + 4 * 4 + 1024 = 1,096 bytes.
  const suite = useInProcessCluster(3, { storeLimits: { topicBytesMax: 16, recordBytesMax: 1024, sessionBytesMax: 1024, sessionRecordsMax: 4 } });

  function submit(host: NodeHost, cmd: Parameters<NodeHost['node']['submit']>[0]): Promise<CommandResult> {
    return new Promise((resolve, reject) => host.node.submit(cmd, (err, r) => (err !== null ? reject(err) : resolve(r!))));
  }

  it("answers the append's refusal (the session would be too large) and never throws out of scheduleSession", async () => {
    const host = suite.cluster.leader()!;
    const cred = await new Promise<Uint8Array>((resolve, reject) => host.node.registerClient((err, r) => (err !== null ? reject(err) : resolve(r!.value!))));
    const env: Envelope = { client: cred.slice(0, 16), secret: cred.slice(16, 32), seq: 1, ackedBelowSeq: 1 };
    // Class 0 gets its data file (a store is planned ahead only behind an existing tail).
    const warm = await new Promise<Outcome>((resolve) =>
      host.node.scheduleSession('w', Buffer.alloc(8), 0, null, (err, r) => resolve({ err, ...(r ? { result: r } : {}) })),
    );
    expect(warm.result).to.include({ ok: true });
    // The earlier attempt: its create alone applied (seq 1 of the schedule) ...
    const created = await submit(host, { kind: CommandKind.sessionCreate, topic: 't', envelope: env });
    expect(created.ok).to.equal(true);
    const session = created.value!;
    // ... and the session got a record since (anyone may append to a session ID).
    expect((await submit(host, { kind: CommandKind.sessionAppend, session, bytes: Buffer.alloc(1000, 7), envelope: null })).ok).to.equal(true);
    // The retry.
    let thrown: unknown = null;
    const answer = new Promise<Outcome>((resolve) => {
      try {
        host.node.scheduleSession('t', Buffer.alloc(1000, 9), 0, env, (err, r) => resolve({ err, ...(r ? { result: r } : {}) }));
      } catch (err) {
        thrown = err;
        resolve({ err: { code: 'THROWN', message: String(err) } });
      }
    });
    const o = await answer;
    expect(thrown === null ? null : String(thrown), 'scheduleSession threw').to.equal(null);
    expect(o.err).to.equal(null);
    expect(o.result).to.include({ ok: false, code: 'SESSIONS_ERR_SESSION_TOO_LARGE' });
    await waitFor('the leader applied everything', () => host.node.store.appliedIndex === host.node.raft.log.lastIndex(), 5000);
  });

  it('refuses a record over recordBytesMax before proposing anything (called directly, not through the client port)', async () => {
    const host = suite.cluster.leader()!;
    // Idle first, so that the schedule would take the bound path (create and append in one batch).
    await waitFor('the leader applied everything', () => host.node.store.appliedIndex === host.node.raft.log.lastIndex(), 5000);
    const lastBefore = host.node.raft.log.lastIndex();
    let thrown: unknown = null;
    const o = await new Promise<Outcome>((resolve) => {
      try {
        host.node.scheduleSession('big', Buffer.alloc(1025, 1), 0, null, (err, r) => resolve({ err, ...(r ? { result: r } : {}) }));
      } catch (err) {
        thrown = err;
        resolve({ err: { code: 'THROWN', message: String(err) } });
      }
    });
    expect(thrown === null ? null : String(thrown), 'scheduleSession threw').to.equal(null);
    expect(o.err?.code).to.equal('SESSIONS_ERR_RECORD_TOO_LARGE');
    // Nothing was proposed: no create is left behind as an empty session.
    expect(host.node.raft.log.lastIndex()).to.equal(lastBefore);
    expect(host.node.raft.status().role).to.equal('leader');
  });
});
