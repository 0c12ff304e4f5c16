/**
 * Internal invariants. A failed assertion is a bug in sessionraft, never bad input: the process
 * crashes and recovers from disk on restart. Input from peers, clients and disk is validated at
 * the edge and never reaches an assertion.
 */
export class InvariantError extends Error {
  readonly code = 'RAFT_INVARIANT';
  constructor(message: string) {
    super(`invariant broken: ${message}`);
    this.name = 'InvariantError';
  }
}

/**
 * On a hot path, build the message only on failure: `if (!ok) assert(false, \`...\`)` (a template
 * literal argument is evaluated on every call).
 */
export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantError(message);
}
