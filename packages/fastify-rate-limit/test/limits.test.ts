// A real Fastify app with the real @fastify/rate-limit on every backend, two replicas over one
// namespace: exact admitted counts, the x-ratelimit-* headers, windows ending, route stores.
// Windows start at each key's first hit (see windows.test.ts), so 60 s windows hold every hit of a test.
import { describeStoreBackends } from '@stowage/test-stores';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type LimiterApp, limiterApp, openReplicas, type Replicas, statuses } from './app.js';
import { sleep } from './hits.js';

await describeStoreBackends((backend) => {
  let replicas: Replicas;
  let a: LimiterApp;
  let b: LimiterApp;
  let short: LimiterApp[];
  beforeAll(async () => {
    replicas = await openReplicas(backend);
    const [storeA, storeB] = replicas.stores;
    [a, b] = [await limiterApp(storeA, { max: 10, timeWindow: 60_000 }), await limiterApp(storeB, { max: 10, timeWindow: 60_000 })];
    // Short windows, under their own prefix so the same client names count apart.
    short = [
      await limiterApp(storeA, { max: 3, timeWindow: 1000 }, { prefix: 'short:' }),
      await limiterApp(storeB, { max: 3, timeWindow: 1000 }, { prefix: 'short:' }),
    ];
  });
  afterAll(async () => {
    for (const app of [a, b, ...short]) await app.app.close();
    await replicas.close();
  });

  it('two replicas share one count: 40 racing requests over both, exactly 10 admitted, each remaining once', async () => {
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).get('/ok', 'dave')));
    expect([...a.errors, ...b.errors]).toEqual([]);
    const admitted = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status === 429);
    expect([admitted.length, refused.length]).toEqual([10, 30]);
    // Each admitted hit got its own rank in the window: remaining 9, 8, ..., 0 once each.
    expect(admitted.map((r) => Number(r.remaining)).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const r of [...admitted, ...refused]) {
      expect(r.limit).toBe('10');
      expect(Number(r.reset)).toBeGreaterThanOrEqual(1);
      expect(Number(r.reset)).toBeLessThanOrEqual(60);
    }
    for (const r of refused) expect([r.remaining, r.retryAfter]).toEqual(['0', r.reset]);
    expect(admitted.every((r) => r.retryAfter === undefined)).toBe(true);
    // Hits over the limit are counted too (ban needs them): a read sees all 40.
    expect((await b.get('/ok', 'dave')).status).toBe(429);
  });

  it('a window admits max hits over both replicas, then 429 until it ends; the next window admits again', async () => {
    // The window starts when the key's first hit reads the backend's clock, not before it is
    // sent (sentAt) and at the latest when it is answered (start), and lasts the whole timeWindow: reset 1 s.
    const sentAt = Date.now();
    const first = await short[0]!.get('/ok', 'erin');
    const start = Date.now();
    expect(first).toMatchObject({ status: 200, limit: '3', remaining: '2', reset: '1' });
    const rest = await statuses([short[1]!, short[0]!], '/ok', 'erin', 4);
    if (Date.now() - sentAt < 900) expect(rest).toEqual([200, 200, 429, 429]); // all in the first window
    await sleep(1000 - (Date.now() - start) + 100);
    expect(await short[1]!.get('/ok', 'erin')).toMatchObject({ status: 200, remaining: '2', reset: '1' });
  });

  it('route limits count in their own child stores, shared by the replicas; rateLimit: false counts nothing', async () => {
    expect(await statuses([a, b], '/a', 'fay', 3)).toEqual([200, 200, 429]);
    expect(await statuses([b, a], '/b', 'fay', 4)).toEqual([200, 200, 200, 429]);
    expect((await b.get('/b', 'fay')).limit).toBe('3');
    expect(await statuses([a, b], '/ok', 'fay', 11)).toEqual([...Array(10).fill(200), 429]);
    expect(await statuses([a, b], '/free', 'fay', 3)).toEqual([200, 200, 200]);
    expect((await a.get('/free', 'fay')).limit).toBeUndefined();
  });

  it('createRateLimit limiters count apart on both replicas; { increment: false } reads without counting', async () => {
    const check = async (app: LimiterApp, path: string) =>
      JSON.parse((await app.app.inject({ url: path, headers: { 'x-client': 'gus' } })).body);
    expect(await check(a, '/check/login?peek=1')).toEqual({ exceeded: false, remaining: 2, ttl: 0 });
    expect(await check(a, '/check/login')).toMatchObject({ exceeded: false, remaining: 1 });
    expect(await check(b, '/check/login')).toMatchObject({ exceeded: false, remaining: 0 });
    expect(await check(a, '/check/login?peek=1')).toMatchObject({ exceeded: false, remaining: 0 });
    expect(await check(b, '/check/login')).toMatchObject({ exceeded: true, remaining: 0 });
    const read = await check(b, '/check/login?peek=1');
    expect(read).toMatchObject({ exceeded: true, remaining: 0 });
    expect(read.ttl).toBeGreaterThan(0);
    expect(read.ttl).toBeLessThanOrEqual(60_000);
    expect(await check(a, '/check/otp')).toMatchObject({ exceeded: false, remaining: 2 }); // another limiter, another count
  });

  it('ban: hits over max are counted, so the plugin answers 403 once they pass ban', async () => {
    const banning = await limiterApp(replicas.stores[1], { max: 2, timeWindow: 60_000, ban: 1 }, { prefix: 'ban:' });
    const other = await limiterApp(replicas.stores[0], { max: 2, timeWindow: 60_000, ban: 1 }, { prefix: 'ban:' });
    try {
      expect(await statuses([banning, other], '/ok', 'hal', 5)).toEqual([200, 200, 429, 403, 403]);
    } finally {
      await banning.app.close();
      await other.app.close();
    }
  });

  it('any key is counted: over 1024 bytes, with U+0000, numbers; different keys never share a count', async () => {
    const long = 'k'.repeat(3000);
    const keys = [long, `${long}x`, 'nul\u0000byte', 'nul\u0001byte'];
    const numeric = await limiterApp(replicas.stores[0], { max: 1, timeWindow: 60_000, keyGenerator: () => 42 }, { prefix: 'num:' });
    try {
      for (const key of keys) expect(await statuses([a, b], '/a', key, 3)).toEqual([200, 200, 429]);
      expect(await statuses([numeric], '/ok', 'any', 2)).toEqual([200, 429]);
    } finally {
      await numeric.app.close();
    }
  });

  it('timeWindow 0 makes every hit its own window, as in the built-in stores: current 1, reset 0', async () => {
    const zero = await limiterApp(replicas.stores[0], { max: 1, timeWindow: 0 }, { prefix: 'zero:' });
    try {
      for (let i = 0; i < 3; i++) expect(await zero.get('/ok', 'ivy')).toMatchObject({ status: 200, remaining: '0', reset: '0' });
    } finally {
      await zero.app.close();
    }
  });
});
