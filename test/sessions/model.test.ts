import { expect } from 'chai';
import fc from 'fast-check';
import { arbOp, runModel, type Op } from './model.js';

/** Replay a failing case: SESSIONS_MODEL_SEED=<seed> (and SESSIONS_MODEL_PATH=<path>) from the failure report. */
function params(numRuns: number): fc.Parameters<[Op[]]> {
  const seed = process.env['SESSIONS_MODEL_SEED'];
  const path = process.env['SESSIONS_MODEL_PATH'];
  return seed === undefined ? { numRuns } : { numRuns, seed: Number(seed), ...(path !== undefined ? { path } : {}) };
}

const ops = fc.array(arbOp, { minLength: 10, maxLength: 250, size: 'max' });

describe('sessions: model-based (real store vs reference model, with crashes and restarts)', function () {
  this.timeout(60_000);

  it('on a real directory: the same results, sessions, stored sessions per class, cursors and deliveries', () => {
    let crashes = 0;
    let entries = 0;
    const outcomes = new Map<string, number>();
    fc.assert(
      fc.property(ops, (o) => {
        const r = runModel(o, { fs: 'real' });
        crashes += r.crashes;
        entries += r.entries;
        for (const [k, n] of r.outcomes) outcomes.set(k, (outcomes.get(k) ?? 0) + n);
      }),
      params(100),
    );
    if (process.env['SESSIONS_MODEL_STATS']) console.log({ crashes, entries, outcomes: Object.fromEntries([...outcomes].sort()) });
    expect(crashes).to.be.greaterThan(100);
    expect(entries).to.be.greaterThan(500);
    // The generator reaches the interesting paths, not only rejections.
    for (const k of [
      'SessionStore:OK',
      'SessionStore:SESSIONS_ERR_SESSION_UNKNOWN',
      'SessionRestore:OK',
      'SessionRestore:OK_VOID_RECORD',
      'SessionCommit:OK',
      'DataDelete:OK',
      'SessionAppend:OK:dup',
      'SessionAppend:SESSIONS_ERR_CLIENT_AUTH',
    ]) {
      expect(outcomes.get(k) ?? 0, k).to.be.greaterThan(0);
    }
  });

  it('on MemorySessionFs, whose crashes lose every byte and name not synced: snapshots sync what they refer to', () => {
    fc.assert(
      fc.property(ops, (o) => void runModel(o, { fs: 'memory' })),
      params(400),
    );
  });

  it('two stores fed the same entries (one crashing and replaying) end with equal digests and byte-identical data directories', () => {
    fc.assert(
      fc.property(ops, (o) => void runModel(o, { fs: 'real', twin: true })),
      params(40),
    );
    fc.assert(
      fc.property(ops, (o) => void runModel(o, { fs: 'memory', twin: true })),
      params(150),
    );
  });
});
