import { StowageError, toStoreKey, type RateLimitDecision, type RateLimitPolicy, type RateLimitStore } from '@stowage/core';
import {
  CountingWindow,
  ErrorSource,
  validateDuration,
  validateTimerMs,
  validateKey,
  validateOptionNames,
  validateOptions,
} from '@stowage/core/adapter-kit';
import { RefundableHits } from './refundable-hits.js';

export const source = new ErrorSource('@stowage/express-rate-limit', 'StowageRateLimitStore');

export interface StowageRateLimitStoreOptions {
  /** Where counts live: any Stowage `RateLimitStore` (memory, SQLite, PostgreSQL, Redis). */
  store: RateLimitStore;
  /** Prefix of every key (so several limiters can share one store). @default 'erl:' */
  prefix?: string;
  /**
   * Every call to `store` carries the deadline `Date.now() + timeoutMs` (core's
   * `CallOptions`): it answers within it, `TIMEOUT` or `UNAVAILABLE` past it, and a call
   * reported failed never counts later. Integer ms, 1 ms to ten years.
   * @default 1000
   */
  timeoutMs?: number;
}

/** Each option of {@link StowageRateLimitStoreOptions}, once. */
const OPTION_NAMES: Readonly<Record<keyof StowageRateLimitStoreOptions, true>> = {
  store: true,
  prefix: true,
  timeoutMs: true,
};

/** What express-rate-limit passes to `init` that this store uses. */
interface LimiterOptions {
  windowMs: number;
  /** A number, or a function express-rate-limit calls per request after `increment`. */
  limit?: unknown;
  /** express-rate-limit's deprecated name of `limit`. */
  max?: unknown;
  skipFailedRequests?: boolean;
  skipSuccessfulRequests?: boolean;
}

export interface ClientRateLimitInfo {
  totalHits: number;
  resetTime: Date | undefined;
}

// Hits and refunds (`decrement`) are counted under two key spaces, in the same windows.
const HITS = 'h:';
const REFUNDS = 'r:';
const DEFAULT_WINDOW_MS = 60_000;
const POLICY_NAME = 'express-rate-limit';

/**
 * A store for express-rate-limit over any Stowage `RateLimitStore`. It counts hits in
 * fixed windows, as express-rate-limit does (the library compares the count with its
 * `limit` itself), atomically across replicas: one `consume` per request, and with
 * `skipFailedRequests` / `skipSuccessfulRequests` a `peek` of the refunds beside it.
 * Any string `keyGenerator` returns is a key: it goes to the store as core's
 * `toStoreKey(prefix + 'h:' + key)` (`'r:'` for refunds), so a key the store cannot take
 * (over 1024 bytes, with U+0000 or a lone surrogate) is hashed and counted like any other.
 */
export class StowageRateLimitStore {
  /** Keys are shared by every replica on the same backend. */
  readonly localKeys = false;
  readonly prefix: string;
  /** The deadline of every store call, in ms from its start. */
  readonly timeoutMs: number;
  private readonly store: RateLimitStore;
  private readonly hitsPrefix: string;
  private readonly refundsPrefix: string;
  private policy!: RateLimitPolicy;
  private capacity!: number;
  /** The `limit` of `init` when it is a number; `undefined` when unknown (a function, or no `init`). */
  private limit: number | undefined;
  /** Set when hits may be refunded (skipFailedRequests / skipSuccessfulRequests). */
  private refundable: RefundableHits | undefined;
  /** Why the last `init` was refused: every call then fails with it. */
  private refusal: StowageError | undefined;

  constructor(options: StowageRateLimitStoreOptions) {
    const o = validateOptions<StowageRateLimitStoreOptions>(source, 'options', options);
    validateOptionNames(source, 'options', o, OPTION_NAMES);
    if (o.store === undefined || typeof o.store.consume !== 'function') throw source.invalid('options.store must be a RateLimitStore');
    this.store = o.store;
    this.prefix = o.prefix === undefined ? 'erl:' : validateKey(source, 'options.prefix', o.prefix);
    this.hitsPrefix = this.prefix + HITS;
    this.refundsPrefix = this.prefix + REFUNDS;
    this.timeoutMs = o.timeoutMs === undefined ? 1000 : validateTimerMs(source, 'options.timeoutMs', o.timeoutMs);
    this.setWindow(DEFAULT_WINDOW_MS);
  }

  /**
   * The largest `limit` this store can enforce exactly with the current `windowMs`: the most
   * hits one window can count on every backend, `floor(2^52 / windowMs)`.
   */
  get maxLimit(): number {
    return this.capacity;
  }

  /**
   * Called by express-rate-limit with its options: the window, the limit, and whether hits
   * are ever refunded. A numeric `limit` above {@link maxLimit} is refused (`INVALID_ARGUMENT`,
   * nothing is ever capped silently); express-rate-limit only logs an error thrown here, so
   * every later call fails with the same error. A function `limit` cannot be checked here
   * (express-rate-limit calls it per request, after `increment`): see `increment`.
   */
  init(options: LimiterOptions): void {
    try {
      const o = validateOptions<LimiterOptions>(source, 'init options', options);
      const windowMs = validateDuration(source, 'windowMs', o.windowMs);
      const capacity = new CountingWindow(windowMs, POLICY_NAME).capacity;
      const limit = o.limit ?? o.max;
      if (typeof limit === 'number' && Number.isNaN(limit))
        throw source.invalid('limit must be a number or a function, got NaN', { field: 'limit' });
      if (typeof limit === 'number' && limit > capacity) {
        throw source.invalid(
          `limit ${limit} is more than a store can count in one window of ${windowMs} ms: at most ${capacity} ` +
            '(limit * windowMs must stay within 2^52, the exact integers of every backend); lower the limit or shorten windowMs',
          { field: 'limit', maxLimit: capacity },
        );
      }
      this.setWindow(windowMs);
      this.limit = typeof limit === 'number' ? limit : undefined;
      // Read as express-rate-limit reads them (truthy): it sends the refunds whenever they are.
      this.refundable = o.skipFailedRequests || o.skipSuccessfulRequests ? new RefundableHits(windowMs) : undefined;
      this.refusal = undefined;
    } catch (err) {
      this.refusal = source.wrap(err);
      throw this.refusal;
    }
  }

  /**
   * Counts one hit and returns the window's count net of refunds. When the window already
   * holds {@link maxLimit} hits the hit cannot be counted: with a numeric limit the request
   * is over it anyway and gets `totalHits` above it; otherwise (a function limit, or more
   * refunds than that margin) the call fails with `CONFLICT` rather than report a count it
   * does not know.
   */
  async increment(key: string): Promise<ClientRateLimitInfo> {
    if (this.refusal !== undefined) throw this.refusal;
    const sentAt = Date.now();
    const opts = { deadline: sentAt + this.timeoutMs };
    const hitKey = toStoreKey(this.hitsPrefix + key);
    let hit: RateLimitDecision;
    let refunds = 0;
    if (this.refundable === undefined) {
      hit = await this.store.consume(hitKey, this.policy, opts);
    } else {
      let refunded: RateLimitDecision;
      [hit, refunded] = await Promise.all([
        this.store.consume(hitKey, this.policy, opts),
        this.store.peek(toStoreKey(this.refundsPrefix + key), this.policy, opts),
      ]);
      refunds = this.refundsOfHitWindow(hit, refunded, sentAt);
    }
    const hits = this.capacity - hit.remaining;
    const resetTime = new Date(sentAt + hit.resetMs); // never after the window's end: see RefundableHits
    if (hit.allowed) {
      this.refundable?.add(key, sentAt + hit.resetMs, Date.now());
      // Refunds read after other replicas' hits may outnumber the hits read; this one counted.
      return { totalHits: Math.max(1, hits - refunds), resetTime };
    }
    const atLeast = hits - refunds + 1;
    if (this.limit !== undefined && atLeast > this.limit) return { totalHits: atLeast, resetTime };
    throw source.error(
      'CONFLICT',
      `the window already holds ${this.capacity} hits of this key, the most a store can count in ${this.policy.windowMs} ms, ` +
        'and the limit is not known to be exceeded (a limit function, or refunds); the hit was not counted',
      { details: { maxLimit: this.capacity } },
    );
  }

  /**
   * Takes back one hit this instance counted for `key` in the window still open (what
   * express-rate-limit does for skipFailedRequests / skipSuccessfulRequests). The refund's
   * deadline is also that window's end, so it is refused rather than counted in a later
   * window; a refund with nothing refundable, or whose window ended first, is a no-op.
   */
  async decrement(key: string): Promise<void> {
    if (this.refusal !== undefined) throw this.refusal;
    const now = Date.now();
    const windowEnd = this.refundable?.take(key, now);
    if (windowEnd === undefined) return;
    const deadline = Math.min(windowEnd, now + this.timeoutMs);
    try {
      await this.store.consume(toStoreKey(this.refundsPrefix + key), this.policy, { deadline });
    } catch (err) {
      // Not done by its window's end: it never will be, which is the refund's right outcome,
      // not a failure. A TIMEOUT that names an earlier deadline (the store's own limit) is one.
      const gaveUpAt = StowageError.is(err) ? Number(err.details?.deadline) : Number.NaN;
      if (StowageError.is(err, 'TIMEOUT') && deadline === windowEnd && !(gaveUpAt < windowEnd)) return;
      throw err;
    }
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    if (this.refusal !== undefined) throw this.refusal;
    const sentAt = Date.now();
    const opts = { deadline: sentAt + this.timeoutMs };
    const [now, refunded] = await Promise.all([
      this.store.peek(toStoreKey(this.hitsPrefix + key), this.policy, opts),
      this.refundable === undefined ? undefined : this.store.peek(toStoreKey(this.refundsPrefix + key), this.policy, opts),
    ]);
    const hits = this.capacity - now.remaining; // peek reports what is left now
    if (hits === 0) return undefined;
    const refunds = refunded === undefined ? 0 : this.refundsOfHitWindow(now, refunded, sentAt);
    return { totalHits: Math.max(0, hits - refunds), resetTime: new Date(sentAt + now.resetMs) };
  }

  async resetKey(key: string): Promise<void> {
    if (this.refusal !== undefined) throw this.refusal;
    this.refundable?.delete(key);
    const opts = { deadline: Date.now() + this.timeoutMs };
    await Promise.all([
      this.store.reset(toStoreKey(this.hitsPrefix + key), opts),
      this.store.reset(toStoreKey(this.refundsPrefix + key), opts),
    ]);
  }

  /**
   * The refunds to subtract from the hits read beside them: only those of the hits' window.
   * Both reads start at `sentAt`, so each `sentAt + resetMs` is at most the calls' duration
   * (+1 ms of rounding) before its window's true end: two reads of one window differ by no
   * more than that, reads of two windows by at least `windowMs` minus that. At a window
   * boundary the two may straddle it; refunds of another window then count as 0 (the count
   * errs high, never low), as does a read too slow to tell.
   */
  private refundsOfHitWindow(hits: RateLimitDecision, refunded: RateLimitDecision, sentAt: number): number {
    const refunds = this.capacity - refunded.remaining;
    if (refunds === 0) return 0;
    const spread = Date.now() - sentAt + 1;
    const gap = Math.abs(hits.resetMs - refunded.resetMs);
    return gap <= spread && gap < this.policy.windowMs - spread ? refunds : 0;
  }

  /**
   * A fixed window that never denies below its capacity: express-rate-limit decides, the
   * store only counts, as far as exact integer arithmetic allows (see {@link maxLimit}).
   */
  private setWindow(windowMs: number): void {
    ({ capacity: this.capacity, policy: this.policy } = new CountingWindow(windowMs, POLICY_NAME));
  }
}
