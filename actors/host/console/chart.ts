/**
 * The Raft statechart as data, for the console (`GET /console/chart.json`): read at run time from
 * the XState machine object that machines/raftMachine.ts builds (its state nodes, their `on`
 * transitions, `always` and `after`), so the drawing can never drift from the code.
 */
import type { AnyStateNode } from 'xstate';
import type { RaftCore } from '../../../machines/core.js';
import { createRaftMachine } from '../../../machines/raftMachine.js';

/** One transition of the chart: from a state (or from any state, for the root's), on an event. */
interface ChartTransition {
  /** The source state's key; '*' for a transition the root handles (any state). */
  readonly source: string;
  /** The target state's key; null for a transition that stays (actions only). */
  readonly target: string | null;
  /** The event type; `always` for an eventless transition, `after <delay>` for a delayed one. */
  readonly event: string;
  readonly guard: string | null;
  readonly actions: readonly string[];
  /** Leaves and re-enters the state (its entry actions run again). */
  readonly reenter: boolean;
}

interface ChartJson {
  readonly id: string;
  readonly initial: string | null;
  readonly states: readonly { readonly key: string; readonly entry: readonly string[]; readonly exit: readonly string[] }[];
  readonly transitions: readonly ChartTransition[];
}

/** Names of actions or guards, whatever form XState keeps them in (string, `{ type }`, function). */
function nameOf(x: unknown): string | null {
  if (x === undefined || x === null) return null;
  if (typeof x === 'string') return x;
  if (typeof x === 'function') return x.name.length > 0 ? x.name : 'inline';
  if (typeof x === 'object' && typeof (x as { type?: unknown }).type === 'string') return (x as { type: string }).type;
  return 'inline';
}

function names(xs: unknown): string[] {
  if (!Array.isArray(xs)) return [];
  return xs.map(nameOf).filter((n): n is string => n !== null);
}

interface TransitionLike {
  readonly target?: readonly AnyStateNode[];
  readonly guard?: unknown;
  readonly actions?: unknown;
  readonly reenter?: boolean;
  readonly eventType?: string;
  readonly delay?: unknown;
}

function transitionOf(source: string, event: string, t: TransitionLike): ChartTransition {
  const target = t.target?.[0]?.key ?? null;
  return { source, target, event, guard: nameOf(t.guard), actions: names(t.actions), reenter: t.reenter === true };
}

/** The chart of a flat or one-level machine: the root's children are the states. */
export function chartOf(machine: { readonly root: AnyStateNode }): ChartJson {
  const root = machine.root;
  const transitions: ChartTransition[] = [];
  const collect = (node: AnyStateNode, source: string): void => {
    for (const [event, ts] of node.transitions as Map<string, readonly TransitionLike[]>) {
      // Delayed transitions appear in `transitions` under xstate's internal event type; `after` names them.
      if (event.startsWith('xstate.after')) continue;
      for (const t of ts) transitions.push(transitionOf(source, event, t));
    }
    for (const t of (node.always ?? []) as readonly TransitionLike[]) transitions.push(transitionOf(source, 'always', t));
    for (const t of (node.after ?? []) as readonly TransitionLike[]) transitions.push(transitionOf(source, `after ${String(t.delay)}`, t));
  };
  collect(root, '*');
  const states = Object.values(root.states as Record<string, AnyStateNode>).map((s) => {
    collect(s, s.key);
    return { key: s.key, entry: names(s.entry), exit: names(s.exit) };
  });
  const initial = (root.initial as { target?: readonly AnyStateNode[] } | undefined)?.target?.[0]?.key ?? null;
  return { id: root.id, initial, states, transitions };
}

let raftChart: ChartJson | null = null;

/**
 * The Raft machine's chart. The machine is built only to be read: its guards and actions close
 * over the core, which reading the definition never calls, so no core is given.
 */
export function raftChartJson(): ChartJson {
  raftChart ??= chartOf(createRaftMachine(null as unknown as RaftCore));
  return raftChart;
}
