import type { ThrottlerStorage } from '@nestjs/throttler';
import { toStoreKey, type RateLimitDecision, type RateLimitPolicy, type RateLimitStore } from '@stowage/core';
import {
  ErrorSource,
  validateDuration,
  validateTimerMs,
  validateInteger,
  validateKey,
  validateOptionNames,
  validateOptions,
} from '@stowage/core/adapter-kit';

/** What `increment` answers: @nestjs/throttler's `ThrottlerStorageRecord` (times in seconds). */
export type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

export const source = new ErrorSource('@stowage/nestjs-throttler', 'StowageThrottlerStorage');

export interface StowageThrottlerStorageOptions {
  /** Where hits and blocks live: any Stowage `RateLimitStore` (memory, SQLite, PostgreSQL, Redis). */
  store: RateLimitStore;
  /** Prefix of every key, so several applications can share one store. @default 'nest:' */
  prefix?: string;
  /**
   * Every call to `store` carries the deadline `Date.now() + timeoutMs` (core's `CallOptions`):
   * it answers within it, `TIMEOUT` or `UNAVAILABLE` past it, and a call reported failed never
   * counts later. Integer ms, 1 ms to ten years.
   * @default 1000
   */
  timeoutMs?: number;
}

/** Each option of {@link StowageThrottlerStorageOptions}, once. */
const OPTION_NAMES: Readonly<Record<keyof StowageThrottlerStorageOptions, true>> = {
  store: true,
  prefix: true,
  timeoutMs: true,
};

const WINDOW_NAME = 'nestjs-throttler';
const BLOCK_NAME = 'nestjs-throttler-block';
const seconds = (ms: number): number => Math.ceil(ms / 1000);

/**
 * The block of one key for `ms`: a GCRA bucket of one unit refilled once per `ms`. Taking the
 * unit (a `consume`) sets the block and is allowed only when none is on; it ends exactly `ms`
 * after it was set, by the backend's clock, for every replica (`peek` answers `allowed: false`
 * and the ms left as `retryAfterMs` until then). Later hits never extend it.
 */
const blockPolicy = (ms: number): RateLimitPolicy => ({ algorithm: 'gcra', limit: 1, windowMs: ms, burst: 1, name: BLOCK_NAME });

/**
 * A `ThrottlerStorage` for @nestjs/throttler over any Stowage `RateLimitStore`, so every
 * replica throttles against the same hits and the same blocks.
 *
 * - Hits are counted in fixed windows of the throttler's `ttl` (windows start at multiples of
 *   `ttl` since the epoch, on the backend's clock): the store decides, so a window admits
 *   exactly `limit` hits across replicas, and a hit over the limit is not counted.
 * - The hit over the limit blocks the key for `blockDuration` from that moment (see
 *   {@link blockPolicy}): every replica answers 429 until it ends, hits made meanwhile are not
 *   counted. When it ends, hits count again in the window then open; if that is still the
 *   window that went over (a `blockDuration` shorter than `ttl`), the next hit blocks again.
 * - `blockDuration` 0 (or less): no block; a hit over the limit is refused until its window ends.
 */
export class StowageThrottlerStorage implements ThrottlerStorage {
  readonly prefix: string;
  /** The deadline of every store call, in ms from its start. */
  readonly timeoutMs: number;
  private readonly store: RateLimitStore;

  constructor(options: StowageThrottlerStorageOptions) {
    const o = validateOptions<StowageThrottlerStorageOptions>(source, 'options', options);
    validateOptionNames(source, 'options', o, OPTION_NAMES);
    if (o.store === undefined || typeof o.store.consume !== 'function') throw source.invalid('options.store must be a RateLimitStore');
    this.store = o.store;
    this.prefix = o.prefix === undefined ? 'nest:' : validateKey(source, 'options.prefix', o.prefix);
    this.timeoutMs = o.timeoutMs === undefined ? 1000 : validateTimerMs(source, 'options.timeoutMs', o.timeoutMs);
  }

  /**
   * Counts one hit of `key` for `throttlerName` (ttl and blockDuration in ms, as the guard
   * passes them) and says whether the key is blocked. Times in the record are in seconds,
   * rounded up. A store failure rejects: the guard lets it through to Nest, which answers 500.
   */
  async increment(key: string, ttl: number, limit: number, blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const ttlMs = validateDuration(source, 'ttl', ttl);
    const max = validateInteger(source, 'limit', limit, 0, Number.MAX_SAFE_INTEGER);
    const hitsKey = toStoreKey(`${this.prefix}h:${JSON.stringify([throttlerName, key])}`);
    const window: RateLimitPolicy = { algorithm: 'fixed-window', limit: Math.max(1, max), windowMs: ttlMs, name: WINDOW_NAME };
    if (!(blockDuration > 0)) return this.withoutBlock(hitsKey, window, max);

    const block = blockPolicy(validateDuration(source, 'blockDuration', blockDuration));
    const blockKey = toStoreKey(`${this.prefix}b:${key}`);
    const sentAt = Date.now();
    const before = await this.store.peek(blockKey, block, this.callOptions());
    if (!before.allowed) return blocked(max, before.retryAfterMs);
    const hit = max === 0 ? undefined : await this.store.consume(hitsKey, window, this.callOptions());
    if (hit?.allowed) {
      // The peek came first: a block set after it stops this hit only if the hit was counted
      // in a window that began after the peek (the window that went over is full). A window
      // that has run less than this call has taken may have: look again.
      if (ttlMs - hit.resetMs <= Date.now() - sentAt + 1) {
        const after = await this.store.peek(blockKey, block, this.callOptions());
        if (!after.allowed) return blocked(max, after.retryAfterMs);
      }
      return { totalHits: max - hit.remaining, timeToExpire: seconds(hit.resetMs), isBlocked: false, timeToBlockExpire: 0 };
    }
    // Over the limit: set the block, or find the one a concurrent hit just set.
    const set = await this.store.consume(blockKey, block, this.callOptions());
    return blocked(max, set.allowed ? block.windowMs : set.retryAfterMs);
  }

  private async withoutBlock(hitsKey: string, window: RateLimitPolicy, max: number): Promise<ThrottlerStorageRecord> {
    if (max === 0) return blocked(0, window.windowMs);
    const hit: RateLimitDecision = await this.store.consume(hitsKey, window, this.callOptions());
    const timeToExpire = seconds(hit.resetMs);
    if (hit.allowed) return { totalHits: max - hit.remaining, timeToExpire, isBlocked: false, timeToBlockExpire: 0 };
    return { totalHits: max + 1, timeToExpire, isBlocked: true, timeToBlockExpire: seconds(hit.retryAfterMs) };
  }

  private callOptions(): { deadline: number } {
    return { deadline: Date.now() + this.timeoutMs };
  }
}

/** A blocked key's record: the guard throws with it, and sends `Retry-After: timeToBlockExpire`. */
function blocked(limit: number, msLeft: number): ThrottlerStorageRecord {
  const left = seconds(msLeft);
  return { totalHits: limit + 1, timeToExpire: left, isBlocked: true, timeToBlockExpire: left };
}
