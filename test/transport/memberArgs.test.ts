/**
 * The client library checks a member's node ID as the node does (isNodeId): a name of
 * Object.prototype (`constructor`, `__proto__`, ...) is refused before anything is sent, with
 * CLIENT_ERR_BAD_ARGUMENT (2026-12-07; the node answered CLIENT_ERR_MALFORMED, whose hint blames
 * the library's version). No node listens at the endpoint: nothing is dialed.
 */
import { expect } from 'chai';
import { createClient } from '../../transport/client/client.js';
import { ClientError, ClientErrorCode } from '../../transport/client/errors.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ClientError) return err.code;
    throw err;
  }
  return 'resolved';
}

describe('client library: member IDs', function () {
  it('a name of Object.prototype is CLIENT_ERR_BAD_ARGUMENT for add, promote and remove', async function () {
    const c = createClient({ endpoints: ['127.0.0.1:9'], clusterId: 'member-args', operationTimeoutMs: 2000, ignoreEnvironment: true });
    try {
      expect(await codeOf(c.addLearner('constructor', '127.0.0.1:1:2:3'))).to.equal(ClientErrorCode.badArgument);
      expect(await codeOf(c.promote('__proto__'))).to.equal(ClientErrorCode.badArgument);
      expect(await codeOf(c.removeMember('toString'))).to.equal(ClientErrorCode.badArgument);
      expect(await codeOf(c.promote('n 4'))).to.equal(ClientErrorCode.badArgument);
    } finally {
      await c.close();
    }
  });
});
