/** A worker thread that runs scenarios for the simulator CLI and tests. */
import { parentPort, workerData } from 'node:worker_threads';
import { runScenario } from './scenario.js';

const data = workerData as {
  nodeCount?: number;
  bugs: string[];
  faults: string[];
  chaosMs: number;
  sessions: boolean;
  diskFaults: boolean;
  membership: boolean;
  processKills: boolean;
  security: boolean;
  logWindow: boolean;
  clockSkew: boolean;
};
parentPort!.on('message', (seed: number) => {
  try {
    run(seed);
  } catch (err) {
    // A scenario that cannot even run is a failure of that seed, reported like a violation.
    const e = err instanceof Error ? err : new Error(String(err));
    parentPort!.postMessage({
      seed,
      nodeCount: data.nodeCount ?? 0,
      violations: [{ property: 'harness-error', node: null, timeMs: 0, detail: e.stack ?? e.message }],
      trace: [],
      stats: {
        simMs: 0,
        steps: 0,
        acked: 0,
        committed: 0,
        maxTerm: 0,
        faults: 0,
        snapshotsSent: 0,
        reads: 0,
        wipes: 0,
        liveWindows: 0,
        batchCuts: 0,
        batchCutsAtTie: 0,
        releasedPastWindow: 0,
      },
    });
  }
});

function run(seed: number): void {
  const result = runScenario({
    seed,
    ...(data.nodeCount !== undefined ? { nodeCount: data.nodeCount } : {}),
    bugs: new Set(data.bugs as never[]),
    faults: data.faults as never[],
    chaosMs: data.chaosMs,
    sessions: data.sessions,
    diskFaults: data.diskFaults,
    membership: data.membership,
    processKills: data.processKills,
    security: data.security,
    logWindow: data.logWindow,
    clockSkew: data.clockSkew,
  });
  parentPort!.postMessage(result);
}
