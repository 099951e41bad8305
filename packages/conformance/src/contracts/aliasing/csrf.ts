import type { CsrfTokenStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { callText, expectArgumentsUnshared, later } from '../../aliasing.js';
import { type ConformanceOptions, opener, type StoreFactory } from '../../context.js';

const MIN = 60_000;

/**
 * CsrfTokenStore answers only strings and booleans, which no caller can change; what it must not
 * keep are the options objects it is given.
 */
export function csrfAliasingTests(factory: StoreFactory<CsrfTokenStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('callers share no objects with the store', () => {
    it('issue: changing opts after the call changes nothing stored', async () => {
      const { store, clock } = await open();
      const tokens: string[] = [];
      const validate = (i: number) => store.validate(`session-${i}`, tokens[i]!);
      const n = await expectArgumentsUnshared({
        call: (a, i) => callText('CsrfTokenStore', 'issue', `session-${i}`, a['opts']),
        args: () => ({ opts: { ttlMs: MIN, deadline: later() } }),
        make: async (a, i) => (tokens[i] = await store.issue(`session-${i}`, a['opts'] as { ttlMs: number })),
        observed: (i) => callText('CsrfTokenStore', 'validate', `session-${i}`, '<the token issued>'),
        observe: validate,
      });
      // The ttlMs given ends the token, whatever the caller changed in opts since.
      clock.advance(MIN - 1);
      for (let i = 1; i <= n; i++) expect(await validate(i), `the token of session-${i}, 1 ms before it expires`).toBe(true);
      clock.advance(1);
      for (let i = 1; i <= n; i++) expect(await validate(i), `the token of session-${i}, when it expires`).toBe(false);
    });

    it('validate, revoke: changing opts after the call changes nothing stored', async () => {
      const { store } = await open();
      const tokens: string[] = [];
      const kept: string[] = [];
      await expectArgumentsUnshared({
        call: (a, i) => callText('CsrfTokenStore', 'validate', `session-${i}`, '<the token issued>', a['consuming']),
        args: () => ({ consuming: { consume: true, deadline: later() }, checking: { consume: false }, revoking: { deadline: later() } }),
        make: async (a, i) => {
          tokens[i] = await store.issue(`session-${i}`, { ttlMs: MIN });
          kept[i] = await store.issue(`session-${i}`, { ttlMs: MIN });
          expect(await store.validate(`session-${i}`, kept[i]!, a['checking'] as { consume: boolean })).toBe(true);
          expect(await store.validate(`session-${i}`, tokens[i]!, a['consuming'] as { consume: boolean })).toBe(true);
          expect(await store.revoke(`other-${i}`, a['revoking'] as { deadline: number })).toBe(0);
        },
        observed: (i) => `CsrfTokenStore.validate('session-${i}', <the consumed token>) and (…, <the token checked>)`,
        observe: async (i) => ({
          consumed: await store.validate(`session-${i}`, tokens[i]!),
          checked: await store.validate(`session-${i}`, kept[i]!),
        }),
      });
    });
  });
}
