/** Shared helpers for the session store tests: a log to feed stores, temp directories, directory dumps. */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeCommand, type Command } from '../../machines/commands.js';
import { EntryKind, type Entry, type SnapshotMeta } from '../../machines/types.js';
import type { SessionsStore } from '../../actors/sessions/store.js';

export function tempDir(prefix = 'sessions-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Every file under `root/sub`, path (relative to root) -> bytes, sorted by path. */
export function dirFiles(root: string, sub = 'data'): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (rel: string): void => {
    let names: string[];
    try {
      names = readdirSync(join(root, rel)).sort();
    } catch {
      return;
    }
    for (const n of names) {
      const p = `${rel}/${n}`;
      if (statSync(join(root, p)).isDirectory()) walk(p);
      else out.set(p, new Uint8Array(readFileSync(join(root, p))));
    }
  };
  walk(sub);
  return out;
}

export function sameFiles(a: Map<string, Uint8Array>, b: Map<string, Uint8Array>): string | null {
  const names = new Set([...a.keys(), ...b.keys()]);
  for (const n of [...names].sort()) {
    const x = a.get(n);
    const y = b.get(n);
    if (x === undefined || y === undefined) return `${n} only on ${x === undefined ? 'the second' : 'the first'}`;
    if (x.length !== y.length) return `${n}: ${x.length} vs ${y.length} bytes`;
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return `${n}: differs at byte ${i}`;
  }
  return null;
}

/** A replicated log for tests: entries with increasing index, in the current term. */
export class TestLog {
  readonly entries: Entry[] = [];
  term = 1;

  get lastIndex(): number {
    return this.entries.length;
  }

  push(cmd: Command | Uint8Array): Entry {
    const data = cmd instanceof Uint8Array ? cmd : encodeCommand(cmd);
    const e: Entry = { index: this.entries.length + 1, term: this.term, kind: EntryKind.command, data };
    this.entries.push(e);
    return e;
  }

  noop(): Entry {
    const e: Entry = { index: this.entries.length + 1, term: this.term, kind: EntryKind.noop, data: new Uint8Array(0) };
    this.entries.push(e);
    return e;
  }

  /** Entries (from, to], 1-based indexes. */
  slice(fromIndex: number, toIndex = this.entries.length): Entry[] {
    return this.entries.slice(fromIndex, toIndex);
  }

  meta(index: number): SnapshotMeta {
    return { index, term: index === 0 ? 0 : this.entries[index - 1]!.term, membership: { voters: ['n1'], learners: [] } };
  }
}

/** Apply every entry of `log` the store has not applied yet. */
export function catchUp(store: SessionsStore, log: TestLog): unknown[] {
  const from = store.appliedIndex;
  if (from >= log.lastIndex) return [];
  return [...store.apply(log.slice(from))];
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

export function text(b: Uint8Array): string {
  return new TextDecoder().decode(b);
}
