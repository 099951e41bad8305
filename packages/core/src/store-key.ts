import { createHash } from 'node:crypto';
import { StowageError } from './errors.js';
import { MAX_KEY_BYTES } from './validate.js';

/**
 * The prefix of every key {@link toStoreKey} hashed. A string that starts with it is hashed
 * too, so a kept key and a hashed one can never be the same key.
 */
export const HASHED_KEY_PREFIX = '#sha256:';

/**
 * Whether `value` is a key every store accepts, as `validateKey` checks it: a string of 1 to
 * 1024 UTF-8 bytes, without U+0000, well-formed Unicode (no lone surrogates).
 */
export function isStoreKey(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const length = value.length;
  // At most 341 UTF-16 units can never exceed 1024 UTF-8 bytes.
  if (length === 0 || (length > 341 && Buffer.byteLength(value, 'utf8') > MAX_KEY_BYTES)) return false;
  return !value.includes('\u0000') && value.isWellFormed();
}

/**
 * Maps any string to a key every store accepts, injectively, for keys built from request
 * data (a user name, a token's `sub`, a path, a session id): two different strings never
 * get the same key.
 *
 * - A valid key ({@link isStoreKey}) that does not start with {@link HASHED_KEY_PREFIX} is
 *   kept as it is, so it stays readable in the store (and costs one scan, no allocation).
 * - Anything else (empty, over 1024 UTF-8 bytes, with U+0000 or a lone surrogate, or starting
 *   with the prefix) becomes the prefix plus the hex SHA-256 of its UTF-16 code units
 *   (72 ASCII characters). Code units, not UTF-8: UTF-8 would turn every lone surrogate
 *   into U+FFFD, so `'a\uD800'`, `'a\uDC00'` and `'a\uFFFD'` would share one key.
 *
 * A non-string is `INVALID_ARGUMENT` (a bug of the caller, not data).
 */
export function toStoreKey(value: string): string {
  if (typeof value !== 'string') {
    throw new StowageError(
      'INVALID_ARGUMENT',
      `@stowage/core toStoreKey: a key must be a string, got ${value === null ? 'null' : typeof value}`,
    );
  }
  if (isStoreKey(value) && !value.startsWith(HASHED_KEY_PREFIX)) return value;
  return HASHED_KEY_PREFIX + createHash('sha256').update(Buffer.from(value, 'utf16le')).digest('hex');
}
