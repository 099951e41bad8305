import type { RateLimitPolicy } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { RateLimitOpen } from './fixtures.js';

export function rateLimitFixedWindowTests(open: RateLimitOpen): void {
  describe('fixed-window', () => {
    const policy: RateLimitPolicy = { algorithm: 'fixed-window', limit: 3, windowMs: 1000 };

    it('admits limit calls per window with exact remaining, resetMs and retryAfterMs', async () => {
      const { store, clock } = await open();
      clock.set(1_800_000_000_250);
      expect(await store.consume('k', policy)).toEqual({
        allowed: true,
        capacity: 3,
        remaining: 2,
        resetMs: 750,
        retryAfterMs: 0,
        policy: 'default',
      });
      clock.advance(100);
      expect(await store.consume('k', policy)).toMatchObject({ allowed: true, remaining: 1, resetMs: 650 });
      expect(await store.consume('k', policy)).toMatchObject({ allowed: true, remaining: 0, resetMs: 650 });
      expect(await store.consume('k', policy)).toEqual({
        allowed: false,
        capacity: 3,
        remaining: 0,
        resetMs: 650,
        retryAfterMs: 650,
        policy: 'default',
      });
    });

    it('starts over at the window boundary (1 ms before it is still denied)', async () => {
      const { store, clock } = await open();
      clock.set(1_800_000_000_000);
      for (let i = 0; i < 3; i++) await store.consume('k', policy);
      clock.set(1_800_000_000_999);
      expect((await store.consume('k', policy)).allowed).toBe(false);
      clock.set(1_800_000_001_000);
      expect(await store.consume('k', policy)).toMatchObject({ allowed: true, remaining: 2, resetMs: 1000 });
    });
  });
}
