/**
 * XState inspection of the node's Raft machine, for the Stately inspector.
 *
 * - live (`--inspect [url]`): @statelyai/inspect's WebSocket inspector sends every inspection event
 *   to a relay (`sessionraft inspector`, or `createInspectorServer` from
 *   `@statelyai/inspect/server`), which serves a page embedding https://stately.ai/inspect.
 * - file (`--inspect-file PATH`): one JSON object per line, appended, up to `fileBytesMax`.
 *
 * Both see `@xstate.actor`, `@xstate.event` and `@xstate.snapshot` events; byte fields are
 * summarized (`{ bytes: n }`) and long arrays cut, so an append of 4,096 entries costs a line, not
 * megabytes. `tick` events (one per tickMs) are left out unless `includeTicks`, except when a tick
 * changes the role (an election timeout), so the chart shows what happened rather than the clock.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Logger } from 'pino';
import type { InspectionEvent } from 'xstate';

interface InspectOptions {
  readonly nodeId: string;
  /** WebSocket URL of an inspector relay (e.g. ws://localhost:8080). */
  readonly liveUrl?: string;
  /** Append inspection events as JSON lines to this file. */
  readonly file?: string;
  /** Stop writing the file after this many bytes. Default 256 MiB. */
  readonly fileBytesMax?: number;
  /** Include tick events. Default false. */
  readonly includeTicks?: boolean;
  readonly logger?: Logger;
}

export interface Inspection {
  readonly inspect: (event: InspectionEvent) => void;
  /** Events written to the file (after filtering). */
  readonly written: () => number;
  close(cb: () => void): void;
}

const ARRAY_ITEMS_MAX = 16;
const DEPTH_MAX = 6;

/** A JSON-safe copy: Uint8Array -> { bytes: n }, Maps and Sets as arrays, long arrays cut. */
function summarize(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'bigint' ? String(value) : value;
  if (value instanceof Uint8Array) return { bytes: value.length };
  if (depth >= DEPTH_MAX) return '…';
  if (Array.isArray(value)) {
    const out = value.slice(0, ARRAY_ITEMS_MAX).map((v) => summarize(v, depth + 1));
    if (value.length > ARRAY_ITEMS_MAX) out.push({ more: value.length - ARRAY_ITEMS_MAX });
    return out;
  }
  if (value instanceof Map) return summarize([...value.entries()], depth);
  if (value instanceof Set) return summarize([...value], depth);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === 'function') continue;
    out[k] = summarize(v, depth + 1);
  }
  return out;
}

function eventType(ev: InspectionEvent): string | null {
  if (ev.type === '@xstate.event' || ev.type === '@xstate.snapshot') return (ev.event as { type?: string }).type ?? null;
  return null;
}

/** Builds the inspect callback for NodeOptions, or null when neither live nor file is asked for. */
export async function createInspection(opts: InspectOptions): Promise<Inspection | null> {
  if (opts.liveUrl === undefined && opts.file === undefined) return null;
  const includeTicks = opts.includeTicks === true;
  const fileBytesMax = opts.fileBytesMax ?? 256 * 1024 * 1024;
  let file: WriteStream | null = null;
  let fileBytes = 0;
  let written = 0;
  let full = false;
  if (opts.file !== undefined) {
    file = createWriteStream(opts.file, { flags: 'a' });
    file.on('error', (err) => {
      opts.logger?.error({ err, code: 'INSPECT_FILE' }, 'inspection file failed; no more events are written');
      file = null;
    });
  }
  let live: { inspect: { next?: (e: InspectionEvent) => void }; stop(): void } | null = null;
  if (opts.liveUrl !== undefined) {
    // Loaded only when asked for (it brings a WebSocket client that reconnects forever), and
    // before the node's actor exists: the inspector draws the chart from the first event.
    const { createWebSocketInspector } = await import('@statelyai/inspect');
    live = createWebSocketInspector({
      url: opts.liveUrl,
      sanitizeEvent: (e) => summarize(e) as typeof e,
      sanitizeContext: (c) => summarize(c) as typeof c,
    });
    opts.logger?.info({ url: opts.liveUrl }, 'sending inspection events to the Stately inspector relay');
  }
  // The role each actor was in, to keep the ticks that change it.
  const lastValue = new Map<string, string>();

  const inspect = (ev: InspectionEvent): void => {
    if (ev.type !== '@xstate.actor' && ev.type !== '@xstate.event' && ev.type !== '@xstate.snapshot') return;
    const id = ev.actorRef.sessionId;
    if (ev.type === '@xstate.snapshot') {
      const value = JSON.stringify((ev.snapshot as { value?: unknown }).value ?? null);
      const changed = lastValue.get(id) !== value;
      lastValue.set(id, value);
      if (!includeTicks && eventType(ev) === 'tick' && !changed) return;
    } else if (!includeTicks && eventType(ev) === 'tick') {
      return;
    }
    live?.inspect.next?.(ev);
    if (file === null || full) return;
    const line = JSON.stringify(toRecord(opts.nodeId, ev)) + '\n';
    fileBytes += Buffer.byteLength(line);
    if (fileBytes > fileBytesMax) {
      full = true;
      opts.logger?.warn({ code: 'INSPECT_FILE_FULL', bytes: fileBytesMax }, 'inspection file reached its size limit; no more events are written');
      return;
    }
    written++;
    file.write(line);
  };

  return {
    inspect,
    written: () => written,
    close(cb) {
      live?.stop();
      const f = file;
      file = null;
      if (f === null) return cb();
      f.end(() => cb());
    },
  };
}

/** One line of the inspection file. */
function toRecord(node: string, ev: InspectionEvent): Record<string, unknown> {
  const base = { ts: Date.now(), node, type: ev.type, sessionId: ev.actorRef.sessionId, rootId: ev.rootId };
  switch (ev.type) {
    case '@xstate.actor': {
      const logic = (ev.actorRef as { logic?: { id?: string; config?: { id?: string } } }).logic;
      return { ...base, name: logic?.config?.id ?? logic?.id ?? (ev.actorRef as { id?: string }).id };
    }
    case '@xstate.event':
      return { ...base, event: summarize(ev.event), sourceId: ev.sourceRef?.sessionId };
    case '@xstate.snapshot': {
      const s = ev.snapshot as { status?: string; value?: unknown; context?: unknown };
      return { ...base, event: summarize(ev.event), snapshot: { status: s.status, value: s.value, context: summarize(s.context) } };
    }
    default:
      return base;
  }
}
