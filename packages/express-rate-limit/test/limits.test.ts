import { MAX_DURATION_MS } from '@stowage/core';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { StowageRateLimitStore } from '../src/index.js';
import { get, limiterApp } from './limiter-app.js';

const W = 60_000;
const MAX = Math.floor(2 ** 52 / W); // 75,059,993,789: limit * windowMs within 2^52

await describeStoreBackends((backend) => {
  let set: StoreSet;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(() => set.close());

  it('init refuses a limit above what one window can count (INVALID_ARGUMENT), and so does every call after it', async () => {
    const s = new StowageRateLimitStore({ store: set.rateLimits() });
    const tooLarge = { code: 'INVALID_ARGUMENT', message: expect.stringContaining(`at most ${MAX}`) };
    expect(() => s.init({ windowMs: W, limit: MAX + 1 })).toThrow(expect.objectContaining(tooLarge));
    await expect(s.increment('k')).rejects.toMatchObject(tooLarge);
    await expect(s.get('k')).rejects.toMatchObject(tooLarge);
    expect(() => s.init({ windowMs: W, max: MAX + 1 })).toThrow(expect.objectContaining(tooLarge)); // the old name
    expect(() => s.init({ windowMs: W, limit: Infinity })).toThrow(expect.objectContaining(tooLarge));
    expect(() => s.init({ windowMs: W, limit: NaN })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => s.init({ windowMs: 0, limit: 5 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    // The largest limit is accepted, and a valid init lifts the refusal.
    s.init({ windowMs: W, limit: MAX });
    expect(s.maxLimit).toBe(MAX);
    expect((await s.increment('k')).totalHits).toBe(1);
    s.init({ windowMs: W, limit: () => MAX + 1 }); // a function is only known per request
  });

  it('over HTTP, a refused limit makes every request 500, or pass with passOnStoreError; the refusal is logged', async () => {
    for (const passOnStoreError of [false, true]) {
      const a = await limiterApp(set.rateLimits(), { windowMs: W, limit: MAX + 1, passOnStoreError });
      try {
        expect(a.logged).toEqual(['express-rate-limit: error during store initialization. INVALID_ARGUMENT']);
        expect((await get(a, '/ok', 'zoe')).status).toBe(passOnStoreError ? 200 : 500);
        if (passOnStoreError)
          expect(a.logged[1]).toBe('express-rate-limit: error from store, allowing request without rate-limiting. INVALID_ARGUMENT');
        expect(a.errors.map((e) => e.split(' ')[0])).toEqual(passOnStoreError ? [] : ['INVALID_ARGUMENT']);
      } finally {
        await a.close();
      }
    }
  });

  it('a window holding maxLimit hits (ten-year window): limit maxLimit answers 429, a limit function CONFLICT (500)', async () => {
    const max = 14_271; // floor(2^52 / ten years)
    const store = set.rateLimits();
    const numeric = await limiterApp(store, { windowMs: MAX_DURATION_MS, limit: max });
    const fn = await limiterApp(store, { windowMs: MAX_DURATION_MS, limit: () => 5 });
    try {
      // Hits are counted under `erl:h:<key>` in a fixed window of limit maxLimit: fill all but one at once.
      await store.consume('erl:h:full', { algorithm: 'fixed-window', limit: max, windowMs: MAX_DURATION_MS }, { cost: max - 1 });
      expect((await numeric.store.increment('full')).totalHits).toBe(max); // the last hit the window can count
      expect((await get(numeric, '/ok', 'full')).status).toBe(429);
      expect((await numeric.store.increment('full')).totalHits).toBe(max + 1); // over the limit; not counted
      await expect(fn.store.increment('full')).rejects.toMatchObject({ code: 'CONFLICT', details: { maxLimit: max } });
      expect((await get(fn, '/ok', 'full')).status).toBe(500);
      expect(fn.errors.map((e) => e.split(' ')[0])).toEqual(['CONFLICT']);
      expect((await numeric.limiter.getKey('full'))?.totalHits).toBe(max);
      expect(numeric.store.maxLimit).toBe(max);
    } finally {
      await numeric.close();
      await fn.close();
    }
  });
});
