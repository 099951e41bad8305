import type { Clock } from '../contracts/common.js';
import type { SessionStore } from '../contracts/session.js';
import type { ErrorSource } from '../errors.js';
import { validateClock, validateDuration, validateInteger, validateOptionNames, validateOptions, validateString } from '../validate.js';
import type { WakeTiming } from './state.js';

export interface SubscriptionStoreOptions {
  /**
   * Where the state lives: any SessionStore (its `ifVersion` compare-and-swap makes each call
   * atomic). Two subscription stores over one backend share everything, like two replicas.
   * Never closed by this store.
   */
  sessions: SessionStore;
  /** Prefix of the session ids this store uses, so it can share a session store. @default 'ds-subscriptions:' */
  keyPrefix?: string;
  /** @default Date.now */
  clock?: Clock | undefined;
  /** How long a webhook attempt is its taker's before another replica may retry it, ms. @default 10000 */
  deliveryTimeoutMs?: number;
  /** Failed deliveries of one wake before it is dropped (the subscription stays `failed`). @default 8 */
  maxDeliveryAttempts?: number;
  /** The first retry's delay, doubling per failure up to 60 s, with +-20% jitter, ms. @default 1000 */
  retryBaseMs?: number;
}

/** Each option of {@link SubscriptionStoreOptions}, once. */
const OPTION_NAMES: Readonly<Record<keyof SubscriptionStoreOptions, true>> = {
  sessions: true,
  keyPrefix: true,
  clock: true,
  deliveryTimeoutMs: true,
  maxDeliveryAttempts: true,
  retryBaseMs: true,
};

/** What a subscription store runs with: its options checked, their defaults filled in. */
export interface StoreSettings {
  sessions: SessionStore;
  keyPrefix: string;
  clock: Clock;
  timing: WakeTiming;
}

/** `options` checked (`INVALID_ARGUMENT` naming the first bad one), with their defaults. */
export function storeSettings(source: ErrorSource, options: unknown): StoreSettings {
  const o = validateOptions<SubscriptionStoreOptions>(source, 'options', options);
  validateOptionNames(source, 'options', o, OPTION_NAMES);
  const sessions = o.sessions;
  if (sessions === null || typeof sessions !== 'object' || typeof sessions.set !== 'function') {
    throw source.invalid('options.sessions must be a SessionStore');
  }
  return {
    sessions,
    keyPrefix: o.keyPrefix === undefined ? 'ds-subscriptions:' : validateString(source, 'options.keyPrefix', o.keyPrefix, 256),
    clock: validateClock(source, o.clock) ?? Date.now,
    timing: {
      deliveryTimeoutMs:
        o.deliveryTimeoutMs === undefined ? 10_000 : validateDuration(source, 'options.deliveryTimeoutMs', o.deliveryTimeoutMs),
      maxDeliveryAttempts: validateInteger(source, 'options.maxDeliveryAttempts', o.maxDeliveryAttempts ?? 8, 1, 1000),
      retryBaseMs: o.retryBaseMs === undefined ? 1000 : validateDuration(source, 'options.retryBaseMs', o.retryBaseMs),
    },
  };
}
