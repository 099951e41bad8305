import type { CsrfTokenStore, IdempotencyStore, JwksCacheStore, LockStore, RateLimitStore, SessionStore, StreamStore } from '@stowage/core';
import type { SubscriptionStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import type { ConformanceOptions } from './context.js';
import { checkOrderTests } from './check-order-rule.js';
import { csrfAliasingTests } from './contracts/aliasing/csrf.js';
import { idempotencyAliasingTests } from './contracts/aliasing/idempotency.js';
import { jwksAliasingTests } from './contracts/aliasing/jwks.js';
import { lockAliasingTests } from './contracts/aliasing/locks.js';
import { rateLimitAliasingTests } from './contracts/aliasing/rate-limits.js';
import { sessionAliasingTests } from './contracts/aliasing/sessions.js';
import { streamAliasingTests } from './contracts/aliasing/streams.js';
import {
  CSRF_ORDER,
  IDEMPOTENCY_ORDER,
  JWKS_ORDER,
  LOCK_ORDER,
  RATE_LIMIT_ORDER,
  SESSION_ORDER,
  STREAM_ORDER,
} from './contracts/check-order.js';
import { csrfTests } from './contracts/csrf.js';
import {
  CSRF_DEADLINES,
  IDEMPOTENCY_DEADLINES,
  JWKS_DEADLINES,
  LOCK_DEADLINES,
  RATE_LIMIT_DEADLINES,
  SESSION_DEADLINES,
  STREAM_DEADLINES,
} from './contracts/deadlines.js';
import { idempotencyTests } from './contracts/idempotency.js';
import { jwksTests } from './contracts/jwks.js';
import { lifecycleTests } from './contracts/lifecycle.js';
import { lockTests } from './contracts/locks.js';
import { closedReclaimTests, csrfPruneTests, lockPruneTests, prune } from './contracts/prune-counts.js';
import { rateLimitClockStepTests } from './contracts/rate-limit-clock-steps.js';
import { rateLimitPruneTests } from './contracts/rate-limit-prune.js';
import { rateLimitReplicaTests } from './contracts/rate-limit-replicas.js';
import { rateLimitTests } from './contracts/rate-limits.js';
import {
  csrfReplicaTests,
  idempotencyReplicaTests,
  jwksReplicaTests,
  lockReplicaTests,
  sessionReplicaTests,
} from './contracts/replica-races.js';
import { sessionTests } from './contracts/sessions.js';
import { streamForkExpiryTests } from './contracts/stream-fork-expiry.js';
import { streamReplicaTests } from './contracts/stream-replica-races.js';
import { streamWaitExpiryTests } from './contracts/stream-wait-expiry.js';
import { streamTests } from './contracts/streams.js';
import { SUBSCRIPTION_DEADLINES, SUBSCRIPTION_ORDER, subscriptionTests } from './contracts/subscriptions/index.js';
import { opener } from './context.js';
import { deadlineTests } from './deadline-rule.js';
import { sleep } from './helpers.js';
import { racesReplicas } from './replicas.js';

export { createTestClock, TEST_CLOCK_START } from './clock.js';
export type { TestClock } from './clock.js';
export { describeRateLimitArithmetic, RATE_LIMIT_ARITHMETIC_CASES } from './rate-limit-arithmetic.js';
export type { RateLimitArithmeticBackend, RateLimitArithmeticCase } from './rate-limit-arithmetic.js';
export { DEFAULT_LIMITS, newNamespace } from './context.js';
export type { ConformanceContext, ConformanceLimits, ConformanceOptions, StoreFactory } from './context.js';
export { ALL_BYTES, BAD_BYTES, BAD_DURATIONS, BAD_KEYS, closedPort, expectCode, ODD_KEYS } from './helpers.js';
export type { ErrorLike } from './helpers.js';

/**
 * The Stowage behaviour suite. Call it from a vitest test file with a factory per contract
 * your adapter implements; each test gets a fresh namespace and a test clock:
 *
 * ```ts
 * describeConformance({
 *   name: 'my-backend',
 *   sessions: (ctx) => new MySessionStore({ client, prefix: ctx.namespace, ...(ctx.clock && { clock: ctx.clock }) }),
 * });
 * ```
 */
export function describeConformance(options: ConformanceOptions): void {
  if (typeof options?.name !== 'string' || options.name.length === 0) {
    throw new Error('describeConformance needs a name');
  }
  const timeout = options.timeoutMs ?? 30_000;
  const replicas = racesReplicas(options);
  describe(options.name, { timeout }, () => {
    const given = [
      options.sessions,
      options.rateLimits,
      options.idempotency,
      options.csrf,
      options.locks,
      options.jwks,
      options.streams,
      options.subscriptions,
    ];
    if (given.every((f) => f === undefined)) {
      it('has at least one store factory', () => {
        expect.fail('describeConformance was given no store factory');
      });
    }
    if (options.sessions) {
      const f = options.sessions;
      describe('SessionStore', () => {
        sessionTests(f, options);
        sessionAliasingTests(f, options);
        if (replicas) sessionReplicaTests(f, options);
        closedReclaimTests(f, options, prune, 'prune');
        deadlineTests(f, options, SESSION_DEADLINES);
        checkOrderTests(f, options, SESSION_ORDER);
        lifecycleTests<SessionStore>(f, options, (s) => s.get('probe'));
      });
    }
    if (options.rateLimits) {
      const f = options.rateLimits;
      describe('RateLimitStore', () => {
        rateLimitTests(f, options);
        rateLimitAliasingTests(f, options);
        rateLimitClockStepTests(f, options);
        rateLimitPruneTests(f, options);
        if (replicas) rateLimitReplicaTests(f, options);
        closedReclaimTests(f, options, prune, 'prune');
        deadlineTests(f, options, RATE_LIMIT_DEADLINES);
        checkOrderTests(f, options, RATE_LIMIT_ORDER);
        lifecycleTests<RateLimitStore>(f, options, (s) => s.peek('probe', { algorithm: 'gcra', limit: 1, windowMs: 1000 }));
      });
    }
    if (options.idempotency) {
      const f = options.idempotency;
      describe('IdempotencyStore', () => {
        idempotencyTests(f, options);
        idempotencyAliasingTests(f, options);
        if (replicas) idempotencyReplicaTests(f, options);
        closedReclaimTests(f, options, prune, 'prune');
        deadlineTests(f, options, IDEMPOTENCY_DEADLINES);
        checkOrderTests(f, options, IDEMPOTENCY_ORDER);
        lifecycleTests<IdempotencyStore>(f, options, (s) => s.release('probe', 'probe', 'token'));
      });
    }
    if (options.csrf) {
      const f = options.csrf;
      describe('CsrfTokenStore', () => {
        csrfTests(f, options);
        csrfAliasingTests(f, options);
        csrfPruneTests(f, options);
        if (replicas) csrfReplicaTests(f, options);
        closedReclaimTests(f, options, prune, 'prune');
        deadlineTests(f, options, CSRF_DEADLINES);
        checkOrderTests(f, options, CSRF_ORDER);
        lifecycleTests<CsrfTokenStore>(f, options, (s) => s.validate('probe', 'token'));
      });
    }
    if (options.locks) {
      const f = options.locks;
      describe('LockStore', () => {
        lockTests(f, options);
        lockAliasingTests(f, options);
        lockPruneTests(f, options);
        if (replicas) lockReplicaTests(f, options);
        closedReclaimTests(f, options, prune, 'prune');
        deadlineTests(f, options, LOCK_DEADLINES);
        checkOrderTests(f, options, LOCK_ORDER);
        lifecycleTests<LockStore>(f, options, (s) => s.release('probe', 'token'));
      });
    }
    if (options.jwks) {
      const f = options.jwks;
      describe('JwksCacheStore', () => {
        jwksTests(f, options);
        jwksAliasingTests(f, options);
        if (replicas) jwksReplicaTests(f, options);
        closedReclaimTests(f, options, prune, 'prune');
        deadlineTests(f, options, JWKS_DEADLINES);
        checkOrderTests(f, options, JWKS_ORDER);
        lifecycleTests<JwksCacheStore>(f, options, (s) => s.get('probe'));
      });
    }
    if (options.streams) {
      const f = options.streams;
      describe('StreamStore', () => {
        streamTests(f, options);
        streamAliasingTests(f, options);
        streamForkExpiryTests(f, options);
        streamWaitExpiryTests(f, options);
        if (replicas) streamReplicaTests(f, options);
        closedReclaimTests(f, options, (s) => s.cleanupExpired(), 'cleanupExpired');
        deadlineTests(f, options, STREAM_DEADLINES);
        checkOrderTests(f, options, STREAM_ORDER);
        lifecycleTests<StreamStore>(f, options, (s) => s.head('probe'));
        const open = opener(f, options);
        it('close wakes pending waits with aborted', async () => {
          const { store } = await open();
          const { info } = await store.create('w', { contentType: 'text/plain' });
          const waiting = store.wait('w', info.nextOffset, 20_000);
          await sleep(30);
          await store.close();
          expect(await waiting).toBe('aborted');
        });
      });
    }
    if (options.subscriptions) {
      const f = options.subscriptions;
      describe('SubscriptionStore', () => {
        subscriptionTests(f, options);
        deadlineTests(f, options, SUBSCRIPTION_DEADLINES);
        checkOrderTests(f, options, SUBSCRIPTION_ORDER);
        // Subscription state lives in sessions: its health is theirs, so `health` does not apply.
        lifecycleTests<SubscriptionStore>(f, { ...options, health: false }, (s) => s.get('probe'));
      });
    }
  });
}
