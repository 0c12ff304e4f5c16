/**
 * The peer address book: where every node listens (from --nodes, then from the configuration in
 * force, which wins), which nodes this one dials, accepts and redirects clients to, and the
 * admission of a node outside the configuration from the address in its hello.
 */
import type { Logger } from 'pino';
import type { Membership, NodeId } from '../../machines/types.js';
import type { PeerAddress } from '../../transport/peer/types.js';
import { formatMemberAddress, parseMemberAddress } from '../../transport/wire/address.js';
import type { NodeAddress } from './config.js';

/** The ports this node got (the --nodes ones, or what the OS chose for port 0). */
export interface BoundAddresses {
  readonly raft: { host: string; port: number };
  readonly client: { host: string; port: number };
  readonly admin: { host: string; port: number };
}

/** `host:port`, with an IPv6 host in brackets. */
export function ep(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * Where the others reach this node, as its hello says: the --nodes ports (what the configuration
 * carries), the bound ones where --nodes has 0. Null until every port is known.
 */
export function advertisedAddress(self: NodeAddress, bound: BoundAddresses | undefined): string | null {
  const a = {
    host: self.host,
    raftPort: self.raftPort || (bound?.raft.port ?? 0),
    clientPort: self.clientPort || (bound?.client.port ?? 0),
    adminPort: self.adminPort || (bound?.admin.port ?? 0),
  };
  return a.raftPort === 0 || a.clientPort === 0 || a.adminPort === 0 ? null : formatMemberAddress(a);
}

/** Nodes outside the configuration and --nodes admitted from their hello at most (see `admit`). */
const ADMITTED_PEERS_MAX = 16;

/** The peer transport as the address book drives it. */
interface PeerLinks {
  setPeer(id: NodeId, address: PeerAddress | null): void;
  removePeer(id: NodeId): void;
}

/** The client port as the address book drives it (where to redirect clients to). */
interface ClientEndpoints {
  setEndpoint(id: NodeId, endpoint: string): void;
}

export class PeerDirectory {
  private readonly nodes = new Map<NodeId, NodeAddress>();
  /** Members whose address nobody told us: they may connect to us, we cannot dial them. */
  private readonly addressless = new Set<NodeId>();
  /** Nodes admitted from their hello (`admit`), at most ADMITTED_PEERS_MAX. */
  private readonly admitted = new Set<NodeId>();
  /** Where nodes that left the configuration were (a member without a replicated address may come back). */
  private readonly departed = new Map<NodeId, NodeAddress>();
  /** The members of the configuration last followed (null before the first). */
  private lastMembers: ReadonlySet<NodeId> | null = null;
  private links: PeerLinks | null = null;
  private clients: ClientEndpoints | null = null;

  constructor(
    private readonly selfId: NodeId,
    nodes: Readonly<Record<NodeId, NodeAddress>>,
    private readonly logger: Logger,
  ) {
    for (const [id, a] of Object.entries(nodes)) this.nodes.set(id, a);
  }

  /** Once the peer transport and the client port exist: from now on addresses reach them. */
  connect(links: PeerLinks, clients: ClientEndpoints): void {
    this.links = links;
    this.clients = clients;
  }

  /** Every known node (this one included) and where it listens. */
  entries(): IterableIterator<[NodeId, NodeAddress]> {
    return this.nodes.entries();
  }

  ids(): IterableIterator<NodeId> {
    return this.nodes.keys();
  }

  get(id: NodeId): NodeAddress | undefined {
    return this.nodes.get(id);
  }

  /** This node's own entry, with the ports it bound. */
  setSelf(a: NodeAddress): void {
    this.nodes.set(this.selfId, a);
  }

  /** Tell this node where a peer listens (in-process clusters on ports 0 learn them after start). */
  setPeer(id: NodeId, a: NodeAddress): void {
    if (id === this.selfId) return;
    this.nodes.set(id, a);
    this.links!.setPeer(id, { host: a.host, port: a.raftPort });
    this.clients!.setEndpoint(id, ep(a.host, a.clientPort));
  }

  /**
   * Dial, accept and redirect to the members of the configuration in force, at the addresses it
   * carries (they win over --nodes: they are what every node agrees on); forget a node that leaves
   * it (no dialing, its connections refused). A member nobody gave an address may still connect to
   * us. Nodes of --nodes outside the first configuration followed stay peers (see below).
   */
  followMembership(m: Membership): void {
    const members = new Set([...m.voters, ...m.learners]);
    for (const id of members) {
      if (id === this.selfId) continue;
      this.admitted.delete(id); // a member now: no longer counted against ADMITTED_PEERS_MAX
      const text = m.addresses?.[id];
      const a = text === undefined ? null : parseMemberAddress(text);
      const known = this.nodes.get(id);
      try {
        if (a !== null && (known === undefined || formatMemberAddress(known) !== text)) {
          this.logger.info({ peer: id, address: text, was: known === undefined ? null : formatMemberAddress(known) }, 'peer address from the configuration');
          this.addressless.delete(id);
          this.setPeer(id, a);
        } else if (a === null && known === undefined && this.departed.has(id)) {
          // Back (a removal undone by a truncation, or added again without an address): where it was.
          this.setPeer(id, this.departed.get(id)!);
        } else if (a === null && known === undefined && !this.addressless.has(id)) {
          this.logger.warn({ peer: id }, 'a member without an address: it may connect to this node, which cannot dial it');
          this.addressless.add(id);
          this.links!.setPeer(id, null);
        }
      } catch (err) {
        // e.g. a non-loopback address on a node without --insecure or TLS: counted as unreachable.
        this.logger.error({ peer: id, address: text, err, code: (err as { code?: string }).code }, 'cannot use the address of a member');
      }
    }
    if (this.lastMembers === null) {
      // At start: a node listed in --nodes but not in the configuration in force may be a member
      // added while this node was away (a leader of a newer configuration must reach us, and we
      // must answer it before our log shows it). Accepted, and dialed only when Raft answers it.
      for (const id of this.nodes.keys()) {
        if (id !== this.selfId && !members.has(id))
          this.logger.info({ peer: id }, 'listed in --nodes but not in the configuration in force: accepted as a peer until a configuration change removes it');
      }
    } else {
      // Left the configuration: no longer dialed, its connections refused (it cannot disturb us).
      for (const id of this.lastMembers) {
        if (id === this.selfId || members.has(id)) continue;
        const was = this.nodes.get(id);
        if (was !== undefined) this.departed.set(id, was);
        this.nodes.delete(id);
        this.addressless.delete(id);
        this.admitted.delete(id);
        this.links!.removePeer(id);
        this.logger.info({ peer: id }, 'node left the configuration: no longer dialed, its connections refused');
      }
    }
    this.lastMembers = members;
  }

  /**
   * A node that is neither in the configuration this node follows nor in --nodes dialed it, with
   * its address: typically a member added while this node was down, maybe leading now, which this
   * node must accept (and answer) to catch up and learn of the change at all. Admitted as a peer
   * (dialed at that address) unless it left the configuration while this node ran; a node removed
   * earlier that comes back this way still cannot disturb the cluster (pre-vote, and Raft refuses
   * votes from non-members). At most ADMITTED_PEERS_MAX such peers; a later configuration change
   * that removes one forgets it as any member.
   */
  admit(id: NodeId, text: string): boolean {
    if (this.departed.has(id) || id === this.selfId) return false;
    if (!this.admitted.has(id) && this.admitted.size >= ADMITTED_PEERS_MAX) {
      this.logger.warn(
        { peer: id, address: text, code: 'NODE_PEER_NOT_ADMITTED' },
        `an unknown node dialed this one: refused, ${ADMITTED_PEERS_MAX} admitted already`,
      );
      return false;
    }
    const a = parseMemberAddress(text);
    if (a === null) return false;
    try {
      this.setPeer(id, a);
    } catch (err) {
      // e.g. a non-loopback address on a node without TLS or --insecure.
      this.logger.warn({ peer: id, address: text, err, code: 'NODE_PEER_NOT_ADMITTED' }, 'an unknown node dialed this one: its address cannot be used');
      return false;
    }
    this.admitted.add(id);
    this.logger.warn(
      { peer: id, address: text, code: 'NODE_PEER_ADMITTED' },
      'a node outside the configuration this node follows dialed it (a member added while this node was away?): accepted as a peer at the address it sent, until a configuration change removes it',
    );
    return true;
  }
}
