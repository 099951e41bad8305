import { StowageError, validateDuration, type ErrorSource } from '@stowage/core';
import { problem, type ResponseDraft } from './problem.js';

/** What a middleware does when its store fails or is too slow. */
export interface FailurePolicy {
  /**
   * `true`: let the request through as if the middleware were absent (no limit, no
   * idempotency, no CSRF check). `false`: answer 503. @default false (fail closed)
   */
  failOpen?: boolean;
  /** Called with every store failure (to log or count it), whatever `failOpen` says. @default none */
  onStoreError?: (error: StowageError, context: { middleware: string; method: string; path: string }) => void;
  /** No store call may hold a request longer than this; past it the call counts as failed (`TIMEOUT`). @default 1000 */
  timeoutMs?: number;
}

export interface ResolvedFailurePolicy {
  failOpen: boolean;
  onStoreError: FailurePolicy['onStoreError'];
  timeoutMs: number;
}

export function resolveFailurePolicy(source: ErrorSource, o: FailurePolicy): ResolvedFailurePolicy {
  if (o.onStoreError !== undefined && typeof o.onStoreError !== 'function') throw source.invalid('options.onStoreError must be a function');
  return {
    failOpen: o.failOpen === true,
    onStoreError: o.onStoreError,
    timeoutMs: o.timeoutMs === undefined ? 1000 : validateDuration(source, 'options.timeoutMs', o.timeoutMs),
  };
}

/** `promise`, or `TIMEOUT` after `ms` (the store call may still complete; nobody waits for it). */
export function withTimeout<T>(source: ErrorSource, promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(source.error('TIMEOUT', `the store did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Any thrown value as a StowageError. */
export function asStowageError(err: unknown): StowageError {
  return err instanceof StowageError ? err : new StowageError('INTERNAL', err instanceof Error ? err.message : String(err), { cause: err });
}

/**
 * Reports a store failure and says what to do: `undefined` to let the request through
 * (fail open), or the 503 to answer (fail closed).
 */
export function storeFailure(
  policy: ResolvedFailurePolicy,
  middleware: string,
  request: { method: string; path: string },
  err: unknown,
): ResponseDraft | undefined {
  const error = asStowageError(err);
  try {
    policy.onStoreError?.(error, { middleware, method: request.method, path: request.path });
  } catch {
    // a broken hook must not break the request
  }
  if (policy.failOpen) return undefined;
  return problem(503, 'store-unavailable', 'Service temporarily unavailable', `${middleware} could not reach its store`, {
    'Retry-After': '1',
  });
}
