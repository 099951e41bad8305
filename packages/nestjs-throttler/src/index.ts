export { StowageThrottlerStorage, type StowageThrottlerStorageOptions, type ThrottlerStorageRecord } from './storage.js';
