import type { RateLimitPolicy, RateLimitStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { TestClock } from '../clock.js';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { ReferenceModel, rng } from './rate-limits.js';

/** A window start: the cases below are worked out from it. */
const T = 1_800_000_000_000;

const sliding: RateLimitPolicy = { algorithm: 'sliding-window', limit: 4, windowMs: 1000, name: 'sliding' };
const gcra: RateLimitPolicy = { algorithm: 'gcra', limit: 4, windowMs: 1000, name: 'gcra' };
const fixed: RateLimitPolicy = { algorithm: 'fixed-window', limit: 4, windowMs: 1000, name: 'fixed' };

/**
 * Peeks at every millisecond of `[from, to]` and expects exactly what a model that never
 * forgets a state answers: a state the store dropped too early shows as capacity that came
 * back before its time. The clock only moves forward here: a step back across a moment when
 * a state had run out is another question (the store may have forgotten it by then).
 */
async function walk(
  store: RateLimitStore,
  clock: TestClock,
  model: ReferenceModel,
  key: string,
  shapes: (RateLimitPolicy | RateLimitPolicy[])[],
  from: number,
  to: number,
): Promise<void> {
  for (let t = from; t <= to; t++) {
    clock.set(t);
    for (const shape of shapes) {
      const label = Array.isArray(shape) ? 'the array' : (shape.name ?? shape.algorithm);
      expect(await store.peek(key, shape), `${label} at T${t >= T ? '+' : ''}${t - T}`).toEqual(model.call(shape, t, 1, false));
    }
  }
}

/**
 * Walks `shapes` from `from` to `announced - 1`, where a consume of the whole capacity (4) of
 * `whole` is still denied; at `announced` the key is at full capacity and that consume is admitted.
 */
async function holdsUntil(
  store: RateLimitStore,
  clock: TestClock,
  model: ReferenceModel,
  shapes: (RateLimitPolicy | RateLimitPolicy[])[],
  whole: RateLimitPolicy | RateLimitPolicy[],
  from: number,
  announced: number,
): Promise<void> {
  await walk(store, clock, model, 'k', shapes, from, announced - 1);
  expect(await store.consume('k', whole, { cost: 4 }), 'a millisecond before the announced reset').toMatchObject({ allowed: false });
  await walk(store, clock, model, 'k', shapes, announced, announced);
  expect(await store.peek('k', whole), 'at the announced reset').toMatchObject({ remaining: 4, resetMs: 0 });
  expect(await store.consume('k', whole, { cost: 4 }), 'at the announced reset').toEqual(model.call(whole, announced, 4, true));
  expect(await store.peek('k', whole)).toMatchObject({ remaining: 0 });
}

/**
 * A state is kept until the key is back to full capacity by the state's own reckoning,
 * whatever the clock did: never before `now + resetMs` as a call reports it. A store that
 * counts a state's lifetime from a clock reading that stepped back drops it too early.
 */
export function rateLimitClockStepTests(factory: StoreFactory<RateLimitStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('after the clock steps back, a state lives until the reset the store announces', () => {
    it('sliding-window: a consume at T-1000 after one at T holds the key until T+1751, as announced at T+750', async () => {
      const { store, clock } = await open();
      const model = new ReferenceModel();
      clock.set(T);
      expect(await store.consume('k', sliding)).toEqual(model.call(sliding, T, 1, true));
      clock.set(T - 1000);
      // The clock stepped back: no time passed, and the call lands in the stored (later) window.
      const back = await store.consume('k', sliding, { cost: 3 });
      expect(back).toMatchObject({ allowed: true, remaining: 0 });
      expect(back).toEqual(model.call(sliding, T - 1000, 3, true));
      clock.set(T + 750);
      expect(await store.peek('k', sliding)).toMatchObject({ allowed: false, remaining: 0, resetMs: 1001 });
      clock.set(T + 751);
      expect(await store.peek('k', sliding)).toMatchObject({ allowed: false, remaining: 0, resetMs: 1000 });
      await holdsUntil(store, clock, model, [sliding], sliding, T + 750, T + 1751);
    });

    it('gcra: a consume at T-1000 after one at T holds the bucket until T+1000, as announced at T', async () => {
      const { store, clock } = await open();
      const model = new ReferenceModel();
      clock.set(T);
      expect(await store.consume('k', gcra)).toEqual(model.call(gcra, T, 1, true));
      clock.set(T - 1000);
      expect(await store.consume('k', gcra, { cost: 3 })).toEqual(model.call(gcra, T - 1000, 3, true));
      clock.set(T);
      expect(await store.peek('k', gcra)).toMatchObject({ allowed: false, remaining: 0, resetMs: 1000 });
      await holdsUntil(store, clock, model, [gcra], gcra, T - 1000, T + 1000);
    });

    it('fixed-window: a consume at T-1000 after one at T holds the window until its end, T+1000', async () => {
      const { store, clock } = await open();
      const model = new ReferenceModel();
      clock.set(T);
      expect(await store.consume('k', fixed)).toEqual(model.call(fixed, T, 1, true));
      clock.set(T - 1000);
      expect(await store.consume('k', fixed, { cost: 3 })).toEqual(model.call(fixed, T - 1000, 3, true));
      clock.set(T + 750);
      expect(await store.peek('k', fixed)).toMatchObject({ allowed: false, remaining: 0, resetMs: 250 });
      await holdsUntil(store, clock, model, [fixed], fixed, T - 1000, T + 1000);
    });

    it('an array of the three: every policy and the array agree with the reference at every ms', async () => {
      const { store, clock } = await open();
      const model = new ReferenceModel();
      const all = [sliding, gcra, fixed];
      clock.set(T);
      expect(await store.consume('k', all)).toEqual(model.call(all, T, 1, true));
      clock.set(T - 1000);
      expect(await store.consume('k', all, { cost: 3 })).toEqual(model.call(all, T - 1000, 3, true));
      clock.set(T + 750);
      expect(await store.peek('k', all)).toMatchObject({ allowed: false, policy: 'sliding', remaining: 0, resetMs: 1001 });
      await holdsUntil(store, clock, model, [all, sliding, gcra, fixed], all, T - 1000, T + 1751);
    });

    const shapes: [string, RateLimitPolicy | RateLimitPolicy[]][] = [
      ['sliding-window', { algorithm: 'sliding-window', limit: 5, windowMs: 120 }],
      ['gcra', { algorithm: 'gcra', limit: 3, windowMs: 200, burst: 5 }],
      ['fixed-window', { algorithm: 'fixed-window', limit: 5, windowMs: 90 }],
      [
        'an array',
        [
          { algorithm: 'sliding-window', limit: 6, windowMs: 150 },
          { algorithm: 'gcra', limit: 2, windowMs: 100, burst: 5 },
          { algorithm: 'fixed-window', limit: 7, windowMs: 70 },
        ],
      ],
    ];
    for (const [label, shape] of shapes) {
      it(`${label}: after random steps back, every ms up to the last reset agrees with the reference`, async () => {
        const { store, clock } = await open();
        const r = rng(label.length * 977 + 13);
        const policies = Array.isArray(shape) ? shape : [shape];
        const windowMs = Math.max(...policies.map((p) => p.windowMs));
        const singles = Array.isArray(shape) ? [shape, ...policies] : [shape];
        clock.set(T);
        // A fresh key per round: nothing of it has run out before the clock steps back.
        for (let round = 0; round < 8; round++) {
          const key = `k${round}`;
          const model = new ReferenceModel();
          const latest = clock.advance(1 + r(windowMs));
          for (let i = 0, n = 1 + r(3); i < n; i++) {
            const cost = 1 + r(3);
            expect(await store.consume(key, shape, { cost }), `round ${round}`).toEqual(model.call(shape, latest, cost, true));
          }
          for (let i = 0, n = 1 + r(3); i < n; i++) {
            const at = clock.advance(-(1 + r(2 * windowMs)));
            const cost = 1 + r(3);
            expect(await store.consume(key, shape, { cost }), `round ${round}, stepped back to ${at - latest}`).toEqual(
              model.call(shape, at, cost, true),
            );
          }
          // Read at the latest time, the model's resetMs gives each state's true end.
          const end = latest + Math.max(...policies.map((p) => model.call(p, latest, 1, false).resetMs));
          await walk(store, clock, model, key, singles, clock.now(), end + 2);
        }
      });
    }
  });
}
