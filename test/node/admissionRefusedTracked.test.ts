/**
 * A registered client's session command whose every attempt is refused at the node's door: the
 * library reports the refusal (CLIENT_ERR_TOO_MANY_CONNECTIONS), not CLIENT_ERR_TIMEOUT, because no
 * attempt may have been proposed (its attempts are tracked). TIMEOUT would tell the caller the
 * append may have been applied; it was not, and the test reads the session to show it. The path:
 * the client registers and creates a session over a proxy; the proxy cuts its connection; another
 * connection of the same user takes the freed slot (connectionsPerUserMax 2), so every reconnect of
 * the client is refused at login until its deadline. Once a slot is free the append goes through,
 * once. In-process node on 127.0.0.1, the proxy a plain TCP relay in this process.
 */
import { expect } from 'chai';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { NodeHost } from '../../actors/host/nodeHost.js';
import { createClient } from '../../transport/client/client.js';
import { ClientError } from '../../transport/client/errors.js';
import { encodeRequest } from '../../transport/client/protocol.js';
import type { ClientServerStats } from '../../transport/client/server.js';
import { rawPort, useAuthCluster, waitFor, type RawPort, type ServerFrame } from './helpers.js';

const ADMIN_PASSWORD = 'tracked refusal admin password';
/** A welcome, or a login (scrypt, tens of ms), on a loaded machine. */
const ANSWER_MS = 10_000;

function statsOf(host: NodeHost): ClientServerStats {
  return (host as unknown as { clientServer: { stats(): ClientServerStats } }).clientServer.stats();
}

function codeOf(f: ServerFrame): string {
  return f.kind === 'error' ? f.code : f.kind;
}

/** A TCP relay on 127.0.0.1 to `target` whose open connections `cut()` destroys (new ones are relayed again). */
async function cuttableRelay(target: string): Promise<{ endpoint: string; cut(): void; close(): Promise<void> }> {
  const at = target.lastIndexOf(':');
  const host = target.slice(0, at);
  const port = Number(target.slice(at + 1));
  const sockets = new Set<Socket>();
  const server: Server = createServer((down) => {
    const up = connect({ host, port });
    const end = (): void => {
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
    };
    for (const s of [down, up]) {
      sockets.add(s);
      s.on('error', end);
      s.on('close', end);
    }
    down.pipe(up);
    up.pipe(down);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('the relay has no TCP address');
  return {
    endpoint: `127.0.0.1:${addr.port}`,
    cut() {
      for (const s of [...sockets]) s.destroy();
    },
    async close() {
      for (const s of [...sockets]) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('client library: a tracked command refused at the door reports the refusal, not TIMEOUT (2026-12-07)', function () {
  this.timeout(60_000);
  const suite = useAuthCluster(1, 'tracked-refused', ADMIN_PASSWORD, { clientLimits: { connectionsPerUserMax: 2 } });
  const raws: RawPort[] = [];

  after(() => {
    for (const r of raws) r.ws.terminate();
  });

  /** A raw connection logged in as admin: one of the user's two slots. */
  async function login(): Promise<RawPort> {
    const port = await rawPort(suite.cluster.endpoints()[0]!, ANSWER_MS);
    raws.push(port);
    port.ws.send(encodeRequest({ op: 'auth', reqId: 1, user: 'admin', password: ADMIN_PASSWORD }));
    expect(codeOf(await port.answer(1, ANSWER_MS)), 'the login').to.equal('result');
    return port;
  }

  it('an append whose every reconnect is refused at login fails with CLIENT_ERR_TOO_MANY_CONNECTIONS, is not applied, and goes through once a slot is free', async function () {
    const host = suite.cluster.hosts[0]!;
    await waitFor('a leader', () => suite.cluster.leader(), ANSWER_MS);
    const relay = await cuttableRelay(suite.cluster.endpoints()[0]!);
    // 1.5 s of retries: each refused login takes a round trip and a back-off, so several fit.
    const tracked = createClient({ endpoints: [relay.endpoint], user: 'admin', password: ADMIN_PASSWORD, operationTimeoutMs: 1500, ignoreEnvironment: true });
    try {
      // Registers (ClientRegister) and creates the session over the relay: the user's first slot.
      const { id } = await tracked.createSession('tracked/1');
      await login(); // the second slot
      const withBoth = statsOf(host).connections;
      relay.cut();
      await waitFor('the node to see the relayed connection closed', () => statsOf(host).connections === withBoth - 1 || null, ANSWER_MS);
      const filler = await login(); // takes the freed slot: every reconnect of `tracked` is now refused
      const refusedBefore = statsOf(host).rejected['CLIENT_ERR_TOO_MANY_CONNECTIONS'] ?? 0;

      const err = await tracked.append(id, 'refused').then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, String(err)).to.be.instanceOf(ClientError);
      expect((err as ClientError).code, (err as Error).message).to.equal('CLIENT_ERR_TOO_MANY_CONNECTIONS');
      expect(statsOf(host).rejected['CLIENT_ERR_TOO_MANY_CONNECTIONS'] ?? 0, 'refusals counted').to.be.greaterThan(refusedBefore);

      // A slot comes back: the session holds no record of the refused append, and the next one is applied once.
      filler.ws.terminate();
      // The client's get logs in once the node has seen the filler go (until then it is refused as before).
      const before = await waitFor('a read of the session once a slot is free', () => tracked.get(id), ANSWER_MS);
      expect(before.records.length, 'the refused append was not applied').to.equal(0);
      const out = await tracked.append(id, 'after');
      expect(out.duplicate).to.equal(false);
      const after = await tracked.get(id);
      expect(after?.records.map((r) => Buffer.from(r).toString())).to.deep.equal(['after']);
    } finally {
      await tracked.close();
      await relay.close();
    }
  });
});
