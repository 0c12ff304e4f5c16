/**
 * `node dist/test/bench/profileSummary.js FILE.cpuprofile [--top=N] [--inclusive] [--from=S] [--to=S]`
 *
 * Where a node's time went, from a V8 CPU profile (`node --cpu-prof`, which `npm run bench --
 * cluster --profile=DIR` passes to the node processes): self time per function (or, with
 * --inclusive, total time including callees), and self time grouped by source area (machines/,
 * actors/, storage/, transport/, node_modules/<pkg>, node:internal, GC, idle). --from/--to keep
 * the samples of one phase (seconds since the profile started).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileLine {
  readonly name: string;
  readonly ms: number;
  readonly pct: number;
}

function areaOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)') return 'idle';
  if (fn === '(program)') return 'program (native, outside JS)';
  if (url === '') return `native ${fn}`;
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `node_modules/${nm[1]}`;
  if (url.startsWith('node:')) return url.startsWith('node:internal/') ? `node:internal/${url.split('/')[1]}` : url;
  const m = /dist\/((?:machines|actors\/sessions|actors|storage|transport|bin|test)\/)/.exec(url);
  if (m) return m[1]!;
  return url;
}

export function summarizeProfile(
  path: string,
  inclusive = false,
  fromS = 0,
  toS = Number.POSITIVE_INFINITY,
): { totalMs: number; functions: ProfileLine[]; areas: ProfileLine[] } {
  const p = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  // Only the samples between fromS and toS seconds after the profile started (a steady phase).
  let t = p.startTime;
  let totalUs = 0;
  for (let k = 0; k < p.samples.length; k++) {
    t += p.timeDeltas[k] ?? 0;
    const at = (t - p.startTime) / 1e6;
    if (at < fromS || at > toS) continue;
    const id = p.samples[k]!;
    const us = p.timeDeltas[k + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + us);
    totalUs += us;
  }
  const fnUs = new Map<string, number>();
  const areaUs = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const cf = n.callFrame;
    const file = cf.url.replace(/^.*\/(dist|node_modules)\//, '$1/');
    const key = `${cf.functionName || '(anonymous)'} ${file}:${cf.lineNumber + 1}`;
    if (!inclusive) fnUs.set(key, (fnUs.get(key) ?? 0) + us);
    const area = areaOf(cf.url, cf.functionName);
    areaUs.set(area, (areaUs.get(area) ?? 0) + us);
    if (inclusive) {
      // Charge every distinct frame on the stack once.
      const seen = new Set<string>();
      for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
        const f = byId.get(cur)!.callFrame;
        const k = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
        if (seen.has(k)) continue;
        seen.add(k);
        fnUs.set(k, (fnUs.get(k) ?? 0) + us);
      }
    }
  }
  const lines = (m: Map<string, number>): ProfileLine[] =>
    [...m.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, ms: us / 1000, pct: (100 * us) / totalUs }));
  return { totalMs: totalUs / 1000, functions: lines(fnUs), areas: lines(areaUs) };
}

function main(): void {
  const args = process.argv.slice(2);
  const top = Number(args.find((a) => a.startsWith('--top='))?.slice(6) ?? 40);
  const inclusive = args.includes('--inclusive');
  const fromS = Number(args.find((a) => a.startsWith('--from='))?.slice(7) ?? 0);
  const toS = Number(args.find((a) => a.startsWith('--to='))?.slice(5) ?? Number.POSITIVE_INFINITY);
  for (const file of args.filter((a) => !a.startsWith('--'))) {
    const s = summarizeProfile(file, inclusive, fromS, toS);
    process.stdout.write(`\n${file}: ${s.totalMs.toFixed(0)} ms profiled\n-- by area (self time)\n`);
    for (const l of s.areas.slice(0, 25)) process.stdout.write(`${l.pct.toFixed(1).padStart(6)}%  ${l.ms.toFixed(0).padStart(7)} ms  ${l.name}\n`);
    process.stdout.write(`-- by function (${inclusive ? 'total' : 'self'} time)\n`);
    for (const l of s.functions.slice(0, top)) process.stdout.write(`${l.pct.toFixed(1).padStart(6)}%  ${l.ms.toFixed(0).padStart(7)} ms  ${l.name}\n`);
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, ''))) main();
