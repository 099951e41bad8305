import type { CallOptions, CsrfTokenStore } from '@stowage/core';
import {
  STORE_CALLS,
  deadlineOf,
  hashToken,
  postgresDialect,
  randomToken,
  validateCsrfCheck,
  validateKey,
  validateTtlOption,
} from '@stowage/core/adapter-kit';
import { PgStoreBase, Sql, type PostgresStoreOptions } from './base.js';
import { pruneSql } from './prune.js';

const CALLS = STORE_CALLS.csrf;

/** {@link CsrfTokenStore} on PostgreSQL: only SHA-256 hashes of tokens are stored. */
export class PostgresCsrfTokenStore extends PgStoreBase implements CsrfTokenStore {
  protected readonly component = 'csrf';
  private readonly sql: Record<'issue' | 'check' | 'consume' | 'revoke', Sql>;

  constructor(options: PostgresStoreOptions) {
    super('PostgresCsrfTokenStore', options);
    const T = this.t.table('csrf_tokens');
    const N3 = postgresDialect.now!(3);
    const match = `hash = $1::text AND session_id = $2::text AND expires_at > ${N3}`;
    this.sql = {
      issue: new Sql(
        `INSERT INTO ${T} (hash, session_id, expires_at) VALUES ($1::text, $2::text, ${N3} + $4::bigint) RETURNING ${this.inTime(5)}`,
        true,
      ),
      check: new Sql(`SELECT 1 AS ok FROM ${T} WHERE ${match}`),
      // One DELETE: of concurrent consumers, exactly one gets the row.
      consume: new Sql(`DELETE FROM ${T} WHERE ${match} RETURNING ${this.inTime(4)} AS ok`, true),
      revoke: new Sql(
        `WITH gone AS (DELETE FROM ${T} WHERE session_id = $1::text RETURNING expires_at, ${this.inTime(3)})
         SELECT count(*) FILTER (WHERE expires_at > ${postgresDialect.now!(2)})::bigint AS n FROM gone`,
        true,
      ),
    };
    this.instrument('csrf');
  }

  protected pruneSql(): Sql[] {
    return [pruneSql(this.t.table('csrf_tokens'), postgresDialect.now!(1))];
  }

  async issue(sessionId: string, opts: { ttlMs: number } & CallOptions): Promise<string> {
    validateKey(this.source, 'sessionId', sessionId);
    const ttl = validateTtlOption(this.source, opts);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.issue));
    const token = randomToken(32);
    await this.query(this.sql.issue, [hashToken(token), sessionId, this.nowParam(), ttl], budget);
    return token;
  }

  async validate(sessionId: string, token: string, opts?: { consume?: boolean } & CallOptions): Promise<boolean> {
    const consume = validateCsrfCheck(this.source, sessionId, token, opts);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.validate));
    const rows = await this.query(consume ? this.sql.consume : this.sql.check, [hashToken(token), sessionId, this.nowParam()], budget);
    return rows.length > 0;
  }

  async revoke(sessionId: string, opts?: CallOptions): Promise<number> {
    validateKey(this.source, 'sessionId', sessionId);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.revoke));
    const [row] = await this.query<{ n: number }>(this.sql.revoke, [sessionId, this.nowParam()], budget);
    return row?.n ?? 0;
  }
}
