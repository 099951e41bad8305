export { sqliteHealth, type SqliteStoreOptions } from './base.js';
export { migrate, schema, SCHEMA_VERSION, type SchemaComponent } from './schema.js';
export { SqliteSessionStore, type SqliteSessionStoreOptions } from './session-store.js';
export { SqliteRateLimitStore } from './rate-limit-store.js';
export { SqliteIdempotencyStore, type SqliteIdempotencyStoreOptions } from './idempotency-store.js';
export { SqliteCsrfTokenStore } from './csrf-token-store.js';
export { SqliteLockStore } from './lock-store.js';
export { SqliteJwksCacheStore, type SqliteJwksCacheStoreOptions } from './jwks-cache-store.js';
export { SqliteStreamStore, type SqliteStreamStoreOptions } from './stream-store.js';
