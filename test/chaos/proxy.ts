/**
 * A userspace TCP proxy in front of one node's raft port, for the fault harness: every peer link
 * TO that node (from -> to) passes through it, and each such link has its own settings.
 *
 * Why one proxy per destination that tells links apart by the handshake, and not one per
 * (sender, receiver) port: nodes follow the peer addresses carried by the configuration in force
 * (the bootstrap configuration, a snapshot's, a membership entry's), which win over each node's own
 * `--nodes` (docs/operations.md, Membership). So every node must be given the same addresses, and
 * a node dials peer B at B's advertised address whoever it is. The proxy listens on that advertised
 * address (the node itself listens elsewhere: hidden flag --raft-listen-port), and learns which
 * link a connection belongs to from the transport's hello, the dialer's first message
 * (`[1, 0, clusterId, from, to, channel, term]`, docs/transport.md). The transport carries messages
 * one way per dialed connection (the dialer sends, the acceptor answers the handshake and pongs),
 * so the hello's `from` names the link's direction: cutting link A -> B cuts exactly "A cannot send
 * to B", both channels, nothing else.
 *
 * Modes, per link:
 * - `up`: bytes are forwarded, optionally delayed (per direction, order kept) and with message loss.
 * - `reset`: the link's connections are closed at once, and new ones are closed at their hello (a
 *   refused link: the sender notices at once and reconnects with backoff, failing until healed).
 * - `blackhole`: the link's connections stay open but nothing is forwarded either way (a silent
 *   partition, like a dropped route: the sender notices only through its keep-alive or handshake
 *   timeouts). Healing closes the blackholed connections (their streams lost bytes mid-frame).
 *
 * Evidence that a cut took effect is what the proxy itself did, counted as it does it, never
 * inferred from timing: `cut` counts connections closed, refused or silenced; `swallowed` the bytes
 * a blackhole kept from passing; `linksCut` the cut links on which the proxy stopped traffic (it
 * closed or refused a connection of the link, or swallowed at least one of its bytes), once per
 * link from its cut to its heal. A cut link that nobody uses (no connection, no dial: e.g. between
 * two followers, which never send to each other) counts 0 in all three: the cut did nothing.
 *
 * Loss is message loss, not byte loss: the sender-to-receiver direction is cut into WebSocket
 * frames (RFC 6455 §5.2; after the HTTP upgrade) and whole messages (all their fragments) are
 * dropped with probability `lossRate`, so the stream stays well-formed and the receiver simply never
 * sees those messages, as with a lossy network under a datagram transport. The hello and control
 * frames (ping, pong, close) are never dropped.
 */
import { decode } from 'cbor-x';
import { connect, createServer, type Server, type Socket } from 'node:net';

export type LinkMode = 'up' | 'reset' | 'blackhole';

export interface LinkSettings {
  readonly mode: LinkMode;
  /** Added to every chunk, each direction. */
  readonly delayMs: number;
  /** Extra delay drawn uniformly in [0, jitterMs] per chunk (order is kept regardless). */
  readonly jitterMs: number;
  /** Probability that a sender-to-receiver WebSocket message is dropped. */
  readonly lossRate: number;
}

export const healthyLink: LinkSettings = { mode: 'up', delayMs: 0, jitterMs: 0, lossRate: 0 };

export interface LinkStats {
  /** Connections accepted. */
  accepted: number;
  /**
   * Connections a fault cut: closed or refused at their hello (reset), or silenced (blackhole: at
   * the cut, or at the hello of a connection opened while cut; closed again at heal, not counted).
   */
  cut: number;
  /**
   * Links (from -> this node) put into reset or blackhole on which the proxy then stopped traffic:
   * closed or refused one of its connections, or swallowed at least one byte of it. Once per link
   * per cut (until its heal); 0 for a cut link that carried nothing.
   */
  linksCut: number;
  /** Bytes a blackhole kept from passing, both directions (after the cut; heal closes the connections). */
  swallowed: number;
  /** Messages dropped (loss). */
  dropped: number;
  /** Messages forwarded sender -> receiver. */
  forwarded: number;
  /** Connections whose hello named their sender. */
  identified: number;
}

/** Bytes waiting to be written after a delay, in order. */
class DelayLine {
  private readonly queue: { at: number; buf: Buffer }[] = [];
  private timer: NodeJS.Timeout | null = null;
  private lastAt = 0;

  constructor(
    private readonly out: Socket,
    private readonly settings: () => LinkSettings,
    private readonly random: () => number,
  ) {}

  push(buf: Buffer): void {
    const s = this.settings();
    if (s.delayMs === 0 && s.jitterMs === 0 && this.queue.length === 0) {
      if (!this.out.destroyed) this.out.write(buf);
      return;
    }
    const at = Math.max(this.lastAt, Date.now() + s.delayMs + this.random() * s.jitterMs);
    this.lastAt = at;
    this.queue.push({ at, buf });
    this.arm();
  }

  /** Forgets the bytes waiting; returns how many there were. */
  clear(): number {
    let bytes = 0;
    for (const q of this.queue) bytes += q.buf.length;
    this.queue.length = 0;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    return bytes;
  }

  private arm(): void {
    if (this.timer !== null || this.queue.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        const now = Date.now();
        while (this.queue.length > 0 && this.queue[0]!.at <= now) {
          const { buf } = this.queue.shift()!;
          if (!this.out.destroyed) this.out.write(buf);
        }
        this.arm();
      },
      Math.max(0, this.queue[0]!.at - Date.now()),
    );
  }
}

/** The sender's node ID from a hello frame's payload (unmasked), or null if it is not a hello. */
function helloSender(payload: Buffer): string | null {
  try {
    const v = decode(payload) as unknown;
    if (Array.isArray(v) && v[0] === 1 && v[1] === 0 && typeof v[3] === 'string') return v[3];
  } catch {
    // not CBOR: not a hello
  }
  return null;
}

/**
 * Splits the sender's byte stream into the HTTP upgrade request and then whole WebSocket frames,
 * reports the hello's sender, and decides per message whether it is forwarded. No recursion.
 */
class FrameGate {
  private buf: Buffer = Buffer.alloc(0);
  private upgraded = false;
  private messages = 0;
  /** Whether the data message in progress (between its first frame and FIN) is dropped. */
  private dropping = false;

  constructor(
    private readonly emit: (b: Buffer) => void,
    /** The first data message: the hello. Returns false to stop (the link is cut). */
    private readonly onHello: (from: string | null) => boolean,
    private readonly lossRate: () => number,
    private readonly random: () => number,
    private readonly stats: LinkStats,
  ) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (!this.upgraded) {
      const end = this.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.emit(this.buf.subarray(0, end + 4));
      this.buf = this.buf.subarray(end + 4);
      this.upgraded = true;
    }
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const opcode = b[0]! & 0x0f;
      const fin = (b[0]! & 0x80) !== 0;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let head = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        head = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        head = 10;
      }
      const maskAt = head;
      if (masked) head += 4;
      if (b.length < head + len) return;
      const frame = b.subarray(0, head + len);
      this.buf = b.subarray(head + len);
      if (opcode >= 8) {
        this.emit(frame); // control frames always pass
        continue;
      }
      if (opcode !== 0) {
        // The first frame of a data message: decide for the whole message.
        if (this.messages === 0) {
          const payload = Buffer.from(frame.subarray(head));
          if (masked) for (let k = 0; k < payload.length; k++) payload[k] = payload[k]! ^ b[maskAt + (k & 3)]!;
          if (!this.onHello(fin ? helloSender(payload) : null)) return;
          this.dropping = false;
        } else {
          this.dropping = this.random() < this.lossRate();
        }
        this.messages++;
      }
      if (this.dropping) {
        if (fin) this.stats.dropped++;
      } else {
        if (fin) this.stats.forwarded++;
        this.emit(frame);
      }
    }
  }
}

interface Conn {
  readonly down: Socket;
  readonly up: Socket;
  /** The sending node, once its hello passed. */
  from: string | null;
  blackholed: boolean;
  readonly toUp: DelayLine;
  readonly toDown: DelayLine;
}

/** Every link into one node: a listener on the node's advertised raft port, settings per sender. */
export class NodeProxy {
  private server: Server | null = null;
  private readonly conns = new Set<Conn>();
  private readonly links = new Map<string, LinkSettings>();
  readonly stats: LinkStats = { accepted: 0, cut: 0, dropped: 0, forwarded: 0, identified: 0, linksCut: 0, swallowed: 0 };
  /** Links whose current cut has already counted in `linksCut` (cleared when the link heals). */
  private readonly stopped = new Set<string>();
  port = 0;

  constructor(
    /** The node behind this proxy. */
    readonly to: string,
    private readonly target: { readonly host: string; readonly port: number },
    private readonly random: () => number = Math.random,
  ) {}

  /** Binds 127.0.0.1 on `port` (0: a free one); resolves with it. */
  listen(port = 0): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true }, (s) => this.accept(s));
      this.server = server;
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        this.port = (server.address() as { port: number }).port;
        resolve(this.port);
      });
    });
  }

  /** The settings of link from -> this node. */
  link(from: string): LinkSettings {
    return this.links.get(from) ?? healthyLink;
  }

  /** Changes link from -> this node; applies at once to its open connections. */
  set(from: string, s: Partial<LinkSettings>): void {
    const prev = this.link(from);
    const next = { ...prev, ...s };
    this.links.set(from, next);
    if (next.mode === prev.mode) return;
    // A new cut (or the heal) of this link: it has stopped nothing yet.
    this.stopped.delete(from);
    for (const c of [...this.conns]) {
      if (c.from !== from) continue;
      if (next.mode === 'reset') {
        this.closeConn(c, true);
        this.stoppedTraffic(from);
      } else if (next.mode === 'blackhole') {
        // Silenced now, counted now (healing then closes it without counting it again). The link
        // counts in linksCut once a byte of it is swallowed: bytes still queued in the delay lines
        // are, and so is anything either end sends later.
        c.blackholed = true;
        this.stats.cut++;
        const queued = c.toUp.clear() + c.toDown.clear();
        if (queued > 0) this.swallow(c, queued);
      } else if (c.blackholed) this.closeConn(c, false);
    }
  }

  /** Every link into this node back to healthy. */
  heal(): void {
    for (const from of [...this.links.keys()]) this.set(from, healthyLink);
  }

  /** Closes the server and every connection. */
  close(): Promise<void> {
    for (const c of [...this.conns]) this.closeConn(c, false);
    const server = this.server;
    this.server = null;
    if (server === null) return Promise.resolve();
    return new Promise((r) => server.close(() => r()));
  }

  private accept(down: Socket): void {
    this.stats.accepted++;
    down.on('error', () => {});
    if (this.server === null) {
      down.destroy();
      return;
    }
    const up = connect({ host: this.target.host, port: this.target.port, noDelay: true });
    up.on('error', () => {});
    const settings = (): LinkSettings => (c.from === null ? healthyLink : this.link(c.from));
    const c: Conn = {
      down,
      up,
      from: null,
      blackholed: false,
      toUp: new DelayLine(up, () => settings(), this.random),
      toDown: new DelayLine(down, () => settings(), this.random),
    };
    this.conns.add(c);
    down.on('close', () => this.closeConn(c, false));
    up.on('close', () => this.closeConn(c, false));
    const gate = new FrameGate(
      (b) => {
        if (!c.blackholed) c.toUp.push(b);
        else this.swallow(c, b.length); // the hello of a connection opened while blackholed
      },
      (from) => {
        c.from = from;
        if (from !== null) this.stats.identified++;
        const mode = from === null ? 'up' : this.link(from).mode;
        if (mode === 'reset') {
          this.closeConn(c, true);
          this.stoppedTraffic(from!);
          return false;
        }
        if (mode === 'blackhole') {
          c.blackholed = true;
          this.stats.cut++;
        }
        return true;
      },
      () => settings().lossRate,
      this.random,
      this.stats,
    );
    down.on('data', (chunk: Buffer) => {
      if (!this.conns.has(c)) return;
      if (c.blackholed) this.swallow(c, chunk.length);
      else gate.push(chunk);
    });
    up.on('data', (chunk: Buffer) => {
      if (c.blackholed) this.swallow(c, chunk.length);
      else c.toDown.push(chunk);
    });
  }

  /** The proxy stopped traffic on link from -> this node: counts the link once per cut. */
  private stoppedTraffic(from: string): void {
    if (this.link(from).mode === 'up' || this.stopped.has(from)) return;
    this.stopped.add(from);
    this.stats.linksCut++;
  }

  /** `bytes` of a blackholed connection not forwarded. */
  private swallow(c: Conn, bytes: number): void {
    if (bytes === 0 || !this.conns.has(c)) return;
    this.stats.swallowed += bytes;
    if (c.from !== null) this.stoppedTraffic(c.from);
  }

  private closeConn(c: Conn, byFault: boolean): void {
    if (!this.conns.delete(c)) return;
    if (byFault) this.stats.cut++;
    c.toUp.clear();
    c.toDown.clear();
    c.down.destroy();
    c.up.destroy();
  }
}
