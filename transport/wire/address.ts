/** Address helpers: which hosts are loopback (safe to serve without TLS). */
import { isIP } from 'node:net';

/** True for 127.0.0.0/8, ::1, an IPv4-mapped 127.x address, and the name `localhost`. */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const family = isIP(bare);
  if (family === 4) return bare.startsWith('127.');
  if (family === 6) {
    const lower = bare.toLowerCase();
    if (lower === '::1' || lower === '0:0:0:0:0:0:0:1') return true;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
    return mapped !== null && mapped[1]!.startsWith('127.');
  }
  return false;
}

/** host:port in URL form (IPv6 literals bracketed). */
export function hostForUrl(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}

/** Where a member listens: its peer (raft), client and admin ports on one host. */
export interface MemberAddress {
  readonly host: string;
  readonly raftPort: number;
  readonly clientPort: number;
  readonly adminPort: number;
}

/**
 * A member's address as replicated in configuration entries: `host:raftPort:clientPort:adminPort`
 * (an IPv6 host bracketed: `[::1]:7001:7101:7201`).
 */
export function formatMemberAddress(a: MemberAddress): string {
  return `${isIP(a.host) === 6 ? `[${a.host}]` : a.host}:${a.raftPort}:${a.clientPort}:${a.adminPort}`;
}

/** The inverse of formatMemberAddress; null when `s` is not one (every port 1..65535). */
export function parseMemberAddress(s: string): MemberAddress | null {
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5}):(\d{1,5}):(\d{1,5})$/.exec(s);
  if (m === null) return null;
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  const ports = [Number(m[2]), Number(m[3]), Number(m[4])];
  if (ports.some((p) => p < 1 || p > 65535)) return null;
  return { host, raftPort: ports[0]!, clientPort: ports[1]!, adminPort: ports[2]! };
}
