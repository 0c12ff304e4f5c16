/**
 * bin/nodeRuntime.ts: the memory defaults `npm start` and the benchmarks give their node processes,
 * and the operator's own flags and variables winning over them.
 */
import { expect } from 'chai';
import { mallocArenasDefault, nodeEnv, nodeExecArgv, semiSpaceMiBDefault } from '../../bin/nodeRuntime.js';

describe('node runtime defaults for spawned nodes (issue 18)', function () {
  it('adds the semi-space flag unless the flags or NODE_OPTIONS set it', function () {
    expect(nodeExecArgv([], '')).to.deep.equal([`--max-semi-space-size=${semiSpaceMiBDefault}`]);
    expect(nodeExecArgv(['--enable-source-maps'], undefined)).to.deep.equal(['--enable-source-maps', `--max-semi-space-size=${semiSpaceMiBDefault}`]);
    expect(nodeExecArgv(['--max-semi-space-size=16'], '')).to.deep.equal(['--max-semi-space-size=16']);
    expect(nodeExecArgv([], '--max-old-space-size=256 --max-semi-space-size=8')).to.deep.equal([]);
  });

  it('sets MALLOC_ARENA_MAX unless it is set, and keeps every other variable', function () {
    expect(nodeEnv({ PATH: '/bin' })).to.deep.equal({ PATH: '/bin', MALLOC_ARENA_MAX: String(mallocArenasDefault) });
    expect(nodeEnv({ PATH: '/bin', MALLOC_ARENA_MAX: '' })).to.deep.equal({ PATH: '/bin', MALLOC_ARENA_MAX: String(mallocArenasDefault) });
    expect(nodeEnv({ MALLOC_ARENA_MAX: '8' })).to.deep.equal({ MALLOC_ARENA_MAX: '8' });
  });
});
