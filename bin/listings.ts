/**
 * Listings the client protocol does not carry, read from a node's admin port (issue 19): the
 * topics and replay classes that the console shows (`GET /console/topics.json`), from the leader
 * (the client asks any node for its status, which names the leader and its admin address).
 */
import { request } from 'node:http';
import type { SessionraftClient } from '../transport/client/client.js';

/** A reply larger than this is refused. */
const replyBytesMax = 4 * 1024 * 1024;

function getJson(admin: string, path: string, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const colon = admin.lastIndexOf(':');
    const req = request(
      { host: admin.slice(0, colon).replace(/^\[|\]$/g, ''), port: Number(admin.slice(colon + 1)), path, method: 'GET', timeout: timeoutMs },
      (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          bytes += c.length;
          if (bytes > replyBytesMax) req.destroy(new Error(`the reply from ${admin}${path} is larger than ${replyBytesMax} bytes`));
          else chunks.push(c);
        });
        res.on('end', () => {
          try {
            if (res.statusCode !== 200) throw new Error(`GET ${admin}${path}: HTTP ${res.statusCode}`);
            resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
          } catch (err) {
            reject(err as Error);
          }
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${admin}${path}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

/** The leader's topics listing (or the answering node's, while there is no leader). */
export async function topicsListing(c: SessionraftClient, timeoutMs: number): Promise<unknown> {
  const st = (await c.status()) as { node: string; leader: string | null; nodes: Record<string, { admin?: string }> };
  const from = st.leader ?? st.node;
  const admin = st.nodes[from]?.admin;
  if (admin === undefined) throw new Error(`no admin address known for ${from}`);
  return getJson(admin, '/console/topics.json', timeoutMs);
}
