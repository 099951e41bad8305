import type { RateLimitDecision, RateLimitPolicy } from '../contracts/rate-limit.js';
import { MAX_EXACT_INTEGER } from '../validate.js';

/**
 * A fixed window that only counts, for the stores of rate limiters that compare the count
 * with their own limit (express-rate-limit; @fastify/rate-limit counts in an `anchored-window`): its limit is the most hits
 * one window of `windowMs` can count on every backend, `floor(2^52 / windowMs)` (so
 * `limit * windowMs` stays within 2^52), and it never denies below that. Every hit is counted
 * atomically, so each caller learns its exact rank in the window.
 */
export class CountingWindow {
  /** The most hits the window can count: `floor(2^52 / windowMs)`. */
  readonly capacity: number;
  readonly policy: RateLimitPolicy;

  /** `windowMs` must be a valid policy window (an integer, 1 ms to ten years); `name` a key. */
  constructor(windowMs: number, name: string) {
    this.capacity = Math.floor(MAX_EXACT_INTEGER / windowMs);
    this.policy = { algorithm: 'fixed-window', limit: this.capacity, windowMs, name };
  }

  /** The hits the window holds after the `consume` (or at the `peek`) that returned `decision`. */
  hits(decision: RateLimitDecision): number {
    return this.capacity - decision.remaining;
  }
}
