import type { RateLimitPolicy, RateLimitStore } from '@stowage/core';
import { ErrorSource, evaluateRateLimit, normalizePolicies, type RateLimitState } from '@stowage/core/adapter-kit';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { BAD_DURATIONS, BAD_KEYS, expectCode, fulfilled, ODD_KEYS, race, sleep } from '../helpers.js';

const refSource = new ErrorSource('@stowage/conformance', 'reference');

/** Replays calls against the reference functions of @stowage/core. */
export class ReferenceModel {
  private readonly states = new Map<string, RateLimitState>();

  call(policy: RateLimitPolicy | RateLimitPolicy[], now: number, cost: number, consume: boolean) {
    const ps = normalizePolicies(refSource, policy);
    const out = evaluateRateLimit(
      ps,
      ps.map((p) => this.states.get(p.id)),
      now,
      cost,
      consume,
    );
    out.writes?.forEach((w, i) => {
      if (w) this.states.set(ps[i]!.id, w.state);
      else this.states.delete(ps[i]!.id);
    });
    return out.decision;
  }
}

export function rng(seed: number) {
  let s = seed >>> 0;
  return (n: number) => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s % n;
  };
}

export function rateLimitTests(factory: StoreFactory<RateLimitStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

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

  describe('identical to the reference functions of @stowage/core', () => {
    const shapes: [string, RateLimitPolicy | RateLimitPolicy[]][] = [
      ['gcra', { algorithm: 'gcra', limit: 3, windowMs: 700, burst: 4 }],
      ['gcra with a large window', { algorithm: 'gcra', limit: 97, windowMs: 86_400_000, burst: 150 }],
      ['fixed-window', { algorithm: 'fixed-window', limit: 4, windowMs: 650 }],
      ['sliding-window', { algorithm: 'sliding-window', limit: 5, windowMs: 900 }],
      ['sliding-window with an odd window', { algorithm: 'sliding-window', limit: 7, windowMs: 333 }],
      [
        'three policies at once',
        [
          { algorithm: 'fixed-window', limit: 5, windowMs: 400, name: 'short' },
          { algorithm: 'sliding-window', limit: 9, windowMs: 2000, name: 'long' },
          { algorithm: 'gcra', limit: 2, windowMs: 300, burst: 3, name: 'smooth' },
        ],
      ],
    ];
    for (const [label, policy] of shapes) {
      it(`${label}: 150 random consume/peek/advance steps give the same decisions`, async () => {
        const { store, clock } = await open();
        const model = new ReferenceModel();
        const r = rng(label.length * 131);
        const capacity = Math.min(...(Array.isArray(policy) ? policy : [policy]).map((p) => p.burst ?? p.limit));
        for (let step = 0; step < 150; step++) {
          const move = r(10);
          if (move < 3) clock.advance(r(400));
          else if (move === 3) clock.advance(-r(50)); // a clock that steps back
          const cost = 1 + r(Math.min(capacity, 3));
          const consume = r(4) !== 0;
          const want = model.call(policy, clock.now(), consume ? cost : 1, consume);
          const got = consume ? await store.consume('ref', policy, { cost }) : await store.peek('ref', policy);
          expect(got, `step ${step} at ${clock.now()}`).toEqual(want);
        }
      });
    }
  });

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
      for (const algorithm of ['fixed-window', 'sliding-window', 'gcra'] as const) {
        const p: RateLimitPolicy = { algorithm, limit: 2, windowMs: 400 };
        const key = `rt-${algorithm}`;
        let denied = await store.consume(key, p);
        for (let i = 0; i < 3 && denied.allowed; i++) denied = await store.consume(key, p);
        expect(denied.allowed).toBe(false);
        expect(denied.retryAfterMs).toBeGreaterThan(0);
        expect(denied.retryAfterMs).toBeLessThanOrEqual(800);
        await sleep(denied.retryAfterMs + 150);
        expect((await store.consume(key, p)).allowed).toBe(true);
      }
    });
  });

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

  describe('concurrency', () => {
    for (const algorithm of ['fixed-window', 'sliding-window', 'gcra'] as const) {
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

  describe('bad input is INVALID_ARGUMENT and consumes nothing', () => {
    const good: RateLimitPolicy = { algorithm: 'fixed-window', limit: 5, windowMs: 60_000 };
    for (const [label, key] of BAD_KEYS) {
      it(`key as ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.consume(key as string, good), 'INVALID_ARGUMENT');
        await expectCode(store.peek(key as string, good), 'INVALID_ARGUMENT');
        await expectCode(store.reset(key as string), 'INVALID_ARGUMENT');
      });
    }
    const badPolicies: [string, unknown][] = [
      ['null', null],
      ['a string', 'gcra'],
      ['an unknown algorithm', { algorithm: 'token-bucket', limit: 5, windowMs: 1000 }],
      ['limit 0', { algorithm: 'gcra', limit: 0, windowMs: 1000 }],
      ['a negative limit', { algorithm: 'gcra', limit: -5, windowMs: 1000 }],
      ['a fractional limit', { algorithm: 'gcra', limit: 2.5, windowMs: 1000 }],
      ['a NaN limit', { algorithm: 'fixed-window', limit: Number.NaN, windowMs: 1000 }],
      ['a string limit', { algorithm: 'fixed-window', limit: '5', windowMs: 1000 }],
      ['limit * windowMs over 2^52', { algorithm: 'sliding-window', limit: 2 ** 40, windowMs: 2 ** 13 }],
      ['burst * windowMs over 2^52', { algorithm: 'gcra', limit: 1, windowMs: 2 ** 38, burst: 2 ** 15 }],
      ['a fractional burst', { algorithm: 'gcra', limit: 5, windowMs: 1000, burst: 1.5 }],
      ['burst 0', { algorithm: 'gcra', limit: 5, windowMs: 1000, burst: 0 }],
      ['burst on fixed-window', { algorithm: 'fixed-window', limit: 5, windowMs: 1000, burst: 10 }],
      ['an empty name', { algorithm: 'gcra', limit: 5, windowMs: 1000, name: '' }],
      ['an empty array', []],
      ['the same policy twice', [good, { ...good }]],
      ['17 policies', Array.from({ length: 17 }, (_, i) => ({ ...good, limit: i + 1 }))],
      ...BAD_DURATIONS.map(([l, w]): [string, unknown] => [`windowMs as ${l}`, { algorithm: 'gcra', limit: 1, windowMs: w }]),
    ];
    for (const [label, policy] of badPolicies) {
      it(`policy: ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.consume('k', policy as RateLimitPolicy), 'INVALID_ARGUMENT');
        await expectCode(store.peek('k', policy as RateLimitPolicy), 'INVALID_ARGUMENT');
      });
    }
    for (const [label, cost] of [
      ['0', 0],
      ['negative', -1],
      ['fractional', 1.5],
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['over the limit', 6],
      ['a string', '2'],
      ['null', null],
    ] as const) {
      it(`cost as ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.consume('k', good, { cost: cost as unknown as number }), 'INVALID_ARGUMENT');
        expect(await store.peek('k', good)).toMatchObject({ remaining: 5 });
      });
    }
  });
}
