import { StowageError } from '@stowage/core';
import { settleWithin, validateBoolean, validateFunction, validateTimerMs, type ErrorSource } from '@stowage/core/adapter-kit';
import { problem, type ResponseDraft } from './problem.js';

/** What a middleware does when its store fails or is too slow. */
export interface FailurePolicy {
  /**
   * What to do when the store cannot answer (`UNAVAILABLE`, `TIMEOUT`: down, unreachable or
   * too slow). `true`: let the request through as if the middleware were absent (no limit,
   * no idempotency, no CSRF check). `false`: answer 503. Any other store error
   * (`INVALID_ARGUMENT`, `PAYLOAD_TOO_LARGE`, `CORRUPT`, `INTERNAL`...) is a bug or bad data,
   * not an outage: it is answered 500 (`urn:stowage:problem:store-error`) whatever this says,
   * never let through. @default false (fail closed)
   */
  failOpen?: boolean;
  /**
   * Called with every store failure (to log or count it), whatever `failOpen` says,
   * including failures of work done after the response (idempotency heartbeats and the
   * storing of a response, CSRF revocation), so that none is silent. @default none
   */
  onStoreError?: (error: StowageError, context: { middleware: string; method: string; path: string }) => void;
  /**
   * The deadline of every store call: each call gets `{ deadline: Date.now() + timeoutMs }`
   * (core `CallOptions`), so a store that honours it answers by then and a call reported
   * failed never takes effect later. The middleware also stops waiting at that deadline,
   * for stores that do not honour it. At most `MAX_TIMER_MS` (2^31 - 1, the longest delay a
   * Node timer takes). @default 1000
   */
  timeoutMs?: number;
}

export interface ResolvedFailurePolicy {
  failOpen: boolean;
  onStoreError: FailurePolicy['onStoreError'];
  timeoutMs: number;
}

export function resolveFailurePolicy(source: ErrorSource, o: FailurePolicy): ResolvedFailurePolicy {
  return {
    failOpen: validateBoolean(source, 'options.failOpen', o.failOpen, false),
    onStoreError: validateFunction<NonNullable<FailurePolicy['onStoreError']>>(source, 'options.onStoreError', o.onStoreError),
    timeoutMs: o.timeoutMs === undefined ? 1000 : validateTimerMs(source, 'options.timeoutMs', o.timeoutMs),
  };
}

/**
 * One store call under one deadline, `timeoutMs` from now: `call` passes it to the store
 * (`{ deadline }`), and the answer is awaited until then, no longer (`TIMEOUT`). A store that
 * honours deadlines has answered by then itself; the guard is for stores that do not.
 * `onLate` gets the value of a call that answered after the guard gave up (a store that did
 * not honour the deadline), so that the caller can undo it.
 */
export function callStore<T>(
  source: ErrorSource,
  timeoutMs: number,
  call: (deadline: number) => Promise<T>,
  onLate?: (value: T) => void,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let pending: Promise<T>;
  try {
    pending = call(deadline);
  } catch (err) {
    return Promise.reject(err); // a store that throws instead of rejecting
  }
  return withTimeout(source, pending, deadline, onLate);
}

/**
 * `promise`, or `TIMEOUT` at `deadline` (epoch ms). A synchronous store (memory, SQLite)
 * has answered before the timer can fire, so its answer always wins.
 */
export function withTimeout<T>(source: ErrorSource, promise: Promise<T>, deadline: number, onLate?: (value: T) => void): Promise<T> {
  const ms = Math.max(0, deadline - Date.now());
  return settleWithin(promise, ms, () => source.error('TIMEOUT', `the store did not answer within ${ms} ms (the call's deadline)`), onLate);
}

/** Hands a failure to `onStoreError` (a throwing hook is ignored: it must not break a request). */
export function reportStoreError(
  policy: ResolvedFailurePolicy,
  middleware: string,
  request: { method: string; path: string },
  err: unknown,
): void {
  try {
    policy.onStoreError?.(StowageError.from(err), { middleware, method: request.method, path: request.path });
  } catch {
    // a broken hook must not break the request
  }
}

// The only failures `failOpen` covers: the store could not answer. Any other error is a bug
// or bad data (an invalid key, cost or record): letting the request through would open the
// limit or skip the check for exactly the requests that caused it.
const OUTAGES: ReadonlySet<string> = new Set(['UNAVAILABLE', 'TIMEOUT']);

/**
 * Reports a store failure and says what to do: `undefined` to let the request through
 * (fail open, only when the store could not answer), or the response to send: 503 when the
 * store could not answer (fail closed), 500 for any other store error.
 */
export function storeFailure(
  policy: ResolvedFailurePolicy,
  middleware: string,
  request: { method: string; path: string },
  err: unknown,
): ResponseDraft | undefined {
  const error = StowageError.from(err);
  reportStoreError(policy, middleware, request, error);
  if (!OUTAGES.has(error.code)) {
    return problem(
      500,
      'store-error',
      'Internal server error',
      `${middleware}: the store call failed with ${error.code}, a bug or bad data, not an outage`,
    );
  }
  if (policy.failOpen) return undefined;
  return problem(503, 'store-unavailable', 'Service temporarily unavailable', `${middleware} could not reach its store`, [
    ['Retry-After', '1'],
  ]);
}
