import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import {
  RedisCsrfTokenStore,
  RedisIdempotencyStore,
  RedisJwksCacheStore,
  RedisLockStore,
  RedisRateLimitStore,
  RedisSessionStore,
  RedisStreamStore,
} from '../src/index.js';

// Each store with an option of its own kind before a misspelt one: the refusal names the
// misspelt one, so the store's own option was accepted. Nothing connects (a lazy client).
const STORES: [string, (options: object) => unknown, object][] = [
  ['RedisSessionStore', (o) => new RedisSessionStore(o as never), { maxDataBytes: 10 }],
  ['RedisIdempotencyStore', (o) => new RedisIdempotencyStore(o as never), { maxResponseBytes: 10 }],
  ['RedisJwksCacheStore', (o) => new RedisJwksCacheStore(o as never), { maxDocumentBytes: 10 }],
  ['RedisStreamStore', (o) => new RedisStreamStore(o as never), { maxMessageBytes: 10, readCacheBytes: 0 }],
  ['RedisRateLimitStore', (o) => new RedisRateLimitStore(o as never), { coalesceWrites: false }],
  ['RedisCsrfTokenStore', (o) => new RedisCsrfTokenStore(o as never), { expiryGraceMs: 10 }],
  ['RedisLockStore', (o) => new RedisLockStore(o as never), { timeoutMs: 100 }],
];

describe('store options: a name the store does not know is refused', () => {
  it.each(STORES)('%s', (_, make, own) => {
    const client = new Redis({ host: '127.0.0.1', lazyConnect: true });
    try {
      expect(() => make({ client, ...own, prefx: 'x:' })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.prefx' } }),
      );
      expect(() => make({ client, ...own, tablePrefix: 'x' })).toThrow(/options\.tablePrefix is not an option \(the options are .*prefix/);
    } finally {
      client.disconnect();
    }
  });
});

describe('store options: time limits a timer is armed with', () => {
  it('timeoutMs past 2^31 - 1 ms (Node would fire its timer at once: calls failed at 1 ms and still ran) is refused', () => {
    const client = new Redis({ host: '127.0.0.1', lazyConnect: true });
    try {
      for (const timeoutMs of [2 ** 31, 3_000_000_000, 1e12]) {
        expect(() => new RedisRateLimitStore({ client, timeoutMs })).toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.timeoutMs' } }),
        );
      }
      expect(() => new RedisRateLimitStore({ client, timeoutMs: 2 ** 31 - 1 })).not.toThrow();
    } finally {
      client.disconnect();
    }
  });
});

describe('store options: the prefix', () => {
  it('a prefix with { or } is refused: it would take the hash tag from the ids (CROSSSLOT on a Cluster)', () => {
    const client = new Redis({ host: '127.0.0.1', lazyConnect: true });
    try {
      for (const prefix of ['app{', 'app}', '{tenant}:']) {
        expect(() => new RedisSessionStore({ client, prefix })).toThrow(
          expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.prefix' } }),
        );
      }
      expect(() => new RedisSessionStore({ client, prefix: 'app:tenant-1:' })).not.toThrow();
    } finally {
      client.disconnect();
    }
  });
});
