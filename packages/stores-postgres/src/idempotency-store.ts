import type { CallOptions, IdempotencyStore, Reservation, StoredResponse } from '@stowage/core';
import {
  STORE_CALLS,
  couldBeToken,
  deadlineOf,
  decodeStoredResponse,
  encodeStoredResponse,
  postgresDialect,
  randomToken,
  validateCompleteArgs,
  validateDuration,
  validateHolderArgs,
  validateReserveArgs,
  sizeLimit,
  type IdempotencySizeOptions,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import { PgStoreBase, Sql, type PostgresStoreOptions } from './base.js';
import { pruneSql } from './prune.js';

const CALLS = STORE_CALLS.idempotency;

export interface PostgresIdempotencyStoreOptions extends PostgresStoreOptions, IdempotencySizeOptions {}

interface ReserveRow {
  claimed: string | null;
  fingerprint: string | null;
  response: Buffer | null;
  retry: number | null;
}

/**
 * How often `reserve` runs its statement before giving up. It runs again only when the row
 * that refused the claim was committed after the statement's snapshot, so the snapshot cannot
 * show it: each repeat needs another replica to commit a change to this key in that gap. 20 in
 * a row means a writer that never pauses; the caller gets `TIMEOUT` (nothing reserved).
 */
const RESERVE_ATTEMPTS = 20;

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<PostgresIdempotencyStoreOptions, PostgresStoreOptions> = { maxResponseBytes: true };

/** {@link IdempotencyStore} on PostgreSQL: one statement per operation. */
export class PostgresIdempotencyStore extends PgStoreBase implements IdempotencyStore {
  protected readonly component = 'idempotency';
  private readonly maxResponseBytes: number;
  private readonly sql: Record<'reserve' | 'complete' | 'release' | 'extend', Sql>;

  constructor(options: PostgresIdempotencyStoreOptions) {
    super('PostgresIdempotencyStore', options, OWN_OPTIONS);
    this.maxResponseBytes = sizeLimit(this.source, options, 'maxResponseBytes');
    const T = this.t.table('idempotency');
    const N = postgresDialect.now!(5);
    const held = (now: string) => `scope = $1::text AND key = $2::text AND token = $3::text AND expires_at > ${now}`;
    this.sql = {
      // Claim (insert, or take over an expired row: exactly one concurrent caller wins) and, in
      // the same statement, report the live row when the claim failed.
      reserve: new Sql(
        `WITH claim AS (
           INSERT INTO ${T} AS t (scope, key, fingerprint, token, response, expires_at)
           VALUES ($1::text, $2::text, $3::text, $4::text, NULL, ${N} + $6::bigint)
           ON CONFLICT (scope, key) DO UPDATE SET
             fingerprint = excluded.fingerprint, token = excluded.token, response = NULL, expires_at = excluded.expires_at
           WHERE t.expires_at <= ${N}
           RETURNING token, ${this.inTime(7)}
         )
         SELECT (SELECT token FROM claim) AS claimed, cur.fingerprint, cur.response, cur.expires_at - ${N} AS retry
         FROM (SELECT 1) AS one LEFT JOIN ${T} cur ON cur.scope = $1::text AND cur.key = $2::text AND cur.expires_at > ${N}`,
        true,
      ),
      complete: new Sql(
        `UPDATE ${T} SET token = NULL, response = $4::bytea, expires_at = ${N} + $6::bigint ` +
          `WHERE ${held(N)} RETURNING ${this.inTime(7)} AS ok`,
        true,
      ),
      release: new Sql(`DELETE FROM ${T} WHERE ${held(postgresDialect.now!(4))} RETURNING ${this.inTime(5)} AS ok`, true),
      extend: new Sql(`UPDATE ${T} SET expires_at = ${N} + $4::bigint WHERE ${held(N)} RETURNING ${this.inTime(6)} AS ok`, true),
    };
    this.instrument('idempotency');
  }

  protected pruneSql(): Sql[] {
    return [pruneSql(this.t.table('idempotency'), postgresDialect.now!(1))];
  }

  async reserve(scope: string, key: string, fingerprint: string, opts: { leaseMs: number } & CallOptions): Promise<Reservation> {
    const lease = validateReserveArgs(this.source, scope, key, fingerprint, opts);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.reserve));
    const token = randomToken();
    for (let attempt = 0; attempt < RESERVE_ATTEMPTS; attempt++) {
      const [row] = await this.query<ReserveRow>(this.sql.reserve, [scope, key, fingerprint, token, this.nowParam(), lease], budget);
      if (row!.claimed !== null) return { state: 'reserved', token };
      // The row that refused the claim was committed after this statement's snapshot: ask again.
      if (row!.fingerprint === null) continue;
      if (row!.fingerprint !== fingerprint) return { state: 'mismatch' };
      if (row!.response !== null) return { state: 'completed', response: decodeStoredResponse(this.source, row!.response) };
      return { state: 'in-flight', retryAfterMs: row!.retry! };
    }
    const why = 'other writers kept changing the key';
    throw this.source.error('TIMEOUT', `reserve did not settle after ${RESERVE_ATTEMPTS} claims: ${why}`);
  }

  async complete(
    scope: string,
    key: string,
    token: string,
    response: StoredResponse,
    opts: { retentionMs: number } & CallOptions,
  ): Promise<boolean> {
    const { stored, retentionMs: retention } = validateCompleteArgs(this.source, scope, key, token, response, opts, this.maxResponseBytes);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.complete));
    if (!couldBeToken(token)) return false;
    const rows = await this.query(this.sql.complete, [scope, key, token, encodeStoredResponse(stored), this.nowParam(), retention], budget);
    return rows.length > 0;
  }

  async release(scope: string, key: string, token: string, opts?: CallOptions): Promise<boolean> {
    validateHolderArgs(this.source, scope, key, token);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.release));
    if (!couldBeToken(token)) return false;
    return (await this.query(this.sql.release, [scope, key, token, this.nowParam()], budget)).length > 0;
  }

  async extend(scope: string, key: string, token: string, leaseMs: number, opts?: CallOptions): Promise<boolean> {
    validateHolderArgs(this.source, scope, key, token);
    const lease = validateDuration(this.source, 'leaseMs', leaseMs);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.extend));
    if (!couldBeToken(token)) return false;
    return (await this.query(this.sql.extend, [scope, key, token, lease, this.nowParam()], budget)).length > 0;
  }
}
