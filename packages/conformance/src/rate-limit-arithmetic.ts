import type { RateLimitPolicy, RateLimitStore } from '@stowage/core';
import {
  ErrorSource,
  evaluateRateLimit,
  normalizePolicies,
  stateExpiresAt,
  stateToColumns,
  type NormalizedPolicy,
  type RateLimitState,
  type RateLimitStateColumns,
} from '@stowage/core/adapter-kit';
import { describe, expect, it } from 'vitest';
import type { TestClock } from './clock.js';

/**
 * The rate-limit arithmetic exists in TypeScript (core's reference), in SQL (core's builders,
 * run by SQLite and PostgreSQL) and in Lua (the Redis script): one table of cases, each a
 * stored state, a time and a cost, run through the reference and through a backend's own
 * code, pins the copies to each other. The contract suite reaches states only through calls;
 * these cases start from states the calls rarely reach (a clock behind the mark, the last ms
 * of a window, numbers near 2^52) and mix the algorithms in one call, which pins the
 * algorithm codes the multi-policy statements dispatch on.
 */
export interface RateLimitArithmeticCase {
  name: string;
  policies: RateLimitPolicy[];
  /** Per policy, the state stored before the call (kept while `now` is before its expiry). */
  states: (RateLimitState | undefined)[];
  now: number;
  cost: number;
  /** `false`: a peek. */
  consume: boolean;
}

const W = 1000;
const T = 1_800_000_000_000; // a window start for W
const gcra = (limit: number, burst?: number): RateLimitPolicy => ({ algorithm: 'gcra', limit, windowMs: W, burst });
const fixed = (limit: number): RateLimitPolicy => ({ algorithm: 'fixed-window', limit, windowMs: W });
const sliding = (limit: number, windowMs = W): RateLimitPolicy => ({ algorithm: 'sliding-window', limit, windowMs });
const debt = (d: number, at: number): RateLimitState => ({ algorithm: 'gcra', debt: d, at });
const win = (window: number, count: number): RateLimitState => ({ algorithm: 'fixed-window', window, count });
const slide = (window: number, count: number, previousCount: number): RateLimitState => ({
  algorithm: 'sliding-window',
  window,
  count,
  previousCount,
});
const w0 = T / W;

const EDGE_CASES: RateLimitArithmeticCase[] = [
  { name: 'gcra, no state', policies: [gcra(4)], states: [undefined], now: T, cost: 1, consume: true },
  { name: 'gcra, partly drained debt', policies: [gcra(4)], states: [debt(3000, T - 100)], now: T, cost: 1, consume: true },
  { name: 'gcra, full bucket: denied', policies: [gcra(4)], states: [debt(4000, T)], now: T + 249, cost: 1, consume: true },
  { name: 'gcra, clock behind the mark', policies: [gcra(4, 6)], states: [debt(5000, T + 500)], now: T, cost: 1, consume: true },
  { name: 'gcra burst, cost 3', policies: [gcra(2, 5)], states: [debt(2500, T - 300)], now: T, cost: 3, consume: true },
  { name: 'gcra peek', policies: [gcra(4)], states: [debt(3999, T)], now: T + 1, cost: 1, consume: false },
  {
    name: 'gcra at 2^52',
    policies: [{ algorithm: 'gcra', limit: 1, windowMs: 2 ** 32, burst: 2 ** 20 }],
    states: [debt(2 ** 52 - 2 ** 32, T)],
    now: T + 7,
    cost: 1,
    consume: true,
  },
  { name: 'fixed, same window', policies: [fixed(3)], states: [win(w0, 2)], now: T + 999, cost: 1, consume: true },
  { name: 'fixed, full: denied', policies: [fixed(3)], states: [win(w0, 3)], now: T + 10, cost: 1, consume: true },
  { name: 'fixed, next window', policies: [fixed(3)], states: [win(w0, 3)], now: T + 1000, cost: 2, consume: true },
  { name: 'fixed, clock behind the window', policies: [fixed(3)], states: [win(w0 + 1, 1)], now: T + 5, cost: 1, consume: true },
  { name: 'sliding, previous window weighs', policies: [sliding(10)], states: [slide(w0 - 1, 9, 0)], now: T + 250, cost: 3, consume: true },
  { name: 'sliding, denied by weight', policies: [sliding(10)], states: [slide(w0, 2, 9)], now: T + 100, cost: 1, consume: true },
  { name: 'sliding, old windows count nothing', policies: [sliding(10)], states: [slide(w0 - 2, 9, 9)], now: T, cost: 10, consume: true },
  { name: 'sliding, clock behind the window', policies: [sliding(4)], states: [slide(w0 + 1, 1, 3)], now: T + 750, cost: 1, consume: true },
  { name: 'sliding peek, last ms', policies: [sliding(7)], states: [slide(w0, 3, 5)], now: T + 999, cost: 1, consume: false },
  {
    name: 'sliding, ten-year window',
    policies: [sliding(14_000, 315_360_000_000)],
    states: [slide(Math.floor(T / 315_360_000_000), 13_000, 999)],
    now: T,
    cost: 1000,
    consume: true,
  },
  {
    name: 'all three, allowed',
    policies: [gcra(5), fixed(4), sliding(6)],
    states: [debt(1000, T), win(w0, 1), slide(w0, 1, 2)],
    now: T + 400,
    cost: 1,
    consume: true,
  },
  {
    name: 'all three, the fixed window denies',
    policies: [sliding(6), fixed(2), gcra(5)],
    states: [undefined, win(w0, 2), debt(1000, T)],
    now: T + 400,
    cost: 1,
    consume: true,
  },
  {
    name: 'gcra and sliding, the sliding window denies',
    policies: [gcra(50), sliding(5)],
    states: [undefined, slide(w0, 1, 5)],
    now: T + 100,
    cost: 1,
    consume: true,
  },
];

/** A deterministic PRNG, so a failing case reproduces. */
function rng(seed: number): (n: number) => number {
  let s = seed >>> 0;
  return (n) => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s % n;
  };
}

const source = new ErrorSource('@stowage/conformance', 'rate-limit arithmetic');

/** States the reference itself wrote, after random calls, and then one more random call. */
function generatedCases(count: number): RateLimitArithmeticCase[] {
  const r = rng(7);
  const algorithms = ['gcra', 'fixed-window', 'sliding-window'] as const;
  const out: RateLimitArithmeticCase[] = [];
  for (let c = 0; c < count; c++) {
    const policies: RateLimitPolicy[] = [];
    for (const algorithm of algorithms) {
      if (policies.length > 0 && r(2) === 0) continue;
      const policy: RateLimitPolicy = { algorithm, limit: 1 + r(6), windowMs: 1 + r(40) };
      if (algorithm === 'gcra' && r(2) === 1) policy.burst = 1 + r(8);
      policies.push(policy);
    }
    const normalized = normalizePolicies(source, policies);
    const smallest = Math.min(...normalized.map((p) => p.capacity));
    let now = T + r(1000);
    let states: (RateLimitState | undefined)[] = policies.map(() => undefined);
    for (let step = 0; step < r(8); step++) {
      // Mostly forward, sometimes back: a clock that steps back leaves states ahead of it.
      now += r(5) === 0 ? -r(30) : r(30);
      const { writes } = evaluateRateLimit(normalized, live(normalized, states, now), now, 1 + r(smallest), true);
      if (writes) states = writes.map((w) => w?.state);
    }
    now += r(5) === 0 ? -r(30) : r(60);
    out.push({ name: `generated ${c}`, policies, states, now, cost: 1 + r(smallest), consume: r(4) !== 0 });
  }
  return out;
}

/** The states a store still holds at `now`: each until its expiry (`stateExpiresAt`). */
function live(policies: readonly NormalizedPolicy[], states: readonly (RateLimitState | undefined)[], now: number) {
  return states.map((s, i) => (s !== undefined && stateExpiresAt(policies[i]!, s) > now ? s : undefined));
}

/** Every case: the edge cases, then 60 generated ones. */
export const RATE_LIMIT_ARITHMETIC_CASES: readonly RateLimitArithmeticCase[] = [...EDGE_CASES, ...generatedCases(60)];

/** A backend's rate-limit store on a test clock, and access to its stored states. */
export interface RateLimitArithmeticBackend {
  store: RateLimitStore;
  clock: TestClock;
  /** Stores a policy's state under the key as the store keeps it: its columns and expiry. */
  seed(key: string, policy: NormalizedPolicy, columns: RateLimitStateColumns, expiresAt: number): Promise<void>;
  /** The columns the store holds for the policy under the key (expired or not), if any. */
  stored(key: string, policy: NormalizedPolicy): Promise<RateLimitStateColumns | undefined>;
  close(): Promise<void>;
}

/** Runs every case through `open()`'s backend and through the reference: same decision, same states written. */
export function describeRateLimitArithmetic(name: string, open: () => Promise<RateLimitArithmeticBackend>): void {
  describe(`${name}: rate-limit arithmetic against the reference`, () => {
    for (const [index, c] of RATE_LIMIT_ARITHMETIC_CASES.entries()) {
      it(c.name, async () => {
        const backend = await open();
        try {
          const policies = normalizePolicies(source, c.policies);
          const key = `case-${index}`;
          for (const [i, state] of c.states.entries()) {
            if (state !== undefined) {
              await backend.seed(key, policies[i]!, stateToColumns(state), stateExpiresAt(policies[i]!, state));
            }
          }
          backend.clock.set(c.now);
          const want = evaluateRateLimit(policies, live(policies, c.states, c.now), c.now, c.cost, c.consume);
          const got = c.consume
            ? await backend.store.consume(key, c.policies, { cost: c.cost })
            : await backend.store.peek(key, c.policies);
          expect(got).toEqual(want.decision);
          if (want.writes === undefined) return;
          for (const [i, w] of want.writes.entries()) {
            // A write of no state (a drained gcra debt) may leave the row; the reference says it counts as none.
            if (w !== undefined) expect(await backend.stored(key, policies[i]!)).toEqual(stateToColumns(w.state));
          }
        } finally {
          await backend.close();
        }
      });
    }
  });
}
