/**
 * Rules shared by every contract (see each store interface for its own):
 *
 * - Every method returns a Promise; only {@link StowageError} rejects it.
 * - Keys (ids, names, scopes, owners, URIs) are strings of 1 to 1024 UTF-8 bytes, well-formed
 *   Unicode, without U+0000; anything else is `INVALID_ARGUMENT`. Keys with `:{}%'\`, spaces
 *   or emoji round-trip exactly and never collide.
 * - Durations are integer milliseconds in `...Ms` fields, from 1 ms to ten years; anything
 *   else (0, negative, fractional, NaN, Infinity, a string) is `INVALID_ARGUMENT`.
 * - Bytes are `Uint8Array` and round-trip all 256 byte values; over a size limit is
 *   `PAYLOAD_TOO_LARGE`.
 * - Each store reads one clock ({@link StoreOptionsBase.clock}); a record whose expiry is
 *   `<= now` is invisible to every method, whether or not cleanup has run.
 * - Each method is one atomic step on the backend. A method that failed changed nothing.
 *
 * @module
 */

/** Integer milliseconds since the Unix epoch. */
export type Clock = () => number;

/** Options every store accepts. */
export interface StoreOptionsBase {
  /**
   * Replaces the store's clock. Must return integer epoch milliseconds.
   * @default the backend's clock: Redis `TIME`, PostgreSQL `clock_timestamp()`,
   * `Date.now()` for memory and SQLite.
   */
  clock?: Clock;
}

/** The answer of a backend health check; a health check never throws. */
export interface HealthResult {
  ok: boolean;
  /** Round-trip time of the probe in milliseconds (fractional). */
  latencyMs: number;
  /** Why the probe failed, when `ok` is false. */
  error?: string;
}

/** What every store does at the end of its life. */
export interface Closeable {
  /**
   * Stops what the store started (timers, listeners, dedicated connections) and wakes any
   * pending `wait`. Never closes the client the user passed in. Idempotent. After close,
   * every method rejects with `UNAVAILABLE`.
   */
  close(): Promise<void>;
}

/** Stores that keep expired rows until they are deleted (SQL, memory). */
export interface Prunable {
  /**
   * Deletes expired records in bounded batches and returns how many were deleted.
   * Expired records are already invisible; this only reclaims space. Stores whose backend
   * expires records itself (Redis) return the number of index entries they cleaned, often 0.
   */
  prune(): Promise<number>;
}
