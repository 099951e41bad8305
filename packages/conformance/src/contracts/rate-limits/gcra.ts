import type { RateLimitPolicy } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { RateLimitOpen } from './fixtures.js';

export function rateLimitGcraTests(open: RateLimitOpen): void {
  describe('gcra', () => {
    const policy: RateLimitPolicy = { algorithm: 'gcra', limit: 1, windowMs: 1000, burst: 5 };

    it('admits a burst, then one per emission interval, with exact times', async () => {
      const { store, clock } = await open();
      for (let i = 0; i < 5; i++) {
        expect(await store.consume('k', policy)).toEqual({
          allowed: true,
          capacity: 5,
          remaining: 4 - i,
          resetMs: (i + 1) * 1000,
          retryAfterMs: 0,
          policy: 'default',
        });
      }
      expect(await store.consume('k', policy)).toEqual({
        allowed: false,
        capacity: 5,
        remaining: 0,
        resetMs: 5000,
        retryAfterMs: 1000,
        policy: 'default',
      });
      clock.advance(999);
      expect((await store.consume('k', policy)).allowed).toBe(false);
      clock.advance(1);
      expect(await store.consume('k', policy)).toMatchObject({ allowed: true, remaining: 0, resetMs: 5000 });
    });

    it('refills to full capacity after resetMs', async () => {
      const { store, clock } = await open();
      const d = await store.consume('k', policy, { cost: 3 });
      expect(d).toMatchObject({ allowed: true, remaining: 2, resetMs: 3000 });
      clock.advance(2999);
      expect((await store.peek('k', policy)).remaining).toBe(4);
      clock.advance(1);
      expect(await store.peek('k', policy)).toMatchObject({ remaining: 5, resetMs: 0 });
    });

    it('keeps exact boundaries where limit * windowMs = 2^52', async () => {
      const { store, clock } = await open();
      const big: RateLimitPolicy = { algorithm: 'gcra', limit: 2 ** 20, windowMs: 2 ** 32 };
      expect(await store.consume('k', big, { cost: 2 ** 20 })).toMatchObject({ allowed: true, remaining: 0, resetMs: 2 ** 32 });
      expect(await store.consume('k', big)).toMatchObject({ allowed: false, retryAfterMs: 4096 });
      clock.advance(4095);
      expect((await store.consume('k', big)).allowed).toBe(false);
      clock.advance(1);
      expect(await store.consume('k', big)).toMatchObject({ allowed: true, remaining: 0 });
    });
  });
}
