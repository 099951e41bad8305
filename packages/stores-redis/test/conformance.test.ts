import { describeConformance, type ConformanceContext } from '@stowage/conformance';
import { describeBackends, redisBackends } from '@stowage/conformance/backends';
import { createSubscriptionStore } from '@stowage/core';
import { Cluster, Redis } from 'ioredis';
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
import { dropPrefix, dumpPrefix, startCluster, type LocalCluster } from './helpers.js';

function suite(name: string, client: () => RedisClient) {
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
    inspect: (ctx) => dumpPrefix(client(), ctx.namespace),
    teardown: async (ctx) => {
      for (const store of sessions.get(ctx.namespace) ?? []) await store.close();
      sessions.delete(ctx.namespace);
      await dropPrefix(client(), ctx.namespace);
    },
  });
}

const backends = await redisBackends();

describeBackends(backends, (backend) => {
  const client = new Redis(backend.url, { maxRetriesPerRequest: 2 });
  afterAll(() => client.quit());
  suite('stores-redis', () => client);
});

describe('Redis Cluster (3 masters on loopback)', () => {
  let cluster: LocalCluster;
  let client: Cluster;
  beforeAll(async () => {
    cluster = await startCluster();
    client = new Cluster(
      cluster.ports.map((port) => ({ host: '127.0.0.1', port })),
      { redisOptions: { maxRetriesPerRequest: 2 } },
    );
    await client.ping();
  });
  afterAll(async () => {
    await client?.quit();
    cluster?.stop();
  });
  suite('stores-redis', () => client);
});
