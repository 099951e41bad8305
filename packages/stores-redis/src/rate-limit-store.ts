import type { CallOptions, RateLimitConsumeOptions, RateLimitDecision, RateLimitPolicy, RateLimitStore } from '@stowage/core';
import {
  STORE_CALLS,
  deadlineOf,
  decideAfterConsume,
  evaluateRateLimit,
  rateLimitVariant,
  stateFromColumns,
  validateKey,
  type NormalizedPolicy,
  type RateLimitState,
  validateRateLimitArgs,
} from '@stowage/core/adapter-kit';
import { RedisStoreBase, Script, tagged, type RedisStoreOptions } from './base.js';

const CALLS = STORE_CALLS.rateLimit;

const RATE_LIMIT = new Script('rate_limit');
const RESET = new Script('rate_limit_reset');

/** How many arguments each policy takes in `rate_limit.lua`. */
const POLICY_ARGS = 5;
/** Each policy's arguments as sent, made once per policy (core keeps a policy's normal form while it is unchanged). */
const argsOf = new WeakMap<NormalizedPolicy, readonly string[]>();

/**
 * A policy's arguments: the variant goes by its name, so the script holds no table of codes to
 * keep in step; an anchored window's threshold goes where the others' capacity does.
 */
function policyArgs(p: NormalizedPolicy): readonly string[] {
  let words = argsOf.get(p);
  if (words === undefined) {
    words = [p.id, rateLimitVariant(p), String(p.limit), String(p.windowMs), String(p.threshold)];
    argsOf.set(p, words);
  }
  return words;
}

/**
 * {@link RateLimitStore} on Redis: one string per key (`<prefix>r:{key}`, the packed states of
 * its policies, see `rate_limit.lua`), one script per call. The script computes with the
 * reference arithmetic of `@stowage/core` in exact integers and returns the states; the
 * decision is derived here by the same core functions as on every backend. Several policies
 * of a key are one record: all or none.
 */
export class RedisRateLimitStore extends RedisStoreBase implements RateLimitStore {
  constructor(options: RedisStoreOptions) {
    super('RedisRateLimitStore', options);
    this.instrument('rate-limit');
  }

  private async call(key: string, policies: readonly NormalizedPolicy[], cost: number, consume: boolean, deadline: number | undefined) {
    const args: string[] = [String(cost), consume ? '1' : '0', String(policies.length)];
    for (const p of policies) {
      const words = policyArgs(p);
      for (let i = 0; i < POLICY_ARGS; i++) args.push(words[i]!);
    }
    const out = await this.run<number[]>(RATE_LIMIT, [tagged(this.prefix, 'r', key)], args, deadline);
    const now = out[0]!;
    const states = policies.map((p, i): RateLimitState | undefined => {
      const mark = out[2 + i * 3]!;
      return mark === -1 ? undefined : stateFromColumns(p.algorithm, mark, out[3 + i * 3]!, out[4 + i * 3]!);
    });
    return { now, consumed: Number(out[1]) === 1, states };
  }

  async consume(
    key: string,
    policy: RateLimitPolicy | readonly RateLimitPolicy[],
    opts?: RateLimitConsumeOptions,
  ): Promise<RateLimitDecision> {
    const { policies, cost } = validateRateLimitArgs(this.source, key, policy, opts, true);
    const r = await this.call(key, policies, cost, true, deadlineOf(this.source, opts, CALLS.consume));
    if (r.consumed) return decideAfterConsume(policies, r.states, r.now);
    return evaluateRateLimit(policies, r.states, r.now, cost, false).decision;
  }

  async peek(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[], opts?: CallOptions): Promise<RateLimitDecision> {
    const { policies } = validateRateLimitArgs(this.source, key, policy, opts, false);
    const r = await this.call(key, policies, 1, false, deadlineOf(this.source, opts, CALLS.peek));
    return evaluateRateLimit(policies, r.states, r.now, 1, false).decision;
  }

  async reset(key: string, opts?: CallOptions): Promise<void> {
    validateKey(this.source, 'key', key);
    await this.run(RESET, [tagged(this.prefix, 'r', key)], [], deadlineOf(this.source, opts, CALLS.reset));
  }
}
