/** Small helpers shared by the inbound and outbound sides of a connection. */
import type WebSocket from 'ws';
import { TERM_MAX } from '../../machines/types.js';

/** A ws message as one Buffer (ws delivers a Buffer for binaryType 'nodebuffer', the default; a list for 'fragments'). */
export function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return data.length === 1 ? data[0]! : Buffer.concat(data);
  return Buffer.from(data);
}

/** A ws message as the list of its fragments (one Buffer for anything but binaryType 'fragments'). */
export function fragmentsOf(data: WebSocket.RawData): readonly Buffer[] {
  if (Array.isArray(data)) return data;
  return [Buffer.isBuffer(data) ? data : Buffer.from(data)];
}

/** The node's term for a handshake; a callback that throws or returns garbage (or a term above TERM_MAX) yields 0. */
export function safeTerm(currentTerm: () => number): number {
  try {
    const term = currentTerm();
    return Number.isSafeInteger(term) && term >= 0 && term <= TERM_MAX ? term : 0;
  } catch {
    return 0;
  }
}
