/** The session store's public API (what the node host imports). */
export { SessionsStore, type StoreStats } from './store.js';
export { NodeSessionFs } from './fs.js';
