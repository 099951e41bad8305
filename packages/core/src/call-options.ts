import type { CallOptions } from './contracts/common.js';
import type { CsrfTokenStore } from './contracts/csrf.js';
import type { IdempotencyStore } from './contracts/idempotency.js';
import type { JwksCacheStore } from './contracts/jwks.js';
import type { LockStore } from './contracts/lock.js';
import type { RateLimitStore } from './contracts/rate-limit.js';
import type { SessionStore } from './contracts/session.js';
import type { StreamStore } from './contracts/stream.js';
import type { SubscriptionStore } from './contracts/subscription.js';

/** A method's options: its last parameter, when that is a `CallOptions`. */
type OptionsOf<F> = F extends (...args: infer A) => unknown
  ? Required<A> extends [...unknown[], infer Last]
    ? Extract<NonNullable<Last>, CallOptions>
    : never
  : never;

/** For each method of `S` that takes `CallOptions`: every name its options have, each `true`. */
type OptionNames<S> = {
  readonly [M in keyof S as [OptionsOf<S[M]>] extends [never] ? never : M]-?: { readonly [K in keyof OptionsOf<S[M]>]-?: true };
};

/** One contract method that takes options: how errors name it, and the option names it takes. */
export interface StoreCall {
  /** `SessionStore.get`. */
  readonly method: string;
  readonly names: ReadonlySet<string>;
}

type Calls<S> = { readonly [M in keyof OptionNames<S>]: StoreCall };

function calls<S>(contract: string, table: OptionNames<S>): Calls<S> {
  const out: Record<string, StoreCall> = {};
  for (const [method, names] of Object.entries(table))
    out[method] = { method: `${contract}.${method}`, names: new Set(Object.keys(names as object)) };
  return out as Calls<S>;
}

const D = { deadline: true } as const;

/**
 * The option names of every contract method, read off the contracts' types: the compiler
 * checks each list against its method, both ways. A store passes its method's entry to
 * `deadlineOf`, which refuses any other name (one another method takes, too).
 */
export const STORE_CALLS = {
  session: calls<SessionStore>('SessionStore', {
    get: D,
    set: { ...D, ttlMs: true, ifVersion: true, absoluteTtlMs: true, owner: true },
    touch: D,
    destroy: D,
    rotate: { ...D, ttlMs: true },
    destroyByOwner: { ...D, except: true },
  }),
  rateLimit: calls<RateLimitStore>('RateLimitStore', {
    consume: { ...D, cost: true },
    peek: D,
    reset: D,
  }),
  idempotency: calls<IdempotencyStore>('IdempotencyStore', {
    reserve: { ...D, leaseMs: true },
    complete: { ...D, retentionMs: true },
    release: D,
    extend: D,
  }),
  csrf: calls<CsrfTokenStore>('CsrfTokenStore', {
    issue: { ...D, ttlMs: true },
    validate: { ...D, consume: true },
    revoke: D,
  }),
  jwks: calls<JwksCacheStore>('JwksCacheStore', {
    get: D,
    put: { ...D, ttlMs: true, fetchedAt: true },
  }),
  lock: calls<LockStore>('LockStore', {
    acquire: { ...D, ttlMs: true },
    extend: D,
    release: D,
  }),
  stream: calls<StreamStore>('StreamStore', {
    create: { ...D, messages: true, fork: true },
    append: { ...D, contentType: true, seq: true, producer: true, close: true },
    read: { ...D, maxBytes: true, maxMessages: true, readOnly: true },
    head: D,
    closeStream: { ...D, producer: true },
    delete: D,
  }),
  subscription: calls<SubscriptionStore>('SubscriptionStore', {
    put: D,
    get: D,
    delete: D,
    addStreams: D,
    removeStream: D,
    noteAppend: D,
    noteDelete: D,
    claim: D,
    ack: D,
    release: D,
    reportDelivery: D,
    takeDue: { ...D, limit: true },
    signingKeys: D,
    putSigningKeys: D,
  }),
} as const;

/** Every option name some contract method takes. */
export const CALL_OPTION_NAMES: ReadonlySet<string> = new Set(
  Object.values(STORE_CALLS).flatMap((contract) => Object.values(contract as Record<string, StoreCall>).flatMap((c) => [...c.names])),
);
