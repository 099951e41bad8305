import type { RateLimitPolicy } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { ODD_KEYS, sleep } from '../../helpers.js';
import type { RateLimitOpen } from './fixtures.js';

export function rateLimitConsumeTests(open: RateLimitOpen): void {
  describe('consume semantics', () => {
    const policy: RateLimitPolicy = { algorithm: 'fixed-window', limit: 10, windowMs: 60_000 };

    it('cost consumes several units at once', async () => {
      const { store } = await open();
      expect(await store.consume('k', policy, { cost: 4 })).toMatchObject({ allowed: true, remaining: 6 });
      expect(await store.consume('k', policy, { cost: 7 })).toMatchObject({ allowed: false, remaining: 6 });
      expect(await store.consume('k', policy, { cost: 6 })).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('a denied call consumes nothing', async () => {
      const { store } = await open();
      await store.consume('k', policy, { cost: 9 });
      for (let i = 0; i < 5; i++) expect((await store.consume('k', policy, { cost: 2 })).allowed).toBe(false);
      expect(await store.consume('k', policy)).toMatchObject({ allowed: true, remaining: 0 });
    });

    it('peek never consumes', async () => {
      const { store } = await open();
      for (let i = 0; i < 20; i++) expect(await store.peek('k', policy)).toMatchObject({ allowed: true, remaining: 10 });
      await store.consume('k', policy, { cost: 10 });
      expect(await store.peek('k', policy)).toMatchObject({ allowed: false, remaining: 0 });
    });

    it('reset brings every policy of the key back to full capacity, and only that key', async () => {
      const { store } = await open();
      const both: RateLimitPolicy[] = [policy, { algorithm: 'gcra', limit: 2, windowMs: 60_000 }];
      await store.consume('k', both, { cost: 2 });
      await store.consume('other', both, { cost: 2 });
      await store.reset('k');
      expect(await store.peek('k', both)).toMatchObject({ allowed: true, remaining: 2 });
      expect(await store.peek('k', policy)).toMatchObject({ remaining: 10 });
      expect((await store.peek('other', both)).allowed).toBe(false);
      await store.reset('never-used');
    });

    it('keys are independent, and odd keys never collide', async () => {
      const { store } = await open();
      const one: RateLimitPolicy = { algorithm: 'fixed-window', limit: 1, windowMs: 60_000 };
      for (const key of ODD_KEYS) expect((await store.consume(key, one)).allowed, key.slice(0, 20)).toBe(true);
      for (const key of ODD_KEYS) expect((await store.consume(key, one)).allowed, key.slice(0, 20)).toBe(false);
    });

    it('state is per policy shape: the name does not matter, other numbers start fresh', async () => {
      const { store } = await open();
      await store.consume('k', { ...policy, name: 'a' }, { cost: 10 });
      expect(await store.peek('k', { ...policy, name: 'b' })).toMatchObject({ allowed: false, policy: 'b' });
      expect(await store.peek('k', { ...policy, limit: 11 })).toMatchObject({ allowed: true, remaining: 11 });
    });

    it("calls with other policies leave a policy's state alone", async () => {
      const { store } = await open();
      const other: RateLimitPolicy = { algorithm: 'gcra', limit: 3, windowMs: 60_000 };
      const third: RateLimitPolicy = { algorithm: 'sliding-window', limit: 4, windowMs: 60_000 };
      await store.consume('k', policy, { cost: 10 });
      await store.consume('k', other, { cost: 2 });
      await store.consume('k', [other, third]);
      expect(await store.peek('k', policy)).toMatchObject({ allowed: false, remaining: 0 });
      expect(await store.peek('k', other)).toMatchObject({ allowed: false, remaining: 0 });
      expect(await store.peek('k', third)).toMatchObject({ allowed: true, remaining: 3 });
      expect(await store.consume('k', [third, policy])).toMatchObject({ allowed: false, remaining: 0 });
      expect(await store.peek('k', third)).toMatchObject({ remaining: 3 });
    });

    it('state expires with the clock: a gcra key is fresh after resetMs', async () => {
      const { store, clock } = await open();
      const g: RateLimitPolicy = { algorithm: 'gcra', limit: 10, windowMs: 1000 };
      const d = await store.consume('k', g, { cost: 10 });
      clock.advance(d.resetMs);
      expect(await store.consume('k', g, { cost: 10 })).toMatchObject({ allowed: true, remaining: 0, resetMs: 1000 });
    });

    it('works in real time on the store clock: denied, then allowed after retryAfterMs', async () => {
      const { store } = await open('real-time');
      const windowMs = 1000;
      const policies = (['fixed-window', 'sliding-window', 'gcra'] as const).map(
        (algorithm): RateLimitPolicy => ({
          algorithm,
          limit: 2,
          windowMs,
        }),
      );
      // The calls start just after a window boundary (fixed windows align to the epoch), so
      // they fall in one window unless the machine stalls for most of a second.
      await sleep(windowMs - (Date.now() % windowMs) + 20);
      const retryAfter: number[] = [];
      for (const p of policies) {
        const key = `rt-${p.algorithm}`;
        let denied = await store.consume(key, p);
        for (let i = 0; i < 3 && denied.allowed; i++) denied = await store.consume(key, p);
        expect(denied.allowed, p.algorithm).toBe(false);
        expect(denied.retryAfterMs).toBeGreaterThan(0);
        expect(denied.retryAfterMs).toBeLessThanOrEqual(2 * windowMs);
        retryAfter.push(denied.retryAfterMs);
      }
      await sleep(Math.max(...retryAfter) + 150);
      for (const p of policies) expect((await store.consume(`rt-${p.algorithm}`, p)).allowed, p.algorithm).toBe(true);
    });
  });
}
