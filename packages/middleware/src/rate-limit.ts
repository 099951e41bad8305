import { rateLimitHeaders, toStoreKey, type RateLimitDecision, type RateLimitPolicy, type RateLimitStore } from '@stowage/core';
import { ErrorSource, normalizePolicies, validateKey, validateOptionNames, validateOptions } from '@stowage/core/adapter-kit';
import { callStore, resolveFailurePolicy, storeFailure, type FailurePolicy, type ResolvedFailurePolicy } from './failure.js';
import { problem, type HeaderLines, type ResponseDraft } from './problem.js';

const source = new ErrorSource('@stowage/middleware', 'rateLimit');

export interface RateLimiterOptions extends FailurePolicy {
  store: RateLimitStore;
  /**
   * The policies of the route: one, or several that must all allow (e.g. a burst limit and
   * an hourly limit). Name them to tell them apart in the `RateLimit` headers.
   */
  policies: RateLimitPolicy | readonly RateLimitPolicy[];
  /** Prefix of every key, so several limiters can share a store. @default 'rl:' */
  prefix?: string;
}

/** What the limiter decided: continue with these headers, or answer. */
export type RateLimitVerdict = { action: 'continue'; headers: HeaderLines } | { action: 'respond'; response: ResponseDraft };

/** Each option of {@link RateLimiterOptions}, once; a framework's own options come on top. */
const OPTION_NAMES: Readonly<Record<keyof RateLimiterOptions, true>> = {
  store: true,
  policies: true,
  prefix: true,
  failOpen: true,
  onStoreError: true,
  timeoutMs: true,
};

/**
 * Framework-neutral rate limiting with the store's algorithms (GCRA, fixed or sliding
 * window): one atomic `consume` per request over every policy, the IETF draft
 * `RateLimit-Policy` / `RateLimit` headers, and 429 with `Retry-After` when denied.
 */
export class RateLimiter {
  readonly policies: readonly RateLimitPolicy[];
  private readonly store: RateLimitStore;
  private readonly prefix: string;
  private readonly failure: ResolvedFailurePolicy;

  /** `frameworkOptions`: the names of the options a framework binding adds to these (checked with them). */
  constructor(options: RateLimiterOptions, frameworkOptions: Readonly<Record<string, true>> = {}) {
    const o = validateOptions<RateLimiterOptions>(source, 'options', options);
    validateOptionNames(source, 'options', o, { ...OPTION_NAMES, ...frameworkOptions });
    if (o.store === undefined || typeof o.store.consume !== 'function') throw source.invalid('options.store must be a RateLimitStore');
    this.store = o.store;
    if (o.policies === undefined) throw source.invalid('options.policies is required');
    const list: readonly RateLimitPolicy[] = Array.isArray(o.policies) ? o.policies : [o.policies as RateLimitPolicy];
    normalizePolicies(source, list); // validates now, not on the first request
    this.policies = list;
    this.prefix = o.prefix === undefined ? 'rl:' : validateKey(source, 'options.prefix', o.prefix);
    this.failure = resolveFailurePolicy(source, o);
  }

  /**
   * Consumes `cost` for `key` (the client: an IP, a user id...). The store gets the call's
   * deadline (`timeoutMs`), so a request answered 503 because the store was too slow is not
   * counted: the store refuses the consume once the deadline has passed. Any string is a
   * key: `prefix + key` goes through core's `toStoreKey` (a key the store cannot take, such
   * as one over 1024 bytes or with U+0000, is hashed, never refused).
   */
  async check(key: string, request: { method: string; path: string }, cost = 1): Promise<RateLimitVerdict> {
    const policy = this.policies.length === 1 ? this.policies[0]! : this.policies;
    let decision: RateLimitDecision;
    try {
      decision = await callStore(source, this.failure.timeoutMs, (deadline) =>
        this.store.consume(toStoreKey(this.prefix + key), policy, { cost, deadline }),
      );
    } catch (err) {
      const response = storeFailure(this.failure, 'rateLimit', request, err);
      return response === undefined ? { action: 'continue', headers: [] } : { action: 'respond', response };
    }
    const fields = rateLimitHeaders(decision, policy);
    const headers: HeaderLines = [
      ['RateLimit-Policy', fields['RateLimit-Policy']],
      ['RateLimit', fields.RateLimit],
    ];
    if (decision.allowed) return { action: 'continue', headers };
    const retryAfter = fields['Retry-After']!;
    headers.push(['Retry-After', retryAfter]);
    return {
      action: 'respond',
      response: problem(429, 'rate-limited', 'Too many requests', `Limit "${decision.policy}" reached; retry in ${retryAfter} s`, headers),
    };
  }
}
