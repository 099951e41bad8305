import { MAX_EXACT_INTEGER, type RateLimitDecision, type RateLimitOnExceed, type RateLimitPolicy } from '@stowage/core';

/**
 * The window of one limiter as @fastify/rate-limit's own stores keep it, as a Stowage policy:
 * an `anchored-window` (it starts at the key's first hit, lasts `timeWindow`) that counts
 * every hit, up to `floor(2^52 / timeWindow)` (the most a window can count on every backend),
 * so the plugin learns each hit's exact rank and compares it with its `max` itself. Past
 * `max` (the policy's `threshold`), `continueExceeding` restarts the window at each hit and
 * `exponentialBackoff` restarts it lengthened to `timeWindow * 2^(current - max - 1)`.
 */
export class FirstHitWindow {
  /** The most hits the window can count: `floor(2^52 / timeWindow)`. */
  readonly capacity: number;
  readonly policy: RateLimitPolicy;

  /** `timeWindow` must be an integer of 1 ms to ten years; `threshold` an integer from 0 to `capacity`. */
  constructor(timeWindow: number, threshold: number, onExceed: RateLimitOnExceed, name: string) {
    this.capacity = Math.floor(MAX_EXACT_INTEGER / timeWindow);
    this.policy = { algorithm: 'anchored-window', limit: this.capacity, windowMs: timeWindow, threshold, onExceed, name };
  }

  /** The hits the window holds after the `consume` (or at the `peek`) that returned `decision`. */
  hits(decision: RateLimitDecision): number {
    return this.capacity - decision.remaining;
  }

  /**
   * The threshold for the plugin's `max` (an integer >= 0 after the plugin's own checks; a
   * `max` function may return anything): hits over `max` are those over `floor(max)`; a `max`
   * no count can pass (NaN, above the capacity) never restarts the window.
   */
  static thresholdOf(max: number, timeWindow: number): number {
    const capacity = Math.floor(MAX_EXACT_INTEGER / timeWindow);
    if (typeof max !== 'number' || Number.isNaN(max) || max >= capacity) return capacity;
    return max < 0 ? 0 : Math.floor(max);
  }
}
