/** A worker thread that runs scenarios for the simulator CLI and tests. */
import { parentPort, workerData } from 'node:worker_threads';
import { runScenario } from './scenario.js';

const data = workerData as { nodeCount?: number; bugs: string[]; faults: string[]; chaosMs: number };
parentPort!.on('message', (seed: number) => {
  const result = runScenario({
    seed,
    ...(data.nodeCount !== undefined ? { nodeCount: data.nodeCount } : {}),
    bugs: new Set(data.bugs as never[]),
    faults: data.faults as never[],
    chaosMs: data.chaosMs,
  });
  parentPort!.postMessage(result);
});
