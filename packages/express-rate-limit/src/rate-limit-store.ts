import {
  ErrorSource,
  validateDuration,
  validateKey,
  validateOptions,
  type RateLimitDecision,
  type RateLimitPolicy,
  type RateLimitStore,
} from '@stowage/core';

export const source = new ErrorSource('@stowage/express-rate-limit', 'StowageRateLimitStore');

export interface StowageRateLimitStoreOptions {
  /** Where counts live: any Stowage `RateLimitStore` (memory, SQLite, PostgreSQL, Redis). */
  store: RateLimitStore;
  /** Prefix of every key (so several limiters can share one store). @default 'erl:' */
  prefix?: string;
}

/** What express-rate-limit passes to `init` that this store uses. */
interface LimiterOptions {
  windowMs: number;
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

/**
 * A store for express-rate-limit over any Stowage `RateLimitStore`. It counts hits in
 * fixed windows, as express-rate-limit does (the library compares the count with its
 * `limit` itself), atomically across replicas: one `consume` per request.
 */
export class StowageRateLimitStore {
  /** Keys are shared by every replica on the same backend. */
  readonly localKeys = false;
  readonly prefix: string;
  private readonly store: RateLimitStore;
  private policy: RateLimitPolicy;
  private capacity: number;
  private refunds = true;

  constructor(options: StowageRateLimitStoreOptions) {
    const o = validateOptions<StowageRateLimitStoreOptions>(source, 'options', options);
    if (o.store === undefined || typeof o.store.consume !== 'function') throw source.invalid('options.store must be a RateLimitStore');
    this.store = o.store;
    this.prefix = o.prefix === undefined ? 'erl:' : validateKey(source, 'options.prefix', o.prefix);
    [this.policy, this.capacity] = this.windowPolicy(DEFAULT_WINDOW_MS);
  }

  /** Called by express-rate-limit with its options: the window, and whether hits are ever refunded. */
  init(options: LimiterOptions): void {
    [this.policy, this.capacity] = this.windowPolicy(validateDuration(source, 'windowMs', options.windowMs));
    this.refunds = options.skipFailedRequests === true || options.skipSuccessfulRequests === true;
  }

  async increment(key: string): Promise<ClientRateLimitInfo> {
    const [hit, refunded] = await Promise.all([
      this.store.consume(this.prefix + HITS + key, this.policy),
      this.refunds ? this.store.peek(this.prefix + REFUNDS + key, this.policy) : undefined,
    ]);
    return this.info(this.capacity - hit.remaining, refunded, hit);
  }

  /** Takes back one hit of the current window (express-rate-limit's skipFailedRequests / skipSuccessfulRequests). */
  async decrement(key: string): Promise<void> {
    await this.store.consume(this.prefix + REFUNDS + key, this.policy);
  }

  async get(key: string): Promise<ClientRateLimitInfo | undefined> {
    const [now, refunded] = await Promise.all([
      this.store.peek(this.prefix + HITS + key, this.policy),
      this.refunds ? this.store.peek(this.prefix + REFUNDS + key, this.policy) : undefined,
    ]);
    const hits = this.capacity - now.remaining; // peek reports what is left now
    return hits === 0 ? undefined : this.info(hits, refunded, now);
  }

  async resetKey(key: string): Promise<void> {
    await Promise.all([this.store.reset(this.prefix + HITS + key), this.store.reset(this.prefix + REFUNDS + key)]);
  }

  private info(hits: number, refunded: RateLimitDecision | undefined, decision: RateLimitDecision): ClientRateLimitInfo {
    const refunds = refunded === undefined ? 0 : this.capacity - refunded.remaining;
    return { totalHits: Math.max(0, hits - refunds), resetTime: new Date(Date.now() + decision.resetMs) };
  }

  /**
   * A fixed window that never denies: express-rate-limit decides, the store only counts.
   * The capacity is as large as exact integer arithmetic allows (limit * windowMs <= 2^52).
   */
  private windowPolicy(windowMs: number): [RateLimitPolicy, number] {
    const capacity = Math.min(1_000_000_000, Math.floor(2 ** 52 / windowMs));
    return [{ algorithm: 'fixed-window', limit: capacity, windowMs, name: 'express-rate-limit' }, capacity];
  }
}
