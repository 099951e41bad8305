import {
  evaluateRateLimit,
  normalizePolicies,
  validateCost,
  validateKey,
  validateOptions,
  type NormalizedPolicy,
  type RateLimitConsumeOptions,
  type RateLimitDecision,
  type RateLimitPolicy,
  type RateLimitState,
  type RateLimitStore,
} from '@stowage/core';
import { MemoryStoreBase, type MemoryStoreOptions } from './base.js';
import { ExpiringMap } from './expiring-map.js';

interface PolicyState {
  state: RateLimitState;
  expiresAt: number;
}

/** All policies' state under one key; the entry lives as long as its longest-lived policy. */
interface Entry {
  policies: Map<string, PolicyState>;
  expiresAt: number;
}

/** {@link RateLimitStore} in process memory; the reference functions of `@stowage/core` decide. */
export class MemoryRateLimitStore extends MemoryStoreBase implements RateLimitStore {
  private readonly keys: ExpiringMap<string, Entry>;

  constructor(options: MemoryStoreOptions = {}) {
    super('MemoryRateLimitStore', options);
    this.keys = new ExpiringMap<string, Entry>({ maxEntries: this.maxEntries });
  }

  async consume(
    key: string,
    policy: RateLimitPolicy | readonly RateLimitPolicy[],
    opts?: RateLimitConsumeOptions,
  ): Promise<RateLimitDecision> {
    const now = this.now();
    validateKey(this.source, 'key', key);
    const policies = normalizePolicies(this.source, policy);
    const cost = validateCost(this.source, validateOptions<RateLimitConsumeOptions>(this.source, 'opts', opts).cost, policies);
    return this.run(key, policies, now, cost, true);
  }

  async peek(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[]): Promise<RateLimitDecision> {
    const now = this.now();
    validateKey(this.source, 'key', key);
    return this.run(key, normalizePolicies(this.source, policy), now, 1, false);
  }

  async reset(key: string): Promise<void> {
    this.now();
    validateKey(this.source, 'key', key);
    this.keys.delete(key);
  }

  private run(key: string, policies: readonly NormalizedPolicy[], now: number, cost: number, consume: boolean): RateLimitDecision {
    const entry = this.keys.get(key, now);
    const states: (RateLimitState | undefined)[] = new Array(policies.length);
    for (let i = 0; i < policies.length; i++) {
      const s = entry?.policies.get(policies[i]!.id);
      states[i] = s !== undefined && s.expiresAt > now ? s.state : undefined;
    }
    const { decision, writes } = evaluateRateLimit(policies, states, now, cost, consume);
    if (writes === undefined) return decision;
    const target = entry ?? { policies: new Map<string, PolicyState>(), expiresAt: now };
    let expiresAt = now;
    for (let i = 0; i < policies.length; i++) {
      const w = writes[i];
      if (w === undefined) target.policies.delete(policies[i]!.id);
      else target.policies.set(policies[i]!.id, { state: w.state, expiresAt: now + w.ttlMs });
    }
    for (const s of target.policies.values()) if (s.expiresAt > expiresAt) expiresAt = s.expiresAt;
    const retimed = expiresAt !== target.expiresAt;
    target.expiresAt = expiresAt;
    if (entry === undefined) this.keys.set(key, target);
    else if (retimed) this.keys.retime(key, target);
    return decision;
  }

  protected sweep(now: number): number {
    return this.keys.sweep(now);
  }

  protected override onClose(): void {
    this.keys.clear();
  }
}
