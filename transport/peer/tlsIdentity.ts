/**
 * Mutual TLS: the options both ends use, and the check that a peer certificate names a node.
 * A certificate names node N when its subject CN is N or it has a DNS subjectAltName equal to N.
 */
import type { PeerCertificate } from 'node:tls';
import type { NodeId } from '../../machines/types.js';
import { TransportErrorCode } from '../wire/errors.js';
import type { TlsOptions } from './options.js';

/** Options for https.createServer: client certificates required and verified, TLS 1.3 only. */
export function serverTlsOptions(tls: TlsOptions, handshakeTimeoutMs: number) {
  return {
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca as string | Buffer | Array<string | Buffer>,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3' as const,
    handshakeTimeout: handshakeTimeoutMs,
  };
}

/** Options for the ws client: our certificate, the cluster CA, and a server identity check by node ID. */
export function clientTlsOptions(tls: TlsOptions, peerId: NodeId) {
  return {
    cert: tls.cert,
    key: tls.key,
    ca: tls.ca as string | Buffer | Array<string | Buffer>,
    rejectUnauthorized: true,
    minVersion: 'TLSv1.3' as const,
    // Peers are addressed by IP or host name, but identified by node ID: check the ID instead.
    checkServerIdentity: (_host: string, cert: PeerCertificate): Error | undefined =>
      certificateNames(cert, peerId)
        ? undefined
        : Object.assign(new Error(`peer certificate does not name node ${peerId}`), { code: TransportErrorCode.certIdentity }),
  };
}

/** Whether the certificate's CN or one of its DNS SANs equals `nodeId`. */
export function certificateNames(cert: PeerCertificate | undefined | null, nodeId: NodeId): boolean {
  if (!cert || typeof cert !== 'object') return false;
  const cn = cert.subject?.CN;
  if (cn === nodeId || (Array.isArray(cn) && cn.includes(nodeId))) return true;
  const san = cert.subjectaltname;
  if (typeof san === 'string') {
    for (const part of san.split(',')) {
      if (part.trim() === `DNS:${nodeId}`) return true;
    }
  }
  return false;
}
