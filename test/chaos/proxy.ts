/**
 * A userspace TCP proxy for one DIRECTED peer link (from -> to) of the fault harness.
 *
 * The peer transport dials one connection per (sender, receiver, channel) and carries messages one
 * way only (docs/transport.md): the dialer sends, the acceptor answers the handshake and pongs. So
 * if node A's configuration names this proxy as B's raft address, every byte A sends to B passes
 * here, and cutting the proxy cuts exactly A -> B, nothing else. The harness runs one proxy per
 * ordered pair of nodes.
 *
 * Modes:
 * - `up`: bytes are forwarded, optionally delayed (per direction, order kept) and with message loss.
 * - `reset`: every connection is closed at once and new ones are closed on accept (a refused link:
 *   the sender notices at once and reconnects with backoff, ≤ 100 ms, failing until healed).
 * - `blackhole`: connections stay open but nothing is forwarded either way and new connections get
 *   no upstream (a silent partition, like a dropped route: the sender notices only through its
 *   keep-alive or handshake timeouts). Healing closes the blackholed connections (their streams
 *   lost bytes mid-frame and cannot be resumed).
 *
 * Loss is message loss, not byte loss: the sender-to-receiver direction is cut into WebSocket
 * frames (RFC 6455 §5.2; after the HTTP upgrade) and whole messages (all their fragments) are
 * dropped with probability `lossRate`, so the stream stays well-formed and the receiver simply never
 * sees those messages, as with a lossy network under a datagram transport. The first message of a
 * connection (the transport's hello) and control frames (ping, pong, close) are never dropped.
 */
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
  /** Connections closed by the proxy because of a fault (reset, heal of a blackhole). */
  cut: number;
  /** Messages dropped (loss). */
  dropped: number;
  /** Messages forwarded sender -> receiver. */
  forwarded: number;
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

  clear(): void {
    this.queue.length = 0;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.timer !== null || this.queue.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const now = Date.now();
      while (this.queue.length > 0 && this.queue[0]!.at <= now) {
        const { buf } = this.queue.shift()!;
        if (!this.out.destroyed) this.out.write(buf);
      }
      this.arm();
    }, Math.max(0, this.queue[0]!.at - Date.now()));
  }
}

/**
 * Splits the sender's byte stream into the HTTP upgrade request and then whole WebSocket frames,
 * and decides per message whether it is forwarded. No recursion, no copies beyond reassembly.
 */
class FrameGate {
  private buf: Buffer = Buffer.alloc(0);
  private upgraded = false;
  private messages = 0;
  /** Whether the data message in progress (between its first frame and FIN) is dropped. */
  private dropping = false;

  constructor(
    private readonly emit: (b: Buffer) => void,
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
        this.dropping = this.messages > 0 && this.random() < this.lossRate();
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
  up: Socket | null;
  blackholed: boolean;
  toUp: DelayLine | null;
  toDown: DelayLine | null;
}

export class LinkProxy {
  private server: Server | null = null;
  private readonly conns = new Set<Conn>();
  private settings: LinkSettings = healthyLink;
  readonly stats: LinkStats = { accepted: 0, cut: 0, dropped: 0, forwarded: 0 };
  port = 0;

  constructor(
    readonly from: string,
    readonly to: string,
    private readonly target: { readonly host: string; readonly port: number },
    private readonly random: () => number = Math.random,
  ) {}

  /** Binds 127.0.0.1 on a free port; resolves with it. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer({ noDelay: true }, (s) => this.accept(s));
      this.server = server;
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        this.port = (server.address() as { port: number }).port;
        resolve(this.port);
      });
    });
  }

  get current(): LinkSettings {
    return this.settings;
  }

  /** Changes the link's settings; applies at once to open connections. */
  set(s: Partial<LinkSettings>): void {
    const prev = this.settings;
    this.settings = { ...prev, ...s };
    const mode = this.settings.mode;
    if (mode === prev.mode) return;
    for (const c of [...this.conns]) {
      if (mode === 'reset') this.closeConn(c, true);
      else if (mode === 'blackhole') {
        c.blackholed = true;
        c.toUp?.clear();
        c.toDown?.clear();
      } else if (c.blackholed) this.closeConn(c, true);
    }
  }

  heal(): void {
    this.set(healthyLink);
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
    if (this.server === null || this.settings.mode === 'reset') {
      this.stats.cut++;
      down.destroy();
      return;
    }
    const c: Conn = { down, up: null, blackholed: this.settings.mode === 'blackhole', toUp: null, toDown: null };
    this.conns.add(c);
    down.on('close', () => this.closeConn(c, false));
    if (c.blackholed) {
      down.on('data', () => {}); // swallowed
      return;
    }
    const up = connect({ host: this.target.host, port: this.target.port, noDelay: true });
    c.up = up;
    up.on('error', () => {});
    up.on('close', () => this.closeConn(c, false));
    const settings = (): LinkSettings => this.settings;
    c.toUp = new DelayLine(up, settings, this.random);
    c.toDown = new DelayLine(down, settings, this.random);
    const gate = new FrameGate(
      (b) => c.toUp!.push(b),
      () => this.settings.lossRate,
      this.random,
      this.stats,
    );
    down.on('data', (chunk: Buffer) => {
      if (!c.blackholed) gate.push(chunk);
    });
    up.on('data', (chunk: Buffer) => {
      if (!c.blackholed) c.toDown!.push(chunk);
    });
  }

  private closeConn(c: Conn, byFault: boolean): void {
    if (!this.conns.delete(c)) return;
    if (byFault) this.stats.cut++;
    c.toUp?.clear();
    c.toDown?.clear();
    c.down.destroy();
    c.up?.destroy();
  }
}
