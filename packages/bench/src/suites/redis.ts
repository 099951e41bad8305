import { randomBytes } from 'node:crypto';
import { Idempotency } from '@node-idempotency/core';
import { RedisStorageAdapter } from '@node-idempotency/storage-adapter-redis';
import { fingerprintRequest, jsonCodec, type RateLimitPolicy } from '@stowage/core';
import { RedisIdempotencyStore, RedisRateLimitStore, RedisSessionStore } from '@stowage/stores-redis';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { Comparison, Contender } from '../harness.js';
import { keys, orderBody, responseBody, sessionObject, sessionOp } from './data.js';

const DAY = 86_400_000;

/**
 * Redis rows. The server: REDIS_URL, else the local one. Each contender gets its own
 * connection (ioredis, or node-redis where the library needs it) and its own key prefix.
 */
export function redisComparisons(): Comparison[] {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const clients: { quit(): Promise<unknown> }[] = [];
  // Every ioredis client, ours and the alternatives', with ioredis's defaults.
  const ioredis = () => {
    const c = new Redis(url);
    clients.push(c);
    return c;
  };
  const prefix = () => `bench:${randomBytes(4).toString('hex')}:`;
  const ipKeys = keys('ip', 10_000);
  const sids = keys('sid', 10_000);
  const sess = sessionObject();
  const policy: RateLimitPolicy = { algorithm: 'fixed-window', limit: 1_000_000_000, windowMs: 60_000 };

  const rateLimit: Comparison = {
    contract: 'RateLimitStore',
    operation: 'consume, 10k keys',
    backend: 'redis',
    ours: {
      library: 'stowage',
      setup: async () => {
        const store = new RedisRateLimitStore({ client: ioredis(), prefix: prefix() });
        return (i) => store.consume(ipKeys[i % ipKeys.length]!, policy);
      },
    },
    anchor: {
      library: 'rate-limiter-flexible RateLimiterRedis (ioredis)',
      setup: async () => {
        const limiter = new RateLimiterRedis({ storeClient: ioredis(), keyPrefix: prefix(), points: 1_000_000_000, duration: 60 });
        return (i) => limiter.consume(ipKeys[i % ipKeys.length]!).catch((r: unknown) => r);
      },
    },
    others: [
      {
        library: 'stowage (coalesceWrites: false)',
        setup: async () => {
          const store = new RedisRateLimitStore({ client: ioredis(), prefix: prefix(), coalesceWrites: false });
          return (i) => store.consume(ipKeys[i % ipKeys.length]!, policy);
        },
      },
      {
        // The ceiling: the least a script can do per call, a counter per window, by EVALSHA.
        library: 'raw ioredis EVALSHA (ceiling)',
        setup: async () => {
          const c = ioredis();
          const p = prefix();
          c.defineCommand('benchCounter', {
            numberOfKeys: 1,
            lua: `local n = redis.call('INCR', KEYS[1]) if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end return n`,
          });
          const run = (c as unknown as { benchCounter(k: string, ttl: number): Promise<number> }).benchCounter.bind(c);
          return (i) => run(`${p}${ipKeys[i % ipKeys.length]!}:${Math.floor(Date.now() / 60_000)}`, 60_000);
        },
      },
    ],
  };

  const sessionRows = (kind: 'get' | 'set'): Comparison => {
    const raw: Contender = {
      library: 'raw ioredis EVALSHA (ceiling)',
      setup: async () => {
        const c = ioredis();
        const p = prefix();
        c.defineCommand('benchGet', { numberOfKeys: 1, lua: `return redis.call('HGET', KEYS[1], 'data')` });
        c.defineCommand('benchSet', {
          numberOfKeys: 1,
          lua: `redis.call('HSET', KEYS[1], 'data', ARGV[1]) redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1`,
        });
        const cc = c as unknown as {
          benchGetBuffer(k: string): Promise<Buffer | null>;
          benchSet(k: string, v: Uint8Array, ttl: number): Promise<number>;
        };
        for (const sid of sids) await cc.benchSet(`${p}${sid}`, jsonCodec.encode(sess, sid), DAY);
        if (kind === 'get') {
          return async (i) => {
            const b = await cc.benchGetBuffer(`${p}${sids[i % sids.length]!}`);
            return b && jsonCodec.decode(b, '');
          };
        }
        return (i) => cc.benchSet(`${p}${sids[i % sids.length]!}`, jsonCodec.encode(sess, ''), DAY);
      },
    };
    return {
      contract: 'SessionStore',
      operation: kind === 'get' ? 'get + JSON decode, 10k sessions' : 'set + JSON encode, 10k sessions',
      backend: 'redis',
      ours: {
        library: 'stowage',
        setup: async () => {
          return sessionOp(new RedisSessionStore({ client: ioredis(), prefix: prefix() }), kind, sids, sess);
        },
      },
      anchor: {
        library: 'connect-redis (node-redis)',
        setup: async () => {
          const c = createClient({ url });
          await c.connect();
          clients.push({ quit: () => c.quit() });
          const store = new ConnectRedisStore({ client: c, prefix: prefix() });
          for (const sid of sids) await store.set(sid, sess as never);
          if (kind === 'get') return (i) => store.get(sids[i % sids.length]!);
          return (i) => store.set(sids[i % sids.length]!, sess as never);
        },
      },
      others: [
        raw,
        {
          library: 'stowage (coalesceWrites: false)',
          setup: async () =>
            sessionOp(new RedisSessionStore({ client: ioredis(), prefix: prefix(), coalesceWrites: false }), kind, sids, sess),
        },
      ],
    };
  };

  const idempotency = (operation: string, replay: boolean): Comparison => {
    const body = orderBody();
    const payload = JSON.stringify(body);
    const response = responseBody();
    const responseBytes = new TextEncoder().encode(JSON.stringify(response));
    const completed = keys('done', 10_000);
    const generation = randomBytes(4).toString('hex');
    const key = (i: number) => (replay ? completed[i % completed.length]! : `${generation}-${i}`);
    return {
      contract: 'IdempotencyStore',
      operation,
      backend: 'redis',
      ours: {
        library: 'stowage',
        setup: async () => {
          const store = new RedisIdempotencyStore({ client: ioredis(), prefix: prefix() });
          const first = async (k: string) => {
            const fp = fingerprintRequest({ method: 'POST', path: '/orders', body: payload });
            const r = await store.reserve('tenant-1', k, fp, { leaseMs: 30_000 });
            if (r.state === 'reserved') {
              await store.complete(
                'tenant-1',
                k,
                r.token,
                { status: 201, headers: [['content-type', 'application/json']], body: responseBytes },
                { retentionMs: DAY },
              );
            }
            return r;
          };
          if (replay) for (const k of completed) await first(k);
          return (i) => first(`o-${key(i)}`.slice(replay ? 2 : 0));
        },
      },
      anchor: {
        library: '@node-idempotency/core (redis adapter)',
        setup: async () => {
          const adapter = new RedisStorageAdapter({ url });
          await adapter.connect();
          clients.push({ quit: () => adapter.disconnect() });
          const idem = new Idempotency(adapter, { cacheTTLMS: DAY, cacheKeyPrefix: prefix() });
          const first = async (k: string) => {
            const req = { headers: { 'idempotency-key': k }, path: '/orders', method: 'POST', body };
            const cached = await idem.onRequest(req);
            if (cached === undefined) await idem.onResponse(req, { body: response });
            return cached;
          };
          if (replay) for (const k of completed) await first(k);
          return (i) => first(`t-${key(i)}`.slice(replay ? 2 : 0));
        },
      },
    };
  };

  const list = [
    rateLimit,
    sessionRows('get'),
    sessionRows('set'),
    idempotency('reserve + complete, new keys', false),
    idempotency('replay a completed key', true),
  ];
  const last = list[list.length - 1]!;
  last.ours.teardown = async () => {
    for (const c of clients) await c.quit().catch(() => {});
    // Every key this run wrote has a TTL of at most a day; drop them now anyway.
    const c = new Redis(url);
    for (let cursor = '0'; ; ) {
      const [next, found] = await c.scan(cursor, 'MATCH', 'bench:*', 'COUNT', 1000);
      if (found.length > 0) await c.del(...found);
      cursor = next;
      if (cursor === '0') break;
    }
    await c.quit();
  };
  return list;
}
