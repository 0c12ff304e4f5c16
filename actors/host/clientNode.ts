/**
 * The session node as the client port sees it: adapts SessionNode to the ClientNode interface that
 * transport/client/server.ts declares, so the client port depends on an interface, not on actors/.
 */
import type { ClientNode } from '../../transport/client/node.js';
import { readU64BE } from '../../transport/commands/codec.js';
import { codecLimitsOf } from '../sessions/options.js';
import type { SessionNode } from '../sessions/sessionNode.js';

export function clientNodeOf(node: SessionNode): ClientNode {
  const store = node.store;
  return {
    isStopped: () => node.raft.isStopped(),
    leadership: () => {
      const st = node.status();
      return { leader: st.leader, term: st.term };
    },
    codecLimits: () => codecLimitsOf(store.limits),
    proposalRoom: () => node.raft.proposalRoom(),
    topicBytesMax: store.limits.topicBytesMax,
    submit: (cmd, data, cb, user) => {
      // The planner reuses this encoding instead of encoding the command again.
      node.planner.useEncoding(cmd, data);
      node.submit(cmd, cb, user);
    },
    registerClient: (cb, owner) => node.registerClient(cb, owner),
    storeSession: (session, replayClass, envelope, cb, user) => node.storeSession(session, replayClass, envelope, cb, user),
    scheduleSession: (topic, bytes, replayClass, envelope, cb, user) => node.scheduleSession(topic, bytes, replayClass, envelope, cb, user),
    access: () => store.access,
    sessionTopic: (id) => (id.length === 16 ? (store.session(readU64BE(id, 0), readU64BE(id, 8))?.topic ?? null) : null),
    rememberedResult: (env, user) => {
      if (env.client.length !== 16) return null;
      const r = store.clientResult(readU64BE(env.client, 0), readU64BE(env.client, 8), env.secret, env.seq, user);
      return typeof r === 'object' ? { ...r, duplicate: true } : null;
    },
    submitAuth: (cmd, cb) => node.submitAuth(cmd, cb),
    changeMembership: (change, cb) => node.changeMembership(change, cb),
    read: (cb) => node.read(cb),
    listSessions: () => store.listSessions(),
    getSession: (id) => store.getSession(id),
    appliedIndex: () => store.appliedIndex,
    subscribe: (topic, onDelivery, opts) => store.subscribe(topic, onDelivery, opts),
    createGroup: (topic, name, opts, cb) =>
      node.createGroup(
        topic,
        name,
        {
          ...(opts.ackWaitMs > 0 ? { ackWaitMs: opts.ackWaitMs } : {}),
          ...(opts.maxDeliveries > 0 ? { maxDeliveries: opts.maxDeliveries } : {}),
          ...(opts.maxAckPending > 0 ? { maxAckPending: opts.maxAckPending } : {}),
        },
        cb,
      ),
    deleteGroup: (topic, name, cb) => node.deleteGroup(topic, name, cb),
    deadLetter: (action, topic, group, restoreId, cb) => node.deadLetter(action, topic, group, restoreId, cb),
    groups: () => node.groups().map((g) => ({ ...g })),
    features: () => store.features,
    enableFeatures: (bits, cb) => node.enableFeatures(bits, cb),
    consume: (topic, group, consumer, maxAckPending, onDelivery, onEnd, cb) =>
      // Behind a read barrier: a leader that has not applied everything committed yet (just
      // elected, or restarted) may not know the group; without the barrier a consumer reattaching
      // after a leader change got a definite GROUP_UNKNOWN and gave up (found by the fault harness).
      node.read((barrier) => {
        if (barrier !== null) return cb({ code: barrier.code, message: barrier.message, leader: barrier.leader ?? null });
        attachConsumer(topic, group, consumer, maxAckPending, onDelivery, onEnd, cb);
      }),
  };

  function attachConsumer(...[topic, group, consumer, maxAckPending, onDelivery, onEnd, cb]: Parameters<ClientNode['consume']>): void {
    let c: ReturnType<SessionNode['consume']>;
    try {
      c = node.consume(topic, group, consumer, onDelivery, { ...(maxAckPending > 0 ? { maxAckPending } : {}), onEnd });
    } catch (err) {
      const e = err as { code?: string; message: string; leader?: string | null };
      return cb({ code: e.code ?? 'INTERNAL', message: e.message, leader: e.leader ?? null });
    }
    const groupId = node.store.groupByName(topic, group);
    const gid = groupId === undefined ? new Uint8Array(16) : node.store.groupCounts(groupId).id;
    cb(null, {
      close: () => c.close(),
      ack: (restoreId, delivery, done, remove) =>
        c.ack({ group: gid, groupName: group, topic, restoreId, session: restoreId, records: [], delivery }, done, remove),
      nack: (restoreId, delivery, delayMs, done) =>
        c.nack({ group: gid, groupName: group, topic, restoreId, session: restoreId, records: [], delivery }, delayMs, done),
    });
  }
}
