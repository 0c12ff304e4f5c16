/**
 * One AppendEntries per follower per flush: when a flush holds two AppendEntries to the same peer
 * where the second continues the first (same term, its prevIndex is the first's last index), they
 * leave as one message carrying both runs of entries and the later commit index.
 *
 * A flush steps more than one proposal batch when the host proposes the next command of a chain
 * on hearing the first was appended (a schedule's append and store after its create), and each
 * batch broadcasts its own AppendEntries. The follower would apply the two in order anyway; one
 * message is one receive, one machine event and one answer fewer on each side. The leader's
 * window (Inflights) recorded both; the answer through the merged message's last index frees both
 * (freeLE), as two answers would have.
 *
 * The merged message stays within the limits the leader's machine cuts messages by
 * (`appendBytesMax` of entry data, `appendEntriesMax` entries), so the transport never sees a
 * message larger than the machine could have made.
 */
import type { AppendRequest, RaftMessage } from '../../machines/types.js';

interface Send {
  readonly message: RaftMessage;
  readonly afterDurable: boolean;
}

interface Limits {
  readonly appendBytesMax: number;
  readonly appendEntriesMax: number;
}

function dataBytes(m: AppendRequest): number {
  let n = 0;
  for (let k = 0; k < m.entries.length; k++) n += m.entries[k]!.data.byteLength;
  return n;
}

/** Whether `b` continues `a` to the same peer in the same term, within the limits once joined. */
function continues(a: AppendRequest, b: AppendRequest, limits: Limits): boolean {
  if (a.to !== b.to || a.term !== b.term || a.entries.length === 0 || b.entries.length === 0) return false;
  const last = a.entries[a.entries.length - 1]!;
  if (b.prevIndex !== last.index || b.prevTerm !== last.term) return false;
  if (a.entries.length + b.entries.length > limits.appendEntriesMax) return false;
  return dataBytes(a) + dataBytes(b) <= limits.appendBytesMax;
}

/**
 * Merges, in place, each AppendEntries sent at once into an earlier one to the same peer that it
 * continues. Other messages keep their order; a merged message takes the place of the first.
 * Returns the number of messages merged away.
 */
export function mergeAppends(sends: Send[], limits: Limits): number {
  if (sends.length < 2) return 0;
  // The index in `sends` of the latest AppendEntries kept for each peer (sent at once).
  let lastByPeer: Map<string, number> | null = null;
  let kept = 0;
  for (let k = 0; k < sends.length; k++) {
    const s = sends[k]!;
    const m = s.message;
    if (m.type === 'append' && !s.afterDurable) {
      lastByPeer ??= new Map();
      const at = lastByPeer.get(m.to);
      const prev = at === undefined ? null : (sends[at]!.message as AppendRequest);
      if (prev !== null && continues(prev, m, limits)) {
        sends[at!] = { message: { ...m, prevIndex: prev.prevIndex, prevTerm: prev.prevTerm, entries: prev.entries.concat(m.entries) }, afterDurable: false };
        continue;
      }
      lastByPeer.set(m.to, kept);
    } else if (m.type === 'snapshot' || (m.type === 'append' && s.afterDurable)) {
      // Nothing is merged across another kind of replication message to the same peer.
      lastByPeer?.delete(m.to);
    }
    sends[kept++] = s;
  }
  const merged = sends.length - kept;
  sends.length = kept;
  return merged;
}
