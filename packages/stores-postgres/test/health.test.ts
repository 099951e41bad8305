import { closedPort } from '@stowage/conformance';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  PostgresCsrfTokenStore,
  PostgresIdempotencyStore,
  PostgresJwksCacheStore,
  PostgresLockStore,
  PostgresRateLimitStore,
  PostgresSessionStore,
  type PostgresStoreOptions,
  PostgresStreamStore,
} from '../src/index.js';

const STORES = {
  PostgresSessionStore: (o: PostgresStoreOptions) => new PostgresSessionStore(o),
  PostgresRateLimitStore: (o: PostgresStoreOptions) => new PostgresRateLimitStore(o),
  PostgresIdempotencyStore: (o: PostgresStoreOptions) => new PostgresIdempotencyStore(o),
  PostgresCsrfTokenStore: (o: PostgresStoreOptions) => new PostgresCsrfTokenStore(o),
  PostgresLockStore: (o: PostgresStoreOptions) => new PostgresLockStore(o),
  PostgresJwksCacheStore: (o: PostgresStoreOptions) => new PostgresJwksCacheStore(o),
  PostgresStreamStore: (o: PostgresStoreOptions) => new PostgresStreamStore(o),
};

describe('health() when PostgreSQL does not answer', () => {
  for (const [name, make] of Object.entries(STORES)) {
    it(`${name}: not ok, with the driver's reason, on a pool to a closed port`, async () => {
      const pool = new pg.Pool({ host: '127.0.0.1', port: await closedPort(), user: 'postgres', database: 'test' });
      const store = make({ pool, migrate: false });
      const down = await store.health({ timeoutMs: 5000 });
      expect(down).toEqual({ ok: false, latencyMs: expect.any(Number), error: expect.stringMatching(/ECONNREFUSED/) });
      await store.close();
      await pool.end();
    });
  }
});
