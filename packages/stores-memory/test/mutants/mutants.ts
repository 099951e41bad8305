import { DEFAULT_LIMITS } from '@stowage/conformance';
import type { CallOptions, Lease, LockStore, RateLimitStore, SessionStore } from '@stowage/core';
import { checkDeadline, ErrorSource, validateKey, validateToken } from '@stowage/core/adapter-kit';
import {
  MemoryIdempotencyStore,
  MemoryJwksCacheStore,
  MemoryLockStore,
  MemoryRateLimitStore,
  MemorySessionStore,
} from '../../src/index.js';
import { ALIASING_MUTANTS } from './aliasing-mutants.js';
import { MORE_MUTANTS } from './more-mutants.js';
import { clockOf, type Factories, type Mutant, wrap } from './wrap.js';

const source = new ErrorSource('@stowage/stores-memory', 'MutantSessionStore');
const lockSource = new ErrorSource('@stowage/stores-memory', 'MutantLockStore');

/** The control: the memory stores as they ship. */
export const CONTROL: Factories = {
  sessions: (ctx) => new MemorySessionStore(clockOf(ctx)),
  rateLimits: (ctx) => new MemoryRateLimitStore(clockOf(ctx)),
  idempotency: (ctx) => new MemoryIdempotencyStore(clockOf(ctx)),
  locks: (ctx) => new MemoryLockStore(clockOf(ctx)),
  jwks: (ctx) => new MemoryJwksCacheStore(clockOf(ctx)),
};

class ResetFenceLockStore extends MemoryLockStore {
  // The fence counter lives with the lease, so it restarts whenever the name is free again.
  override async acquire(name: string, opts: { ttlMs: number } & CallOptions): Promise<Lease | undefined> {
    const lease = await super.acquire(name, opts);
    return lease && { ...lease, fence: 1 };
  }
}

export const MUTANTS: Record<string, Mutant> = {
  ...MORE_MUTANTS,
  ...ALIASING_MUTANTS,
  'expiry-off-by-one': {
    fault: 'get sees a session at its expiresAt (compares now < expiresAt - 1)',
    factories: {
      sessions: (ctx) => {
        const clock = ctx.clock;
        let skew = 0;
        const inner = new MemorySessionStore(clock === undefined ? {} : { clock: () => clock() + skew });
        // A memory call reads its clock before its first await, so the skew applies to this call only.
        const get: SessionStore['get'] = (id, opts) => {
          skew = -1;
          try {
            return inner.get(id, opts);
          } finally {
            skew = 0;
          }
        };
        return wrap<SessionStore>(inner, { get });
      },
    },
    caughtBy: /invisible at expiresAt/,
  },
  'test-clock-ignored': {
    fault: 'the store reads Date.now() and never the clock option',
    factories: { locks: () => new MemoryLockStore() },
    caughtBy: /expiresAt = now \+ ttlMs/,
  },
  'fence-reset': {
    fault: 'the fence restarts at 1 after release or expiry',
    factories: { locks: (ctx) => new ResetFenceLockStore(clockOf(ctx)) },
    caughtBy: /higher fence|fences strictly increase/,
  },
  'cost-ignored': {
    fault: 'consume takes 1 whatever opts.cost says',
    factories: {
      rateLimits: (ctx) => {
        const inner = new MemoryRateLimitStore(clockOf(ctx));
        const consume: RateLimitStore['consume'] = (key, policy, opts) => {
          const { cost: _cost, ...rest } = opts ?? {};
          return inner.consume(key, policy, rest);
        };
        return wrap<RateLimitStore>(inner, { consume });
      },
    },
    caughtBy: /several units at once|cost 3/,
  },
  'plain-error': {
    fault: 'bad input rejects with a plain Error, not a StowageError',
    factories: {
      sessions: (ctx) => {
        const inner = new MemorySessionStore(clockOf(ctx));
        const plain = (e: { code?: string; message: string }) => {
          throw e.code === 'INVALID_ARGUMENT' ? new Error(e.message) : e;
        };
        const overrides: Partial<SessionStore> = {};
        for (const m of ['get', 'set', 'touch', 'destroy', 'rotate', 'destroyByOwner'] as const) {
          const method = inner[m].bind(inner) as (...args: unknown[]) => Promise<unknown>;
          (overrides as Record<string, unknown>)[m] = (...args: unknown[]) => method(...args).catch(plain);
        }
        return wrap<SessionStore>(inner, overrides);
      },
    },
    caughtBy: /is INVALID_ARGUMENT/,
  },
  'closed-unchecked': {
    fault: 'destroy forgets the closed check: after close it finds nothing and answers false',
    factories: {
      sessions: (ctx) => {
        const inner = new MemorySessionStore(clockOf(ctx));
        let closed = false;
        const destroy: SessionStore['destroy'] = async (id, opts) => {
          if (!closed) return inner.destroy(id, opts);
          validateKey(source, 'id', id);
          if (opts?.deadline !== undefined) checkDeadline(source, opts.deadline);
          return false;
        };
        const close = () => ((closed = true), inner.close());
        return wrap<SessionStore>(inner, { destroy, close });
      },
    },
    caughtBy: /on a closed store/,
  },
  'prune-count': {
    fault: 'prune removes expired sessions but reports 0',
    factories: {
      sessions: (ctx) => {
        const inner = new MemorySessionStore(clockOf(ctx));
        return wrap<SessionStore>(inner, { prune: async () => (await inner.prune(), 0) });
      },
    },
    caughtBy: /prune .*count/,
  },
  'sync-throw': {
    fault: 'get validates its id before it returns a promise, so bad input throws synchronously',
    factories: {
      sessions: (ctx) => {
        const inner = new MemorySessionStore(clockOf(ctx));
        const get: SessionStore['get'] = (id, opts) => {
          validateKey(source, 'id', id);
          return inner.get(id, opts);
        };
        return wrap<SessionStore>(inner, { get });
      },
    },
    caughtBy: /bad input is INVALID_ARGUMENT/,
  },
  'deadline-ignored': {
    fault: 'the lock store drops opts.deadline',
    factories: {
      locks: (ctx) => {
        const inner = new MemoryLockStore(clockOf(ctx));
        return wrap<LockStore>(inner, {
          acquire: (name, { ttlMs }) => inner.acquire(name, { ttlMs }),
          extend: (name, token, ttlMs) => inner.extend(name, token, ttlMs),
          release: (name, token) => inner.release(name, token),
        });
      },
    },
    caughtBy: /is TIMEOUT/,
  },
  'size-limit-off-by-one': {
    fault: 'maxDataBytes is enforced one byte below the configured limit',
    factories: {
      sessions: (ctx) => new MemorySessionStore({ ...clockOf(ctx), maxDataBytes: DEFAULT_LIMITS.sessionDataBytes - 1 }),
    },
    caughtBy: /exactly the limit/,
  },
  'lock-sync-throw': {
    fault: 'extend validates its token before it returns a promise',
    factories: {
      locks: (ctx) => {
        const inner = new MemoryLockStore(clockOf(ctx));
        const extend: LockStore['extend'] = (name, token, ttlMs, opts) => {
          validateToken(lockSource, 'token', token);
          return inner.extend(name, token, ttlMs, opts);
        };
        return wrap<LockStore>(inner, { extend });
      },
    },
    caughtBy: /bad input is INVALID_ARGUMENT/,
  },
  'touch-ignores-clock': {
    fault: 'touch reads Date.now() instead of the clock option',
    factories: {
      sessions: (ctx) => {
        const clock = ctx.clock;
        let real = false;
        const inner = new MemorySessionStore(clock === undefined ? {} : { clock: () => (real ? Date.now() : clock()) });
        const touch: SessionStore['touch'] = (id, ttlMs, opts) => {
          real = true;
          try {
            return inner.touch(id, ttlMs, opts);
          } finally {
            real = false;
          }
        };
        return wrap<SessionStore>(inner, { touch });
      },
    },
    caughtBy: /touch moves expiresAt to now \+ ttlMs/,
  },
};
