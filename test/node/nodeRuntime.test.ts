/**
 * bin/nodeRuntime.ts: the memory, GC and tier-up defaults `npm start` and the benchmarks give their node processes,
 * and the operator's own flags and variables winning over them.
 */
import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  applyTierUpBudget,
  localPlacement,
  mallocArenasDefault,
  nodeEnv,
  nodeExecArgv,
  oldSpaceFloorMiBDefault,
  semiSpaceMiBDefault,
  sharesCores,
  tierUpBudgetBytesDefault,
} from '../../bin/nodeRuntime.js';

describe('node runtime defaults for spawned nodes (issue 18)', function () {
  const semi = `--max-semi-space-size=${semiSpaceMiBDefault}`;
  const floor = `--initial-old-space-size=${oldSpaceFloorMiBDefault}`;
  const tier = `--interrupt-budget=${tierUpBudgetBytesDefault}`;

  it('adds the semi-space, old-space floor and tier-up flags unless the flags or NODE_OPTIONS set them', function () {
    expect(nodeExecArgv([], '')).to.deep.equal([semi, floor, tier]);
    expect(nodeExecArgv(['--enable-source-maps'], undefined)).to.deep.equal(['--enable-source-maps', semi, floor, tier]);
    expect(nodeExecArgv(['--max-semi-space-size=16'], '')).to.deep.equal(['--max-semi-space-size=16', floor, tier]);
    expect(nodeExecArgv(['--initial-old-space-size=128'], '')).to.deep.equal(['--initial-old-space-size=128', semi, tier]);
    expect(nodeExecArgv([], '--max-old-space-size=256 --max-semi-space-size=8')).to.deep.equal([floor, tier]);
    expect(nodeExecArgv(['--initial-old-space-size=0', '--interrupt-budget=67584'], '--max-semi-space-size=8')).to.deep.equal([
      '--initial-old-space-size=0',
      '--interrupt-budget=67584',
    ]);
  });

  it('recognises every spelling Node.js accepts, and --initial-heap-size as setting the floor', function () {
    expect(nodeExecArgv(['--initial_old_space_size=200'], '')).to.deep.equal(['--initial_old_space_size=200', semi, tier]);
    expect(nodeExecArgv(['-max_semi_space_size=8'], '')).to.deep.equal(['-max_semi_space_size=8', floor, tier]);
    expect(nodeExecArgv(['--initial-heap-size=256'], '')).to.deep.equal(['--initial-heap-size=256', semi, tier]);
    expect(nodeExecArgv(['--interrupt_budget=1000'], '')).to.deep.equal(['--interrupt_budget=1000', semi, floor]);
    expect(nodeExecArgv([], '--max_semi_space_size=4')).to.deep.equal([floor, tier]);
    // A flag whose name only starts like ours is not ours.
    expect(nodeExecArgv(['--max-semi-space-size-x=1'], '')).to.deep.equal(['--max-semi-space-size-x=1', semi, floor, tier]);
  });

  it('collects the young generation on one thread only where the nodes share their cores, unless the flags say', function () {
    const shared = { nodesOnMachine: 3, cores: 2 };
    expect(sharesCores(shared)).to.equal(true);
    expect(sharesCores({ nodesOnMachine: 3, cores: 6 })).to.equal(false);
    expect(sharesCores({ nodesOnMachine: 1, cores: 1 })).to.equal(true);
    expect(localPlacement(3)).to.deep.equal({ nodesOnMachine: 3, cores: availableParallelism() });
    expect(nodeExecArgv([], '', shared)).to.deep.equal([semi, floor, tier, '--no-parallel-scavenge']);
    expect(nodeExecArgv([], '', { nodesOnMachine: 3, cores: 8 })).to.deep.equal([semi, floor, tier]);
    expect(nodeExecArgv([], '')).to.deep.equal([semi, floor, tier]);
    // The operator's word either way, in any spelling.
    expect(nodeExecArgv(['--parallel-scavenge'], '', shared)).to.deep.equal(['--parallel-scavenge', semi, floor, tier]);
    expect(nodeExecArgv(['--no_parallel_scavenge'], '', shared)).to.deep.equal(['--no_parallel_scavenge', semi, floor, tier]);
  });

  it('starts a real Node.js process with the defaults (V8 takes every flag)', function () {
    // A flag V8 did not know would stop the process with "bad option"; this proves the names.
    const flags = nodeExecArgv([], '', { nodesOnMachine: 3, cores: 2 });
    expect(flags).to.include('--no-parallel-scavenge');
    const r = spawnSync(process.execPath, [...flags, '-e', 'process.stdout.write("ok")'], { encoding: 'utf8', timeout: 20_000 });
    expect(r.stderr).to.equal('');
    expect(r.stdout).to.equal('ok');
  });

  it('sets the interrupt budget from inside a node started without it, with the effect of the flag', function () {
    expect(applyTierUpBudget(['--interrupt-budget=67584'])).to.equal(false);
    expect(applyTierUpBudget(['--max-semi-space-size=2', '--interrupt_budget=1000'])).to.equal(false);
    // In a child (V8 flags are process-wide): how many calls until a small function is optimized,
    // with optimization on the main thread so that the count is exact. The budget set at run time
    // must give the count the command-line flag gives, and fewer calls than V8's default.
    const runtime = fileURLToPath(new URL('../../bin/nodeRuntime.js', import.meta.url));
    const script = `
      const mode = process.argv[1];
      const applied = mode === 'applied' ? (await import(${JSON.stringify(runtime)})).applyTierUpBudget() : null;
      function f(a) { let s = 0; for (let i = 0; i < 3; i++) s += a[i] * 2; return s; }
      const arr = [1, 2, 3];
      let calls = -1;
      for (let n = 1; n <= 20000 && calls < 0; n++) { f(arr); if (%GetOptimizationStatus(f) & 16) calls = n; }
      process.stdout.write(JSON.stringify({ applied, calls }));`;
    const run = (flags: string[], mode: string): { applied: boolean | null; calls: number } => {
      const r = spawnSync(process.execPath, ['--allow-natives-syntax', '--no-concurrent-recompilation', ...flags, '--input-type=module', '-e', script, mode], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.stderr).to.equal('');
      return JSON.parse(r.stdout) as { applied: boolean | null; calls: number };
    };
    const byDefault = run([], 'default');
    const byFlag = run([`--interrupt-budget=${tierUpBudgetBytesDefault}`], 'default');
    const applied = run([], 'applied');
    expect(applied.applied).to.equal(true);
    expect(byFlag.calls).to.be.greaterThan(0);
    expect(applied.calls).to.equal(byFlag.calls);
    expect(byDefault.calls).to.be.greaterThan(byFlag.calls);
  });

  it('sets MALLOC_ARENA_MAX unless it is set, and keeps every other variable', function () {
    expect(nodeEnv({ PATH: '/bin' })).to.deep.equal({ PATH: '/bin', MALLOC_ARENA_MAX: String(mallocArenasDefault) });
    expect(nodeEnv({ PATH: '/bin', MALLOC_ARENA_MAX: '' })).to.deep.equal({ PATH: '/bin', MALLOC_ARENA_MAX: String(mallocArenasDefault) });
    expect(nodeEnv({ MALLOC_ARENA_MAX: '8' })).to.deep.equal({ MALLOC_ARENA_MAX: '8' });
  });
});
