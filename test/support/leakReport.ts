/**
 * A mocha root hook (loaded by .mocharc.json): after the last test, report on stderr what still
 * keeps the event loop alive, then mocha exits (`exit: true`).
 *
 * Why: one full run in four on 2026-12-03 printed "895 passing" and then never exited. The
 * inspector found no live referenced timer, yet Node counted one ("Timeout" in
 * process.getActiveResourcesInfo()), and three later runs exited by themselves. A suite that
 * hangs after passing makes CI time out, so mocha exits; this report keeps such a leak visible
 * in the log instead of hiding it.
 */
import { ChildProcess } from 'node:child_process';

/** Child processes whose exit Node has seen (`exitCode` or `signalCode` set) and whose handle is still listed. */
function exitedChildren(): number {
  // process._getActiveHandles is undocumented but present since Node 0.x (wtfnode uses it); without
  // it nothing is left out.
  const get = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  if (typeof get !== 'function') return 0;
  const handles = get.call(process);
  return handles.filter((h) => h instanceof ChildProcess && (h.exitCode !== null || h.signalCode !== null)).length;
}

export const mochaHooks = {
  afterAll(): void {
    // mocha's own stdout and stderr are always there (a pipe or a terminal); a child process
    // left running shows as ProcessWrap.
    const active = process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap' && r !== 'TTYWrap');
    // A child process that exited and was awaited by the last hook (a suite killing its nodes in
    // `after`) still has its handle until the event loop's close phase, after this turn: it is
    // closing, not running, so it is not counted (it was reported as "ProcessWrap" before).
    for (let k = exitedChildren(); k > 0; k--) {
      const at = active.indexOf('ProcessWrap');
      if (at >= 0) active.splice(at, 1);
    }
    if (active.length > 0) process.stderr.write(`leak report: still keeping the event loop alive after the last test: ${active.join(', ')}\n`);
  },
};
