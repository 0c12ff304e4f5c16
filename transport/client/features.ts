/**
 * Feature flags as the client port and the CLI name them (codec.ts FEATURES): `restore-ahead`, `due-floor-per-file`, `clients-per-user`, `last-admin`,
 * `remove-on-ack`, or `all`. What is on is the cluster's (FeatureEnable entries); what a node
 * supports is its version's.
 */
import { FEATURES, FEATURES_KNOWN, featureNames, type FeatureName } from '../commands/codec.js';
import type { ClientNode } from './node.js';

/** A feature flag's name as the client protocol carries it: a short token (the node checks it against the flags it knows). */
export const FEATURE_NAME = /^[a-z][a-z0-9-]{0,63}$/;

/** The bits of a flag's name, or of every flag for 'all'; null for a name this version does not know. */
export function featureBits(name: string): number | null {
  if (name === 'all') return FEATURES_KNOWN;
  for (const k of Object.keys(FEATURES) as FeatureName[]) if (featureNames[k] === name) return FEATURES[k];
  return null;
}

/** The flags of `bits` by name, in bit order. */
export function featureList(bits: number): string[] {
  return (Object.keys(FEATURES) as FeatureName[]).filter((k) => (bits & FEATURES[k]) !== 0).map((k) => featureNames[k]);
}

/** What `feature list` answers (and `status` shows): the flags this node knows, and those on in the cluster as it applied. */
export function featureView(enabledBits: number): { supported: string[]; enabled: string[] } {
  return { supported: featureList(FEATURES_KNOWN), enabled: featureList(enabledBits) };
}

/** Whether every flag of `bits` is on, as `node` applied. */
export function featureOn(node: Pick<ClientNode, 'features'>, bits: number): boolean {
  return (node.features() & bits) === bits;
}
