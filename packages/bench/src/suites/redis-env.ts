import { createHash, randomBytes } from 'node:crypto';
import { fingerprintRequest, jsonCodec, type RateLimitPolicy } from '@stowage/core';
import { RedisIdempotencyStore, RedisRateLimitStore, RedisSessionStore, type RedisStoreOptions } from '@stowage/stores-redis';
import { Redis, type RedisOptions } from 'ioredis';
import { createClient, RESP_TYPES } from 'redis';
import { type Op, Unsupported } from '../harness.js';
import { keys, orderBody, responseBody, sessionObject, sessionOp } from './data.js';

export const DAY = 86_400_000;

export type NodeRedis = ReturnType<typeof createClient>;
export type Client = 'ioredis' | 'node-redis';

/** Options of our stores beside `client` and `prefix` (a variable, so a removed option is no compile error here). */
export type StoreExtras = Partial<Omit<RedisStoreOptions, 'client' | 'prefix'>> & { coalesceWrites?: boolean };

const BUFFERS = { typeMapping: { [RESP_TYPES.BLOB_STRING]: Buffer } } as const;

/**
 * What the Redis suites share: the server (REDIS_URL, else the local one), a connection per
 * contender on either driver (quit by `cleanup`), a key prefix per contender, the data.
 */
export function redisEnv() {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const quits: (() => Promise<unknown>)[] = [];
  /** An ioredis client with ioredis's defaults, or with `options` (e.g. `enableAutoPipelining`). */
  const ioredis = (options: RedisOptions = {}) => {
    const c = new Redis(url, options);
    quits.push(() => c.quit());
    return c;
  };
  /** A connected node-redis (`redis` v5) client with its defaults. */
  const nodeRedis = async (): Promise<NodeRedis> => {
    const c = createClient({ url });
    await c.connect();
    quits.push(() => c.quit());
    return c;
  };
  const client = (name: Client): Promise<Redis | NodeRedis> => (name === 'ioredis' ? Promise.resolve(ioredis()) : nodeRedis());
  const prefix = () => `bench:${randomBytes(4).toString('hex')}:`;
  const cleanup = async () => {
    for (const q of quits.splice(0)) await q().catch(() => {});
    // Every key a run wrote has a TTL of at most a day; drop them now anyway.
    const c = new Redis(url);
    for (let cursor = '0'; ; ) {
      const [next, found] = await c.scan(cursor, 'MATCH', 'bench:*', 'COUNT', 1000);
      if (found.length > 0) await c.del(...found);
      cursor = next;
      if (cursor === '0') break;
    }
    await c.quit();
  };
  const onCleanup = (quit: () => Promise<unknown>) => quits.push(quit);
  return { url, ioredis, nodeRedis, client, prefix, cleanup, onCleanup };
}

export type RedisEnv = ReturnType<typeof redisEnv>;

export const ipKeys = keys('ip', 10_000);
export const sids = keys('sid', 10_000);
export const sess = sessionObject();
export const policy: RateLimitPolicy = { algorithm: 'fixed-window', limit: 1_000_000_000, windowMs: 60_000 };
export const body = orderBody();
export const payload = JSON.stringify(body);
export const response = responseBody();
const responseBytes = new TextEncoder().encode(JSON.stringify(response));
export const completed = keys('done', 10_000);

/**
 * Our store on `client`; `Unsupported` when the store refuses that driver (a store that
 * takes ioredis only, before node-redis support), so the row says so instead of numbers.
 */
function ours<T>(make: (o: RedisStoreOptions) => T, client: object, prefix: string, extras: StoreExtras): T {
  try {
    return make({ client: client as RedisStoreOptions['client'], prefix, ...extras });
  } catch (err) {
    if (client instanceof Redis) throw err;
    throw new Unsupported(`not supported yet (${(err as Error).message.slice(0, 60)})`);
  }
}

export function oursRateLimit(client: object, prefix: string, extras: StoreExtras = {}): Op {
  const store = ours((o) => new RedisRateLimitStore(o), client, prefix, extras);
  return (i) => store.consume(ipKeys[i % ipKeys.length]!, policy);
}

export async function oursSession(client: object, prefix: string, kind: 'get' | 'set', extras: StoreExtras = {}): Promise<Op> {
  const store = ours((o) => new RedisSessionStore(o), client, prefix, extras);
  await forAll(sids, (sid) => store.set(sid, encodeSession(sid), { ttlMs: DAY }));
  return sessionOp(store, kind, sids, sess, true);
}

/** Runs `fn` on every item, 64 at a time (filling the data before a measurement). */
export async function forAll<T>(items: readonly T[], fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += 64) await Promise.all(items.slice(i, i + 64).map(fn));
}

/** The key of call `i`: new keys (of this run) or the completed ones, in turn. */
export function idempotencyKeys(replay: boolean): (i: number) => string {
  const generation = randomBytes(4).toString('hex');
  return (i) => (replay ? completed[i % completed.length]! : `${generation}-${i}`);
}

/** Reserve, and complete what was reserved: a first request, or a replay of a completed key. */
export async function oursIdempotency(client: object, prefix: string, replay: boolean, extras: StoreExtras = {}): Promise<Op> {
  const store = ours((o) => new RedisIdempotencyStore(o), client, prefix, extras);
  const key = idempotencyKeys(replay);
  const first = async (k: string) => {
    const fp = fingerprintRequest({ method: 'POST', path: '/orders', body: payload });
    const r = await store.reserve('tenant-1', k, fp, { leaseMs: 30_000 });
    if (r.state === 'reserved') {
      const stored = { status: 201, headers: [['content-type', 'application/json']] as [string, string][], body: responseBytes };
      await store.complete('tenant-1', k, r.token, stored, { retentionMs: DAY });
    }
    return r;
  };
  if (replay) await forAll(completed, first);
  return (i) => first(key(i));
}

/** Runs a Lua script by EVALSHA: `keys` then `args` (numbers as text), bulk strings as Buffers. */
export type RawScript = (keys: string[], args: (string | number | Buffer)[]) => Promise<unknown>;

/**
 * A script on the raw driver, with nothing of ours in between: ioredis's `defineCommand`
 * (EVALSHA, EVAL on NOSCRIPT), node-redis's `sendCommand(['EVALSHA', ...])` after a
 * `SCRIPT LOAD` (the cheapest call it has: no per-command argument transform).
 */
export async function rawScript(client: Redis | NodeRedis, lua: string, numberOfKeys: number): Promise<RawScript> {
  if (client instanceof Redis) {
    const name = `bench_${createHash('sha1').update(lua).digest('hex').slice(0, 12)}`;
    client.defineCommand(name, { lua, numberOfKeys });
    const fn = (client as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[`${name}Buffer`]!.bind(client);
    return (k, a) => fn(...k, ...a);
  }
  const sha = await client.scriptLoad(lua);
  return (k, a) =>
    client.sendCommand(['EVALSHA', sha, String(k.length), ...k, ...a.map((x) => (Buffer.isBuffer(x) ? x : String(x)))], BUFFERS);
}

/** HMGET of `fields` on the raw driver, as Buffers. */
export function rawHmget(client: Redis | NodeRedis, key: string, fields: string[]): Promise<(Buffer | null)[]> {
  if (client instanceof Redis) return client.hmgetBuffer(key, ...fields);
  return client.sendCommand(['HMGET', key, ...fields], BUFFERS);
}

/** The session fields our store reads in one HMGET. */
export const SESSION_FIELDS = ['data', 'version', 'exp', 'abs', 'owner'];

/** Session rows' raw set: the fields our store writes, in one script with our key and argument count (2 keys, 9 args). */
export const SESSION_SET_LUA = `redis.call('HSET', KEYS[1], 'data', ARGV[4], 'version', 1, 'exp', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[5]) return {1, 1}`;

/** Encodes a session for raw rows as our store would store it. */
export const encodeSession = (sid: string): Buffer => {
  const u = jsonCodec.encode(sess, sid);
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
};

/** The three time arguments every script of ours starts with (see `lib.lua`): now, grace, deadline. */
export const timeArgs = (): [string, string, string] => ['', '0', String(Date.now() + 2000)];
