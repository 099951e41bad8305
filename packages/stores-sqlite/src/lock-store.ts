import type { CallOptions, Lease, LockStore } from '@stowage/core';
import { STORE_CALLS, randomToken, validateDuration, validateKey, validateToken, validateTtlOption } from '@stowage/core/adapter-kit';
import type { Statement } from 'better-sqlite3';
import { SqliteStoreBase, type SqliteStoreOptions, writeReturning } from './base.js';

const CALLS = STORE_CALLS.lock;

interface Statements {
  acquire: Statement;
  extend: Statement;
  release: Statement;
}

/**
 * {@link LockStore} on better-sqlite3. A name's row stays after release and expiry, holding
 * its fence counter; `prune()` only clears the tokens of expired leases.
 */
export class SqliteLockStore extends SqliteStoreBase<Statements> implements LockStore {
  protected readonly component = 'locks';

  constructor(options: SqliteStoreOptions) {
    super('SqliteLockStore', options);
    this.instrument('lock');
  }

  protected prepare(): Statements {
    const t = `${this.prefix}locks`;
    return {
      acquire: this.db.prepare(
        `INSERT INTO ${t} (name, token, fence, expires_at) VALUES (@name, @token, 1, @now + @ttl)
         ON CONFLICT (name) DO UPDATE SET token = excluded.token, fence = ${t}.fence + 1, expires_at = excluded.expires_at
         WHERE ${t}.token IS NULL OR ${t}.expires_at <= @now
         RETURNING fence, expires_at`,
      ),
      extend: this.db.prepare(`UPDATE ${t} SET expires_at = @now + @ttl WHERE name = @name AND token = @token AND expires_at > @now`),
      release: this.db.prepare(`UPDATE ${t} SET token = NULL, expires_at = 0 WHERE name = @name AND token = @token AND expires_at > @now`),
    };
  }

  protected pruneStatements(): string[] {
    const t = `${this.prefix}locks`;
    return [
      `UPDATE ${t} SET token = NULL, expires_at = 0 ` +
        `WHERE name IN (SELECT name FROM ${t} WHERE token IS NOT NULL AND expires_at <= ? LIMIT ?)`,
    ];
  }

  async acquire(name: string, opts: { ttlMs: number } & CallOptions): Promise<Lease | undefined> {
    validateKey(this.source, 'name', name);
    const ttl = validateTtlOption(this.source, opts);
    const token = randomToken();
    return this.op(
      (s, now) => {
        const row = writeReturning<{ fence: number; expires_at: number }>(s.acquire, { name, token, now, ttl });
        return row === undefined ? undefined : { token, fence: row.fence, expiresAt: row.expires_at };
      },
      opts,
      CALLS.acquire,
    );
  }

  async extend(name: string, token: string, ttlMs: number, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'name', name);
    validateToken(this.source, 'token', token);
    const ttl = validateDuration(this.source, 'ttlMs', ttlMs);
    return this.op((s, now) => s.extend.run({ name, token, now, ttl }).changes > 0, opts, CALLS.extend);
  }

  async release(name: string, token: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'name', name);
    validateToken(this.source, 'token', token);
    return this.op((s, now) => s.release.run({ name, token, now }).changes > 0, opts, CALLS.release);
  }
}
