import type { CallOptions, CsrfTokenStore } from '@stowage/core';
import {
  STORE_CALLS,
  deadlineOf,
  hashToken,
  randomToken,
  validateCsrfCheck,
  validateKey,
  validateTtlOption,
} from '@stowage/core/adapter-kit';
import { RedisStoreBase, Script, tagged, type RedisStoreOptions } from './base.js';

const CALLS = STORE_CALLS.csrf;

const CSRF = new Script('csrf');

/**
 * {@link CsrfTokenStore} on Redis: one hash per session (`<prefix>c:{sessionId}`) mapping the
 * SHA-256 of each token to its expiry; only hashes are stored. One script per call.
 */
export class RedisCsrfTokenStore extends RedisStoreBase implements CsrfTokenStore {
  constructor(options: RedisStoreOptions) {
    super('RedisCsrfTokenStore', options);
    this.instrument('csrf');
  }

  async issue(sessionId: string, opts: { ttlMs: number } & CallOptions): Promise<string> {
    validateKey(this.source, 'sessionId', sessionId);
    const ttl = validateTtlOption(this.source, opts);
    const deadline = deadlineOf(this.source, opts, CALLS.issue);
    const token = randomToken(32);
    await this.run(CSRF, [tagged(this.prefix, 'c', sessionId)], ['issue', hashToken(token), ttl], deadline);
    return token;
  }

  async validate(sessionId: string, token: string, opts?: { consume?: boolean } & CallOptions): Promise<boolean> {
    const consume = validateCsrfCheck(this.source, sessionId, token, opts);
    const deadline = deadlineOf(this.source, opts, CALLS.validate);
    const r = await this.run<number>(
      CSRF,
      [tagged(this.prefix, 'c', sessionId)],
      [consume ? 'consume' : 'check', hashToken(token), 0],
      deadline,
    );
    return r === 1;
  }

  async revoke(sessionId: string, opts?: CallOptions): Promise<number> {
    validateKey(this.source, 'sessionId', sessionId);
    return this.run<number>(CSRF, [tagged(this.prefix, 'c', sessionId)], ['revoke', '', 0], deadlineOf(this.source, opts, CALLS.revoke));
  }
}
