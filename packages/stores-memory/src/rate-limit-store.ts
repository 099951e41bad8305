import type { CallOptions, RateLimitConsumeOptions, RateLimitDecision, RateLimitPolicy, RateLimitStore } from '@stowage/core';
import {
  STORE_CALLS,
  evaluateRateLimit,
  validateKey,
  type NormalizedPolicy,
  type RateLimitState,
  validateRateLimitArgs,
} from '@stowage/core/adapter-kit';
import { MemoryStoreBase, type MemoryStoreOptions } from './base.js';
import { ExpiringMap } from './expiring-map.js';

const CALLS = STORE_CALLS.rateLimit;

interface PolicyState {
  /** The policy's shape id (see `NormalizedPolicy.id`). */
  id: string;
  state: RateLimitState;
  /** Counted from the state's own mark or window (`RateLimitWrite.expiresAt`), not from the call's clock reading. */
  expiresAt: number;
}

/**
 * All policies' state under one key (usually one or two: a short array beats a Map), the
 * entry living as long as its longest-lived policy.
 */
interface Entry {
  policies: PolicyState[];
  expiresAt: number;
}

function find(entry: Entry | undefined, id: string): PolicyState | undefined {
  if (entry === undefined) return undefined;
  for (const p of entry.policies) if (p.id === id) return p;
  return undefined;
}

/** {@link RateLimitStore} in process memory; the reference functions of `@stowage/core` decide. */
export class MemoryRateLimitStore extends MemoryStoreBase implements RateLimitStore {
  private readonly keys: ExpiringMap<string, Entry>;

  constructor(options: MemoryStoreOptions = {}) {
    super('MemoryRateLimitStore', options);
    this.keys = new ExpiringMap<string, Entry>({ maxEntries: this.maxEntries });
    this.instrument('rate-limit');
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
    this.keys.delete(key);
  }

  private decide(key: string, policies: readonly NormalizedPolicy[], now: number, cost: number, consume: boolean): RateLimitDecision {
    const entry = this.keys.get(key, now);
    const n = policies.length;
    const states: (RateLimitState | undefined)[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const s = find(entry, policies[i]!.id);
      states[i] = s !== undefined && s.expiresAt > now ? s.state : undefined;
    }
    const { decision, writes } = evaluateRateLimit(policies, states, now, cost, consume);
    if (writes === undefined) return decision;
    const target: Entry = entry ?? { policies: [], expiresAt: now };
    for (let i = 0; i < n; i++) {
      const w = writes[i];
      const id = policies[i]!.id;
      const s = find(target, id);
      if (w === undefined) {
        if (s !== undefined) target.policies.splice(target.policies.indexOf(s), 1);
      } else if (s === undefined) {
        target.policies.push({ id, state: w.state, expiresAt: w.expiresAt });
      } else {
        s.state = w.state;
        s.expiresAt = w.expiresAt;
      }
    }
    let expiresAt = now;
    for (const s of target.policies) if (s.expiresAt > expiresAt) expiresAt = s.expiresAt;
    const retimed = expiresAt !== target.expiresAt;
    target.expiresAt = expiresAt;
    if (entry === undefined) this.keys.set(key, target);
    else if (retimed) this.keys.retime(key, target);
    return decision;
  }

  protected sweep(now: number): number {
    return this.keys.sweep(now);
  }

  /**
   * Drops every ended policy state, also those of keys with a live state under another policy,
   * and returns how many: the unit of `prune` (one per key and policy). The background sweep
   * only drops whole keys.
   */
  override async prune(): Promise<number> {
    const now = this.now();
    let count = 0;
    for (const entry of this.keys.values()) {
      const live = entry.policies.filter((p) => p.expiresAt > now);
      count += entry.policies.length - live.length;
      // A live entry keeps its expiry (its latest state is live); an ended one goes in the sweep.
      if (entry.expiresAt > now) entry.policies = live;
    }
    this.keys.sweep(now);
    return count;
  }

  protected override onClose(): void {
    this.keys.clear();
  }
}
