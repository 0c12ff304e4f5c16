/**
 * bin/nodeRuntime.ts: the memory defaults `npm start` and the benchmarks give their node processes,
 * and the operator's own flags and variables winning over them.
 */
import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { mallocArenasDefault, nodeEnv, nodeExecArgv, oldSpaceFloorMiBDefault, semiSpaceMiBDefault } from '../../bin/nodeRuntime.js';

describe('node runtime defaults for spawned nodes (issue 18)', function () {
  const semi = `--max-semi-space-size=${semiSpaceMiBDefault}`;
  const floor = `--initial-old-space-size=${oldSpaceFloorMiBDefault}`;

  it('adds the semi-space and old-space floor flags unless the flags or NODE_OPTIONS set them', function () {
    expect(nodeExecArgv([], '')).to.deep.equal([semi, floor]);
    expect(nodeExecArgv(['--enable-source-maps'], undefined)).to.deep.equal(['--enable-source-maps', semi, floor]);
    expect(nodeExecArgv(['--max-semi-space-size=16'], '')).to.deep.equal(['--max-semi-space-size=16', floor]);
    expect(nodeExecArgv(['--initial-old-space-size=128'], '')).to.deep.equal(['--initial-old-space-size=128', semi]);
    expect(nodeExecArgv([], '--max-old-space-size=256 --max-semi-space-size=8')).to.deep.equal([floor]);
    expect(nodeExecArgv(['--initial-old-space-size=0'], '--max-semi-space-size=8')).to.deep.equal(['--initial-old-space-size=0']);
  });

  it('recognises every spelling Node.js accepts, and --initial-heap-size as setting the floor', function () {
    expect(nodeExecArgv(['--initial_old_space_size=200'], '')).to.deep.equal(['--initial_old_space_size=200', semi]);
    expect(nodeExecArgv(['-max_semi_space_size=8'], '')).to.deep.equal(['-max_semi_space_size=8', floor]);
    expect(nodeExecArgv(['--initial-heap-size=256'], '')).to.deep.equal(['--initial-heap-size=256', semi]);
    expect(nodeExecArgv([], '--max_semi_space_size=4')).to.deep.equal([floor]);
    // A flag whose name only starts like ours is not ours.
    expect(nodeExecArgv(['--max-semi-space-size-x=1'], '')).to.deep.equal(['--max-semi-space-size-x=1', semi, floor]);
  });

  it('starts a real Node.js process with the defaults (V8 takes both flags)', function () {
    // A flag V8 did not know would stop the process with "bad option"; this proves the names.
    const r = spawnSync(process.execPath, [...nodeExecArgv([], ''), '-e', 'process.stdout.write("ok")'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).to.equal('');
    expect(r.stdout).to.equal('ok');
  });

  it('sets MALLOC_ARENA_MAX unless it is set, and keeps every other variable', function () {
    expect(nodeEnv({ PATH: '/bin' })).to.deep.equal({ PATH: '/bin', MALLOC_ARENA_MAX: String(mallocArenasDefault) });
    expect(nodeEnv({ PATH: '/bin', MALLOC_ARENA_MAX: '' })).to.deep.equal({ PATH: '/bin', MALLOC_ARENA_MAX: String(mallocArenasDefault) });
    expect(nodeEnv({ MALLOC_ARENA_MAX: '8' })).to.deep.equal({ MALLOC_ARENA_MAX: '8' });
  });
});
