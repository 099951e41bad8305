import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import {
  SqliteCsrfTokenStore,
  SqliteIdempotencyStore,
  SqliteJwksCacheStore,
  SqliteLockStore,
  SqliteRateLimitStore,
  SqliteSessionStore,
  SqliteStreamStore,
} from '../src/index.js';

/** Each store with an option of its own kind: accepted beside the common ones, a misspelt one refused. */
const STORES: [string, (options: object) => { close(): Promise<void> }, object][] = [
  ['SqliteSessionStore', (o) => new SqliteSessionStore(o as never), { maxDataBytes: 10 }],
  ['SqliteIdempotencyStore', (o) => new SqliteIdempotencyStore(o as never), { maxResponseBytes: 10 }],
  ['SqliteJwksCacheStore', (o) => new SqliteJwksCacheStore(o as never), { maxDocumentBytes: 10 }],
  ['SqliteStreamStore', (o) => new SqliteStreamStore(o as never), { maxMessageBytes: 10, readCacheBytes: 0, pollIntervalMs: 100 }],
  ['SqliteRateLimitStore', (o) => new SqliteRateLimitStore(o as never), { pruneBatchSize: 10 }],
  ['SqliteCsrfTokenStore', (o) => new SqliteCsrfTokenStore(o as never), { pruneBatchSize: 10 }],
  ['SqliteLockStore', (o) => new SqliteLockStore(o as never), { telemetry: false }],
];

describe('store options: a name the store does not know is refused', () => {
  it.each(STORES)('%s', async (_, make, own) => {
    const database = new Database(':memory:');
    try {
      await make({ database, ...own, tablePrefix: 'opt_' }).close();
      expect(() => make({ database, ...own, tablePrefx: 'opt_' })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.tablePrefx' } }),
      );
      expect(() => make({ database, ...own, pool: {} })).toThrow(/options\.pool is not an option \(the options are .*tablePrefix/);
    } finally {
      database.close();
    }
  });
});
