import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  PostgresCsrfTokenStore,
  PostgresIdempotencyStore,
  PostgresJwksCacheStore,
  PostgresLockStore,
  PostgresRateLimitStore,
  PostgresSessionStore,
  PostgresStreamStore,
} from '../src/index.js';

// Each store with an option of its own kind before a misspelt one: the refusal names the
// misspelt one, so the store's own option was accepted. Nothing connects: the pool is never used.
const STORES: [string, (options: object) => unknown, object][] = [
  ['PostgresSessionStore', (o) => new PostgresSessionStore(o as never), { maxDataBytes: 10 }],
  ['PostgresIdempotencyStore', (o) => new PostgresIdempotencyStore(o as never), { maxResponseBytes: 10 }],
  ['PostgresJwksCacheStore', (o) => new PostgresJwksCacheStore(o as never), { maxDocumentBytes: 10 }],
  ['PostgresStreamStore', (o) => new PostgresStreamStore(o as never), { maxMessageBytes: 10, readCacheBytes: 0, pollMs: 100 }],
  ['PostgresRateLimitStore', (o) => new PostgresRateLimitStore(o as never), { unlogged: true }],
  ['PostgresCsrfTokenStore', (o) => new PostgresCsrfTokenStore(o as never), { unlogged: true }],
  ['PostgresLockStore', (o) => new PostgresLockStore(o as never), { statementTimeoutMs: 100 }],
];

describe('store options: a name the store does not know is refused', () => {
  it.each(STORES)('%s', async (_, make, own) => {
    const pool = new pg.Pool({ host: '127.0.0.1', max: 1 });
    try {
      expect(() => make({ pool, ...own, migrate: false, schma: 'x' })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.schma' } }),
      );
      expect(() => make({ pool, ...own, client: {} })).toThrow(/options\.client is not an option \(the options are .*schema/);
    } finally {
      await pool.end();
    }
  });
});
