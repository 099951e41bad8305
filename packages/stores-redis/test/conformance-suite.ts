import { describeConformance, type ConformanceContext } from '@stowage/conformance';
import { describeBackends, redisBackends } from '@stowage/conformance/backends';
import { createSubscriptionStore } from '@stowage/core';
import { type Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe } from 'vitest';
import {
  RedisCsrfTokenStore,
  RedisIdempotencyStore,
  RedisJwksCacheStore,
  RedisLockStore,
  RedisRateLimitStore,
  RedisSessionStore,
  RedisStreamStore,
  type RedisClient,
  type RedisStoreOptions,
} from '../src/index.js';
import { connect, type Driver, type TestClient, useLoopbackCluster } from './clients.js';
import { dropPrefix, dumpPrefix } from './helpers.js';

/** The stores on `client()`; `admin()` (ioredis) reads and drops what a test left. */
function suite(name: string, client: () => RedisClient, admin: () => Redis | Cluster) {
  const opts = (ctx: ConformanceContext): RedisStoreOptions => ({ client: client(), prefix: ctx.namespace, clock: ctx.clock });
  // The session stores under subscription stores (which never close them), closed at teardown.
  const sessions = new Map<string, RedisSessionStore[]>();
  const sessionsOf = (ctx: ConformanceContext): RedisSessionStore => {
    const store = new RedisSessionStore(opts(ctx));
    sessions.set(ctx.namespace, [...(sessions.get(ctx.namespace) ?? []), store]);
    return store;
  };
  describeConformance({
    name,
    nativeExpiry: true,
    health: true,
    sessions: (ctx) => new RedisSessionStore(opts(ctx)),
    rateLimits: (ctx) => new RedisRateLimitStore(opts(ctx)),
    idempotency: (ctx) => new RedisIdempotencyStore(opts(ctx)),
    csrf: (ctx) => new RedisCsrfTokenStore(opts(ctx)),
    locks: (ctx) => new RedisLockStore(opts(ctx)),
    jwks: (ctx) => new RedisJwksCacheStore(opts(ctx)),
    streams: (ctx) => new RedisStreamStore(opts(ctx)),
    subscriptions: (ctx) => createSubscriptionStore({ sessions: sessionsOf(ctx), clock: ctx.clock }),
    inspect: (ctx) => dumpPrefix(admin(), ctx.namespace),
    teardown: async (ctx) => {
      for (const store of sessions.get(ctx.namespace) ?? []) await store.close();
      sessions.delete(ctx.namespace);
      await dropPrefix(admin(), ctx.namespace);
    },
  });
}

/**
 * The whole conformance suite on `driver`'s client: on every backend of `redisBackends()`
 * (`REDIS_URL`, or the images of `STOWAGE_REDIS_IMAGES`), then on a 3-master loopback Cluster.
 * One file per driver, so that vitest runs the two at once.
 */
export async function conformanceOn(driver: Driver): Promise<void> {
  const backends = await redisBackends();
  describeBackends(backends, (backend) => {
    let store: TestClient;
    let admin: Redis;
    beforeAll(async () => {
      store = connect(driver, backend.url);
      admin = new Redis(backend.url);
      await store.connected;
    });
    afterAll(() => {
      store?.close();
      admin?.disconnect();
    });
    suite(
      `stores-redis (${driver})`,
      () => store.client,
      () => admin,
    );
  });

  describe(`Redis Cluster (3 masters on loopback, ${driver})`, () => {
    const loopback = useLoopbackCluster(driver);
    suite(
      `stores-redis (${driver})`,
      () => loopback.store.client,
      () => loopback.admin,
    );
  });
}
