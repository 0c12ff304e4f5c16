/**
 * The leak report (leakReport.ts, mocha's root afterAll hook) names only what still keeps the event
 * loop alive. Each case runs in a child process of its own, so that nothing of this mocha run is
 * counted: it imports the compiled hook, leaves one TCP server listening or closes it, and calls
 * the hook the way mocha does.
 *
 * Why: `test/node/firstUserAdmin.test.js` printed "TCPServerWrap, TCPServerWrap, TCPServerWrap" in
 * about one run of three. Those were the stopped node's raft, client and admin servers, closed
 * (their ports bound again at once) but with their handles released only in the event loop's
 * close phase, after the turn in which the report ran.
 */
import { execFile } from 'node:child_process';
import { expect } from 'chai';

const hookUrl = new URL('./leakReport.js', import.meta.url).href;

/** A node process starting is well under a second; 20 s covers a loaded 2-core machine. */
const CHILD_TIMEOUT_MS = 20_000;

/**
 * Runs the hook in a child that left a server `open` or `closed` it (its close callback awaited);
 * resolves with the TCP servers the report named. Only those: the child's loading of its modules
 * may still have a file's close in flight (a "CloseReq"), which is not what this test is about.
 */
function serversReported(server: 'open' | 'closed'): Promise<string[]> {
  const script = `
    import { createServer } from 'node:net';
    import { mochaHooks } from ${JSON.stringify(hookUrl)};
    const s = createServer();
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    if (${JSON.stringify(server)} === 'closed') await new Promise((r) => s.close(r));
    await mochaHooks.afterAll();
    s.close();
  `;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script], { timeout: CHILD_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${String(err)}\n${stderr}`));
      else
        resolve(
          /^leak report: .*$/m
            .exec(stderr)?.[0]
            .split(/[:,] /)
            .filter((r) => r === 'TCPServerWrap') ?? [],
        );
    });
  });
}

describe('leak report (mocha root afterAll hook)', function () {
  this.timeout(2 * CHILD_TIMEOUT_MS);

  it('does not report a server whose close() called back (its handle goes in the close phase)', async () => {
    expect(await serversReported('closed')).to.deep.equal([]);
  });

  it('reports a server still listening', async () => {
    expect(await serversReported('open')).to.deep.equal(['TCPServerWrap']);
  });
});
