/**
 * The upgrade path of the 2026-12-07 flags (`due-floor-per-file`, `clients-per-user`): a cluster
 * that starts with them off (upgraded from an older version) and turns them on at some point with a
 * FeatureEnable, while stores, DataCreates, clock jumps, refused batches, leader changes, a replica
 * that applies the flag later than the leader, and a replica restarted from its own snapshot plus
 * the log go on around it. Every replica must apply every entry (no InvariantError) and end with the
 * same state (digest, manifest).
 */
import { expect } from 'chai';
import fc from 'fast-check';
import { CommandKind, CommandView, FEATURES } from '../../transport/commands/codec.js';
import { MemorySessionFs } from '../sim/disk/memorySessionFs.js';
import { SessionsStore } from '../../actors/sessions/store.js';
import type { StoreLimits } from '../../actors/sessions/options.js';
import { Harness, storeDueLate, testSecret } from './helpers.js';

const limits: Partial<StoreLimits> = {
  sessionBytesMax: 256,
  recordBytesMax: 128,
  sessionRecordsMax: 4,
  topicBytesMax: 16,
  clientsMax: 6,
  clientsPerUserMax: 2,
};
const DELAY_MS = 1_000;
const HOUR_MS = 3_600_000;
const FLAGS = FEATURES.dueFloorPerFile | FEATURES.clientsPerUser;

type Step =
  | { readonly op: 'jump'; readonly ms: number }
  | { readonly op: 'store'; readonly settle: boolean }
  | { readonly op: 'enable' }
  | { readonly op: 'register'; readonly owner: string }
  | { readonly op: 'flush' | 'refuse' | 'settle' | 'heal' }
  | { readonly op: 'lead' | 'lag' | 'snapshot' | 'restart'; readonly replica: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('jump' as const), ms: fc.integer({ min: -2 * HOUR_MS, max: 2 * HOUR_MS }) }),
  fc.record({ op: fc.constant('store' as const), settle: fc.boolean() }),
  fc.record({ op: fc.constant('store' as const), settle: fc.boolean() }),
  fc.record({ op: fc.constant('enable' as const) }),
  fc.record({ op: fc.constant('register' as const), owner: fc.constantFrom('', 'a', 'b') }),
  fc.record({ op: fc.constantFrom('flush' as const, 'refuse' as const, 'settle' as const, 'heal' as const) }),
  fc.record({ op: fc.constantFrom('lead' as const, 'lag' as const, 'snapshot' as const, 'restart' as const), replica: fc.integer({ min: 0, max: 2 }) }),
);

describe('sessions: the 2026-12-07 feature flags turned on mid-flight (upgrade path)', () => {
  it('property: a FeatureEnable at any point, with stores, clock jumps, refusals, leader changes, a lagging replica and restarts from snapshots, leaves every replica equal and never asserts', function () {
    this.timeout(20_000);
    const view = new CommandView();
    fc.assert(
      fc.property(fc.array(step, { minLength: 20, maxLength: 60 }), (steps) => {
        const fss = [0, 1, 2].map(() => new MemorySessionFs());
        const stores = fss.map((fs) => new SessionsStore({ fs, limits, defer: (fn) => fn() }));
        const late: string[] = [];
        const h = new Harness(stores, {
          replayDelaysMs: [DELAY_MS],
          // A few records a file: DataCreates for a full file come often, with the flag off and on.
          dataFileBytesMax: 400,
          onProposed: (data, nowMs) => {
            // Once the leader applied the flag, no store waits for a floor an old clock reading set.
            if (!h.leader.featureOn(FEATURES.dueFloorPerFile)) return;
            const why = storeDueLate(view, data, nowMs, DELAY_MS);
            if (why !== null) late.push(why);
          },
        });
        const t0 = h.now;
        const sessions = steps.filter((s) => s.op === 'store').map(() => h.createSession('t', ['r']));
        h.planner.storeSession(h.createSession('t', ['first']), 0);
        h.settle();
        const snaps = new Map<number, { index: number; data: Uint8Array }>();
        let secret = 1;
        for (const s of steps) {
          switch (s.op) {
            case 'jump':
              h.now = Math.max(t0 - 3 * HOUR_MS, h.now + s.ms);
              break;
            case 'store':
              h.planner.storeSession(sessions.shift()!, 0);
              if (s.settle) h.settle();
              break;
            case 'enable':
              h.planner.submit({ kind: CommandKind.featureEnable, features: FLAGS }, null);
              break;
            case 'register':
              h.planner.submit({ kind: CommandKind.clientRegister, secret: testSecret(secret++), ...(s.owner !== '' ? { owner: s.owner } : {}) }, null);
              break;
            case 'flush':
              h.flush();
              break;
            case 'refuse':
              h.refuse();
              break;
            case 'settle':
              h.settle();
              break;
            case 'heal':
              h.withFollowers([0, 1, 2]);
              break;
            case 'lag':
              // This replica stops applying (partitioned, slow): it applies the flag later than the others.
              if (s.replica !== h.leaderIndex) h.withFollowers([0, 1, 2].filter((k) => k !== s.replica));
              break;
            case 'lead':
              // It may be behind: its planner starts from its applied state and the log's unapplied entries.
              h.changeLeader(s.replica);
              h.withFollowers([0, 1, 2]);
              break;
            case 'snapshot':
              if (s.replica !== h.leaderIndex) snaps.set(s.replica, { index: stores[s.replica]!.appliedIndex, data: stores[s.replica]!.snapshot() });
              break;
            case 'restart': {
              const snap = snaps.get(s.replica);
              if (s.replica === h.leaderIndex || snap === undefined) break;
              // A restart: what was not synced is lost; the store is its snapshot, then the log again.
              fss[s.replica]!.crash();
              const again = new SessionsStore({ fs: fss[s.replica]!, limits, defer: (fn) => fn() });
              again.restore(h.log.meta(snap.index), snap.data);
              stores[s.replica] = again;
              snaps.delete(s.replica);
              break;
            }
          }
        }
        h.withFollowers([0, 1, 2]);
        h.settle();
        h.commit();
        expect(late).to.deep.equal([]);
        const want = stores[0]!.digest();
        for (const st of stores.slice(1)) {
          expect(st.appliedIndex).to.equal(stores[0]!.appliedIndex);
          expect(st.manifest().classes).to.deep.equal(stores[0]!.manifest().classes);
          expect(st.digest()).to.deep.equal(want);
        }
      }),
      { numRuns: 150, seed: 20261207 },
    );
  });
});
