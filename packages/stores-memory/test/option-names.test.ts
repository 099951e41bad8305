import { describe, expect, it } from 'vitest';
import {
  MemoryCsrfTokenStore,
  MemoryIdempotencyStore,
  MemoryJwksCacheStore,
  MemoryLockStore,
  MemoryRateLimitStore,
  MemorySessionStore,
  MemoryStreamStore,
} from '../src/index.js';

/** Each store with an option of its own kind: accepted beside the common ones, a misspelt one refused. */
const STORES: [string, (options: object) => { close(): Promise<void> }, object][] = [
  ['MemorySessionStore', (o) => new MemorySessionStore(o), { maxDataBytes: 10 }],
  ['MemoryIdempotencyStore', (o) => new MemoryIdempotencyStore(o), { maxResponseBytes: 10 }],
  ['MemoryJwksCacheStore', (o) => new MemoryJwksCacheStore(o), { maxDocumentBytes: 10 }],
  ['MemoryStreamStore', (o) => new MemoryStreamStore(o), { maxMessageBytes: 10 }],
  ['MemoryRateLimitStore', (o) => new MemoryRateLimitStore(o), { maxEntries: 10 }],
  ['MemoryCsrfTokenStore', (o) => new MemoryCsrfTokenStore(o), { maxEntries: 10 }],
  ['MemoryLockStore', (o) => new MemoryLockStore(o), { telemetry: false }],
];

describe('store options: a name the store does not know is refused', () => {
  it.each(STORES)('%s', async (_, make, own) => {
    await make({ ...own, pruneIntervalMs: 1000 }).close();
    expect(() => make({ ...own, pruneIntervalMS: 1000 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.pruneIntervalMS' } }),
    );
    expect(() => make({ ...own, pruneIntervalMS: 1000 })).toThrow(
      /options\.pruneIntervalMS is not an option \(the options are .*pruneIntervalMs/,
    );
    // Another kind's option is not this store's.
    expect(() => make({ ...own, readCacheBytes: 1 })).toThrow(/options\.readCacheBytes is not an option/);
  });

  it.each([
    ['MemoryLockStore', (o: object) => new MemoryLockStore(o)],
    ['MemoryStreamStore', (o: object) => new MemoryStreamStore(o)],
  ])('%s refuses maxEntries (never evicted), and does not list it', (_, make) => {
    expect(() => make({ maxEntries: 5 })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.maxEntries' } }),
    );
    expect(() => make({ maxEntries: 5 })).toThrow(/the options are clock, (maxMessageBytes, )?onError, pruneIntervalMs, telemetry\)/);
  });
});
