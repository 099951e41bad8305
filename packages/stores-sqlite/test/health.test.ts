import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  SqliteCsrfTokenStore,
  SqliteIdempotencyStore,
  SqliteJwksCacheStore,
  SqliteLockStore,
  SqliteRateLimitStore,
  SqliteSessionStore,
  type SqliteStoreOptions,
  SqliteStreamStore,
} from '../src/index.js';

const STORES = {
  SqliteSessionStore: (o: SqliteStoreOptions) => new SqliteSessionStore(o),
  SqliteRateLimitStore: (o: SqliteStoreOptions) => new SqliteRateLimitStore(o),
  SqliteIdempotencyStore: (o: SqliteStoreOptions) => new SqliteIdempotencyStore(o),
  SqliteCsrfTokenStore: (o: SqliteStoreOptions) => new SqliteCsrfTokenStore(o),
  SqliteLockStore: (o: SqliteStoreOptions) => new SqliteLockStore(o),
  SqliteJwksCacheStore: (o: SqliteStoreOptions) => new SqliteJwksCacheStore(o),
  SqliteStreamStore: (o: SqliteStoreOptions) => new SqliteStreamStore(o),
};

describe('health() when the database is gone', () => {
  for (const [name, make] of Object.entries(STORES)) {
    it(`${name}: ok with a latency while the database is open, not ok with the reason once it is closed`, async () => {
      const database = new Database(':memory:');
      const store = make({ database });
      const up = await store.health();
      expect(up).toEqual({ ok: true, latencyMs: expect.any(Number) });
      // The user's database closed under the store (the store never closes it itself).
      database.close();
      const down = await store.health();
      expect(down).toEqual({ ok: false, latencyMs: expect.any(Number), error: expect.stringMatching(/not open/i) });
      await store.close();
    });
  }
});
