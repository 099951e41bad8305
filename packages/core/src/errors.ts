/**
 * The only error type that leaves a Stowage store.
 *
 * Codes:
 * - `INVALID_ARGUMENT`: bad input (key, duration, option, policy...). Nothing changed.
 * - `PAYLOAD_TOO_LARGE`: a value over a documented size limit. Nothing changed.
 * - `NOT_FOUND`: the named record (a stream) does not exist or has expired.
 * - `CONFLICT`: the state forbids the write (version mismatch, existing id, closed stream...).
 * - `FENCED`: a stale writer (older producer epoch) was refused.
 * - `GONE`: the record was deleted but is kept for its dependants (a stream with live forks).
 *   Not in the original contract list: the Durable Streams fork rules need it (HTTP 410).
 * - `UNAVAILABLE`: the backend could not be reached or the connection was lost.
 * - `TIMEOUT`: the backend did not answer within the configured time.
 * - `CORRUPT`: a stored record could not be decoded (or failed authentication).
 * - `INTERNAL`: anything else; a bug or an unexpected backend reply.
 */
export type StowageErrorCode =
  | 'INVALID_ARGUMENT'
  | 'PAYLOAD_TOO_LARGE'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'FENCED'
  | 'GONE'
  | 'UNAVAILABLE'
  | 'TIMEOUT'
  | 'CORRUPT'
  | 'INTERNAL';

export const STOWAGE_ERROR_CODES: readonly StowageErrorCode[] = Object.freeze([
  'INVALID_ARGUMENT',
  'PAYLOAD_TOO_LARGE',
  'NOT_FOUND',
  'CONFLICT',
  'FENCED',
  'GONE',
  'UNAVAILABLE',
  'TIMEOUT',
  'CORRUPT',
  'INTERNAL',
]);

export interface StowageErrorOptions {
  cause?: unknown;
  /** Machine-readable facts about the failure, e.g. `{ expectedSeq: 3 }`. */
  details?: Readonly<Record<string, unknown>>;
}

export class StowageError extends Error {
  override readonly name = 'StowageError';
  readonly code: StowageErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: StowageErrorCode, message: string, options: StowageErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }

  /** True when `err` is a StowageError, and has `code` when one is given. */
  static is(err: unknown, code?: StowageErrorCode): err is StowageError {
    return err instanceof StowageError && (code === undefined || err.code === code);
  }

  /**
   * Any thrown value as a StowageError: a StowageError as it is, anything else wrapped with
   * `code` (`INTERNAL` by default: an error that is not a StowageError is a bug), its message
   * kept and the original as `cause`.
   */
  static from(err: unknown, code: StowageErrorCode = 'INTERNAL'): StowageError {
    if (err instanceof StowageError) return err;
    return new StowageError(code, err instanceof Error ? err.message : String(err), { cause: err });
  }
}

/**
 * Names where an error comes from, so every message says which package and which store
 * failed: `new ErrorSource('@stowage/stores-redis', 'RedisSessionStore')`.
 */
export class ErrorSource {
  readonly label: string;

  constructor(packageName: string, storeName: string) {
    this.label = `${packageName} ${storeName}`;
  }

  error(code: StowageErrorCode, message: string, options?: StowageErrorOptions): StowageError {
    return new StowageError(code, `${this.label}: ${message}`, options);
  }

  /** Like `StowageError.from`, with this source's label on the message of a wrapped error. */
  wrap(err: unknown, code: StowageErrorCode = 'INTERNAL'): StowageError {
    return err instanceof StowageError ? err : this.error(code, err instanceof Error ? err.message : String(err), { cause: err });
  }

  invalid(message: string, details?: Record<string, unknown>): StowageError {
    return this.error('INVALID_ARGUMENT', message, details ? { details } : {});
  }

  /** A rejected promise, for methods that must not throw synchronously. */
  reject<T = never>(err: unknown): Promise<T> {
    return Promise.reject(err);
  }
}
