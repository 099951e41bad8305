import {
  MAX_POLICIES,
  type CallOptions,
  type RateLimitConsumeOptions,
  type RateLimitDecision,
  type RateLimitPolicy,
  type RateLimitStore,
} from '@stowage/core';
import {
  STORE_CALLS,
  evaluateRateLimit,
  namedParams,
  rateLimitManyParams,
  rateLimitManySql,
  rateLimitSingleParams,
  rateLimitSingleSql,
  rateLimitVariant,
  RATE_LIMIT_VARIANTS,
  type RateLimitVariant,
  settleConsumeSync,
  sqliteDialect,
  stateFromColumns,
  type ConsumeRows,
  validateKey,
  type NormalizedPolicy,
  type RateLimitState,
  validateRateLimitArgs,
} from '@stowage/core/adapter-kit';
import type { Statement } from 'better-sqlite3';
import { SqliteStoreBase, type SqliteStoreOptions } from './base.js';

const CALLS = STORE_CALLS.rateLimit;

interface Row {
  policy: string;
  mark: number;
  used: number;
  previous: number;
}

interface Statements {
  /** One-policy consume, by variant (algorithm, and onExceed for anchored windows). */
  single: Record<RateLimitVariant, Statement>;
  /** Several-policy consume, by number of policies (prepared on first use of each count). */
  many: (Statement | undefined)[];
  read: Statement;
  reset: Statement;
}

/**
 * {@link RateLimitStore} on better-sqlite3. A `consume` is one SQL statement (shared with the
 * PostgreSQL store): for one policy an upsert whose `WHERE` is the admission test, for
 * several a CTE that decides every policy and upserts all or none; a write statement holds SQLite's write lock
 * from its start, so processes sharing the file are serialized. Only a denied call reads the
 * states again to compute its retry time.
 */
export class SqliteRateLimitStore extends SqliteStoreBase<Statements> implements RateLimitStore {
  protected readonly component = 'rate_limits';

  constructor(options: SqliteStoreOptions) {
    super('SqliteRateLimitStore', options);
    this.instrument('rate-limit');
  }

  protected prepare(): Statements {
    const t = `${this.prefix}rate_limits`;
    return {
      single: Object.fromEntries(RATE_LIMIT_VARIANTS.map((v) => [v, this.db.prepare(rateLimitSingleSql(sqliteDialect, t, v))])) as Record<
        RateLimitVariant,
        Statement
      >,
      many: new Array(MAX_POLICIES + 1),
      read: this.db.prepare(`SELECT policy, mark, used, previous FROM ${t} WHERE key = ? AND expires_at > ?`),
      reset: this.db.prepare(`DELETE FROM ${t} WHERE key = ?`),
    };
  }

  private states(s: Statements, key: string, policies: readonly NormalizedPolicy[], now: number): (RateLimitState | undefined)[] {
    const rows = s.read.all(key, now) as Row[];
    return policies.map((p) => {
      for (const r of rows) if (r.policy === p.id) return stateFromColumns(p.algorithm, r.mark, r.used, r.previous);
      return undefined;
    });
  }

  protected pruneStatements(): string[] {
    const t = `${this.prefix}rate_limits`;
    return [`DELETE FROM ${t} WHERE (key, policy) IN (SELECT key, policy FROM ${t} WHERE expires_at <= ? LIMIT ?)`];
  }

  async consume(
    key: string,
    policy: RateLimitPolicy | readonly RateLimitPolicy[],
    opts?: RateLimitConsumeOptions,
  ): Promise<RateLimitDecision> {
    const { policies, cost } = validateRateLimitArgs(this.source, key, policy, opts, true);
    return this.op(
      (s, now) => {
        const n = policies.length;
        const statement =
          n === 1
            ? s.single[rateLimitVariant(policies[0]!)]
            : (s.many[n] ??= this.db.prepare(rateLimitManySql(sqliteDialect, `${this.prefix}rate_limits`, n)));
        const params = namedParams(
          n === 1 ? rateLimitSingleParams(key, now, policies[0]!, cost) : rateLimitManyParams(key, now, policies, cost),
        );
        return settleConsumeSync(this.source, policies, cost, {
          // Stepped to completion (not `.get()`), so SQLite runs its WAL auto-checkpoint.
          consume: () => statement.all(params) as ConsumeRows,
          read: () => ({ states: this.states(s, key, policies, now), now }),
        });
      },
      opts,
      CALLS.consume,
    );
  }

  async peek(key: string, policy: RateLimitPolicy | readonly RateLimitPolicy[], opts?: CallOptions): Promise<RateLimitDecision> {
    const { policies } = validateRateLimitArgs(this.source, key, policy, opts, false);
    return this.op((s, now) => evaluateRateLimit(policies, this.states(s, key, policies, now), now, 1, false).decision, opts, CALLS.peek);
  }

  async reset(key: string, opts?: CallOptions): Promise<void> {
    validateKey(this.source, 'key', key);
    await this.op((s) => s.reset.run(key), opts, CALLS.reset);
  }
}
