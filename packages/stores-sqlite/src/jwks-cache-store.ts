import type { CachedJwks, CallOptions, JwksCacheStore } from '@stowage/core';
import { STORE_CALLS, validateJwksPutArgs, validateKey, sizeLimit, type JwksSizeOptions } from '@stowage/core/adapter-kit';
import type { OwnOptionNames } from '@stowage/core/adapter-kit';
import type { Statement } from 'better-sqlite3';
import { SqliteStoreBase, type SqliteStoreOptions, writeReturning } from './base.js';

const CALLS = STORE_CALLS.jwks;

export interface SqliteJwksCacheStoreOptions extends SqliteStoreOptions, JwksSizeOptions {}

interface Statements {
  get: Statement;
  put: Statement;
}

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<SqliteJwksCacheStoreOptions, SqliteStoreOptions> = { maxDocumentBytes: true };

/** {@link JwksCacheStore} on better-sqlite3. */
export class SqliteJwksCacheStore extends SqliteStoreBase<Statements> implements JwksCacheStore {
  protected readonly component = 'jwks';
  private readonly maxDocumentBytes: number;

  constructor(options: SqliteJwksCacheStoreOptions) {
    super('SqliteJwksCacheStore', options, OWN_OPTIONS);
    this.maxDocumentBytes = sizeLimit(this.source, options, 'maxDocumentBytes');
    this.instrument('jwks');
  }

  protected prepare(): Statements {
    const t = `${this.prefix}jwks`;
    return {
      get: this.db.prepare(`SELECT jwks, fetched_at, expires_at FROM ${t} WHERE uri = ? AND expires_at > ?`),
      // Never replaces a live document fetched later than the one offered.
      put: this.db.prepare(
        `INSERT INTO ${t} (uri, jwks, fetched_at, expires_at) VALUES (@uri, @jwks, @fetchedAt, @now + @ttl)
         ON CONFLICT (uri) DO UPDATE SET jwks = excluded.jwks, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at
         WHERE ${t}.expires_at <= @now OR ${t}.fetched_at <= excluded.fetched_at
         RETURNING 1`,
      ),
    };
  }

  protected pruneStatements(): string[] {
    const t = `${this.prefix}jwks`;
    return [`DELETE FROM ${t} WHERE uri IN (SELECT uri FROM ${t} WHERE expires_at <= ? LIMIT ?)`];
  }

  async get(uri: string, opts?: CallOptions): Promise<CachedJwks | undefined> {
    validateKey(this.source, 'uri', uri);
    return this.op(
      (s, now) => {
        const row = s.get.get(uri, now) as { jwks: string; fetched_at: number; expires_at: number } | undefined;
        return row === undefined ? undefined : { jwks: row.jwks, fetchedAt: row.fetched_at, expiresAt: row.expires_at };
      },
      opts,
      CALLS.get,
    );
  }

  async put(uri: string, jwks: string, opts: { fetchedAt: number; ttlMs: number } & CallOptions): Promise<boolean> {
    const { fetchedAt, ttlMs: ttl } = validateJwksPutArgs(this.source, uri, jwks, opts, this.maxDocumentBytes);
    return this.op((s, now) => writeReturning(s.put, { uri, jwks, fetchedAt, now, ttl }) !== undefined, opts, CALLS.put);
  }
}
