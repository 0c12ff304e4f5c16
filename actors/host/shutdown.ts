/**
 * Stopping a node: a leader first hands leadership to the most up-to-date follower it can reach
 * and waits (at most the transfer timeout) until another node leads, so clients see a leader
 * change rather than an election timeout; then the parts close in order (ticks, client port, admin
 * port, node, transport, log, store, inspection). Teardown also cleans up after a failed start,
 * so every part may be missing.
 */
import type { Logger } from 'pino';
import type { NodeId } from '../../machines/types.js';
import type { Wal } from '../../storage/wal.js';
import type { ClientServer } from '../../transport/client/server.js';
import type { WsTransport } from '../../transport/peer/wsTransport.js';
import type { SessionNode } from '../sessions/sessionNode.js';
import type { SessionsStore } from '../sessions/index.js';
import type { AdminHttp } from './adminHttp.js';
import type { Inspection } from './inspect.js';
import type { TimedDurableLog } from './storage.js';

/** The running parts of a node, each undefined when the start failed before it existed. */
export interface HostParts {
  readonly clientServer: ClientServer | undefined;
  readonly admin: AdminHttp | undefined;
  readonly node: SessionNode | undefined;
  readonly transport: WsTransport | undefined;
  readonly durable: TimedDurableLog | undefined;
  readonly wal: Wal | undefined;
  readonly store: SessionsStore | undefined;
  readonly inspection: Inspection | null;
}

interface ShutdownOptions {
  readonly selfId: NodeId;
  /** Hand leadership over first (when leading). */
  readonly transfer: boolean;
  /** How long to wait for another node to lead. */
  readonly transferTimeoutMs: number;
  readonly tickMs: number;
  /** Stops the host's ticks (first thing in teardown). */
  readonly stopTicking: () => void;
  readonly logger: Logger;
}

/**
 * What became of the leadership at a stop: `transferred` (another node led before the transfer
 * timeout), `timed-out` (it did not; stopped anyway), `no-voter-reachable` (no transfer tried),
 * `not-leader` (or no transfer asked for). A caller (and a test) learns from it whether clients saw
 * a handover or must wait out an election timeout, without timing the stop.
 */
export type StopTransfer = 'transferred' | 'timed-out' | 'no-voter-reachable' | 'not-leader';

/** Graceful stop: drain clients, hand leadership over (when leading and `transfer`), tear down, flush the log. */
export async function shutDown(parts: HostParts, o: ShutdownOptions): Promise<StopTransfer> {
  const log = o.logger;
  parts.clientServer?.drain();
  const node = parts.node;
  let transfer: StopTransfer = 'not-leader';
  if (o.transfer && node !== undefined && parts.transport !== undefined && !node.raft.isStopped() && node.raft.role() === 'leader') {
    transfer = await handOver(node, parts.transport, o);
  }
  await teardown(parts, o.stopTicking, log);
  log.info({ term: node?.raft.term() }, 'node stopped');
  await new Promise<void>((r) => log.flush(() => r()));
  return transfer;
}

/** Transfers leadership to the most up-to-date reachable voter and waits until another node leads. */
async function handOver(node: SessionNode, transport: Pick<WsTransport, 'stats'>, o: ShutdownOptions): Promise<StopTransfer> {
  const st = node.status();
  const links = transport.stats().peers;
  // The most up-to-date voter among those this node can reach (its control link is open);
  // `recentActive` is no guide here: the leader clears it every election timeout.
  let best: NodeId | null = null;
  let bestMatch = -1;
  for (const [id, p] of Object.entries(st.progress)) {
    if (id === o.selfId || !st.membership.voters.includes(id) || links[id]?.control !== 'open') continue;
    if (p.match > bestMatch) {
      best = id;
      bestMatch = p.match;
    }
  }
  if (best === null) {
    o.logger.warn({ term: st.term }, 'stopping the leader without a transfer: no other voter is reachable');
    return 'no-voter-reachable';
  }
  const t0 = Date.now();
  o.logger.info({ term: st.term, peer: best, index: bestMatch }, 'transferring leadership before stopping');
  node.raft.transferLeadership(best);
  const done = await waitFor(
    () => {
      const s = node.status();
      return s.role !== 'leader' && s.leader !== null && s.leader !== o.selfId;
    },
    o.transferTimeoutMs,
    Math.max(5, Math.floor(o.tickMs / 2)),
  );
  const s = node.status();
  if (done) o.logger.info({ term: s.term, leader: s.leader, ms: Date.now() - t0 }, 'leadership transferred');
  else o.logger.warn({ term: s.term, peer: best, ms: o.transferTimeoutMs }, 'leadership transfer did not finish in time; stopping anyway');
  return done ? 'transferred' : 'timed-out';
}

/** Polls `cond` every `pollIntervalMs` until true (resolves true) or `timeoutMs` passed (false). */
function waitFor(cond: () => boolean, timeoutMs: number, pollIntervalMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    if (cond()) return resolve(true);
    const t0 = Date.now();
    const timer = setInterval(() => {
      if (cond()) {
        clearInterval(timer);
        resolve(true);
      } else if (Date.now() - t0 >= timeoutMs) {
        clearInterval(timer);
        resolve(false);
      }
    }, pollIntervalMs);
  });
}

/** Closes whatever parts exist, in order; a log that failed (fail-stop) is not closed again. */
export async function teardown(parts: HostParts, stopTicking: () => void, logger: Logger): Promise<void> {
  stopTicking();
  const { clientServer, admin, node, transport, durable, wal, store, inspection } = parts;
  if (clientServer !== undefined) await new Promise<void>((r) => clientServer.close(r));
  if (admin !== undefined) await new Promise<void>((r) => admin.close(r));
  if (node !== undefined) node.stop();
  if (transport !== undefined) await new Promise<void>((r) => transport.close(r));
  if (durable !== undefined && !wal!.hasFailed()) {
    await new Promise<void>((r) =>
      durable.close((err) => {
        if (err) logger.warn({ err }, 'closing the log');
        r();
      }),
    );
  }
  store?.close();
  if (inspection !== null) await new Promise<void>((r) => inspection.close(r));
}
