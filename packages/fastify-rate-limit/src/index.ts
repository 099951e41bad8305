export { StowageFastifyStore, stowageStore, type LimiterParams, type RateLimitCount, type StowageStoreOptions } from './store.js';
