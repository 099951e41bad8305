import type { CallOptions, Closeable, Prunable } from './common.js';

/**
 * Synchronizer CSRF tokens bound to a session.
 *
 * - Tokens carry 256 random bits from `crypto.randomBytes`, base64url (43 characters).
 * - Only the SHA-256 of a token is stored: a copy of the database yields no usable token.
 * - A token validates only with the session it was issued to, only before it expires.
 * - Every method takes the caller's deadline ({@link CallOptions}): a consuming `validate`
 *   its caller was told failed never spends the token.
 */
export interface CsrfTokenStore extends Closeable, Prunable {
  /** Issues a new token for the session, valid for `ttlMs`. */
  issue(sessionId: string, opts: { ttlMs: number } & CallOptions): Promise<string>;

  /**
   * True if `token` was issued to `sessionId` and has not expired. With `consume`, the token
   * validates at most once, even under concurrent calls. `token` is untrusted input: any
   * string is accepted and an unknown one is simply false; a non-string is `INVALID_ARGUMENT`.
   */
  validate(sessionId: string, token: string, opts?: { consume?: boolean } & CallOptions): Promise<boolean>;

  /** Removes every token of the session (call it when the session id rotates). Returns how many live ones. */
  revoke(sessionId: string, opts?: CallOptions): Promise<number>;

  /** {@link Prunable.prune}: one record is one expired token, also of a session that still has live ones. */
  prune(): Promise<number>;
}
