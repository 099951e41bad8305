import { setTimeout as sleep } from 'node:timers/promises';
import { describeBackends, imagesForAppSuites, redisBackends } from '@stowage/conformance/backends';
import { HoldingProxy } from '@stowage/conformance/faults';
import type { RateLimitStore } from '@stowage/core';
import { RedisRateLimitStore } from '@stowage/stores-redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { get, limiterApp, nextWindow, roomInWindow, sleepUntil, statuses } from './limiter-app.js';

// The store's own limit is far longer than ours: only the deadline of `timeoutMs` can end these calls.
const STORE_LIMIT_MS = 10_000;
const TIMEOUT_MS = 200;
const quiet = (client: Redis): Redis => client.on('error', () => {});

/** `store`, noting how each consume and peek ended: `<call> <key space> <ok or error code>`, e.g. `consume erl:r: TIMEOUT`. */
function recording(store: RateLimitStore, outcomes: string[]): RateLimitStore {
  const noted = <T>(call: string, key: string, answer: Promise<T>): Promise<T> =>
    answer.then(
      (value) => (outcomes.push(`${call} ${key.slice(0, 6)} ok`), value),
      (err: { code?: string }) => {
        outcomes.push(`${call} ${key.slice(0, 6)} ${err.code ?? String(err)}`);
        throw err;
      },
    );
  return {
    consume: (key, policy, opts) => noted('consume', key, store.consume(key, policy, opts)),
    peek: (key, policy, opts) => noted('peek', key, store.peek(key, policy, opts)),
    reset: (key, opts) => store.reset(key, opts),
    prune: () => store.prune(),
    close: () => store.close(),
  };
}

describe('a dead backend (Redis on a closed port) answers within timeoutMs', () => {
  const client = quiet(new Redis({ port: 1, host: '127.0.0.1', lazyConnect: true, retryStrategy: () => 200, maxRetriesPerRequest: null }));
  const store = new RedisRateLimitStore({ client, timeoutMs: STORE_LIMIT_MS });
  afterAll(async () => {
    await store.close();
    client.disconnect();
  });

  for (const passOnStoreError of [false, true]) {
    const outcome = passOnStoreError ? '200, the error logged' : "500 from Express's error handler";
    it(`with passOnStoreError ${passOnStoreError}: ${outcome}`, async () => {
      const a = await limiterApp(store, { windowMs: 60_000, limit: 5, passOnStoreError }, { timeoutMs: TIMEOUT_MS });
      try {
        const t0 = Date.now();
        const r = await get(a, '/ok', 'amy');
        expect(Date.now() - t0).toBeLessThan(2000);
        expect(r.status).toBe(passOnStoreError ? 200 : 500);
        expect(a.logged).toEqual(
          passOnStoreError ? ['express-rate-limit: error from store, allowing request without rate-limiting. UNAVAILABLE'] : [],
        );
        expect(a.errors.map((e) => e.split(' ')[0])).toEqual(passOnStoreError ? [] : ['UNAVAILABLE']);
      } finally {
        await a.close();
      }
    });
  }
});

describeBackends(await redisBackends(imagesForAppSuites('redis')), (backend) => {
  const { port } = new URL(backend.url);
  const prefix = `erl-test-${Math.random().toString(36).slice(2, 8)}:`;
  let proxy: HoldingProxy;
  let viaProxy: Redis;
  let direct: Redis;
  beforeAll(async () => {
    proxy = await HoldingProxy.start(Number(port));
    viaProxy = quiet(new Redis(proxy.port, '127.0.0.1'));
    direct = quiet(new Redis(backend.url));
  });
  afterAll(async () => {
    await proxy.deliver();
    const keys = await direct.keys(`${prefix}*`);
    if (keys.length > 0) await direct.del(...keys);
    viaProxy.disconnect();
    direct.disconnect();
    await proxy.close();
  });

  for (const passOnStoreError of [false, true]) {
    const answer = `${passOnStoreError ? '200' : '500'} within timeoutMs (passOnStoreError ${passOnStoreError})`;
    it(`a paused backend: ${answer}; the failed hit never counts, even once delivered`, async () => {
      const key = `paused-${passOnStoreError}`;
      await roomInWindow(60_000, 5000); // windows start on the epoch minute: both hits in one
      const store = new RedisRateLimitStore({ client: viaProxy, prefix, timeoutMs: STORE_LIMIT_MS });
      const options = { windowMs: 60_000, limit: 5, passOnStoreError };
      // The calls before and after the hold keep a long deadline; only `a` (same store, same
      // prefix) has the short one under test, so a slow moment of a loaded machine cannot fail
      // a call that is not about the hold.
      const long = await limiterApp(store, options, { timeoutMs: 5000 });
      const a = await limiterApp(store, options, { timeoutMs: TIMEOUT_MS });
      try {
        expect(await statuses(long, '/ok', key, 1)).toEqual([200]);
        proxy.hold();
        const t0 = Date.now();
        const r = await get(a, '/ok', key);
        expect(Date.now() - t0).toBeLessThan(2000);
        expect(r.status).toBe(passOnStoreError ? 200 : 500);
        expect(a.logged).toEqual(
          passOnStoreError ? ['express-rate-limit: error from store, allowing request without rate-limiting. TIMEOUT'] : [],
        );
        expect(a.errors.map((e) => e.split(' ')[0])).toEqual(passOnStoreError ? [] : ['TIMEOUT']);
        await proxy.deliver(); // the held hit reaches Redis now, after its deadline: refused there
        await sleep(100);
        expect((await long.limiter.getKey(key))?.totalHits).toBe(1);
        expect([...long.logged, ...long.errors]).toEqual([]);
      } finally {
        await proxy.deliver();
        await a.close();
        await long.close();
      }
    });
  }

  it('a refund held past its window end by a paused backend is refused there, never counted in the next window', async () => {
    // Windows of 4 s, failures answered 2 s before the end: the hits and the hold have 2 s before
    // the refunds are sent, and the refunds 2 s before the end, room for a loaded machine's
    // stalls. The deadline is not the subject (a refund's is its window's end): a long one.
    const W = 4000;
    const outcomes: string[] = [];
    const count = (outcome: string) => outcomes.filter((o) => o === outcome).length;
    const until = (outcome: string, n: number) => vi.waitFor(() => expect(count(outcome)).toBe(n), { timeout: 6000, interval: 20 });
    const store = recording(new RedisRateLimitStore({ client: viaProxy, prefix, timeoutMs: STORE_LIMIT_MS }), outcomes);
    const a = await limiterApp(store, { windowMs: W, limit: 3, skipFailedRequests: true }, { timeoutMs: 5000 });
    try {
      const end = await nextWindow(W);
      const failing = [get(a, `/fail-at?at=${end - 2000}`, 'ivy'), get(a, `/fail-at?at=${end - 2000}`, 'ivy')];
      // Both hits (a consume, and a peek of the refunds beside it) answered: nothing is in flight.
      await until('consume erl:h: ok', 2);
      await until('peek erl:r: ok', 2);
      proxy.hold(); // the two refunds, sent 2 s before the end, wait in the proxy
      expect((await Promise.all(failing)).map((r) => r.status)).toEqual([500, 500]);
      await sleepUntil(end + 150);
      // Both failed at their deadline, the window's end (a timer due before this sleep's), held.
      expect(outcomes.filter((o) => o.startsWith('consume erl:r:'))).toEqual(['consume erl:r: TIMEOUT', 'consume erl:r: TIMEOUT']);
      await proxy.deliver(); // they reach Redis 150 ms (or more) after their deadline
      // The next window's hits follow the refunds on the same connection: Redis runs them after.
      expect(await statuses(a, '/ok', 'ivy', 4)).toEqual([200, 200, 200, 429]);
      expect([...a.logged, ...a.errors]).toEqual([]);
    } finally {
      await proxy.deliver();
      await a.close();
    }
  });
});
