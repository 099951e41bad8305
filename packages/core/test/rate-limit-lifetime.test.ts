import { describe, expect, it } from 'vitest';
import type { RateLimitPolicy } from '../src/index.js';
import { evaluateRateLimit, stateExpiresAt, type NormalizedPolicy, type RateLimitState } from '../src/adapter-kit.js';
import { norm, rng } from './rate-limit-fixtures.js';

// The lifetime written literally in BigInt arithmetic, from the contract's formulas.
const cdiv = (a: bigint, b: bigint) => (a + b - 1n) / b;
function oracleExpiresAt(p: NormalizedPolicy, s: RateLimitState): bigint {
  const W = BigInt(p.windowMs);
  if (s.algorithm === 'gcra') return s.debt > 0 ? BigInt(s.at) + cdiv(BigInt(s.debt), BigInt(p.limit)) : BigInt(s.at);
  if (s.algorithm === 'anchored-window') return BigInt(s.start) + BigInt(s.length);
  const window = BigInt(s.window);
  if (s.algorithm === 'fixed-window') return (window + 1n) * W;
  const [count, previous] = [BigInt(s.count), BigInt(s.previousCount)];
  if (count > 0n) return (window + 2n) * W - cdiv(W, count) + 1n;
  if (previous > 0n) return (window + 1n) * W - cdiv(W, previous) + 1n;
  return window * W;
}

const T = 1_800_000_000_000;
const peek = (ps: readonly NormalizedPolicy[], s: RateLimitState | undefined, at: number) =>
  evaluateRateLimit(ps, [s], at, 1, false).decision;

describe('stateExpiresAt: a state lives until the key is full by its own reckoning', () => {
  it('the case of issue 13: written at T-1000 after T, the sliding state lives until T+1751, as a peek at T+750 says', () => {
    const ps = norm({ algorithm: 'sliding-window', limit: 4, windowMs: 1000 });
    const first = evaluateRateLimit(ps, [undefined], T, 1, true).writes![0]!;
    const back = evaluateRateLimit(ps, [first.state], T - 1000, 3, true);
    expect(back.decision).toMatchObject({ allowed: true, remaining: 0 });
    const w = back.writes![0]!;
    expect(w.expiresAt).toBe(T + 1751);
    expect(peek(ps, w.state, T + 750)).toMatchObject({ allowed: false, remaining: 0, resetMs: 1001 });
    // In the next window the count weighs floor(4 * 250 / 1000) = 1 until then.
    expect(peek(ps, w.state, T + 1750)).toMatchObject({ remaining: 3, resetMs: 1 });
    expect(peek(ps, w.state, T + 1751)).toMatchObject({ remaining: 4, resetMs: 0 });
  });

  it('gcra keeps its later mark: written at T-1000 after T, it lives until T+1000', () => {
    const ps = norm({ algorithm: 'gcra', limit: 4, windowMs: 1000 });
    const first = evaluateRateLimit(ps, [undefined], T, 1, true).writes![0]!;
    const w = evaluateRateLimit(ps, [first.state], T - 1000, 3, true).writes![0]!;
    expect(w.state).toEqual({ algorithm: 'gcra', debt: 4000, at: T });
    expect(w.expiresAt).toBe(T + 1000);
    expect(peek(ps, w.state, T + 999)).toMatchObject({ remaining: 3, resetMs: 1 });
    expect(peek(ps, w.state, T + 1000)).toMatchObject({ remaining: 4, resetMs: 0 });
  });

  for (const algorithm of ['gcra', 'fixed-window', 'sliding-window', 'anchored-window'] as const) {
    it(`${algorithm}: with steps back, a written state matters before expiresAt, not from it, and outlives every announced reset`, () => {
      const r = rng(4242 + algorithm.length);
      for (let round = 0; round < 200; round++) {
        const policy: RateLimitPolicy = { algorithm, limit: 1 + r(5), windowMs: 1 + r(20) };
        if (algorithm === 'gcra') policy.burst = 1 + r(6);
        if (algorithm === 'anchored-window') {
          policy.onExceed = (['keep', 'restart', 'backoff'] as const)[r(3)];
          policy.threshold = r(policy.limit + 1);
        }
        const ps = norm(policy);
        const p = ps[0]!;
        const W = p.windowMs;
        let state: RateLimitState | undefined;
        let now = T + r(997);
        let latest = now;
        for (let step = 0; step < 20; step++) {
          // A third of the steps go back, by up to two windows.
          now += r(3) === 0 ? -r(2 * W + 1) : r(W + 1);
          latest = Math.max(latest, now);
          const out = evaluateRateLimit(ps, [state], now, 1 + r(p.capacity), true);
          const w = out.writes?.[0];
          if (w === undefined) continue;
          state = w.state;
          expect(w.expiresAt).toBe(Number(oracleExpiresAt(p, state)));
          expect(w.expiresAt).toBe(stateExpiresAt(p, state));
          // Never before the reset this call announced, nor one announced at any ms up to it.
          expect(w.expiresAt).toBeGreaterThanOrEqual(now + out.decision.resetMs);
          for (let t = Math.min(now, latest) - 2 * W; t < w.expiresAt; t++) {
            expect(t + peek(ps, state, t).resetMs).toBeLessThanOrEqual(w.expiresAt);
          }
          // At or after the clock's latest reading the announce is exact; the state still counts a ms before.
          const end = w.expiresAt;
          if (latest < end) expect(latest + peek(ps, state, latest).resetMs).toBe(end);
          expect(peek(ps, state, end - 1).remaining).toBeLessThan(p.capacity);
          // From expiresAt on, the state decides every call as no state would.
          for (let t = end; t < end + 2 * W + 2; t++) {
            for (const cost of [1, p.capacity]) {
              expect(evaluateRateLimit(ps, [state], t, cost, true).decision).toEqual(
                evaluateRateLimit(ps, [undefined], t, cost, true).decision,
              );
            }
          }
        }
      }
    });
  }

  it('sliding-window states holding only the previous window end when its weight reaches 0', () => {
    const [p] = norm({ algorithm: 'sliding-window', limit: 10, windowMs: 1000 });
    const window = Math.floor(T / 1000);
    // floor(3 * (1000 - e) / 1000) is 0 from e = 667.
    const only3: RateLimitState = { algorithm: 'sliding-window', window, count: 0, previousCount: 3 };
    expect(stateExpiresAt(p!, only3)).toBe(T + 667);
    expect(peek([p!], only3, T + 666).remaining).toBe(9);
    expect(peek([p!], only3, T + 667).remaining).toBe(10);
    expect(stateExpiresAt(p!, { algorithm: 'sliding-window', window, count: 0, previousCount: 0 })).toBe(T);
  });

  it('is exact at the largest numbers a policy allows (burst * windowMs = 2^52 at an epoch clock)', () => {
    const [g] = norm({ algorithm: 'gcra', limit: 1, windowMs: 2 ** 32, burst: 2 ** 20 });
    const at = 1_799_999_999_999;
    const s: RateLimitState = { algorithm: 'gcra', debt: 2 ** 52 - 1, at };
    expect(BigInt(stateExpiresAt(g!, s))).toBe(BigInt(at) + 2n ** 52n - 1n);
    expect(BigInt(stateExpiresAt(g!, s))).toBe(oracleExpiresAt(g!, s));
    const [sw] = norm({ algorithm: 'sliding-window', limit: 14_000, windowMs: 315_360_000_000 });
    const window = Math.floor(at / 315_360_000_000);
    for (const count of [1, 3, 13_999, 14_000]) {
      const state: RateLimitState = { algorithm: 'sliding-window', window, count, previousCount: 7 };
      expect(BigInt(stateExpiresAt(sw!, state))).toBe(oracleExpiresAt(sw!, state));
    }
  });
});
