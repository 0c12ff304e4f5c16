/** The session store's public API (what the node host, the simulator and tests import). */
export { SessionsStore, type ApplyListener, type StoreStats } from './store.js';
export { Planner, PlanItem, defaultReplayDelaysMs, type PlanOutcome, type PlannerOptions, type Proposed, type FileInFlight } from './planner.js';
export { ReplayScheduler, type SchedulerOptions } from './scheduler.js';
export { NodeSessionFs, type SessionFs } from './fs.js';
export { defaultStoreLimits, type StoreLimits, type StoreOptions } from './options.js';
export { ResultCode, SessionsError, SessionsErrorCode } from './errors.js';
export { decodeManifest, encodeManifest } from './manifest.js';
export type { Subscription, SubscribeOptions, DeliveryCallback } from './subscriptions.js';
export type * from './types.js';
