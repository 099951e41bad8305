import type { CallOptions, Lease, LockStore } from '@stowage/core';
import {
  STORE_CALLS,
  couldBeToken,
  deadlineOf,
  postgresDialect,
  randomToken,
  validateDuration,
  validateKey,
  validateToken,
  validateTtlOption,
} from '@stowage/core/adapter-kit';
import { PgStoreBase, Sql, type PostgresStoreOptions } from './base.js';
import { pruneLocksSql } from './prune.js';

const CALLS = STORE_CALLS.lock;

/**
 * {@link LockStore} on PostgreSQL. A name's row stays after release and expiry, holding its
 * fence counter; `prune()` only clears the tokens of expired leases.
 */
export class PostgresLockStore extends PgStoreBase implements LockStore {
  protected readonly component = 'locks';
  private readonly sql: Record<'acquire' | 'extend' | 'release' | 'prune', Sql>;

  constructor(options: PostgresStoreOptions) {
    super('PostgresLockStore', options);
    const T = this.t.table('locks');
    const N = postgresDialect.now!(3);
    const held = `name = $1::text AND token = $2::text AND expires_at > ${N}`;
    this.sql = {
      acquire: new Sql(
        `INSERT INTO ${T} AS t (name, token, fence, expires_at) VALUES ($1::text, $2::text, 1, ${N} + $4::bigint)
         ON CONFLICT (name) DO UPDATE SET token = excluded.token, fence = t.fence + 1, expires_at = excluded.expires_at
         WHERE t.token IS NULL OR t.expires_at <= ${N}
         RETURNING fence, expires_at, ${this.inTime(5)}`,
        true,
      ),
      extend: new Sql(`UPDATE ${T} SET expires_at = ${N} + $4::bigint WHERE ${held} RETURNING ${this.inTime(5)} AS ok`, true),
      release: new Sql(`UPDATE ${T} SET token = NULL, expires_at = 0 WHERE ${held} RETURNING ${this.inTime(4)} AS ok`, true),
      prune: pruneLocksSql(T, postgresDialect.now!(1)),
    };
    this.instrument('lock');
  }

  protected pruneSql(): Sql[] {
    return [this.sql.prune];
  }

  async acquire(name: string, opts: { ttlMs: number } & CallOptions): Promise<Lease | undefined> {
    validateKey(this.source, 'name', name);
    const ttl = validateTtlOption(this.source, opts);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.acquire));
    const token = randomToken();
    const [row] = await this.query<{ fence: number; expires_at: number }>(this.sql.acquire, [name, token, this.nowParam(), ttl], budget);
    return row === undefined ? undefined : { token, fence: row.fence, expiresAt: row.expires_at };
  }

  async extend(name: string, token: string, ttlMs: number, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'name', name);
    validateToken(this.source, 'token', token);
    const ttl = validateDuration(this.source, 'ttlMs', ttlMs);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.extend));
    if (!couldBeToken(token)) return false;
    return (await this.query(this.sql.extend, [name, token, this.nowParam(), ttl], budget)).length > 0;
  }

  async release(name: string, token: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'name', name);
    validateToken(this.source, 'token', token);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.release));
    if (!couldBeToken(token)) return false;
    return (await this.query(this.sql.release, [name, token, this.nowParam()], budget)).length > 0;
  }
}
