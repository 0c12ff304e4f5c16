/**
 * Logs what changed in the Raft node, once per change: its role and term (after each step), the
 * leader it knows and its newest snapshot (each tick).
 */
import type { Logger } from 'pino';
import type { NodeId } from '../../machines/types.js';
import type { NodeStatus, Role } from '../raft/raftNode.js';

export class StateChangeLog {
  private seenRole: Role | null = null;
  private seenTerm = -1;
  private seenLeader: NodeId | null = null;
  private seenSnapshotIndex = 0;

  constructor(private readonly logger: Logger) {}

  /** After each Raft step. */
  afterStep(role: Role, term: number): void {
    if (role === this.seenRole && term === this.seenTerm) return;
    const from = this.seenRole;
    this.seenRole = role;
    this.seenTerm = term;
    this.logger.info({ term, role, from }, from === role ? 'term changed' : 'role changed');
  }

  /** After each tick. */
  afterTick(st: NodeStatus): void {
    if (st.leader !== this.seenLeader) {
      this.seenLeader = st.leader;
      this.logger.info({ term: st.term, leader: st.leader, role: st.role }, st.leader === null ? 'leader unknown' : 'leader changed');
    }
    if (st.snapshotIndex !== this.seenSnapshotIndex) {
      this.seenSnapshotIndex = st.snapshotIndex;
      this.logger.info({ index: st.snapshotIndex, term: st.term }, 'snapshot saved (log compacted up to it, minus the margin)');
    }
  }
}
