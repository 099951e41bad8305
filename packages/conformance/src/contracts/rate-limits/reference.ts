import type { RateLimitPolicy } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { type RateLimitOpen, ReferenceModel, rng } from './fixtures.js';

export function rateLimitReferenceTests(open: RateLimitOpen): void {
  describe('identical to the reference functions of @stowage/core', () => {
    const shapes: [string, RateLimitPolicy | RateLimitPolicy[]][] = [
      ['gcra', { algorithm: 'gcra', limit: 3, windowMs: 700, burst: 4 }],
      ['gcra with a large window', { algorithm: 'gcra', limit: 97, windowMs: 86_400_000, burst: 150 }],
      ['fixed-window', { algorithm: 'fixed-window', limit: 4, windowMs: 650 }],
      ['sliding-window', { algorithm: 'sliding-window', limit: 5, windowMs: 900 }],
      ['sliding-window with an odd window', { algorithm: 'sliding-window', limit: 7, windowMs: 333 }],
      ['anchored-window', { algorithm: 'anchored-window', limit: 6, windowMs: 500 }],
      ['anchored-window restart', { algorithm: 'anchored-window', limit: 40, windowMs: 450, threshold: 3, onExceed: 'restart' }],
      ['anchored-window backoff', { algorithm: 'anchored-window', limit: 30, windowMs: 130, threshold: 4, onExceed: 'backoff' }],
      [
        'anchored windows with other policies',
        [
          { algorithm: 'anchored-window', limit: 25, windowMs: 300, threshold: 2, onExceed: 'backoff', name: 'backoff' },
          { algorithm: 'anchored-window', limit: 20, windowMs: 250, threshold: 4, onExceed: 'restart', name: 'restart' },
          { algorithm: 'anchored-window', limit: 8, windowMs: 350, name: 'keep' },
          { algorithm: 'fixed-window', limit: 9, windowMs: 400, name: 'fixed' },
        ],
      ],
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
          const call = consume ? `consume('ref', ${label}, { cost: ${cost} })` : `peek('ref', ${label})`;
          expect(got, `RateLimitStore.${call} at step ${step}, clock ${clock.now()}: the decision`).toEqual(want);
        }
      });
    }
  });
}
