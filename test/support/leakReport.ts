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
export const mochaHooks = {
  afterAll(): void {
    // mocha's own stdout and stderr are always there (a pipe or a terminal); a child process
    // left running shows as ProcessWrap.
    const active = process.getActiveResourcesInfo().filter((r) => r !== 'PipeWrap' && r !== 'TTYWrap');
    if (active.length > 0) process.stderr.write(`leak report: still keeping the event loop alive after the last test: ${active.join(', ')}\n`);
  },
};
