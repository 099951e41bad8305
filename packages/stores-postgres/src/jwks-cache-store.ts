import type { CachedJwks, CallOptions, JwksCacheStore } from '@stowage/core';
import {
  STORE_CALLS,
  deadlineOf,
  postgresDialect,
  validateJwksPutArgs,
  validateKey,
  sizeLimit,
  type JwksSizeOptions,
} from '@stowage/core/adapter-kit';
import type { OwnOptionNames } from '@stowage/core/adapter-kit';
import { PgStoreBase, Sql, type PostgresStoreOptions } from './base.js';
import { pruneSql } from './prune.js';

const CALLS = STORE_CALLS.jwks;

export interface PostgresJwksCacheStoreOptions extends PostgresStoreOptions, JwksSizeOptions {}

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<PostgresJwksCacheStoreOptions, PostgresStoreOptions> = { maxDocumentBytes: true };

/** {@link JwksCacheStore} on PostgreSQL. */
export class PostgresJwksCacheStore extends PgStoreBase implements JwksCacheStore {
  protected readonly component = 'jwks';
  private readonly maxDocumentBytes: number;
  private readonly sql: Record<'get' | 'put', Sql>;

  constructor(options: PostgresJwksCacheStoreOptions) {
    super('PostgresJwksCacheStore', options, OWN_OPTIONS);
    this.maxDocumentBytes = sizeLimit(this.source, options, 'maxDocumentBytes');
    const T = this.t.table('jwks');
    const N4 = postgresDialect.now!(4);
    this.sql = {
      get: new Sql(`SELECT jwks, fetched_at, expires_at FROM ${T} WHERE uri = $1::text AND expires_at > ${postgresDialect.now!(2)}`),
      // Never replaces a live document fetched later than the one offered.
      put: new Sql(
        `INSERT INTO ${T} AS t (uri, jwks, fetched_at, expires_at) VALUES ($1::text, $2::text, $3::bigint, ${N4} + $5::bigint)
         ON CONFLICT (uri) DO UPDATE SET jwks = excluded.jwks, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at
         WHERE t.expires_at <= ${N4} OR t.fetched_at <= excluded.fetched_at
         RETURNING ${this.inTime(6)} AS ok`,
        true,
      ),
    };
    this.instrument('jwks');
  }

  protected pruneSql(): Sql[] {
    return [pruneSql(this.t.table('jwks'), postgresDialect.now!(1))];
  }

  async get(uri: string, opts?: CallOptions): Promise<CachedJwks | undefined> {
    validateKey(this.source, 'uri', uri);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.get));
    const [row] = await this.query<{ jwks: string; fetched_at: number; expires_at: number }>(this.sql.get, [uri, this.nowParam()], budget);
    return row === undefined ? undefined : { jwks: row.jwks, fetchedAt: row.fetched_at, expiresAt: row.expires_at };
  }

  async put(uri: string, jwks: string, opts: { fetchedAt: number; ttlMs: number } & CallOptions): Promise<boolean> {
    const { fetchedAt, ttlMs: ttl } = validateJwksPutArgs(this.source, uri, jwks, opts, this.maxDocumentBytes);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.put));
    return (await this.query(this.sql.put, [uri, jwks, fetchedAt, this.nowParam(), ttl], budget)).length > 0;
  }
}
