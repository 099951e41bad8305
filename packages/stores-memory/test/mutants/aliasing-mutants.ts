import type { ConformanceContext } from '@stowage/conformance';
import type { CachedJwks, CallOptions, IdempotencyStore, Lease, RateLimitStore, SessionStore } from '@stowage/core';
import {
  MemoryIdempotencyStore,
  MemoryJwksCacheStore,
  MemoryLockStore,
  MemoryRateLimitStore,
  MemorySessionStore,
} from '../../src/index.js';
import { clockOf, type Mutant, wrap } from './wrap.js';

/** The records a memory store keeps, reached as a faulty store would hand them out. */
interface Records<T> {
  get(key: string, now: number): T | undefined;
}
const recordsOf = <T>(store: object, field: string): Records<T> => (store as Record<string, Records<T>>)[field]!;
/**
 * The stored record itself, its map's bookkeeping (`scheduledAt`) hidden from enumeration so that
 * the record looks like the copy it replaces: sharing it is the only fault.
 */
function handedOut<T extends object>(record: T | undefined): T | undefined {
  const scheduledAt = (record as { scheduledAt?: number } | undefined)?.scheduledAt;
  if (record !== undefined) Object.defineProperty(record, 'scheduledAt', { value: scheduledAt, writable: true, enumerable: false });
  return record;
}
const nowOf = (ctx: ConformanceContext): number => (ctx.clock ?? Date.now)();

class InternalLeaseLockStore extends MemoryLockStore {
  // `return held` where the store should answer a copy: the caller gets the stored lease.
  override async acquire(name: string, opts: { ttlMs: number } & CallOptions): Promise<Lease | undefined> {
    const lease = await super.acquire(name, opts);
    return lease && handedOut(recordsOf<Lease>(this, 'leases').get(name, lease.expiresAt - 1));
  }
}

class InternalDocumentJwksCacheStore extends MemoryJwksCacheStore {
  // The cache entry itself where a copy is due: its expiresAt is what the store reads.
  override async get(uri: string, opts?: CallOptions): Promise<CachedJwks | undefined> {
    const doc = await super.get(uri, opts);
    return doc && handedOut(recordsOf<CachedJwks>(this, 'docs').get(uri, doc.expiresAt - 1));
  }
}

/**
 * Rate limits that remember each policy object they were given, by identity, to skip reading
 * it again (as core's validation cache does, but without checking that its fields are unchanged).
 */
function identityCachedRateLimits(ctx: ConformanceContext): RateLimitStore {
  const inner = new MemoryRateLimitStore(clockOf(ctx));
  const seen = new WeakMap<object, unknown>();
  const remembered = <P>(policy: P): P => {
    if (policy === null || typeof policy !== 'object') return policy;
    if (!seen.has(policy)) {
      try {
        seen.set(policy, structuredClone(policy));
      } catch {
        return policy; // not a policy: validation refuses it
      }
    }
    return seen.get(policy) as P;
  };
  return wrap<RateLimitStore>(inner, {
    consume: async (key, policy, opts) => inner.consume(key, remembered(policy), opts),
    peek: async (key, policy, opts) => inner.peek(key, remembered(policy), opts),
  });
}

/** Faults of stores that share objects with their callers (copy in, copy out forgotten). */
export const ALIASING_MUTANTS: Record<string, Mutant> = {
  'lease-aliased': {
    fault: 'lock acquire returns its internal Lease object',
    factories: { locks: (ctx) => new InternalLeaseLockStore(clockOf(ctx)) },
    caughtBy: /acquire: changing the returned lease changes nothing stored/,
  },
  'session-data-kept': {
    fault: "session set keeps the caller's data array by reference",
    factories: {
      sessions: (ctx) => {
        const inner = new MemorySessionStore(clockOf(ctx));
        const set: SessionStore['set'] = async (id, data, opts) => {
          const result = await inner.set(id, data, opts);
          recordsOf<{ data: Uint8Array }>(inner, 'sessions').get(id, nowOf(ctx))!.data = data;
          return result;
        };
        return wrap<SessionStore>(inner, { set });
      },
    },
    caughtBy: /set: changing data and opts after the call changes nothing stored/,
  },
  'response-shared': {
    fault: 'idempotency reserve answers the stored response itself, not a copy',
    factories: {
      idempotency: (ctx) => {
        const inner = new MemoryIdempotencyStore(clockOf(ctx));
        const reserve: IdempotencyStore['reserve'] = async (scope, key, fingerprint, opts) => {
          const found = await inner.reserve(scope, key, fingerprint, opts);
          if (found.state !== 'completed') return found;
          const entry = recordsOf<{ response: typeof found.response }>(inner, 'entries').get(`${scope}\u0000${key}`, nowOf(ctx))!;
          return { state: 'completed', response: entry.response };
        };
        return wrap<IdempotencyStore>(inner, { reserve });
      },
    },
    caughtBy: /reserve: changing a returned completed reservation/,
  },
  'jwks-document-aliased': {
    fault: 'jwks get returns its cached document object',
    factories: { jwks: (ctx) => new InternalDocumentJwksCacheStore(clockOf(ctx)) },
    caughtBy: /get: changing the returned document changes nothing stored/,
  },
  'policy-cached-by-identity': {
    fault: 'rate limits read each policy object once and reuse it by identity after the caller changed it',
    factories: { rateLimits: identityCachedRateLimits },
    caughtBy: /changing the policies and opts after the call changes nothing stored/,
  },
};
