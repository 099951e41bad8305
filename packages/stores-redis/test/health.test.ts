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
import { connect, DRIVERS } from './clients.js';
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

describe.each(DRIVERS)('health() when Redis does not answer (%s)', (driver) => {
  for (const [name, make] of Object.entries(STORES)) {
    it(`${name}: not ok, with a reason, on a client to a closed port`, async () => {
      // A client that never connected fails a command at once (ioredis without its offline
      // queue; with it, the PING would wait for a reconnect and the probe's time limit be the reason).
      const client = connect(driver, await closedPort(), { unconnected: true });
      const store = make({ client: client.client });
      const down = await store.health({ timeoutMs: 5000 });
      expect(down).toEqual({ ok: false, latencyMs: expect.any(Number), error: expect.any(String) });
      expect(down.error!.length).toBeGreaterThan(0);
      expect(down.error).not.toMatch(/no answer within/);
      await store.close();
      client.close();
    });

    it(`${name}: not ok with "no answer within" while the connection is held up`, async () => {
      const client = connect(driver, await closedPort(), { retryEveryMs: 50 });
      const store = make({ client: client.client });
      const down = await store.health({ timeoutMs: 300 });
      expect(down).toEqual({ ok: false, latencyMs: expect.any(Number), error: 'no answer within 300 ms' });
      await store.close();
      client.close();
    });
  }
});

describe.each(DRIVERS)('health() while a redis-server of our own is paused (CLIENT PAUSE, %s)', (driver) => {
  let server: LocalCluster;
  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(() => server.stop());

  it('ok with a latency, then not ok with "no answer within" while paused, then ok again', async () => {
    const client = connect(driver, server.ports[0]!);
    await client.connected;
    const admin = new Redis({ host: '127.0.0.1', port: server.ports[0]! });
    const store = new RedisSessionStore({ client: client.client });
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
      client.close();
      admin.disconnect();
    }
  });
});
