import type { CallOptions, Closeable, Prunable } from './common.js';

/** A response kept for replay. */
export interface StoredResponse {
  /** HTTP status, integer 100 to 599. */
  status: number;
  /** Header pairs in order; names and values are strings. */
  headers: [string, string][];
  body: Uint8Array;
}

/** What `reserve` found. */
export type Reservation =
  /** This caller owns the key until the lease ends; `token` fences its later calls. */
  | { state: 'reserved'; token: string }
  /** Another caller holds a live lease; retry after `retryAfterMs` (>= 1). */
  | { state: 'in-flight'; retryAfterMs: number }
  /** The key was completed with the same fingerprint: replay `response`. */
  | { state: 'completed'; response: StoredResponse }
  /** The key is known (in flight or completed) with a different fingerprint. */
  | { state: 'mismatch' };

/**
 * Idempotency keys (the IETF Idempotency-Key draft) shared by replicas.
 *
 * - `scope` says who asks (principal, tenant, route): keys of two scopes never meet.
 * - Of any number of concurrent `reserve` calls for one `(scope, key)`, exactly one gets
 *   `reserved`; the others get `in-flight`, or `completed` once it is completed.
 * - A lease that expires may be reclaimed by the next `reserve`, which gets a new token;
 *   `complete`, `release` and `extend` with an old token change nothing and return false.
 *   After `leaseMs` without `extend`, the token is no longer valid even if nobody reclaimed.
 * - Tokens are 128-bit random owner tokens (they name the holder of one lease; they are not
 *   fencing tokens, which only `Lease.fence` is), not credentials; they are stored as issued.
 * - `fingerprint` is any string of 1 to 1024 bytes (see `fingerprintRequest`).
 * - The stored response is at most the store's `maxResponseBytes` (default 1 MiB, body plus
 *   headers), else `PAYLOAD_TOO_LARGE`.
 * - Every method takes the caller's deadline ({@link CallOptions}): a `reserve` its caller was
 *   told failed never holds the key.
 */
export interface IdempotencyStore extends Closeable, Prunable {
  reserve(scope: string, key: string, fingerprint: string, opts: { leaseMs: number } & CallOptions): Promise<Reservation>;

  /**
   * Stores the response for `retentionMs`, after which the key is free again. True if
   * `token` holds the live reservation; false (nothing changed) otherwise.
   */
  complete(
    scope: string,
    key: string,
    token: string,
    response: StoredResponse,
    opts: { retentionMs: number } & CallOptions,
  ): Promise<boolean>;

  /** Frees the key at once (the handler failed before answering). True if `token` held it. */
  release(scope: string, key: string, token: string, opts?: CallOptions): Promise<boolean>;

  /** Heartbeat: the lease now ends `leaseMs` from now. True if `token` holds the live lease. */
  extend(scope: string, key: string, token: string, leaseMs: number, opts?: CallOptions): Promise<boolean>;

  /**
   * {@link Prunable.prune}: one record is one scope and key whose lease ran out or whose
   * retention ended.
   */
  prune(): Promise<number>;
}
