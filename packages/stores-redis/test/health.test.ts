import { closedPort } from '@stowage/conformance';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  RedisCsrfTokenStore,
  RedisIdempotencyStore,
  RedisJwksCacheStore,
  RedisLockStore,
  RedisRateLimitStore,
  RedisSessionStore,
  type RedisStoreOptions,
  RedisStreamStore,
} from '../src/index.js';
import { type LocalCluster, startServer } from './helpers.js';

const STORES = {
  RedisSessionStore: (o: RedisStoreOptions) => new RedisSessionStore(o),
  RedisRateLimitStore: (o: RedisStoreOptions) => new RedisRateLimitStore(o),
  RedisIdempotencyStore: (o: RedisStoreOptions) => new RedisIdempotencyStore(o),
  RedisCsrfTokenStore: (o: RedisStoreOptions) => new RedisCsrfTokenStore(o),
  RedisLockStore: (o: RedisStoreOptions) => new RedisLockStore(o),
  RedisJwksCacheStore: (o: RedisStoreOptions) => new RedisJwksCacheStore(o),
  RedisStreamStore: (o: RedisStoreOptions) => new RedisStreamStore(o),
};

describe('health() when Redis does not answer', () => {
  for (const [name, make] of Object.entries(STORES)) {
    it(`${name}: not ok, with a reason, on a client to a closed port`, async () => {
      // Without the offline queue, a command on a client that cannot connect fails at once
      // (with it, the PING waits for a reconnect and the probe's own time limit is the reason).
      const client = new Redis({ host: '127.0.0.1', port: await closedPort(), enableOfflineQueue: false, lazyConnect: true });
      client.on('error', () => {});
      const store = make({ client });
      const down = await store.health({ timeoutMs: 5000 });
      expect(down).toEqual({ ok: false, latencyMs: expect.any(Number), error: expect.any(String) });
      expect(down.error!.length).toBeGreaterThan(0);
      await store.close();
      client.disconnect();
    });

    it(`${name}: not ok with "no answer within" while the connection is held up`, async () => {
      const client = new Redis({ host: '127.0.0.1', port: await closedPort(), maxRetriesPerRequest: null, retryStrategy: () => 50 });
      client.on('error', () => {});
      const store = make({ client });
      const down = await store.health({ timeoutMs: 300 });
      expect(down).toEqual({ ok: false, latencyMs: expect.any(Number), error: 'no answer within 300 ms' });
      await store.close();
      client.disconnect();
    });
  }
});

describe('health() while a redis-server of our own is paused (CLIENT PAUSE)', () => {
  let server: LocalCluster;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.stop());

  it('ok with a latency, then not ok with "no answer within" while paused, then ok again', async () => {
    const client = new Redis({ host: '127.0.0.1', port: server.ports[0]! });
    const admin = new Redis({ host: '127.0.0.1', port: server.ports[0]! });
    const store = new RedisSessionStore({ client });
    try {
      expect(await store.health()).toEqual({ ok: true, latencyMs: expect.any(Number) });
      // Under `ALL` (not `WRITE`) a PING waits too; the pause would end on its own after 1.5 s.
      await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
      expect(await store.health({ timeoutMs: 300 })).toEqual({
        ok: false,
        latencyMs: expect.any(Number),
        error: 'no answer within 300 ms',
      });
      await admin.call('CLIENT', 'UNPAUSE');
      expect((await store.health({ timeoutMs: 5000 })).ok).toBe(true);
    } finally {
      await store.close();
      client.disconnect();
      admin.disconnect();
    }
  });
});
