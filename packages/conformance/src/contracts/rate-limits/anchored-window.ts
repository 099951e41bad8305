import type { RateLimitPolicy } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { RateLimitOpen } from './fixtures.js';

// A time that is no multiple of any window here: an epoch-aligned window would end earlier.
const T0 = 1_800_000_000_123;

export function rateLimitAnchoredWindowTests(open: RateLimitOpen): void {
  describe('anchored-window', () => {
    it("keep: the window starts at the key's first call and lasts windowMs; then a new one starts at the next call", async () => {
      const { store, clock } = await open();
      const p: RateLimitPolicy = { algorithm: 'anchored-window', limit: 3, windowMs: 1000 };
      clock.set(T0);
      expect(await store.peek('k', p)).toMatchObject({ allowed: true, remaining: 3, resetMs: 0 });
      expect(await store.consume('k', p)).toMatchObject({ allowed: true, remaining: 2, resetMs: 1000 });
      clock.advance(400);
      expect(await store.consume('k', p, { cost: 2 })).toMatchObject({ allowed: true, remaining: 0, resetMs: 600 });
      clock.advance(599);
      expect(await store.consume('k', p)).toMatchObject({ allowed: false, remaining: 0, resetMs: 1, retryAfterMs: 1 });
      clock.advance(1);
      expect(await store.peek('k', p)).toMatchObject({ allowed: true, remaining: 3, resetMs: 0 });
      clock.advance(250);
      expect(await store.consume('k', p)).toMatchObject({ allowed: true, remaining: 2, resetMs: 1000 });
    });

    it('restart: each call past the threshold restarts the window, so a client that keeps calling stays counted', async () => {
      const { store, clock } = await open();
      const p: RateLimitPolicy = { algorithm: 'anchored-window', limit: 1000, windowMs: 1000, threshold: 2, onExceed: 'restart' };
      clock.set(T0);
      expect(await store.consume('k', p)).toMatchObject({ remaining: 999, resetMs: 1000 });
      clock.advance(300);
      expect(await store.consume('k', p)).toMatchObject({ remaining: 998, resetMs: 700 });
      for (let i = 3; i <= 8; i++) {
        clock.advance(600); // within the window: 600 ms after the call that (re)started it

        expect(await store.consume('k', p)).toMatchObject({ allowed: true, remaining: 1000 - i, resetMs: 1000 });
      }
      clock.advance(999);
      expect(await store.peek('k', p)).toMatchObject({ remaining: 992, resetMs: 1 });
      clock.advance(1); // a quiet windowMs: a new window
      expect(await store.consume('k', p)).toMatchObject({ remaining: 999, resetMs: 1000 });
    });

    it('backoff: each call past the threshold restarts a window of windowMs * 2^(count - threshold - 1)', async () => {
      const { store, clock } = await open();
      const p: RateLimitPolicy = { algorithm: 'anchored-window', limit: 100, windowMs: 1000, threshold: 2, onExceed: 'backoff' };
      clock.set(T0);
      await store.consume('k', p);
      clock.advance(100);
      expect(await store.consume('k', p)).toMatchObject({ remaining: 98, resetMs: 900 });
      const lengths = [];
      for (let i = 0; i < 5; i++) {
        clock.advance(10);
        lengths.push((await store.consume('k', p)).resetMs);
      }
      expect(lengths).toEqual([1000, 2000, 4000, 8000, 16000]);
      clock.advance(15_999);
      expect(await store.peek('k', p)).toMatchObject({ remaining: 93, resetMs: 1 });
      clock.advance(1);
      expect(await store.consume('k', p)).toMatchObject({ remaining: 99, resetMs: 1000 });
    });

    it('backoff: a window grows to 2^52 ms at most', async () => {
      const { store, clock } = await open();
      const W = 2 ** 38;
      const p: RateLimitPolicy = { algorithm: 'anchored-window', limit: 2 ** 14, windowMs: W, threshold: 0, onExceed: 'backoff' };
      clock.set(T0);
      const resets = [];
      for (let i = 0; i < 17; i++) resets.push((await store.consume('big', p)).resetMs);
      expect(resets).toEqual([...Array.from({ length: 15 }, (_, k) => W * 2 ** k), 2 ** 52, 2 ** 52]);
    });

    it('a clock that steps back restarts the window at its start, never earlier', async () => {
      const { store, clock } = await open();
      const p: RateLimitPolicy = { algorithm: 'anchored-window', limit: 10, windowMs: 1000, threshold: 1, onExceed: 'restart' };
      clock.set(T0);
      await store.consume('k', p);
      clock.advance(-300);
      expect(await store.consume('k', p)).toMatchObject({ remaining: 8, resetMs: 1300 });
    });

    it('policies with another threshold or onExceed keep their own state', async () => {
      const { store, clock } = await open();
      clock.set(T0);
      const base = { algorithm: 'anchored-window', limit: 10, windowMs: 1000 } as const;
      await store.consume('k', { ...base, threshold: 1, onExceed: 'restart' });
      await store.consume('k', { ...base, threshold: 1, onExceed: 'restart' });
      expect(await store.peek('k', { ...base, threshold: 2, onExceed: 'restart' })).toMatchObject({ remaining: 10 });
      expect(await store.peek('k', { ...base, threshold: 1, onExceed: 'backoff' })).toMatchObject({ remaining: 10 });
      expect(await store.peek('k', base)).toMatchObject({ remaining: 10 });
    });
  });
}
