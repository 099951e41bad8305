import { describe, expect, it } from 'vitest';
import { rateLimitHeaders, StowageError, type RateLimitAlgorithm, type RateLimitPolicy } from '../src/index.js';
import { evaluateRateLimit, validateCost, type NormalizedPolicy, type RateLimitState } from '../src/adapter-kit.js';
import { norm, rng, source } from './rate-limit-fixtures.js';

// An independent oracle: the contract's formulas written literally in BigInt arithmetic.
type OState = [bigint, bigint, bigint] | undefined;
const big = BigInt;
const fdiv = (a: bigint, b: bigint) => a / b; // non-negative operands: truncation is floor
const cdiv = (a: bigint, b: bigint) => (a + b - 1n) / b;

function oracle(p: NormalizedPolicy, st: OState, nowN: number, costN: number, consume: boolean) {
  const now = big(nowN);
  const cost = big(costN);
  const L = big(p.limit);
  const W = big(p.windowMs);
  const B = big(p.capacity);
  if (p.algorithm === 'gcra') {
    let d = 0n;
    let at = now;
    if (st && st[0] > 0n) {
      const elapsed = now > st[1] ? now - st[1] : 0n;
      d = elapsed >= cdiv(st[0], L) ? 0n : st[0] - elapsed * L;
      // biome-ignore lint/complexity/useMathMinMax: Math.max throws on BigInts
      at = now > st[1] ? now : st[1];
    }
    const d1 = d + cost * W;
    const allowed = d1 <= B * W;
    const after = allowed && consume ? d1 : d;
    return {
      allowed,
      remaining: Number(fdiv(B * W - after, W)),
      resetMs: Number(cdiv(after, L)),
      retryAfterMs: allowed ? 0 : Number(cdiv(d1 - B * W, L)),
      next: (allowed && consume ? (after > 0n ? [after, at, 0n] : undefined) : st) as OState,
    };
  }
  const cur = now / W;
  if (p.algorithm === 'fixed-window') {
    let w = cur;
    let count = 0n;
    if (st && st[0] >= cur) {
      w = st[0];
      count = st[1];
    }
    const allowed = count + cost <= L;
    const after = allowed && consume ? count + cost : count;
    const toEnd = (w + 1n) * W - now;
    return {
      allowed,
      remaining: Number(L - after),
      resetMs: after > 0n ? Number(toEnd) : 0,
      retryAfterMs: allowed ? 0 : Number(toEnd),
      next: (allowed && consume ? [w, after, 0n] : st) as OState,
    };
  }
  let w = cur;
  let curr = 0n;
  let prev = 0n;
  let elapsed = now % W;
  if (st) {
    if (st[0] > cur) {
      w = st[0];
      curr = st[1];
      prev = st[2];
      elapsed = 0n;
    } else if (st[0] === cur) {
      curr = st[1];
      prev = st[2];
    } else if (st[0] === cur - 1n) prev = st[1];
  }
  const weighted = fdiv(prev * (W - elapsed), W) + curr;
  const allowed = weighted + cost <= L;
  const consumed = allowed && consume;
  const after = consumed ? curr + cost : curr;
  const remaining = L - (weighted + (consumed ? cost : 0n));
  return {
    allowed,
    remaining: Number(remaining < 0n ? 0n : remaining),
    // resetMs / retryAfterMs are checked by simulation below, not by formula.
    resetMs: undefined,
    retryAfterMs: undefined,
    next: (consumed ? [w, after, prev] : st) as OState,
  };
}

/** The oracle's triples: gcra `[debt, at, 0]`, windows `[window, count, previousCount]`. */
function toState(algorithm: RateLimitAlgorithm, s: OState): RateLimitState | undefined {
  if (s === undefined) return undefined;
  const [x, y, z] = s.map(Number) as [number, number, number];
  if (algorithm === 'gcra') return { algorithm, debt: x, at: y };
  if (algorithm === 'fixed-window') return { algorithm, window: x, count: y };
  return { algorithm, window: x, count: y, previousCount: z };
}
function fromState(s: RateLimitState): OState {
  if (s.algorithm === 'gcra') return [big(s.debt), big(s.at), 0n];
  return [big(s.window), big(s.count), s.algorithm === 'sliding-window' ? big(s.previousCount) : 0n];
}

/** Smallest t >= 0 with `predicate(now + t)`, by stepping (small windows only). */
function firstTime(from: number, predicate: (t: number) => boolean, horizon: number): number {
  for (let t = 0; t <= horizon; t++) if (predicate(from + t)) return t;
  return -1;
}

describe('evaluateRateLimit against the literal formulas (BigInt oracle)', () => {
  const algorithms = ['gcra', 'fixed-window', 'sliding-window'] as const;
  for (const algorithm of algorithms) {
    it(`${algorithm}: 300 random small policies, 60 steps each, match the oracle exactly`, () => {
      const r = rng(algorithm.length * 7919);
      for (let round = 0; round < 300; round++) {
        const limit = 1 + r(6);
        const windowMs = 1 + r(25);
        const policy: RateLimitPolicy = { algorithm, limit, windowMs };
        if (algorithm === 'gcra' && r(2) === 1) policy.burst = 1 + r(8);
        const [p] = norm(policy);
        let state: OState;
        let now = 1_800_000_000_000 + r(1000);
        for (let step = 0; step < 60; step++) {
          now += r(4) === 0 ? 0 : r(windowMs * 2);
          const cost = 1 + r(p!.capacity);
          const consume = r(5) !== 0;
          const got = evaluateRateLimit([p!], [toState(algorithm, state)], now, cost, consume);
          const want = oracle(p!, state, now, cost, consume);
          expect(got.decision.allowed).toBe(want.allowed);
          expect(got.decision.remaining).toBe(want.remaining);
          if (want.resetMs !== undefined) expect(got.decision.resetMs).toBe(want.resetMs);
          if (want.retryAfterMs !== undefined) expect(got.decision.retryAfterMs).toBe(want.retryAfterMs);
          const written = got.writes?.[0];
          if (got.writes) expect(toState(algorithm, want.next)).toEqual(written?.state);
          else expect(got.decision.allowed && consume).toBe(false);
          state = got.writes ? (written ? fromState(written.state) : undefined) : state;
        }
      }
    });
  }
});

describe('resetMs and retryAfterMs mean what the contract says (checked by stepping time, also after steps back)', () => {
  for (const algorithm of ['gcra', 'fixed-window', 'sliding-window', 'anchored-window'] as const) {
    it(`${algorithm}: retryAfterMs is the first ms the same call is allowed; resetMs the first ms at full capacity`, () => {
      const r = rng(1234 + algorithm.length);
      for (let round = 0; round < 200; round++) {
        const limit = 1 + r(5);
        const windowMs = 1 + r(15);
        const policy: RateLimitPolicy = { algorithm, limit, windowMs };
        if (algorithm === 'gcra') policy.burst = 1 + r(6);
        if (algorithm === 'anchored-window') {
          policy.onExceed = (['keep', 'restart', 'backoff'] as const)[r(3)];
          policy.threshold = r(limit + 1);
        }
        const ps = norm(policy);
        const p = ps[0]!;
        let state: RateLimitState | undefined;
        let now = 1_700_000_000_000 + r(997);
        for (let step = 0; step < 25; step++) {
          // Now and then the clock steps back (a custom clock, a corrected server clock): the
          // answers must still say when the call is allowed and when the key is full again.
          now += r(5) === 0 ? -r(windowMs * 3) : r(windowMs + 1);
          const cost = 1 + r(p.capacity);
          const out = evaluateRateLimit(ps, [state], now, cost, true);
          if (out.writes) state = out.writes[0]?.state;
          const d = out.decision;
          // A backoff window lasts up to windowMs * 2^(limit - 1); steps back add up to 3 windows each.
          const horizon = windowMs * (p.capacity + 4 + 2 ** p.limit + 75) + 10;
          if (!d.allowed) {
            const t = firstTime(now, (at) => evaluateRateLimit(ps, [state], at, cost, false).decision.allowed, horizon);
            expect(d.retryAfterMs).toBe(t);
            expect(d.retryAfterMs).toBeGreaterThan(0);
          } else {
            expect(d.retryAfterMs).toBe(0);
          }
          const full = (at: number) => evaluateRateLimit(ps, [state], at, 1, false).decision.remaining === p.capacity;
          expect(d.resetMs).toBe(firstTime(now, full, horizon));
          // A stored state must stop mattering exactly when its ttl ends.
          const w = out.writes?.[0];
          if (w) expect(full(w.expiresAt)).toBe(true);
        }
      }
    });
  }
});

describe('exact integer boundaries at epoch-sized clocks', () => {
  it('gcra with limit * windowMs = 2^52 keeps the exact boundary', () => {
    const limit = 2 ** 20;
    const windowMs = 2 ** 32;
    const ps = norm({ algorithm: 'gcra', limit, windowMs });
    const now = 1_799_999_999_999;
    // Fill the bucket completely, then one more is denied until exactly windowMs / limit ms later.
    let state: RateLimitState | undefined;
    const fill = evaluateRateLimit(ps, [state], now, limit, true);
    expect(fill.decision.allowed).toBe(true);
    expect(fill.decision.remaining).toBe(0);
    state = fill.writes![0]!.state;
    expect(state).toEqual({ algorithm: 'gcra', debt: limit * windowMs, at: now });
    const denied = evaluateRateLimit(ps, [state], now, 1, true);
    expect(denied.decision.allowed).toBe(false);
    expect(denied.decision.retryAfterMs).toBe(windowMs / limit);
    expect(evaluateRateLimit(ps, [state], now + windowMs / limit - 1, 1, false).decision.allowed).toBe(false);
    expect(evaluateRateLimit(ps, [state], now + windowMs / limit, 1, false).decision.allowed).toBe(true);
    expect(fill.decision.resetMs).toBe(windowMs);
  });

  it('a clock that steps back counts as no time passed', () => {
    const ps = norm({ algorithm: 'gcra', limit: 10, windowMs: 1000 });
    const t0 = 1_800_000_000_000;
    const a = evaluateRateLimit(ps, [undefined], t0, 10, true);
    const back = evaluateRateLimit(ps, [a.writes![0]!.state], t0 - 5000, 1, true);
    expect(back.decision.allowed).toBe(false);
    // Nothing drains until the clock is back at t0: the wait says so.
    expect(back.decision.retryAfterMs).toBe(5100);
    expect(back.decision.resetMs).toBe(6000);
    for (const algorithm of ['fixed-window', 'sliding-window'] as const) {
      const q = norm({ algorithm, limit: 3, windowMs: 1000 });
      const first = evaluateRateLimit(q, [undefined], t0, 3, true);
      const again = evaluateRateLimit(q, [first.writes![0]!.state], t0 - 1500, 1, true);
      expect(again.decision.allowed).toBe(false);
    }
  });

  it('a denied call consumes nothing and remaining is never negative', () => {
    const ps = norm({ algorithm: 'fixed-window', limit: 2, windowMs: 1000 });
    const t = 1_800_000_000_000;
    const one = evaluateRateLimit(ps, [undefined], t, 2, true);
    const denied = evaluateRateLimit(ps, [one.writes![0]!.state], t, 1, true);
    expect(denied.writes).toBeUndefined();
    expect(denied.decision.remaining).toBe(0);
  });
});

describe('multi-policy decisions', () => {
  const t = 1_800_000_000_000;
  const perSecond: RateLimitPolicy = { algorithm: 'fixed-window', limit: 2, windowMs: 1000, name: 'second' };
  const perHour: RateLimitPolicy = { algorithm: 'sliding-window', limit: 3, windowMs: 3_600_000, name: 'hour' };

  it('consumes from all or none, and names the most restrictive policy', () => {
    const ps = norm([perSecond, perHour]);
    let states: (RateLimitState | undefined)[] = [undefined, undefined];
    const a = evaluateRateLimit(ps, states, t, 1, true);
    expect(a.decision).toMatchObject({ allowed: true, remaining: 1, policy: 'second' });
    states = a.writes!.map((w) => w?.state);
    const b = evaluateRateLimit(ps, states, t, 1, true);
    expect(b.decision).toMatchObject({ allowed: true, remaining: 0, policy: 'second' });
    states = b.writes!.map((w) => w?.state);
    const c = evaluateRateLimit(ps, states, t, 1, true);
    expect(c.decision).toMatchObject({ allowed: false, policy: 'second', retryAfterMs: 1000 - (t % 1000) });
    expect(c.writes).toBeUndefined();
    const d = evaluateRateLimit(ps, states, t + 1000, 1, true);
    expect(d.decision).toMatchObject({ allowed: true, remaining: 0, policy: 'hour' });
    states = d.writes!.map((w) => w?.state);
    const e = evaluateRateLimit(ps, states, t + 2000, 1, true);
    expect(e.decision).toMatchObject({ allowed: false, policy: 'hour' });
    // The per-second policy allowed but consumed nothing: its count is unchanged.
    expect(evaluateRateLimit(ps, states, t + 2000, 1, false).decision.allowed).toBe(false);
  });

  it('unnamed policies are called default alone and p<i> in an array', () => {
    const single = evaluateRateLimit(norm({ algorithm: 'gcra', limit: 1, windowMs: 10 }), [undefined], t, 1, true);
    expect(single.decision.policy).toBe('default');
    const arr = norm([
      { algorithm: 'gcra', limit: 5, windowMs: 10 },
      { algorithm: 'gcra', limit: 1, windowMs: 10 },
    ]);
    expect(evaluateRateLimit(arr, [undefined, undefined], t, 1, true).decision.policy).toBe('p1');
  });
});

describe('policy validation', () => {
  const bad: [string, unknown][] = [
    ['null', null],
    ['unknown algorithm', { algorithm: 'leaky', limit: 1, windowMs: 1 }],
    ['limit 0', { algorithm: 'gcra', limit: 0, windowMs: 1000 }],
    ['fractional limit', { algorithm: 'gcra', limit: 1.5, windowMs: 1000 }],
    ['NaN window', { algorithm: 'gcra', limit: 1, windowMs: NaN }],
    ['string window', { algorithm: 'gcra', limit: 1, windowMs: '1000' }],
    ['limit * window over 2^52', { algorithm: 'fixed-window', limit: 2 ** 30, windowMs: 2 ** 23 }],
    ['burst * window over 2^52', { algorithm: 'gcra', limit: 1, windowMs: 2 ** 30, burst: 2 ** 23 }],
    ['burst on a window policy', { algorithm: 'fixed-window', limit: 1, windowMs: 1000, burst: 2 }],
    ['empty name', { algorithm: 'gcra', limit: 1, windowMs: 1000, name: '' }],
    ['empty array', []],
    [
      'duplicate policies',
      [
        { algorithm: 'gcra', limit: 1, windowMs: 1000 },
        { algorithm: 'gcra', limit: 1, windowMs: 1000, name: 'same shape' },
      ],
    ],
    ['17 policies', Array.from({ length: 17 }, (_, i) => ({ algorithm: 'gcra', limit: i + 1, windowMs: 1000 }))],
  ];
  for (const [label, policy] of bad) {
    it(`rejects ${label} with INVALID_ARGUMENT`, () => {
      expect(() => norm(policy as RateLimitPolicy)).toThrowError(expect.objectContaining({ code: 'INVALID_ARGUMENT' }) as unknown as Error);
    });
  }

  it('rejects a cost no policy could admit, and non-integer costs', () => {
    const ps = norm({ algorithm: 'gcra', limit: 5, windowMs: 1000, burst: 8 });
    expect(validateCost(source, 8, ps)).toBe(8);
    for (const cost of [9, 0, -1, 1.5, NaN, '2']) {
      expect(() => validateCost(source, cost, ps)).toThrow(StowageError);
    }
  });

  it('notices a policy object changed after its first use', () => {
    const policy: RateLimitPolicy = { algorithm: 'fixed-window', limit: 5, windowMs: 1000 };
    expect(norm(policy)[0]!.limit).toBe(5);
    policy.limit = 7;
    expect(norm(policy)[0]!.limit).toBe(7);
    policy.limit = 0;
    expect(() => norm(policy)).toThrow(StowageError);
  });
});

describe('rateLimitHeaders', () => {
  it('gives RateLimit-Policy, RateLimit and Retry-After per the IETF draft', () => {
    const policies: RateLimitPolicy[] = [
      { algorithm: 'fixed-window', limit: 10, windowMs: 1000, name: 'burst' },
      { algorithm: 'sliding-window', limit: 1000, windowMs: 3_600_000, name: 'hourly' },
    ];
    const h = rateLimitHeaders({ allowed: false, capacity: 10, remaining: 0, resetMs: 400, retryAfterMs: 1400, policy: 'burst' }, policies);
    expect(h['RateLimit-Policy']).toBe('"burst";q=10;w=1, "hourly";q=1000;w=3600');
    expect(h.RateLimit).toBe('"burst";r=0;t=1');
    expect(h['Retry-After']).toBe('2');
    const ok = rateLimitHeaders(
      { allowed: true, capacity: 5, remaining: 4, resetMs: 0, retryAfterMs: 0, policy: 'default' },
      {
        algorithm: 'gcra',
        limit: 5,
        windowMs: 60_000,
      },
    );
    expect(ok).toEqual({ 'RateLimit-Policy': '"default";q=5;w=60', RateLimit: '"default";r=4;t=0' });
  });

  it('escapes names into valid structured-field strings', () => {
    const h = rateLimitHeaders(
      { allowed: true, capacity: 1, remaining: 1, resetMs: 0, retryAfterMs: 0, policy: 'a"b\\c\u00e9' },
      { algorithm: 'gcra', limit: 1, windowMs: 1000, name: 'a"b\\c\u00e9' },
    );
    expect(h.RateLimit).toBe('"a\\"b\\\\c?";r=1;t=0');
  });
});
