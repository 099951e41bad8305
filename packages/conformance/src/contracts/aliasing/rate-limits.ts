import type { RateLimitPolicy, RateLimitStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { argumentMutations, callText, expectAnswerUnshared, later, outcome, show } from '../../aliasing.js';
import { type ConformanceOptions, opener, type StoreFactory } from '../../context.js';

const MIN = 60_000;

/** Two policies, fresh objects on every call (so no call hands the store an object of another). */
const pair = (): RateLimitPolicy[] => [
  { algorithm: 'gcra', limit: 10, windowMs: MIN, burst: 40, name: 'burst' },
  { algorithm: 'fixed-window', limit: 100, windowMs: MIN, name: 'minute' },
];
const single = (): RateLimitPolicy => ({ algorithm: 'sliding-window', limit: 50, windowMs: 10_000, name: 'ten-seconds' });

/** RateLimitStore: decisions answered are the caller's own; policies given are read during the call only. */
export function rateLimitAliasingTests(factory: StoreFactory<RateLimitStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('callers share no objects with the store', () => {
    it('peek: changing the returned decision, allowed or denied, changes nothing stored', async () => {
      const { store } = await open();
      await store.consume('some', pair(), { cost: 3 });
      for (let i = 0; i < 4; i++) await store.consume('spent', pair(), { cost: 10 });
      for (const key of ['some', 'spent']) {
        const call = callText('RateLimitStore', 'peek', key, pair());
        await expectAnswerUnshared({
          call,
          name: 'decision',
          make: () => store.peek(key, pair()),
          observed: call,
          observe: () => store.peek(key, pair()),
        });
      }
      expect((await store.peek('spent', pair())).allowed, "RateLimitStore.peek('spent', …): decision.allowed").toBe(false);
    });

    it('consume: changing the returned decision changes nothing stored', async () => {
      const { store } = await open();
      await expectAnswerUnshared({
        call: callText('RateLimitStore', 'consume', 'key', pair()),
        name: 'decision',
        make: () => store.consume('key', pair()),
        observed: callText('RateLimitStore', 'peek', 'key', pair()),
        observe: () => store.peek('key', pair()),
      });
    });

    for (const [shape, policy] of [
      ['an array of policies', pair],
      ['one policy', single],
    ] as const) {
      it(`consume with ${shape}: changing the policies and opts after the call changes nothing stored`, async () => {
        const { store } = await open();
        for (const [i, m] of argumentMutations({ policy: policy(), opts: { cost: 2, deadline: later() } }).entries()) {
          const key = `key-${i}`;
          const given = { policy: policy(), opts: { cost: 2, deadline: later() } };
          const call = callText('RateLimitStore', 'consume', key, given.policy, given.opts);
          await store.consume(key, given.policy, given.opts);
          const peek = callText('RateLimitStore', 'peek', key, policy());
          const before = await outcome(() => store.peek(key, policy()));
          expect(before, `${peek} after ${call}`).toHaveProperty('answer');
          m.apply(given);
          const said = `${call} resolved; the caller then ${m.change}`;
          expect(await outcome(() => store.peek(key, policy())), `${said}; then ${peek} answered otherwise`).toEqual(before);
          // A store may remember a policy object it was given (to skip validating it again), but
          // must read it afresh once changed: the changed object decides as an equal new one does.
          const changed = callText('RateLimitStore', 'peek', key, given.policy);
          expect(
            await outcome(() => store.peek(key, given.policy)),
            `${said}; then ${changed} with that changed object must answer as with a new object equal to it (${show(given.policy)})`,
          ).toEqual(await outcome(() => store.peek(key, structuredClone(given.policy))));
        }
      });
    }
  });
}
