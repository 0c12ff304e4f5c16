/** Node IDs, as every edge takes them: the peer codec, the client port's `member` requests, the configuration. */

const NODE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/**
 * Names an ID may not have although the pattern admits them: the properties of Object.prototype
 * (`__proto__`, `constructor`, `toString`, ...) and `prototype`. IDs index maps and records all over
 * the code; none of them may ever reach or shadow an object's prototype.
 */
const RESERVED_IDS: ReadonlySet<string> = new Set([...Object.getOwnPropertyNames(Object.prototype), 'prototype']);
/** Node IDs and cluster IDs share one pattern, and neither is a name of Object.prototype. */
export function isNodeId(value: unknown): value is string {
  return typeof value === 'string' && NODE_ID_PATTERN.test(value) && !RESERVED_IDS.has(value);
}
