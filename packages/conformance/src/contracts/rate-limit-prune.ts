import type { RateLimitPolicy, RateLimitStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';

// Two policies whose states both end 1 s after a consume: gcra's state ends when its debt is
// paid back, ceil(windowMs / limit) after one unit.
const SHORT: readonly RateLimitPolicy[] = [
  { algorithm: 'gcra', limit: 1, windowMs: 1000, name: 'a' },
  { algorithm: 'gcra', limit: 2, windowMs: 2000, name: 'b' },
];
const LONG: RateLimitPolicy = { algorithm: 'gcra', limit: 1, windowMs: 3_600_000, name: 'long' };

/**
 * `prune` counts policy states, as `RateLimitStore` defines it: one per key and policy whose
 * state has ended, also where the key still has a live state under another policy.
 */
export function rateLimitPruneTests(factory: StoreFactory<RateLimitStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  describe('prune', () => {
    it(
      options.nativeExpiry
        ? 'counts at most the ended policy states and leaves live states alone'
        : 'returns one per ended policy state of a key and leaves live states alone',
      async () => {
        const { store, clock } = await open();
        for (let i = 0; i < 4; i++) await store.consume(`expired-${i}`, SHORT);
        for (let i = 0; i < 3; i++) await store.consume(`live-${i}`, LONG);
        // Two states ended, one live: the ended ones count, the live one stays.
        await store.consume('mixed', [...SHORT, LONG]);
        clock.advance(1000);
        const removed = await store.prune();
        if (options.nativeExpiry) {
          expect(removed).toBeGreaterThanOrEqual(0);
          expect(removed).toBeLessThanOrEqual(10);
        } else {
          expect(removed).toBe(4 * 2 + 2);
          expect(await store.prune()).toBe(0);
        }
        for (let i = 0; i < 3; i++) expect(await store.peek(`live-${i}`, LONG)).toMatchObject({ allowed: false, remaining: 0 });
        expect(await store.peek('mixed', LONG)).toMatchObject({ allowed: false, remaining: 0 });
        for (let i = 0; i < 4; i++) expect(await store.peek(`expired-${i}`, SHORT)).toMatchObject({ allowed: true, remaining: 1 });
      },
    );

    it('is 0 on an empty store', async () => {
      const { store } = await open();
      expect(await store.prune()).toBe(0);
    });
  });
}
