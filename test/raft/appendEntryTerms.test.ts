/**
 * An AppendEntries whose entries' terms decrease (a review of how RaftNode takes peer messages,
 * 2026-12-07): it passed the codec (each term a number <= TERM_MAX) and Raft, and reached the WAL's
 * invariant in the node's deferred flush, an uncaught StorageError ("entry N term T invalid or
 * decreasing") that ended the process: one frame from any peer the host authenticated (a member,
 * or a node admitted with a proof of the cluster secret) stopped the node. Now both decoders refuse
 * it (TRANSPORT_ERR_SCHEMA), and RaftNode refuses and counts it for transports that skip them.
 */
import { expect } from 'chai';
import { join } from 'node:path';
import type { StateMachine } from '../../actors/raft/stateMachine.js';
import type { AppendRequest, RaftMessage } from '../../machines/types.js';
import { decodeMessage, encodeMessages } from '../../transport/peer/codec.js';
import { isTransportError } from '../../transport/wire/errors.js';
import { openLogAsync } from '../../storage/openLog.js';
import { realFs } from '../../storage/realFs.js';
import { closeAsync, tempDir } from '../storage/helpers.js';
import { raftNodeOnLog } from '../raft/nodeOnLog.js';

const nothing: StateMachine = { apply: (entries) => entries.map(() => null), snapshot: () => new Uint8Array(0), restore: () => undefined };

describe('raft node: an append whose entry terms decrease (2026-12-07)', function () {
  this.timeout(20_000);

  let saved: NodeJS.UncaughtExceptionListener[] = [];
  const uncaught: Error[] = [];
  const onUncaught = (err: Error): void => void uncaught.push(err);
  before(() => {
    saved = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
  });
  after(() => {
    process.removeListener('uncaughtException', onUncaught);
    for (const l of saved) process.on('uncaughtException', l);
  });

  for (const terms of [[1, 0], [2, 1], [3]]) {
    it(`entries of terms ${terms.join(', ')} from the leader: refused and counted, the node keeps running`, async () => {
      uncaught.length = 0;
      const t = tempDir('append-terms');
      const opened = await openLogAsync(realFs, join(t.dir, 'n2'));
      const sent: RaftMessage[] = [];
      const node = raftNodeOnLog(opened, {
        id: 'n2',
        membership: { voters: ['n1'], learners: ['n2'] },
        stateMachine: nothing,
        transport: { send: (_to, m) => sent.push(m), onMessage: () => undefined, close: (cb) => cb() },
      });
      try {
        const append: AppendRequest = {
          type: 'append',
          from: 'n1',
          to: 'n2',
          term: 2,
          prevIndex: 0,
          prevTerm: 0,
          commit: 0,
          entries: terms.map((term, i) => ({ index: i + 1, term, kind: 0, data: new Uint8Array([i]) })),
        };
        // The codec refuses it at the edge (term 3 is past the message's term 2)...
        let code: string | null = null;
        try {
          decodeMessage(encodeMessages([append]));
        } catch (err) {
          code = isTransportError(err) ? err.code : String(err);
        }
        expect(code).to.equal('TRANSPORT_ERR_SCHEMA');
        // ...and a transport that skips it reaches RaftNode, which refuses and counts it.
        node.receive(append);
        for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
        expect(uncaught.map((e) => `${e.name}: ${e.message}`)).to.deep.equal([]);
        expect(node.isStopped()).to.equal(false);
        expect(node.counters.get('append-entry-terms-invalid')).to.equal(1);
        expect(node.log.lastIndex(), 'nothing appended').to.equal(0);
      } finally {
        node.stop();
        await closeAsync(opened).catch(() => undefined);
        t.cleanup();
      }
    });
  }
});
