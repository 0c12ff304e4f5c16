/**
 * For the tests of what the client port holds for readers that lag (replyBuffer.test.ts,
 * connectionsHeldBytes.test.ts): a metric read from /metrics, a session of 960 KiB to ask for, a raw
 * connection that reads nothing after its welcome, and a burst of peeks sent in one write.
 */
import type { Socket } from 'node:net';
import WebSocket from 'ws';
import type { SessionraftClient } from '../../transport/client/client.js';
import { encodeRequest } from '../../transport/client/protocol.js';
import { httpGet } from './helpers.js';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** A metric's value in a node's /metrics (the sum over the lines that contain every part). */
export async function metric(adminPort: number, name: string, ...parts: string[]): Promise<number> {
  const m = await httpGet(`http://127.0.0.1:${adminPort}/metrics`);
  let sum = 0;
  for (const line of m.body.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (parts.every((p) => line.includes(p))) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** A session of 15 records of 64 KiB (recordBytesMax): 960 KiB, within sessionBytesMax. Its ID (hex). */
export async function sessionOf960KiB(c: SessionraftClient, topic: string): Promise<string> {
  const { id } = await c.createSession(topic);
  for (let j = 0; j < 15; j++) await c.append(id, new Uint8Array(64 * KiB).fill(j));
  return id;
}

/** The raw socket under a `ws` WebSocket. */
export function socketOf(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}

/** A raw connection that has read its welcome; its socket is then paused (it reads nothing more). */
export async function pausedReader(endpoint: string, raws: WebSocket[]): Promise<WebSocket> {
  const ws = new WebSocket(`ws://${endpoint}/`, { perMessageDeflate: false });
  raws.push(ws);
  await new Promise<void>((res, rej) => {
    ws.once('message', () => res());
    ws.once('error', rej);
  });
  socketOf(ws).pause();
  return ws;
}

/** `count` peeks of `session` (reqIds 1..count), in one write. */
export function peeksInOneWrite(ws: WebSocket, session: Uint8Array, count: number): void {
  const sock = socketOf(ws);
  sock.cork();
  for (let r = 1; r <= count; r++) ws.send(encodeRequest({ op: 'peek', reqId: r, session }));
  sock.uncork();
}
