import type { CallOptions, CsrfTokenStore } from '@stowage/core';
import { STORE_CALLS, hashToken, randomToken, validateCsrfCheck, validateKey, validateTtlOption } from '@stowage/core/adapter-kit';
import type { Statement } from 'better-sqlite3';
import { SqliteStoreBase, type SqliteStoreOptions } from './base.js';

const CALLS = STORE_CALLS.csrf;

interface Statements {
  issue: Statement;
  check: Statement;
  consume: Statement;
  revoke: Statement;
}

/** {@link CsrfTokenStore} on better-sqlite3: only SHA-256 hashes of tokens are stored. */
export class SqliteCsrfTokenStore extends SqliteStoreBase<Statements> implements CsrfTokenStore {
  protected readonly component = 'csrf';

  constructor(options: SqliteStoreOptions) {
    super('SqliteCsrfTokenStore', options);
    this.instrument('csrf');
  }

  protected prepare(): Statements {
    const t = `${this.prefix}csrf_tokens`;
    const match = `hash = ? AND session_id = ? AND expires_at > ?`;
    return {
      issue: this.db.prepare(`INSERT INTO ${t} (hash, session_id, expires_at) VALUES (?, ?, ?)`),
      check: this.db.prepare(`SELECT 1 FROM ${t} WHERE ${match}`),
      // A single DELETE: of concurrent consumers, exactly one sees a changed row.
      consume: this.db.prepare(`DELETE FROM ${t} WHERE ${match}`),
      revoke: this.db.prepare(`DELETE FROM ${t} WHERE session_id = ? RETURNING expires_at > ? AS live`),
    };
  }

  protected pruneStatements(): string[] {
    const t = `${this.prefix}csrf_tokens`;
    return [`DELETE FROM ${t} WHERE hash IN (SELECT hash FROM ${t} WHERE expires_at <= ? LIMIT ?)`];
  }

  async issue(sessionId: string, opts: { ttlMs: number } & CallOptions): Promise<string> {
    validateKey(this.source, 'sessionId', sessionId);
    const ttl = validateTtlOption(this.source, opts);
    const token = randomToken(32);
    const hash = hashToken(token);
    await this.op((s, now) => s.issue.run(hash, sessionId, now + ttl), opts, CALLS.issue);
    return token;
  }

  async validate(sessionId: string, token: string, opts?: { consume?: boolean } & CallOptions): Promise<boolean> {
    const consume = validateCsrfCheck(this.source, sessionId, token, opts);
    const hash = hashToken(token);
    return this.op(
      (s, now) => (consume ? s.consume.run(hash, sessionId, now).changes > 0 : s.check.get(hash, sessionId, now) !== undefined),
      opts,
      CALLS.validate,
    );
  }

  async revoke(sessionId: string, opts?: CallOptions): Promise<number> {
    validateKey(this.source, 'sessionId', sessionId);
    return this.op((s, now) => (s.revoke.all(sessionId, now) as { live: number }[]).filter((r) => r.live === 1).length, opts, CALLS.revoke);
  }
}
