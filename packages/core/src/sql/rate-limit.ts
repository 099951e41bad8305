import type { RateLimitDecision } from '../contracts/rate-limit.js';
import { decideAfterConsume } from '../rate-limit/algorithms.js';
import type { NormalizedPolicy } from '../rate-limit/policy.js';
import { RATE_LIMIT_VARIANTS, rateLimitCode, stateFromColumns, type RateLimitState, type RateLimitVariant } from '../rate-limit/state.js';
import { anchoredOutcome } from './anchored-window.js';

/** What differs between the SQL of SQLite and PostgreSQL here. */
export interface SqlDialect {
  /** The n-th (1-based) bound parameter, typed. */
  param(n: number, type: 'text' | 'bigint'): string;
  greatest(a: string, b: string): string;
  /**
   * The current time from the n-th parameter; a dialect may fall back to the server's clock
   * when the parameter is NULL. Must be stable within one statement. @default the parameter
   */
  now?(n: number): string;
  /**
   * The time an upsert of an existing row decides at, given the row (`table`) and the n-th
   * parameter. The statement reads the time before it waits for the row's lock, so a call that
   * read the clock first may write after one that read it later: with the server's clock,
   * PostgreSQL takes the later of its own reading and the row's last decision (`at`), so time at
   * a key never goes back and no answer announces a reset past its window. @default `excluded.at`
   */
  decidedAt?(table: string, n: number): string;
}

/**
 * SQLite: named parameters `@p1`, `@p2`... Bind them with {@link namedParams}, which passes
 * integers as BigInt: a JS number binds as REAL and `/` would not be integer division.
 */
export const sqliteDialect: SqlDialect = {
  param: (n) => `@p${n}`,
  greatest: (a, b) => `max(${a}, ${b})`,
};

/**
 * PostgreSQL: `$n` parameters. The time is the parameter, or when it is NULL the server's
 * clock in epoch ms, read once per statement (`statement_timestamp()`), so replicas with
 * skewed clocks agree.
 */
export const postgresDialect: SqlDialect = {
  param: (n, type) => `$${n}::${type}`,
  greatest: (a, b) => `GREATEST(${a}, ${b})`,
  now: (n) => `COALESCE($${n}::bigint, ${PG_SERVER_NOW})`,
  decidedAt: (table, n) => `(CASE WHEN $${n}::bigint IS NULL THEN GREATEST(excluded.at, ${table}.at) ELSE excluded.at END)`,
};

/** The PostgreSQL server's time in integer epoch ms, stable within a statement. */
export const PG_SERVER_NOW = `floor(extract(epoch from statement_timestamp()) * 1000)::bigint`;

const nowOf = (d: SqlDialect, n: number): string => (d.now ? d.now(n) : d.param(n, 'bigint'));

/**
 * SQL expressions for one policy's inputs; `mark`, `used`, `previous` are the live state's
 * columns (see `RateLimitStateColumns` of core), or NULL when there is none.
 */
export interface Inputs {
  now: string;
  lim: string;
  win: string;
  /** The policy's capacity; for `anchored-window` its `threshold` (see `NormalizedPolicy.threshold`). */
  cap: string;
  cost: string;
  mark: string;
  used: string;
  previous: string;
}

/** What a consume computes for one policy, as SQL expressions: the admission test and the new state's columns. */
export interface Outcome {
  fits: string;
  mark: string;
  used: string;
  previous: string;
  /**
   * The new state's expiry in epoch ms, from its own mark or window (`stateExpiresAt` of
   * core): never from `now`, which may stand behind the mark after the clock stepped back.
   */
  expires: string;
}

/**
 * The reference arithmetic of `evaluateRateLimit` for one algorithm, in SQL integers
 * (64-bit in SQLite and PostgreSQL: `/` on non-negative integers is exact floor division).
 */
function outcome(algorithm: RateLimitVariant, d: SqlDialect, x: Inputs): Outcome {
  if (algorithm.startsWith('anchored-window:')) return anchoredOutcome(algorithm, d, x);
  const { now, lim, win, cap, cost } = x;
  if (algorithm === 'gcra') {
    const [debt, at] = [x.used, x.mark];
    const elapsed = d.greatest(`${now} - ${at}`, '0');
    const drained = `${debt} IS NULL OR ${debt} <= 0 OR ${elapsed} >= (${debt} + ${lim} - 1) / ${lim}`;
    const owed = `(CASE WHEN ${drained} THEN 0 ELSE ${debt} - ${elapsed} * ${lim} END)`;
    const mark = `(CASE WHEN ${debt} IS NULL OR ${debt} <= 0 THEN ${now} ELSE ${d.greatest(now, at)} END)`;
    const after = `(${owed} + ${cost} * ${win})`;
    const expires = `${mark} + (${after} + ${lim} - 1) / ${lim}`;
    return { fits: `${after} <= ${cap} * ${win}`, mark, used: after, previous: '0', expires };
  }
  const [window, count, previousCount] = [x.mark, x.used, x.previous];
  const cur = `(${now} / ${win})`;
  const sameOrLater = `${window} IS NOT NULL AND ${window} >= ${cur}`;
  const used = `(CASE WHEN ${sameOrLater} THEN ${count} ELSE 0 END)`;
  const mark = `(CASE WHEN ${window} IS NOT NULL AND ${window} > ${cur} THEN ${window} ELSE ${cur} END)`;
  // For the window algorithms the capacity is the limit. `cap = lim` always holds; it is
  // written out so every parameter is referenced (PostgreSQL must see each one to type it).
  if (algorithm === 'fixed-window') {
    const fits = `${used} + ${cost} <= ${lim} AND ${cap} = ${lim}`;
    return { fits, mark, used: `${used} + ${cost}`, previous: '0', expires: `(${mark} + 1) * ${win}` };
  }
  const prev = `(CASE WHEN ${window} IS NULL THEN 0 WHEN ${window} >= ${cur} THEN ${previousCount}
    WHEN ${window} = ${cur} - 1 THEN ${count} ELSE 0 END)`;
  const elapsed = `(CASE WHEN ${window} IS NOT NULL AND ${window} > ${cur} THEN 0 ELSE ${now} - ${cur} * ${win} END)`;
  const weight = `(CASE WHEN ${prev} = 0 THEN 0 ELSE ${prev} * (${win} - ${elapsed}) / ${win} END)`;
  const after = `(${used} + ${cost})`;
  return {
    fits: `${weight} + ${after} <= ${lim} AND ${cap} = ${lim}`,
    mark,
    used: after,
    previous: prev,
    expires: `(${mark} + 2) * ${win} - (${win} + ${after} - 1) / ${after} + 1`,
  };
}

/**
 * One SQL statement that consumes from one policy of one key with the reference arithmetic:
 * an upsert whose `DO UPDATE ... WHERE` is the admission test. It returns the new state
 * (`mark, used, previous`) and the time it decided at (`now`) when the call is allowed, and no row when it
 * is denied (nothing written: read the state and let `evaluateRateLimit` explain the denial).
 * A missing or expired row counts as no state.
 *
 * The time is computed once, into the inserted row's `at` column, and the update reads it
 * back as `excluded.at` (or the dialect's {@link SqlDialect.decidedAt}): written out at each
 * use, PostgreSQL would evaluate the clock expression some twenty times per call.
 * Parameters: {@link rateLimitSingleParams}.
 */
export function rateLimitSingleSql(dialect: SqlDialect, table: string, algorithm: RateLimitVariant): string {
  const p = dialect.param;
  const base = { lim: p(4, 'bigint'), win: p(5, 'bigint'), cap: p(6, 'bigint'), cost: p(7, 'bigint') };
  const fresh = outcome(algorithm, dialect, { ...base, now: 'n.now', mark: 'NULL', used: 'NULL', previous: 'NULL' });
  const at = dialect.decidedAt?.(table, 2) ?? 'excluded.at';
  const live = (column: string) => `(CASE WHEN ${table}.expires_at > ${at} THEN ${table}.${column} END)`;
  const stored = { mark: live('mark'), used: live('used'), previous: live('previous') };
  const kept = outcome(algorithm, dialect, { ...base, now: at, ...stored });
  return `INSERT INTO ${table} (key, policy, mark, used, previous, expires_at, at)
SELECT ${p(1, 'text')}, ${p(3, 'text')}, ${fresh.mark}, ${fresh.used}, ${fresh.previous}, ${fresh.expires}, n.now
FROM (SELECT ${nowOf(dialect, 2)} AS now) AS n WHERE true
ON CONFLICT (key, policy) DO UPDATE SET mark = ${kept.mark}, used = ${kept.used}, previous = ${kept.previous},
  expires_at = ${kept.expires}, at = ${at}
WHERE ${kept.fits}
RETURNING mark, used, previous, at AS now`;
}

/** The parameters of {@link rateLimitSingleSql}, in order. */
export function rateLimitSingleParams(key: string, now: number | null, policy: NormalizedPolicy, cost: number): unknown[] {
  return [key, now, policy.id, policy.limit, policy.windowMs, policy.threshold, cost];
}

/** Where {@link rateLimitManySql} takes its inputs from. */
export interface ManySource {
  /** A FROM item named `policies` giving `(id, alg, lim, win, cap, cost)` rows, one per policy. */
  policies: string;
  /** CTEs the FROM item needs (`name (columns) AS (...)`). */
  with?: string;
  /** The key, as an SQL expression. */
  key: string;
  /** The time, as an SQL expression stable within the statement. */
  now: string;
  /**
   * Compare-and-swap each upsert against the row the statement read (for PostgreSQL, where
   * rows may change between the statement's snapshot and its writes): a row that changed is
   * left alone, so fewer rows come back than policies and the caller must roll back and retry.
   */
  guarded?: boolean;
}

/**
 * One SQL statement that consumes from several policies of one key, all or none: the
 * policies' rows are read and decided in CTEs, and every new state is upserted only if every
 * policy admits the call. Returns `policy, mark, used, previous, now` per policy when allowed, no row when
 * denied. The policies' `alg` is their `rateLimitCode` number, `cap` their `threshold`. With the default
 * source, parameters are {@link rateLimitManyParams}.
 */
export function rateLimitManySql(dialect: SqlDialect, table: string, count: number, from?: ManySource): string {
  const p = dialect.param;
  const source: ManySource = from ?? {
    with: `policies (id, alg, lim, win, cap, cost) AS (VALUES ${Array.from({ length: count }, (_, i) => {
      const n = 3 + i * 6;
      const numbers = [1, 2, 3, 4, 5].map((j) => p(n + j, 'bigint'));
      return `(${[p(n, 'text'), ...numbers].join(', ')})`;
    }).join(', ')})`,
    policies: 'policies',
    key: p(1, 'text'),
    now: nowOf(dialect, 2),
  };
  // In `decided`, the time is the `now` column of `current`; in `current`, that of `n`.
  const stored = { mark: 'live_mark', used: 'live_used', previous: 'live_previous' };
  const x = { now: 'now', lim: 'lim', win: 'win', cap: 'cap', cost: 'cost', ...stored };
  const by = (pick: (o: Outcome) => string) =>
    `CASE alg ${RATE_LIMIT_VARIANTS.map((a, code) => `WHEN ${code} THEN ${pick(outcome(a, dialect, x))}`).join(' ')} END`;
  const live = (c: string) => `CASE WHEN r.expires_at > n.now THEN r.${c} END AS live_${c}`;
  const unchanged = (c: string) => `d.old_${c} IS NOT DISTINCT FROM ${table}.${c}`;
  const guard = source.guarded
    ? `
WHERE EXISTS (SELECT 1 FROM decided d WHERE d.id = ${table}.policy AND ${unchanged('mark')}
    AND ${unchanged('used')} AND ${unchanged('previous')} AND ${unchanged('expires_at')})`
    : '';
  return `WITH ${source.with ? `${source.with},` : ''}
  n AS (SELECT ${source.now} AS now),
  decided AS (
    SELECT id, ${by((o) => o.fits)} AS fits, ${by((o) => o.mark)} AS new_mark, ${by((o) => o.used)} AS new_used,
      ${by((o) => o.previous)} AS new_previous, ${by((o) => o.expires)} AS new_expires_at,
      old_mark, old_used, old_previous, old_expires_at, now
    FROM (SELECT policies.*, n.now, ${live('mark')}, ${live('used')}, ${live('previous')},
            r.mark AS old_mark, r.used AS old_used, r.previous AS old_previous, r.expires_at AS old_expires_at
          FROM n CROSS JOIN ${source.policies} LEFT JOIN ${table} r ON r.key = ${source.key} AND r.policy = policies.id) AS current
  )
INSERT INTO ${table} (key, policy, mark, used, previous, expires_at, at)
SELECT ${source.key}, id, new_mark, new_used, new_previous, new_expires_at, now FROM decided
WHERE NOT EXISTS (SELECT 1 FROM decided WHERE fits IS NOT TRUE)
ON CONFLICT (key, policy) DO UPDATE SET mark = excluded.mark, used = excluded.used, previous = excluded.previous,
  expires_at = excluded.expires_at, at = excluded.at${guard}
RETURNING policy, mark, used, previous, at AS now`;
}

/** The parameters of {@link rateLimitManySql}, in order. */
export function rateLimitManyParams(key: string, now: number | null, policies: readonly NormalizedPolicy[], cost: number): unknown[] {
  const out: unknown[] = [key, now];
  for (const p of policies) out.push(p.id, rateLimitCode(p), p.limit, p.windowMs, p.threshold, cost);
  return out;
}

/** A row of the rate-limit table as the statements return it (a driver may give integers as strings). */
export interface RateLimitStateRow {
  /** The policy id; absent from the rows of a single-policy statement. */
  policy?: string | null;
  mark: number | string;
  used: number | string;
  previous: number | string;
}

/** The decision of an allowed call, from the states the statement returned. */
export function rateLimitDecisionFromRows(
  policies: readonly NormalizedPolicy[],
  rows: readonly RateLimitStateRow[],
  now: number,
): RateLimitDecision {
  // A single-policy statement returns its one row without the policy column.
  const states = policies.map((p): RateLimitState | undefined => {
    const r = policies.length === 1 ? rows[0] : rows.find((row) => row.policy === p.id);
    return r === undefined ? undefined : stateFromColumns(p.algorithm, r.mark, r.used, r.previous);
  });
  return decideAfterConsume(policies, states, now);
}

/** Positional values as the `{ p1, p2, ... }` object SQLite's named parameters bind (integers as BigInt). */
export function namedParams(values: readonly unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    out[`p${i + 1}`] = typeof v === 'number' ? BigInt(v) : v;
  }
  return out;
}
