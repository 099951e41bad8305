import type { RateLimitState } from './state.js';
import { ceilDiv } from './math.js';
import type { NormalizedPolicy } from './policy.js';

/**
 * The first epoch ms at which `state` equals no state at all: the key is back to full
 * capacity by the state's own reckoning (its `at` mark or its window), whatever the clock
 * read when it was written. A store keeps the state while `now < stateExpiresAt(...)`.
 *
 * Counted from a clock reading instead, a state written while the clock stood behind its
 * mark (a clock that steps back counts as no time passed, so the state keeps its later mark)
 * would be dropped before the reset a later call announces. Every call at or after the
 * state's mark reports exactly `now + resetMs` = this time; a call while the clock is behind
 * the mark reports an earlier one, never a later.
 *
 * - gcra `{ debt, at }`: `at + ceil(debt / L)`, when the debt has drained (`at` if there is none);
 * - fixed-window `{ window, count }`: `(window + 1) * W`, the window's end;
 * - anchored-window `{ start, count, length }`: `start + length`, the window's end;
 * - sliding-window `{ window, count, previousCount }`: with `count > 0`,
 *   `(window + 2) * W - ceil(W / count) + 1`, the first ms of the next window at which
 *   `floor(count * (W - elapsed) / W)` is 0; with only `previousCount`, the same within `window`
 *   (`(window + 1) * W - ceil(W / previousCount) + 1`); with neither, `window * W`.
 *
 * Exact integers below 2^53 (a clock in epoch ms plus at most 2^52); the SQL builders and the
 * Redis script compute the same expressions.
 */
export function stateExpiresAt(p: NormalizedPolicy, state: RateLimitState): number {
  const W = p.windowMs;
  if (state.algorithm === 'gcra') return state.debt > 0 ? state.at + ceilDiv(state.debt, p.limit) : state.at;
  if (state.algorithm === 'fixed-window') return (state.window + 1) * W;
  if (state.algorithm === 'anchored-window') return state.start + state.length;
  const { window, count, previousCount } = state;
  if (count > 0) return (window + 2) * W - ceilDiv(W, count) + 1;
  if (previousCount > 0) return (window + 1) * W - ceilDiv(W, previousCount) + 1;
  return window * W;
}
