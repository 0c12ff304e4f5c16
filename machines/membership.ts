/**
 * Cluster membership as replicated configuration entries (dissertation 4.1: single-server changes).
 * A configuration takes effect on a node as soon as its entry is in the node's log; one change at
 * a time; a new leader changes membership only after an entry of its own term is committed.
 *
 * Encoding of a configuration entry's data (no library: machines/ stays pure):
 *   u8 version (1) | u16 voters | u16 learners | per member: u8 length, ASCII id,
 *   u8 length, ASCII address (0: none)
 */
import type { Membership, NodeId } from './types.js';

const VERSION = 1;
const ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
/** An address is opaque here: `host:raftPort:clientPort:adminPort` for the node host. */
const ADDRESS_PATTERN = /^[A-Za-z0-9_.:[\]-]{1,200}$/;
/** Members of one configuration, at most. */
const membersMax = 256;

export class MembershipError extends Error {
  constructor(
    readonly code: string,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'MembershipError';
  }
}

/** Throws MembershipError unless `m` is a configuration a node may hold (what every decoded configuration passes). */
export function validateMembership(m: Membership): void {
  const all = [...m.voters, ...m.learners];
  if (m.voters.length === 0) throw new MembershipError('MEMBERSHIP_NO_VOTERS', 'a configuration needs at least one voter');
  if (all.length > membersMax) throw new MembershipError('MEMBERSHIP_TOO_LARGE', `more than ${membersMax} members`);
  for (const id of all) if (!ID_PATTERN.test(id)) throw new MembershipError('MEMBERSHIP_BAD_ID', `invalid node ID ${JSON.stringify(id)}`);
  if (new Set(all).size !== all.length) throw new MembershipError('MEMBERSHIP_DUPLICATE', 'a node is listed twice');
  for (const [id, address] of Object.entries(m.addresses ?? {})) {
    if (!all.includes(id)) throw new MembershipError('MEMBERSHIP_BAD_ADDRESS', `address for a non-member ${id}`);
    if (!ADDRESS_PATTERN.test(address)) throw new MembershipError('MEMBERSHIP_BAD_ADDRESS', `invalid address for ${id}`);
  }
}

/** Does `m` pass validateMembership? */
export function isValidMembership(m: Membership): boolean {
  try {
    validateMembership(m);
    return true;
  } catch (err) {
    if (err instanceof MembershipError) return false;
    throw err;
  }
}

/** Does configuration `m` hold `id`, as a voter or a learner? */
export function holdsMember(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id) || m.learners.includes(id);
}

export function encodeMembership(m: Membership): Uint8Array {
  validateMembership(m);
  const all = [...m.voters, ...m.learners];
  // Own properties only: an ID named like a property of Object.prototype must not read it.
  const addr = (id: NodeId): string => (m.addresses !== undefined && Object.hasOwn(m.addresses, id) ? m.addresses[id]! : '');
  let bytes = 5;
  for (const id of all) bytes += 2 + id.length + addr(id).length;
  const out = new Uint8Array(bytes);
  out[0] = VERSION;
  out[1] = m.voters.length >>> 8;
  out[2] = m.voters.length & 0xff;
  out[3] = m.learners.length >>> 8;
  out[4] = m.learners.length & 0xff;
  let at = 5;
  for (const id of all) {
    for (const text of [id, addr(id)]) {
      out[at++] = text.length;
      for (let k = 0; k < text.length; k++) out[at++] = text.charCodeAt(k);
    }
  }
  return out;
}

/** Decodes a configuration entry; throws MembershipError on anything malformed. */
export function decodeMembership(data: Uint8Array): Membership {
  const bad = (why: string): never => {
    throw new MembershipError('MEMBERSHIP_MALFORMED', why);
  };
  if (data.length < 5 || data[0] !== VERSION) bad('bad header');
  const voterCount = (data[1]! << 8) | data[2]!;
  const learnerCount = (data[3]! << 8) | data[4]!;
  if (voterCount + learnerCount > membersMax) bad('too many members');
  const ids: NodeId[] = [];
  // Null prototype: a member named `__proto__` (refused by the peer codec) could not set a prototype here.
  const addresses: Record<NodeId, string> = Object.create(null) as Record<NodeId, string>;
  let at = 5;
  const text = (allowEmpty: boolean): string => {
    if (at >= data.length) bad('truncated');
    const n = data[at++]!;
    if ((n === 0 && !allowEmpty) || at + n > data.length) bad('truncated text');
    let out = '';
    for (let j = 0; j < n; j++) out += String.fromCharCode(data[at + j]!);
    at += n;
    return out;
  };
  for (let k = 0; k < voterCount + learnerCount; k++) {
    const id = text(false);
    const address = text(true);
    ids.push(id);
    if (address !== '') addresses[id] = address;
  }
  if (at !== data.length) bad('trailing bytes');
  const m: Membership = {
    voters: ids.slice(0, voterCount),
    learners: ids.slice(voterCount),
    ...(Object.keys(addresses).length > 0 ? { addresses: { ...addresses } } : {}),
  };
  validateMembership(m);
  return m;
}

/** A single-server change requested by an operator. */
export type MembershipChange =
  | { readonly type: 'addLearner'; readonly node: NodeId; readonly address?: string }
  | { readonly type: 'promote'; readonly node: NodeId }
  | { readonly type: 'remove'; readonly node: NodeId };

/** The configuration after `change`, or a MembershipError saying why it is not a valid change. */
export function applyChange(m: Membership, change: MembershipChange): Membership {
  const isVoter = m.voters.includes(change.node);
  const isLearner = m.learners.includes(change.node);
  switch (change.type) {
    case 'addLearner':
      if (isVoter || isLearner) throw new MembershipError('MEMBERSHIP_ALREADY_MEMBER', `${change.node} is already a member`);
      return withAddresses(
        { voters: m.voters, learners: [...m.learners, change.node] },
        change.address === undefined ? m.addresses : { ...m.addresses, [change.node]: change.address },
      );
    case 'promote':
      if (isVoter) throw new MembershipError('MEMBERSHIP_ALREADY_VOTER', `${change.node} is already a voter`);
      if (!isLearner) throw new MembershipError('MEMBERSHIP_NOT_LEARNER', `${change.node} must be added as a learner first`);
      return withAddresses({ voters: [...m.voters, change.node], learners: m.learners.filter((x) => x !== change.node) }, m.addresses);
    case 'remove':
      if (!isVoter && !isLearner) throw new MembershipError('MEMBERSHIP_NOT_MEMBER', `${change.node} is not a member`);
      if (isVoter && m.voters.length === 1) throw new MembershipError('MEMBERSHIP_LAST_VOTER', 'cannot remove the last voter');
      return withAddresses({ voters: m.voters.filter((x) => x !== change.node), learners: m.learners.filter((x) => x !== change.node) }, m.addresses);
  }
}

/** Keep the addresses of members only. */
function withAddresses(m: Membership, addresses: Membership['addresses']): Membership {
  if (addresses === undefined) return m;
  const kept: Record<NodeId, string> = {};
  for (const id of [...m.voters, ...m.learners]) if (addresses[id] !== undefined) kept[id] = addresses[id]!;
  return Object.keys(kept).length > 0 ? { ...m, addresses: kept } : m;
}
