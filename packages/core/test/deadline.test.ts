import { describe, expect, it } from 'vitest';
import { StowageError } from '../src/index.js';
import { callBudget, checkDeadline, deadlineOf, ErrorSource, STORE_CALLS, type StoreCall } from '../src/adapter-kit.js';

const source = new ErrorSource('@stowage/core', 'test');

const codeOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StowageError);
    return (err as StowageError).code;
  }
  return 'no error';
};

describe('deadlines', () => {
  it('deadlineOf reads opts.deadline: absent, integer epoch ms, or INVALID_ARGUMENT', () => {
    expect(deadlineOf(source, undefined)).toBeUndefined();
    expect(deadlineOf(source, {})).toBeUndefined();
    expect(deadlineOf(source, { deadline: 1_700_000_000_000 })).toBe(1_700_000_000_000);
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1700000000000', null, 10n]) {
      expect(codeOf(() => deadlineOf(source, { deadline: bad }))).toBe('INVALID_ARGUMENT');
    }
    expect(codeOf(() => deadlineOf(source, 5))).toBe('INVALID_ARGUMENT');
  });

  it('callBudget takes the earlier of the deadline and the store limit', () => {
    const steady = expect.any(Number);
    expect(callBudget(source, 2000, undefined, 1000)).toEqual({ deadline: 3000, ms: 2000, byCaller: false, steadyEnd: steady });
    expect(callBudget(source, 2000, 5000, 1000)).toEqual({ deadline: 3000, ms: 2000, byCaller: false, steadyEnd: steady });
    expect(callBudget(source, 2000, 1500, 1000)).toEqual({ deadline: 1500, ms: 500, byCaller: true, steadyEnd: steady });
    expect(callBudget(source, 2000, 1001, 1000)).toEqual({ deadline: 1001, ms: 1, byCaller: true, steadyEnd: steady });
    // The end on the steady clock is `ms` from when the budget was made.
    const before = performance.timeOrigin + performance.now();
    const b = callBudget(source, 2000, 1500, 1000);
    expect(b.steadyEnd - before).toBeGreaterThanOrEqual(500);
    expect(b.steadyEnd - before).toBeLessThan(600);
  });

  it('a deadline at or before now is TIMEOUT at once', () => {
    expect(codeOf(() => callBudget(source, 2000, 1000, 1000))).toBe('TIMEOUT');
    expect(codeOf(() => callBudget(source, 2000, 0, 1000))).toBe('TIMEOUT');
    expect(codeOf(() => checkDeadline(source, 999, 1000))).toBe('TIMEOUT');
    expect(codeOf(() => checkDeadline(source, 1001, 1000))).toBe('no error');
    expect(codeOf(() => checkDeadline(source, undefined, 1000))).toBe('no error');
  });
});

describe('deadlineOf: option names', () => {
  const refusal = (opts: unknown) => {
    try {
      deadlineOf(source, opts);
      return 'accepted';
    } catch (err) {
      return `${(err as StowageError).code} ${(err as StowageError).message}`;
    }
  };
  it('refuses an own name no contract method takes, naming it as code would', () => {
    expect(refusal({ deadLine: 1 })).toMatch(/^INVALID_ARGUMENT .*opts\.deadLine is not an option of any store call: a misspelt name/);
    expect(refusal({ cosst: 5 })).toMatch(/opts\.cosst is not/);
    expect(refusal({ 'a\nforged': 1 })).toMatch(/opts\["a\\nforged"\] is not/);
    expect(refusal({ ['x'.repeat(500)]: 1 })).toContain(`opts["${'x'.repeat(64)}"] is not`);
  });
  it("with the method's entry: refuses an option only another method takes, naming the method and what it takes", () => {
    const refused = (opts: unknown, call: StoreCall) => {
      try {
        deadlineOf(source, opts, call);
        return 'accepted';
      } catch (err) {
        return `${(err as StowageError).code} ${(err as StowageError).message}`;
      }
    };
    expect(refused({ ttlMs: 1 }, STORE_CALLS.session.get)).toMatch(
      /^INVALID_ARGUMENT .*opts\.ttlMs is not an option of SessionStore\.get \(it takes deadline\)/,
    );
    expect(refused({ cost: 2 }, STORE_CALLS.rateLimit.peek)).toMatch(/opts\.cost is not an option of RateLimitStore\.peek/);
    expect(refused({ deadLine: 1 }, STORE_CALLS.rateLimit.consume)).toMatch(
      /opts\.deadLine is not an option of RateLimitStore\.consume \(it takes deadline, cost\)/,
    );
    expect(refused({ cost: 2, deadline: Date.now() + 1000 }, STORE_CALLS.rateLimit.consume)).toBe('accepted');
    expect(refused({ ttlMs: 1, ifVersion: 0, absoluteTtlMs: 2, owner: 'o' }, STORE_CALLS.session.set)).toBe('accepted');
    expect(refused(Object.create({ ttlMs: 1 }), STORE_CALLS.session.get)).toBe('accepted');
  });
  it('takes every contract option, and leaves inherited names alone', () => {
    expect(refusal({ deadline: Date.now() + 1000, ttlMs: 1, cost: 2, producer: undefined, limit: 3 })).toBe('accepted');
    expect(refusal(Object.create({ deadLine: 1 }))).toBe('accepted');
    const proto = Object.prototype as Record<string, unknown>;
    proto.polluted = 1;
    try {
      expect(refusal({ deadline: Date.now() + 1000 })).toBe('accepted');
    } finally {
      delete proto.polluted;
    }
  });
});
