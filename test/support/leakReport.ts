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
import { Server } from 'node:net';

/** The owners of the handles Node still lists (empty without process._getActiveHandles). */
function activeHandles(): unknown[] {
  // process._getActiveHandles is undocumented but present since Node 0.x (wtfnode uses it); without
  // it nothing is left out.
  const get = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  return typeof get === 'function' ? get.call(process) : [];
}

/** Child processes whose exit Node has seen (`exitCode` or `signalCode` set) and whose handle is still listed. */
function exitedChildren(): number {
  return activeHandles().filter((h) => h instanceof ChildProcess && (h.exitCode !== null || h.signalCode !== null)).length;
}

/** TCP servers closed (close() called: no longer listening, port released) whose handle is still listed. */
function closedServers(): number {
  return activeHandles().filter((h) => h instanceof Server && !h.listening).length;
}

/** Takes `n` of `name` out of `active` (as many as there are). */
function discount(active: string[], name: string, n: number): void {
  for (let k = n; k > 0; k--) {
    const at = active.indexOf(name);
    if (at >= 0) active.splice(at, 1);
  }
}

export const mochaHooks = {
  afterAll(): void {
    // mocha's own stdout and stderr are always there (a pipe or a terminal); a child process
    // left running shows as ProcessWrap.
    const active = process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap' && r !== 'TTYWrap');
    // A child process that exited and was awaited by the last hook (a suite killing its nodes in
    // `after`) still has its handle until the event loop's close phase, after this turn: it is
    // closing, not running, so it is not counted (it was reported as "ProcessWrap" before).
    discount(active, 'ProcessWrap', exitedChildren());
    // Likewise a server whose close() called back: Node emits 'close' before the close phase that
    // releases its handle (its port is free at once). Until 2026-12-07 such servers were counted:
    // test/node/firstUserAdmin.test.js reported "TCPServerWrap" three times in about one run of
    // three, the raft, client and admin servers of the node its last `after` had just stopped.
    // (Waiting for the close phase instead would need an async hook, and mocha times those with a
    // timer of its own, which would then be counted.)
    discount(active, 'TCPServerWrap', closedServers());
    if (active.length > 0) process.stderr.write(`leak report: still keeping the event loop alive after the last test: ${active.join(', ')}\n`);
  },
};
