import { createHash } from 'node:crypto';

export interface FingerprintInput {
  /** HTTP method; compared case-insensitively. */
  method: string;
  /** Path (and query, if it matters to the operation). */
  path: string;
  /** The request body as received. */
  body?: Uint8Array | string;
}

/**
 * SHA-256 (hex) of a request's method, path and body, for `IdempotencyStore.reserve`:
 * the same key with another fingerprint is a `mismatch`. Fields are length-prefixed, so no
 * two different requests share an encoding.
 */
export function fingerprintRequest(input: FingerprintInput): string {
  const method = input.method.toUpperCase();
  const hash = createHash('sha256');
  hash.update(`${Buffer.byteLength(method)}:${method}\n${Buffer.byteLength(input.path)}:${input.path}\n`, 'utf8');
  const body = input.body;
  if (body === undefined) hash.update('-');
  else if (typeof body === 'string') {
    hash.update(`${Buffer.byteLength(body)}:`);
    hash.update(body, 'utf8');
  } else {
    hash.update(`${body.byteLength}:`);
    hash.update(body);
  }
  return hash.digest('hex');
}
