import type { StoredResponse } from './contracts/idempotency.js';
import type { ErrorSource } from './errors.js';
import { copyBytes, validateBytes, validateDuration, validateInteger, validateKey, validateOptions } from './validate.js';

/** Default limit of a stored response: body plus header bytes. */
export const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/**
 * Checks a response to store and returns a copy the caller cannot change afterwards.
 * Status 100 to 599; headers an array of `[name, value]` string pairs with non-empty names;
 * body a `Uint8Array`. Over `maxBytes` (body plus header names and values, UTF-8) is
 * `PAYLOAD_TOO_LARGE`.
 */
export function validateStoredResponse(source: ErrorSource, value: unknown, maxBytes: number): StoredResponse {
  if (value === null || typeof value !== 'object') throw source.invalid('response must be an object');
  const r = value as StoredResponse;
  const status = validateInteger(source, 'response.status', r.status, 100, 599);
  if (!Array.isArray(r.headers)) throw source.invalid('response.headers must be an array of [name, value] pairs');
  let size = 0;
  const headers: [string, string][] = new Array(r.headers.length);
  for (let i = 0; i < r.headers.length; i++) {
    const pair = r.headers[i] as unknown;
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string' || pair[0].length === 0) {
      throw source.invalid(`response.headers[${i}] must be a [name, value] pair of strings with a non-empty name`);
    }
    size += Buffer.byteLength(pair[0]) + Buffer.byteLength(pair[1]);
    headers[i] = [pair[0], pair[1]];
  }
  const body = validateBytes(source, 'response.body', r.body, maxBytes);
  size += body.byteLength;
  if (size > maxBytes) {
    throw source.error('PAYLOAD_TOO_LARGE', `the response is ${size} bytes, over the limit of ${maxBytes}`, {
      details: { size, limit: maxBytes },
    });
  }
  return { status, headers, body: copyBytes(body) };
}

/**
 * One byte string for a stored response, for backends that keep bytes:
 * `u32 header length | JSON [status, headers] | body`.
 */
export function encodeStoredResponse(response: StoredResponse): Buffer {
  const head = Buffer.from(JSON.stringify([response.status, response.headers]), 'utf8');
  const out = Buffer.allocUnsafe(4 + head.length + response.body.byteLength);
  out.writeUInt32BE(head.length, 0);
  head.copy(out, 4);
  out.set(response.body, 4 + head.length);
  return out;
}

/** The inverse of {@link encodeStoredResponse}; `CORRUPT` when the bytes do not decode. */
export function decodeStoredResponse(source: ErrorSource, bytes: Uint8Array): StoredResponse {
  try {
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const headLength = buf.readUInt32BE(0);
    const [status, headers] = JSON.parse(buf.subarray(4, 4 + headLength).toString('utf8')) as [number, [string, string][]];
    if (typeof status !== 'number' || !Array.isArray(headers) || 4 + headLength > buf.length) throw new Error('bad layout');
    return { status, headers, body: new Uint8Array(buf.subarray(4 + headLength)) };
  } catch (cause) {
    throw source.error('CORRUPT', 'a stored response could not be decoded', { cause });
  }
}

/** A token argument: any string (a wrong one is simply not found); a non-string is `INVALID_ARGUMENT`. */
export function validateToken(source: ErrorSource, field: string, value: unknown): string {
  if (typeof value !== 'string') throw source.invalid(`${field} must be a string`, { field });
  return value;
}

/**
 * Whether a token could have been issued: tokens are base64url, so a string with characters
 * a backend cannot store (U+0000 in PostgreSQL text) or over 1 KiB is simply wrong.
 */
export function couldBeToken(token: string): boolean {
  return token.length <= 1024 && !token.includes('\u0000');
}

// The arguments of IdempotencyStore's methods, checked in one order for every store.

/** `reserve(scope, key, fingerprint, opts)`: returns `opts.leaseMs`. */
export function validateReserveArgs(source: ErrorSource, scope: unknown, key: unknown, fingerprint: unknown, opts: unknown): number {
  validateKey(source, 'scope', scope);
  validateKey(source, 'key', key);
  validateKey(source, 'fingerprint', fingerprint);
  return validateDuration(source, 'opts.leaseMs', validateOptions<{ leaseMs: number }>(source, 'opts', opts).leaseMs);
}

/** The scope, key and token of `complete`, `release` and `extend`. */
export function validateHolderArgs(source: ErrorSource, scope: unknown, key: unknown, token: unknown): void {
  validateKey(source, 'scope', scope);
  validateKey(source, 'key', key);
  validateToken(source, 'token', token);
}

/** `complete(scope, key, token, response, opts)`: the response to store (a copy) and `opts.retentionMs`. */
export function validateCompleteArgs(
  source: ErrorSource,
  scope: unknown,
  key: unknown,
  token: unknown,
  response: unknown,
  opts: unknown,
  maxResponseBytes: number,
): { stored: StoredResponse; retentionMs: number } {
  validateHolderArgs(source, scope, key, token);
  const stored = validateStoredResponse(source, response, maxResponseBytes);
  const retentionMs = validateDuration(
    source,
    'opts.retentionMs',
    validateOptions<{ retentionMs: number }>(source, 'opts', opts).retentionMs,
  );
  return { stored, retentionMs };
}
