import {
  deadlineOf,
  evaluateRateLimit,
  normalizePolicies,
  postgresDialect,
  rateLimitDecisionFromRows,
  rateLimitSingleParams,
  rateLimitSingleSql,
  validateCost,
  validateKey,
  validateOptions,
  type CallBudget,
  type CallOptions,
  type NormalizedPolicy,
  type RateLimitAlgorithm,
  type RateLimitConsumeOptions,
  type RateLimitDecision,
  type RateLimitPolicy,
  type RateLimitState,
  type RateLimitStore,
} from '@stowage/core';
import { isRetryable, PgStoreBase, pruneSql, Sql, type PostgresStoreOptions } from './base.js';
import { rateLimitFunctionName } from './schema.js';

interface Row {
  policy: string | null;
  a: number | null;
  b: number | null;
  c: number | null;
  now: number;
}

const ALGORITHM_CODE = { gcra: 0, 'fixed-window': 1, 'sliding-window': 2 } as const;

/** How often a consume retries when a denial it saw was undone before it could explain it. */
const ATTEMPTS = 50;

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
  private readonly single: Record<RateLimitAlgorithm, Sql>;
  private readonly many: Sql;
  private readonly read: Sql;
  private readonly resetSql: Sql;

  constructor(options: PostgresStoreOptions) {
    super('PostgresRateLimitStore', options);
    const T = this.t.table('rate_limits');
    // The shared upsert (7 parameters) in a CTE, so its RETURNING rows pass the check ($8).
    const single = (algorithm: RateLimitAlgorithm) =>
      new Sql(`WITH w AS (${rateLimitSingleSql(postgresDialect, T, algorithm)}) SELECT a, b, c, now FROM w WHERE ${this.inTime(8)}`, true);
    this.single = { gcra: single('gcra'), 'fixed-window': single('fixed-window'), 'sliding-window': single('sliding-window') };
    const N = postgresDialect.now!(2);
    // The key's live states and the time they were read at (one row even when there is none).
    this.read = new Sql(
      `SELECT r.policy, r.a, r.b, r.c, n.now FROM (SELECT ${N} AS now) n
       LEFT JOIN ${T} r ON r.key = $1::text AND r.expires_at > n.now`,
    );
    this.resetSql = new Sql(`DELETE FROM ${T} WHERE key = $1::text RETURNING ${this.inTime(2)}`, true);
    // The function has written every row it returns when the filter runs on them.
    this.many = new Sql(
      `SELECT policy, a, b, c, now FROM ${rateLimitFunctionName(this.t)}($1::text, $2::bigint, $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint)
       WHERE ${this.inTime(9)}`,
      true,
    );
  }

  protected pruneSql(): Sql[] {
    return [pruneSql(this.t.table('rate_limits'), 'expires_at <= $now', 'key, policy', postgresDialect.now!(1))];
  }

  private async states(key: string, policies: readonly NormalizedPolicy[], now: number | null, budget: CallBudget) {
    const rows = await this.query<Row>(this.read, [key, now], budget);
    const states = policies.map((p): RateLimitState | undefined => {
      for (const r of rows) if (r.policy === p.id) return [r.a!, r.b!, r.c!];
      return undefined;
    });
    return { states, now: rows[0]!.now };
  }

  async consume(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[], opts?: RateLimitConsumeOptions): Promise<RateLimitDecision> {
    validateKey(this.source, 'key', key);
    const policies = normalizePolicies(this.source, policy);
    const cost = validateCost(this.source, validateOptions<RateLimitConsumeOptions>(this.source, 'opts', opts).cost, policies);
    const budget = this.budget(deadlineOf(this.source, opts));
    const n = policies.length;
    const sql = n === 1 ? this.single[policies[0]!.algorithm] : this.many;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const now = this.nowParam();
      const params =
        n === 1
          ? rateLimitSingleParams(key, now, policies[0]!, cost)
          : [key, now, policies.map((p) => p.id), policies.map((p) => ALGORITHM_CODE[p.algorithm]), policies.map((p) => p.limit),
             policies.map((p) => p.windowMs), policies.map((p) => p.capacity), cost];
      let rows: Row[];
      try {
        rows = await this.query<Row>(sql, params, budget);
      } catch (err) {
        if (isRetryable((err as { cause?: unknown }).cause)) continue;
        throw err;
      }
      if (rows.length > 0) return rateLimitDecisionFromRows(policies, rows as never, rows[0]!.now);
      const seen = await this.states(key, policies, now, budget);
      const denied = evaluateRateLimit(policies, seen.states, seen.now, cost, false);
      if (!denied.decision.allowed) return denied.decision;
      // Another replica freed capacity between the two statements: consume again.
    }
    throw this.source.error('TIMEOUT', `consume did not settle after ${ATTEMPTS} attempts`);
  }

  async peek(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[], opts?: CallOptions): Promise<RateLimitDecision> {
    validateKey(this.source, 'key', key);
    const policies = normalizePolicies(this.source, policy);
    const budget = this.budget(deadlineOf(this.source, opts));
    const seen = await this.states(key, policies, this.nowParam(), budget);
    return evaluateRateLimit(policies, seen.states, seen.now, 1, false).decision;
  }

  async reset(key: string, opts?: CallOptions): Promise<void> {
    validateKey(this.source, 'key', key);
    await this.query(this.resetSql, [key], this.budget(deadlineOf(this.source, opts)));
  }
}
