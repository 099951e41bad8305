import type { RateLimitAlgorithm, RateLimitDecision } from '../contracts/rate-limit.js';
import { decideAfterConsume, type RateLimitState } from '../rate-limit/algorithms.js';
import type { NormalizedPolicy } from '../rate-limit/policy.js';

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
};

/** The PostgreSQL server's time in integer epoch ms, stable within a statement. */
export const PG_SERVER_NOW = `floor(extract(epoch from statement_timestamp()) * 1000)::bigint`;

const nowOf = (d: SqlDialect, n: number): string => (d.now ? d.now(n) : d.param(n, 'bigint'));

/** SQL expressions for one policy's inputs; `ra`/`rb`/`rc` are the live state or NULL. */
interface Inputs {
  now: string;
  lim: string;
  win: string;
  cap: string;
  cost: string;
  ra: string;
  rb: string;
  rc: string;
}

/** What a consume computes for one policy, as SQL expressions. */
interface Outcome {
  fits: string;
  a: string;
  b: string;
  c: string;
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
function outcome(algorithm: RateLimitAlgorithm, d: SqlDialect, x: Inputs): Outcome {
  const { now, lim, win, cap, cost, ra, rb, rc } = x;
  if (algorithm === 'gcra') {
    const elapsed = d.greatest(`${now} - ${rb}`, '0');
    const debt = `(CASE WHEN ${ra} IS NULL OR ${ra} <= 0 OR ${elapsed} >= (${ra} + ${lim} - 1) / ${lim} THEN 0 ELSE ${ra} - ${elapsed} * ${lim} END)`;
    const mark = `(CASE WHEN ${ra} IS NULL OR ${ra} <= 0 THEN ${now} ELSE ${d.greatest(now, rb)} END)`;
    const after = `(${debt} + ${cost} * ${win})`;
    return { fits: `${after} <= ${cap} * ${win}`, a: after, b: mark, c: '0', expires: `${mark} + (${after} + ${lim} - 1) / ${lim}` };
  }
  const cur = `(${now} / ${win})`;
  const sameOrLater = `${ra} IS NOT NULL AND ${ra} >= ${cur}`;
  const used = `(CASE WHEN ${sameOrLater} THEN ${rb} ELSE 0 END)`;
  const mark = `(CASE WHEN ${ra} IS NOT NULL AND ${ra} > ${cur} THEN ${ra} ELSE ${cur} END)`;
  // For the window algorithms the capacity is the limit. `cap = lim` always holds; it is
  // written out so every parameter is referenced (PostgreSQL must see each one to type it).
  if (algorithm === 'fixed-window') {
    return { fits: `${used} + ${cost} <= ${lim} AND ${cap} = ${lim}`, a: mark, b: `${used} + ${cost}`, c: '0', expires: `(${mark} + 1) * ${win}` };
  }
  const prev = `(CASE WHEN ${ra} IS NULL THEN 0 WHEN ${ra} >= ${cur} THEN ${rc} WHEN ${ra} = ${cur} - 1 THEN ${rb} ELSE 0 END)`;
  const elapsed = `(CASE WHEN ${ra} IS NOT NULL AND ${ra} > ${cur} THEN 0 ELSE ${now} - ${cur} * ${win} END)`;
  const weight = `(CASE WHEN ${prev} = 0 THEN 0 ELSE ${prev} * (${win} - ${elapsed}) / ${win} END)`;
  const count = `(${used} + ${cost})`;
  return {
    fits: `${weight} + ${count} <= ${lim} AND ${cap} = ${lim}`,
    a: mark,
    b: count,
    c: prev,
    expires: `(${mark} + 2) * ${win} - (${win} + ${count} - 1) / ${count} + 1`,
  };
}

/**
 * One SQL statement that consumes from one policy of one key with the reference arithmetic:
 * an upsert whose `DO UPDATE ... WHERE` is the admission test. It returns the new state
 * (`a, b, c`) and the time it decided at (`now`) when the call is allowed, and no row when it
 * is denied (nothing written: read the state and let `evaluateRateLimit` explain the denial).
 * A missing or expired row counts as no state.
 *
 * The time is computed once, into the inserted row's `at` column, and the update reads it
 * back as `excluded.at`: written out at each use, PostgreSQL would evaluate the clock
 * expression some twenty times per call. Parameters: {@link rateLimitSingleParams}.
 */
export function rateLimitSingleSql(dialect: SqlDialect, table: string, algorithm: RateLimitAlgorithm): string {
  const p = dialect.param;
  const base = { lim: p(4, 'bigint'), win: p(5, 'bigint'), cap: p(6, 'bigint'), cost: p(7, 'bigint') };
  const fresh = outcome(algorithm, dialect, { ...base, now: 'n.now', ra: 'NULL', rb: 'NULL', rc: 'NULL' });
  const live = (column: string) => `(CASE WHEN ${table}.expires_at > excluded.at THEN ${table}.${column} END)`;
  const kept = outcome(algorithm, dialect, { ...base, now: 'excluded.at', ra: live('a'), rb: live('b'), rc: live('c') });
  return `INSERT INTO ${table} (key, policy, a, b, c, expires_at, at)
SELECT ${p(1, 'text')}, ${p(3, 'text')}, ${fresh.a}, ${fresh.b}, ${fresh.c}, ${fresh.expires}, n.now
FROM (SELECT ${nowOf(dialect, 2)} AS now) AS n WHERE true
ON CONFLICT (key, policy) DO UPDATE SET a = ${kept.a}, b = ${kept.b}, c = ${kept.c}, expires_at = ${kept.expires}, at = excluded.at
WHERE ${kept.fits}
RETURNING a, b, c, at AS now`;
}

/** The parameters of {@link rateLimitSingleSql}, in order. */
export function rateLimitSingleParams(key: string, now: number | null, policy: NormalizedPolicy, cost: number): unknown[] {
  return [key, now, policy.id, policy.limit, policy.windowMs, policy.capacity, cost];
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
 * policy admits the call. Returns `policy, a, b, c, now` per policy when allowed, no row when
 * denied. With the default source, parameters are {@link rateLimitManyParams}.
 */
export function rateLimitManySql(dialect: SqlDialect, table: string, count: number, from?: ManySource): string {
  const p = dialect.param;
  const source: ManySource = from ?? {
    with: `policies (id, alg, lim, win, cap, cost) AS (VALUES ${Array.from({ length: count }, (_, i) => {
      const n = 3 + i * 6;
      return `(${p(n, 'text')}, ${p(n + 1, 'bigint')}, ${p(n + 2, 'bigint')}, ${p(n + 3, 'bigint')}, ${p(n + 4, 'bigint')}, ${p(n + 5, 'bigint')})`;
    }).join(', ')})`,
    policies: 'policies',
    key: p(1, 'text'),
    now: nowOf(dialect, 2),
  };
  // In `decided`, the time is the `now` column of `current`; in `current`, that of `n`.
  const x = { now: 'now', lim: 'lim', win: 'win', cap: 'cap', cost: 'cost', ra: 'ra', rb: 'rb', rc: 'rc' };
  const by = (pick: (o: Outcome) => string) =>
    `CASE alg WHEN 0 THEN ${pick(outcome('gcra', dialect, x))} WHEN 1 THEN ${pick(outcome('fixed-window', dialect, x))} ELSE ${pick(outcome('sliding-window', dialect, x))} END`;
  const live = (c: string) => `CASE WHEN r.expires_at > n.now THEN r.${c} END`;
  const guard = source.guarded
    ? `
WHERE EXISTS (SELECT 1 FROM decided d WHERE d.id = ${table}.policy AND d.oa IS NOT DISTINCT FROM ${table}.a
    AND d.ob IS NOT DISTINCT FROM ${table}.b AND d.oc IS NOT DISTINCT FROM ${table}.c AND d.oe IS NOT DISTINCT FROM ${table}.expires_at)`
    : '';
  return `WITH ${source.with ? `${source.with},` : ''}
  n AS (SELECT ${source.now} AS now),
  decided AS (
    SELECT id, ${by((o) => o.fits)} AS fits, ${by((o) => o.a)} AS na, ${by((o) => o.b)} AS nb, ${by((o) => o.c)} AS nc,
      ${by((o) => o.expires)} AS ne, oa, ob, oc, oe, now
    FROM (SELECT policies.*, n.now, ${live('a')} AS ra, ${live('b')} AS rb, ${live('c')} AS rc,
            r.a AS oa, r.b AS ob, r.c AS oc, r.expires_at AS oe
          FROM n CROSS JOIN ${source.policies} LEFT JOIN ${table} r ON r.key = ${source.key} AND r.policy = policies.id) AS current
  )
INSERT INTO ${table} (key, policy, a, b, c, expires_at, at)
SELECT ${source.key}, id, na, nb, nc, ne, now FROM decided WHERE NOT EXISTS (SELECT 1 FROM decided WHERE NOT fits)
ON CONFLICT (key, policy) DO UPDATE SET a = excluded.a, b = excluded.b, c = excluded.c, expires_at = excluded.expires_at, at = excluded.at${guard}
RETURNING policy, a, b, c, at AS now`;
}

const ALGORITHM_CODE = { gcra: 0, 'fixed-window': 1, 'sliding-window': 2 } as const;

/** The parameters of {@link rateLimitManySql}, in order. */
export function rateLimitManyParams(key: string, now: number | null, policies: readonly NormalizedPolicy[], cost: number): unknown[] {
  const out: unknown[] = [key, now];
  for (const p of policies) out.push(p.id, ALGORITHM_CODE[p.algorithm], p.limit, p.windowMs, p.capacity, cost);
  return out;
}

/** The decision of an allowed call, from the states the statement returned. */
export function rateLimitDecisionFromRows(
  policies: readonly NormalizedPolicy[],
  rows: readonly { policy?: string; a: number | string; b: number | string; c: number | string }[],
  now: number,
): RateLimitDecision {
  // A single-policy statement returns its one row without the policy column.
  const states = policies.map((p): RateLimitState | undefined => {
    const r = policies.length === 1 ? rows[0] : rows.find((row) => row.policy === p.id);
    return r === undefined ? undefined : [Number(r.a), Number(r.b), Number(r.c)];
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
