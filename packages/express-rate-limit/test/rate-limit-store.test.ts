import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { StowageRateLimitStore } from '../src/index.js';
import { get, limiterApp as app, nextWindow, roomInWindow, sleepUntil } from './limiter-app.js';

await describeStoreBackends((backend) => {
  let set: StoreSet;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(() => set.close());

  it('counts hits per client in fixed windows; the limit+1st is 429 until the window ends', async () => {
    // The deadline is not the subject: a long one, so a slow moment of a loaded machine cannot
    // fail a hit. Windows of 3 s leave seconds for the 7 hits that must fall in one.
    const W = 3000;
    const a = await app(set.rateLimits(), { windowMs: W, limit: 3 }, { timeoutMs: 5000 });
    try {
      // The first call on the store (connect, migrate) before the timed part, under another client.
      expect((await get(a, '/ok', 'warm-up')).status).toBe(200);
      // Start at the beginning of a window, as a fixed window counts from its boundary.
      const end = await nextWindow(W);
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await get(a, '/ok', 'ada')).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
      expect((await get(a, '/ok', 'bob')).status).toBe(200);
      const r = await get(a, '/ok', 'ada');
      expect(r.headers.get('ratelimit')).toMatch(/r=0/);
      await sleepUntil(end + 20);
      expect((await get(a, '/ok', 'ada')).status).toBe(200);
    } finally {
      await a.close();
    }
  });

  // A truthy value is what express-rate-limit acts on (it sends the refunds): the store must take them.
  it.each([true, 'yes'])('skipFailedRequests %s refunds failed hits (decrement), and resetKey clears a client', async (flag) => {
    const who = `carol-${flag}`;
    await roomInWindow(60_000, 10_000); // windows start on the epoch minute: every hit in one
    const a = await app(set.rateLimits(), { windowMs: 60_000, limit: 2, skipFailedRequests: flag as boolean }, { timeoutMs: 5000 });
    // A refund is sent when the response finishes, after the client has its answer: wait for it.
    const refundedTo = (totalHits: number) =>
      vi.waitFor(async () => expect((await a.limiter.getKey(who))?.totalHits).toBe(totalHits), { timeout: 5000, interval: 20 });
    try {
      for (let i = 0; i < 4; i++) expect((await get(a, '/fail', who)).status).toBe(500);
      await refundedTo(0);
      expect((await get(a, '/ok', who)).status).toBe(200);
      expect((await get(a, '/ok', who)).status).toBe(200);
      expect((await get(a, '/ok', who)).status).toBe(429);
      await refundedTo(2); // a 429 is a failed request too: refunded
      await a.limiter.resetKey(who);
      expect((await get(a, '/ok', who)).status).toBe(200);
    } finally {
      await a.close();
    }
  });

  if (backend.kind !== 'memory') {
    it('two replicas share one count: 40 racing requests over both, exactly 10 allowed', async () => {
      const ns = freshNamespace();
      const [setA, setB] = [await backend.open(ns), await backend.open(ns)];
      await roomInWindow(60_000, 15_000); // 40 calls of up to 10 s each, in one window
      // The count is the subject, not the time limit: 40 racing calls on a loaded machine may take over the default 1 s.
      const [a, b] = [
        await app(setA.rateLimits(), { windowMs: 60_000, limit: 10 }, { timeoutMs: 10_000 }),
        await app(setB.rateLimits(), { windowMs: 60_000, limit: 10 }, { timeoutMs: 10_000 }),
      ];
      try {
        const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => get(i % 2 ? a : b, '/ok', 'dave').then((r) => r.status)));
        expect([...a.errors, ...b.errors]).toEqual([]);
        expect(statuses.filter((s) => s === 200)).toHaveLength(10);
        expect(statuses.filter((s) => s === 429)).toHaveLength(30);
      } finally {
        await a.close();
        await b.close();
        await setA.close();
        await setB.close();
      }
    });
  }
});

describe('StowageRateLimitStore', () => {
  it('validates its options with StowageError', () => {
    expect(() => new StowageRateLimitStore({} as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => new StowageRateLimitStore({ store: { consume() {} } as never, prefix: '' })).toThrow(/prefix/);
    for (const timeoutMs of [0, 1.5, '1000', -1]) {
      expect(() => new StowageRateLimitStore({ store: { consume() {} } as never, timeoutMs } as never)).toThrow(/timeoutMs/);
    }
    expect(new StowageRateLimitStore({ store: { consume() {} } as never }).timeoutMs).toBe(1000);
  });
});
