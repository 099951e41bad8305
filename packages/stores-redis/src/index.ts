export { type IoredisClient, type NodeRedisClient, redisHealth, type RedisClient, type RedisStoreOptions } from './base.js';
export { RedisSessionStore, type RedisSessionStoreOptions } from './session-store.js';
export { RedisRateLimitStore } from './rate-limit-store.js';
export { RedisIdempotencyStore, type RedisIdempotencyStoreOptions } from './idempotency-store.js';
export { RedisCsrfTokenStore } from './csrf-token-store.js';
export { RedisLockStore } from './lock-store.js';
export { RedisJwksCacheStore, type RedisJwksCacheStoreOptions } from './jwks-cache-store.js';
export { RedisStreamStore, type RedisStreamStoreOptions } from './stream-store.js';
