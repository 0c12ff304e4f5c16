/**
 * The simulator's state machine: it folds every applied command into a hash chain, so two nodes
 * that applied the same commands in the same order have the same (index, hash), and a snapshot is
 * just those numbers.
 */
import type { StateMachine } from '../../actors/raft/stateMachine.js';
import type { Entry, SnapshotMeta } from '../../machines/types.js';
import { EntryKind } from '../../machines/types.js';

export function fnv1a(data: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let k = 0; k < data.length; k++) {
    h ^= data[k]!;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

export function mix(h: number, a: number, b: number, c: number): number {
  h = Math.imul(h ^ a, 0x9e3779b1) >>> 0;
  h = Math.imul(h ^ b, 0x85ebca77) >>> 0;
  h = Math.imul(h ^ c, 0xc2b2ae3d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

export class HashChainMachine implements StateMachine {
  index = 0;
  hash = 0;
  commands = 0;

  apply(entries: readonly Entry[]): readonly unknown[] {
    const results: number[] = new Array(entries.length);
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index !== this.index + 1) throw new Error(`state machine applied ${e.index} after ${this.index}`);
      this.index = e.index;
      if (e.kind === EntryKind.command) {
        this.hash = mix(this.hash, e.index, e.term, fnv1a(e.data));
        this.commands++;
      }
      results[k] = this.hash;
    }
    return results;
  }

  snapshot(): Uint8Array {
    const out = new Uint8Array(24);
    const v = new DataView(out.buffer);
    v.setFloat64(0, this.index);
    v.setUint32(8, this.hash);
    v.setFloat64(12, this.commands);
    return out;
  }

  restore(meta: SnapshotMeta, data: Uint8Array): void {
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.index = v.getFloat64(0);
    this.hash = v.getUint32(8);
    this.commands = v.getFloat64(12);
    if (this.index !== meta.index) throw new Error(`snapshot data index ${this.index} differs from its meta ${meta.index}`);
  }
}
