import type { CallOptions, RateLimitConsumeOptions, RateLimitDecision, RateLimitPolicy, RateLimitStore } from '@stowage/core';
import {
  STORE_CALLS,
  deadlineOf,
  evaluateRateLimit,
  postgresDialect,
  RATE_LIMIT_VARIANTS,
  rateLimitCode,
  rateLimitVariant,
  type RateLimitVariant,
  rateLimitSingleParams,
  rateLimitSingleSql,
  settleConsume,
  stateFromColumns,
  type ConsumeRows,
  validateKey,
  type CallBudget,
  type NormalizedPolicy,
  type RateLimitState,
  validateRateLimitArgs,
} from '@stowage/core/adapter-kit';
import { isRetryable, PgStoreBase, Sql, type PostgresStoreOptions } from './base.js';
import { pruneSql } from './prune.js';
import { rateLimitFunctionName } from './schema.js';

const CALLS = STORE_CALLS.rateLimit;

/** A live state of the key, or (no state at all) one row of NULLs with the time. */
interface Row {
  policy: string | null;
  mark: number | null;
  used: number | null;
  previous: number | null;
  now: number;
}

/**
 * {@link RateLimitStore} on PostgreSQL. A `consume` is one statement, shared with the SQLite
 * store: the reference arithmetic of `@stowage/core` in SQL integers, an upsert whose
 * `WHERE` is the admission test; the row lock of `INSERT ... ON CONFLICT DO UPDATE` serializes
 * replicas on a key and its `SET` works on the locked row. Several policies go through one
 * function call (see `schema.ts` for why). Only a denied call reads again, for its retry time.
 * Each writing statement refuses, on the server, to finish past the call's deadline: the
 * upsert's output passes through `<prefix>check_deadline`.
 */
export class PostgresRateLimitStore extends PgStoreBase implements RateLimitStore {
  protected readonly component = 'rate_limits';
  private readonly single: Record<RateLimitVariant, Sql>;
  private readonly many: Sql;
  private readonly read: Sql;
  private readonly resetSql: Sql;

  constructor(options: PostgresStoreOptions) {
    super('PostgresRateLimitStore', options);
    const T = this.t.table('rate_limits');
    // The shared upsert (7 parameters) in a CTE, so its RETURNING rows pass the check ($8).
    const single = (algorithm: RateLimitVariant) =>
      new Sql(
        `WITH w AS (${rateLimitSingleSql(postgresDialect, T, algorithm)}) SELECT mark, used, previous, now FROM w WHERE ${this.inTime(8)}`,
        true,
      );
    this.single = Object.fromEntries(RATE_LIMIT_VARIANTS.map((v) => [v, single(v)])) as Record<RateLimitVariant, Sql>;
    const N = postgresDialect.now!(2);
    // The key's live states and the time they were read at (one row even when there is none).
    this.read = new Sql(
      `SELECT r.policy, r.mark, r.used, r.previous, n.now FROM (SELECT ${N} AS now) n
       LEFT JOIN ${T} r ON r.key = $1::text AND r.expires_at > n.now`,
    );
    this.resetSql = new Sql(`DELETE FROM ${T} WHERE key = $1::text RETURNING ${this.inTime(2)}`, true);
    // The function's arguments: key, now, the policies' ids, variant codes, limits, windows and
    // capacities (thresholds), and the cost.
    const args = '$1::text, $2::bigint, $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint';
    // The function has written every row it returns when the filter runs on them.
    this.many = new Sql(
      `SELECT policy, mark, used, previous, now FROM ${rateLimitFunctionName(this.t)}(${args})
       WHERE ${this.inTime(9)}`,
      true,
    );
    this.instrument('rate-limit');
  }

  protected pruneSql(): Sql[] {
    return [pruneSql(this.t.table('rate_limits'), postgresDialect.now!(1))];
  }

  private async states(key: string, policies: readonly NormalizedPolicy[], now: number | null, budget: CallBudget) {
    const rows = await this.query<Row>(this.read, [key, now], budget);
    const states = policies.map((p): RateLimitState | undefined => {
      for (const r of rows) if (r.policy === p.id) return stateFromColumns(p.algorithm, r.mark!, r.used!, r.previous!);
      return undefined;
    });
    return { states, now: rows[0]!.now };
  }

  async consume(
    key: string,
    policy: RateLimitPolicy | readonly RateLimitPolicy[],
    opts?: RateLimitConsumeOptions,
  ): Promise<RateLimitDecision> {
    const { policies, cost } = validateRateLimitArgs(this.source, key, policy, opts, true);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.consume));
    const n = policies.length;
    const sql = n === 1 ? this.single[rateLimitVariant(policies[0]!)] : this.many;
    // Each run reads the clock again: a run repeated after a conflict decides at its own time.
    let now: number | null = null;
    return settleConsume(this.source, policies, cost, {
      consume: async () => {
        now = this.nowParam();
        const params =
          n === 1
            ? rateLimitSingleParams(key, now, policies[0]!, cost)
            : [
                key,
                now,
                policies.map((p) => p.id),
                policies.map((p) => rateLimitCode(p)),
                policies.map((p) => p.limit),
                policies.map((p) => p.windowMs),
                // The capacity, or an anchored window's threshold (the statement's `cap`).
                policies.map((p) => p.threshold),
                cost,
              ];
        try {
          return await this.query<ConsumeRows[number]>(sql, params, budget);
        } catch (err) {
          // A serialization failure or deadlock rolled the statement back: it may run again.
          if (isRetryable((err as { cause?: unknown }).cause)) return undefined;
          throw err;
        }
      },
      read: () => this.states(key, policies, now, budget),
    });
  }

  async peek(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[], opts?: CallOptions): Promise<RateLimitDecision> {
    const { policies } = validateRateLimitArgs(this.source, key, policy, opts, false);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.peek));
    const seen = await this.states(key, policies, this.nowParam(), budget);
    return evaluateRateLimit(policies, seen.states, seen.now, 1, false).decision;
  }

  async reset(key: string, opts?: CallOptions): Promise<void> {
    validateKey(this.source, 'key', key);
    await this.query(this.resetSql, [key], this.budget(deadlineOf(this.source, opts, CALLS.reset)));
  }
}
