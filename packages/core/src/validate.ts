import type { ErrorSource } from './errors.js';
import type { Codec } from './codecs.js';

/** Keys (ids, names, scopes) are 1 to 1024 UTF-8 bytes. */
export const MAX_KEY_BYTES = 1024;
/** The longest duration any `...Ms` field accepts: ten years of 365.25 days. */
export const MAX_DURATION_MS = 315_576_000_000;
/**
 * The longest delay a Node timer takes (2^31 - 1 ms, about 24.8 days; a longer one fires at
 * once): the upper bound of a time limit or interval a store arms a timer with.
 */
export const MAX_TIMER_MS = 2_147_483_647;
/** The largest integer every backend represents exactly (JS double, Lua 5.1 number, bigint). */
export const MAX_EXACT_INTEGER = 2 ** 52;
/** Timestamps (epoch ms) are accepted up to the year 275760, like `Date`. */
export const MAX_TIMESTAMP_MS = 8_640_000_000_000_000;

declare global {
  interface String {
    /** ES2024; present since Node 20. */
    isWellFormed(): boolean;
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `a string of length ${value.length}` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  if (value instanceof Uint8Array) return `bytes(${value.length})`;
  return typeof value;
}

/**
 * A key: a string of 1 to 1024 UTF-8 bytes, well-formed Unicode, without U+0000.
 * Any other character (`:{}%'\`, spaces, emoji) is allowed and round-trips exactly.
 */
export function validateKey(source: ErrorSource, field: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw source.invalid(`${field} must be a string, got ${describe(value)}`, { field });
  }
  const length = value.length;
  if (length === 0) throw source.invalid(`${field} must be 1 to ${MAX_KEY_BYTES} UTF-8 bytes, got an empty string`, { field });
  // Fast path: at most 341 UTF-16 units can never exceed 1024 UTF-8 bytes.
  if (length > 341) {
    // The length in the unit of the limit: `value.length` counts UTF-16 units, not bytes.
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > MAX_KEY_BYTES)
      throw source.invalid(`${field} must be 1 to ${MAX_KEY_BYTES} UTF-8 bytes, got ${bytes} UTF-8 bytes`, { field });
  }
  if (value.includes('\u0000')) {
    throw source.invalid(`${field} must not contain U+0000`, { field });
  }
  if (!value.isWellFormed()) {
    throw source.invalid(`${field} must be well-formed Unicode (no lone surrogates)`, { field });
  }
  return value;
}

/** A duration: an integer number of milliseconds from 1 to {@link MAX_DURATION_MS}. */
export function validateDuration(source: ErrorSource, field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_DURATION_MS) {
    throw source.invalid(
      `${field} must be an integer number of milliseconds from 1 to ${MAX_DURATION_MS} (ten years), got ${describe(value)}`,
      { field },
    );
  }
  return value;
}

/**
 * A time limit or interval a timer is armed with (a store's `timeoutMs`, a poll or prune
 * interval): an integer number of milliseconds from 1 to {@link MAX_TIMER_MS}.
 */
export function validateTimerMs(source: ErrorSource, field: string, value: unknown): number {
  return validateInteger(source, field, value, 1, MAX_TIMER_MS);
}

/** An optional duration: `undefined` passes through. */
export function validateOptionalDuration(source: ErrorSource, field: string, value: unknown): number | undefined {
  return value === undefined ? undefined : validateDuration(source, field, value);
}

/** An integer in `[min, max]`. */
export function validateInteger(
  source: ErrorSource,
  field: string,
  value: unknown,
  min: number,
  max: number = Number.MAX_SAFE_INTEGER,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw source.invalid(`${field} must be an integer from ${min} to ${max}, got ${describe(value)}`, { field });
  }
  return value;
}

/** An optional boolean: `undefined` gives `fallback`. */
export function validateBoolean(source: ErrorSource, field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw source.invalid(`${field} must be a boolean, got ${describe(value)}`, { field });
  return value;
}

/** An optional function option (a hook, a key function): `undefined`, or a function. */
export function validateFunction<F extends (...args: never[]) => unknown>(
  source: ErrorSource,
  field: string,
  value: unknown,
): F | undefined {
  if (value !== undefined && typeof value !== 'function')
    throw source.invalid(`${field} must be a function, got ${describe(value)}`, { field });
  return value as F | undefined;
}

/** An optional codec option: `undefined`, or anything with `encode` and `decode` functions (a class's statics too). */
export function validateCodec<T>(source: ErrorSource, field: string, value: unknown): Codec<T> | undefined {
  if (value === undefined) return undefined;
  const c = value as Partial<Codec<T>> | null;
  if (
    c === null ||
    (typeof c !== 'object' && typeof c !== 'function') ||
    typeof c.encode !== 'function' ||
    typeof c.decode !== 'function'
  ) {
    throw source.invalid(`${field} must be a Codec (encode and decode functions), got ${describe(value)}`, { field });
  }
  return c as Codec<T>;
}

/** An epoch-milliseconds timestamp (integer, 0 to {@link MAX_TIMESTAMP_MS}). */
export function validateTimestamp(source: ErrorSource, field: string, value: unknown): number {
  return validateInteger(source, field, value, 0, MAX_TIMESTAMP_MS);
}

/**
 * Bytes: a `Uint8Array` (a Node `Buffer` is one) of at most `maxBytes`.
 * Over the limit is `PAYLOAD_TOO_LARGE`.
 */
export function validateBytes(source: ErrorSource, field: string, value: unknown, maxBytes: number): Uint8Array {
  if (!(value instanceof Uint8Array)) {
    throw source.invalid(`${field} must be a Uint8Array, got ${describe(value)}`, { field });
  }
  if (value.byteLength > maxBytes) {
    throw source.error('PAYLOAD_TOO_LARGE', `${field} is ${value.byteLength} bytes, over the limit of ${maxBytes}`, {
      details: { field, size: value.byteLength, limit: maxBytes },
    });
  }
  return value;
}

/** A string of at most `maxBytes` UTF-8 bytes (may be empty unless `minLength` says otherwise). */
export function validateString(source: ErrorSource, field: string, value: unknown, maxBytes: number, minLength = 0): string {
  if (typeof value !== 'string' || value.length < minLength) {
    throw source.invalid(`${field} must be a string of at least ${minLength} characters, got ${describe(value)}`, {
      field,
    });
  }
  if (value.length * 3 > maxBytes && Buffer.byteLength(value, 'utf8') > maxBytes) {
    throw source.error('PAYLOAD_TOO_LARGE', `${field} is over the limit of ${maxBytes} bytes`, {
      details: { field, limit: maxBytes },
    });
  }
  return value;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * An SQL identifier or identifier prefix (table prefix, schema): ASCII letters, digits and
 * `_`, not starting with a digit, at most `maxLength` characters. Values are never
 * interpolated into SQL; identifiers are, so they are checked here.
 */
export function validateIdentifier(source: ErrorSource, field: string, value: unknown, maxLength = 40): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength || !IDENTIFIER.test(value)) {
    throw source.invalid(
      `${field} must be 1 to ${maxLength} characters of [A-Za-z0-9_], not starting with a digit, got ${describe(value)}`,
      { field },
    );
  }
  return value;
}

/** A plain object (or undefined, which becomes `{}`), for options arguments. */
export function validateOptions<T extends object>(source: ErrorSource, field: string, value: unknown): Partial<T> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw source.invalid(`${field} must be an object, got ${describe(value)}`, { field });
  }
  return value as Partial<T>;
}

/**
 * Every option named in `options` is one that `known` marks `true`: a misspelt or removed option
 * is refused rather than silently ignored (a typo of a time limit would otherwise run on the
 * default). `known` names each key of `T` once (`false`: an option of the family this one does
 * not take); the compiler checks the list is complete. For options given once (a
 * constructor's, a factory's), never per call.
 */
export function validateOptionNames<T extends object>(
  source: ErrorSource,
  field: string,
  options: Partial<T>,
  known: Readonly<Record<keyof T, boolean>>,
): void {
  for (const name of Object.keys(options)) {
    if (!Object.hasOwn(known, name) || known[name as keyof T] !== true) {
      const names = (Object.keys(known) as (keyof T & string)[])
        .filter((k) => known[k])
        .sort()
        .join(', ');
      throw source.invalid(`${field}.${name} is not an option (the options are ${names})`, { field: `${field}.${name}` });
    }
  }
}

/**
 * A subclass's part of {@link validateOptionNames}: each option `T` adds to `Base` (`true`), and
 * each option of `Base` that `T` leaves out (`false`), once.
 */
export type OwnOptionNames<T, Base> = Readonly<Record<Exclude<keyof T, keyof Base>, true> & Record<Exclude<keyof Base, keyof T>, false>>;

/** A clock option: a function returning integer epoch milliseconds. */
export function validateClock(source: ErrorSource, value: unknown): (() => number) | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'function') throw source.invalid(`clock must be a function returning epoch milliseconds`);
  return value as () => number;
}

/** Reads a clock and checks its answer, so a broken clock never writes a wrong expiry. */
export function readClock(source: ErrorSource, clock: () => number): number {
  const now = clock();
  if (!Number.isInteger(now) || now < 0 || now > MAX_TIMESTAMP_MS) {
    throw source.invalid(`clock returned ${describe(now)}; it must return integer epoch milliseconds`);
  }
  return now;
}

/**
 * A copy of `bytes` that the caller cannot change through its argument. A Node `Buffer`
 * (a `Uint8Array`): small copies come from Node's buffer pool, several times faster than
 * `Uint8Array.prototype.slice`. Kept pooled, as `Buffer.from` is everywhere in Node: a copy
 * with an `ArrayBuffer` of its own cost 250 to 580 ns more, on store calls of 1 to 4 µs; the
 * contracts say to read a result's view, not its whole `.buffer` (see `SessionRecord.data`).
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  return Buffer.from(bytes);
}

/** `opts.ttlMs` of an options object holding one required duration (CSRF `issue`, lock `acquire`). */
export function validateTtlOption(source: ErrorSource, opts: unknown): number {
  return validateDuration(source, 'opts.ttlMs', validateOptions<{ ttlMs: number }>(source, 'opts', opts).ttlMs);
}
