import type { RateLimitPolicy } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { RateLimitOpen } from './fixtures.js';

export function rateLimitSlidingWindowTests(open: RateLimitOpen): void {
  describe('sliding-window', () => {
    const policy: RateLimitPolicy = { algorithm: 'sliding-window', limit: 10, windowMs: 1000 };

    it('weights the previous window by the part of it still inside the sliding window', async () => {
      const { store, clock } = await open();
      clock.set(1_800_000_000_500);
      for (let i = 0; i < 10; i++) expect((await store.consume('k', policy)).allowed).toBe(true);
      expect((await store.consume('k', policy)).allowed).toBe(false);
      // 250 ms into the next window: floor(10 * 750 / 1000) = 7 of the previous window count.
      clock.set(1_800_000_001_250);
      expect(await store.peek('k', policy)).toMatchObject({ allowed: true, remaining: 3 });
      for (let i = 0; i < 3; i++) expect((await store.consume('k', policy)).allowed).toBe(true);
      const denied = await store.consume('k', policy);
      expect(denied).toMatchObject({ allowed: false, remaining: 0 });
      // floor(10 * (1000 - e) / 1000) <= 6 from e = 301: 51 ms later.
      expect(denied.retryAfterMs).toBe(51);
      clock.advance(50);
      expect((await store.consume('k', policy)).allowed).toBe(false);
      clock.advance(1);
      expect((await store.consume('k', policy)).allowed).toBe(true);
    });

    it('forgets a window two windows back', async () => {
      const { store, clock } = await open();
      clock.set(1_800_000_000_000);
      for (let i = 0; i < 10; i++) await store.consume('k', policy);
      clock.set(1_800_000_002_000);
      expect(await store.peek('k', policy)).toMatchObject({ allowed: true, remaining: 10, resetMs: 0 });
    });
  });
}
