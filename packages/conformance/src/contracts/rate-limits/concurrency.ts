import type { RateLimitPolicy } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { fulfilled, race } from '../../helpers.js';
import type { RateLimitOpen } from './fixtures.js';

export function rateLimitConcurrencyTests(open: RateLimitOpen): void {
  describe('concurrency', () => {
    for (const algorithm of ['fixed-window', 'sliding-window', 'gcra', 'anchored-window'] as const) {
      it(`${algorithm}: 1,000 parallel consumes against a limit of 100 admit exactly 100`, async () => {
        const { store } = await open();
        const p: RateLimitPolicy = { algorithm, limit: 100, windowMs: 3_600_000 };
        const decisions = fulfilled(await race(1000, () => store.consume('hot', p)));
        expect(decisions).toHaveLength(1000);
        expect(decisions.filter((d) => d.allowed)).toHaveLength(100);
        const remaining = decisions
          .filter((d) => d.allowed)
          .map((d) => d.remaining)
          .sort((a, b) => a - b);
        expect(remaining).toEqual(Array.from({ length: 100 }, (_, i) => i));
      });
    }

    it('300 parallel multi-policy consumes admit exactly the tightest limit, from every policy', async () => {
      const { store } = await open();
      const ps: RateLimitPolicy[] = [
        { algorithm: 'fixed-window', limit: 80, windowMs: 3_600_000, name: 'a' },
        { algorithm: 'gcra', limit: 50, windowMs: 3_600_000, name: 'b' },
      ];
      const decisions = fulfilled(await race(300, () => store.consume('hot', ps)));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(50);
      expect(await store.peek('hot', ps[0]!)).toMatchObject({ remaining: 30 });
    });

    it('200 parallel consumes of cost 3 against 100 admit exactly 33', async () => {
      const { store } = await open();
      const p: RateLimitPolicy = { algorithm: 'sliding-window', limit: 100, windowMs: 3_600_000 };
      const decisions = fulfilled(await race(200, () => store.consume('hot', p, { cost: 3 })));
      expect(decisions.filter((d) => d.allowed)).toHaveLength(33);
    });
  });
}
