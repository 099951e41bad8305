import type { CallOptions, IdempotencyStore, Reservation, StoredResponse } from '@stowage/core';
import {
  STORE_CALLS,
  decodeStoredResponse,
  encodeStoredResponse,
  randomToken,
  validateCompleteArgs,
  validateDuration,
  validateHolderArgs,
  validateReserveArgs,
  sizeLimit,
  type IdempotencySizeOptions,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import type { Statement } from 'better-sqlite3';
import { SqliteStoreBase, type SqliteStoreOptions, writeReturning } from './base.js';

const CALLS = STORE_CALLS.idempotency;

export interface SqliteIdempotencyStoreOptions extends SqliteStoreOptions, IdempotencySizeOptions {}

interface Row {
  fingerprint: string;
  response: Buffer | null;
  expires_at: number;
}

interface Statements {
  claim: Statement;
  current: Statement;
  complete: Statement;
  release: Statement;
  extend: Statement;
}

/**
 * How often `reserve` claims before giving up. A claim runs again only when the row that
 * refused it was released between the claim and the read (same `now`, so expiry cannot do it):
 * each repeat needs another process to take and release the key in that gap. 50 in a row
 * means a writer that never pauses; the caller gets `TIMEOUT` (nothing reserved) instead of
 * a loop that may never end.
 */
const RESERVE_ATTEMPTS = 50;

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<SqliteIdempotencyStoreOptions, SqliteStoreOptions> = { maxResponseBytes: true };

/** {@link IdempotencyStore} on better-sqlite3. */
export class SqliteIdempotencyStore extends SqliteStoreBase<Statements> implements IdempotencyStore {
  protected readonly component = 'idempotency';
  private readonly maxResponseBytes: number;

  constructor(options: SqliteIdempotencyStoreOptions) {
    super('SqliteIdempotencyStore', options, OWN_OPTIONS);
    this.maxResponseBytes = sizeLimit(this.source, options, 'maxResponseBytes');
    this.instrument('idempotency');
  }

  protected prepare(): Statements {
    const t = `${this.prefix}idempotency`;
    const held = `scope = @scope AND key = @key AND token = @token AND expires_at > @now`;
    return {
      // Inserts, or takes over an expired row; exactly one concurrent caller gets the row back.
      claim: this.db.prepare(
        `INSERT INTO ${t} (scope, key, fingerprint, token, response, expires_at)
         VALUES (@scope, @key, @fingerprint, @token, NULL, @now + @lease)
         ON CONFLICT (scope, key) DO UPDATE SET
           fingerprint = excluded.fingerprint, token = excluded.token, response = NULL, expires_at = excluded.expires_at
         WHERE ${t}.expires_at <= @now
         RETURNING token`,
      ),
      current: this.db.prepare(`SELECT fingerprint, response, expires_at FROM ${t} WHERE scope = ? AND key = ? AND expires_at > ?`),
      complete: this.db.prepare(`UPDATE ${t} SET token = NULL, response = @response, expires_at = @now + @retention WHERE ${held}`),
      release: this.db.prepare(`DELETE FROM ${t} WHERE ${held}`),
      extend: this.db.prepare(`UPDATE ${t} SET expires_at = @now + @lease WHERE ${held}`),
    };
  }

  protected pruneStatements(): string[] {
    const t = `${this.prefix}idempotency`;
    return [`DELETE FROM ${t} WHERE rowid IN (SELECT rowid FROM ${t} WHERE expires_at <= ? LIMIT ?)`];
  }

  async reserve(scope: string, key: string, fingerprint: string, opts: { leaseMs: number } & CallOptions): Promise<Reservation> {
    const lease = validateReserveArgs(this.source, scope, key, fingerprint, opts);
    return this.op(
      (s, now): Reservation => {
        const token = randomToken();
        // The claim is atomic; reading the live row after a failed claim may race with its
        // release (in another process), in which case the claim runs again.
        for (let attempt = 0; attempt < RESERVE_ATTEMPTS; attempt++) {
          if (writeReturning(s.claim, { scope, key, fingerprint, token, now, lease }) !== undefined) return { state: 'reserved', token };
          const row = s.current.get(scope, key, now) as Row | undefined;
          if (row === undefined) continue;
          if (row.fingerprint !== fingerprint) return { state: 'mismatch' };
          if (row.response !== null) return { state: 'completed', response: decodeStoredResponse(this.source, row.response) };
          return { state: 'in-flight', retryAfterMs: row.expires_at - now };
        }
        const why = 'other writers kept taking and releasing the key';
        throw this.source.error('TIMEOUT', `reserve did not settle after ${RESERVE_ATTEMPTS} claims: ${why}`);
      },
      opts,
      CALLS.reserve,
    );
  }

  async complete(
    scope: string,
    key: string,
    token: string,
    response: StoredResponse,
    opts: { retentionMs: number } & CallOptions,
  ): Promise<boolean> {
    const { stored, retentionMs: retention } = validateCompleteArgs(this.source, scope, key, token, response, opts, this.maxResponseBytes);
    const encoded = encodeStoredResponse(stored);
    return this.op((s, now) => s.complete.run({ scope, key, token, now, retention, response: encoded }).changes > 0, opts, CALLS.complete);
  }

  async release(scope: string, key: string, token: string, opts?: CallOptions): Promise<boolean> {
    validateHolderArgs(this.source, scope, key, token);
    return this.op((s, now) => s.release.run({ scope, key, token, now }).changes > 0, opts, CALLS.release);
  }

  async extend(scope: string, key: string, token: string, leaseMs: number, opts?: CallOptions): Promise<boolean> {
    validateHolderArgs(this.source, scope, key, token);
    const lease = validateDuration(this.source, 'leaseMs', leaseMs);
    return this.op((s, now) => s.extend.run({ scope, key, token, now, lease }).changes > 0, opts, CALLS.extend);
  }
}
