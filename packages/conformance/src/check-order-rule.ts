import type { CallOptions, Closeable, StowageErrorCode } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { limitsOf, opener, type ConformanceLimits, type ConformanceOptions, type StoreFactory } from './context.js';
import { expectCode } from './helpers.js';

/** An argument a method refuses, sent to a record that does not exist. */
export interface BadArgument<T> {
  /** What is wrong with the call. */
  label: string;
  /** Calls the method on the missing record `k` with the bad argument and `opts` as its call options. */
  call(store: T, k: string, opts: CallOptions, limits: ConformanceLimits): Promise<unknown>;
  /** @default 'INVALID_ARGUMENT' */
  code?: Extract<StowageErrorCode, 'INVALID_ARGUMENT' | 'PAYLOAD_TOO_LARGE'>;
}

/** One contract method and the arguments it refuses. */
export interface CheckOrderCase<T> {
  method: string;
  /**
   * The method on the missing record `k` with valid arguments and `opts` as its call options;
   * absent for the methods that take no deadline (`wait`).
   */
  valid?(store: T, k: string, opts: CallOptions): Promise<unknown>;
  /** What `valid` without a deadline answers for a missing record: a value, or a state's error code. */
  answer?: { value: unknown } | { code: StowageErrorCode };
  bad: readonly BadArgument<T>[];
}

/** A deadline already passed. */
const passed = (): CallOptions => ({ deadline: Date.now() - 1 });

/**
 * The order of checks of core's `common.ts`, for every method of `cases`: the arguments first
 * (`INVALID_ARGUMENT`, `PAYLOAD_TOO_LARGE`), then the store (`UNAVAILABLE` once closed), then the
 * caller's deadline (`TIMEOUT`), then the record (`NOT_FOUND`, `GONE`, `CONFLICT`, a `false` or
 * `undefined` answer...). Every call goes to a record that does not exist, so a store that looks
 * the record up before it checks the rest answers with the record's absence and fails.
 */
export function checkOrderTests<T extends Closeable>(
  factory: StoreFactory<T>,
  options: ConformanceOptions,
  cases: readonly CheckOrderCase<T>[],
): void {
  const open = opener(factory, options);
  const limits = limitsOf(options);
  /** A fresh key for each call: a call that wrongly took effect cannot change what the next one meets. */
  let n = 0;
  const fresh = (method: string) => `${method}-missing-${n++}`;

  describe('the order of checks: arguments, the store, the deadline, the record', () => {
    it('a bad argument to a missing record is refused for the argument, with or without a deadline', async () => {
      const { store } = await open();
      for (const c of cases) {
        for (const bad of c.bad) {
          const code = bad.code ?? 'INVALID_ARGUMENT';
          for (const [label, opts] of [
            ['no deadline', () => ({})],
            ['a passed deadline', passed],
          ] as const) {
            const what = `${c.method} with ${bad.label}, ${label}`;
            await expectCode(() => bad.call(store, fresh(c.method), opts(), limits), code).catch((e: Error) => {
              throw new Error(`${what}: ${e.message}`);
            });
          }
        }
        if (c.valid === undefined) continue;
        const malformed = { deadline: 'soon' as unknown as number };
        await expectCode(() => c.valid!(store, fresh(c.method), malformed), 'INVALID_ARGUMENT').catch((e: Error) => {
          throw new Error(`${c.method} with a malformed deadline: ${e.message}`);
        });
      }
    });

    it("a passed deadline on a missing record is TIMEOUT, not the record's absence", async () => {
      const { store } = await open();
      for (const c of cases) {
        if (c.valid === undefined) continue;
        await expectCode(() => c.valid!(store, fresh(c.method), passed()), 'TIMEOUT').catch((e: Error) => {
          throw new Error(`${c.method} with a passed deadline: ${e.message}`);
        });
        // Guards the table: without a deadline, the same call meets the missing record.
        const k = fresh(c.method);
        if (c.answer !== undefined && 'code' in c.answer) {
          await expectCode(() => c.valid!(store, k, {}), c.answer.code);
        } else if (c.answer !== undefined) {
          expect(await c.valid(store, k, {}), `${c.method} of a missing record without a deadline`).toEqual(c.answer.value);
        }
      }
    });

    it('on a closed store a bad argument is still refused for the argument; a valid call past its deadline is UNAVAILABLE', async () => {
      const { store } = await open();
      await store.close();
      for (const c of cases) {
        for (const bad of c.bad) {
          await expectCode(() => bad.call(store, fresh(c.method), {}, limits), bad.code ?? 'INVALID_ARGUMENT').catch((e: Error) => {
            throw new Error(`${c.method} with ${bad.label} on a closed store: ${e.message}`);
          });
        }
        if (c.valid === undefined) continue;
        await expectCode(() => c.valid!(store, fresh(c.method), passed()), 'UNAVAILABLE').catch((e: Error) => {
          throw new Error(`${c.method} with a passed deadline on a closed store: ${e.message}`);
        });
      }
    });
  });
}
