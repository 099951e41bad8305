import type { ConformanceContext } from '@stowage/conformance';
import type { RateLimitConsumeOptions, RateLimitDecision, RateLimitPolicy, RateLimitStore } from '@stowage/core';
import {
  checkDeadline,
  deadlineOf,
  ErrorSource,
  evaluateRateLimit,
  type RateLimitState,
  validateKey,
  validateRateLimitArgs,
} from '@stowage/core/adapter-kit';

const source = new ErrorSource('@stowage/stores-memory', 'InstanceLockedRateLimitStore');

interface Held {
  state: RateLimitState;
  expiresAt: number;
}

/** The "backend": one map per namespace, shared by every instance opened on it (two replicas). */
const backends = new Map<string, Map<string, Held>>();

/**
 * A rate-limit store as an adapter author might write it over a key-value backend: read the
 * states, compute with core's reference, write them back. Each instance runs its calls one at
 * a time (a lock per instance), which is exact for one instance and wrong for two: between one
 * instance's read and write, the other instance reads the same states.
 */
export class InstanceLockedRateLimitStore implements RateLimitStore {
  private readonly held: Map<string, Held>;
  private readonly clock: () => number;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(ctx: ConformanceContext) {
    this.held = backends.get(ctx.namespace) ?? new Map();
    backends.set(ctx.namespace, this.held);
    this.clock = ctx.clock ?? Date.now;
  }

  consume(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[], opts?: RateLimitConsumeOptions): Promise<RateLimitDecision> {
    return this.call(key, policy, opts, true);
  }

  peek(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[], opts?: RateLimitConsumeOptions): Promise<RateLimitDecision> {
    return this.call(key, policy, opts, false);
  }

  async reset(key: string, opts?: RateLimitConsumeOptions): Promise<void> {
    validateKey(source, 'key', key);
    this.begin(opts);
    for (const k of [...this.held.keys()]) if (k.startsWith(`${key}\n`)) this.held.delete(k);
  }

  async prune(): Promise<number> {
    if (this.closed) throw source.error('UNAVAILABLE', 'the store is closed');
    const now = this.clock();
    let n = 0;
    for (const [k, h] of [...this.held]) {
      if (h.expiresAt <= now) {
        this.held.delete(k);
        n++;
      }
    }
    return n;
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private begin(opts: unknown): number {
    const deadline = deadlineOf(source, opts);
    if (this.closed) throw source.error('UNAVAILABLE', 'the store is closed');
    checkDeadline(source, deadline);
    return this.clock();
  }

  private async call(key: string, policy: unknown, opts: unknown, consume: boolean): Promise<RateLimitDecision> {
    const { policies, cost } = validateRateLimitArgs(source, key, policy, opts, consume);
    const now = this.begin(opts);
    const run = this.queue.then(async () => {
      const ids = policies.map((p) => `${key}\n${p.id}`);
      const states = ids.map((id) => {
        const h = this.held.get(id);
        return h !== undefined && h.expiresAt > now ? h.state : undefined;
      });
      await new Promise((resolve) => setImmediate(resolve)); // the backend's round trip
      const { decision, writes } = evaluateRateLimit(policies, states, now, cost, consume);
      for (const [i, w] of (writes ?? []).entries()) {
        if (w === undefined) this.held.delete(ids[i]!);
        else this.held.set(ids[i]!, w);
      }
      return decision;
    });
    this.queue = run.catch(() => {});
    return run;
  }
}
