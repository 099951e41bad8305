import type { ErrorSource } from '../errors.js';

/** The offset of an empty stream's start. */
export const STREAM_START_OFFSET = '0000000000000000_0000000000000000';
/** Read sentinel: the start of the stream. */
export const OFFSET_START_SENTINEL = '-1';
/** Read sentinel (HTTP layer): the current tail. */
export const OFFSET_NOW_SENTINEL = 'now';

const PREFIX = '0000000000000000_';
const OFFSET = /^0{16}_\d{16}$/;
const ZEROS = '0000000000000000';

/**
 * The offset after `position` messages: `0000000000000000_<position, 16 digits>`.
 * Fixed width makes lexicographic order equal stream order; the leading segment is kept
 * for the Durable Streams offset shape (`<16 digits>_<16 digits>`).
 */
export function formatOffset(position: number): string {
  const digits = String(position);
  return PREFIX + ZEROS.slice(digits.length) + digits;
}

/**
 * Whether `value` is an offset this package produces: its shape, and a position a number can
 * hold (16 digits reach past `Number.MAX_SAFE_INTEGER`; no stream gets there).
 */
export function isOffset(value: unknown): value is string {
  return typeof value === 'string' && value.length === 33 && OFFSET.test(value) && Number(value.slice(17)) <= Number.MAX_SAFE_INTEGER;
}

/**
 * The position an offset stands for; `-1` is 0. Anything else than an offset of this
 * package's shape is `INVALID_ARGUMENT`.
 */
export function parseOffset(source: ErrorSource, field: string, value: unknown): number {
  if (value === OFFSET_START_SENTINEL) return 0;
  if (!isOffset(value)) {
    throw source.invalid(`${field} must be an offset like ${STREAM_START_OFFSET} or -1`, { field });
  }
  return Number(value.slice(17));
}

/** Byte-wise (UTF-8) comparison, as `Stream-Seq` values are ordered on every backend. */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The media type of a Content-Type value: before any `;`, trimmed, lower case. */
export function normalizeContentType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi >= 0 ? contentType.slice(0, semi) : contentType).trim().toLowerCase();
}
