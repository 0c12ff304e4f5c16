/**
 * Peer authentication by a cluster secret (where TLS is off, or besides it): a challenge-response
 * in the handshake that proves, both ways, that the other end holds the secret, without sending it.
 *
 *   acceptor -> dialer   challenge [1, 3, nonceA]              16 random bytes, first frame
 *   dialer -> acceptor   hello     [..., nonceD, proofD, ...]  proofD = HMAC(secret, hello  fields)
 *   acceptor -> dialer   welcome   [..., proofA]               proofA = HMAC(secret, welcome fields)
 *
 * Both MACs are HMAC-SHA256 under the secret over a purpose string (hello or welcome), the cluster
 * ID, the dialer and the acceptor (in that order, whichever end computes it), the channel, both
 * nonces, and the term (and for the hello its address): a proof is good for one connection, one
 * direction and one channel only, and is never valid as the other frame (no replay, no reflection:
 * a dialer never computes a welcome, and the acceptor's nonce is fresh). Proofs are compared with
 * crypto.timingSafeEqual.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { NodeId } from '../../machines/types.js';
import type { HandshakeChannel } from './codec.js';

/** Bytes of a handshake nonce. */
export const NONCE_BYTES = 16;
/** Bytes of a proof (HMAC-SHA256). */
export const PROOF_BYTES = 32;
/** A cluster secret is at least this long (the generated one is 32 random bytes). */
export const SECRET_BYTES_MIN = 16;
/** And at most this long (a file this large is not a secret but a mistake). */
export const SECRET_BYTES_MAX = 1024;

const HELLO_PURPOSE = 'sessionraft/peer-hello/v1';
const WELCOME_PURPOSE = 'sessionraft/peer-welcome/v1';

/** The fields a proof covers. `dialer` sent the hello, `acceptor` the challenge and the welcome. */
export interface ProofFields {
  readonly clusterId: string;
  readonly dialer: NodeId;
  readonly acceptor: NodeId;
  readonly channel: HandshakeChannel;
  readonly acceptorNonce: Uint8Array;
  readonly dialerNonce: Uint8Array;
  /** The sender's term in that frame. */
  readonly term: number;
  /** The hello's address ('' for none; a welcome has none). */
  readonly address?: string;
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/** The proof a dialer puts in its hello. */
export function helloProof(secret: Uint8Array, f: ProofFields): Buffer {
  return mac(secret, HELLO_PURPOSE, f);
}

/** The proof an acceptor puts in its welcome. */
export function welcomeProof(secret: Uint8Array, f: ProofFields): Buffer {
  return mac(secret, WELCOME_PURPOSE, f);
}

/** Whether `proof` is the hello proof for these fields (constant time in the proof's bytes). */
export function verifyHelloProof(secret: Uint8Array, f: ProofFields, proof: Uint8Array): boolean {
  return same(helloProof(secret, f), proof);
}

/** Whether `proof` is the welcome proof for these fields (constant time in the proof's bytes). */
export function verifyWelcomeProof(secret: Uint8Array, f: ProofFields, proof: Uint8Array): boolean {
  return same(welcomeProof(secret, f), proof);
}

function same(expected: Buffer, proof: Uint8Array): boolean {
  // Lengths are public (a proof is 32 bytes or absent); timingSafeEqual needs them equal.
  return proof.length === expected.length && timingSafeEqual(expected, proof);
}

/** Length-prefixed fields: no two different field lists encode to the same bytes. */
function mac(secret: Uint8Array, purpose: string, f: ProofFields): Buffer {
  const h = createHmac('sha256', secret);
  const field = (b: Uint8Array): void => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length, 0);
    h.update(len);
    h.update(b);
  };
  const text = (s: string): void => field(Buffer.from(s, 'utf8'));
  text(purpose);
  text(f.clusterId);
  text(f.dialer);
  text(f.acceptor);
  text(f.channel);
  field(f.acceptorNonce);
  field(f.dialerNonce);
  text(String(f.term));
  text(f.address ?? '');
  return h.digest();
}
