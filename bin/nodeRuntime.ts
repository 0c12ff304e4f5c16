/**
 * How sessionraft starts its node processes (`npm start`'s supervisor, the benchmarks): the Node.js
 * flags and environment that keep a node's memory near what it uses (issue 18). A flag or variable
 * the operator already gave wins.
 *
 * - `--max-semi-space-size=2` (MiB): under load V8 grows each semi-space of its young generation to
 *   16 MiB, and the young generation holds three of them; a node's heap in use is 20-45 MB. The
 *   leader of the 128 B x 128 append row peaked at 166-189 MB with V8's default, 141-154 MB with 4
 *   MiB and 136-147 MB with 2 (paired with 4: about 4 MB less for about 4 % more CPU per command;
 *   docs/performance.md, "On a quiet box"). Raise it for throughput when memory is not the limit.
 * - `--initial-old-space-size=48` (MiB): V8 starts a full (mark-compact) collection when the old
 *   generation plus the external memory allocated since the last one (ArrayBuffers: socket reads,
 *   WebSocket frames, session arenas) reaches a limit it derives from the live heap. A follower's
 *   heap is small (15-20 MB live) and allocates few objects but much external memory at 4 KiB
 *   writes, so that limit was reached 9-13 times a second: a third of the follower's CPU went to
 *   marking and sweeping. This flag sets a floor under the limit (V8's `min_old_generation_size_`:
 *   "allow V8 to skip full GCs below that threshold"); it never caps the heap. With 48 MiB the
 *   followers of the 4 KiB x 128 row made about 4 full collections a second, and CPU per command
 *   fell from 145-149 to 111 µs with the followers' peak RSS unchanged and the leader's 9-18 MB
 *   higher in paired runs; 32 MiB did not help; 64 MiB did as well as 48 for up to 37 MB more on
 *   a follower (docs/performance.md, "Full collections on the followers"). Node.js refuses this
 *   flag in NODE_OPTIONS: give it on the command line (`--initial-old-space-size=0` turns it off).
 * - `--interrupt-budget=8192` (bytes of bytecode): how much of a function's bytecode V8 runs between
 *   two looks at whether to optimize it (V8's default: 67,584). A node runs many small functions a
 *   few thousand times a second at light load (a Raft round wakes four processes and runs each
 *   one's whole receive, step and answer path once); with the default they stay longer in the
 *   interpreter and the baseline tier. Paired against the default on the development box
 *   (2026-12-05, docs/performance.md, "V8's tier-up budget"): 128 B at 1 in flight p50 lower in
 *   11 of 12 pairs and CPU per write lower in all 12 (about 13 % at the median); the delayed
 *   benchmark's 16-producer row ahead in 6 of 6; no difference at 128 in flight, at 1,000 items/s
 *   falling due, in RSS or in a million-entry restart. 4,096 and 16,384 did as well (a plateau).
 * - `--no-parallel-scavenge`, only where the nodes share their cores (fewer than two cores a node on
 *   the machine: `npm start`'s three nodes on the development box's two): V8 splits each young-generation
 *   collection between the main thread and helper threads, and where every core is busy with
 *   another node the main thread waits for helpers that are not running. Paired on the development
 *   box (2026-12-06, docs/performance.md, "Scavenges on one thread where nodes share cores"): the
 *   delayed benchmark's 128-producer row ahead in 8 of 10 pairs and its 16-producer row in 8 of 10
 *   (about +11 % on average in the first series of each), the leader's collection pauses shorter in
 *   every pair where they were read. The 4 KiB x 128 write row's CPU per write was 9 % higher on
 *   average over eleven pairs (lower in 4), but level once divided by the client's own CPU per write
 *   (which no node flag touches: the box was slower in those runs), with the leader's pauses
 *   shorter in all eleven.
 * - `MALLOC_ARENA_MAX=2`: glibc gives threads (libuv's pool, V8's helpers) their own malloc arenas,
 *   up to eight per core, each keeping freed memory; two arenas took about 10 MB off the leader.
 *
 * A node started by hand (`sessionraft node`) gets the interrupt budget from inside the process
 * (`applyTierUpBudget`), and none of the others unless it is started with them: `MALLOC_ARENA_MAX=2
 * node --max-semi-space-size=2 --initial-old-space-size=48 dist/bin/sessionraft.js node ...` (the
 * semi-space flag may also come from NODE_OPTIONS), as docs/operations.md says.
 */
import { availableParallelism } from 'node:os';
import { setFlagsFromString } from 'node:v8';

/** Young-generation semi-space of a node, MiB. */
export const semiSpaceMiBDefault = 2;
/** Floor under V8's old-generation limit (the heap size below which it skips full collections), MiB. */
export const oldSpaceFloorMiBDefault = 48;
/** V8's interrupt budget of a node: bytecode bytes a function runs between two tier-up checks. */
export const tierUpBudgetBytesDefault = 8192;
/** Below this many cores per node on the machine, nodes collect their young generation on one thread. */
export const coresPerNodeForParallelScavenge = 2;
/** glibc malloc arenas of a node process. */
export const mallocArenasDefault = 2;

/** A V8 flag's name as Node.js reads it: leading dashes dropped, `_` as `-` (`--initial_old_space_size=8` -> `initial-old-space-size`). */
function flagName(arg: string): string {
  const eq = arg.indexOf('=');
  return (eq < 0 ? arg : arg.slice(0, eq)).replace(/^-+/, '').replace(/_/g, '-');
}

/** Where the nodes run: how many share this machine, and its cores (os.availableParallelism()). */
export interface NodePlacement {
  readonly nodesOnMachine: number;
  readonly cores: number;
}

/**
 * `given` (Node.js flags) with the defaults the operator did not set, here or in NODE_OPTIONS, in
 * any spelling Node.js accepts. `--initial-heap-size` counts as setting the old-space floor (V8
 * would let ours override it). With `placement`, `--no-parallel-scavenge` where the nodes share
 * their cores, unless the flags name `--parallel-scavenge` either way.
 */
export function nodeExecArgv(given: readonly string[], nodeOptions: string | undefined = process.env.NODE_OPTIONS, placement?: NodePlacement): string[] {
  const names = new Set([...given, ...(nodeOptions ?? '').split(/\s+/).filter((a) => a.startsWith('-'))].map(flagName));
  const out = [...given];
  if (!names.has('max-semi-space-size')) out.push(`--max-semi-space-size=${semiSpaceMiBDefault}`);
  if (!names.has('initial-old-space-size') && !names.has('initial-heap-size')) out.push(`--initial-old-space-size=${oldSpaceFloorMiBDefault}`);
  if (!names.has('interrupt-budget')) out.push(`--interrupt-budget=${tierUpBudgetBytesDefault}`);
  if (placement !== undefined && sharesCores(placement) && !names.has('parallel-scavenge') && !names.has('no-parallel-scavenge'))
    out.push('--no-parallel-scavenge');
  return out;
}

/**
 * For a node started by hand (`sessionraft node` without our flags): V8's interrupt budget set from
 * inside the process, unless its own flags set one. V8 reads the budget each time it refills a
 * function's counter, so setting it at start has the flag's effect (test/node/nodeRuntime.test.ts
 * shows a function optimized after the same number of calls either way). True when it set it.
 */
export function applyTierUpBudget(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => flagName(a) === 'interrupt-budget')) return false;
  setFlagsFromString(`--interrupt-budget=${tierUpBudgetBytesDefault}`);
  return true;
}

/** `nodesOnMachine` nodes started on this machine, with its cores. */
export function localPlacement(nodesOnMachine: number): NodePlacement {
  return { nodesOnMachine, cores: availableParallelism() };
}

/** Fewer than `coresPerNodeForParallelScavenge` cores per node: a GC helper thread would wait for a core another node holds. */
export function sharesCores(p: NodePlacement): boolean {
  return p.cores < p.nodesOnMachine * coresPerNodeForParallelScavenge;
}

/** `env` with MALLOC_ARENA_MAX unless it is set. */
export function nodeEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return env.MALLOC_ARENA_MAX === undefined || env.MALLOC_ARENA_MAX === '' ? { ...env, MALLOC_ARENA_MAX: String(mallocArenasDefault) } : { ...env };
}
