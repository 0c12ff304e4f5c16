/**
 * Exactly once with logins (a review of 2026-12-07; failed before): a retry of an applied store or
 * destroy by a user whose permission is limited to a topic prefix. The port's permission check
 * (server.ts `denied`) runs before the client table is asked, and for a session that is no longer
 * active it asks for the permission on every topic: the retry was PERMISSION_DENIED (the library:
 * UNKNOWN_OUTCOME) instead of the remembered result. Now answered from the client table as a
 * duplicate, to the client's owner only. A 3-node cluster with logins on 127.0.0.1.
 */
import { expect } from 'chai';
import { WebSocketServer, WebSocket, type RawData } from 'ws';
import { createClient } from '../../transport/client/client.js';
import { Connection } from '../../transport/client/connection.js';
import { decodeRequest, decodeServerFrame, parseCommandReply } from '../../transport/client/protocol.js';
import { quietLogger, removeDir, startAuthCluster, tempDir, waitFor, type InProcessCluster } from './helpers.js';

const ADMIN_PASSWORD = 'correct horse battery staple';

/** A ws proxy to `target` that drops the first reply to a request of `op` (the answer is lost). */
async function lossyProxy(target: string, op: string): Promise<{ endpoint: string; dropped: () => number; close: () => Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((r) => wss.once('listening', () => r()));
  let dropped = 0;
  wss.on('connection', (down: WebSocket, req) => {
    const up = new WebSocket(`ws://${target}${req.url ?? '/'}`);
    const toUp: RawData[] = [];
    const watched = new Set<number>();
    up.on('open', () => {
      for (const m of toUp.splice(0)) up.send(m as Buffer);
    });
    down.on('message', (m: RawData) => {
      const b = m as Buffer;
      try {
        const r = decodeRequest(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
        if (r.op === op && dropped === 0) watched.add(r.reqId);
      } catch {
        /* not ours */
      }
      if (up.readyState === WebSocket.OPEN) up.send(b);
      else toUp.push(m);
    });
    up.on('message', (m: RawData) => {
      const b = m as Buffer;
      try {
        const f = decodeServerFrame(new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
        if ((f.kind === 'result' || f.kind === 'error') && watched.has(f.reqId) && dropped === 0) {
          dropped++;
          return; // the answer is lost
        }
      } catch {
        /* forward */
      }
      down.send(b);
    });
    up.on('close', () => down.close());
    down.on('close', () => up.close());
    up.on('error', () => down.terminate());
    down.on('error', () => up.terminate());
  });
  const port = (wss.address() as { port: number }).port;
  return {
    endpoint: `127.0.0.1:${port}`,
    dropped: () => dropped,
    close: () =>
      new Promise<void>((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

describe('node: a retry of an applied store or destroy under a topic-limited permission (2026-12-07)', function () {
  this.timeout(60_000);
  let cluster: InProcessCluster;
  let dir = '';

  before(async () => {
    dir = tempDir('once-review');
    cluster = await startAuthCluster(3, dir, ADMIN_PASSWORD, { replayDelaysMs: [200, 60_000] });
    const admin = createClient({
      endpoints: cluster.endpoints(),
      operationTimeoutMs: 10_000,
      ignoreEnvironment: true,
      user: 'admin',
      password: ADMIN_PASSWORD,
    });
    try {
      await admin.addRole('orders-rw');
      await admin.grantPermission('orders-rw', 'write:orders/');
      await admin.grantPermission('orders-rw', 'store:orders/');
      await admin.grantPermission('orders-rw', 'read:orders/');
      await admin.addUser('alice', 'alice password 1');
      await admin.grantRole('alice', 'orders-rw');
      await waitFor('alice on every node', () => cluster.hosts.every((h) => h.node.store.access.user('alice')?.roles.includes('orders-rw') === true), 10_000);
    } finally {
      await admin.close();
    }
  });
  after(async () => {
    await cluster?.stop();
    if (dir !== '') removeDir(dir);
  });

  const open = async (user: string, password: string): Promise<Connection> => {
    const c = new Connection(cluster.leader()!.clientEndpoint(), {
      connectTimeoutMs: 2000,
      replyBytesMax: 1 << 20,
      clusterId: null,
      login: { user, password },
    });
    await c.ready;
    return c;
  };

  for (const [user, password] of [
    ['admin', ADMIN_PASSWORD],
    ['alice', 'alice password 1'],
  ] as const) {
    it(`${user}: the same store and destroy sent again (same seq) are answered from the client table`, async () => {
      const c = await open(user, password);
      try {
        const reg = parseCommandReply(await c.request({ op: 'register' }, 5000));
        const env = (seq: number) => ({ client: reg.value!.slice(0, 16), secret: reg.value!.slice(16, 32), seq, ackedBelowSeq: 1 });
        const created = parseCommandReply(await c.request({ op: 'create', envelope: env(1), topic: 'orders/x' }, 5000));
        expect(created.ok).to.equal(true);
        const s1 = created.value!;
        const created2 = parseCommandReply(await c.request({ op: 'create', envelope: env(2), topic: 'orders/y' }, 5000));
        const s2 = created2.value!;
        const storeReq = { op: 'store', envelope: env(3), session: s1, replay: { mode: 'class', value: 1 } } as const;
        const stored = parseCommandReply(await c.request(storeReq as never, 5000));
        expect(stored.ok, 'first store').to.equal(true);
        const destroyReq = { op: 'destroy', envelope: env(4), session: s2 } as const;
        const destroyed = parseCommandReply(await c.request(destroyReq as never, 5000));
        expect(destroyed.ok, 'first destroy').to.equal(true);
        // The answers were "lost": the library would send the same requests again.
        const again: string[] = [];
        for (const r of [storeReq, destroyReq]) {
          try {
            const rep = parseCommandReply(await c.request(r as never, 5000));
            again.push(`${r.op}: ok=${rep.ok} duplicate=${rep.duplicate}`);
          } catch (err) {
            again.push(`${r.op}: ${(err as { code: string }).code}`);
          }
        }
        expect(again).to.deep.equal(['store: ok=true duplicate=true', 'destroy: ok=true duplicate=true']);
      } finally {
        c.close();
      }
    });
  }

  it('alice with the client library: a store whose answer is lost succeeds on its retry (it was UNKNOWN_OUTCOME)', async () => {
    const proxy = await lossyProxy(cluster.leader()!.clientEndpoint(), 'store');
    const alice = createClient({
      endpoints: [proxy.endpoint],
      requestTimeoutMs: 300,
      operationTimeoutMs: 5000,
      batches: false,
      ignoreEnvironment: true,
      user: 'alice',
      password: 'alice password 1',
      logger: quietLogger,
    });
    try {
      const { id } = await alice.createSession('orders/z');
      let code = 'OK';
      try {
        await alice.store(id, { replay: 1 });
      } catch (err) {
        code = `${(err as { code: string }).code}: ${(err as Error).message}`;
      }
      expect(proxy.dropped(), 'the first answer was dropped').to.equal(1);
      expect(code, 'a retry answered from the client table would succeed (duplicate)').to.equal('OK');
    } finally {
      await alice.close();
      await proxy.close();
    }
  });
});
