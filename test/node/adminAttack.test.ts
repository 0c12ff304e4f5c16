/**
 * Issue 14, finding 4, against a real node process: the request lines that took a node down
 * (`GET //[`, `GET http://[::1`, `GET //a:99999/x`) and 100 concurrent /status?digest=1 requests
 * while a client writes. The node stays up, answers each with a typed code, counts the refusals in
 * /metrics, and every acknowledged append is there once, in order.
 */
import { expect } from 'chai';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { NodeAddress } from '../../actors/host/config.js';
import { createClient } from '../../transport/client/client.js';
import { freePorts, getJson, httpGet, killNode, removeDir, spawnNode, tempDir, waitFor, type NodeProcess } from './helpers.js';

/**
 * Raw bytes to a port; what came back once the server closed (bounded: 10 s, then our side closes;
 * a complete request is answered in milliseconds, and until 2026-12-07 a 2 s cut could leave a
 * loaded box's answer empty).
 */
function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const sock = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => sock.destroy(), 10_000);
    sock.on('connect', () => sock.end(bytes));
    sock.on('data', (c) => chunks.push(c));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

describe('node: hostile admin requests against a real process (issue 14)', function () {
  this.timeout(60_000);
  const dir = tempDir('admin-attack');
  let node: NodeProcess | null = null;

  after(async () => {
    if (node !== null) await killNode(node);
    removeDir(dir);
  });

  it('survives the request lines that crashed it and a digest flood, counting every refusal', async () => {
    const [raft, client, admin] = await freePorts(3);
    const nodes: Record<string, NodeAddress> = { n1: { host: '127.0.0.1', raftPort: raft!, clientPort: client!, adminPort: admin! } };
    node = spawnNode('n1', nodes, join(dir, 'n1'));
    // Start and a single-node election: a few hundred ms; 10 s bounds a slow machine.
    await waitFor('n1 leads', () => getJson<{ role: string }>(`http://127.0.0.1:${admin}/status`).then((s) => s.role === 'leader'), 10_000);

    const c = createClient({ endpoints: [`127.0.0.1:${client}`], clusterId: 'proc-test' });
    try {
      const { id } = await c.createSession('attacked');
      const acked: string[] = [];
      let stop = false;
      const writer = (async () => {
        for (let k = 0; !stop && k < 100_000; k++) {
          await c.append(id, `a${k}`);
          acked.push(`a${k}`);
        }
      })();

      for (const target of ['//[', 'http://[::1', '//a:99999/x']) {
        for (let k = 0; k < 3; k++) {
          const out = await rawRequest(admin!, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
          expect(out, target).to.match(/^HTTP\/1\.1 (400|404) /);
        }
      }
      // 100 digest requests at once while the client writes. The admin port holds at most 64
      // connections (the rest are reset: bounded concurrency); every answer is a digest labelled
      // with the index it is of.
      const replies = await Promise.allSettled(
        Array.from({ length: 100 }, () => getJson<{ store: { digest: string; digestIndex: number } }>(`http://127.0.0.1:${admin}/status?digest=1`, 10_000)),
      );
      const answered = replies.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
      expect(answered.length, 'digest requests answered').to.be.at.least(50);
      for (const d of answered) {
        expect(d.store.digest).to.match(/^[0-9a-f]{64}$/);
        expect(d.store.digestIndex).to.be.a('number');
      }
      for (const r of replies) if (r.status === 'rejected') expect(String(r.reason)).to.match(/ECONNRESET|socket hang up|EPIPE/);
      // The writer still makes progress after all of it.
      const before = acked.length;
      await waitFor('10 more appends acknowledged after the attack', () => acked.length >= before + 10, 10_000);
      stop = true;
      await writer;

      expect(node.child.exitCode, 'the node is still running').to.equal(null);
      const metrics = await httpGet(`http://127.0.0.1:${admin}/metrics`);
      const refused = Number(/^sessionraft_rejected_total\{source="admin",code="ADMIN_ERR_BAD_REQUEST"\} (\d+)/m.exec(metrics.body)?.[1] ?? 0);
      expect(refused, 'absolute-form targets refused and counted').to.equal(3);
      const s = await c.get(id);
      expect(s!.records.map((r) => Buffer.from(r).toString('utf8'))).to.deep.equal(acked);
    } finally {
      await c.close();
    }
  });
});
