import { Idempotency } from '@node-idempotency/core';
import { RedisStorageAdapter } from '@node-idempotency/storage-adapter-redis';
import { fingerprintRequest, jsonCodec } from '@stowage/core';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { oursOver, type ClientRatio } from '../client-ratios.js';
import { type Comparison, type Contender, type Op, Unsupported } from '../harness.js';
import {
  body,
  type Client,
  completed,
  DAY,
  encodeSession,
  forAll,
  idempotencyKeys,
  ipKeys,
  type NodeRedis,
  oursIdempotency,
  oursRateLimit,
  oursSession,
  payload,
  rawHmget,
  rawScript,
  redisEnv,
  response,
  SESSION_FIELDS,
  SESSION_SET_LUA,
  sess,
  sids,
  timeArgs,
} from './redis-env.js';

const CLIENTS: readonly Client[] = ['ioredis', 'node-redis'];

/**
 * Redis rows, on each client (ioredis, and node-redis: the `redis` package, v5): our store,
 * the anchor on that client where the anchor takes it, and the raw ceiling of that client
 * (EVALSHA of a trivial script with our key and argument count; the plain command where our
 * store uses one). Every contender has its own connection and key prefix; `clientRatios`
 * prints ours over the anchor and the ceiling of the same client.
 */
export function redisComparisons(): Comparison[] {
  const env = redisEnv();

  /** Our store on `client`; on node-redis any failure to set up prints as the row's reason. */
  const ours = (client: Client, make: (c: object, prefix: string) => Op | Promise<Op>): Contender => ({
    library: `stowage (${client})`,
    client,
    role: 'ours',
    setup: async () => {
      const c = await env.client(client);
      if (client === 'ioredis') return make(c, env.prefix());
      try {
        return await make(c, env.prefix());
      } catch (err) {
        if (err instanceof Unsupported) throw err;
        throw new Unsupported(`failed on node-redis: ${(err as Error).message.slice(0, 80)}`);
      }
    },
  });

  /** A raw row of `client`: `build` gets a fresh connection and key prefix. */
  const raw = (client: Client, what: string, role: 'ceiling' | 'reference', build: (c: Redis | NodeRedis, p: string) => Promise<Op>) => ({
    library: `raw ${client} ${what}${role === 'ceiling' ? ' (ceiling)' : ''}`,
    client,
    role,
    setup: async () => build(await env.client(client), env.prefix()),
  });

  const rateLimiter = (client: Client): Contender => ({
    library: `rate-limiter-flexible RateLimiterRedis (${client})`,
    client,
    role: 'anchor',
    setup: async () => {
      const storeClient = await env.client(client);
      const limiter = new RateLimiterRedis({
        storeClient,
        useRedisPackage: client === 'node-redis',
        keyPrefix: env.prefix(),
        points: 1_000_000_000,
        duration: 60,
      });
      return (i) => limiter.consume(ipKeys[i % ipKeys.length]!).catch((r: unknown) => r);
    },
  });

  // The least a script can do per consume: a counter per window, with our 1 key and 11 arguments.
  const COUNTER = `local n = redis.call('INCRBY', KEYS[1], ARGV[4])
if n == tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[10]) end return {n, 1, n, 0, 0}`;
  const rateLimit: Comparison = {
    contract: 'RateLimitStore',
    operation: 'consume, 10k keys',
    backend: 'redis',
    anchor: rateLimiter('ioredis'),
    ours: ours('ioredis', (c, p) => oursRateLimit(c, p)),
    others: [
      rateLimiter('node-redis'),
      ours('node-redis', (c, p) => oursRateLimit(c, p)),
      ...CLIENTS.map((client) =>
        raw(client, 'EVALSHA', 'ceiling', async (c, p) => {
          const run = await rawScript(c, COUNTER, 1);
          return (i) => {
            const window = Math.floor(Date.now() / 60_000);
            return run([`${p}${ipKeys[i % ipKeys.length]!}:${window}`], [...timeArgs(), 1, 1, 1, 'p', 'fixed-window', 1e9, 60_000, '']);
          };
        }),
      ),
    ],
  };

  const connectRedis = (client: Client, kind: 'get' | 'set'): Contender => ({
    library: `connect-redis (${client})`,
    client,
    role: 'anchor',
    setup: async () => {
      const c = await env.client(client);
      const prefix = env.prefix();
      const store = new ConnectRedisStore({ client: c as NodeRedis, prefix });
      if (c instanceof Redis) {
        // connect-redis 9 sets with node-redis's SET options object, which ioredis sends as text;
        // its get is a plain GET, so on ioredis the sessions are written as it would write them.
        const err = await store.set(sids[0]!, sess as never).then(
          () => undefined,
          (e: Error) => e,
        );
        if (kind === 'set' && err !== undefined) throw new Unsupported(`connect-redis 9 cannot set on ioredis (${err.message})`);
        await forAll(sids, (sid) => c.set(`${prefix}${sid}`, JSON.stringify(sess), 'EX', 86_400));
      } else {
        await forAll(sids, (sid) => store.set(sid, sess as never));
      }
      if (kind === 'get') return (i) => store.get(sids[i % sids.length]!);
      return (i) => store.set(sids[i % sids.length]!, sess as never);
    },
  });

  const sessionRows = (kind: 'get' | 'set'): Comparison => {
    const fill = async (c: Redis | NodeRedis, p: string) => {
      const set = await rawScript(c, SESSION_SET_LUA, 2);
      await forAll(sids, (sid) => set([`${p}${sid}`, `${p}due`], [...timeArgs(), encodeSession(sid), DAY, '', '', '', sid]));
      return set;
    };
    // Our get is one HMGET of five fields (with the server's clock); its script form is the reference.
    const getRows = CLIENTS.flatMap((client) => [
      raw(client, 'HMGET', 'ceiling', async (c, p) => {
        await fill(c, p);
        return async (i) => {
          const sid = sids[i % sids.length]!;
          const v = await rawHmget(c, `${p}${sid}`, SESSION_FIELDS);
          return v[0] && jsonCodec.decode(v[0], sid);
        };
      }),
      raw(client, 'EVALSHA', 'reference', async (c, p) => {
        await fill(c, p);
        const get = await rawScript(c, `return redis.call('HMGET', KEYS[1], 'data', 'version', 'exp', 'abs', 'owner')`, 1);
        return async (i) => {
          const sid = sids[i % sids.length]!;
          const v = (await get([`${p}${sid}`], timeArgs())) as Buffer[];
          return v[0] && jsonCodec.decode(v[0], sid);
        };
      }),
    ]);
    const setRows = CLIENTS.map((client) =>
      raw(client, 'EVALSHA', 'ceiling', async (c, p) => {
        const set = await fill(c, p);
        return (i) => {
          const sid = sids[i % sids.length]!;
          return set([`${p}${sid}`, `${p}due`], [...timeArgs(), encodeSession(sid), DAY, '', '', '', sid]);
        };
      }),
    );
    return {
      contract: 'SessionStore',
      operation: kind === 'get' ? 'get + JSON decode, 10k sessions' : 'set + JSON encode, 10k sessions',
      backend: 'redis',
      anchor: connectRedis('node-redis', kind),
      ours: ours('ioredis', (c, p) => oursSession(c, p, kind)),
      others: [
        connectRedis('ioredis', kind),
        ours('node-redis', (c, p) => oursSession(c, p, kind)),
        ...(kind === 'get' ? getRows : setRows),
      ],
    };
  };

  // Reserve (1 key, 6 arguments): the stored answer if any, else a lease; complete (1 key, 7 arguments).
  const RESERVE = `local v = redis.call('GET', KEYS[1]) if v then return {'completed', v} end
redis.call('SET', KEYS[1], ARGV[5], 'PX', ARGV[6]) return {'reserved'}`;
  const COMPLETE = `redis.call('SET', KEYS[1], ARGV[6], 'PX', ARGV[7]) return 1`;
  const responseBytes = Buffer.from(JSON.stringify({ status: 201, headers: [['content-type', 'application/json']], body: response }));

  const idempotency = (operation: string, replay: boolean): Comparison => ({
    contract: 'IdempotencyStore',
    operation,
    backend: 'redis',
    anchor: {
      // Its adapter makes its own client: node-redis 4 (its dependency); it takes no other.
      library: '@node-idempotency/core (redis adapter, node-redis 4)',
      client: 'node-redis',
      role: 'anchor',
      setup: async () => {
        const adapter = new RedisStorageAdapter({ url: env.url });
        await adapter.connect();
        env.onCleanup(() => adapter.disconnect());
        const idem = new Idempotency(adapter, { cacheTTLMS: DAY, cacheKeyPrefix: env.prefix() });
        const key = idempotencyKeys(replay);
        const first = async (k: string) => {
          const req = { headers: { 'idempotency-key': k }, path: '/orders', method: 'POST', body };
          const cached = await idem.onRequest(req);
          if (cached === undefined) await idem.onResponse(req, { body: response });
          return cached;
        };
        if (replay) await forAll(completed, first);
        return (i) => first(key(i));
      },
    },
    ours: ours('ioredis', (c, p) => oursIdempotency(c, p, replay)),
    others: [
      ours('node-redis', (c, p) => oursIdempotency(c, p, replay)),
      ...CLIENTS.map((client) =>
        raw(client, replay ? 'EVALSHA reserve' : 'EVALSHA reserve + EVALSHA complete', 'ceiling', async (c, p) => {
          const reserve = await rawScript(c, RESERVE, 1);
          const complete = await rawScript(c, COMPLETE, 1);
          const key = idempotencyKeys(replay);
          const first = async (k: string) => {
            const fp = fingerprintRequest({ method: 'POST', path: '/orders', body: payload });
            const r = (await reserve([`${p}${k}`], [...timeArgs(), fp, 'token', 30_000])) as Buffer[];
            if (r[0]!.toString() === 'reserved') await complete([`${p}${k}`], [...timeArgs(), 'token', 'complete', responseBytes, DAY]);
            return r;
          };
          if (replay) await forAll(completed, first);
          return (i) => first(key(i));
        }),
      ),
    ],
  });

  const list = [
    rateLimit,
    sessionRows('get'),
    sessionRows('set'),
    idempotency('reserve + complete, new keys', false),
    idempotency('replay a completed key', true),
  ];
  const lastOurs = list[list.length - 1]!.ours;
  lastOurs.teardown = env.cleanup;
  return list;
}

/**
 * The goals of issue 17 at 64 in flight: on node-redis, session get and set at least 1.0x
 * connect-redis, idempotency at least 1.2x @node-idempotency; consume at least 1.1x
 * RateLimiterRedis on each client; every row at least 0.9x its own client's raw ceiling.
 */
export function redisGoal(r: ClientRatio): string | undefined {
  if (r.load !== '64 in flight' || r.ours.backend !== 'redis') return undefined;
  const checks: string[] = [];
  const check = (name: string, v: number | undefined, min: number) =>
    checks.push(`${name} ${v === undefined ? 'n/a' : v >= min ? 'met' : 'NOT met'} (>= ${min.toFixed(1)}x)`);
  const onNodeRedis = r.client === 'node-redis';
  if (r.ours.contract === 'RateLimitStore' && !r.anchorElsewhere) check('anchor', oursOver(r, 'anchor'), 1.1);
  if (r.ours.contract === 'SessionStore' && onNodeRedis) check('anchor', oursOver(r, 'anchor'), 1.0);
  if (r.ours.contract === 'IdempotencyStore' && onNodeRedis) check('anchor', oursOver(r, 'anchor'), 1.2);
  check('ceiling', oursOver(r, 'ceiling'), 0.9);
  return checks.join('; ');
}
