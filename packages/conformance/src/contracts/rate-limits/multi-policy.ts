import type { RateLimitPolicy } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { expectCode } from '../../helpers.js';
import type { RateLimitOpen } from './fixtures.js';

export function rateLimitMultiPolicyTests(open: RateLimitOpen): void {
  describe('several policies on one key', () => {
    const perSecond: RateLimitPolicy = { algorithm: 'fixed-window', limit: 3, windowMs: 1000, name: 'per-second' };
    const perMinute: RateLimitPolicy = { algorithm: 'sliding-window', limit: 5, windowMs: 60_000, name: 'per-minute' };

    it('consumes from all or none and names the most restrictive policy', async () => {
      const { store, clock } = await open();
      clock.set(1_800_000_000_000);
      const both = [perSecond, perMinute];
      expect(await store.consume('k', both)).toMatchObject({ allowed: true, remaining: 2, policy: 'per-second' });
      expect(await store.consume('k', both)).toMatchObject({ allowed: true, remaining: 1, policy: 'per-second' });
      expect(await store.consume('k', both)).toMatchObject({ allowed: true, remaining: 0, policy: 'per-second' });
      expect(await store.consume('k', both)).toMatchObject({ allowed: false, policy: 'per-second', retryAfterMs: 1000 });
      clock.advance(1000);
      expect(await store.consume('k', both)).toMatchObject({ allowed: true, remaining: 1, policy: 'per-minute' });
      expect(await store.consume('k', both)).toMatchObject({ allowed: true, remaining: 0, policy: 'per-minute' });
      clock.advance(1000);
      const denied = await store.consume('k', both);
      expect(denied).toMatchObject({ allowed: false, policy: 'per-minute' });
      // The per-second policy allowed that call but consumed nothing.
      expect(await store.peek('k', perSecond)).toMatchObject({ remaining: 3 });
    });

    it('a cost that one policy can never admit is INVALID_ARGUMENT', async () => {
      const { store } = await open();
      await expectCode(store.consume('k', [perSecond, perMinute], { cost: 4 }), 'INVALID_ARGUMENT');
      expect(await store.peek('k', perSecond)).toMatchObject({ remaining: 3 });
    });
  });
}
