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
 *   `<= now` is invisible to every method, whether or not cleanup has run. A clock that
 *   steps back across an expiry already passed is the one case no store decides alike: a
 *   record dropped meanwhile (by a read in memory, by `prune` or native expiry elsewhere)
 *   stays gone, one still stored is visible again. Nothing else depends on cleanup.
 * - Each method is one atomic step on the backend. A method that failed changed nothing.
 * - One order of checks for every method of every contract: first every argument
 *   (`INVALID_ARGUMENT`, `PAYLOAD_TOO_LARGE`, a malformed `opts.deadline` included), then the
 *   store itself (`UNAVAILABLE` once closed), then the caller's deadline (`TIMEOUT`), and only
 *   then the record (`NOT_FOUND`, `GONE`, `CONFLICT`, `FENCED`, or an answer such as `false` or
 *   `undefined`). So a bad argument to a missing record is refused for the argument. What only
 *   the record can tell is checked with the record, even where its code is `INVALID_ARGUMENT`:
 *   a stream offset that is malformed is an argument, one past the tail is the stream's state
 *   (likewise a fork offset past its source's tail, a producer's new epoch not starting at 0).
 * - Every method that reads or changes records takes the caller's deadline
 *   ({@link CallOptions}): a call its caller was told failed never takes effect later.
 *
 * @module
 */

import type { StowageError } from '../errors.js';

/** Integer milliseconds since the Unix epoch. */
export type Clock = () => number;

/**
 * The caller's deadline, accepted by every contract method that reads or changes records
 * (in its options object, or as a last `opts` argument). One deadline travels from the
 * request to the backend: a middleware with a 1 s limit passes `Date.now() + 1000`, and no
 * store limit of its own (Redis `timeoutMs`, PostgreSQL `statementTimeoutMs`, SQLite
 * `busyTimeoutMs`) can make the call outlast it.
 *
 * The rule, on every backend:
 * - A deadline that has passed when the call starts is `TIMEOUT` at once; nothing is sent.
 * - The call answers by the earlier of the deadline and the store's own limit: past it,
 *   `TIMEOUT`, or `UNAVAILABLE` when the backend is not connected.
 * - A call whose caller was told it failed (`TIMEOUT`, `UNAVAILABLE`) never takes effect
 *   afterwards: a call that reaches the backend after its deadline, or is still running
 *   there when it passes (queued, waiting for a lock, resent after a reconnect), is refused
 *   by the backend itself, by the backend's clock (Redis scripts compare with `TIME`,
 *   PostgreSQL statements with `clock_timestamp()` just before they finish), and changes
 *   nothing. The deadline is sent on the backend's clock: the store samples it before a
 *   client's first such call (and each minute after) and keeps a lower bound of the offset,
 *   whichever way the clocks differ; a refusal while the deadline still runs means the
 *   backend's clock ran ahead since, and the call is retried once. Memory and SQLite calls
 *   run to their end synchronously once started, so a caller is never told they failed
 *   while they run.
 * - What no store can prevent: an answer delayed or lost on its way back after the backend
 *   committed in time. The caller then sees `TIMEOUT` for a call that took effect; the
 *   contracts make a retry safe where it matters (`ifVersion`, idempotency tokens, leases).
 *
 * `prune`, `cleanupExpired` and `wait` take none: the first two only reclaim records that
 * are already invisible, and `wait` has its own `timeoutMs` and `AbortSignal`.
 *
 * An option that no contract method takes (a misspelt `deadLine`, `cosst`, `ttlMS`) is
 * `INVALID_ARGUMENT` and the call changes nothing: ignored, it would run the call without
 * the caller's deadline or cost. (A name another method takes, `ttlMs` given to `get`, is
 * not refused.)
 */
export interface CallOptions {
  /**
   * Epoch milliseconds on this process's clock (`Date.now()`), an integer.
   * @default the store's own time limit from the start of the call
   */
  deadline?: number;
}

/** What a store was doing in the background when it failed (see {@link BackgroundErrorHandler}). */
export interface BackgroundErrorContext {
  /**
   * What failed: `prune` (SQL stores' timer), `cleanupExpired` (streams), `listen` and `notify`
   * (PostgreSQL stream wake-ups), `subscribe` (Redis stream wake-ups).
   */
  operation: string;
  /** The package and store, e.g. `@stowage/stores-sqlite SqliteSessionStore`. */
  store: string;
}

/**
 * Receives the failures of work a store runs on its own (a prune timer), which no caller
 * awaits. Called with the failure as a {@link StowageError}; never with key or session values
 * in the context. A handler that throws does not stop the store: the failure (and the
 * handler's) is then logged as the default does.
 * The default: one `console.error` line naming the store, the operation, and the error's
 * code and message.
 */
export type BackgroundErrorHandler = (error: StowageError, context: BackgroundErrorContext) => void;

/** Options every store accepts. */
export interface StoreOptionsBase {
  /**
   * Replaces the store's clock. Must return integer epoch milliseconds.
   * @default the backend's clock: Redis `TIME` (read once per script), PostgreSQL
   * `statement_timestamp()` (read once per statement, so one statement sees one time),
   * `Date.now()` for memory and SQLite. `undefined` means the default too (so `clock: ctx.clock`
   * of a conformance test compiles under `exactOptionalPropertyTypes`).
   */
  clock?: Clock | undefined;
  /**
   * With `@opentelemetry/api` installed, every operation of the store is a span and a
   * `db.client.operation.duration` measurement (see the README's "Telemetry"); `false` leaves
   * this store uninstrumented. Without the package there is nothing to turn off.
   * @default true
   */
  telemetry?: boolean | undefined;
}

/** The answer of a backend health check; a health check never throws. */
export interface HealthResult {
  ok: boolean;
  /** Round-trip time of the probe in milliseconds (fractional). */
  latencyMs: number;
  /** Why the probe failed, when `ok` is false. */
  error?: string;
}

/** Options of {@link Healthy.health}. */
export interface HealthOptions {
  /**
   * A probe that has not answered after this many milliseconds counts as failed (it is not
   * cancelled, only no longer awaited). An integer from 1 to 60000.
   * @default 2000
   */
  timeoutMs?: number;
}

/**
 * A store that can tell whether its backend would serve it now, reads and writes (for a
 * readiness endpoint).
 *
 * `health()` sends one cheap round trip to the backend, a write that writes nothing, so it
 * fails where the store's writes would (a read-only replica or transaction mode, a paused or
 * full Redis, a lock held by another writer): `DELETE ... WHERE false` on the store's tables
 * on PostgreSQL, `BEGIN IMMEDIATE` and `ROLLBACK` on SQLite, `SETRANGE` of an empty value on
 * Redis; nothing in memory. It resolves `{ ok, latencyMs, error? }`:
 * - it never throws and never rejects, whatever the backend does; a malformed `opts` is
 *   reported as `{ ok: false, error }` too;
 * - `latencyMs` is the time the probe took, in milliseconds (fractional, >= 0), also when it failed;
 * - `error`, only when `ok` is false, says why in one line: the driver's message (which may
 *   name hosts and ports, so log it rather than show it to clients), `no answer within N ms`,
 *   or `the store is closed` once `close()` was called (the probe then sends nothing).
 *
 * It reads no records, creates no key or row and changes nothing, so it may run as often as a
 * load balancer asks.
 */
export interface Healthy {
  health(opts?: HealthOptions): Promise<HealthResult>;
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
   * expires records itself (Redis) return the number of index entries they cleaned, often 0,
   * and never more than the expired records there were. Each contract says what one record is.
   */
  prune(): Promise<number>;
}
