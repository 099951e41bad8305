import type { RateLimitDecision } from '../contracts/rate-limit.js';
import { MAX_EXACT_INTEGER } from '../validate.js';
import { ceilDiv, floorDiv } from './math.js';
import type { NormalizedPolicy } from './policy.js';
import type { RateLimitState } from './state.js';

/** A state to store, and until when it matters. */
export interface RateLimitWrite {
  state: RateLimitState;
  /**
   * Epoch ms from which the state equals no state at all: `stateExpiresAt(policy, state)`,
   * counted from the state's own mark or window, never from the clock reading of the call,
   * so it is never before `now + resetMs` as any call reports it.
   */
  expiresAt: number;
}

export interface RateLimitOutcome {
  decision: RateLimitDecision;
  /**
   * Set when the call consumed: per policy (same order), the state to store, or `undefined`
   * to delete the policy's state. `undefined` when nothing is to be written.
   */
  writes: (RateLimitWrite | undefined)[] | undefined;
}

/** One policy's state brought to `now` (no consumption yet). */
interface View {
  /** gcra: debt; windows: count in the current window. */
  used: number;
  /** gcra: the `at` to store; windows: the current window index; anchored: the window's start. */
  mark: number;
  /** sliding: the previous window's count; anchored: the window's length. */
  previous: number;
  /** sliding: ms into the current window (0 when the clock is behind the stored window). */
  elapsed: number;
}

function view(p: NormalizedPolicy, state: RateLimitState | undefined, now: number): View {
  const W = p.windowMs;
  // A state of another algorithm cannot occur (the policy id names the algorithm): it counts as none.
  if (state !== undefined && state.algorithm !== p.algorithm) state = undefined;
  if (p.algorithm === 'gcra') {
    if (state?.algorithm !== 'gcra' || state.debt <= 0) return { used: 0, mark: now, previous: 0, elapsed: 0 };
    const { debt, at } = state;
    const elapsed = now > at ? now - at : 0;
    const used = elapsed >= ceilDiv(debt, p.limit) ? 0 : debt - elapsed * p.limit;
    // A clock behind `at` counts as no time passed: keep the later mark.
    return { used, mark: Math.max(now, at), previous: 0, elapsed: 0 };
  }
  if (p.algorithm === 'anchored-window') {
    // Live until its end, also while the clock stands behind its start (no time passed).
    if (state?.algorithm !== 'anchored-window' || now >= state.start + state.length) return { used: 0, mark: now, previous: W, elapsed: 0 };
    return { used: state.count, mark: state.start, previous: state.length, elapsed: 0 };
  }
  const current = floorDiv(now, W);
  if (p.algorithm === 'fixed-window') {
    if (state?.algorithm !== 'fixed-window') return { used: 0, mark: current, previous: 0, elapsed: 0 };
    if (state.window >= current) return { used: state.count, mark: state.window, previous: 0, elapsed: 0 };
    return { used: 0, mark: current, previous: 0, elapsed: 0 };
  }
  const elapsed = now - current * W;
  if (state?.algorithm !== 'sliding-window') return { used: 0, mark: current, previous: 0, elapsed };
  const { window, count, previousCount } = state;
  if (window > current) return { used: count, mark: window, previous: previousCount, elapsed: 0 };
  if (window === current) return { used: count, mark: window, previous: previousCount, elapsed };
  if (window === current - 1) return { used: 0, mark: current, previous: count, elapsed };
  return { used: 0, mark: current, previous: 0, elapsed };
}

function slidingWeight(previous: number, elapsed: number, W: number): number {
  return previous === 0 ? 0 : floorDiv(previous * (W - elapsed), W);
}

function fits(p: NormalizedPolicy, v: View, cost: number): boolean {
  if (p.algorithm === 'gcra') return v.used + cost * p.windowMs <= p.capacity * p.windowMs;
  if (p.algorithm === 'fixed-window' || p.algorithm === 'anchored-window') return v.used + cost <= p.limit;
  return slidingWeight(v.previous, v.elapsed, p.windowMs) + v.used + cost <= p.limit;
}

/** Ms from `elapsed` into a window until `floor(count * (W - e) / W) <= k`, or -1 if not within this window. */
function slidingDecay(count: number, k: number, elapsed: number, W: number): number {
  if (count === 0 || floorDiv(count * (W - elapsed), W) <= k) return 0;
  // Smallest e with count * (W - e) < (k + 1) * W.
  const e = W - ceilDiv((k + 1) * W, count) + 1;
  return e < W ? e - elapsed : -1;
}

interface PolicyResult {
  allowed: boolean;
  remaining: number;
  resetMs: number;
  retryAfterMs: number;
  write: RateLimitWrite | undefined;
}

/**
 * A write's `expiresAt` is `stateExpiresAt` of its state (the unit tests hold them equal),
 * computed here from the divisions the decision already made.
 */
function decide(p: NormalizedPolicy, v: View, now: number, cost: number, consumed: boolean, ok: boolean): PolicyResult {
  const W = p.windowMs;
  if (p.algorithm === 'gcra') {
    const C = p.capacity * W;
    const after = consumed ? v.used + cost * W : v.used;
    const drainMs = ceilDiv(after, p.limit);
    // The debt drains from the mark: after a clock step back it is ahead of now, and nothing
    // drains until now reaches it.
    const lag = v.mark - now;
    return {
      allowed: ok,
      remaining: Math.max(0, floorDiv(C - after, W)),
      resetMs: after > 0 ? lag + drainMs : 0,
      retryAfterMs: ok ? 0 : lag + ceilDiv(v.used + cost * W - C, p.limit),
      write: consumed && after > 0 ? { state: { algorithm: 'gcra', debt: after, at: v.mark }, expiresAt: v.mark + drainMs } : undefined,
    };
  }
  if (p.algorithm === 'anchored-window') return decideAnchored(p, v, now, cost, consumed, ok);
  if (p.algorithm === 'fixed-window') {
    const count = consumed ? v.used + cost : v.used;
    const toEnd = (v.mark + 1) * W - now;
    return {
      allowed: ok,
      remaining: Math.max(0, p.limit - count),
      resetMs: count > 0 ? toEnd : 0,
      retryAfterMs: ok ? 0 : toEnd,
      write: consumed ? { state: { algorithm: 'fixed-window', window: v.mark, count }, expiresAt: (v.mark + 1) * W } : undefined,
    };
  }
  const count = consumed ? v.used + cost : v.used;
  const weight = slidingWeight(v.previous, v.elapsed, W);
  const toEnd = W - v.elapsed;
  let resetMs: number;
  // Ms into the next window from which the current count weighs nothing.
  let drained = 0;
  if (count > 0) {
    drained = W - ceilDiv(W, count) + 1;
    resetMs = toEnd + drained;
  } else if (weight === 0) resetMs = 0;
  else {
    // The previous window's weight decays within this window, or is gone when it ends.
    const decay = slidingDecay(v.previous, 0, v.elapsed, W);
    resetMs = decay >= 0 ? decay : toEnd;
  }
  // A stored window ahead of the clock (a step back) stands still at its start until now gets there.
  const lag = Math.max(0, v.mark * W - now);
  if (resetMs > 0) resetMs += lag;
  let retryAfterMs = 0;
  if (!ok) {
    const k = p.limit - cost - v.used;
    const inWindow = k >= 0 ? slidingDecay(v.previous, k, v.elapsed, W) : -1;
    if (inWindow >= 0) retryAfterMs = inWindow;
    else {
      // In the next window the current count becomes the previous one, decaying from its start.
      const k2 = p.limit - cost;
      const e = v.used === 0 ? 0 : Math.max(0, W - ceilDiv((k2 + 1) * W, v.used) + 1);
      retryAfterMs = toEnd + e;
    }
    retryAfterMs += lag;
  }
  return {
    allowed: ok,
    remaining: Math.max(0, p.limit - weight - count),
    resetMs,
    retryAfterMs,
    write: consumed
      ? { state: { algorithm: 'sliding-window', window: v.mark, count, previousCount: v.previous }, expiresAt: (v.mark + 1) * W + drained }
      : undefined,
  };
}

/**
 * The length of an `anchored-window` window restarted by `backoff` when it holds `excess`
 * units past the threshold after the call: `W * 2^(excess - 1)`, at most 2^52 (`W <= 2^52`).
 */
export function anchoredBackoffMs(windowMs: number, excess: number): number {
  const k = excess - 1;
  return k > 52 || windowMs > MAX_EXACT_INTEGER / 2 ** k ? MAX_EXACT_INTEGER : windowMs * 2 ** k;
}

function decideAnchored(p: NormalizedPolicy, v: View, now: number, cost: number, consumed: boolean, ok: boolean): PolicyResult {
  const count = consumed ? v.used + cost : v.used;
  let [start, length] = [v.mark, v.previous];
  if (consumed && count > p.threshold && p.onExceed !== 'keep') {
    // A clock behind the start counts as no time passed: the window restarts at its start.
    start = Math.max(now, v.mark);
    length = p.onExceed === 'restart' ? p.windowMs : anchoredBackoffMs(p.windowMs, count - p.threshold);
  }
  const toEnd = start + length - now;
  return {
    allowed: ok,
    remaining: Math.max(0, p.limit - count),
    resetMs: count > 0 ? toEnd : 0,
    retryAfterMs: ok ? 0 : toEnd,
    write: consumed ? { state: { algorithm: 'anchored-window', start, count, length }, expiresAt: start + length } : undefined,
  };
}

/**
 * The reference evaluation of one `consume` (or, with `consume = false`, one `peek`) over
 * one or more policies. `states[i]` is the stored state of `policies[i]` (or `undefined`).
 * Every backend must produce the same decisions and states for the same inputs.
 */
export function evaluateRateLimit(
  policies: readonly NormalizedPolicy[],
  states: readonly (RateLimitState | undefined)[],
  now: number,
  cost: number,
  consume: boolean,
): RateLimitOutcome {
  const n = policies.length;
  if (n === 1) {
    // The common case, without the per-policy arrays.
    const p = policies[0]!;
    const v = view(p, states[0], now);
    const ok = fits(p, v, cost);
    const consumed = consume && ok;
    const r = decide(p, v, now, cost, consumed, ok);
    return {
      decision: {
        allowed: ok,
        capacity: p.capacity,
        remaining: r.remaining,
        resetMs: r.resetMs,
        retryAfterMs: r.retryAfterMs,
        policy: p.name ?? 'default',
      },
      writes: consumed ? [r.write] : undefined,
    };
  }
  const views: View[] = new Array(n);
  const fitting: boolean[] = new Array(n);
  let all = true;
  for (let i = 0; i < n; i++) {
    const v = view(policies[i]!, states[i], now);
    views[i] = v;
    fitting[i] = fits(policies[i]!, v, cost);
    all &&= fitting[i]!;
  }
  const consumed = consume && all;
  let chosen = -1;
  let best: PolicyResult | undefined;
  const writes: (RateLimitWrite | undefined)[] | undefined = consumed ? new Array(n) : undefined;
  for (let i = 0; i < n; i++) {
    const r = decide(policies[i]!, views[i]!, now, cost, consumed, fitting[i]!);
    if (writes) writes[i] = r.write;
    if (best === undefined || moreRestrictive(r, best)) {
      best = r;
      chosen = i;
    }
  }
  const p = policies[chosen]!;
  return {
    decision: {
      allowed: all,
      capacity: p.capacity,
      remaining: best!.remaining,
      resetMs: best!.resetMs,
      retryAfterMs: all ? 0 : best!.retryAfterMs,
      policy: p.name ?? defaultPolicyName(chosen, n),
    },
    writes,
  };
}

/** What an unnamed policy is called in decisions and headers: `default` alone, `p<index>` in an array. */
export function defaultPolicyName(index: number, count: number): string {
  return count === 1 ? 'default' : `p${index}`;
}

function moreRestrictive(a: PolicyResult, b: PolicyResult): boolean {
  if (a.allowed !== b.allowed) return !a.allowed;
  if (!a.allowed) return a.retryAfterMs > b.retryAfterMs;
  if (a.remaining !== b.remaining) return a.remaining < b.remaining;
  return a.resetMs > b.resetMs;
}

/**
 * The decision of an allowed, consuming call, from the states it wrote: what
 * {@link evaluateRateLimit} returns for that call. For backends that decide and write in
 * one statement and get only the new states back.
 */
export function decideAfterConsume(
  policies: readonly NormalizedPolicy[],
  after: readonly (RateLimitState | undefined)[],
  now: number,
): RateLimitDecision {
  let chosen = 0;
  let best: PolicyResult | undefined;
  for (let i = 0; i < policies.length; i++) {
    const p = policies[i]!;
    // Seen at `now`, a state written at `now` holds exactly the call's remaining and reset.
    const r = decide(p, view(p, after[i], now), now, 1, false, true);
    if (best === undefined || moreRestrictive(r, best)) {
      best = r;
      chosen = i;
    }
  }
  const p = policies[chosen]!;
  return {
    allowed: true,
    capacity: p.capacity,
    remaining: best!.remaining,
    resetMs: best!.resetMs,
    retryAfterMs: 0,
    policy: p.name ?? defaultPolicyName(chosen, policies.length),
  };
}
