import type { ConformanceContext, ConformanceOptions } from '@stowage/conformance';

/** The factories of one conformance run: only the contract a mutant changes. */
export type Factories = Pick<ConformanceOptions, 'sessions' | 'rateLimits' | 'idempotency' | 'locks' | 'jwks'>;

/** A deliberately wrong adapter and the failing test names that show the suite caught it. */
export interface Mutant {
  /** What is wrong, as an adapter author would describe the bug. */
  fault: string;
  factories: Factories;
  /** Two instances on one namespace share state (the suite's replica races run). @default false */
  shared?: boolean;
  /** Only the tests whose names match (vitest `-t`), for a fault that makes every test slow. @default all */
  only?: string;
  /** At least one failing test's full name must match. */
  caughtBy: RegExp;
}

/** `inner` with some methods replaced; every other property is the inner store's, bound to it. */
export function wrap<T extends object>(inner: T, overrides: Partial<T>): T {
  return new Proxy(inner, {
    get(target, key) {
      if (Object.hasOwn(overrides, key)) return overrides[key as keyof T];
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** The clock option as an adapter passes it: only when the test gives one. */
export const clockOf = (ctx: ConformanceContext): { clock?: () => number } => (ctx.clock === undefined ? {} : { clock: ctx.clock });
