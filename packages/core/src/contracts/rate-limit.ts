import type { CallOptions, Closeable, Prunable } from './common.js';

export type RateLimitAlgorithm = 'gcra' | 'fixed-window' | 'sliding-window' | 'anchored-window';

/**
 * `anchored-window` only: what an admitted call does to the window once the window holds more
 * than `threshold` units (this call's included). The window starts at the key's first call.
 * - `keep`: nothing, the window ends `windowMs` after it started;
 * - `restart`: the window restarts at the call, ending `windowMs` later (the count goes on);
 * - `backoff`: the window restarts at the call and lasts `windowMs * 2^(count - threshold - 1)`
 *   ms, `count` being the units it holds after the call; at most 2^52 ms.
 */
export type RateLimitOnExceed = 'keep' | 'restart' | 'backoff';

/**
 * A rate-limit policy.
 *
 * Valid only if `limit * windowMs` and `burst * windowMs` are at most 2^52, so every
 * quantity stays an exact integer in JS, Lua 5.1 and SQL `bigint`. State is kept per key
 * and per policy shape (algorithm, limit, windowMs, burst): changing a policy's numbers
 * starts it from full capacity.
 */
export interface RateLimitPolicy {
  algorithm: RateLimitAlgorithm;
  /** Units admitted per window (for `gcra`: the refill, `limit` per `windowMs`). Integer >= 1. */
  limit: number;
  /** The window in ms (1 ms to ten years). */
  windowMs: number;
  /** `gcra` only: bucket capacity, integer >= 1. @default limit */
  burst?: number;
  /** Names the policy in decisions and headers (a key: 1 to 1024 UTF-8 bytes). */
  name?: string;
  /**
   * `anchored-window` only: the count past which `onExceed` applies, integer from 0 to `limit`.
   * Counting limiters (the stores of @fastify/rate-limit) admit up to a `limit` no client
   * reaches and compare the count with their own maximum: that maximum is the `threshold`.
   * @default limit
   */
  threshold?: number;
  /** `anchored-window` only: see {@link RateLimitOnExceed}. @default 'keep' */
  onExceed?: RateLimitOnExceed;
}

/** The outcome of one call. */
export interface RateLimitDecision {
  allowed: boolean;
  /** The capacity of the deciding policy: its `limit`, or its `burst` for `gcra`. */
  capacity: number;
  /** Units still available after this call, in the deciding policy; never below 0. */
  remaining: number;
  /**
   * Ms until the deciding policy is back to full capacity (0 when it already is). With an
   * array, another policy may still hold units then (`peek` with that policy alone tells).
   */
  resetMs: number;
  /** 0 when allowed; otherwise ms until the same call would be allowed. */
  retryAfterMs: number;
  /** The deciding policy's `name`; unnamed policies are `default` alone, `p<index>` in an array. */
  policy: string;
}

export interface RateLimitConsumeOptions extends CallOptions {
  /** Units to consume, integer >= 1. A cost some policy can never admit is `INVALID_ARGUMENT`. @default 1 */
  cost?: number;
}

/**
 * Rate limits with exact integer arithmetic, identical on every backend for the same
 * clock readings; the pure functions `evaluateRateLimit` & co. in this package are the
 * reference.
 *
 * Algorithms (W = windowMs, L = limit, B = burst, c = cost, integer division exact):
 * - `gcra`: a token bucket of capacity B refilling L per W. State `(debt, at)` with debt in
 *   units of 1/L ms. At `now`: `d = max(0, debt - (now - at) * L)` (0 once
 *   `now - at >= ceil(debt / L)`); `d' = d + c * W`; allowed iff `d' <= B * W`. If allowed,
 *   `(d', max(at, now))` is stored. `remaining = floor((B * W - d'') / W)` where `d''` is the
 *   debt after the call; `resetMs = ceil(d'' / L)`; when denied
 *   `retryAfterMs = ceil((d' - B * W) / L)`.
 * - `fixed-window`: window `floor(now / W)`; allowed iff `count + c <= L`; `resetMs` is the
 *   time to the window's end while the window holds anything.
 * - `sliding-window`: `weighted = floor(prev * (W - elapsed) / W) + curr` with
 *   `elapsed = now mod W`; allowed iff `weighted + c <= L`.
 * - `anchored-window` (T = threshold): a window started by the key's first call, not aligned
 *   to the epoch, as the built-in stores of @fastify/rate-limit keep it. State
 *   `(start, count, length)`, live while `now < start + length`; none live: `(now, 0, W)`.
 *   `count' = count + c`; allowed iff `count' <= L`. If allowed and `count' > T`, `restart`
 *   stores `(max(now, start), count', W)` and `backoff` `(max(now, start), count',
 *   min(2^52, W * 2^(count' - T - 1)))`; otherwise `(start, count', length)`. `resetMs` is the
 *   time to `start + length` while the window holds anything; `retryAfterMs` the same.
 *
 * A clock that steps back counts as no time passed. A denied call consumes nothing.
 *
 * A state is kept at least until the key is back to full capacity by the state's own
 * reckoning, whatever the clock did: its end is counted from its mark (gcra's `at`, the
 * window of the others), never from the clock reading of the call that wrote it, so no
 * call finds capacity back before the `now + resetMs` any call reported. While the clock
 * stands behind a state's mark (gcra's `at`, a sliding window's start), no time passes for
 * the state until the clock reaches it: `resetMs` and `retryAfterMs` count that wait too, so
 * a client that waits `retryAfterMs` is allowed then. `stateExpiresAt` in this package is
 * the reference.
 *
 * With an array of policies the call is allowed only if every policy allows; it consumes
 * from all or none, atomically. The decision is the most restrictive one and names it:
 * among denying policies the largest `retryAfterMs`; if all allow, the smallest
 * `remaining` (then the largest `resetMs`); ties go to the earlier policy.
 * Arrays hold 1 to 16 distinct policies.
 *
 * Every method takes the caller's deadline ({@link CallOptions}): a `consume` its caller was
 * told failed never counts.
 */
export interface RateLimitStore extends Closeable, Prunable {
  consume(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[], opts?: RateLimitConsumeOptions): Promise<RateLimitDecision>;

  /**
   * Whether a `consume` of cost 1 would be allowed now (`allowed`, `retryAfterMs`), without
   * consuming anything; `remaining` and `resetMs` describe the state as it is (nothing taken).
   */
  peek(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[], opts?: CallOptions): Promise<RateLimitDecision>;

  /** Forgets every policy's state for the key: it is back to full capacity. */
  reset(key: string, opts?: CallOptions): Promise<void>;

  /**
   * {@link Prunable.prune}: one record is one policy's state under one key (a key and a
   * policy shape) that has ended, also where the key still has a live state under another
   * policy. A key consumed under two policies whose states have both ended counts 2.
   */
  prune(): Promise<number>;
}
