import type { CsrfTokenStore } from './contracts/csrf.js';
import type { ErrorSource } from './errors.js';
import { validateToken } from './idempotency.js';
import { validateBoolean, validateKey, validateOptions } from './validate.js';

/**
 * The arguments of {@link CsrfTokenStore.validate}, checked in one order for every store;
 * returns whether the call consumes the token.
 */
export function validateCsrfCheck(source: ErrorSource, sessionId: unknown, token: unknown, opts: unknown): boolean {
  validateKey(source, 'sessionId', sessionId);
  validateToken(source, 'token', token);
  const o = validateOptions<{ consume: boolean }>(source, 'opts', opts);
  return validateBoolean(source, 'opts.consume', o.consume, false);
}
