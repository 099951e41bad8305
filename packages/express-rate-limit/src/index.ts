export { StowageRateLimitStore, type ClientRateLimitInfo, type StowageRateLimitStoreOptions } from './rate-limit-store.js';
