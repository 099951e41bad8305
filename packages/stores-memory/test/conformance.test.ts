import { createSubscriptionStore } from '@stowage/core';
import { describeConformance } from '@stowage/conformance';
import {
  MemoryCsrfTokenStore,
  MemoryIdempotencyStore,
  MemoryJwksCacheStore,
  MemoryLockStore,
  MemoryRateLimitStore,
  MemorySessionStore,
  MemoryStreamStore,
} from '../src/index.js';

// Memory stores do not share state between instances, so a "second replica" is the same
// instance: the factory hands out one store per namespace.
const shared = new Map<string, unknown>();
function once<T>(ns: string, kind: string, make: () => T): T {
  const key = `${ns}:${kind}`;
  if (!shared.has(key)) shared.set(key, make());
  return shared.get(key) as T;
}

describeConformance({
  name: 'stores-memory',
  // Each instance holds its own state: two instances are two processes, not two replicas.
  sharedNamespace: false,
  health: true,
  sessions: (ctx) => new MemorySessionStore({ clock: ctx.clock }),
  rateLimits: (ctx) => new MemoryRateLimitStore({ clock: ctx.clock }),
  idempotency: (ctx) => new MemoryIdempotencyStore({ clock: ctx.clock }),
  csrf: (ctx) => new MemoryCsrfTokenStore({ clock: ctx.clock }),
  locks: (ctx) => new MemoryLockStore({ clock: ctx.clock }),
  jwks: (ctx) => new MemoryJwksCacheStore({ clock: ctx.clock }),
  streams: (ctx) => once(ctx.namespace, 'streams', () => new MemoryStreamStore({ clock: ctx.clock })),
  // Subscription stores of one namespace share one session store, closed with the namespace.
  subscriptions: (ctx) =>
    createSubscriptionStore({
      sessions: once(ctx.namespace, 'subscription-sessions', () => new MemorySessionStore({ clock: ctx.clock })),
      clock: ctx.clock,
    }),
  teardown: async (ctx) => {
    const sessions = shared.get(`${ctx.namespace}:subscription-sessions`) as MemorySessionStore | undefined;
    await sessions?.close();
    for (const key of shared.keys()) if (key.startsWith(ctx.namespace)) shared.delete(key);
  },
});
