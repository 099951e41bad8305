import type { RateLimitPolicy } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { BAD_DURATIONS, BAD_KEYS, expectCode } from '../../helpers.js';
import type { RateLimitOpen } from './fixtures.js';

export function rateLimitBadInputTests(open: RateLimitOpen): void {
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
      ['threshold on fixed-window', { algorithm: 'fixed-window', limit: 5, windowMs: 1000, threshold: 2 }],
      ['onExceed on gcra', { algorithm: 'gcra', limit: 5, windowMs: 1000, onExceed: 'restart' }],
      ['an unknown onExceed', { algorithm: 'anchored-window', limit: 5, windowMs: 1000, onExceed: 'block' }],
      ['a threshold over the limit', { algorithm: 'anchored-window', limit: 5, windowMs: 1000, threshold: 6, onExceed: 'restart' }],
      ['a negative threshold', { algorithm: 'anchored-window', limit: 5, windowMs: 1000, threshold: -1, onExceed: 'backoff' }],
      ['a fractional threshold', { algorithm: 'anchored-window', limit: 5, windowMs: 1000, threshold: 1.5 }],
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
