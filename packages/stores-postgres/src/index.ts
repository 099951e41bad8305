export { postgresHealth, type PostgresStoreOptions } from './base.js';
export { migrate, schema, SCHEMA_VERSIONS, type MigrateOptions, type SchemaComponent } from './schema.js';
export { PostgresSessionStore, type PostgresSessionStoreOptions } from './session-store.js';
export { PostgresRateLimitStore } from './rate-limit-store.js';
export { PostgresIdempotencyStore, type PostgresIdempotencyStoreOptions } from './idempotency-store.js';
export { PostgresCsrfTokenStore } from './csrf-token-store.js';
export { PostgresLockStore } from './lock-store.js';
export { PostgresJwksCacheStore, type PostgresJwksCacheStoreOptions } from './jwks-cache-store.js';
export { PostgresStreamStore, type PostgresStreamStoreOptions } from './stream-store.js';
