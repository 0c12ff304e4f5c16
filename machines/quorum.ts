/** Majority arithmetic over the voters of a configuration. */
import type { NodeId } from './types.js';

export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index that a majority of voters hold: the quorum-th largest of their match indexes.
 * `scratch` avoids an allocation per call.
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number, scratch: number[]): number {
  const n = voters.length;
  if (n === 0) return 0;
  scratch.length = n;
  // Insertion sort, descending: a handful of voters, and Array.prototype.sort allocates (it was
  // 1 % of a busy leader's allocations, once per acknowledgement).
  for (let k = 0; k < n; k++) {
    const m = matchOf(voters[k]!);
    let j = k;
    while (j > 0 && scratch[j - 1]! < m) {
      scratch[j] = scratch[j - 1]!;
      j--;
    }
    scratch[j] = m;
  }
  return scratch[quorumSize(n) - 1]!;
}

export type VoteResult = 'won' | 'lost' | 'pending';

/** Tally granted and rejected votes among voters. */
export function voteResult(voters: readonly NodeId[], votes: Readonly<Record<NodeId, boolean>>): VoteResult {
  let granted = 0;
  let rejected = 0;
  for (const v of voters) {
    const r = votes[v];
    if (r === true) granted++;
    else if (r === false) rejected++;
  }
  const q = quorumSize(voters.length);
  if (granted >= q) return 'won';
  if (voters.length - rejected < q) return 'lost';
  return 'pending';
}
