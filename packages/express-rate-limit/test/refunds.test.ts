import { setTimeout as sleep } from 'node:timers/promises';
import type { RateLimitStore } from '@stowage/core';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import { MemoryStore } from 'express-rate-limit';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { StowageRateLimitStore } from '../src/index.js';
import { get, limiterApp, nextWindow, roomInWindow, sleepUntil, statuses } from './limiter-app.js';

/** What express-rate-limit calls on a store (both ours and its own MemoryStore have these). */
interface ErlStore {
  init(options: object): void;
  increment(key: string): Promise<{ totalHits: number }>;
  decrement(key: string): Promise<void>;
}

const hitsOf = async (s: ErlStore, key: string, n: number): Promise<number[]> => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await s.increment(key)).totalHits);
  return out;
};

/**
 * The store, with every refund (`consume` of an `erl:r:` key) started `delayMs` late, as if
 * it had waited in a queue; `outcomes` gets each refund's result, or its error code.
 */
function slowRefunds(store: RateLimitStore, delayMs: number, outcomes: string[]): RateLimitStore {
  return {
    consume: async (key, policy, opts) => {
      if (!key.startsWith('erl:r:')) return store.consume(key, policy, opts);
      await sleep(delayMs);
      return store.consume(key, policy, opts).then(
        (d) => (outcomes.push('counted'), d),
        (e: { code?: string }) => {
          outcomes.push(e.code ?? String(e));
          throw e;
        },
      );
    },
    peek: (key, policy, opts) => store.peek(key, policy, opts),
    reset: (key, opts) => store.reset(key, opts),
    prune: () => store.prune(),
    close: () => store.close(),
  };
}

await describeStoreBackends((backend) => {
  let set: StoreSet;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(() => set.close());

  const store = (init: object, timeoutMs?: number): StowageRateLimitStore => {
    const s = new StowageRateLimitStore({ store: set.rateLimits(), timeoutMs });
    s.init(init as never);
    return s;
  };

  it("decrement twice, then increment three times: 1, 2, 3, as express-rate-limit's own MemoryStore", async () => {
    await roomInWindow(60_000, 5000);
    for (const [i, options] of [{ windowMs: 60_000 }, { windowMs: 60_000, skipFailedRequests: true }].entries()) {
      const theirs = new MemoryStore();
      for (const s of [theirs, store(options)] as ErlStore[]) {
        s.init(options);
        await s.decrement(`seq${i}`);
        await s.decrement(`seq${i}`);
        expect(await hitsOf(s, `seq${i}`, 3)).toEqual([1, 2, 3]);
      }
      theirs.shutdown();
    }
  });

  it('a refund after its window ended changes nothing (windowMs 1000)', async () => {
    // The deadline is not the subject: a long one. The store's first call (connect, clock) comes
    // before the timed part.
    const s = store({ windowMs: 1000, skipFailedRequests: true }, 5000);
    expect(await s.get('warm-up')).toBeUndefined();
    // The windows are the backend's, on the epoch second: calls sent after a window's start and
    // answered before its end were counted in it. When a stall of a loaded machine pushes a call
    // past its window's end, that try proves nothing and the timeline runs again, under a new key.
    for (let attempt = 1; attempt <= 5; attempt++) {
      const key = `late-${attempt}`;
      const end = await nextWindow(1000);
      const before = await hitsOf(s, key, 2);
      if (Date.now() >= end) continue;
      expect(before).toEqual([1, 2]);
      await sleepUntil(end + 50);
      await s.decrement(key); // its hit's window is over: nothing left to take back
      const after = await hitsOf(s, key, 2);
      const total = (await s.get(key))?.totalHits;
      if (Date.now() >= end + 1000) continue;
      expect(after).toEqual([1, 2]);
      expect(total).toBe(2);
      return;
    }
    expect.fail('in 5 tries, a stall pushed a call past the end of its 1 s window every time');
  });

  it('refunds never outnumber the hits counted in the window: 5 hits, 20 racing decrements, 5 refunds', async () => {
    await roomInWindow(60_000, 5000);
    const s = store({ windowMs: 60_000, skipFailedRequests: true });
    expect(await hitsOf(s, 'race', 5)).toEqual([1, 2, 3, 4, 5]);
    await Promise.all(Array.from({ length: 20 }, () => s.decrement('race')));
    expect(await hitsOf(s, 'race', 2)).toEqual([1, 2]);
    expect((await s.get('race'))?.totalHits).toBe(2);
  });

  it('after resetKey the hits counted before it cannot be refunded', async () => {
    await roomInWindow(60_000, 5000);
    const s = store({ windowMs: 60_000, skipSuccessfulRequests: true });
    expect(await hitsOf(s, 'reset', 2)).toEqual([1, 2]);
    await s.resetKey('reset');
    await s.decrement('reset');
    expect(await hitsOf(s, 'reset', 2)).toEqual([1, 2]);
  });

  if (backend.kind !== 'memory') {
    it("a replica refunds only hits it counted: A counts 3, B counts 2 and decrements 5 times, A's next hit is the 4th", async () => {
      const ns = freshNamespace();
      const [setA, setB] = [await backend.open(ns), await backend.open(ns)];
      try {
        await roomInWindow(60_000, 5000);
        const options = { windowMs: 60_000, skipFailedRequests: true };
        const [a, b] = [new StowageRateLimitStore({ store: setA.rateLimits() }), new StowageRateLimitStore({ store: setB.rateLimits() })];
        a.init(options);
        b.init(options);
        expect(await hitsOf(a, 'shared', 3)).toEqual([1, 2, 3]);
        expect(await hitsOf(b, 'shared', 2)).toEqual([4, 5]);
        await Promise.all(Array.from({ length: 5 }, () => b.decrement('shared')));
        expect(await hitsOf(a, 'shared', 1)).toEqual([4]);
      } finally {
        await setA.close();
        await setB.close();
      }
    });
  }

  it('skipFailedRequests over HTTP: failed requests straddling a window boundary are never refunded into the next window', async () => {
    // Windows of 3 s: the next window's requests and their refunds (each 700 ms late) land in it
    // with seconds to spare. The deadline is not the subject: a long one for every call.
    const W = 3000;
    const refunds: string[] = [];
    const refundsIn = (n: number) => vi.waitFor(() => expect(refunds.length).toBeGreaterThanOrEqual(n), { timeout: 5000, interval: 20 });
    const a = await limiterApp(
      slowRefunds(set.rateLimits(), 700, refunds),
      { windowMs: W, limit: 3, skipFailedRequests: true },
      { timeoutMs: 5000 },
    );
    try {
      const end = await nextWindow(W);
      // Two fail 400 ms before the window ends: express-rate-limit refunds them, but the refunds
      // start 300 ms after the end, past their deadline (the window's end), so the store
      // refuses them. One fails 100 ms after the end: express-rate-limit sends no refund.
      const failing = [end - 400, end - 400, end + 100].map((at) => get(a, `/fail-at?at=${at}`, 'erin'));
      expect((await Promise.all(failing)).map((r) => r.status)).toEqual([500, 500, 500]);
      await refundsIn(2);
      expect(refunds).toEqual(['TIMEOUT', 'TIMEOUT']);
      // The next window starts from zero hits, not from two refunds: the store refused both.
      expect(await statuses(a, '/ok', 'erin', 4)).toEqual([200, 200, 200, 429]);
      // Failures in this window are refunded exactly: the 429 above, and two more.
      expect(await statuses(a, '/fail', 'erin', 2)).toEqual([429, 429]);
      await refundsIn(5);
      expect(refunds).toEqual(['TIMEOUT', 'TIMEOUT', 'counted', 'counted', 'counted']);
      expect((await a.limiter.getKey('erin'))?.totalHits).toBe(3);
      expect(a.logged).toEqual([]);
    } finally {
      await a.close();
    }
  });
});
