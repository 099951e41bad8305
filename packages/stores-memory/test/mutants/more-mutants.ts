import type { LockStore, RateLimitStore } from '@stowage/core';
import { MemoryLockStore, MemoryRateLimitStore } from '../../src/index.js';
import { InstanceLockedRateLimitStore } from './instance-locked.js';
import { clockOf, type Mutant, wrap } from './wrap.js';

/** Faults only the replica races and the prune counts catch. */
export const MORE_MUTANTS: Record<string, Mutant> = {
  'instance-locked': {
    fault: 'rate limits read, compute and write back under a lock per store instance, not per backend',
    factories: { rateLimits: (ctx) => new InstanceLockedRateLimitStore(ctx) },
    // Two instances on one namespace share the backend, as two replicas would.
    shared: true,
    caughtBy: /replicas/,
  },
  'hung-close': {
    fault: 'lock close() never settles',
    factories: {
      locks: (ctx) => {
        const inner = new MemoryLockStore(clockOf(ctx));
        return wrap<LockStore>(inner, { close: () => new Promise<void>(() => {}) });
      },
    },
    // Each test waits for the close limit: two tests are enough.
    only: 'acquire gives a token',
    caughtBy: /acquire gives a token/,
  },
  'not-a-promise': {
    fault: 'lock release answers a plain boolean, not a Promise',
    factories: {
      locks: (ctx) => {
        const inner = new MemoryLockStore(clockOf(ctx));
        const release = (() => true) as unknown as LockStore['release'];
        return wrap<LockStore>(inner, { release });
      },
    },
    caughtBy: /release/,
  },
  'lock-prune-count': {
    fault: 'lock prune removes expired leases but reports 0',
    factories: {
      locks: (ctx) => {
        const inner = new MemoryLockStore(clockOf(ctx));
        return wrap<LockStore>(inner, { prune: async () => (await inner.prune(), 0) });
      },
    },
    caughtBy: /prune/i,
  },
  'rate-limit-prune-count': {
    fault: 'rate-limit prune removes expired keys but reports 0',
    factories: {
      rateLimits: (ctx) => {
        const inner = new MemoryRateLimitStore(clockOf(ctx));
        return wrap<RateLimitStore>(inner, { prune: async () => (await inner.prune(), 0) });
      },
    },
    caughtBy: /prune/i,
  },
};
