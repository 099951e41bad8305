import { randomBytes } from 'node:crypto';
import type {
  Closeable,
  CsrfTokenStore,
  IdempotencyStore,
  JwksCacheStore,
  LockStore,
  RateLimitStore,
  SessionStore,
  StreamStore,
  SubscriptionStore,
} from '@stowage/core';
import { onTestFinished } from 'vitest';
import { closeWithin, contractOf, guarded } from './call-guard.js';
import { createTestClock, type TestClock } from './clock.js';

/** What a factory gets for each test. */
export interface ConformanceContext {
  /**
   * The clock to pass as the store's `clock` option. `undefined` in the real-time tests:
   * the store must then use its own clock (Redis `TIME`, PostgreSQL `statement_timestamp()`, `Date.now()`),
   * so the default production path is tested too.
   */
  clock: TestClock | undefined;
  /**
   * Fresh for each test: `s_` + 10 lower-case base-36 characters + `_`. Valid as a Redis key
   * prefix and as an SQL table prefix.
   */
  namespace: string;
}

export type StoreFactory<T> = (ctx: ConformanceContext) => T | Promise<T>;

/** Size limits the suite tests at their exact boundary. */
export interface ConformanceLimits {
  /** SessionStore `maxDataBytes`. @default 1 MiB */
  sessionDataBytes: number;
  /** IdempotencyStore `maxResponseBytes` (body plus header bytes). @default 1 MiB */
  idempotencyResponseBytes: number;
  /** JwksCacheStore `maxDocumentBytes`. @default 1 MiB */
  jwksDocumentBytes: number;
  /** StreamStore `maxMessageBytes`. @default 8 MiB */
  streamMessageBytes: number;
}

export const DEFAULT_LIMITS: ConformanceLimits = Object.freeze({
  sessionDataBytes: 1024 * 1024,
  idempotencyResponseBytes: 1024 * 1024,
  jwksDocumentBytes: 1024 * 1024,
  streamMessageBytes: 8 * 1024 * 1024,
});

export interface ConformanceOptions {
  /** Names the top-level `describe` block (e.g. `redis:7`). */
  name: string;
  sessions?: StoreFactory<SessionStore>;
  rateLimits?: StoreFactory<RateLimitStore>;
  idempotency?: StoreFactory<IdempotencyStore>;
  csrf?: StoreFactory<CsrfTokenStore>;
  locks?: StoreFactory<LockStore>;
  jwks?: StoreFactory<JwksCacheStore>;
  streams?: StoreFactory<StreamStore>;
  /**
   * Subscription state, e.g. core's `createSubscriptionStore({ sessions, clock: ctx.clock })` over
   * this backend's SessionStore on `ctx.namespace`. Two stores it opens on one namespace must share
   * their state (unless `sharedNamespace` is false); closing one need not close its sessions.
   */
  subscriptions?: StoreFactory<SubscriptionStore>;
  /** Runs after each test, once its stores are closed (drop the namespace's tables, keys...). */
  teardown?: (ctx: ConformanceContext) => void | Promise<void>;
  /**
   * The backend removes expired records itself (Redis): `prune` then reports only what it
   * cleaned, which may be 0. Otherwise `prune` must return the exact count.
   */
  nativeExpiry?: boolean;
  /**
   * Two stores the factory opens on one namespace share their records, as two replicas of an
   * application on one backend do. The suite then races each contract's atomic step across two
   * instances. Set `false` only for a backend whose instances each hold their own state (the
   * memory store): those races are then not registered at all.
   * @default true
   */
  sharedNamespace?: boolean;
  /** Limits the factories configure, where they differ from the contract defaults. */
  limits?: Partial<ConformanceLimits>;
  /**
   * Everything the backend holds for a namespace, as text (keys and values, rows): lets the
   * suite check that secrets (CSRF tokens) are not stored in plain text.
   */
  inspect?: (ctx: ConformanceContext) => Promise<string>;
  /**
   * The stores implement `Healthy`: the suite then fails if one has no `health()`. Without it,
   * `health()` is tested only on stores that have one.
   * @default false
   */
  health?: boolean;
  /** Per-test timeout in ms. @default 30000 */
  timeoutMs?: number;
}

export interface Opened<T> {
  store: T;
  /** The test clock (a frozen-by-default clock only the test moves). */
  clock: TestClock;
  ctx: ConformanceContext;
  /** Another instance of the store on the same namespace and clock (a second replica). */
  reopen(): Promise<T>;
}

export function newNamespace(): string {
  const id = BigInt(`0x${randomBytes(8).toString('hex')}`)
    .toString(36)
    .padStart(10, '0')
    .slice(-10);
  return `s_${id}_`;
}

/**
 * Opens stores for one test: a fresh namespace, a test clock (or none, in real time), and
 * cleanup when the test finishes (close every store opened, then `teardown`).
 */
export function opener<T extends Closeable>(factory: StoreFactory<T>, options: ConformanceOptions) {
  const contract = contractOf(factory, options);
  async function open(): Promise<Opened<T>>;
  async function open(mode: 'real-time'): Promise<Omit<Opened<T>, 'clock'>>;
  async function open(mode: 'test-clock' | 'real-time' = 'test-clock'): Promise<Opened<T>> {
    const clock = mode === 'test-clock' ? createTestClock() : undefined;
    const ctx: ConformanceContext = { clock, namespace: newNamespace() };
    const stores: T[] = [];
    onTestFinished(async () => {
      for (const s of stores) await closeWithin(s, contract.name);
      await options.teardown?.(ctx);
    });
    const make = async (): Promise<T> => {
      const s = guarded(await factory(ctx), contract);
      stores.push(s);
      return s;
    };
    const store = await make();
    return { store, clock: clock as TestClock, ctx, reopen: make };
  }
  return open;
}

export function limitsOf(options: ConformanceOptions): ConformanceLimits {
  return { ...DEFAULT_LIMITS, ...options.limits };
}
