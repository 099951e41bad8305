#!/usr/bin/env node
/**
 * Where a Redis call's time goes: for each operation at 64 calls in flight, ops/s, the CPU
 * time this Node process spends per call (`process.cpuUsage`) and the CPU time Redis spends
 * per call (`INFO cpu` of the server, so any REDIS_URL works). Contenders alternate for
 * `--rounds` rounds of `--duration` ms; the median round (by ops/s) is printed. Consume and
 * session get and set also run on node-redis, consume with a raw EVALSHA of our key and
 * argument count on each client.
 *
 *   npm run bench:redis-cpu
 *   npm run bench:redis-cpu -- --rounds 5 --duration 2000
 */
import { parseArgs } from 'node:util';
import type { RateLimitPolicy } from '@stowage/core';
import { RedisRateLimitStore, RedisSessionStore } from '@stowage/stores-redis';
import { RedisStore as ConnectRedisStore } from 'connect-redis';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { createClient } from 'redis';
import type { Op } from './harness.js';
import { keys, sessionObject, sessionOp } from './suites/data.js';
import { type NodeRedis, rawScript, timeArgs } from './suites/redis-env.js';

const IN_FLIGHT = 64;

/** Redis's own CPU time so far, µs (user + system, from `INFO cpu`). */
async function serverCpuUs(admin: Redis): Promise<number> {
  const info = await admin.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1]);
  return (field('used_cpu_user') + field('used_cpu_sys')) * 1e6;
}

/** Reads of client sockets Redis has made so far (`INFO stats`): calls per read is the batch size. */
async function serverReads(admin: Redis): Promise<number> {
  const info = await admin.info('stats');
  return Number(/^total_reads_processed:(\d+)/m.exec(info)?.[1]);
}

async function measure(op: Op, durationMs: number, admin: Redis) {
  for (let i = 0; i < 1000; i++) await op(i); // warm-up
  let count = 0;
  let stop = false;
  const cpu0 = process.cpuUsage();
  const server0 = await serverCpuUs(admin);
  const reads0 = await serverReads(admin);
  const t0 = performance.now();
  const timer = setTimeout(() => (stop = true), durationMs);
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async (_, w) => {
      for (let i = w; !stop; i += IN_FLIGHT, count++) await op(i);
    }),
  );
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const server = (await serverCpuUs(admin)) - server0;
  const reads = (await serverReads(admin)) - reads0;
  return { opsPerSec: count / seconds, nodeUs: (cpu.user + cpu.system) / count, redisUs: server / count, perRead: count / reads };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { duration: { type: 'string', default: '1500' }, rounds: { type: 'string', default: '3' } } });
  const durationMs = Number(values.duration);
  const rounds = Number(values.rounds);
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const admin = new Redis(url);
  const quit: (() => Promise<unknown>)[] = [() => admin.quit()];
  const ioredis = () => {
    const c = new Redis(url);
    quit.push(() => c.quit());
    return c;
  };
  const nodeRedis = createClient({ url });
  await nodeRedis.connect();
  quit.push(() => nodeRedis.quit());
  const prefix = `bench-cpu:${process.pid}:`;
  const ips = keys('ip', 10_000);
  const sids = keys('sid', 10_000);
  const sess = sessionObject();
  const policy: RateLimitPolicy = { algorithm: 'fixed-window', limit: 1_000_000_000, windowMs: 60_000 };
  const limiter = (coalesceWrites: boolean) =>
    new RedisRateLimitStore({ client: ioredis(), prefix: `${prefix}rl${coalesceWrites}:`, coalesceWrites });
  const sessions = (coalesceWrites: boolean) =>
    new RedisSessionStore({ client: ioredis(), prefix: `${prefix}s${coalesceWrites}:`, coalesceWrites });
  const rlf = new RateLimiterRedis({ storeClient: ioredis(), keyPrefix: `${prefix}rlf`, points: 1_000_000_000, duration: 60 });
  const connectRedis = new ConnectRedisStore({ client: nodeRedis, prefix: `${prefix}cr:` });
  for (const sid of sids) await connectRedis.set(sid, sess as never);
  const plain = ioredis();
  const on = limiter(true);
  const off = limiter(false);
  // The same on node-redis: our store, the anchor, and a raw EVALSHA with our key and argument count.
  const nodeRedisStore = new RedisRateLimitStore({ client: nodeRedis as never, prefix: `${prefix}rlnr:` });
  const nodeRedisSessions = new RedisSessionStore({ client: nodeRedis as never, prefix: `${prefix}snr:` });
  const rlfNodeRedis = new RateLimiterRedis({
    storeClient: nodeRedis,
    useRedisPackage: true,
    keyPrefix: `${prefix}rlfnr`,
    points: 1_000_000_000,
    duration: 60,
  });
  const counter = `local n = redis.call('INCRBY', KEYS[1], ARGV[4])
if n == tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[10]) end return {n, 1, n, 0, 0}`;
  const rawCounter = async (c: Redis | NodeRedis, p: string): Promise<Op> => {
    const run = await rawScript(c, counter, 1);
    return (i) =>
      run([`${p}${ips[i % ips.length]!}:${Math.floor(Date.now() / 60_000)}`], [...timeArgs(), 1, 1, 1, 'p', 'f', 1e9, 60_000, '']);
  };
  const rawIoredis = await rawCounter(ioredis(), `${prefix}rawio:`);
  const rawNodeRedis = await rawCounter(nodeRedis, `${prefix}rawnr:`);
  const groups: [string, [string, Op][]][] = [
    [
      'RateLimitStore consume, 10k keys',
      [
        ['rate-limiter-flexible RateLimiterRedis', (i) => rlf.consume(ips[i % ips.length]!).catch((r: unknown) => r)],
        ['stowage', (i) => on.consume(ips[i % ips.length]!, policy)],
        ['stowage (coalesceWrites: false)', (i) => off.consume(ips[i % ips.length]!, policy)],
        ['raw ioredis EVALSHA (1 key, 11 arguments)', rawIoredis],
      ],
    ],
    [
      'RateLimitStore consume, 10k keys, node-redis',
      [
        ['rate-limiter-flexible RateLimiterRedis (node-redis)', (i) => rlfNodeRedis.consume(ips[i % ips.length]!).catch((r: unknown) => r)],
        ['stowage (node-redis)', (i) => nodeRedisStore.consume(ips[i % ips.length]!, policy)],
        ['raw node-redis EVALSHA (1 key, 11 arguments)', rawNodeRedis],
      ],
    ],
    [
      'SessionStore get + JSON decode, 10k sessions',
      [
        ['connect-redis (node-redis)', (i) => connectRedis.get(sids[i % sids.length]!)],
        ['stowage', await sessionOp(sessions(true), 'get', sids, sess)],
        ['stowage (coalesceWrites: false)', await sessionOp(sessions(false), 'get', sids, sess)],
      ],
    ],
    [
      'SessionStore get + JSON decode, 10k sessions, node-redis',
      [
        ['connect-redis (node-redis)', (i) => connectRedis.get(sids[i % sids.length]!)],
        ['stowage (node-redis)', await sessionOp(nodeRedisSessions, 'get', sids, sess)],
      ],
    ],
    [
      'SessionStore set + JSON encode, 10k sessions, node-redis',
      [
        ['connect-redis (node-redis)', (i) => connectRedis.set(sids[i % sids.length]!, sess as never)],
        ['stowage (node-redis)', await sessionOp(nodeRedisSessions, 'set', sids, sess, true)],
      ],
    ],
    [
      'a plain GET of a missing key',
      [
        ['node-redis', (i) => nodeRedis.get(`${prefix}none:${i % 10_000}`)],
        ['ioredis', (i) => plain.get(`${prefix}none:${i % 10_000}`)],
      ],
    ],
  ];
  console.log(`Redis CPU bench: ${IN_FLIGHT} in flight, ${rounds} rounds of ${durationMs} ms (median round by ops/s)`);
  console.log(`| operation | library | ops/s | Node CPU µs/call | Redis CPU µs/call | calls per Redis read |`);
  console.log(`| --- | --- | ---: | ---: | ---: | ---: |`);
  for (const [operation, contenders] of groups) {
    const results = contenders.map(() => [] as Awaited<ReturnType<typeof measure>>[]);
    for (let r = 0; r < rounds; r++) {
      for (const [k, [, op]] of contenders.entries()) results[k]!.push(await measure(op, durationMs, admin));
    }
    for (const [k, [library]] of contenders.entries()) {
      const m = results[k]!.sort((a, b) => a.opsPerSec - b.opsPerSec)[Math.floor(rounds / 2)]!;
      const cells = [
        operation,
        library,
        Math.round(m.opsPerSec).toLocaleString('en-US'),
        m.nodeUs.toFixed(1),
        m.redisUs.toFixed(1),
        m.perRead.toFixed(1),
      ];
      console.log(`| ${cells.join(' | ')} |`);
    }
  }
  for (let cursor = '0'; ; ) {
    const [next, found] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    if (found.length > 0) await admin.del(...found);
    cursor = next;
    if (cursor === '0') break;
  }
  for (const q of quit) await q().catch(() => {});
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
