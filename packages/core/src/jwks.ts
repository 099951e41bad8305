import type { ErrorSource } from './errors.js';
import { validateDuration, validateKey, validateOptions, validateString, validateTimestamp } from './validate.js';

/**
 * The arguments of `JwksCacheStore.put`, checked in one order for every store: returns
 * `opts.fetchedAt` and `opts.ttlMs`.
 */
export function validateJwksPutArgs(
  source: ErrorSource,
  uri: unknown,
  jwks: unknown,
  opts: unknown,
  maxDocumentBytes: number,
): { fetchedAt: number; ttlMs: number } {
  validateKey(source, 'uri', uri);
  validateString(source, 'jwks', jwks, maxDocumentBytes);
  const o = validateOptions<{ fetchedAt: number; ttlMs: number }>(source, 'opts', opts);
  const fetchedAt = validateTimestamp(source, 'opts.fetchedAt', o.fetchedAt);
  return { fetchedAt, ttlMs: validateDuration(source, 'opts.ttlMs', o.ttlMs) };
}
