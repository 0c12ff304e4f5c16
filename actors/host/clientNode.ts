/**
 * The session node as the client port sees it: adapts SessionNode to the ClientNode interface that
 * transport/client/server.ts declares, so the client port depends on an interface, not on actors/.
 */
import type { ClientNode } from '../../transport/client/node.js';
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
    topicBytesMax: store.limits.topicBytesMax,
    submit: (cmd, data, cb) => {
      // The planner reuses this encoding instead of encoding the command again.
      node.planner.useEncoding(cmd, data);
      node.submit(cmd, cb);
    },
    registerClient: (cb) => node.registerClient(cb),
    storeSession: (session, replayClass, envelope, cb) => node.storeSession(session, replayClass, envelope, cb),
    changeMembership: (change, cb) => node.changeMembership(change, cb),
    read: (cb) => node.read(cb),
    listSessions: () => store.listSessions(),
    getSession: (id) => store.getSession(id),
    appliedIndex: () => store.appliedIndex,
    subscribe: (topic, onDelivery, opts) => store.subscribe(topic, onDelivery, opts),
  };
}
