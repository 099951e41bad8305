export { MapLockStore } from './lock-store.js';
export type { MapBackend, MapStoreOptions } from './map-store.js';
export { MapRateLimitStore } from './rate-limit-store.js';
export { MapSessionStore } from './session-store.js';
export type { MapSessionStoreOptions } from './session-store.js';
