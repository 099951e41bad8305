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

/** A lazy client (nothing connects) for the body, disconnected after it. */
function withClient(body: (client: Redis) => void): void {
  const client = new Redis({ host: '127.0.0.1', lazyConnect: true });
  try {
    body(client);
  } finally {
    client.disconnect();
  }
}

/** `make` with each of `bad` refused as `field`, and with `good` taken. */
function refusesEach<T>(make: (value: T) => unknown, field: string, bad: T[], good: T): void {
  for (const value of bad) {
    expect(() => make(value), String(value)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field } }));
  }
  expect(() => make(good)).not.toThrow();
}

describe('store options: a name the store does not know is refused', () => {
  it.each(STORES)('%s', (_, make, own) =>
    withClient((client) => {
      expect(() => make({ client, ...own, prefx: 'x:' })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', details: { field: 'options.prefx' } }),
      );
      expect(() => make({ client, ...own, tablePrefix: 'x' })).toThrow(/options\.tablePrefix is not an option \(the options are .*prefix/);
    }),
  );
});

describe('store options: values', () => {
  it('timeoutMs past 2^31 - 1 ms (Node would fire its timer at once: calls failed at 1 ms and still ran) is refused', () =>
    withClient((client) =>
      refusesEach(
        (timeoutMs: number) => new RedisRateLimitStore({ client, timeoutMs }),
        'options.timeoutMs',
        [2 ** 31, 3_000_000_000, 1e12],
        2 ** 31 - 1,
      ),
    ));

  it('a prefix with { or } is refused: it would take the hash tag from the ids (CROSSSLOT on a Cluster)', () =>
    withClient((client) =>
      refusesEach(
        (prefix: string) => new RedisSessionStore({ client, prefix }),
        'options.prefix',
        ['app{', 'app}', '{tenant}:'],
        'app:tenant-1:',
      ),
    ));
});
