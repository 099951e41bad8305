import type { CallOptions, RateLimitConsumeOptions, RateLimitDecision, RateLimitPolicy, RateLimitStore } from '@stowage/core';
import {
  STORE_CALLS,
  evaluateRateLimit,
  type NormalizedPolicy,
  type RateLimitState,
  validateKey,
  validateRateLimitArgs,
} from '@stowage/core/adapter-kit';
import { MapStore, type MapStoreOptions } from './map-store.js';

const CALLS = STORE_CALLS.rateLimit;

/** One policy's state under a key. */
interface PolicyState {
  /** The policy's shape (`NormalizedPolicy.id`): a policy with other numbers has other state. */
  readonly id: string;
  readonly state: RateLimitState;
  /** When the state equals no state at all, as `evaluateRateLimit` computed it. */
  readonly expiresAt: number;
}

/** Every policy's state under one key; frozen, replaced on every write. */
type Entry = readonly PolicyState[];

/**
 * {@link RateLimitStore} on the shared `Map` backend. The arithmetic is core's reference,
 * `evaluateRateLimit`: the store only reads the states, and writes what it returns, in one step.
 */
export class MapRateLimitStore extends MapStore<Entry> implements RateLimitStore {
  constructor(options: MapStoreOptions) {
    super('MapRateLimitStore', 'rate-limits', options);
  }

  async consume(
    key: string,
    policy: RateLimitPolicy | readonly RateLimitPolicy[],
    opts?: RateLimitConsumeOptions,
  ): Promise<RateLimitDecision> {
    const { policies, cost } = validateRateLimitArgs(this.source, key, policy, opts, true);
    return this.decide(key, policies, this.begin(opts, CALLS.consume), cost, true);
  }

  async peek(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[], opts?: CallOptions): Promise<RateLimitDecision> {
    const { policies } = validateRateLimitArgs(this.source, key, policy, opts, false);
    return this.decide(key, policies, this.begin(opts, CALLS.peek), 1, false);
  }

  async reset(key: string, opts?: CallOptions): Promise<void> {
    validateKey(this.source, 'key', key);
    this.begin(opts, CALLS.reset);
    this.records.delete(key);
  }

  private decide(key: string, policies: readonly NormalizedPolicy[], now: number, cost: number, consume: boolean): RateLimitDecision {
    const entry = this.records.get(key) ?? [];
    // A state that has ended counts as none, whether or not `prune` removed it.
    const states = policies.map((p) => entry.find((s) => s.id === p.id && s.expiresAt > now)?.state);
    const { decision, writes } = evaluateRateLimit(policies, states, now, cost, consume);
    if (writes === undefined) return decision;
    // The other policies' states stay as they were (an ended one is left for `prune` to count).
    const written = new Set(policies.map((p) => p.id));
    const next: PolicyState[] = entry.filter((s) => !written.has(s.id));
    writes.forEach((w, i) => {
      if (w !== undefined) next.push(Object.freeze({ id: policies[i]!.id, state: w.state, expiresAt: w.expiresAt }));
    });
    if (next.length === 0) this.records.delete(key);
    else this.records.set(key, Object.freeze(next));
    return decision;
  }

  /** Counts one record per policy state that has ended, also under a key with a live state. */
  protected reclaim(key: string, entry: Entry, now: number): number {
    const live = entry.filter((s) => s.expiresAt > now);
    if (live.length === entry.length) return 0;
    if (live.length === 0) this.records.delete(key);
    else this.records.set(key, Object.freeze(live));
    return entry.length - live.length;
  }
}
